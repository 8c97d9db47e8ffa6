//! `AppError`: the one error type handlers return, mapped to `{code, message}`.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use natter_common::{validate::Invalid, ErrorBody, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An error the client caused or may act on; the message is shown to people.
    #[error("{message}")]
    Api { code: ErrorCode, message: String },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Api {
            code,
            message: message.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(ErrorCode::Unauthorized, "Please sign in.")
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "Not found.")
    }

    pub fn rate_limited(retry_after_ms: u64) -> Self {
        let secs = retry_after_ms.div_ceil(1000).max(1);
        Self::new(
            ErrorCode::RateLimited { retry_after_ms },
            format!("Too many attempts. Try again in {secs} s."),
        )
    }

    fn body(&self) -> ErrorBody {
        match self {
            Self::Api { code, message } => ErrorBody {
                code: code.clone(),
                message: message.clone(),
            },
            // Details stay in the log; clients get a generic message.
            Self::Db(_) | Self::Internal(_) => ErrorBody {
                code: ErrorCode::Internal,
                message: "Something went wrong on the server.".into(),
            },
        }
    }
}

impl From<Invalid> for AppError {
    fn from(err: Invalid) -> Self {
        Self::new(
            ErrorCode::InvalidInput {
                field: err.field.to_owned(),
            },
            err.message,
        )
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if matches!(self, Self::Db(_) | Self::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let body = self.body();
        let status = StatusCode::from_u16(body.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = match body.code {
            ErrorCode::RateLimited { retry_after_ms } => Some(retry_after_ms.div_ceil(1000).max(1)),
            _ => None,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
