//! Merging the frames waiting for one connection into `batch` frames, so a
//! burst costs one WebSocket message and one socket write instead of one of
//! each per frame. Frames are already-encoded JSON objects, so merging is
//! concatenation: nothing is parsed or serialized again.

use tokio_tungstenite::tungstenite::Utf8Bytes;

const OPEN: &str = r#"{"type":"batch","frames":["#;
const CLOSE: &str = "]}";

/// A batch stops growing once it is this large, so one slow message can't
/// hold back what follows it for long, and clients never see a huge message.
pub const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The WebSocket messages for `frames`, in order: runs of frames merged into
/// batches of at most [`MAX_BATCH_BYTES`] (unless a single frame is larger),
/// a lone frame passed on as it is. Lazily, so a burst holds one batch at a
/// time rather than all of them while they are written.
pub fn merge(frames: &[Utf8Bytes]) -> impl Iterator<Item = Utf8Bytes> + '_ {
    let mut rest = frames;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut len = OPEN.len() + first.len() + CLOSE.len();
        let mut taken = 1;
        while let Some(next) = rest.get(taken) {
            if len + 1 + next.len() > MAX_BATCH_BYTES {
                break;
            }
            len += 1 + next.len();
            taken += 1;
        }
        let (run, tail) = rest.split_at(taken);
        rest = tail;
        if taken == 1 {
            return Some(first.clone());
        }
        let mut batch = String::with_capacity(len);
        batch.push_str(OPEN);
        for (i, frame) in run.iter().enumerate() {
            if i > 0 {
                batch.push(',');
            }
            batch.push_str(frame.as_str());
        }
        batch.push_str(CLOSE);
        Some(Utf8Bytes::from(batch))
    })
}

#[cfg(test)]
mod tests {
    use natter_common::frames::ServerFrame;

    use super::*;
    use crate::hub::encode;

    fn merged(frames: &[ServerFrame]) -> Vec<ServerFrame> {
        let encoded: Vec<_> = frames.iter().map(encode).collect();
        merge(&encoded)
            .map(|message| serde_json::from_str::<ServerFrame>(message.as_str()).expect("valid frame"))
            .collect()
    }

    fn pong(nonce: u64) -> ServerFrame {
        ServerFrame::Pong { nonce }
    }

    #[test]
    fn a_lone_frame_is_passed_on_unchanged() {
        assert_eq!(merged(&[pong(1)]), vec![pong(1)]);
        assert!(merged(&[]).is_empty());
    }

    #[test]
    fn a_run_becomes_one_batch_in_order() {
        let frames: Vec<_> = (0..5).map(pong).collect();
        assert_eq!(merged(&frames), vec![ServerFrame::Batch { frames }]);
    }

    #[test]
    fn batches_are_bounded_and_lose_nothing() {
        let frames: Vec<_> = (0..20_000).map(pong).collect();
        let mut sizes = Vec::new();
        let mut seen = Vec::new();
        let encoded: Vec<_> = frames.iter().map(encode).collect();
        for message in merge(&encoded) {
            sizes.push(message.len());
            let frame: ServerFrame = serde_json::from_str(message.as_str()).unwrap();
            seen.extend(frame.unbatch());
        }
        assert!(sizes.len() > 1, "20 000 pongs exceed one batch");
        assert!(sizes.iter().all(|&s| s <= MAX_BATCH_BYTES), "{sizes:?}");
        assert_eq!(seen, frames);
    }

    #[test]
    fn an_oversized_frame_goes_alone_between_batches() {
        let big = ServerFrame::Error {
            code: natter_common::ErrorCode::Internal,
            message: "x".repeat(MAX_BATCH_BYTES),
            client_msg_id: None,
        };
        let out = merged(&[pong(1), pong(2), big.clone(), pong(3)]);
        assert_eq!(
            out,
            vec![
                ServerFrame::Batch {
                    frames: vec![pong(1), pong(2)]
                },
                big,
                pong(3)
            ]
        );
    }
}
