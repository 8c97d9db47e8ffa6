//! Contacts, contact requests and blocks.

use axum::{extract::State, http::StatusCode, Json};
use natter_common::{
    api::{Contact, ContactRequests, NewBlock, NewContactRequest, RequestOutcome, User},
    ids::{RequestId, UserId},
    ErrorBody,
};

use super::extract::{ApiJson, ApiPath};
use crate::{auth::AuthUser, db, error::AppResult, social::contacts, state::AppState};

/// `GET /api/v1/contacts`: my contacts with our direct conversations.
#[utoipa::path(get, path = "/api/v1/contacts", tag = "contacts", operation_id = "list_contacts",
    responses((status = 200, body = Vec<Contact>), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<Contact>>> {
    Ok(Json(db::contacts::list(&state.db, auth.user_id).await?))
}

/// `DELETE /api/v1/contacts/{user_id}`: stop being contacts (the direct
/// conversation's history stays).
#[utoipa::path(delete, path = "/api/v1/contacts/{user_id}", tag = "contacts", params(("user_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(user): ApiPath<i64>,
) -> AppResult<StatusCode> {
    contacts::remove(&state.db, auth.user_id, UserId(user)).await?;
    state.hub.contacts_changed(&[auth.user_id, UserId(user)]);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/contact-requests`: pending requests to and from me.
#[utoipa::path(get, path = "/api/v1/contact-requests", tag = "contacts",
    responses((status = 200, body = ContactRequests), (status = 401, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn requests(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<ContactRequests>> {
    Ok(Json(ContactRequests {
        incoming: db::contacts::requests_of(&state.db, auth.user_id, true).await?,
        outgoing: db::contacts::requests_of(&state.db, auth.user_id, false).await?,
    }))
}

/// `POST /api/v1/contact-requests`: ask someone to be my contact. If they
/// already asked me, we become contacts at once (`status: accepted`).
#[utoipa::path(post, path = "/api/v1/contact-requests", tag = "contacts", request_body = NewContactRequest,
    responses(
        (status = 201, body = RequestOutcome),
        (status = 400, description = "`cannot_request_self`, `bad_request`", body = ErrorBody),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
        (status = 403, description = "`blocked`", body = ErrorBody),
        (status = 404, description = "unknown user", body = ErrorBody),
        (status = 409, description = "`already_requested`, `already_contacts`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn send_request(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NewContactRequest>,
) -> AppResult<(StatusCode, Json<RequestOutcome>)> {
    let outcome = contacts::send_request(&state.db, auth.user_id, body.user_id).await?;
    if let RequestOutcome::Accepted { contact } = &outcome {
        state.hub.forget_members(contact.conversation_id);
    }
    state.hub.contacts_changed(&[auth.user_id, body.user_id]);
    if matches!(outcome, RequestOutcome::Accepted { .. }) {
        state.hub.introduce(auth.user_id, body.user_id).await;
    }
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// `POST /api/v1/contact-requests/{id}/accept`: accept a request sent to me.
#[utoipa::path(post, path = "/api/v1/contact-requests/{id}/accept", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn accept(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Contact>> {
    let contact = contacts::accept(&state.db, auth.user_id, RequestId(id)).await?;
    state.hub.forget_members(contact.conversation_id);
    state.hub.contacts_changed(&[auth.user_id, contact.user.id]);
    state.hub.introduce(auth.user_id, contact.user.id).await;
    Ok(Json(contact))
}

/// `POST /api/v1/contact-requests/{id}/decline`: decline a request sent to me.
#[utoipa::path(post, path = "/api/v1/contact-requests/{id}/decline", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn decline(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    let other = contacts::decline(&state.db, auth.user_id, RequestId(id)).await?;
    state.hub.contacts_changed(&[auth.user_id, other]);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/contact-requests/{id}`: cancel a request I sent.
#[utoipa::path(delete, path = "/api/v1/contact-requests/{id}", tag = "contacts", params(("id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn cancel(State(state): State<AppState>, auth: AuthUser, ApiPath(id): ApiPath<i64>) -> AppResult<StatusCode> {
    let other = contacts::cancel(&state.db, auth.user_id, RequestId(id)).await?;
    state.hub.contacts_changed(&[auth.user_id, other]);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/blocks`: users I have blocked.
#[utoipa::path(get, path = "/api/v1/blocks", tag = "contacts",
    responses((status = 200, body = Vec<User>), (status = 401, description = "`unauthorized`", body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn blocks(State(state): State<AppState>, auth: AuthUser) -> AppResult<Json<Vec<User>>> {
    Ok(Json(db::contacts::blocked_by(&state.db, auth.user_id).await?))
}

/// `POST /api/v1/blocks`: block a user (ends the contact and pending requests).
#[utoipa::path(post, path = "/api/v1/blocks", tag = "contacts", request_body = NewBlock,
    responses((status = 204), (status = 400, description = "`bad_request`: not a JSON object of this shape", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn block(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<NewBlock>,
) -> AppResult<StatusCode> {
    contacts::block(&state.db, auth.user_id, body.user_id).await?;
    state.hub.contacts_changed(&[auth.user_id, body.user_id]);
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/blocks/{user_id}`: unblock.
#[utoipa::path(delete, path = "/api/v1/blocks/{user_id}", tag = "contacts", params(("user_id" = i64, Path)),
    responses((status = 204), (status = 400, description = "`bad_request`: an id that is not an integer", body = ErrorBody), (status = 401, description = "`unauthorized`", body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn unblock(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiPath(user): ApiPath<i64>,
) -> AppResult<StatusCode> {
    contacts::unblock(&state.db, auth.user_id, UserId(user)).await?;
    // My other devices refetch, their blocked lists included.
    state.hub.contacts_changed(&[auth.user_id]);
    Ok(StatusCode::NO_CONTENT)
}
