//! One HTTP connection: requests with their bodies (keep-alive,
//! pipelining, `100 Continue`), responses only to time requests.

use std::collections::VecDeque;

use super::creds::{body_hits, head_hits, ntlm_challenge, ntlm_hits, Fields};
use super::{
    looks_like_request, parse_request_head, parse_response_head, Dechunker, Framing, Head,
    HttpError, MAX_BODY,
};
use crate::sniff::proto::Hit;

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
    /// The last NTLM challenge the server sent on this connection.
    ntlm_challenge: Option<[u8; 8]>,
}

impl HttpStream {
    /// Bytes of request body held while it is collected.
    pub fn held(&self) -> usize {
        match &self.req {
            Req::Head => 0,
            Req::Body { body, .. } => body.len(),
            Req::Chunked { dec, .. } => dec.body.len(),
        }
    }

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
                            match ntlm_hits(&head, self.ntlm_challenge) {
                                Ok(h) => out.hits.extend(h),
                                Err(_) => out.errors.push(HttpError::Ntlm),
                            }
                            let head_only = head.method() == b"HEAD";
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

    /// Response bytes still to come that nothing reads: the rest of a body
    /// of known length (counted as read: the next response head is
    /// expected after it), or all of them once responses are no longer
    /// read. The caller drops them unseen.
    pub fn server_unread(&mut self) -> u64 {
        match self.resp {
            Resp::Skip(left) => {
                self.resp = Resp::Head;
                left
            }
            Resp::Done | Resp::UntilClose => u64::MAX,
            _ => 0,
        }
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
                            if head.status == 401 || head.status == 407 {
                                self.ntlm_challenge = ntlm_challenge(&head).or(self.ntlm_challenge);
                            }
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
    use crate::sniff::finding::Proto;

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
}
