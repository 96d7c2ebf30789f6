//! SMB session setup over TCP (445, 139, or by content): NetBIOS session
//! framing (a 4-byte header: type, 24-bit length), then SMB2 SESSION_SETUP
//! requests and responses, and SMB1 SESSION_SETUP_ANDX with extended
//! security. Their security buffers carry GSS-API/SPNEGO tokens wrapping
//! NTLMSSP: the server's CHALLENGE gives the challenge, the client's
//! AUTHENTICATE the user, domain, host and NetNTLMv2 response, handed to
//! [`ntlm`] for the hashcat 5600 (or 5500) line.
//!
//! The NTLMSSP message is found by its `NTLMSSP\0` signature inside the
//! security buffer rather than by parsing SPNEGO: the wrapping varies
//! (negTokenInit with a mechToken, negTokenResp with a responseToken, a raw
//! NTLMSSP blob, a mechListMIC after it) while the NTLMSSP message is
//! self-describing (its fields are offsets from its own start), and the
//! search is bounded by the security buffer's length. Kerberos tokens have
//! no such signature and are passed over.
//!
//! Other SMB messages (reads, writes, however large) are skipped without
//! being held.

use super::{ntlm, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SmbError {
    #[error("NetBIOS session message type {0:#04x} unknown")]
    Framing(u8),
    #[error("SMB2 session setup truncated or buffer outside it")]
    Smb2,
    #[error("SMB1 session setup truncated or blob outside it")]
    Smb1,
    #[error("not an SMB message")]
    NotSmb,
    #[error("NTLM message malformed")]
    Ntlm,
}

/// Messages larger than this are not session setups: skipped, not held.
const MAX_MESSAGE: usize = 64 * 1024;
const SMB2_SESSION_SETUP: u16 = 0x0001;
const SMB2_FLAGS_SERVER_TO_REDIR: u32 = 0x1;
const SMB2_HEADER: usize = 64;
const SMB1_SESSION_SETUP_ANDX: u8 = 0x73;
const SMB1_FLAGS2_EXTENDED_SECURITY: u16 = 0x0800;
const SMB1_FLAGS_REPLY: u8 = 0x80;
const SMB1_HEADER: usize = 32;

/// A client's first bytes: a NetBIOS session message holding an SMB1 or
/// SMB2 header.
pub fn looks_like(b: &[u8]) -> bool {
    matches!(b, [0, _, _, _, 0xfe | 0xff, b'S', b'M', b'B', ..])
}

use super::ntlm::{u16_at, u32_at};

/// The NTLMSSP message inside a security buffer, when there is one.
pub fn find_ntlmssp(buf: &[u8]) -> Option<&[u8]> {
    memchr::memmem::find(buf, b"NTLMSSP\0").map(|i| &buf[i..])
}

/// A session setup's SMB dialect (`SMB2`, `SMB1`), whether the server
/// sent it, and its security buffer.
pub type Setup<'a> = (&'static str, bool, &'a [u8]);

/// The security buffer of a session setup message; `Ok(None)` for every
/// other message.
pub fn security_buffer(msg: &[u8]) -> Result<Option<Setup<'_>>, SmbError> {
    match msg.get(..4) {
        Some(b"\xfeSMB") => {
            if u16_at(msg, 12) != Some(SMB2_SESSION_SETUP) {
                return Ok(None);
            }
            let flags = u32_at(msg, 16).ok_or(SmbError::Smb2)?;
            let reply = flags & SMB2_FLAGS_SERVER_TO_REDIR != 0;
            // Request: StructureSize 25, then the buffer's offset at 12 and
            // length at 14; response: StructureSize 9, offset 4, length 6.
            // Offsets count from the SMB2 header's start.
            let at = SMB2_HEADER + if reply { 4 } else { 12 };
            let off = u16_at(msg, at).ok_or(SmbError::Smb2)? as usize;
            let len = u16_at(msg, at + 2).ok_or(SmbError::Smb2)? as usize;
            if len == 0 {
                return Ok(Some(("SMB2", reply, &[])));
            }
            let buf = msg.get(off..off + len).ok_or(SmbError::Smb2)?;
            Ok(Some(("SMB2", reply, buf)))
        }
        Some(b"\xffSMB") => {
            if msg.get(4) != Some(&SMB1_SESSION_SETUP_ANDX) {
                return Ok(None);
            }
            let flags = *msg.get(9).ok_or(SmbError::Smb1)?;
            let flags2 = u16_at(msg, 10).ok_or(SmbError::Smb1)?;
            if flags2 & SMB1_FLAGS2_EXTENDED_SECURITY == 0 {
                // LM/NT responses without NTLMSSP: not read (yet).
                return Ok(None);
            }
            let reply = flags & SMB1_FLAGS_REPLY != 0;
            let words = *msg.get(SMB1_HEADER).ok_or(SmbError::Smb1)? as usize;
            let params = SMB1_HEADER + 1;
            // SecurityBlobLength: word 7 of a request (12 words), word 3 of
            // a response (4 words); the blob opens the data after ByteCount.
            let (need, at) = if reply { (4, 6) } else { (12, 14) };
            if words < need {
                // An error response carries no words: nothing to read.
                return Ok(None);
            }
            let len = u16_at(msg, params + at).ok_or(SmbError::Smb1)? as usize;
            let data = params + 2 * words + 2;
            let buf = msg.get(data..data + len).ok_or(SmbError::Smb1)?;
            Ok(Some(("SMB1", reply, buf)))
        }
        // SMB3 encrypted (transform header) and compressed messages:
        // after the session setup, nothing to read in them.
        Some(b"\xfdSMB" | b"\xfcSMB") => Ok(None),
        _ => Err(SmbError::NotSmb),
    }
}

