//! One access-log line as slices of the input: nothing is copied.

use std::borrow::Cow;

use super::time::Secs;

/// A parsed line. Every byte field borrows from the input line; quoted
/// fields keep their escapes (`\"`, `\\`, `\xhh`) exactly as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Client address: IPv4, IPv6 or a hostname, as written.
    pub host: &'a [u8],
    pub ident: &'a [u8],
    pub user: &'a [u8],
    /// Wall-clock seconds as written (offset ignored).
    pub time: Secs,
    /// The offset as written (`+0100`), empty when absent.
    pub zone: &'a [u8],
    /// The request field between its quotes.
    pub request: &'a [u8],
    /// The status as its three digits.
    pub status: &'a [u8],
    /// Bytes sent; None for `-`.
    pub bytes: Option<u64>,
    /// None in the `common` format.
    pub referer: Option<&'a [u8]>,
    /// None in the `common` format.
    pub agent: Option<&'a [u8]>,
}

/// A record and what only some formats log. The combined/common fast
/// path keeps the plain [`Record`] (small, copied per line) and passes
/// [`Ext::NONE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rich<'a> {
    pub rec: Record<'a>,
    pub ext: Ext<'a>,
}

impl<'a> std::ops::Deref for Rich<'a> {
    type Target = Record<'a>;
    fn deref(&self) -> &Record<'a> {
        &self.rec
    }
}

impl<'a> Rich<'a> {
    #[inline]
    pub fn request_line(&self) -> Option<RequestLine<'a>> {
        self.ext.request_line(&self.rec)
    }

    #[inline]
    pub fn method(&self) -> Option<&'a [u8]> {
        self.request_line().map(|r| r.method)
    }

    #[inline]
    pub fn path(&self) -> Option<Cow<'a, [u8]>> {
        self.request_line().map(|r| target_path(r.target))
    }
}

/// Fields beyond combined's: virtual host, port, response time, the
/// proxy chain, TLS. Empty slices and None when the format has none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ext<'a> {
    /// The request as separate fields (nginx `$request_method $uri`,
    /// Caddy's JSON, W3C columns) rather than one `"METHOD TARGET HTTP/x"`.
    pub split: Option<RequestLine<'a>>,
    /// The virtual host (`%v`, `$host`, Caddy's `request.host`).
    pub vhost: &'a [u8],
    /// The server port (`%p`, `$server_port`).
    pub port: Option<u16>,
    /// Time taken to serve the request, in microseconds.
    pub micros: Option<u64>,
    /// The `X-Forwarded-For` header as written (a comma-separated list).
    pub xff: &'a [u8],
    pub tls_protocol: &'a [u8],
    pub tls_cipher: &'a [u8],
}

impl<'a> Ext<'a> {
    /// The request's parts: the separate fields when the format logs them
    /// so, else the record's request line.
    #[inline]
    pub fn request_line(&self, r: &Record<'a>) -> Option<RequestLine<'a>> {
        match self.split {
            Some(s) => Some(s),
            None => r.request_line(),
        }
    }
}

impl Ext<'_> {
    /// Nothing beyond combined's fields.
    pub const NONE: Ext<'static> = Ext {
        split: None,
        vhost: b"",
        port: None,
        micros: None,
        xff: b"",
        tls_protocol: b"",
        tls_cipher: b"",
    };
}

/// `METHOD TARGET HTTP/x` split into its parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestLine<'a> {
    pub method: &'a [u8],
    pub target: &'a [u8],
    pub version: &'a [u8],
}

