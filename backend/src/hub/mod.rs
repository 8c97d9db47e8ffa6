//! Live routing: which connections each user has open, who is in each
//! conversation, and delivery of encoded frames to them.
//!
//! A frame is serialized once and the same bytes are queued on every
//! recipient connection. Each connection's queue is bounded: a connection
//! that can't keep up is told to close (it resyncs by seq on reconnect)
//! instead of slowing anyone else down. Ephemeral frames (typing,
//! presence) are simply dropped for a connection whose queue is full.

pub mod batch;
mod connections;
mod delivered;
mod elsewhere;
mod members;
pub mod nodes;
mod outbox;

pub use connections::{Conn, ConnId};
pub use members::MemberIndex;
pub use outbox::{Outbox, Taken};

use std::{sync::Arc, time::Instant};

use crate::{bus::Bus, db::Db};
use natter_common::{
    events::{Event, EventBody},
    frames::ServerFrame,
    ids::{ConversationId, UserId},
    limits::RECEIPTS_MAX_MEMBERS,
};
use nodes::Note;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::db;

#[derive(Clone)]
pub struct Hub {
    connections: Arc<connections::Registry>,
    members: Arc<members::MemberIndex>,
    db: Db,
    /// The other nodes, when there are some: what is sent to users here is
    /// sent there too.
    bus: Option<Arc<Bus>>,
    /// This node, to the others.
    node: u64,
    /// Who is online on the other nodes.
    elsewhere: Arc<elsewhere::Elsewhere>,
    /// Numbers this node's whole lists of who is online here.
    present_rounds: Arc<std::sync::atomic::AtomicU64>,
    /// Which events this node has delivered, and those it holds back until
    /// the ones before them come, with other nodes about.
    delivered: Arc<delivered::Delivered<Outgoing>>,
}

/// Events one refill delivers per conversation at most; the next goes on.
const REFILL_MAX: u32 = 500;
/// How long an event waits for those before it to arrive through the bus
/// before they are read from the database.
pub const GAP_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// An event on its way to this node's connections: to every connection of
/// `users` but `skip`, and of `also`.
struct Outgoing {
    frame: Utf8Bytes,
    users: Arc<[UserId]>,
    skip: Option<ConnId>,
    also: Option<UserId>,
    /// When this node committed it, if it did.
    committed: Option<Instant>,
    /// The sender's `sent` for it, which goes out in its place.
    ack: Option<(Conn, Utf8Bytes)>,
}

/// A command's new events (`seqs`, encoded as `frames`), for every
/// connection of `to` but `skip` and of `also`; `committed`: when this node
/// committed them; `ack`: the asker's answer.
pub struct NewEvents {
    pub to: Arc<[UserId]>,
    pub also: Option<UserId>,
    pub seqs: Vec<(ConversationId, i64)>,
    pub frames: Vec<Utf8Bytes>,
    pub skip: Option<ConnId>,
    pub committed: Instant,
    pub ack: Option<Ack>,
}

impl NewEvents {
    /// Its events as this node delivers them, the ack riding on the last
    /// (the publisher answers a command without events itself).
    fn outgoing(self, into: &mut Vec<Outgoing>) {
        debug_assert!(!self.frames.is_empty(), "events to deliver");
        let also = self.also.filter(|user| !self.to.contains(user));
        let last = self.frames.len().saturating_sub(1);
        let mut ack = self.ack.map(|ack| (ack.conn, ack.frame));
        for (i, frame) in self.frames.into_iter().enumerate() {
            into.push(Outgoing {
                frame,
                users: self.to.clone(),
                skip: self.skip,
                also,
                committed: Some(self.committed),
                ack: if i == last { ack.take() } else { None },
            });
        }
    }
}

/// A `sent` for the connection that asked, for the event at `seq`.
pub struct Ack {
    pub conn: Conn,
    pub frame: Utf8Bytes,
    pub seq: i64,
}

impl Outgoing {
    fn to(users: &Arc<[UserId]>, frame: &Utf8Bytes) -> Self {
        Self {
            frame: frame.clone(),
            users: users.clone(),
            skip: None,
            also: None,
            committed: None,
            ack: None,
        }
    }

