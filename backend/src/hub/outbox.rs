//! One connection's bounded outbound queue.
//!
//! A plain deque under a lock, not a channel: a tokio channel allocates its
//! first block of slots up front (over a KiB per connection), while an idle
//! connection here holds no buffer at all. Pushes never wait; the writer
//! takes everything queued in one go, which is what lets it merge a burst
//! into one batch frame.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

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

pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    limit: Limit,
}

/// How much a connection may have queued before it counts as too slow. Both
/// bounds: frames are shared between recipients, so the count bounds the
/// queue's own memory, and the bytes what a stalled reader keeps alive.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub frames: usize,
    pub bytes: usize,
}

#[derive(Default)]
struct State {
    frames: VecDeque<Utf8Bytes>,
    /// The frames' bytes.
    bytes: usize,
    /// The commit of the oldest event queued, for the delivery lag.
    since: Option<Instant>,
    /// A close to send after the frames; nothing is queued after it.
    close: Option<(u16, &'static str)>,
    overflowed: bool,
    closed: bool,
}

impl Outbox {
    pub fn new(limit: Limit) -> Self {
        Self {
            state: Mutex::default(),
            ready: Notify::new(),
            limit,
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
        if state.closed || state.close.is_some() {
            return Err(Refused::Closed);
        }
        let room = self.limit.frames.saturating_sub(state.frames.len());
        let mut fit = 0;
        for frame in frames.iter().take(room) {
            if state.bytes + frame.len() > self.limit.bytes {
                break;
            }
            state.bytes += frame.len();
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
        if state.closed || state.close.is_some() {
            return;
        }
        state.close = Some((code, reason));
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
                if !state.frames.is_empty() || state.close.is_some() {
                    into.extend(state.frames.drain(..));
                    state.bytes = 0;
                    // An idle connection should not keep the room a burst needed.
                    if state.frames.capacity() > 64 {
                        state.frames = VecDeque::new();
                    }
                    return Taken::Items {
                        since: state.since.take(),
                        close: state.close,
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

    fn limit(frames: usize) -> Limit {
        Limit { frames, bytes: 1 << 20 }
    }

    fn frames(texts: &[&'static str]) -> Vec<Utf8Bytes> {
        texts.iter().copied().map(Utf8Bytes::from_static).collect()
    }

    fn items(since: Option<Instant>) -> Taken {
        Taken::Items { since, close: None }
    }

    #[tokio::test]
    async fn takes_everything_queued_in_order() {
        let outbox = Outbox::new(limit(10));
        for text in ["a", "b", "c"] {
            outbox.push_frames(&frames(&[text]), None).unwrap();
        }
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, items(None));
        assert_eq!(taken, frames(&["a", "b", "c"]));
    }

    #[tokio::test]
    async fn a_full_queue_refuses_frames_but_not_a_close() {
        let outbox = Outbox::new(limit(2));
        assert_eq!(outbox.push_frames(&frames(&["a", "b", "c"]), None), Err(Refused::Full));
        outbox.close_after(1000, "bye");
        let mut taken = Vec::new();
        assert_eq!(
            outbox.take(&mut taken).await,
            Taken::Items {
                since: None,
                close: Some((1000, "bye"))
            }
        );
        assert_eq!(taken, frames(&["a", "b"]), "what fitted goes out before the close");
    }

    #[tokio::test]
    async fn nothing_is_queued_after_a_close_and_the_first_close_wins() {
        let outbox = Outbox::new(limit(10));
        outbox.close_after(4000, "first");
        outbox.close_after(1000, "second");
        assert_eq!(outbox.push_frames(&frames(&["late"]), None), Err(Refused::Closed));
        let mut taken = Vec::new();
        assert_eq!(
            outbox.take(&mut taken).await,
            Taken::Items {
                since: None,
                close: Some((4000, "first"))
            }
        );
        assert!(taken.is_empty());
    }

    #[tokio::test]
    async fn queued_bytes_are_bounded_too_and_taking_frees_them() {
        let outbox = Outbox::new(Limit { frames: 10, bytes: 5 });
        outbox.push_frames(&frames(&["abc"]), None).unwrap();
        assert_eq!(
            outbox.push_frames(&frames(&["de", "f"]), None),
            Err(Refused::Full),
            "only \"de\" fits"
        );
        let mut taken = Vec::new();
        outbox.take(&mut taken).await;
        assert_eq!(taken, frames(&["abc", "de"]));
        outbox.push_frames(&frames(&["abcde"]), None).unwrap();
    }

    #[tokio::test]
    async fn overflow_wins_over_queued_items_and_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new(limit(2)));
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
        let outbox = Outbox::new(limit(3));
        let first = Instant::now();
        let texts = frames(&["a", "b"]);
        outbox.push_frames(&texts, Some(first)).unwrap();
        let later = Instant::now();
        assert_eq!(outbox.push_frames(&texts, Some(later)), Err(Refused::Full));
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, items(Some(first)));
        assert_eq!(taken.len(), 3);
        // Taken with them: the next burst starts afresh.
        outbox.push_frames(&texts[..1], None).unwrap();
        assert_eq!(outbox.take(&mut taken).await, items(None));
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_and_holds_nothing() {
        let outbox = Outbox::new(limit(2));
        outbox.push_frames(&frames(&["a"]), None).unwrap();
        outbox.close();
        assert_eq!(outbox.push_frames(&frames(&["b"]), None), Err(Refused::Closed));
    }
}
