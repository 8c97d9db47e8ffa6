//! One connection's bounded outbound queue.
//!
//! A plain deque under a lock, not a channel: a tokio channel allocates its
//! first block of slots up front (over a KiB per connection), while an idle
//! connection here holds no buffer at all. Pushes never wait; the writer
//! takes everything queued in one go, which is what lets it merge a burst
//! into one batch frame.

use std::{
    collections::VecDeque,
    num::NonZeroU16,
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// Why frames were not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds its limit in frames or bytes: the reader is too slow.
    Full,
    /// The writer has stopped, or a close is queued.
    Closed,
}

/// What the writer takes off the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Frames were moved into the caller's buffer, and after them, if one
    /// was queued, a close to send (code and reason) before stopping.
    /// `since`: when the oldest event among them was committed, if one was
    /// committed on this node.
    Items {
        since: Option<Instant>,
        close: Option<(u16, &'static str)>,
    },
    /// The queue overflowed: close the connection as too slow.
    Overflowed,
}

/// What a connection may have queued before it counts as too slow. A
/// group's burst queues a batch per commit for each member at once, before
/// their tasks get to run, so the frame count is set for bursts, not for
/// readers (a connection's handle on a frame costs 32 bytes; the frame is
/// shared); the bytes bound what a stalled reader keeps alive.
pub const MAX_FRAMES: usize = 4096;
pub const MAX_BYTES: u32 = 4 << 20;

/// Every connection holds one for its whole life, so its fields are packed
/// to keep it, with its `Arc`, in a 128-byte allocation (a unit test holds it).
pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    /// The commit of the oldest event queued, for the delivery lag.
    since: Option<Instant>,
    /// A close to send after the frames (its code and reason); nothing is
    /// queued after it.
    close_reason: &'static str,
    close_code: Option<NonZeroU16>,
    /// The frames' bytes.
    bytes: u32,
    overflowed: bool,
    closed: bool,
}

