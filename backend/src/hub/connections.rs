//! The registry of open connections per user.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
    time::Instant,
};

use natter_common::ids::{SessionId, UserId};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::{
    outbox::{Outbox, Refused},
    Kind,
};

pub type ConnId = u64;

/// One open connection, as the hub sees it.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    /// The sign-in session it was opened with; revoking it closes the connection.
    pub session: SessionId,
    outbox: Arc<Outbox>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Conn {
    pub fn new(session: SessionId, outbox: Arc<Outbox>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            session,
            outbox,
        }
    }

    /// The queue its writer drains.
    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// Asks the writer to close with this code once what is queued is sent.
    pub fn close(&self, code: u16, reason: &'static str) {
        self.outbox.close_after(code, reason);
    }

    /// Queues frames without waiting (events committed at `committed`, if
    /// on this node). A full queue drops ephemeral frames, and for reliable
    /// ones cuts the connection loose.
    pub fn deliver(&self, frames: &[Utf8Bytes], kind: Kind, committed: Option<Instant>) {
        if self.outbox.push_frames(frames, committed) == Err(Refused::Full) && kind == Kind::Reliable {
            self.outbox.overflow();
        }
    }
}

#[derive(Default)]
pub struct Registry {
    // A std lock: held only for map updates and try_send loops, never across an await.
    by_user: RwLock<HashMap<UserId, Vec<Conn>>>,
}

impl Registry {
    pub fn add(&self, user: UserId, conn: Conn) -> bool {
        let mut map = self.by_user.write().unwrap_or_else(|e| e.into_inner());
        // Most people have one connection: room for exactly that, not the
        // four a first push reserves.
        let conns = map.entry(user).or_insert_with(|| Vec::with_capacity(1));
        conns.push(conn);
        conns.len() == 1
    }

    pub fn remove(&self, user: UserId, id: ConnId) -> bool {
        let mut map = self.by_user.write().unwrap_or_else(|e| e.into_inner());
        let Some(conns) = map.get_mut(&user) else { return false };
        conns.retain(|c| c.id != id);
        if conns.is_empty() {
            map.remove(&user);
            true
        } else {
            false
        }
    }

    /// Every user with a connection here.
    pub fn users(&self) -> Vec<UserId> {
        self.by_user
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    pub fn has(&self, user: UserId) -> bool {
        self.by_user
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&user)
    }

    /// Calls `f` for every connection of every user in `users`, under one
    /// read lock (fan-out visits many users per event).
    pub fn each_of(&self, users: &[UserId], mut f: impl FnMut(&Conn)) {
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        for user in users {
            if let Some(conns) = map.get(user) {
                conns.iter().for_each(&mut f);
            }
        }
    }

    /// Whether any of `users` has a connection here.
    pub fn any_of(&self, users: &[UserId]) -> bool {
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        users.iter().any(|user| map.contains_key(user))
    }

    pub fn each(&self, user: UserId, mut f: impl FnMut(&Conn)) {
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        if let Some(conns) = map.get(&user) {
            conns.iter().for_each(&mut f);
        }
    }
}
