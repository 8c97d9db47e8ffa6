//! REST calls to the server. Views call these; they never build requests themselves.

use gloo_net::http::{Request, RequestBuilder, Response};
use natter_common::{
    api::{
        AddMembers, Contact, ContactRequests, Conversation, ConversationSettings, DeleteAccountRequest, Group, History,
        LoginRequest, Member, MessageHit, MessageSearch, NewContactRequest, NewGroup, NotificationSettings,
        NotifyLevel, Page, Receipt, RegisterRequest, RenameGroup, RequestOutcome, Role, SessionCreated, SessionInfo,
        SetAvatar, SetRole, UpdateNotificationSettings, UpdateProfileRequest, User,
    },
    ids::{ConversationId, EventId, RequestId, SessionId, UserId},
    ErrorBody, ErrorCode,
};
use serde::{de::DeserializeOwned, Serialize};

const BASE: &str = "/api/v1";

pub type ApiResult<T> = Result<T, ErrorBody>;

fn url(path: &str) -> String {
    format!("{BASE}/{path}")
}

// Accounts.

pub async fn register(body: &RegisterRequest) -> ApiResult<SessionCreated> {
    json(Request::post(&url("auth/register")), body).await
}

pub async fn login(body: &LoginRequest) -> ApiResult<SessionCreated> {
    json(Request::post(&url("auth/login")), body).await
}

pub async fn logout() -> ApiResult<()> {
    let response = Request::post(&url("auth/logout")).send().await.map_err(unreachable)?;
    match response.status() {
        // Already signed out is as good as signed out.
        204 | 401 => Ok(()),
        _ => Err(error_from(response).await),
    }
}

/// The signed-in user, or `None` when the session cookie is missing or dead.
pub async fn me() -> ApiResult<Option<User>> {
    let response = Request::get(&url("me")).send().await.map_err(unreachable)?;
    match response.status() {
        200 => decode(&response.text().await.map_err(|_| garbled())?).map(Some),
        401 => Ok(None),
        _ => Err(error_from(response).await),
    }
}

/// Changes the signed-in user's profile; answers the user as now saved.
pub async fn update_me(body: &UpdateProfileRequest) -> ApiResult<User> {
    json(Request::patch(&url("me")), body).await
}

/// Makes an image I uploaded my picture; answers me as now saved.
pub async fn set_avatar(media_id: String) -> ApiResult<User> {
    json(Request::put(&url("me/avatar")), &SetAvatar { media_id }).await
}

/// Takes my picture away (initials instead); answers me as now saved.
pub async fn remove_avatar() -> ApiResult<User> {
    fetch(Request::delete(&url("me/avatar"))).await
}

/// Deletes the signed-in user's account, confirmed with their password;
/// every session of theirs ends with it.
pub async fn delete_account(password: String) -> ApiResult<()> {
    json_empty(Request::delete(&url("me")), &DeleteAccountRequest { password }).await
}

/// The signed-in user's live sessions, most recently used first.
pub async fn sessions() -> ApiResult<Vec<SessionInfo>> {
    fetch(Request::get(&url("sessions"))).await
}

/// Signs one of the user's other devices out.
pub async fn revoke_session(id: SessionId) -> ApiResult<()> {
    empty(Request::delete(&url(&format!("sessions/{}", id.0)))).await
}

// Contacts.

pub async fn user(id: UserId) -> ApiResult<User> {
    fetch(Request::get(&url(&format!("users/{}", id.0)))).await
}

pub async fn search_users(q: &str) -> ApiResult<Page<User>> {
    let query = js_sys_encode(q);
    fetch(Request::get(&url(&format!("users/search?q={query}&limit=20")))).await
}

pub async fn contacts() -> ApiResult<Vec<Contact>> {
    fetch(Request::get(&url("contacts"))).await
}

pub async fn contact_requests() -> ApiResult<ContactRequests> {
    fetch(Request::get(&url("contact-requests"))).await
}

pub async fn send_contact_request(user_id: UserId) -> ApiResult<RequestOutcome> {
    json(Request::post(&url("contact-requests")), &NewContactRequest { user_id }).await
}

pub async fn accept_request(id: RequestId) -> ApiResult<Contact> {
    fetch(Request::post(&url(&format!("contact-requests/{}/accept", id.0)))).await
}

pub async fn decline_request(id: RequestId) -> ApiResult<()> {
    empty(Request::post(&url(&format!("contact-requests/{}/decline", id.0)))).await
}

