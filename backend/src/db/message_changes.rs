//! Edits, deletions and reactions in the writer's transaction: finding the
//! message an action is about and keeping its current state (text, edit
//! time, tombstone, reactions) beside it in the log.

use natter_common::{
    events::{EventBody, MessageContent},
    ids::{ConversationId, EventId, UserId},
};

use super::log_tx::{args, LogTx, Result};

/// A message that an action names, as it stands.
#[derive(Debug)]
pub struct Target {
    pub seq: i64,
    pub sender: UserId,
    pub content: MessageContent,
    pub reply_to: Option<EventId>,
    /// The seq of the event that deleted it.
    pub deleted_seq: Option<i64>,
}

/// The message `id` of `conversation`; `None` when there is no such event
/// there or it is not a message.
pub fn target(tx: &LogTx, conversation: ConversationId, id: &EventId) -> Result<Option<Target>> {
    let row: Option<(i64, i64, String, Option<i64>)> = tx.row(
        "SELECT seq, sender_id, body, deleted_seq FROM events
         WHERE id = $1 AND conversation_id = $2 AND kind = 'message'",
        args![&id.0, conversation.0],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    Ok(
        row.and_then(|(seq, sender, body, deleted_seq)| match serde_json::from_str(&body) {
            Ok(EventBody::Message { content, reply_to, .. }) => Some(Target {
                seq,
                sender: UserId(sender),
                content,
                reply_to,
                deleted_seq,
            }),
            _ => None,
        }),
    )
}

/// Gives the message at `seq` its new content, mentions and edit time.
pub fn set_content(
    tx: &LogTx,
    conversation: ConversationId,
    target: &Target,
    content: MessageContent,
    mentions: Vec<UserId>,
    edited_at: i64,
) -> Result<()> {
    let body = serde_json::to_string(&EventBody::Message {
        content,
        reply_to: target.reply_to.clone(),
        mentions,
    })?;
    tx.execute(
        "UPDATE events SET body = $3, edited_at = $4 WHERE conversation_id = $1 AND seq = $2",
        args![conversation.0, target.seq, &body, edited_at],
    )?;
    Ok(())
}

/// Erases a deleted message's content from the message and from every edit
/// of it (their text is its text too), its reactions and mentions. On
/// SQLite `secure_delete` overwrites the old bytes rather than leaving them
/// in free space (PostgreSQL: docs/storage.md).
pub fn erase(tx: &LogTx, conversation: ConversationId, id: &EventId, target: &Target, deleted_seq: i64) -> Result<()> {
    let tombstone = serde_json::to_string(&EventBody::Message {
        content: MessageContent::Deleted,
        reply_to: target.reply_to.clone(),
        mentions: Vec::new(),
    })?;
    tx.execute(
        "UPDATE events SET body = $3, edited_at = NULL, deleted_seq = $4 WHERE conversation_id = $1 AND seq = $2",
        args![conversation.0, target.seq, &tombstone, deleted_seq],
    )?;
    let erased_edit = serde_json::to_string(&EventBody::MessageEdited {
        target: id.clone(),
        content: MessageContent::Deleted,
        mentions: Vec::new(),
    })?;
    tx.execute(
        "UPDATE events SET body = $3 WHERE conversation_id = $1 AND target_id = $2 AND kind = 'message_edited'",
        args![conversation.0, &id.0, &erased_edit],
    )?;
    tx.execute(
        "DELETE FROM reactions WHERE conversation_id = $1 AND target_seq = $2",
        args![conversation.0, target.seq],
    )?;
    super::mentions::set(tx, conversation, target.seq, &[])
}

/// Removes an image nothing shows any more: its row (and so every
/// uploader's claim to it). True when it was removed, and its files
/// should go too.
pub fn drop_unused_media(tx: &LogTx, media: &str) -> Result<bool> {
    let removed = tx.execute(
        "DELETE FROM media WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM events WHERE media_id = $1)
             AND NOT EXISTS (SELECT 1 FROM users WHERE avatar_media_id = $1)",
        args![media],
    )?;
    Ok(removed == 1)
}

/// What a reaction to a message looks like now.
pub enum ReactionState {
    /// This user has it, added by the event at this seq.
    Present(i64),
    /// This user hasn't; the message has this many distinct emoji and
    /// whether this emoji is among them.
    Absent { distinct: usize, emoji_known: bool },
}

pub fn reaction(
    tx: &LogTx,
    conversation: ConversationId,
    target_seq: i64,
    user: UserId,
    emoji: &str,
) -> Result<ReactionState> {
    let mine: Option<i64> = tx.value(
        "SELECT seq FROM reactions
         WHERE conversation_id = $1 AND target_seq = $2 AND emoji = $3 AND user_id = $4",
        args![conversation.0, target_seq, emoji, user.0],
    )?;
    if let Some(seq) = mine {
        return Ok(ReactionState::Present(seq));
    }
    let (distinct, emoji_known): (i64, bool) = tx
        .row(
            "SELECT COUNT(DISTINCT emoji),
                    EXISTS (SELECT 1 FROM reactions WHERE conversation_id = $1 AND target_seq = $2 AND emoji = $3)
             FROM reactions WHERE conversation_id = $1 AND target_seq = $2",
            args![conversation.0, target_seq, emoji],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .unwrap_or((0, false));
    Ok(ReactionState::Absent {
        distinct: usize::try_from(distinct).unwrap_or(usize::MAX),
        emoji_known,
    })
}

/// Records a reaction made by the event at `seq`.
pub fn add_reaction(
    tx: &LogTx,
    conversation: ConversationId,
    target_seq: i64,
    user: UserId,
    emoji: &str,
    seq: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO reactions (conversation_id, target_seq, emoji, user_id, seq) VALUES ($1, $2, $3, $4, $5)",
        args![conversation.0, target_seq, emoji, user.0, seq],
    )?;
    Ok(())
}

/// Takes a reaction back; false when there was none.
pub fn remove_reaction(
    tx: &LogTx,
    conversation: ConversationId,
    target_seq: i64,
    user: UserId,
    emoji: &str,
) -> Result<bool> {
    let removed = tx.execute(
        "DELETE FROM reactions WHERE conversation_id = $1 AND target_seq = $2 AND emoji = $3 AND user_id = $4",
        args![conversation.0, target_seq, emoji, user.0],
    )?;
    Ok(removed == 1)
}

/// The stored event at `seq` (to acknowledge an action that changed nothing
/// with the event that holds the state).
pub fn event_at(tx: &LogTx, conversation: ConversationId, seq: i64) -> Result<Option<natter_common::events::Event>> {
    tx.row(
        "SELECT id, sender_id, client_msg_id, created_at, body FROM events WHERE conversation_id = $1 AND seq = $2",
        args![conversation.0, seq],
        |row| {
            Ok(super::events::from_parts(
                conversation,
                seq,
                row.get(0)?,
                UserId(row.get(1)?),
                row.get(2)?,
                row.get(3)?,
                &row.get::<String>(4)?,
            ))
        },
    )
}
