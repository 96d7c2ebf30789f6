//! HTTP/1.x requests recognised by content on any port: request line,
//! headers, bodies by Content-Length or chunked, keep-alive, pipelining and
//! bodies sent after `100 Continue`. Credentials from form bodies, query
//! strings and `Authorization`/`Proxy-Authorization` (Basic, Digest,
//! Bearer). Responses are parsed only to time requests.

use std::collections::VecDeque;

use super::{b64, starts_with_ci, Hit};
use crate::sniff::finding::Proto;

/// Largest request or response head accepted.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest request body kept for inspection; longer bodies are skipped.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
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

/// The form and query field names treated as user names and as secrets.
/// Names are compared whole, ASCII case-insensitively, after decoding.
#[derive(Debug, Clone)]
pub struct Fields {
    pub user: Vec<Vec<u8>>,
    pub secret: Vec<Vec<u8>>,
}

impl Default for Fields {
    fn default() -> Self {
        let v = |l: &[&str]| l.iter().map(|s| s.as_bytes().to_vec()).collect();
        Fields {
            user: v(&["user", "username", "login", "email"]),
            secret: v(&["password", "passwd", "pass", "pwd"]),
        }
    }
}

impl Fields {
    /// Adds a field name whose value is reported as the secret.
    pub fn add_secret(&mut self, name: &str) {
        self.secret.push(name.as_bytes().to_vec());
    }
    fn is_user(&self, n: &[u8]) -> bool {
        self.user.iter().any(|u| u.eq_ignore_ascii_case(n))
    }
    fn is_secret(&self, n: &[u8]) -> bool {
        self.secret.iter().any(|u| u.eq_ignore_ascii_case(n))
    }
}

