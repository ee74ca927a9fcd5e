//! The client's address behind reverse proxies. The portal has no TLS of its
//! own, so in production every request comes through a proxy; its TCP peer
//! is then the proxy, and per-address limits and audit rows would all name
//! it. With `PORTAL_TRUSTED_PROXIES` set, the client is the right-most
//! address of the `Forwarded` (RFC 7239) or else `X-Forwarded-For` chain
//! that is not a trusted proxy: entries further left were written by the
//! client itself and prove nothing. Without it (or when the peer is not a
//! trusted proxy) the headers are ignored: anyone can send them.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use poem::http::HeaderMap;

/// Parses `PORTAL_TRUSTED_PROXIES`: comma- or space-separated CIDR ranges
/// or single addresses (`10.0.0.0/8, 192.0.2.7, ::1`).
pub fn parse_proxies(raw: &str) -> Result<Vec<IpNet>, String> {
    raw.split([',', ' ', '\t', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    format!(
                        "{s:?} is not an address or CIDR range; write e.g. 10.0.0.0/8, 192.0.2.7 or \
                         fd00::/8, separated by commas"
                    )
                })
        })
        .collect()
}

/// An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, as a dual-stack socket
/// reports IPv4 peers) as the IPv4 address it is.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// One `for=` value of a `Forwarded` element: `192.0.2.1`, `"[2001:db8::1]:443"`,
/// `192.0.2.1:8080`; None for `unknown`, obfuscated names and junk.
fn forwarded_for(value: &str) -> Option<IpAddr> {
    let v = value.trim().trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest
            .split_once(']')
            .and_then(|(ip, _)| ip.parse::<Ipv6Addr>().ok())
            .map(IpAddr::V6);
    }
    v.parse::<IpAddr>().ok().or_else(|| {
        v.rsplit_once(':').filter(|(ip, _)| !ip.contains(':')).and_then(|(ip, _)| ip.parse().ok())
    })
}

/// The hops the proxies reported, left (the client's claim) to right (the
/// nearest proxy's); an entry that is not an address is None.
fn chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<_> =
        headers.get_all("forwarded").iter().filter_map(|v| v.to_str().ok()).collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|h| h.split(','))
            .map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| forwarded_for(v))
                })?
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|h| h.split(','))
        .map(forwarded_for)
        .collect()
}

/// The client's address: the peer itself unless it is a trusted proxy;
/// then the right-most hop that is not one. A hop that is not an address
/// (`unknown`) ends the walk at the proxy that reported it; a chain of
/// trusted proxies only gives its left-most one.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, proxies: &[IpNet]) -> Option<IpAddr> {
    let peer = canonical(peer?);
    if !trusted(peer, proxies) {
        return Some(peer);
    }
    let mut nearest = peer;
    for hop in chain(headers).into_iter().rev() {
        match hop.map(canonical) {
            Some(ip) if trusted(ip, proxies) => nearest = ip,
            Some(ip) => return Some(ip),
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

/// The key of per-address limits: IPv4 addresses as they are, IPv6 by /64
/// (one customer's network gets one bucket, not 2^64 of them).
pub fn limit_key(ip: Option<IpAddr>) -> String {
    match ip.map(canonical) {
        None => "unknown".into(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn proxies_parse_as_ranges_or_addresses() {
        let p = parse_proxies("10.0.0.0/8, 192.0.2.7 ::1,fd00::/8").unwrap();
        assert_eq!(p.len(), 4);
        assert!(trusted(ip("10.1.2.3"), &p) && trusted(ip("192.0.2.7"), &p));
        assert!(!trusted(ip("192.0.2.8"), &p));
        assert_eq!(parse_proxies("").unwrap(), vec![]);
        assert!(parse_proxies("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
        assert!(parse_proxies("proxy.example").is_err());
    }

    #[test]
    fn headers_count_only_behind_a_trusted_proxy() {
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_ip(Some(ip("198.51.100.1")), &xff, &[]), Some(ip("198.51.100.1")));
        let proxies = parse_proxies("127.0.0.1").unwrap();
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &xff, &proxies),
            Some(ip("198.51.100.1")),
            "a peer that is not a trusted proxy sets no header"
        );
        assert_eq!(client_ip(Some(ip("127.0.0.1")), &xff, &proxies), Some(ip("203.0.113.9")));
        assert_eq!(client_ip(None, &xff, &proxies), None);
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = parse_proxies("10.0.0.0/8").unwrap();
        // The client wrote "1.2.3.4" itself; the edge proxy appended its real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("203.0.113.9")));
        // Several header lines are one list.
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("203.0.113.9")));
        // Only proxies: the left-most.
        let h = headers(&[("x-forwarded-for", "10.0.0.3, 10.0.0.2")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("10.0.0.3")));
        // "unknown" stops at the proxy that reported it.
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown, 10.0.0.2")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("10.0.0.2")));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let proxies = parse_proxies("10.0.0.0/8").unwrap();
        let h = headers(&[
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("2001:db8:cafe::17")));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;by=10.0.0.1")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("192.0.2.60")));
        let h = headers(&[("forwarded", "for=_hidden")]);
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &proxies), Some(ip("10.0.0.1")));
    }

    #[test]
    fn ipv6_limits_key_by_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(limit_key(Some(ip("2001:db8:1:2:aaaa::1"))), "2001:db8:1:2::/64");
        assert_eq!(limit_key(Some(ip("2001:db8:1:2:ffff::9"))), "2001:db8:1:2::/64");
        assert_ne!(limit_key(Some(ip("2001:db8:1:3::1"))), "2001:db8:1:2::/64");
        assert_eq!(limit_key(Some(ip("::ffff:192.0.2.1"))), "192.0.2.1");
        assert_eq!(limit_key(None), "unknown");
        let proxies = parse_proxies("127.0.0.1").unwrap();
        assert_eq!(
            client_ip(
                Some(ip("::ffff:127.0.0.1")),
                &headers(&[("x-forwarded-for", "192.0.2.5")]),
                &proxies
            ),
            Some(ip("192.0.2.5")),
            "a dual-stack socket's mapped peer is the IPv4 proxy"
        );
    }
}
