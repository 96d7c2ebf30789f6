//! LDAP binds: a simple bind's DN and password, SASL PLAIN's user and
//! password, NTLM (inside SASL GSS-SPNEGO or NTLM credentials, or
//! Microsoft's Sicily binds) as a NetNTLM line with the challenge from the
//! server's bind response, and for other SASL mechanisms the DN (the secret
//! is not in cleartext). A StartTLS extended request is noticed: when the
//! client's bytes then turn into a TLS record, the rest of the flow is a TLS
//! session. Messages other than binds are skipped without being held,
//! however large.

use super::ber::{self, expect, tlv, BerError, INTEGER, OCTETS, SEQUENCE};
use super::{ntlm, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("{0}")]
    Ber(#[from] BerError),
    #[error("not an LDAP message (tag {0:#04x})")]
    NotMessage(u8),
    #[error("{0}")]
    Ntlm(#[from] ntlm::NtlmError),
}

const BIND_REQUEST: u8 = 0x60;
const BIND_RESPONSE: u8 = 0x61;
const ENUMERATED: u8 = 0x0a;
const EXTENDED_REQUEST: u8 = 0x77;
const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
/// Messages larger than this are not binds: skipped, not buffered.
const MAX_MESSAGE: usize = 64 * 1024;

/// A client's first bytes: an LDAPMessage (sequence, message id, a request).
pub fn looks_like(b: &[u8]) -> bool {
    let Ok(Some((SEQUENCE, hlen, _))) = ber::header(b) else {
        return false;
    };
    match &b[hlen..] {
        [INTEGER, n @ 1..=4, rest @ ..] => rest.get(*n as usize).is_some_and(|op| {
            matches!(
                op,
                0x42 | 0x4a | 0x50 | 0x60 | 0x63 | 0x66 | 0x68 | 0x6c | 0x77
            )
        }),
        _ => false,
    }
}

/// What one complete LDAPMessage carries.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    Bind(Hit),
    StartTls,
    Other,
}

/// Reads one complete LDAPMessage from the client.
pub fn message(m: &[u8]) -> Result<Message, LdapError> {
    message_with(m, None)
}

/// [`message`], with the NTLM challenge the server sent on this connection.
pub fn message_with(m: &[u8], challenge: Option<[u8; 8]>) -> Result<Message, LdapError> {
    let msg = tlv(m)?;
    if msg.tag != SEQUENCE {
        return Err(LdapError::NotMessage(msg.tag));
    }
    let id = expect(msg.value, INTEGER)?;
    let op = tlv(id.rest)?;
    match op.tag {
        BIND_REQUEST => {
            let version = expect(op.value, INTEGER)?;
            let name = expect(version.rest, OCTETS)?;
            let auth = tlv(name.rest)?;
            let dn = (!name.value.is_empty()).then_some(name.value);
            let hit = match auth.tag {
                // simple [0]: an empty password is an anonymous or
                // unauthenticated bind, not a credential.
                0x80 if auth.value.is_empty() => return Ok(Message::Other),
                0x80 => {
                    let mut h = Hit::new(Proto::Ldap, dn, Some(auth.value));
                    h.detail = Some("simple bind".into());
                    h
                }
                // sasl [3] { mechanism, credentials OPTIONAL }
                0xa3 => {
                    let mech = expect(auth.value, OCTETS)?;
                    let creds = tlv(mech.rest).ok().filter(|c| c.tag == OCTETS);
                    let name = String::from_utf8_lossy(mech.value).into_owned();
                    // GSS-SPNEGO (or NTLM): an NTLMSSP message inside.
                    if let Some(m) = creds.as_ref().and_then(|c| ntlm_in(c.value)) {
                        return ntlm_bind(m, challenge, &format!("SASL {name} bind"));
                    }
                    match creds.and_then(|c| super::sasl_plain(c.value)) {
                        Some((u, p)) if mech.value.eq_ignore_ascii_case(b"PLAIN") => {
                            let mut h = Hit::new(Proto::Ldap, Some(&u), Some(&p));
                            h.detail = Some("SASL PLAIN bind".into());
                            h
                        }
                        _ if dn.is_some() => {
                            let mut h = Hit::new(Proto::Ldap, dn, None);
                            h.detail = Some(format!("SASL {name} bind: password not visible"));
                            h
                        }
                        _ => return Ok(Message::Other),
                    }
                }
                // Sicily: [9] package discovery, [10] NEGOTIATE, [11]
                // AUTHENTICATE (raw NTLMSSP messages).
                0x89 | 0x8a => return Ok(Message::Other),
                0x8b => return ntlm_bind(auth.value, challenge, "Sicily NTLM bind"),
                t => return Err(LdapError::Ber(BerError::Tag(t))),
            };
            Ok(Message::Bind(hit))
        }
        EXTENDED_REQUEST => {
            let name = tlv(op.value)?;
            Ok(if name.tag == 0x80 && name.value == STARTTLS_OID {
                Message::StartTls
            } else {
                Message::Other
            })
        }
        _ => Ok(Message::Other),
    }
}