    /// Whether `other` goes to the same people (whoever sent it).
    fn same_audience(&self, other: &Self) -> bool {
        // Equal when they are one list, without comparing them.
        self.users == other.users && self.also == other.also
    }
}

/// Whether a frame may be dropped under pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Part of a conversation log or an answer: never dropped; a full queue
    /// closes the connection instead.
    Reliable,
    /// Typing and presence: dropped first.
    Ephemeral,
}

/// Serializes a frame once for sharing across recipients.
pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
    // Serializing our own enum of plain data cannot fail.
    Utf8Bytes::from(serde_json::to_string(frame).unwrap_or_default())
}

/// An event as it goes out live, to everyone it concerns: without the
/// sender's `client_msg_id`, which only the asking connection uses and
/// which it has in its `sent`; every member would otherwise receive tens
/// of bytes per message that none of them reads.
pub fn encode_live(mut event: Event) -> Utf8Bytes {
    event.client_msg_id = None;
    encode(&ServerFrame::Event { event })
}

impl Hub {
    pub fn new(db: Db, bus: Option<Arc<Bus>>) -> Self {
        Self {
            connections: Arc::new(connections::Registry::default()),
            members: Arc::new(members::MemberIndex::default()),
            db,
            bus,
            node: rand::random(),
            elsewhere: Arc::default(),
            present_rounds: Arc::default(),
            delivered: Arc::default(),
        }
    }

    /// False while there are other nodes and no way to reach them: this
    /// node takes no new connections then (their people would miss what
    /// happens elsewhere) and is not ready.
    pub fn reaches_others(&self) -> bool {
        self.bus.as_ref().is_none_or(|bus| bus.is_connected())
    }

    /// True when a bus tells this node where everyone is online and `user`
    /// (connected here) is online on no other node.
    pub fn alone_here(&self, user: UserId) -> bool {
        self.bus.is_some() && !self.elsewhere.has(user)
    }

    /// Tells the other nodes, if any.
    pub fn tell_others(&self, note: &Note, frames: &[Utf8Bytes]) {
        if let Some(bus) = &self.bus {
            bus.tell(note, frames);
        }
    }

    /// Adds a connection; true when it is the user's first on any node
    /// (they came online).
    pub fn connect(&self, user: UserId, conn: Conn) -> bool {
        let first_here = self.connections.add(user, conn);
        if first_here {
            self.tell_presence(user, true);
        }
        first_here && !self.elsewhere.has(user)
    }

    /// Removes a connection; true when it was the user's last on any node
    /// (they went offline).
    pub fn disconnect(&self, user: UserId, id: ConnId) -> bool {
        let last_here = self.connections.remove(user, id);
        if last_here {
            self.tell_presence(user, false);
        }
        last_here && !self.elsewhere.has(user)
    }

    fn tell_presence(&self, user: UserId, online: bool) {
        // A stopping node said once that its people left (`close_all`).
        if self.closing() {
            return;
        }
        let note = Note::Presence {
            node: self.node,
            user,
            online,
        };
        self.tell_others(&note, &[]);
    }

    /// Tells the other nodes everyone online here (which also says this
    /// node is alive).
    pub fn tell_present(&self) {
        if self.bus.is_some() && !self.closing() {
            let users = self.connections.users();
            let round = self.present_rounds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A whole list can be too big for one NATS message.
            let parts: Vec<&[UserId]> = match users.len() {
                0 => vec![&[]],
                _ => users.chunks(nodes::PRESENT_PART).collect(),
            };
            for part in &parts {
                let note = Note::Present {
                    node: self.node,
                    round,
                    parts: parts.len() as u32,
                    users: part.to_vec(),
                };
                self.tell_others(&note, &[]);
            }
        }
    }

    /// Another node's word that `user` came online or went offline there.
    pub fn presence_elsewhere(&self, node: u64, user: UserId, online: bool) {
        self.elsewhere.set(node, user, online);
    }

    /// A part of another node's whole list (`parts` of them in `round`). A
    /// node heard of for the first time (it just started) is told this
    /// one's at once.
    pub fn present_elsewhere(&self, node: u64, round: u64, parts: u32, users: Vec<UserId>) {
        if self.elsewhere.replace(node, round, parts, users) {
            self.tell_present();
        }
    }

