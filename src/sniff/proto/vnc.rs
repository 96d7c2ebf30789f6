//! VNC (RFB 3.3, 3.7, 3.8) handshake: the ProtocolVersion each way, the
//! security type (3.3: the server's choice; 3.7 and later: the server's
//! list and the client's pick), and for VNC Authentication (type 2) the
//! server's 16-byte challenge, the client's 16-byte DES response and the
//! SecurityResult. The pair becomes a John the Ripper `vnc` line
//! (`$vnc$*CHALLENGE*RESPONSE`, hex; hashcat has no VNC mode); the detail
//! says the RFB version and whether the server accepted it. VeNCrypt (type
//! 19) is followed through its subtype choice: Plain (256) sends the user
//! and password in the clear (reported), VncAuth inside it is read as
//! above, and the TLS subtypes (and type 18, TLS) turn the flow into a TLS
//! session. None reports nothing. Nothing is read after the handshake (the
//! framebuffer).

use super::{printable, Crackable, Hit};
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VncError {
    #[error("protocol version malformed")]
    Version,
    #[error("failure reason longer than {MAX_REASON} bytes")]
    Reason,
    #[error("security result unknown")]
    Result,
    #[error("VeNCrypt Plain credentials longer than {MAX_REASON} bytes")]
    Plain,
}

/// A failure reason longer than this is not a handshake's.
const MAX_REASON: usize = 4096;
/// VNC Authentication.
const VNC_AUTH: u8 = 2;
/// TLS (the handshake starts at once) and VeNCrypt (subtypes follow).
const TLS: u8 = 18;
const VENCRYPT: u8 = 19;
/// VeNCrypt's Plain subtype: user and password in the clear.
const VENCRYPT_PLAIN: u32 = 256;

/// `RFB xxx.yyy\n`: the 12 bytes each side sends first.
fn version(b: &[u8]) -> Option<(u16, u16)> {
    let v = b.get(..12)?;
    let digits = |d: &[u8]| -> Option<u16> {
        d.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(d).ok()?.parse().ok())?
    };
    if &v[..4] != b"RFB " || v[7] != b'.' || v[11] != b'\n' {
        return None;
    }
    Some((digits(&v[4..7])?, digits(&v[8..11])?))
}

/// A server's first bytes: an RFB ProtocolVersion. `None`: too short to
/// tell yet (a prefix of one).
pub fn looks_like_banner(b: &[u8]) -> Option<bool> {
    if b.len() < 12 {
        let n = b.len().min(4);
        return if b[..n] == b"RFB "[..n] {
            None
        } else {
            Some(false)
        };
    }
    Some(version(b).is_some())
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    ServerVersion,
    ClientVersion,
    /// 3.3: the server's u32 type; 3.7+: its count and list.
    Security,
    /// 3.7+: the client's u8 pick.
    Choice,
    /// VeNCrypt: the server's version (2 bytes), the client's, then the
    /// server's status byte and subtype list, the client's u32 pick.
    VencServerVersion,
    VencClientVersion,
    VencTypes,
    VencChoice,
    /// VeNCrypt Plain: u32 user length, u32 password length, both.
    Plain,
    /// A TLS subtype: the server's byte saying it starts TLS.
    TlsAck,
    Challenge,
    Response,
    Result,
    /// TLS follows: the rest is left for the TLS parser.
    Tls,
    Done,
}

