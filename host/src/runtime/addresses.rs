//! Which IP addresses a connector reaches only when the operator lets it
//! into private networks (`allow_private_networks`), and the DNS resolver
//! that keeps the others out.
//!
//! The check runs on the addresses a name resolves to when the connection is
//! made, not on the name: a vendor host that someone makes resolve to the
//! daemon's own network (DNS rebinding, a hijacked record) is refused like a
//! name that always did. URLs whose host is an IP literal never reach the
//! resolver; the allowlist entry naming that literal is the operator's
//! explicit consent.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` lies in a private, loopback, link-local, unique-local,
/// shared (CGNAT, 100.64.0.0/10), unspecified, multicast, broadcast,
/// reserved, benchmarking or documentation range, or reaches one through a
/// translation (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    // 0.0.0.0/8 as a whole: Linux connects 0.0.0.0 to the local host.
    a == 0
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // 198.18.0.0/15, benchmarking
        || ip.is_documentation()
        || ip.is_multicast()
        || a >= 240 // 240.0.0.0/4, reserved, and the broadcast address
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    // ::a.b.c.d (compatible, which also covers :: and ::1) and
    // ::ffff:a.b.c.d (mapped) reach the IPv4 address they carry.
    if let Some(v4) = ip.to_ipv4() {
        return is_private_v4(v4);
    }
    // 64:ff9b::/96, the NAT64 well-known prefix: a translator on the way
    // connects to the embedded IPv4 address.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., high, low] = segments;
        let v4 = (u32::from(high) << 16) | u32::from(low);
        return is_private_v4(Ipv4Addr::from(v4));
    }
    // 2002::/16, 6to4: the relay connects to the IPv4 address that follows.
    if segments[0] == 0x2002 {
        let v4 = (u32::from(segments[1]) << 16) | u32::from(segments[2]);
        return is_private_v4(Ipv4Addr::from(v4));
    }
    let first = segments[0];
    // 2001::/32, Teredo: the client's address is obfuscated, so it is
    // refused as a whole; 64:ff9b:1::/48, NAT64 for local use; 100::/64,
    // discard; 2001:db8::/32, documentation.
    (first == 0x2001 && (segments[1] == 0 || segments[1] == 0x0db8))
        || segments[..3] == [0x64, 0xff9b, 1]
        || segments[..4] == [0x100, 0, 0, 0]
        || (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (first & 0xffc0) == 0xfec0 // fec0::/10, the former site-local
        || ip.is_multicast()
}

/// A name resolved only to addresses the connector may not reach.
#[derive(Debug)]
pub(crate) struct PrivateNetworkRefused {
    connector: Arc<str>,
    host: String,
    addresses: Vec<IpAddr>,
}

impl fmt::Display for PrivateNetworkRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let addresses: Vec<String> = self.addresses.iter().map(IpAddr::to_string).collect();
        write!(
            f,
            "{} resolves only to private addresses ({}); set allow_private_networks = true in [connectors.{}] if this system is on your network",
            self.host,
            addresses.join(", "),
            self.connector
        )
    }
}

impl std::error::Error for PrivateNetworkRefused {}

/// Resolves names with the system resolver and drops the private addresses
/// among the answers; fails when nothing else is left.
#[derive(Debug)]
pub(crate) struct PublicOnly {
    connector: Arc<str>,
}

impl PublicOnly {
    /// The resolver of connector `connector`, named in its errors.
    pub(crate) fn new(connector: &str) -> Self {
        Self {
            connector: Arc::from(connector),
        }
    }
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let connector = self.connector.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // The port is a placeholder: the connector puts the URL's in.
            let answers: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (private, public): (Vec<SocketAddr>, Vec<SocketAddr>) = answers
                .into_iter()
                .partition(|address| is_private(address.ip()));
            if public.is_empty() && !private.is_empty() {
                let mut addresses: Vec<IpAddr> = private.iter().map(SocketAddr::ip).collect();
                addresses.sort();
                addresses.dedup();
                tracing::warn!(
                    connector = &*connector,
                    host,
                    ?addresses,
                    "outbound request denied: the host resolves only to private addresses"
                );
                return Err(Box::new(PrivateNetworkRefused {
                    connector,
                    host,
                    addresses,
                })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            if !private.is_empty() {
                tracing::warn!(
                    connector = &*connector,
                    host,
                    dropped = ?private,
                    "private addresses among a host's DNS answers are not used"
                );
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(text: &str) -> bool {
        is_private(text.parse().unwrap())
    }

    #[test]
    fn private_and_special_ipv4_ranges_are_private() {
        for ip in [
            "10.0.0.5",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
        ] {
            assert!(private(ip), "{ip}");
        }
    }

    #[test]
    fn public_ipv4_addresses_next_to_the_ranges_are_not() {
        for ip in [
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "169.253.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "1.0.0.0",
            "223.255.255.255",
            "192.0.1.255",
            "198.17.255.255",
            "198.20.0.0",
        ] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[test]
    fn private_and_special_ipv6_ranges_are_private() {
        for ip in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456:789a::1",
            "ff02::1",
        ] {
            assert!(private(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_addresses_carrying_a_private_ipv4_address_are_private() {
        for ip in [
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::10.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "64:ff9b:1::8.8.8.8",
            "100::1",
            "2001:db8::1",
        ] {
            assert!(private(ip), "{ip}");
        }
        for ip in ["::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1"] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[test]
    fn public_ipv6_addresses_are_not() {
        for ip in [
            "2001:4860:4860::8888",
            "2a00:1450:4001:80b::200e",
            "fe00::1",
            "fbff::1",
        ] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_resolving_only_to_loopback_is_refused_naming_the_key_to_set() {
        let name: Name = "localhost".parse().unwrap();
        let error = match PublicOnly::new("acme").resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(error) => error.to_string(),
        };
        assert!(
            error.starts_with("localhost resolves only to private addresses (127.0.0.1"),
            "{error}"
        );
        assert!(
            error.ends_with(
                "set allow_private_networks = true in [connectors.acme] if this system is on your network"
            ),
            "{error}"
        );
    }
}