    /// Forgets nodes gone silent, and tells this node's connections that
    /// their users, online nowhere else, went offline (every node does the
    /// same for its own).
    pub async fn expire_nodes(&self) {
        self.gone_elsewhere(self.elsewhere.expire(elsewhere::NODE_SILENCE))
            .await;
    }

    /// Forgets a node that said it is stopping (and anything it says
    /// after); what is left to do, as [`Self::expire_nodes`] does, is
    /// [`Self::gone_elsewhere`] for the users returned.
    pub fn node_left(&self, node: u64) -> Vec<UserId> {
        self.elsewhere.forget(node)
    }

    /// Tells this node's connections that `users`, who were on other nodes,
    /// went offline, unless they are online (here, or back elsewhere).
    pub async fn gone_elsewhere(&self, users: Vec<UserId>) {
        let gone: Vec<UserId> = users.into_iter().filter(|&user| !self.connections.has(user)).collect();
        // A failed look-up costs its own chunk's announcements only.
        for chunk in gone.chunks(db::members::AUDIENCES_AT_ONCE) {
            let audiences = match db::members::presence_audiences(&self.db, chunk).await {
                Ok(audiences) => audiences,
                Err(err) => {
                    tracing::warn!(%err, "presence audience lookup failed");
                    continue;
                }
            };
            for (user, audience) in audiences {
                // Again after the look-up: one back meanwhile stays online.
                if !self.is_online(user) {
                    let frame = encode(&ServerFrame::Presence {
                        user_id: user,
                        online: false,
                    });
                    self.deliver_local(&audience, std::slice::from_ref(&frame), Kind::Ephemeral, None, None);
                }
            }
        }
    }

    /// Closes every connection opened with `session` (it was signed out),
    /// on every node.
    pub fn end_session(&self, user: UserId, session: natter_common::ids::SessionId) {
        self.end_session_here(user, session);
        self.tell_others(&Note::EndSession { user, session }, &[]);
    }

    /// [`Self::end_session`] on this node's connections.
    pub fn end_session_here(&self, user: UserId, session: natter_common::ids::SessionId) {
        self.connections.each(user, |conn| {
            if conn.session == session {
                conn.close(natter_common::frames::close::SESSION_ENDED, "signed out");
            }
        });
    }

    /// Closes every connection of `user` as signed out, on every node.
    pub fn end_user(&self, user: UserId) {
        self.end_user_here(user);
        self.tell_others(&Note::EndUser { user }, &[]);
    }

    /// [`Self::end_user`] on this node's connections.
    pub fn end_user_here(&self, user: UserId) {
        self.connections.each(user, |conn| {
            conn.close(natter_common::frames::close::SESSION_ENDED, "signed out")
        });
    }

    /// Closes every connection on this node with `code`, each after what is
    /// queued for it, and any opened from now on (the server is stopping).
    /// The other nodes are told once that everyone here is offline, rather
    /// than once per connection as each closes.
    pub fn close_all(&self, code: u16, reason: &'static str) {
        if let Some(bus) = &self.bus {
            // What `settle_bus` waits for: the notes from here on.
            bus.settle_from_now();
        }
        self.connections.close_all(code, reason);
        self.tell_others(&Note::Leaving { node: self.node }, &[]);
    }

    /// Whether this node is closing every connection (it is stopping).
    pub fn closing(&self) -> bool {
        self.connections.closing()
    }

    /// Returns once what was handed to the bus is with NATS (at shutdown:
    /// the last notes would go with the process otherwise).
    pub async fn settle_bus(&self) {
        if let Some(bus) = &self.bus {
            if let Err(err) = bus.settle().await {
                tracing::warn!(%err, "the last notes may not have reached the other nodes");
            }
        }
    }

    /// Returns once this node has no connection left.
    pub async fn all_gone(&self) {
        self.connections.emptied().await;
    }

    /// Whether `user` has a connection on any node.
    pub fn is_online(&self, user: UserId) -> bool {
        self.connections.has(user) || self.elsewhere.has(user)
    }

    /// Queues `frame` on every connection of `user`.
    pub fn send_to_user(&self, user: UserId, frame: &Utf8Bytes, kind: Kind) {
        self.send_all_to_users(&[user], std::slice::from_ref(frame), kind, None);
    }

