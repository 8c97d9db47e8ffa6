//! Prometheus metrics. Every name is here, with what it counts; the rest
//! of the server calls these functions at the moments they describe. No
//! label carries a user or a conversation: the number of series stays
//! fixed however many people use the server.
//!
//! `GET /metrics` answers only with the bearer token set by
//! `--metrics-token` (and is absent without one).

use std::time::Duration;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use natter_common::ErrorCode;

use crate::state::AppState;

/// Installs the recorder (once per process) and returns what renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let seconds = [
        0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ];
    let sizes = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full("natter_log_batch_commands".into()), &sizes)?
        .install_recorder()?;
    gauge!("natter_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

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
    gauge!("natter_db_pool_connections").set(state.pool.size() as f64);
    gauge!("natter_db_pool_idle_connections").set(state.pool.num_idle() as f64);
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

// WebSocket connections.

pub fn connected(online_now: bool) {
    counter!("natter_ws_connects_total").increment(1);
    gauge!("natter_ws_connections").increment(1.0);
    if online_now {
        gauge!("natter_users_online").increment(1.0);
    }
}

/// A connection ended, and why: `normal`, `dropped`, `heartbeat`,
/// `slow_consumer`, `malformed`, `signed_out`, `protocol`, `write_failed`,
/// `server_error`, `other`.
pub fn disconnected(reason: &'static str, went_offline: bool) {
    counter!("natter_ws_disconnects_total", "reason" => reason).increment(1);
    gauge!("natter_ws_connections").decrement(1.0);
    if went_offline {
        gauge!("natter_users_online").decrement(1.0);
    }
}

/// A client frame, by type (`malformed` when it could not be read).
pub fn frame_in(kind: &'static str, bytes: usize) {
    counter!("natter_ws_frames_in_total", "type" => kind).increment(1);
    counter!("natter_ws_bytes_in_total").increment(bytes as u64);
}

/// WebSocket messages written to a client (a batch counts once).
pub fn frames_out(messages: usize, bytes: usize) {
    counter!("natter_ws_messages_out_total").increment(messages as u64);
    counter!("natter_ws_bytes_out_total").increment(bytes as u64);
}

pub fn outbox_overflow() {
    counter!("natter_outbox_overflows_total").increment(1);
}

/// A `sync` answered, with how many events it sent.
pub fn resync(events: usize) {
    counter!("natter_resyncs_total").increment(1);
    counter!("natter_resync_events_total").increment(events as u64);
}

// The log.

/// One writer transaction: how many commands, how long checks, writes and
/// the commit (its fsync) took.
pub fn log_batch(commands: usize, took: Duration) {
    histogram!("natter_log_batch_commands").record(commands as f64);
    histogram!("natter_log_commit_seconds").record(took);
}

/// From a batch's commit to its events being queued on every connection.
pub fn publish_lag(lag: Duration) {
    histogram!("natter_publish_lag_seconds").record(lag);
}

/// A command's outcome: `committed`, `duplicate` (a retry, or a state it
/// already had), or `refused` with the error code.
pub fn command(command: &'static str, outcome: &'static str, refusal: Option<&ErrorCode>) {
    counter!("natter_commands_total", "command" => command, "outcome" => outcome).increment(1);
    if let Some(code) = refusal {
        counter!("natter_refusals_total", "command" => command, "code" => code_name(code)).increment(1);
    }
}

fn code_name(code: &ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

// Media.

/// An upload's outcome (`stored`, `known`, `refused`, `too_large`, `failed`).
pub fn upload(outcome: &'static str) {
    counter!("natter_uploads_total", "outcome" => outcome).increment(1);
}

/// Decoding, re-encoding and thumbnailing one image.
pub fn image_processing(took: Duration) {
    histogram!("natter_image_processing_seconds").record(took);
}
