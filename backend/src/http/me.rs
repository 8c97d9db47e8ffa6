//! The signed-in user's own profile and devices.

use axum::{extract::State, http::StatusCode, Json};
use natter_common::{
    api::{DeleteAccountRequest, SessionInfo, SetAvatar, UpdateProfileRequest, User},
    frames::ServerFrame,
    ids::SessionId,
    limits::PASSWORD_MAX_BYTES,
    validate::{DisplayName, Invalid},
    ErrorBody, ErrorCode,
};

use super::extract::{ApiJson, ApiPath};
use crate::{
    auth::AuthUser,
    db,
    error::{AppError, AppResult},
    hub::{encode, Kind},
    social,
    state::AppState,
};

/// `GET /api/v1/me`: who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "profile",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<User>> {
    let user = db::users::by_id(&state.db, auth.user_id)
        .await?
        .ok_or_else(AppError::unauthorized)?;
    Ok(Json(user.into()))
}

/// `PUT /api/v1/me/avatar`: one of my images (one I uploaded, or one posted
/// where I can see it) as my picture, which everyone signed in may then see.
#[utoipa::path(put, path = "/api/v1/me/avatar", tag = "profile",
    request_body = SetAvatar,
    responses((status = 200, body = User),
        (status = 400, description = "`bad_request`; `invalid_input` (`media_id`): not an image I can see", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn set_avatar(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<SetAvatar>,
) -> AppResult<Json<User>> {
    if !db::media::visible_to(&state.db, &body.media_id, auth.user_id).await? {
        return Err(Invalid {
            field: "media_id",
            message: "Unknown image: upload it first.".into(),
        }
        .into());
    }
    let user = db::users::set_avatar(&state.db, auth.user_id, Some(&body.media_id), db::now_ms()).await?;
    changed(&state, user).await
}

/// `DELETE /api/v1/me/avatar`: no picture (initials instead).
#[utoipa::path(delete, path = "/api/v1/me/avatar", tag = "profile",
    responses((status = 200, body = User), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove_avatar(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<User>> {
    let user = db::users::set_avatar(&state.db, auth.user_id, None, db::now_ms()).await?;
    changed(&state, user).await
}

/// `PATCH /api/v1/me`: change my display name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "profile",
    request_body = UpdateProfileRequest,
    responses((status = 200, body = User), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<UpdateProfileRequest>,
) -> AppResult<Json<User>> {
    match body.display_name {
        Some(name) => {
            let name = DisplayName::parse(&name)?;
            let user = db::users::set_display_name(&state.db, auth.user_id, &name, db::now_ms()).await?;
            changed(&state, user).await
        }
        None => {
            let user = db::users::by_id(&state.db, auth.user_id).await?;
            Ok(Json(user.ok_or_else(AppError::unauthorized)?.into()))
        }
    }
}

/// Answers with my profile as just stored, after telling everyone who sees
/// me of it (a `user_updated` frame): those I share a conversation with,
/// however large (not those I blocked), and my own devices.
async fn changed(state: &AppState, stored: Option<db::users::UserRow>) -> AppResult<Json<User>> {
    let user: User = stored.ok_or_else(AppError::unauthorized)?.into();
    // The change is stored either way: a failed look-up costs the others
    // only the live news of it (they read it with their next list or page).
    let mut audience = match db::members::profile_audience(&state.db, user.id).await {
        Ok(audience) => audience,
        Err(err) => {
            tracing::warn!(%err, "profile change audience lookup failed");
            Vec::new()
        }
    };
    audience.push(user.id);
    let frame = encode(&ServerFrame::UserUpdated { user: user.clone() });
    state.hub.send_to_users(&audience, &frame, Kind::Reliable, None);
    Ok(Json(user))
}

/// `GET /api/v1/sessions`: my signed-in devices.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "profile",
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn sessions(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<SessionInfo>>> {
    let rows = db::sessions::list_for_user(&state.db, auth.user_id, db::now_ms()).await?;
    let list = rows
        .into_iter()
        .map(|row| SessionInfo {
            id: SessionId(row.id),
            device_name: row.device_name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
            current: row.id == auth.session_id.0,
        })
        .collect();
    Ok(Json(list))
}

/// `DELETE /api/v1/sessions/{id}`: sign one of my devices out.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "profile",
    params(("id" = i64, Path, description = "Session id")),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    if db::sessions::revoke(&state.db, auth.user_id, SessionId(id)).await? {
        state.hub.end_session(auth.user_id, SessionId(id));
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found())
    }
}

/// `DELETE /api/v1/me`: delete my account, confirmed with my password. I
/// leave every group (ownership passes on as when leaving), and my
/// sessions, contacts, requests, blocks, direct conversations and the
/// images only I refer to go. Messages I sent stay in others' history,
/// from "Deleted user". My username is free again after 30 days.
#[utoipa::path(delete, path = "/api/v1/me", tag = "profile", request_body = DeleteAccountRequest,
    responses((status = 204), (status = 400, description = "`bad_request`: not a JSON object of this shape", body = ErrorBody),
        (status = 401, description = "`unauthorized`, `invalid_credentials`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> AppResult<StatusCode> {
    let stored = db::users::password_hash(&state.db, auth.user_id).await?;
    if body.password.len() > PASSWORD_MAX_BYTES || !state.passwords.verify(body.password, stored).await? {
        return Err(AppError::new(ErrorCode::InvalidCredentials, "Wrong password."));
    }
    social::leaving::delete_account(&state.log, &state.db, &state.media, auth.user_id).await?;
    state.hub.end_user(auth.user_id);
    Ok(StatusCode::NO_CONTENT)
}
