//! Reusable view pieces.

pub mod conversation_list;
pub mod field;
pub mod rich_text;
