//! Kerberos 5 (RFC 4120) between a client and its KDC, one message at a
//! time: a UDP datagram, or a TCP record (a 4-byte big-endian length, then
//! the message; [`TcpHalf`] takes records off a reassembled stream). What
//! a cracker can test passwords against is reported with the principal
//! whose key encrypted it:
//!
//! - AS-REQ with PA-ENC-TIMESTAMP: a timestamp encrypted with the client's
//!   key. RC4 (etype 23) → hashcat 7500, AES128/AES256 (17, 18) → 19800 and
//!   19900, which salt with realm + user (the default salt).
//! - AS-REP: its enc-part is encrypted with the client's key too (AS-REP
//!   roasting): RC4 → hashcat 18200, the same line John's `krb5asrep`
//!   reads. hashcat 6.2.6 misses MIT's replies (MIT tags the decrypted
//!   part EncTGSRepPart, 26, where hashcat looks for 25); John checks the
//!   HMAC only and cracks them. No cracker of Debian bookworm has an AES AS-REP mode
//!   (hashcat's 32100/32200 came later): the principal only.
//! - TGS-REP: the ticket is encrypted with the service's key
//!   (Kerberoasting): RC4 → 13100, AES → 19600/19700. The user is the
//!   service, the detail names the client. No line for tickets of krbtgt
//!   (its key is random).
//!
//! AS-REQs without pre-authentication, TGS-REQs and KRB-ERRORs carry
//! nothing crackable; they are still checked, so that a malformed one is an
//! error. DER is read as far as needed, every length checked; nothing here
//! panics.

use super::ber::{self, tlv, BerError, Tlv, INTEGER, OCTETS, SEQUENCE};
use super::{Crackable, Hit};
use crate::sniff::finding::Proto;

/// Why bytes are not a readable Kerberos message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KrbError {
    #[error("{0}")]
    Ber(#[from] BerError),
    #[error("not a Kerberos message (tag {0:#04x})")]
    NotMessage(u8),
    #[error("{0} missing")]
    Missing(&'static str),
    #[error("protocol version {0}, not 5")]
    Version(i64),
    #[error("message type {0} does not match its tag")]
    MsgType(i64),
    #[error("TCP record length with the reserved bit set")]
    Reserved,
    #[error("TCP record over 64 KiB skipped")]
    TooLarge,
}

/// Records longer than this are skipped, not buffered.
pub const MAX_MESSAGE: usize = 64 * 1024;

const GENERAL_STRING: u8 = 0x1b;
/// `Ticket ::= [APPLICATION 1]`.
const TICKET: u8 = 0x61;
const PA_ENC_TIMESTAMP: i64 = 2;
/// Ciphertexts hashcat takes for RC4 AS-REP and TGS-REP: its 16-byte
/// checksum, then at least 32 and at most 20480 bytes (its hex limits).
const RC4_REP: std::ops::RangeInclusive<usize> = 48..=16 + 20480;
/// The same for AES TGS-REP (the 12-byte checksum at the end).
const AES_REP: std::ops::RangeInclusive<usize> = 44..=12 + 20480;

/// The kinds of KDC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    AsReq,
    AsRep,
    TgsReq,
    TgsRep,
    Error,
}

impl MsgType {
    /// Sent by the client (who is thus the end that is not the KDC).
    pub fn is_request(self) -> bool {
        matches!(self, MsgType::AsReq | MsgType::TgsReq)
    }
}

/// One message read: its kind, and what it reveals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub kind: MsgType,
    pub hit: Option<Hit>,
}

/// Whether `b` starts like a KDC message: an AS/TGS request or reply or a
/// KRB-ERROR whose SEQUENCE opens with pvno 5. Strict enough to decide a
/// UDP flow on any port.
pub fn looks_like(b: &[u8]) -> bool {
    if !matches!(b.first(), Some(0x6a..=0x6d | 0x7e)) {
        return false;
    }
    let Ok(Some((_, outer, _))) = ber::header(b) else {
        return false;
    };
    let inner = &b[outer..];
    let Ok(Some((SEQUENCE, seq, _))) = ber::header(inner) else {
        return false;
    };
    matches!(&inner[seq..], [0xa0 | 0xa1, 3, INTEGER, 1, 5, ..])
}

