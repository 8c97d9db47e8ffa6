//! Whom a message mentions, in the writer's transaction: `@username`s in a
//! group message's text resolved to members when it is stored or edited,
//! kept in the message's body and in `mentions` for unread counts.

use natter_common::{
    ids::{ConversationId, UserId},
    limits::MENTIONS_MAX,
    mentions,
};

use super::log_tx::{args, LogTx, Result};

/// The members of group `conversation` other than `sender` that `text`
/// names, in order of first mention; none in a direct conversation.
pub fn resolve(tx: &LogTx, conversation: ConversationId, sender: UserId, text: &str) -> Result<Vec<UserId>> {
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
    for name in names {
        let id: Option<i64> = tx.value(
            "SELECT u.id FROM conversations c
             JOIN members m ON m.conversation_id = c.id
             JOIN users u ON u.id = m.user_id
             WHERE c.id = $1 AND c.kind = 'group' AND u.username = $2 AND u.id <> $3",
            args![conversation.0, name, sender.0],
        )?;
        if let Some(id) = id {
            found.push(UserId(id));
        }
    }
    Ok(found)
}

/// Makes `users` the mentions of the message at `seq`.
pub fn set(tx: &LogTx, conversation: ConversationId, seq: i64, users: &[UserId]) -> Result<()> {
    tx.execute(
        "DELETE FROM mentions WHERE conversation_id = $1 AND seq = $2",
        args![conversation.0, seq],
    )?;
    add(tx, conversation, seq, users)
}

/// Records the mentions of a new message.
pub fn add(tx: &LogTx, conversation: ConversationId, seq: i64, users: &[UserId]) -> Result<()> {
    // Most messages mention nobody: no statement for them.
    if users.is_empty() {
        return Ok(());
    }
    for user in users {
        tx.execute(
            "INSERT INTO mentions (user_id, conversation_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            args![user.0, conversation.0, seq],
        )?;
    }
    Ok(())
}
