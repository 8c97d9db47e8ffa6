//! Live chat state: per-conversation timelines kept in seq order, messages
//! waiting for their ack, unread counts, and the connection's state. The
//! socket task feeds it; views read it.

use std::collections::{BTreeSet, HashMap};

use leptos::prelude::*;
use natter_common::{
    api::{Conversation, ConversationKind, NotifyLevel, User},
    events::{Event, EventBody, MessageContent, Reactions},
    frames::{ClientFrame, ServerFrame},
    ids::{ConversationId, EventId, UserId},
    limits::REACTION_USERS_SHOWN,
    ErrorCode,
};
use serde::{Deserialize, Serialize};

use crate::{
    notify::Alerts,
    state::{Auth, Changes},
    storage,
};

/// What the user sees about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Online,
    /// Offline; the next attempt is in this many seconds.
    Retrying(u32),
}

/// A message of mine not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub client_msg_id: String,
    pub content: MessageContent,
    /// The message this one answers.
    pub reply_to: Option<EventId>,
    /// Why the last attempt failed, if it did.
    pub failed: Option<String>,
}

/// What a message shows now: edits, a deletion and reactions folded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Now {
    pub content: MessageContent,
    pub edited_at: Option<i64>,
    pub reactions: Vec<Reactions>,
    /// Whom its text mentions now (set by the server).
    pub mentions: Vec<UserId>,
    /// Events up to this seq are already part of it (a page from the
    /// server shows messages as they stood when it was read).
    as_of: i64,
}

impl Now {
    /// Applies an edit, deletion or reaction made by `event` (if newer);
    /// `me` is the reader, for whether a reaction is theirs.
    fn apply(&mut self, event: &Event, me: Option<UserId>) {
        if event.seq <= self.as_of {
            return;
        }
        self.as_of = event.seq;
        match &event.body {
            EventBody::MessageEdited { content, mentions, .. } if self.content != MessageContent::Deleted => {
                self.content = content.clone();
                self.mentions = mentions.clone();
                self.edited_at = Some(event.created_at);
            }
            EventBody::MessageDeleted { .. } => {
                self.content = MessageContent::Deleted;
                self.edited_at = None;
                self.reactions.clear();
            }
            EventBody::ReactionAdded { emoji, .. } => {
                add_reaction(&mut self.reactions, emoji, event.sender, Some(event.sender) == me);
            }
            EventBody::ReactionRemoved { emoji, .. } => {
                remove_reaction(&mut self.reactions, emoji, event.sender, Some(event.sender) == me);
            }
            _ => {}
        }
    }
}

/// Counts `user` in for `emoji`, once (a page may already hold what a late
/// event says). Only the first few users are named, as on the server.
fn add_reaction(reactions: &mut Vec<Reactions>, emoji: &str, user: UserId, mine: bool) {
    let at = match reactions.iter().position(|r| r.emoji == emoji) {
        Some(at) => at,
        None => {
            reactions.push(Reactions {
                emoji: emoji.to_owned(),
                count: 0,
                mine: false,
                users: Vec::new(),
            });
            reactions.len() - 1
        }
    };
    let entry = &mut reactions[at];
    if entry.users.contains(&user) || (mine && entry.mine) {
        return;
    }
    entry.count += 1;
    entry.mine |= mine;
    if entry.users.len() < REACTION_USERS_SHOWN {
        entry.users.push(user);
    }
}

fn remove_reaction(reactions: &mut Vec<Reactions>, emoji: &str, user: UserId, mine: bool) {
    let Some(at) = reactions.iter().position(|r| r.emoji == emoji) else {
        return;
    };
    let entry = &mut reactions[at];
    let listed = entry.users.iter().position(|u| *u == user);
    // Someone known not to be among them (all are named, or it is me and
    // mine is not) has nothing to take back; an unnamed one still counts.
    let absent = if mine {
        !entry.mine
    } else {
        listed.is_none() && entry.users.len() == entry.count as usize
    };
    if absent {
        return;
    }
    if mine {
        entry.mine = false;
    }
    if let Some(listed) = listed {
        entry.users.remove(listed);
    }
    entry.count = entry.count.saturating_sub(1);
    if entry.count == 0 {
        reactions.remove(at);
    }
}

/// Applies an edit, deletion or reaction to the message it is about, if held.
fn fold(entries: &[Entry], event: &Event, me: Option<UserId>) {
    let Some(target) = event.body.target() else { return };
    if let Some(now) = entries
        .iter()
        .find(|e| &e.event.id == target)
        .and_then(|e| e.now.as_ref())
    {
        now.update(|now| now.apply(event, me));
    }
}

/// Where a timeline stood when a page was asked for (see [`Timeline::mark`]).
#[derive(Clone, Copy)]
pub struct Mark {
    epoch: u32,
    head: i64,
}

/// One row of the timeline: a message, or a line about the conversation.
#[derive(Clone)]
pub struct Entry {
    pub event: Event,
    /// For messages: what it shows now. Reference-counted rather than
    /// owned by a view, so it lives exactly as long as the entry.
    pub now: Option<ArcRwSignal<Now>>,
}

/// Read markers are sent at most this often per conversation.
const READ_EVERY_MS: f64 = 1000.0;

#[derive(Default)]
struct Reads {
    /// The position to report next, per conversation.
    wanted: HashMap<ConversationId, i64>,
    /// When the last marker went, per conversation (ms since epoch).
    sent: HashMap<ConversationId, f64>,
    /// Conversations with a send scheduled.
    timers: std::collections::HashSet<ConversationId>,
}

/// An action of mine on a message, not yet acknowledged.
#[derive(Debug, Clone)]
struct PendingAction {
    conversation: ConversationId,
    frame: ClientFrame,
}