/// The NTLMSSP message inside a SASL or SPNEGO blob, when there is one.
fn ntlm_in(b: &[u8]) -> Option<&[u8]> {
    memchr::memmem::find(b, b"NTLMSSP\0").map(|i| &b[i..])
}

/// An NTLM AUTHENTICATE message as a bind (other NTLM messages: nothing).
fn ntlm_bind(m: &[u8], challenge: Option<[u8; 8]>, how: &str) -> Result<Message, LdapError> {
    Ok(match ntlm::authenticate(Proto::Ldap, m, challenge)? {
        Some(mut h) => {
            let what = h.detail.take().unwrap_or_default();
            h.detail = Some(format!("{how}: {what}"));
            Message::Bind(h)
        }
        None => Message::Other,
    })
}

/// The NTLM challenge in a server's LDAPMessage: a bind response's
/// serverSaslCreds (SASL, SPNEGO) or matchedDN (Sicily).
pub fn server_challenge(m: &[u8]) -> Result<Option<[u8; 8]>, LdapError> {
    let msg = tlv(m)?;
    if msg.tag != SEQUENCE {
        return Err(LdapError::NotMessage(msg.tag));
    }
    let id = expect(msg.value, INTEGER)?;
    let op = tlv(id.rest)?;
    if op.tag != BIND_RESPONSE {
        return Ok(None);
    }
    let code = expect(op.value, ENUMERATED)?;
    let matched = expect(code.rest, OCTETS)?;
    let diagnostic = expect(matched.rest, OCTETS)?;
    let mut rest = diagnostic.rest;
    let mut found = ntlm_in(matched.value).and_then(ntlm::challenge);
    while !rest.is_empty() && found.is_none() {
        let t = tlv(rest)?;
        if t.tag == 0x87 {
            found = ntlm_in(t.value).and_then(ntlm::challenge);
        }
        rest = t.rest;
    }
    Ok(found)
}

/// Takes complete LDAPMessages off the front of one direction's bytes.
#[derive(Debug, Default)]
struct Frames {
    /// Bytes of a large message still to drop.
    skip: usize,
    /// The stream could not be read: the rest is dropped.
    broken: bool,
}

impl Frames {
    /// Hands each complete message to `each` until the bytes run out, or
    /// (when `tls` says so) a TLS record starts: `Ok(true)` then.
    fn read(
        &mut self,
        buf: &mut Vec<u8>,
        tls: impl Fn() -> bool,
        mut each: impl FnMut(&[u8]) -> Result<(), LdapError>,
    ) -> Result<bool, LdapError> {
        if self.broken {
            buf.clear();
            return Ok(false);
        }
        let mut at = 0;
        let r = loop {
            let b = &buf[at..];
            if self.skip > 0 {
                let n = self.skip.min(b.len());
                self.skip -= n;
                at += n;
                if self.skip > 0 {
                    break Ok(false);
                }
                continue;
            }
            if tls() && b.starts_with(&[0x16, 0x03]) {
                break Ok(true);
            }
            let (tag, hlen, len) = match ber::header(b) {
                Ok(Some(h)) => h,
                Ok(None) => break Ok(false),
                Err(e) => break Err(e.into()),
            };
            if tag != SEQUENCE {
                break Err(LdapError::NotMessage(tag));
            }
            let total = hlen + len;
            if total > MAX_MESSAGE {
                self.skip = total;
                continue;
            }
            if b.len() < total {
                break Ok(false);
            }
            at += total;
            if let Err(e) = each(&b[..total]) {
                break Err(e);
            }
        };
        if r.is_err() {
            // Unreadable from here: resynchronising inside BER is guesswork.
            self.broken = true;
            at = buf.len();
        }
        buf.drain(..at);
        r
    }
}

