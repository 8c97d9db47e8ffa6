//! What I am notified of: per-conversation levels, account-wide settings,
//! and this browser's Web Push subscription.

use axum::{extract::State, http::StatusCode, Json};
use base64::{
    engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD},
    Engine,
};
use natter_common::{
    api::{ConversationSettings, NotificationSettings, NotifyLevel, PushSubscription, UpdateNotificationSettings},
    frames::ServerFrame,
    ids::ConversationId,
    limits::PUSH_SUBSCRIPTIONS_MAX,
    validate::Invalid,
    ErrorBody, ErrorCode,
};

use super::extract::{ApiJson, ApiPath};
use crate::{
    auth::AuthUser,
    db,
    error::{AppError, AppResult},
    hub::{encode, Kind},
    push::endpoint::Endpoint,
    state::AppState,
};

fn no_such_conversation() -> AppError {
    AppError::new(ErrorCode::NotFound, "No such conversation.")
}

/// `GET /api/v1/conversations/{id}/settings`: my settings there.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/settings", tag = "notifications",
    params(("id" = i64, Path)),
    responses((status = 200, body = ConversationSettings), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn conversation(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<ConversationSettings>> {
    let notify = db::notify::get(&state.db, auth.user_id, ConversationId(id))
        .await?
        .ok_or_else(no_such_conversation)?;
    Ok(Json(ConversationSettings { notify }))
}

/// `PUT /api/v1/conversations/{id}/settings`: change them; my other
/// devices hear of it as a `conversation_settings` frame.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/settings", tag = "notifications",
    params(("id" = i64, Path)), request_body = ConversationSettings,
    responses((status = 200, body = ConversationSettings),
        (status = 400, description = "`bad_request`, `invalid_input` (`notify`)", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn set_conversation(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ConversationSettings>,
) -> AppResult<Json<ConversationSettings>> {
    let id = ConversationId(id);
    if body.notify == NotifyLevel::Unknown {
        return Err(Invalid {
            field: "notify",
            message: "Choose default, all, mentions or muted.".into(),
        }
        .into());
    }
    if !db::notify::set(&state.db, auth.user_id, id, body.notify).await? {
        return Err(no_such_conversation());
    }
    let frame = encode(&ServerFrame::ConversationSettings {
        conversation_id: id,
        notify: body.notify,
    });
    state.hub.send_to_user(auth.user_id, &frame, Kind::Reliable);
    Ok(Json(body))
}

async fn settings(state: &AppState, auth: &AuthUser) -> AppResult<NotificationSettings> {
    Ok(NotificationSettings {
        previews: db::notify::previews(&state.db, auth.user_id).await?,
        push_public_key: state.push.public_key().to_owned(),
        subscribed: db::push::has(&state.db, auth.session_id).await?,
    })
}

/// `GET /api/v1/notifications`: my account-wide settings and the server's
/// push key.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    responses((status = 200, body = NotificationSettings), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn account(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<NotificationSettings>> {
    Ok(Json(settings(&state, &auth).await?))
}

/// `PUT /api/v1/notifications`: change them.
#[utoipa::path(put, path = "/api/v1/notifications", tag = "notifications",
    request_body = UpdateNotificationSettings,
    responses((status = 200, body = NotificationSettings), (status = 400, body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn set_account(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<UpdateNotificationSettings>,
) -> AppResult<Json<NotificationSettings>> {
    if let Some(previews) = body.previews {
        db::notify::set_previews(&state.db, auth.user_id, previews).await?;
    }
    Ok(Json(settings(&state, &auth).await?))
}

/// `POST /api/v1/push-subscriptions`: push to this browser when I am away
/// (replacing this session's earlier subscription).
#[utoipa::path(post, path = "/api/v1/push-subscriptions", tag = "notifications",
    request_body = PushSubscription,
    responses((status = 204, description = "Subscribed"),
        (status = 400, description = "`bad_request`; `invalid_input`: `endpoint` not https on a public address, `keys` malformed, or already on the most devices", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn subscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<PushSubscription>,
) -> AppResult<StatusCode> {
    let allow_private = state.push.allow_private();
    let endpoint_refused = |err: crate::push::endpoint::Refused| Invalid {
        field: "endpoint",
        message: err.to_string(),
    };
    let endpoint = Endpoint::parse(&body.endpoint, allow_private).map_err(endpoint_refused)?;
    endpoint.check_resolves(allow_private).await.map_err(endpoint_refused)?;
    let bad_keys = || Invalid {
        field: "keys",
        message: "The subscription's keys are malformed.".into(),
    };
    let p256dh = decode(&body.keys.p256dh).ok_or_else(bad_keys)?;
    let auth_secret = decode(&body.keys.auth).ok_or_else(bad_keys)?;
    if auth_secret.len() != 16 || web_push_native::p256::PublicKey::from_sec1_bytes(&p256dh).is_err() {
        return Err(bad_keys().into());
    }
    let saved = db::push::save(
        &state.db,
        auth.user_id,
        auth.session_id,
        db::push::NewSubscription {
            endpoint: &body.endpoint,
            p256dh: &p256dh,
            auth: &auth_secret,
        },
        PUSH_SUBSCRIPTIONS_MAX,
        db::now_ms(),
    )
    .await?;
    if !saved {
        return Err(Invalid {
            field: "endpoint",
            message: format!(
                "Notifications are on in {PUSH_SUBSCRIPTIONS_MAX} browsers already: turn them off in one, or sign it out."
            ),
        }
        .into());
    }
    state.push.subscribed(auth.user_id);
    Ok(StatusCode::NO_CONTENT)
}

/// Browsers give base64url without padding; be lenient about padding.
fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).or_else(|_| URL_SAFE.decode(text)).ok()
}

/// `DELETE /api/v1/push-subscriptions`: stop pushing to this browser.
#[utoipa::path(delete, path = "/api/v1/push-subscriptions", tag = "notifications",
    responses((status = 204, description = "Unsubscribed (or was not subscribed)"), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn unsubscribe(State(state): State<AppState>, auth: AuthUser) -> AppResult<StatusCode> {
    db::push::remove(&state.db, auth.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
