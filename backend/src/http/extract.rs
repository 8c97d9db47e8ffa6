//! Extractors whose rejections come back as `AppError`s, in the same
//! `{code, message}` shape as every other error.

use axum::{
    extract::{
        rejection::{JsonRejection, PathRejection, QueryRejection},
        FromRequest, FromRequestParts,
    },
    http::StatusCode,
};
use natter_common::{limits::MAX_JSON_BODY_BYTES, ErrorCode};

use crate::error::AppError;

/// A JSON object body. Serde alone would also take an array and fill a
/// struct's fields from it in order (`["Ada"]` as `{"display_name":"Ada"}`):
/// every request body here is an object, so anything else is refused.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(request, state).await?;
        if !value.is_object() {
            return Err(AppError::new(ErrorCode::BadRequest, "Expected a JSON object."));
        }
        T::deserialize(value)
            .map(ApiJson)
            .map_err(|err| AppError::new(ErrorCode::BadRequest, format!("Invalid request: {err}")))
    }
}

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct ApiPath<T>(pub T);

/// Query-string parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(AppError))]
pub struct ApiQuery<T>(pub T);

impl From<JsonRejection> for AppError {
    fn from(rejection: JsonRejection) -> Self {
        if super::body::is_timeout(&rejection) {
            return super::body::timed_out();
        }
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return AppError::new(
                ErrorCode::PayloadTooLarge {
                    max_bytes: MAX_JSON_BODY_BYTES as u64,
                },
                format!("Request body is larger than {} KiB.", MAX_JSON_BODY_BYTES / 1024),
            );
        }
        let message = match rejection {
            JsonRejection::MissingJsonContentType(_) => "Expected `Content-Type: application/json`.".to_owned(),
            JsonRejection::JsonSyntaxError(err) => format!("Malformed JSON: {}", err.body_text()),
            JsonRejection::JsonDataError(err) => format!("Invalid request: {}", err.body_text()),
            other => other.body_text(),
        };
        AppError::new(ErrorCode::BadRequest, message)
    }
}

impl From<PathRejection> for AppError {
    fn from(rejection: PathRejection) -> Self {
        AppError::new(
            ErrorCode::BadRequest,
            format!("Invalid path: {}", rejection.body_text()),
        )
    }
}

impl From<QueryRejection> for AppError {
    fn from(rejection: QueryRejection) -> Self {
        AppError::new(
            ErrorCode::BadRequest,
            format!("Invalid query: {}", rejection.body_text()),
        )
    }
}

/// A page size from the query: `default` when absent, refused outside
/// 1–`max` (a client asking for 0 or 1 000 has a bug worth hearing about).
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> Result<u32, AppError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(AppError::new(
            ErrorCode::InvalidInput { field: "limit".into() },
            format!("`limit` is 1–{max}."),
        )),
    }
}
