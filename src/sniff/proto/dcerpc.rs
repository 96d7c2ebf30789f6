//! DCE-RPC over TCP (connection-oriented PDUs, `ncacn_ip_tcp`: port 135's
//! endpoint mapper and the dynamic ports behind it): NTLMSSP in the
//! authentication verifier of a bind, alter_context or auth3 PDU
//! (auth type 10, `RPC_C_AUTHN_WINNT`, or inside SPNEGO, type 9). The
//! server's CHALLENGE rides in its bind_ack (or alter_context_resp); the
//! client's AUTHENTICATE in the auth3 (or alter_context) that follows. The
//! verdict is the server's next PDU: a response or an alter_context_resp
//! without a challenge means the login was taken; a bind_nak, or Samba's
//! `nca_s_proto_error` fault, that it was refused; any other fault
//! (Windows' `access_denied`) that the login or the call was.

use super::{ntlm, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DceRpcError {
    #[error("not a connection-oriented DCE-RPC PDU (version {0}.{1})")]
    Version(u8, u8),
    #[error("PDU length {0} is shorter than its header and verifier")]
    Length(u16),
    #[error("NTLM message in the verifier truncated or a field outside it")]
    Ntlm,
}

/// PDU types (C706 §12.6.4.1, plus MS-RPCE's auth3).
const REQUEST: u8 = 0;
const RESPONSE: u8 = 2;
const FAULT: u8 = 3;
const BIND: u8 = 11;
const BIND_ACK: u8 = 12;
const BIND_NAK: u8 = 13;
const ALTER_CONTEXT: u8 = 14;
const ALTER_CONTEXT_RESP: u8 = 15;
const AUTH3: u8 = 16;

const HEADER: usize = 16;
/// The sec_trailer before the auth value: type, level, pad, reserved, context id.
const SEC_TRAILER: usize = 8;
const AUTHN_SPNEGO: u8 = 9;
const AUTHN_WINNT: u8 = 10;
/// Findings held for the server's verdict (a client sending AUTHENTICATEs
/// with no answer must not grow memory).
const MAX_HELD: usize = 8;

/// A client's first bytes: a bind or alter_context PDU header.
pub fn looks_like(client: &[u8]) -> bool {
    matches!(client, [5, 0, BIND | ALTER_CONTEXT, _, 0x10 | 0x00, ..] if client.len() >= HEADER)
}

/// One PDU's header fields and its authentication verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pdu<'a> {
    pub ptype: u8,
    /// The verifier's auth type and value, when the PDU carries one.
    pub auth: Option<(u8, &'a [u8])>,
    /// What follows the header, up to the verifier.
    pub body: &'a [u8],
    little_endian: bool,
}

impl Pdu<'_> {
    fn u32_at(&self, at: usize) -> Option<u32> {
        let b: [u8; 4] = self.body.get(at..at + 4)?.try_into().ok()?;
        Some(if self.little_endian {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    /// The NTLMSSP message in the verifier (directly, or inside SPNEGO).
    pub fn ntlmssp(&self) -> Option<&[u8]> {
        match self.auth? {
            (AUTHN_WINNT, v) => v.starts_with(b"NTLMSSP\0").then_some(v),
            (AUTHN_SPNEGO, v) => memchr::memmem::find(v, b"NTLMSSP\0").map(|i| &v[i..]),
            _ => None,
        }
    }
}

/// The length of the whole PDU at the start of `b`, once its header is in.
fn frag_length(b: &[u8]) -> Option<usize> {
    let h = b.get(..HEADER)?;
    let len = [h[8], h[9]];
    Some(if h[4] & 0x10 != 0 {
        u16::from_le_bytes(len)
    } else {
        u16::from_be_bytes(len)
    } as usize)
}

/// Reads one whole PDU (`b` is exactly its bytes).
pub fn parse_pdu(b: &[u8]) -> Result<Pdu<'_>, DceRpcError> {
    if b.len() < HEADER || b[0] != 5 || b[1] != 0 {
        return Err(DceRpcError::Version(
            b.first().copied().unwrap_or(0),
            b.get(1).copied().unwrap_or(0),
        ));
    }
    let le = b[4] & 0x10 != 0;
    let u16_at = |at: usize| {
        let x = [b[at], b[at + 1]];
        if le {
            u16::from_le_bytes(x)
        } else {
            u16::from_be_bytes(x)
        }
    };
    let (frag, auth_len) = (u16_at(8), u16_at(10) as usize);
    if (frag as usize) < HEADER || frag as usize != b.len() {
        return Err(DceRpcError::Length(frag));
    }
    let (body, auth) = if auth_len == 0 {
        (&b[HEADER..], None)
    } else {
        let value_at = b
            .len()
            .checked_sub(auth_len)
            .filter(|&v| v >= HEADER + SEC_TRAILER)
            .ok_or(DceRpcError::Length(frag))?;
        let trailer = value_at - SEC_TRAILER;
        (&b[HEADER..trailer], Some((b[trailer], &b[value_at..])))
    };
    Ok(Pdu {
        ptype: b[2],
        auth,
        body,
        little_endian: le,
    })
}

/// Cuts whole PDUs off the front of `buf` and hands each to `f`; a partial
/// one is kept for the next call.
fn each_pdu(
    buf: &mut Vec<u8>,
    mut f: impl FnMut(Pdu<'_>) -> Result<(), DceRpcError>,
) -> Result<(), DceRpcError> {
    let mut at = 0;
    let r = loop {
        let rest = &buf[at..];
        let Some(len) = frag_length(rest) else {
            break Ok(());
        };
        if len < HEADER {
            break Err(DceRpcError::Length(len as u16));
        }
        if rest.len() < len {
            break Ok(());
        }
        let r = parse_pdu(&rest[..len]).and_then(&mut f);
        at += len;
        if r.is_err() {
            break r;
        }
    };
    buf.drain(..at.min(buf.len()));
    r
}

/// What a server PDU says of the login that answered the last challenge.
fn verdict(p: &Pdu<'_>) -> Option<String> {
    match p.ptype {
        RESPONSE | BIND_ACK | ALTER_CONTEXT_RESP
            if p.ntlmssp().and_then(ntlm::challenge).is_none() =>
        {
            Some("accepted".into())
        }
        // Windows answers a bad AUTHENTICATE with access_denied, but so
        // does any server refusing the call itself to a good login: said
        // as seen, not as a verdict on the password.
        FAULT => Some(match p.u32_at(8) {
            Some(0x1c01_000b) => "rejected (fault nca_s_proto_error)".into(),
            Some(0x5) => "fault access_denied (the login or the call refused)".into(),
            Some(s) => format!("fault {s:#010x} (the login or the call refused)"),
            None => "fault (the login or the call refused)".into(),
        }),
        BIND_NAK => Some("rejected (bind_nak)".into()),
        _ => None,
    }
}

fn pdu_name(ptype: u8) -> &'static str {
    match ptype {
        BIND => "bind",
        ALTER_CONTEXT => "alter_context",
        AUTH3 => "auth3",
        REQUEST => "request",
        _ => "PDU",
    }
}

/// The credential in one client PDU: an AUTHENTICATE in its verifier.
pub fn client_pdu(p: &Pdu<'_>, challenge: Option<[u8; 8]>) -> Result<Option<Hit>, DceRpcError> {
    let Some(msg) = p.ntlmssp() else {
        return Ok(None);
    };
    let hit = ntlm::authenticate(Proto::DceRpc, msg, challenge).map_err(|_| DceRpcError::Ntlm)?;
    Ok(hit.map(|mut h| {
        h.detail = Some(format!(
            "{}: {}",
            pdu_name(p.ptype),
            h.detail.as_deref().unwrap_or("NTLM")
        ));
        h
    }))
}

/// Both directions of one DCE-RPC connection.
#[derive(Debug, Default)]
pub struct DceRpc {
    /// The last server challenge.
    challenge: Option<[u8; 8]>,
    /// AUTHENTICATE findings waiting for the server's verdict.
    pending: Vec<Hit>,
    /// The first verdict read after the last challenge, before the
    /// AUTHENTICATE it answers was read (the server's bytes of a call are
    /// read first).
    early: Option<String>,
    broken: bool,
}

impl DceRpc {
    /// Bytes were lost: the PDU framing is gone, the flow is not read further.
    pub fn gap(&mut self) {
        self.broken = true;
    }

    /// At the flow's end: the AUTHENTICATEs whose verdict was never seen.
    pub fn finish(&mut self) -> Vec<Hit> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|h| h.with_outcome("(result not seen)"))
            .collect()
    }

    /// Reads both directions (the server's first) and removes what was read.
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, DceRpcError> {
        let mut hits = Vec::new();
        if self.broken {
            cs.clear();
            sc.clear();
            return Ok(hits);
        }
        let DceRpc {
            challenge,
            pending,
            early,
            ..
        } = self;
        let r = each_pdu(sc, |p| {
            if let Some(c) = p.ntlmssp().and_then(ntlm::challenge) {
                *challenge = Some(c);
                *early = None;
                return Ok(());
            }
            if challenge.is_none() {
                return Ok(());
            }
            if let Some(v) = verdict(&p) {
                if pending.is_empty() {
                    early.get_or_insert(v);
                } else {
                    hits.extend(pending.drain(..).map(|h| h.with_outcome(&v)));
                }
            }
            Ok(())
        })
        .and_then(|()| {
            each_pdu(cs, |p| {
                let Some(h) = client_pdu(&p, *challenge)? else {
                    return Ok(());
                };
                match early.take() {
                    Some(v) => hits.push(h.with_outcome(&v)),
                    None => {
                        if pending.len() >= MAX_HELD {
                            hits.push(pending.remove(0).with_outcome("(result not seen)"));
                        }
                        pending.push(h);
                    }
                }
                Ok(())
            })
        });
        if r.is_err() {
            self.broken = true;
            cs.clear();
            sc.clear();
        }
        r.map(|()| hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian PDU with an optional verifier.
    pub(crate) fn pdu(ptype: u8, call_id: u32, body: &[u8], auth: Option<(u8, &[u8])>) -> Vec<u8> {
        let auth_len = auth.map_or(0, |(_, v)| v.len());
        let len = HEADER + body.len() + auth.map_or(0, |(_, v)| SEC_TRAILER + v.len());
        let mut b = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
        b.extend((len as u16).to_le_bytes());
        b.extend((auth_len as u16).to_le_bytes());
        b.extend(call_id.to_le_bytes());
        b.extend(body);
        if let Some((t, v)) = auth {
            b.extend([t, 5, 0, 0, 0, 0, 0, 0]);
            b.extend(v);
        }
        b
    }

    fn challenge_msg(c: &[u8; 8]) -> Vec<u8> {
        let mut m = b"NTLMSSP\0\x02\0\0\0".to_vec();
        m.resize(24, 0);
        m.extend(c);
        m.resize(48, 0);
        m
    }

    fn nt() -> Vec<u8> {
        let mut nt = vec![0x11; 16];
        nt.extend([0x01, 0x01, 0, 0]);
        nt.resize(48, 0x22);
        nt
    }

    #[test]
    fn bind_challenge_auth3_then_a_response_is_an_accepted_5600_line() {
        let t3 = ntlm::tests::type3("LAB", "amy", "WS1", &[0; 24], &nt());
        let mut cs = pdu(
            BIND,
            3,
            &[0; 56],
            Some((AUTHN_WINNT, b"NTLMSSP\0\x01\0\0\0")),
        );
        cs.extend(pdu(AUTH3, 3, &[0; 4], Some((AUTHN_WINNT, &t3))));
        cs.extend(pdu(REQUEST, 4, &[0; 24], Some((AUTHN_WINNT, &[1; 16]))));
        let mut sc = pdu(
            BIND_ACK,
            3,
            &[0; 60],
            Some((AUTHN_WINNT, &challenge_msg(b"ABCDEFGH"))),
        );
        sc.extend(pdu(RESPONSE, 4, &[0; 24], None));
        // Split anywhere: the same answer.
        for cut in [1, 17, 40, cs.len() - 1] {
            let mut s = DceRpc::default();
            let (mut a, mut b) = (cs[..cut].to_vec(), sc.clone());
            let mut hits = s.feed(&mut a, &mut b).unwrap();
            a.extend(&cs[cut..]);
            hits.extend(s.feed(&mut a, &mut b).unwrap());
            hits.extend(s.finish());
            assert_eq!(hits.len(), 1, "cut {cut}: {hits:?}");
            let h = &hits[0];
            assert_eq!(h.user.as_deref(), Some(&b"amy"[..]));
            assert_eq!(
                h.detail.as_deref(),
                Some("auth3: NTLM NetNTLMv2, domain LAB, host WS1, accepted")
            );
            let line = &h.hash.as_ref().unwrap().line;
            assert!(
                line.starts_with("amy::LAB:4142434445464748:11111111111111111111111111111111:"),
                "{line}"
            );
            assert_eq!(h.hash.as_ref().unwrap().mode, Some(5600));
        }
    }

    #[test]
    fn a_fault_after_the_login_rejects_it_and_no_verdict_is_said_so() {
        let t3 = ntlm::tests::type3("LAB", "amy", "WS1", &[0; 24], &nt());
        let mut fault_body = vec![0; 8];
        fault_body.extend(0x1c01_000bu32.to_le_bytes());
        fault_body.extend([0; 4]);
        let mut s = DceRpc::default();
        let mut sc = pdu(
            BIND_ACK,
            3,
            &[0; 60],
            Some((AUTHN_WINNT, &challenge_msg(b"ABCDEFGH"))),
        );
        let mut cs = pdu(AUTH3, 3, &[0; 4], Some((AUTHN_WINNT, &t3)));
        assert!(s.feed(&mut cs, &mut sc).unwrap().is_empty());
        let mut sc = pdu(FAULT, 4, &fault_body, None);
        let hits = s.feed(&mut Vec::new(), &mut sc).unwrap();
        assert_eq!(
            hits[0].detail.as_deref(),
            Some("auth3: NTLM NetNTLMv2, domain LAB, host WS1, rejected (fault nca_s_proto_error)")
        );
        // No verdict at all: reported at the flow's end, saying so.
        let mut s = DceRpc::default();
        let mut sc = pdu(
            BIND_ACK,
            3,
            &[0; 60],
            Some((
                AUTHN_SPNEGO,
                &[b"\xa1\x81\x00".as_slice(), &challenge_msg(b"ABCDEFGH")].concat(),
            )),
        );
        let mut cs = pdu(
            ALTER_CONTEXT,
            3,
            &[0; 40],
            Some((
                AUTHN_SPNEGO,
                &[b"\xa1\x82\x01\x00".as_slice(), &t3].concat(),
            )),
        );
        assert!(s.feed(&mut cs, &mut sc).unwrap().is_empty());
        let hits = s.finish();
        assert_eq!(
            hits[0].detail.as_deref(),
            Some("alter_context: NTLM NetNTLMv2, domain LAB, host WS1, (result not seen)")
        );
        assert!(hits[0].hash.is_some());
    }

    #[test]
    fn pdus_without_auth_and_the_endpoint_mapper_report_nothing() {
        let mut s = DceRpc::default();
        let mut cs = pdu(BIND, 1, &[0; 56], None);
        cs.extend(pdu(REQUEST, 2, &[0; 100], None));
        let mut sc = pdu(BIND_ACK, 1, &[0; 44], None);
        sc.extend(pdu(RESPONSE, 2, &[0; 120], None));
        assert!(looks_like(&cs));
        assert!(s.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(s.finish().is_empty());
        assert!(cs.is_empty() && sc.is_empty(), "whole PDUs are consumed");
    }

    #[test]
    fn malformed_is_an_error_and_stops_the_flow() {
        let mut s = DceRpc::default();
        let mut bad = pdu(BIND, 1, &[0; 8], None);
        bad[0] = 4;
        assert_eq!(
            s.feed(&mut bad, &mut Vec::new()),
            Err(DceRpcError::Version(4, 0))
        );
        let mut more = pdu(BIND, 1, &[0; 8], None);
        assert!(s.feed(&mut more, &mut Vec::new()).unwrap().is_empty());
        // An auth length past the PDU's start.
        let mut p = pdu(BIND, 1, &[0; 8], Some((AUTHN_WINNT, &[0; 4])));
        p[10] = 0xff;
        assert_eq!(parse_pdu(&p), Err(DceRpcError::Length(p.len() as u16)));
        // A length below the header.
        let mut p = pdu(BIND, 1, &[], None);
        p[8] = 3;
        assert!(DceRpc::default().feed(&mut p, &mut Vec::new()).is_err());
        assert!(!looks_like(b"\x05\x00\x0b"));
    }
}
