//! Whom a message mentions, on the writer's connection: `@username`s in a
//! group message's text resolved to members when it is stored or edited,
//! kept in the message's body and in `mentions` for unread counts.

use natter_common::{
    ids::{ConversationId, UserId},
    limits::MENTIONS_MAX,
    mentions,
};
use rusqlite::{params, Connection, OptionalExtension};

/// The members of group `conversation` other than `sender` that `text`
/// names, in order of first mention; none in a direct conversation.
pub fn resolve(
    conn: &Connection,
    conversation: ConversationId,
    sender: UserId,
    text: &str,
) -> rusqlite::Result<Vec<UserId>> {
    let mut found = Vec::new();
    if !text.contains('@') {
        return Ok(found);
    }
    let mut names: Vec<&str> = Vec::new();
    for (_, name) in mentions::find(text) {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            names.push(name);
        }
        if names.len() == MENTIONS_MAX {
            break;
        }
    }
    let mut member = conn.prepare_cached(
        "SELECT u.id FROM conversations c
         JOIN members m ON m.conversation_id = c.id
         JOIN users u ON u.id = m.user_id
         WHERE c.id = ?1 AND c.kind = 'group' AND u.username = ?2 AND u.id <> ?3",
    )?;
    for name in names {
        let id: Option<i64> = member
            .query_row(params![conversation.0, name, sender.0], |row| row.get(0))
            .optional()?;
        if let Some(id) = id {
            found.push(UserId(id));
        }
    }
    Ok(found)
}

/// Makes `users` the mentions of the message at `seq`.
pub fn set(conn: &Connection, conversation: ConversationId, seq: i64, users: &[UserId]) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM mentions WHERE conversation_id = ?1 AND seq = ?2")?
        .execute(params![conversation.0, seq])?;
    add(conn, conversation, seq, users)
}

/// Records the mentions of a new message.
pub fn add(conn: &Connection, conversation: ConversationId, seq: i64, users: &[UserId]) -> rusqlite::Result<()> {
    // Most messages mention nobody: no statement for them.
    if users.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO mentions (user_id, conversation_id, seq) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
    )?;
    for user in users {
        insert.execute(params![user.0, conversation.0, seq])?;
    }
    Ok(())
}
