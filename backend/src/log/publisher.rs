//! The publisher: delivers committed batches in commit order. A run of
//! commands' new events goes to every recipient's connections in order,
//! each requester's `sent` in place of its own event on the connection it
//! came from; anything else a command answers or changes goes out after
//! the events before it. So no connection ever sees a seq before the ones
//! below it.

use std::{sync::Arc, time::Instant};

use natter_common::{
    events::Event,
    frames::ServerFrame,
    ids::{ConversationId, UserId},
};
use tokio::sync::{mpsc, oneshot};

use super::{writer::Entry, Done, Outcome, Refusal};
use crate::{
    db::{log_tx, read_markers::ReadPosition},
    hub::{encode, encode_live, nodes::Note, Ack, Hub, Kind, NewEvents},
    media::MediaStore,
    metrics,
    push::Push,
};

/// A batch as the writer left it: what each command came to, or why none
/// of them was stored.
pub(super) struct Committed {
    pub entries: Vec<Entry>,
    pub stored: log_tx::Result<Stored>,
    /// When the transaction committed.
    pub at: Instant,
}

/// What a committed batch came to.
pub(super) struct Stored {
    /// One per entry.
    pub steps: Vec<Step>,
    /// Images no message shows any more, to remove from disk.
    pub dropped_media: Vec<String>,
    /// Conversations whose members changed.
    pub members_changed: Vec<ConversationId>,
}

/// One command's result: the answer for its requester and what to deliver.
pub(super) struct Step {
    pub answer: Outcome,
    pub publish: Publish,
}

impl Step {
    pub fn answer(answer: Outcome) -> Self {
        Self {
            answer,
            publish: Publish::Nothing,
        }
    }
}

pub(super) enum Publish {
    Nothing,
    /// New events, to every connection of `to` and of `also` (a member who
    /// just left or was removed still receives that event).
    Events {
        events: Vec<Event>,
        to: Arc<[UserId]>,
        also: Option<UserId>,
    },
    /// The requester's new read position, to all their devices, and as a
    /// receipt to the other members.
    Read {
        conversation: ConversationId,
        position: ReadPosition,
        to: Arc<[UserId]>,
    },
}

pub(super) async fn run(hub: Hub, media: MediaStore, push: Option<Push>, mut batches: mpsc::Receiver<Committed>) {
    while let Some(Committed { entries, stored, at }) = batches.recv().await {
        let Stored {
            steps,
            dropped_media,
            members_changed,
        } = match stored {
            Ok(stored) => stored,
            Err(err) => {
                // Nothing was committed, so nothing is acknowledged; clients
                // retry with the same client_msg_id.
                tracing::error!(%err, commands = entries.len(), "log batch failed");
                for entry in entries {
                    metrics::command(entry.submission.command.name(), "failed", None);
                    refuse(entry, Refusal::failed());
                }
                continue;
            }
        };
        // Before the events: a node that delivers them may be asked about
        // the members next.
        hub.members_changed(members_changed);
        let touched: Vec<ConversationId> = entries
            .iter()
            .filter_map(|e| e.submission.command.changes_text())
            .collect();
        if !touched.is_empty() {
            hub.tell_others(&Note::Touched { conversations: touched }, &[]);
        }
        // A run of commands' events goes out together, so that the
        // events of a run to the same people are merged once for all of
        // them; whatever else goes to a connection first sends the run
        // before it. Answers wait for their events.
        let mut events = Vec::new();
        let mut replies = Vec::new();
        for (entry, step) in entries.into_iter().zip(steps) {
            count(&entry, &step);
            let ack = ack(&entry, &step.answer);
            match step.publish {
                Publish::Events { events: new, to, also } if !new.is_empty() => {
                    events.push(new_events(push.as_ref(), &entry, new, to, also, at, ack));
                    if let Some(reply) = entry.reply {
                        replies.push((reply, step.answer));
                    }
                    continue;
                }
                Publish::Read {
                    conversation,
                    position,
                    to,
                } => {
                    flush(&hub, &mut events, &mut replies);
                    share_read(&hub, entry.submission.by, conversation, position, &to);
                }
                Publish::Events { .. } | Publish::Nothing => {
                    if ack.is_some() {
                        flush(&hub, &mut events, &mut replies);
                    }
                }
            }
            if let Some(ack) = ack {
                ack.conn.deliver(&[ack.frame], Kind::Reliable, None);
            }
            if let Some(reply) = entry.reply {
                let _ = reply.send(step.answer);
            }
        }
        flush(&hub, &mut events, &mut replies);
        metrics::publish_lag(at.elapsed());
        for id in dropped_media {
            media.remove(&id).await;
        }
    }
}