/// One direction's framing state.
#[derive(Debug, Default)]
struct Reader {
    /// Bytes of a large message still to drop.
    skip: usize,
}

impl Reader {
    /// Complete NetBIOS session messages off the front of `buf`, each
    /// passed to `f`; what was read is removed.
    fn read(
        &mut self,
        buf: &mut Vec<u8>,
        mut f: impl FnMut(&[u8]) -> Result<(), SmbError>,
    ) -> Result<(), SmbError> {
        let mut at = 0;
        let r = loop {
            let b = &buf[at..];
            if self.skip > 0 {
                let n = self.skip.min(b.len());
                self.skip -= n;
                at += n;
                if self.skip > 0 || b.len() == n {
                    break Ok(());
                }
                continue;
            }
            let [kind, a, b1, c, ..] = *b else {
                break Ok(());
            };
            // 0x00 session message; 0x81-0x85: NetBIOS session request,
            // answers and keep-alive (port 139), with no SMB inside.
            if !matches!(kind, 0x00 | 0x81..=0x85) {
                break Err(SmbError::Framing(kind));
            }
            let len = u32::from_be_bytes([0, a, b1, c]) as usize;
            let total = 4 + len;
            if kind != 0 || len > MAX_MESSAGE {
                self.skip = total;
                continue;
            }
            if b.len() < total {
                break Ok(());
            }
            at += total;
            if let Err(e) = f(&b[4..total]) {
                break Err(e);
            }
        };
        buf.drain(..at.min(buf.len()));
        r
    }
}

/// Both directions of one SMB connection.
#[derive(Debug, Default)]
pub struct Smb {
    to_server: Reader,
    to_client: Reader,
    /// The last server challenge seen (CHALLENGE in a session setup
    /// response); the client's AUTHENTICATE answers it.
    challenge: Option<[u8; 8]>,
    /// The stream could not be read: the rest is dropped.
    broken: bool,
}

impl Smb {
    /// Bytes were lost in either direction: stop reading the flow.
    pub fn gap(&mut self) {
        self.broken = true;
    }

    /// Reads both directions (the server's first: its challenge precedes
    /// the answer) and removes what was read.
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, SmbError> {
        let mut hits = Vec::new();
        if self.broken {
            cs.clear();
            sc.clear();
            return Ok(hits);
        }
        let challenge = &mut self.challenge;
        let r = self.to_client.read(sc, |m| {
            if let Some((_, true, buf)) = security_buffer(m)? {
                if let Some(c) = find_ntlmssp(buf).and_then(ntlm::challenge) {
                    *challenge = Some(c);
                }
            }
            Ok(())
        });
        let r = r.and_then(|()| {
            self.to_server.read(cs, |m| {
                hits.extend(client_message(m, self.challenge)?);
                Ok(())
            })
        });
        if r.is_err() {
            // Unreadable from here: the framing is lost.
            self.broken = true;
            cs.clear();
            sc.clear();
        }
        r.map(|()| hits)
    }
}

