//! Queries on `contacts`, `contact_requests` and `blocks`.

use super::{on, on_tx, Db, Tx};
use natter_common::{
    api::{Contact, ContactRequest, User},
    ids::{ConversationId, RequestId, UserId},
};

/// The pair's direct conversation when they are contacts.
pub async fn contact_conversation(conn: &mut Tx, user: UserId, other: UserId) -> sqlx::Result<Option<ConversationId>> {
    let id: Option<i64> = on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT conversation_id FROM contacts WHERE user_id = $1 AND contact_id = $2"
    )
    .bind(user.0)
    .bind(other.0)
    .fetch_optional(c)
    .await)?;
    Ok(id.map(ConversationId))
}

/// Records the pair as contacts in both directions.
pub async fn add_pair(conn: &mut Tx, a: UserId, b: UserId, conversation: ConversationId, now: i64) -> sqlx::Result<()> {
    on_tx!(conn, |c| sqlx::query(
        "INSERT INTO contacts (user_id, contact_id, conversation_id, created_at)
         VALUES ($1, $2, $3, $4), ($2, $1, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(a.0)
    .bind(b.0)
    .bind(conversation.0)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Removes the pair in both directions; false when they were not contacts.
pub async fn remove_pair(conn: &mut Tx, a: UserId, b: UserId) -> sqlx::Result<bool> {
    let done = on_tx!(conn, |c| sqlx::query(
        "DELETE FROM contacts WHERE (user_id = $1 AND contact_id = $2) OR (user_id = $2 AND contact_id = $1)",
    )
    .bind(a.0)
    .bind(b.0)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done > 0)
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: i64,
    username: String,
    display_name: String,
    created_at: i64,
    avatar_media_id: Option<String>,
    conversation_id: i64,
    since: i64,
}

pub async fn list(db: &Db, user: UserId) -> sqlx::Result<Vec<Contact>> {
    let rows: Vec<ContactRow> = on!(db, |c| sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_media_id, c.conversation_id,
                c.created_at AS since
         FROM contacts c JOIN users u ON u.id = c.contact_id
         WHERE c.user_id = $1 ORDER BY u.display_name COLLATE NOCASE, u.id",
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|r| Contact {
            user: User {
                id: UserId(r.id),
                username: r.username,
                display_name: r.display_name,
                created_at: r.created_at,
                avatar: r.avatar_media_id,
            },
            conversation_id: ConversationId(r.conversation_id),
            since: r.since,
        })
        .collect())
}

/// A pending request's participants.
#[derive(Debug, sqlx::FromRow)]
pub struct RequestRow {
    pub id: i64,
    pub from_user: i64,
    pub to_user: i64,
}

pub async fn request_by_id(conn: &mut Tx, id: RequestId) -> sqlx::Result<Option<RequestRow>> {
    on_tx!(conn, |c| sqlx::query_as(
        "SELECT id, from_user, to_user FROM contact_requests WHERE id = $1"
    )
    .bind(id.0)
    .fetch_optional(c)
    .await)
}

pub async fn request_between(conn: &mut Tx, from: UserId, to: UserId) -> sqlx::Result<Option<RequestRow>> {
    on_tx!(conn, |c| sqlx::query_as(
        "SELECT id, from_user, to_user FROM contact_requests WHERE from_user = $1 AND to_user = $2"
    )
    .bind(from.0)
    .bind(to.0)
    .fetch_optional(c)
    .await)
}

pub async fn create_request(conn: &mut Tx, from: UserId, to: UserId, now: i64) -> sqlx::Result<RequestId> {
    let id: i64 = on_tx!(conn, |c| sqlx::query_scalar(
        "INSERT INTO contact_requests (from_user, to_user, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(from.0)
    .bind(to.0)
    .bind(now)
    .fetch_one(c)
    .await)?;
    Ok(RequestId(id))
}

pub async fn delete_request(conn: &mut Tx, id: RequestId) -> sqlx::Result<()> {
    on_tx!(conn, |c| sqlx::query("DELETE FROM contact_requests WHERE id = $1")
        .bind(id.0)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Drops pending requests in either direction between the pair.
pub async fn delete_requests_between(conn: &mut Tx, a: UserId, b: UserId) -> sqlx::Result<()> {
    on_tx!(conn, |c| sqlx::query(
        "DELETE FROM contact_requests WHERE (from_user = $1 AND to_user = $2) OR (from_user = $2 AND to_user = $1)",
    )
    .bind(a.0)
    .bind(b.0)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct RequestListRow {
    id: i64,
    created_at: i64,
    from_id: i64,
    from_username: String,
    from_display_name: String,
    from_created_at: i64,
    from_avatar: Option<String>,
    to_id: i64,
    to_username: String,
    to_display_name: String,
    to_created_at: i64,
    to_avatar: Option<String>,
}

impl RequestListRow {
    fn into_request(self) -> ContactRequest {
        ContactRequest {
            id: RequestId(self.id),
            from: User {
                id: UserId(self.from_id),
                username: self.from_username,
                display_name: self.from_display_name,
                created_at: self.from_created_at,
                avatar: self.from_avatar,
            },
            to: User {
                id: UserId(self.to_id),
                username: self.to_username,
                display_name: self.to_display_name,
                created_at: self.to_created_at,
                avatar: self.to_avatar,
            },
            created_at: self.created_at,
        }
    }
}

const REQUEST_LIST: &str = "SELECT r.id, r.created_at,
        f.id AS from_id, f.username AS from_username, f.display_name AS from_display_name, f.created_at AS from_created_at,
        f.avatar_media_id AS from_avatar,
        t.id AS to_id, t.username AS to_username, t.display_name AS to_display_name, t.created_at AS to_created_at,
        t.avatar_media_id AS to_avatar
    FROM contact_requests r JOIN users f ON f.id = r.from_user JOIN users t ON t.id = r.to_user";

/// Requests to (`incoming`) or from the user, oldest first.
pub async fn requests_of(db: &Db, user: UserId, incoming: bool) -> sqlx::Result<Vec<ContactRequest>> {
    let column = if incoming { "r.to_user" } else { "r.from_user" };
    let rows: Vec<RequestListRow> = on!(db, |c| sqlx::query_as(&format!(
        "{REQUEST_LIST} WHERE {column} = $1 ORDER BY r.created_at, r.id"
    ))
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(RequestListRow::into_request).collect())
}

pub async fn request(db: &Db, id: RequestId) -> sqlx::Result<Option<ContactRequest>> {
    let row: Option<RequestListRow> = on!(db, |c| sqlx::query_as(&format!("{REQUEST_LIST} WHERE r.id = $1"))
        .bind(id.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(RequestListRow::into_request))
}

/// True when either user has blocked the other.
pub async fn blocked_either_way(conn: &mut Tx, a: UserId, b: UserId) -> sqlx::Result<bool> {
    on_tx!(conn, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE (blocker = $1 AND blocked = $2) OR (blocker = $2 AND blocked = $1))",
    )
    .bind(a.0)
    .bind(b.0)
    .fetch_one(c)
    .await)
}

/// True when `blocker` has blocked `blocked`.
pub async fn has_blocked(db: &Db, blocker: UserId, blocked: UserId) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker = $1 AND blocked = $2)"
    )
    .bind(blocker.0)
    .bind(blocked.0)
    .fetch_one(c)
    .await)
}

pub async fn block(conn: &mut Tx, blocker: UserId, blocked: UserId, now: i64) -> sqlx::Result<()> {
    on_tx!(conn, |c| sqlx::query(
        "INSERT INTO blocks (blocker, blocked, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    )
    .bind(blocker.0)
    .bind(blocked.0)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

pub async fn unblock(conn: &mut Tx, blocker: UserId, blocked: UserId) -> sqlx::Result<bool> {
    let done = on_tx!(conn, |c| sqlx::query(
        "DELETE FROM blocks WHERE blocker = $1 AND blocked = $2"
    )
    .bind(blocker.0)
    .bind(blocked.0)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}

pub async fn blocked_by(db: &Db, blocker: UserId) -> sqlx::Result<Vec<User>> {
    let rows: Vec<super::users::UserRow> = on!(db, |c| sqlx::query_as(
        "SELECT u.id, u.username, u.display_name, u.created_at, u.avatar_media_id
         FROM blocks b JOIN users u ON u.id = b.blocked
         WHERE b.blocker = $1 ORDER BY u.username",
    )
    .bind(blocker.0)
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(User::from).collect())
}
