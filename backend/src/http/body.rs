//! Request bodies: one declared larger than a route takes is refused before
//! any of it is read, and the whole body must arrive within a deadline —
//! per request, not per read, so a client dribbling a byte now and then
//! can't hold a connection (and a descriptor) for ever.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http_body::{Body as HttpBody, Frame, SizeHint};
use natter_common::ErrorCode;
use tokio::time::Sleep;

use crate::error::AppError;

/// A body declared at most this much over the limit is read (and thrown
/// away) before the refusal: a browser still sending when the answer comes
/// and the connection closes reports a network error, not the 413.
const READ_BEFORE_REFUSING: u64 = 16 * 1024 * 1024;

/// What one group of routes accepts.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Bodies larger than this are refused.
    pub max_bytes: u64,
    /// The limit named in the refusal (what a person may send).
    pub shown_max: u64,
    pub deadline: Duration,
}

/// Middleware applying `bounds` to each request's body.
pub async fn bounded(State(bounds): State<Bounds>, request: Request, next: Next) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let request = request.map(|body| {
        Body::new(Deadline {
            body,
            timer: Box::pin(tokio::time::sleep(bounds.deadline)),
        })
    });
    match declared {
        Some(n) if n > bounds.max_bytes.saturating_add(READ_BEFORE_REFUSING) => {
            let mut response = too_large(bounds.shown_max).into_response();
            // Not worth reading: say the connection ends with this answer.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
        Some(n) if n > bounds.max_bytes => {
            // Read within the deadline (and the declared length), then refuse.
            let drained = axum::body::to_bytes(request.into_body(), n as usize).await;
            match drained {
                Err(err) if is_timeout(&err) => timed_out().into_response(),
                _ => too_large(bounds.shown_max).into_response(),
            }
        }
        _ => next.run(request).await,
    }
}

pub fn too_large(max_bytes: u64) -> AppError {
    AppError::new(
        ErrorCode::PayloadTooLarge { max_bytes },
        format!("Request body is larger than {} KiB.", max_bytes / 1024),
    )
}

/// The answer when a body did not arrive in time.
pub fn timed_out() -> AppError {
    AppError::new(ErrorCode::RequestTimeout, "The request body took too long to arrive.")
}

/// True when `err` (or what caused it) is a body's deadline passing.
pub fn is_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<DeadlineExceeded>() {
            return true;
        }
        cause = err.source();
    }
    false
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct DeadlineExceeded;

/// A body that fails once its deadline has passed.
struct Deadline {
    body: Body,
    timer: Pin<Box<Sleep>>,
}

impl HttpBody for Deadline {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(DeadlineExceeded))));
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
