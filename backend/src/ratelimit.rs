//! Rate limiting (GCRA via governor): per client address for login and
//! register, per user for sending messages (across every node when they
//! share PostgreSQL) and for uploads.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use natter_common::ids::UserId;

use crate::{
    db::{self, Db},
    error::AppError,
    state::AppState,
};

pub struct AddressLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl AddressLimiter {
    /// Allows `per_minute` requests per address per minute, all of them at
    /// once if they come in a burst.
    pub fn per_minute(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(n)),
        }
    }

    /// Ok, or how many milliseconds until the address may try again.
    pub fn check(&self, addr: IpAddr) -> Result<(), u64> {
        self.limiter.check_key(&bucket(addr)).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    /// Forgets addresses whose budget is full again, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// One bucket per IPv4 address and per IPv6 /64, since a single IPv6 host
/// usually controls a whole /64.
fn bucket(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V4(_) => addr,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// Message sends per user: a token bucket of `burst` refilled at
/// `per_second`.
pub struct UserLimiter {
    limiter: DefaultKeyedRateLimiter<UserId>,
}

impl UserLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(rate);
        Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        }
    }

    /// Ok, or how many milliseconds until the user may send again.
    pub fn check(&self, user: UserId) -> Result<(), u64> {
        self.limiter.check_key(&user).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.limiter.clock().now());
            u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)
        })
    }

    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// How long a send waits to be counted in the database before it goes on
/// uncounted.
const PACE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Message sends per user, counted across every node of a deployment.
/// Every node counts in memory. On PostgreSQL, a user with sockets on other
/// nodes too is also counted in one row per user in the database, so that
/// they don't get the limit once per node (a statement per such send:
/// docs/storage.md).
pub enum SendPace {
    Here(UserLimiter),
    Shared {
        here: UserLimiter,
        pool: sqlx::PgPool,
        interval_us: i64,
        tolerance_us: i64,
    },
}

impl SendPace {
    /// `per_second` sustained, `burst` at once: in memory or in `db`.
    pub fn new(db: &Db, per_second: u32, burst: u32) -> Self {
        match db {
            Db::Sqlite(_) => Self::Here(UserLimiter::new(per_second, burst)),
            Db::Postgres(pool) => {
                let interval_us = 1_000_000 / i64::from(per_second.max(1));
                // As governor takes it: no burst means the rate's worth.
                let burst = if burst == 0 { per_second.max(1) } else { burst };
                Self::Shared {
                    here: UserLimiter::new(per_second, burst),
                    pool: pool.clone(),
                    interval_us,
                    tolerance_us: interval_us * i64::from(burst - 1),
                }
            }
        }
    }

    /// Ok, or how many milliseconds until the user may send again.
    /// `alone_here`: this node knows (through the bus) that the user has no
    /// socket on another node, so its own count is the whole count.
    pub async fn check(&self, user: UserId, alone_here: bool) -> Result<(), u64> {
        match self {
            Self::Here(limiter) => limiter.check(user),
            Self::Shared {
                here,
                pool,
                interval_us,
                tolerance_us,
            } => {
                here.check(user)?;
                if alone_here {
                    crate::metrics::send_counted("here");
                    return Ok(());
                }
                crate::metrics::send_counted("shared");
                let take = db::send_pace::take(pool, user, *interval_us, *tolerance_us);
                // A database too busy to answer soon must not hold up the
                // connection (its frames wait meanwhile); the send fails
                // anyway when it is away: no refusal of our own on top.
                match tokio::time::timeout(PACE_WAIT, take).await {
                    Ok(Ok(taken)) => taken.map_err(|wait_us| (wait_us as u64).div_ceil(1000)),
                    Ok(Err(err)) => {
                        tracing::warn!(%err, "cannot count a send");
                        Ok(())
                    }
                    Err(_) => {
                        tracing::warn!("counting a send took too long");
                        Ok(())
                    }
                }
            }
        }
    }

    pub fn forget_idle(&self) {
        match self {
            Self::Here(limiter) | Self::Shared { here: limiter, .. } => limiter.forget_idle(),
        }
    }
}

/// The address a request came from: the peer, or, when the peer is a
/// trusted proxy, the nearest address in `X-Forwarded-For` that is not one
/// (proxies append, so entries left of a trusted one can be forged).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for entry in forwarded.into_iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(addr) if trusted.contains(&addr) => continue,
            Ok(addr) => return addr,
            // Garbage from the proxy's side: no better answer than the proxy.
            Err(_) => return peer,
        }
    }
    peer
}

/// Middleware for the auth routes.
pub async fn limit_auth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let client = client_address(peer.ip(), request.headers(), &state.config.trusted_proxies);
    state.auth_limiter.check(client).map_err(AppError::rate_limited)?;
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_with_wait() {
        let limiter = AddressLimiter::per_minute(3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            limiter.check(a).unwrap();
        }
        let wait = limiter.check(a).unwrap_err();
        assert!(wait > 0 && wait <= 20_000, "{wait}");
        limiter.check(b).unwrap();
    }

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let stranger: IpAddr = "192.0.2.9".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.5, 10.1.1.1".parse().unwrap());
        // Not a proxy we trust: its header is ignored.
        assert_eq!(client_address(stranger, &headers, &[proxy]), stranger);
        // The proxy appended the address it saw; what precedes it may be forged.
        assert_eq!(
            client_address(proxy, &headers, &[proxy]),
            "10.1.1.1".parse::<IpAddr>().unwrap()
        );
        // Chained trusted proxies are skipped.
        let inner: IpAddr = "10.1.1.1".parse().unwrap();
        assert_eq!(
            client_address(proxy, &headers, &[proxy, inner]),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // No header, or garbage: the peer itself.
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
        headers.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(client_address(proxy, &headers, &[proxy]), proxy);
    }

    #[test]
    fn ipv6_hosts_in_one_64_share_a_bucket() {
        let limiter = AddressLimiter::per_minute(1);
        limiter.check("2001:db8::1".parse().unwrap()).unwrap();
        assert!(limiter.check("2001:db8::ffff".parse().unwrap()).is_err());
        limiter.check("2001:db8:0:1::1".parse().unwrap()).unwrap();
    }
}
