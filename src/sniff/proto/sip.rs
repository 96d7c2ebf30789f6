//! SIP Digest: the `Authorization` (and `Proxy-Authorization`) header of
//! a request (REGISTER, INVITE, ...) as a hashcat 11400 line, made by the
//! same code as HTTP Digest's ([`super::digest`]). A UDP datagram is one
//! message ([`parse`]); over TCP messages follow each other, framed by
//! `Content-Length` ([`SipStream`]).

use super::http::auth_param;
use super::{digest, starts_with_ci, trim_crlf, Hit};
use crate::sniff::finding::Proto;

/// Why a SIP message could not be read (counted, the rest skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("no request or status line")]
    NoStartLine,
    #[error("bad Content-Length")]
    BadLength,
    #[error("message head too long")]
    TooLong,
}

/// A head longer than this without its empty line is not SIP (TCP).
const MAX_HEAD: usize = 64 * 1024;

/// `METHOD uri SIP/2.0` → (method, uri); `None` for anything else.
fn request_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut parts = line.splitn(3, |&c| c == b' ');
    let method = parts.next()?;
    let uri = parts.next()?;
    let version = parts.next()?;
    let token = !method.is_empty()
        && method.len() <= 32
        && method.iter().all(|c| c.is_ascii_uppercase() || *c == b'-');
    (token && !uri.is_empty() && version.eq_ignore_ascii_case(b"SIP/2.0")).then_some((method, uri))
}

/// Whether bytes open a SIP message: a request line or a status line.
pub fn looks_like(b: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', b) else {
        return false;
    };
    let line = trim_crlf(&b[..end]);
    starts_with_ci(line, b"SIP/2.0 ") || request_line(line).is_some()
}

/// Where the head ends (after its empty line), if it does.
fn head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(n) = memchr::memchr(b'\n', &b[i..]) {
        let at = i + n;
        match b.get(at + 1) {
            Some(b'\n') => return Some(at + 2),
            Some(b'\r') if b.get(at + 2) == Some(&b'\n') => return Some(at + 3),
            _ => i = at + 1,
        }
    }
    None
}

/// The header lines of a head (start line excluded), continuation lines
/// unfolded into the one before.
fn headers(head: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for line in head.split(|&c| c == b'\n').skip(1) {
        let line = trim_crlf(line);
        if line.is_empty() {
            break;
        }
        match (line[0], out.last_mut()) {
            (b' ' | b'\t', Some(prev)) => {
                prev.push(b' ');
                prev.extend_from_slice(line.trim_ascii());
            }
            _ => out.push(line.to_vec()),
        }
    }
    out
}

/// The value of a header line named `name` (case-insensitive), if it is.
fn value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let colon = memchr::memchr(b':', line)?;
    line[..colon]
        .trim_ascii()
        .eq_ignore_ascii_case(name)
        .then(|| line[colon + 1..].trim_ascii())
}

/// The credentials of one SIP message (a request's Digest headers; a
/// response has none).
pub fn parse(msg: &[u8]) -> Result<Vec<Hit>, SipError> {
    let first = memchr::memchr(b'\n', msg).map_or(msg, |e| &msg[..e]);
    let first = trim_crlf(first);
    if starts_with_ci(first, b"SIP/2.0 ") {
        return Ok(Vec::new());
    }
    let (method, uri) = request_line(first).ok_or(SipError::NoStartLine)?;
    // Over UDP a head may lack its empty line: take it all.
    let head = &msg[..head_end(msg).unwrap_or(msg.len())];
    let mut hits = Vec::new();
    for h in headers(head) {
        let (v, proxy) = match (
            value(&h, b"Authorization"),
            value(&h, b"Proxy-Authorization"),
        ) {
            (Some(v), _) => (v, false),
            (None, Some(v)) => (v, true),
            _ => continue,
        };
        if !starts_with_ci(v, b"Digest ") {
            continue;
        }
        let params = &v[7..];
        let mut hit = Hit::new(Proto::Sip, auth_param(params, b"username").as_deref(), None);
        hit.hash = digest::hashcat_line(method, params);
        hit.detail = Some(format!(
            "{} {}{}",
            String::from_utf8_lossy(method),
            String::from_utf8_lossy(uri),
            if proxy { " (proxy)" } else { "" }
        ));
        hits.push(hit);
    }
    Ok(hits)
}

/// The length of the first complete message of a TCP stream (head and
/// `Content-Length` body); `None`: not all there yet.
fn message_len(b: &[u8]) -> Result<Option<usize>, SipError> {
    let Some(end) = head_end(b) else {
        return if b.len() > MAX_HEAD {
            Err(SipError::TooLong)
        } else {
            Ok(None)
        };
    };
    let mut body = 0usize;
    for h in headers(&b[..end]) {
        if let Some(v) = value(&h, b"Content-Length").or_else(|| value(&h, b"l")) {
            body = std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse().ok())
                .filter(|n| *n <= 16 << 20)
                .ok_or(SipError::BadLength)?;
        }
    }
    Ok((b.len() >= end + body).then_some(end + body))
}

/// SIP over TCP: the client's messages one after the other.
#[derive(Debug, Default)]
pub struct SipStream;