/// One LDAP connection: binds from the client, NTLM challenges from the
/// server.
#[derive(Debug, Default)]
pub struct Ldap {
    client: Frames,
    server: Frames,
    starttls_asked: bool,
    /// The client started TLS after a StartTLS request: the bytes left in
    /// the buffer are the TLS session's.
    pub tls: bool,
    /// The last NTLM challenge the server sent.
    challenge: Option<[u8; 8]>,
}

impl Ldap {
    /// Reads the complete client messages off the front of `buf`.
    pub fn client(&mut self, buf: &mut Vec<u8>) -> Result<Vec<Hit>, LdapError> {
        let mut hits = Vec::new();
        let (challenge, asked) = (self.challenge, std::cell::Cell::new(self.starttls_asked));
        let r = self.client.read(
            buf,
            || asked.get(),
            |m| {
                match message_with(m, challenge)? {
                    Message::Bind(h) => hits.push(h),
                    Message::StartTls => asked.set(true),
                    Message::Other => {}
                }
                Ok(())
            },
        );
        self.starttls_asked = asked.get();
        self.tls |= *r.as_ref().unwrap_or(&false);
        r.map(|_| hits)
    }

    /// Reads the complete server messages off the front of `buf`, keeping
    /// an NTLM challenge for the client's next bind.
    pub fn server(&mut self, buf: &mut Vec<u8>) -> Result<(), LdapError> {
        let mut found = None;
        let r = self.server.read(
            buf,
            || false,
            |m| {
                if let Some(c) = server_challenge(m)? {
                    found = Some(c);
                }
                Ok(())
            },
        );
        if found.is_some() {
            self.challenge = found;
        }
        r.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: u8, v: &[u8]) -> Vec<u8> {
        let mut o = vec![tag];
        if v.len() < 128 {
            o.push(v.len() as u8);
        } else {
            let n = v.len() as u32;
            o.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
        }
        o.extend_from_slice(v);
        o
    }

    fn msg(id: u8, op: Vec<u8>) -> Vec<u8> {
        let mut v = el(INTEGER, &[id]);
        v.extend(op);
        el(SEQUENCE, &v)
    }

    fn bind(dn: &str, auth: Vec<u8>) -> Vec<u8> {
        let mut v = el(INTEGER, &[3]);
        v.extend(el(OCTETS, dn.as_bytes()));
        v.extend(auth);
        el(BIND_REQUEST, &v)
    }

