//! Who receives a conversation's events, as the writer's transaction sees
//! it at each point of a batch: a message goes to the members of the
//! moment it was stored, so one committed before a removal still reaches
//! the removed member and one after does not, whatever the publisher is
//! doing meanwhile. Lists come from the member index, else from the
//! transaction itself; after the commit they go back into the index. On a
//! database other nodes write to, this node's index may not have heard of
//! their last change yet, so lists come from the transaction (under the
//! conversation's lock: docs/storage.md).

use std::{collections::HashMap, sync::Arc};

use natter_common::ids::{ConversationId, UserId};

use crate::{
    db::{
        group_changes,
        log_tx::{self, LogTx},
    },
    hub::MemberIndex,
};

pub struct Audience<'i> {
    index: &'i MemberIndex,
    /// Whether the index may be trusted.
    use_index: bool,
    /// Conversations whose members changed in this batch.
    changed: Vec<ConversationId>,
    /// Each conversation's members as of the latest command that touched it.
    lists: HashMap<ConversationId, Arc<[UserId]>>,
}

impl<'i> Audience<'i> {
    /// `shared`: other nodes write to the database too.
    pub fn new(index: &'i MemberIndex, shared: bool) -> Self {
        Self {
            index,
            use_index: !shared,
            changed: Vec::new(),
            lists: HashMap::new(),
        }
    }

    /// The members now (empty for a conversation that does not exist).
    pub fn of(&mut self, tx: &LogTx, conversation: ConversationId) -> log_tx::Result<Arc<[UserId]>> {
        if let Some(members) = self.lists.get(&conversation) {
            return Ok(members.clone());
        }
        let members = match self.index.get(conversation).filter(|_| self.use_index) {
            Some(members) => members,
            None => group_changes::member_ids(tx, conversation)?.into(),
        };
        self.lists.insert(conversation, members.clone());
        Ok(members)
    }

    /// The members after a change in this transaction: read once per
    /// change, however many members it added.
    pub fn reload(&mut self, tx: &LogTx, conversation: ConversationId) -> log_tx::Result<Arc<[UserId]>> {
        let members: Arc<[UserId]> = group_changes::member_ids(tx, conversation)?.into();
        self.lists.insert(conversation, members.clone());
        if !self.changed.contains(&conversation) {
            self.changed.push(conversation);
        }
        Ok(members)
    }

    /// Every list as of the end of the batch, for the index once committed,
    /// and the conversations whose members changed.
    pub fn into_lists(
        self,
    ) -> (
        impl Iterator<Item = (ConversationId, Arc<[UserId]>)>,
        Vec<ConversationId>,
    ) {
        (self.lists.into_iter(), self.changed)
    }
}
