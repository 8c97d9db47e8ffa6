//! A conversation's log: every message and every change to it or to the
//! conversation is an event with a per-conversation `seq`. Edits, deletions,
//! reactions and membership changes are events too, so catching up from a
//! `seq` can never miss one.

use serde::{de::MapAccess, Deserialize, Deserializer, Serialize};

use crate::{
    api::Role,
    ids::{ConversationId, EventId, UserId},
    tagged::{self, need, put, skip, wants, Fields},
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
/// as a generic notice. (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// The content of a message. (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

impl<'de> Deserialize<'de> for EventBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Type,
            Content,
            ReplyTo,
            Mentions,
            Target,
            Emoji,
            Name,
            User,
            Users,
            Role,
            #[serde(other)]
            Other,
        }

        #[derive(Clone, Copy, PartialEq, Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Tag {
            Message,
            MessageEdited,
            MessageDeleted,
            ReactionAdded,
            ReactionRemoved,
            GroupCreated,
            GroupRenamed,
            MemberJoined,
            MembersJoined,
            MemberLeft,
            MemberRemoved,
            RoleChanged,
            #[serde(other)]
            Unknown,
        }

        #[derive(Default)]
        struct Body {
            tag: Option<Tag>,
            content: Option<MessageContent>,
            reply_to: Option<Option<EventId>>,
            mentions: Option<Vec<UserId>>,
            target: Option<EventId>,
            emoji: Option<String>,
            name: Option<String>,
            user: Option<UserId>,
            users: Option<Vec<UserId>>,
            role: Option<Role>,
        }

        impl<'de> Fields<'de> for Body {
            type Key = Key;

            fn read<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
                use Tag::*;
                let tag = self.tag;
                match key {
                    Key::Type => put(&mut self.tag, true, map),
                    Key::Content => put(&mut self.content, wants(tag, &[Message, MessageEdited]), map),
                    Key::ReplyTo => put(&mut self.reply_to, wants(tag, &[Message]), map),
                    Key::Mentions => put(&mut self.mentions, wants(tag, &[Message, MessageEdited]), map),
                    Key::Target => put(
                        &mut self.target,
                        wants(tag, &[MessageEdited, MessageDeleted, ReactionAdded, ReactionRemoved]),
                        map,
                    ),
                    Key::Emoji => put(&mut self.emoji, wants(tag, &[ReactionAdded, ReactionRemoved]), map),
                    Key::Name => put(&mut self.name, wants(tag, &[GroupCreated, GroupRenamed]), map),
                    Key::User => put(
                        &mut self.user,
                        wants(tag, &[MemberJoined, MemberLeft, MemberRemoved, RoleChanged]),
                        map,
                    ),
                    Key::Users => put(&mut self.users, wants(tag, &[MembersJoined]), map),
                    Key::Role => put(&mut self.role, wants(tag, &[RoleChanged]), map),
                    Key::Other => skip(map),
                }
            }
        }

        let b: Body = tagged::read(deserializer, "an event body")?;
        Ok(match need(b.tag, "type")? {
            Tag::Message => Self::Message {
                content: need(b.content, "content")?,
                reply_to: b.reply_to.flatten(),
                mentions: b.mentions.unwrap_or_default(),
            },
            Tag::MessageEdited => Self::MessageEdited {
                target: need(b.target, "target")?,
                content: need(b.content, "content")?,
                mentions: b.mentions.unwrap_or_default(),
            },
            Tag::MessageDeleted => Self::MessageDeleted {
                target: need(b.target, "target")?,
            },
            Tag::ReactionAdded => Self::ReactionAdded {
                target: need(b.target, "target")?,
                emoji: need(b.emoji, "emoji")?,
            },
            Tag::ReactionRemoved => Self::ReactionRemoved {
                target: need(b.target, "target")?,
                emoji: need(b.emoji, "emoji")?,
            },
            Tag::GroupCreated => Self::GroupCreated {
                name: need(b.name, "name")?,
            },
            Tag::GroupRenamed => Self::GroupRenamed {
                name: need(b.name, "name")?,
            },
            Tag::MemberJoined => Self::MemberJoined {
                user: need(b.user, "user")?,
            },
            Tag::MembersJoined => Self::MembersJoined {
                users: need(b.users, "users")?,
            },
            Tag::MemberLeft => Self::MemberLeft {
                user: need(b.user, "user")?,
            },
            Tag::MemberRemoved => Self::MemberRemoved {
                user: need(b.user, "user")?,
            },
            Tag::RoleChanged => Self::RoleChanged {
                user: need(b.user, "user")?,
                role: need(b.role, "role")?,
            },
            Tag::Unknown => Self::Unknown,
        })
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Kind,
            Text,
            MediaId,
            StickerId,
            #[serde(other)]
            Other,
        }

        #[derive(Clone, Copy, PartialEq, Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Tag {
            Text,
            Image,
            Sticker,
            Deleted,
            #[serde(other)]
            Unknown,
        }

        #[derive(Default)]
        struct Content {
            tag: Option<Tag>,
            text: Option<String>,
            media_id: Option<String>,
            sticker_id: Option<String>,
        }

        impl<'de> Fields<'de> for Content {
            type Key = Key;

            fn read<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
                let tag = self.tag;
                match key {
                    Key::Kind => put(&mut self.tag, true, map),
                    Key::Text => put(&mut self.text, wants(tag, &[Tag::Text]), map),
                    Key::MediaId => put(&mut self.media_id, wants(tag, &[Tag::Image]), map),
                    Key::StickerId => put(&mut self.sticker_id, wants(tag, &[Tag::Sticker]), map),
                    Key::Other => skip(map),
                }
            }
        }

        let c: Content = tagged::read(deserializer, "a message content")?;
        Ok(match need(c.tag, "kind")? {
            Tag::Text => Self::Text {
                text: need(c.text, "text")?,
            },
            Tag::Image => Self::Image {
                media_id: need(c.media_id, "media_id")?,
            },
            Tag::Sticker => Self::Sticker {
                sticker_id: need(c.sticker_id, "sticker_id")?,
            },
            Tag::Deleted => Self::Deleted,
            Tag::Unknown => Self::Unknown,
        })
    }
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
