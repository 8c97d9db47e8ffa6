//! Queries on `members`: who belongs to a conversation, and in what role.

use natter_common::{
    api::{Member, Role, User},
    ids::{ConversationId, UserId},
};
use sqlx::{SqliteConnection, SqlitePool};

pub async fn role(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
) -> sqlx::Result<Option<Role>> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM members WHERE conversation_id = ?1 AND user_id = ?2")
            .bind(conversation.0)
            .bind(user.0)
            .fetch_optional(conn)
            .await?;
    Ok(role.as_deref().and_then(Role::parse))
}

/// Adds a member; false when they already were one.
pub async fn add(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
    role: Role,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )
    .bind(conversation.0)
    .bind(user.0)
    .bind(role.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn remove(conn: &mut SqliteConnection, conversation: ConversationId, user: UserId) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM members WHERE conversation_id = ?1 AND user_id = ?2")
        .bind(conversation.0)
        .bind(user.0)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_role(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    user: UserId,
    role: Role,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE members SET role = ?3 WHERE conversation_id = ?1 AND user_id = ?2")
        .bind(conversation.0)
        .bind(user.0)
        .bind(role.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn count(conn: &mut SqliteConnection, conversation: ConversationId) -> sqlx::Result<u32> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE conversation_id = ?1")
        .bind(conversation.0)
        .fetch_one(conn)
        .await?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Who inherits ownership when the owner leaves: the longest-standing admin,
/// else the longest-standing member.
pub async fn successor(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    leaving: UserId,
) -> sqlx::Result<Option<UserId>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM members WHERE conversation_id = ?1 AND user_id <> ?2
         ORDER BY role = 'admin' DESC, joined_at ASC, user_id ASC LIMIT 1",
    )
    .bind(conversation.0)
    .bind(leaving.0)
    .fetch_optional(conn)
    .await?;
    Ok(id.map(UserId))
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    role: String,
    joined_at: i64,
}

/// A page of members ordered by user id, starting after `after`.
pub async fn page(
    pool: &SqlitePool,
    conversation: ConversationId,
    after: i64,
    limit: u32,
) -> sqlx::Result<Vec<Member>> {
    let rows: Vec<MemberRow> = sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.created_at, m.role, m.joined_at
         FROM members m JOIN users u ON u.id = m.user_id
         WHERE m.conversation_id = ?1 AND m.user_id > ?2
         ORDER BY m.user_id LIMIT ?3",
    )
    .bind(conversation.0)
    .bind(after)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Member {
            user: User {
                id: UserId(row.id),
                username: row.username,
                display_name: row.display_name,
                created_at: row.created_at,
            },
            role: Role::parse(&row.role).unwrap_or(Role::Member),
            joined_at: row.joined_at,
        })
        .collect())
}

/// Everyone in a conversation.
pub async fn user_ids(pool: &SqlitePool, conversation: ConversationId) -> sqlx::Result<Vec<UserId>> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT user_id FROM members WHERE conversation_id = ?1")
        .bind(conversation.0)
        .fetch_all(pool)
        .await?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// Users who share a conversation with `user`, leaving out anyone on the
/// far side of a block in the given direction: `who_user_blocked` drops
/// people `user` blocked (they must not see `user`), otherwise people who
/// blocked `user` (`user` must not see them).
pub async fn co_members(pool: &SqlitePool, user: UserId, who_user_blocked: bool) -> sqlx::Result<Vec<UserId>> {
    let block_filter = if who_user_blocked {
        "NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = ?1 AND b.blocked = other.user_id)"
    } else {
        "NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = other.user_id AND b.blocked = ?1)"
    };
    let ids: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT DISTINCT other.user_id FROM members mine
         JOIN members other ON other.conversation_id = mine.conversation_id AND other.user_id <> ?1
         WHERE mine.user_id = ?1 AND {block_filter}"
    ))
    .bind(user.0)
    .fetch_all(pool)
    .await?;
    Ok(ids.into_iter().map(UserId).collect())
}
