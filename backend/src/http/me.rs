//! The signed-in user's own profile and devices.

use axum::{extract::State, http::StatusCode, Json};
use natter_common::{
    api::{SessionInfo, UpdateProfileRequest, User},
    ids::SessionId,
    validate::DisplayName,
    ErrorBody,
};

use super::extract::{ApiJson, ApiPath};
use crate::{
    auth::AuthUser,
    db,
    error::{AppError, AppResult},
    state::AppState,
};

/// `GET /api/v1/me`: who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "profile",
    responses((status = 200, body = User), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn me(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<User>> {
    let user = db::users::by_id(&state.pool, auth.user_id)
        .await?
        .ok_or_else(AppError::unauthorized)?;
    Ok(Json(user.into()))
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
    let user = match body.display_name {
        Some(name) => {
            let name = DisplayName::parse(&name)?;
            db::users::set_display_name(&state.pool, auth.user_id, &name, db::now_ms()).await?
        }
        None => db::users::by_id(&state.pool, auth.user_id).await?,
    };
    Ok(Json(user.ok_or_else(AppError::unauthorized)?.into()))
}

/// `GET /api/v1/sessions`: my signed-in devices.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "profile",
    responses((status = 200, body = Vec<SessionInfo>), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn sessions(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<SessionInfo>>> {
    let rows = db::sessions::list_for_user(&state.pool, auth.user_id, db::now_ms()).await?;
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
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    if db::sessions::revoke(&state.pool, auth.user_id, SessionId(id)).await? {
        state.hub.end_session(auth.user_id, SessionId(id));
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found())
    }
}
