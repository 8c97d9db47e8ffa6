//! `AppState`: what every handler can reach, cloned cheaply per request.

use std::sync::Arc;

use sqlx::SqlitePool;

use crate::{auth::Passwords, config::Config, ratelimit::AddressLimiter};

#[derive(Clone)]
pub struct AppState {
    pub pool: SqlitePool,
    pub config: Arc<Config>,
    pub passwords: Passwords,
    /// Login and register attempts per client address.
    pub auth_limiter: Arc<AddressLimiter>,
}