    #[test]
    fn simple_and_sasl_plain_binds_between_other_messages() {
        let mut all = msg(1, bind("cn=admin,dc=lab", el(0x80, b"s3cret")));
        assert!(looks_like(&all));
        all.extend(msg(2, el(0x63, &vec![b'x'; 70_000])));
        let mut sasl = el(OCTETS, b"PLAIN");
        sasl.extend(el(OCTETS, b"\0amy\0pw2"));
        all.extend(msg(3, bind("", el(0xa3, &sasl))));
        all.extend(msg(4, bind("cn=anon", el(0x80, b""))));
        let mut l = Ldap::default();
        let mut buf = Vec::new();
        let mut hits = Vec::new();
        for c in all.chunks(1000) {
            buf.extend_from_slice(c);
            hits.extend(l.client(&mut buf).unwrap());
        }
        assert!(buf.is_empty());
        let got: Vec<_> = hits
            .iter()
            .map(|h| (h.user.clone().unwrap(), h.password.clone().unwrap()))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"cn=admin,dc=lab".to_vec(), b"s3cret".to_vec()),
                (b"amy".to_vec(), b"pw2".to_vec())
            ]
        );
    }

    #[test]
    fn starttls_then_a_client_hello_hands_over() {
        let mut buf = msg(1, el(EXTENDED_REQUEST, &el(0x80, STARTTLS_OID)));
        buf.extend(b"\x16\x03\x01\x00\x05");
        let mut l = Ldap::default();
        l.client(&mut buf).unwrap();
        assert!(l.tls);
        assert_eq!(buf, b"\x16\x03\x01\x00\x05");
    }

    /// A CHALLENGE message with this server challenge.
    fn type2(c: [u8; 8]) -> Vec<u8> {
        let mut m = b"NTLMSSP\0\x02\0\0\0".to_vec();
        m.extend([0; 12]);
        m.extend(c);
        m.extend([0; 8]);
        m
    }

    fn bind_response(matched: &[u8], sasl: Option<&[u8]>) -> Vec<u8> {
        let mut v = el(ENUMERATED, &[0x0e]); // saslBindInProgress
        v.extend(el(OCTETS, matched));
        v.extend(el(OCTETS, b""));
        if let Some(c) = sasl {
            v.extend(el(0x87, c));
        }
        el(BIND_RESPONSE, &v)
    }

    #[test]
    fn ntlm_binds_take_the_challenge_from_the_server() {
        let c = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";
        let mut nt = vec![0xaa; 16];
        nt.extend([1, 1, 0, 0, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb]);
        let t3 = ntlm::tests::type3("LAB", "amy", "WS1", &[0; 24], &nt);
        let want = format!(
            "amy::LAB:0123456789abcdef:{}:01010000{}",
            "aa".repeat(16),
            "bb".repeat(8)
        );
        // SASL GSS-SPNEGO: the NTLMSSP messages wrapped (any bytes before).
        let spnego = |m: &[u8]| [&b"\xa1\x81\x00\x30\x00\x04\x00"[..], m].concat();
        let mut sasl = el(OCTETS, b"GSS-SPNEGO");
        sasl.extend(el(OCTETS, &spnego(&t3)));
        // Sicily: raw messages, the challenge in matchedDN.
        for (response, request, how) in [
            (
                bind_response(b"", Some(&spnego(&type2(c)))),
                bind("", el(0xa3, &sasl)),
                "SASL GSS-SPNEGO bind",
            ),
            (
                bind_response(&type2(c), None),
                bind("NTLM", el(0x8b, &t3)),
                "Sicily NTLM bind",
            ),
        ] {
            let mut l = Ldap::default();
            let mut server = msg(2, response);
            l.server(&mut server).unwrap();
            assert!(server.is_empty());
            let mut client = msg(3, bind("NTLM", el(0x8a, b"NTLMSSP\0\x01\0\0\0")));
            client.extend(msg(4, request));
            let hits = l.client(&mut client).unwrap();
            assert_eq!(hits.len(), 1, "{how}: {hits:?}");
            let h = &hits[0];
            assert_eq!(h.user.as_deref(), Some(&b"amy"[..]));
            assert_eq!(
                h.hash.as_ref().map(|x| (x.mode, x.line.as_str())),
                Some((Some(5600), want.as_str()))
            );
            assert_eq!(
                h.detail.as_deref(),
                Some(&*format!("{how}: NTLM NetNTLMv2, domain LAB, host WS1"))
            );
        }
        // Without the server's side: the user, no line.
        let h = match message(&msg(4, bind("NTLM", el(0x8b, &t3)))).unwrap() {
            Message::Bind(h) => h,
            m => panic!("{m:?}"),
        };
        assert_eq!((h.user.as_deref(), h.hash), (Some(&b"amy"[..]), None));
    }

    #[test]
    fn garbage_is_an_error() {
        let mut l = Ldap::default();
        let mut buf = b"\x04\x01x".to_vec();
        assert_eq!(l.client(&mut buf).unwrap_err(), LdapError::NotMessage(4));
        assert!(buf.is_empty());
        assert!(message(&msg(1, bind("x", el(0x81, b"y")))).is_err());
    }
}
