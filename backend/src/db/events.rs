//! Queries on `events`: appending to a conversation's log and reading pages of it.

use natter_common::{
    events::{Event, EventBody},
    ids::{ConversationId, EventId, UserId},
};
use sqlx::{SqliteConnection, SqlitePool};

#[derive(sqlx::FromRow)]
struct EventRow {
    conversation_id: i64,
    seq: i64,
    id: String,
    sender_id: i64,
    client_msg_id: Option<String>,
    created_at: i64,
    body: String,
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
    }
    .into()
}

/// Appends an event, assigning the conversation's next `seq`. Call inside a
/// write transaction so the seq and the row commit together.
pub async fn append(
    conn: &mut SqliteConnection,
    conversation: ConversationId,
    sender: UserId,
    client_msg_id: Option<&str>,
    body: EventBody,
    now: i64,
) -> sqlx::Result<Event> {
    const SQL: &str = "INSERT INTO events (conversation_id, seq, id, sender_id, client_msg_id, created_at, body)
         SELECT id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE conversation_id = ?1), ?2, ?3, ?4, ?5, ?6
         FROM conversations WHERE id = ?1
         RETURNING seq";
    let id = uuid::Uuid::now_v7().to_string();
    let json = serde_json::to_string(&body).map_err(|err| sqlx::Error::Encode(Box::new(err)))?;
    let seq: i64 = sqlx::query_scalar(SQL)
        .bind(conversation.0)
        .bind(&id)
        .bind(sender.0)
        .bind(client_msg_id)
        .bind(now)
        .bind(&json)
        .fetch_one(&mut *conn)
        .await?;
    Ok(Event {
        conversation_id: conversation,
        seq,
        id: EventId(id),
        sender,
        client_msg_id: client_msg_id.map(str::to_owned),
        created_at: now,
        body,
    })
}

/// Which slice of a log to read.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    Newest,
    Before(i64),
    After(i64),
}

/// Up to `limit` events of a conversation in ascending `seq`, and whether
/// more lie beyond the page in the direction read.
pub async fn page(
    pool: &SqlitePool,
    conversation: ConversationId,
    window: Window,
    limit: u32,
) -> sqlx::Result<(Vec<Event>, bool)> {
    const COLUMNS: &str = "conversation_id, seq, id, sender_id, client_msg_id, created_at, body";
    let fetch = i64::from(limit) + 1;
    let (sql, bound) = match window {
        Window::Newest => (
            format!("SELECT {COLUMNS} FROM events WHERE conversation_id = ?1 ORDER BY seq DESC LIMIT ?2"),
            None,
        ),
        Window::Before(seq) => (
            format!("SELECT {COLUMNS} FROM events WHERE conversation_id = ?1 AND seq < ?3 ORDER BY seq DESC LIMIT ?2"),
            Some(seq),
        ),
        Window::After(seq) => (
            format!("SELECT {COLUMNS} FROM events WHERE conversation_id = ?1 AND seq > ?3 ORDER BY seq ASC LIMIT ?2"),
            Some(seq),
        ),
    };
    let mut query = sqlx::query_as::<_, EventRow>(&sql).bind(conversation.0).bind(fetch);
    if let Some(seq) = bound {
        query = query.bind(seq);
    }
    let mut rows = query.fetch_all(pool).await?;
    let more = rows.len() as i64 > i64::from(limit);
    rows.truncate(limit as usize);
    if !matches!(window, Window::After(_)) {
        rows.reverse();
    }
    Ok((rows.into_iter().map(Event::from).collect(), more))
}

/// Every event after `seq`, ascending (for publishing what a transaction added).
pub async fn after(conn: &mut SqliteConnection, conversation: ConversationId, seq: i64) -> sqlx::Result<Vec<Event>> {
    let rows: Vec<EventRow> = sqlx::query_as(
        "SELECT conversation_id, seq, id, sender_id, client_msg_id, created_at, body
         FROM events WHERE conversation_id = ?1 AND seq > ?2 ORDER BY seq",
    )
    .bind(conversation.0)
    .bind(seq)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(Event::from).collect())
}
