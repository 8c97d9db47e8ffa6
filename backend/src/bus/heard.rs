//! What a node has heard from each other node's bus, to tell when notes
//! were lost on the way: each sender numbers its notes (and a tick it sends
//! every [`TICK`] when it has nothing to say), so a number skipped is a
//! note lost, and a sender silent for [`SILENT_AFTER`] may have died with
//! notes unsent. Either way the hub then looks in the database for events
//! it never heard of, instead of looking every few seconds whether or not
//! anything was lost (at 100 000 conversations that cost most of a core:
//! docs/benchmarks.md).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// How often a sender with nothing to say sends a numbered tick.
pub const TICK: Duration = Duration::from_secs(1);
/// A sender heard nothing from for this long is taken for gone.
pub const SILENT_AFTER: Duration = Duration::from_secs(5);

/// Each sender's last number and when it was heard.
#[derive(Debug)]
pub struct Heard {
    senders: HashMap<u64, (u64, Instant)>,
    /// Something was lost since the hub last asked.
    lost: bool,
    /// How many times this node's own connection to NATS was made, as of
    /// the last look (whatever came while it was away is lost to it).
    connects: u64,
}

impl Heard {
    /// `connects`: the connection's count of connections made so far.
    pub fn new(connects: u64) -> Self {
        Self {
            senders: HashMap::new(),
            lost: false,
            connects,
        }
    }

    /// Note `n` of `sender` arrived. A sender heard of for the first time
    /// past its first note may have sent others this node missed: that
    /// counts as a loss too (once, when this node starts among running
    /// ones).
    pub fn heard(&mut self, sender: u64, n: u64, now: Instant) {
        let last = self.senders.insert(sender, (n, now)).map_or(0, |(last, _)| last);
        if n > last + 1 {
            self.lost = true;
        }
    }

    /// Whether anything was lost since the last call: a number skipped, a
    /// sender gone silent (then forgotten), or this node's connection made
    /// again since the last look.
    pub fn take_lost(&mut self, connects: u64, now: Instant) -> bool {
        let before = self.senders.len();
        self.senders
            .retain(|_, (_, heard)| now.saturating_duration_since(*heard) < SILENT_AFTER);
        let gone = self.senders.len() < before;
        let reconnected = connects != self.connects;
        self.connects = connects;
        std::mem::take(&mut self.lost) | gone | reconnected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_a_row_lose_nothing_and_a_skipped_one_is_a_loss_told_once() {
        let start = Instant::now();
        let mut heard = Heard::new(1);
        for n in 1..=3 {
            heard.heard(7, n, start);
            heard.heard(9, n, start);
        }
        assert!(!heard.take_lost(1, start));
        heard.heard(7, 5, start);
        assert!(heard.take_lost(1, start), "4 never came");
        assert!(!heard.take_lost(1, start), "told once");
        heard.heard(7, 6, start);
        assert!(!heard.take_lost(1, start));
    }

    #[test]
    fn a_sender_first_heard_past_its_first_note_may_have_lost_some() {
        let now = Instant::now();
        let mut heard = Heard::new(1);
        heard.heard(7, 1, now);
        assert!(!heard.take_lost(1, now), "a sender from its start");
        heard.heard(8, 40, now);
        assert!(heard.take_lost(1, now), "a sender that sent 39 notes before");
    }

    #[test]
    fn a_silent_sender_is_a_loss_and_forgotten() {
        let start = Instant::now();
        let mut heard = Heard::new(1);
        heard.heard(7, 1, start);
        heard.heard(8, 1, start);
        let later = start + SILENT_AFTER - Duration::from_millis(1);
        heard.heard(8, 2, later);
        assert!(!heard.take_lost(1, later));
        let gone = start + SILENT_AFTER;
        assert!(
            heard.take_lost(1, gone),
            "7 went quiet: it may have died with notes unsent"
        );
        assert!(!heard.take_lost(1, gone), "and is forgotten");
        // Back (a pause, not a death): heard afresh from where it is.
        heard.heard(7, 2, gone);
        assert!(heard.take_lost(1, gone), "first heard past its first note");
    }

    #[test]
    fn reconnecting_is_a_loss() {
        let now = Instant::now();
        let mut heard = Heard::new(1);
        assert!(!heard.take_lost(1, now));
        assert!(heard.take_lost(2, now), "whatever was sent meanwhile never came");
        assert!(!heard.take_lost(2, now));
    }
}
