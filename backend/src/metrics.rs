//! Prometheus metrics. Every name is here, with what it counts; the rest
//! of the server calls these functions at the moments they describe. No
//! label carries a user or a conversation: the number of series stays
//! fixed however many people use the server.
//!
//! Served by `http/metrics.rs`.

use std::{sync::OnceLock, time::Duration};

use metrics::{counter, gauge, histogram, Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use natter_common::ErrorCode;

/// Installs the recorder (once per process) and returns what renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let seconds = [
        0.000_1, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ];
    // Up to the writer's largest batch (2 048 commands).
    let sizes = [
        1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &seconds)?
        .set_buckets_for_metric(Matcher::Full("natter_log_batch_commands".into()), &sizes)?
        .install_recorder()?;
    gauge!("natter_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let _ = HOT.set(Hot {
        messages_out: counter!("natter_ws_messages_out_total"),
        bytes_out: counter!("natter_ws_bytes_out_total"),
        delivery_lag: histogram!("natter_delivery_lag_seconds"),
        frames_in: FRAME_TYPES.map(|kind| (kind, counter!("natter_ws_frames_in_total", "type" => kind))),
        bytes_in: counter!("natter_ws_bytes_in_total"),
        commands: COMMANDS.map(|command| {
            (
                command,
                OUTCOMES.map(|outcome| {
                    (
                        outcome,
                        counter!("natter_commands_total", "command" => command, "outcome" => outcome),
                    )
                }),
            )
        }),
        batch_commands: histogram!("natter_log_batch_commands"),
        commit_seconds: histogram!("natter_log_commit_seconds"),
        publish_lag: histogram!("natter_publish_lag_seconds"),
    });
    Ok(handle)
}

/// The handles of what is counted for every frame, command, batch and
/// socket write, looked up once: a look-up by name hashes the name and its
/// labels, takes the registry's lock and clones a handle, a few per cent of
/// the network thread's CPU. Unset (and nothing counted) without a recorder.
struct Hot {
    messages_out: Counter,
    bytes_out: Counter,
    delivery_lag: Histogram,
    frames_in: [(&'static str, Counter); FRAME_TYPES.len()],
    bytes_in: Counter,
    commands: [(&'static str, [(&'static str, Counter); OUTCOMES.len()]); COMMANDS.len()],
    batch_commands: Histogram,
    commit_seconds: Histogram,
    publish_lag: Histogram,
}

static HOT: OnceLock<Hot> = OnceLock::new();

/// The labels [`Hot`] holds counters for (what `ws::session` and
/// `log::Command::name` say); any other is looked up by name.
const FRAME_TYPES: [&str; 10] = [
    "send",
    "edit",
    "delete",
    "react",
    "unreact",
    "sync",
    "read",
    "typing",
    "ping",
    "malformed",
];
const COMMANDS: [&str; 7] = ["send", "edit", "delete", "react", "unreact", "read", "group"];
const OUTCOMES: [&str; 4] = ["committed", "duplicate", "refused", "failed"];

/// The counter held for `label`, if any.
fn held<'h, T>(list: &'h [(&'static str, T)], label: &str) -> Option<&'h T> {
    list.iter().find(|(l, _)| *l == label).map(|(_, held)| held)
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
/// `slow_consumer`, `malformed`, `signed_out`, `shutdown`, `protocol`,
/// `write_failed`, `server_error`, `other`.
pub fn disconnected(reason: &'static str, went_offline: bool) {
    counter!("natter_ws_disconnects_total", "reason" => reason).increment(1);
    gauge!("natter_ws_connections").decrement(1.0);
    if went_offline {
        gauge!("natter_users_online").decrement(1.0);
    }
}

/// A send counted against its sender's budget on several nodes: `here`
/// (the sender has no socket on another node) or `shared` (a statement on
/// the database's count).
pub fn send_counted(place: &'static str) {
    counter!("natter_sends_counted_total", "where" => place).increment(1);
}

/// A client frame, by type (`malformed` when it could not be read).
pub fn frame_in(kind: &'static str, bytes: usize) {
    let Some(hot) = HOT.get() else { return };
    let held = held(&hot.frames_in, kind);
    debug_assert!(held.is_some(), "frame type {kind} missing from FRAME_TYPES");
    match held {
        Some(frames) => frames.increment(1),
        None => counter!("natter_ws_frames_in_total", "type" => kind).increment(1),
    }
    hot.bytes_in.increment(bytes as u64);
}

/// WebSocket messages written to a client (a batch counts once).
pub fn frames_out(messages: usize, bytes: usize) {
    if let Some(hot) = HOT.get() {
        hot.messages_out.increment(messages as u64);
        hot.bytes_out.increment(bytes as u64);
    }
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
    if let Some(hot) = HOT.get() {
        hot.batch_commands.record(commands as f64);
        hot.commit_seconds.record(took);
    }
}

/// From a batch's commit to its events being queued on every connection.
pub fn publish_lag(lag: Duration) {
    if let Some(hot) = HOT.get() {
        hot.publish_lag.record(lag);
    }
}

/// From a commit to its event's write to a client's socket, once per
/// connection and burst (the burst's oldest event). Only events committed
/// on this node: another node's clock is not ours.
pub fn delivery_lag(lag: Duration) {
    if let Some(hot) = HOT.get() {
        hot.delivery_lag.record(lag);
    }
}

/// A command's outcome: `committed`, `duplicate` (a retry, or a state it
/// already had), or `refused` with the error code.
pub fn command(command: &'static str, outcome: &'static str, refusal: Option<&ErrorCode>) {
    let Some(hot) = HOT.get() else { return };
    let held = held(&hot.commands, command).and_then(|outcomes| held(outcomes, outcome));
    debug_assert!(held.is_some(), "{command}/{outcome} missing from COMMANDS or OUTCOMES");
    match held {
        Some(commands) => commands.increment(1),
        None => counter!("natter_commands_total", "command" => command, "outcome" => outcome).increment(1),
    }
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

/// A Web Push attempt's outcome: `sent`, `gone` (subscription removed),
/// `refused` (other 4xx), `failed` (5xx, network, timeout), `dropped` (the
/// push queue was full).
pub fn push(outcome: &'static str) {
    counter!("natter_pushes_total", "outcome" => outcome).increment(1);
}

/// Events read from the database to fill a hole: their note never came,
/// or came late.
pub fn bus_refilled(events: usize) {
    if events > 0 {
        counter!("natter_bus_refilled_events_total").increment(events as u64);
    }
}

/// A note to the other nodes dropped because their queue was full.
pub fn bus_note_dropped() {
    counter!("natter_bus_notes_dropped_total").increment(1);
}
