//! MySQL/MariaDB connection phase: the server's greeting (its 20-byte
//! scramble and default auth plugin), the client's handshake response
//! (user, database, auth data), an auth switch request and its answer. A
//! `mysql_native_password` response becomes a hashcat 11200 line
//! (`$mysqlna$scramble*response`, hex); other plugins are reported with the
//! user only; an SSL request turns the flow into TLS. The finding waits for
//! the server's verdict: an OK packet (the detail ends `accepted`) or an
//! ERR packet (`failed: MESSAGE`); a response the server answers with an
//! auth switch is reported at once (`auth switch to PLUGIN`), the switched
//! one then waits in its turn; one whose verdict never came is reported at
//! the flow's end with `(result not seen)`. Nothing is read after
//! authentication.

use super::{Crackable, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MysqlError {
    #[error("packet longer than {MAX_PACKET} bytes in the connection phase")]
    TooLong,
    #[error("greeting malformed")]
    Greeting,
    #[error("handshake response malformed")]
    Response,
}

const MAX_PACKET: usize = 16 * 1024;
const CLIENT_CONNECT_WITH_DB: u32 = 0x8;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_SSL: u32 = 0x800;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;
const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x20_0000;

/// A server's first bytes: a protocol-10 greeting with a version string.
pub fn looks_like_greeting(b: &[u8]) -> bool {
    if b.len() < 6 || b[3] != 0 || b[4] != 10 {
        return false;
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize;
    let version = &b[5..b.len().min(4 + len)];
    (30..=1024).contains(&len)
        && memchr::memchr(0, version)
            .is_some_and(|n| n > 0 && version[..n].iter().all(u8::is_ascii_graphic))
}

/// One packet at the front of `b`: (payload, size); `None` when incomplete.
fn packet(b: &[u8]) -> Result<Option<(&[u8], usize)>, MysqlError> {
    if b.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], 0]) as usize;
    if len > MAX_PACKET {
        return Err(MysqlError::TooLong);
    }
    Ok(b.get(4..4 + len).map(|p| (p, 4 + len)))
}

fn cstr(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = memchr::memchr(0, b)?;
    Some((&b[..n], &b[n + 1..]))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Greeting,
    Response,
    Result,
    SwitchResponse,
    Done,
}

#[derive(Debug, Default)]
pub struct Mysql {
    stage: Stage,
    scramble: Vec<u8>,
    plugin: Vec<u8>,
    user: Vec<u8>,
    database: Option<Vec<u8>>,
    /// The login's finding, waiting for the server's OK or ERR.
    pending: Option<Hit>,
    /// The client asked for TLS: the rest of the flow is a TLS session.
    pub tls: bool,
}