/// Whether a TCP client's first bytes are a Kerberos record: a length
/// (reserved bit clear), then a message.
pub fn looks_like_record(b: &[u8]) -> bool {
    b.len() > 4 && b[0] & 0x80 == 0 && looks_like(&b[4..])
}

/// The explicitly tagged fields `[0]`..`[12]` of a SEQUENCE's contents:
/// each the bytes inside its tag (one element).
struct Fields<'a>([Option<&'a [u8]>; 13]);

impl<'a> Fields<'a> {
    fn of(t: Tlv<'a>) -> Result<Self, KrbError> {
        if t.tag != SEQUENCE {
            return Err(BerError::Tag(t.tag).into());
        }
        let mut f = [None; 13];
        let mut rest = t.value;
        while !rest.is_empty() {
            let e = tlv(rest)?;
            if e.tag & 0xe0 == 0xa0 {
                if let Some(slot) = f.get_mut(usize::from(e.tag & 0x1f)) {
                    *slot = Some(e.value);
                }
            }
            rest = e.rest;
        }
        Ok(Fields(f))
    }

    fn opt(&self, n: usize) -> Result<Option<Tlv<'a>>, KrbError> {
        Ok(self.0[n].map(tlv).transpose()?)
    }

    fn get(&self, n: usize, what: &'static str) -> Result<Tlv<'a>, KrbError> {
        self.opt(n)?.ok_or(KrbError::Missing(what))
    }

    fn int(&self, n: usize, what: &'static str) -> Result<i64, KrbError> {
        let t = self.get(n, what)?;
        if t.tag != INTEGER {
            return Err(BerError::Tag(t.tag).into());
        }
        Ok(ber::int(t.value)?)
    }
}

/// A KerberosString (GeneralString, IA5 in practice).
fn kstring(t: Tlv<'_>) -> Result<String, KrbError> {
    if t.tag != GENERAL_STRING {
        return Err(BerError::Tag(t.tag).into());
    }
    Ok(String::from_utf8_lossy(t.value).into_owned())
}

/// A PrincipalName's components (`host`, `web.lab` for `host/web.lab`).
fn principal(t: Tlv<'_>) -> Result<Vec<String>, KrbError> {
    let f = Fields::of(t)?;
    let mut rest = seq(f.get(1, "name-string")?)?;
    let mut names = Vec::new();
    while !rest.is_empty() {
        let s = tlv(rest)?;
        rest = s.rest;
        names.push(kstring(s)?);
    }
    if names.is_empty() {
        return Err(KrbError::Missing("name-string"));
    }
    Ok(names)
}

/// An EncryptedData: etype and cipher.
struct Enc<'a> {
    etype: i64,
    cipher: &'a [u8],
}

