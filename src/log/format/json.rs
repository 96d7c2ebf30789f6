//! Caddy v2's JSON access log, one object per line, read by a small
//! hand-written scanner: keys are compared as raw bytes, unwanted values
//! are skipped by bracket depth, strings are kept as written (escapes
//! and all) and borrowed from the line. No tree, no allocation.

use crate::log::parse::{ParseError, Reason};
use crate::log::record::{Ext, Record, RequestLine, Rich};
use crate::log::swar::find_either;
use crate::log::time::Secs;

struct J<'a> {
    s: &'a [u8],
    i: usize,
}

type R<T> = Result<T, ParseError>;

impl<'a> J<'a> {
    fn err(&self, what: &'static str) -> ParseError {
        ParseError {
            reason: Reason::Expected(what),
            col: self.i.min(u32::MAX as usize - 1) as u32 + 1,
        }
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8, what: &'static str) -> R<()> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// A string's contents between its quotes, escapes as written.
    #[inline]
    fn string(&mut self) -> R<&'a [u8]> {
        const SHORT: usize = 16;
        self.ws();
        if self.s.get(self.i) != Some(&b'"') {
            return Err(self.err("a JSON string"));
        }
        let start = self.i + 1;
        let mut j = start;
        loop {
            // Keys and most values are a few bytes long: a search eight
            // bytes at a time over the first ones finds their end before
            // memchr2's set-up would.
            let k = match find_either(self.s, j, b'"', b'\\', SHORT) {
                Ok(k) => k,
                Err(n) if n >= self.s.len() => return Err(self.err("the end of a JSON string")),
                Err(n) => {
                    n + memchr::memchr2(b'"', b'\\', &self.s[n..])
                        .ok_or_else(|| self.err("the end of a JSON string"))?
                }
            };
            if self.s[k] == b'\\' {
                j = k + 2;
                if j > self.s.len() {
                    return Err(self.err("the end of a JSON string"));
                }
                continue;
            }
            self.i = k + 1;
            return Ok(&self.s[start..k]);
        }
    }

    /// A number's text.
    fn number(&mut self) -> R<&'a [u8]> {
        self.ws();
        let n = self.s[self.i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || b"+-.eE".contains(c))
            .count();
        if n == 0 {
            return Err(self.err("a JSON number"));
        }
        self.i += n;
        Ok(&self.s[self.i - n..self.i])
    }

    /// Skips any value.
    fn skip(&mut self) -> R<()> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'"') => self.string().map(|_| ()),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.s.get(self.i) {
                        None => return Err(self.err("the end of a JSON value")),
                        Some(b'"') => {
                            self.string()?;
                            continue;
                        }
                        Some(b'{' | b'[') => depth += 1,
                        Some(b'}' | b']') => {
                            depth -= 1;
                            if depth == 0 {
                                self.i += 1;
                                return Ok(());
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            Some(b't' | b'f' | b'n') => {
                let n = self.s[self.i..].iter().take_while(|c| c.is_ascii_alphabetic()).count();
                match &self.s[self.i..self.i + n] {
                    b"true" | b"false" | b"null" => {
                        self.i += n;
                        Ok(())
                    }
                    _ => Err(self.err("a JSON value")),
                }
            }
            _ => self.number().map(|_| ()),
        }
    }

    /// Calls `f` with each key of an object, the cursor on its value; `f`
    /// must read or skip the value.
    fn object(&mut self, mut f: impl FnMut(&mut Self, &'a [u8]) -> R<()>) -> R<()> {
        self.eat(b'{', "a JSON object")?;
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            let k = self.string()?;
            self.eat(b':', "':' after a JSON key")?;
            f(self, k)?;
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(self.err("',' or '}' in a JSON object")),
            }
        }
    }

    /// The first string of a header's array (`["curl/8.0"]`).
    fn first_of_array(&mut self) -> R<&'a [u8]> {
        self.ws();
        if self.s.get(self.i) != Some(&b'[') {
            return self.string();
        }
        let at = self.i;
        self.i += 1;
        self.ws();
        let v = if self.s.get(self.i) == Some(&b'"') { self.string()? } else { &self.s[at..at] };
        self.ws();
        if !v.is_empty() && self.s.get(self.i) == Some(&b']') {
            // One value, as nearly every header has: not read twice.
            self.i += 1;
            return Ok(v);
        }
        self.i = at;
        self.skip()?;
        Ok(v)
    }
}

