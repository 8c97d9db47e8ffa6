//! Live chat state: per-conversation timelines kept in seq order, messages
//! waiting for their ack, unread counts, and the connection's state. The
//! socket task feeds it; views read it.

use std::collections::HashMap;

use leptos::prelude::*;
use natter_common::{
    events::{Event, EventBody, MessageContent},
    frames::{ClientFrame, ServerFrame},
    ids::{ConversationId, EventId, UserId},
    ErrorCode,
};

use crate::state::{Auth, Changes};

/// What the user sees about the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Connecting,
    Online,
    /// Offline; the next attempt is in this many seconds.
    Retrying(u32),
}

/// A message of mine not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub client_msg_id: String,
    pub content: MessageContent,
    /// The message this one answers.
    pub reply_to: Option<EventId>,
    /// Why the last attempt failed, if it did.
    pub failed: Option<String>,
}

/// One conversation as the open chat pane sees it.
#[derive(Clone, Copy)]
pub struct Timeline {
    /// Known events, ascending by seq, no duplicates.
    pub events: RwSignal<Vec<Event>>,
    pub outgoing: RwSignal<Vec<Outgoing>>,
    /// Whether older history remains on the server.
    pub more_before: RwSignal<bool>,
    /// Who is typing, and until when (ms since epoch).
    pub typing: RwSignal<Vec<(UserId, f64)>>,
    /// How far each other member has read.
    pub receipts: RwSignal<HashMap<UserId, i64>>,
}

impl Timeline {
    fn new() -> Self {
        Self {
            events: RwSignal::new(Vec::new()),
            outgoing: RwSignal::new(Vec::new()),
            more_before: RwSignal::new(false),
            typing: RwSignal::new(Vec::new()),
            receipts: RwSignal::new(HashMap::new()),
        }
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

    /// Inserts events in seq order, ignoring ones already present.
    pub fn merge(&self, incoming: Vec<Event>) {
        if incoming.is_empty() {
            return;
        }
        self.events.update(|events| {
            for event in incoming {
                if let Err(at) = events.binary_search_by_key(&event.seq, |e| e.seq) {
                    events.insert(at, event);
                }
            }
        });
    }

    /// The highest seq up to which nothing is missing, counting from the
    /// oldest loaded event.
    pub fn contiguous_until(&self) -> i64 {
        self.events.with_untracked(|events| {
            let Some(first) = events.first() else { return 0 };
            let mut last = first.seq;
            for event in &events[1..] {
                if event.seq != last + 1 {
                    break;
                }
                last = event.seq;
            }
            last
        })
    }
}

#[derive(Clone, Copy)]
pub struct Chat {
    pub link: RwSignal<Link>,
    pub unread: RwSignal<HashMap<ConversationId, u32>>,
    pub online: RwSignal<Vec<UserId>>,
    timelines: StoredValue<HashMap<ConversationId, Timeline>>,
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
            online: RwSignal::new(Vec::new()),
            timelines: StoredValue::new(HashMap::new()),
            outbox: StoredValue::new(None),
            changes,
            auth,
        }
    }

    pub fn timeline(&self, id: ConversationId) -> Timeline {
        if let Some(t) = self.timelines.with_value(|m| m.get(&id).copied()) {
            return t;
        }
        let timeline = Timeline::new();
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
        self.unread.set(HashMap::new());
        self.online.set(Vec::new());
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
        self.send_frame(frame);
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

    pub fn mark_read(&self, conversation: ConversationId) {
        let Some(timeline) = self.known(conversation) else {
            return;
        };
        let last = timeline.events.with_untracked(|e| e.last().map(|e| e.seq));
        let unread = self
            .unread
            .with_untracked(|u| u.get(&conversation).copied().unwrap_or(0));
        if let (Some(seq), true) = (last, unread > 0) {
            self.send_frame(ClientFrame::Read {
                conversation_id: conversation,
                seq,
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
                let mut unknown = false;
                self.unread
                    .set(conversations.iter().map(|c| (c.conversation_id, c.unread)).collect());
                for state in &conversations {
                    match self.known(state.conversation_id) {
                        // Catch up what happened while we were away.
                        Some(t)
                            if t.contiguous_until() < state.last_seq && t.events.with_untracked(|e| !e.is_empty()) =>
                        {
                            self.send_frame(ClientFrame::Sync {
                                conversation_id: state.conversation_id,
                                after_seq: t.contiguous_until(),
                            });
                        }
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                if unknown {
                    self.changes.bump();
                }
                self.resend_outgoing();
            }
            ServerFrame::Event { event } => self.live_event(event),
            ServerFrame::Events {
                conversation_id,
                events,
                more,
            } => {
                let timeline = self.timeline(conversation_id);
                timeline.merge(events);
                if more {
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
                let mut acked = None;
                timeline.outgoing.update(|o| {
                    if let Some(at) = o.iter().position(|m| m.client_msg_id == client_msg_id) {
                        acked = Some(o.remove(at));
                    }
                });
                if let (Some(message), Some(me)) = (acked, self.me()) {
                    timeline.merge(vec![Event {
                        conversation_id,
                        seq,
                        id,
                        sender: me,
                        client_msg_id: Some(client_msg_id),
                        created_at,
                        body: EventBody::Message {
                            content: message.content,
                            reply_to: message.reply_to,
                        },
                        state: None,
                    }]);
                }
                self.check_gap(conversation_id, seq);
                self.changes.bump();
            }
            ServerFrame::ReadState {
                conversation_id,
                unread,
                ..
            } => {
                self.unread.update(|u| {
                    u.insert(conversation_id, unread);
                });
            }
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
            ServerFrame::ContactsChanged => self.changes.bump(),
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
        let membership = event.body.is_system();
        match self.known(conversation) {
            Some(timeline) => {
                timeline.typing.update(|t| t.retain(|(u, _)| *u != event.sender));
                timeline.merge(vec![event]);
                self.check_gap(conversation, seq);
            }
            // A conversation we have not seen: the sidebar should learn of it.
            None => self.changes.bump(),
        }
        if is_message && !from_me {
            self.unread.update(|u| *u.entry(conversation).or_default() += 1);
        }
        if is_message || membership {
            // Reorders the sidebar by activity, and picks up renames and new groups.
            self.changes.bump();
        }
    }

    /// After an event at `seq`, asks for whatever is missing before it.
    fn check_gap(&self, conversation: ConversationId, seq: i64) {
        let Some(timeline) = self.known(conversation) else {
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

    fn send_failed(&self, client_msg_id: &str, code: ErrorCode, message: String) {
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
        let mut frames = Vec::new();
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
