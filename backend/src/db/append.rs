//! Appending to a conversation's log, in the writer's transaction
//! ([`LogTx`]).

use natter_common::{
    events::{Event, EventBody},
    ids::{ConversationId, EventId, UserId},
};

use super::log_tx::{args, Error, LogTx, Result};

// Whether the sender may post here: a member, and for a direct
// conversation still a contact of the other member.
macro_rules! allowed {
    ($sender:literal) => {
        concat!(
            "FROM conversations c JOIN members m ON m.conversation_id = c.id AND m.user_id = ",
            $sender,
            " WHERE c.id = $1 AND (c.kind <> 'direct' OR EXISTS (
                 SELECT 1 FROM contacts k WHERE k.user_id = ",
            $sender,
            " AND k.contact_id = CASE WHEN c.dm_low = ",
            $sender,
            " THEN c.dm_high ELSE c.dm_low END))"
        )
    };
}

/// Appends a message if `sender` may post to `conversation` (a member, and
/// for a direct conversation still a contact): the writer's hot path, one
/// statement on PostgreSQL, a check and a one-row insert on SQLite. `None`
/// when not allowed or when the sender used this `client_msg_id` already
/// (see [`by_client_msg_id`]): a conflict stores nothing rather than
/// failing, so it can't abort the batch (on PostgreSQL any error would).
pub fn message(
    tx: &LogTx,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: &str,
    body: EventBody,
    now: i64,
) -> Result<Option<Event>> {
    let message = NewMessage {
        conversation,
        sender,
        client_msg_id,
        body,
    };
    if !tx.shared() {
        return Ok(sqlite_messages(tx, vec![message], now)?.pop().flatten());
    }
    // PostgreSQL reads the next seq inside the insert: one round trip to
    // the server instead of two.
    let id = uuid::Uuid::now_v7().to_string();
    let json = serde_json::to_string(&message.body)?;
    let seq: Option<i64> = tx.value(
        concat!(
            "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
             SELECT c.id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = $1),
                 $2, $3, $4, $5, $6 ",
            allowed!("$3"),
            " ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING RETURNING seq"
        ),
        args![conversation.0, &id, sender.0, client_msg_id, now, &json],
    )?;
    Ok(seq.map(|seq| message.stored(seq, id, now)))
}

/// A message for [`messages`], checked and numbered as [`message`] does.
pub struct NewMessage<'a> {
    pub conversation: ConversationId,
    pub sender: UserId,
    pub client_msg_id: &'a str,
    pub body: EventBody,
}

/// SQLite's one-row insert of a numbered message, after the check and the
/// next seq in a statement of their own. An `INSERT … SELECT` may write
/// several rows, so SQLite ran it under a statement journal (a copy of
/// every page it first touched) and checked the reactions that could point
/// at the new row; a one-row insert needs neither. The seq is known, and a
/// row count says whether it was stored (a repeated `client_msg_id`):
/// RETURNING would gather its row in a table.
const SQLITE_INSERT: &str = "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING";

/// The seq a message from `sender` would take in `conversation`; `None`
/// when the sender may not post there.
fn sqlite_next_if_allowed(tx: &LogTx, conversation: ConversationId, sender: UserId) -> Result<Option<i64>> {
    tx.value(
        concat!(
            "SELECT (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = $1) ",
            allowed!("$2")
        ),
        args![conversation.0, sender.0],
    )
}

impl NewMessage<'_> {
    /// The event it became, stored as `seq` under `id`.
    fn stored(self, seq: i64, id: String, now: i64) -> Event {
        Event {
            conversation_id: self.conversation,
            seq,
            id: EventId(id),
            sender: self.sender,
            client_msg_id: Some(self.client_msg_id.to_owned()),
            created_at: now,
            body: self.body,
            state: None,
        }
    }
}

