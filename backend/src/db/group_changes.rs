//! Group changes on the writer's connection: creating and renaming groups,
//! members joining and leaving, roles. The events that record them are
//! appended by the caller in the same transaction ([`super::append`]).

use natter_common::{
    api::Role,
    ids::{ConversationId, UserId},
    validate::GroupName,
};
use rusqlite::{params, Connection, OptionalExtension};

use super::conversations::GroupRow;

pub fn group(conn: &Connection, id: ConversationId) -> rusqlite::Result<Option<GroupRow>> {
    conn.prepare_cached(super::conversations::GROUP)?
        .query_row([id.0], |row| {
            Ok(GroupRow {
                id: row.get(0)?,
                name: row.get(1)?,
                created_at: row.get(2)?,
                member_count: row.get(3)?,
            })
        })
        .optional()
}

pub fn role(conn: &Connection, group: ConversationId, user: UserId) -> rusqlite::Result<Option<Role>> {
    let role: Option<String> = conn
        .prepare_cached(super::members::ROLE)?
        .query_row(params![group.0, user.0], |row| row.get(0))
        .optional()?;
    Ok(role.as_deref().and_then(Role::parse))
}

pub fn is_contact(conn: &Connection, user: UserId, other: UserId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM contacts WHERE user_id = ?1 AND contact_id = ?2)")?
        .query_row(params![user.0, other.0], |row| row.get(0))
}

pub fn create(conn: &Connection, name: &GroupName, now: i64) -> rusqlite::Result<ConversationId> {
    conn.prepare_cached(super::conversations::CREATE_GROUP)?
        .query_row(params![name.as_str(), now], |row| row.get(0))
        .map(ConversationId)
}

pub fn rename(conn: &Connection, group: ConversationId, name: &GroupName) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE conversations SET name = ?2 WHERE id = ?1 AND kind = 'group'")?
        .execute(params![group.0, name.as_str()])?;
    Ok(())
}

/// Adds a member; false when they already were one.
pub fn add_member(
    conn: &Connection,
    group: ConversationId,
    user: UserId,
    role: Role,
    now: i64,
) -> rusqlite::Result<bool> {
    let added = conn
        .prepare_cached(super::members::ADD)?
        .execute(params![group.0, user.0, role.as_str(), now])?;
    Ok(added == 1)
}

pub fn remove_member(conn: &Connection, group: ConversationId, user: UserId) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")?
        .execute(params![group.0, user.0])?;
    Ok(())
}

pub fn set_role(conn: &Connection, group: ConversationId, user: UserId, role: Role) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE members SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2")?
        .execute(params![group.0, user.0, role.as_str()])?;
    Ok(())
}

/// Who inherits ownership when the owner leaves: the longest-standing admin,
/// else the longest-standing member.
pub fn successor(conn: &Connection, group: ConversationId, leaving: UserId) -> rusqlite::Result<Option<UserId>> {
    conn.prepare_cached(
        "SELECT user_id FROM members WHERE conversation_id = ?1 AND user_id <> ?2
         ORDER BY role = 'admin' DESC, joined_at ASC, user_id ASC LIMIT 1",
    )?
    .query_row(params![group.0, leaving.0], |row| row.get(0))
    .optional()
    .map(|id| id.map(UserId))
}

/// Everyone in a conversation (the audience of its events).
pub fn member_ids(conn: &Connection, conversation: ConversationId) -> rusqlite::Result<Vec<UserId>> {
    conn.prepare_cached(super::members::USER_IDS)?
        .query_map([conversation.0], |row| row.get(0).map(UserId))?
        .collect()
}