/// One conversation as the open chat pane sees it.
#[derive(Clone, Copy)]
pub struct Timeline {
    /// Who reads it (for whether a reaction is mine).
    me: Option<UserId>,
    /// Messages and system lines, ascending by seq. Edits, deletions and
    /// reactions are folded into the messages they are about.
    pub entries: RwSignal<Vec<Entry>>,
    /// Every seq held, folded ones included: what is missing shows as a gap.
    seqs: StoredValue<BTreeSet<i64>>,
    pub outgoing: RwSignal<Vec<Outgoing>>,
    /// Whether older history remains on the server.
    pub more_before: RwSignal<bool>,
    /// Whether newer history remains on the server: the timeline is then a
    /// window into the past (opened around a message far back), not the
    /// live end. Live events past it are not added after the gap: they
    /// come with the pages that reach the live end. This is the one place
    /// that says whether the timeline is a window.
    pub more_after: RwSignal<bool>,
    /// Others' messages that arrived live while a window was open.
    pub missed: RwSignal<usize>,
    /// The newest seq known to exist, held or not.
    head: StoredValue<i64>,
    /// Bumped each time what is held is replaced, so that a page asked for
    /// before is not added to what replaced it.
    epoch: StoredValue<u32>,
    /// Who is typing, and until when (ms since epoch).
    pub typing: RwSignal<Vec<(UserId, f64)>>,
    /// How far each other member has read.
    pub receipts: RwSignal<HashMap<UserId, i64>>,
    /// A group's members, once its page loaded them: for completing and
    /// highlighting `@mentions`. The first page of them, and those a
    /// mention being typed found past it.
    pub members: RwSignal<Vec<User>>,
    /// Whether the group has more members than its first page.
    pub more_members: StoredValue<bool>,
}

impl Timeline {
    fn new(me: Option<UserId>) -> Self {
        Self {
            me,
            entries: RwSignal::new(Vec::new()),
            seqs: StoredValue::new(BTreeSet::new()),
            outgoing: RwSignal::new(Vec::new()),
            more_before: RwSignal::new(false),
            more_after: RwSignal::new(false),
            missed: RwSignal::new(0),
            head: StoredValue::new(0),
            epoch: StoredValue::new(0),
            typing: RwSignal::new(Vec::new()),
            receipts: RwSignal::new(HashMap::new()),
            members: RwSignal::new(Vec::new()),
            more_members: StoredValue::new(false),
        }
    }

    /// The members `text` mentions, by the server's rule: what my own
    /// message will be stored with, shown before a page says so.
    fn mentions_in(&self, text: &str) -> Vec<UserId> {
        let mut found: Vec<UserId> = self.members.with_untracked(|members| {
            natter_common::mentions::find(text)
                .filter_map(|(_, name)| members.iter().find(|m| m.username.eq_ignore_ascii_case(name)))
                .map(|m| m.id)
                .collect()
        });
        found.dedup();
        found
    }

    /// Records how far others have read; a position never moves back (a
    /// live receipt may arrive before an older fetched one).
    pub fn note_receipts(&self, receipts: impl IntoIterator<Item = (UserId, i64)>) {
        self.receipts.update(|known| {
            for (user, read_seq) in receipts {
                let seen = known.entry(user).or_default();
                *seen = (*seen).max(read_seq);
            }
        });
    }

    /// Whether the timeline is a window into the past (see `more_after`).
    pub fn is_window(&self) -> bool {
        self.more_after.get_untracked()
    }

    /// The newest seq known to exist in the log, held or not.
    pub fn head(&self) -> i64 {
        self.head.get_value()
    }

    /// Where the timeline stands before a page is asked for.
    pub fn mark(&self) -> Mark {
        Mark {
            epoch: self.epoch.get_value(),
            head: self.head(),
        }
    }

    /// Replaces what is held with `events` (the newest page, or a window
    /// around a message); false if it was replaced since `mark`.
    pub fn replace(&self, mark: Mark, events: Vec<Event>, more_before: bool, more_after: bool) -> bool {
        if mark.epoch != self.epoch.get_value() {
            return false;
        }
        self.epoch.update_value(|e| *e += 1);
        self.seqs.update_value(BTreeSet::clear);
        self.entries.set(Vec::new());
        self.more_before.set(more_before);
        self.more_after.set(more_after);
        self.missed.set(0);
        self.merge_as_of(events, mark.head);
        true
    }

    /// Adds the page before the oldest held; false if the timeline was
    /// replaced since `mark`.
    pub fn prepend(&self, mark: Mark, events: Vec<Event>, more_before: bool) -> bool {
        if mark.epoch != self.epoch.get_value() {
            return false;
        }
        self.more_before.set(more_before);
        self.merge_as_of(events, mark.head);
        true
    }

    /// Adds the page after the newest held, to a window; once nothing newer
    /// remains the window has reached the live end. False if the timeline
    /// was replaced since `mark`.
    pub fn append(&self, mark: Mark, events: Vec<Event>, more_after: bool) -> bool {
        if mark.epoch != self.epoch.get_value() || !self.is_window() {
            return false;
        }
        self.merge_as_of(events, mark.head);
        self.more_after.set(more_after);
        if !more_after {
            // What came meanwhile is in this page or follows it, as rows.
            self.missed.set(0);
        }
        true
    }

    /// Takes in events from the socket (live, synced, or the ack of my
    /// own). At the live end they are merged; in a window, those past its
    /// end wait (others' messages counted in `missed`), but edits,
    /// deletions and reactions still change the messages it holds.
    pub(crate) fn live(&self, incoming: Vec<Event>) {
        if !self.is_window() {
            self.merge(incoming);
            return;
        }
        let last = self.last_seq().unwrap_or(0);
        let (inside, past): (Vec<Event>, Vec<Event>) = incoming.into_iter().partition(|e| e.seq <= last);
        self.merge(inside);
        let Some(newest) = past.iter().map(|e| e.seq).max() else {
            return;
        };
        self.head.update_value(|h| *h = (*h).max(newest));
        let waiting = past
            .iter()
            .filter(|e| matches!(e.body, EventBody::Message { .. }) && Some(e.sender) != self.me)
            .count();
        if waiting > 0 {
            self.missed.update(|n| *n += waiting);
        }
        self.entries.with_untracked(|entries| {
            for event in past.iter().filter(|e| e.body.target().is_some()) {
                fold(entries, event, self.me);
            }
        });
    }

