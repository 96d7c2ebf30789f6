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
//! The AUTHENTICATE's finding waits for the server's answer to it (the
//! session setup response with the request's MessageId, SMB1: MID): its
//! status says whether the login was accepted (`STATUS_SUCCESS`, as a
//! guest when the server says so) or rejected (`STATUS_LOGON_FAILURE`
//! and the like, named in the detail); a finding whose answer was never
//! seen is reported at the flow's end with `(result not seen)`.
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
const SMB1_FLAGS2_NT_STATUS: u16 = 0x4000;
const SMB2_FLAGS_ASYNC: u32 = 0x2;
const SMB2_SESSION_FLAG_IS_GUEST: u16 = 0x1;
const SMB2_SESSION_FLAG_IS_NULL: u16 = 0x2;
const STATUS_SUCCESS: u32 = 0;
/// An interim answer (SMB2 async): the final one follows.
const STATUS_PENDING: u32 = 0x0000_0103;
/// The session setup goes on: the answer to a NEGOTIATE (with the
/// CHALLENGE), not a verdict.
const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
/// AUTHENTICATEs (and early answers) held per flow; past it the oldest
/// is given up.
const MAX_HELD: usize = 16;

/// The names of the NT statuses a session setup is refused with.
fn status_name(status: u32) -> Option<&'static str> {
    Some(match status {
        0xC000_000D => "STATUS_INVALID_PARAMETER",
        0xC000_0022 => "STATUS_ACCESS_DENIED",
        0xC000_0064 => "STATUS_NO_SUCH_USER",
        0xC000_006A => "STATUS_WRONG_PASSWORD",
        0xC000_006D => "STATUS_LOGON_FAILURE",
        0xC000_006E => "STATUS_ACCOUNT_RESTRICTION",
        0xC000_006F => "STATUS_INVALID_LOGON_HOURS",
        0xC000_0070 => "STATUS_INVALID_WORKSTATION",
        0xC000_0071 => "STATUS_PASSWORD_EXPIRED",
        0xC000_0072 => "STATUS_ACCOUNT_DISABLED",
        0xC000_009A => "STATUS_INSUFFICIENT_RESOURCES",
        0xC000_00BB => "STATUS_NOT_SUPPORTED",
        0xC000_015B => "STATUS_LOGON_TYPE_NOT_GRANTED",
        0xC000_0193 => "STATUS_ACCOUNT_EXPIRED",
        0xC000_0203 => "STATUS_USER_SESSION_DELETED",
        0xC000_0224 => "STATUS_PASSWORD_MUST_CHANGE",
        0xC000_0234 => "STATUS_ACCOUNT_LOCKED_OUT",
        0xC000_035C => "STATUS_NETWORK_SESSION_EXPIRED",
        _ => return None,
    })
}

/// A session setup request and its response are paired by this: the
/// dialect (SMB1 or not) and the MessageId (SMB1: the MID).
type MessageKey = (bool, u64);

/// The MessageId of an SMB2 message, the MID of an SMB1 one.
fn message_key(msg: &[u8]) -> Option<MessageKey> {
    match msg.get(..4)? {
        b"\xfeSMB" => Some((false, u64::from_le_bytes(msg.get(24..32)?.try_into().ok()?))),
        b"\xffSMB" => Some((true, u16_at(msg, 30)? as u64)),
        _ => None,
    }
}

