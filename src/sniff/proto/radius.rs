//! RADIUS (RFC 2865) over UDP, one datagram at a time: the User-Name of an
//! Access-Request and its User-Password (PAP), which is hidden with the
//! shared secret (§5.2: each 16-byte block XORed with MD5(secret + the
//! previous block), the Request Authenticator first). Given the secret
//! (`--radius-secret`) the password is decoded; without it the user is
//! reported with a remark that a PAP password was sent. A CHAP-Password
//! (§5.3) becomes a hashcat 4800 line (`MD5(CHAP):challenge:id`), the
//! challenge being the CHAP-Challenge attribute or else the Request
//! Authenticator. Other packets (accounting) carry no credential.
//!
//! [`Exchanges`] ties each Access-Request to its reply (Access-Accept,
//! -Reject or -Challenge from the request's server, with its Identifier) so
//! that a finding says whether the login was accepted: a request is held
//! until its reply, and reported `(reply not seen)` when none comes. With
//! the secret the reply's Response Authenticator is checked too.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::md5::md5;
use super::{Crackable, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RadiusError {
    #[error("packet shorter than its header or its length field")]
    Truncated,
    #[error("attribute length malformed")]
    Attribute,
    #[error("User-Password not a multiple of 16 bytes")]
    PasswordLength,
}

pub const ACCESS_REQUEST: u8 = 1;
const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const CHAP_PASSWORD: u8 = 3;
const CHAP_CHALLENGE: u8 = 60;
const HEADER: usize = 20;

/// A datagram that reads as a RADIUS packet: a known code and a length
/// field that matches (UDP padding after it allowed), within RFC 2865's
/// 20..=4096.
pub fn looks_like(b: &[u8]) -> bool {
    let [code, _, hi, lo, ..] = *b else {
        return false;
    };
    let len = u16::from_be_bytes([hi, lo]) as usize;
    matches!(code, 1..=5 | 11..=13 | 40..=45)
        && (HEADER..=4096).contains(&len)
        && len <= b.len()
        && b.len() - len < 4
}

/// The attributes of a packet: (type, value) in order.
fn attributes(mut a: &[u8]) -> Result<Vec<(u8, &[u8])>, RadiusError> {
    let mut out = Vec::new();
    while !a.is_empty() {
        let [t, l, ..] = *a else {
            return Err(RadiusError::Attribute);
        };
        let l = l as usize;
        if l < 2 || l > a.len() {
            return Err(RadiusError::Attribute);
        }
        out.push((t, &a[2..l]));
        a = &a[l..];
    }
    Ok(out)
}

/// RFC 2865 §5.2 reversed: the cleartext of a User-Password, trailing NUL
/// padding removed.
pub fn decode_password(
    hidden: &[u8],
    secret: &[u8],
    authenticator: &[u8; 16],
) -> Result<Vec<u8>, RadiusError> {
    if hidden.is_empty() || !hidden.len().is_multiple_of(16) {
        return Err(RadiusError::PasswordLength);
    }
    let mut out = Vec::with_capacity(hidden.len());
    let mut prev: &[u8] = authenticator;
    for block in hidden.chunks_exact(16) {
        let b = md5(&[secret, prev]);
        out.extend(block.iter().zip(b).map(|(c, k)| c ^ k));
        prev = block;
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    Ok(out)
}

/// The packet's length field, checked against the header and the
/// datagram (UDP padding after the packet is allowed).
fn packet_len(datagram: &[u8]) -> Result<usize, RadiusError> {
    if datagram.len() < HEADER {
        return Err(RadiusError::Truncated);
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    if !(HEADER..=datagram.len()).contains(&len) {
        return Err(RadiusError::Truncated);
    }
    Ok(len)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The credential of one datagram: `Ok(None)` for packets other than an
/// Access-Request and for requests without a user or password.
/// (The detail says what was sent, not the outcome: [`Exchanges`] adds
/// that.)
pub fn parse(datagram: &[u8], secret: Option<&[u8]>) -> Result<Option<Hit>, RadiusError> {
    let len = packet_len(datagram)?;
    let attrs = attributes(&datagram[HEADER..len])?;
    if datagram[0] != ACCESS_REQUEST {
        return Ok(None);
    }
    let authenticator: [u8; 16] = datagram[4..HEADER].try_into().expect("16 bytes");
    let find = |t: u8| attrs.iter().find(|(at, _)| *at == t).map(|(_, v)| *v);
    let user = find(USER_NAME);
    if let Some(hidden) = find(USER_PASSWORD) {
        let h = match secret {
            Some(s) => {
                let pw = decode_password(hidden, s, &authenticator)?;
                let mut h = Hit::new(Proto::Radius, user, Some(&pw));
                h.detail = Some("Access-Request PAP".into());
                h
            }
            None => {
                if hidden.is_empty() || !hidden.len().is_multiple_of(16) {
                    return Err(RadiusError::PasswordLength);
                }
                let mut h = Hit::new(Proto::Radius, user, None);
                h.detail = Some(
                    "Access-Request PAP: password sent, not decoded (give --radius-secret)".into(),
                );
                h
            }
        };
        return Ok(Some(h));
    }
    if let Some(chap) = find(CHAP_PASSWORD) {
        // CHAP ident (1 byte) then the 16-byte MD5 response.
        let [id, response @ ..] = chap else {
            return Err(RadiusError::Attribute);
        };
        if response.len() != 16 {
            return Err(RadiusError::Attribute);
        }
        let challenge = find(CHAP_CHALLENGE).unwrap_or(&authenticator);
        let mut h = Hit::new(Proto::Radius, user, None);
        h.detail = Some("Access-Request CHAP".into());
        h.hash = Some(Crackable::hashcat(
            4800,
            format!("{}:{}:{:02x}", hex(response), hex(challenge), id),
        ));
        return Ok(Some(h));
    }
    Ok(None)
}

/// Access-Requests waiting for their reply longer than this (capture time,
/// µs) are reported without it: a RADIUS client gives up after a few
/// seconds of retransmissions.
pub const REPLY_TIMEOUT: i64 = 30_000_000;
/// Requests waiting at once, over all flows; past it the oldest is
/// reported without its reply (a flood of unanswered requests holds no
/// more than this).
pub const MAX_PENDING: usize = 4096;

const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;
const ACCESS_CHALLENGE: u8 = 11;

/// A finding: the client, the server, the request's time and the hit.
pub type Sighting = (SocketAddr, SocketAddr, i64, Hit);

/// A request is known by its flow and its Identifier.
type Key = (SocketAddr, SocketAddr, u8);

#[derive(Debug)]
struct Pending {
    ts: i64,
    authenticator: [u8; 16],
    hit: Hit,
}

/// The Access-Requests of every RADIUS flow whose Access-Accept, -Reject
/// or -Challenge was not seen yet: a request is reported when its reply
/// arrives (the reply from the request's server to its client with the
/// request's Identifier), with the outcome in its detail, or without one
/// (`(reply not seen)`) when it waited [`REPLY_TIMEOUT`], when its
/// Identifier was reused for another request, or at the capture's end.
#[derive(Debug, Default)]
pub struct Exchanges {
    pending: HashMap<Key, Pending>,
    /// Keys in the order their requests came, with the request's time and
    /// authenticator (an entry whose request was answered since is stale).
    order: VecDeque<(i64, Key, [u8; 16])>,
}

impl Exchanges {
    /// One datagram from `src` to `dst` at `ts`: a request is held, a reply
    /// completes its request's finding; what completed is appended to
    /// `out`.
    pub fn datagram(
        &mut self,
        ts: i64,
        src: SocketAddr,
        dst: SocketAddr,
        datagram: &[u8],
        secret: Option<&[u8]>,
        out: &mut Vec<Sighting>,
    ) -> Result<(), RadiusError> {
        self.expire(ts, out);
        match datagram.first() {
            Some(&ACCESS_REQUEST) => {
                let Some(hit) = parse(datagram, secret)? else {
                    return Ok(());
                };
                let authenticator: [u8; 16] = datagram[4..HEADER].try_into().expect("16 bytes");
                let key = (src, dst, datagram[1]);
                if let Some(p) = self.pending.get(&key) {
                    if p.authenticator == authenticator {
                        // A retransmission: the same request.
                        return Ok(());
                    }
                    // The Identifier reused: the first request's reply
                    // will not come (or cannot be told from the second's).
                    let p = self.pending.remove(&key).expect("present");
                    out.push(sighting(key, p, "(reply not seen)"));
                }
                while self.pending.len() >= MAX_PENDING {
                    self.pop_oldest(out);
                }
                self.order.push_back((ts, key, authenticator));
                self.pending.insert(
                    key,
                    Pending {
                        ts,
                        authenticator,
                        hit,
                    },
                );
                Ok(())
            }
            Some(&(ACCESS_ACCEPT | ACCESS_REJECT | ACCESS_CHALLENGE)) => {
                let len = packet_len(datagram)?;
                attributes(&datagram[HEADER..len])?;
                let key = (dst, src, datagram[1]);
                let Some(p) = self.pending.remove(&key) else {
                    // No request seen for it (or one without a credential).
                    return Ok(());
                };
                let mut outcome = match datagram[0] {
                    ACCESS_ACCEPT => "accepted",
                    ACCESS_REJECT => "rejected",
                    _ => "challenged (Access-Challenge)",
                }
                .to_string();
                if let Some(s) = secret {
                    if !reply_authentic(&datagram[..len], &p.authenticator, s) {
                        outcome.push_str(" (Response Authenticator does not match the secret)");
                    }
                }
                out.push(sighting(key, p, &outcome));
                Ok(())
            }
            _ => parse(datagram, secret).map(|_| ()),
        }
    }

    /// Requests that waited too long for their reply.
    fn expire(&mut self, ts: i64, out: &mut Vec<Sighting>) {
        while let Some(&(t, ..)) = self.order.front() {
            if ts.saturating_sub(t) <= REPLY_TIMEOUT {
                break;
            }
            self.pop_oldest(out);
        }
    }

    /// The oldest entry of `order`, reported if its request still waits.
    fn pop_oldest(&mut self, out: &mut Vec<Sighting>) {
        let Some((t, key, auth)) = self.order.pop_front() else {
            return;
        };
        if self
            .pending
            .get(&key)
            .is_some_and(|p| p.ts == t && p.authenticator == auth)
        {
            let p = self.pending.remove(&key).expect("present");
            out.push(sighting(key, p, "(reply not seen)"));
        }
    }

    /// At the capture's end: every request still waiting, oldest first.
    pub fn finish(&mut self) -> Vec<Sighting> {
        let mut out = Vec::new();
        while !self.order.is_empty() {
            self.pop_oldest(&mut out);
        }
        debug_assert!(self.pending.is_empty());
        out
    }

    /// Requests waiting for their reply.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The request's finding with the outcome in its detail, before a note
/// (`Access-Request PAP, rejected; password sent, not decoded ...`).
fn sighting((client, server, _): Key, p: Pending, outcome: &str) -> Sighting {
    let mut hit = p.hit;
    let detail = hit.detail.take().unwrap_or_default();
    hit.detail = Some(match detail.split_once(": ") {
        Some((what, note)) => format!("{what}, {outcome}; {note}"),
        None => format!("{detail}, {outcome}"),
    });
    (client, server, p.ts, hit)
}

/// RFC 2865 §3: a reply's Response Authenticator is MD5(Code + Identifier
/// + Length + the request's Request Authenticator + the reply's attributes
/// + the secret).
pub fn reply_authentic(reply: &[u8], request_authenticator: &[u8; 16], secret: &[u8]) -> bool {
    reply.len() >= HEADER
        && md5(&[&reply[..4], request_authenticator, &reply[HEADER..], secret]) == reply[4..HEADER]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Access-Request with these attributes.
    fn request(auth: &[u8; 16], attrs: &[(u8, &[u8])]) -> Vec<u8> {
        let mut b = vec![ACCESS_REQUEST, 7, 0, 0];
        b.extend(auth);
        for (t, v) in attrs {
            b.push(*t);
            b.push(v.len() as u8 + 2);
            b.extend(*v);
        }
        let n = b.len() as u16;
        b[2..4].copy_from_slice(&n.to_be_bytes());
        b
    }

    /// RFC 2865 §5.2 forwards, for the tests.
    fn hide(pw: &[u8], secret: &[u8], auth: &[u8; 16]) -> Vec<u8> {
        let mut p = pw.to_vec();
        p.resize(pw.len().div_ceil(16).max(1) * 16, 0);
        let mut out: Vec<u8> = Vec::new();
        let mut prev = auth.to_vec();
        for block in p.chunks(16) {
            let b = md5(&[secret, &prev]);
            let c: Vec<u8> = block.iter().zip(b).map(|(x, k)| x ^ k).collect();
            out.extend(&c);
            prev = c;
        }
        out
    }

    #[test]
    fn pap_decoded_with_the_secret_and_noted_without() {
        let auth = *b"0123456789abcdef";
        // Longer than one block: the chaining of §5.2 matters.
        let pw = b"a-rather-long-radius-password!";
        let pkt = request(
            &auth,
            &[
                (USER_NAME, b"alice"),
                (USER_PASSWORD, &hide(pw, b"s3cret", &auth)),
            ],
        );
        assert!(looks_like(&pkt));
        let h = parse(&pkt, Some(b"s3cret")).unwrap().unwrap();
        assert_eq!(h.user.as_deref(), Some(&b"alice"[..]));
        assert_eq!(h.password.as_deref(), Some(&pw[..]));
        assert_eq!(h.detail.as_deref(), Some("Access-Request PAP"));
        let h = parse(&pkt, None).unwrap().unwrap();
        assert_eq!(h.password, None);
        assert!(h.detail.unwrap().contains("--radius-secret"));
    }

    #[test]
    fn chap_gives_a_4800_line() {
        let auth = [0x11; 16];
        let resp = md5(&[&[0x2a], b"pw", &auth]);
        let mut chap = vec![0x2a];
        chap.extend(resp);
        let pkt = request(&auth, &[(USER_NAME, b"bob"), (CHAP_PASSWORD, &chap)]);
        let h = parse(&pkt, Some(b"x")).unwrap().unwrap();
        let c = h.hash.unwrap();
        assert_eq!(c.mode, Some(4800));
        assert_eq!(c.line, format!("{}:{}:2a", hex(&resp), "11".repeat(16)));
    }

    #[test]
    fn other_packets_and_malformed_ones() {
        let auth = [0; 16];
        let mut accept = request(&auth, &[(18, b"welcome")]);
        accept[0] = 2;
        assert_eq!(parse(&accept, None), Ok(None));
        assert!(looks_like(&accept));
        assert_eq!(parse(b"\x01\x00\x00", None), Err(RadiusError::Truncated));
        let mut long = request(&auth, &[(USER_NAME, b"a")]);
        long[3] = 0xff;
        assert_eq!(parse(&long, None), Err(RadiusError::Truncated));
        assert!(!looks_like(&long));
        let mut bad = request(&auth, &[(USER_NAME, b"alice")]);
        bad[21] = 1;
        assert_eq!(parse(&bad, None), Err(RadiusError::Attribute));
        let pkt = request(&auth, &[(USER_PASSWORD, b"short")]);
        assert_eq!(parse(&pkt, Some(b"s")), Err(RadiusError::PasswordLength));
        assert_eq!(parse(&pkt, None), Err(RadiusError::PasswordLength));
        let full = request(&auth, &[(USER_NAME, b"alice"), (USER_PASSWORD, &[7; 16])]);
        for cut in 0..full.len() {
            let _ = parse(&full[..cut], Some(b"s"));
        }
        assert!(!looks_like(b"GET / HTTP/1.1\r\n\r\n"));
    }

    /// A reply to `req` (its Identifier and Request Authenticator), with
    /// the Response Authenticator computed with `secret`.
    fn reply(code: u8, req: &[u8], attrs: &[(u8, &[u8])], secret: &[u8]) -> Vec<u8> {
        let auth: [u8; 16] = req[4..20].try_into().unwrap();
        let mut b = request(&auth, attrs);
        b[0] = code;
        b[1] = req[1];
        let ra = md5(&[&b[..4], &auth, &b[20..], secret]);
        b[4..20].copy_from_slice(&ra);
        b
    }

    const SECRET: &[u8] = b"s3cret";

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A PAP request for alice from the client to the server.
    fn pap(auth: &[u8; 16]) -> Vec<u8> {
        request(
            auth,
            &[
                (USER_NAME, b"alice"),
                (USER_PASSWORD, &hide(b"pw", SECRET, auth)),
            ],
        )
    }

    #[test]
    fn a_request_is_reported_with_its_reply() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:1812"));
        for (code, outcome) in [
            (ACCESS_ACCEPT, "accepted"),
            (ACCESS_REJECT, "rejected"),
            (ACCESS_CHALLENGE, "challenged (Access-Challenge)"),
        ] {
            let mut x = Exchanges::default();
            let mut out = Vec::new();
            let req = pap(&[9; 16]);
            x.datagram(10, c, s, &req, Some(SECRET), &mut out).unwrap();
            assert!(out.is_empty(), "held until the reply");
            assert_eq!(x.len(), 1);
            let rep = reply(code, &req, &[(18, b"hello")], SECRET);
            x.datagram(20, s, c, &rep, Some(SECRET), &mut out).unwrap();
            assert_eq!(out.len(), 1);
            let (client, server, ts, h) = out.remove(0);
            assert_eq!((client, server, ts), (c, s, 10), "the request's time");
            assert_eq!(h.password.as_deref(), Some(&b"pw"[..]));
            assert_eq!(
                h.detail.as_deref(),
                Some(&*format!("Access-Request PAP, {outcome}"))
            );
            assert!(x.is_empty() && x.finish().is_empty(), "reported once");
        }
    }

    #[test]
    fn without_the_secret_the_outcome_precedes_the_note() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:1812"));
        let mut x = Exchanges::default();
        let mut out = Vec::new();
        let req = pap(&[9; 16]);
        x.datagram(0, c, s, &req, None, &mut out).unwrap();
        let rep = reply(ACCESS_REJECT, &req, &[], SECRET);
        x.datagram(1, s, c, &rep, None, &mut out).unwrap();
        assert_eq!(
            out[0].3.detail.as_deref(),
            Some("Access-Request PAP, rejected; password sent, not decoded (give --radius-secret)")
        );
    }

    #[test]
    fn a_reply_must_match_flow_identifier_and_secret() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:1812"));
        let other = addr("10.0.0.1:40001");
        let mut x = Exchanges::default();
        let mut out = Vec::new();
        let req = pap(&[1; 16]);
        x.datagram(0, c, s, &req, Some(SECRET), &mut out).unwrap();
        // Another Identifier, another client port: not this request's.
        let mut wrong_id = reply(ACCESS_ACCEPT, &req, &[], SECRET);
        wrong_id[1] ^= 1;
        x.datagram(1, s, c, &wrong_id, Some(SECRET), &mut out)
            .unwrap();
        let rep = reply(ACCESS_ACCEPT, &req, &[], SECRET);
        x.datagram(1, s, other, &rep, Some(SECRET), &mut out)
            .unwrap();
        assert!(out.is_empty());
        // Signed with another secret: reported, with the mismatch said.
        let forged = reply(ACCESS_ACCEPT, &req, &[], b"other");
        x.datagram(2, s, c, &forged, Some(SECRET), &mut out)
            .unwrap();
        assert_eq!(
            out[0].3.detail.as_deref(),
            Some("Access-Request PAP, accepted (Response Authenticator does not match the secret)")
        );
        assert!(reply_authentic(&rep, &[1; 16], SECRET));
        assert!(!reply_authentic(&forged, &[1; 16], SECRET));
    }

    #[test]
    fn unanswered_requests_are_reported_without_the_reply() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:1812"));
        let mut x = Exchanges::default();
        let mut out = Vec::new();
        let req = pap(&[1; 16]);
        x.datagram(0, c, s, &req, Some(SECRET), &mut out).unwrap();
        // A retransmission is the same request.
        x.datagram(5, c, s, &req, Some(SECRET), &mut out).unwrap();
        assert_eq!(x.len(), 1);
        // Another request with the same Identifier: the first is given up.
        let req2 = pap(&[2; 16]);
        x.datagram(6, c, s, &req2, Some(SECRET), &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2, 0);
        assert_eq!(
            out[0].3.detail.as_deref(),
            Some("Access-Request PAP, (reply not seen)")
        );
        // Past the timeout, at the next datagram.
        let mut req3 = pap(&[3; 16]);
        req3[1] = 8;
        x.datagram(7 + REPLY_TIMEOUT, c, s, &req3, Some(SECRET), &mut out)
            .unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].2, 6);
        // At the end of the capture.
        let rest = x.finish();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].2, 7 + REPLY_TIMEOUT);
        assert_eq!(
            rest[0].3.detail.as_deref(),
            Some("Access-Request PAP, (reply not seen)")
        );
        // A reply to a request no longer held: nothing.
        let rep = reply(ACCESS_ACCEPT, &req3, &[], SECRET);
        x.datagram(8 + REPLY_TIMEOUT, s, c, &rep, Some(SECRET), &mut out)
            .unwrap();
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn pending_requests_are_bounded() {
        let s = addr("10.0.0.2:1812");
        let mut x = Exchanges::default();
        let mut out = Vec::new();
        for i in 0..MAX_PENDING + 10 {
            let c = SocketAddr::new(addr("10.0.0.1:1").ip(), 1000 + i as u16);
            x.datagram(i as i64, c, s, &pap(&[1; 16]), Some(SECRET), &mut out)
                .unwrap();
        }
        assert_eq!(x.len(), MAX_PENDING);
        assert_eq!(out.len(), 10);
        assert_eq!(x.finish().len(), MAX_PENDING);
    }

    #[test]
    fn requests_without_a_credential_and_bad_replies() {
        let (c, s) = (addr("10.0.0.1:40000"), addr("10.0.0.2:1812"));
        let mut x = Exchanges::default();
        let mut out = Vec::new();
        let req = request(&[0; 16], &[(USER_NAME, b"eap-user")]);
        x.datagram(0, c, s, &req, None, &mut out).unwrap();
        assert!(x.is_empty());
        let mut bad = reply(ACCESS_ACCEPT, &req, &[(18, b"x")], SECRET);
        bad[21] = 0;
        assert_eq!(
            x.datagram(1, s, c, &bad, None, &mut out),
            Err(RadiusError::Attribute)
        );
        assert_eq!(
            x.datagram(1, s, c, b"\x02\x01", None, &mut out),
            Err(RadiusError::Truncated)
        );
        assert!(out.is_empty());
    }
}
