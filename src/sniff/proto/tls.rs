//! TLS: the ClientHello reassembled across TCP segments and TLS records
//! (SNI, ALPN, offered versions from `supported_versions`, GREASE ignored)
//! and the ServerHello's chosen version. Nothing after the hellos is read.

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("TLS hello truncated")]
    Truncated,
    #[error("TLS handshake longer than 64 KiB")]
    TooLong,
    #[error("TLS record before the hello is not a handshake")]
    NotHandshake,
}

/// Whether bytes start like a TLS handshake record.
pub fn looks_like_record(b: &[u8]) -> bool {
    b.len() >= 3 && b[0] == 22 && b[1] == 3 && b[2] <= 4
}

/// GREASE values (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa.
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// `0x0304` → `TLS1.3`.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL3.0".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        v => format!("0x{v:04x}"),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientHello {
    pub legacy_version: u16,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// `supported_versions` without GREASE, in the client's order.
    pub versions: Vec<u16>,
}

impl ClientHello {
    /// The highest version offered.
    pub fn max_version(&self) -> u16 {
        self.versions
            .iter()
            .copied()
            .max()
            .unwrap_or(self.legacy_version)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHello {
    /// The version chosen (`supported_versions` if present, else the legacy field).
    pub version: u16,
    pub alpn: Option<String>,
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TlsError> {
        if self.0.len() < n {
            return Err(TlsError::Truncated);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, TlsError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TlsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], TlsError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

fn extensions(r: &mut Reader<'_>) -> Result<Vec<(u16, Vec<u8>)>, TlsError> {
    if r.0.is_empty() {
        return Ok(Vec::new());
    }
    let mut exts = Reader(r.vec16()?);
    let mut out = Vec::new();
    while !exts.0.is_empty() {
        let t = exts.u16()?;
        out.push((t, exts.vec16()?.to_vec()));
    }
    Ok(out)
}

fn alpn_list(data: &[u8]) -> Result<Vec<String>, TlsError> {
    let mut r = Reader(data);
    let mut l = Reader(r.vec16()?);
    let mut out = Vec::new();
    while !l.0.is_empty() {
        out.push(String::from_utf8_lossy(l.vec8()?).into_owned());
    }
    Ok(out)
}

/// Parses a ClientHello handshake body (after the 4-byte message header).
pub fn parse_client_hello(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut r = Reader(body);
    let mut ch = ClientHello {
        legacy_version: r.u16()?,
        ..ClientHello::default()
    };
    r.take(32)?;
    r.vec8()?; // session id
    r.vec16()?; // cipher suites
    r.vec8()?; // compression
    for (t, data) in extensions(&mut r)? {
        match t {
            0 => {
                let mut s = Reader(&data);
                let mut list = Reader(s.vec16()?);
                while !list.0.is_empty() {
                    let kind = list.u8()?;
                    let name = list.vec16()?;
                    if kind == 0 && ch.sni.is_none() {
                        ch.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            16 => ch.alpn = alpn_list(&data)?,
            43 => {
                let mut s = Reader(&data);
                let mut list = Reader(s.vec8()?);
                while !list.0.is_empty() {
                    let v = list.u16()?;
                    if !is_grease(v) {
                        ch.versions.push(v);
                    }
                }
            }
            _ => {}
        }
    }
    Ok(ch)
}

/// Parses a ServerHello handshake body.
pub fn parse_server_hello(body: &[u8]) -> Result<ServerHello, TlsError> {
    let mut r = Reader(body);
    let mut sh = ServerHello {
        version: r.u16()?,
        alpn: None,
    };
    r.take(32)?;
    r.vec8()?;
    r.u16()?;
    r.u8()?;
    for (t, data) in extensions(&mut r)? {
        match t {
            43 if data.len() == 2 => sh.version = u16::from_be_bytes([data[0], data[1]]),
            16 => sh.alpn = alpn_list(&data)?.into_iter().next(),
            _ => {}
        }
    }
    Ok(sh)
}

/// One direction of a TLS connection: collects handshake records until
/// the first handshake message is complete and returns it.
#[derive(Debug, Default)]
pub struct HelloReader {
    hs: Vec<u8>,
    done: bool,
}

impl HelloReader {
    /// The first handshake message was read (or reading gave up): the
    /// rest of this direction is not read.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Consumes complete records from `buf`. Returns the first handshake
    /// message (type, body) once complete; after that all bytes are
    /// consumed unread.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u8, Vec<u8>)>, TlsError> {
        if self.done {
            buf.clear();
            return Ok(None);
        }
        let mut pos = 0;
        let mut result = Ok(None);
        while buf.len() - pos >= 5 {
            let len = u16::from_be_bytes([buf[pos + 3], buf[pos + 4]]) as usize;
            if buf.len() - pos < 5 + len {
                break;
            }
            if buf[pos] != 22 {
                result = Err(TlsError::NotHandshake);
                self.done = true;
                break;
            }
            self.hs.extend_from_slice(&buf[pos + 5..pos + 5 + len]);
            pos += 5 + len;
            if self.hs.len() >= 4 {
                let mlen = u32::from_be_bytes([0, self.hs[1], self.hs[2], self.hs[3]]) as usize;
                if mlen > 65536 {
                    result = Err(TlsError::TooLong);
                    self.done = true;
                    break;
                }
                if self.hs.len() >= 4 + mlen {
                    let body = self.hs[4..4 + mlen].to_vec();
                    result = Ok(Some((self.hs[0], body)));
                    self.done = true;
                    break;
                }
            }
        }
        if self.done {
            buf.clear();
            self.hs = Vec::new();
        } else {
            buf.drain(..pos);
        }
        result
    }
}

/// Builds TLS hello bytes (for tests and the capture generator).
pub mod build {
    fn vec16(out: &mut Vec<u8>, data: &[u8]) {
        out.extend_from_slice(&(data.len() as u16).to_be_bytes());
        out.extend_from_slice(data);
    }

    fn ext(out: &mut Vec<u8>, t: u16, data: &[u8]) {
        out.extend_from_slice(&t.to_be_bytes());
        vec16(out, data);
    }

    fn alpn(protos: &[&str]) -> Vec<u8> {
        let mut l = Vec::new();
        for p in protos {
            l.push(p.len() as u8);
            l.extend_from_slice(p.as_bytes());
        }
        let mut d = Vec::new();
        vec16(&mut d, &l);
        d
    }

    /// A handshake message in one TLS record.
    pub fn record(msg_type: u8, body: &[u8]) -> Vec<u8> {
        let mut hs = vec![msg_type];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(body);
        let mut rec = vec![22, 3, 1];
        vec16(&mut rec, &hs);
        rec
    }

    /// A ClientHello body offering `versions` (may include GREASE).
    pub fn client_hello(sni: &str, versions: &[u16], alpn_protos: &[&str]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(32);
        b.extend_from_slice(&[9; 32]);
        vec16(&mut b, &[0x13, 0x01, 0xc0, 0x2f]);
        b.extend_from_slice(&[1, 0]);
        let mut exts = Vec::new();
        let mut sni_l = vec![0];
        vec16(&mut sni_l, sni.as_bytes());
        let mut sni_d = Vec::new();
        vec16(&mut sni_d, &sni_l);
        ext(&mut exts, 0, &sni_d);
        if !alpn_protos.is_empty() {
            ext(&mut exts, 16, &alpn(alpn_protos));
        }
        if !versions.is_empty() {
            let mut v = vec![(versions.len() * 2) as u8];
            for x in versions {
                v.extend_from_slice(&x.to_be_bytes());
            }
            ext(&mut exts, 43, &v);
        }
        vec16(&mut b, &exts);
        b
    }

    /// A ServerHello body choosing `version` (TLS 1.3 via supported_versions).
    pub fn server_hello(version: u16, alpn_proto: Option<&str>) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[5; 32]);
        b.push(0);
        b.extend_from_slice(&[0xc0, 0x2f, 0]);
        let mut exts = Vec::new();
        if version >= 0x0304 {
            ext(&mut exts, 43, &version.to_be_bytes());
        } else {
            b[..2].copy_from_slice(&version.to_be_bytes());
        }
        if let Some(p) = alpn_proto {
            ext(&mut exts, 16, &alpn(&[p]));
        }
        vec16(&mut b, &exts);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_hello_split_across_records_and_segments() {
        let body = build::client_hello("clients2.google.com", &[0x7a7a, 0x0304, 0x0303], &["h2"]);
        let mut hs = vec![1];
        hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        hs.extend_from_slice(&body);
        // Two records, the first cut across two TCP segments.
        let (a, b) = hs.split_at(30);
        let mut bytes = Vec::new();
        for part in [a, b] {
            bytes.extend_from_slice(&[22, 3, 1]);
            bytes.extend_from_slice(&(part.len() as u16).to_be_bytes());
            bytes.extend_from_slice(part);
        }
        let mut r = HelloReader::default();
        let mut buf = bytes[..20].to_vec();
        assert_eq!(r.feed(&mut buf), Ok(None));
        buf.extend_from_slice(&bytes[20..]);
        let (t, msg) = r.feed(&mut buf).unwrap().unwrap();
        assert_eq!(t, 1);
        let ch = parse_client_hello(&msg).unwrap();
        assert_eq!(ch.sni.as_deref(), Some("clients2.google.com"));
        assert_eq!(ch.versions, vec![0x0304, 0x0303]);
        assert_eq!(ch.alpn, vec!["h2".to_string()]);
        assert_eq!(version_name(ch.max_version()), "TLS1.3");
        assert!(buf.is_empty());
    }

    #[test]
    fn server_hello_versions() {
        assert_eq!(
            parse_server_hello(&build::server_hello(0x0304, None))
                .unwrap()
                .version,
            0x0304
        );
        let sh = parse_server_hello(&build::server_hello(0x0303, Some("http/1.1"))).unwrap();
        assert_eq!((sh.version, sh.alpn.as_deref()), (0x0303, Some("http/1.1")));
        assert_eq!(parse_server_hello(&[3, 3, 0]), Err(TlsError::Truncated));
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0304) && !is_grease(0x0a1a));
    }
}
