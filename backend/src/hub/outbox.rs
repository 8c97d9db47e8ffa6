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
    /// Items were moved into the caller's buffer.
    Items,
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
                    // An idle connection should not keep the room a burst needed.
                    if state.items.capacity() > 64 {
                        state.items = VecDeque::new();
                    }
                    return Taken::Items;
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
        assert_eq!(outbox.take(&mut taken).await, Taken::Items);
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
        if waiter.await.unwrap() == Taken::Items {
            assert_eq!(outbox.take(&mut Vec::new()).await, Taken::Overflowed);
        }
    }

    #[tokio::test]
    async fn a_closed_queue_refuses_and_holds_nothing() {
        let outbox = Outbox::new(2);
        outbox.push(frame("a")).unwrap();
        outbox.close();
        assert_eq!(outbox.push(frame("b")), Err(Refused::Closed));
    }
}
