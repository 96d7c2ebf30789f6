//! nginx `log_format` strings into format items: `$name` and `${name}`
//! variables between literal text. `escape=default` writes `"` and `\`
//! as `\x22` and `\x5C`, `escape=json` as `\"` and `\\`: either way an
//! unescaped `"` ends a quoted field; `escape=none` writes them raw, so the
//! last quoted field is anchored at the line's end.

use super::fields::{Slot, TimeSpec, Unit};
use super::program::{Field, Item};
use super::FormatError;

/// Variables that are read and checked for their end but not kept.
const SKIPPED: &[&str] = &[
    "binary_remote_addr", "bytes_received", "connection", "connection_requests", "connection_time",
    "content_length", "content_type", "document_root", "gzip_ratio", "hostname", "https", "http2",
    "is_args", "limit_rate", "msec_frac", "nginx_version", "pid", "pipe", "proxy_protocol_addr",
    "proxy_protocol_port", "realip_remote_port", "remote_port", "request_body", "request_completion",
    "request_filename", "request_id", "request_length", "scheme", "server_addr", "ssl_client_verify",
    "ssl_client_s_dn", "ssl_server_name", "ssl_session_reused", "ssl_early_data", "ssl_curve",
    "tcpinfo_rtt", "tcpinfo_rttvar", "tcpinfo_snd_cwnd", "tcpinfo_rcv_space", "upstream_cache_status",
    "upstream_http_name", "upstream_bytes_received", "upstream_bytes_sent", "geoip_country_code",
    "time_local_msec", "tplab_skip",
];

/// Variables that may hold a list (`a, b : c`).
const LISTS: &[&str] = &[
    "upstream_addr", "upstream_status", "upstream_connect_time", "upstream_header_time",
    "upstream_response_length",
];

fn variable(name: &str, quoted: bool) -> Option<(Slot, &'static str, bool)> {
    Some(match name {
        "remote_addr" => (Slot::Host, "$remote_addr (client address)", false),
        "realip_remote_addr" => (Slot::Host, "$realip_remote_addr (peer address)", false),
        "remote_user" => (Slot::User, "$remote_user", false),
        "time_local" => (Slot::Time(TimeSpec::Clf), "$time_local (time)", false),
        "time_iso8601" => (Slot::Time(TimeSpec::Iso8601), "$time_iso8601 (time)", false),
        "msec" => (Slot::Time(TimeSpec::EpochSecs), "$msec (epoch time)", false),
        "request" => (Slot::Request, "$request (request line)", false),
        "request_method" => (Slot::Method, "$request_method", false),
        "request_uri" => (Slot::Target, "$request_uri", false),
        "uri" | "document_uri" => (Slot::Path, "$uri", false),
        "args" | "query_string" => (Slot::Query, "$args", false),
        "server_protocol" => (Slot::Version, "$server_protocol", false),
        "status" => (Slot::Status, "$status", false),
        "body_bytes_sent" => (Slot::Bytes, "$body_bytes_sent", false),
        "bytes_sent" => (Slot::Bytes, "$bytes_sent", false),
        "request_time" => (Slot::Micros(Unit::Seconds), "$request_time (seconds)", false),
        "upstream_response_time" => (Slot::Micros(Unit::Seconds), "$upstream_response_time (seconds)", !quoted),
        "host" | "http_host" => (Slot::HostHeader, "$host (virtual host)", false),
        "server_name" => (Slot::Vhost, "$server_name", false),
        "server_port" => (Slot::Port, "$server_port", false),
        "http_referer" => (Slot::Referer, "$http_referer", false),
        "http_user_agent" => (Slot::Agent, "$http_user_agent", false),
        "http_x_forwarded_for" => (Slot::Xff, "$http_x_forwarded_for (proxy chain)", !quoted),
        "proxy_add_x_forwarded_for" => (Slot::Skip, "$proxy_add_x_forwarded_for", !quoted),
        "request_length" | "connection" | "connection_requests" | "bytes_received" => (Slot::Count, "a count", false),
        "ssl_protocol" => (Slot::TlsProtocol, "$ssl_protocol", false),
        "ssl_cipher" => (Slot::TlsCipher, "$ssl_cipher", false),
        // Private to tplab's presets: layouts nginx has no variable for.
        "tplab_client_port" => (Slot::HostPort, "client:port", false),
        "tplab_ms" => (Slot::Micros(Unit::Millis), "time taken (ms)", false),
        "tplab_date" => (Slot::Time(TimeSpec::Date), "date", false),
        "tplab_time" => (Slot::Time(TimeSpec::TimeOfDay), "time", false),
        "tplab_skip_list" => (Slot::Skip, "a field", true),
        n if LISTS.contains(&n) => (Slot::Skip, "$upstream_* (list)", !quoted),
        n if SKIPPED.contains(&n) => (Slot::Skip, "a skipped variable", false),
        n if ["http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_http_", "upstream_cookie_"]
            .iter()
            .any(|p| n.starts_with(p) && n.len() > p.len()) =>
        {
            (Slot::Skip, "$http_NAME (header)", false)
        }
        _ => return None,
    })
}