#[derive(Debug, Default)]
pub struct Vnc {
    stage: Stage,
    /// The version the client answered with (the one both speak).
    version: (u16, u16),
    challenge: [u8; 16],
    /// A finding whose SecurityResult was not read yet, and what it was
    /// (`VNC authentication`).
    pending: Option<(Hit, &'static str)>,
    /// TLS was agreed on: the rest of the flow is a TLS session.
    pub tls: bool,
}

/// One step's outcome: how many bytes it took, or that it needs more.
type Step = Result<Option<usize>, VncError>;

/// A length-prefixed failure reason at the front of `b`: (text, size).
fn reason(b: &[u8]) -> Result<Option<(&[u8], usize)>, VncError> {
    let Some(len) = b.get(..4) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
    if len > MAX_REASON {
        return Err(VncError::Reason);
    }
    Ok(b.get(4..4 + len).map(|r| (r, 4 + len)))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

impl Vnc {
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// 3.3 (and the 3.5 some clients claim) has the server choose the
    /// security type; 3.7 and later list them.
    fn lists_types(&self) -> bool {
        self.version >= (3, 7)
    }

    /// Reads both directions in protocol order and removes what was read
    /// (everything, once the handshake is over).
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, VncError> {
        let mut hits = Vec::new();
        let (mut c, mut s) = (0, 0);
        let r = loop {
            let client_turn = match self.stage {
                Stage::Done | Stage::Tls => break Ok(()),
                Stage::ClientVersion
                | Stage::Choice
                | Stage::VencClientVersion
                | Stage::VencChoice
                | Stage::Plain
                | Stage::Response => true,
                _ => false,
            };
            let buf = if client_turn { &cs[c..] } else { &sc[s..] };
            match self.step(buf, &mut hits) {
                Ok(Some(n)) if client_turn => c += n,
                Ok(Some(n)) => s += n,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        if r.is_err() {
            self.stage = Stage::Done;
        }
        if self.stage == Stage::Done {
            (c, s) = (cs.len(), sc.len());
        }
        // At Stage::Tls what is left (a ClientHello) is the TLS parser's.
        cs.drain(..c);
        sc.drain(..s);
        r.map(|()| hits)
    }

    fn step(&mut self, b: &[u8], hits: &mut Vec<Hit>) -> Step {
        match self.stage {
            Stage::ServerVersion | Stage::ClientVersion => {
                if b.len() < 12 {
                    return Ok(None);
                }
                let v = version(b).ok_or(VncError::Version)?;
                if self.stage == Stage::ServerVersion {
                    self.stage = Stage::ClientVersion;
                } else {
                    self.version = v;
                    self.stage = Stage::Security;
                }
                Ok(Some(12))
            }
            Stage::Security => self.security(b),
            Stage::Choice => {
                let Some(&t) = b.first() else {
                    return Ok(None);
                };
                self.stage = match t {
                    VNC_AUTH => Stage::Challenge,
                    VENCRYPT => Stage::VencServerVersion,
                    TLS => self.start_tls(),
                    _ => Stage::Done,
                };
                Ok(Some(1))
            }
            Stage::VencServerVersion | Stage::VencClientVersion => {
                let Some(v) = b.get(..2) else {
                    return Ok(None);
                };
                self.stage = match (self.stage, v) {
                    (Stage::VencServerVersion, _) => Stage::VencClientVersion,
                    // 0.2, the one in use; 0.1 (no status byte) not read.
                    (_, [0, 2]) => Stage::VencTypes,
                    _ => Stage::Done,
                };
                Ok(Some(2))
            }
            Stage::VencTypes => {
                let Some(&[status, count]) = b.get(..2) else {
                    return Ok(None);
                };
                let n = 2 + 4 * count as usize;
                if b.len() < n {
                    return Ok(None);
                }
                // A non-zero status: the server refused the version.
                self.stage = if status == 0 && count > 0 {
                    Stage::VencChoice
                } else {
                    Stage::Done
                };
                Ok(Some(n))
            }
            Stage::VencChoice => {
                let Some(t) = b.get(..4) else {
                    return Ok(None);
                };
                self.stage = match u32::from_be_bytes(t.try_into().expect("4 bytes")) {
                    2 => Stage::Challenge,
                    VENCRYPT_PLAIN => Stage::Plain,
                    // TLSNone, TLSVnc, TLSPlain, X509None, X509Vnc, X509Plain.
                    257..=262 => Stage::TlsAck,
                    _ => Stage::Done,
                };
                Ok(Some(4))
            }
            Stage::Plain => self.plain(b),
            Stage::TlsAck => {
                let Some(&ok) = b.first() else {
                    return Ok(None);
                };
                self.stage = if ok == 1 {
                    self.start_tls()
                } else {
                    Stage::Done
                };
                Ok(Some(1))
            }
            Stage::Challenge => {
                let Some(ch) = b.get(..16) else {
                    return Ok(None);
                };
                self.challenge.copy_from_slice(ch);
                self.stage = Stage::Response;
                Ok(Some(16))
            }
            Stage::Response => {
                let Some(resp) = b.get(..16) else {
                    return Ok(None);
                };
                let line = format!("$vnc$*{}*{}", hex(&self.challenge), hex(resp));
                let mut h = Hit::new(Proto::Vnc, None, None);
                h.hash = Some(Crackable::john("vnc", line));
                self.pending = Some((h, "VNC authentication"));
                self.stage = Stage::Result;
                Ok(Some(16))
            }
            Stage::Result => self.result(b, hits),
            Stage::Tls | Stage::Done => Ok(None),
        }
    }

    fn start_tls(&mut self) -> Stage {
        self.tls = true;
        Stage::Tls
    }

    /// VeNCrypt Plain: the user and the password, each after its length.
    fn plain(&mut self, b: &[u8]) -> Step {
        let Some(lens) = b.get(..8) else {
            return Ok(None);
        };
        let ulen = u32::from_be_bytes(lens[..4].try_into().expect("4 bytes")) as usize;
        let plen = u32::from_be_bytes(lens[4..].try_into().expect("4 bytes")) as usize;
        if ulen > MAX_REASON || plen > MAX_REASON {
            return Err(VncError::Plain);
        }
        let Some(creds) = b.get(8..8 + ulen + plen) else {
            return Ok(None);
        };
        let (user, password) = creds.split_at(ulen);
        let h = Hit::new(Proto::Vnc, Some(user), Some(password));
        self.pending = Some((h, "VeNCrypt Plain"));
        self.stage = Stage::Result;
        Ok(Some(8 + ulen + plen))
    }

    /// The server's security type (3.3) or list of them (3.7+); a failure
    /// (no type) carries a reason and ends the handshake.
    fn security(&mut self, b: &[u8]) -> Step {
        let (t, n) = if self.lists_types() {
            let Some(&count) = b.first() else {
                return Ok(None);
            };
            if count != 0 {
                // The client picks one of the list.
                if b.len() < 1 + count as usize {
                    return Ok(None);
                }
                self.stage = Stage::Choice;
                return Ok(Some(1 + count as usize));
            }
            (0, 1)
        } else {
            let Some(t) = b.get(..4) else {
                return Ok(None);
            };
            (u32::from_be_bytes(t.try_into().expect("4 bytes")), 4)
        };
        match t {
            0 => {
                // The connection was refused before authentication.
                let Some((_, len)) = reason(&b[n..])? else {
                    return Ok(None);
                };
                self.stage = Stage::Done;
                Ok(Some(n + len))
            }
            2 => {
                self.stage = Stage::Challenge;
                Ok(Some(n))
            }
            _ => {
                self.stage = Stage::Done;
                Ok(Some(n))
            }
        }
    }

    /// SecurityResult: 0 accepted, 1 failed (3.8: with a reason), 2 too
    /// many attempts (some 3.3 servers).
    fn result(&mut self, b: &[u8], hits: &mut Vec<Hit>) -> Step {
        let Some(r) = b.get(..4) else {
            return Ok(None);
        };
        let (outcome, n) = match u32::from_be_bytes(r.try_into().expect("4 bytes")) {
            0 => ("accepted".to_string(), 4),
            1 if self.version >= (3, 8) => {
                let Some((why, len)) = reason(&b[4..])? else {
                    return Ok(None);
                };
                let why = printable(why);
                if why.is_empty() {
                    ("failed".to_string(), 4 + len)
                } else {
                    (format!("failed: {why}"), 4 + len)
                }
            }
            1 => ("failed".to_string(), 4),
            2 => ("failed: too many attempts".to_string(), 4),
            _ => return Err(VncError::Result),
        };
        hits.extend(self.hit(&outcome));
        self.stage = Stage::Done;
        Ok(Some(n))
    }

    fn hit(&mut self, outcome: &str) -> Option<Hit> {
        let (mut h, what) = self.pending.take()?;
        let (major, minor) = self.version;
        h.detail = Some(format!("RFB {major}.{minor}, {what} {outcome}"));
        Some(h)
    }

    /// A gap in either direction: the rest cannot be framed; a response
    /// already read is kept for [`Vnc::finish`].
    pub fn gap(&mut self) {
        self.stage = Stage::Done;
    }

    /// At the flow's end: a response whose SecurityResult was never seen.
    pub fn finish(&mut self) -> Option<Hit> {
        self.hit("(result not seen)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// John the Ripper's own test vector (its password is `openwall`).
    const CHALLENGE: [u8; 16] = [
        0xAD, 0xDC, 0x02, 0x1F, 0x44, 0x4F, 0x99, 0x9B, 0x8E, 0x27, 0x14, 0x4C, 0x0D, 0xCE, 0x73,
        0x89,
    ];
    const RESPONSE: [u8; 16] = [
        0xAF, 0xAF, 0x1B, 0xB5, 0x75, 0x88, 0x78, 0x43, 0x33, 0x96, 0x2A, 0x12, 0x46, 0x68, 0xA2,
        0xC6,
    ];
    const LINE: &str = "$vnc$*ADDC021F444F999B8E27144C0DCE7389*AFAF1BB57588784333962A124668A2C6";

    /// Both directions of a 3.8 (or 3.7) handshake, up to the result.
    fn v38(minor: u8, result: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let banner = format!("RFB 003.00{minor}\n");
        let mut sc = banner.clone().into_bytes();
        sc.extend([2, 19, 2]);
        sc.extend(CHALLENGE);
        sc.extend(result);
        let mut cs = banner.into_bytes();
        cs.push(2);
        cs.extend(RESPONSE);
        (cs, sc)
    }

    fn one(hits: Vec<Hit>) -> Hit {
        assert_eq!(hits.len(), 1, "{hits:?}");
        hits.into_iter().next().unwrap()
    }

    #[test]
    fn rfb_38_accepted() {
        let (mut cs, mut sc) = v38(8, &[0, 0, 0, 0]);
        // The framebuffer's first bytes follow: not read.
        sc.extend(b"\x04\x00\x03\x00");
        let mut v = Vnc::default();
        let h = one(v.feed(&mut cs, &mut sc).unwrap());
        assert_eq!(h.proto, Proto::Vnc);
        assert_eq!((h.user, h.password), (None, None));
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.8, VNC authentication accepted")
        );
        assert_eq!(h.hash, Some(Crackable::john("vnc", LINE.into())));
        assert!(v.done() && cs.is_empty() && sc.is_empty());
        assert_eq!(v.finish(), None, "reported once");
    }

    #[test]
    fn rfb_38_failed_with_its_reason() {
        let mut result = vec![0, 0, 0, 1, 0, 0, 0, 22];
        result.extend(b"Authentication failure");
        let (mut cs, mut sc) = v38(8, &result);
        let h = one(Vnc::default().feed(&mut cs, &mut sc).unwrap());
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.8, VNC authentication failed: Authentication failure")
        );
    }

    #[test]
    fn rfb_37_failure_has_no_reason() {
        let (mut cs, mut sc) = v38(7, &[0, 0, 0, 1]);
        let h = one(Vnc::default().feed(&mut cs, &mut sc).unwrap());
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.7, VNC authentication failed")
        );
    }

    #[test]
    fn rfb_33_server_chooses_and_a_38_server_is_answered_in_33() {
        // The server offers 3.8, the client speaks 3.3: the server then
        // sends one u32 type and the client picks nothing.
        let mut sc = b"RFB 003.008\n\0\0\0\x02".to_vec();
        sc.extend(CHALLENGE);
        sc.extend([0, 0, 0, 0]);
        let mut cs = b"RFB 003.003\n".to_vec();
        cs.extend(RESPONSE);
        let h = one(Vnc::default().feed(&mut cs, &mut sc).unwrap());
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.3, VNC authentication accepted")
        );
        assert_eq!(h.hash.unwrap().line, LINE);
    }

    #[test]
    fn split_at_every_byte_gives_the_same_finding() {
        let (cs, sc) = v38(8, &[0, 0, 0, 0]);
        for at in 0..cs.len().max(sc.len()) {
            let mut v = Vnc::default();
            let (mut c, mut s) = (Vec::new(), Vec::new());
            let mut hits = Vec::new();
            // First pieces of both, then the rest, in two calls.
            c.extend(&cs[..at.min(cs.len())]);
            s.extend(&sc[..at.min(sc.len())]);
            hits.extend(v.feed(&mut c, &mut s).unwrap());
            c.extend(&cs[at.min(cs.len())..]);
            s.extend(&sc[at.min(sc.len())..]);
            hits.extend(v.feed(&mut c, &mut s).unwrap());
            assert_eq!(one(hits).hash.unwrap().line, LINE, "split at {at}");
        }
    }

    #[test]
    fn truncated_before_the_result_is_reported_at_the_end() {
        let (mut cs, sc) = v38(8, &[]);
        let mut sc = sc[..sc.len() - 3].to_vec();
        let mut v = Vnc::default();
        // Challenge incomplete: nothing yet, nothing at the end.
        assert!(v.feed(&mut cs, &mut sc).unwrap().is_empty());
        let mut w = Vnc::default();
        let (mut cs, mut sc) = v38(8, &[0, 0]);
        assert!(w.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert_eq!(v.finish(), None);
        let h = w.finish().unwrap();
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.8, VNC authentication (result not seen)")
        );
        assert_eq!(h.hash.unwrap().line, LINE);
    }

    /// A 3.8 handshake that picks VeNCrypt and then `subtype`.
    fn vencrypt(subtype: u32) -> (Vec<u8>, Vec<u8>) {
        let mut sc = b"RFB 003.008\n\x02\x13\x02\x00\x02\x00\x03".to_vec();
        for t in [258u32, 256, 2] {
            sc.extend(t.to_be_bytes());
        }
        let mut cs = b"RFB 003.008\n\x13\x00\x02".to_vec();
        cs.extend(subtype.to_be_bytes());
        (cs, sc)
    }

    #[test]
    fn vencrypt_plain_is_cleartext() {
        let (mut cs, mut sc) = vencrypt(256);
        cs.extend([0, 0, 0, 3, 0, 0, 0, 6]);
        cs.extend(b"amys3cr3t!");
        let mut v = Vnc::default();
        assert!(v.feed(&mut cs, &mut sc).unwrap().is_empty(), "result first");
        sc.extend([0, 0, 0, 0]);
        let h = one(v.feed(&mut cs, &mut sc).unwrap());
        assert_eq!(h.user.as_deref(), Some(&b"amy"[..]));
        assert_eq!(h.password.as_deref(), Some(&b"s3cr3t"[..]));
        assert_eq!(h.hash, None);
        assert_eq!(
            h.detail.as_deref(),
            Some("RFB 3.8, VeNCrypt Plain accepted")
        );
        // VncAuth as a VeNCrypt subtype: the challenge follows in clear.
        let (mut cs, mut sc) = vencrypt(2);
        sc.extend(CHALLENGE);
        sc.extend([0, 0, 0, 0]);
        cs.extend(RESPONSE);
        let h = one(Vnc::default().feed(&mut cs, &mut sc).unwrap());
        assert_eq!(h.hash.unwrap().line, LINE);
    }

    #[test]
    fn vencrypt_tls_leaves_the_client_hello_to_the_tls_parser() {
        let (mut cs, mut sc) = vencrypt(258);
        sc.push(1);
        cs.extend(b"\x16\x03\x01\x00\xc5\x01");
        let mut v = Vnc::default();
        assert!(v.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(v.tls);
        assert_eq!(cs, b"\x16\x03\x01\x00\xc5\x01");
        assert!(sc.is_empty());
        // Plain RFB type 18: TLS at once.
        let mut sc = b"RFB 003.008\n\x01\x12".to_vec();
        let mut cs = b"RFB 003.008\n\x12\x16\x03".to_vec();
        let mut v = Vnc::default();
        v.feed(&mut cs, &mut sc).unwrap();
        assert!(v.tls && cs == b"\x16\x03");
    }

    #[test]
    fn other_security_types_report_nothing() {
        // None chosen (3.8), and a 3.3 server refusing with a reason.
        let mut sc = b"RFB 003.008\n\x01\x01".to_vec();
        let mut cs = b"RFB 003.008\n\x01".to_vec();
        let mut v = Vnc::default();
        assert!(v.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(v.done());
        let mut sc = b"RFB 003.003\n\0\0\0\0\0\0\0\x04busy".to_vec();
        let mut cs = b"RFB 003.003\n".to_vec();
        let mut v = Vnc::default();
        assert!(v.feed(&mut cs, &mut sc).unwrap().is_empty());
        assert!(v.done() && sc.is_empty());
    }

    #[test]
    fn malformed_is_an_error() {
        let mut v = Vnc::default();
        let mut sc = b"RFB 003.00x\n".to_vec();
        assert_eq!(v.feed(&mut Vec::new(), &mut sc), Err(VncError::Version));
        assert!(v.done());
        let (mut cs, mut sc) = v38(8, &[0, 0, 0, 9]);
        assert_eq!(Vnc::default().feed(&mut cs, &mut sc), Err(VncError::Result));
        let (mut cs, mut sc) = v38(8, &[0, 0, 0, 1, 0xff, 0, 0, 0]);
        assert_eq!(Vnc::default().feed(&mut cs, &mut sc), Err(VncError::Reason));
    }

    #[test]
    fn banner() {
        assert_eq!(looks_like_banner(b"RFB 003.008\n"), Some(true));
        assert_eq!(looks_like_banner(b"RFB 003.889\n\x01"), Some(true));
        assert_eq!(looks_like_banner(b"RFB 00"), None);
        assert_eq!(looks_like_banner(b"RF"), None);
        assert_eq!(looks_like_banner(b"220 ftp\r\n"), Some(false));
        assert_eq!(looks_like_banner(b"RFB 003.008\r\n"), Some(false));
    }
}
