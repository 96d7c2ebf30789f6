//! RADIUS (RFC 2865) over UDP, one datagram at a time: the User-Name of an
//! Access-Request and its User-Password (PAP), which is hidden with the
//! shared secret (§5.2: each 16-byte block XORed with MD5(secret + the
//! previous block), the Request Authenticator first). Given the secret
//! (`--radius-secret`) the password is decoded; without it the user is
//! reported with a remark that a PAP password was sent. A CHAP-Password
//! (§5.3) becomes a hashcat 4800 line (`MD5(CHAP):challenge:id`), the
//! challenge being the CHAP-Challenge attribute or else the Request
//! Authenticator. Other packets (Accept, Reject, accounting) carry no
//! credential.

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

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The credential of one datagram: `Ok(None)` for packets other than an
/// Access-Request and for requests without a user or password.
pub fn parse(datagram: &[u8], secret: Option<&[u8]>) -> Result<Option<Hit>, RadiusError> {
    if datagram.len() < HEADER {
        return Err(RadiusError::Truncated);
    }
    let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
    if !(HEADER..=datagram.len()).contains(&len) {
        return Err(RadiusError::Truncated);
    }
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
}
