//! SOCKS handshakes: SOCKS5's user/password sub-negotiation (RFC 1929) and
//! SOCKS4's user id, with the target asked for. Once the proxy grants the
//! request the flow carries the tunnelled protocol: the engine then detects
//! and parses that on the same flow (an HTTP login through a SOCKS proxy).

use super::Hit;
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SocksError {
    #[error("unexpected version byte {0:#04x}")]
    Version(u8),
    #[error("handshake message malformed")]
    Malformed,
}

/// Whether the first bytes are a SOCKS client's: a SOCKS5 greeting (version,
/// method count, methods) answered by a SOCKS5 method choice, or a SOCKS4
/// request answered by a SOCKS4 reply. On port 1080 the answer is not waited
/// for. `None`: wait for the answer.
pub fn looks_like(client: &[u8], server: &[u8], port: u16) -> Option<bool> {
    let confirmed = |ok: bool| {
        if port == 1080 || ok {
            Some(true)
        } else if server.is_empty() {
            None
        } else {
            Some(false)
        }
    };
    match client {
        [5, n @ 1..=9, rest @ ..] if rest.len() >= *n as usize => {
            let methods = &rest[..*n as usize];
            let after = &rest[*n as usize..];
            if !methods.iter().all(|&m| m <= 9 || m >= 0x80)
                || !matches!(after.first(), None | Some(1 | 5))
            {
                return Some(false);
            }
            confirmed(server.len() >= 2 && server[0] == 5 && methods.contains(&server[1]))
        }
        [4, 1 | 2, rest @ ..] if rest.len() >= 7 => {
            if memchr::memchr(0, &rest[6..]).is_none() {
                return Some(false);
            }
            confirmed(server.len() >= 8 && server[0] == 0 && (0x5a..=0x5d).contains(&server[1]))
        }
        _ => Some(false),
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Greeting,
    /// The client waits for the server's method choice.
    MethodChoice,
    UserPass,
    AuthStatus,
    Request,
    Reply,
    Socks4Reply,
    Done,
}

#[derive(Debug, Default)]
pub struct Socks {
    stage: Stage,
    version: u8,
    pending: Option<Hit>,
    /// The proxy granted the request: what follows is the tunnelled protocol.
    pub tunnel: bool,
}

/// The address and port at the front of `b` (`atyp` already read): text and
/// size; `None` when incomplete.
fn address(atyp: u8, b: &[u8]) -> Result<Option<(String, usize)>, SocksError> {
    let (host, n) = match atyp {
        1 => match b.get(..4) {
            Some(a) => (
                std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string(),
                4,
            ),
            None => return Ok(None),
        },
        3 => match b.first() {
            Some(&l) if b.len() > l as usize => (
                String::from_utf8_lossy(&b[1..1 + l as usize]).into_owned(),
                1 + l as usize,
            ),
            _ => return Ok(None),
        },
        4 => match b.get(..16).and_then(|a| <[u8; 16]>::try_from(a).ok()) {
            Some(a) => (format!("[{}]", std::net::Ipv6Addr::from(a)), 16),
            None => return Ok(None),
        },
        _ => return Err(SocksError::Malformed),
    };
    let Some(p) = b.get(n..n + 2) else {
        return Ok(None);
    };
    Ok(Some((
        format!("{host}:{}", u16::from_be_bytes([p[0], p[1]])),
        n + 2,
    )))
}

impl Socks {
    /// Reads both directions in protocol order and removes what was read.
    /// When [`Socks::tunnel`] turns true the bytes left are the tunnel's.
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, SocksError> {
        let mut hits = Vec::new();
        let (mut c, mut s) = (0, 0);
        let r = loop {
            match self.step(&cs[c..], &sc[s..], &mut hits) {
                Ok(Some((dc, ds))) => {
                    c += dc;
                    s += ds;
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
            if self.stage == Stage::Done {
                break Ok(());
            }
        };
        if r.is_err() {
            self.stage = Stage::Done;
        }
        if self.stage == Stage::Done {
            // A refused login, reported once the refusal is seen.
            hits.extend(self.pending.take());
        }
        if self.stage == Stage::Done && !self.tunnel {
            (c, s) = (cs.len(), sc.len());
        }
        cs.drain(..c);
        sc.drain(..s);
        r.map(|()| hits)
    }

    /// One message of whichever side's turn it is: bytes used each way.
    fn step(
        &mut self,
        c: &[u8],
        s: &[u8],
        hits: &mut Vec<Hit>,
    ) -> Result<Option<(usize, usize)>, SocksError> {
        Ok(Some(match self.stage {
            Stage::Done => return Ok(None),
            Stage::Greeting => match c {
                [5, n, ..] if c.len() >= 2 + *n as usize => {
                    self.version = 5;
                    self.stage = Stage::MethodChoice;
                    (2 + *n as usize, 0)
                }
                [4, _, _, _, a, b, cc, d, rest @ ..] => {
                    let Some(end) = memchr::memchr(0, rest) else {
                        return Ok(None);
                    };
                    let user = &rest[..end];
                    let mut used = 8 + end + 1;
                    let mut host = std::net::Ipv4Addr::new(*a, *b, *cc, *d).to_string();
                    if [*a, *b, *cc] == [0, 0, 0] && *d != 0 {
                        // SOCKS4a: the host name follows the user id.
                        let Some(hend) = memchr::memchr(0, &rest[end + 1..]) else {
                            return Ok(None);
                        };
                        host = String::from_utf8_lossy(&rest[end + 1..end + 1 + hend]).into_owned();
                        used += hend + 1;
                    }
                    let port = u16::from_be_bytes([c[2], c[3]]);
                    if !user.is_empty() {
                        let mut h = Hit::new(Proto::Socks4, Some(user), None);
                        h.detail = Some(format!("user id, CONNECT {host}:{port}"));
                        hits.push(h);
                    }
                    self.version = 4;
                    self.stage = Stage::Socks4Reply;
                    (used, 0)
                }
                [v, ..] if *v != 4 && *v != 5 => return Err(SocksError::Version(*v)),
                _ => return Ok(None),
            },
            Stage::MethodChoice => match s {
                [5, 2, ..] => {
                    self.stage = Stage::UserPass;
                    (0, 2)
                }
                [5, 0xff, ..] => {
                    self.stage = Stage::Done;
                    (0, 2)
                }
                [5, _, ..] => {
                    self.stage = Stage::Request;
                    (0, 2)
                }
                [v, ..] => return Err(SocksError::Version(*v)),
                [] => return Ok(None),
            },
            Stage::UserPass => {
                let [1, ulen, rest @ ..] = c else {
                    return match c.first() {
                        None | Some(1) => Ok(None),
                        Some(v) => Err(SocksError::Version(*v)),
                    };
                };
                let ulen = *ulen as usize;
                let Some(&plen) = rest.get(ulen) else {
                    return Ok(None);
                };
                let Some(pass) = rest.get(ulen + 1..ulen + 1 + plen as usize) else {
                    return Ok(None);
                };
                let mut h = Hit::new(Proto::Socks5, Some(&rest[..ulen]), Some(pass));
                h.detail = Some("RFC 1929 user/password".into());
                self.pending = Some(h);
                self.stage = Stage::AuthStatus;
                (3 + ulen + plen as usize, 0)
            }
            Stage::AuthStatus => match s {
                [_, status, ..] => {
                    if *status != 0 {
                        if let Some(h) = &mut self.pending {
                            h.detail = Some("RFC 1929 user/password, refused".into());
                        }
                        self.stage = Stage::Done;
                    } else {
                        self.stage = Stage::Request;
                    }
                    (0, 2)
                }
                _ => return Ok(None),
            },
            Stage::Request => match c {
                [5, cmd, _, atyp, rest @ ..] => {
                    let Some((target, n)) = address(*atyp, rest)? else {
                        return Ok(None);
                    };
                    if let Some(h) = &mut self.pending {
                        let verb = match cmd {
                            1 => "CONNECT",
                            2 => "BIND",
                            3 => "UDP ASSOCIATE",
                            _ => "command",
                        };
                        h.detail = Some(format!("RFC 1929 user/password, {verb} {target}"));
                    }
                    hits.extend(self.pending.take());
                    self.stage = Stage::Reply;
                    (4 + n, 0)
                }
                [v, ..] if *v != 5 => return Err(SocksError::Version(*v)),
                _ => return Ok(None),
            },
            Stage::Reply => match s {
                [5, rep, _, atyp, rest @ ..] => {
                    let Some((_, n)) = address(*atyp, rest)? else {
                        return Ok(None);
                    };
                    self.tunnel = *rep == 0;
                    self.stage = Stage::Done;
                    (0, 4 + n)
                }
                [v, ..] if *v != 5 => return Err(SocksError::Version(*v)),
                _ => return Ok(None),
            },
            Stage::Socks4Reply => {
                if s.len() < 8 {
                    return Ok(None);
                }
                self.tunnel = s[1] == 0x5a;
                self.stage = Stage::Done;
                (0, 8)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socks5_user_password_then_the_tunnel() {
        let mut cs = b"\x05\x02\x00\x02".to_vec();
        let mut sc = Vec::new();
        assert_eq!(looks_like(&cs, &sc, 9050), None);
        sc.extend(b"\x05\x02");
        assert_eq!(looks_like(&cs, &sc, 9050), Some(true));
        cs.extend(b"\x01\x03amy\x02pw");
        cs.extend(b"\x05\x01\x00\x03\x09127.0.0.1\x1f\x90GET / HTTP/1.1\r\n");
        sc.extend(b"\x01\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x1f\x90HTTP/1.1 200");
        let mut p = Socks::default();
        let mut hits = Vec::new();
        // Byte by byte each way, the server's bytes first.
        let (mut c, mut s) = (Vec::new(), Vec::new());
        for i in 0..cs.len().max(sc.len()) {
            s.extend(sc.get(i));
            c.extend(cs.get(i));
            hits.extend(p.feed(&mut c, &mut s).unwrap());
            if p.tunnel {
                c.extend(cs.get(i + 1..).unwrap_or_default());
                s.extend(sc.get(i + 1..).unwrap_or_default());
                break;
            }
        }
        assert!(p.tunnel);
        assert_eq!(c, b"GET / HTTP/1.1\r\n");
        assert_eq!(s, b"HTTP/1.1 200");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].password.as_deref(), Some(&b"pw"[..]));
        assert_eq!(
            hits[0].detail.as_deref(),
            Some("RFC 1929 user/password, CONNECT 127.0.0.1:8080")
        );
    }

    #[test]
    fn socks4a_user_id_and_refused_logins() {
        let mut cs = b"\x04\x01\x00\x50\x00\x00\x00\x01bob\0lab.example\0".to_vec();
        let mut sc = b"\x00\x5a\x00\x00\x00\x00\x00\x00".to_vec();
        assert_eq!(looks_like(&cs, &sc, 9050), Some(true));
        let mut p = Socks::default();
        let h = p.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h[0].user.as_deref(), Some(&b"bob"[..]));
        assert_eq!(
            h[0].detail.as_deref(),
            Some("user id, CONNECT lab.example:80")
        );
        assert!(p.tunnel);
        let mut cs = b"\x05\x01\x02\x01\x03amy\x02pw".to_vec();
        let mut sc = b"\x05\x02\x01\x01".to_vec();
        let mut p = Socks::default();
        let h = p.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(
            h[0].detail.as_deref(),
            Some("RFC 1929 user/password, refused")
        );
        assert!(!p.tunnel);
        assert_eq!(looks_like(b"\x05\x01\x00", b"HTTP", 80), Some(false));
        assert_eq!(looks_like(b"GET /", b"", 1080), Some(false));
        let mut p = Socks::default();
        assert_eq!(
            p.feed(&mut b"\x07".to_vec(), &mut Vec::new()).unwrap_err(),
            SocksError::Version(7)
        );
    }
}
