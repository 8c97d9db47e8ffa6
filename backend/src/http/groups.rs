//! Groups and their members.

use axum::{extract::State, http::StatusCode, Json};
use natter_common::{
    api::{AddMembers, Group, Member, NewGroup, Page, RenameGroup, SetRole},
    ids::{ConversationId, UserId},
    limits::{MAX_PAGE_SIZE, SEARCH_QUERY_MAX_CHARS},
    validate::GroupName,
    ErrorBody, ErrorCode,
};
use serde::Deserialize;

use super::extract::{page_limit, ApiJson, ApiPath, ApiQuery};
use crate::{
    auth::AuthUser,
    error::{AppError, AppResult},
    log::{Command, Done, GroupChange, Submission},
    social::groups,
    state::AppState,
};

/// Hands a change to the log's writer and waits until it is committed and
/// its events are on their way to the members.
async fn change(state: &AppState, auth: &AuthUser, change: GroupChange) -> AppResult<Done> {
    let submission = Submission {
        by: auth.user_id,
        conn: None,
        command: Command::Group(change),
        permit: None,
    };
    Ok(state.log.request(submission).outcome().await?)
}

/// The group a change answered with.
fn group(done: Done) -> AppResult<Group> {
    match done {
        Done::Group(group) => Ok(group),
        other => Err(AppError::Internal(anyhow::anyhow!("a group change answered {other:?}"))),
    }
}

/// `GET /api/v1/groups`: the groups I belong to.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", operation_id = "list_groups",
    responses((status = 200, body = Vec<Group>), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<Group>>> {
    Ok(Json(groups::list(&state.db, auth.user_id).await?))
}

/// `POST /api/v1/groups`: create a group with some of my contacts.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses(
        (status = 201, body = Group),
        (status = 400, description = "`invalid_input`, `bad_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`not_contacts`", body = ErrorBody),
        (status = 409, description = "`group_full`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NewGroup>,
) -> AppResult<(StatusCode, Json<Group>)> {
    let create = GroupChange::Create {
        name: GroupName::parse(&body.name)?,
        members: body.member_ids,
        max: state.config.max_group_size,
    };
    Ok((StatusCode::CREATED, Json(group(change(&state, &auth, create).await?)?)))
}

/// `GET /api/v1/groups/{id}`: a group I belong to.
#[utoipa::path(get, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = Group), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn info(State(state): State<AppState>, auth: AuthUser, ApiPath(id): ApiPath<i64>) -> AppResult<Json<Group>> {
    Ok(Json(groups::info(&state.db, auth.user_id, ConversationId(id)).await?))
}

/// `PATCH /api/v1/groups/{id}`: rename (owner or admin).
#[utoipa::path(patch, path = "/api/v1/groups/{id}", tag = "groups", params(("id" = i64, Path)),
    request_body = RenameGroup,
    responses((status = 200, body = Group), (status = 400, description = "`invalid_input`, `bad_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn rename(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RenameGroup>,
) -> AppResult<Json<Group>> {
    let rename = GroupChange::Rename {
        group: ConversationId(id),
        name: GroupName::parse(&body.name)?,
    };
    Ok(Json(group(change(&state, &auth, rename).await?)?))
}

/// Paging for `GET /api/v1/groups/{id}/members`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberPage {
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1–100 (default 100).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Only members whose username, or a word of whose display name,
    /// starts with this (case-insensitive): completing an `@mention`.
    #[param(max_length = 64)]
    q: Option<String>,
}

/// `GET /api/v1/groups/{id}/members`: members by user id, a page at a time;
/// with `q`, only those whose username or a word of whose name starts with it.
#[utoipa::path(get, path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = i64, Path), MemberPage),
    responses((status = 200, body = Page<Member>),
        (status = 400, description = "`bad_request`, `invalid_input` (`limit`, `cursor`, `q`)", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn members(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(page): ApiQuery<MemberPage>,
) -> AppResult<Json<Page<Member>>> {
    let limit = page_limit(page.limit, MAX_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let after = page.cursor.as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    let q = page.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > SEARCH_QUERY_MAX_CHARS || q.chars().any(char::is_control)) {
        return Err(AppError::new(
            ErrorCode::InvalidInput { field: "q".into() },
            format!("`q` is at most {SEARCH_QUERY_MAX_CHARS} characters, none of them control characters."),
        ));
    }
    let items = groups::members(&state.db, auth.user_id, ConversationId(id), q, after, limit).await?;
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|m| m.user.id.0.to_string()))
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

/// `POST /api/v1/groups/{id}/members`: add contacts of mine (owner or admin).
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "groups", params(("id" = i64, Path)),
    request_body = AddMembers,
    responses((status = 200, body = Group), (status = 400, description = "`bad_request`: a malformed id or body", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn add_members(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddMembers>,
) -> AppResult<Json<Group>> {
    let add = GroupChange::AddMembers {
        group: ConversationId(id),
        users: body.user_ids,
        max: state.config.max_group_size,
    };
    Ok(Json(group(change(&state, &auth, add).await?)?))
}

/// `DELETE /api/v1/groups/{id}/members/{user_id}`: remove a member (owners
/// remove anyone, admins remove members); my own id means leaving.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, user)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    let remove = GroupChange::Remove {
        group: ConversationId(id),
        user: UserId(user),
    };
    change(&state, &auth, remove).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/groups/{id}/leave`: leave; an owner's role passes on.
#[utoipa::path(post, path = "/api/v1/groups/{id}/leave", tag = "groups", params(("id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn leave(State(state): State<AppState>, auth: AuthUser, ApiPath(id): ApiPath<i64>) -> AppResult<StatusCode> {
    let leave = GroupChange::Remove {
        group: ConversationId(id),
        user: auth.user_id,
    };
    change(&state, &auth, leave).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT /api/v1/groups/{id}/members/{user_id}/role`: owner only; `owner`
/// transfers ownership.
#[utoipa::path(put, path = "/api/v1/groups/{id}/members/{user_id}/role", tag = "groups",
    params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = SetRole,
    responses((status = 204), (status = 400, description = "`bad_request`: a malformed id or body", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn set_role(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath((id, user)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<SetRole>,
) -> AppResult<StatusCode> {
    let set = GroupChange::SetRole {
        group: ConversationId(id),
        user: UserId(user),
        role: body.role,
    };
    change(&state, &auth, set).await?;
    Ok(StatusCode::NO_CONTENT)
}
