//! HTTP/1.x requests recognised by content on any port: request line,
//! headers, bodies by Content-Length or chunked, keep-alive, pipelining and
//! bodies sent after `100 Continue`. Credentials from form bodies, query
//! strings and `Authorization`/`Proxy-Authorization` (Basic, Digest,
//! Bearer). Responses are parsed only to time requests.
//!
//! This file parses heads and bodies; `creds.rs` finds credentials in them
//! and `stream.rs` follows a connection's requests and responses.

mod creds;
mod stream;

pub use creds::{
    auth_param, authorization_hit, body_hits, fields_hit, form_pairs, head_hits, url_decode, Fields,
};
pub use stream::{ClientOut, HttpStream};

use super::starts_with_ci;

/// Largest request or response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body kept for inspection; longer bodies are skipped.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("NTLM message malformed")]
    Ntlm,
    #[error("HTTP head longer than {MAX_HEAD} bytes")]
    HeadTooLong,
    #[error("malformed HTTP request line")]
    BadRequestLine,
    #[error("malformed HTTP status line")]
    BadStatusLine,
    #[error("malformed chunk size")]
    BadChunk,
    #[error("malformed Content-Length")]
    BadLength,
}

/// A request or response head: its bytes copied once, the method, target
/// and header names and values as ranges of them (a header continued by
/// obsolete line folding is joined after the head's bytes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    raw: Vec<u8>,
    method: Span,
    target: Span,
    /// Status code (response) or 0.
    pub status: u16,
    fields: Vec<(Span, Span)>,
}

/// `raw[start..end]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Span(u32, u32);

impl Head {
    fn at(&self, s: Span) -> &[u8] {
        &self.raw[s.0 as usize..s.1 as usize]
    }

    /// Method (request) or empty (response).
    pub fn method(&self) -> &[u8] {
        self.at(self.method)
    }

    /// Request target (request) or empty.
    pub fn target(&self) -> &[u8] {
        self.at(self.target)
    }

    /// The headers in order, names and values trimmed.
    pub fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields.iter().map(|&(n, v)| (self.at(n), self.at(v)))
    }

    /// The first header of that name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// How the body is delimited (RFC 9112 §6.3, for requests and for
    /// responses to non-HEAD requests).
    pub fn framing(&self, request: bool) -> Result<Framing, HttpError> {
        if !request && (self.status / 100 == 1 || self.status == 204 || self.status == 304) {
            return Ok(Framing::None);
        }
        if let Some(te) = self.header("transfer-encoding") {
            if super::contains_ci(te, b"chunked") {
                return Ok(Framing::Chunked);
            }
        }
        match self.header("content-length") {
            Some(v) => {
                let s = std::str::from_utf8(v).map_err(|_| HttpError::BadLength)?;
                let n: u64 = s.trim().parse().map_err(|_| HttpError::BadLength)?;
                Ok(if n == 0 {
                    Framing::None
                } else {
                    Framing::Length(n)
                })
            }
            None if request => Ok(Framing::None),
            None => Ok(Framing::UntilClose),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

fn is_token(c: u8) -> bool {
    c.is_ascii_uppercase() || c == b'-' || c == b'_'
}

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"HEAD",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
];

/// Whether bytes start like an HTTP/1.x request: `Some(true)` yes,
/// `Some(false)` no, `None` too few bytes to tell.
pub fn looks_like_request(b: &[u8]) -> Option<bool> {
    let tok = b.iter().take_while(|&&c| is_token(c)).count();
    if tok == b.len() {
        return if tok < 16 { None } else { Some(false) };
    }
    if tok == 0 || tok > 16 || b[tok] != b' ' {
        return Some(false);
    }
    match memchr::memchr(b'\n', b) {
        Some(end) => {
            let line = super::trim_crlf(&b[..end]);
            Some(line.len() > 9 && starts_with_ci(&line[line.len() - 9..], b" HTTP/1."))
        }
        None if METHODS.contains(&&b[..tok]) => Some(true),
        None if b.len() > 8192 => Some(false),
        None => None,
    }
}

/// Finds the end of a head: the index after the empty line.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(n) = memchr::memchr(b'\n', &buf[i..]) {
        let at = i + n;
        // An empty line: "\n\n" or "\n\r\n".
        if buf.get(at + 1) == Some(&b'\n') {
            return Some(at + 2);
        }
        if buf.get(at + 1) == Some(&b'\r') && buf.get(at + 2) == Some(&b'\n') {
            return Some(at + 3);
        }
        i = at + 1;
    }
    None
}