impl Mysql {
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Reads both directions in protocol order and removes what was read.
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, MysqlError> {
        let mut hits = Vec::new();
        let (mut c, mut s) = (0, 0);
        let r = loop {
            if self.tls || self.stage == Stage::Done {
                break Ok(());
            }
            let client_turn = matches!(self.stage, Stage::Response | Stage::SwitchResponse);
            let buf = if client_turn { &cs[c..] } else { &sc[s..] };
            let (payload, n) = match packet(buf) {
                Ok(Some(p)) => p,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let step = match self.stage {
                Stage::Greeting => self.greeting(payload),
                Stage::Response => self.response(payload).map(|h| self.pending = h),
                Stage::SwitchResponse => {
                    self.pending = self.auth_hit(payload);
                    self.stage = Stage::Result;
                    Ok(())
                }
                Stage::Result => {
                    self.result(payload, &mut hits);
                    Ok(())
                }
                Stage::Done => Ok(()),
            };
            if client_turn {
                c += n;
            } else {
                s += n;
            }
            if let Err(e) = step {
                break Err(e);
            }
        };
        if r.is_err() {
            self.stage = Stage::Done;
        }
        if self.stage == Stage::Done {
            (c, s) = (cs.len(), sc.len());
        } else if self.tls {
            s = sc.len();
        }
        cs.drain(..c);
        sc.drain(..s);
        r.map(|()| hits)
    }

    fn greeting(&mut self, p: &[u8]) -> Result<(), MysqlError> {
        if p.first() == Some(&0xff) {
            // The server refused the connection (host blocked, too many).
            self.stage = Stage::Done;
            return Ok(());
        }
        let bad = MysqlError::Greeting;
        let (_, rest) = cstr(p.get(1..).ok_or(bad)?).ok_or(bad)?;
        let s1 = rest.get(4..12).ok_or(bad)?;
        self.scramble = s1.to_vec();
        // filler, capabilities (low), charset, status, capabilities (high),
        // auth data length, 10 reserved bytes, then the scramble's rest.
        if let Some(tail) = rest.get(12 + 1 + 2 + 1 + 2 + 2 + 1 + 10..) {
            let auth_len = rest[12 + 1 + 2 + 1 + 2 + 2] as usize;
            let n = auth_len.saturating_sub(8).max(13);
            let s2 = tail.get(..n).unwrap_or(tail);
            let s2 = s2.strip_suffix(b"\0").unwrap_or(s2);
            self.scramble.extend_from_slice(s2);
            if let Some((plugin, _)) = tail.get(n..).and_then(cstr) {
                self.plugin = plugin.to_vec();
            }
        }
        self.stage = Stage::Response;
        Ok(())
    }

    fn response(&mut self, p: &[u8]) -> Result<Option<Hit>, MysqlError> {
        let bad = MysqlError::Response;
        let caps = u32::from_le_bytes(p.get(..4).ok_or(bad)?.try_into().map_err(|_| bad)?);
        if caps & CLIENT_PROTOCOL_41 == 0 {
            // Pre-4.1 clients: nothing crackable to read.
            self.stage = Stage::Done;
            return Ok(None);
        }
        if caps & CLIENT_SSL != 0 && p.len() == 32 {
            self.tls = true;
            return Ok(None);
        }
        let (user, mut rest) = cstr(p.get(32..).ok_or(bad)?).ok_or(bad)?;
        self.user = user.to_vec();
        let auth: &[u8] = if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
            let (&l, r) = rest.split_first().ok_or(bad)?;
            if l >= 0xfb {
                return Err(bad);
            }
            let a = r.get(..l as usize).ok_or(bad)?;
            rest = &r[l as usize..];
            a
        } else if caps & CLIENT_SECURE_CONNECTION != 0 {
            let (&l, r) = rest.split_first().ok_or(bad)?;
            let a = r.get(..l as usize).ok_or(bad)?;
            rest = &r[l as usize..];
            a
        } else {
            let (a, r) = cstr(rest).ok_or(bad)?;
            rest = r;
            a
        };
        if caps & CLIENT_CONNECT_WITH_DB != 0 {
            if let Some((db, r)) = cstr(rest) {
                self.database = (!db.is_empty()).then(|| db.to_vec());
                rest = r;
            }
        }
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            if let Some((plugin, _)) = cstr(rest) {
                self.plugin = plugin.to_vec();
            }
        }
        self.stage = Stage::Result;
        Ok(self.auth_hit(auth))
    }

    /// After the client's answer: OK, error, or a request to switch plugin.
    fn result(&mut self, p: &[u8], hits: &mut Vec<Hit>) {
        match p.first() {
            Some(0xfe) if p.len() > 1 => {
                if let Some((plugin, data)) = cstr(&p[1..]) {
                    let to = format!("auth switch to {}", String::from_utf8_lossy(plugin));
                    hits.extend(self.pending.take().map(|h| h.with_outcome(&to)));
                    self.plugin = plugin.to_vec();
                    self.scramble = data.strip_suffix(b"\0").unwrap_or(data).to_vec();
                    self.stage = Stage::SwitchResponse;
                    return;
                }
                self.stage = Stage::Done;
            }
            Some(0x00) => {
                hits.extend(self.pending.take().map(|h| h.with_outcome("accepted")));
                self.stage = Stage::Done;
            }
            Some(0xff) => {
                // Error code (2 bytes), then `#` and the SQL state (5),
                // then the message.
                let msg = p.get(3..).unwrap_or_default();
                let msg = match msg.strip_prefix(b"#") {
                    Some(m) => m.get(5..).unwrap_or_default(),
                    None => msg,
                };
                let why = super::failed(msg);
                hits.extend(self.pending.take().map(|h| h.with_outcome(&why)));
                self.stage = Stage::Done;
            }
            // More data of a multi-step plugin (caching_sha2_password's
            // fast-auth answer, its public key): the verdict follows.
            Some(0x01) => {}
            _ => self.stage = Stage::Done,
        }
    }

    /// At the flow's end: a login whose verdict was not seen.
    pub fn finish(&mut self) -> Option<Hit> {
        Some(self.pending.take()?.with_outcome("(result not seen)"))
    }

    fn detail(&self, what: &str) -> String {
        match &self.database {
            Some(d) => format!("{what}, database {}", String::from_utf8_lossy(d)),
            None => what.to_string(),
        }
    }

    fn auth_hit(&self, auth: &[u8]) -> Option<Hit> {
        let plugin = String::from_utf8_lossy(&self.plugin).into_owned();
        let native = self.plugin.is_empty() || self.plugin == b"mysql_native_password";
        let mut h = Hit::new(Proto::Mysql, Some(&self.user), None);
        if auth.is_empty() {
            h.password = Some(Vec::new());
            h.detail = Some(self.detail("empty password"));
        } else if native && auth.len() == 20 && self.scramble.len() == 20 {
            h.detail = Some(self.detail("mysql_native_password challenge-response"));
            h.hash = Some(Crackable::hashcat(
                11200,
                format!("$mysqlna${}*{}", hex(&self.scramble), hex(auth)),
            ));
        } else {
            h.detail = Some(self.detail(&format!("{plugin}: password not visible")));
        }
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(seq: u8, p: &[u8]) -> Vec<u8> {
        let mut v = (p.len() as u32).to_le_bytes()[..3].to_vec();
        v.push(seq);
        v.extend_from_slice(p);
        v
    }

    fn greeting(scramble: &[u8; 20]) -> Vec<u8> {
        let mut p = vec![10];
        p.extend(b"10.11.6-MariaDB\0");
        p.extend([1, 0, 0, 0]);
        p.extend(&scramble[..8]);
        p.push(0);
        p.extend([0xfe, 0xf7, 8, 2, 0, 0xff, 0x81, 21]);
        p.extend([0; 10]);
        p.extend(&scramble[8..]);
        p.push(0);
        p.extend(b"mysql_native_password\0");
        pkt(0, &p)
    }

    fn response(user: &str, auth: &[u8], db: Option<&str>) -> Vec<u8> {
        let mut caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
        if db.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB;
        }
        let mut p = caps.to_le_bytes().to_vec();
        p.extend([0, 0, 0, 1, 33]);
        p.extend([0; 23]);
        p.extend(user.as_bytes());
        p.push(0);
        p.push(auth.len() as u8);
        p.extend(auth);
        if let Some(d) = db {
            p.extend(d.as_bytes());
            p.push(0);
        }
        p.extend(b"mysql_native_password\0");
        pkt(1, &p)
    }

    #[test]
    fn native_password_becomes_a_hashcat_line() {
        let scramble = *b"abcdefghijklmnopqrst";
        assert!(looks_like_greeting(&greeting(&scramble)));
        let mut sc = greeting(&scramble);
        let mut cs = response("amy", &[0x11; 20], Some("shop"));
        let mut m = Mysql::default();
        assert!(
            m.feed(&mut cs, &mut sc).unwrap().is_empty(),
            "the verdict first"
        );
        // The OK ends the reading.
        sc.extend(pkt(2, &[0, 0, 0, 2, 0, 0, 0]));
        let h = m.feed(&mut cs, &mut sc).unwrap();
        assert!(m.done() && sc.is_empty());
        assert_eq!(h.len(), 1);
        let c = h[0].hash.as_ref().unwrap();
        assert_eq!(
            c.line,
            format!("$mysqlna${}*{}", hex(&scramble), "11".repeat(20))
        );
        assert_eq!(
            h[0].detail.as_deref(),
            Some("mysql_native_password challenge-response, database shop, accepted")
        );
        assert_eq!(m.finish(), None, "reported once");
    }

    #[test]
    fn a_refused_login_says_why_and_one_without_a_verdict_says_so() {
        let scramble = *b"abcdefghijklmnopqrst";
        let mut sc = greeting(&scramble);
        let mut cs = response("amy", &[0x11; 20], None);
        let mut err = vec![0xff, 0x15, 0x04];
        err.extend(b"#28000Access denied for user 'amy'@'localhost' (using password: YES)");
        sc.extend(pkt(2, &err));
        let mut m = Mysql::default();
        let h = m.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].detail.as_deref(),
            Some("mysql_native_password challenge-response, failed: Access denied for user 'amy'@'localhost' (using password: YES)")
        );
        assert!(m.done() && m.finish().is_none());
        // No verdict: at the end. A fast-auth answer (0x01) is not one.
        let mut sc = greeting(&scramble);
        sc.extend(pkt(2, &[0x01, 0x04]));
        let mut cs = response("amy", &[0x11; 20], None);
        let mut m = Mysql::default();
        assert!(m.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(!m.done());
        let h = m.finish().unwrap();
        assert_eq!(
            h.detail.as_deref(),
            Some("mysql_native_password challenge-response, (result not seen)")
        );
        assert_eq!(m.finish(), None);
    }

    #[test]
    fn auth_switch_and_the_client_first() {
        let mut m = Mysql::default();
        // The client's bytes waiting before the greeting is read.
        let mut cs = response("bob", &[1; 32], None);
        let mut sc = Vec::new();
        assert!(m.feed(&mut cs, &mut sc).unwrap().is_empty());
        sc.extend(greeting(b"abcdefghijklmnopqrst"));
        assert!(m.feed(&mut cs, &mut sc).unwrap().is_empty());
        let mut sw = vec![0xfe];
        sw.extend(b"mysql_native_password\0ABCDEFGHIJKLMNOPQRST\0");
        sc.extend(pkt(2, &sw));
        cs.extend(pkt(3, &[0x22; 20]));
        sc.extend(pkt(4, &[0, 0, 0, 2, 0, 0, 0]));
        let h = m.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h[0].hash.is_none(), "32 bytes is not a native response");
        assert_eq!(
            h[0].detail.as_deref(),
            Some(
                "mysql_native_password: password not visible, auth switch to mysql_native_password"
            )
        );
        assert_eq!(
            h[1].detail.as_deref(),
            Some("mysql_native_password challenge-response, accepted")
        );
        assert!(h[1]
            .hash
            .as_ref()
            .unwrap()
            .line
            .starts_with("$mysqlna$4142"));
    }

    #[test]
    fn malformed_is_an_error() {
        let mut m = Mysql::default();
        let mut sc = pkt(0, &[10, b'x']);
        assert_eq!(m.feed(&mut Vec::new(), &mut sc), Err(MysqlError::Greeting));
        let mut m = Mysql::default();
        let mut sc = vec![0xff, 0xff, 0xff, 0];
        assert_eq!(m.feed(&mut Vec::new(), &mut sc), Err(MysqlError::TooLong));
        assert!(!looks_like_greeting(b"220 smtp ready\r\n"));
    }
}
