//! Notification settings: each member's level per conversation and each
//! account's preview choice.

use super::{on, Db};
use natter_common::{
    api::NotifyLevel,
    ids::{ConversationId, UserId},
};

/// A level as stored in `members.notify`.
pub fn level_name(level: NotifyLevel) -> &'static str {
    match level {
        NotifyLevel::All => "all",
        NotifyLevel::Mentions => "mentions",
        NotifyLevel::Muted => "muted",
        NotifyLevel::Default | NotifyLevel::Unknown => "default",
    }
}

pub fn level(name: &str) -> NotifyLevel {
    match name {
        "all" => NotifyLevel::All,
        "mentions" => NotifyLevel::Mentions,
        "muted" => NotifyLevel::Muted,
        _ => NotifyLevel::Default,
    }
}

/// `user`'s level in `conversation`; `None` when not a member.
pub async fn get(db: &Db, user: UserId, conversation: ConversationId) -> sqlx::Result<Option<NotifyLevel>> {
    let name: Option<String> = on!(db, |c| sqlx::query_scalar(
        "SELECT notify FROM members WHERE conversation_id = $1 AND user_id = $2"
    )
    .bind(conversation.0)
    .bind(user.0)
    .fetch_optional(c)
    .await)?;
    Ok(name.as_deref().map(level))
}

/// Sets `user`'s level in `conversation`; false when not a member.
pub async fn set(db: &Db, user: UserId, conversation: ConversationId, notify: NotifyLevel) -> sqlx::Result<bool> {
    let done = on!(db, |c| sqlx::query(
        "UPDATE members SET notify = $3 WHERE conversation_id = $1 AND user_id = $2"
    )
    .bind(conversation.0)
    .bind(user.0)
    .bind(level_name(notify))
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(done == 1)
}

pub async fn previews(db: &Db, user: UserId) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT push_previews FROM users WHERE id = $1"
    )
    .bind(user.0)
    .fetch_one(c)
    .await)
}

pub async fn set_previews(db: &Db, user: UserId, on: bool) -> sqlx::Result<()> {
    on!(db, |c| sqlx::query("UPDATE users SET push_previews = $2 WHERE id = $1")
        .bind(user.0)
        .bind(on)
        .execute(c)
        .await
        .map(|done| done.rows_affected()))?;
    Ok(())
}
