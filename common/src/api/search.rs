//! Message search: `GET /api/v1/search/messages`.

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, EventId, UserId};

/// `GET /api/v1/search/messages?q=&conversation_id=&from=&before=&after=&cursor=&limit=`.
///
/// Finds messages in the conversations the caller is a member of now,
/// newest first, by their current text. Every word of `q` must occur, in
/// any order; the last word also matches as a prefix. Case, accents and
/// width ("Ｆｏｏ") are ignored. Chinese, Japanese, Korean and Thai text
/// matches as a substring, one character or more ("会" finds "会议").
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct MessageSearch {
    /// 1–64 characters, with at least one letter or digit.
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 64))]
    pub q: String,
    /// Only this conversation.
    #[serde(default)]
    pub conversation_id: Option<ConversationId>,
    /// Only messages this user sent.
    #[serde(default)]
    pub from: Option<UserId>,
    /// Only messages sent before this time (Unix ms).
    #[serde(default)]
    pub before: Option<i64>,
    /// Only messages sent at or after this time (Unix ms).
    #[serde(default)]
    pub after: Option<i64>,
    /// Page size, 1–50 (default 20).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 50))]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A message that matched: where it is, and a piece of its text around the
/// first match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageHit {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub id: EventId,
    pub sender: UserId,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    pub snippet: Snippet,
}

/// Text cut from a message, as parts in order; the parts with `hit` set are
/// what the query matched. Joined, the parts are the text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Snippet {
    pub parts: Vec<SnippetPart>,
    /// The message's text goes on before the first part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_start: bool,
    /// The message's text goes on after the last part.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_end: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SnippetPart {
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hit: bool,
}