/// A request or response head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    /// Method (request) or empty (response).
    pub method: Vec<u8>,
    /// Request target (request) or empty.
    pub target: Vec<u8>,
    /// Status code (response) or 0.
    pub status: u16,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Head {
    /// The first header of that name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
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

fn parse_headers<'a>(lines: impl Iterator<Item = &'a [u8]>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for line in lines {
        let line = super::trim_crlf(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            // Obsolete line folding: continue the previous value.
            if let Some((_, v)) = headers.last_mut() {
                v.push(b' ');
                v.extend_from_slice(line.trim_ascii());
            }
            continue;
        }
        if let Some(c) = memchr::memchr(b':', line) {
            headers.push((
                line[..c].trim_ascii().to_vec(),
                line[c + 1..].trim_ascii().to_vec(),
            ));
        }
    }
    headers
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
    let mut lines = buf[..end].split(|&c| c == b'\n');
    let first = super::trim_crlf(lines.next().unwrap_or_default());
    let mut parts = first.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::BadRequestLine);
    };
    if !method.iter().all(|&c| is_token(c)) || !version.starts_with(b"HTTP/") {
        return Err(HttpError::BadRequestLine);
    }
    let head = Head {
        method: method.to_vec(),
        target: target.to_vec(),
        status: 0,
        headers: parse_headers(lines),
    };
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
    let mut lines = buf[..end].split(|&c| c == b'\n');
    let first = super::trim_crlf(lines.next().unwrap_or_default());
    if !first.starts_with(b"HTTP/") {
        return Err(HttpError::BadStatusLine);
    }
    let status = first
        .split(|&c| c == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or(HttpError::BadStatusLine)?;
    Ok(Some((
        Head {
            status,
            headers: parse_headers(lines),
            ..Head::default()
        },
        end,
    )))
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

/// `%XX` and `+` decoding of one form or query component.
pub fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(s[i + 1]), hex(s[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// `a=1&b=2` → decoded pairs (a name without `=` has an empty value).
pub fn form_pairs(s: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    s.split(|&c| c == b'&' || c == b';')
        .filter(|p| !p.is_empty())
        .map(|p| match memchr::memchr(b'=', p) {
            Some(e) => (url_decode(&p[..e]), url_decode(&p[e + 1..])),
            None => (url_decode(p), Vec::new()),
        })
        .collect()
}

/// A credential among form/query pairs: present when a secret field has a
/// value; the user is the first user field with a value.
pub fn fields_hit(pairs: &[(Vec<u8>, Vec<u8>)], fields: &Fields, proto: Proto) -> Option<Hit> {
    let secret = pairs
        .iter()
        .find(|(n, v)| !v.is_empty() && fields.is_secret(n))?;
    let user = pairs
        .iter()
        .find(|(n, v)| !v.is_empty() && fields.is_user(n));
    Some(Hit::new(
        proto,
        user.map(|(_, v)| v.as_slice()),
        Some(&secret.1),
    ))
}

/// An `Authorization` or `Proxy-Authorization` value → credential.
pub fn authorization_hit(value: &[u8]) -> Option<Hit> {
    let value = value.trim_ascii();
    let sp = value
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(value.len());
    let (scheme, rest) = (&value[..sp], value[sp..].trim_ascii());
    if scheme.eq_ignore_ascii_case(b"basic") {
        let dec = b64(rest)?;
        return Some(match memchr::memchr(b':', &dec) {
            Some(c) => Hit::new(Proto::HttpBasic, Some(&dec[..c]), Some(&dec[c + 1..])),
            None => Hit::new(Proto::HttpBasic, Some(&dec), None),
        });
    }
    if scheme.eq_ignore_ascii_case(b"digest") {
        let user = auth_param(rest, b"username")?;
        return Some(Hit::new(Proto::HttpDigest, Some(&user), None));
    }
    if scheme.eq_ignore_ascii_case(b"bearer") && !rest.is_empty() {
        return Some(Hit::new(Proto::HttpBearer, None, Some(rest)));
    }
    None
}

/// One parameter of a Digest header: `name="quoted"` or `name=token`.
pub fn auth_param(params: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut i = 0;
    while i < params.len() {
        while i < params.len() && (params[i] == b',' || params[i].is_ascii_whitespace()) {
            i += 1;
        }
        let eq = i + memchr::memchr(b'=', &params[i..])?;
        let key = params[i..eq].trim_ascii();
        let mut j = eq + 1;
        while j < params.len() && params[j].is_ascii_whitespace() {
            j += 1;
        }
        let mut val = Vec::new();
        if params.get(j) == Some(&b'"') {
            j += 1;
            while j < params.len() && params[j] != b'"' {
                if params[j] == b'\\' && j + 1 < params.len() {
                    j += 1;
                }
                val.push(params[j]);
                j += 1;
            }
            j += 1;
        } else {
            while j < params.len() && params[j] != b',' {
                val.push(params[j]);
                j += 1;
            }
            val = val.trim_ascii().to_vec();
        }
        if key.eq_ignore_ascii_case(name) {
            return Some(val);
        }
        i = j;
    }
    None
}

/// Credentials visible in a request head (query string and auth headers).
pub fn head_hits(head: &Head, fields: &Fields) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(q) = memchr::memchr(b'?', &head.target) {
        let query = &head.target[q + 1..];
        let query = query.split(|&c| c == b'#').next().unwrap_or_default();
        hits.extend(fields_hit(&form_pairs(query), fields, Proto::HttpQuery));
    }
    for (name, value) in &head.headers {
        let proxy = name.eq_ignore_ascii_case(b"proxy-authorization");
        if proxy || name.eq_ignore_ascii_case(b"authorization") {
            if let Some(mut h) = authorization_hit(value) {
                if proxy {
                    h.detail = Some("proxy".into());
                }
                hits.push(h);
            }
        }
    }
    let place = describe(head);
    for h in &mut hits {
        h.detail = Some(match &h.detail {
            Some(d) => format!("{place} ({d})"),
            None => place.clone(),
        });
    }
    hits
}

/// Credentials in a request body (form-encoded bodies only).
pub fn body_hits(head: &Head, body: &[u8], fields: &Fields) -> Vec<Hit> {
    let form = head
        .header("content-type")
        .is_some_and(|ct| starts_with_ci(ct.trim_ascii(), b"application/x-www-form-urlencoded"));
    if !form {
        return Vec::new();
    }
    let mut hits: Vec<Hit> = fields_hit(&form_pairs(body.trim_ascii()), fields, Proto::HttpForm)
        .into_iter()
        .collect();
    for h in &mut hits {
        h.detail = Some(describe(head));
    }
    hits
}

/// `POST host/path` (the query string left out).
fn describe(head: &Head) -> String {
    let path = head.target.split(|&c| c == b'?').next().unwrap_or_default();
    let host = head.header("host").unwrap_or_default();
    let path = if starts_with_ci(path, b"http://") || host.is_empty() {
        String::from_utf8_lossy(path).into_owned()
    } else {
        format!(
            "{}{}",
            String::from_utf8_lossy(host),
            String::from_utf8_lossy(path)
        )
    };
    format!("{} {}", String::from_utf8_lossy(&head.method), path)
}

/// What one call of [`HttpStream::client`] found.
#[derive(Debug, Default)]
pub struct ClientOut {
    pub requests: u64,
    pub hits: Vec<Hit>,
    pub errors: Vec<HttpError>,
}

#[derive(Debug, Default)]
enum Req {
    #[default]
    Head,
    Body {
        head: Head,
        left: u64,
        body: Vec<u8>,
        keep: bool,
    },
    Chunked {
        head: Head,
        dec: Dechunker,
    },
}

#[derive(Debug, Default)]
enum Resp {
    #[default]
    Head,
    Skip(u64),
    Chunked(Dechunker),
    UntilClose,
    Done,
}

/// The HTTP state of one connection, fed with reassembled bytes.
#[derive(Debug, Default)]
pub struct HttpStream {
    req: Req,
    resp: Resp,
    /// Requests awaiting a response: (time complete, HEAD request).
    pending: VecDeque<(i64, bool)>,
}

impl HttpStream {
    /// After a gap in the client stream: look for the next request line.
    pub fn client_gap(&mut self) {
        self.req = Req::Head;
    }

    /// After a gap in the server stream: stop timing this connection.
    pub fn server_gap(&mut self) {
        self.resp = Resp::Done;
        self.pending.clear();
    }

    /// Consumes client bytes from `buf` (what is left is incomplete).
    pub fn client(&mut self, buf: &mut Vec<u8>, ts: i64, fields: &Fields, out: &mut ClientOut) {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match &mut self.req {
                Req::Head => {
                    if rest.is_empty() {
                        break;
                    }
                    if looks_like_request(rest) == Some(false) {
                        // Not at a request line (after a gap): skip a line.
                        match memchr::memchr(b'\n', rest) {
                            Some(n) => pos += n + 1,
                            None => pos = buf.len(),
                        }
                        continue;
                    }
                    match parse_request_head(rest) {
                        Ok(None) => break,
                        Ok(Some((head, n))) => {
                            pos += n;
                            out.requests += 1;
                            out.hits.extend(head_hits(&head, fields));
                            let head_only = head.method == b"HEAD";
                            match head.framing(true) {
                                Ok(Framing::Length(len)) => {
                                    let keep = len as usize <= MAX_BODY;
                                    self.req = Req::Body {
                                        head,
                                        left: len,
                                        body: Vec::new(),
                                        keep,
                                    };
                                }
                                Ok(Framing::Chunked) => {
                                    self.req = Req::Chunked {
                                        head,
                                        dec: Dechunker::new(true),
                                    }
                                }
                                Ok(_) => self.pending.push_back((ts, head_only)),
                                Err(e) => {
                                    out.errors.push(e);
                                    self.pending.push_back((ts, head_only));
                                }
                            }
                        }
                        Err(e) => {
                            out.errors.push(e);
                            pos += memchr::memchr(b'\n', rest).map_or(rest.len(), |n| n + 1);
                        }
                    }
                }
                Req::Body {
                    head,
                    left,
                    body,
                    keep,
                } => {
                    let take = (*left as usize).min(rest.len());
                    if take == 0 {
                        break;
                    }
                    if *keep {
                        body.extend_from_slice(&rest[..take]);
                    }
                    *left -= take as u64;
                    pos += take;
                    if *left == 0 {
                        if *keep {
                            out.hits.extend(body_hits(head, body, fields));
                        }
                        self.pending.push_back((ts, false));
                        self.req = Req::Head;
                    }
                }
                Req::Chunked { head, dec } => match dec.feed(rest) {
                    Ok((n, done)) => {
                        pos += n;
                        if !done {
                            break;
                        }
                        if !dec.overflow {
                            out.hits.extend(body_hits(head, &dec.body, fields));
                        }
                        self.pending.push_back((ts, false));
                        self.req = Req::Head;
                    }
                    Err(e) => {
                        out.errors.push(e);
                        self.req = Req::Head;
                    }
                },
            }
        }
        buf.drain(..pos);
    }

    /// Consumes server bytes; returns request-to-response latencies (µs).
    pub fn server(&mut self, buf: &mut Vec<u8>, ts: i64) -> Vec<i64> {
        let mut lat = Vec::new();
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match &mut self.resp {
                Resp::Done | Resp::UntilClose => {
                    pos = buf.len();
                    break;
                }
                Resp::Head => {
                    if rest.is_empty() {
                        break;
                    }
                    match parse_response_head(rest) {
                        Ok(None) => break,
                        Err(_) => self.resp = Resp::Done,
                        Ok(Some((head, n))) => {
                            pos += n;
                            if head.status / 100 == 1 {
                                if head.status == 101 {
                                    self.resp = Resp::Done;
                                }
                                continue;
                            }
                            let head_req = match self.pending.pop_front() {
                                Some((t, h)) => {
                                    lat.push((ts - t).max(0));
                                    h
                                }
                                None => false,
                            };
                            self.resp = match head.framing(false) {
                                _ if head_req => Resp::Head,
                                Ok(Framing::None) => Resp::Head,
                                Ok(Framing::Length(l)) => Resp::Skip(l),
                                Ok(Framing::Chunked) => Resp::Chunked(Dechunker::new(false)),
                                Ok(Framing::UntilClose) => Resp::UntilClose,
                                Err(_) => Resp::Done,
                            };
                        }
                    }
                }
                Resp::Skip(left) => {
                    let take = (*left as usize).min(rest.len());
                    if take == 0 {
                        break;
                    }
                    *left -= take as u64;
                    pos += take;
                    if *left == 0 {
                        self.resp = Resp::Head;
                    }
                }
                Resp::Chunked(dec) => match dec.feed(rest) {
                    Ok((n, done)) => {
                        pos += n;
                        if !done {
                            break;
                        }
                        self.resp = Resp::Head;
                    }
                    Err(_) => self.resp = Resp::Done,
                },
            }
        }
        buf.drain(..pos);
        lat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(stream: &[&[u8]]) -> ClientOut {
        let mut h = HttpStream::default();
        let mut out = ClientOut::default();
        let mut buf = Vec::new();
        for (i, part) in stream.iter().enumerate() {
            buf.extend_from_slice(part);
            h.client(&mut buf, i as i64, &Fields::default(), &mut out);
        }
        out
    }

    fn pair(h: &Hit) -> (Option<&[u8]>, Option<&[u8]>) {
        (h.user.as_deref(), h.password.as_deref())
    }

    #[test]
    fn form_body_split_across_segments_any_port() {
        let out = client(&[
            b"POST /login HTTP/1.1\r\nHost: h:1337\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 35\r\n\r\nuser=toto&pass=Str0n",
            b"gP4ssw0rd&requesttoken=x",
        ]);
        assert_eq!(out.requests, 1);
        assert_eq!(out.hits.len(), 1);
        assert_eq!(
            pair(&out.hits[0]),
            (Some(&b"toto"[..]), Some(&b"Str0ngP4ssw0rd"[..]))
        );
        assert_eq!(out.hits[0].proto, Proto::HttpForm);
        assert_eq!(out.hits[0].detail.as_deref(), Some("POST h:1337/login"));
    }

    #[test]
    fn field_names_match_whole_after_decoding() {
        let f = Fields::default();
        let p = form_pairs(b"user_id=test&pass%77ord=s%20e+c%2");
        assert_eq!(p[1], (b"password".to_vec(), b"s e c%2".to_vec()));
        let hit = fields_hit(&p, &f, Proto::HttpQuery).unwrap();
        assert_eq!(hit.user, None, "user_id is not user");
        assert!(fields_hit(&form_pairs(b"user_id=test"), &f, Proto::HttpQuery).is_none());
        assert!(fields_hit(&form_pairs(b"mypassword=x"), &f, Proto::HttpQuery).is_none());
        let mut f2 = Fields::default();
        f2.add_secret("pin");
        assert!(fields_hit(&form_pairs(b"pin=1234"), &f2, Proto::HttpQuery).is_some());
        assert!(fields_hit(&form_pairs(b"pin=1234"), &f, Proto::HttpQuery).is_none());
    }

    #[test]
    fn query_string_credentials() {
        let out =
            client(&[b"GET /login?login=admin&password=qwerty1234 HTTP/1.1\r\nHost: x\r\n\r\n"]);
        assert_eq!(out.hits.len(), 1);
        assert_eq!(out.hits[0].proto, Proto::HttpQuery);
        assert_eq!(
            pair(&out.hits[0]),
            (Some(&b"admin"[..]), Some(&b"qwerty1234"[..]))
        );
    }

    #[test]
    fn chunked_body_and_pipelined_requests() {
        let out = client(&[
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded; charset=UTF-8\r\n\r\n",
            b"5;ext=1\r\nuser=\r\n",
            b"7\r\nbob&pwd\r\n4\r\n=hun\r\n0\r\nX-Trailer: 1\r\n\r\nGET /b?pass=two HTTP/1.1\r\n\r\nGET /c HTTP/1.0\r\n\r\n",
        ]);
        assert_eq!(out.requests, 3);
        assert_eq!(out.hits.len(), 2);
        assert_eq!(pair(&out.hits[0]), (Some(&b"bob"[..]), Some(&b"hun"[..])));
        assert_eq!(pair(&out.hits[1]), (None, Some(&b"two"[..])));
        assert!(out.errors.is_empty());
    }

    #[test]
    fn form_fields_ignored_without_form_content_type() {
        let out = client(&[b"POST /a HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\npassword=abcd"]);
        assert!(out.hits.is_empty());
    }

    #[test]
    fn basic_digest_bearer() {
        let h = authorization_hit(b"  bAsIc   dGVzdDp0ZTpzdA== ").unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (Proto::HttpBasic, (Some(&b"test"[..]), Some(&b"te:st"[..])))
        );
        let h = authorization_hit(
            b"Digest realm=\"r\", username=\"user12345678@domain.xxxx\", nonce=\"n\"",
        )
        .unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (
                Proto::HttpDigest,
                (Some(&b"user12345678@domain.xxxx"[..]), None)
            )
        );
        let h = authorization_hit(b"Bearer abc.def").unwrap();
        assert_eq!(
            (h.proto, pair(&h)),
            (Proto::HttpBearer, (None, Some(&b"abc.def"[..])))
        );
        assert!(authorization_hit(b"Negotiate abc").is_none());
        let out = client(&[b"GET http://x/ HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n"]);
        assert_eq!(out.hits[0].detail.as_deref(), Some("GET http://x/ (proxy)"));
    }

    #[test]
    fn body_after_100_continue_and_resync_after_garbage() {
        let mut h = HttpStream::default();
        let mut out = ClientOut::default();
        let f = Fields::default();
        let mut c = b"junk line\r\nPOST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\n".to_vec();
        h.client(&mut c, 1, &f, &mut out);
        let mut s = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        assert!(h.server(&mut s, 2).is_empty(), "100 is not the response");
        c.extend_from_slice(b"pass=12345");
        h.client(&mut c, 3, &f, &mut out);
        assert_eq!(out.hits.len(), 1);
        let mut s = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200".to_vec();
        assert_eq!(h.server(&mut s, 10), vec![7]);
        assert_eq!(s, b"HTTP/1.1 200");
    }

    #[test]
    fn looks_like_request_needs_a_token_and_version() {
        assert_eq!(looks_like_request(b"GET / HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_request(b"PO"), None);
        assert_eq!(looks_like_request(b"FOO / HTTP/1.1\r\n"), Some(true));
        assert_eq!(looks_like_request(b"USER bob\r\n"), Some(false));
        assert_eq!(looks_like_request(b"\x16\x03\x01"), Some(false));
    }
}
