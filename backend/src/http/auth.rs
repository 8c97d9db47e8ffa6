//! Accounts: register, login, logout.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    Json,
};
use axum_extra::extract::{
    cookie::{Cookie, SameSite},
    CookieJar,
};
use natter_common::{
    api::{LoginRequest, RegisterRequest, SessionCreated, User},
    ids::UserId,
    limits::PASSWORD_MAX_BYTES,
    validate::{self, DisplayName, Username},
    ErrorBody, ErrorCode, SESSION_COOKIE,
};

use super::extract::ApiJson;
use crate::{
    auth::{token, AuthUser},
    db::{self, sessions::NewSession, users::Created},
    error::{AppError, AppResult},
    state::AppState,
};

/// `POST /api/v1/auth/register`: create an account and sign it in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = SessionCreated),
        (status = 400, description = "`invalid_input` or `bad_request`", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> AppResult<(StatusCode, CookieJar, Json<SessionCreated>)> {
    let username = Username::parse(&body.username)?;
    let display_name = DisplayName::parse(&body.display_name)?;
    validate::check_new_password(&body.password)?;

    let hash = state.passwords.hash(body.password).await?;
    let now = db::now_ms();
    let mut tx = state.db.begin_write().await?;
    // A deleted account's username may be past its reservation.
    db::leaving::free_usernames(&mut tx, now).await?;
    let user = match db::users::create(&mut tx, &username, &display_name, &hash, now).await? {
        Created::Ok(row) => User::from(row),
        Created::UsernameTaken => {
            return Err(AppError::new(ErrorCode::UsernameTaken, "That username is taken."));
        }
    };
    let device = device_name(body.device_name.as_deref(), &headers);
    let session = start_session(&mut tx, &state, user, &device, now).await?;
    tx.commit().await?;
    tracing::info!(user_id = %session.user.id, "registered");
    Ok((
        StatusCode::CREATED,
        jar.add(session_cookie(&state, &session)),
        Json(session),
    ))
}

/// `POST /api/v1/auth/login`: exchange username and password for a session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = SessionCreated),
        (status = 400, description = "`bad_request`: not a JSON object of this shape", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(body): ApiJson<LoginRequest>,
) -> AppResult<(CookieJar, Json<SessionCreated>)> {
    let wrong = || AppError::new(ErrorCode::InvalidCredentials, "Wrong username or password.");
    // No account can have such a password; refuse before doing unbounded work.
    if body.password.len() > PASSWORD_MAX_BYTES {
        return Err(wrong());
    }
    let credentials = db::users::credentials(&state.db, &body.username).await?;
    let (user_id, stored, disabled) = match credentials {
        Some(c) => (Some(c.id), Some(c.password_hash), c.disabled_at.is_some()),
        None => (None, None, false),
    };
    if !state.passwords.verify(body.password, stored).await? {
        return Err(wrong());
    }
    // Said only to someone who knows the password.
    if disabled {
        return Err(AppError::new(
            ErrorCode::AccountDisabled,
            "This account has been disabled. Ask the server's operator.",
        ));
    }
    let user_id = UserId(user_id.ok_or_else(wrong)?);
    let user = db::users::by_id(&state.db, user_id).await?.ok_or_else(wrong)?;
    let now = db::now_ms();
    let device = device_name(body.device_name.as_deref(), &headers);
    let mut tx = state.db.begin_write().await?;
    let session = start_session(&mut tx, &state, user.into(), &device, now).await?;
    tx.commit().await?;
    Ok((jar.add(session_cookie(&state, &session)), Json(session)))
}

/// `POST /api/v1/auth/logout`: revoke the session that made the request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts",
    responses(
        (status = 204, description = "Session revoked; the cookie is cleared"),
        (status = 401, description = "`unauthorized`", body = ErrorBody),
    ),
    security(("bearer" = []), ("cookie" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
    jar: CookieJar,
) -> AppResult<(StatusCode, CookieJar)> {
    db::sessions::revoke(&state.db, auth.user_id, auth.session_id).await?;
    state.hub.end_session(auth.user_id, auth.session_id);
    // Always send the expiring cookie, whether or not this request carried one.
    let mut removal = Cookie::build((SESSION_COOKIE, "")).path("/").http_only(true).build();
    removal.make_removal();
    Ok((StatusCode::NO_CONTENT, jar.add(removal)))
}

async fn start_session(
    tx: &mut db::Tx,
    state: &AppState,
    user: User,
    device_name: &str,
    now: i64,
) -> AppResult<SessionCreated> {
    let (token, token_hash) = token::generate();
    let expires_at = now + i64::from(state.config.session_ttl_days) * 24 * 3600 * 1000;
    let session_id = db::sessions::create(
        &mut *tx,
        NewSession {
            user_id: user.id,
            token_hash: &token_hash,
            device_name,
            now,
            expires_at,
        },
    )
    .await?;
    Ok(SessionCreated {
        token,
        session_id,
        expires_at,
        user,
    })
}

fn session_cookie(state: &AppState, session: &SessionCreated) -> Cookie<'static> {
    let ttl = i64::from(state.config.session_ttl_days) * 24 * 3600;
    Cookie::build((SESSION_COOKIE, session.token.clone()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.cookie_secure)
        .max_age(time::Duration::seconds(ttl))
        .build()
}

fn device_name(given: Option<&str>, headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("Unknown device");
    validate::device_name(given, agent)
}
