//! natter-server as a library: `Application::build` wires configuration,
//! storage and routes; `main.rs` only parses arguments and runs it.

pub mod admin;
pub mod auth;
pub mod bus;
pub mod config;
pub mod data_lock;
pub mod db;
pub mod error;
pub mod http;
pub mod hub;
pub mod log;
pub mod media;
pub mod metrics;
pub mod push;
pub mod ratelimit;
pub mod search;
mod serve;
pub mod social;
pub mod state;
pub mod telemetry;
pub mod ws;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use natter_common::frames::close;
use tokio::net::TcpListener;

use crate::{
    auth::Passwords,
    bus::Bus,
    config::Config,
    data_lock::DataLock,
    http::SpaIndex,
    hub::Hub,
    log::Log,
    media::MediaStore,
    push::Push,
    ratelimit::{AddressLimiter, SendPace, UserLimiter},
    search::Search,
    state::{AppState, Services},
};
use db::Db;

/// How long open WebSockets get at shutdown to take what is queued for
/// them and the close: a socket that will not take it holds no one up.
const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// A bound, migrated, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    addr: SocketAddr,
    /// This server's claim on the data directory, until it stops.
    _lock: DataLock,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        tokio::fs::create_dir_all(&config.data_dir)
            .await
            .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
        let lock = DataLock::take(&config.data_dir)?;
        let db = Db::connect(&config.database_url()).await?;
        let spa = SpaIndex::load(&config.static_dir)?;
        let bus = match &config.nats_url {
            Some(_) if matches!(db, Db::Sqlite(_)) => {
                anyhow::bail!("several nodes share a PostgreSQL database, not SQLite: --nats-url needs a postgres:// --database-url")
            }
            Some(url) => Some(Bus::connect(url).await?),
            None => None,
        };
        let hub = Hub::new(db.clone(), bus.as_ref().map(|(bus, _)| bus.clone()));
        let media = MediaStore::open(&config.media_dir())?;
        let search = Search::start(&db, &config.data_dir).await?;
        if let Some((_, inbox)) = bus {
            let feed = search.feed();
            hub::nodes::listen(inbox, hub.clone(), move |changed| feed.touched(changed));
        }
        let push = Push::start(
            &config.data_dir,
            config.push_subject.clone(),
            config.push_allow_private,
            db.clone(),
            hub.clone(),
        )
        .await?;
        // One recorder per process: a second application in it goes without.
        let metrics = metrics::install()
            .inspect_err(|err| tracing::warn!(%err, "metrics are off"))
            .ok();
        let state = AppState::new(Services {
            log: Log::start(&db, hub.clone(), media.clone(), search.feed(), Some(push.clone()))?,
            push,
            search,
            metrics,
            hub,
            media,
            send_pace: Arc::new(SendPace::new(&db, config.send_rate_per_second, config.send_burst)),
            // One a second, twenty in a burst: pasting a handful of
            // screenshots is fine, a script filling the disk is not.
            upload_limiter: Arc::new(UserLimiter::new(1, 20)),
            db,
            passwords: Passwords::new()?,
            auth_limiter: Arc::new(AddressLimiter::per_minute(config.auth_rate_per_minute)),
            config: Arc::new(config),
        });
        let router = http::router(state.clone(), spa);
        let listener = TcpListener::bind(state.config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", state.config.bind))?;
        let addr = listener.local_addr()?;
        Ok(Self {
            listener,
            router,
            state,
            addr,
            _lock: lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Serves until SIGTERM or Ctrl-C, then finishes in-flight requests.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tokio::spawn(housekeeping(self.state.clone()));
        if let Some(handle) = self.state.metrics.clone() {
            // Histogram samples pile up until they are drained into their
            // buckets: drain them whether or not anyone scrapes /metrics.
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(5));
                loop {
                    tick.tick().await;
                    handle.run_upkeep();
                }
            });
        }
        tracing::info!(addr = %self.addr, "listening");
        let header_timeout = Duration::from_secs(self.state.config.header_timeout_secs.max(1));
        serve::serve(self.listener, self.router, header_timeout, shutdown_signal()).await;
        // Every WebSocket is told to come back (1012) after what is queued
        // for it, so clients reconnect at once, spread by their jitter,
        // rather than each noticing a dead socket. What the writer has
        // queued is stored below; a send whose ack did not go out is sent
        // again on reconnect and found by its `client_msg_id`.
        self.state.hub.close_all(close::SERVICE_RESTART, "server restarting");
        if tokio::time::timeout(CLOSE_GRACE, self.state.hub.all_gone())
            .await
            .is_err()
        {
            tracing::warn!("some WebSockets were still open at shutdown");
        }
        self.state.log.stop().await;
        self.state.hub.settle_bus().await;
        self.state.search.stop().await;
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Periodic clean-up: expired sessions, idle rate-limit buckets.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        state.auth_limiter.forget_idle();
        state.send_pace.forget_idle();
        state.upload_limiter.forget_idle();
        match db::sessions::purge_expired(&state.db, db::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired sessions removed"),
            Err(err) => tracing::warn!(%err, "session purge failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