fn enc(t: Tlv<'_>) -> Result<Enc<'_>, KrbError> {
    let f = Fields::of(t)?;
    let etype = f.int(0, "etype")?;
    let cipher = f.get(2, "cipher")?;
    if cipher.tag != OCTETS {
        return Err(BerError::Tag(cipher.tag).into());
    }
    Ok(Enc {
        etype,
        cipher: cipher.value,
    })
}

/// The contents of a SEQUENCE (OF).
fn seq(t: Tlv<'_>) -> Result<&[u8], KrbError> {
    if t.tag != SEQUENCE {
        return Err(BerError::Tag(t.tag).into());
    }
    Ok(t.value)
}

/// Reads one Kerberos message (a whole datagram or TCP record).
pub fn parse(msg: &[u8]) -> Result<Message, KrbError> {
    let app = tlv(msg)?;
    let (kind, number) = match app.tag {
        0x6a => (MsgType::AsReq, 10),
        0x6b => (MsgType::AsRep, 11),
        0x6c => (MsgType::TgsReq, 12),
        0x6d => (MsgType::TgsRep, 13),
        0x7e => (MsgType::Error, 30),
        t => return Err(KrbError::NotMessage(t)),
    };
    let f = Fields::of(tlv(app.value)?)?;
    // pvno and msg-type are fields [1] and [2] of a request, [0] and [1]
    // of a reply or an error.
    let first = if kind.is_request() { 1 } else { 0 };
    let pvno = f.int(first, "pvno")?;
    if pvno != 5 {
        return Err(KrbError::Version(pvno));
    }
    let mt = f.int(first + 1, "msg-type")?;
    if mt != number {
        return Err(KrbError::MsgType(mt));
    }
    let hit = match kind {
        MsgType::AsReq => as_req(&f)?,
        MsgType::AsRep | MsgType::TgsRep => reply(kind, &f)?,
        MsgType::TgsReq => {
            Fields::of(f.get(4, "req-body")?)?;
            None
        }
        MsgType::Error => {
            f.int(6, "error-code")?;
            None
        }
    };
    Ok(Message { kind, hit })
}

/// An AS-REQ: the PA-ENC-TIMESTAMP, if any, and whose it is.
fn as_req(f: &Fields<'_>) -> Result<Option<Hit>, KrbError> {
    let body = Fields::of(f.get(4, "req-body")?)?;
    let Some(padata) = f.opt(3)? else {
        return Ok(None);
    };
    let mut rest = seq(padata)?;
    let mut stamp = None;
    while !rest.is_empty() {
        let pa = tlv(rest)?;
        rest = pa.rest;
        let pf = Fields::of(pa)?;
        if pf.int(1, "padata-type")? == PA_ENC_TIMESTAMP {
            let v = pf.get(2, "padata-value")?;
            if v.tag != OCTETS {
                return Err(BerError::Tag(v.tag).into());
            }
            stamp = Some(enc(tlv(v.value)?)?);
        }
    }
    let Some(stamp) = stamp else {
        return Ok(None);
    };
    let cname = principal(body.get(1, "cname")?)?.join("/");
    let realm = kstring(body.get(2, "realm")?)?;
    let (u, r, c) = (clean(&cname), clean(&realm), stamp.cipher);
    let hash = match stamp.etype {
        // hashcat takes the 36 encrypted bytes, then the 16-byte checksum
        // that comes first on the wire (so a timestamp whose microseconds
        // fit in fewer than 3 bytes has no line).
        23 if c.len() == 52 => Some(Crackable::hashcat(
            7500,
            format!(
                "$krb5pa$23${u}${r}${r}{u}${}{}",
                hex(&c[16..]),
                hex(&c[..16])
            ),
        )),
        e @ (17 | 18) if (52..=56).contains(&c.len()) => Some(Crackable::hashcat(
            if e == 17 { 19800 } else { 19900 },
            format!("$krb5pa${e}${u}${r}${}", hex(c)),
        )),
        _ => None,
    };
    let mut detail = format!("AS-REQ pre-auth, etype {}", etype_name(stamp.etype));
    if hash.is_none() && matches!(stamp.etype, 17 | 18 | 23) {
        detail += &format!(", no hashcat line for a {}-byte cipher", c.len());
    }
    let mut h = Hit::new(
        Proto::Kerberos,
        Some(format!("{cname}@{realm}").as_bytes()),
        None,
    );
    h.detail = Some(detail);
    h.hash = hash;
    Ok(Some(h))
}

/// An AS-REP or TGS-REP: the enc-part (AS) or the ticket (TGS) and whose
/// key encrypted it.
fn reply(kind: MsgType, f: &Fields<'_>) -> Result<Option<Hit>, KrbError> {
    let crealm = kstring(f.get(3, "crealm")?)?;
    let client = format!("{}@{crealm}", principal(f.get(4, "cname")?)?.join("/"));
    let ticket = f.get(5, "ticket")?;
    if ticket.tag != TICKET {
        return Err(BerError::Tag(ticket.tag).into());
    }
    let t = Fields::of(tlv(ticket.value)?)?;
    let srealm = kstring(t.get(1, "ticket realm")?)?;
    let sname = principal(t.get(2, "sname")?)?;
    let ticket_enc = enc(t.get(3, "ticket enc-part")?)?;
    let enc_part = enc(f.get(6, "enc-part")?)?;
    if kind == MsgType::AsRep {
        let (c, user) = (enc_part.cipher, clean(&client));
        let hash = (enc_part.etype == 23 && RC4_REP.contains(&c.len())).then(|| {
            Crackable::both(
                18200,
                "krb5asrep",
                format!("$krb5asrep$23${user}:{}${}", hex(&c[..16]), hex(&c[16..])),
            )
        });
        let mut h = Hit::new(Proto::Kerberos, Some(client.as_bytes()), None);
        h.detail = Some(format!("AS-REP, etype {}", etype_name(enc_part.etype)));
        h.hash = hash;
        return Ok(Some(h));
    }
    let spn = sname.join("/");
    // The salt hashcat's AES modes use is realm + user: MIT's default salt
    // for a principal is the realm and its components run together.
    let (user, r, c) = (clean(&sname.concat()), clean(&srealm), ticket_enc.cipher);
    let hash = match ticket_enc.etype {
        _ if sname[0] == "krbtgt" => None,
        23 if RC4_REP.contains(&c.len()) => Some(Crackable::hashcat(
            13100,
            format!(
                "$krb5tgs$23$*{user}${r}${}*${}${}",
                clean(&spn),
                hex(&c[..16]),
                hex(&c[16..])
            ),
        )),
        e @ (17 | 18) if AES_REP.contains(&c.len()) => Some(Crackable::hashcat(
            if e == 17 { 19600 } else { 19700 },
            format!(
                "$krb5tgs${e}${user}${r}${}${}",
                hex(&c[c.len() - 12..]),
                hex(&c[..c.len() - 12])
            ),
        )),
        _ => None,
    };
    let mut h = Hit::new(
        Proto::Kerberos,
        Some(format!("{spn}@{srealm}").as_bytes()),
        None,
    );
    h.detail = Some(format!(
        "TGS-REP ticket for {client}, etype {}",
        etype_name(ticket_enc.etype)
    ));
    h.hash = hash;
    Ok(Some(h))
}

/// A name as a field of a hash line: without the separators hashcat
/// splits on, nor control characters.
fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '$' | '*' | ':') && !c.is_control())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `23 (rc4-hmac)`: the number and, when known, the name.
fn etype_name(e: i64) -> String {
    let name = match e {
        1 => "des-cbc-crc",
        3 => "des-cbc-md5",
        16 => "des3-cbc-sha1",
        17 => "aes128-cts-hmac-sha1-96",
        18 => "aes256-cts-hmac-sha1-96",
        19 => "aes128-cts-hmac-sha256-128",
        20 => "aes256-cts-hmac-sha384-192",
        23 => "rc4-hmac",
        24 => "rc4-hmac-exp",
        25 => "camellia128-cts-cmac",
        26 => "camellia256-cts-cmac",
        _ => return e.to_string(),
    };
    format!("{e} ({name})")
}

