//! Queries on `read_markers`, and the unread counts derived from them.
//! Markers move on the writer's connection, batched with the log's appends.

use super::{on, Db};
use natter_common::{
    api::Receipt,
    frames::ConversationState,
    ids::{ConversationId, UserId},
};

use super::log_tx::{args, LogTx, Result};

/// Unread counts stop at this many; beyond it clients show "999+".
const UNREAD_CAP: i64 = 1000;

/// Where a member stands in a conversation after reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadPosition {
    pub read_seq: i64,
    pub unread: u32,
    pub mentions: u32,
}

/// Moves the marker forward (never back, never past the log's end);
/// returns the resulting position. The caller checks that `user` is a member.
pub fn advance(tx: &LogTx, user: UserId, conversation: ConversationId, seq: i64) -> Result<ReadPosition> {
    tx.execute(
        // The newest seq at or below the one asked for: the seq itself, or
        // the end of the log (seqs have no gaps).
        "INSERT INTO read_markers (user_id, conversation_id, seq)
         SELECT $1, $2, (SELECT COALESCE(MAX(seq), 0) FROM events WHERE conversation_id = $2 AND seq <= $3)
         FROM conversations WHERE id = $2
         ON CONFLICT (user_id, conversation_id) DO UPDATE SET seq = excluded.seq
             WHERE excluded.seq > read_markers.seq",
        args![user.0, conversation.0, seq],
    )?;
    let found = tx.row(STATES, args![user.0, UNREAD_CAP, conversation.0], |row| {
        Ok(ReadPosition {
            read_seq: row.get(2)?,
            unread: count(row.get(3)?),
            mentions: count(row.get(4)?),
        })
    })?;
    Ok(found.unwrap_or_default())
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Conversation id, last seq, read seq, unread count, unread mentions and
/// notification level of each of user $1's conversations (or only $3),
/// counted up to $2.
const STATES: &str = "SELECT m.conversation_id,
        (SELECT COALESCE(MAX(seq), 0) FROM events WHERE conversation_id = m.conversation_id) AS last_seq,
        COALESCE(r.seq, 0) AS read_seq,
        (SELECT COUNT(*) FROM (SELECT 1 FROM events e
            WHERE e.conversation_id = m.conversation_id AND e.seq > COALESCE(r.seq, 0)
              AND e.sender_id <> $1 AND e.kind = 'message' LIMIT $2) AS u) AS unread,
        (SELECT COUNT(*) FROM (SELECT 1 FROM mentions x
            WHERE x.user_id = $1 AND x.conversation_id = m.conversation_id AND x.seq > COALESCE(r.seq, 0)
            LIMIT $2) AS x) AS mentions,
        m.notify
     FROM members m
     LEFT JOIN read_markers r ON r.user_id = $1 AND r.conversation_id = m.conversation_id
     WHERE m.user_id = $1 AND ($3 IS NULL OR m.conversation_id = $3)";

/// How far each other member of `conversation` has read (members who
/// never read anything are left out).
pub async fn receipts(db: &Db, conversation: ConversationId, viewer: UserId) -> sqlx::Result<Vec<Receipt>> {
    let rows: Vec<(i64, i64)> = on!(db, |c| sqlx::query_as(
        "SELECT r.user_id, r.seq FROM read_markers r
         JOIN members m ON m.conversation_id = r.conversation_id AND m.user_id = r.user_id
         WHERE r.conversation_id = $1 AND r.user_id <> $2 AND r.seq > 0
         ORDER BY r.user_id",
    )
    .bind(conversation.0)
    .bind(viewer.0)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(user, seq)| Receipt {
            user_id: UserId(user),
            read_seq: seq,
        })
        .collect())
}

/// Every conversation of `user` (or just `only`) with last seq, read seq,
/// unread counts and notification level.
pub async fn states(db: &Db, user: UserId, only: Option<ConversationId>) -> sqlx::Result<Vec<ConversationState>> {
    let rows: Vec<(i64, i64, i64, i64, i64, String)> = on!(db, |c| sqlx::query_as(STATES)
        .bind(user.0)
        .bind(UNREAD_CAP)
        .bind(only.map(|c| c.0))
        .fetch_all(c)
        .await)?;
    Ok(rows
        .into_iter()
        .map(|(id, last_seq, read_seq, unread, mentions, notify)| ConversationState {
            conversation_id: ConversationId(id),
            last_seq,
            read_seq,
            unread: count(unread),
            mentions: count(mentions),
            notify: super::notify::level(&notify),
        })
        .collect())
}
