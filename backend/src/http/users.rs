//! Finding people: user search and public profiles.

use axum::{extract::State, Json};
use natter_common::{
    api::{Page, User, UserSearch},
    ids::UserId,
    limits::SEARCH_QUERY_MAX_CHARS,
    ErrorBody, ErrorCode,
};

use super::extract::{page_limit, ApiPath, ApiQuery};
use crate::{
    auth::AuthUser,
    db,
    error::{AppError, AppResult},
    state::AppState,
};

/// `GET /api/v1/users/search`: users whose username starts with `q`, or
/// any word of whose display name does, by username. Neither the caller nor
/// users who blocked the caller are shown.
#[utoipa::path(get, path = "/api/v1/users/search", tag = "contacts", params(UserSearch),
    responses((status = 200, body = Page<User>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn search(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<UserSearch>,
) -> AppResult<Json<Page<User>>> {
    let q = query.q.trim();
    if q.is_empty() || q.chars().count() > SEARCH_QUERY_MAX_CHARS {
        return Err(AppError::new(
            ErrorCode::InvalidInput { field: "q".into() },
            format!("Search for 1–{SEARCH_QUERY_MAX_CHARS} characters."),
        ));
    }
    let limit = page_limit(query.limit, 20, 50)?;
    let rows = db::users::search(&state.db, auth.user_id, q, query.cursor.as_deref(), limit).await?;
    let next_cursor = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.username.clone()))
        .flatten();
    Ok(Json(Page {
        items: rows.into_iter().map(User::from).collect(),
        next_cursor,
    }))
}

/// `GET /api/v1/users/{id}`: a user's public profile.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = User), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn get(State(state): State<AppState>, _auth: AuthUser, ApiPath(id): ApiPath<i64>) -> AppResult<Json<User>> {
    let user = db::users::by_id(&state.db, UserId(id)).await?;
    Ok(Json(
        user.ok_or_else(|| AppError::new(ErrorCode::NotFound, "No such user."))?
            .into(),
    ))
}
