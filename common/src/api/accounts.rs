//! Accounts, sessions and profiles.

use serde::{Deserialize, Serialize};

use crate::ids::{SessionId, UserId};

/// `POST /api/v1/auth/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegisterRequest {
    /// 3–32 characters from `a–z A–Z 0–9 _ . -`, first a letter or digit.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 32, pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    )]
    pub username: String,
    /// 1–64 characters after trimming, no control characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub display_name: String,
    /// At least 8 characters, at most 1024 bytes.
    #[cfg_attr(feature = "openapi", schema(min_length = 8, max_length = 1024))]
    pub password: String,
    /// Optional label for the session this creates (e.g. "Firefox on laptop").
    #[serde(default)]
    pub device_name: Option<String>,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Optional label for this device's session.
    #[serde(default)]
    pub device_name: Option<String>,
}

/// A new session, returned by register and login. Browsers also receive the
/// token as an HttpOnly cookie; other clients send it as
/// `Authorization: Bearer <token>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionCreated {
    pub token: String,
    pub session_id: SessionId,
    /// Unix time in milliseconds after which the token stops working.
    pub expires_at: i64,
    pub user: User,
}

/// A user as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// The profile picture's media id, if set: the image is `/media/{id}`,
    /// a square-ish thumbnail `/media/{id}/thumb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar: Option<String>,
}

/// `PUT /api/v1/me/avatar`: one of my uploaded images as my picture.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SetAvatar {
    /// The `id` `POST /api/v1/media` answered.
    pub media_id: String,
}

/// `DELETE /api/v1/me`: the password, to confirm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeleteAccountRequest {
    pub password: String,
}

/// `PATCH /api/v1/me`: fields left out stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateProfileRequest {
    /// 1–64 characters after trimming, no control characters.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub display_name: Option<String>,
}

/// One signed-in device, as listed by `GET /api/v1/sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub id: SessionId,
    pub device_name: String,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// Unix time in milliseconds (updated at most every few minutes).
    pub last_used_at: i64,
    /// Unix time in milliseconds.
    pub expires_at: i64,
    /// True for the session that made this request.
    pub current: bool,
}
