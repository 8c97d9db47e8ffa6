//! The one path into the conversation logs. Every change that lands in a
//! log — messages, edits, deletions, reactions, group changes — and every
//! read marker is a [`Command`] for the one writer thread, which checks and
//! stores a burst of them in one transaction; the one publisher then
//! delivers what each committed, in commit order, and queues each sender's
//! `sent` on its connection before anything later. Seq order is commit
//! order is delivery order, on every connection.

mod actions;
mod audience;
mod groups;
mod publisher;
mod writer;

use natter_common::{
    api::{Group, Role},
    events::{Event, MessageContent},
    ids::{ConversationId, EventId, UserId},
    limits::CLIENT_MSG_ID_MAX_CHARS,
    validate::{self, GroupName, Invalid},
    ErrorCode,
};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

pub use writer::Log;

use crate::{error::AppError, hub::Conn};

/// A change to a conversation's log (or read position).
#[derive(Debug)]
pub enum Command {
    Send {
        client_msg_id: String,
        conversation: ConversationId,
        content: MessageContent,
        reply_to: Option<EventId>,
    },
    Edit {
        client_msg_id: String,
        conversation: ConversationId,
        target: EventId,
        text: String,
    },
    Delete {
        client_msg_id: String,
        conversation: ConversationId,
        target: EventId,
    },
    React {
        client_msg_id: String,
        conversation: ConversationId,
        target: EventId,
        emoji: String,
        /// True to add, false to take back.
        on: bool,
    },
    /// Moves the caller's read marker; the writer merges a batch's markers.
    Read {
        conversation: ConversationId,
        seq: i64,
    },
    Group(GroupChange),
}

impl Command {
    /// The existing conversation this appends to, if any.
    pub fn conversation(&self) -> Option<ConversationId> {
        match self {
            Self::Send { conversation, .. }
            | Self::Edit { conversation, .. }
            | Self::Delete { conversation, .. }
            | Self::React { conversation, .. }
            | Self::Read { conversation, .. } => Some(*conversation),
            Self::Group(change) => change.group(),
        }
    }

    /// The conversation whose messages' text this changes, if any.
    pub fn changes_text(&self) -> Option<ConversationId> {
        match self {
            Self::Send { conversation, .. } | Self::Edit { conversation, .. } | Self::Delete { conversation, .. } => {
                Some(*conversation)
            }
            Self::React { .. } | Self::Read { .. } | Self::Group(_) => None,
        }
    }
}

/// A change to a group, made through the REST API.
#[derive(Debug)]
pub enum GroupChange {
    Create {
        name: GroupName,
        members: Vec<UserId>,
        max: u32,
    },
    Rename {
        group: ConversationId,
        name: GroupName,
    },
    AddMembers {
        group: ConversationId,
        users: Vec<UserId>,
        max: u32,
    },
    /// Removing yourself is leaving.
    Remove {
        group: ConversationId,
        user: UserId,
    },
    SetRole {
        group: ConversationId,
        user: UserId,
        role: Role,
    },
}

impl GroupChange {
    /// The existing group it changes (none for a new one).
    fn group(&self) -> Option<ConversationId> {
        match self {
            Self::Create { .. } => None,
            Self::Rename { group, .. }
            | Self::AddMembers { group, .. }
            | Self::Remove { group, .. }
            | Self::SetRole { group, .. } => Some(*group),
        }
    }
}

