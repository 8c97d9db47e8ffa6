//! Queries on `sessions`: one row per signed-in device, keyed by token hash.

use super::{on, on_any, Db, On};
use natter_common::ids::{SessionId, UserId};

/// How stale `last_used_at` may get before a request refreshes it; keeps
/// authenticated reads from turning into writes.
const TOUCH_AFTER_MS: i64 = 5 * 60 * 1000;

pub struct NewSession<'a> {
    pub user_id: UserId,
    pub token_hash: &'a [u8],
    pub device_name: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

pub async fn create(on: impl Into<On<'_>>, new: NewSession<'_>) -> sqlx::Result<SessionId> {
    let id: i64 = on_any!(on.into(), |c| sqlx::query_scalar(
        "INSERT INTO sessions (user_id, token_hash, device_name, created_at, last_used_at, expires_at)
         VALUES ($1, $2, $3, $4, $4, $5) RETURNING id",
    )
    .bind(new.user_id.0)
    .bind(new.token_hash)
    .bind(new.device_name)
    .bind(new.now)
    .bind(new.expires_at)
    .fetch_one(c)
    .await)?;
    Ok(SessionId(id))
}

#[derive(Debug, sqlx::FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub device_name: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

/// The live (unexpired) session with this token hash, refreshing its
/// `last_used_at` when stale.
pub async fn authenticate(db: &Db, token_hash: &[u8], now: i64) -> sqlx::Result<Option<SessionRow>> {
    let row: Option<SessionRow> = on!(db, |c| sqlx::query_as(
        "SELECT id, user_id, device_name, created_at, last_used_at, expires_at
         FROM sessions WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    if let Some(session) = &row {
        if now - session.last_used_at > TOUCH_AFTER_MS {
            on!(db, |c| sqlx::query(
                "UPDATE sessions SET last_used_at = $2 WHERE id = $1"
            )
            .bind(session.id)
            .bind(now)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
        }
    }
    Ok(row)
}

pub async fn list_for_user(db: &Db, user_id: UserId, now: i64) -> sqlx::Result<Vec<SessionRow>> {
    on!(db, |c| sqlx::query_as(
        "SELECT id, user_id, device_name, created_at, last_used_at, expires_at
         FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_used_at DESC",
    )
    .bind(user_id.0)
    .bind(now)
    .fetch_all(c)
    .await)
}

/// Revokes one of the user's sessions; false when there was no such session.
pub async fn revoke(db: &Db, user_id: UserId, id: SessionId) -> sqlx::Result<bool> {
    let done = on!(db, |c| sqlx::query(
        "DELETE FROM sessions WHERE id = $1 AND user_id = $2"
    )
    .bind(id.0)
    .bind(user_id.0)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}

/// Signs a user out everywhere; returns how many sessions ended.
pub async fn revoke_all(db: &Db, user_id: UserId) -> sqlx::Result<u64> {
    let done = on!(db, |c| sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id.0)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(done)
}

/// Whether the session is still good (not revoked, not expired).
pub async fn is_live(db: &Db, id: SessionId, now: i64) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND expires_at > $2)"
    )
    .bind(id.0)
    .bind(now)
    .fetch_one(c)
    .await)
}

/// Deletes expired sessions; returns how many.
pub async fn purge_expired(db: &Db, now: i64) -> sqlx::Result<u64> {
    let done = on!(db, |c| sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{each_db, user};

    /// A session is good until its expiry time and not a moment after.
    #[tokio::test]
    async fn an_expired_session_authenticates_no_one() {
        for (pool, _dir) in each_db().await {
            let ann = user(&pool, "ann").await;
            let new = NewSession {
                user_id: ann,
                token_hash: b"hash",
                device_name: "test",
                now: 1_000,
                expires_at: 2_000,
            };
            create(&pool, new).await.unwrap();
            assert!(authenticate(&pool, b"hash", 1_999).await.unwrap().is_some());
            assert!(authenticate(&pool, b"hash", 2_000).await.unwrap().is_none());
            assert!(list_for_user(&pool, ann, 2_000).await.unwrap().is_empty());
            assert_eq!(purge_expired(&pool, 2_000).await.unwrap(), 1);
        }
    }
}