impl SipStream {
    /// Takes the complete messages off the front of `buf`; their hits.
    pub fn client(&mut self, buf: &mut Vec<u8>) -> Result<Vec<Hit>, SipError> {
        let mut hits = Vec::new();
        let mut at = 0;
        loop {
            // Keep-alive CRLFs between messages (RFC 5626).
            while matches!(buf.get(at), Some(b'\r' | b'\n')) {
                at += 1;
            }
            match message_len(&buf[at..]) {
                Ok(Some(n)) => {
                    let r = parse(&buf[at..at + n]);
                    at += n;
                    hits.extend(r.inspect_err(|_| buf.clear())?);
                }
                Ok(None) => break,
                Err(e) => {
                    buf.clear();
                    return Err(e);
                }
            }
        }
        buf.drain(..at);
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What sipsak sends after a 401 (its REGISTER, with the Digest that
    /// SIPp checked against `alice` / `sip-pa55word`).
    const REGISTER: &[u8] = b"REGISTER sip:127.0.0.1:15060 SIP/2.0\r\n\
Authorization: Digest username=\"alice\", uri=\"sip:127.0.0.1:15060\", algorithm=MD5, realm=\"tplab.test\", nonce=\"5f3b1c0ad2e94a7f\", qop=auth, nc=00000001, cnonce=\"12a9a0f2\", response=\"8b1f07b7c6f98ddfeaa6c79d9444e656\"\r\n\
Via: SIP/2.0/UDP 127.0.0.1:15070;branch=z9hG4bK.1;rport\r\n\
CSeq: 2 REGISTER\r\n\
Content-Length: 0\r\n\r\n";

    const LINE: &str = "$sip$***alice*tplab.test*REGISTER**sip:127.0.0.1:15060**5f3b1c0ad2e94a7f*12a9a0f2*00000001*auth*MD5*8b1f07b7c6f98ddfeaa6c79d9444e656";

    #[test]
    fn register_digest_is_a_hashcat_line() {
        let hits = parse(REGISTER).unwrap();
        assert_eq!(hits.len(), 1);
        let h = &hits[0];
        assert_eq!(h.proto, Proto::Sip);
        assert_eq!(h.user.as_deref(), Some(&b"alice"[..]));
        assert_eq!(h.password, None);
        assert_eq!(h.detail.as_deref(), Some("REGISTER sip:127.0.0.1:15060"));
        let c = h.hash.as_ref().unwrap();
        assert_eq!((c.mode, c.line.as_str()), (Some(11400), LINE));
        assert!(looks_like(REGISTER));
        assert!(looks_like(b"SIP/2.0 401 Unauthorized\r\n"));
        assert!(!looks_like(b"GET / HTTP/1.1\r\n"));
    }

    #[test]
    fn folded_proxy_header_responses_and_errors() {
        let msg = b"INVITE sip:bob@x SIP/2.0\nProxy-Authorization: Digest username=\"carol\",\n realm=\"r\", nonce=\"n\", uri=\"sip:bob@x\",\n\tresponse=\"6629fae49393a05397450978507c4ef1\"\n\n";
        let hits = parse(msg).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].detail.as_deref(), Some("INVITE sip:bob@x (proxy)"));
        assert_eq!(
            hits[0].hash.as_ref().unwrap().line,
            "$sip$***carol*r*INVITE**sip:bob@x**n****MD5*6629fae49393a05397450978507c4ef1"
        );
        assert_eq!(
            parse(b"SIP/2.0 401 Unauthorized\r\nWWW-Authenticate: Digest realm=\"r\"\r\n\r\n")
                .unwrap(),
            vec![]
        );
        assert_eq!(parse(b"OPTIONS sip:x SIP/2.0\r\n\r\n").unwrap(), vec![]);
        assert_eq!(parse(b"hello").unwrap_err(), SipError::NoStartLine);
        assert_eq!(parse(b"").unwrap_err(), SipError::NoStartLine);
        // Basic or other schemes are not Digest: nothing.
        assert_eq!(
            parse(b"REGISTER sip:x SIP/2.0\r\nAuthorization: Basic YTpi\r\n\r\n").unwrap(),
            vec![]
        );
    }

    #[test]
    fn tcp_messages_framed_by_content_length() {
        let mut s = SipStream;
        let body = b"v=0\r\n";
        let mut stream = format!(
            "MESSAGE sip:x SIP/2.0\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        stream.extend_from_slice(body);
        stream.extend_from_slice(b"\r\n\r\n");
        stream.extend_from_slice(REGISTER);
        // Fed a few bytes at a time: the same hit once.
        let mut buf = Vec::new();
        let mut hits = Vec::new();
        for chunk in stream.chunks(7) {
            buf.extend_from_slice(chunk);
            hits.extend(s.client(&mut buf).unwrap());
        }
        assert!(buf.is_empty());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].hash.as_ref().unwrap().line, LINE);
        let mut bad = b"REGISTER sip:x SIP/2.0\r\nContent-Length: lots\r\n\r\n".to_vec();
        assert_eq!(s.client(&mut bad).unwrap_err(), SipError::BadLength);
        assert!(bad.is_empty());
        let mut long = vec![b'A'; MAX_HEAD + 1];
        assert_eq!(s.client(&mut long).unwrap_err(), SipError::TooLong);
    }
}
