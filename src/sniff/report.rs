//! Printers: one text or JSON line per finding, then the summary. They
//! only format; nothing here parses or decides.

use std::fmt::Write as _;

use super::finding::{Credential, Finding, Summary, TlsSession};
use super::proto::tls::version_name;
use crate::cli::json_bytes;

/// How findings are printed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Style {
    /// Mask all but the first character of secrets (length kept).
    pub redact: bool,
}

/// µs since the epoch → `2026-11-29T00:45:01.123456Z`.
pub fn format_ts(us: i64) -> String {
    let mut s = String::with_capacity(27);
    push_ts(&mut s, us);
    s
}

/// [`format_ts`] onto a line (digits written directly: a line per finding
/// on big captures).
fn push_ts(out: &mut String, us: i64) {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Days since 1970-01-01 → civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + (m <= 2) as i64;
    if !(0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}");
    } else {
        push_digits(out, y as u64, 4);
    }
    for (sep, v, n) in [
        ('-', m as u64, 2),
        ('-', d as u64, 2),
        ('T', (sod / 3600) as u64, 2),
        (':', (sod / 60 % 60) as u64, 2),
        (':', (sod % 60) as u64, 2),
        ('.', micros as u64, 6),
    ] {
        out.push(sep);
        push_digits(out, v, n);
    }
    out.push('Z');
}

/// `v` in exactly `n` decimal digits (zero-padded; `v < 10^n`).
fn push_digits(out: &mut String, v: u64, n: u32) {
    let mut d = 10u64.pow(n - 1);
    while d > 0 {
        out.push((b'0' + (v / d % 10) as u8) as char);
        d /= 10;
    }
}

/// An address as `Display` writes it, IPv4 without the formatter's detour.
fn push_addr(out: &mut String, a: &std::net::SocketAddr) {
    match a {
        std::net::SocketAddr::V4(v4) => {
            for (i, o) in v4.ip().octets().iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_int(out, *o as u64);
            }
            out.push(':');
            push_int(out, v4.port() as u64);
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
}

fn push_int(out: &mut String, v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).unwrap_or_default());
}

/// Masks all but the first character, keeping the length in characters
/// (bytes when not UTF-8).
pub fn redact(secret: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(secret) {
        Ok(s) => {
            let mut c = s.chars();
            let mut out = c.next().map(String::from).unwrap_or_default();
            out.extend(c.map(|_| '*'));
            out.into_bytes()
        }
        Err(_) => {
            let mut out = secret[..1.min(secret.len())].to_vec();
            out.resize(secret.len(), b'*');
            out
        }
    }
}

/// A crackable line with its last field (the response or hash: what a
/// cracker needs) masked; the fields before it (format, user, salt) kept.
pub fn redact_hash(line: &str) -> String {
    let cut = line.rfind(['*', '$', ':']).map_or(0, |i| i + 1);
    let mut out = line[..cut].to_string();
    out.push_str(&String::from_utf8_lossy(&redact(&line.as_bytes()[cut..])));
    out
}

fn hash_line(c: &Credential, style: Style) -> Option<String> {
    c.hash.as_ref().map(|h| {
        if style.redact {
            redact_hash(&h.line)
        } else {
            h.line.clone()
        }
    })
}

/// Bytes for a text line: printable ASCII as is, the rest `\xHH`
/// (so a space or a tab inside a value cannot shift the columns).
fn text_bytes(out: &mut String, b: &[u8]) {
    // The common case: visible ASCII only, copied as is.
    if b.iter().all(|&c| c.is_ascii_graphic() && c != b'\\') {
        out.push_str(std::str::from_utf8(b).unwrap_or_default());
        return;
    }
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == ' ' || c == '\\' || c.is_control() {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\x{byte:02x}");
                }
            } else {
                out.push(c);
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
}

fn secret(c: &Credential, style: Style) -> Option<std::borrow::Cow<'_, [u8]>> {
    c.password.as_deref().map(|p| {
        if style.redact {
            redact(p).into()
        } else {
            p.into()
        }
    })
}

