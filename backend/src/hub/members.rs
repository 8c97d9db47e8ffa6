//! In-memory index of conversation members, so fan-out never asks the
//! database (or scans sessions) to find recipients.
//!
//! Bounded: it holds at most [`MAX_IDS`] member ids in all and drops the
//! least recently used conversations beyond that, so no client can grow it
//! by naming conversations. The log's writer keeps it current (it replaces
//! an entry once per committed batch that changed its members); other
//! readers only fill in what is missing, and only with real members.

use std::sync::{Arc, Mutex, MutexGuard};

use hashlink::LruCache;
use natter_common::ids::{ConversationId, UserId};

/// Member ids held in all (8 bytes each): 16 MiB.
const MAX_IDS: usize = 2 << 20;

pub struct MemberIndex {
    inner: Mutex<Inner>,
    max_ids: usize,
}

struct Inner {
    by_conversation: LruCache<ConversationId, Arc<[UserId]>>,
    /// Member ids held, for the bound.
    ids: usize,
    /// Bumped by every change from the writer, so that a load which raced
    /// with one is not cached.
    epoch: u64,
}

impl Default for MemberIndex {
    fn default() -> Self {
        Self::with_capacity(MAX_IDS)
    }
}

impl MemberIndex {
    pub fn with_capacity(max_ids: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                by_conversation: LruCache::new_unbounded(),
                ids: 0,
                epoch: 0,
            }),
            max_ids,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while holding it; a poisoned lock's data is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, conversation: ConversationId) -> Option<Arc<[UserId]>> {
        self.lock().by_conversation.get(&conversation).cloned()
    }

    /// Call before loading members from the store; pass to [`Self::offer`].
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// Caches a load begun at `epoch`, unless the writer changed members
    /// since. Empty lists (no such conversation) are never cached.
    pub fn offer(&self, conversation: ConversationId, members: Arc<[UserId]>, epoch: u64) {
        let mut inner = self.lock();
        if inner.epoch == epoch {
            self.put(&mut inner, conversation, members);
        }
    }

    /// The writer's word after a commit: these are the members now.
    pub fn replace(&self, changes: impl IntoIterator<Item = (ConversationId, Arc<[UserId]>)>) {
        let mut inner = self.lock();
        inner.epoch += 1;
        for (conversation, members) in changes {
            self.put(&mut inner, conversation, members);
        }
    }

    /// Forgets a conversation (its members changed outside the writer).
    pub fn forget(&self, conversation: ConversationId) {
        let mut inner = self.lock();
        inner.epoch += 1;
        if let Some(old) = inner.by_conversation.remove(&conversation) {
            inner.ids -= old.len();
        }
    }

    fn put(&self, inner: &mut Inner, conversation: ConversationId, members: Arc<[UserId]>) {
        if let Some(old) = inner.by_conversation.remove(&conversation) {
            inner.ids -= old.len();
        }
        if members.is_empty() || members.len() > self.max_ids {
            return;
        }
        inner.ids += members.len();
        inner.by_conversation.insert(conversation, members);
        while inner.ids > self.max_ids {
            let Some((_, dropped)) = inner.by_conversation.remove_lru() else {
                break;
            };
            inner.ids -= dropped.len();
        }
    }

    /// Member ids held in all (for the metrics).
    pub fn held_ids(&self) -> usize {
        self.lock().ids
    }

    /// Conversations held (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_conversation.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: i64) -> Arc<[UserId]> {
        (0..n).map(UserId).collect()
    }

    #[test]
    fn holds_at_most_its_budget_dropping_the_least_recently_used() {
        let index = MemberIndex::with_capacity(10);
        let epoch = index.epoch();
        for c in 0..5 {
            index.offer(ConversationId(c), ids(3), epoch);
        }
        assert_eq!(index.len(), 3, "9 ids fit, 12 don't");
        assert!(index.get(ConversationId(0)).is_none() && index.get(ConversationId(1)).is_none());
        index.get(ConversationId(2));
        index.offer(ConversationId(9), ids(3), epoch);
        assert!(index.get(ConversationId(2)).is_some(), "used recently");
        assert!(index.get(ConversationId(3)).is_none(), "least recently used");
    }

    #[test]
    fn empty_lists_and_raced_loads_are_not_cached() {
        let index = MemberIndex::default();
        let epoch = index.epoch();
        index.offer(ConversationId(1), ids(0), epoch);
        assert!(index.get(ConversationId(1)).is_none());
        index.replace([(ConversationId(2), ids(2))]);
        index.offer(ConversationId(3), ids(2), epoch);
        assert!(
            index.get(ConversationId(3)).is_none(),
            "loaded before the writer's change"
        );
        assert_eq!(index.get(ConversationId(2)).map(|m| m.len()), Some(2));
    }
}
