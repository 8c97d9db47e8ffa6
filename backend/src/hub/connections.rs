//! The registry of open connections per user.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock, RwLock,
    },
    time::Instant,
};

use natter_common::ids::{SessionId, UserId};
use tokio::sync::Notify;
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
    /// Told when the last connection goes.
    emptied: Notify,
    /// Set once the server is stopping: the close every connection gets,
    /// those opened from then on too.
    closing: OnceLock<(u16, &'static str)>,
}

impl Registry {
    pub fn add(&self, user: UserId, conn: Conn) -> bool {
        let mut map = self.by_user.write().unwrap_or_else(|e| e.into_inner());
        // Most people have one connection: room for exactly that, not the
        // four a first push reserves.
        let conns = map.entry(user).or_insert_with(|| Vec::with_capacity(1));
        // Under the lock `close_all` takes after setting `closing`: either
        // it sees this connection or this sees `closing`.
        if let Some(&(code, reason)) = self.closing.get() {
            conn.close(code, reason);
        }
        conns.push(conn);
        conns.len() == 1
    }

    pub fn remove(&self, user: UserId, id: ConnId) -> bool {
        let mut map = self.by_user.write().unwrap_or_else(|e| e.into_inner());
        let Some(conns) = map.get_mut(&user) else { return false };
        conns.retain(|c| c.id != id);
        if conns.is_empty() {
            map.remove(&user);
            if map.is_empty() {
                self.emptied.notify_waiters();
            }
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

    /// Closes every connection with `code`, each after what is queued for
    /// it, and any opened later as soon as it is added.
    pub fn close_all(&self, code: u16, reason: &'static str) {
        let (code, reason) = *self.closing.get_or_init(|| (code, reason));
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        map.values().flatten().for_each(|conn| conn.close(code, reason));
    }

    /// Whether [`Self::close_all`] was called.
    pub fn closing(&self) -> bool {
        self.closing.get().is_some()
    }

    /// Returns once no connection is left.
    pub async fn emptied(&self) {
        loop {
            // Registered before looking, so a removal in between is not missed.
            let last_gone = self.emptied.notified();
            if self.by_user.read().unwrap_or_else(|e| e.into_inner()).is_empty() {
                return;
            }
            last_gone.await;
        }
    }

    pub fn each(&self, user: UserId, mut f: impl FnMut(&Conn)) {
        let map = self.by_user.read().unwrap_or_else(|e| e.into_inner());
        if let Some(conns) = map.get(&user) {
            conns.iter().for_each(&mut f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbox::Taken;

    fn conn() -> Conn {
        Conn::new(SessionId(1), Arc::new(Outbox::new()))
    }

    async fn close_of(conn: &Conn) -> Option<(u16, &'static str)> {
        match conn.outbox().take(&mut Vec::new()).await {
            Taken::Items { close, .. } => close,
            Taken::Overflowed => None,
        }
    }

    #[tokio::test]
    async fn closing_all_reaches_connections_opened_later_too() {
        let registry = Registry::default();
        let (early, late) = (conn(), conn());
        registry.add(UserId(1), early.clone());
        registry.close_all(1012, "restart");
        registry.add(UserId(2), late.clone());
        assert_eq!(close_of(&early).await, Some((1012, "restart")));
        assert_eq!(close_of(&late).await, Some((1012, "restart")));
    }

    #[tokio::test]
    async fn emptied_returns_once_the_last_connection_is_gone() {
        let registry = Arc::new(Registry::default());
        let (a, b) = (conn(), conn());
        registry.add(UserId(1), a.clone());
        registry.add(UserId(1), b.clone());
        let waiting = tokio::spawn({
            let registry = registry.clone();
            async move { registry.emptied().await }
        });
        registry.remove(UserId(1), a.id);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one connection is left");
        registry.remove(UserId(1), b.id);
        waiting.await.unwrap();
        // Nothing to wait for on an empty registry.
        registry.emptied().await;
    }
}
