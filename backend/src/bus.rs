//! Delivery between nodes (issue #16, docs/storage.md): what one node's hub
//! sends to users, every other node's hub delivers to the connections it
//! holds, through NATS; and what other nodes keep in memory about the log
//! (members, what search must index) is told to forget or catch up. With
//! one node there is no bus.
//!
//! Notes go out in call order from one connection on one subject, so each
//! node hears another's notes in the order they were sent. The connection
//! is `no_echo`: a node never hears its own. A note is one NATS message: a
//! JSON header line, then the frames it carries one per line (a frame is
//! compact JSON, which never holds a raw newline), so frames cross as the
//! bytes every connection gets, without encoding them again.
//!
//! Delivery between nodes is at most once: a note lost while NATS is away
//! is a live event missed, which the client's next sync fetches from the
//! log (the log, not the bus, is what is acknowledged).

use std::sync::Arc;

use anyhow::Context;
use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use natter_common::ids::{ConversationId, SessionId, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::{hub::Kind, search::Feed};

/// Every node publishes to and listens on this subject.
const SUBJECT: &str = "natter.nodes";
/// Notes waiting for the NATS client before new ones are dropped.
const QUEUE_DEPTH: usize = 16_384;
/// How often a node looks in the database for events it never heard of.
const REFILL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How often a node tells the others who is online on it.
const PRESENT_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// A note's frames are split past this many bytes (NATS refuses messages
/// over its `max_payload`, 1 MiB by default).
const NOTE_BYTES: usize = 256 * 1024;

/// What one node tells the others.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// The frames that follow, for every connection of `users`; when
    /// `events` is given, the frames are these events, one each.
    Frames {
        users: Vec<UserId>,
        kind: Kind,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        events: Vec<(ConversationId, i64)>,
    },
    /// These conversations' members changed: forget what is cached.
    Members { conversations: Vec<ConversationId> },
    /// These conversations' messages changed: index them.
    Touched { conversations: Vec<ConversationId> },
    /// Close the connections of a session that was signed out.
    EndSession { user: UserId, session: SessionId },
    /// Close every connection of a user.
    EndUser { user: UserId },
    /// `user` came online (has a first connection) or went offline on `node`.
    Presence { node: u64, user: UserId, online: bool },
    /// Everyone online on `node`: sent every [`PRESENT_EVERY`], and at once
    /// to a node heard of for the first time.
    Present { node: u64, users: Vec<UserId> },
}

/// The sending half: cheap to share.
pub struct Bus {
    queue: mpsc::Sender<Vec<u8>>,
    client: async_nats::Client,
}

/// The receiving half, until [`serve`] takes it.
pub struct Inbox(async_nats::Subscriber);

impl Bus {
    /// Connects to NATS at `url` and starts sending.
    pub async fn connect(url: &str) -> anyhow::Result<(Arc<Self>, Inbox)> {
        let client = async_nats::ConnectOptions::new()
            .name("natter")
            .no_echo()
            // Reconnects for as long as it takes; notes meanwhile are lost
            // (see the module's comment).
            .max_reconnects(None)
            .connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        let inbox = client
            .subscribe(SUBJECT)
            .await
            .context("cannot subscribe to the other nodes' notes")?;
        let (queue, mut notes) = mpsc::channel::<Vec<u8>>(QUEUE_DEPTH);
        let sender = client.clone();
        tokio::spawn(async move {
            let client = sender;
            while let Some(note) = notes.recv().await {
                if let Err(err) = client.publish(SUBJECT, note.into()).await {
                    tracing::warn!(%err, "a note to the other nodes was lost");
                }
            }
        });
        Ok((Arc::new(Self { queue, client }), Inbox(inbox)))
    }

    /// Whether NATS is connected now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Queues `note`, followed by `frames` (split over several notes with
    /// the same header when they are many).
    pub fn tell(&self, note: &Note, frames: &[Utf8Bytes]) {
        let Ok(header) = serde_json::to_vec(note) else {
            return;
        };
        let mut rest = frames;
        loop {
            let mut payload = header.clone();
            let mut taken = 0;
            for frame in rest {
                if taken > 0 && payload.len() + frame.len() + 1 > NOTE_BYTES {
                    break;
                }
                payload.push(b'\n');
                payload.extend_from_slice(frame.as_bytes());
                taken += 1;
            }
            if self.queue.try_send(payload).is_err() {
                crate::metrics::bus_note_dropped();
                tracing::warn!("the other nodes' queue is full; a note was dropped");
            }
            rest = &rest[taken..];
            if rest.is_empty() {
                return;
            }
        }
    }
}

/// Acts on other nodes' notes until the connection ends, and keeps this
/// node's presence known to them.
pub fn serve(inbox: Inbox, hub: crate::hub::Hub, search: Arc<Feed>) {
    let Inbox(mut inbox) = inbox;
    let refilling = hub.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(REFILL_EVERY);
        loop {
            ticks.tick().await;
            if let Err(err) = refilling.refill().await {
                tracing::warn!(%err, "looking for events the bus lost failed");
            }
        }
    });
    let ticking = hub.clone();
    tokio::spawn(async move {
        // The first tick is at once: the others learn of this node, and
        // answer with their lists.
        let mut ticks = tokio::time::interval(PRESENT_EVERY);
        loop {
            ticks.tick().await;
            ticking.tell_present();
            ticking.expire_nodes().await;
        }
    });
    tokio::spawn(async move {
        while let Some(message) = inbox.next().await {
            let mut lines = message.payload.split(|b| *b == b'\n');
            let note = match lines.next().map(serde_json::from_slice::<Note>) {
                Some(Ok(note)) => note,
                _ => {
                    tracing::warn!("an unreadable note from another node was ignored");
                    continue;
                }
            };
            match note {
                Note::Frames { users, kind, events } => {
                    let frames: Vec<Utf8Bytes> = lines
                        .filter_map(|line| std::str::from_utf8(line).ok())
                        .map(Utf8Bytes::from)
                        .collect();
                    hub.deliver_here(&users, &frames, kind, &events);
                }
                Note::Members { conversations } => {
                    for conversation in conversations {
                        hub.member_index().forget(conversation);
                    }
                }
                Note::Touched { conversations } => search.touched(conversations),
                Note::EndSession { user, session } => hub.end_session_here(user, session),
                Note::EndUser { user } => hub.end_user_here(user),
                Note::Presence { node, user, online } => hub.presence_elsewhere(node, user, online),
                Note::Present { node, users } => hub.present_elsewhere(node, users),
            }
        }
        tracing::warn!("the other nodes' notes stopped arriving");
    });
}