    /// Takes in events (a page of history, or live at the live end), each
    /// once: new messages and system lines become entries, edits, deletions
    /// and reactions change the message they are about.
    pub fn merge(&self, incoming: Vec<Event>) {
        self.merge_as_of(incoming, self.head());
    }

    /// [`Self::merge`], for events read when the log went at least up to
    /// `known`.
    fn merge_as_of(&self, mut incoming: Vec<Event>, known: i64) {
        incoming.retain(|e| self.seqs.with_value(|s| !s.contains(&e.seq)));
        if incoming.is_empty() {
            return;
        }
        incoming.sort_by_key(|e| e.seq);
        // A page shows messages as of when it was read: at least its own
        // newest event, anything this timeline already held, and anything
        // known to exist when it was asked for.
        let as_of = self
            .seqs
            .with_value(|s| s.last().copied())
            .unwrap_or(0)
            .max(known)
            .max(incoming.last().map_or(0, |e| e.seq));
        self.seqs.update_value(|s| s.extend(incoming.iter().map(|e| e.seq)));
        self.head
            .update_value(|h| *h = (*h).max(incoming.last().map_or(0, |e| e.seq)));
        self.entries.update(|entries| {
            for mut event in incoming {
                if event.body.target().is_some() {
                    fold(entries, &event, self.me);
                    continue;
                }
                let now = match &event.body {
                    EventBody::Message { content, mentions, .. } => {
                        let state = event.state.take().unwrap_or_default();
                        Some(ArcRwSignal::new(Now {
                            content: content.clone(),
                            mentions: mentions.clone(),
                            edited_at: state.edited_at,
                            reactions: state.reactions,
                            as_of,
                        }))
                    }
                    _ => None,
                };
                let at = entries.partition_point(|e| e.event.seq < event.seq);
                entries.insert(at, Entry { event, now });
            }
        });
    }

    /// The message with this id, if loaded.
    pub fn message(&self, id: &EventId) -> Option<Entry> {
        self.entries
            .with_untracked(|entries| entries.iter().find(|e| &e.event.id == id).cloned())
    }

    /// The seq of the oldest entry held.
    pub fn first_seq(&self) -> Option<i64> {
        self.seqs.with_value(|s| s.first().copied())
    }

    /// The seq of the newest event held.
    pub fn last_seq(&self) -> Option<i64> {
        self.seqs.with_value(|s| s.last().copied())
    }

    /// The highest seq up to which nothing is missing, counting from the
    /// oldest loaded event.
    pub fn contiguous_until(&self) -> i64 {
        self.seqs.with_value(|seqs| {
            let mut iter = seqs.iter();
            let Some(&first) = iter.next() else { return 0 };
            let mut last = first;
            for &seq in iter {
                if seq != last + 1 {
                    break;
                }
                last = seq;
            }
            last
        })
    }
}

#[derive(Clone, Copy)]
pub struct Chat {
    pub link: RwSignal<Link>,
    pub unread: RwSignal<HashMap<ConversationId, u32>>,
    /// Of the unread messages, those that mention me.
    pub mentions: RwSignal<HashMap<ConversationId, u32>>,
    /// What I am notified of in each conversation (absent: the default).
    pub notify: RwSignal<HashMap<ConversationId, NotifyLevel>>,
    /// The conversation on screen, if any.
    pub viewing: RwSignal<Option<ConversationId>>,
    /// A conversation to open (a notification clicked); the router's shell
    /// goes there.
    pub goto: RwSignal<Option<ConversationId>>,
    pub alerts: Alerts,
    /// The sidebar's conversations, most recently active first (`None`
    /// until first loaded). Kept current from live events; fetched again
    /// only when conversations come, go or change.
    pub list: RwSignal<Option<Vec<Conversation>>>,
    /// How far I have read each conversation (on any device), as the server
    /// last said or as I last told it.
    read: StoredValue<HashMap<ConversationId, i64>>,
    /// Read markers waiting to be sent, and when each conversation's last
    /// one went: at most one per second per conversation.
    reads: StoredValue<Reads>,
    pub online: RwSignal<Vec<UserId>>,
    /// Display names, as the newest page, look-up or `user_updated` frame
    /// that named each person said (`note_users`); people a page has no
    /// list for (a sender past a big group's first page of members, a
    /// former member) are fetched once a session (`look_up`), empty while
    /// asked. Ahead of a page's own names, which are not kept current.
    pub people: RwSignal<HashMap<UserId, String>>,
    /// The media id of each person's picture, for those who have one, as
    /// the newest list, page, look-up or `user_updated` that named them said.
    pub pictures: RwSignal<HashMap<UserId, String>>,
    timelines: StoredValue<HashMap<ConversationId, Timeline>>,
    /// Whether this sign-in took back the unsent messages a reload left.
    restored: StoredValue<bool>,
    /// Edits, deletions and reactions sent and not yet acknowledged, by
    /// `client_msg_id`; sent again after a reconnect.
    actions: StoredValue<HashMap<String, PendingAction>>,
    /// A refused action, to tell the user about.
    pub notice: RwSignal<Option<String>>,
    /// The app's own owner: timelines outlive the pages that open them.
    owner: StoredValue<Owner>,
    /// Frames for the socket task to send; unbounded but only ever holds
    /// what the user typed plus a few control frames.
    outbox: StoredValue<Option<futures::channel::mpsc::UnboundedSender<ClientFrame>>>,
    changes: Changes,
    auth: Auth,
}

pub fn use_chat() -> Chat {
    expect_context::<Chat>()
}

