//! `AuthUser`: the extractor for routes that need a signed-in user.

use axum::{extract::FromRequestParts, http::request::Parts};
use axum_extra::extract::CookieJar;
use natter_common::{
    ids::{SessionId, UserId},
    SESSION_COOKIE,
};

use super::token;
use crate::{db, error::AppError, state::AppState};

/// The caller's user and session, from `Authorization: Bearer <token>` or,
/// for browsers, the session cookie.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: UserId,
    pub session_id: SessionId,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer_token(parts)
            .or_else(|| {
                CookieJar::from_headers(&parts.headers)
                    .get(SESSION_COOKIE)
                    .map(|c| c.value().to_owned())
            })
            .ok_or_else(AppError::unauthorized)?;
        if token.len() != token::TOKEN_CHARS {
            return Err(AppError::unauthorized());
        }
        let session = db::sessions::authenticate(&state.db, &token::hash(&token), db::now_ms())
            .await?
            .ok_or_else(AppError::unauthorized)?;
        // Every later line of this request's log names who made it.
        tracing::Span::current().record("user_id", session.user_id);
        Ok(Self {
            user_id: UserId(session.user_id),
            session_id: SessionId(session.id),
        })
    }
}

fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}
