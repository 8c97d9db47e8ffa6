//! Appending to a conversation's log, on the writer's blocking connection
//! ([`super::open_direct`]). A batch's checks and inserts run back to back
//! on the writer's thread; through sqlx each statement would be a round trip
//! between the async runtime and the connection's worker thread, two context
//! switches apiece (docs/benchmarks.md).

use natter_common::{
    events::{Event, EventBody},
    ids::{ConversationId, EventId, UserId},
};
use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};

/// Starts a write transaction holding SQLite's write lock from the start
/// (as [`super::begin_write`] does for the pool).
pub fn begin(conn: &mut Connection) -> rusqlite::Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

/// Appends a message if `sender` may post to `conversation` (a member, and
/// for a direct conversation still a contact), checking and inserting in one
/// statement: the writer's hot path. `None` when not allowed or when the
/// sender used this `client_msg_id` already (see [`by_client_msg_id`]): a
/// conflict stores nothing rather than failing, so it can't abort the batch
/// (on PostgreSQL any error would).
pub fn message(
    conn: &Connection,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: &str,
    body: EventBody,
    now: i64,
) -> rusqlite::Result<Option<Event>> {
    const SQL: &str = "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
         SELECT c.id, ?7, ?2, ?3, ?4, ?5, ?6
         FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ?3
         WHERE c.id = ?1 AND (c.kind <> 'direct' OR EXISTS (
             SELECT 1 FROM contacts k WHERE k.user_id = ?3
                 AND k.contact_id = CASE WHEN c.dm_low = ?3 THEN c.dm_high ELSE c.dm_low END))
         ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
         RETURNING seq";
    let id = uuid::Uuid::now_v7().to_string();
    let json = to_json(&body)?;
    // Its own statement: an insert whose SELECT reads `events` would stage
    // the row in a temporary table first.
    let next: i64 = conn
        .prepare_cached(NEXT_SEQ)?
        .query_row([conversation.0], |row| row.get(0))?;
    let seq: Option<i64> = conn
        .prepare_cached(SQL)?
        .query_row(
            params![conversation.0, id, sender.0, client_msg_id, now, json, next],
            |row| row.get(0),
        )
        .optional()?;
    Ok(seq.map(|seq| Event {
        conversation_id: conversation,
        seq,
        id: EventId(id),
        sender,
        client_msg_id: Some(client_msg_id.to_owned()),
        created_at: now,
        body,
        state: None,
    }))
}

/// Appends any event to an existing conversation (rights, and whether its
/// `client_msg_id` was used already, are the caller's to check first).
pub fn event(
    conn: &Connection,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: Option<&str>,
    body: EventBody,
    now: i64,
) -> rusqlite::Result<Event> {
    const SQL: &str = "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    let id = uuid::Uuid::now_v7().to_string();
    let json = to_json(&body)?;
    let seq: i64 = conn
        .prepare_cached(NEXT_SEQ)?
        .query_row([conversation.0], |row| row.get(0))?;
    conn.prepare_cached(SQL)?
        .execute(params![conversation.0, seq, id, sender.0, client_msg_id, now, json])?;
    Ok(Event {
        conversation_id: conversation,
        seq,
        id: EventId(id),
        sender,
        client_msg_id: client_msg_id.map(str::to_owned),
        created_at: now,
        body,
        state: None,
    })
}

/// An event body as stored.
pub(crate) fn to_json(body: &EventBody) -> rusqlite::Result<String> {
    serde_json::to_string(body).map_err(|err| rusqlite::Error::ToSqlConversionFailure(Box::new(err)))
}

/// The seq an event appended to conversation ?1 gets: one past its newest.
/// Run inside the write transaction, so that nobody takes it meanwhile.
const NEXT_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = ?1";

/// The event a sender already stored under this `client_msg_id`, if any.
pub fn by_client_msg_id(conn: &Connection, sender: UserId, client_msg_id: &str) -> rusqlite::Result<Option<Event>> {
    conn.prepare_cached(
        "SELECT conversation_id, seq, id, created_at, body FROM events WHERE sender_id = ?1 AND client_msg_id = ?2",
    )?
    .query_row(params![sender.0, client_msg_id], |row| {
        Ok(super::events::from_parts(
            ConversationId(row.get(0)?),
            row.get(1)?,
            row.get(2)?,
            sender,
            Some(client_msg_id.to_owned()),
            row.get(3)?,
            &row.get::<_, String>(4)?,
        ))
    })
    .optional()
}

