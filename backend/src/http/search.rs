//! Message search.

use axum::{extract::State, Json};
use natter_common::{
    api::{MessageHit, MessageSearch, Page},
    limits::SEARCH_QUERY_MAX_CHARS,
    ErrorBody, ErrorCode,
};

use super::extract::{page_limit, ApiQuery};
use crate::{
    auth::AuthUser,
    db,
    error::{AppError, AppResult},
    search::{words::Query, Filters},
    state::AppState,
};

/// `GET /api/v1/search/messages`: messages in my conversations that contain
/// every word of `q` (the last one as a prefix; Chinese, Japanese, Korean
/// and Thai as a substring), newest first, each with a snippet.
#[utoipa::path(get, path = "/api/v1/search/messages", tag = "conversations", params(MessageSearch),
    responses((status = 200, body = Page<MessageHit>), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(search): ApiQuery<MessageSearch>,
) -> AppResult<Json<Page<MessageHit>>> {
    let invalid =
        |field: &str, message: String| AppError::new(ErrorCode::InvalidInput { field: field.into() }, message);
    let chars = search.q.trim().chars().count();
    let query = Query::parse(&search.q)
        .filter(|_| chars <= SEARCH_QUERY_MAX_CHARS)
        .ok_or_else(|| {
            invalid(
                "q",
                format!("Search for 1–{SEARCH_QUERY_MAX_CHARS} characters with a letter or digit among them."),
            )
        })?;
    let cursor = search
        .cursor
        .as_deref()
        .map(|c| c.parse::<i64>().ok().filter(|c| *c > 0))
        .map(|c| c.ok_or_else(|| invalid("cursor", "Pass back a `next_cursor` as it came.".into())))
        .transpose()?;
    let conversations = match search.conversation_id {
        Some(id) if db::conversations::is_member(&state.db, id, auth.user_id).await? => vec![id],
        Some(_) => return Err(AppError::new(ErrorCode::NotFound, "No such conversation.")),
        None => db::members::conversations_of(&state.db, auth.user_id).await?,
    };
    let filters = Filters {
        conversation: search.conversation_id,
        from: search.from,
        before: search.before,
        after: search.after,
        cursor,
        limit: page_limit(search.limit, 20, 50)?,
    };
    let found = state.search.find(&state.db, &query, &conversations, &filters).await?;
    Ok(Json(Page {
        items: found.hits,
        next_cursor: found.next_cursor.map(|key| key.to_string()),
    }))
}
