//! MSSQL's TDS 7.x login: TDS packets (8-byte header, a message ends with
//! the EOM status bit), the PRELOGIN exchange (its ENCRYPTION option each
//! way) and the client's LOGIN7: user, host, application, server name,
//! database, and the password, which is only obfuscated (each byte's
//! nibbles swapped, then XOR 0xA5; UTF-16LE): decoded. When the server's
//! PRELOGIN answer turns encryption on, LOGIN7 travels in TLS: that is
//! reported (no password). An integrated (SSPI) login is reported without
//! a password. The LOGIN7 finding waits for the server's answer: a
//! LOGINACK token (the detail ends `accepted`) or an ERROR token (`failed:
//! MESSAGE`, e.g. 18456's "Login failed for user"); one whose answer never
//! came (or held neither) is reported at the flow's end with `(result not
//! seen)`. Nothing is read after that answer.

use super::Hit;
use crate::sniff::finding::Proto;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TdsError {
    #[error("packet length below its header")]
    Header,
    #[error("message longer than {MAX_MESSAGE} bytes in the login phase")]
    TooLong,
    #[error("PRELOGIN malformed")]
    Prelogin,
    #[error("LOGIN7 malformed")]
    Login,
}

/// LOGIN7 is at most 128K-1 bytes (MS-TDS 2.2.6.4); PRELOGIN far less.
const MAX_MESSAGE: usize = 128 * 1024;
const PRELOGIN: u8 = 0x12;
const LOGIN7: u8 = 0x10;
const RESPONSE: u8 = 0x04;
/// The PRELOGIN option that negotiates TLS, and its values.
const ENCRYPTION: u8 = 0x01;
const ENCRYPT_OFF: u8 = 0;
const ENCRYPT_NOT_SUP: u8 = 2;

