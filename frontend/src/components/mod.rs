//! Reusable view pieces.

pub mod avatar;
pub mod composer;
pub mod confirm;
pub mod contact_picker;
pub mod conversation_list;
pub mod each;
pub mod emoji_picker;
pub mod field;
pub mod image_viewer;
pub mod message;
pub mod message_content;
pub mod notice;
pub mod rich_text;
pub mod search;
pub mod when;