/// The credential in one client message: a session setup request whose
/// NTLMSSP is an AUTHENTICATE.
pub fn client_message(m: &[u8], challenge: Option<[u8; 8]>) -> Result<Option<Hit>, SmbError> {
    let Some((dialect, false, buf)) = security_buffer(m)? else {
        return Ok(None);
    };
    let Some(msg) = find_ntlmssp(buf) else {
        return Ok(None);
    };
    let hit = ntlm::authenticate(Proto::Smb, msg, challenge).map_err(|_| SmbError::Ntlm)?;
    Ok(hit.map(|mut h| {
        h.detail = Some(format!(
            "{dialect} session setup: {}",
            h.detail.as_deref().unwrap_or("NTLM")
        ));
        h
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// An NTLMSSP AUTHENTICATE (Unicode) with an NTLMv2 response.
    fn type3(domain: &str, user: &str, host: &str) -> Vec<u8> {
        let mut nt = vec![0xaa; 16];
        nt.extend([1, 1, 0, 0, 0, 0, 0, 0, 0xbb, 0xbb, 0xbb, 0xbb]);
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend(3u32.to_le_bytes());
        let fields = [
            vec![0; 24],
            nt,
            utf16(domain),
            utf16(user),
            utf16(host),
            vec![],
        ];
        let mut off = 64u32;
        let mut data = Vec::new();
        for p in &fields {
            m.extend((p.len() as u16).to_le_bytes());
            m.extend((p.len() as u16).to_le_bytes());
            m.extend(off.to_le_bytes());
            off += p.len() as u32;
            data.extend_from_slice(p);
        }
        m.extend(1u32.to_le_bytes());
        m.extend(data);
        m
    }

    fn type2(c: &[u8; 8]) -> Vec<u8> {
        let mut m = b"NTLMSSP\0".to_vec();
        m.extend(2u32.to_le_bytes());
        m.extend([0; 12]);
        m.extend(c);
        m.extend([0; 16]);
        m
    }

    /// SPNEGO-like wrapping: some DER bytes before the NTLMSSP message and
    /// a MIC after it.
    fn wrapped(ntlm: &[u8]) -> Vec<u8> {
        let mut b = b"\xa1\x82\x01\x00\x30\x82\x00\xfc\xa2\x82\x00\xf8\x04\x82\x00\xf4".to_vec();
        b.extend(ntlm);
        b.extend(b"\xa3\x12\x04\x10mic-mic-mic-mic-");
        b
    }

    fn smb2(reply: bool, blob: &[u8]) -> Vec<u8> {
        let mut h = b"\xfeSMB".to_vec();
        h.extend(64u16.to_le_bytes());
        h.extend([0; 6]); // credit charge, status
        h.extend(SMB2_SESSION_SETUP.to_le_bytes());
        h.extend([0; 2]);
        h.extend((reply as u32).to_le_bytes());
        h.resize(SMB2_HEADER, 0);
        let off = if reply { 72u16 } else { 88 };
        if reply {
            h.extend(9u16.to_le_bytes());
            h.extend([0; 2]);
        } else {
            h.extend(25u16.to_le_bytes());
            h.extend([0; 10]);
        }
        h.extend(off.to_le_bytes());
        h.extend((blob.len() as u16).to_le_bytes());
        h.resize(off as usize, 0);
        h.extend(blob);
        netbios(&h)
    }

    fn smb1(reply: bool, blob: &[u8]) -> Vec<u8> {
        let mut h = b"\xffSMB".to_vec();
        h.push(SMB1_SESSION_SETUP_ANDX);
        h.extend([0; 4]);
        h.push(if reply { SMB1_FLAGS_REPLY } else { 0 });
        h.extend((SMB1_FLAGS2_EXTENDED_SECURITY | 0x8000).to_le_bytes());
        h.resize(SMB1_HEADER, 0);
        let words = if reply { 4 } else { 12 };
        h.push(words);
        let mut w = vec![0u8; 2 * words as usize];
        let at = if reply { 6 } else { 14 };
        w[at..at + 2].copy_from_slice(&(blob.len() as u16).to_le_bytes());
        h.extend(w);
        h.extend((blob.len() as u16).to_le_bytes());
        h.extend(blob);
        netbios(&h)
    }

    fn netbios(m: &[u8]) -> Vec<u8> {
        let n = m.len() as u32;
        let mut o = vec![0, (n >> 16) as u8, (n >> 8) as u8, n as u8];
        o.extend(m);
        o
    }

    #[test]
    fn smb2_challenge_then_authenticate_gives_a_5600_line() {
        let c = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        let mut s = Smb::default();
        let mut sc = smb2(true, &wrapped(&type2(&c)));
        // A large read response skipped in pieces, not held.
        let mut big = netbios(&vec![0; 200_000]);
        let mut cs = smb2(false, &wrapped(b"NTLMSSP\0\x01\0\0\0"));
        assert!(looks_like(&cs));
        assert_eq!(s.feed(&mut cs, &mut sc).unwrap(), vec![]);
        assert!(cs.is_empty() && sc.is_empty());
        let rest = big.split_off(70_000);
        assert_eq!(s.feed(&mut cs, &mut big).unwrap(), vec![]);
        assert!(big.is_empty());
        let mut rest2 = rest;
        let mut auth = smb2(false, &wrapped(&type3("LAB", "amy", "WS1")));
        // Split across segments: nothing until the message is whole.
        let tail = auth.split_off(40);
        assert_eq!(s.feed(&mut auth, &mut rest2).unwrap(), vec![]);
        auth.extend(tail);
        let hits = s.feed(&mut auth, &mut rest2).unwrap();
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!(h.proto, Proto::Smb);
        assert_eq!(h.user.as_deref(), Some(&b"amy"[..]));
        assert_eq!(
            h.detail.as_deref(),
            Some("SMB2 session setup: NTLM NetNTLMv2, domain LAB, host WS1")
        );
        let hash = h.hash.as_ref().unwrap();
        assert_eq!(hash.mode, Some(5600));
        assert!(
            hash.line.starts_with("amy::LAB:0102030405060708:"),
            "{}",
            hash.line
        );
    }

    #[test]
    fn smb1_extended_security_and_no_challenge() {
        let c = *b"ABCDEFGH";
        let mut s = Smb::default();
        let mut sc = smb1(true, &wrapped(&type2(&c)));
        let mut cs = smb1(false, &wrapped(&type3("D", "bob", "H")));
        let hits = s.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(hits.len(), 1);
        assert!(hits[0]
            .detail
            .as_deref()
            .unwrap()
            .starts_with("SMB1 session setup: NTLM NetNTLMv2"));
        assert!(hits[0]
            .hash
            .as_ref()
            .unwrap()
            .line
            .contains(":4142434445464748:"));
        // Without the server's side: the user, no line.
        let mut cs = smb2(false, &wrapped(&type3("D", "bob", "H")));
        let h = Smb::default()
            .feed(&mut cs, &mut Vec::new())
            .unwrap()
            .remove(0);
        assert!(h.hash.is_none());
        assert_eq!(
            h.detail.as_deref(),
            Some("SMB2 session setup: NTLM NetNTLMv2, challenge not seen, domain D, host H")
        );
    }

    #[test]
    fn malformed_messages_are_errors_and_stop_the_flow() {
        let mut bad = smb2(false, &wrapped(&type3("D", "u", "h")));
        // The security buffer's length past the message.
        bad[4 + 64 + 14] = 0xff;
        bad[4 + 64 + 15] = 0xff;
        let mut s = Smb::default();
        assert_eq!(s.feed(&mut bad, &mut Vec::new()), Err(SmbError::Smb2));
        let mut more = smb2(false, &wrapped(&type3("D", "u", "h")));
        assert_eq!(s.feed(&mut more, &mut Vec::new()), Ok(vec![]));
        assert!(more.is_empty(), "a broken flow holds nothing");
        let mut junk = b"\x42\0\0\x01x".to_vec();
        assert_eq!(
            Smb::default().feed(&mut junk, &mut Vec::new()),
            Err(SmbError::Framing(0x42))
        );
        let mut not_smb = netbios(b"HELLO WORLD");
        assert_eq!(
            Smb::default().feed(&mut not_smb, &mut Vec::new()),
            Err(SmbError::NotSmb)
        );
        let full = smb1(false, &wrapped(&type3("D", "u", "h")));
        for cut in 4..full.len() {
            let m = &full[4..cut];
            let _ = security_buffer(m);
            let _ = client_message(m, None);
        }
        // SMB3 encrypted and compressed messages are passed over.
        let mut enc = netbios(b"\xfdSMB encrypted bytes");
        enc.extend(netbios(b"\xfcSMB compressed bytes"));
        assert_eq!(Smb::default().feed(&mut enc, &mut Vec::new()), Ok(vec![]));
        // A NetBIOS keep-alive is skipped.
        let mut ka = b"\x85\0\0\0".to_vec();
        assert_eq!(Smb::default().feed(&mut ka, &mut Vec::new()), Ok(vec![]));
        assert!(!looks_like(b"\0\0\0\x08\x04\xd2\x16\x2f"));
    }
}
