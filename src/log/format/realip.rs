//! The client behind proxies (`--real-ip xff --trusted CIDR,...`), as
//! nginx's realip module finds it with `real_ip_recursive on`: when the
//! connecting address is a trusted proxy, the client is the rightmost
//! address of `X-Forwarded-For` that is not trusted (the leftmost when all
//! are).

use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RealIpError {
    #[error("bad --trusted range {0:?}: expected an address or CIDR block (10.0.0.0/8, 2001:db8::/32)")]
    Cidr(String),
    #[error("bad --real-ip {0:?}: the only source is xff (the X-Forwarded-For header the format logs)")]
    Source(String),
}

/// Trusted proxy ranges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealIp {
    trusted: Vec<(IpAddr, u8)>,
}

/// Loopback and private ranges: what sits in front of a server on the
/// same host or network.
pub const DEFAULT_TRUSTED: &str = "127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,::1/128,fc00::/7";

fn bits_match(a: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = if bits == 0 { 0 } else { u32::MAX << (32 - bits as u32) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = if bits == 0 { 0 } else { u128::MAX << (128 - bits as u32) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

fn addr(b: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(b).ok()?.trim();
    let s = s.strip_prefix('[').and_then(|s| s.split(']').next()).unwrap_or(s);
    let a: IpAddr = s.parse().ok()?;
    Some(match a {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(a, IpAddr::V4),
        v4 => v4,
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|&c| c != b' ' && c != b'\t').unwrap_or(b.len());
    let e = b.iter().rposition(|&c| c != b' ' && c != b'\t').map_or(s, |e| e + 1);
    &b[s..e]
}

impl RealIp {
    /// `--real-ip SOURCE --trusted LIST` (None: the default ranges).
    pub fn parse(source: &str, trusted: Option<&str>) -> Result<RealIp, RealIpError> {
        if !source.eq_ignore_ascii_case("xff") {
            return Err(RealIpError::Source(source.to_string()));
        }
        let mut v = Vec::new();
        for part in trusted.unwrap_or(DEFAULT_TRUSTED).split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let err = || RealIpError::Cidr(part.to_string());
            let (a, bits) = match part.split_once('/') {
                Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| err())?)),
                None => (part, None),
            };
            let a = addr(a.as_bytes()).ok_or_else(err)?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            let bits = bits.unwrap_or(max);
            if bits > max {
                return Err(err());
            }
            v.push((a, bits));
        }
        Ok(RealIp { trusted: v })
    }

    fn trusted(&self, b: &[u8]) -> bool {
        addr(b).is_some_and(|a| self.trusted.iter().any(|&(n, bits)| bits_match(a, n, bits)))
    }

    /// The client of a line whose connecting address is `host` and whose
    /// `X-Forwarded-For` is `xff`. When the format logs only the chain,
    /// `host` is a slice of it and the chain alone decides.
    pub fn client<'a>(&self, host: &'a [u8], xff: &'a [u8]) -> &'a [u8] {
        if xff.is_empty() {
            return host;
        }
        let inside = {
            let (h, x) = (host.as_ptr() as usize, xff.as_ptr() as usize);
            h >= x && h + host.len() <= x + xff.len()
        };
        if !inside && !self.trusted(host) {
            return host;
        }
        let mut last = host;
        for part in xff.rsplit(|&c| c == b',') {
            let a = trim(part);
            if a.is_empty() || a == b"-" {
                continue;
            }
            if addr(a).is_none() {
                // Not an address: nginx stops here and keeps the last good one.
                return last;
            }
            last = a;
            if !self.trusted(a) {
                return a;
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rightmost_untrusted_like_nginx_recursive() {
        let r = RealIp::parse("xff", None).unwrap();
        let x = b"85.181.35.98, 203.0.113.7, 10.0.0.1";
        assert_eq!(r.client(b"127.0.0.1", x), b"203.0.113.7");
        assert_eq!(r.client(b"198.51.100.1", x), b"198.51.100.1", "an untrusted peer is the client");
        assert_eq!(r.client(b"10.0.0.2", b"10.0.0.3, 192.168.1.1"), b"10.0.0.3", "all trusted: leftmost");
        assert_eq!(r.client(b"10.0.0.2", b""), b"10.0.0.2");
        assert_eq!(r.client(b"10.0.0.2", b"junk, 10.0.0.9"), b"10.0.0.9");
        let wide = RealIp::parse("xff", Some("10.0.0.0/8, 203.0.113.0/24")).unwrap();
        assert_eq!(wide.client(b"10.0.0.2", x), b"85.181.35.98");
        // The chain alone (a format that logs no peer address).
        assert_eq!(r.client(&x[..12], x), b"203.0.113.7");
        assert_eq!(r.client(b"::1", b"2001:db8::5"), b"2001:db8::5");
        assert!(RealIp::parse("xff", Some("10.0.0.0/33")).is_err());
        assert!(RealIp::parse("xff", Some("nope")).is_err());
        assert!(RealIp::parse("proxy", None).is_err());
    }
}