/// Appends a run of messages, each as [`message`] would, and returns their
/// results in the same order. On PostgreSQL one statement stores the whole
/// run: a round trip per message was most of a node's writing. SQLite, in
/// process, checks each sender once per conversation.
pub fn messages(tx: &LogTx, run: Vec<NewMessage>, now: i64) -> Result<Vec<Option<Event>>> {
    if !tx.shared() {
        return sqlite_messages(tx, run, now);
    }
    // Each message numbered after its conversation's newest (whose row
    // lock this transaction holds), in run order, skipping any the sender
    // may not post or sent before. `stored` says which the insert took.
    const SQL: &str = "WITH input AS (
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY
                 AS i(conversation_id, id, sender_id, client_msg_id, body, n)
         ), numbered AS MATERIALIZED (
             SELECT i.*, row_number() OVER (PARTITION BY i.conversation_id ORDER BY i.n)
                 + (SELECT COALESCE(MAX(e.seq), 0) FROM events e WHERE e.conversation_id = i.conversation_id) AS seq
             FROM input i
             JOIN conversations c ON c.id = i.conversation_id
             JOIN members m ON m.conversation_id = c.id AND m.user_id = i.sender_id
             WHERE (c.kind <> 'direct' OR EXISTS (
                     SELECT 1 FROM contacts k WHERE k.user_id = i.sender_id
                         AND k.contact_id = CASE WHEN c.dm_low = i.sender_id THEN c.dm_high ELSE c.dm_low END))
                 AND NOT EXISTS (SELECT 1 FROM events e WHERE e.sender_id = i.sender_id AND e.client_msg_id = i.client_msg_id)
         ), stored AS (
             INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
             SELECT conversation_id, seq, id, sender_id, client_msg_id, $6, body FROM numbered ORDER BY n
             ON CONFLICT (sender_id, client_msg_id) WHERE client_msg_id IS NOT NULL DO NOTHING
             RETURNING id
         )
         SELECT n.n, n.seq, s.id IS NOT NULL FROM numbered n LEFT JOIN stored s ON s.id = n.id";
    // A repeat within the run is left out: the caller finds the first.
    let mut seen = std::collections::HashSet::new();
    let sent: Vec<&NewMessage> = run
        .iter()
        .filter(|m| seen.insert((m.sender, m.client_msg_id)))
        .collect();
    let ids: Vec<String> = sent.iter().map(|_| uuid::Uuid::now_v7().to_string()).collect();
    let conversations: Vec<i64> = sent.iter().map(|m| m.conversation.0).collect();
    let senders: Vec<i64> = sent.iter().map(|m| m.sender.0).collect();
    let client_ids: Vec<String> = sent.iter().map(|m| m.client_msg_id.to_owned()).collect();
    let bodies = sent
        .iter()
        .map(|m| serde_json::to_string(&m.body))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let numbered = tx.rows(
        SQL,
        args![&conversations, &ids, &senders, &client_ids, &bodies, now],
        |row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?, row.get::<bool>(2)?)),
    )?;
    // By (sender, client_msg_id), which the run holds once each.
    let mut stored = std::collections::HashMap::new();
    for (n, seq, taken) in numbered {
        // Numbered but not taken: another node stored the same
        // (sender, client_msg_id) since this statement began, and the seqs
        // after it would leave a gap. Run again, it is seen and skipped.
        if !taken {
            return Err(Error::Raced);
        }
        let i = (n - 1) as usize;
        stored.insert((senders[i], client_ids[i].as_str()), (seq, ids[i].clone()));
    }
    let mut events = Vec::with_capacity(run.len());
    for m in run {
        let found = stored.remove(&(m.sender.0, m.client_msg_id));
        events.push(found.map(|(seq, id)| m.stored(seq, id, now)));
    }
    Ok(events)
}