impl<'a> Record<'a> {
    /// The request's parts, or None when the request field is `-` or not
    /// of the form `METHOD TARGET HTTP/x` (TLS bytes sent to an HTTP port,
    /// a scanner's junk).
    #[inline]
    pub fn request_line(&self) -> Option<RequestLine<'a>> {
        split_request(self.request)
    }

    /// The request's method, if the request is well formed.
    #[inline]
    pub fn method(&self) -> Option<&'a [u8]> {
        self.request_line().map(|r| r.method)
    }

    /// The path: the target before `?` (absolute-form targets lose their
    /// `scheme://authority`), percent-decoded. Borrowed unless it had a `%`.
    #[inline]
    pub fn path(&self) -> Option<Cow<'a, [u8]>> {
        self.request_line().map(|r| target_path(r.target))
    }

    /// The status as a number.
    #[inline]
    pub fn status_code(&self) -> u16 {
        let s = self.status;
        (s[0] - b'0') as u16 * 100 + (s[1] - b'0') as u16 * 10 + (s[2] - b'0') as u16
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits `METHOD SP TARGET SP HTTP/x.y`.
#[inline]
pub fn split_request(req: &[u8]) -> Option<RequestLine<'_>> {
    let sp1 = memchr::memchr(b' ', req)?;
    let method = &req[..sp1];
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return None;
    }
    let rest = &req[sp1 + 1..];
    let sp2 = memchr::memrchr(b' ', rest)?;
    let (target, version) = (&rest[..sp2], &rest[sp2 + 1..]);
    if target.is_empty() || memchr::memchr(b' ', target).is_some() || !version.starts_with(b"HTTP/")
    {
        return None;
    }
    Some(RequestLine {
        method,
        target,
        version,
    })
}

/// The target's path: before `?` or `#`, without an absolute form's
/// `scheme://authority`, percent-decoded (`%zz` stays as written).
pub fn target_path(target: &[u8]) -> Cow<'_, [u8]> {
    let mut t = target;
    // Origin form (`/path`) is the rule; only look for `scheme://` otherwise.
    if t.first() != Some(&b'/') {
        if let Some(i) = memchr::memmem::find(t, b"://") {
            if t[..i].iter().all(|b| b.is_ascii_alphabetic()) && i > 0 {
                let after = &t[i + 3..];
                t = match memchr::memchr(b'/', after) {
                    Some(j) => &after[j..],
                    None => b"/",
                };
            }
        }
    }
    let end = memchr::memchr2(b'?', b'#', t).unwrap_or(t.len());
    let p = &t[..end];
    if memchr::memchr(b'%', p).is_none() {
        return Cow::Borrowed(p);
    }
    Cow::Owned(percent_decode(p))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%XX`; a `%` not followed by two hex digits is kept.
pub fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_split() {
        let r = split_request(b"GET /truc.html?a=1 HTTP/1.1").unwrap();
        assert_eq!(
            (r.method, r.target, r.version),
            (&b"GET"[..], &b"/truc.html?a=1"[..], &b"HTTP/1.1"[..])
        );
        assert_eq!(split_request(b"-"), None);
        assert_eq!(
            split_request(b"GET /"),
            None,
            "HTTP/0.9 form has no version"
        );
        assert_eq!(
            split_request(b"\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xfc\\x03\\x03"),
            None
        );
        assert_eq!(split_request(b"GET /a b HTTP/1.1"), None);
        assert_eq!(split_request(b"G\"T / HTTP/1.1"), None);
    }

    #[test]
    fn paths() {
        assert_eq!(
            &*target_path(b"/docs/truc.html?x=/bidule.html"),
            b"/docs/truc.html"
        );
        assert_eq!(&*target_path(b"/a%20b%2Ehtml"), b"/a b.html");
        assert_eq!(&*target_path(b"/100%zz%4"), b"/100%zz%4");
        assert_eq!(&*target_path(b"/x%"), b"/x%");
        assert_eq!(
            &*target_path(b"http://example.org/truc.html?q"),
            b"/truc.html"
        );
        assert_eq!(&*target_path(b"http://example.org"), b"/");
        assert_eq!(&*target_path(b"/p#frag"), b"/p");
        assert!(matches!(target_path(b"/plain"), Cow::Borrowed(_)));
    }
}