fn digits_u64(b: &[u8]) -> Option<u64> {
    (!b.is_empty() && b.len() < 20 && b.iter().all(u8::is_ascii_digit))
        .then(|| b.iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64))
}

/// Seconds with a fraction (`0.000532`, `1.5e-05`) in microseconds.
fn seconds_micros(b: &[u8]) -> Option<u64> {
    let v: f64 = std::str::from_utf8(b).ok()?.parse().ok()?;
    (v.is_finite() && v >= 0.0).then(|| (v * 1e6).round() as u64)
}

/// Go's TLS version numbers as Caddy logs them.
fn tls_version(n: &[u8]) -> &'static [u8] {
    match n {
        b"769" => b"TLSv1",
        b"770" => b"TLSv1.1",
        b"771" => b"TLSv1.2",
        b"772" => b"TLSv1.3",
        _ => b"",
    }
}

/// Parses one Caddy access-log line.
pub fn parse_caddy(line: &[u8]) -> R<Rich<'_>> {
    let mut j = J { s: line, i: 0 };
    j.ws();
    if j.i >= line.len() {
        return Err(j.err("a JSON object"));
    }
    if line[j.i] == 0 {
        return Err(ParseError { reason: Reason::Nul, col: 1 });
    }
    let mut time: Option<Secs> = None;
    let empty: &[u8] = b"";
    let (mut remote, mut client, mut method, mut uri, mut proto) = (empty, empty, empty, empty, empty);
    let (mut status, mut size, mut user): (&[u8], Option<u64>, &[u8]) = (b"", None, b"");
    let (mut referer, mut agent) = (None, None);
    let mut ext = Ext::NONE;
    j.object(|j, k| {
        match k {
            b"ts" => {
                j.ws();
                if j.s.get(j.i) == Some(&b'"') {
                    let v = j.string()?;
                    let mut t = super::fields::TimeParts::default();
                    super::fields::read_time(&super::fields::TimeSpec::Iso8601, v, &mut t)
                        .ok_or_else(|| j.err("\"ts\" (time)"))?;
                    time = Some(t.secs());
                } else {
                    let v = j.number()?;
                    let int = &v[..memchr::memchr(b'.', v).unwrap_or(v.len())];
                    time = Some(digits_u64(int).ok_or_else(|| j.err("\"ts\" (time)"))? as Secs);
                }
            }
            b"request" => j.object(|j, k| {
                match k {
                    b"remote_ip" => remote = j.string()?,
                    b"client_ip" => client = j.string()?,
                    b"proto" => proto = j.string()?,
                    b"method" => method = j.string()?,
                    b"host" => ext.vhost = j.string()?,
                    b"uri" => uri = j.string()?,
                    b"headers" => j.object(|j, h| {
                        if h.eq_ignore_ascii_case(b"User-Agent") {
                            agent = Some(j.first_of_array()?);
                        } else if h.eq_ignore_ascii_case(b"Referer") {
                            referer = Some(j.first_of_array()?);
                        } else if h.eq_ignore_ascii_case(b"X-Forwarded-For") {
                            ext.xff = j.first_of_array()?;
                        } else {
                            j.skip()?;
                        }
                        Ok(())
                    })?,
                    b"tls" => j.object(|j, t| {
                        match t {
                            b"version" => ext.tls_protocol = tls_version(j.number()?),
                            b"cipher_suite" => ext.tls_cipher = j.number()?,
                            _ => j.skip()?,
                        }
                        Ok(())
                    })?,
                    _ => j.skip()?,
                }
                Ok(())
            })?,
            b"status" => status = j.number()?,
            b"size" => size = Some(digits_u64(j.number()?).ok_or_else(|| j.err("\"size\" (bytes)"))?),
            b"duration" => {
                ext.micros = Some(seconds_micros(j.number()?).ok_or_else(|| j.err("\"duration\" (seconds)"))?)
            }
            b"user_id" => user = j.string()?,
            _ => j.skip()?,
        }
        Ok(())
    })?;
    j.ws();
    if j.i != line.len() {
        return Err(j.err("the end of the line after the JSON object"));
    }
    let host = if !client.is_empty() { client } else { remote };
    let time = time.ok_or(ParseError { reason: Reason::Expected("\"ts\" (time)"), col: 1 })?;
    if status.len() != 3 || !status.iter().all(u8::is_ascii_digit) {
        return Err(ParseError { reason: Reason::Expected("\"status\" (three digits)"), col: 1 });
    }
    if host.is_empty() || uri.is_empty() {
        return Err(ParseError { reason: Reason::Expected("\"request\" with remote_ip and uri"), col: 1 });
    }
    ext.split = Some(RequestLine { method, target: uri, version: proto });
    let rec = Record {
        host,
        ident: b"-",
        user: if user.is_empty() { b"-" } else { user },
        time,
        zone: b"",
        request: uri,
        status,
        bytes: size,
        referer: Some(referer.unwrap_or(b"-")),
        agent: Some(agent.unwrap_or(b"-")),
    };
    Ok(Rich { rec, ext })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &[u8] = br#"{"level":"info","ts":1391843103.4501,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41234","client_ip":"203.0.113.9","proto":"HTTP/1.1","method":"GET","host":"a.test:8080","uri":"/truc.html?x=\"1\"","headers":{"User-Agent":["curl/8.0 \"q\""],"Accept":["*/*"],"X-Forwarded-For":["203.0.113.9, 10.0.0.1"]},"tls":{"version":772,"cipher_suite":4865}},"bytes_read":0,"user_id":"","duration":0.5012,"size":12,"status":200,"resp_headers":{"Server":["Caddy"],"Content-Type":["text/plain"]}}"#;

    #[test]
    fn caddy_line() {
        let r = parse_caddy(LINE).unwrap();
        assert_eq!(r.host, b"203.0.113.9");
        assert_eq!(crate::log::time::format_clock(r.time), "08/Feb/2014:07:05:03");
        assert_eq!((r.status_code(), r.bytes), (200, Some(12)));
        assert_eq!(r.method(), Some(&b"GET"[..]));
        assert_eq!(&*r.path().unwrap(), b"/truc.html");
        assert_eq!(r.agent, Some(&br#"curl/8.0 \"q\""#[..]));
        assert_eq!(r.ext.vhost, b"a.test:8080");
        assert_eq!(r.ext.micros, Some(501_200));
        assert_eq!(r.ext.xff, b"203.0.113.9, 10.0.0.1");
        assert_eq!(r.ext.tls_protocol, b"TLSv1.3");
    }

    #[test]
    fn hostile_json_is_an_error_with_a_column() {
        let s = std::str::from_utf8(LINE).unwrap();
        for bad in [
            &s[..s.len() - 1],
            &s[..40],
            "",
            "{",
            "[1,2]",
            "{\"ts\":1,\"status\":200}",
            &s.replace("\"status\":200", "\"status\":\"200\""),
            &s.replace("}}", "}} x"),
            "{\"ts\":tru}",
            "{\"a\":\"\\",
        ] {
            let e = parse_caddy(bad.as_bytes()).unwrap_err();
            assert!(e.col as usize <= bad.len() + 1, "{bad}: {e}");
        }
        assert!(parse_caddy(b"\0\0{").is_err());
    }
}