    /// Queues `frame` on every connection of each user, except `skip`.
    pub fn send_to_users(&self, users: &[UserId], frame: &Utf8Bytes, kind: Kind, skip: Option<ConnId>) {
        self.send_all_to_users(users, std::slice::from_ref(frame), kind, skip);
    }

    /// Queues `frames`, in order, on every connection of each user, except
    /// `skip`: each user's connections are looked up once, however many
    /// frames there are (a group created with thousands of members is
    /// thousands of events for each of them).
    pub fn send_all_to_users(&self, users: &[UserId], frames: &[Utf8Bytes], kind: Kind, skip: Option<ConnId>) {
        self.deliver_local(users, frames, kind, skip, None);
        if self.bus.is_some() {
            let note = Note::Frames {
                users: users.to_vec(),
                kind,
                events: Vec::new(),
            };
            self.tell_others(&note, frames);
        }
    }

    /// Queues a committed batch's new events on every connection of their
    /// people, on every node, and each asker's answer on theirs. With other
    /// nodes about, each event is let through here once and in seq order,
    /// however it arrives ([`delivered`]).
    pub fn send_events(&self, batch: Vec<NewEvents>) {
        let Some(bus) = &self.bus else {
            // One node: its writer's order is the log's.
            let mut ready = Vec::new();
            for events in batch {
                events.outgoing(&mut ready);
            }
            return self.deliver_ready(ready);
        };
        for events in batch {
            self.send_everywhere(bus, events);
        }
    }

    fn send_everywhere(&self, bus: &Bus, events: NewEvents) {
        let NewEvents {
            to: users,
            also,
            seqs,
            frames,
            skip,
            committed,
            mut ack,
        } = events;
        let also = also.filter(|user| !users.contains(user));
        // The sender's ack takes its event's place in the order, so it
        // never comes before the events of other nodes just below it.
        let placed = seqs.len() == frames.len();
        if let Some(unplaced) = ack.take_if(|ack| !placed || !seqs.iter().any(|(_, seq)| *seq == ack.seq)) {
            unplaced.conn.deliver(&[unplaced.frame], Kind::Reliable, None);
        }
        let ack = std::cell::RefCell::new(ack);
        self.sequence(
            &seqs,
            &frames,
            || true,
            |seq, frame| Outgoing {
                skip,
                also,
                committed: Some(committed),
                ack: ack
                    .borrow_mut()
                    .take_if(|ack| ack.seq == seq)
                    .map(|ack| (ack.conn, ack.frame)),
                ..Outgoing::to(&users, frame)
            },
        );
        let mut users = users.to_vec();
        users.extend(also);
        let note = Note::Frames {
            users,
            kind: Kind::Reliable,
            events: seqs,
        };
        bus.tell(&note, &frames);
    }

    /// Lets events through in seq order ([`delivered::Delivered::admit`])
    /// and delivers what is ready; all of them at once when `seqs` does not
    /// describe them. `anyone_here`: whether any of their people is here;
    /// `outgoing` makes each event's delivery from its seq and frame.
    fn sequence(
        &self,
        seqs: &[(ConversationId, i64)],
        frames: &[Utf8Bytes],
        anyone_here: impl FnOnce() -> bool,
        outgoing: impl Fn(i64, &Utf8Bytes) -> Outgoing,
    ) {
        if seqs.len() != frames.len() {
            return self.deliver_ready(frames.iter().map(|frame| outgoing(0, frame)).collect());
        }
        let events = seqs
            .iter()
            .zip(frames)
            .map(|(&(conversation, seq), frame)| (conversation, seq, outgoing(seq, frame)));
        self.delivered.admit(events, anyone_here, |ready, stale| {
            self.deliver_ready(ready);
            // Delivered already (read from the database first): only the
            // ack riding along is new.
            for (conn, frame) in stale.into_iter().filter_map(|event| event.ack) {
                conn.deliver(&[frame], Kind::Reliable, None);
            }
        });
    }

    /// Delivers events in order, each run to one audience in one pass.
    fn deliver_ready(&self, ready: Vec<Outgoing>) {
        let mut ready = ready.into_iter().peekable();
        let mut run = Vec::new();
        while let Some(first) = ready.next() {
            run.push(first);
            while let Some(next) = ready.next_if(|next| run[0].same_audience(next)) {
                run.push(next);
            }
            self.deliver_run(&run);
            run.clear();
        }
    }