/// A session setup response's verdict on the request it answers:
/// `Some((key, outcome))` for a final one (`accepted`, `rejected
/// (STATUS_LOGON_FAILURE)`); `None` for other messages and for answers
/// that are not final (more processing required, pending).
pub fn setup_outcome(msg: &[u8]) -> Option<(MessageKey, String)> {
    let key = message_key(msg)?;
    let (status, guest, null) = if key.0 {
        if *msg.get(4)? != SMB1_SESSION_SETUP_ANDX || msg.get(9)? & SMB1_FLAGS_REPLY == 0 {
            return None;
        }
        let flags2 = u16_at(msg, 10)?;
        let status = if flags2 & SMB1_FLAGS2_NT_STATUS != 0 {
            u32_at(msg, 5)?
        } else {
            // A DOS error: class (byte 5, 0 for success) and code.
            let (class, code) = (*msg.get(5)?, u16_at(msg, 7)?);
            if class != 0 {
                return Some((key, format!("rejected (DOS error {class}/{code})")));
            }
            STATUS_SUCCESS
        };
        // Action (word 2 of the response): bit 0, logged in as guest.
        let words = *msg.get(SMB1_HEADER)?;
        let action = if words >= 3 {
            u16_at(msg, SMB1_HEADER + 1 + 4)?
        } else {
            0
        };
        (status, action & 1 != 0, false)
    } else {
        if u16_at(msg, 12)? != SMB2_SESSION_SETUP {
            return None;
        }
        let flags = u32_at(msg, 16)?;
        if flags & SMB2_FLAGS_SERVER_TO_REDIR == 0 {
            return None;
        }
        let status = u32_at(msg, 8)?;
        if status == STATUS_PENDING && flags & SMB2_FLAGS_ASYNC != 0 {
            return None;
        }
        let session = u16_at(msg, SMB2_HEADER + 2).unwrap_or(0);
        (
            status,
            session & SMB2_SESSION_FLAG_IS_GUEST != 0,
            session & SMB2_SESSION_FLAG_IS_NULL != 0,
        )
    };
    let outcome = match status {
        STATUS_MORE_PROCESSING_REQUIRED | STATUS_PENDING => return None,
        STATUS_SUCCESS if null => "accepted as anonymous".to_string(),
        STATUS_SUCCESS if guest => "accepted as guest".to_string(),
        STATUS_SUCCESS => "accepted".to_string(),
        s => match status_name(s) {
            Some(n) => format!("rejected ({n})"),
            None => format!("rejected (status {s:#010X})"),
        },
    };
    Some((key, outcome))
}

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
    /// AUTHENTICATE findings waiting for the response to their request.
    pending: Vec<(MessageKey, Hit)>,
    /// Verdicts read before their request (both directions arrive in
    /// one call and the server's is read first).
    early: Vec<(MessageKey, String)>,
    /// The stream could not be read: the rest is dropped.
    broken: bool,
}

impl Smb {
    /// Bytes were lost in either direction: stop reading the flow (an
    /// AUTHENTICATE already read is kept for [`Smb::finish`]).
    pub fn gap(&mut self) {
        self.broken = true;
    }