impl State {
    fn close(&self) -> Option<(u16, &'static str)> {
        self.close_code.map(|code| (code.get(), self.close_reason))
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbox {
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding it; a poisoned lock's data is still whole.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues frames, in order, as long as they fit (committed at
    /// `committed`, when they are events committed here); `Full` when some
    /// did not.
    pub fn push_frames(&self, frames: &[Utf8Bytes], committed: Option<Instant>) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed || state.close_code.is_some() {
            return Err(Refused::Closed);
        }
        let room = MAX_FRAMES.saturating_sub(state.frames.len());
        let mut fit = 0;
        for frame in frames.iter().take(room) {
            let bytes = state.bytes as usize + frame.len();
            if bytes > MAX_BYTES as usize {
                break;
            }
            state.bytes = bytes as u32;
            fit += 1;
        }
        state.frames.extend(frames[..fit].iter().cloned());
        if fit > 0 {
            // The oldest: an event held for those before it is queued late.
            state.since = match (state.since, committed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        drop(state);
        if fit > 0 {
            self.ready.notify_one();
        }
        if fit < frames.len() {
            Err(Refused::Full)
        } else {
            Ok(())
        }
    }

    /// Queues a close with this code and reason after what is queued; the
    /// first close queued is the one sent.
    pub fn close_after(&self, code: u16, reason: &'static str) {
        let mut state = self.lock();
        if state.closed || state.close_code.is_some() {
            return;
        }
        // Close codes are 1000 and up (RFC 6455 §7.4).
        state.close_code = NonZeroU16::new(code.max(1000));
        state.close_reason = reason;
        drop(state);
        self.ready.notify_one();
    }

    /// Marks the queue overflowed: the writer will close the connection.
    pub fn overflow(&self) {
        self.lock().overflowed = true;
        self.ready.notify_one();
    }

    /// Waits until something is queued (or the queue overflowed), then moves
    /// every frame queued into `into`.
    pub async fn take(&self, into: &mut Vec<Utf8Bytes>) -> Taken {
        loop {
            {
                let mut state = self.lock();
                if state.overflowed {
                    return Taken::Overflowed;
                }
                if !state.frames.is_empty() || state.close_code.is_some() {
                    into.extend(state.frames.drain(..));
                    state.bytes = 0;
                    // An idle connection should not keep the room a burst needed.
                    if state.frames.capacity() > 64 {
                        state.frames = VecDeque::new();
                    }
                    return Taken::Items {
                        since: state.since.take(),
                        close: state.close(),
                    };
                }
            }
            self.ready.notified().await;
        }
    }

    /// The writer has stopped: later pushes are refused and what is queued is dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.frames = VecDeque::new();
        state.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(texts: &[&'static str]) -> Vec<Utf8Bytes> {
        texts.iter().copied().map(Utf8Bytes::from_static).collect()
    }

    fn many(count: usize) -> Vec<Utf8Bytes> {
        vec![Utf8Bytes::from_static("x"); count]
    }

    fn items(since: Option<Instant>) -> Taken {
        Taken::Items { since, close: None }
    }

    fn closing(code: u16, reason: &'static str) -> Taken {
        Taken::Items {
            since: None,
            close: Some((code, reason)),
        }
    }

    #[test]
    fn an_outbox_and_its_arc_fit_in_128_bytes() {
        // Arc's two counts, then the outbox: every connection holds one.
        let size = 16 + std::mem::size_of::<Outbox>();
        assert!(size <= 128, "an outbox's allocation grew to {size} bytes");
    }

    #[tokio::test]
    async fn takes_everything_queued_in_order() {
        let outbox = Outbox::new();
        for text in ["a", "b", "c"] {
            outbox.push_frames(&frames(&[text]), None).unwrap();
        }
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, items(None));
        assert_eq!(taken, frames(&["a", "b", "c"]));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_frames_but_not_a_close() {
        let outbox = Outbox::new();
        assert_eq!(outbox.push_frames(&many(MAX_FRAMES + 1), None), Err(Refused::Full));
        outbox.close_after(1000, "bye");
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, closing(1000, "bye"));
        assert_eq!(taken.len(), MAX_FRAMES, "what fitted goes out before the close");
    }

    #[tokio::test]
    async fn nothing_is_queued_after_a_close_and_the_first_close_wins() {
        let outbox = Outbox::new();
        outbox.close_after(4000, "first");
        outbox.close_after(1000, "second");
        assert_eq!(outbox.push_frames(&frames(&["late"]), None), Err(Refused::Closed));
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, closing(4000, "first"));
        assert!(taken.is_empty());
    }

    #[tokio::test]
    async fn queued_bytes_are_bounded_too_and_taking_frees_them() {
        let outbox = Outbox::new();
        let mib = Utf8Bytes::from("x".repeat(1 << 20));
        let quarter = MAX_BYTES as usize / mib.len();
        outbox.push_frames(&vec![mib.clone(); quarter - 1], None).unwrap();
        assert_eq!(
            outbox.push_frames(&[mib.clone(), Utf8Bytes::from_static("!")], None),
            Err(Refused::Full),
            "the last MiB fits, nothing after it"
        );
        let mut taken = Vec::new();
        outbox.take(&mut taken).await;
        assert_eq!(taken.len(), quarter);
        outbox.push_frames(&[mib], None).unwrap();
    }

    #[tokio::test]
    async fn overflow_wins_over_queued_items_and_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new());
        let waiter = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.take(&mut Vec::new()).await })
        };
        outbox.push_frames(&frames(&["a"]), None).unwrap();
        outbox.overflow();
        // Either it woke for the frame first (Items) and a second take sees
        // the overflow, or it saw the overflow at once.
        if matches!(waiter.await.unwrap(), Taken::Items { .. }) {
            assert_eq!(outbox.take(&mut Vec::new()).await, Taken::Overflowed);
        }
    }

    #[tokio::test]
    async fn frames_go_in_while_they_fit_and_the_oldest_commit_comes_out_with_them() {
        let outbox = Outbox::new();
        let first = Instant::now();
        outbox.push_frames(&many(MAX_FRAMES - 1), Some(first)).unwrap();
        let later = Instant::now();
        assert_eq!(outbox.push_frames(&many(2), Some(later)), Err(Refused::Full));
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, items(Some(first)));
        assert_eq!(taken.len(), MAX_FRAMES);
        // Taken with them: the next burst starts afresh.
        outbox.push_frames(&many(1), None).unwrap();
        assert_eq!(outbox.take(&mut taken).await, items(None));
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_and_holds_nothing() {
        let outbox = Outbox::new();
        outbox.push_frames(&frames(&["a"]), None).unwrap();
        outbox.close();
        assert_eq!(outbox.push_frames(&frames(&["b"]), None), Err(Refused::Closed));
    }
}