    /// One run of events to one audience: merged into batches once, for
    /// everyone but the senders' own connections, which get their `sent`
    /// in place of each of their events.
    fn deliver_run(&self, run: &[Outgoing]) {
        if let [event] = run {
            // A lone event (a DM, most often): nothing to merge.
            let frame = std::slice::from_ref(&event.frame);
            self.deliver_local(&event.users, frame, Kind::Reliable, event.skip, event.committed);
            if let Some(user) = event.also {
                self.deliver_local(&[user], frame, Kind::Reliable, None, event.committed);
            }
            if let Some((conn, ack)) = &event.ack {
                conn.deliver(std::slice::from_ref(ack), Kind::Reliable, None);
            }
            return;
        }
        let frames: Vec<Utf8Bytes> = run.iter().map(|event| event.frame.clone()).collect();
        let merged = batch::merged(&frames);
        let committed = run.iter().filter_map(|event| event.committed).min();
        let mut skips: Vec<ConnId> = run.iter().filter_map(|event| event.skip).collect();
        skips.sort_unstable();
        skips.dedup();
        let mut senders = Vec::new();
        self.connections.each_of(&run[0].users, |conn| {
            if skips.binary_search(&conn.id).is_ok() {
                senders.push(conn.clone());
            } else {
                conn.deliver(&merged, Kind::Reliable, committed);
            }
        });
        for conn in &senders {
            let theirs: Vec<Utf8Bytes> = run
                .iter()
                .filter_map(|event| match (&event.ack, event.skip == Some(conn.id)) {
                    (_, false) => Some(event.frame.clone()),
                    (Some((to, ack)), true) if to.id == conn.id => Some(ack.clone()),
                    (_, true) => None,
                })
                .collect();
            conn.deliver(&batch::merged(&theirs), Kind::Reliable, committed);
        }
        if let Some(user) = run[0].also {
            self.deliver_each(&[user], &merged, Kind::Reliable, None, committed);
        }
        // An asker who is not among the people (who just left) still gets their answer.
        for (conn, ack) in run.iter().filter_map(|event| event.ack.as_ref()) {
            if !senders.iter().any(|sender| sender.id == conn.id) {
                conn.deliver(std::slice::from_ref(ack), Kind::Reliable, None);
            }
        }
    }

    /// Queues `frames` on this node's connections of `users` but `skip`;
    /// `committed`: when, if they are events this node committed.
    fn deliver_local(
        &self,
        users: &[UserId],
        frames: &[Utf8Bytes],
        kind: Kind,
        skip: Option<ConnId>,
        committed: Option<Instant>,
    ) {
        match frames {
            [] => {}
            [_] => self.deliver_each(users, frames, kind, skip, committed),
            _ => self.deliver_each(users, &batch::merged(frames), kind, skip, committed),
        }
    }

    /// Queues `frames`, as they are, on this node's connections of `users`
    /// but `skip`.
    fn deliver_each(
        &self,
        users: &[UserId],
        frames: &[Utf8Bytes],
        kind: Kind,
        skip: Option<ConnId>,
        committed: Option<Instant>,
    ) {
        self.connections.each_of(users, |conn| {
            if Some(conn.id) != skip {
                conn.deliver(frames, kind, committed);
            }
        });
    }

    /// Starts following these conversations, whose events up to the given
    /// seqs a client has just been told of (its `hello`), for
    /// [`Self::refill`].
    pub fn follow(&self, conversations: impl IntoIterator<Item = (ConversationId, i64)>) {
        if self.bus.is_some() {
            for (conversation, seq) in conversations {
                self.delivered.follow(conversation, seq);
            }
        }
    }

    /// Delivers, from the database, the events of followed conversations
    /// that never arrived here: notes the bus lost, or events of a node
    /// that died between its commit and its note. False when some
    /// conversation had more than one round delivers ([`REFILL_MAX`]).
    pub async fn refill(&self) -> sqlx::Result<bool> {
        // Not those whose people all left this node (as far as the cached
        // member lists tell: an uncached one stays until its next event).
        self.delivered.prune(|conversation| {
            self.members
                .get(conversation)
                .is_some_and(|members| !self.connections.any_of(&members))
        });
        let followed = self.delivered.followed();
        let ids: Vec<ConversationId> = followed.iter().map(|(id, _)| *id).collect();
        let through: std::collections::HashMap<ConversationId, i64> = followed.into_iter().collect();
        let mut whole = true;
        for (conversation, newest) in db::events::newest(&self.db, &ids).await? {
            let Some(&from) = through.get(&conversation).filter(|from| **from < newest) else {
                continue;
            };
            whole &= self.read_missing(conversation, from, newest).await?;
        }
        Ok(whole)
    }

