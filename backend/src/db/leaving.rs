//! Deleting an account: what of a user goes, and what stays for others.
//! Their group memberships end through the log first (as leaving does,
//! ownership passing on); this is the rest, in one transaction.

use super::{on_any, on_tx, Db, On, Tx};
use natter_common::ids::UserId;

/// How long a deleted account's username stays reserved.
pub const USERNAME_RESERVED_MS: i64 = 30 * 24 * 3600 * 1000;

/// The display name a deleted account's messages show.
pub const DELETED_NAME: &str = "Deleted user";

/// Removes `user`'s sessions, contacts, requests and blocks both ways,
/// direct-conversation memberships, read markers and uploads, and turns the
/// account into a nameless, unusable "Deleted user" row. Returns the images
/// nothing refers to any more, whose files the caller removes.
pub async fn delete_account(db: &Db, user: UserId, now: i64) -> sqlx::Result<Vec<String>> {
    let mut tx = db.begin_write().await?;
    // PostgreSQL: the member-count trigger below updates the direct
    // conversations' rows; take them first in id order, as the log's
    // writers do, so that a writer appending to two of them can't deadlock
    // with this. (SQLite's write lock is the whole database.)
    if let Tx::Postgres(pg) = &mut tx {
        sqlx::query(
            "SELECT id FROM conversations WHERE kind = 'direct'
               AND id IN (SELECT conversation_id FROM members WHERE user_id = $1)
             ORDER BY id FOR NO KEY UPDATE",
        )
        .bind(user.0)
        .execute(&mut **pg)
        .await?;
    }
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM contacts WHERE user_id = $1 OR contact_id = $1",
        "DELETE FROM contact_requests WHERE from_user = $1 OR to_user = $1",
        "DELETE FROM blocks WHERE blocker = $1 OR blocked = $1",
        "DELETE FROM members WHERE user_id = $1
             AND conversation_id IN (SELECT id FROM conversations WHERE kind = 'direct')",
        "DELETE FROM read_markers WHERE user_id = $1",
    ] {
        on_tx!(&mut tx, |c| sqlx::query(sql)
            .bind(user.0)
            .execute(c)
            .await
            .map(|done| done.rows_affected()))?;
    }
    // No password verifies against '!': the row can never sign in again.
    on_tx!(&mut tx, |c| sqlx::query(
        "UPDATE users SET display_name = $2, password_hash = '!', avatar_media_id = NULL,
             deleted_at = $3, updated_at = $3
         WHERE id = $1",
    )
    .bind(user.0)
    .bind(DELETED_NAME)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    let uploaded: Vec<String> = on_tx!(&mut tx, |c| sqlx::query_scalar(
        "DELETE FROM media_uploads WHERE user_id = $1 RETURNING media_id"
    )
    .bind(user.0)
    .fetch_all(c)
    .await)?;
    let mut dropped = Vec::new();
    for media in uploaded {
        let gone = on_tx!(&mut tx, |c| sqlx::query(
            "DELETE FROM media WHERE id = $1
                 AND NOT EXISTS (SELECT 1 FROM events WHERE media_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM media_uploads WHERE media_id = $1)
                 AND NOT EXISTS (SELECT 1 FROM users WHERE avatar_media_id = $1)",
        )
        .bind(&media)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
        if gone == 1 {
            dropped.push(media);
        }
    }
    tx.commit().await?;
    Ok(dropped)
}

/// Frees usernames whose deleted accounts are past their reservation, so
/// they can be registered again: the old row keeps a name no one can type
/// (`:` is not allowed in usernames).
pub async fn free_usernames(on: impl Into<On<'_>>, now: i64) -> sqlx::Result<u64> {
    let done = on_any!(on.into(), |c| sqlx::query(
        "UPDATE users SET username = 'deleted:' || id
         WHERE deleted_at IS NOT NULL AND deleted_at <= $1 AND substr(username, 1, 8) <> 'deleted:'",
    )
    .bind(now - USERNAME_RESERVED_MS)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use natter_common::validate::{DisplayName, Username};

    use super::*;
    use crate::db::{
        testing::{each_db, user},
        users::{create, Created},
    };

    /// A deleted account's username is taken for 30 days, then free.
    #[tokio::test]
    async fn a_deleted_username_is_reserved_for_thirty_days() {
        for (pool, _dir) in each_db().await {
            let ann = user(&pool, "ann").await;
            delete_account(&pool, ann, 1_000).await.unwrap();
            let name = Username::parse("ann").unwrap();
            let display = DisplayName::parse("Ann 2").unwrap();
            free_usernames(&pool, 1_000 + USERNAME_RESERVED_MS - 1).await.unwrap();
            let again = create(&pool, &name, &display, "hash", 2_000).await.unwrap();
            assert!(matches!(again, Created::UsernameTaken));
            assert_eq!(free_usernames(&pool, 1_000 + USERNAME_RESERVED_MS).await.unwrap(), 1);
            let again = create(&pool, &name, &display, "hash", 2_000).await.unwrap();
            assert!(matches!(again, Created::Ok(_)));
        }
    }
}
