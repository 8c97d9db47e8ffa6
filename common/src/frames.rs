//! WebSocket frames on `/ws`: one JSON object per text message, tagged by
//! `type`. The server speaks first with `hello`; everything after is
//! client requests and server pushes.

use serde::{
    de::{self, MapAccess, SeqAccess, Unexpected, Visitor},
    Deserialize, Deserializer, Serialize,
};

use crate::{
    api::{NotifyLevel, User},
    error::{CodeFields, CodeKey, ErrorCode},
    events::{Event, MessageContent},
    ids::{ConversationId, EventId, UserId},
    tagged::{self, need, put, skip, wants, Fields},
};

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Send a message. `client_msg_id` (1–64 characters, unique per sender)
    /// makes retries safe: a resend returns the original `sent` ack.
    Send {
        client_msg_id: String,
        conversation_id: ConversationId,
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<EventId>,
    },
    /// Replace the text of your own text message `target`. Acknowledged by
    /// `sent` like a send (the edit is an event of its own, with a seq).
    Edit {
        client_msg_id: String,
        conversation_id: ConversationId,
        target: EventId,
        text: String,
    },
    /// Delete `target` for everyone: your own message, or in a group you own
    /// or administer, anyone's. Its content is erased from the server.
    Delete {
        client_msg_id: String,
        conversation_id: ConversationId,
        target: EventId,
    },
    /// React to `target` with one emoji. Reacting again with the same emoji
    /// stores nothing new and is acknowledged with the event that added it.
    React {
        client_msg_id: String,
        conversation_id: ConversationId,
        target: EventId,
        emoji: String,
    },
    /// Take back your `emoji` reaction to `target` (`not_found` if there is none).
    Unreact {
        client_msg_id: String,
        conversation_id: ConversationId,
        target: EventId,
        emoji: String,
    },
    /// Ask for the events after `after_seq`; answered by one `events` frame
    /// of at most [`crate::limits::SYNC_BATCH`] events. Repeat while `more`.
    Sync {
        conversation_id: ConversationId,
        after_seq: i64,
    },
    /// I have read up to `seq`.
    Read { conversation_id: ConversationId, seq: i64 },
    /// I am typing (send at most every few seconds while typing).
    Typing { conversation_id: ConversationId },
    /// Application heartbeat; answered by `pong` with the same nonce.
    Ping { nonce: u64 },
}

/// Server → client. (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ServerFrame {
    /// First frame on every connection: who you are and where every
    /// conversation stands.
    Hello {
        protocol_version: u32,
        user_id: UserId,
        conversations: Vec<ConversationState>,
        /// Users sharing a conversation with you who are online now.
        online: Vec<UserId>,
        /// Send something (a `ping` will do) at least this often, or be
        /// considered gone; expect the server to do the same.
        heartbeat_ms: u64,
    },
    /// A new event in one of your conversations, live.
    Event {
        event: Event,
    },
    /// Your message (or edit, deletion, reaction) is durably stored as
    /// `seq` of its conversation. It reaches your connection before any later
    /// event of that conversation.
    Sent {
        client_msg_id: String,
        conversation_id: ConversationId,
        seq: i64,
        id: EventId,
        created_at: i64,
    },
    /// The answer to `sync`: events after the requested seq, ascending.
    Events {
        conversation_id: ConversationId,
        events: Vec<Event>,
        more: bool,
    },
    /// Your read position or unread count changed (on any of your devices).
    ReadState {
        conversation_id: ConversationId,
        read_seq: i64,
        unread: u32,
        /// Of `unread`, those that mention you.
        #[serde(default)]
        mentions: u32,
    },
    /// Your settings for a conversation changed (on any of your devices).
    ConversationSettings {
        conversation_id: ConversationId,
        notify: NotifyLevel,
    },
    /// Another member has read up to `read_seq` (conversations of at most
    /// [`crate::limits::RECEIPTS_MAX_MEMBERS`] members).
    Receipt {
        conversation_id: ConversationId,
        user_id: UserId,
        read_seq: i64,
    },
    /// Someone is typing.
    Typing {
        conversation_id: ConversationId,
        user_id: UserId,
    },
    /// A user you share a conversation with came online or went offline.
    Presence {
        user_id: UserId,
        online: bool,
    },
    /// Your contacts or contact requests changed: refetch them.
    ContactsChanged,
    /// Someone you share a conversation with (or you, on another device)
    /// changed their display name or picture: `user` is how they are now.
    UserUpdated {
        user: User,
    },
    Pong {
        nonce: u64,
    },
    /// Several frames in one WebSocket message (protocol 2 and later), merged
    /// when more than one was waiting for the connection. Handle `frames` in
    /// order, exactly as if each had arrived alone; a batch never nests.
    Batch {
        frames: Vec<ServerFrame>,
    },
    /// A request failed; the connection stays open. `client_msg_id` is set
    /// when the failed request carried one (`send`, `edit`, `delete`, `react`,
    /// `unreact`).
    Error {
        #[serde(flatten)]
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        client_msg_id: Option<String>,
    },
}