    /// Delivers the events held longest for want of those before them,
    /// with those read from the database.
    pub async fn fill_gaps(&self) -> sqlx::Result<()> {
        for (conversation, through, first_held) in self.delivered.gaps(GAP_WAIT) {
            self.read_missing(conversation, through, first_held - 1).await?;
        }
        Ok(())
    }

    /// Delivers `conversation`'s events after `from` up to `until` from the
    /// database (at most [`REFILL_MAX`]; the next round goes on), to its
    /// members of now; passes over any seq that is not there. False when
    /// there were more than that.
    async fn read_missing(&self, conversation: ConversationId, from: i64, until: i64) -> sqlx::Result<bool> {
        let events = db::events::between(&self.db, conversation, from, until, REFILL_MAX).await?;
        let whole = events.len() < REFILL_MAX as usize;
        let members: Arc<[UserId]> = db::members::user_ids(&self.db, conversation).await?.into();
        crate::metrics::bus_refilled(events.len());
        let events = events.into_iter().map(|event| {
            // Whoever left or was removed still gets that event.
            let also = match &event.body {
                EventBody::MemberLeft { user } | EventBody::MemberRemoved { user } => Some(*user),
                _ => None,
            };
            let seq = event.seq;
            let frame = encode_live(event);
            (
                conversation,
                seq,
                Outgoing {
                    also,
                    ..Outgoing::to(&members, &frame)
                },
            )
        });
        self.delivered
            .admit(events, || true, |ready, _| self.deliver_ready(ready));
        if whole {
            self.delivered
                .skip_to(conversation, until, |ready| self.deliver_ready(ready));
        }
        Ok(whole)
    }

    /// Queues frames another node sent on this node's connections of
    /// `users`; `seqs`, when given, says which events they are.
    pub fn deliver_here(&self, users: &[UserId], frames: &[Utf8Bytes], kind: Kind, seqs: &[(ConversationId, i64)]) {
        if seqs.is_empty() {
            self.deliver_local(users, frames, kind, None, None);
            return;
        }
        let anyone_here = || self.connections.any_of(users);
        let users: Arc<[UserId]> = users.into();
        self.sequence(seqs, frames, anyone_here, |_, frame| Outgoing::to(&users, frame));
    }

    /// Queues `frame` on the connections of every one of `members` but `except`.
    pub fn send_to_others(&self, members: &[UserId], except: UserId, frame: &Utf8Bytes, kind: Kind) {
        let others: Vec<UserId> = members.iter().copied().filter(|m| *m != except).collect();
        self.send_to_users(&others, frame, kind, None);
    }

    /// The index the log's writer keeps current.
    pub fn member_index(&self) -> Arc<members::MemberIndex> {
        self.members.clone()
    }

    /// The members of a conversation that `user` belongs to, from memory
    /// (loaded on first use); `None` when `user` is not one of them, and
    /// then nothing is cached.
    pub async fn members_for(&self, conversation: ConversationId, user: UserId) -> sqlx::Result<Option<Arc<[UserId]>>> {
        if let Some(members) = self.members.get(conversation) {
            return Ok(members.contains(&user).then_some(members));
        }
        let epoch = self.members.epoch();
        let loaded: Arc<[UserId]> = db::members::user_ids(&self.db, conversation).await?.into();
        if !loaded.contains(&user) {
            return Ok(None);
        }
        self.members.offer(conversation, loaded.clone(), epoch);
        Ok(Some(loaded))
    }

    /// Tells the other members of a small enough conversation how far `user`
    /// has read. Ephemeral: a receipt lost to a full queue is refreshed by
    /// the next, and clients fetch the current ones when they open a chat.
    pub fn share_receipt(&self, members: &[UserId], conversation: ConversationId, user: UserId, read_seq: i64) {
        if members.len() > RECEIPTS_MAX_MEMBERS {
            return;
        }
        let frame = encode(&ServerFrame::Receipt {
            conversation_id: conversation,
            user_id: user,
            read_seq,
        });
        self.send_to_others(members, user, &frame, Kind::Ephemeral);
    }