/// A head of `head` (its bytes, `\n`-ended lines) whose first line is read:
/// the header lines after it, as spans of a copy of `head`.
fn parse_headers(head: &[u8], first_len: usize) -> Head {
    let mut h = Head {
        raw: Vec::with_capacity(head.len() + 16),
        ..Head::default()
    };
    h.raw.extend_from_slice(head);
    let span = |sub: &[u8]| {
        // `sub` is a subslice of `head`: its offset there is its offset in raw.
        let start = sub.as_ptr() as usize - head.as_ptr() as usize;
        Span(start as u32, (start + sub.len()) as u32)
    };
    for line in head[first_len.min(head.len())..].split(|&c| c == b'\n') {
        let line = super::trim_crlf(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            // Obsolete line folding: continue the previous value.
            if let Some(&(n, v)) = h.fields.last() {
                let start = h.raw.len();
                h.raw.extend_from_within(v.0 as usize..v.1 as usize);
                h.raw.push(b' ');
                h.raw.extend_from_slice(line.trim_ascii());
                *h.fields.last_mut().expect("a last field") =
                    (n, Span(start as u32, h.raw.len() as u32));
            }
            continue;
        }
        if let Some(c) = memchr::memchr(b':', line) {
            h.fields.push((
                span(line[..c].trim_ascii()),
                span(line[c + 1..].trim_ascii()),
            ));
        }
    }
    h
}

/// Parses a request head at the start of `buf`: `Ok(None)` when incomplete,
/// else the head and its length.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let Some(end) = head_end(buf) else {
        return if buf.len() > MAX_HEAD {
            Err(HttpError::HeadTooLong)
        } else {
            Ok(None)
        };
    };
    let first_len = memchr::memchr(b'\n', &buf[..end]).map_or(end, |i| i + 1);
    let first = super::trim_crlf(&buf[..first_len]);
    let mut parts = first.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if !method.iter().all(|&c| is_token(c)) || !version.starts_with(b"HTTP/") {
        return Err(HttpError::BadRequestLine);
    }
    let off = |sub: &[u8]| sub.as_ptr() as usize - buf.as_ptr() as usize;
    let mut head = parse_headers(&buf[..end], first_len);
    head.method = Span(off(method) as u32, (off(method) + method.len()) as u32);
    head.target = Span(off(target) as u32, (off(target) + target.len()) as u32);
    Ok(Some((head, end)))
}

/// Parses a response head at the start of `buf` (see [`parse_request_head`]).
pub fn parse_response_head(buf: &[u8]) -> Result<Option<(Head, usize)>, HttpError> {
    let Some(end) = head_end(buf) else {
        if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
            return Err(HttpError::BadStatusLine);
        }
        return if buf.len() > MAX_HEAD {
            Err(HttpError::HeadTooLong)
        } else {
            Ok(None)
        };
    };
    let first_len = memchr::memchr(b'\n', &buf[..end]).map_or(end, |i| i + 1);
    let first = super::trim_crlf(&buf[..first_len]);
    if !first.starts_with(b"HTTP/") {
        return Err(HttpError::BadStatusLine);
    }
    let status = first
        .split(|&c| c == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::BadStatusLine)?;
    let mut head = parse_headers(&buf[..end], first_len);
    head.status = status;
    Ok(Some((head, end)))
}

