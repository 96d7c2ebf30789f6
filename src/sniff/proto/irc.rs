//! IRC: the server password (`PASS`, reported with the nick that follows
//! it), NickServ `IDENTIFY` (`PRIVMSG NickServ :IDENTIFY [account]
//! password`, and the `NICKSERV`/`NS` command forms), and SASL PLAIN
//! (`AUTHENTICATE PLAIN`, then the base64 response).

use super::{b64, sasl_plain, starts_with_ci, verb, Hit};
use crate::sniff::finding::Proto;

/// Lines after `PASS` that may pass before it is reported without a nick.
const PASS_WAIT_LINES: u8 = 3;

#[derive(Debug, Default)]
pub struct Irc {
    /// The client asked for TLS (`STARTTLS`): its next bytes may be a
    /// ClientHello.
    pub starttls: bool,
    nick: Option<Vec<u8>>,
    /// A `PASS` waiting for the nick (it comes first, by the RFC).
    pass: Option<Vec<u8>>,
    lines_since_pass: u8,
    /// `AUTHENTICATE PLAIN` was sent: the next `AUTHENTICATE` is it.
    sasl_plain: bool,
}

/// A parameter: a leading `:` (a trailing parameter) removed.
fn param(b: &[u8]) -> &[u8] {
    b.strip_prefix(b":").unwrap_or(b)
}

/// Drops IRCv3 message tags (`@a=b `) and a source prefix (`:nick `).
fn strip_prefixes(mut line: &[u8]) -> &[u8] {
    for mark in [b'@', b':'] {
        if line.first() == Some(&mark) {
            line = match memchr::memchr(b' ', line) {
                Some(i) => line[i + 1..].trim_ascii_start(),
                None => &[],
            };
        }
    }
    line
}

impl Irc {
    /// One client line (without its line end).
    pub fn client_line(&mut self, line: &[u8]) -> Option<Hit> {
        let (cmd, arg) = verb(strip_prefixes(line));
        let is = |c: &[u8]| cmd.eq_ignore_ascii_case(c);
        if is(b"PASS") {
            // The password is the first parameter, or all of a trailing one.
            let pw = match arg.strip_prefix(b":") {
                Some(t) => t,
                None => arg.split(|&c| c == b' ').next().unwrap_or(arg),
            };
            let earlier = self.pass_hit(None);
            self.pass = Some(pw.to_vec());
            self.lines_since_pass = 0;
            return earlier;
        }
        if is(b"NICK") {
            let nick = param(arg.split(|&c| c == b' ').next().unwrap_or(arg));
            self.nick = Some(nick.to_vec());
            return self.pass_hit(None);
        }
        if is(b"USER") {
            let user = arg.split(|&c| c == b' ').next().unwrap_or(arg).to_vec();
            return self.pass_hit(Some(user));
        }
        let hit = if is(b"PRIVMSG") {
            let (target, text) = verb(arg);
            let service = target.split(|&c| c == b'@').next().unwrap_or(target);
            if service.eq_ignore_ascii_case(b"NickServ") {
                self.identify(param(text), "NickServ IDENTIFY")
            } else {
                None
            }
        } else if is(b"NICKSERV") || is(b"NS") {
            self.identify(param(arg), "NICKSERV IDENTIFY")
        } else if is(b"AUTHENTICATE") {
            let arg = param(arg);
            if arg.eq_ignore_ascii_case(b"PLAIN") {
                self.sasl_plain = true;
                None
            } else if std::mem::take(&mut self.sasl_plain) && arg != b"*" {
                b64(arg).and_then(|d| sasl_plain(&d)).map(|(u, p)| {
                    let mut h = Hit::new(Proto::Irc, Some(&u), Some(&p));
                    h.detail = Some("SASL PLAIN".into());
                    h
                })
            } else {
                None
            }
        } else {
            None
        };
        if hit.is_some() {
            return hit;
        }
        if self.pass.is_some() {
            self.lines_since_pass += 1;
            if self.lines_since_pass >= PASS_WAIT_LINES {
                return self.pass_hit(None);
            }
        }
        None
    }

    /// The pending `PASS`, with the nick (or `user`) now known.
    fn pass_hit(&mut self, user: Option<Vec<u8>>) -> Option<Hit> {
        let pw = self.pass.take()?;
        let user = self.nick.clone().or(user);
        let mut h = Hit::new(Proto::Irc, user.as_deref(), Some(&pw));
        h.detail = Some("PASS (server password)".into());
        Some(h)
    }

    /// `IDENTIFY password` (the account is the nick) or `IDENTIFY account
    /// password`.
    fn identify(&mut self, text: &[u8], detail: &str) -> Option<Hit> {
        if !starts_with_ci(text, b"IDENTIFY ") {
            return None;
        }
        let words: Vec<&[u8]> = text[9..]
            .split(|&c| c == b' ')
            .filter(|w| !w.is_empty())
            .collect();
        let (user, pw) = match words[..] {
            [pw] => (self.nick.clone(), pw),
            [account, pw, ..] => (Some(account.to_vec()), pw),
            [] => return None,
        };
        let mut h = Hit::new(Proto::Irc, user.as_deref(), Some(pw));
        h.detail = Some(detail.into());
        Some(h)
    }
}

