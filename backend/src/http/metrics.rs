//! `GET /metrics` (Prometheus text), only with the bearer token set by
//! `--metrics-token` and absent without one; and the middleware that
//! counts requests by route template.

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{counter, gauge, histogram};

use crate::state::AppState;

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>, request: Request) -> Response {
    let Some(expected) = state.config.metrics_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|given| constant_time_eq(given.as_bytes(), expected.as_bytes())) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(handle) = state.metrics.as_ref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // Sampled now rather than kept up to date on every change.
    let (open, idle) = state.db.connections();
    gauge!("natter_db_pool_connections").set(f64::from(open));
    gauge!("natter_db_pool_idle_connections").set(idle as f64);
    gauge!("natter_member_index_ids").set(state.hub.member_index().held_ids() as f64);
    gauge!("natter_search_pending_conversations").set(state.search.feed().pending() as f64);
    gauge!("natter_log_running").set(if state.log.is_running() { 1.0 } else { 0.0 });
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: requests by route template (never the raw path) and status,
/// and their duration.
pub async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    counter!("natter_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    histogram!("natter_http_request_duration_seconds", "route" => route).record(started.elapsed());
    response
}
