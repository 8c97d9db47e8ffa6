//! The order in which this node delivers each conversation's events, when
//! there are other nodes: events reach a node from its own writer and from
//! the bus, in any order, and the bus may lose some. Each event is let
//! through once and in seq order ([`Delivered::admit`]): one that comes
//! before those ahead of it is held until they come, from a note or, once
//! it has waited [`super::GAP_WAIT`], from the database
//! ([`super::Hub::fill_gaps`]). The holes left by lost notes with nothing
//! after them (or by a node that died between its commit and its note) are
//! found against the database every few seconds ([`super::Hub::refill`]).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

use natter_common::ids::ConversationId;

pub struct Delivered<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    lines: HashMap<ConversationId, Line<T>>,
    /// The conversations holding events: few, looked at often.
    holding: HashSet<ConversationId>,
}

impl<T> Default for Delivered<T> {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                lines: HashMap::new(),
                holding: HashSet::new(),
            }),
        }
    }
}

/// Everything up to `through` was delivered; `held` waits for the events
/// between, since `waiting`.
struct Line<T> {
    through: i64,
    held: BTreeMap<i64, T>,
    waiting: Option<Instant>,
}

impl<T> Line<T> {
    fn new(through: i64) -> Self {
        Self {
            through,
            held: BTreeMap::new(),
            waiting: None,
        }
    }

    /// Moves past `seq` (if not there yet), then past the held events up to
    /// there and those that follow on; returns them, in order.
    fn release(&mut self, seq: i64, ready: &mut Vec<T>) {
        self.through = self.through.max(seq);
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.through + 1 {
                break;
            }
            self.through = self.through.max(*entry.key());
            ready.push(entry.remove());
        }
        // A new wait starts for what is still held.
        self.waiting = (!self.held.is_empty()).then(Instant::now);
    }
}

impl<T> Delivered<T> {
    fn with<R>(&self, f: impl FnOnce(&mut Inner<T>) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Starts following a conversation whose events up to `seq` a client
    /// already has (its `hello`); nothing changes if it is followed already.
    pub fn follow(&self, conversation: ConversationId, seq: i64) {
        self.with(|inner| {
            inner.lines.entry(conversation).or_insert_with(|| Line::new(seq));
        });
    }

    /// Event `seq` arrived: returns, in seq order, what may be delivered
    /// now: it and the held events that follow on, or nothing when it was
    /// delivered already or waits for events before it. An event of a
    /// conversation not followed yet starts following it there.
    pub fn admit(&self, conversation: ConversationId, seq: i64, event: T) -> Vec<T> {
        self.with(|inner| {
            let line = inner.lines.entry(conversation).or_insert_with(|| Line::new(seq - 1));
            let mut ready = Vec::new();
            if seq <= line.through || line.held.contains_key(&seq) {
                return ready;
            }
            if seq == line.through + 1 {
                ready.push(event);
                line.release(seq, &mut ready);
                if line.held.is_empty() {
                    inner.holding.remove(&conversation);
                }
            } else {
                line.held.insert(seq, event);
                line.waiting.get_or_insert_with(Instant::now);
                inner.holding.insert(conversation);
            }
            ready
        })
    }

    /// Stops waiting for the events up to `seq` (they were read from the
    /// database, or are not there): returns the held events now ready.
    pub fn skip_to(&self, conversation: ConversationId, seq: i64) -> Vec<T> {
        self.with(|inner| {
            let mut ready = Vec::new();
            if let Some(line) = inner.lines.get_mut(&conversation) {
                line.release(seq, &mut ready);
                if line.held.is_empty() {
                    inner.holding.remove(&conversation);
                }
            }
            ready
        })
    }

    /// Conversations that have held an event for longer than `wait`: how
    /// far each is delivered, and the first event held.
    pub fn gaps(&self, wait: Duration) -> Vec<(ConversationId, i64, i64)> {
        self.with(|inner| {
            inner
                .holding
                .iter()
                .filter_map(|id| Some((*id, inner.lines.get(id)?)))
                .filter(|(_, line)| line.waiting.is_some_and(|since| since.elapsed() >= wait))
                .filter_map(|(id, line)| Some((id, line.through, *line.held.keys().next()?)))
                .collect()
        })
    }

    /// Stops following a conversation nobody here takes part in any more;
    /// false, keeping it, while it holds events.
    pub fn forget(&self, conversation: ConversationId) -> bool {
        self.with(|inner| match inner.lines.get(&conversation) {
            Some(line) if !line.held.is_empty() => false,
            _ => inner.lines.remove(&conversation).is_some(),
        })
    }

    /// Every followed conversation and how far it is delivered in order.
    pub fn followed(&self) -> Vec<(ConversationId, i64)> {
        self.with(|inner| inner.lines.iter().map(|(id, line)| (*id, line.through)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_passes_once_and_in_order() {
        let delivered = Delivered::default();
        let c = ConversationId(1);
        delivered.follow(c, 4);
        assert!(delivered.admit(c, 3, "3").is_empty(), "the client had it");
        assert!(delivered.admit(c, 6, "6").is_empty(), "held until 5 comes");
        assert!(delivered.admit(c, 7, "7").is_empty());
        assert_eq!(delivered.followed(), vec![(c, 4)], "a hole at 5");
        assert_eq!(delivered.admit(c, 5, "5"), ["5", "6", "7"]);
        assert!(delivered.admit(c, 5, "5").is_empty() && delivered.admit(c, 6, "6").is_empty());
        assert_eq!(delivered.followed(), vec![(c, 7)]);
        delivered.follow(c, 100);
        assert_eq!(delivered.followed(), vec![(c, 7)], "following again changes nothing");
    }

    #[test]
    fn a_gap_is_reported_once_it_has_waited_and_can_be_skipped() {
        let delivered = Delivered::default();
        let c = ConversationId(1);
        assert_eq!(
            delivered.admit(c, 10, "10"),
            ["10"],
            "a new conversation starts where it is"
        );
        assert!(delivered.admit(c, 13, "13").is_empty());
        assert!(delivered.admit(c, 15, "15").is_empty());
        assert!(
            delivered.gaps(Duration::from_secs(60)).is_empty(),
            "not waited long enough"
        );
        assert_eq!(delivered.gaps(Duration::ZERO), vec![(c, 10, 13)]);
        assert!(!delivered.forget(c), "kept while it holds events");
        // 11 came from the database; 12 is not there.
        assert_eq!(delivered.admit(c, 11, "11"), ["11"]);
        assert_eq!(delivered.skip_to(c, 12), ["13"]);
        assert_eq!(delivered.gaps(Duration::ZERO), vec![(c, 13, 15)], "waiting anew");
        assert_eq!(delivered.skip_to(c, 14), ["15"]);
        assert!(delivered.gaps(Duration::ZERO).is_empty());
        assert!(delivered.forget(c));
        assert!(delivered.followed().is_empty());
    }
}