impl Chat {
    pub fn new(auth: Auth, changes: Changes) -> Self {
        Self {
            link: RwSignal::new(Link::Connecting),
            unread: RwSignal::new(HashMap::new()),
            mentions: RwSignal::new(HashMap::new()),
            notify: RwSignal::new(HashMap::new()),
            viewing: RwSignal::new(None),
            goto: RwSignal::new(None),
            alerts: Alerts::new(),
            list: RwSignal::new(None),
            read: StoredValue::new(HashMap::new()),
            reads: StoredValue::new(Reads::default()),
            online: RwSignal::new(Vec::new()),
            people: RwSignal::new(HashMap::new()),
            pictures: RwSignal::new(HashMap::new()),
            timelines: StoredValue::new(HashMap::new()),
            actions: StoredValue::new(HashMap::new()),
            restored: StoredValue::new(false),
            notice: RwSignal::new(None),
            owner: StoredValue::new(Owner::current().expect("Chat is created inside the app")),
            outbox: StoredValue::new(None),
            changes,
            auth,
        }
    }

    pub fn timeline(&self, id: ConversationId) -> Timeline {
        if let Some(t) = self.timelines.with_value(|m| m.get(&id).copied()) {
            return t;
        }
        // Created under the app's owner: a timeline first asked for inside a
        // page's resource must not be disposed with that resource.
        let me = self.me();
        let timeline = self.owner.with_value(|owner| owner.with(|| Timeline::new(me)));
        self.timelines.update_value(|m| {
            m.insert(id, timeline);
        });
        timeline
    }

    fn known(&self, id: ConversationId) -> Option<Timeline> {
        self.timelines.with_value(|m| m.get(&id).copied())
    }

    /// Forgets everything (on sign-out).
    pub fn clear(&self) {
        self.timelines.update_value(HashMap::clear);
        self.actions.update_value(HashMap::clear);
        self.restored.set_value(false);
        self.unread.set(HashMap::new());
        self.mentions.set(HashMap::new());
        self.notify.set(HashMap::new());
        self.list.set(None);
        self.read.update_value(HashMap::clear);
        self.online.set(Vec::new());
        self.people.set(HashMap::new());
        self.pictures.set(HashMap::new());
        self.set_outbox(None);
    }

    pub(crate) fn set_outbox(&self, outbox: Option<futures::channel::mpsc::UnboundedSender<ClientFrame>>) {
        self.outbox.set_value(outbox);
    }

    /// Sends a frame if connected; returns false when offline.
    pub fn send_frame(&self, frame: ClientFrame) -> bool {
        self.outbox
            .with_value(|out| out.as_ref().is_some_and(|tx| tx.unbounded_send(frame).is_ok()))
    }

    /// Queues a message; it shows as pending until acked, and is sent again
    /// (same id) after a reconnect.
    pub fn send(&self, conversation: ConversationId, content: MessageContent, reply_to: Option<EventId>) {
        let message = Outgoing {
            client_msg_id: new_client_msg_id(),
            content,
            reply_to,
            failed: None,
        };
        let frame = send_frame(conversation, &message);
        self.timeline(conversation).outgoing.update(|o| o.push(message));
        self.save_outbox();
        self.send_frame(frame);
    }

    /// Where this browser keeps my unsent messages across reloads.
    fn outbox_key(&self) -> Option<String> {
        self.me().map(|me| format!("natter.outbox.{me}"))
    }

    /// Keeps every unacknowledged message in this browser, so closing the
    /// tab loses none: they go out (under their ids, so once) next time.
    fn save_outbox(&self) {
        let Some(key) = self.outbox_key() else { return };
        let mut all: Vec<(ConversationId, Outgoing)> = Vec::new();
        self.timelines.with_value(|m| {
            for (id, timeline) in m {
                timeline
                    .outgoing
                    .with_untracked(|o| all.extend(o.iter().map(|msg| (*id, msg.clone()))));
            }
        });
        if all.is_empty() {
            storage::remove(&key);
        } else {
            storage::save(&key, &all);
        }
    }

    /// Takes back what an earlier page load left unsent (once per sign-in).
    fn restore_outbox(&self) {
        if self.restored.get_value() {
            return;
        }
        self.restored.set_value(true);
        let Some(saved) = self
            .outbox_key()
            .and_then(|key| storage::load::<Vec<(ConversationId, Outgoing)>>(&key))
        else {
            return;
        };
        for (id, message) in saved {
            self.timeline(id).outgoing.update(|o| {
                if !o.iter().any(|m| m.client_msg_id == message.client_msg_id) {
                    o.push(message);
                }
            });
        }
    }

    /// Sends a failed message again under its original id, so it can't double.
    pub fn retry(&self, conversation: ConversationId, client_msg_id: &str) {
        let timeline = self.timeline(conversation);
        let mut frame = None;
        timeline.outgoing.update(|o| {
            if let Some(m) = o.iter_mut().find(|m| m.client_msg_id == client_msg_id) {
                m.failed = None;
                frame = Some(send_frame(conversation, m));
            }
        });
        if let Some(frame) = frame {
            self.send_frame(frame);
        }
    }

    /// Replaces the text of my message `target`.
    pub fn edit(&self, conversation: ConversationId, target: EventId, text: String) {
        self.act(conversation, |client_msg_id| ClientFrame::Edit {
            client_msg_id,
            conversation_id: conversation,
            target,
            text,
        });
    }

    /// Deletes `target` for everyone.
    pub fn delete(&self, conversation: ConversationId, target: EventId) {
        self.act(conversation, |client_msg_id| ClientFrame::Delete {
            client_msg_id,
            conversation_id: conversation,
            target,
        });
    }

    /// Adds (`on`) or takes back my `emoji` reaction to `target`.
    pub fn react(&self, conversation: ConversationId, target: EventId, emoji: String, on: bool) {
        self.act(conversation, |client_msg_id| {
            let conversation_id = conversation;
            if on {
                ClientFrame::React {
                    client_msg_id,
                    conversation_id,
                    target,
                    emoji,
                }
            } else {
                ClientFrame::Unreact {
                    client_msg_id,
                    conversation_id,
                    target,
                    emoji,
                }
            }
        });
    }

