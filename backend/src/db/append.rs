//! Appending to a conversation's log, in the writer's transaction
//! ([`LogTx`]).

use natter_common::{
    events::{Event, EventBody},
    ids::{ConversationId, EventId, UserId},
};

use super::log_tx::{args, LogTx, Result};

/// Appends a message if `sender` may post to `conversation` (a member, and
/// for a direct conversation still a contact), checking and inserting in one
/// statement: the writer's hot path. `None` when not allowed or when the
/// sender used this `client_msg_id` already (see [`by_client_msg_id`]): a
/// conflict stores nothing rather than failing, so it can't abort the batch
/// (on PostgreSQL any error would).
pub fn message(
    tx: &LogTx,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: &str,
    body: EventBody,
    now: i64,
) -> Result<Option<Event>> {
    macro_rules! append_message {
        ($seq:literal, $returning:literal) => {
            concat!(
                "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
                 SELECT c.id, ",
                $seq,
                ", $2, $3, $4, $5, $6
                 FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = $3
                 WHERE c.id = $1 AND (c.kind <> 'direct' OR EXISTS (
                     SELECT 1 FROM contacts k WHERE k.user_id = $3
                         AND k.contact_id = CASE WHEN c.dm_low = $3 THEN c.dm_high ELSE c.dm_low END))
                 ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING ",
                $returning
            )
        };
    }
    let id = uuid::Uuid::now_v7().to_string();
    let json = serde_json::to_string(&body)?;
    let seq: Option<i64> = if tx.shared() {
        // PostgreSQL reads the next seq inside the insert: one round trip
        // to the server instead of two.
        tx.value(
            append_message!(
                "(SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = $1)",
                "RETURNING seq"
            ),
            args![conversation.0, &id, sender.0, client_msg_id, now, &json],
        )?
    } else {
        // SQLite would stage an insert whose SELECT reads `events` in a
        // temporary table first: the next seq is a statement of its own.
        // The seq is known, then, and a row count says whether it was
        // stored (RETURNING would gather its rows in a table of its own).
        let next = next_seq(tx, conversation)?;
        let stored = tx.execute(
            append_message!("$7", ""),
            args![conversation.0, &id, sender.0, client_msg_id, now, &json, next],
        )?;
        (stored == 1).then_some(next)
    };
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
    tx: &LogTx,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: Option<&str>,
    body: EventBody,
    now: i64,
) -> Result<Event> {
    const SQL: &str = "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7)";
    let id = uuid::Uuid::now_v7().to_string();
    let json = serde_json::to_string(&body)?;
    let seq = next_seq(tx, conversation)?;
    tx.execute(
        SQL,
        args![conversation.0, seq, &id, sender.0, client_msg_id, now, &json],
    )?;
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

/// The seq an event appended to `conversation` gets: one past its newest.
/// Nobody takes it meanwhile: SQLite's write lock, or on PostgreSQL the
/// conversation's row lock ([`LogTx::lock_conversations`]), is held until
/// the commit.
fn next_seq(tx: &LogTx, conversation: ConversationId) -> Result<i64> {
    let next = tx.value(
        "SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = $1",
        args![conversation.0],
    )?;
    Ok(next.unwrap_or(1))
}

/// The event a sender already stored under this `client_msg_id`, if any.
pub fn by_client_msg_id(tx: &LogTx, sender: UserId, client_msg_id: &str) -> Result<Option<Event>> {
    tx.row(
        "SELECT conversation_id, seq, id, created_at, body FROM events WHERE sender_id = $1 AND client_msg_id = $2",
        args![sender.0, client_msg_id],
        |row| {
            Ok(super::events::from_parts(
                ConversationId(row.get(0)?),
                row.get(1)?,
                row.get(2)?,
                sender,
                Some(client_msg_id.to_owned()),
                row.get(3)?,
                &row.get::<String>(4)?,
            ))
        },
    )
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

pub fn send_right(tx: &LogTx, conversation: ConversationId, sender: UserId) -> Result<SendRight> {
    let row: Option<(String, bool)> = tx.row(
        "SELECT c.kind,
                EXISTS (SELECT 1 FROM contacts k WHERE k.user_id = $2
                    AND k.contact_id = CASE WHEN c.dm_low = $2 THEN c.dm_high ELSE c.dm_low END)
         FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = $2
         WHERE c.id = $1",
        args![conversation.0, sender.0],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    Ok(match row {
        None => SendRight::NotMember,
        Some((kind, contact)) if kind == "direct" && !contact => SendRight::NotContacts,
        Some(_) => SendRight::Allowed,
    })
}

/// True when `id` is an event of `conversation` (for replies).
pub fn exists_in(tx: &LogTx, conversation: ConversationId, id: &EventId) -> Result<bool> {
    let found = tx.value(
        "SELECT EXISTS (SELECT 1 FROM events WHERE id = $1 AND conversation_id = $2)",
        args![&id.0, conversation.0],
    )?;
    Ok(found.unwrap_or(false))
}

/// Whether `user` may see (and so share) the image `media`.
pub fn media_visible_to(tx: &LogTx, media: &str, user: UserId) -> Result<bool> {
    let visible = tx.value(super::media::VISIBLE_TO, args![media, user.0])?;
    Ok(visible.unwrap_or(false))
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
        for (db, _dir) in testing::each_db().await {
            let kind = testing::kind(&db);
            let (alice, bob) = (testing::user(&db, "alice").await, testing::user(&db, "bob").await);
            let group = testing::group(&db, &[alice, bob]).await;
            let mut seqs = Vec::new();
            for round in 0..3 {
                let stored = testing::in_log_tx(&db, move |tx| {
                    let mut seqs = Vec::new();
                    for n in 0..2 {
                        let id = format!("m{round}-{n}");
                        seqs.push(message(tx, group, alice, &id, text("hi"), 0).unwrap().unwrap().seq);
                    }
                    let renamed = EventBody::GroupRenamed { name: "g".into() };
                    seqs.push(event(tx, group, bob, None, renamed, 0).unwrap().seq);
                    seqs
                })
                .await;
                seqs.extend(stored);
            }
            assert_eq!(seqs, (1..=9).collect::<Vec<i64>>(), "{kind}");
            // A read marker never passes the end of the log.
            let read =
                testing::in_log_tx(&db, move |tx| db::read_markers::advance(tx, bob, group, 1_000).unwrap()).await;
            assert_eq!((read.read_seq, read.unread), (9, 0), "{kind}");
            let listed = db::conversations::list_for(&db, bob).await.unwrap();
            assert_eq!(listed[0].last_seq, 9, "{kind}");
            assert_eq!(listed[0].last_event.as_ref().map(|e| e.seq), Some(9), "{kind}");
        }
    }

    #[tokio::test]
    async fn a_repeated_client_msg_id_is_a_repeat_and_a_stranger_is_refused() {
        for (db, _dir) in testing::each_db().await {
            let kind = testing::kind(&db);
            let (alice, eve) = (testing::user(&db, "alice").await, testing::user(&db, "eve").await);
            let group = testing::group(&db, &[alice]).await;
            testing::in_log_tx(&db, move |tx| {
                let first = message(tx, group, alice, "same", text("one"), 0).unwrap().unwrap();
                assert!(
                    message(tx, group, alice, "same", text("two"), 0).unwrap().is_none(),
                    "{kind}: a repeat stores nothing"
                );
                assert_eq!(
                    by_client_msg_id(tx, alice, "same").unwrap().map(|e| e.id),
                    Some(first.id.clone()),
                    "{kind}"
                );
                assert!(
                    message(tx, group, eve, "x", text("let me in"), 0).unwrap().is_none(),
                    "{kind}"
                );
                assert_eq!(send_right(tx, group, eve).unwrap(), SendRight::NotMember, "{kind}");
                assert_eq!(send_right(tx, group, alice).unwrap(), SendRight::Allowed, "{kind}");
                assert!(!exists_in(tx, group, &EventId("nope".into())).unwrap(), "{kind}");
                assert!(exists_in(tx, group, &first.id).unwrap(), "{kind}");
                assert!(!media_visible_to(tx, "nope", alice).unwrap(), "{kind}");
            })
            .await;
        }
    }
}
