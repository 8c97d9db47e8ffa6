//! natter's wire protocol, compiled by both the server and the browser app.
//!
//! Every type that crosses the network lives here: ids, REST bodies, error
//! codes, limits and the validation rules that go with them. Nothing here
//! knows about axum, sqlx or the DOM.

pub mod api;
pub mod error;
pub mod events;
pub mod frames;
pub mod ids;
pub mod limits;
pub mod mentions;
pub mod stickers;
mod tagged;
pub mod validate;

pub use error::{ErrorBody, ErrorCode};

/// Version of the protocol spoken by this build. A client states it when it
/// connects; the server answers one it does not speak with a typed error.
///
/// 2 added `batch` frames; the server still speaks 1 (without batches) so a
/// browser tab loaded before an upgrade keeps working until it reloads.
pub const PROTOCOL_VERSION: u32 = 2;

/// The oldest protocol version the server still speaks.
pub const OLDEST_PROTOCOL_VERSION: u32 = 1;

/// Name of the cookie that carries a browser's session token.
pub const SESSION_COOKIE: &str = "natter_session";
