//! A conversation's log: every message and every change to it or to the
//! conversation is an event with a per-conversation `seq`. Edits, deletions,
//! reactions and membership changes are events too, so catching up from a
//! `seq` can never miss one.

use serde::{Deserialize, Serialize};

use crate::{
    api::Role,
    ids::{ConversationId, EventId, UserId},
};

/// One entry in a conversation's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Event {
    pub conversation_id: ConversationId,
    /// Strictly increasing within the conversation, from 1, without gaps.
    pub seq: i64,
    /// Globally unique and time-ordered.
    pub id: EventId,
    /// Who caused it.
    pub sender: UserId,
    /// The sender's idempotency key for events it submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// Unix time in milliseconds, as the server committed it.
    pub created_at: i64,
    pub body: EventBody,
    /// On a message read from the store (history pages and `sync`): how it
    /// stands now. Its `body` already holds the current content (`deleted`
    /// once withdrawn); absent on live events and on other kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
}

/// A stored message's edits and reactions as of the read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageState {
    /// When its text was last edited (Unix ms); absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// One entry per emoji, in the order each was first added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reactions>,
}

/// Everyone's reactions to a message with one emoji.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reactions {
    pub emoji: String,
    pub count: u32,
    /// Whether the reader is among them.
    pub mine: bool,
    /// The first [`crate::limits::REACTION_USERS_SHOWN`] who reacted, earliest first.
    pub users: Vec<UserId>,
}

/// What happened. New kinds are added over time; clients show unknown ones
/// as a generic notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventBody {
    /// A message.
    Message {
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<EventId>,
        /// Members its text names as `@username` (groups only; set by the
        /// server, whatever the client sent).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
    },
    /// An earlier message's new content (`deleted` once that message is),
    /// and whom that content mentions now.
    MessageEdited {
        target: EventId,
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<UserId>,
    },
    /// An earlier message deleted for everyone.
    MessageDeleted { target: EventId },
    /// The sender reacted to `target` with `emoji`.
    ReactionAdded { target: EventId, emoji: String },
    /// The sender took back their `emoji` reaction to `target`.
    ReactionRemoved { target: EventId, emoji: String },
    /// The group was created by the sender with this name.
    GroupCreated { name: String },
    /// The sender renamed the group.
    GroupRenamed { name: String },
    /// `user` joined; `sender` is who added them (themselves for the creator).
    MemberJoined { user: UserId },
    /// Several people added by the sender in one change (a group created
    /// with them, or added together): one event, however many, so that a
    /// 5 000-member group is one frame to each member online, not 5 000.
    MembersJoined { users: Vec<UserId> },
    /// `user` left of their own accord.
    MemberLeft { user: UserId },
    /// The sender removed `user`.
    MemberRemoved { user: UserId },
    /// `user`'s role changed (to `owner` on a transfer).
    RoleChanged { user: UserId, role: Role },
    /// Sent by a newer server; this build cannot show it.
    #[serde(other)]
    Unknown,
}

/// The content of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MessageContent {
    /// Text, emoji included.
    Text { text: String },
    /// An uploaded image.
    Image { media_id: String },
    /// A sticker from the shipped pack.
    Sticker { sticker_id: String },
    /// A message deleted for everyone: its content is gone from the server.
    Deleted,
    /// A kind this build does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

impl EventBody {
    /// True for membership and group changes, shown as system lines.
    pub fn is_system(&self) -> bool {
        matches!(
            self,
            Self::GroupCreated { .. }
                | Self::GroupRenamed { .. }
                | Self::MemberJoined { .. }
                | Self::MembersJoined { .. }
                | Self::MemberLeft { .. }
                | Self::MemberRemoved { .. }
                | Self::RoleChanged { .. }
        )
    }

    /// Whom a message or its edit mentions.
    pub fn mentions(&self) -> &[UserId] {
        match self {
            Self::Message { mentions, .. } | Self::MessageEdited { mentions, .. } => mentions,
            _ => &[],
        }
    }

    /// The message an edit, deletion or reaction is about.
    pub fn target(&self) -> Option<&EventId> {
        match self {
            Self::MessageEdited { target, .. }
            | Self::MessageDeleted { target }
            | Self::ReactionAdded { target, .. }
            | Self::ReactionRemoved { target, .. } => Some(target),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_a_type_tag() {
        let event = Event {
            conversation_id: ConversationId(7),
            seq: 3,
            id: EventId("0191e2f4-0000-7000-8000-000000000000".into()),
            sender: UserId(1),
            client_msg_id: None,
            created_at: 1,
            body: EventBody::MemberJoined { user: UserId(2) },
            state: None,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["body"], serde_json::json!({"type": "member_joined", "user": 2}));
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);

        let message = EventBody::Message {
            content: MessageContent::Text { text: "hi 👋".into() },
            reply_to: None,
            mentions: vec![],
        };
        let json = serde_json::to_string(&message).unwrap();
        assert_eq!(json, r#"{"type":"message","content":{"kind":"text","text":"hi 👋"}}"#);
    }

    #[test]
    fn unknown_event_kinds_parse_as_unknown() {
        let body: EventBody = serde_json::from_str(r#"{"type":"poll_opened","question":"?"}"#).unwrap();
        assert_eq!(body, EventBody::Unknown);
    }
}