pub async fn cancel_request(id: RequestId) -> ApiResult<()> {
    empty(Request::delete(&url(&format!("contact-requests/{}", id.0)))).await
}

pub async fn remove_contact(user_id: UserId) -> ApiResult<()> {
    empty(Request::delete(&url(&format!("contacts/{}", user_id.0)))).await
}

pub async fn block(user_id: UserId) -> ApiResult<()> {
    json_empty(Request::post(&url("blocks")), &natter_common::api::NewBlock { user_id }).await
}

/// The users I have blocked.
pub async fn blocked() -> ApiResult<Vec<User>> {
    fetch(Request::get(&url("blocks"))).await
}

pub async fn unblock(user_id: UserId) -> ApiResult<()> {
    empty(Request::delete(&url(&format!("blocks/{}", user_id.0)))).await
}

// Groups and conversations.

pub async fn conversations() -> ApiResult<Vec<Conversation>> {
    fetch(Request::get(&url("conversations"))).await
}

/// How far each other member has read a conversation.
pub async fn receipts(id: ConversationId) -> ApiResult<Vec<Receipt>> {
    fetch(Request::get(&url(&format!("conversations/{}/receipts", id.0)))).await
}

/// Which page of a conversation's log to read.
#[derive(Debug, Clone)]
pub enum Slice {
    Newest,
    Before(i64),
    After(i64),
    /// The page with this seq in its middle.
    Around(i64),
    /// The page with this event in its middle (a reply's original).
    AroundId(EventId),
}

/// Messages in a page of history.
pub const PAGE: i64 = 50;

/// A page of a conversation's log (ascending). `more` says whether events
/// remain in the direction read: older ones, or newer ones for `After`.
pub async fn history(id: ConversationId, slice: Slice) -> ApiResult<History> {
    let from = match slice {
        Slice::Newest => String::new(),
        Slice::Before(seq) => format!("&before={seq}"),
        Slice::After(seq) => format!("&after={seq}"),
        Slice::Around(seq) => format!("&around={seq}"),
        Slice::AroundId(event) => format!("&around_id={}", event.0),
    };
    fetch(Request::get(&url(&format!(
        "conversations/{}/events?limit={PAGE}{from}",
        id.0
    ))))
    .await
}

pub async fn create_group(body: &NewGroup) -> ApiResult<Group> {
    json(Request::post(&url("groups")), body).await
}

pub async fn group(id: ConversationId) -> ApiResult<Group> {
    fetch(Request::get(&url(&format!("groups/{}", id.0)))).await
}

pub async fn group_members(id: ConversationId, cursor: Option<&str>) -> ApiResult<Page<Member>> {
    let after = cursor.map(|c| format!("&cursor={c}")).unwrap_or_default();
    fetch(Request::get(&url(&format!("groups/{}/members?limit=100{after}", id.0)))).await
}

/// Up to `limit` members whose username or a word of whose name starts
/// with `prefix` (letters, digits, `_`, `.` and `-` only: nothing to escape).
pub async fn group_members_named(id: ConversationId, prefix: &str, limit: usize) -> ApiResult<Page<Member>> {
    fetch(Request::get(&url(&format!(
        "groups/{}/members?limit={limit}&q={prefix}",
        id.0
    ))))
    .await
}

pub async fn rename_group(id: ConversationId, name: String) -> ApiResult<Group> {
    json(Request::patch(&url(&format!("groups/{}", id.0))), &RenameGroup { name }).await
}

pub async fn add_members(id: ConversationId, user_ids: Vec<UserId>) -> ApiResult<Group> {
    json(
        Request::post(&url(&format!("groups/{}/members", id.0))),
        &AddMembers { user_ids },
    )
    .await
}

pub async fn remove_member(id: ConversationId, user: UserId) -> ApiResult<()> {
    empty(Request::delete(&url(&format!("groups/{}/members/{}", id.0, user.0)))).await
}

pub async fn leave_group(id: ConversationId) -> ApiResult<()> {
    empty(Request::post(&url(&format!("groups/{}/leave", id.0)))).await
}

pub async fn set_role(id: ConversationId, user: UserId, role: Role) -> ApiResult<()> {
    json_empty(
        Request::put(&url(&format!("groups/{}/members/{}/role", id.0, user.0))),
        &SetRole { role },
    )
    .await
}

// Notifications.

/// My notification settings for one conversation.
pub async fn set_conversation_notify(id: ConversationId, notify: NotifyLevel) -> ApiResult<ConversationSettings> {
    json(
        Request::put(&url(&format!("conversations/{}/settings", id.0))),
        &ConversationSettings { notify },
    )
    .await
}