impl Command {
    /// What the metrics call it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Send { .. } => "send",
            Self::Edit { .. } => "edit",
            Self::Delete { .. } => "delete",
            Self::React { on: true, .. } => "react",
            Self::React { on: false, .. } => "unreact",
            Self::Read { .. } => "read",
            Self::Group(_) => "group",
        }
    }

    /// The requester's idempotency key, echoed in its ack or error.
    pub fn client_msg_id(&self) -> Option<&str> {
        match self {
            Self::Send { client_msg_id, .. }
            | Self::Edit { client_msg_id, .. }
            | Self::Delete { client_msg_id, .. }
            | Self::React { client_msg_id, .. } => Some(client_msg_id),
            Self::Read { .. } | Self::Group(_) => None,
        }
    }

    /// Checks the command's own fields (rights are checked by the writer).
    pub fn validate(&self) -> Result<(), Invalid> {
        if let Some(id) = self.client_msg_id() {
            let len = id.chars().count();
            if len == 0 || len > CLIENT_MSG_ID_MAX_CHARS || id.chars().any(char::is_control) {
                return Err(Invalid {
                    field: "client_msg_id",
                    message: format!(
                        "client_msg_id must be 1–{CLIENT_MSG_ID_MAX_CHARS} characters, none of them control characters."
                    ),
                });
            }
        }
        let invalid = |field, message: &str| {
            Err(Invalid {
                field,
                message: message.into(),
            })
        };
        match self {
            Self::Send { content, .. } => match content {
                MessageContent::Text { text } => validate::message_text(text),
                MessageContent::Image { media_id } if media_id.is_empty() || media_id.len() > 128 => {
                    invalid("media_id", "Invalid media id.")
                }
                MessageContent::Sticker { sticker_id } if !natter_common::stickers::exists(sticker_id) => {
                    invalid("sticker_id", "No such sticker.")
                }
                MessageContent::Deleted | MessageContent::Unknown => {
                    invalid("content", "A message is text, an image or a sticker.")
                }
                _ => Ok(()),
            },
            Self::Edit { text, .. } => validate::message_text(text),
            Self::React { emoji, .. } => validate::reaction(emoji),
            Self::Delete { .. } | Self::Read { .. } | Self::Group(_) => Ok(()),
        }
    }
}

/// A command with who gave it and where its answers go.
pub struct Submission {
    pub by: UserId,
    /// The connection it came from: it gets the `sent` ack (or the error)
    /// in place of the event.
    pub conn: Option<Conn>,
    pub command: Command,
    /// Released once the command is answered (bounds a connection's
    /// commands in flight).
    pub permit: Option<OwnedSemaphorePermit>,
}

/// What a stored command came to.
#[derive(Debug)]
pub enum Done {
    /// The event that records it: new, or the one stored earlier for the same
    /// `client_msg_id` or the same state (a repeated reaction or deletion).
    Logged(Logged),
    Group(Group),
    Nothing,
}

/// Where an event stands in its log: what a `sent` ack tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub id: EventId,
    pub created_at: i64,
}

impl From<&Event> for Logged {
    fn from(event: &Event) -> Self {
        Self {
            conversation_id: event.conversation_id,
            seq: event.seq,
            id: event.id.clone(),
            created_at: event.created_at,
        }
    }
}

/// Why a command stored nothing, fit to show to the person who gave it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput { field: field.into() }, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    fn busy() -> Self {
        Self::new(ErrorCode::Unavailable, "The server is busy; try again.")
    }

    fn failed() -> Self {
        Self::new(ErrorCode::Internal, "The change could not be stored; retry.")
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        AppError::new(refusal.code, refusal.message)
    }
}

pub type Outcome = Result<Done, Refusal>;

/// A queued command's outcome, to await.
pub struct Pending(Option<oneshot::Receiver<Outcome>>);

impl Pending {
    pub async fn outcome(self) -> Outcome {
        self.0.ok_or_else(Refusal::busy)?.await.map_err(|_| Refusal::busy())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(client_msg_id: &str, text: &str) -> Command {
        Command::Send {
            client_msg_id: client_msg_id.into(),
            conversation: ConversationId(1),
            content: MessageContent::Text { text: text.into() },
            reply_to: None,
        }
    }

    #[test]
    fn fields_are_checked_before_the_writer() {
        assert!(send("c1", "hi 👋").validate().is_ok());
        assert_eq!(send("c1", "  \n ").validate().unwrap_err().field, "text");
        assert_eq!(send("", "x").validate().unwrap_err().field, "client_msg_id");
        assert_eq!(
            send(&"c".repeat(65), "x").validate().unwrap_err().field,
            "client_msg_id"
        );
        let deleted = Command::Send {
            client_msg_id: "c".into(),
            conversation: ConversationId(1),
            content: MessageContent::Deleted,
            reply_to: None,
        };
        assert_eq!(deleted.validate().unwrap_err().field, "content");
        let react = |emoji: &str| Command::React {
            client_msg_id: "r".into(),
            conversation: ConversationId(1),
            target: EventId("e".into()),
            emoji: emoji.into(),
            on: true,
        };
        assert!(react("👍").validate().is_ok());
        assert_eq!(react("nope").validate().unwrap_err().field, "emoji");
    }
}
