//! PostgreSQL's frontend/backend protocol up to the end of authentication:
//! the user and database of the startup message, then what the server asked
//! for: a cleartext password (reported), an MD5 response (reported as a
//! crackable `$postgres$user*salt*response` line, hashcat mode 11100, with
//! the salt from the server's request), or SASL/SCRAM (only the user is
//! visible). An `SSLRequest` the server accepts turns the flow into TLS.
//! The finding waits for the server's verdict: `AuthenticationOk` (the
//! detail ends `accepted`) or an `ErrorResponse` (`failed: MESSAGE`); one
//! whose verdict never came is reported at the flow's end with `(result
//! not seen)`. After the verdict nothing more is read.

use super::{Crackable, Hit};
use crate::sniff::finding::Proto;

/// Why the authentication exchange could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PgError {
    #[error("message length {0} out of range")]
    Length(u32),
    #[error("startup message malformed")]
    Startup,
    #[error("authentication request malformed")]
    AuthRequest,
}

/// Startup-phase codes (in place of the protocol version).
const SSL_REQUEST: u32 = 80_877_103;
const GSSENC_REQUEST: u32 = 80_877_104;
const CANCEL_REQUEST: u32 = 80_877_102;
const PROTOCOL_3: u32 = 0x0003_0000;

/// Messages past this size are not authentication (bounds the buffers).
const MAX_AUTH_MESSAGE: u32 = 16 * 1024;