/// The account's notification settings and the server's push key.
pub async fn notification_settings() -> ApiResult<NotificationSettings> {
    fetch(Request::get(&url("notifications"))).await
}

pub async fn update_notification_settings(previews: bool) -> ApiResult<NotificationSettings> {
    json(
        Request::put(&url("notifications")),
        &UpdateNotificationSettings {
            previews: Some(previews),
        },
    )
    .await
}

/// Gives the server this browser's push subscription (its `toJSON()`, as is).
pub async fn push_subscribe(subscription: String) -> ApiResult<()> {
    let request = Request::post(&url("push-subscriptions"))
        .header("Content-Type", "application/json")
        .body(subscription)
        .map_err(|_| garbled())?;
    expect_empty(request.send().await.map_err(unreachable)?).await
}

/// Takes this session's push subscription back.
pub async fn push_unsubscribe() -> ApiResult<()> {
    empty(Request::delete(&url("push-subscriptions"))).await
}

// Search.

/// Messages matching `search.q` in my conversations, newest first.
pub async fn search_messages(search: &MessageSearch) -> ApiResult<Page<MessageHit>> {
    let mut query = format!("q={}", js_sys_encode(&search.q));
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            query.push_str(&format!("&{name}={}", js_sys_encode(&value)));
        }
    };
    add("conversation_id", search.conversation_id.map(|id| id.0.to_string()));
    add("from", search.from.map(|id| id.0.to_string()));
    add("before", search.before.map(|ms| ms.to_string()));
    add("after", search.after.map(|ms| ms.to_string()));
    add("limit", search.limit.map(|n| n.to_string()));
    add("cursor", search.cursor.clone());
    fetch(Request::get(&url(&format!("search/messages?{query}")))).await
}

// Plumbing.

// The generic functions here stay small: sending, the status check and
// reading the body are done once, not once per answer type (issue 13, size).

async fn fetch<T: DeserializeOwned>(request: RequestBuilder) -> ApiResult<T> {
    decode(&body_of(request.send().await.map_err(unreachable)?).await?)
}

async fn json<B: Serialize, T: DeserializeOwned>(request: RequestBuilder, body: &B) -> ApiResult<T> {
    decode(&body_of(send_json(request, body).await?).await?)
}

async fn json_empty<B: Serialize>(request: RequestBuilder, body: &B) -> ApiResult<()> {
    expect_empty(send_json(request, body).await?).await
}

async fn send_json<B: Serialize>(request: RequestBuilder, body: &B) -> ApiResult<Response> {
    let body = serde_json::to_string(body).map_err(|_| garbled())?;
    send_json_text(request, body).await
}

/// What gloo's `RequestBuilder::json` does, after the serialising.
async fn send_json_text(request: RequestBuilder, body: String) -> ApiResult<Response> {
    request
        .header("Content-Type", "application/json")
        .body(body)
        .map_err(|_| garbled())?
        .send()
        .await
        .map_err(unreachable)
}

async fn empty(request: RequestBuilder) -> ApiResult<()> {
    expect_empty(request.send().await.map_err(unreachable)?).await
}

/// A successful answer's body, or the error the server sent instead.
async fn body_of(response: Response) -> ApiResult<String> {
    if response.ok() {
        response.text().await.map_err(|_| garbled())
    } else {
        Err(error_from(response).await)
    }
}

fn decode<T: DeserializeOwned>(body: &str) -> ApiResult<T> {
    serde_json::from_str(body).map_err(|_| garbled())
}

async fn expect_empty(response: Response) -> ApiResult<()> {
    if response.ok() {
        Ok(())
    } else {
        Err(error_from(response).await)
    }
}

async fn error_from(response: Response) -> ErrorBody {
    response.json::<ErrorBody>().await.unwrap_or_else(|_| ErrorBody {
        code: ErrorCode::Internal,
        message: format!("The server answered {} {}.", response.status(), response.status_text()),
    })
}

fn unreachable(_: gloo_net::Error) -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Unavailable,
        message: "Cannot reach the server. Check your connection.".into(),
    }
}

fn garbled() -> ErrorBody {
    ErrorBody {
        code: ErrorCode::Internal,
        message: "The server sent an unexpected answer.".into(),
    }
}

/// Percent-encodes a query value.
fn js_sys_encode(value: &str) -> String {
    String::from(js_sys::encode_uri_component(value))
}