    /// Sends an action under a fresh id and keeps it until acknowledged; it
    /// shows once the server has stored it.
    fn act(&self, conversation: ConversationId, frame: impl FnOnce(String) -> ClientFrame) {
        let client_msg_id = new_client_msg_id();
        let frame = frame(client_msg_id.clone());
        self.actions.update_value(|a| {
            a.insert(
                client_msg_id,
                PendingAction {
                    conversation,
                    frame: frame.clone(),
                },
            );
        });
        self.send_frame(frame);
    }

    /// The event an acknowledged action of mine stored, to fold in.
    fn acted(&self, action: PendingAction, seq: i64, id: EventId, created_at: i64) -> Option<Event> {
        let (client_msg_id, body) = match action.frame {
            ClientFrame::Edit {
                client_msg_id,
                target,
                text,
                ..
            } => (
                client_msg_id,
                EventBody::MessageEdited {
                    target,
                    mentions: self.timeline(action.conversation).mentions_in(&text),
                    content: MessageContent::Text { text },
                },
            ),
            ClientFrame::Delete {
                client_msg_id, target, ..
            } => (client_msg_id, EventBody::MessageDeleted { target }),
            ClientFrame::React {
                client_msg_id,
                target,
                emoji,
                ..
            } => (client_msg_id, EventBody::ReactionAdded { target, emoji }),
            ClientFrame::Unreact {
                client_msg_id,
                target,
                emoji,
                ..
            } => (client_msg_id, EventBody::ReactionRemoved { target, emoji }),
            _ => return None,
        };
        Some(Event {
            conversation_id: action.conversation,
            seq,
            id,
            sender: self.me()?,
            client_msg_id: Some(client_msg_id),
            created_at,
            body,
            state: None,
        })
    }

    /// Fetches the display names of `users` that were never asked for (a
    /// few at a time, each once however often it is listed) into `people`.
    pub fn look_up(&self, mut users: Vec<UserId>) {
        let (chat, people) = (*self, self.people);
        users.retain(|u| people.with_untracked(|p| !p.contains_key(u)));
        if users.is_empty() {
            return;
        }
        // Marked as asked for as they are kept, so a repeat is dropped (no
        // sort and dedup: that compiled a sort for `UserId`, issue 13).
        people.update(|p| users.retain(|u| p.insert(*u, String::new()).is_none()));
        const LANES: usize = 4;
        for lane in 0..LANES.min(users.len()) {
            let mine: Vec<UserId> = users.iter().skip(lane).step_by(LANES).copied().collect();
            leptos::task::spawn_local(async move {
                for user in mine {
                    if let Ok(found) = crate::api::user(user).await {
                        chat.note_users(std::slice::from_ref(&found));
                    }
                }
            });
        }
    }

    /// Keeps what `users` say of their names and pictures (set, changed or
    /// removed); nothing is told when nothing changed.
    pub fn note_users(&self, users: &[User]) {
        let renamed = self
            .people
            .with_untracked(|p| users.iter().any(|u| p.get(&u.id) != Some(&u.display_name)));
        if renamed {
            self.people
                .update(|p| p.extend(users.iter().map(|u| (u.id, u.display_name.clone()))));
        }
        self.note_pictures(users);
    }

    fn note_pictures(&self, users: &[User]) {
        let changed = self
            .pictures
            .with_untracked(|p| users.iter().any(|u| p.get(&u.id) != u.avatar.as_ref()));
        if changed {
            self.pictures.update(|p| {
                for user in users {
                    match &user.avatar {
                        Some(media) => p.insert(user.id, media.clone()),
                        None => p.remove(&user.id),
                    };
                }
            });
        }
    }

    /// Someone's name or picture changed (a `user_updated` frame): every
    /// place that holds them shows them as they are now. What the live
    /// state holds is changed in place (names, pictures, the sidebar's
    /// DMs, the members a mention is chosen from, me); the people pages
    /// read their lists again.
    fn user_updated(&self, user: User) {
        self.note_users(std::slice::from_ref(&user));
        let is_stale = |peer: &User| peer.id == user.id && *peer != user;
        let listed = self.list.with_untracked(|list| {
            list.iter()
                .flatten()
                .any(|c| matches!(&c.kind, ConversationKind::Direct { peer } if is_stale(peer)))
        });
        if listed {
            self.list.update(|list| {
                for conversation in list.iter_mut().flatten() {
                    match &mut conversation.kind {
                        ConversationKind::Direct { peer } if peer.id == user.id => *peer = user.clone(),
                        _ => {}
                    }
                }
            });
        }
        self.timelines.with_value(|timelines| {
            for timeline in timelines.values() {
                if timeline.members.with_untracked(|m| m.iter().any(is_stale)) {
                    timeline.members.update(|members| {
                        for member in members.iter_mut().filter(|m| m.id == user.id) {
                            *member = user.clone();
                        }
                    });
                }
            }
        });
        if self.auth.user.with_untracked(|me| me.as_ref().is_some_and(is_stale)) {
            self.auth.user.set(Some(user));
        }
        self.changes.people_changed();
    }

    /// Fetches the sidebar's list anew.
    pub fn refresh_list(&self) {
        let (list, notify) = (self.list, self.notify);
        leptos::task::spawn_local(async move {
            if let Ok(conversations) = crate::api::conversations().await {
                notify.update(|levels| levels.extend(conversations.iter().map(|c| (c.id, c.notify))));
                list.set(Some(conversations));
            }
        });
    }

    /// Shows `event` as its conversation's newest in the sidebar, which
    /// moves it to the top; false when the sidebar doesn't list it (yet).
    fn bring_to_top(&self, event: &Event) -> bool {
        let listed = self.list.with_untracked(|list| {
            list.as_ref()
                .and_then(|list| list.iter().position(|c| c.id == event.conversation_id))
        });
        let Some(at) = listed else { return false };
        self.list.update(|list| {
            if let Some(list) = list {
                let mut conversation = list.remove(at);
                if event.seq > conversation.last_seq {
                    conversation.last_seq = event.seq;
                    conversation.last_event = Some(event.clone());
                }
                list.insert(0, conversation);
            }
        });
        true
    }