/// One text line (without the newline).
pub fn text_line(f: &Finding, style: Style) -> String {
    let mut s = String::with_capacity(160);
    match f {
        Finding::Credential(c) => {
            push_ts(&mut s, c.ts);
            s.push(' ');
            push_addr(&mut s, &c.client);
            s.push_str(" -> ");
            push_addr(&mut s, &c.server);
            s.push(' ');
            s.push_str(c.proto.as_str());
            s.push_str(" user=");
            match &c.user {
                Some(u) => text_bytes(&mut s, u),
                None => s.push('-'),
            }
            s.push_str(" password=");
            match secret(c, style) {
                Some(p) => text_bytes(&mut s, &p),
                None => s.push_str("(not-visible)"),
            }
            if let (Some(h), Some(line)) = (&c.hash, hash_line(c, style)) {
                if let Some(m) = h.mode {
                    let _ = write!(s, " hashcat-mode={m}");
                }
                if let Some(j) = h.john {
                    let _ = write!(s, " john-format={j}");
                }
                s.push_str(" hash=");
                text_bytes(&mut s, line.as_bytes());
            }
            if let Some(d) = &c.detail {
                s.push_str("  # ");
                s.push_str(d);
            }
        }
        Finding::Tls(t) => {
            let _ = write!(
                s,
                "{} {} -> {} tls sni={} version={} offered={} alpn={} bytes={}  # encrypted: no credentials visible",
                format_ts(t.ts),
                t.client,
                t.server,
                t.sni.as_deref().unwrap_or("-"),
                tls_version(t),
                join(t.offered.iter().map(|v| version_name(*v))),
                join(t.alpn.iter().cloned()),
                t.bytes
            );
        }
    }
    s
}

/// The chosen version; `(offered)` after it when no ServerHello was seen.
fn tls_version(t: &TlsSession) -> String {
    match (t.version(), t.chosen) {
        (None, _) => "-".into(),
        (Some(v), Some(_)) => version_name(v),
        (Some(v), None) => format!("{}(offered)", version_name(v)),
    }
}

fn join(it: impl Iterator<Item = String>) -> String {
    let v: Vec<String> = it.collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

fn json_str(out: &mut Vec<u8>, key: &str, v: Option<&[u8]>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    match v {
        Some(b) => json_bytes(out, b),
        None => out.extend_from_slice(b"null"),
    }
}

fn json_num(out: &mut Vec<u8>, key: &str, v: u64) {
    out.extend_from_slice(format!(",\"{key}\":{v}").as_bytes());
}

fn json_list(out: &mut Vec<u8>, key: &str, items: impl Iterator<Item = String>) {
    out.extend_from_slice(format!(",\"{key}\":[").as_bytes());
    for (i, it) in items.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_bytes(out, it.as_bytes());
    }
    out.push(b']');
}

fn json_map(out: &mut Vec<u8>, key: &str, m: &std::collections::BTreeMap<String, u64>) {
    out.extend_from_slice(format!(",\"{key}\":{{").as_bytes());
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_bytes(out, k.as_bytes());
        out.extend_from_slice(format!(":{v}").as_bytes());
    }
    out.push(b'}');
}

/// One JSON object (without the newline).
pub fn json_line(f: &Finding, style: Style) -> Vec<u8> {
    let mut o = Vec::with_capacity(256);
    match f {
        Finding::Credential(c) => {
            o.extend_from_slice(b"{\"kind\":\"credential\"");
            json_str(&mut o, "ts", Some(format_ts(c.ts).as_bytes()));
            json_str(&mut o, "client", Some(c.client.to_string().as_bytes()));
            json_str(&mut o, "server", Some(c.server.to_string().as_bytes()));
            json_str(&mut o, "proto", Some(c.proto.as_str().as_bytes()));
            json_str(&mut o, "user", c.user.as_deref());
            json_str(&mut o, "password", secret(c, style).as_deref());
            json_str(&mut o, "detail", c.detail.as_deref().map(str::as_bytes));
            json_str(
                &mut o,
                "hash",
                hash_line(c, style).as_deref().map(str::as_bytes),
            );
            match c.hash.as_ref().and_then(|h| h.mode) {
                Some(m) => json_num(&mut o, "hashcat_mode", m as u64),
                None => o.extend_from_slice(b",\"hashcat_mode\":null"),
            }
            json_str(
                &mut o,
                "john_format",
                c.hash.as_ref().and_then(|h| h.john).map(str::as_bytes),
            );
        }
        Finding::Tls(t) => {
            o.extend_from_slice(b"{\"kind\":\"tls\"");
            json_str(&mut o, "ts", Some(format_ts(t.ts).as_bytes()));
            json_str(&mut o, "client", Some(t.client.to_string().as_bytes()));
            json_str(&mut o, "server", Some(t.server.to_string().as_bytes()));
            json_str(&mut o, "sni", t.sni.as_deref().map(str::as_bytes));
            json_str(
                &mut o,
                "version",
                t.version().map(version_name).as_deref().map(str::as_bytes),
            );
            o.extend_from_slice(format!(",\"negotiated\":{}", t.chosen.is_some()).as_bytes());
            json_list(
                &mut o,
                "offered",
                t.offered.iter().map(|v| version_name(*v)),
            );
            json_list(&mut o, "alpn", t.alpn.iter().cloned());
            json_num(&mut o, "bytes", t.bytes);
            o.extend_from_slice(b",\"encrypted\":true");
        }
    }
    o.push(b'}');
    o
}

