//! Reading a conversation's log: a page at a time, messages as they are
//! now, and raw for the search indexer (appending is the writer's:
//! [`super::append`]).

use std::collections::HashMap;

use super::{
    log_tx::{self, args, LogTx, Row},
    on, Db,
};
use natter_common::{
    events::{Event, EventBody, MessageState, Reactions},
    ids::{ConversationId, EventId, UserId},
    limits::REACTION_USERS_SHOWN,
};

#[derive(sqlx::FromRow)]
struct EventRow {
    conversation_id: i64,
    seq: i64,
    id: String,
    sender_id: i64,
    client_msg_id: Option<String>,
    created_at: i64,
    body: String,
    edited_at: Option<i64>,
}

impl From<EventRow> for Event {
    fn from(row: EventRow) -> Self {
        Event {
            conversation_id: ConversationId(row.conversation_id),
            seq: row.seq,
            id: EventId(row.id),
            sender: UserId(row.sender_id),
            client_msg_id: row.client_msg_id,
            created_at: row.created_at,
            // Written by this server from an EventBody; a body it can't read
            // back came from a newer version and shows as unknown.
            body: serde_json::from_str(&row.body).unwrap_or(EventBody::Unknown),
            state: None,
        }
    }
}

/// An event from its stored columns.
pub(crate) fn from_parts(
    conversation: ConversationId,
    seq: i64,
    id: String,
    sender: UserId,
    client_msg_id: Option<String>,
    created_at: i64,
    body: &str,
) -> Event {
    EventRow {
        conversation_id: conversation.0,
        seq,
        id,
        sender_id: sender.0,
        client_msg_id,
        created_at,
        body: body.to_owned(),
        edited_at: None,
    }
    .into()
}

/// The newest seq of each of `conversations` that has events (a node's
/// check that it has delivered everything: [`crate::hub`]).
pub async fn newest(db: &Db, conversations: &[ConversationId]) -> sqlx::Result<Vec<(ConversationId, i64)>> {
    let mut found = Vec::with_capacity(conversations.len());
    // Bounded statements: SQLite caps a statement's parameters.
    for chunk in conversations.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|c| c.0.to_string()).collect();
        // Integers only, joined here: one statement for any count, on both databases.
        let sql = format!(
            "SELECT conversation_id, MAX(seq) FROM events WHERE conversation_id IN ({}) GROUP BY conversation_id",
            ids.join(",")
        );
        // Not kept prepared: its text changes with every list.
        let rows: Vec<(i64, i64)> = on!(db, |c| sqlx::query_as(&sql).persistent(false).fetch_all(c).await)?;
        found.extend(rows.into_iter().map(|(c, seq)| (ConversationId(c), seq)));
    }
    Ok(found)
}

/// The events of `conversation` after `after` up to `until` (inclusive), at
/// most `limit`, as they read now, in order.
pub async fn between(
    db: &Db,
    conversation: ConversationId,
    after: i64,
    until: i64,
    limit: u32,
) -> sqlx::Result<Vec<Event>> {
    let rows: Vec<EventRow> = on!(db, |c| sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM events WHERE conversation_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4"
    ))
    .bind(conversation.0)
    .bind(after)
    .bind(until)
    .bind(i64::from(limit))
    .fetch_all(c)
    .await)?;
    Ok(rows.into_iter().map(Event::from).collect())
}

/// The seq of event `id` in `conversation`, if it is there.
pub async fn seq_of(db: &Db, conversation: ConversationId, id: &EventId) -> sqlx::Result<Option<i64>> {
    on!(db, |c| sqlx::query_scalar(
        "SELECT seq FROM events WHERE id = $1 AND conversation_id = $2"
    )
    .bind(&id.0)
    .bind(conversation.0)
    .fetch_optional(c)
    .await)
}

/// Which slice of a log to read.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    Newest,
    Before(i64),
    After(i64),
    /// The page with this seq in its middle.
    Around(i64),
}

/// A page of a log: events in ascending `seq`, and whether more lie before
/// it (or, for `After`, after it); for `Around`, also whether newer remain.
pub struct Page {
    pub events: Vec<Event>,
    pub more: bool,
    pub more_newer: Option<bool>,
}

const COLUMNS: &str = "conversation_id, seq, id, sender_id, client_msg_id, created_at, body, edited_at";

