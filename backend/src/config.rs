//! Command-line and environment configuration.

use std::{net::SocketAddr, path::PathBuf};

use clap::ValueEnum;

/// natter: a self-hosted chat server. With no arguments it serves the whole
/// app on 127.0.0.1:8080, keeping its data under ./data.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "NATTER_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory for the SQLite database and uploaded media; created if missing.
    #[arg(long, env = "NATTER_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Folder of uploaded images; defaults to `media` in the data directory.
    /// Nodes that share a database share this folder too (a shared mount).
    #[arg(long, env = "NATTER_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,

    /// Database URL; defaults to a SQLite file `natter.db` in the data directory.
    #[arg(long, env = "NATTER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// Directory holding the built single-page app (trunk's `dist`).
    #[arg(long, env = "NATTER_STATIC_DIR", default_value = "dist")]
    pub static_dir: PathBuf,

    /// Extra origins (e.g. `https://chat.example.com`) allowed to call the API
    /// and open WebSockets, comma-separated. The server's own origin is
    /// always allowed.
    #[arg(long, env = "NATTER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Reverse proxies in front of the server (IP addresses, comma-separated).
    /// Only connections from these have their `X-Forwarded-For` believed, for
    /// per-address rate limits; from anyone else the header is ignored.
    #[arg(long, env = "NATTER_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,

    /// Log format.
    #[arg(long, env = "NATTER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long a session token stays valid, in days.
    #[arg(long, env = "NATTER_SESSION_TTL_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub session_ttl_days: u32,

    /// Seconds a client may take to send a request's headers before the
    /// connection is closed (slow-header attacks).
    #[arg(long, env = "NATTER_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,

    /// Bearer token that `GET /metrics` requires (Prometheus format); without
    /// one the route does not exist.
    #[arg(long, env = "NATTER_METRICS_TOKEN")]
    pub metrics_token: Option<String>,

    /// Seconds between checks that an open WebSocket's session is still
    /// good (signed out elsewhere, expired, or the account disabled).
    #[arg(long, env = "NATTER_SESSION_CHECK_SECS", default_value_t = 60)]
    pub session_check_secs: u64,

    /// Seconds a client may take to send a whole JSON request body.
    #[arg(long, env = "NATTER_BODY_TIMEOUT_SECS", default_value_t = 15)]
    pub body_timeout_secs: u64,

    /// Seconds a client may take to send a whole upload.
    #[arg(long, env = "NATTER_UPLOAD_TIMEOUT_SECS", default_value_t = 120)]
    pub upload_timeout_secs: u64,

    /// Login and register attempts allowed per client address per minute.
    #[arg(long, env = "NATTER_AUTH_RATE_PER_MINUTE", default_value_t = 10)]
    pub auth_rate_per_minute: u32,

    /// Messages a user may send per second, sustained.
    #[arg(long, env = "NATTER_SEND_RATE_PER_SECOND", default_value_t = 20)]
    pub send_rate_per_second: u32,

    /// Messages a user may send in a burst above the sustained rate.
    #[arg(long, env = "NATTER_SEND_BURST", default_value_t = 60)]
    pub send_burst: u32,

    /// Largest image upload, in bytes.
    #[arg(long, env = "NATTER_MAX_UPLOAD_BYTES", default_value_t = natter_common::limits::DEFAULT_MAX_UPLOAD_BYTES)]
    pub max_upload_bytes: u64,

    /// Largest number of members a group may have.
    #[arg(long, env = "NATTER_MAX_GROUP_SIZE", default_value_t = natter_common::limits::DEFAULT_MAX_GROUP_SIZE)]
    pub max_group_size: u32,

    /// Whom push services may contact about this server's notifications
    /// (the VAPID `sub`): a `mailto:` or `https:` URL of the operator.
    #[arg(long, env = "NATTER_PUSH_SUBJECT", default_value = "mailto:admin@localhost")]
    pub push_subject: String,

    /// Tests only: let pushes go to plain-HTTP endpoints on private
    /// addresses (a fake push service on loopback).
    #[arg(long, env = "NATTER_PUSH_ALLOW_PRIVATE", hide = true, default_value_t = false)]
    pub push_allow_private: bool,

    /// NATS server (`nats://host:4222`) through which several nodes on one
    /// PostgreSQL database deliver to each other's connections.
    #[arg(long, env = "NATTER_NATS_URL")]
    pub nats_url: Option<String>,

    /// Mark the session cookie `Secure` (set this when served over HTTPS).
    #[arg(long, env = "NATTER_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    pub fn media_dir(&self) -> PathBuf {
        self.media_dir.clone().unwrap_or_else(|| self.data_dir.join("media"))
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("natter.db").display()),
        }
    }
}