/// The summary as one JSON object; `error` is the run's error, if any.
pub fn json_summary(s: &Summary, error: Option<&str>) -> Vec<u8> {
    let mut o = b"{\"kind\":\"summary\"".to_vec();
    json_num(&mut o, "packets", s.packets);
    json_num(&mut o, "bytes", s.bytes);
    json_num(&mut o, "tcp_packets", s.tcp_packets);
    json_num(&mut o, "udp_packets", s.udp_packets);
    json_num(&mut o, "other_packets", s.other_packets);
    json_num(&mut o, "fragments", s.fragments);
    json_num(&mut o, "truncated_packets", s.truncated_packets);
    json_map(&mut o, "bad_packets", &s.bad_packets);
    json_num(&mut o, "flows", s.flow.flows);
    json_map(&mut o, "flows_by_proto", &s.flows_by_proto);
    json_num(&mut o, "http_requests", s.http_requests);
    json_num(&mut o, "credentials", s.credentials);
    json_num(&mut o, "credential_sightings", s.credential_sightings);
    json_map(&mut o, "credentials_by_proto", &s.credentials_by_proto);
    json_num(&mut o, "tls_sessions", s.tls_sessions);
    json_map(&mut o, "tls_by_version", &s.tls_by_version);
    json_map(&mut o, "tls_by_sni", &s.tls_by_sni);
    o.extend_from_slice(b",\"latency_us\":[");
    for (i, l) in s.latency.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"server\":");
        json_bytes(&mut o, l.server.to_string().as_bytes());
        o.extend_from_slice(
            format!(
                ",\"count\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{}}}",
                l.count, l.p50, l.p90, l.p99, l.max
            )
            .as_bytes(),
        );
    }
    o.push(b']');
    json_num(&mut o, "latency_untimed", s.latency_untimed);
    let f = &s.flow;
    o.extend_from_slice(
        format!(
            ",\"reassembly\":{{\"segments\":{},\"no_flow\":{},\"retransmitted\":{},\"overlaps_trimmed\":{},\"out_of_order\":{},\"gaps_skipped\":{},\"bytes_skipped\":{},\"evicted_idle\":{},\"evicted_oldest\":{},\"evicted_memory\":{}}}",
            f.segments, f.no_flow, f.retransmitted, f.overlaps_trimmed, f.out_of_order, f.gaps_skipped, f.bytes_skipped, f.evicted_idle, f.evicted_oldest, f.evicted_memory
        )
        .as_bytes(),
    );
    let u = &s.udp;
    o.extend_from_slice(
        format!(
            ",\"udp\":{{\"flows\":{},\"datagrams\":{},\"evicted_idle\":{},\"evicted_oldest\":{}}}",
            u.flows, u.datagrams, u.evicted_idle, u.evicted_oldest
        )
        .as_bytes(),
    );
    let g = &s.ipfrag;
    o.extend_from_slice(
        format!(
            ",\"ipfrag\":{{\"fragments\":{},\"reassembled\":{},\"duplicates\":{},\"dropped_timeout\":{},\"dropped_overlap\":{},\"dropped_memory\":{},\"dropped_invalid\":{},\"incomplete_at_end\":{}}}",
            g.fragments, g.reassembled, g.duplicates, g.dropped_timeout, g.dropped_overlap, g.dropped_memory, g.dropped_invalid, g.incomplete_at_end
        )
        .as_bytes(),
    );
    json_map(&mut o, "parse_errors", &s.parse_errors);
    json_str(&mut o, "error", error.map(str::as_bytes));
    o.push(b'}');
    o
}

