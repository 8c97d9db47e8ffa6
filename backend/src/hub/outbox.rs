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

/// What a connection's writer sends.
#[derive(Debug)]
pub enum Outbound {
    Frame(Utf8Bytes),
    /// Close with this code and reason, then stop.
    Close(u16, &'static str),
}

/// Why a push was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds its limit: the reader is too slow.
    Full,
    /// The writer has stopped.
    Closed,
}

/// What the writer takes off the queue.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Items were moved into the caller's buffer; `since`: when the oldest
    /// event among them was committed, if one was committed on this node.
    Items { since: Option<Instant> },
    /// The queue overflowed: close the connection as too slow.
    Overflowed,
}

pub struct Outbox {
    state: Mutex<State>,
    ready: Notify,
    limit: usize,
}

#[derive(Default)]
struct State {
    items: VecDeque<Outbound>,
    /// The commit of the oldest event queued, for the delivery lag.
    since: Option<Instant>,
    overflowed: bool,
    closed: bool,
}

impl Outbox {
    pub fn new(limit: usize) -> Self {
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

    /// Queues an item unless the queue is full or closed.
    pub fn push(&self, item: Outbound) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        if state.items.len() >= self.limit && matches!(item, Outbound::Frame(_)) {
            return Err(Refused::Full);
        }
        state.items.push_back(item);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Queues frames, in order, as long as they fit (committed at
    /// `committed`, when they are events committed here); `Full` when some
    /// did not.
    pub fn push_frames(&self, frames: &[Utf8Bytes], committed: Option<Instant>) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        let room = self.limit.saturating_sub(state.items.len());
        let fits = &frames[..frames.len().min(room)];
        state.items.extend(fits.iter().cloned().map(Outbound::Frame));
        if !fits.is_empty() {
            // The oldest: an event held for those before it is queued late.
            state.since = match (state.since, committed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        drop(state);
        if !fits.is_empty() {
            self.ready.notify_one();
        }
        if fits.len() < frames.len() {
            Err(Refused::Full)
        } else {
            Ok(())
        }
    }

    /// Marks the queue overflowed: the writer will close the connection.
    pub fn overflow(&self) {
        self.lock().overflowed = true;
        self.ready.notify_one();
    }

    /// Waits until something is queued (or the queue overflowed), then moves
    /// everything queued into `into`.
    pub async fn take(&self, into: &mut Vec<Outbound>) -> Taken {
        loop {
            {
                let mut state = self.lock();
                if state.overflowed {
                    return Taken::Overflowed;
                }
                if !state.items.is_empty() {
                    into.extend(state.items.drain(..));
                    let since = state.since.take();
                    // An idle connection should not keep the room a burst needed.
                    if state.items.capacity() > 64 {
                        state.items = VecDeque::new();
                    }
                    return Taken::Items { since };
                }
            }
            self.ready.notified().await;
        }
    }

    /// The writer has stopped: later pushes are refused and what is queued is dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &'static str) -> Outbound {
        Outbound::Frame(Utf8Bytes::from_static(text))
    }

    #[tokio::test]
    async fn takes_everything_queued_in_order() {
        let outbox = Outbox::new(10);
        for text in ["a", "b", "c"] {
            outbox.push(frame(text)).unwrap();
        }
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, Taken::Items { since: None });
        let texts: Vec<_> = taken
            .iter()
            .map(|item| match item {
                Outbound::Frame(bytes) => bytes.as_str(),
                Outbound::Close(..) => "close",
            })
            .collect();
        assert_eq!(texts, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_frames_but_not_a_close() {
        let outbox = Outbox::new(2);
        outbox.push(frame("a")).unwrap();
        outbox.push(frame("b")).unwrap();
        assert_eq!(outbox.push(frame("c")), Err(Refused::Full));
        assert_eq!(outbox.push(Outbound::Close(1000, "bye")), Ok(()));
    }

    #[tokio::test]
    async fn overflow_wins_over_queued_items_and_wakes_the_writer() {
        let outbox = std::sync::Arc::new(Outbox::new(2));
        let waiter = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.take(&mut Vec::new()).await })
        };
        outbox.push(frame("a")).unwrap();
        outbox.overflow();
        // Either it woke for the frame first (Items) and a second take sees
        // the overflow, or it saw the overflow at once.
        if matches!(waiter.await.unwrap(), Taken::Items { .. }) {
            assert_eq!(outbox.take(&mut Vec::new()).await, Taken::Overflowed);
        }
    }

    #[tokio::test]
    async fn frames_go_in_while_they_fit_and_the_oldest_commit_comes_out_with_them() {
        let outbox = Outbox::new(3);
        let first = Instant::now();
        let texts = ["a", "b"].map(Utf8Bytes::from_static);
        outbox.push_frames(&texts, Some(first)).unwrap();
        let later = Instant::now();
        assert_eq!(outbox.push_frames(&texts, Some(later)), Err(Refused::Full));
        let mut taken = Vec::new();
        assert_eq!(outbox.take(&mut taken).await, Taken::Items { since: Some(first) });
        assert_eq!(taken.len(), 3);
        // Taken with them: the next burst starts afresh.
        outbox.push_frames(&texts[..1], None).unwrap();
        assert_eq!(outbox.take(&mut taken).await, Taken::Items { since: None });
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_and_holds_nothing() {
        let outbox = Outbox::new(2);
        outbox.push(frame("a")).unwrap();
        outbox.close();
        assert_eq!(outbox.push(frame("b")), Err(Refused::Closed));
    }
}