    /// Forgets a conversation's cached members (after contacts open a DM),
    /// on every node.
    pub fn forget_members(&self, conversation: ConversationId) {
        self.members.forget(conversation);
        self.members_changed(vec![conversation]);
    }

    /// Tells the other nodes to forget these conversations' cached members
    /// (this node's writer has put the new lists in its index already).
    pub fn members_changed(&self, conversations: Vec<ConversationId>) {
        if !conversations.is_empty() {
            self.tell_others(&Note::Members { conversations }, &[]);
        }
    }

    /// Tells each user's devices to refetch contacts and requests.
    pub fn contacts_changed(&self, users: &[UserId]) {
        let frame = encode(&ServerFrame::ContactsChanged);
        self.send_to_users(users, &frame, Kind::Reliable, None);
    }

    /// Announces `user` coming online or going offline to everyone who
    /// shares a conversation with them and whom they have not blocked.
    pub async fn announce_presence(&self, user: UserId, online: bool) {
        if let Some(audience) = self.presence_audience(user).await {
            self.announce_presence_to(user, online, &audience);
        }
    }

    /// Announces `user`'s presence to `audience`, looked up already.
    pub fn announce_presence_to(&self, user: UserId, online: bool, audience: &[UserId]) {
        let frame = encode(&ServerFrame::Presence { user_id: user, online });
        self.send_to_users(audience, &frame, Kind::Ephemeral, None);
    }

    /// Who sees `user`'s presence.
    async fn presence_audience(&self, user: UserId) -> Option<Vec<UserId>> {
        match db::members::co_members(&self.db, user, true).await {
            Ok(audience) => Some(audience),
            Err(err) => {
                tracing::warn!(%err, "presence audience lookup failed");
                None
            }
        }
    }

    /// Tells each of two users who just became contacts, if online, that the
    /// other is online: presence is otherwise announced only on connecting.
    /// As there, a user's presence is not shown to someone they blocked.
    pub async fn introduce(&self, a: UserId, b: UserId) {
        for (viewer, seen) in [(a, b), (b, a)] {
            if !(self.is_online(viewer) && self.is_online(seen)) {
                continue;
            }
            match db::contacts::has_blocked(&self.db, seen, viewer).await {
                Ok(false) => {}
                Ok(true) => continue,
                Err(err) => {
                    tracing::warn!(%err, "presence block lookup failed");
                    continue;
                }
            }
            // Again after the look-up: if they left meanwhile, their
            // "offline" may be out already and must not be contradicted.
            if self.is_online(seen) {
                let frame = encode(&ServerFrame::Presence {
                    user_id: seen,
                    online: true,
                });
                self.send_to_user(viewer, &frame, Kind::Ephemeral);
            }
        }
    }

    /// Of these users, those online now (on any node).
    pub fn online_among(&self, users: impl IntoIterator<Item = UserId>) -> Vec<UserId> {
        users.into_iter().filter(|u| self.is_online(*u)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing;

    /// Typing notices and receipt requests name conversations; only a
    /// member's look-up of a real one may stay in memory.
    #[tokio::test]
    async fn only_members_lookups_are_kept() {
        let (pool, _dir) = testing::temp_db().await;
        let (alice, eve) = (testing::user(&pool, "alice").await, testing::user(&pool, "eve").await);
        let group = testing::group(&pool, &[alice]).await;
        let hub = Hub::new(pool, None);
        for made_up in 1_000..11_000 {
            assert!(hub.members_for(ConversationId(made_up), alice).await.unwrap().is_none());
        }
        assert!(hub.members_for(group, eve).await.unwrap().is_none(), "not a member");
        assert_eq!(hub.members.len(), 0, "nothing kept for strangers");
        let members = hub.members_for(group, alice).await.unwrap().expect("a member");
        assert_eq!(&*members, &[alice]);
        assert_eq!(hub.members.len(), 1);
        assert!(
            hub.members_for(group, eve).await.unwrap().is_none(),
            "cached, still refused"
        );
    }
}