/// Whether `sender` may post to `conversation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRight {
    Allowed,
    /// Not a member (or no such conversation).
    NotMember,
    /// A direct conversation whose two users are no longer contacts.
    NotContacts,
}

pub fn send_right(conn: &Connection, conversation: ConversationId, sender: UserId) -> rusqlite::Result<SendRight> {
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT c.kind,
                    (SELECT 1 FROM contacts k WHERE k.user_id = ?2
                        AND k.contact_id = CASE WHEN c.dm_low = ?2 THEN c.dm_high ELSE c.dm_low END)
             FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ?2
             WHERE c.id = ?1",
        )?
        .query_row(params![conversation.0, sender.0], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(match row {
        None => SendRight::NotMember,
        Some((kind, contact)) if kind == "direct" && contact.is_none() => SendRight::NotContacts,
        Some(_) => SendRight::Allowed,
    })
}

/// True when `id` is an event of `conversation` (for replies).
pub fn exists_in(conn: &Connection, conversation: ConversationId, id: &EventId) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM events WHERE id = ?1 AND conversation_id = ?2)")?
        .query_row(params![id.0, conversation.0], |row| row.get(0))
}

/// Whether `user` may see (and so share) the image `media`.
pub fn media_visible_to(conn: &Connection, media: &str, user: UserId) -> rusqlite::Result<bool> {
    conn.prepare_cached(super::media::VISIBLE_TO)?
        .query_row(params![media, user.0], |row| row.get(0))
}

#[cfg(test)]
mod tests {
    use natter_common::events::MessageContent;

    use super::*;
    use crate::db::{self, testing};

    fn text(body: &str) -> EventBody {
        EventBody::Message {
            content: MessageContent::Text { text: body.into() },
            reply_to: None,
            mentions: vec![],
        }
    }

    /// Seqs come from the log itself: messages and other events share one
    /// gap-free sequence, and the derived last seq caps read markers and
    /// listings.
    #[tokio::test]
    async fn messages_and_other_events_share_one_gap_free_sequence() {
        let (pool, _dir) = testing::temp_db().await;
        let (alice, bob) = (testing::user(&pool, "alice").await, testing::user(&pool, "bob").await);
        let group = testing::group(&pool, &[alice, bob]).await;
        let mut conn = db::open_direct(pool.sqlite().unwrap()).unwrap();
        let mut seqs = Vec::new();
        for round in 0..3 {
            let tx = begin(&mut conn).unwrap();
            for n in 0..2 {
                let id = format!("m{round}-{n}");
                seqs.push(message(&tx, group, alice, &id, text("hi"), 0).unwrap().unwrap().seq);
            }
            let renamed = EventBody::GroupRenamed { name: "g".into() };
            seqs.push(event(&tx, group, bob, None, renamed, 0).unwrap().seq);
            tx.commit().unwrap();
        }
        assert_eq!(seqs, (1..=9).collect::<Vec<i64>>());
        // A read marker never passes the end of the log.
        let read = db::read_markers::advance(&conn, bob, group, 1_000).unwrap();
        assert_eq!((read.read_seq, read.unread), (9, 0));
        let listed = db::conversations::list_for(&pool, bob).await.unwrap();
        assert_eq!(listed[0].last_seq, 9);
        assert_eq!(listed[0].last_event.as_ref().map(|e| e.seq), Some(9));
    }

    #[tokio::test]
    async fn a_repeated_client_msg_id_is_a_repeat_and_a_stranger_is_refused() {
        let (pool, _dir) = testing::temp_db().await;
        let (alice, eve) = (testing::user(&pool, "alice").await, testing::user(&pool, "eve").await);
        let group = testing::group(&pool, &[alice]).await;
        let mut conn = db::open_direct(pool.sqlite().unwrap()).unwrap();
        let tx = begin(&mut conn).unwrap();
        let first = message(&tx, group, alice, "same", text("one"), 0).unwrap().unwrap();
        assert!(
            message(&tx, group, alice, "same", text("two"), 0).unwrap().is_none(),
            "a repeat stores nothing"
        );
        assert_eq!(
            by_client_msg_id(&tx, alice, "same").unwrap().map(|e| e.id),
            Some(first.id)
        );
        assert!(message(&tx, group, eve, "x", text("let me in"), 0).unwrap().is_none());
        assert_eq!(send_right(&tx, group, eve).unwrap(), SendRight::NotMember);
        assert_eq!(send_right(&tx, group, alice).unwrap(), SendRight::Allowed);
    }
}
