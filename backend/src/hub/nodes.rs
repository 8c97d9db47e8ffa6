//! What nodes tell each other through the bus ([`crate::bus`]), and what
//! this node does on hearing it: deliver frames to its connections, forget
//! cached members, index changed conversations, close signed-out sockets,
//! keep count of who is online where. Also the rounds that keep this node
//! known to the others and fill in the events whose notes were lost.

use std::time::Duration;

use natter_common::ids::{ConversationId, SessionId, UserId};
use serde::{Deserialize, Serialize};

use super::{Hub, Kind};
use crate::bus::Inbox;

/// How often a node asks its bus whether notes were lost, and looks in the
/// database for events it never heard of if so.
const REFILL_CHECK: Duration = Duration::from_millis(500);
/// How often it looks anyway: events stored with no note at all (an admin
/// command run without the bus) reach people by then.
const REFILL_ANYWAY: Duration = Duration::from_secs(60);
/// How often a node tells the others who is online on it.
const PRESENT_EVERY: Duration = Duration::from_secs(10);
/// Users in one `present` note at most: ~200 KB of JSON, well inside
/// NATS's 1 MiB, however many are online on a node.
pub const PRESENT_PART: usize = 20_000;

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
    /// `node` is stopping: everyone on it is offline, as if it had gone
    /// silent, but at once.
    Leaving { node: u64 },
    /// Everyone online on `node`, in `parts` notes of [`PRESENT_PART`]
    /// users at most, each with the `round`'s number: sent every
    /// [`PRESENT_EVERY`], and at once to a node heard of for the first time.
    Present {
        node: u64,
        round: u64,
        parts: u32,
        users: Vec<UserId>,
    },
}

/// Tells the nodes on the bus at `url` to close `user`'s connections
/// (`session`'s alone, when given), already signed out in the database: for
/// a process that is no node, such as the admin command.
pub async fn end_sessions_on_nodes(url: &str, user: UserId, session: Option<SessionId>) -> anyhow::Result<()> {
    let note = match session {
        Some(session) => Note::EndSession { user, session },
        None => Note::EndUser { user },
    };
    crate::bus::tell_once(url, &note).await
}

/// Acts on other nodes' notes until the connection ends, and keeps this
/// node known to them and its deliveries whole. `touched` hears which
/// conversations' messages changed (for search).
pub fn listen(mut inbox: Inbox, hub: Hub, touched: impl Fn(Vec<ConversationId>) + Send + 'static) {
    let refilling = hub.clone();
    let losses = inbox.losses();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(REFILL_CHECK);
        let (mut last, mut owed) = (std::time::Instant::now(), false);
        loop {
            ticks.tick().await;
            owed |= losses.take();
            if !owed && last.elapsed() < REFILL_ANYWAY {
                continue;
            }
            last = std::time::Instant::now();
            // Owed until a round reads everything missing.
            owed = match refilling.refill().await {
                Ok(whole) => !whole,
                Err(err) => {
                    tracing::warn!(%err, "looking for events the bus lost failed");
                    true
                }
            };
        }
    });
    let filling = hub.clone();
    tokio::spawn(async move {
        // Often enough that an event held for one before it waits about
        // GAP_WAIT, no more.
        let mut ticks = tokio::time::interval(super::GAP_WAIT / 2);
        loop {
            ticks.tick().await;
            if let Err(err) = filling.fill_gaps().await {
                tracing::warn!(%err, "reading events missing before held ones failed");
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
        while let Some((note, frames)) = inbox.next::<Note>().await {
            match note {
                Note::Frames { users, kind, events } => hub.deliver_here(&users, &frames, kind, &events),
                Note::Members { conversations } => {
                    for conversation in conversations {
                        hub.member_index().forget(conversation);
                    }
                }
                Note::Touched { conversations } => touched(conversations),
                Note::EndSession { user, session } => hub.end_session_here(user, session),
                Note::EndUser { user } => hub.end_user_here(user),
                Note::Presence { node, user, online } => hub.presence_elsewhere(node, user, online),
                Note::Leaving { node } => {
                    // Forgotten in note order; the announcements (look-ups
                    // of who is told) not in the way of the notes behind.
                    let gone = hub.node_left(node);
                    let hub = hub.clone();
                    tokio::spawn(async move { hub.gone_elsewhere(gone).await });
                }
                Note::Present {
                    node,
                    round,
                    parts,
                    users,
                } => hub.present_elsewhere(node, round, parts, users),
            }
        }
        tracing::warn!("the other nodes' notes stopped arriving");
    });
}