/// [`messages`] on SQLite. A run holds sends only, so no membership or
/// contact changes inside it: a sender's right to post in a conversation is
/// looked up once, and each conversation's next seq is counted here rather
/// than read again (a run under load is hundreds of messages to a few
/// conversations; the look-up was a third of the writer's time per message).
fn sqlite_messages(tx: &LogTx, run: Vec<NewMessage>, now: i64) -> Result<Vec<Option<Event>>> {
    use std::collections::{hash_map::Entry, HashMap};
    let mut allowed: HashMap<(ConversationId, UserId), bool> = HashMap::new();
    let mut next: HashMap<ConversationId, i64> = HashMap::new();
    let mut insert = tx.repeat(SQLITE_INSERT)?;
    let mut events = Vec::with_capacity(run.len());
    for m in run {
        let may = match allowed.entry((m.conversation, m.sender)) {
            Entry::Occupied(known) => *known.get(),
            Entry::Vacant(new) => {
                let found = sqlite_next_if_allowed(tx, m.conversation, m.sender)?;
                if let Some(seq) = found {
                    next.insert(m.conversation, seq);
                }
                *new.insert(found.is_some())
            }
        };
        // An allowed sender's look-up counted the conversation's seqs.
        let seq = match next.get_mut(&m.conversation) {
            Some(seq) if may => seq,
            _ => {
                events.push(None);
                continue;
            }
        };
        let id = uuid::Uuid::now_v7().to_string();
        let json = serde_json::to_string(&m.body)?;
        let stored = insert.execute(args![
            m.conversation.0,
            *seq,
            &id,
            m.sender.0,
            m.client_msg_id,
            now,
            &json
        ])? == 1;
        if stored {
            events.push(Some(m.stored(*seq, id, now)));
            *seq += 1;
        } else {
            events.push(None);
        }
    }
    Ok(events)
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

    fn new(conversation: ConversationId, sender: UserId, client_msg_id: &str) -> NewMessage<'_> {
        NewMessage {
            conversation,
            sender,
            client_msg_id,
            body: text(client_msg_id),
        }
    }

    /// A run is numbered per conversation in run order, after what the log
    /// holds, and stores nothing for a stranger or a repeat (earlier, or
    /// within the run), as one message at a time would.
    #[tokio::test]
    async fn a_run_of_messages_is_numbered_in_order_and_skips_what_one_message_would() {
        for (db, _dir) in testing::each_db().await {
            let kind = testing::kind(&db);
            let (alice, bob, eve) = (
                testing::user(&db, "alice").await,
                testing::user(&db, "bob").await,
                testing::user(&db, "eve").await,
            );
            let (one, two, three) = (
                testing::group(&db, &[alice, bob]).await,
                testing::group(&db, &[alice, bob]).await,
                testing::group(&db, &[alice, eve]).await,
            );
            testing::in_log_tx(&db, move |tx| message(tx, one, alice, "early", text("hi"), 0).unwrap()).await;
            let stored = testing::in_log_tx(&db, move |tx| {
                let run = vec![
                    new(one, alice, "a1"),
                    new(two, bob, "b1"),
                    new(one, eve, "e1"),
                    new(one, bob, "b2"),
                    new(two, alice, "a1"),
                    new(one, alice, "early"),
                    new(two, alice, "a2"),
                    new(three, eve, "e2"),
                    new(one, eve, "e3"),
                    new(one, bob, "b3"),
                    new(three, alice, "a3"),
                    new(three, eve, "e4"),
                ];
                let events = messages(tx, run, 7).unwrap();
                let found = by_client_msg_id(tx, alice, "a1").unwrap().unwrap();
                (events, found)
            })
            .await;
            let (events, found) = stored;
            let got: Vec<Option<(i64, i64, String)>> = events
                .iter()
                .map(|e| {
                    e.as_ref().map(|e| {
                        let EventBody::Message {
                            content: MessageContent::Text { text },
                            ..
                        } = &e.body
                        else {
                            panic!("{kind}: a message");
                        };
                        (e.conversation_id.0, e.seq, text.clone())
                    })
                })
                .collect();
            assert_eq!(
                got,
                vec![
                    Some((one.0, 2, "a1".into())),
                    Some((two.0, 1, "b1".into())),
                    None,
                    Some((one.0, 3, "b2".into())),
                    None,
                    None,
                    Some((two.0, 2, "a2".into())),
                    Some((three.0, 1, "e2".into())),
                    None,
                    Some((one.0, 4, "b3".into())),
                    Some((three.0, 2, "a3".into())),
                    Some((three.0, 3, "e4".into())),
                ],
                "{kind}"
            );
            assert!(events.iter().flatten().all(|e| e.created_at == 7), "{kind}");
            assert_eq!(
                (found.conversation_id, found.seq),
                (one, 2),
                "{kind}: the first a1 is the stored one"
            );
            assert_eq!(Some(&found.id), events[0].as_ref().map(|e| &e.id), "{kind}");
            let next = testing::in_log_tx(&db, move |tx| message(tx, one, bob, "late", text("x"), 0).unwrap()).await;
            assert_eq!(next.map(|e| e.seq), Some(5), "{kind}: no gap after the run");
        }
    }

    /// The one race a run can lose on PostgreSQL: another node stores the
    /// same sender's `client_msg_id` (in another conversation, so no row
    /// lock orders them) while the run's insert waits on it. Stored as is,
    /// the run would leave a gap; it fails as retryable instead, and run
    /// again it skips the message as a repeat.
    #[tokio::test]
    async fn a_run_that_races_another_node_for_a_client_msg_id_is_run_again_without_a_gap() {
        let (db, _) = testing::each_db().await.pop().expect("PostgreSQL");
        let db::Db::Postgres(pool) = &db else {
            panic!("PostgreSQL last")
        };
        let alice = testing::user(&db, "alice").await;
        let (one, two) = (testing::group(&db, &[alice]).await, testing::group(&db, &[alice]).await);
        let mut other_node = pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
             VALUES ($1, 1, 'other', $2, 'dup', 0, '{\"type\":\"message\",\"content\":{\"type\":\"text\",\"text\":\"x\"}}')",
        )
        .bind(two.0)
        .bind(alice.0)
        .execute(&mut *other_node)
        .await
        .unwrap();
        // As the writer runs a batch: committed only when it succeeds.
        let run = |pool: sqlx::PgPool| {
            let rt = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || -> Result<Vec<Option<i64>>> {
                let tx = LogTx::postgres(&pool, rt)?;
                let events = messages(&tx, vec![new(one, alice, "dup"), new(one, alice, "after")], 0)?;
                tx.commit()?;
                Ok(events.into_iter().map(|e| e.map(|e| e.seq)).collect())
            })
        };
        let racing = run(pool.clone());
        // Until the run's insert waits on the other transaction.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(pool)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the run never waited on the other node"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        other_node.commit().await.unwrap();
        let raced = racing.await.unwrap();
        assert!(matches!(raced, Err(Error::Raced)), "{raced:?}");
        assert!(raced.unwrap_err().is_retryable());
        assert_eq!(run(pool.clone()).await.unwrap().unwrap(), vec![None, Some(1)]);
    }
}
