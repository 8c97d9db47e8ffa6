//! The registry of open connections per user, and one connection's
//! bounded outbound queue.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, RwLock,
    },
};

use axum::extract::ws::Utf8Bytes;
use natter_common::ids::{SessionId, UserId};
use tokio::sync::{mpsc, Notify};

use super::Kind;

pub type ConnId = u64;

/// What a connection's writer task sends.
#[derive(Debug)]
pub enum Outbound {
    Frame(Utf8Bytes),
    /// Close with this code and reason, then stop.
    Close(u16, &'static str),
}

/// One open connection, as the hub sees it.
#[derive(Clone)]
pub struct Conn {
    pub id: ConnId,
    /// The sign-in session it was opened with; revoking it closes the connection.
    pub session: SessionId,
    queue: mpsc::Sender<Outbound>,
    /// Signalled when the queue overflowed: the writer closes the socket.
    overflowed: Arc<Notify>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Conn {
    pub fn new(session: SessionId, queue: mpsc::Sender<Outbound>, overflowed: Arc<Notify>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            session,
            queue,
            overflowed,
        }
    }

    /// Asks the writer to close with this code (or cuts it loose if its queue is full).
    pub fn close(&self, code: u16, reason: &'static str) {
        if self.queue.try_send(Outbound::Close(code, reason)).is_err() {
            self.overflowed.notify_one();
        }
    }

    /// Queues a frame without waiting. A full queue drops an ephemeral
    /// frame, and for a reliable one cuts the connection loose.
    pub fn deliver(&self, frame: &Utf8Bytes, kind: Kind) {
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(Outbound::Frame(frame.clone())) {
            if kind == Kind::Reliable {
                self.overflowed.notify_one();
            }
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
        let conns = map.entry(user).or_default();
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

    pub fn each(&self, user: UserId, mut f: impl FnMut(&Conn)) {
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        if let Some(conns) = map.get(&user) {
            conns.iter().for_each(&mut f);
        }
    }
}
