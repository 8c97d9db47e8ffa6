//! In-memory index of conversation members, so fan-out never asks the
//! database (or scans sessions) to find recipients.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use natter_common::ids::{ConversationId, UserId};

#[derive(Default)]
pub struct MemberIndex {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    by_conversation: HashMap<ConversationId, Arc<[UserId]>>,
    /// Bumped by every `forget`, so a load that raced with a membership
    /// change is not cached.
    epoch: u64,
}

impl MemberIndex {
    pub fn get(&self, conversation: ConversationId) -> Option<Arc<[UserId]>> {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_conversation
            .get(&conversation)
            .cloned()
    }

    /// Call before loading members from the store; pass to `insert`.
    pub fn epoch(&self) -> u64 {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).epoch
    }

    /// Caches a load begun at `epoch`, unless membership changed since.
    pub fn insert(&self, conversation: ConversationId, members: Arc<[UserId]>, epoch: u64) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.epoch == epoch {
            inner.by_conversation.insert(conversation, members);
        }
    }

    pub fn forget(&self, conversation: ConversationId) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.by_conversation.remove(&conversation);
        inner.epoch += 1;
    }
}
