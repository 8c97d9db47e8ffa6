//! Long messages go out as fragments (RFC 6455 §5.4). tungstenite copies
//! each frame whole into its write buffer and never gives the room back, so
//! one 64 KiB batch or a large hello would leave every connection that got
//! it holding that much for the rest of its life; fragments of at most
//! [`FRAGMENT_BYTES`] keep it at 16–32 KiB (a fragment queued behind one
//! not yet written, rounded up by `Vec`'s doubling). The client's
//! WebSocket reassembles them: it sees the same message.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::{
    protocol::frame::{
        coding::{Data, OpCode},
        Frame,
    },
    Message, Utf8Bytes,
};

/// The largest frame written: the write buffer's size, so each fragment is
/// written out as the next one is queued.
pub const FRAGMENT_BYTES: usize = 8 * 1024;

/// What to write for one text message: itself when short, else its
/// fragments, which share its bytes (nothing is copied here).
pub fn text(message: Utf8Bytes) -> impl Iterator<Item = Message> {
    let (mut whole, bytes) = if message.len() <= FRAGMENT_BYTES {
        (Some(Message::Text(message)), Bytes::new())
    } else {
        (None, Bytes::from(message))
    };
    let mut at = 0;
    std::iter::from_fn(move || {
        if let Some(whole) = whole.take() {
            return Some(whole);
        }
        if at >= bytes.len() {
            return None;
        }
        let end = (at + FRAGMENT_BYTES).min(bytes.len());
        // A fragment may end inside a character: only the whole message
        // must be valid UTF-8.
        let opcode = if at == 0 { Data::Text } else { Data::Continue };
        let frame = Frame::message(bytes.slice(at..end), OpCode::Data(opcode), end == bytes.len());
        at = end;
        Some(Message::Frame(frame))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text_len: usize) -> (String, Vec<Message>) {
        // Three-byte characters, so fragments end inside them.
        let message: String = "€".repeat(text_len / 3);
        let sent = text(Utf8Bytes::from(message.clone())).collect();
        (message, sent)
    }

    #[test]
    fn a_short_message_goes_whole() {
        let (message, sent) = parts(FRAGMENT_BYTES - 2);
        assert_eq!(sent, vec![Message::Text(message.into())]);
    }

    #[test]
    fn a_long_message_goes_in_fragments_that_add_up_to_it() {
        let (message, sent) = parts(3 * FRAGMENT_BYTES + 100);
        assert_eq!(sent.len(), 4);
        let mut joined = Vec::new();
        for (i, part) in sent.iter().enumerate() {
            let Message::Frame(frame) = part else {
                panic!("fragment {i} is {part:?}")
            };
            let expected = if i == 0 { Data::Text } else { Data::Continue };
            assert_eq!(frame.header().opcode, OpCode::Data(expected));
            assert_eq!(frame.header().is_final, i == sent.len() - 1);
            assert!(frame.payload().len() <= FRAGMENT_BYTES);
            joined.extend_from_slice(frame.payload());
        }
        assert_eq!(joined, message.as_bytes());
    }
}
