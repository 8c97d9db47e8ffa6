//! Conversations and their history.

use axum::{extract::State, Json};
use natter_common::{
    api::{Conversation, History, HistoryQuery, Receipt},
    ids::ConversationId,
    limits::{MAX_HISTORY_PAGE, RECEIPTS_MAX_MEMBERS},
    ErrorBody, ErrorCode,
};

use super::extract::{page_limit, ApiPath, ApiQuery};
use crate::{
    auth::AuthUser,
    db::{self, events::Window},
    error::{AppError, AppResult},
    state::AppState,
};

/// `GET /api/v1/conversations`: my DMs and groups, most recently active first.
#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", operation_id = "list_conversations",
    responses((status = 200, body = Vec<Conversation>), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<Conversation>>> {
    Ok(Json(db::conversations::list_for(&state.db, auth.user_id).await?))
}

/// `GET /api/v1/conversations/{id}/events`: a page of the log in ascending
/// `seq`: the newest page, or the one `before` / `after` / `around` a seq,
/// messages as they are now.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/events", tag = "conversations",
    params(("id" = i64, Path), HistoryQuery),
    responses((status = 200, body = History),
        (status = 400, description = "`bad_request`, `invalid_input` (`limit`)", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> AppResult<Json<History>> {
    let id = ConversationId(id);
    let given = [
        query.before.is_some(),
        query.after.is_some(),
        query.around.is_some(),
        query.around_id.is_some(),
    ];
    if given.into_iter().filter(|g| *g).count() > 1 {
        return Err(AppError::new(
            ErrorCode::BadRequest,
            "Give at most one of `before`, `after`, `around` and `around_id`.",
        ));
    }
    let limit = page_limit(query.limit, 50, MAX_HISTORY_PAGE)?;
    if !db::conversations::is_member(&state.db, id, auth.user_id).await? {
        return Err(AppError::new(ErrorCode::NotFound, "No such conversation."));
    }
    let window = match (query.before, query.after, query.around, query.around_id) {
        (Some(seq), ..) => Window::Before(seq),
        (_, Some(seq), ..) => Window::After(seq),
        (_, _, Some(seq), _) => Window::Around(seq),
        (_, _, _, Some(event)) => match db::events::seq_of(&state.db, id, &event).await? {
            Some(seq) => Window::Around(seq),
            None => return Err(AppError::new(ErrorCode::NotFound, "No such message here.")),
        },
        _ => Window::Newest,
    };
    let page = db::events::page(&state.db, id, auth.user_id, window, limit).await?;
    Ok(Json(History {
        events: page.events,
        more: page.more,
        more_newer: page.more_newer,
    }))
}

/// `GET /api/v1/conversations/{id}/receipts`: how far the other members have
/// read. Empty for conversations too large to share receipts in.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/receipts", tag = "conversations",
    params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Receipt>), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn receipts(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Receipt>>> {
    let id = ConversationId(id);
    let Some(members) = state.hub.members_for(id, auth.user_id).await? else {
        return Err(AppError::new(ErrorCode::NotFound, "No such conversation."));
    };
    if members.len() > RECEIPTS_MAX_MEMBERS {
        return Ok(Json(Vec::new()));
    }
    Ok(Json(db::read_markers::receipts(&state.db, id, auth.user_id).await?))
}
