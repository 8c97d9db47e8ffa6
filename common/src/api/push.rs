//! Notification preferences and Web Push subscriptions.

use serde::{Deserialize, Serialize};

use crate::ids::{ConversationId, EventId};

/// `GET /api/v1/notifications`: my account-wide notification settings, and
/// what a browser needs to subscribe to Web Push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSettings {
    /// Whether pushed notifications carry the message's text (else only
    /// who wrote where).
    pub previews: bool,
    /// The server's VAPID public key (uncompressed P-256 point, base64url
    /// without padding): `applicationServerKey` for `pushManager.subscribe`.
    pub push_public_key: String,
    /// Whether this session has a push subscription.
    pub subscribed: bool,
}

/// `PUT /api/v1/notifications`: fields left out stay as they are.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpdateNotificationSettings {
    #[serde(default)]
    pub previews: Option<bool>,
}

/// `POST /api/v1/push-subscriptions`: the browser's `PushSubscription`
/// (its `toJSON()`), for this session; replaces the session's earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushSubscription {
    /// The push service's URL for this browser (`https`, on a public address).
    pub endpoint: String,
    pub keys: PushKeys,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PushKeys {
    /// The browser's P-256 public key, base64url.
    pub p256dh: String,
    /// The 16-byte authentication secret, base64url.
    pub auth: String,
}

/// What a push carries (JSON, encrypted for the browser): enough for the
/// service worker to show a notification and open the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushMessage {
    pub conversation_id: ConversationId,
    pub seq: i64,
    pub event_id: EventId,
    /// The sender's display name.
    pub sender: String,
    /// The group's name; absent for a direct conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The start of the message (absent when previews are off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// True when the message mentions the recipient.
    #[serde(default)]
    pub mention: bool,
}