    /// At the flow's end: the AUTHENTICATEs whose answer was never seen.
    pub fn finish(&mut self) -> Vec<Hit> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(_, h)| h.with_outcome("(result not seen)"))
            .collect()
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
        let Smb {
            to_server,
            to_client,
            challenge,
            pending,
            early,
            ..
        } = self;
        let r = to_client.read(sc, |m| {
            if let Some((_, true, buf)) = security_buffer(m)? {
                if let Some(c) = find_ntlmssp(buf).and_then(ntlm::challenge) {
                    *challenge = Some(c);
                }
            }
            if let Some((key, outcome)) = setup_outcome(m) {
                match pending.iter().position(|(k, _)| *k == key) {
                    Some(i) => hits.push(pending.remove(i).1.with_outcome(&outcome)),
                    None => {
                        if early.len() >= MAX_HELD {
                            early.remove(0);
                        }
                        early.push((key, outcome));
                    }
                }
            }
            Ok(())
        });
        let r = r.and_then(|()| {
            to_server.read(cs, |m| {
                let Some(h) = client_message(m, *challenge)? else {
                    return Ok(());
                };
                let Some(key) = message_key(m) else {
                    return Ok(());
                };
                if let Some(i) = early.iter().position(|(k, _)| *k == key) {
                    hits.push(h.with_outcome(&early.remove(i).1));
                    return Ok(());
                }
                if pending.len() >= MAX_HELD {
                    let (_, old) = pending.remove(0);
                    hits.push(old.with_outcome("(result not seen)"));
                }
                // A request with the MessageId of one still waiting (a
                // client's retry): the first's answer will not come.
                if let Some(i) = pending.iter().position(|(k, _)| *k == key) {
                    let (_, old) = pending.remove(i);
                    hits.push(old.with_outcome("(result not seen)"));
                }
                pending.push((key, h));
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

    /// An SMB2 session setup: a request, or a response whose status says
    /// more processing is required (the answer carrying a CHALLENGE).
    fn smb2(reply: bool, blob: &[u8]) -> Vec<u8> {
        let status = if reply {
            STATUS_MORE_PROCESSING_REQUIRED
        } else {
            0
        };
        smb2_at(reply, 0, status, 0, blob)
    }

    /// An SMB2 session setup with this MessageId, status and (response)
    /// SessionFlags.
    fn smb2_at(reply: bool, id: u64, status: u32, session: u16, blob: &[u8]) -> Vec<u8> {
        let mut h = b"\xfeSMB".to_vec();
        h.extend(64u16.to_le_bytes());
        h.extend([0; 2]); // credit charge
        h.extend(status.to_le_bytes());
        h.extend(SMB2_SESSION_SETUP.to_le_bytes());
        h.extend([0; 2]);
        h.extend((reply as u32).to_le_bytes());
        h.extend([0; 4]); // next command
        h.extend(id.to_le_bytes());
        h.resize(SMB2_HEADER, 0);
        let off = if reply { 72u16 } else { 88 };
        if reply {
            h.extend(9u16.to_le_bytes());
            h.extend(session.to_le_bytes());
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
        let status = if reply {
            STATUS_MORE_PROCESSING_REQUIRED
        } else {
            0
        };
        smb1_at(reply, 0, status, 0, blob)
    }

    /// An SMB1 SESSION_SETUP_ANDX (NT status) with this MID, status and
    /// (response) Action.
    fn smb1_at(reply: bool, mid: u16, status: u32, action: u16, blob: &[u8]) -> Vec<u8> {
        let mut h = b"\xffSMB".to_vec();
        h.push(SMB1_SESSION_SETUP_ANDX);
        h.extend(status.to_le_bytes());
        h.push(if reply { SMB1_FLAGS_REPLY } else { 0 });
        h.extend((SMB1_FLAGS2_EXTENDED_SECURITY | SMB1_FLAGS2_NT_STATUS | 0x8000).to_le_bytes());
        h.resize(30, 0);
        h.extend(mid.to_le_bytes());
        let words = if reply { 4 } else { 12 };
        h.push(words);
        let mut w = vec![0u8; 2 * words as usize];
        if reply {
            w[4..6].copy_from_slice(&action.to_le_bytes());
        }
        let at = if reply { 6 } else { 14 };
        w[at..at + 2].copy_from_slice(&(blob.len() as u16).to_le_bytes());
        h.extend(w);
        h.extend((blob.len() as u16).to_le_bytes());
        h.extend(blob);
        netbios(&h)
    }

    /// An SMB1 error response: no words, no bytes.
    fn smb1_error(mid: u16, status: u32) -> Vec<u8> {
        let mut h = b"\xffSMB".to_vec();
        h.push(SMB1_SESSION_SETUP_ANDX);
        h.extend(status.to_le_bytes());
        h.push(SMB1_FLAGS_REPLY);
        h.extend((SMB1_FLAGS2_EXTENDED_SECURITY | SMB1_FLAGS2_NT_STATUS).to_le_bytes());
        h.resize(30, 0);
        h.extend(mid.to_le_bytes());
        h.extend([0, 0, 0]);
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
        // Held until the server's answer.
        assert_eq!(s.feed(&mut auth, &mut rest2).unwrap(), vec![]);
        let mut ok = smb2_at(true, 0, STATUS_SUCCESS, 0, &[]);
        let hits = s.feed(&mut Vec::new(), &mut ok).unwrap();
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!(h.proto, Proto::Smb);
        assert_eq!(h.user.as_deref(), Some(&b"amy"[..]));
        assert_eq!(
            h.detail.as_deref(),
            Some("SMB2 session setup: NTLM NetNTLMv2, domain LAB, host WS1, accepted")
        );
        assert_eq!(s.finish(), vec![], "reported once");
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
        assert_eq!(s.feed(&mut cs, &mut sc).unwrap(), vec![]);
        // The flow ends before the answer.
        let hits = s.finish();
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].detail.as_deref(),
            Some("SMB1 session setup: NTLM NetNTLMv2, domain D, host H, (result not seen)")
        );
        assert!(hits[0]
            .hash
            .as_ref()
            .unwrap()
            .line
            .contains(":4142434445464748:"));
        // Without the server's side: the user, no line.
        let mut cs = smb2(false, &wrapped(&type3("D", "bob", "H")));
        let mut s = Smb::default();
        assert_eq!(s.feed(&mut cs, &mut Vec::new()).unwrap(), vec![]);
        let h = s.finish().remove(0);
        assert!(h.hash.is_none());
        assert_eq!(
            h.detail.as_deref(),
            Some("SMB2 session setup: NTLM NetNTLMv2, challenge not seen, domain D, host H, (result not seen)")
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

    /// The detail of the one finding of an SMB2 AUTHENTICATE (MessageId
    /// 2) answered by `answer`, both directions in one call.
    fn smb2_verdict(answer: &[u8]) -> Vec<String> {
        let c = *b"\x01\x02\x03\x04\x05\x06\x07\x08";
        let mut s = Smb::default();
        let mut cs = smb2_at(false, 1, 0, 0, &wrapped(b"NTLMSSP\0\x01\0\0\0"));
        let mut sc = smb2_at(
            true,
            1,
            STATUS_MORE_PROCESSING_REQUIRED,
            0,
            &wrapped(&type2(&c)),
        );
        assert_eq!(s.feed(&mut cs, &mut sc).unwrap(), vec![]);
        let mut cs = smb2_at(false, 2, 0, 0, &wrapped(&type3("LAB", "amy", "WS1")));
        let mut sc = answer.to_vec();
        let mut hits = s.feed(&mut cs, &mut sc).unwrap();
        hits.extend(s.finish());
        hits.into_iter().map(|h| h.detail.unwrap()).collect()
    }

    #[test]
    fn smb2_verdicts_accepted_guest_rejected_and_not_seen() {
        let d = |o: &str| {
            vec![format!(
                "SMB2 session setup: NTLM NetNTLMv2, domain LAB, host WS1, {o}"
            )]
        };
        assert_eq!(smb2_verdict(&smb2_at(true, 2, 0, 0, &[])), d("accepted"));
        assert_eq!(
            smb2_verdict(&smb2_at(true, 2, 0, SMB2_SESSION_FLAG_IS_GUEST, &[])),
            d("accepted as guest")
        );
        assert_eq!(
            smb2_verdict(&smb2_at(true, 2, 0xC000_006D, 0, &[])),
            d("rejected (STATUS_LOGON_FAILURE)")
        );
        assert_eq!(
            smb2_verdict(&smb2_at(true, 2, 0xC000_0234, 0, &[])),
            d("rejected (STATUS_ACCOUNT_LOCKED_OUT)")
        );
        assert_eq!(
            smb2_verdict(&smb2_at(true, 2, 0xC012_3456, 0, &[])),
            d("rejected (status 0xC0123456)")
        );
        // The answer to another request, an interim one, none at all.
        assert_eq!(
            smb2_verdict(&smb2_at(true, 7, 0xC000_006D, 0, &[])),
            d("(result not seen)")
        );
        let mut interim = smb2_at(true, 2, STATUS_PENDING, 0, &[]);
        interim[4 + 16] |= SMB2_FLAGS_ASYNC as u8;
        assert_eq!(smb2_verdict(&interim), d("(result not seen)"));
        assert_eq!(smb2_verdict(&[]), d("(result not seen)"));
    }

    #[test]
    fn smb1_verdicts_by_mid() {
        let c = *b"ABCDEFGH";
        let auth = || smb1_at(false, 5, 0, 0, &wrapped(&type3("D", "bob", "H")));
        let verdict = |answer: Vec<u8>| {
            let mut s = Smb::default();
            let mut sc = smb1(true, &wrapped(&type2(&c)));
            let mut hits = s.feed(&mut auth(), &mut sc).unwrap();
            assert_eq!(hits, vec![]);
            hits = s.feed(&mut Vec::new(), &mut answer.clone()).unwrap();
            hits.extend(s.finish());
            assert_eq!(hits.len(), 1);
            hits.remove(0).detail.unwrap()
        };
        let d = |o: &str| format!("SMB1 session setup: NTLM NetNTLMv2, domain D, host H, {o}");
        assert_eq!(verdict(smb1_at(true, 5, 0, 0, &[])), d("accepted"));
        assert_eq!(verdict(smb1_at(true, 5, 0, 1, &[])), d("accepted as guest"));
        assert_eq!(
            verdict(smb1_error(5, 0xC000_006D)),
            d("rejected (STATUS_LOGON_FAILURE)")
        );
        assert_eq!(verdict(smb1_error(6, 0xC000_006D)), d("(result not seen)"));
        // A DOS error (no NT status flag): class 1 (ERRDOS), code 5.
        let mut dos = smb1_error(5, 0);
        dos[4 + 5] = 1;
        dos[4 + 7] = 5;
        dos[4 + 10] &= !(SMB1_FLAGS2_NT_STATUS as u8);
        dos[4 + 11] &= !((SMB1_FLAGS2_NT_STATUS >> 8) as u8);
        assert_eq!(verdict(dos), d("rejected (DOS error 1/5)"));
    }

    #[test]
    fn an_answer_read_before_its_request_and_after_a_gap() {
        // Both in one call: the server's side is read first.
        let mut s = Smb::default();
        let mut cs = smb2_at(false, 3, 0, 0, &wrapped(&type3("D", "u", "h")));
        let mut sc = smb2_at(true, 3, 0xC000_006D, 0, &[]);
        let hits = s.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(hits.len(), 1);
        assert!(hits[0]
            .detail
            .as_deref()
            .unwrap()
            .ends_with(", rejected (STATUS_LOGON_FAILURE)"));
        // A gap after the AUTHENTICATE: reported at the end.
        let mut s = Smb::default();
        let mut cs = smb2_at(false, 3, 0, 0, &wrapped(&type3("D", "u", "h")));
        assert_eq!(s.feed(&mut cs, &mut Vec::new()).unwrap(), vec![]);
        s.gap();
        let mut sc = smb2_at(true, 3, 0, 0, &[]);
        assert_eq!(s.feed(&mut Vec::new(), &mut sc).unwrap(), vec![]);
        let hits = s.finish();
        assert_eq!(hits.len(), 1);
        assert!(hits[0]
            .detail
            .as_deref()
            .unwrap()
            .ends_with(", (result not seen)"));
        // Held AUTHENTICATEs are bounded: the oldest given up.
        let mut s = Smb::default();
        let mut given_up = Vec::new();
        for id in 0..MAX_HELD as u64 + 2 {
            let mut cs = smb2_at(false, 100 + id, 0, 0, &wrapped(&type3("D", "u", "h")));
            given_up.extend(s.feed(&mut cs, &mut Vec::new()).unwrap());
        }
        assert_eq!(given_up.len(), 2);
        assert_eq!(s.finish().len(), MAX_HELD);
    }
}
