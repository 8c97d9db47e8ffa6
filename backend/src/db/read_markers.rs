//! Queries on `read_markers`, and the unread counts derived from them.

use natter_common::{
    api::Receipt,
    frames::ConversationState,
    ids::{ConversationId, UserId},
};
use sqlx::SqlitePool;

/// Unread counts stop at this many; beyond it clients show "999+".
const UNREAD_CAP: i64 = 1000;

/// Moves the marker forward (never back, never past the log's end);
/// returns the resulting read seq and unread count.
pub async fn advance(
    pool: &SqlitePool,
    user: UserId,
    conversation: ConversationId,
    seq: i64,
) -> sqlx::Result<(i64, u32)> {
    sqlx::query(
        "INSERT INTO read_markers (user_id, conversation_id, seq)
         SELECT ?1, ?2, MIN(?3, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE conversation_id = ?2))
         FROM conversations WHERE id = ?2
         ON CONFLICT (user_id, conversation_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
    )
    .bind(user.0)
    .bind(conversation.0)
    .bind(seq)
    .execute(pool)
    .await?;
    let state = states(pool, user, Some(conversation)).await?;
    Ok(state.first().map_or((0, 0), |s| (s.read_seq, s.unread)))
}

/// How far each other member of `conversation` has read (members who
/// never read anything are left out).
pub async fn receipts(pool: &SqlitePool, conversation: ConversationId, viewer: UserId) -> sqlx::Result<Vec<Receipt>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT r.user_id, r.seq FROM read_markers r
         JOIN members m ON m.conversation_id = r.conversation_id AND m.user_id = r.user_id
         WHERE r.conversation_id = ?1 AND r.user_id <> ?2 AND r.seq > 0
         ORDER BY r.user_id",
    )
    .bind(conversation.0)
    .bind(viewer.0)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(user, seq)| Receipt {
            user_id: UserId(user),
            read_seq: seq,
        })
        .collect())
}

/// Every conversation of `user` (or just `only`) with last seq, read seq and
/// unread count.
pub async fn states(
    pool: &SqlitePool,
    user: UserId,
    only: Option<ConversationId>,
) -> sqlx::Result<Vec<ConversationState>> {
    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT m.conversation_id,
                (SELECT COALESCE(MAX(seq), 0) FROM events WHERE conversation_id = m.conversation_id) AS last_seq,
                COALESCE(r.seq, 0) AS read_seq,
                (SELECT COUNT(*) FROM (SELECT 1 FROM events e
                    WHERE e.conversation_id = m.conversation_id AND e.seq > COALESCE(r.seq, 0)
                      AND e.sender_id <> ?1 AND e.kind = 'message' LIMIT ?3)) AS unread
         FROM members m
         LEFT JOIN read_markers r ON r.user_id = ?1 AND r.conversation_id = m.conversation_id
         WHERE m.user_id = ?1 AND (?2 IS NULL OR m.conversation_id = ?2)",
    )
    .bind(user.0)
    .bind(only.map(|c| c.0))
    .bind(UNREAD_CAP)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, last_seq, read_seq, unread)| ConversationState {
            conversation_id: ConversationId(id),
            last_seq,
            read_seq,
            unread: u32::try_from(unread).unwrap_or(u32::MAX),
        })
        .collect())
}