impl<'de> Deserialize<'de> for ServerFrame {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Type,
            ProtocolVersion,
            UserId,
            Conversations,
            Online,
            HeartbeatMs,
            Event,
            ClientMsgId,
            ConversationId,
            Seq,
            Id,
            CreatedAt,
            Events,
            More,
            ReadSeq,
            Unread,
            Mentions,
            Notify,
            User,
            Nonce,
            Frames,
            Message,
            // The flattened `ErrorCode` of `error`.
            Code,
            Field,
            MaxBytes,
            Max,
            Supported,
            RetryAfterMs,
            #[serde(other)]
            Other,
        }

        #[derive(Clone, Copy, PartialEq, Deserialize)]
        #[serde(variant_identifier, rename_all = "snake_case")]
        enum Tag {
            Hello,
            Event,
            Sent,
            Events,
            ReadState,
            ConversationSettings,
            Receipt,
            Typing,
            Presence,
            ContactsChanged,
            UserUpdated,
            Pong,
            Batch,
            Error,
        }

        #[derive(Default)]
        struct Frame {
            tag: Option<Tag>,
            protocol_version: Option<u32>,
            user_id: Option<UserId>,
            conversations: Option<Vec<ConversationState>>,
            online: Option<Online>,
            heartbeat_ms: Option<u64>,
            event: Option<Event>,
            client_msg_id: Option<Option<String>>,
            conversation_id: Option<ConversationId>,
            seq: Option<i64>,
            id: Option<EventId>,
            created_at: Option<i64>,
            events: Option<Vec<Event>>,
            more: Option<bool>,
            read_seq: Option<i64>,
            unread: Option<u32>,
            mentions: Option<u32>,
            notify: Option<NotifyLevel>,
            user: Option<User>,
            nonce: Option<u64>,
            frames: Option<Vec<ServerFrame>>,
            message: Option<String>,
            code: CodeFields,
        }

        impl<'de> Fields<'de> for Frame {
            type Key = Key;

            fn read<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
                use Tag::*;
                let tag = self.tag;
                let code = match key {
                    Key::Type => return put(&mut self.tag, true, map),
                    Key::ProtocolVersion => return put(&mut self.protocol_version, wants(tag, &[Hello]), map),
                    Key::UserId => {
                        let wanted = wants(tag, &[Hello, Receipt, Typing, Presence]);
                        return put(&mut self.user_id, wanted, map);
                    }
                    Key::Conversations => return put(&mut self.conversations, wants(tag, &[Hello]), map),
                    Key::Online => return put(&mut self.online, wants(tag, &[Hello, Presence]), map),
                    Key::HeartbeatMs => return put(&mut self.heartbeat_ms, wants(tag, &[Hello]), map),
                    Key::Event => return put(&mut self.event, wants(tag, &[Event]), map),
                    Key::ClientMsgId => return put(&mut self.client_msg_id, wants(tag, &[Sent, Error]), map),
                    Key::ConversationId => {
                        let wanted = wants(tag, &[Sent, Events, ReadState, ConversationSettings, Receipt, Typing]);
                        return put(&mut self.conversation_id, wanted, map);
                    }
                    Key::Seq => return put(&mut self.seq, wants(tag, &[Sent]), map),
                    Key::Id => return put(&mut self.id, wants(tag, &[Sent]), map),
                    Key::CreatedAt => return put(&mut self.created_at, wants(tag, &[Sent]), map),
                    Key::Events => return put(&mut self.events, wants(tag, &[Events]), map),
                    Key::More => return put(&mut self.more, wants(tag, &[Events]), map),
                    Key::ReadSeq => return put(&mut self.read_seq, wants(tag, &[ReadState, Receipt]), map),
                    Key::Unread => return put(&mut self.unread, wants(tag, &[ReadState]), map),
                    Key::Mentions => return put(&mut self.mentions, wants(tag, &[ReadState]), map),
                    Key::Notify => return put(&mut self.notify, wants(tag, &[ConversationSettings]), map),
                    Key::User => return put(&mut self.user, wants(tag, &[UserUpdated]), map),
                    Key::Nonce => return put(&mut self.nonce, wants(tag, &[Pong]), map),
                    Key::Frames => return put(&mut self.frames, wants(tag, &[Batch]), map),
                    Key::Message => return put(&mut self.message, wants(tag, &[Error]), map),
                    Key::Other => return skip(map),
                    Key::Code => CodeKey::Code,
                    Key::Field => CodeKey::Field,
                    Key::MaxBytes => CodeKey::MaxBytes,
                    Key::Max => CodeKey::Max,
                    Key::Supported => CodeKey::Supported,
                    Key::RetryAfterMs => CodeKey::RetryAfterMs,
                };
                if wants(tag, &[Error]) {
                    self.code.read(code, map)
                } else {
                    skip(map)
                }
            }
        }

        let f: Frame = tagged::read(deserializer, "a server frame")?;
        Ok(match need(f.tag, "type")? {
            Tag::Hello => Self::Hello {
                protocol_version: need(f.protocol_version, "protocol_version")?,
                user_id: need(f.user_id, "user_id")?,
                conversations: need(f.conversations, "conversations")?,
                online: match need(f.online, "online")? {
                    Online::Users(users) => users,
                    Online::Flag(flag) => return Err(de::Error::invalid_type(Unexpected::Bool(flag), &"a sequence")),
                },
                heartbeat_ms: need(f.heartbeat_ms, "heartbeat_ms")?,
            },
            Tag::Event => Self::Event {
                event: need(f.event, "event")?,
            },
            Tag::Sent => Self::Sent {
                client_msg_id: need(f.client_msg_id.flatten(), "client_msg_id")?,
                conversation_id: need(f.conversation_id, "conversation_id")?,
                seq: need(f.seq, "seq")?,
                id: need(f.id, "id")?,
                created_at: need(f.created_at, "created_at")?,
            },
            Tag::Events => Self::Events {
                conversation_id: need(f.conversation_id, "conversation_id")?,
                events: need(f.events, "events")?,
                more: need(f.more, "more")?,
            },
            Tag::ReadState => Self::ReadState {
                conversation_id: need(f.conversation_id, "conversation_id")?,
                read_seq: need(f.read_seq, "read_seq")?,
                unread: need(f.unread, "unread")?,
                mentions: f.mentions.unwrap_or_default(),
            },
            Tag::ConversationSettings => Self::ConversationSettings {
                conversation_id: need(f.conversation_id, "conversation_id")?,
                notify: need(f.notify, "notify")?,
            },
            Tag::Receipt => Self::Receipt {
                conversation_id: need(f.conversation_id, "conversation_id")?,
                user_id: need(f.user_id, "user_id")?,
                read_seq: need(f.read_seq, "read_seq")?,
            },
            Tag::Typing => Self::Typing {
                conversation_id: need(f.conversation_id, "conversation_id")?,
                user_id: need(f.user_id, "user_id")?,
            },
            Tag::Presence => Self::Presence {
                user_id: need(f.user_id, "user_id")?,
                online: match need(f.online, "online")? {
                    Online::Flag(flag) => flag,
                    Online::Users(_) => return Err(de::Error::invalid_type(Unexpected::Seq, &"a boolean")),
                },
            },
            Tag::ContactsChanged => Self::ContactsChanged,
            Tag::UserUpdated => Self::UserUpdated {
                user: need(f.user, "user")?,
            },
            Tag::Pong => Self::Pong {
                nonce: need(f.nonce, "nonce")?,
            },
            Tag::Batch => Self::Batch {
                frames: need(f.frames, "frames")?,
            },
            Tag::Error => Self::Error {
                code: f.code.build()?,
                message: need(f.message, "message")?,
                client_msg_id: f.client_msg_id.flatten(),
            },
        })
    }
}

