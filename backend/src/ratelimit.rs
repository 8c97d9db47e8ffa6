//! Rate limiting (GCRA via governor): per client address for login and
//! register, per user for sending messages.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    num::NonZeroU32,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    middleware::Next,
    response::Response,
};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use natter_common::ids::UserId;

use crate::{error::AppError, state::AppState};

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

/// Middleware for the auth routes.
pub async fn limit_auth(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    state.auth_limiter.check(peer.ip()).map_err(AppError::rate_limited)?;
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
    fn ipv6_hosts_in_one_64_share_a_bucket() {
        let limiter = AddressLimiter::per_minute(1);
        limiter.check("2001:db8::1".parse().unwrap()).unwrap();
        assert!(limiter.check("2001:db8::ffff".parse().unwrap()).is_err());
        limiter.check("2001:db8:0:1::1".parse().unwrap()).unwrap();
    }
}
