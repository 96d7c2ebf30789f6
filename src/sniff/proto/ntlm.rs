//! NTLMSSP messages wherever they travel (HTTP `WWW-Authenticate` /
//! `Authorization` and their `Proxy-` forms here): the server challenge of
//! a CHALLENGE (type 2) message, and the user, domain, workstation and
//! response of an AUTHENTICATE (type 3) message, written as the crackable
//! line hashcat reads: NetNTLMv2 (mode 5600,
//! `user::domain:challenge:NTProofStr:blob`) or NetNTLMv1 (mode 5500,
//! `user::domain:lm:nt:challenge`). The challenge comes from the other
//! direction of the same connection.

use super::{Crackable, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NtlmError {
    #[error("NTLM message truncated or a field outside it")]
    Truncated,
}

const SIGNATURE: &[u8] = b"NTLMSSP\0";
const NEGOTIATE_UNICODE: u32 = 1;

/// The NTLMSSP message in an `NTLM` or `Negotiate` header value, decoded.
pub fn from_header(value: &[u8]) -> Option<Vec<u8>> {
    let value = value.trim_ascii();
    let sp = memchr::memchr(b' ', value)?;
    let scheme = &value[..sp];
    if !scheme.eq_ignore_ascii_case(b"NTLM") && !scheme.eq_ignore_ascii_case(b"Negotiate") {
        return None;
    }
    let msg = super::b64(value[sp + 1..].trim_ascii())?;
    msg.starts_with(SIGNATURE).then_some(msg)
}

/// Little-endian integers at an offset (NTLMSSP and SMB headers both use them).
pub(super) fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(m.get(at..at + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(m: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(m.get(at..at + 4)?.try_into().ok()?))
}

fn msg_type(m: &[u8]) -> Option<u32> {
    m.starts_with(SIGNATURE).then(|| u32_at(m, 8)).flatten()
}

/// The server challenge of a CHALLENGE message.
pub fn challenge(m: &[u8]) -> Option<[u8; 8]> {
    if msg_type(m)? != 2 {
        return None;
    }
    m.get(24..32)?.try_into().ok()
}

/// The bytes a security buffer (length, allocated, offset) at `at` points to.
fn field(m: &[u8], at: usize) -> Result<&[u8], NtlmError> {
    let len = u16_at(m, at).ok_or(NtlmError::Truncated)? as usize;
    let off = u32_at(m, at + 4).ok_or(NtlmError::Truncated)? as usize;
    if len == 0 {
        return Ok(&[]);
    }
    m.get(off..off.checked_add(len).ok_or(NtlmError::Truncated)?)
        .ok_or(NtlmError::Truncated)
}

fn text(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(b).into_owned()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The credential of an AUTHENTICATE message; `Ok(None)` for other
/// messages and anonymous logins. Without the challenge the user is still
/// reported, with no hash line.
pub fn authenticate(
    proto: Proto,
    m: &[u8],
    challenge: Option<[u8; 8]>,
) -> Result<Option<Hit>, NtlmError> {
    if msg_type(m) != Some(3) {
        return Ok(None);
    }
    let lm = field(m, 12)?;
    let nt = field(m, 20)?;
    let flags = u32_at(m, 60).unwrap_or(NEGOTIATE_UNICODE);
    let unicode = flags & NEGOTIATE_UNICODE != 0;
    let domain = text(field(m, 28)?, unicode);
    let user = text(field(m, 36)?, unicode);
    let host = text(field(m, 44)?, unicode);
    if user.is_empty() && nt.is_empty() {
        return Ok(None);
    }
    let clean = |s: &str| s.replace([':', '\n', '\r'], "");
    let (u, d) = (clean(&user), clean(&domain));
    let (version, hash) = match (nt.len(), challenge) {
        (24, Some(c)) => (
            "NetNTLMv1",
            Some(Crackable::hashcat(
                5500,
                format!("{u}::{d}:{}:{}:{}", hex(lm), hex(nt), hex(&c)),
            )),
        ),
        (n, Some(c)) if n > 24 => (
            "NetNTLMv2",
            Some(Crackable::hashcat(
                5600,
                format!("{u}::{d}:{}:{}:{}", hex(&c), hex(&nt[..16]), hex(&nt[16..])),
            )),
        ),
        (24, None) => ("NetNTLMv1, challenge not seen", None),
        (_, None) => ("NetNTLMv2, challenge not seen", None),
        _ => ("NTLM", None),
    };
    let mut h = Hit::new(proto, Some(user.as_bytes()), None);
    h.detail = Some(format!("NTLM {version}, domain {domain}, host {host}"));
    h.hash = hash;
    Ok(Some(h))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// An AUTHENTICATE message with these fields (flags: Unicode).
    pub(crate) fn type3(domain: &str, user: &str, host: &str, lm: &[u8], nt: &[u8]) -> Vec<u8> {
        let mut m = SIGNATURE.to_vec();
        m.extend(3u32.to_le_bytes());
        let payload = [
            lm.to_vec(),
            nt.to_vec(),
            utf16(domain),
            utf16(user),
            utf16(host),
            vec![],
        ];
        let mut off = 64u32;
        let mut data: Vec<u8> = Vec::new();
        for p in &payload {
            m.extend((p.len() as u16).to_le_bytes());
            m.extend((p.len() as u16).to_le_bytes());
            m.extend(off.to_le_bytes());
            off += p.len() as u32;
            data.extend_from_slice(p);
        }
        m.extend(NEGOTIATE_UNICODE.to_le_bytes());
        m.extend(data);
        m
    }

    #[test]
    fn v2_and_v1_lines_with_the_challenge() {
        let c = *b"\x01\x23\x45\x67\x89\xab\xcd\xef";
        let mut nt = vec![0xaa; 16];
        nt.extend([
            0x01, 0x01, 0, 0, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb,
        ]);
        let m = type3("LAB", "amy", "WS1", &[0; 24], &nt);
        let h = authenticate(Proto::HttpNtlm, &m, Some(c)).unwrap().unwrap();
        let hash = h.hash.unwrap();
        assert_eq!(hash.mode, Some(5600));
        assert_eq!(
            hash.line,
            format!(
                "amy::LAB:0123456789abcdef:{}:01010000{}",
                "aa".repeat(16),
                "bb".repeat(8)
            )
        );
        assert_eq!(
            h.detail.as_deref(),
            Some("NTLM NetNTLMv2, domain LAB, host WS1")
        );
        let m = type3("LAB", "amy", "WS1", &[0x11; 24], &[0x22; 24]);
        let h = authenticate(Proto::HttpNtlm, &m, Some(c)).unwrap().unwrap();
        let hash = h.hash.unwrap();
        assert_eq!(hash.mode, Some(5500));
        assert!(hash.line.ends_with(":0123456789abcdef"));
        let h = authenticate(Proto::HttpNtlm, &m, None).unwrap().unwrap();
        assert!(h.hash.is_none() && h.user.as_deref() == Some(&b"amy"[..]));
    }

    #[test]
    fn headers_challenges_and_bad_messages() {
        let mut t2 = SIGNATURE.to_vec();
        t2.extend(2u32.to_le_bytes());
        t2.extend([0; 12]);
        t2.extend(*b"ABCDEFGH");
        assert_eq!(challenge(&t2), Some(*b"ABCDEFGH"));
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD.encode(&t2);
        assert_eq!(
            from_header(format!("NTLM {b}").as_bytes()),
            Some(t2.clone())
        );
        assert_eq!(from_header(format!("Negotiate {b}").as_bytes()), Some(t2));
        assert_eq!(from_header(b"NTLM"), None);
        assert_eq!(from_header(b"Basic dGVzdDp0ZXN0"), None);
        let mut bad = type3("d", "u", "h", &[], &[1; 30]);
        bad[20 + 4] = 0xff; // NT field offset past the end
        assert_eq!(
            authenticate(Proto::HttpNtlm, &bad, None).unwrap_err(),
            NtlmError::Truncated
        );
        assert_eq!(
            authenticate(Proto::HttpNtlm, b"NTLMSSP\0\x01\0\0\0", None),
            Ok(None)
        );
    }
}