/// `online`: who is online in `hello`, whether one user is in `presence`.
enum Online {
    Users(Vec<UserId>),
    Flag(bool),
}

impl<'de> Deserialize<'de> for Online {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OnlineVisitor;

        impl<'de> Visitor<'de> for OnlineVisitor {
            type Value = Online;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean or a sequence of user ids")
            }

            fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Online, E> {
                Ok(Online::Flag(flag))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Online, A::Error> {
                let mut users = Vec::new();
                while let Some(user) = seq.next_element()? {
                    users.push(user);
                }
                Ok(Online::Users(users))
            }
        }

        deserializer.deserialize_any(OnlineVisitor)
    }
}

impl ServerFrame {
    /// The frames this one stands for, in order: a batch's contents, or itself.
    pub fn unbatch(self) -> impl Iterator<Item = ServerFrame> {
        let frames = match self {
            ServerFrame::Batch { frames } => frames,
            other => vec![other],
        };
        frames.into_iter()
    }
}

/// Where a conversation stands for the connecting user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationState {
    pub conversation_id: ConversationId,
    pub last_seq: i64,
    pub read_seq: i64,
    /// Messages from others after `read_seq` (capped at 1000).
    pub unread: u32,
    /// Of `unread`, those that mention me.
    #[serde(default)]
    pub mentions: u32,
    #[serde(default)]
    pub notify: NotifyLevel,
}

