//! Where pushes may go. A subscription's endpoint is a URL the browser
//! handed us, so it is untrusted: pushes go only to `https` on public
//! addresses, checked when the subscription arrives and again on every
//! connection, where the checked addresses are the ones connected to (a
//! name that resolved to a public address yesterday and to 10.0.0.1 today
//! is refused today). `--push-allow-private` lifts both for tests.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    task::{Context, Poll},
};

use axum::http::Uri;
use hyper_util::client::legacy::connect::{dns::Name, HttpConnector};

/// Longest endpoint URL accepted (real ones are under 500 bytes).
const MAX_LEN: usize = 2048;

/// A push service URL that passed the syntactic checks.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub uri: Uri,
    /// `scheme://host[:port]`: the VAPID audience.
    pub origin: String,
}

/// Why an endpoint is refused, fit to show next to the field.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("The push endpoint must be an https URL.")]
    NotHttps,
    #[error("The push endpoint is not a valid URL.")]
    Malformed,
    #[error("The push endpoint is not on a public address.")]
    NotPublic,
}

impl Endpoint {
    pub fn parse(raw: &str, allow_private: bool) -> Result<Self, Refused> {
        if raw.len() > MAX_LEN {
            return Err(Refused::Malformed);
        }
        let uri: Uri = raw.parse().map_err(|_| Refused::Malformed)?;
        let scheme = uri.scheme_str().ok_or(Refused::Malformed)?;
        if !(scheme == "https" || (allow_private && scheme == "http")) {
            return Err(Refused::NotHttps);
        }
        let authority = uri.authority().ok_or(Refused::Malformed)?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(Refused::Malformed);
        }
        if !allow_private {
            if let Some(ip) = literal_ip(authority.host()) {
                if !is_public(ip) {
                    return Err(Refused::NotPublic);
                }
            }
        }
        let origin = format!("{scheme}://{authority}");
        Ok(Self { uri, origin })
    }

    /// Resolves a named host now, refusing one with no public address (a
    /// subscription pointing into our own network is refused on arrival,
    /// not only at delivery).
    pub async fn check_resolves(&self, allow_private: bool) -> Result<(), Refused> {
        let host = self.uri.host().unwrap_or_default();
        if allow_private || literal_ip(host).is_some() {
            return Ok(());
        }
        let lookup = tokio::time::timeout(std::time::Duration::from_secs(5), public_addrs(host)).await;
        match lookup {
            Ok(Ok(addrs)) if !addrs.is_empty() => Ok(()),
            _ => Err(Refused::NotPublic),
        }
    }
}

fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// Addresses of `host` that are public; an error when lookup fails.
async fn public_addrs(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    let addrs = tokio::net::lookup_host((host, 0)).await?;
    Ok(addrs.filter(|a| is_public(a.ip())).collect())
}

/// Resolves push services' names to their public addresses only (literal
/// addresses were checked by [`Endpoint::parse`]).
#[derive(Debug, Clone, Copy)]
pub struct PublicResolver {
    pub allow_private: bool,
}

impl tower::Service<Name> for PublicResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = if allow_private {
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect()
            } else {
                public_addrs(name.as_str()).await?
            };
            if addrs.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{} has no public address",
                    name.as_str()
                )));
            }
            Ok(addrs.into_iter())
        })
    }
}

/// The TCP connector pushes use.
pub fn connector(allow_private: bool) -> HttpConnector<PublicResolver> {
    let mut http = HttpConnector::new_with_resolver(PublicResolver { allow_private });
    http.enforce_http(false);
    http.set_connect_timeout(Some(std::time::Duration::from_secs(10)));
    http
}

/// True for an address on the public internet: not loopback, private,
/// link-local, shared (CGNAT), multicast, documentation, benchmarking or
/// reserved, including IPv4 addresses inside IPv6 (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match segments {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return is_public_v4(embedded_v4(hi, lo)),
        // 6to4 (2002::/16) reaches the IPv4 address in bits 16–48.
        [0x2002, hi, lo, ..] => return is_public_v4(embedded_v4(hi, lo)),
        _ => {}
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..6] == [0; 6]) // IPv4-compatible and other ::/96
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "142.250.74.46",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn endpoints_are_https_urls_on_public_hosts() {
        let good = Endpoint::parse("https://fcm.googleapis.com/fcm/send/abc:def", false).unwrap();
        assert_eq!(good.origin, "https://fcm.googleapis.com");
        for raw in [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]:8443/x",
            "https://10.0.0.1/x",
            "https://user@push.example.com/x",
            "push.example.com/x",
            "ftp://push.example.com/x",
        ] {
            assert!(Endpoint::parse(raw, false).is_err(), "{raw}");
        }
        assert!(Endpoint::parse("http://127.0.0.1:9/x", true).is_ok());
    }
}
