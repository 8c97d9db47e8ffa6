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

impl<T> Inner<T> {
    /// Puts `event` in order: into `ready` with what follows on, held, or,
    /// when it is there already, into `stale`.
    fn admit(&mut self, conversation: ConversationId, seq: i64, event: T, ready: &mut Vec<T>, stale: &mut Vec<T>) {
        let line = self.lines.entry(conversation).or_insert_with(|| Line::new(seq - 1));
        if seq <= line.through || line.held.contains_key(&seq) {
            stale.push(event);
            return;
        }
        if seq == line.through + 1 {
            ready.push(event);
            line.release(seq, ready);
            if line.held.is_empty() {
                self.holding.remove(&conversation);
            }
        } else {
            line.held.insert(seq, event);
            line.waiting.get_or_insert_with(Instant::now);
            self.holding.insert(conversation);
        }
    }

    /// Stops following a conversation nobody here takes part in any more,
    /// unless it holds events.
    fn forget(&mut self, conversation: ConversationId) {
        if self.lines.get(&conversation).is_some_and(|line| line.held.is_empty()) {
            self.lines.remove(&conversation);
        }
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

    /// Events arrived: hands `deliver`, in seq order per conversation, what
    /// may go out now (each event and the held ones that follow on), still
    /// holding the order, so that what another call lets through next can't
    /// overtake it; and, second, those delivered already (whatever rides
    /// along with them, such as an ack, still has to go). One that waits
    /// for those before it goes nowhere yet. An event of a conversation not
    /// followed yet starts following it there. When `anyone_here` says none
    /// of the events' people has a connection on this node (asked while
    /// nobody can start following), their conversations are forgotten
    /// instead.
    pub fn admit(
        &self,
        events: impl IntoIterator<Item = (ConversationId, i64, T)>,
        anyone_here: impl FnOnce() -> bool,
        deliver: impl FnOnce(Vec<T>, Vec<T>),
    ) {
        self.with(|inner| {
            if !anyone_here() {
                for (conversation, _, _) in events {
                    inner.forget(conversation);
                }
                return;
            }
            let (mut ready, mut stale) = (Vec::new(), Vec::new());
            for (conversation, seq, event) in events {
                inner.admit(conversation, seq, event, &mut ready, &mut stale);
            }
            deliver(ready, stale);
        });
    }

    /// Stops waiting for the events up to `seq` (they were read from the
    /// database, or are not there): hands `deliver` the held events now
    /// ready, as [`Self::admit`] does.
    pub fn skip_to(&self, conversation: ConversationId, seq: i64, deliver: impl FnOnce(Vec<T>)) {
        self.with(|inner| {
            let mut ready = Vec::new();
            if let Some(line) = inner.lines.get_mut(&conversation) {
                line.release(seq, &mut ready);
                if line.held.is_empty() {
                    inner.holding.remove(&conversation);
                }
            }
            deliver(ready);
        });
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

    /// Every followed conversation and how far it is delivered in order.
    pub fn followed(&self) -> Vec<(ConversationId, i64)> {
        self.with(|inner| inner.lines.iter().map(|(id, line)| (*id, line.through)).collect())
    }

    /// Stops following the conversations `nobody_here` says no connection
    /// on this node takes part in (asked while nobody can start following,
    /// as `admit`'s `anyone_here`), unless they hold events: quiet ones
    /// whose people left would otherwise stay followed until their next
    /// event.
    pub fn prune(&self, mut nobody_here: impl FnMut(ConversationId) -> bool) {
        self.with(|inner| {
            inner
                .lines
                .retain(|id, line| !line.held.is_empty() || !nobody_here(*id))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: ConversationId = ConversationId(1);

    fn admit(delivered: &Delivered<&'static str>, seq: i64, event: &'static str) -> Vec<&'static str> {
        let mut out = Vec::new();
        delivered.admit([(C, seq, event)], || true, |ready, _| out = ready);
        out
    }

    fn skip_to(delivered: &Delivered<&'static str>, seq: i64) -> Vec<&'static str> {
        let mut out = Vec::new();
        delivered.skip_to(C, seq, |ready| out = ready);
        out
    }

    #[test]
    fn each_event_passes_once_and_in_order() {
        let delivered = Delivered::default();
        delivered.follow(C, 4);
        assert!(admit(&delivered, 3, "3").is_empty(), "the client had it");
        let mut stale = Vec::new();
        delivered.admit([(C, 2, "2")], || true, |_, dropped| stale = dropped);
        assert_eq!(stale, ["2"], "handed back as delivered already");
        assert!(admit(&delivered, 6, "6").is_empty(), "held until 5 comes");
        assert!(admit(&delivered, 7, "7").is_empty());
        assert_eq!(delivered.followed(), vec![(C, 4)], "a hole at 5");
        assert_eq!(admit(&delivered, 5, "5"), ["5", "6", "7"]);
        assert!(admit(&delivered, 5, "5").is_empty() && admit(&delivered, 6, "6").is_empty());
        assert_eq!(delivered.followed(), vec![(C, 7)]);
        delivered.follow(C, 100);
        assert_eq!(delivered.followed(), vec![(C, 7)], "following again changes nothing");
    }

    #[test]
    fn pruning_forgets_what_nobody_here_follows_but_not_what_it_holds() {
        let delivered = Delivered::default();
        let (quiet, holding, watched) = (ConversationId(1), ConversationId(2), ConversationId(3));
        delivered.follow(quiet, 4);
        delivered.follow(holding, 4);
        delivered.follow(watched, 4);
        delivered.admit([(holding, 6, "6")], || true, |_, _| {});
        delivered.prune(|id| id != watched);
        let mut left = delivered.followed();
        left.sort();
        assert_eq!(left, vec![(holding, 4), (watched, 4)]);
    }

    #[test]
    fn a_gap_is_reported_once_it_has_waited_and_can_be_skipped() {
        let delivered = Delivered::default();
        assert_eq!(
            admit(&delivered, 10, "10"),
            ["10"],
            "a new conversation starts where it is"
        );
        assert!(admit(&delivered, 13, "13").is_empty());
        assert!(admit(&delivered, 15, "15").is_empty());
        assert!(
            delivered.gaps(Duration::from_secs(60)).is_empty(),
            "not waited long enough"
        );
        assert_eq!(delivered.gaps(Duration::ZERO), vec![(C, 10, 13)]);
        // Nobody here: forgotten, but not while it holds events.
        delivered.admit([(C, 16, "16")], || false, |_, _| panic!("nothing goes out"));
        assert_eq!(delivered.followed(), vec![(C, 10)]);
        // 11 came from the database; 12 is not there.
        assert_eq!(admit(&delivered, 11, "11"), ["11"]);
        assert_eq!(skip_to(&delivered, 12), ["13"]);
        assert_eq!(delivered.gaps(Duration::ZERO), vec![(C, 13, 15)], "waiting anew");
        assert_eq!(skip_to(&delivered, 14), ["15"]);
        assert!(delivered.gaps(Duration::ZERO).is_empty());
        delivered.admit([(C, 20, "20")], || false, |_, _| panic!("nothing goes out"));
        assert!(delivered.followed().is_empty(), "forgotten");
    }
}
