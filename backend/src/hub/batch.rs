//! Merging frames into `batch` frames, so a burst costs one WebSocket
//! message and one socket write instead of one of each per frame. Frames
//! are already-encoded JSON objects, so merging is concatenation: nothing
//! is serialized again.
//!
//! A run of events for many people is merged once, when it is published
//! ([`merged`]), and every member's queue takes the one batch: a handle
//! each, not one per event. A connection writes what it has queued as
//! messages gathered from the frames' own bytes ([`runs`], [`pieces`]);
//! one that speaks protocol 1 takes batches apart ([`unbatch`]).

use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Utf8Bytes;

const OPEN: &str = r#"{"type":"batch","frames":["#;
const CLOSE: &str = "]}";

/// A batch stops growing once it is this large, so one slow message can't
/// hold back what follows it for long, and clients never see a huge message.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// A batch also stops at this many frames: each is a piece of one
/// `writev`, which takes 1 024 at most ([`crate::ws`]).
const MAX_BATCH_FRAMES: usize = 500;

/// What `frame` adds to a batch: a batch's own frames, or the frame itself.
fn inner(frame: &str) -> &str {
    match frame.strip_prefix(OPEN).and_then(|rest| rest.strip_suffix(CLOSE)) {
        Some(frames) => frames,
        None => frame,
    }
}

/// `frames` in runs that each go out as one WebSocket message, in order:
/// up to [`MAX_BATCH_BYTES`] (unless a single frame is larger) and
/// [`MAX_BATCH_FRAMES`].
pub fn runs(frames: &[Utf8Bytes]) -> impl Iterator<Item = &[Utf8Bytes]> {
    let mut rest = frames;
    std::iter::from_fn(move || {
        let first = rest.first()?;
        let mut len = OPEN.len() + inner(first).len() + CLOSE.len();
        let mut taken = 1;
        while let Some(next) = rest.get(taken) {
            let more = 1 + inner(next).len();
            if len + more > MAX_BATCH_BYTES || taken == MAX_BATCH_FRAMES {
                break;
            }
            len += more;
            taken += 1;
        }
        let (run, tail) = rest.split_at(taken);
        rest = tail;
        Some(run)
    })
}

/// A run's message as the pieces of text it is made of, the frames' own
/// bytes: a lone frame as it is, several as one batch. A frame that is a
/// batch already adds its frames, so batches never nest.
pub fn pieces(run: &[Utf8Bytes]) -> Vec<&str> {
    if let [frame] = run {
        return vec![frame.as_str()];
    }
    let mut pieces = Vec::with_capacity(2 * run.len() + 1);
    pieces.push(OPEN);
    // An empty batch adds nothing, not an empty element.
    let frames = run.iter().map(|frame| inner(frame)).filter(|frames| !frames.is_empty());
    for (i, frames) in frames.enumerate() {
        if i > 0 {
            pieces.push(",");
        }
        pieces.push(frames);
    }
    pieces.push(CLOSE);
    pieces
}

/// The WebSocket messages for `frames`, in order, each run merged into one
/// batch (see [`runs`] and [`pieces`]). Lazily, so a burst holds one batch
/// at a time rather than all of them.
fn merge(frames: &[Utf8Bytes]) -> impl Iterator<Item = Utf8Bytes> + '_ {
    runs(frames).map(|run| match run {
        [frame] => frame.clone(),
        _ => Utf8Bytes::from(pieces(run).concat()),
    })
}

/// `frames` as every recipient's queue takes them: merged (see [`merge`]).
pub fn merged(frames: &[Utf8Bytes]) -> Vec<Utf8Bytes> {
    merge(frames).collect()
}