    /// The server says I have read `conversation` up to `seq` (a position
    /// never moves back).
    pub fn note_read(&self, conversation: ConversationId, seq: i64) {
        self.read.update_value(|read| {
            let known = read.entry(conversation).or_default();
            *known = (*known).max(seq);
        });
    }

    /// How far I had read `conversation` when last heard.
    pub fn read_seq(&self, conversation: ConversationId) -> i64 {
        self.read.with_value(|r| r.get(&conversation).copied().unwrap_or(0))
    }

    /// I have seen everything up to `seq`: tells the server, at most once a
    /// second per conversation (the latest position wins).
    pub fn read_up_to(&self, conversation: ConversationId, seq: i64) {
        if seq <= self.read_seq(conversation) {
            return;
        }
        let now = js_sys::Date::now();
        let wait = self.reads.try_update_value(|reads| {
            let wanted = reads.wanted.entry(conversation).or_default();
            *wanted = (*wanted).max(seq);
            if reads.timers.contains(&conversation) {
                return None;
            }
            let since = now - reads.sent.get(&conversation).copied().unwrap_or(f64::MIN);
            let wait = (READ_EVERY_MS - since).max(0.0).ceil() as u32;
            if wait > 0 {
                reads.timers.insert(conversation);
            }
            Some(wait)
        });
        match wait.flatten() {
            Some(0) => self.flush_read(conversation),
            Some(wait) => {
                let chat = *self;
                gloo_timers::callback::Timeout::new(wait, move || {
                    chat.reads.update_value(|r| {
                        r.timers.remove(&conversation);
                    });
                    chat.flush_read(conversation);
                })
                .forget();
            }
            None => {}
        }
    }

    fn flush_read(&self, conversation: ConversationId) {
        let Some(seq) = self
            .reads
            .try_update_value(|r| r.wanted.remove(&conversation))
            .flatten()
        else {
            return;
        };
        if seq <= self.read_seq(conversation) {
            return;
        }
        let sent = self.send_frame(ClientFrame::Read {
            conversation_id: conversation,
            seq,
        });
        if sent {
            self.reads.update_value(|r| {
                r.sent.insert(conversation, js_sys::Date::now());
            });
            self.read.update_value(|read| {
                read.insert(conversation, seq);
            });
        }
    }

    /// Called by the socket task for each frame from the server.
    pub(crate) fn receive(&self, frame: ServerFrame) {
        match frame {
            ServerFrame::Hello {
                conversations, online, ..
            } => {
                self.online.set(online);
                for state in &conversations {
                    self.note_read(state.conversation_id, state.read_seq);
                }
                // The sidebar missed something while the connection was
                // down (a conversation came or went, or has newer events):
                // it reads its list again. Not on first connecting: it has
                // no list yet, or has just read it.
                let stale = self.list.with_untracked(|list| {
                    list.as_ref().is_some_and(|list| {
                        list.len() != conversations.len()
                            || conversations.iter().any(|state| {
                                list.iter()
                                    .find(|c| c.id == state.conversation_id)
                                    .is_none_or(|c| c.last_seq < state.last_seq)
                            })
                    })
                });
                self.unread
                    .set(conversations.iter().map(|c| (c.conversation_id, c.unread)).collect());
                self.mentions
                    .set(conversations.iter().map(|c| (c.conversation_id, c.mentions)).collect());
                self.notify
                    .set(conversations.iter().map(|c| (c.conversation_id, c.notify)).collect());
                for state in &conversations {
                    match self.known(state.conversation_id) {
                        // A window catches up once it reaches the live end.
                        Some(t) if t.is_window() => t.head.update_value(|h| *h = (*h).max(state.last_seq)),
                        // Catch up what happened while we were away.
                        Some(t) if t.contiguous_until() < state.last_seq && t.last_seq().is_some() => {
                            self.send_frame(ClientFrame::Sync {
                                conversation_id: state.conversation_id,
                                after_seq: t.contiguous_until(),
                            });
                        }
                        _ => {}
                    }
                }
                if stale {
                    self.refresh_list();
                }
                self.restore_outbox();
                self.resend_outgoing();
            }
            ServerFrame::Event { event } => self.live_event(event),
            ServerFrame::Events {
                conversation_id,
                events,
                more,
            } => {
                let timeline = self.timeline(conversation_id);
                timeline.live(events);
                if more && !timeline.is_window() {
                    self.send_frame(ClientFrame::Sync {
                        conversation_id,
                        after_seq: timeline.contiguous_until(),
                    });
                }
            }
            ServerFrame::Sent {
                client_msg_id,
                conversation_id,
                seq,
                id,
                created_at,
            } => {
                let timeline = self.timeline(conversation_id);
                if let Some(action) = self.actions.try_update_value(|a| a.remove(&client_msg_id)).flatten() {
                    timeline.live(self.acted(action, seq, id, created_at).into_iter().collect());
                    self.check_gap(conversation_id, seq);
                    return;
                }
                let mut acked = None;
                timeline.outgoing.update(|o| {
                    if let Some(at) = o.iter().position(|m| m.client_msg_id == client_msg_id) {
                        acked = Some(o.remove(at));
                    }
                });
                if acked.is_some() {
                    self.save_outbox();
                }
                if let (Some(message), Some(me)) = (acked, self.me()) {
                    let mentions = match &message.content {
                        MessageContent::Text { text } => timeline.mentions_in(text),
                        _ => Vec::new(),
                    };
                    let event = Event {
                        conversation_id,
                        seq,
                        id,
                        sender: me,
                        client_msg_id: Some(client_msg_id),
                        created_at,
                        body: EventBody::Message {
                            content: message.content,
                            reply_to: message.reply_to,
                            mentions,
                        },
                        state: None,
                    };
                    self.bring_to_top(&event);
                    timeline.live(vec![event]);
                }
                self.check_gap(conversation_id, seq);
            }
            ServerFrame::ReadState {
                conversation_id,
                unread,
                read_seq,
                mentions,
            } => {
                self.note_read(conversation_id, read_seq);
                self.alerts.read(conversation_id, read_seq);
                self.unread.update(|u| {
                    u.insert(conversation_id, unread);
                });
                self.mentions.update(|m| {
                    m.insert(conversation_id, mentions);
                });
            }
            ServerFrame::ConversationSettings {
                conversation_id,
                notify,
            } => self.notify.update(|n| {
                n.insert(conversation_id, notify);
            }),
            ServerFrame::Receipt {
                conversation_id,
                user_id,
                read_seq,
            } => self.timeline(conversation_id).note_receipts([(user_id, read_seq)]),
            ServerFrame::Typing {
                conversation_id,
                user_id,
            } => {
                let until = js_sys::Date::now() + 5000.0;
                self.timeline(conversation_id).typing.update(|t| {
                    t.retain(|(u, _)| *u != user_id);
                    t.push((user_id, until));
                });
            }
            ServerFrame::Presence { user_id, online } => self.online.update(|list| {
                list.retain(|u| *u != user_id);
                if online {
                    list.push(user_id);
                }
            }),
            // A new contact brings a DM (and a lost one may take it away).
            ServerFrame::ContactsChanged => {
                self.changes.contacts_changed();
                self.refresh_list();
            }
            ServerFrame::UserUpdated { user } => self.user_updated(user),
            ServerFrame::Error {
                client_msg_id: Some(id),
                code,
                message,
            } => self.send_failed(&id, code, message),
            _ => {}
        }
    }

