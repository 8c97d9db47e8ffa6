//! The WebSocket gateway at `/ws`: authentication and origin checks at the
//! upgrade, then one session per connection.

mod handshake;
mod linger;
mod schedule;
mod session;
mod write;

use axum::{extract::State, http::HeaderMap, response::Response};
use natter_common::{limits::WS_HARD_MAX_BYTES, ErrorCode, PROTOCOL_VERSION};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::{
    auth::AuthUser,
    error::{AppError, AppResult},
    http::{origin, ApiQuery},
    state::AppState,
};

#[derive(Debug, Deserialize)]
pub struct Params {
    /// The protocol version the client speaks (default: the server's).
    v: Option<u32>,
}

/// `GET /ws`: upgrade to a WebSocket for the signed-in user.
pub async fn upgrade(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<Params>,
    handshake: handshake::Handshake,
) -> AppResult<Response> {
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Only our own origin and the configured ones may connect, so another
    // site can't ride a user's cookie (cross-site WebSocket hijacking).
    if !origin::allowed(&headers, &state.config.allowed_origins) {
        tracing::warn!("WebSocket from a foreign origin refused");
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "This origin may not open a WebSocket here.",
        ));
    }
    // A node cut off from the others would show its people only half of
    // what happens: they connect to another node meanwhile.
    if !state.hub.reaches_others() {
        return Err(AppError::new(
            ErrorCode::Unavailable,
            "This server is cut off from the others; try again in a moment.",
        ));
    }
    let version = params.v.unwrap_or(PROTOCOL_VERSION);
    // The library's 128 KiB default buffers would cost every idle
    // connection a quarter of a MiB; small ones grow when a burst needs it.
    // The read buffer is also the most one read takes: 256 bytes hold most
    // of the app's frames (a send of a hundred-odd characters, a read
    // marker, typing, a sync) in one read, and a longer one takes a read per
    // 256 bytes; an idle connection holds the buffer for its whole life,
    // and it is a tenth of what one holds in all (fifteenth session,
    // docs/benchmarks.md). Only control frames are written through the
    // library ([`write`]), each at once.
    let config = WebSocketConfig::default()
        .read_buffer_size(256)
        .write_buffer_size(0)
        .max_message_size(Some(WS_HARD_MAX_BYTES))
        .max_frame_size(Some(WS_HARD_MAX_BYTES));
    Ok(handshake.accept(config, move |socket| {
        // The session outlives the request, and its lines name the user and
        // the connection. No span around it: every open span is held by the
        // log subscriber (at info it cost each idle connection 1.3 KiB, a
        // third more), and even a disabled one is 40 bytes of every
        // connection's task, which then takes a size class more. This line
        // ties the upgrade's request id to the user.
        tracing::debug!(user = %auth.user_id, request_id, "WebSocket open");
        session::run(socket, state, auth, version)
    }))
}
