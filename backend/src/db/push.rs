//! Web Push subscriptions (one per session) and what a push needs to know
//! about its recipient.

use super::{on, on_tx, Db};
use natter_common::{
    api::NotifyLevel,
    ids::{ConversationId, SessionId, UserId},
};

/// A subscription as stored: the endpoint and the browser's keys.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subscription {
    pub session_id: i64,
    pub endpoint: String,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
}

/// A subscription to store: where, and the browser's key and secret.
pub struct NewSubscription<'a> {
    pub endpoint: &'a str,
    pub p256dh: &'a [u8],
    pub auth: &'a [u8],
}

/// Stores `session`'s subscription, replacing its earlier one; false
/// (storing nothing) when the user already has `cap` on other sessions.
pub async fn save(
    db: &Db,
    user: UserId,
    session: SessionId,
    new: NewSubscription<'_>,
    cap: usize,
    now: i64,
) -> sqlx::Result<bool> {
    let mut tx = db.begin_write().await?;
    let others: i64 = on_tx!(&mut tx, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM push_subscriptions WHERE user_id = $1 AND session_id <> $2"
    )
    .bind(user.0)
    .bind(session.0)
    .fetch_one(c)
    .await)?;
    if usize::try_from(others).unwrap_or(usize::MAX) >= cap {
        return Ok(false);
    }
    on_tx!(&mut tx, |c| sqlx::query(
        "INSERT INTO push_subscriptions (session_id, user_id, endpoint, p256dh, auth, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (session_id) DO UPDATE SET endpoint = excluded.endpoint, p256dh = excluded.p256dh,
             auth = excluded.auth, created_at = excluded.created_at",
    )
    .bind(session.0)
    .bind(user.0)
    .bind(new.endpoint)
    .bind(new.p256dh)
    .bind(new.auth)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    tx.commit().await?;
    Ok(true)
}

/// Removes `session`'s subscription, if any.
pub async fn remove(db: &Db, session: SessionId) -> sqlx::Result<()> {
    on!(db, |c| sqlx::query(
        "DELETE FROM push_subscriptions WHERE session_id = $1"
    )
    .bind(session.0)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Removes a subscription its push service called gone, unless the session
/// has subscribed anew since.
pub async fn remove_gone(db: &Db, session: i64, endpoint: &str) -> sqlx::Result<()> {
    on!(db, |c| sqlx::query(
        "DELETE FROM push_subscriptions WHERE session_id = $1 AND endpoint = $2"
    )
    .bind(session)
    .bind(endpoint)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

pub async fn has(db: &Db, session: SessionId) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM push_subscriptions WHERE session_id = $1)"
    )
    .bind(session.0)
    .fetch_one(c)
    .await)
}

/// Everyone with at least one subscription.
pub async fn subscribed_users(db: &Db) -> sqlx::Result<Vec<UserId>> {
    let ids: Vec<i64> = on!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT user_id FROM push_subscriptions"
    )
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(UserId).collect())
}

/// A member of a conversation as a push to them needs them: their level
/// there, how far they have read, their preview choice and subscriptions
/// (of live sessions).
pub struct Recipient {
    pub notify: NotifyLevel,
    pub read_seq: i64,
    pub previews: bool,
    pub subscriptions: Vec<Subscription>,
}

pub async fn recipient(
    db: &Db,
    user: UserId,
    conversation: ConversationId,
    now: i64,
) -> sqlx::Result<Option<Recipient>> {
    let row: Option<(String, i64, bool)> = on!(db, |c| sqlx::query_as(
        "SELECT m.notify, COALESCE(r.seq, 0), u.push_previews
         FROM members m JOIN users u ON u.id = m.user_id
         LEFT JOIN read_markers r ON r.user_id = m.user_id AND r.conversation_id = m.conversation_id
         WHERE m.conversation_id = $1 AND m.user_id = $2",
    )
    .bind(conversation.0)
    .bind(user.0)
    .fetch_optional(c)
    .await)?;
    let Some((notify, read_seq, previews)) = row else {
        return Ok(None);
    };
    let subscriptions = on!(db, |c| sqlx::query_as(
        "SELECT p.session_id, p.endpoint, p.p256dh, p.auth
         FROM push_subscriptions p JOIN sessions s ON s.id = p.session_id
         WHERE p.user_id = $1 AND s.expires_at > $2",
    )
    .bind(user.0)
    .bind(now)
    .fetch_all(c)
    .await)?;
    Ok(Some(Recipient {
        notify: super::notify::level(&notify),
        read_seq,
        previews,
        subscriptions,
    }))
}

/// How a notification names a message's origin: the sender's display name
/// and, for a group, its name (`None` for a direct conversation).
pub async fn origin(
    db: &Db,
    conversation: ConversationId,
    sender: UserId,
) -> sqlx::Result<Option<(String, Option<String>)>> {
    on!(db, |c| sqlx::query_as(
        "SELECT u.display_name, CASE WHEN c.kind = 'group' THEN c.name END
         FROM conversations c, users u WHERE c.id = $1 AND u.id = $2",
    )
    .bind(conversation.0)
    .bind(sender.0)
    .fetch_optional(c)
    .await)
}
