//! Group changes in the writer's transaction: creating and renaming groups,
//! members joining and leaving, roles. The events that record them are
//! appended by the caller in the same transaction ([`super::append`]).
//! Whoever a change names, its statements are as many: lists of users go
//! to the database as one parameter ([`LogTx::ints`]).

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

/// The first of `others`, by id, who is not a contact of `user`.
pub fn first_stranger(tx: &LogTx, user: UserId, others: &[UserId]) -> Result<Option<UserId>> {
    if others.is_empty() {
        return Ok(None);
    }
    let sql = format!(
        "SELECT ids.value FROM {} WHERE NOT EXISTS (
             SELECT 1 FROM contacts WHERE user_id = $1 AND contact_id = ids.value)
         ORDER BY ids.value LIMIT 1",
        tx.ints("$2", "ids")
    );
    let id = tx.value(&sql, args![user.0, &raw_ids(others)])?;
    Ok(id.map(UserId))
}

/// Those of `users` who are not members of `group`, by id.
pub fn not_members(tx: &LogTx, group: ConversationId, users: &[UserId]) -> Result<Vec<UserId>> {
    if users.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT ids.value FROM {} WHERE NOT EXISTS (
             SELECT 1 FROM members WHERE conversation_id = $1 AND user_id = ids.value)
         ORDER BY ids.value",
        tx.ints("$2", "ids")
    );
    tx.rows(&sql, args![group.0, &raw_ids(users)], |row| row.get(0).map(UserId))
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

/// Adds `users` with one role, in one statement; how many were not members
/// yet.
pub fn add_members(tx: &LogTx, group: ConversationId, users: &[UserId], role: Role, now: i64) -> Result<u64> {
    if users.is_empty() {
        return Ok(0);
    }
    // `WHERE true`: without it SQLite would read `ON CONFLICT` as the join's `ON`.
    let sql = format!(
        "INSERT INTO members (conversation_id, user_id, role, joined_at)
         SELECT $1, ids.value, $3, $4 FROM {} WHERE true
         ON CONFLICT DO NOTHING",
        tx.ints("$2", "ids")
    );
    tx.execute(&sql, args![group.0, &raw_ids(users), role.as_str(), now])
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

fn raw_ids(users: &[UserId]) -> Vec<i64> {
    users.iter().map(|user| user.0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{contacts, conversations, testing};

    /// The list parameter reads alike on both databases: the first stranger,
    /// who is new, and an insert that skips members and keeps the count.
    #[tokio::test]
    async fn lists_of_members_are_one_statement_on_both_databases() {
        for (db, _dir) in testing::each_db().await {
            let kind = testing::kind(&db);
            let ann = testing::user(&db, "ann").await;
            let mut others = Vec::new();
            for name in ["bob", "cid", "dee", "eve"] {
                others.push(testing::user(&db, name).await);
            }
            let [bob, cid, dee, eve] = others[..] else {
                unreachable!()
            };
            let mut tx = db.begin_write().await.unwrap();
            for friend in [bob, cid, dee] {
                let direct = conversations::direct(&mut tx, ann, friend, 0).await.unwrap();
                contacts::add_pair(&mut tx, ann, friend, direct, 0).await.unwrap();
            }
            tx.commit().await.unwrap();
            let group = testing::group(&db, &[ann, bob]).await;

            let (stranger, none, new, added, again, members) = testing::in_log_tx(&db, move |tx| {
                (
                    first_stranger(tx, ann, &[bob, cid, dee, eve]).unwrap(),
                    first_stranger(tx, ann, &[bob, cid]).unwrap(),
                    not_members(tx, group, &[ann, bob, cid, dee]).unwrap(),
                    add_members(tx, group, &[bob, cid, dee], Role::Member, 5).unwrap(),
                    add_members(tx, group, &[], Role::Member, 5).unwrap(),
                    self::group(tx, group).unwrap().map(|row| row.member_count),
                )
            })
            .await;
            assert_eq!(stranger, Some(eve), "{kind}");
            assert_eq!(none, None, "{kind}");
            assert_eq!(new, [cid, dee], "{kind}: by id");
            assert_eq!((added, again), (2, 0), "{kind}: bob was a member already");
            assert_eq!(members, Some(4), "{kind}: kept by the triggers");
        }
    }
}
