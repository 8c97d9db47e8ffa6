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
    },
    /// An earlier message's new content.
    MessageEdited {
        target: EventId,
        content: MessageContent,
    },
    /// An earlier message withdrawn.
    MessageDeleted {
        target: EventId,
    },
    ReactionAdded {
        target: EventId,
        emoji: String,
    },
    ReactionRemoved {
        target: EventId,
        emoji: String,
    },
    /// The group was created by the sender with this name.
    GroupCreated {
        name: String,
    },
    /// The sender renamed the group.
    GroupRenamed {
        name: String,
    },
    /// `user` joined; `sender` is who added them (themselves for the creator).
    MemberJoined {
        user: UserId,
    },
    /// `user` left of their own accord.
    MemberLeft {
        user: UserId,
    },
    /// The sender removed `user`.
    MemberRemoved {
        user: UserId,
    },
    /// `user`'s role changed (to `owner` on a transfer).
    RoleChanged {
        user: UserId,
        role: Role,
    },
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
}

impl EventBody {
    /// True for membership and group changes, shown as system lines.
    pub fn is_system(&self) -> bool {
        matches!(
            self,
            Self::GroupCreated { .. }
                | Self::GroupRenamed { .. }
                | Self::MemberJoined { .. }
                | Self::MemberLeft { .. }
                | Self::MemberRemoved { .. }
                | Self::RoleChanged { .. }
        )
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
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["body"], serde_json::json!({"type": "member_joined", "user": 2}));
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);

        let message = EventBody::Message {
            content: MessageContent::Text { text: "hi 👋".into() },
            reply_to: None,
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
