//! Which web origins may act for a signed-in browser. A session cookie goes
//! with every request a page makes to us, whichever site the page is on
//! (`SameSite=Strict` stops other sites, not a sibling subdomain), so
//! requests that change something, and WebSocket handshakes, are refused
//! from any origin but our own and the configured ones.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, Method},
    middleware::Next,
    response::{IntoResponse, Response},
};
use natter_common::ErrorCode;

use crate::{error::AppError, state::AppState};

/// True when a request with these headers comes from an allowed page, or
/// from no page at all (a native client or a script sends no `Origin`).
pub fn allowed(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) => origin_allowed(origin, host, allowed_origins),
        Some(Err(_)) => false,
        // Browsers send `Sec-Fetch-Site` even where they leave `Origin` out.
        None => headers.get("sec-fetch-site").is_none_or(|site| site != "cross-site"),
    }
}

/// Middleware: refuses state-changing requests from foreign pages.
pub async fn same_origin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !allowed(request.headers(), &state.config.allowed_origins) {
        tracing::warn!(method = %request.method(), path = request.uri().path(), "request from a foreign origin refused");
        return AppError::new(ErrorCode::Forbidden, "This origin may not make changes here.").into_response();
    }
    next.run(request).await
}

fn origin_allowed(origin: &str, host: Option<&str>, allowed: &[String]) -> bool {
    if allowed.iter().any(|a| a.trim().trim_end_matches('/') == origin) {
        return true;
    }
    host.is_some_and(|host| origin == format!("http://{host}") || origin == format!("https://{host}"))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn own_and_configured_origins_only() {
        let host = Some("chat.example:8080");
        assert!(origin_allowed("http://chat.example:8080", host, &[]));
        assert!(origin_allowed("https://chat.example:8080", host, &[]));
        assert!(!origin_allowed("https://evil.example", host, &[]));
        assert!(!origin_allowed("http://chat.example:8080.evil", host, &[]));
        assert!(origin_allowed(
            "http://127.0.0.1:8081",
            host,
            &["http://127.0.0.1:8081/".into()]
        ));
        assert!(!origin_allowed("http://chat.example:8080", None, &[]));
    }

    #[test]
    fn without_an_origin_a_cross_site_fetch_is_still_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("chat.example"));
        assert!(allowed(&headers, &[]), "no page at all");
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(allowed(&headers, &[]));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!allowed(&headers, &[]));
        headers.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!allowed(&headers, &[]));
    }
}
