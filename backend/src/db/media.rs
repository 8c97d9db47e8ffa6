//! Queries on `media` and `media_uploads`, and who may see an image.

use super::{on, on_any, on_tx, Db, On};
use natter_common::ids::UserId;

use crate::media::Processed;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MediaRow {
    pub id: String,
    pub mime: String,
    pub width: i64,
    pub height: i64,
    pub size: i64,
    pub thumb_mime: String,
}

const COLUMNS: &str = "id, mime, width, height, size, thumb_mime";

pub async fn by_id(db: &Db, id: &str) -> sqlx::Result<Option<MediaRow>> {
    on!(db, |c| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM media WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(c)
    .await)
}

pub async fn by_original(db: &Db, original_sha256: &str) -> sqlx::Result<Option<MediaRow>> {
    on!(db, |c| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM media WHERE original_sha256 = $1"
    ))
    .bind(original_sha256)
    .fetch_optional(c)
    .await)
}

/// Records a processed upload (once per content) and its uploader.
pub async fn insert(db: &Db, original_sha256: &str, p: &Processed, user: UserId, now: i64) -> sqlx::Result<MediaRow> {
    let mut tx = db.begin_write().await?;
    on_tx!(&mut tx, |c| {
        sqlx::query(
        "INSERT INTO media (id, original_sha256, mime, width, height, size, thumb_mime, thumb_width, thumb_height, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
    )
    .bind(&p.id)
    .bind(original_sha256)
    .bind(p.mime)
    .bind(i64::from(p.width))
    .bind(i64::from(p.height))
    .bind(p.bytes.len() as i64)
    .bind(p.thumb_mime)
    .bind(i64::from(p.thumb_width))
    .bind(i64::from(p.thumb_height))
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected())
    })?;
    record_upload(&mut tx, &p.id, user, now).await?;
    let row = on_tx!(&mut tx, |c| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM media WHERE id = $1"
    ))
    .bind(&p.id)
    .fetch_one(c)
    .await)?;
    tx.commit().await?;
    Ok(row)
}

pub async fn record_upload(on: impl Into<On<'_>>, media: &str, user: UserId, now: i64) -> sqlx::Result<()> {
    on_any!(on.into(), |c| sqlx::query(
        "INSERT INTO media_uploads (media_id, user_id, uploaded_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(media)
    .bind(user.0)
    .bind(now)
    .execute(c)
    .await
    .map(|done| done.rows_affected()))?;
    Ok(())
}

/// Whether user $2 may see media $1: the uploader, and members of any
/// conversation where it was posted, may. Shared with [`super::append`].
pub(crate) const VISIBLE_TO: &str = "SELECT EXISTS (SELECT 1 FROM media_uploads WHERE media_id = $1 AND user_id = $2)
    OR EXISTS (SELECT 1 FROM events e JOIN members m ON m.conversation_id = e.conversation_id AND m.user_id = $2
               WHERE e.media_id = $1)
    OR EXISTS (SELECT 1 FROM users WHERE avatar_media_id = $1)";

/// The uploader, members of any conversation where it was posted, and —
/// for someone's avatar — everyone may see it.
pub async fn visible_to(db: &Db, media: &str, user: UserId) -> sqlx::Result<bool> {
    on!(db, |c| sqlx::query_scalar(VISIBLE_TO)
        .bind(media)
        .bind(user.0)
        .fetch_one(c)
        .await)
}
