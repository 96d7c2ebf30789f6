//! SNMP, one datagram at a time: the community string of v1 and v2c
//! messages (get, set, trap...: whoever knows it may read or write the
//! device) and the USM user name of v3 messages. BER is read as far as
//! needed and no further; anything malformed is an error, never a panic.

use super::ber::{self, expect, tlv, INTEGER, OCTETS, SEQUENCE};
use super::Hit;
use crate::sniff::finding::Proto;

/// Why a datagram is not a readable SNMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("not a BER sequence")]
    NotSequence,
    #[error("{0}")]
    Ber(#[from] ber::BerError),
    #[error("unknown version {0}")]
    Version(u64),
}

fn pdu_name(tag: u8) -> &'static str {
    match tag {
        0xa0 => "get-request",
        0xa1 => "get-next-request",
        0xa2 => "response",
        0xa3 => "set-request",
        0xa4 => "trap",
        0xa5 => "get-bulk-request",
        0xa6 => "inform-request",
        0xa7 => "trap-v2",
        0xa8 => "report",
        _ => "unknown-pdu",
    }
}

/// Cheap test for a flow not on an SNMP port: a sequence starting with a
/// version integer 0, 1 or 3.
pub fn looks_like(b: &[u8]) -> bool {
    matches!(tlv(b), Ok(t) if t.tag == SEQUENCE
        && matches!(t.value, [INTEGER, 1, 0 | 1 | 3, ..]))
}

/// The credential in one SNMP message: `Ok(None)` for a v3 message with
/// no user name (engine discovery).
pub fn parse(datagram: &[u8]) -> Result<Option<Hit>, SnmpError> {
    let msg = tlv(datagram).map_err(|_| SnmpError::NotSequence)?;
    if msg.tag != SEQUENCE {
        return Err(SnmpError::NotSequence);
    }
    let version = expect(msg.value, INTEGER)?;
    match ber::uint(version.value)? {
        v @ (0 | 1) => {
            let community = expect(version.rest, OCTETS)?;
            let pdu = tlv(community.rest)?;
            let mut h = Hit::new(Proto::Snmp, None, Some(community.value));
            let v = if v == 0 { "v1" } else { "v2c" };
            h.detail = Some(format!("{v} {} community", pdu_name(pdu.tag)));
            Ok(Some(h))
        }
        3 => {
            let global = expect(version.rest, SEQUENCE)?;
            let flags = {
                let id = expect(global.value, INTEGER)?;
                let max = expect(id.rest, INTEGER)?;
                expect(max.rest, OCTETS)?
                    .value
                    .first()
                    .copied()
                    .unwrap_or(0)
            };
            let params = expect(global.rest, OCTETS)?;
            let usm = expect(params.value, SEQUENCE)?;
            let engine = expect(usm.value, OCTETS)?;
            let boots = expect(engine.rest, INTEGER)?;
            let time = expect(boots.rest, INTEGER)?;
            let user = expect(time.rest, OCTETS)?;
            if user.value.is_empty() {
                return Ok(None);
            }
            let level = match flags & 3 {
                0 => "noAuthNoPriv",
                1 => "authNoPriv",
                _ => "authPriv",
            };
            let mut h = Hit::new(Proto::Snmp, Some(user.value), None);
            h.detail = Some(format!("v3 user, {level}"));
            Ok(Some(h))
        }
        v => Err(SnmpError::Version(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `snmpget -v2c -c s3cret 127.0.0.1 sysDescr.0` as sent.
    const V2C_GET: &[u8] = b"\x30\x29\x02\x01\x01\x04\x06s3cret\xa0\x1c\x02\x04\x12\x34\x56\x78\x02\x01\x00\x02\x01\x00\x30\x0e\x30\x0c\x06\x08\x2b\x06\x01\x02\x01\x01\x01\x00\x05\x00";

    #[test]
    fn v1_and_v2c_communities() {
        let h = parse(V2C_GET).unwrap().unwrap();
        assert_eq!(h.password.as_deref(), Some(&b"s3cret"[..]));
        assert_eq!(h.user, None);
        assert_eq!(h.detail.as_deref(), Some("v2c get-request community"));
        let mut v1 = V2C_GET.to_vec();
        v1[4] = 0;
        v1[13] = 0xa3;
        let h = parse(&v1).unwrap().unwrap();
        assert_eq!(h.detail.as_deref(), Some("v1 set-request community"));
        assert!(looks_like(V2C_GET));
    }

    #[test]
    fn malformed_messages_are_errors() {
        assert_eq!(parse(b"").unwrap_err(), SnmpError::NotSequence);
        assert_eq!(
            parse(b"GET / HTTP/1.1").unwrap_err(),
            SnmpError::NotSequence
        );
        for cut in 1..V2C_GET.len() {
            assert!(parse(&V2C_GET[..cut]).is_err(), "cut at {cut}");
        }
        let mut v9 = V2C_GET.to_vec();
        v9[4] = 9;
        assert_eq!(parse(&v9).unwrap_err(), SnmpError::Version(9));
        assert_eq!(
            parse(b"\x30\x84\xff\xff\xff\xff").unwrap_err(),
            SnmpError::NotSequence
        );
        assert!(!looks_like(b"\x30\x03\x02\x01\x07"));
    }
}
