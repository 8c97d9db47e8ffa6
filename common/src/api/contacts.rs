//! Contacts: user search, contact requests, the contact list, blocks.

use serde::{de::MapAccess, Deserialize, Deserializer, Serialize};

use super::User;
use crate::{
    ids::{ConversationId, RequestId, UserId},
    tagged::{self, need, put, skip, wants, Fields},
};

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
/// other user had already asked) an immediate contact. (`Deserialize` is
/// written out below: see `tagged`.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RequestOutcome {
    Pending { request: ContactRequest },
    Accepted { contact: Contact },
}

impl<'de> Deserialize<'de> for RequestOutcome {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "snake_case")]
        enum Key {
            Status,
            Request,
            Contact,
            #[serde(other)]
            Other,
        }

        #[derive(Clone, Copy, PartialEq, Deserialize)]
        #[serde(variant_identifier, rename_all = "snake_case")]
        enum Tag {
            Pending,
            Accepted,
        }

        #[derive(Default)]
        struct Outcome {
            tag: Option<Tag>,
            request: Option<ContactRequest>,
            contact: Option<Contact>,
        }

        impl<'de> Fields<'de> for Outcome {
            type Key = Key;

            fn read<A: MapAccess<'de>>(&mut self, key: Key, map: &mut A) -> Result<(), A::Error> {
                let tag = self.tag;
                match key {
                    Key::Status => put(&mut self.tag, true, map),
                    Key::Request => put(&mut self.request, wants(tag, &[Tag::Pending]), map),
                    Key::Contact => put(&mut self.contact, wants(tag, &[Tag::Accepted]), map),
                    Key::Other => skip(map),
                }
            }
        }

        let o: Outcome = tagged::read(deserializer, "a request outcome")?;
        Ok(match need(o.tag, "status")? {
            Tag::Pending => Self::Pending {
                request: need(o.request, "request")?,
            },
            Tag::Accepted => Self::Accepted {
                contact: need(o.contact, "contact")?,
            },
        })
    }
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