fn map_line(m: &std::collections::BTreeMap<String, u64>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn ms(us: u64) -> String {
    format!("{:.3}ms", us as f64 / 1000.0)
}

/// The summary as text lines (each ends with a newline).
pub fn text_summary(s: &Summary) -> String {
    let f = &s.flow;
    let mut o = String::new();
    let _ = writeln!(o, "-- summary");
    let _ = writeln!(
        o,
        "packets: {} ({} bytes): {} TCP, {} UDP, {} other, {} fragments, {} cut by snap length, {} undecodable",
        s.packets,
        s.bytes,
        s.tcp_packets,
        s.udp_packets,
        s.other_packets,
        s.fragments,
        s.truncated_packets,
        s.bad_packets.values().sum::<u64>()
    );
    if !s.bad_packets.is_empty() {
        let _ = writeln!(o, "undecodable: {}", map_line(&s.bad_packets));
    }
    let _ = writeln!(o, "flows: {} ({})", f.flows, map_line(&s.flows_by_proto));
    if s.udp.flows > 0 {
        let u = &s.udp;
        let _ = writeln!(
            o,
            "udp flows: {} ({} datagrams; evicted: {} idle, {} oldest)",
            u.flows, u.datagrams, u.evicted_idle, u.evicted_oldest
        );
    }
    if s.fragments > 0 {
        let g = &s.ipfrag;
        let _ = writeln!(
            o,
            "ip fragments: {} ({} datagrams reassembled; {} duplicates ignored; dropped: {} timeout, {} overlap, {} memory limit, {} invalid, {} incomplete at end)",
            g.fragments, g.reassembled, g.duplicates, g.dropped_timeout, g.dropped_overlap, g.dropped_memory, g.dropped_invalid, g.incomplete_at_end
        );
    }
    let _ = writeln!(o, "http requests: {}", s.http_requests);
    let _ = writeln!(
        o,
        "credentials in cleartext: {} distinct, {} sightings ({})",
        s.credentials,
        s.credential_sightings,
        map_line(&s.credentials_by_proto)
    );
    let _ = writeln!(
        o,
        "tls sessions: {} (encrypted: no credentials visible)",
        s.tls_sessions
    );
    if s.tls_sessions > 0 {
        let _ = writeln!(o, "tls by version: {}", map_line(&s.tls_by_version));
        let _ = writeln!(o, "tls by sni: {}", map_line(&s.tls_by_sni));
    }
    for l in &s.latency {
        let _ = writeln!(
            o,
            "latency {}: {} responses, p50 {} p90 {} p99 {} max {}",
            l.server,
            l.count,
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.max)
        );
    }
    if s.latency_untimed > 0 {
        let _ = writeln!(
            o,
            "latency not timed: {} responses (servers beyond the first {})",
            s.latency_untimed,
            crate::sniff::engine::MAX_TIMED_SERVERS
        );
    }
    let _ = writeln!(
        o,
        "reassembly: {} segments ({} of no open flow), {} retransmitted, {} overlaps trimmed, {} out of order, {} gaps skipped ({} bytes)",
        f.segments,
        f.no_flow,
        f.retransmitted, f.overlaps_trimmed, f.out_of_order, f.gaps_skipped, f.bytes_skipped
    );
    let _ = writeln!(
        o,
        "evicted flows: {} idle, {} oldest (flow limit), {} memory limit",
        f.evicted_idle, f.evicted_oldest, f.evicted_memory
    );
    if !s.parse_errors.is_empty() {
        let _ = writeln!(
            o,
            "skipped after parse errors: {}",
            map_line(&s.parse_errors)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::finding::Proto;

    fn cred() -> Credential {
        Credential {
            ts: 1_401_790_272_123_456,
            client: "[2001:db8::1]:50000".parse().unwrap(),
            server: "10.0.0.2:1337".parse().unwrap(),
            proto: Proto::HttpForm,
            user: Some(b"to to".to_vec()),
            password: Some("Str0ngé".as_bytes().to_vec()),
            detail: None,
            hash: None,
        }
    }

    #[test]
    fn tls_text_says_whether_the_version_was_negotiated() {
        let mut t = TlsSession {
            ts: 0,
            client: "10.0.0.1:1".parse().unwrap(),
            server: "10.0.0.2:443".parse().unwrap(),
            sni: None,
            offered: vec![0x0304, 0x0303],
            chosen: None,
            alpn: vec![],
            bytes: 10,
        };
        let line = text_line(&Finding::Tls(t.clone()), Style::default());
        assert!(
            line.contains(
                "tls sni=- version=TLS1.3(offered) offered=TLS1.3,TLS1.2 alpn=- bytes=10"
            ),
            "{line}"
        );
        t.chosen = Some(0x0303);
        let line = text_line(&Finding::Tls(t.clone()), Style::default());
        assert!(line.contains("version=TLS1.2 "), "{line}");
        let j = String::from_utf8(json_line(&Finding::Tls(t), Style::default())).unwrap();
        assert!(
            j.contains("\"sni\":null,\"version\":\"TLS1.2\",\"negotiated\":true"),
            "{j}"
        );
    }

    #[test]
    fn timestamps_are_utc_rfc3339() {
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_ts(1_401_790_272_123_456),
            "2014-06-03T10:11:12.123456Z"
        );
        assert_eq!(
            format_ts(951_782_400_000_001),
            "2000-02-29T00:00:00.000001Z"
        );
        assert_eq!(format_ts(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_ts(253_402_300_799_999_999),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for a in [
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "10.0.2.15:80",
            "[::1]:443",
            "[fe80::1%2]:22",
        ] {
            let a: std::net::SocketAddr = a.parse().unwrap();
            let mut s = String::new();
            push_addr(&mut s, &a);
            assert_eq!(s, a.to_string());
        }
    }

    #[test]
    fn redaction_keeps_first_char_and_length() {
        assert_eq!(redact("Str0ngé".as_bytes()), b"S******");
        assert_eq!(redact(b""), b"");
        assert_eq!(redact(b"\xffab"), b"\xff**");
    }

    #[test]
    fn credential_json_has_the_documented_fields() {
        let f = Finding::Credential(cred());
        let j = String::from_utf8(json_line(&f, Style { redact: true })).unwrap();
        assert_eq!(
            j,
            "{\"kind\":\"credential\",\"ts\":\"2014-06-03T10:11:12.123456Z\",\"client\":\"[2001:db8::1]:50000\",\"server\":\"10.0.0.2:1337\",\"proto\":\"http-form\",\"user\":\"to to\",\"password\":\"S******\",\"detail\":null,\"hash\":null,\"hashcat_mode\":null,\"john_format\":null}"
        );
        let mut c = cred();
        c.password = None;
        let j = String::from_utf8(json_line(&Finding::Credential(c.clone()), Style::default()))
            .unwrap();
        assert!(j.contains("\"password\":null"));
        let t = text_line(&Finding::Credential(c.clone()), Style::default());
        assert!(t.contains("user=to\\x20to password=(not-visible)"), "{t}");
        c.hash = Some(crate::sniff::proto::Crackable::hashcat(
            11100,
            "$postgres$to*0a0b0c0d*0123456789abcdef0123456789abcdef".into(),
        ));
        let f = Finding::Credential(c);
        let t = text_line(&f, Style::default());
        assert!(
            t.contains("(not-visible) hashcat-mode=11100 hash=$postgres$to*0a0b0c0d*0123456789abcdef0123456789abcdef"),
            "{t}"
        );
        let j = String::from_utf8(json_line(&f, Style { redact: true })).unwrap();
        assert!(
            j.ends_with("\"hash\":\"$postgres$to*0a0b0c0d*0*******************************\",\"hashcat_mode\":11100,\"john_format\":null}"),
            "{j}"
        );

        // A line only John reads: no hashcat mode, its John format.
        let mut c = cred();
        c.password = None;
        let vnc = "$vnc$*ADDC021F444F999B8E27144C0DCE7389*AFAF1BB57588784333962A124668A2C6";
        c.hash = Some(crate::sniff::proto::Crackable::john("vnc", vnc.into()));
        let f = Finding::Credential(c);
        let t = text_line(&f, Style::default());
        assert!(
            t.contains(&format!(
                "password=(not-visible) john-format=vnc hash={vnc}"
            )),
            "{t}"
        );
        let j = String::from_utf8(json_line(&f, Style { redact: true })).unwrap();
        assert!(
            j.ends_with("\"hash\":\"$vnc$*ADDC021F444F999B8E27144C0DCE7389*A*******************************\",\"hashcat_mode\":null,\"john_format\":\"vnc\"}"),
            "{j}"
        );
    }
}
