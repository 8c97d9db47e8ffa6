//! Groups: creation, membership, roles.

use serde::{Deserialize, Serialize};

use super::User;
use crate::ids::{ConversationId, UserId};

/// A member's standing in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Owners and admins manage members and the group's name.
    pub fn can_manage(self) -> bool {
        self >= Self::Admin
    }
}

/// `POST /api/v1/groups`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewGroup {
    /// 1–64 characters after trimming, no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// Initial members besides the creator; each must be the creator's contact.
    #[serde(default)]
    pub member_ids: Vec<UserId>,
}

/// A group as its members see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Group {
    /// Groups are conversations; this is the conversation's id.
    pub id: ConversationId,
    pub name: String,
    pub member_count: u32,
    /// The caller's role.
    pub my_role: Role,
    /// Unix time in milliseconds.
    pub created_at: i64,
}

/// One member in `GET /api/v1/groups/{id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// Unix time in milliseconds.
    pub joined_at: i64,
}

/// `PATCH /api/v1/groups/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RenameGroup {
    /// 1–64 characters after trimming, no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
}

/// `POST /api/v1/groups/{id}/members`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddMembers {
    pub user_ids: Vec<UserId>,
}

/// `PUT /api/v1/groups/{id}/members/{user_id}/role`: `admin` or `member`;
/// `owner` transfers ownership (the previous owner becomes an admin).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetRole {
    pub role: Role,
}