/// Up to `limit` events of a conversation, messages as `viewer` sees them
/// now (see [`Event::state`]).
pub async fn page(
    db: &Db,
    conversation: ConversationId,
    viewer: UserId,
    window: Window,
    limit: u32,
) -> sqlx::Result<Page> {
    let (mut rows, more, more_newer) = match window {
        Window::Newest => {
            let (rows, more) = slice(db, conversation, None, false, limit).await?;
            (rows, more, None)
        }
        Window::Before(seq) => {
            let (rows, more) = slice(db, conversation, Some(seq), false, limit).await?;
            (rows, more, None)
        }
        Window::After(seq) => {
            let (rows, more) = slice(db, conversation, Some(seq), true, limit).await?;
            (rows, more, None)
        }
        Window::Around(seq) => {
            let older = limit / 2;
            let (mut rows, more) = slice(db, conversation, Some(seq), false, older).await?;
            let (newer, more_newer) = slice(db, conversation, Some(seq.saturating_sub(1)), true, limit - older).await?;
            rows.extend(newer);
            (rows, more, Some(more_newer))
        }
    };
    rows.sort_by_key(|row| row.seq);
    let events = with_state(db, conversation, viewer, rows).await?;
    Ok(Page {
        events,
        more,
        more_newer,
    })
}

/// Up to `limit` rows on one side of `from` (exclusive; the newest when
/// `None`), and whether more lie beyond.
async fn slice(
    db: &Db,
    conversation: ConversationId,
    from: Option<i64>,
    ascending: bool,
    limit: u32,
) -> sqlx::Result<(Vec<EventRow>, bool)> {
    let sql = if ascending {
        format!("SELECT {COLUMNS} FROM events WHERE conversation_id = $1 AND seq > $3 ORDER BY seq ASC LIMIT $2")
    } else {
        format!("SELECT {COLUMNS} FROM events WHERE conversation_id = $1 AND seq < $3 ORDER BY seq DESC LIMIT $2")
    };
    let mut rows: Vec<EventRow> = on!(db, |c| sqlx::query_as(&sql)
        .bind(conversation.0)
        .bind(i64::from(limit) + 1)
        .bind(from.unwrap_or(i64::MAX))
        .fetch_all(c)
        .await)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Events from rows, each message with its edit time and reactions.
async fn with_state(
    db: &Db,
    conversation: ConversationId,
    viewer: UserId,
    rows: Vec<EventRow>,
) -> sqlx::Result<Vec<Event>> {
    let (Some(first), Some(last)) = (rows.first().map(|r| r.seq), rows.last().map(|r| r.seq)) else {
        return Ok(Vec::new());
    };
    let reacted: Vec<(i64, String, i64)> = on!(db, |c| sqlx::query_as(
        "SELECT target_seq, emoji, user_id FROM reactions
         WHERE conversation_id = $1 AND target_seq BETWEEN $2 AND $3 ORDER BY target_seq, seq",
    )
    .bind(conversation.0)
    .bind(first)
    .bind(last)
    .fetch_all(c)
    .await)?;
    let mut reactions: HashMap<i64, Vec<Reactions>> = HashMap::new();
    for (seq, emoji, user) in reacted {
        let list = reactions.entry(seq).or_default();
        let index = match list.iter().position(|r| r.emoji == emoji) {
            Some(index) => index,
            None => {
                list.push(Reactions {
                    emoji,
                    count: 0,
                    mine: false,
                    users: Vec::new(),
                });
                list.len() - 1
            }
        };
        let entry = &mut list[index];
        entry.count += 1;
        entry.mine |= user == viewer.0;
        if entry.users.len() < REACTION_USERS_SHOWN {
            entry.users.push(UserId(user));
        }
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let (seq, edited_at) = (row.seq, row.edited_at);
            let mut event = Event::from(row);
            let state = MessageState {
                edited_at,
                reactions: reactions.remove(&seq).unwrap_or_default(),
            };
            if matches!(event.body, EventBody::Message { .. }) && state != MessageState::default() {
                event.state = Some(state);
            }
            event
        })
        .collect())
}

/// An event as stored, for the search indexer's thread.
pub struct Stored {
    pub seq: i64,
    pub sender: i64,
    pub created_at: i64,
    pub body: String,
}

fn stored(row: &Row) -> log_tx::Result<Stored> {
    Ok(Stored {
        seq: row.get(0)?,
        sender: row.get(1)?,
        created_at: row.get(2)?,
        body: row.get(3)?,
    })
}

/// Every conversation's id.
pub fn conversation_ids(tx: &LogTx) -> log_tx::Result<Vec<ConversationId>> {
    tx.rows("SELECT id FROM conversations", &[], |row| {
        row.get(0).map(ConversationId)
    })
}

/// Up to `limit` events of `conversation` after `seq`, in order.
pub fn after(tx: &LogTx, conversation: ConversationId, seq: i64, limit: usize) -> log_tx::Result<Vec<Stored>> {
    tx.rows(
        "SELECT seq, sender_id, created_at, body FROM events
         WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        args![conversation.0, seq, i64::try_from(limit).unwrap_or(i64::MAX)],
        stored,
    )
}