/// Whether a client's first line opens an IRC registration: `CAP`, `NICK`,
/// `USER name mode unused :real name`, or `PASS` followed by `NICK` or
/// `USER` (`None`: wait for the next line).
pub fn looks_like_client(client: &[u8]) -> Option<bool> {
    let first = super::first_line(client)?;
    let (cmd, arg) = verb(strip_prefixes(first));
    let is = |c: &[u8]| cmd.eq_ignore_ascii_case(c);
    if (is(b"CAP") && (starts_with_ci(arg, b"LS") || starts_with_ci(arg, b"REQ")))
        || (is(b"NICK") && !arg.is_empty() && !arg.contains(&b' '))
    {
        return Some(true);
    }
    if is(b"USER") {
        return Some(arg.split(|&c| c == b' ').count() >= 4);
    }
    if is(b"PASS") {
        let rest = &client[first.len()..];
        let rest = rest.strip_prefix(b"\r").unwrap_or(rest);
        let rest = rest.strip_prefix(b"\n").unwrap_or(rest);
        let (c, _) = verb(super::first_line(rest)?);
        return Some(c.eq_ignore_ascii_case(b"NICK") || c.eq_ignore_ascii_case(b"USER"));
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(h: &Hit) -> (Option<&[u8]>, Option<&[u8]>, Option<&str>) {
        (
            h.user.as_deref(),
            h.password.as_deref(),
            h.detail.as_deref(),
        )
    }

    #[test]
    fn pass_is_reported_with_the_nick_that_follows() {
        let mut i = Irc::default();
        assert_eq!(i.client_line(b"CAP LS 302"), None);
        assert_eq!(i.client_line(b"PASS :server pass word"), None);
        let h = i.client_line(b"NICK alice").unwrap();
        assert_eq!(
            pair(&h),
            (
                Some(&b"alice"[..]),
                Some(&b"server pass word"[..]),
                Some("PASS (server password)")
            )
        );
        assert_eq!(i.client_line(b"USER alice 0 * :Alice"), None);
        // Without a nick: the user name, or none after a few lines.
        let mut i = Irc::default();
        i.client_line(b"PASS s3cret extra");
        let h = i.client_line(b"USER bob 0 * :Bob").unwrap();
        assert_eq!(pair(&h).0, Some(&b"bob"[..]));
        assert_eq!(pair(&h).1, Some(&b"s3cret"[..]));
        let mut i = Irc::default();
        i.client_line(b"PASS lonely");
        assert_eq!(i.client_line(b"CAP END"), None);
        assert_eq!(i.client_line(b"PING x"), None);
        let h = i.client_line(b"PING y").unwrap();
        assert_eq!(pair(&h).0, None);
    }

    #[test]
    fn nickserv_identify_in_its_forms() {
        let mut i = Irc::default();
        i.client_line(b"NICK carol");
        let h = i
            .client_line(b"PRIVMSG NickServ :IDENTIFY hunter2")
            .unwrap();
        assert_eq!(
            pair(&h),
            (
                Some(&b"carol"[..]),
                Some(&b"hunter2"[..]),
                Some("NickServ IDENTIFY")
            )
        );
        let h = i
            .client_line(b"@label=1 PRIVMSG nickserv@services.net :identify acct pw2")
            .unwrap();
        assert_eq!(pair(&h).0, Some(&b"acct"[..]));
        assert_eq!(pair(&h).1, Some(&b"pw2"[..]));
        let h = i.client_line(b"NS IDENTIFY pw3").unwrap();
        assert_eq!(
            pair(&h),
            (
                Some(&b"carol"[..]),
                Some(&b"pw3"[..]),
                Some("NICKSERV IDENTIFY")
            )
        );
        assert_eq!(
            i.client_line(b"PRIVMSG #chan :IDENTIFY not-a-password"),
            None
        );
        assert_eq!(i.client_line(b"PRIVMSG NickServ :HELP"), None);
        assert_eq!(i.client_line(b"PRIVMSG NickServ :IDENTIFY "), None);
    }

    #[test]
    fn sasl_plain() {
        let mut i = Irc::default();
        assert_eq!(i.client_line(b"AUTHENTICATE PLAIN"), None);
        // "\0dave\0pw4"
        let h = i.client_line(b"AUTHENTICATE AGRhdmUAcHc0").unwrap();
        assert_eq!(
            pair(&h),
            (Some(&b"dave"[..]), Some(&b"pw4"[..]), Some("SASL PLAIN"))
        );
        assert_eq!(i.client_line(b"AUTHENTICATE AGRhdmUAcHc0"), None);
    }

    #[test]
    fn detection_by_the_first_client_lines() {
        assert_eq!(looks_like_client(b"NICK x\r\n"), Some(true));
        assert_eq!(looks_like_client(b"CAP LS 302\r\n"), Some(true));
        assert_eq!(looks_like_client(b"USER a 0 * :A\r\n"), Some(true));
        assert_eq!(looks_like_client(b"USER anonymous\r\n"), Some(false));
        assert_eq!(looks_like_client(b"PASS x\r\n"), None);
        assert_eq!(looks_like_client(b"PASS x\r\nNICK y\r\n"), Some(true));
        assert_eq!(looks_like_client(b"PASS x\r\nSYST\r\n"), Some(false));
        assert_eq!(looks_like_client(b"GET / HTTP/1.0\r\n"), Some(false));
        assert_eq!(looks_like_client(b"NICK"), None);
    }
}
