//! IMAP `LOGIN` (atoms, quoted strings and literals) and
//! `AUTHENTICATE PLAIN/LOGIN`.

use super::sasl::SaslError;
use super::{verb, Hit, Sasl};
use crate::sniff::finding::Proto;

#[derive(Debug, Default)]
pub struct Imap {
    /// The client asked for TLS on this connection (STARTTLS, STLS, AUTH
    /// TLS): its next bytes may be a ClientHello.
    pub starttls: bool,
    sasl: Sasl,
    /// The last malformed SASL line, for the engine to count.
    pub error: Option<SaslError>,
    /// A command whose line ended in a literal `{n}`: the text so far (the
    /// literal written as a quoted string) and the literal's length.
    pending: Option<(Vec<u8>, usize)>,
}

/// `tag command...` → (tag, command...).
pub fn split_tag(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, rest) = verb(line);
    let ok = !tag.is_empty()
        && tag
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(c));
    (ok && !rest.is_empty()).then_some((tag, rest))
}

/// A literal marker `{n}` or `{n+}` at the end of a line.
fn literal_len(line: &[u8]) -> Option<(usize, usize)> {
    let line = line.strip_suffix(b"}")?;
    let open = memchr::memrchr(b'{', line)?;
    let digits = line[open + 1..]
        .strip_suffix(b"+")
        .unwrap_or(&line[open + 1..]);
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((open, n))
}

fn quote(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
}

/// Parses IMAP astrings (atom or quoted string) separated by spaces.
pub fn astrings(mut s: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        s = s.trim_ascii_start();
        if s.is_empty() {
            return out;
        }
        let mut v = Vec::new();
        if s[0] == b'"' {
            let mut i = 1;
            while i < s.len() && s[i] != b'"' {
                if s[i] == b'\\' && i + 1 < s.len() {
                    i += 1;
                }
                v.push(s[i]);
                i += 1;
            }
            s = &s[(i + 1).min(s.len())..];
        } else {
            let end = s.iter().position(|&c| c == b' ').unwrap_or(s.len());
            v.extend_from_slice(&s[..end]);
            s = &s[end..];
        }
        out.push(v);
    }
}

impl Imap {
    /// One server line: a SASL challenge (CRAM-MD5, NTLM) or nothing.
    pub fn server_line(&mut self, line: &[u8]) {
        if let Err(e) = self.sasl.server_line(line) {
            self.error = Some(e);
        }
    }

    /// One client line (without its line end).
    pub fn client_line(&mut self, line: &[u8]) -> Option<Hit> {
        let owned;
        let mut line = line;
        if let Some((mut text, n)) = self.pending.take() {
            let n = n.min(line.len());
            quote(&mut text, &line[..n]);
            text.extend_from_slice(&line[n..]);
            owned = text;
            line = &owned;
        }
        if let Some((open, n)) = literal_len(line) {
            self.pending = Some((line[..open].to_vec(), n));
            return None;
        }
        if self.sasl.active() {
            return self
                .sasl
                .line_checked(Proto::Imap, line)
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        let (_, rest) = split_tag(line)?;
        let (cmd, args) = verb(rest);
        if cmd.eq_ignore_ascii_case(b"LOGIN") {
            let mut a = astrings(args).into_iter();
            let user = a.next()?;
            let pass = a.next();
            return Some(Hit::new(Proto::Imap, Some(&user), pass.as_deref()));
        }
        if cmd.eq_ignore_ascii_case(b"AUTHENTICATE") {
            let (mech, initial) = verb(args);
            return self
                .sasl
                .start_checked(Proto::Imap, mech, Some(initial))
                .unwrap_or_else(|e| {
                    self.error = Some(e);
                    None
                });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(h: Hit) -> (Vec<u8>, Vec<u8>) {
        (h.user.unwrap(), h.password.unwrap())
    }

    #[test]
    fn login_quoted_atoms_and_escapes() {
        let mut i = Imap::default();
        let h = i
            .client_line(b"a0001 LOGIN \"neulingern\" \"XXXXXX\"")
            .unwrap();
        assert_eq!(pair(h), (b"neulingern".to_vec(), b"XXXXXX".to_vec()));
        let h = i.client_line(b"x login bob p\\w").unwrap();
        assert_eq!(pair(h), (b"bob".to_vec(), b"p\\w".to_vec()));
        let h = i.client_line(b"x LOGIN \"a b\" \"q\\\"t\"").unwrap();
        assert_eq!(pair(h), (b"a b".to_vec(), b"q\"t".to_vec()));
        assert_eq!(i.client_line(b"a2 SELECT INBOX"), None);
    }

    #[test]
    fn login_with_literals() {
        let mut i = Imap::default();
        assert_eq!(i.client_line(b"a LOGIN {5}"), None);
        assert_eq!(i.client_line(b"alice {6}"), None);
        let h = i.client_line(b"se cre").unwrap();
        assert_eq!(pair(h), (b"alice".to_vec(), b"se cre".to_vec()));
    }

    #[test]
    fn authenticate_plain() {
        let mut i = Imap::default();
        assert_eq!(i.client_line(b"a1 AUTHENTICATE PLAIN"), None);
        let h = i.client_line(b"AHVzZXIAcGFzcw==").unwrap();
        assert_eq!(pair(h), (b"user".to_vec(), b"pass".to_vec()));
    }
}