/// A streaming decoder of a chunked body; keeps up to [`MAX_BODY`] bytes
/// when asked to.
#[derive(Debug, Clone, Default)]
pub struct Dechunker {
    state: ChunkState,
    keep: bool,
    pub body: Vec<u8>,
    pub overflow: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

impl Dechunker {
    pub fn new(keep: bool) -> Self {
        Dechunker {
            keep,
            ..Self::default()
        }
    }

    /// Consumes what it can of `buf`: (bytes consumed, body complete).
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, bool), HttpError> {
        let mut i = 0;
        loop {
            match self.state {
                ChunkState::Done => return Ok((i, true)),
                ChunkState::Size | ChunkState::Trailer | ChunkState::DataEnd => {
                    let Some(n) = memchr::memchr(b'\n', &buf[i..]) else {
                        if buf.len() - i > 4096 {
                            return Err(HttpError::BadChunk);
                        }
                        return Ok((i, false));
                    };
                    let line = super::trim_crlf(&buf[i..i + n]);
                    i += n + 1;
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err(HttpError::BadChunk),
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => {
                            let hex = line.split(|&c| c == b';').next().unwrap_or_default();
                            let hex = std::str::from_utf8(hex.trim_ascii())
                                .map_err(|_| HttpError::BadChunk)?;
                            let size =
                                u64::from_str_radix(hex, 16).map_err(|_| HttpError::BadChunk)?;
                            if size == 0 {
                                ChunkState::Trailer
                            } else {
                                ChunkState::Data(size)
                            }
                        }
                    };
                }
                ChunkState::Data(left) => {
                    let take = (left as usize).min(buf.len() - i);
                    if take == 0 {
                        return Ok((i, false));
                    }
                    if self.keep {
                        if self.body.len() + take <= MAX_BODY {
                            self.body.extend_from_slice(&buf[i..i + take]);
                        } else {
                            self.overflow = true;
                        }
                    }
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn looks_like_request_needs_a_token_and_version() {
        assert_eq!(looks_like_request(b"GET / HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_request(b"PO"), None);
        assert_eq!(looks_like_request(b"FOO / HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_request(b"USER bob\r\n"), Some(false));
        assert_eq!(looks_like_request(b"\x16\x03\x01"), Some(false));
    }

    #[test]
    fn heads_and_chunks_are_parsed_incrementally() {
        let req =
            b"POST /x?a=1 HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n b\r\nContent-Length: 3\r\n\r\nabc";
        assert_eq!(parse_request_head(&req[..20]), Ok(None));
        let (head, n) = parse_request_head(req).unwrap().unwrap();
        assert_eq!(&req[n..], b"abc");
        assert_eq!(head.header("x-long"), Some(&b"a b"[..]));
        assert_eq!(
            (head.method(), head.target()),
            (&b"POST"[..], &b"/x?a=1"[..])
        );
        let names: Vec<&[u8]> = head.headers().map(|(n, _)| n).collect();
        assert_eq!(names, [&b"Host"[..], b"X-Long", b"Content-Length"]);
        assert_eq!(head.framing(true), Ok(Framing::Length(3)));
        let resp = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";
        let (resp, _) = parse_response_head(resp).unwrap().unwrap();
        assert_eq!(resp.framing(false), Ok(Framing::None));
        assert_eq!(
            parse_response_head(b"SSH-2.0-x\r\n"),
            Err(HttpError::BadStatusLine)
        );
        let mut d = Dechunker::new(true);
        assert_eq!(d.feed(b"4\r\nab"), Ok((5, false)));
        assert_eq!(d.feed(b"cd\r\n0\r\n\r\n"), Ok((9, true)));
        assert_eq!(d.body, b"abcd");
        assert_eq!(
            Dechunker::new(false).feed(b"zz\r\n"),
            Err(HttpError::BadChunk)
        );
    }
}
