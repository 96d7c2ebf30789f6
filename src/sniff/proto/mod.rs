//! One parser per protocol: pure functions (and small state machines fed
//! with reassembled bytes) that return [`Hit`]s. No I/O, no pcap types.

pub mod ber;
pub mod dcerpc;
pub mod digest;
pub mod ftp;
pub mod http;
pub mod imap;
pub mod irc;
pub mod kerberos;
pub mod ldap;
pub mod md5;
pub mod mqtt;
pub mod mysql;
pub mod ntlm;
pub mod pop3;
pub mod postgres;
pub mod radius;
pub mod redis;
pub mod sasl;
pub mod sip;
pub mod smb;
pub mod smtp;
pub mod snmp;
pub mod socks;
pub mod tds;
pub mod telnet;
pub mod tls;
pub mod vnc;

use crate::sniff::finding::Proto;
pub use sasl::Sasl;

/// A credential as a parser sees it; the engine adds time and endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub proto: Proto,
    pub user: Option<Vec<u8>>,
    /// `None` when no password is visible (HTTP Digest).
    pub password: Option<Vec<u8>>,
    /// Where it was seen, e.g. `POST example.com/login`.
    pub detail: Option<String>,
    /// A challenge/response (or hash) a cracker can test passwords against.
    pub hash: Option<Crackable>,
}

/// A line a cracker tests passwords against: in the form `hashcat -m
/// MODE` reads (the form John the Ripper's jumbo formats read too, where it
/// has one), or, for a protocol hashcat has no mode for (VNC), in the form
/// of John's format.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Crackable {
    /// hashcat's mode; `None` when hashcat has none for it.
    pub mode: Option<u32>,
    /// John the Ripper (jumbo)'s `--format=NAME`, given where the line was
    /// checked with John; `None` otherwise.
    pub john: Option<&'static str>,
    pub line: String,
}

impl Crackable {
    /// A line for `hashcat -m MODE`.
    pub fn hashcat(mode: u32, line: String) -> Crackable {
        Crackable {
            mode: Some(mode),
            john: None,
            line,
        }
    }

    /// A line both crackers read as it is: `hashcat -m MODE` and
    /// `john --format=FORMAT`.
    pub fn both(mode: u32, format: &'static str, line: String) -> Crackable {
        Crackable {
            mode: Some(mode),
            john: Some(format),
            line,
        }
    }

    /// A line for `john --format=FORMAT` that hashcat has no mode for.
    pub fn john(format: &'static str, line: String) -> Crackable {
        Crackable {
            mode: None,
            john: Some(format),
            line,
        }
    }
}

impl Hit {
    pub fn new(proto: Proto, user: Option<&[u8]>, password: Option<&[u8]>) -> Hit {
        Hit {
            proto,
            user: user.map(<[u8]>::to_vec),
            password: password.map(<[u8]>::to_vec),
            detail: None,
            hash: None,
        }
    }
}

impl Hit {
    /// The finding with the server's verdict on the login after its
    /// detail (`..., accepted`, `..., failed: REASON`, `..., (result not
    /// seen)`).
    pub fn with_outcome(mut self, outcome: &str) -> Hit {
        self.detail = Some(match self.detail.take() {
            Some(d) => format!("{d}, {outcome}"),
            None => outcome.to_string(),
        });
        self
    }
}

/// A server's reason as text fit for a detail: control characters as
/// spaces, at most 200 characters, trimmed.
pub fn printable(r: &[u8]) -> String {
    String::from_utf8_lossy(r)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect::<String>()
        .trim()
        .to_string()
}

/// `accepted`, or `failed: REASON` (`failed` without one).
pub fn failed(reason: &[u8]) -> String {
    let why = printable(reason);
    if why.is_empty() {
        "failed".to_string()
    } else {
        format!("failed: {why}")
    }
}

/// What a flow carries, decided from its first bytes (and its port when
/// the bytes do not tell).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Tls,
    Ftp,
    Pop3,
    Imap,
    Smtp,
    Telnet,
    Postgres,
    Redis,
    Ldap,
    Mqtt,
    Socks,
    Mysql,
    Irc,
    Sip,
    Smb,
    DceRpc,
    Kerberos,
    Vnc,
    Tds,
    Other,
}