/// A command's outcome in the metrics: new events are `committed`, an
/// answer without them (a retried `client_msg_id`, a state already there)
/// is a `duplicate`.
fn count(entry: &Entry, step: &Step) {
    let command = entry.submission.command.name();
    match (&step.answer, &step.publish) {
        (Err(refusal), _) => metrics::command(command, "refused", Some(&refusal.code)),
        (Ok(Done::Logged(_)), Publish::Nothing) => metrics::command(command, "duplicate", None),
        (Ok(_), _) => metrics::command(command, "committed", None),
    }
}

/// Sends the events gathered so far, then the answers waiting for them.
fn flush(hub: &Hub, events: &mut Vec<NewEvents>, replies: &mut Vec<(oneshot::Sender<Outcome>, Outcome)>) {
    if !events.is_empty() {
        hub.send_events(std::mem::take(events));
    }
    for (reply, answer) in replies.drain(..) {
        let _ = reply.send(answer);
    }
}

/// A command's new events, for everyone they concern and, in their place,
/// the asker's answer; and their push notifications.
fn new_events(
    push: Option<&Push>,
    entry: &Entry,
    events: Vec<Event>,
    to: Arc<[UserId]>,
    also: Option<UserId>,
    committed: Instant,
    ack: Option<Ack>,
) -> NewEvents {
    if let Some(push) = push {
        for event in &events {
            push.message(event, &to);
        }
    }
    NewEvents {
        seqs: events.iter().map(|e| (e.conversation_id, e.seq)).collect(),
        frames: events.into_iter().map(encode_live).collect(),
        to,
        also,
        skip: entry.submission.conn.as_ref().map(|conn| conn.id),
        committed,
        ack,
    }
}

/// A reader's new read position, to all their devices, and as a receipt
/// to the other members.
fn share_read(hub: &Hub, user: UserId, conversation: ConversationId, position: ReadPosition, to: &[UserId]) {
    let frame = encode(&ServerFrame::ReadState {
        conversation_id: conversation,
        read_seq: position.read_seq,
        unread: position.unread,
        mentions: position.mentions,
    });
    hub.send_to_user(user, &frame, Kind::Reliable);
    hub.share_receipt(to, conversation, user, position.read_seq);
}

/// The asker's ack or error, for its connection.
fn ack(entry: &Entry, outcome: &Outcome) -> Option<Ack> {
    let conn = entry.submission.conn.as_ref()?;
    let client_msg_id = entry.submission.command.client_msg_id().map(str::to_owned);
    let (frame, seq) = match (outcome, client_msg_id) {
        (Ok(Done::Logged(logged)), Some(client_msg_id)) => (
            ServerFrame::Sent {
                client_msg_id,
                conversation_id: logged.conversation_id,
                seq: logged.seq,
                id: logged.id.clone(),
                created_at: logged.created_at,
            },
            logged.seq,
        ),
        (Ok(_), _) => return None,
        (Err(refusal), client_msg_id) => (
            ServerFrame::Error {
                code: refusal.code.clone(),
                message: refusal.message.clone(),
                client_msg_id,
            },
            0,
        ),
    };
    Some(Ack {
        conn: conn.clone(),
        frame: encode(&frame),
        seq,
    })
}

/// Answers a command that stored nothing.
fn refuse(entry: Entry, refusal: Refusal) {
    let outcome = Err(refusal);
    if let Some(ack) = ack(&entry, &outcome) {
        ack.conn.deliver(&[ack.frame], Kind::Reliable, None);
    }
    if let Some(reply) = entry.reply {
        let _ = reply.send(outcome);
    }
}
