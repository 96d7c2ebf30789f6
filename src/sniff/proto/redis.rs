//! Redis commands from the client: `AUTH password`, `AUTH user password`
//! and `HELLO version AUTH user password`, sent as RESP arrays (what
//! redis-cli and the client libraries send) or as inline commands (what a
//! human types over telnet or nc). Other commands are skipped without being
//! copied, however large their arguments.

use super::Hit;
use crate::sniff::finding::Proto;

/// Why the command stream could not be read (the rest of it is skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedisError {
    #[error("bad array or bulk length")]
    Length,
    #[error("expected a bulk string")]
    NotBulk,
    #[error("inline command longer than 64 KiB")]
    InlineTooLong,
}

/// Arguments of AUTH and HELLO longer than this are not credentials.
const MAX_ARG: usize = 4096;
const MAX_INLINE: usize = 64 * 1024;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a command.
    #[default]
    Command,
    /// Inside an array: elements still to read, and whether this command's
    /// arguments are kept (AUTH, HELLO) or skipped.
    Elements { left: u64, keep: bool },
    /// Bytes of a skipped bulk string (and its CR LF) still to drop.
    Skip { bytes: u64, left: u64 },
    /// The stream could not be read: everything is dropped.
    Broken,
}

#[derive(Debug, Default)]
pub struct Redis {
    state: State,
    args: Vec<Vec<u8>>,
}

fn line(b: &[u8]) -> Option<(&[u8], usize)> {
    let i = memchr::memchr(b'\n', b)?;
    Some((super::trim_crlf(&b[..i]), i + 1))
}

fn number(b: &[u8]) -> Option<i64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The credential in a command's words, if it carries one.
pub fn command(args: &[Vec<u8>]) -> Option<Hit> {
    let name = args.first()?;
    let (user, pass, what) = if name.eq_ignore_ascii_case(b"AUTH") {
        match args {
            [_, p] => (None, p, "AUTH (default user)"),
            [_, u, p] => (Some(u), p, "AUTH"),
            _ => return None,
        }
    } else if name.eq_ignore_ascii_case(b"HELLO") {
        let i = args.iter().position(|a| a.eq_ignore_ascii_case(b"AUTH"))?;
        (Some(args.get(i + 1)?), args.get(i + 2)?, "HELLO AUTH")
    } else {
        return None;
    };
    let mut h = Hit::new(Proto::Redis, user.map(|u| &u[..]), Some(pass));
    h.detail = Some(what.to_string());
    Some(h)
}

fn interesting(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"AUTH") || name.eq_ignore_ascii_case(b"HELLO")
}

impl Redis {
    /// Reads the client's complete commands off the front of `buf`.
    pub fn client(&mut self, buf: &mut Vec<u8>) -> Result<Vec<Hit>, RedisError> {
        let mut hits = Vec::new();
        let mut at = 0;
        let r = self.run(buf, &mut at, &mut hits);
        if r.is_err() {
            self.state = State::Broken;
        }
        if self.state == State::Broken {
            at = buf.len();
        }
        buf.drain(..at);
        r.map(|()| hits)
    }

