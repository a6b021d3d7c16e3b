//! Where a UI request comes from, as the audit log records it. Behind a trusted reverse proxy
//! (`--auth proxy`) every request's peer is the proxy, which says nothing about who looked at
//! someone's data from where: there the client is the one the proxy names in
//! `X-Forwarded-For`, recorded with the proxy ("203.0.113.7 via 127.0.0.1").

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap};

use crate::config::team::ProxyConfig;

/// The header a reverse proxy appends the address it was reached from to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The request's address for the audit log. The team guard puts one in the request's
/// extensions; without it (one person's monitor), it is the peer's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    /// `peer`, or behind one of `proxy`'s trusted addresses, the client it forwards for.
    pub(super) fn of(peer: IpAddr, headers: &HeaderMap, proxy: Option<&ProxyConfig>) -> Self {
        let peer = peer.to_canonical();
        let forwarded = match proxy.filter(|proxy| proxy.trusts(peer)) {
            Some(proxy) => forwarded_for(headers, |hop| proxy.trusts(hop)),
            None => Forwarded::Nothing,
        };
        ClientAddress(match forwarded {
            Forwarded::Client(client) if client != peer => format!("{client} via {peer}"),
            Forwarded::Unreadable => format!("unknown via {peer}"),
            _ => peer.to_string(),
        })
    }

    /// The team guard's, or the peer's address; "local" for a call with no connection.
    pub(super) fn of_request(extensions: &Extensions) -> Self {
        if let Some(client) = extensions.get::<ClientAddress>() {
            return client.clone();
        }
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| ClientAddress(peer.ip().to_canonical().to_string()))
            .unwrap_or_else(|| ClientAddress("local".to_owned()))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ClientAddress::of_request(&parts.extensions))
    }
}

/// What a trusted proxy's `X-Forwarded-For` says of the client.
#[derive(Debug, PartialEq)]
enum Forwarded {
    /// No header.
    Nothing,
    Client(IpAddr),
    /// Where the client's address should be, something that is not one.
    Unreadable,
}

/// The client a chain of proxies forwarded for: each proxy appends the address it was reached
/// from, so, read from the right, the first address that is not a trusted proxy's is the last
/// one a trusted proxy saw; what is left of it the client could have written itself, and is
/// never read (bytes that are not text there change nothing). Every hop trusted: the first,
/// the farthest a trusted proxy saw.
fn forwarded_for(headers: &HeaderMap, trusted: impl Fn(IpAddr) -> bool) -> Forwarded {
    let hops: Vec<&[u8]> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
        .collect();
    let mut farthest = Forwarded::Nothing;
    for hop in hops.iter().rev() {
        let Some(address) = std::str::from_utf8(hop).ok().and_then(hop_address) else {
            return Forwarded::Unreadable;
        };
        if !trusted(address) {
            return Forwarded::Client(address);
        }
        farthest = Forwarded::Client(address);
    }
    farthest
}

/// One hop: an address, with or without a port ("198.51.100.4:5012", "[2001:db8::1]:443").
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let address = hop
        .parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()?;
    Some(address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxy(trusted: &[&str]) -> ProxyConfig {
        ProxyConfig {
            user_header: "X-Forwarded-Email".into(),
            groups_header: "X-Forwarded-Groups".into(),
            trusted: trusted
                .iter()
                .map(|cidr| crate::config::team::parse_cidr(cidr).unwrap())
                .collect(),
        }
    }

    fn from(peer: &str, forwarded: &[&str], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append(FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        ClientAddress::of(peer.parse().unwrap(), &headers, Some(&proxy(trusted))).0
    }

    #[test]
    fn the_client_is_the_last_address_a_trusted_proxy_saw() {
        let loopback = ["127.0.0.1/32"];
        assert_eq!(from("127.0.0.1", &[], &loopback), "127.0.0.1");
        assert_eq!(
            from("127.0.0.1", &["203.0.113.7"], &loopback),
            "203.0.113.7 via 127.0.0.1"
        );
        // What the client wrote itself is left of what the proxy appended.
        assert_eq!(
            from("127.0.0.1", &["10.6.6.6, 203.0.113.7"], &loopback),
            "203.0.113.7 via 127.0.0.1"
        );
        assert_eq!(
            from("127.0.0.1", &["10.6.6.6", "203.0.113.7"], &loopback),
            "203.0.113.7 via 127.0.0.1"
        );
        // Through two trusted proxies: the address the outer one saw.
        let both = ["127.0.0.1/32", "10.0.0.0/8"];
        assert_eq!(
            from("127.0.0.1", &["198.51.100.9, 203.0.113.7, 10.0.0.2"], &both),
            "203.0.113.7 via 127.0.0.1"
        );
        assert_eq!(
            from("127.0.0.1", &["10.0.0.9, 10.0.0.2"], &both),
            "10.0.0.9 via 127.0.0.1"
        );
        // Ports, brackets and an IPv4-mapped address.
        assert_eq!(
            from("::ffff:127.0.0.1", &["[2001:db8::1]:443"], &loopback),
            "2001:db8::1 via 127.0.0.1"
        );
        assert_eq!(
            from("127.0.0.1", &["198.51.100.4:5012"], &loopback),
            "198.51.100.4 via 127.0.0.1"
        );
    }

    #[test]
    fn only_a_trusted_peer_is_believed_and_only_an_address_recorded() {
        // Not from the proxy (refused anyway): its header is the sender's word.
        assert_eq!(
            from("192.0.2.50", &["203.0.113.7"], &["127.0.0.1/32"]),
            "192.0.2.50"
        );
        // Not an address where the client's should be: said, and nothing of it recorded.
        for hop in [
            "unknown",
            "203.0.113.7 <script>",
            "",
            "_hidden",
            "127.1",
            "0x7f.0.0.1",
        ] {
            assert_eq!(
                from(
                    "127.0.0.1",
                    &[&format!("10.6.6.6, {hop}")],
                    &["127.0.0.1/32"]
                ),
                "unknown via 127.0.0.1",
                "{hop:?}"
            );
        }
        // Bytes that are not text, left of the client's address (the client's own), change
        // nothing; where the client's address should be, they are unknown.
        let mut headers = HeaderMap::new();
        headers.append(
            FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff caf\xc3\xa9").unwrap(),
        );
        headers.append(
            FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff, 198.51.100.23").unwrap(),
        );
        let (peer, proxy) = ("127.0.0.1".parse().unwrap(), proxy(&["127.0.0.1/32"]));
        assert_eq!(
            ClientAddress::of(peer, &headers, Some(&proxy)).0,
            "198.51.100.23 via 127.0.0.1"
        );
        headers.append(FORWARDED_FOR, HeaderValue::from_bytes(b"\x80").unwrap());
        assert_eq!(
            ClientAddress::of(peer, &headers, Some(&proxy)).0,
            "unknown via 127.0.0.1"
        );
        // One person's monitor, or sign-in by OpenID Connect: the peer.
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, HeaderValue::from_static("203.0.113.7"));
        let peer = "127.0.0.1".parse().unwrap();
        assert_eq!(ClientAddress::of(peer, &headers, None).0, "127.0.0.1");
    }
}
