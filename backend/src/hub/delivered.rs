//! Which events of each conversation this node has delivered to its
//! connections, when there are other nodes: events reach a node from its
//! own writer and from the bus, in any order, and the bus may lose some.
//! Each event is let through once ([`Delivered::take`]); the holes left by
//! lost notes (or by a node that died between its commit and its note) are
//! found against the database and filled ([`super::Hub::refill`]).

use std::{
    collections::{BTreeSet, HashMap},
    sync::Mutex,
};

use natter_common::ids::ConversationId;

#[derive(Default)]
pub struct Delivered {
    conversations: Mutex<HashMap<ConversationId, Seen>>,
}

/// Everything up to `through` was delivered, and these beyond it.
struct Seen {
    through: i64,
    beyond: BTreeSet<i64>,
}

impl Delivered {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<ConversationId, Seen>) -> T) -> T {
        f(&mut self.conversations.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Starts following a conversation whose events up to `seq` a client
    /// already has (its `hello`); nothing changes if it is followed already.
    pub fn follow(&self, conversation: ConversationId, seq: i64) {
        self.with(|all| {
            all.entry(conversation).or_insert(Seen {
                through: seq,
                beyond: BTreeSet::new(),
            });
        });
    }

    /// Whether event `seq` is new here, remembering it: false when it was
    /// delivered already.
    pub fn take(&self, conversation: ConversationId, seq: i64) -> bool {
        self.with(|all| {
            let seen = all.entry(conversation).or_insert(Seen {
                through: seq - 1,
                beyond: BTreeSet::new(),
            });
            if seq <= seen.through || !seen.beyond.insert(seq) {
                return false;
            }
            while seen.beyond.remove(&(seen.through + 1)) {
                seen.through += 1;
            }
            true
        })
    }

    /// Every followed conversation and how far it is delivered without a hole.
    pub fn followed(&self) -> Vec<(ConversationId, i64)> {
        self.with(|all| all.iter().map(|(id, seen)| (*id, seen.through)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_passes_once_in_any_order() {
        let delivered = Delivered::default();
        let c = ConversationId(1);
        delivered.follow(c, 4);
        assert!(!delivered.take(c, 3), "the client had it");
        assert!(delivered.take(c, 6), "out of order, first time");
        assert_eq!(delivered.followed(), vec![(c, 4)], "a hole at 5");
        assert!(delivered.take(c, 5));
        assert!(!delivered.take(c, 5) && !delivered.take(c, 6), "never twice");
        assert_eq!(delivered.followed(), vec![(c, 6)]);
        delivered.follow(c, 100);
        assert_eq!(delivered.followed(), vec![(c, 6)], "following again changes nothing");
    }
}
