//! LDAP bind requests from the client: a simple bind's DN and password,
//! SASL PLAIN's user and password, and for other SASL mechanisms the DN
//! (the secret is not in cleartext). A StartTLS extended request is
//! noticed: when the client's bytes then turn into a TLS record, the rest of
//! the flow is a TLS session. Messages other than binds are skipped without
//! being held, however large.

use super::ber::{self, expect, tlv, BerError, INTEGER, OCTETS, SEQUENCE};
use super::Hit;
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LdapError {
    #[error("{0}")]
    Ber(#[from] BerError),
    #[error("not an LDAP message (tag {0:#04x})")]
    NotMessage(u8),
}

const BIND_REQUEST: u8 = 0x60;
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

/// Reads one complete LDAPMessage.
pub fn message(m: &[u8]) -> Result<Message, LdapError> {
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

/// The client direction of one LDAP connection.
#[derive(Debug, Default)]
pub struct Ldap {
    /// Bytes of a large message still to drop.
    skip: usize,
    starttls_asked: bool,
    /// The client started TLS after a StartTLS request: the bytes left in
    /// the buffer are the TLS session's.
    pub tls: bool,
    /// The stream could not be read: the rest is dropped.
    broken: bool,
}

impl Ldap {
    /// Reads the complete messages off the front of `buf`.
    pub fn client(&mut self, buf: &mut Vec<u8>) -> Result<Vec<Hit>, LdapError> {
        let mut hits = Vec::new();
        if self.broken {
            buf.clear();
            return Ok(hits);
        }
        let mut at = 0;
        let r = loop {
            let b = &buf[at..];
            if self.skip > 0 {
                let n = self.skip.min(b.len());
                self.skip -= n;
                at += n;
                if self.skip > 0 {
                    break Ok(());
                }
                continue;
            }
            if self.starttls_asked && b.starts_with(&[0x16, 0x03]) {
                self.tls = true;
                break Ok(());
            }
            let (tag, hlen, len) = match ber::header(b) {
                Ok(Some(h)) => h,
                Ok(None) => break Ok(()),
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
                break Ok(());
            }
            at += total;
            match message(&b[..total]) {
                Ok(Message::Bind(h)) => hits.push(h),
                Ok(Message::StartTls) => self.starttls_asked = true,
                Ok(Message::Other) => {}
                Err(e) => break Err(e),
            }
        };
        if r.is_err() {
            // Unreadable from here: resynchronising inside BER is guesswork.
            self.broken = true;
            at = buf.len();
        }
        buf.drain(..at);
        r.map(|()| hits)
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

    #[test]
    fn garbage_is_an_error() {
        let mut l = Ldap::default();
        let mut buf = b"\x04\x01x".to_vec();
        assert_eq!(l.client(&mut buf).unwrap_err(), LdapError::NotMessage(4));
        assert!(buf.is_empty());
        assert!(message(&msg(1, bind("x", el(0x81, b"y")))).is_err());
    }
}