/// Decides the protocol from the first bytes each way. `None`: wait for
/// more bytes.
pub fn detect(client: &[u8], server: &[u8], server_port: u16) -> Option<Kind> {
    if client.starts_with(b"HTTP/1.") && server.is_empty() && client.len() <= 8192 {
        // A response seen first: the ends may be the wrong way round; wait
        // for the request (not for ever: the waiting bytes are held).
        return None;
    }
    // An RFB server speaks first, its ProtocolVersion (the client answers
    // with its own, which no check below must take for something else).
    match vnc::looks_like_banner(server) {
        Some(true) => return Some(Kind::Vnc),
        None if !server.is_empty() && client.len() + server.len() <= 4096 => return None,
        _ => {}
    }
    if !client.is_empty() {
        // NetBIOS framing starts with a 0 byte that other checks (the
        // PostgreSQL startup length) would read first.
        if smb::looks_like(client) {
            return Some(Kind::Smb);
        }
        if dcerpc::looks_like(client) {
            return Some(Kind::DceRpc);
        }
        if tls::looks_like_record(client) {
            return Some(Kind::Tls);
        }
        if kerberos::looks_like_record(client) {
            return Some(Kind::Kerberos);
        }
        if tds::looks_like(client) {
            return Some(Kind::Tds);
        }
        match http::looks_like_request(client) {
            Some(true) => return Some(Kind::Http),
            None if server.is_empty() => return None,
            _ => {}
        }
        if postgres::looks_like_startup(client) {
            return Some(Kind::Postgres);
        }
        if looks_like_resp_array(client) {
            return Some(Kind::Redis);
        }
        if mqtt::looks_like(client) {
            return Some(Kind::Mqtt);
        }
        if ldap::looks_like(client) {
            return Some(Kind::Ldap);
        }
        if sip::looks_like(client) {
            return Some(Kind::Sip);
        }
        match socks::looks_like(client, server, server_port) {
            Some(true) => return Some(Kind::Socks),
            None => return None,
            Some(false) => {}
        }
    }
    if mysql::looks_like_greeting(server) {
        return Some(Kind::Mysql);
    }
    if client.first() == Some(&0xff) || server.first() == Some(&0xff) {
        return Some(Kind::Telnet);
    }
    if let Some(line) = first_line(server) {
        if line.starts_with(b"+OK") {
            return Some(Kind::Pop3);
        }
        if starts_with_ci(line, b"* OK") || starts_with_ci(line, b"* PREAUTH") {
            return Some(Kind::Imap);
        }
        if line.starts_with(b"220") {
            let smtp = contains_ci(line, b"SMTP")
                || first_line(client)
                    .is_some_and(|l| starts_with_ci(l, b"EHLO") || starts_with_ci(l, b"HELO"));
            if smtp || matches!(server_port, 25 | 465 | 587 | 2525) {
                return Some(Kind::Smtp);
            }
            if first_line(client).is_none() && client.len() + server.len() <= 4096 {
                // A bare `220 host ready` (dovecot's submission): the
                // client's first line (EHLO or USER) tells SMTP from FTP.
                return None;
            }
            return Some(Kind::Ftp);
        }
    }
    let by_port = match server_port {
        21 => Some(Kind::Ftp),
        23 => Some(Kind::Telnet),
        88 => Some(Kind::Kerberos),
        25 | 587 | 2525 => Some(Kind::Smtp),
        110 => Some(Kind::Pop3),
        143 => Some(Kind::Imap),
        389 => Some(Kind::Ldap),
        139 | 445 => Some(Kind::Smb),
        135 => Some(Kind::DceRpc),
        1883 => Some(Kind::Mqtt),
        3306 => Some(Kind::Mysql),
        5432 => Some(Kind::Postgres),
        6379 => Some(Kind::Redis),
        194 | 6660..=6669 => Some(Kind::Irc),
        5900..=5999 => Some(Kind::Vnc),
        1433 => Some(Kind::Tds),
        _ => None,
    };
    if by_port.is_some() {
        return by_port;
    }
    if let Some(l) = first_line(client) {
        if starts_with_ci(l, b"EHLO") || starts_with_ci(l, b"HELO") {
            return Some(Kind::Smtp);
        }
        if imap::split_tag(l).is_some_and(|(_, cmd)| starts_with_ci(cmd, b"LOGIN ")) {
            return Some(Kind::Imap);
        }
        match irc::looks_like_client(client) {
            Some(true) => return Some(Kind::Irc),
            // `PASS` alone: the next line tells IRC from others.
            None if client.len() + server.len() <= 4096 => return None,
            _ => {}
        }
        return Some(Kind::Other);
    }
    if client.len() + server.len() > 4096 {
        return Some(Kind::Other);
    }
    None
}

