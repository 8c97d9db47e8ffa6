//! Web Push: notifying people whose every tab is closed. The publisher
//! hands each new message to [`Push::message`]; a task of its own picks the
//! members who are offline, subscribed and want to hear about it, and posts
//! an encrypted notification (RFC 8291, signed per RFC 8292) to each of
//! their browsers' push services — at most one per conversation per
//! [`dispatch::COALESCE`], so a burst is one buzz, not thirty.

mod dispatch;
pub mod endpoint;
pub mod vapid;

use std::{
    collections::HashSet,
    path::Path,
    sync::{Arc, Mutex},
};

use crate::db::Db;
use natter_common::{events::Event, ids::UserId};
use tokio::sync::mpsc;

use crate::{db, hub::Hub, metrics};

/// Messages waiting for the dispatcher; beyond this, pushes are dropped
/// (counted) rather than slowing delivery down.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct Push {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<dispatch::Job>,
    vapid: Arc<vapid::Vapid>,
    /// Users with a subscription (some may have lapsed): a message to a
    /// conversation with none of them costs nothing more.
    subscribed: Arc<Mutex<HashSet<UserId>>>,
    allow_private: bool,
}

impl Push {
    /// Loads (or makes) the VAPID key in `data_dir` and starts the
    /// dispatcher. `allow_private` lets pushes go to plain-HTTP and private
    /// addresses: for tests only.
    pub async fn start(
        data_dir: &Path,
        subject: String,
        allow_private: bool,
        db: Db,
        hub: Hub,
    ) -> anyhow::Result<Self> {
        let vapid = Arc::new(vapid::Vapid::load_or_create(data_dir, subject)?);
        let subscribed: HashSet<UserId> = db::push::subscribed_users(&db).await?.into_iter().collect();
        let subscribed = Arc::new(Mutex::new(subscribed));
        let (jobs, queue) = mpsc::channel(QUEUE);
        let dispatcher = dispatch::Dispatcher::new(db, hub, vapid.clone(), subscribed.clone(), allow_private)?;
        tokio::spawn(dispatcher.run(queue));
        Ok(Self {
            inner: Arc::new(Inner {
                jobs,
                vapid,
                subscribed,
                allow_private,
            }),
        })
    }

    /// `applicationServerKey` for browsers.
    pub fn public_key(&self) -> &str {
        self.inner.vapid.public_key()
    }

    pub fn allow_private(&self) -> bool {
        self.inner.allow_private
    }

    /// Notes that `user` now has a subscription.
    pub fn subscribed(&self, user: UserId) {
        self.subscribed_users().insert(user);
    }

    fn subscribed_users(&self) -> std::sync::MutexGuard<'_, HashSet<UserId>> {
        self.inner.subscribed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new message reached `to`: push it to those of them who are away.
    /// Never waits: with the queue full, the push is dropped.
    pub fn message(&self, event: &Event, to: &Arc<[UserId]>) {
        if !matches!(event.body, natter_common::events::EventBody::Message { .. }) {
            return;
        }
        {
            let subscribed = self.subscribed_users();
            if subscribed.is_empty() || !to.iter().any(|u| *u != event.sender && subscribed.contains(u)) {
                return;
            }
        }
        let job = dispatch::Job {
            event: event.clone(),
            to: to.clone(),
        };
        if self.inner.jobs.try_send(job).is_err() {
            metrics::push("dropped");
        }
    }
}
