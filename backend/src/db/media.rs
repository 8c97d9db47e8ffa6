//! Queries on `media` and `media_uploads`, and who may see an image.

use natter_common::ids::UserId;
use sqlx::{SqliteConnection, SqlitePool};

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

pub async fn by_id(pool: &SqlitePool, id: &str) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn by_original(pool: &SqlitePool, original_sha256: &str) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE original_sha256 = $1"))
        .bind(original_sha256)
        .fetch_optional(pool)
        .await
}

/// Records a processed upload (once per content) and its uploader.
pub async fn insert(
    pool: &SqlitePool,
    original_sha256: &str,
    p: &Processed,
    user: UserId,
    now: i64,
) -> sqlx::Result<MediaRow> {
    let mut tx = crate::db::begin_write(pool).await?;
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
    .execute(&mut *tx)
    .await?;
    record_upload(&mut tx, &p.id, user, now).await?;
    let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE id = $1"))
        .bind(&p.id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn record_upload(conn: &mut SqliteConnection, media: &str, user: UserId, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO media_uploads (media_id, user_id, uploaded_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(media)
    .bind(user.0)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether user $2 may see media $1: the uploader, and members of any
/// conversation where it was posted, may. Shared with [`super::append`].
pub(crate) const VISIBLE_TO: &str = "SELECT EXISTS (SELECT 1 FROM media_uploads WHERE media_id = $1 AND user_id = $2)
    OR EXISTS (SELECT 1 FROM events e JOIN members m ON m.conversation_id = e.conversation_id AND m.user_id = $2
               WHERE e.media_id = $1)";

/// The uploader, and members of any conversation where it was posted, may see it.
pub async fn visible_to(conn: &mut SqliteConnection, media: &str, user: UserId) -> sqlx::Result<bool> {
    sqlx::query_scalar(VISIBLE_TO)
        .bind(media)
        .bind(user.0)
        .fetch_one(conn)
        .await
}
