//! Contacts: user search, contact requests, the contact list, blocks.

use serde::{Deserialize, Serialize};

use super::User;
use crate::ids::{ConversationId, RequestId, UserId};

/// `GET /api/v1/users/search?q=&limit=&cursor=`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UserSearch {
    /// Prefix of a username, or of any word of a display name or username
    /// (case-insensitive), or part of a Chinese, Japanese or Korean
    /// display name; 1–64 characters.
    #[cfg_attr(feature = "openapi", param(min_length = 1, max_length = 64))]
    pub q: String,
    /// Page size, 1–50 (default 20).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 50))]
    pub limit: Option<u32>,
    #[serde(default)]
    pub cursor: Option<String>,
}

/// `POST /api/v1/contact-requests`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewContactRequest {
    pub user_id: UserId,
}

/// A pending request from one user to become another's contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactRequest {
    pub id: RequestId,
    pub from: User,
    pub to: User,
    /// Unix time in milliseconds.
    pub created_at: i64,
}

/// `GET /api/v1/contact-requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContactRequests {
    pub incoming: Vec<ContactRequest>,
    pub outgoing: Vec<ContactRequest>,
}

/// What sending a contact request led to: a pending request, or (when the
/// other user had already asked) an immediate contact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestOutcome {
    Pending { request: ContactRequest },
    Accepted { contact: Contact },
}

/// Someone in my contact list, with our direct conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Contact {
    pub user: User,
    pub conversation_id: ConversationId,
    /// Unix time in milliseconds.
    pub since: i64,
}

/// `POST /api/v1/blocks`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewBlock {
    pub user_id: UserId,
}