    fn me(&self) -> Option<UserId> {
        self.auth.user.with_untracked(|u| u.as_ref().map(|u| u.id))
    }

    fn live_event(&self, event: Event) {
        let conversation = event.conversation_id;
        let seq = event.seq;
        let from_me = Some(event.sender) == self.me();
        let is_message = matches!(event.body, EventBody::Message { .. });
        let mentions_me = self.me().is_some_and(|me| event.body.mentions().contains(&me));
        let membership = event.body.is_system();
        if is_message && !from_me {
            self.alert(&event, mentions_me);
        }
        // New conversations, renames and membership need the list anew (and
        // the group pages); anything else just moves its row to the top.
        if !self.bring_to_top(&event) || membership {
            self.refresh_list();
        }
        if membership {
            self.changes.group_changed(conversation);
        }
        if let Some(timeline) = self.known(conversation) {
            timeline.typing.update(|t| t.retain(|(u, _)| *u != event.sender));
            timeline.live(vec![event]);
            self.check_gap(conversation, seq);
        }
        if is_message && !from_me {
            self.unread.update(|u| *u.entry(conversation).or_default() += 1);
            if mentions_me {
                self.mentions.update(|m| *m.entry(conversation).or_default() += 1);
            }
        }
    }

    /// Shows a desktop notification for someone's new message, if this
    /// conversation's level asks for one and I may not be looking at it.
    fn alert(&self, event: &Event, mentioned: bool) {
        let conversation = event.conversation_id;
        let level = self.notify_level(conversation);
        let (direct, place, peer) = self.list.with_untracked(|list| {
            match list.iter().flatten().find(|c| c.id == conversation).map(|c| &c.kind) {
                Some(ConversationKind::Direct { peer }) => (true, None, Some(peer.display_name.clone())),
                Some(ConversationKind::Group { name, .. }) => (false, Some(name.clone()), None),
                // Not listed yet: a new conversation, most likely a DM.
                None => (true, None, None),
            }
        });
        let looking = self.viewing.get_untracked() == Some(conversation) && crate::notify::page_in_view();
        if !level.notifies(direct, mentioned) || looking || event.seq <= self.read_seq(conversation) {
            return;
        }
        let known = self
            .known(conversation)
            .and_then(|t| {
                t.members
                    .with_untracked(|m| m.iter().find(|u| u.id == event.sender).map(|u| u.display_name.clone()))
            })
            .or_else(|| {
                self.people
                    .with_untracked(|p| p.get(&event.sender).filter(|n| !n.is_empty()).cloned())
            });
        let EventBody::Message { content, .. } = &event.body else {
            return;
        };
        let chat = *self;
        let (sender, seq) = (event.sender, event.seq);
        let preview = crate::components::message_content::snippet(content);
        leptos::task::spawn_local(async move {
            let name = match peer.or(known) {
                Some(name) => name,
                None => crate::api::user(sender)
                    .await
                    .map_or_else(|_| "Someone".to_owned(), |u| u.display_name),
            };
            // Read meanwhile (on another device, say): nothing to tell.
            if seq > chat.read_seq(conversation) {
                chat.alerts
                    .show(chat, conversation, seq, &name, place.as_deref(), &preview, mentioned);
            }
        });
    }

    /// What I am notified of in `conversation`.
    pub fn notify_level(&self, conversation: ConversationId) -> NotifyLevel {
        self.notify
            .with_untracked(|n| n.get(&conversation).copied())
            .unwrap_or_default()
    }

    /// After an event at `seq`, asks for whatever is missing before it
    /// (a window has a gap after it by design: it is not asked for).
    fn check_gap(&self, conversation: ConversationId, seq: i64) {
        let Some(timeline) = self.known(conversation).filter(|t| !t.is_window()) else {
            return;
        };
        let until = timeline.contiguous_until();
        if until != 0 && seq > until + 1 {
            self.send_frame(ClientFrame::Sync {
                conversation_id: conversation,
                after_seq: until,
            });
        }
    }

    /// Asks for what happened after the newest page held, once a window has
    /// reached the live end or been replaced by the newest page (live
    /// events that came while it was being read waited, not merged).
    pub fn catch_up(&self, conversation: ConversationId) {
        let Some(timeline) = self.known(conversation).filter(|t| !t.is_window()) else {
            return;
        };
        let until = timeline.contiguous_until();
        if until != 0 && timeline.head() > until {
            self.send_frame(ClientFrame::Sync {
                conversation_id: conversation,
                after_seq: until,
            });
        }
    }