    fn run(&mut self, buf: &[u8], at: &mut usize, hits: &mut Vec<Hit>) -> Result<(), RedisError> {
        loop {
            let b = &buf[*at..];
            match self.state {
                State::Broken => return Ok(()),
                State::Skip { bytes, left } => {
                    let n = (bytes as usize).min(b.len());
                    *at += n;
                    if (n as u64) < bytes {
                        self.state = State::Skip {
                            bytes: bytes - n as u64,
                            left,
                        };
                        return Ok(());
                    }
                    self.state = State::Elements { left, keep: false };
                }
                State::Command => {
                    let Some(&first) = b.first() else {
                        return Ok(());
                    };
                    let Some((l, n)) = line(b) else {
                        if b.len() > MAX_INLINE {
                            return Err(RedisError::InlineTooLong);
                        }
                        return Ok(());
                    };
                    *at += n;
                    if first == b'*' {
                        let count = number(&l[1..]).ok_or(RedisError::Length)?;
                        if !(-1..=1 << 20).contains(&count) {
                            return Err(RedisError::Length);
                        }
                        self.args.clear();
                        self.state = State::Elements {
                            left: count.max(0) as u64,
                            keep: true,
                        };
                    } else {
                        let words: Vec<Vec<u8>> = l
                            .split(|c| c.is_ascii_whitespace())
                            .filter(|w| !w.is_empty())
                            .map(<[u8]>::to_vec)
                            .collect();
                        hits.extend(command(&words));
                    }
                }
                State::Elements { left: 0, .. } => {
                    hits.extend(command(&self.args));
                    self.args.clear();
                    self.state = State::Command;
                }
                State::Elements { left, keep } => {
                    let Some((l, n)) = line(b) else {
                        if b.len() > 64 {
                            return Err(RedisError::NotBulk);
                        }
                        return Ok(());
                    };
                    if l.first() != Some(&b'$') {
                        return Err(RedisError::NotBulk);
                    }
                    let len = number(&l[1..]).ok_or(RedisError::Length)?;
                    if len < -1 {
                        return Err(RedisError::Length);
                    }
                    let len = len.max(0) as u64;
                    if keep && (len as usize) <= MAX_ARG {
                        let total = n + len as usize + 2;
                        if b.len() < total {
                            return Ok(());
                        }
                        let arg = &b[n..n + len as usize];
                        let keep = !self.args.is_empty() || interesting(arg);
                        if keep {
                            self.args.push(arg.to_vec());
                        }
                        *at += total;
                        self.state = State::Elements {
                            left: left - 1,
                            keep,
                        };
                    } else {
                        *at += n;
                        self.args.clear();
                        self.state = State::Skip {
                            bytes: len + 2,
                            left: left - 1,
                        };
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(words: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", words.len()).into_bytes();
        for w in words {
            v.extend(format!("${}\r\n{w}\r\n", w.len()).bytes());
        }
        v
    }

    type Pair<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

    fn pairs(h: &[Hit]) -> Vec<Pair<'_>> {
        h.iter()
            .map(|h| (h.user.as_deref(), h.password.as_deref()))
            .collect()
    }

    #[test]
    fn both_forms_resp_and_inline_split_anywhere() {
        let mut all = resp(&["SET", "k", &"v".repeat(10_000)]);
        all.extend(resp(&["AUTH", "pw1"]));
        all.extend(resp(&["AUTH", "amy", "pw2"]));
        all.extend(resp(&["HELLO", "3", "AUTH", "bob", "pw3", "SETNAME", "x"]));
        all.extend(b"auth pw4\r\nPING\r\n");
        for step in [1, 7, all.len()] {
            let mut r = Redis::default();
            let mut buf = Vec::new();
            let mut hits = Vec::new();
            for chunk in all.chunks(step) {
                buf.extend_from_slice(chunk);
                hits.extend(r.client(&mut buf).unwrap());
            }
            assert!(buf.is_empty());
            assert_eq!(
                pairs(&hits),
                vec![
                    (None, Some(&b"pw1"[..])),
                    (Some(&b"amy"[..]), Some(&b"pw2"[..])),
                    (Some(&b"bob"[..]), Some(&b"pw3"[..])),
                    (None, Some(&b"pw4"[..])),
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn malformed_is_an_error_then_skipped() {
        let mut r = Redis::default();
        let mut buf = b"*2\r\n+AUTH\r\n".to_vec();
        assert_eq!(r.client(&mut buf).unwrap_err(), RedisError::NotBulk);
        buf.extend(resp(&["AUTH", "pw"]));
        assert!(r.client(&mut buf).unwrap().is_empty());
        assert!(buf.is_empty());
        let mut r = Redis::default();
        let mut buf = b"*x\r\n".to_vec();
        assert_eq!(r.client(&mut buf).unwrap_err(), RedisError::Length);
    }
}