/// A RESP array of bulk strings (`*2\r\n$4\r\n...`): a Redis command.
fn looks_like_resp_array(b: &[u8]) -> bool {
    let Some(rest) = b.strip_prefix(b"*") else {
        return false;
    };
    let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    (1..=7).contains(&digits) && rest[digits..].starts_with(b"\r\n$")
}

/// Whether bytes can only be a client's opening: an HTTP request or a TLS
/// ClientHello record.
pub fn opens_conversation(b: &[u8]) -> bool {
    http::looks_like_request(b) == Some(true) || (tls::looks_like_record(b) && b.get(5) == Some(&1))
}

/// The first complete line (without CR LF).
pub fn first_line(b: &[u8]) -> Option<&[u8]> {
    let end = memchr::memchr(b'\n', b)?;
    Some(trim_crlf(&b[..end]))
}

/// Removes a trailing `\r\n`, `\n` or `\r`.
pub fn trim_crlf(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = b {
        b = rest;
    }
    b
}

pub fn starts_with_ci(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay[..prefix.len()].eq_ignore_ascii_case(prefix)
}

pub fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Splits complete lines off the front of `buf` (each without its line
/// end) and removes them from `buf`.
pub fn take_lines(buf: &mut Vec<u8>) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut start = 0;
    while let Some(i) = memchr::memchr(b'\n', &buf[start..]) {
        lines.push(trim_crlf(&buf[start..start + i]).to_vec());
        start += i + 1;
    }
    buf.drain(..start);
    lines
}

/// Decodes standard base64, tolerating missing padding and spaces.
pub fn b64(s: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine;
    let s: Vec<u8> = s
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let trimmed: &[u8] = {
        let mut t = &s[..];
        while let [rest @ .., b'='] = t {
            t = rest;
        }
        t
    };
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .ok()
}

/// SASL PLAIN: `authzid \0 authcid \0 password` → (user, password).
pub fn sasl_plain(decoded: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut parts = decoded.splitn(3, |&c| c == 0);
    let authz = parts.next()?;
    let authc = parts.next()?;
    let pass = parts.next()?;
    let user = if authc.is_empty() { authz } else { authc };
    Some((user.to_vec(), pass.to_vec()))
}

/// Whether a client line of a line protocol asks to start TLS: SMTP and
/// IMAP `STARTTLS` (IMAP after its tag), POP3 `STLS`, FTP `AUTH TLS`/`SSL`.
pub fn asks_for_tls(line: &[u8]) -> bool {
    let (v, rest) = verb(line);
    let is = |a: &[u8], b: &[u8]| a.eq_ignore_ascii_case(b);
    if is(v, b"AUTH") {
        return is(rest, b"TLS") || is(rest, b"SSL") || is(rest, b"TLS-C");
    }
    // SMTP's STARTTLS and POP3's STLS stand alone; IMAP's follows a tag.
    let cmd = if rest.is_empty() { v } else { rest };
    is(cmd, b"STARTTLS") || (rest.is_empty() && is(v, b"STLS"))
}