/// A client's first bytes: a TDS PRELOGIN (whose first option is VERSION)
/// or a LOGIN7 sent without one, in a packet of sane length.
pub fn looks_like(b: &[u8]) -> bool {
    if b.len() < 9 || b[1] > 1 || b[7] != 0 {
        return false;
    }
    let len = u16::from_be_bytes([b[2], b[3]]) as usize;
    if !(9..=32768).contains(&len) {
        return false;
    }
    match b[0] {
        PRELOGIN => b[8] == 0,
        LOGIN7 => b.get(8..12).is_some_and(|l| {
            let n = u32::from_le_bytes(l.try_into().expect("4 bytes")) as usize;
            (94..MAX_MESSAGE).contains(&n)
        }),
        _ => false,
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    ClientPrelogin,
    ServerPrelogin,
    Login,
    /// The server's answer to LOGIN7.
    LoginResponse,
    Done,
}

#[derive(Debug, Default)]
pub struct Tds {
    stage: Stage,
    /// The client's ENCRYPTION option, when it sent one.
    client_enc: Option<u8>,
    /// The LOGIN7 finding, waiting for LOGINACK or ERROR.
    pending: Option<Hit>,
}

const LOGINACK: u8 = 0xAD;
const ERROR: u8 = 0xAA;
/// Tokens before the verdict that carry a u16 length: INFO, ENVCHANGE.
const INFO: u8 = 0xAB;
const ENVCHANGE: u8 = 0xE3;

/// The verdict in the token stream answering LOGIN7: `accepted` at a
/// LOGINACK, `failed: MESSAGE` at an ERROR (number, state, class, then
/// the message as a u16 count of UTF-16 units); `None` when another token
/// (an SSPI challenge) comes first or the stream is cut short.
pub fn login_verdict(mut p: &[u8]) -> Option<String> {
    loop {
        let (&token, rest) = p.split_first()?;
        let len = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        let body = rest.get(2..2 + len)?;
        match token {
            LOGINACK => return Some("accepted".into()),
            ERROR => {
                let n = u16::from_le_bytes([*body.get(6)?, *body.get(7)?]) as usize;
                let text = body.get(8..8 + 2 * n).unwrap_or_default();
                return Some(super::failed(&utf16(text)));
            }
            INFO | ENVCHANGE => p = &rest[2 + len..],
            _ => return None,
        }
    }
}

/// One whole message at the front of `b` (its packets' payloads joined):
/// (type, payload, bytes taken); `None` when its last packet is not in yet.
fn message(b: &[u8]) -> Result<Option<(u8, Vec<u8>, usize)>, TdsError> {
    let (mut at, mut payload) = (0, Vec::new());
    loop {
        let Some(h) = b.get(at..at + 8) else {
            return Ok(None);
        };
        let len = u16::from_be_bytes([h[2], h[3]]) as usize;
        if len < 8 {
            return Err(TdsError::Header);
        }
        let Some(p) = b.get(at + 8..at + len) else {
            return Ok(None);
        };
        if payload.len() + p.len() > MAX_MESSAGE {
            return Err(TdsError::TooLong);
        }
        payload.extend_from_slice(p);
        at += len;
        if h[1] & 0x01 != 0 {
            return Ok(Some((b[0], payload, at)));
        }
    }
}

/// The ENCRYPTION value of a PRELOGIN payload: option tokens (type, u16
/// offset, u16 length, big-endian) up to 0xFF, offsets from the payload's
/// start.
fn encryption(p: &[u8]) -> Result<Option<u8>, TdsError> {
    let mut at = 0;
    loop {
        match p.get(at) {
            Some(0xff) => return Ok(None),
            Some(&t) => {
                let e = p.get(at + 1..at + 5).ok_or(TdsError::Prelogin)?;
                let off = u16::from_be_bytes([e[0], e[1]]) as usize;
                let len = u16::from_be_bytes([e[2], e[3]]) as usize;
                if t == ENCRYPTION {
                    if len == 0 {
                        return Err(TdsError::Prelogin);
                    }
                    return p.get(off).copied().map(Some).ok_or(TdsError::Prelogin);
                }
                at += 5;
            }
            None => return Err(TdsError::Prelogin),
        }
    }
}

fn enc_name(v: u8) -> String {
    match v {
        0 => "ENCRYPT_OFF".into(),
        1 => "ENCRYPT_ON".into(),
        2 => "ENCRYPT_NOT_SUP".into(),
        3 => "ENCRYPT_REQ".into(),
        v => format!("0x{v:02x}"),
    }
}

/// UTF-16LE (unpaired surrogates replaced) as UTF-8.
fn utf16(b: &[u8]) -> Vec<u8> {
    let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect::<String>()
        .into_bytes()
}

/// LOGIN7's password: each byte XOR 0xA5, then its nibbles swapped back.
fn unobfuscate(b: &[u8]) -> Vec<u8> {
    let plain: Vec<u8> = b.iter().map(|&x| (x ^ 0xa5).rotate_left(4)).collect();
    utf16(&plain)
}

/// A LOGIN7 payload → its finding.
pub fn login7(p: &[u8]) -> Result<Hit, TdsError> {
    let bad = TdsError::Login;
    // The fixed part of TDS 7.0 ends after ibAtchDBFile (86 bytes).
    if p.len() < 86 {
        return Err(bad);
    }
    let u16_at = |i: usize| u16::from_le_bytes([p[i], p[i + 1]]) as usize;
    // OffsetLength: (offset, length in UTF-16 units) pairs from byte 36;
    // offsets from the payload's start. SSPI's (at 78) is in bytes.
    let field = |at: usize, unit: usize| -> Result<&[u8], TdsError> {
        let (off, len) = (u16_at(at), u16_at(at + 2) * unit);
        p.get(off..off + len).ok_or(bad)
    };
    let text = |at| field(at, 2).map(utf16);
    let (host, user, app, server, database) =
        (text(36)?, text(40)?, text(48)?, text(52)?, text(68)?);
    let password = field(44, 2)?;
    let sspi = field(78, 1)?;
    let major = p[7];
    let mut detail = format!("LOGIN7 (TDS {}.{})", major >> 4, major & 0x0f);
    for (name, v) in [
        ("database", &database),
        ("server", &server),
        ("app", &app),
        ("host", &host),
    ] {
        if !v.is_empty() {
            detail.push_str(&format!(", {name} {}", String::from_utf8_lossy(v)));
        }
    }
    let mut h = if user.is_empty() && !sspi.is_empty() {
        detail.push_str(", integrated (SSPI) authentication: password not visible");
        Hit::new(Proto::Mssql, None, None)
    } else {
        Hit::new(Proto::Mssql, Some(&user), Some(&unobfuscate(password)))
    };
    h.detail = Some(detail);
    Ok(h)
}

impl Tds {
    pub fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Reads both directions in protocol order and removes what was read
    /// (everything, once the login was read or cannot be).
    pub fn feed(&mut self, cs: &mut Vec<u8>, sc: &mut Vec<u8>) -> Result<Vec<Hit>, TdsError> {
        let mut hits = Vec::new();
        let (mut c, mut s) = (0, 0);
        let r = loop {
            let client_turn = match self.stage {
                Stage::Done => break Ok(()),
                Stage::ClientPrelogin | Stage::Login => true,
                Stage::ServerPrelogin | Stage::LoginResponse => false,
            };
            let buf = if client_turn { &cs[c..] } else { &sc[s..] };
            let (kind, payload, n) = match message(buf) {
                Ok(Some(m)) => m,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            if client_turn {
                c += n;
            } else {
                s += n;
            }
            if let Err(e) = self.step(kind, &payload, &mut hits) {
                break Err(e);
            }
        };
        if r.is_err() {
            self.stage = Stage::Done;
        }
        if self.stage == Stage::Done {
            (c, s) = (cs.len(), sc.len());
        }
        cs.drain(..c);
        sc.drain(..s);
        r.map(|()| hits)
    }

    fn step(&mut self, kind: u8, p: &[u8], hits: &mut Vec<Hit>) -> Result<(), TdsError> {
        self.stage = match (self.stage, kind) {
            (Stage::ClientPrelogin, PRELOGIN) => {
                self.client_enc = encryption(p)?;
                Stage::ServerPrelogin
            }
            (Stage::ClientPrelogin | Stage::Login, LOGIN7) => {
                self.pending = Some(login7(p)?);
                Stage::LoginResponse
            }
            (Stage::LoginResponse, RESPONSE) => {
                if let Some(v) = login_verdict(p) {
                    hits.extend(self.pending.take().map(|h| h.with_outcome(&v)));
                }
                Stage::Done
            }
            (Stage::ServerPrelogin, RESPONSE) => match encryption(p)? {
                // Only NOT_SUP on either side keeps LOGIN7 in the clear
                // (MS-TDS 2.2.6.5); both OFF: the login alone is encrypted.
                // No ENCRYPTION option: a pre-7.1 server, no TLS.
                Some(ENCRYPT_NOT_SUP) => Stage::Login,
                Some(ENCRYPT_OFF) if self.client_enc == Some(ENCRYPT_NOT_SUP) => Stage::Login,
                None => Stage::Login,
                Some(v) => {
                    let mut h = Hit::new(Proto::Mssql, None, None);
                    h.detail = Some(format!(
                        "PRELOGIN answered {}: LOGIN7 in TLS, not visible",
                        enc_name(v)
                    ));
                    hits.push(h);
                    Stage::Done
                }
            },
            // TLS handshake records in PRELOGIN packets, SSPI, others.
            _ => Stage::Done,
        };
        Ok(())
    }

    /// A gap in either direction: the packets cannot be framed further
    /// (a LOGIN7 already read is kept for [`Tds::finish`]).
    pub fn gap(&mut self) {
        self.stage = Stage::Done;
    }

    /// At the flow's end: a LOGIN7 whose answer was not seen.
    pub fn finish(&mut self) -> Option<Hit> {
        Some(self.pending.take()?.with_outcome("(result not seen)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(kind: u8, eom: bool, p: &[u8]) -> Vec<u8> {
        let mut v = vec![kind, eom as u8];
        v.extend(((p.len() + 8) as u16).to_be_bytes());
        v.extend([0, 0, 1, 0]);
        v.extend(p);
        v
    }

    /// A PRELOGIN payload: VERSION, ENCRYPTION = `enc`, terminator.
    fn prelogin(enc: u8) -> Vec<u8> {
        let mut p = vec![0, 0, 11, 0, 6, 1, 0, 17, 0, 1, 0xff];
        p.extend([15, 0, 7, 0xd0, 0, 0, enc]);
        p
    }

    fn ucs2(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    /// A TDS 7.4 LOGIN7 with these strings (the password obfuscated).
    fn login(user: &str, password: &str, db: &str) -> Vec<u8> {
        let mut fixed = vec![0u8; 94];
        fixed[4..8].copy_from_slice(&0x7400_0004u32.to_le_bytes());
        let pw: Vec<u8> = ucs2(password)
            .iter()
            .map(|b| b.rotate_left(4) ^ 0xa5)
            .collect();
        // host, user, password, app, server, ext, cltint, language, db.
        let fields = [
            ucs2("box"),
            ucs2(user),
            pw,
            ucs2("tsql"),
            ucs2("db1"),
            vec![],
            vec![],
            vec![],
            ucs2(db),
        ];
        let mut data: Vec<u8> = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            let off = (94 + data.len()) as u16;
            fixed[36 + 4 * i..38 + 4 * i].copy_from_slice(&off.to_le_bytes());
            fixed[38 + 4 * i..40 + 4 * i].copy_from_slice(&((f.len() / 2) as u16).to_le_bytes());
            data.extend(f);
        }
        fixed[78..80].copy_from_slice(&((94 + data.len()) as u16).to_le_bytes());
        fixed.extend(data);
        let n = fixed.len() as u32;
        fixed[..4].copy_from_slice(&n.to_le_bytes());
        fixed
    }

    #[test]
    fn login7_password_is_decoded() {
        let mut cs = packet(PRELOGIN, true, &prelogin(ENCRYPT_OFF));
        let login = login("sa", "Pä55-wörd", "shop");
        cs.extend(packet(LOGIN7, true, &login));
        assert!(looks_like(&cs));
        assert!(looks_like(&packet(LOGIN7, true, &login)));
        let mut sc = packet(RESPONSE, true, &prelogin(ENCRYPT_NOT_SUP));
        let mut t = Tds::default();
        assert!(
            t.feed(&mut cs, &mut sc).unwrap().is_empty(),
            "the answer first"
        );
        let mut sc = packet(RESPONSE, true, &accept());
        let h = t.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].proto, Proto::Mssql);
        assert_eq!(h[0].user.as_deref(), Some(&b"sa"[..]));
        assert_eq!(h[0].password.as_deref(), Some("Pä55-wörd".as_bytes()));
        assert_eq!(
            h[0].detail.as_deref(),
            Some("LOGIN7 (TDS 7.4), database shop, server db1, app tsql, host box, accepted")
        );
        assert!(t.done() && cs.is_empty() && sc.is_empty());
        assert_eq!(t.finish(), None, "reported once");
    }

    /// A token with a u16 length.
    fn token(t: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![t];
        v.extend((body.len() as u16).to_le_bytes());
        v.extend(body);
        v
    }

    /// A server's answer to a login it accepts: ENVCHANGE (database),
    /// INFO, LOGINACK, DONE.
    fn accept() -> Vec<u8> {
        let mut p = token(ENVCHANGE, b"\x01\x04s\0h\0o\0p\0\x06m\0a\0s\0t\0e\0r\0");
        p.extend(token(INFO, &[0x45, 0x16, 0, 0, 1, 0, 0, 0]));
        p.extend(token(LOGINACK, &[1, 0x74, 0, 0, 4, 0, 0, 0, 0, 0]));
        p.extend([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p
    }

    /// The answer to a refused login: ERROR 18456, then DONE.
    fn refuse(msg: &str) -> Vec<u8> {
        let mut e = 18456u32.to_le_bytes().to_vec();
        e.extend([1, 14]);
        e.extend((msg.encode_utf16().count() as u16).to_le_bytes());
        e.extend(ucs2(msg));
        e.extend([0, 0, 0, 0, 0, 0, 0]);
        let mut p = token(ERROR, &e);
        p.extend([0xfd, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        p
    }

    #[test]
    fn a_refused_login_says_why_and_one_unanswered_says_so() {
        let mut cs = packet(LOGIN7, true, &login("sa", "nope", ""));
        let mut sc = packet(RESPONSE, true, &refuse("Login failed for user 'sa'."));
        let mut t = Tds::default();
        let h = t.feed(&mut cs, &mut sc).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!(
            h[0].detail.as_deref(),
            Some("LOGIN7 (TDS 7.4), server db1, app tsql, host box, failed: Login failed for user 'sa'.")
        );
        assert!(t.done() && t.finish().is_none());
        // No answer, an SSPI challenge (not a verdict), a cut answer.
        for answer in [
            Vec::new(),
            packet(RESPONSE, true, &token(0xED, b"NTLMSSP\0")),
            packet(RESPONSE, true, &accept()[..20]),
        ] {
            let mut cs = packet(LOGIN7, true, &login("sa", "pw", ""));
            let mut sc = answer;
            let mut t = Tds::default();
            assert!(t.feed(&mut cs, &mut sc).unwrap().is_empty());
            assert_eq!(
                t.finish().unwrap().detail.as_deref(),
                Some("LOGIN7 (TDS 7.4), server db1, app tsql, host box, (result not seen)")
            );
            assert_eq!(t.finish(), None);
        }
        assert_eq!(login_verdict(&accept()).as_deref(), Some("accepted"));
        assert_eq!(login_verdict(&[LOGINACK, 9]), None);
    }

    #[test]
    fn a_login_in_several_packets_and_pieces() {
        let login = login("amy", "pw", "");
        let mut all = packet(LOGIN7, false, &login[..50]);
        all.extend(packet(LOGIN7, true, &login[50..]));
        for at in 0..all.len() {
            let mut t = Tds::default();
            let (mut cs, mut sc) = (all[..at].to_vec(), Vec::new());
            let mut hits = t.feed(&mut cs, &mut sc).unwrap();
            cs.extend(&all[at..]);
            hits.extend(t.feed(&mut cs, &mut sc).unwrap());
            hits.extend(t.finish());
            assert_eq!(hits.len(), 1, "split at {at}");
            assert_eq!(hits[0].password.as_deref(), Some(&b"pw"[..]));
            assert_eq!(
                hits[0].detail.as_deref(),
                Some("LOGIN7 (TDS 7.4), server db1, app tsql, host box, (result not seen)")
            );
        }
    }

    #[test]
    fn encryption_on_means_the_login_is_in_tls() {
        for (client, server, tls) in [
            (ENCRYPT_OFF, 1, true),
            (ENCRYPT_OFF, 3, true),
            // Both OFF: the login packet alone is encrypted.
            (ENCRYPT_OFF, ENCRYPT_OFF, true),
            (ENCRYPT_NOT_SUP, ENCRYPT_OFF, false),
            (ENCRYPT_OFF, ENCRYPT_NOT_SUP, false),
        ] {
            let mut cs = packet(PRELOGIN, true, &prelogin(client));
            let mut sc = packet(RESPONSE, true, &prelogin(server));
            let mut t = Tds::default();
            let h = t.feed(&mut cs, &mut sc).unwrap();
            assert_eq!(t.done(), tls, "{client} {server}");
            if tls {
                assert_eq!((h[0].user.as_ref(), h[0].password.as_ref()), (None, None));
                assert!(h[0]
                    .detail
                    .as_deref()
                    .unwrap()
                    .ends_with("LOGIN7 in TLS, not visible"));
            } else {
                assert!(h.is_empty());
            }
        }
        let mut sc = packet(RESPONSE, true, &prelogin(3));
        let mut cs = packet(PRELOGIN, true, &prelogin(0));
        assert_eq!(
            Tds::default().feed(&mut cs, &mut sc).unwrap()[0]
                .detail
                .as_deref(),
            Some("PRELOGIN answered ENCRYPT_REQ: LOGIN7 in TLS, not visible")
        );
    }

    #[test]
    fn malformed_is_an_error() {
        let mut cs = vec![PRELOGIN, 1, 0, 4, 0, 0, 0, 0];
        assert_eq!(
            Tds::default().feed(&mut cs, &mut Vec::new()),
            Err(TdsError::Header)
        );
        let mut cs = packet(PRELOGIN, true, &[1, 0, 40, 0, 1, 0xff]);
        assert_eq!(
            Tds::default().feed(&mut cs, &mut Vec::new()),
            Err(TdsError::Prelogin)
        );
        let mut cs = packet(LOGIN7, true, &[0; 40]);
        assert_eq!(
            Tds::default().feed(&mut cs, &mut Vec::new()),
            Err(TdsError::Login)
        );
        let mut l = login("a", "b", "c");
        l[44] = 0xff; // the password's offset past the end
        let mut cs = packet(LOGIN7, true, &l);
        assert_eq!(
            Tds::default().feed(&mut cs, &mut Vec::new()),
            Err(TdsError::Login)
        );
        assert!(!looks_like(b"\x16\x03\x01\x00\x10\x01\0\0\0"));
    }
}
