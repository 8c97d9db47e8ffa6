//! Group changes in the writer's transaction: creating and renaming groups,
//! members joining and leaving, roles. The events that record them are
//! appended by the caller in the same transaction ([`super::append`]).

use natter_common::{
    api::Role,
    ids::{ConversationId, UserId},
    validate::GroupName,
};

use super::{
    conversations::GroupRow,
    log_tx::{args, LogTx, Result},
};

pub fn group(tx: &LogTx, id: ConversationId) -> Result<Option<GroupRow>> {
    tx.row(super::conversations::GROUP, args![id.0], |row| {
        Ok(GroupRow {
            id: row.get(0)?,
            name: row.get(1)?,
            created_at: row.get(2)?,
            member_count: row.get(3)?,
        })
    })
}

pub fn role(tx: &LogTx, group: ConversationId, user: UserId) -> Result<Option<Role>> {
    let role: Option<String> = tx.value(super::members::ROLE, args![group.0, user.0])?;
    Ok(role.as_deref().and_then(Role::parse))
}

pub fn is_contact(tx: &LogTx, user: UserId, other: UserId) -> Result<bool> {
    let found = tx.value(
        "SELECT EXISTS (SELECT 1 FROM contacts WHERE user_id = $1 AND contact_id = $2)",
        args![user.0, other.0],
    )?;
    Ok(found.unwrap_or(false))
}

pub fn create(tx: &LogTx, name: &GroupName, now: i64) -> Result<ConversationId> {
    let id = tx.value(super::conversations::CREATE_GROUP, args![name.as_str(), now])?;
    Ok(ConversationId(id.unwrap_or_default()))
}

pub fn rename(tx: &LogTx, group: ConversationId, name: &GroupName) -> Result<()> {
    tx.execute(
        "UPDATE conversations SET name = $2 WHERE id = $1 AND kind = 'group'",
        args![group.0, name.as_str()],
    )?;
    Ok(())
}

/// Adds a member; false when they already were one.
pub fn add_member(tx: &LogTx, group: ConversationId, user: UserId, role: Role, now: i64) -> Result<bool> {
    let added = tx.execute(super::members::ADD, args![group.0, user.0, role.as_str(), now])?;
    Ok(added == 1)
}

pub fn remove_member(tx: &LogTx, group: ConversationId, user: UserId) -> Result<()> {
    tx.execute(
        "DELETE FROM members WHERE conversation_id = $1 AND user_id = $2",
        args![group.0, user.0],
    )?;
    Ok(())
}

pub fn set_role(tx: &LogTx, group: ConversationId, user: UserId, role: Role) -> Result<()> {
    tx.execute(
        "UPDATE members SET role = $3 WHERE conversation_id = $1 AND user_id = $2",
        args![group.0, user.0, role.as_str()],
    )?;
    Ok(())
}

/// Who inherits ownership when the owner leaves: the longest-standing admin,
/// else the longest-standing member.
pub fn successor(tx: &LogTx, group: ConversationId, leaving: UserId) -> Result<Option<UserId>> {
    let id = tx.value(
        "SELECT user_id FROM members WHERE conversation_id = $1 AND user_id <> $2
         ORDER BY role = 'admin' DESC, joined_at ASC, user_id ASC LIMIT 1",
        args![group.0, leaving.0],
    )?;
    Ok(id.map(UserId))
}

/// Everyone in a conversation (the audience of its events).
pub fn member_ids(tx: &LogTx, conversation: ConversationId) -> Result<Vec<UserId>> {
    tx.rows(super::members::USER_IDS, args![conversation.0], |row| {
        row.get(0).map(UserId)
    })
}