/// [`after`] for each `(conversation, seq)`: one list each, in the order
/// given. On PostgreSQL one statement reads them all (the indexer of every
/// node asks after each batch's conversations); SQLite, in process, reads
/// one conversation at a time.
pub fn after_each(tx: &LogTx, from: &[(ConversationId, i64)], limit: usize) -> log_tx::Result<Vec<Vec<Stored>>> {
    if !tx.shared() {
        return from
            .iter()
            .map(|&(conversation, seq)| after(tx, conversation, seq, limit))
            .collect();
    }
    let ids: Vec<i64> = from.iter().map(|(conversation, _)| conversation.0).collect();
    let seqs: Vec<i64> = from.iter().map(|&(_, seq)| seq).collect();
    let rows = tx.rows(
        "SELECT p.n, e.seq, e.sender_id, e.created_at, e.body
         FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS p(conversation_id, seq, n)
         CROSS JOIN LATERAL (SELECT seq, sender_id, created_at, body FROM events
             WHERE conversation_id = p.conversation_id AND seq > p.seq ORDER BY seq LIMIT $3) e
         ORDER BY p.n, e.seq",
        args![&ids, &seqs, i64::try_from(limit).unwrap_or(i64::MAX)],
        |row| {
            let stored = Stored {
                seq: row.get(1)?,
                sender: row.get(2)?,
                created_at: row.get(3)?,
                body: row.get(4)?,
            };
            Ok((row.get::<i64>(0)?, stored))
        },
    )?;
    let mut each: Vec<Vec<Stored>> = from.iter().map(|_| Vec::new()).collect();
    for (n, stored) in rows {
        if let Some(list) = usize::try_from(n - 1).ok().and_then(|i| each.get_mut(i)) {
            list.push(stored);
        }
    }
    Ok(each)
}

/// The event `id` of `conversation`, as stored.
pub fn stored_by_id(tx: &LogTx, conversation: ConversationId, id: &EventId) -> log_tx::Result<Option<Stored>> {
    tx.row(
        "SELECT seq, sender_id, created_at, body FROM events
         WHERE id = $1 AND conversation_id = $2",
        args![&id.0, conversation.0],
        stored,
    )
}

/// The event at `seq` of `conversation` as it reads now (current body and
/// edit time; state not filled in).
pub async fn at(db: &Db, conversation: ConversationId, seq: i64) -> sqlx::Result<Option<(Event, Option<i64>)>> {
    let row: Option<EventRow> = on!(db, |c| sqlx::query_as(
        "SELECT conversation_id, seq, id, sender_id, client_msg_id, created_at, body, edited_at
         FROM events WHERE conversation_id = $1 AND seq = $2",
    )
    .bind(conversation.0)
    .bind(seq)
    .fetch_optional(c)
    .await)?;
    Ok(row.map(|row| {
        let edited_at = row.edited_at;
        (Event::from(row), edited_at)
    }))
}

#[cfg(test)]
mod tests {
    use natter_common::events::{EventBody, MessageContent};

    use super::*;
    use crate::db::{append, testing};

    /// Each conversation's events after its own seq, at most `limit`, in
    /// order, in the order asked (one statement on PostgreSQL).
    #[tokio::test]
    async fn after_each_reads_every_conversation_from_its_own_seq() {
        for (db, _dir) in testing::each_db().await {
            let kind = testing::kind(&db);
            let alice = testing::user(&db, "alice").await;
            let (one, two, empty) = (
                testing::group(&db, &[alice]).await,
                testing::group(&db, &[alice]).await,
                testing::group(&db, &[alice]).await,
            );
            let read = testing::in_log_tx(&db, move |tx| {
                for (conversation, count) in [(one, 5), (two, 2)] {
                    for n in 0..count {
                        let body = EventBody::Message {
                            content: MessageContent::Text { text: format!("{n}") },
                            reply_to: None,
                            mentions: vec![],
                        };
                        append::message(tx, conversation, alice, &format!("{}-{n}", conversation.0), body, 0)
                            .unwrap()
                            .unwrap();
                    }
                }
                after_each(tx, &[(two, 0), (empty, 0), (one, 1)], 3).unwrap()
            })
            .await;
            let seqs: Vec<Vec<i64>> = read.iter().map(|list| list.iter().map(|e| e.seq).collect()).collect();
            assert_eq!(seqs, vec![vec![1, 2], vec![], vec![2, 3, 4]], "{kind}");
            assert!(read[2].iter().all(|e| e.sender == alice.0), "{kind}");
        }
    }
}
