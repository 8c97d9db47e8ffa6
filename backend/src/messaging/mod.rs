//! Sending messages: validation, the per-user send rate, and the single
//! writer that commits sends in batches before anything is acknowledged.

mod writer;

pub use writer::{Messenger, Pending, SendOutcome, SendRequest};

use natter_common::{
    events::MessageContent,
    limits::{CLIENT_MSG_ID_MAX_CHARS, MESSAGE_TEXT_MAX_CHARS},
    validate::Invalid,
};

/// Checks a send's own fields (rights are checked by the writer).
pub fn validate(client_msg_id: &str, content: &MessageContent) -> Result<(), Invalid> {
    let invalid = |field, message: String| Err(Invalid { field, message });
    let id_len = client_msg_id.chars().count();
    if id_len == 0 || id_len > CLIENT_MSG_ID_MAX_CHARS {
        return invalid(
            "client_msg_id",
            format!("client_msg_id must be 1–{CLIENT_MSG_ID_MAX_CHARS} characters."),
        );
    }
    match content {
        MessageContent::Text { text } => {
            if text.trim().is_empty() {
                return invalid("text", "A message cannot be empty.".into());
            }
            if text.chars().count() > MESSAGE_TEXT_MAX_CHARS {
                return invalid(
                    "text",
                    format!("A message can be at most {MESSAGE_TEXT_MAX_CHARS} characters."),
                );
            }
        }
        MessageContent::Image { media_id } if media_id.is_empty() || media_id.len() > 128 => {
            return invalid("media_id", "Invalid media id.".into());
        }
        MessageContent::Sticker { sticker_id } if !natter_common::stickers::exists(sticker_id) => {
            return invalid("sticker_id", "No such sticker.".into());
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> MessageContent {
        MessageContent::Text { text: t.into() }
    }

    #[test]
    fn text_limits() {
        assert!(validate("c1", &text("hi 👋")).is_ok());
        assert_eq!(validate("c1", &text("  \n ")).unwrap_err().field, "text");
        assert!(validate("c1", &text(&"é".repeat(4000))).is_ok());
        assert_eq!(validate("c1", &text(&"é".repeat(4001))).unwrap_err().field, "text");
        assert_eq!(validate("", &text("x")).unwrap_err().field, "client_msg_id");
        assert_eq!(
            validate(&"c".repeat(65), &text("x")).unwrap_err().field,
            "client_msg_id"
        );
    }
}
