//! `AppState`: what every handler can reach, cloned cheaply per request.

use std::{ops::Deref, sync::Arc};

use crate::db::Db;

use crate::{
    auth::Passwords,
    config::Config,
    hub::Hub,
    log::Log,
    media::MediaStore,
    push::Push,
    ratelimit::{AddressLimiter, SendPace, UserLimiter},
    search::Search,
};

/// A handle on the one [`Services`]: a clone is one reference count, and
/// the future every connection holds for its life keeps 8 bytes of it
/// rather than a copy of every field.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub db: Db,
    pub config: Arc<Config>,
    pub passwords: Passwords,
    /// Login and register attempts per client address.
    pub auth_limiter: Arc<AddressLimiter>,
    /// Message sends per user.
    pub send_pace: Arc<SendPace>,
    /// Image uploads per user.
    pub upload_limiter: Arc<UserLimiter>,
    /// Live connections and fan-out.
    pub hub: Hub,
    /// Uploaded images on disk.
    pub media: MediaStore,
    /// The one way into the conversation logs.
    pub log: Log,
    /// Message search, fed from the logs.
    pub search: Search,
    /// Web Push to people who are away.
    pub push: Push,
    /// Renders `/metrics` (absent when no recorder could be installed).
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
}