    fn send_failed(&self, client_msg_id: &str, code: ErrorCode, message: String) {
        if self
            .actions
            .try_update_value(|a| a.remove(client_msg_id))
            .flatten()
            .is_some()
        {
            self.notice.set(Some(message));
            return;
        }
        let note = match code {
            ErrorCode::RateLimited { retry_after_ms } => {
                format!(
                    "Sending too fast: you can send again in {} s.",
                    retry_after_ms.div_ceil(1000).max(1)
                )
            }
            _ => message,
        };
        self.timelines.with_value(|m| {
            for timeline in m.values() {
                timeline.outgoing.update(|o| {
                    if let Some(msg) = o.iter_mut().find(|m| m.client_msg_id == client_msg_id) {
                        msg.failed = Some(note.clone());
                    }
                });
            }
        });
    }

    /// After a reconnect, sends every unacknowledged, unfailed message again
    /// under its original id (the server stores each only once).
    fn resend_outgoing(&self) {
        let mut frames: Vec<ClientFrame> = self
            .actions
            .with_value(|a| a.values().map(|p| p.frame.clone()).collect());
        self.timelines.with_value(|m| {
            for (id, timeline) in m {
                timeline.outgoing.with_untracked(|o| {
                    for msg in o.iter().filter(|m| m.failed.is_none()) {
                        frames.push(send_frame(*id, msg));
                    }
                });
            }
        });
        for frame in frames {
            self.send_frame(frame);
        }
    }
}

fn send_frame(conversation: ConversationId, message: &Outgoing) -> ClientFrame {
    ClientFrame::Send {
        client_msg_id: message.client_msg_id.clone(),
        conversation_id: conversation,
        content: message.content.clone(),
        reply_to: message.reply_to.clone(),
    }
}

/// A fresh idempotency key: time plus randomness, unique per device.
fn new_client_msg_id() -> String {
    let random = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("{:x}-{random:08x}", js_sys::Date::now() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, sender: i64, body: EventBody) -> Event {
        Event {
            conversation_id: ConversationId(1),
            seq,
            id: EventId(format!("e{seq}")),
            sender: UserId(sender),
            client_msg_id: None,
            created_at: seq * 1000,
            body,
            state: None,
        }
    }

    fn react(seq: i64, sender: i64, emoji: &str, on: bool) -> Event {
        let (target, emoji) = (EventId("e1".into()), emoji.to_owned());
        let body = if on {
            EventBody::ReactionAdded { target, emoji }
        } else {
            EventBody::ReactionRemoved { target, emoji }
        };
        event(seq, sender, body)
    }

    fn now_with(reactions: Vec<Reactions>, as_of: i64) -> Now {
        Now {
            content: MessageContent::Text { text: "hi".into() },
            edited_at: None,
            reactions,
            mentions: Vec::new(),
            as_of,
        }
    }

    const ME: Option<UserId> = Some(UserId(7));

    #[test]
    fn reactions_count_each_user_once_and_know_mine() {
        let mut now = now_with(Vec::new(), 1);
        for e in [
            react(2, 3, "👍", true),
            react(3, 7, "👍", true),
            react(4, 3, "👍", true),
        ] {
            now.apply(&e, ME);
        }
        assert_eq!(now.reactions.len(), 1);
        let thumbs = &now.reactions[0];
        assert_eq!(
            (thumbs.count, thumbs.mine, thumbs.users.clone()),
            (2, true, vec![UserId(3), UserId(7)])
        );
        now.apply(&react(5, 7, "👍", false), ME);
        assert_eq!((now.reactions[0].count, now.reactions[0].mine), (1, false));
        now.apply(&react(6, 3, "👍", false), ME);
        assert!(now.reactions.is_empty(), "the last one gone takes the chip");
    }

    /// A page read after an event already holds it: applying it again
    /// (it arrives live later) must not count it twice.
    #[test]
    fn events_a_page_already_holds_are_not_applied_again() {
        let page = vec![Reactions {
            emoji: "❤️".into(),
            count: 1,
            mine: false,
            users: vec![UserId(3)],
        }];
        let mut now = now_with(page, 10);
        now.apply(&react(9, 4, "❤️", true), ME);
        assert_eq!(now.reactions[0].count, 1, "seq 9 is in the page");
        now.apply(&react(11, 4, "❤️", true), ME);
        assert_eq!(now.reactions[0].count, 2);
    }

    /// With more reactors than the server names, a removal by someone
    /// unnamed still counts, and my own is known by `mine`.
    #[test]
    fn unnamed_reactors_still_count() {
        let users: Vec<UserId> = (100..100 + REACTION_USERS_SHOWN as i64).map(UserId).collect();
        let page = vec![Reactions {
            emoji: "🎉".into(),
            count: 12,
            mine: true,
            users,
        }];
        let mut now = now_with(page, 1);
        now.apply(&react(2, 555, "🎉", false), ME);
        assert_eq!(now.reactions[0].count, 11);
        now.apply(&react(3, 7, "🎉", true), ME);
        assert_eq!(now.reactions[0].count, 11, "mine is there already");
        now.apply(&react(4, 7, "🎉", false), ME);
        assert_eq!((now.reactions[0].count, now.reactions[0].mine), (10, false));
    }

    #[test]
    fn an_edit_after_a_deletion_changes_nothing() {
        let mut now = now_with(Vec::new(), 1);
        let target = EventId("e1".into());
        now.apply(&event(2, 7, EventBody::MessageDeleted { target: target.clone() }), ME);
        let late_edit = EventBody::MessageEdited {
            target,
            mentions: Vec::new(),
            content: MessageContent::Text {
                text: "too late".into(),
            },
        };
        now.apply(&event(3, 7, late_edit), ME);
        assert_eq!((now.content.clone(), now.edited_at), (MessageContent::Deleted, None));
    }
}
