//! Liveness and readiness probes.

use axum::{extract::State, Json};
use natter_common::ErrorCode;
use serde_json::{json, Value};

use crate::{db, error::AppError, state::AppState};

/// `GET /healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the log's writer and checkpointer run, the database
/// answers, and with other nodes the bus is connected.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, AppError> {
    if !state.log.is_running() {
        tracing::error!("readiness check failed: the message log's writer or checkpointer has stopped");
        return Err(AppError::new(ErrorCode::Unavailable, "The message log has stopped."));
    }
    if !state.hub.reaches_others() {
        tracing::warn!("readiness check failed: NATS is not connected");
        return Err(AppError::new(
            ErrorCode::Unavailable,
            "The other nodes are out of reach.",
        ));
    }
    db::maintenance::ping(&state.db).await.map_err(|err| {
        tracing::warn!(%err, "readiness check failed");
        AppError::new(ErrorCode::Unavailable, "Database unavailable.")
    })?;
    Ok(Json(json!({"status": "ready"})))
}
