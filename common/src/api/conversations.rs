//! Conversations (every DM pair and every group) and their event logs.

use serde::{Deserialize, Serialize};

use super::User;
use crate::{
    events::Event,
    ids::{ConversationId, EventId, UserId},
};

/// One of my conversations, as listed by `GET /api/v1/conversations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