fn is_var_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Parses an nginx `log_format` string (its quoted pieces already joined,
/// an `escape=` parameter already removed).
pub fn parse(fmt: &str) -> Result<Vec<Item>, FormatError> {
    let b = fmt.as_bytes();
    let mut items = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        let col = i + 1;
        let (name, next) = if b.get(i + 1) == Some(&b'{') {
            let close = b[i..].iter().position(|&c| c == b'}').ok_or(FormatError::Unterminated { col })?;
            (&fmt[i + 2..i + close], i + close + 1)
        } else {
            let n = b[i + 1..].iter().take_while(|&&c| is_var_byte(c)).count();
            (&fmt[i + 1..i + 1 + n], i + 1 + n)
        };
        if name.is_empty() {
            lit.push(b'$');
            i += 1;
            continue;
        }
        let quoted = lit.last() == Some(&b'"');
        let (slot, vname, list) = variable(name, quoted).ok_or_else(|| FormatError::Unknown { what: format!("${name}"), col })?;
        if !lit.is_empty() {
            items.push(Item::Lit(std::mem::take(&mut lit)));
        }
        items.push(Item::Field(Field { slot, name: vname, col, list }));
        i = next;
    }
    if !lit.is_empty() {
        items.push(Item::Lit(lit));
    }
    // One value per slot: $remote_addr over $realip_remote_addr,
    // $body_bytes_sent over $bytes_sent, $request_time over
    // $upstream_response_time; otherwise the first one written.
    if let Some(k) = items.iter().position(|i| matches!(i, Item::Field(f) if f.name == "$remote_addr (client address)")) {
        demote_others(&mut items, k, |s| *s == Slot::Host);
    }
    if let Some(k) = items.iter().position(|i| matches!(i, Item::Field(f) if f.name == "$body_bytes_sent")) {
        demote_others(&mut items, k, |s| *s == Slot::Bytes);
    }
    if let Some(k) = items.iter().position(|i| matches!(i, Item::Field(f) if f.name == "$request_time (seconds)")) {
        demote_others(&mut items, k, |s| matches!(s, Slot::Micros(_)));
    }
    for slot in [Slot::Host, Slot::Bytes, Slot::HostHeader, Slot::Micros(Unit::Seconds)] {
        let same = |s: &Slot| *s == slot || (matches!(slot, Slot::Micros(_)) && matches!(s, Slot::Micros(_)));
        if let Some(k) = items.iter().position(|i| matches!(i, Item::Field(f) if same(&f.slot))) {
            demote_others(&mut items, k, same);
        }
    }
    Ok(items)
}

fn demote_others(items: &mut [Item], keep: usize, same: impl Fn(&Slot) -> bool) {
    for (k, it) in items.iter_mut().enumerate() {
        if let Item::Field(f) = it {
            if k != keep && same(&f.slot) {
                f.slot = Slot::Skip;
            }
        }
    }
}

/// Does `s` look like an nginx format (a `$variable`)?
pub fn looks_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2).any(|w| w[0] == b'$' && (w[1].is_ascii_alphabetic() || w[1] == b'_' || w[1] == b'{'))
}
