//! Conversations (every DM pair and every group) and their event logs.

use serde::{de::MapAccess, Deserialize, Deserializer, Serialize};

use super::User;
use crate::{
    events::Event,
    ids::{ConversationId, EventId, UserId},
    tagged::{self, need, put, skip, wants, Fields},
};

/// One of my conversations, as listed by `GET /api/v1/conversations`.
/// (`Deserialize` is written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Conversation {
    pub id: ConversationId,
    #[serde(flatten)]
    pub kind: ConversationKind,
    /// `seq` of the newest event in the log (0 when empty).
    pub last_seq: i64,
    /// How far I have read it (0: nothing yet).
    #[serde(default)]
    pub read_seq: i64,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// The newest event, for previews (absent in an empty conversation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event: Option<Event>,
    /// Unread messages that mention me.
    #[serde(default)]
    pub unread_mentions: u32,
    /// What I am notified of here.
    #[serde(default)]
    pub notify: NotifyLevel,
}

/// What a member is notified of in one conversation. Kept on the server, so
/// every device (and Web Push) obeys it; unread counts ignore it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum NotifyLevel {
    /// The default: every message in a direct conversation, and in a group
    /// only messages that mention me.
    #[default]
    Default,
    /// Every message (a group someone wants to follow closely).
    All,
    /// Only messages that mention me (groups).
    Mentions,
    /// Nothing; unread messages are still counted.
    Muted,
    /// A level this build does not know (from a newer server).
    #[serde(other)]
    Unknown,
}

impl NotifyLevel {
    /// Whether a new message notifies: `direct` for a one-to-one
    /// conversation, `mentioned` when it names the member.
    pub fn notifies(self, direct: bool, mentioned: bool) -> bool {
        match self {
            Self::All => true,
            Self::Default => direct || mentioned,
            Self::Mentions => mentioned,
            Self::Muted | Self::Unknown => false,
        }
    }
}

/// `GET`/`PUT /api/v1/conversations/{id}/settings`: my settings for one
/// conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSettings {
    pub notify: NotifyLevel,
}

/// A direct conversation or a group. (`Deserialize` is written out below:
/// see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConversationKind {
    /// A one-to-one conversation with `peer`.
    Direct {
        peer: User,
    },
    Group {
        name: String,
        member_count: u32,
    },
}

/// The keys of a [`Conversation`], its flattened [`ConversationKind`]'s
/// among them.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Key {
    Kind,
    Peer,
    Name,
    MemberCount,
    Id,
    LastSeq,
    ReadSeq,
    CreatedAt,
    LastEvent,
    UnreadMentions,
    Notify,
    #[serde(other)]
    Other,
}

#[derive(Clone, Copy, PartialEq, Deserialize)]
#[serde(variant_identifier, rename_all = "snake_case")]
enum KindTag {
    Direct,
    Group,
}

#[derive(Default)]
struct ConversationFields {
    tag: Option<KindTag>,
    peer: Option<User>,
    name: Option<String>,
    member_count: Option<u32>,
    id: Option<ConversationId>,
    last_seq: Option<i64>,
    read_seq: Option<i64>,
    created_at: Option<i64>,
    last_event: Option<Option<Event>>,
    unread_mentions: Option<u32>,
    notify: Option<NotifyLevel>,
}

impl<'de> Fields<'de> for ConversationFields {
    type Key = Key;

    fn read<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
        let tag = self.tag;
        match key {
            Key::Kind => put(&mut self.tag, true, map),
            Key::Peer => put(&mut self.peer, wants(tag, &[KindTag::Direct]), map),
            Key::Name => put(&mut self.name, wants(tag, &[KindTag::Group]), map),
            Key::MemberCount => put(&mut self.member_count, wants(tag, &[KindTag::Group]), map),
            Key::Id => put(&mut self.id, true, map),
            Key::LastSeq => put(&mut self.last_seq, true, map),
            Key::ReadSeq => put(&mut self.read_seq, true, map),
            Key::CreatedAt => put(&mut self.created_at, true, map),
            Key::LastEvent => put(&mut self.last_event, true, map),
            Key::UnreadMentions => put(&mut self.unread_mentions, true, map),
            Key::Notify => put(&mut self.notify, true, map),
            Key::Other => skip(map),
        }
    }
}

impl ConversationFields {
    fn kind<E: serde::de::Error>(&mut self) -> Result<ConversationKind, E> {
        Ok(match need(self.tag, "kind")? {
            KindTag::Direct => ConversationKind::Direct {
                peer: need(self.peer.take(), "peer")?,
            },
            KindTag::Group => ConversationKind::Group {
                name: need(self.name.take(), "name")?,
                member_count: need(self.member_count, "member_count")?,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Conversation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut c: ConversationFields = tagged::read(deserializer, "a conversation")?;
        Ok(Conversation {
            id: need(c.id, "id")?,
            kind: c.kind()?,
            last_seq: need(c.last_seq, "last_seq")?,
            read_seq: c.read_seq.unwrap_or_default(),
            created_at: need(c.created_at, "created_at")?,
            last_event: c.last_event.flatten(),
            unread_mentions: c.unread_mentions.unwrap_or_default(),
            notify: c.notify.unwrap_or_default(),
        })
    }
}

impl<'de> Deserialize<'de> for ConversationKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A lone kind: a conversation's keys, of which only the kind's are used.
        let mut c: ConversationFields = tagged::read(deserializer, "a conversation kind")?;
        c.kind()
    }
}

/// `GET /api/v1/conversations/{id}/events?before=&after=&around=&limit=`:
/// at most one of `before`/`after`/`around`; none gives the newest page.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// Events with `seq` below this, newest first in the log's order.
    #[serde(default)]
    pub before: Option<i64>,
    /// Events with `seq` above this.
    #[serde(default)]
    pub after: Option<i64>,
    /// The page with this seq in its middle (to open a conversation at a
    /// replied-to message or a search hit).
    #[serde(default)]
    pub around: Option<i64>,
    /// The page with this event in its middle, by id: a reply names its
    /// original by id only.
    #[serde(default)]
    pub around_id: Option<EventId>,
    /// 1–100 (default 50).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 100))]
    pub limit: Option<u32>,
}

/// A page of history, always in ascending `seq` order. Messages come as
/// they are now: current text, `deleted` content, and their `state`
/// (edit time, reactions); the edits, deletions and reactions stay in the
/// log as events of their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct History {
    pub events: Vec<Event>,
    /// True when older (for `before`, `around` and newest) or newer (for
    /// `after`) events remain.
    pub more: bool,
    /// For `around`: true when newer events remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more_newer: Option<bool>,
}

/// How far another member has read (`GET /api/v1/conversations/{id}/receipts`,
/// and live as `receipt` frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Receipt {
    pub user_id: UserId,
    pub read_seq: i64,
}

/// `POST /api/v1/media` (multipart, one part named `file`): the stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Media {
    /// Content id (SHA-256 of the stored bytes); use it in image messages.
    pub id: String,
    /// Full-size image URL (same origin, session required).
    pub url: String,
    /// Thumbnail URL (longest side at most 320 px).
    pub thumb_url: String,
    /// `image/jpeg`, `image/png`, `image/gif` or `image/webp`.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    /// Stored size in bytes.
    pub size: u64,
}
