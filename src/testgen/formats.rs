//! The generated combined log's requests written in other formats, for
//! benchmarks that compare formats on the same content: Debian's
//! vhost_combined with a time taken after it (`%v:%p ... %D`), and Caddy
//! v2's JSON access log.

use std::io::{self, Write};

use crate::log::parse::parse_line;

/// A layout the generated requests can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// As generated.
    Combined,
    /// `%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D`.
    VhostTimed,
    /// Caddy v2's JSON access log (one object per line).
    Caddy,
}

/// The Apache format string of [`Layout::VhostTimed`].
pub const VHOST_TIMED: &str = r#"%v:%p %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D"#;

const VHOSTS: [&str; 3] = ["www.example.org", "lab.example.org", "static.example.org"];

fn json_str(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    for &c in b {
        match c {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', c]),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// Appends combined line number `i` (without its `\n`) to `out` in
/// `layout`, with its `\n`; false (nothing written) for a line that is
/// not valid combined, or a Caddy line without a request line.
pub fn convert(layout: Layout, i: u64, line: &[u8], out: &mut Vec<u8>) -> bool {
    let Ok(r) = parse_line(line) else { return false };
    let vhost = VHOSTS[(i % 3) as usize];
    let micros = (i * 7919) % 2_000_000;
    match layout {
        Layout::Combined => {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        Layout::VhostTimed => {
            out.extend_from_slice(format!("{vhost}:443 ").as_bytes());
            out.extend_from_slice(line);
            out.extend_from_slice(format!(" {micros}\n").as_bytes());
        }
        Layout::Caddy => {
            let Some(rl) = r.request_line() else { return false };
            out.extend_from_slice(format!("{{\"level\":\"info\",\"ts\":{}.{:06},\"logger\":\"http.log.access.log0\",\"msg\":\"handled request\",\"request\":{{\"remote_ip\":", r.time - 3600, i % 1_000_000).as_bytes());
            json_str(out, r.host);
            out.extend_from_slice(b",\"remote_port\":\"41234\",\"proto\":");
            json_str(out, rl.version);
            out.extend_from_slice(b",\"method\":");
            json_str(out, rl.method);
            out.extend_from_slice(format!(",\"host\":\"{vhost}\",\"uri\":").as_bytes());
            json_str(out, rl.target);
            out.extend_from_slice(b",\"headers\":{\"User-Agent\":[");
            json_str(out, r.agent.unwrap_or(b"-"));
            out.extend_from_slice(b"],\"Referer\":[");
            json_str(out, r.referer.unwrap_or(b"-"));
            out.extend_from_slice(format!("]}}}},\"bytes_read\":0,\"user_id\":\"\",\"duration\":{}.{:06},\"size\":{},\"status\":{},\"resp_headers\":{{\"Server\":[\"Caddy\"],\"Content-Type\":[\"text/html\"]}}}}\n", micros / 1_000_000, micros % 1_000_000, r.bytes.unwrap_or(0), r.status_code()).as_bytes());
        }
    }
    true
}

/// A writer that takes combined lines and writes them on in `layout`
/// (lines that do not convert are dropped and counted). Call
/// [`Converter::finish`] at the end for a last line without `\n`.
pub struct Converter<W: Write> {
    inner: W,
    layout: Layout,
    pending: Vec<u8>,
    out: Vec<u8>,
    line: u64,
    /// Lines written, and dropped.
    pub written: u64,
    pub dropped: u64,
    /// Bytes written.
    pub bytes: u64,
}

impl<W: Write> Converter<W> {
    pub fn new(inner: W, layout: Layout) -> Self {
        Converter { inner, layout, pending: Vec::new(), out: Vec::new(), line: 0, written: 0, dropped: 0, bytes: 0 }
    }

    fn one(&mut self, line: &[u8]) {
        if convert(self.layout, self.line, line, &mut self.out) {
            self.written += 1;
        } else {
            self.dropped += 1;
        }
        self.line += 1;
    }

    fn flush_out(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.out)?;
        self.bytes += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Converts what is left and flushes; returns the inner writer.
    pub fn finish(mut self) -> io::Result<(W, u64, u64, u64)> {
        if !self.pending.is_empty() {
            let p = std::mem::take(&mut self.pending);
            self.one(&p);
        }
        self.flush_out()?;
        self.inner.flush()?;
        Ok((self.inner, self.written, self.dropped, self.bytes))
    }
}

impl<W: Write> Write for Converter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(k) = memchr::memchr(b'\n', rest) {
            if self.pending.is_empty() {
                self.one(&rest[..k]);
            } else {
                // A line begun in an earlier write.
                let mut p = std::mem::take(&mut self.pending);
                p.extend_from_slice(&rest[..k]);
                self.one(&p);
                p.clear();
                self.pending = p;
            }
            rest = &rest[k + 1..];
        }
        self.pending.extend_from_slice(rest);
        if self.out.len() > 1 << 20 {
            self.flush_out()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_out()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::{compile_string, from_arg};
    use crate::testgen::log::{write_log, GenOpts};

    /// Each layout is read back by its format to the same requests.
    #[test]
    fn layouts_read_back_to_the_same_requests() {
        let mut plain = Vec::new();
        write_log(&GenOpts::plain(3, 2_000), &mut plain).unwrap();
        let lines: Vec<&[u8]> = plain.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        for (layout, fmt) in [
            (Layout::Combined, from_arg("combined").unwrap().format),
            (Layout::VhostTimed, compile_string(VHOST_TIMED).unwrap()),
            (Layout::Caddy, from_arg("caddy").unwrap().format),
        ] {
            // Written in odd pieces, a line split across writes.
            let mut c = Converter::new(Vec::new(), layout);
            for piece in plain.chunks(777) {
                c.write_all(piece).unwrap();
            }
            let (out, written, dropped, bytes) = c.finish().unwrap();
            // Caddy logs no request without a request line (`"-"`).
            let kept: Vec<(usize, &[u8])> = lines
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, l)| layout != Layout::Caddy || parse_line(l).unwrap().request_line().is_some())
                .collect();
            assert!(kept.len() + 20 > lines.len(), "{layout:?}: {} of {} kept", kept.len(), lines.len());
            let left_out = (lines.len() - kept.len()) as u64;
            assert_eq!((written, dropped, bytes), (kept.len() as u64, left_out, out.len() as u64), "{layout:?}");
            let mut p = fmt.parser(None);
            for ((k, a), b) in kept.into_iter().zip(out.split(|&b| b == b'\n')) {
                let want = parse_line(a).unwrap();
                let got = p.parse(b).unwrap().unwrap_or_else(|| panic!("{layout:?}: line {k} skipped"));
                assert_eq!((got.host, got.status, got.bytes.unwrap_or(0)), (want.host, want.status, want.bytes.unwrap_or(0)), "{layout:?}");
                assert_eq!(got.request_line().map(|r| r.target), want.request_line().map(|r| r.target), "{layout:?}");
                if layout == Layout::VhostTimed {
                    assert_eq!(got.ext.micros, Some((k as u64 * 7919) % 2_000_000));
                }
            }
        }
    }
}