/// Splits `VERB rest` at the first space (rest trimmed; empty when absent).
pub fn verb(line: &[u8]) -> (&[u8], &[u8]) {
    let line = line.trim_ascii_start();
    match memchr::memchr(b' ', line) {
        Some(i) => (&line[..i], line[i + 1..].trim_ascii()),
        None => (line, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_by_content_before_port() {
        assert_eq!(
            detect(b"POST /login HTTP/1.1\r\n", b"", 1337),
            Some(Kind::Http)
        );
        assert_eq!(
            detect(b"\x16\x03\x01\x02\x00\x01", b"", 8443),
            Some(Kind::Tls)
        );
        assert_eq!(detect(b"", b"+OK POP3 ready\r\n", 9999), Some(Kind::Pop3));
        assert_eq!(detect(b"", b"* OK IMAP4rev1\r\n", 9999), Some(Kind::Imap));
        assert_eq!(
            detect(b"", b"220 mail ESMTP Postfix\r\n", 9999),
            Some(Kind::Smtp)
        );
        assert_eq!(
            detect(b"USER ftp\r\n", b"220 (vsFTPd 3.0.3)\r\n", 9999),
            Some(Kind::Ftp)
        );
        assert_eq!(detect(b"", b"\xff\xfd\x18", 9999), Some(Kind::Telnet));
        assert_eq!(detect(b"GET", b"", 80), None);
        // A response first waits for the request, but not for ever (the
        // bytes waiting must not be held without bound).
        let mut resp = b"HTTP/1.1 200 OK\r\n".to_vec();
        assert_eq!(detect(&resp, b"", 8080), None);
        resp.resize(9000, b'a');
        assert_eq!(detect(&resp, b"", 8080), Some(Kind::Other));
        assert_eq!(detect(b"hello there\r\n", b"", 5000), Some(Kind::Other));
        assert_eq!(
            detect(b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n", b"", 7000),
            Some(Kind::Redis)
        );
        assert_eq!(
            detect(b"\0\0\0\x08\x04\xd2\x16\x2f", b"", 7001),
            Some(Kind::Postgres)
        );
        assert_eq!(
            detect(
                b"",
                b"\x24\0\0\0\x0a5.5.5-10.11.6-MariaDB\0\x01\0\0\0abcdefgh\0\xfe\xf7",
                7002
            ),
            Some(Kind::Mysql)
        );
        // A Kerberos record (length, then an AS-REQ with pvno 5) on any
        // port; port 88 before its bytes tell.
        assert_eq!(
            detect(b"\0\0\0\x10\x6a\x0e\x30\x0c\xa1\x03\x02\x01\x05", b"", 7003),
            Some(Kind::Kerberos)
        );
        assert_eq!(detect(b"\0\0", b"", 88), Some(Kind::Kerberos));
        // VNC by the server's RFB banner on any port (the client's answer
        // seen with it), by port 59xx before it.
        assert_eq!(detect(b"", b"RFB 003.008\n", 7004), Some(Kind::Vnc));
        assert_eq!(
            detect(b"RFB 003.008\n", b"RFB 003.008\n\x01\x02", 7004),
            Some(Kind::Vnc)
        );
        assert_eq!(detect(b"", b"RFB 00", 7004), None);
        assert_eq!(detect(b"\x02", b"", 5901), Some(Kind::Vnc));
        // MSSQL: a TDS PRELOGIN (VERSION option first) on any port.
        assert_eq!(
            detect(b"\x12\x01\x00\x2f\x00\x00\x01\x00\x00\x00\x1a", b"", 7005),
            Some(Kind::Tds)
        );
    }

    #[test]
    fn a_conversation_is_opened_by_a_request_or_client_hello() {
        assert!(opens_conversation(b"GET / HTTP/1.1\r\n"));
        assert!(opens_conversation(b"\x16\x03\x01\x00\x10\x01\x00"));
        assert!(
            !opens_conversation(b"\x16\x03\x03\x00\x10\x02\x00"),
            "ServerHello"
        );
        assert!(!opens_conversation(b"HTTP/1.1 200 OK\r\n"));
    }

    #[test]
    fn sasl_plain_and_base64() {
        let d = b64(b"AGRpZ2l0YWxpbnZlc3RpZ2F0b3JAbmV0d29ya3NpbXMuY29tAG5hcGllcg==").unwrap();
        let (u, p) = sasl_plain(&d).unwrap();
        assert_eq!(u, b"digitalinvestigator@networksims.com");
        assert_eq!(p, b"napier");
        assert_eq!(b64(b"dGVzdDp0ZXN0").unwrap(), b"test:test");
        assert!(b64(b"!!").is_none());
    }

    #[test]
    fn starttls_commands_of_each_line_protocol() {
        for l in [
            &b"STARTTLS"[..],
            b"starttls",
            b"a2 STARTTLS",
            b"STLS",
            b"AUTH TLS",
            b"auth ssl",
        ] {
            assert!(asks_for_tls(l), "{}", String::from_utf8_lossy(l));
        }
        for l in [
            &b"MAIL FROM:<a@b>"[..],
            b"AUTH PLAIN AGFteQBwdzE=",
            b"a1 LOGIN STARTTLS x",
            b"STLS now",
        ] {
            assert!(!asks_for_tls(l), "{}", String::from_utf8_lossy(l));
        }
    }

    #[test]
    fn lines_are_taken_and_the_rest_kept() {
        let mut b = b"USER a\r\nPASS b\nPAR".to_vec();
        assert_eq!(
            take_lines(&mut b),
            vec![b"USER a".to_vec(), b"PASS b".to_vec()]
        );
        assert_eq!(b, b"PAR");
    }
}