/// A first client message: a startup packet or a request for encryption.
pub fn looks_like_startup(b: &[u8]) -> bool {
    if b.len() < 8 {
        return false;
    }
    let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let code = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    match code {
        SSL_REQUEST | GSSENC_REQUEST => len == 8,
        PROTOCOL_3 => (8..=MAX_AUTH_MESSAGE).contains(&len),
        _ => false,
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Auth {
    #[default]
    NotAsked,
    Cleartext,
    Md5([u8; 4]),
    Sasl,
}

/// One connection's authentication, fed with both directions' bytes.
#[derive(Debug, Default)]
pub struct Postgres {
    startup_done: bool,
    /// An SSLRequest or GSSENCRequest waits for its one-byte answer.
    encryption_asked: bool,
    user: Option<Vec<u8>>,
    database: Option<Vec<u8>>,
    auth: Auth,
    sasl_reported: bool,
    /// The login's finding, waiting for AuthenticationOk or an error.
    pending: Option<Hit>,
    /// The server accepted TLS: the rest of the flow is a TLS session.
    pub tls: bool,
    /// Authentication ended (or the stream is unreadable): nothing more to read.
    pub done: bool,
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A message's type byte, its body, and its size on the wire.
type Message<'a> = (u8, &'a [u8], usize);

/// A complete typed message at the front of `buf`; `Ok(None)` when
/// incomplete.
fn typed(buf: &[u8]) -> Result<Option<Message<'_>>, PgError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = be32(&buf[1..5]);
    if !(4..=MAX_AUTH_MESSAGE).contains(&len) {
        return Err(PgError::Length(len));
    }
    let end = 1 + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    Ok(Some((buf[0], &buf[5..end], end)))
}

/// The `M` (message) field of an ErrorResponse: fields of a type byte
/// and a C string, ended by a 0.
fn error_message(mut body: &[u8]) -> &[u8] {
    while let Some((&field, rest)) = body.split_first() {
        if field == 0 {
            break;
        }
        let value = cstr(rest);
        if field == b'M' {
            return value;
        }
        body = rest.get(value.len() + 1..).unwrap_or_default();
    }
    &[]
}

fn cstr(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Postgres {
    /// Reads what both directions delivered, in protocol order (the client
    /// answers an authentication request only once the server sent it), and
    /// removes what was read. Returns the credentials completed.
    pub fn feed(
        &mut self,
        to_server: &mut Vec<u8>,
        to_client: &mut Vec<u8>,
    ) -> Result<Vec<Hit>, PgError> {
        let mut hits = Vec::new();
        let r = self.run(to_server, to_client, &mut hits);
        if r.is_err() {
            self.done = true;
        }
        if self.done || self.tls {
            // After authentication (or an error) the bytes are not read;
            // after TLS was accepted they are the TLS session's.
            if !self.tls {
                to_server.clear();
            }
            to_client.clear();
        }
        r.map(|()| hits)
    }

    fn run(
        &mut self,
        cs: &mut Vec<u8>,
        sc: &mut Vec<u8>,
        hits: &mut Vec<Hit>,
    ) -> Result<(), PgError> {
        let (mut c, mut s) = (0usize, 0usize);
        let res = loop {
            if self.done || self.tls {
                break Ok(());
            }
            match self.client_step(&cs[c..], hits) {
                Ok(Some(n)) => {
                    c += n;
                    continue;
                }
                Ok(None) => {}
                Err(e) => break Err(e),
            }
            match self.server_step(&sc[s..], hits) {
                Ok(Some(n)) => s += n,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        cs.drain(..c.min(cs.len()));
        sc.drain(..s.min(sc.len()));
        res
    }

    /// One client message, if complete and if it is its turn; the bytes used.
    fn client_step(&mut self, b: &[u8], hits: &mut Vec<Hit>) -> Result<Option<usize>, PgError> {
        if self.encryption_asked {
            return Ok(None);
        }
        if !self.startup_done {
            if b.len() < 8 {
                return Ok(None);
            }
            let len = be32(b);
            if !(8..=MAX_AUTH_MESSAGE).contains(&len) {
                return Err(PgError::Length(len));
            }
            if b.len() < len as usize {
                return Ok(None);
            }
            let body = &b[8..len as usize];
            match be32(&b[4..]) {
                SSL_REQUEST | GSSENC_REQUEST => self.encryption_asked = true,
                CANCEL_REQUEST => self.done = true,
                PROTOCOL_3 => {
                    self.startup(body)?;
                    self.startup_done = true;
                }
                _ => return Err(PgError::Startup),
            }
            return Ok(Some(len as usize));
        }
        // A password message answers the server's request: wait for it.
        if b.first() == Some(&b'p') && self.auth == Auth::NotAsked {
            return Ok(None);
        }
        let Some((ty, body, n)) = typed(b)? else {
            return Ok(None);
        };
        if ty == b'p' {
            if let Some(h) = self.password_message(body) {
                if let Some(old) = self.pending.replace(h) {
                    hits.push(old.with_outcome("(result not seen)"));
                }
            }
        }
        Ok(Some(n))
    }

    fn startup(&mut self, body: &[u8]) -> Result<(), PgError> {
        let mut parts = body.split(|&x| x == 0);
        while let Some(k) = parts.next() {
            if k.is_empty() {
                break;
            }
            let v = parts.next().ok_or(PgError::Startup)?;
            match k {
                b"user" => self.user = Some(v.to_vec()),
                b"database" => self.database = Some(v.to_vec()),
                _ => {}
            }
        }
        if self.user.is_none() {
            return Err(PgError::Startup);
        }
        Ok(())
    }

    fn where_(&self, what: &str) -> String {
        match &self.database {
            Some(d) => format!("{what}, database {}", String::from_utf8_lossy(d)),
            None => what.to_string(),
        }
    }

    fn password_message(&mut self, body: &[u8]) -> Option<Hit> {
        let user = self.user.clone();
        match self.auth {
            Auth::NotAsked => None,
            Auth::Cleartext => {
                let mut h = Hit::new(Proto::Postgres, user.as_deref(), Some(cstr(body)));
                h.detail = Some(self.where_("cleartext password"));
                Some(h)
            }
            Auth::Md5(salt) => {
                let resp = cstr(body);
                let digest = resp.strip_prefix(b"md5")?;
                if digest.len() != 32 || !digest.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let u = user.as_deref().unwrap_or_default();
                let line = format!(
                    "$postgres${}*{}*{}",
                    String::from_utf8_lossy(u),
                    hex(&salt),
                    String::from_utf8_lossy(digest).to_ascii_lowercase()
                );
                let mut h = Hit::new(Proto::Postgres, user.as_deref(), None);
                h.detail = Some(self.where_("md5 challenge-response"));
                h.hash = Some(Crackable::hashcat(11100, line));
                Some(h)
            }
            Auth::Sasl => {
                if std::mem::replace(&mut self.sasl_reported, true) {
                    return None;
                }
                let mech = String::from_utf8_lossy(cstr(body)).into_owned();
                let mut h = Hit::new(Proto::Postgres, user.as_deref(), None);
                h.detail = Some(self.where_(&format!("{mech}: password not visible")));
                Some(h)
            }
        }
    }

    /// At the flow's end: a login whose verdict was not seen.
    pub fn finish(&mut self) -> Option<Hit> {
        Some(self.pending.take()?.with_outcome("(result not seen)"))
    }

    /// One server message; the bytes used, `None` when incomplete.
    fn server_step(&mut self, b: &[u8], hits: &mut Vec<Hit>) -> Result<Option<usize>, PgError> {
        if self.encryption_asked {
            let Some(&answer) = b.first() else {
                return Ok(None);
            };
            self.encryption_asked = false;
            match answer {
                b'S' | b'G' => self.tls = answer == b'S',
                b'N' => {}
                // An old server answering with an error message.
                _ => self.done = true,
            }
            if answer == b'G' {
                // GSSAPI encryption: nothing more is readable.
                self.done = true;
            }
            return Ok(Some(1));
        }
        let Some((ty, body, n)) = typed(b)? else {
            return Ok(None);
        };
        if ty == b'R' {
            if body.len() < 4 {
                return Err(PgError::AuthRequest);
            }
            match be32(body) {
                0 => {
                    hits.extend(self.pending.take().map(|h| h.with_outcome("accepted")));
                    self.done = true;
                }
                3 => self.auth = Auth::Cleartext,
                5 => {
                    let salt: [u8; 4] = body
                        .get(4..8)
                        .and_then(|s| s.try_into().ok())
                        .ok_or(PgError::AuthRequest)?;
                    self.auth = Auth::Md5(salt);
                }
                10 => self.auth = Auth::Sasl,
                _ => {}
            }
        } else if ty == b'E' {
            // The login refused (or the connection): the server closes.
            let why = error_message(body);
            hits.extend(
                self.pending
                    .take()
                    .map(|h| h.with_outcome(&super::failed(why))),
            );
            self.done = true;
        }
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn startup(user: &str, db: &str) -> Vec<u8> {
        let mut body = PROTOCOL_3.to_be_bytes().to_vec();
        for (k, v) in [("user", user), ("database", db)] {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut m = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        m.extend_from_slice(&body);
        m
    }

    fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![ty];
        m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    #[test]
    fn md5_response_becomes_a_hashcat_line_with_the_server_salt() {
        let mut p = Postgres::default();
        let mut cs = startup("amy", "shop");
        assert!(looks_like_startup(&cs));
        // The password message arrives with the startup, before the
        // server's request is read: it waits for it.
        cs.extend(msg(b'p', b"md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0"));
        let mut sc = Vec::new();
        assert!(p.feed(&mut cs, &mut sc).unwrap().is_empty());
        sc.extend(msg(b'R', b"\0\0\0\x05\x01\x02\x03\xff"));
        // Then held until the server's verdict.
        assert!(p.feed(&mut cs, &mut sc).unwrap().is_empty());
        sc.extend(msg(b'R', b"\0\0\0\0"));
        let h = p.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 1);
        let c = h[0].hash.as_ref().unwrap();
        assert_eq!(c.mode, Some(11100));
        assert_eq!(
            c.line,
            "$postgres$amy*010203ff*aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        );
        assert_eq!(
            h[0].detail.as_deref(),
            Some("md5 challenge-response, database shop, accepted")
        );
        assert_eq!(p.finish(), None, "reported once");
    }

    /// An ErrorResponse as PostgreSQL sends it for a wrong password.
    fn auth_error() -> Vec<u8> {
        msg(
            b'E',
            b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \"amy\"\0Fauth.c\0\0",
        )
    }

    #[test]
    fn a_refused_login_says_why_and_one_without_a_verdict_says_so() {
        let mut p = Postgres::default();
        let mut cs = startup("amy", "shop");
        cs.extend(msg(b'p', b"md5aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\0"));
        let mut sc = msg(b'R', b"\0\0\0\x05\x01\x02\x03\xff");
        sc.extend(auth_error());
        let h = p.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].detail.as_deref(),
            Some("md5 challenge-response, database shop, failed: password authentication failed for user \"amy\"")
        );
        assert!(p.done && p.finish().is_none());
        // SCRAM: reported once, at the end when the verdict never came.
        let mut p = Postgres::default();
        let mut cs = startup("amy", "shop");
        cs.extend(msg(b'p', b"SCRAM-SHA-256\0\0\0\0\x05n,,n="));
        cs.extend(msg(b'p', b"c=biws,r=x,p=y"));
        let mut sc = msg(b'R', b"\0\0\0\x0aSCRAM-SHA-256\0\0");
        sc.extend(msg(b'R', b"\0\0\0\x0br=x,s=c2FsdA==,i=4096"));
        assert!(p.feed(&mut cs, &mut sc).unwrap().is_empty());
        let h = p.finish().unwrap();
        assert_eq!(
            h.detail.as_deref(),
            Some("SCRAM-SHA-256: password not visible, database shop, (result not seen)")
        );
        assert_eq!(p.finish(), None);
        // An error before any password (no pg_hba.conf entry): nothing.
        let mut p = Postgres::default();
        let mut cs = startup("amy", "shop");
        let mut sc = auth_error();
        assert!(p.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(p.done && p.finish().is_none());
        assert_eq!(error_message(b"Mtrunc"), b"trunc");
        assert_eq!(error_message(b"Sx"), b"");
    }

    #[test]
    fn cleartext_after_a_refused_ssl_request_and_nothing_after_ok() {
        let mut p = Postgres::default();
        let mut cs = b"\0\0\0\x08\x04\xd2\x16\x2f".to_vec();
        assert!(looks_like_startup(&cs));
        cs.extend(startup("bob", "db"));
        cs.extend(msg(b'p', b"hunter2\0"));
        let mut sc = b"N".to_vec();
        sc.extend(msg(b'R', b"\0\0\0\x03"));
        sc.extend(msg(b'R', b"\0\0\0\0"));
        let h = p.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h[0].password.as_deref(), Some(&b"hunter2"[..]));
        assert_eq!(
            h[0].detail.as_deref(),
            Some("cleartext password, database db, accepted")
        );
        assert!(p.done && !p.tls);
        cs.extend(msg(b'Q', b"select 1\0"));
        assert!(p.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(cs.is_empty());
    }

    #[test]
    fn accepted_ssl_request_hands_the_flow_to_tls() {
        let mut p = Postgres::default();
        let mut cs = b"\0\0\0\x08\x04\xd2\x16\x2f\x16\x03\x01".to_vec();
        let mut sc = b"S".to_vec();
        p.feed(&mut cs, &mut sc).unwrap();
        assert!(p.tls);
        assert_eq!(cs, b"\x16\x03\x01", "the ClientHello is kept for TLS");
    }

    #[test]
    fn garbage_is_an_error_and_ends_the_reading() {
        let mut p = Postgres::default();
        let mut cs = b"\0\0\xff\xff\0\x03\0\0".to_vec();
        assert_eq!(
            p.feed(&mut cs, &mut Vec::new()).unwrap_err(),
            PgError::Length(0xffff)
        );
        assert!(p.done);
        let mut p = Postgres::default();
        let mut cs = startup("x", "y");
        let mut sc = msg(b'R', b"\0\0");
        assert_eq!(p.feed(&mut cs, &mut sc).unwrap_err(), PgError::AuthRequest);
    }
}
