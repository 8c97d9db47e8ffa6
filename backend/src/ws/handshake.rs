//! The WebSocket opening handshake (RFC 6455 §4.2) on hyper's upgrade, done
//! here rather than by axum's `WebSocketUpgrade` so the session holds the
//! TCP stream itself: it writes its messages straight to it ([`super::write`]),
//! and not through hyper's boxed wrapper (a size class less for every
//! connection, and no dynamic dispatch on every read and write).

use std::future::Future;

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::{future::OptionFuture, FutureExt};
use hyper::upgrade::OnUpgrade;
use natter_common::ErrorCode;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{handshake::derive_accept_key, protocol::Role, protocol::WebSocketConfig},
    WebSocketStream,
};

use crate::{error::AppError, serve};

/// A WebSocket after its handshake.
pub type Socket = WebSocketStream<TcpStream>;

/// A valid opening handshake, not yet answered.
pub struct Handshake {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

/// Why a request is no WebSocket handshake; answered in the API's error
/// shape.
#[derive(Debug)]
pub struct Refused {
    message: &'static str,
    /// RFC 6455 §4.4: a client of another version is told ours.
    wrong_version: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for Handshake {
    type Rejection = Refused;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Refused> {
        let refuse = |message| Refused {
            message,
            wrong_version: false,
        };
        let headers = &parts.headers;
        if parts.method != Method::GET {
            return Err(refuse("A WebSocket handshake is a GET request."));
        }
        if !has_token(headers, header::CONNECTION, "upgrade") {
            return Err(refuse("The Connection header does not ask for an upgrade."));
        }
        if !has_token(headers, header::UPGRADE, "websocket") {
            return Err(refuse("The Upgrade header does not ask for a WebSocket."));
        }
        if headers.get(header::SEC_WEBSOCKET_VERSION).map(HeaderValue::as_bytes) != Some(b"13") {
            return Err(Refused {
                message: "This server speaks WebSocket version 13.",
                wrong_version: true,
            });
        }
        let key = headers
            .get(header::SEC_WEBSOCKET_KEY)
            .cloned()
            .ok_or(refuse("The Sec-WebSocket-Key header is missing."))?;
        if !is_nonce(&key) {
            return Err(refuse("The Sec-WebSocket-Key header is no base64 of 16 bytes."));
        }
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(refuse("This connection cannot be upgraded."))?;
        Ok(Self { key, on_upgrade })
    }
}

impl Handshake {
    /// Accepts: the `101` to return, and `session` run on the socket once
    /// the client has it, in a task of its own.
    pub fn accept<F>(self, config: WebSocketConfig, session: impl FnOnce(Socket) -> F + Send + 'static) -> Response
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Self { key, on_upgrade } = self;
        spawn_small(task(on_upgrade, config, session));
        let accept = derive_accept_key(key.as_bytes());
        (
            StatusCode::SWITCHING_PROTOCOLS,
            [
                (header::CONNECTION, HeaderValue::from_static("upgrade")),
                (header::UPGRADE, HeaderValue::from_static("websocket")),
                (
                    header::SEC_WEBSOCKET_ACCEPT,
                    HeaderValue::try_from(accept).expect("base64 is a valid header value"),
                ),
            ],
        )
            .into_response()
    }
}

/// Spawns a connection's task, which every connection holds for its whole
/// life: 10 000 idle connections are 10 000 of them. Checked when a build
/// compiles it (not by `cargo check`): tokio's task cell (a 32-byte header,
/// the scheduler and task id, the future with its stage's tag, a 48-byte
/// trailer, all 128-aligned) must stay at 1 024 bytes. One byte more and it is 1 152, in the
/// allocator's 1 280-byte class. In December 2026 the task was a 1 408-byte
/// cell (the 1 536-byte class) before [`task`] and no span around the
/// session. Growing past it may be worth it: decide, and say so.
fn spawn_small<T>(task: T)
where
    T: Future + Send + 'static,
    T::Output: Send + 'static,
{
    const {
        assert!(
            32 + 16 + std::mem::size_of::<T>() + 8 + 48 <= 1024 && std::mem::align_of::<T>() <= 8,
            "a connection's task no longer fits a 1 024-byte task cell"
        );
    }
    tokio::spawn(task);
}

/// A connection's task: the socket once the client has switched, then the
/// session on it. A chain rather than an `async` block: a block would keep
/// what opening took (the upgrade, the config, the socket as handed over)
/// beside the session for the connection's whole life.
fn task<F: Future>(
    on_upgrade: OnUpgrade,
    config: WebSocketConfig,
    session: impl FnOnce(Socket) -> F,
) -> impl Future<Output = Option<F::Output>> {
    opened(on_upgrade, config).then(|socket| OptionFuture::from(socket.map(session)))
}

/// The socket, once the client has switched protocols; none if it left.
async fn opened(on_upgrade: OnUpgrade, config: WebSocketConfig) -> Option<Socket> {
    // A client gone before the switch leaves nothing to serve.
    let upgraded = on_upgrade.await.ok()?;
    let Ok(parts) = upgraded.downcast::<serve::Io>() else {
        // Every connection comes through `serve`'s accept loop.
        tracing::error!("an upgraded connection of an unknown kind");
        return None;
    };
    // Bytes the client sent right behind its request, if any, are its
    // first frames. The buffer they sit in is hyper's whole read buffer
    // (8 KiB): let go of it before the session, which lasts.
    let early = parts.read_buf.to_vec();
    drop(parts.read_buf);
    let (tcp, config) = (serve::into_tcp(parts.io), Some(config));
    Some(if early.is_empty() {
        WebSocketStream::from_raw_socket(tcp, Role::Server, config).await
    } else {
        WebSocketStream::from_partially_read(tcp, early, Role::Server, config).await
    })
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let mut response = AppError::new(ErrorCode::BadRequest, self.message).into_response();
        if self.wrong_version {
            response
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

/// RFC 6455 §4.2.1: the key is a random 16-byte value in base64.
fn is_nonce(key: &HeaderValue) -> bool {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(key.as_bytes())
        .is_ok_and(|nonce| nonce.len() == 16)
}

/// Whether a comma-separated header lists `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tokens_are_found_in_lists_and_any_case() {
        let mut headers = HeaderMap::new();
        headers.append(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&headers, header::CONNECTION, "upgrade"));
        assert!(!has_token(&headers, header::CONNECTION, "close"));
        headers.append(header::CONNECTION, HeaderValue::from_static("close"));
        assert!(has_token(&headers, header::CONNECTION, "close"));
        assert!(!has_token(&headers, header::UPGRADE, "websocket"));
    }

    #[test]
    fn the_key_is_a_nonce_of_sixteen_bytes() {
        // RFC 6455's own example.
        assert!(is_nonce(&HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ==")));
        for bad in ["", "not base64!", "c2hvcnQ=", "dGhlIHNhbXBsZSBub25jZSBsb25nZXI="] {
            assert!(!is_nonce(&HeaderValue::from_static(bad)), "{bad:?}");
        }
    }
}
