//! Telnet logins typed one character per packet: option negotiation
//! stripped, backspaces applied, the line after a `login:` prompt is the
//! user and the line after a `Password:` prompt the password. Once a
//! password was typed, further lines are the session (shell commands), not
//! credentials: only a new prompt (after `Login incorrect`, or `su`'s
//! `Password:`) makes the next line one again.

use super::Hit;
use crate::sniff::finding::Proto;

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// Removes Telnet commands from a byte stream, keeping the state between
/// calls (a command can be split across packets).
#[derive(Debug, Default, Clone)]
pub struct Unescape {
    state: U,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum U {
    #[default]
    Data,
    Iac,
    Opt,
    Sb,
    SbIac,
}

impl Unescape {
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &c in bytes {
            self.state = match (self.state, c) {
                (U::Data, IAC) => U::Iac,
                (U::Data, c) => {
                    out.push(c);
                    U::Data
                }
                (U::Iac, IAC) => {
                    out.push(IAC);
                    U::Data
                }
                (U::Iac, SB) => U::Sb,
                (U::Iac, 251..=254) => U::Opt,
                (U::Iac, _) => U::Data,
                (U::Opt, _) => U::Data,
                (U::Sb, IAC) => U::SbIac,
                (U::Sb, _) => U::Sb,
                (U::SbIac, SE) => U::Data,
                (U::SbIac, _) => U::Sb,
            };
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Expect {
    #[default]
    Unknown,
    User,
    Password,
}

#[derive(Debug, Default)]
pub struct Telnet {
    client: Unescape,
    server: Unescape,
    line: Vec<u8>,
    /// The tail of what the server printed (for prompts).
    screen: Vec<u8>,
    expect: Expect,
    user: Option<Vec<u8>>,
    /// The last byte was CR (a following LF or NUL ends nothing).
    after_cr: bool,
    /// A password was typed: lines without a prompt are the session's.
    logged_in: bool,
}

impl Telnet {
    /// Bytes the server sent (prompts).
    pub fn server(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut text = Vec::new();
        self.server.feed(bytes, &mut text);
        self.screen.extend_from_slice(&text);
        let keep = self.screen.len().saturating_sub(64);
        self.screen.drain(..keep);
        let tail = self.screen.trim_ascii_end().to_ascii_lowercase();
        if tail.ends_with(b"password:") || tail.ends_with(b"passcode:") {
            self.expect = Expect::Password;
            self.line.clear();
        } else if tail.ends_with(b"login:") || tail.ends_with(b"username:") {
            self.expect = Expect::User;
            self.line.clear();
        }
    }

    /// Bytes the client typed.
    pub fn client(&mut self, bytes: &[u8]) -> Vec<Hit> {
        let mut text = Vec::new();
        self.client.feed(bytes, &mut text);
        let mut hits = Vec::new();
        for c in text {
            let after_cr = std::mem::replace(&mut self.after_cr, c == b'\r');
            match c {
                b'\r' | b'\n' => {
                    if c == b'\n' && after_cr {
                        continue;
                    }
                    hits.extend(self.end_line());
                }
                0 => {}
                8 | 127 => {
                    self.line.pop();
                }
                // Ctrl-U: kill the line.
                21 => self.line.clear(),
                c => self.line.push(c),
            }
        }
        hits
    }

    fn end_line(&mut self) -> Option<Hit> {
        let line = std::mem::take(&mut self.line);
        self.screen.clear();
        match self.expect {
            Expect::Password => {
                self.expect = Expect::Unknown;
                self.logged_in = true;
                let user = self.user.take();
                Some(Hit::new(Proto::Telnet, user.as_deref(), Some(&line)))
            }
            Expect::User => {
                if !line.is_empty() {
                    self.user = Some(line);
                    self.expect = Expect::Unknown;
                }
                None
            }
            Expect::Unknown if line.is_empty() || self.logged_in => None,
            // No prompt seen yet (the server's side missing from the
            // capture, or a prompt not recognised): the first line is the
            // user, the next the password.
            Expect::Unknown => match self.user.take() {
                None => {
                    self.user = Some(line);
                    None
                }
                Some(u) => {
                    self.logged_in = true;
                    Some(Hit::new(Proto::Telnet, Some(&u), Some(&line)))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_typed_one_character_at_a_time() {
        let mut t = Telnet::default();
        t.server(b"\xff\xfd\x18\xff\xfb\x01");
        t.client(b"\xff\xfc\x18");
        t.server(b"Ubuntu 18.04\r\nhost login: ");
        let mut hits = Vec::new();
        for c in b"shellcodx\x7fe\r\0" {
            hits.extend(t.client(&[*c]));
        }
        assert!(hits.is_empty());
        t.server(b"Password: ");
        for c in b"shellcode\r\n" {
            hits.extend(t.client(&[*c]));
            // The engine also calls with nothing new from the server.
            t.server(b"");
        }
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].user.as_deref(), Some(&b"shellcode"[..]));
        assert_eq!(hits[0].password.as_deref(), Some(&b"shellcode"[..]));
    }

    fn typed(t: &mut Telnet, s: &[u8]) -> Vec<Hit> {
        s.iter().flat_map(|c| t.client(&[*c])).collect()
    }

    #[test]
    fn commands_after_the_login_are_not_credentials() {
        let mut t = Telnet::default();
        t.server(b"host login: ");
        let mut hits = typed(&mut t, b"amy\r\n");
        t.server(b"Password: ");
        hits.extend(typed(&mut t, b"pw1\r\n"));
        t.server(b"\r\nLogin incorrect\r\nhost login: ");
        hits.extend(typed(&mut t, b"amy\r\n"));
        t.server(b"Password: ");
        hits.extend(typed(&mut t, b"pw2\r\n"));
        t.server(b"Last login: Tue\r\namy@host:~$ ");
        for cmd in [&b"ls -l\r\n"[..], b"whoami\r\n", b"cat /etc/motd\r\n"] {
            hits.extend(typed(&mut t, cmd));
            t.server(b"output\r\namy@host:~$ ");
        }
        // su asks for a password inside the session: that one is.
        hits.extend(typed(&mut t, b"su -\r\n"));
        t.server(b"Password: ");
        hits.extend(typed(&mut t, b"rootpw\r\n"));
        t.server(b"root@host:~# ");
        hits.extend(typed(&mut t, b"id\r\nexit\r\n"));
        type Pair<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
        let got: Vec<Pair<'_>> = hits
            .iter()
            .map(|h| (h.user.as_deref(), h.password.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(&b"amy"[..]), Some(&b"pw1"[..])),
                (Some(&b"amy"[..]), Some(&b"pw2"[..])),
                (None, Some(&b"rootpw"[..])),
            ]
        );
    }

    #[test]
    fn without_prompts_only_the_first_two_lines_are_taken() {
        let mut t = Telnet::default();
        let hits = typed(&mut t, b"amy\rpw\rls\rid\r");
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].password.as_deref(), Some(&b"pw"[..]));
    }

    #[test]
    fn subnegotiation_split_across_packets_is_removed() {
        let mut u = Unescape::default();
        let mut out = Vec::new();
        u.feed(b"a\xff\xfa\x18\x00xte", &mut out);
        u.feed(b"rm\xff\xf0b\xff\xffc", &mut out);
        assert_eq!(out, b"ab\xffc");
    }
}
