//! Accepting connections. Our own loop on hyper-util rather than
//! `axum::serve`, which builds hyper without a timer, so hyper's
//! header-read timeout never applies: a client could hold a connection and
//! its task forever by sending a request's headers a byte at a time.

mod answers;

use std::{future::Future, net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::{ConnectInfo, Request},
    Router,
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tower::Service;

/// A connection as hyper serves it: what an upgrade hands back, for
/// [`into_tcp`].
pub type Io = TokioIo<answers::Amended<TcpStream>>;

/// The TCP stream under an upgraded connection. (An amended answer being
/// written is an error's, which no upgrade follows.)
pub fn into_tcp(io: Io) -> TcpStream {
    io.into_inner().into_inner()
}

/// How long in-flight requests get to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish (bounded). Handlers see the peer address as
/// `ConnectInfo<SocketAddr>`. Upgraded connections (WebSockets) live on
/// in their own tasks.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    // Signalled at shutdown: every connection task sees it and winds down.
    let (stopping, stop) = watch::channel(());
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off, don't spin.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a small frame written while the previous one is
        // unacknowledged waits for the peer's delayed ACK: up to 40 ms.
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(%err, "cannot set TCP_NODELAY");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().call(request.map(Body::new))
        });
        let connection = builder
            .serve_connection(Io::new(answers::Amended::new(tcp)), service)
            .with_upgrades();
        let mut stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let ended = tokio::select! {
                ended = connection.as_mut() => ended,
                _ = stop.changed() => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = ended {
                tracing::trace!(%err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    drop(stop);
    let _ = stopping.send(());
    // Every connection task holds a receiver until it ends.
    if tokio::time::timeout(DRAIN, stopping.closed()).await.is_err() {
        tracing::warn!("some requests were still running at shutdown");
    }
}
