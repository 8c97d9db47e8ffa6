//! Reusable view pieces.

pub mod composer;
pub mod conversation_list;
pub mod field;
pub mod message_content;
pub mod rich_text;