/// The frames in `frame`, one by one, sharing its bytes: a batch's frames,
/// or the frame itself.
pub fn unbatch(frame: Utf8Bytes) -> Vec<Utf8Bytes> {
    #[derive(Deserialize)]
    struct Batch<'a> {
        #[serde(borrow)]
        frames: Vec<&'a RawValue>,
    }
    if !frame.starts_with(OPEN) {
        return vec![frame];
    }
    let bytes: &bytes::Bytes = frame.as_ref();
    match serde_json::from_str::<Batch<'_>>(&frame) {
        Ok(batch) => batch
            .frames
            .iter()
            // Slices of valid UTF-8 at JSON values' bounds: none is dropped.
            .filter_map(|raw| Utf8Bytes::try_from(bytes.slice_ref(raw.get().as_bytes())).ok())
            .collect(),
        // Only ever made by `merge`, of whole JSON frames.
        Err(err) => {
            tracing::error!(%err, "a queued batch is not JSON");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use natter_common::frames::ServerFrame;

    use super::*;
    use crate::hub::encode;

    fn through_merge(frames: &[ServerFrame]) -> Vec<ServerFrame> {
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
        assert_eq!(through_merge(&[pong(1)]), vec![pong(1)]);
        assert!(through_merge(&[]).is_empty());
    }

    #[test]
    fn a_run_becomes_one_batch_in_order() {
        let frames: Vec<_> = (0..5).map(pong).collect();
        assert_eq!(through_merge(&frames), vec![ServerFrame::Batch { frames }]);
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
    fn batches_merged_again_add_their_frames_and_never_nest() {
        let runs = [
            merged(&[encode(&pong(1)), encode(&pong(2))]),
            vec![encode(&pong(3))],
            merged(&[encode(&pong(4)), encode(&pong(5))]),
        ];
        assert_eq!(runs[0].len(), 1, "a run is merged once, into one batch");
        let queued: Vec<_> = runs.concat();
        let out: Vec<ServerFrame> = merge(&queued)
            .map(|message| serde_json::from_str(message.as_str()).unwrap())
            .collect();
        assert_eq!(
            out,
            vec![ServerFrame::Batch {
                frames: (1..=5).map(pong).collect()
            }]
        );
        // Alone, a queued batch goes out as it is: the same bytes.
        let alone: Vec<_> = merge(&runs[0]).collect();
        assert_eq!(alone, runs[0]);
    }

    #[test]
    fn a_runs_pieces_are_its_batch_and_empty_batches_add_nothing() {
        let frames = [
            merged(&[encode(&pong(1)), encode(&pong(2))])[0].clone(),
            encode(&pong(3)),
            Utf8Bytes::from_static(r#"{"type":"batch","frames":[]}"#),
            encode(&pong(4)),
        ];
        let runs: Vec<_> = runs(&frames).collect();
        assert_eq!(runs.len(), 1);
        let text = pieces(runs[0]).concat();
        assert_eq!(
            serde_json::from_str::<ServerFrame>(&text).unwrap(),
            ServerFrame::Batch {
                frames: (1..=4).map(pong).collect()
            }
        );
        // A lone frame is its own piece.
        assert_eq!(pieces(&frames[1..2]), vec![frames[1].as_str()]);
    }

    #[test]
    fn a_batch_stops_at_its_frame_count_too() {
        let frames: Vec<_> = (0..MAX_BATCH_FRAMES as u64 + 1).map(|n| encode(&pong(n))).collect();
        let sizes: Vec<usize> = runs(&frames).map(<[_]>::len).collect();
        assert_eq!(sizes, vec![MAX_BATCH_FRAMES, 1]);
    }

    #[test]
    fn unbatching_gives_back_each_frame_as_encoded() {
        let frames: Vec<_> = (0..3).map(|n| encode(&pong(n))).collect();
        let batch = merged(&frames);
        assert_eq!(
            batch[0].as_str(),
            r#"{"type":"batch","frames":[{"type":"pong","nonce":0},{"type":"pong","nonce":1},{"type":"pong","nonce":2}]}"#
        );
        assert_eq!(unbatch(batch[0].clone()), frames);
        assert_eq!(unbatch(frames[1].clone()), vec![frames[1].clone()]);
        // An error's message that merely mentions a batch is not one.
        let error = encode(&ServerFrame::Error {
            code: natter_common::ErrorCode::BadRequest,
            message: OPEN.to_string(),
            client_msg_id: None,
        });
        assert_eq!(unbatch(error.clone()), vec![error]);
    }

    #[test]
    fn an_oversized_frame_goes_alone_between_batches() {
        let big = ServerFrame::Error {
            code: natter_common::ErrorCode::Internal,
            message: "x".repeat(MAX_BATCH_BYTES),
            client_msg_id: None,
        };
        let out = through_merge(&[pong(1), pong(2), big.clone(), pong(3)]);
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