/// WebSocket close codes the server uses, beyond the standard ones.
pub mod close {
    /// The connection could not keep up with its traffic and was dropped;
    /// reconnect and sync from your last seq.
    pub const SLOW_CONSUMER: u16 = 4008;
    /// Too many malformed frames.
    pub const ABUSE: u16 = 4009;
    /// The client asked for a protocol version this server does not speak.
    pub const UNSUPPORTED_PROTOCOL: u16 = 4010;
    /// The session ended (logout or revocation).
    pub const SESSION_ENDED: u16 = 4001;
    /// The server is stopping (RFC 6455's "service restart"): reconnect
    /// after a short random delay and sync; sends not yet acknowledged are
    /// sent again with the same `client_msg_id`.
    pub const SERVICE_RESTART: u16 = 1012;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_tagged_by_type() {
        let send: ClientFrame = serde_json::from_str(
            r#"{"type":"send","client_msg_id":"c1","conversation_id":3,"content":{"kind":"text","text":"hi"}}"#,
        )
        .unwrap();
        assert!(matches!(send, ClientFrame::Send { ref client_msg_id, .. } if client_msg_id == "c1"));

        let error = ServerFrame::Error {
            code: ErrorCode::RateLimited { retry_after_ms: 500 },
            message: "slow down".into(),
            client_msg_id: Some("c1".into()),
        };
        let json = serde_json::to_value(&error).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type":"error","code":"rate_limited","retry_after_ms":500,"message":"slow down","client_msg_id":"c1"})
        );
        assert_eq!(serde_json::from_value::<ServerFrame>(json).unwrap(), error);
        assert_eq!(
            serde_json::to_string(&ServerFrame::ContactsChanged).unwrap(),
            r#"{"type":"contacts_changed"}"#
        );
        let updated: ServerFrame = serde_json::from_str(
            r#"{"type":"user_updated","user":{"id":4,"username":"ann","display_name":"Ann","created_at":1,"avatar":"ab"}}"#,
        )
        .unwrap();
        assert!(matches!(updated, ServerFrame::UserUpdated { ref user } if user.avatar.as_deref() == Some("ab")));
    }

    #[test]
    fn a_batch_holds_whole_frames_in_order() {
        let batch: ServerFrame = serde_json::from_str(
            r#"{"type":"batch","frames":[{"type":"pong","nonce":1},{"type":"contacts_changed"},{"type":"pong","nonce":2}]}"#,
        )
        .unwrap();
        assert_eq!(
            batch,
            ServerFrame::Batch {
                frames: vec![
                    ServerFrame::Pong { nonce: 1 },
                    ServerFrame::ContactsChanged,
                    ServerFrame::Pong { nonce: 2 }
                ]
            }
        );
        assert_eq!(batch.unbatch().count(), 3);
        assert_eq!(ServerFrame::Pong { nonce: 3 }.unbatch().count(), 1);
    }
}