/// One direction of a Kerberos TCP connection: records taken off the front
/// of its reassembled bytes.
#[derive(Debug, Default)]
pub struct TcpHalf {
    /// Bytes of an oversized record still to drop.
    skip: usize,
    /// The stream could not be read (an error, or a gap: record boundaries
    /// lost): the rest is dropped.
    broken: bool,
}

impl TcpHalf {
    /// Bytes were lost: where the next record starts is unknown.
    pub fn gap(&mut self) {
        self.broken = true;
    }

    /// Reads every complete record of `buf` (removed from it) and appends
    /// what they reveal to `hits`. After an error but [`KrbError::TooLarge`]
    /// the rest of this direction is dropped.
    pub fn feed(&mut self, buf: &mut Vec<u8>, hits: &mut Vec<Hit>) -> Result<(), KrbError> {
        let mut at = 0;
        let result = loop {
            if self.broken {
                at = buf.len();
                break Ok(());
            }
            let n = self.skip.min(buf.len() - at);
            (at, self.skip) = (at + n, self.skip - n);
            if self.skip > 0 {
                break Ok(());
            }
            let Some(len) = buf.get(at..at + 4) else {
                break Ok(());
            };
            let len = u32::from_be_bytes(len.try_into().expect("4 bytes"));
            if len & 0x8000_0000 != 0 {
                self.broken = true;
                break Err(KrbError::Reserved);
            }
            let len = len as usize;
            if len > MAX_MESSAGE {
                (at, self.skip) = (at + 4, len);
                let n = self.skip.min(buf.len() - at);
                (at, self.skip) = (at + n, self.skip - n);
                break Err(KrbError::TooLarge);
            }
            let Some(msg) = buf.get(at + 4..at + 4 + len) else {
                break Ok(());
            };
            match parse(msg) {
                Ok(m) => hits.extend(m.hit),
                Err(e) => {
                    self.broken = true;
                    break Err(e);
                }
            }
            at += 4 + len;
        };
        buf.drain(..at);
        result
    }
}

#[cfg(test)]
mod tests;
