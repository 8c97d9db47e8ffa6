//! `ApiJson`: axum's `Json` extractor with rejections in our error shape.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
    http::StatusCode,
    Json,
};
use natter_common::{limits::MAX_JSON_BODY_BYTES, ErrorCode};
use serde::de::DeserializeOwned;

use crate::error::AppError;

pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(rejection: JsonRejection) -> AppError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return AppError::new(
            ErrorCode::PayloadTooLarge {
                max_bytes: MAX_JSON_BODY_BYTES as u64,
            },
            format!(
                "Request body is larger than {} KiB.",
                MAX_JSON_BODY_BYTES / 1024
            ),
        );
    }
    let message = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "Expected `Content-Type: application/json`.".to_owned()
        }
        JsonRejection::JsonSyntaxError(err) => format!("Malformed JSON: {}", err.body_text()),
        JsonRejection::JsonDataError(err) => format!("Invalid request: {}", err.body_text()),
        other => other.body_text(),
    };
    AppError::new(ErrorCode::BadRequest, message)
}
