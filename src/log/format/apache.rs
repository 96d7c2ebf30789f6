//! Apache `LogFormat` strings (mod_log_config, mod_ssl's `%{VAR}x`) into
//! format items.
//!
//! A directive is `%`, optional modifiers (`<` `>` for the original or
//! final request, a status condition such as `400,501` or `!200,304`), an
//! optional `{argument}` and a letter. Conditions and `<`/`>` do not change
//! how a value is read: a field whose condition fails is written as `-`.

use super::fields::{compile_strftime, Slot, TimeSpec, Unit};
use super::program::{Field, Item};
use super::FormatError;

/// The letters `mod_log_config` and `mod_ssl` document.
fn directive(letter: u8, arg: Option<&str>, quoted: bool) -> Option<(Slot, &'static str, bool)> {
    let header = |a: &str| -> (Slot, &'static str, bool) {
        match a.to_ascii_lowercase().as_str() {
            "referer" => (Slot::Referer, "%{Referer}i (referer)", false),
            "user-agent" => (Slot::Agent, "%{User-Agent}i (user agent)", false),
            "x-forwarded-for" => (Slot::Xff, "%{X-Forwarded-For}i (proxy chain)", !quoted),
            "host" => (Slot::HostHeader, "%{Host}i (virtual host)", false),
            _ => (Slot::Skip, "%{NAME}i (request header)", false),
        }
    };
    Some(match (letter, arg) {
        (b'a', Some("c")) => (Slot::Host, "%{c}a (peer address)", false),
        (b'a', _) => (Slot::Host, "%a (client address)", false),
        (b'A', _) => (Slot::Skip, "%A (local address)", false),
        (b'B', _) => (Slot::Bytes, "%B (response bytes)", false),
        (b'b', _) => (Slot::Bytes, "%b (response bytes)", false),
        (b'C', Some(_)) => (Slot::Skip, "%{NAME}C (cookie)", false),
        (b'D', _) => (Slot::Micros(Unit::Micros), "%D (time taken, µs)", false),
        (b'e', Some(_)) => (Slot::Skip, "%{NAME}e (environment variable)", false),
        (b'f', _) => (Slot::Skip, "%f (file name)", false),
        (b'h', _) => (Slot::Host, "%h (client host)", false),
        (b'H', _) => (Slot::Version, "%H (protocol)", false),
        (b'i', Some(a)) => header(a),
        (b'k', _) => (Slot::Count, "%k (keep-alive requests)", false),
        (b'l', _) => (Slot::Ident, "%l (remote logname)", false),
        (b'L', _) => (Slot::Skip, "%L (log id)", false),
        (b'm', _) => (Slot::Method, "%m (method)", false),
        (b'n', Some(_)) => (Slot::Skip, "%{NAME}n (note)", false),
        (b'o', Some(_)) => (Slot::Skip, "%{NAME}o (response header)", false),
        (b'p', Some("remote")) => (Slot::Skip, "%{remote}p (client port)", false),
        (b'p', None | Some("canonical") | Some("local")) => (Slot::Port, "%p (server port)", false),
        (b'P', _) => (Slot::Skip, "%P (process id)", false),
        (b'q', _) => (Slot::Query, "%q (query string)", false),
        (b'r', _) => (Slot::Request, "%r (request line)", false),
        (b'R', _) => (Slot::Skip, "%R (handler)", false),
        (b's', _) => (Slot::Status, "%>s (status)", false),
        (b'T', None | Some("s")) => (Slot::Micros(Unit::Seconds), "%T (time taken, s)", false),
        (b'T', Some("ms")) => (Slot::Micros(Unit::Millis), "%{ms}T (time taken, ms)", false),
        (b'T', Some("us")) => (Slot::Micros(Unit::Micros), "%{us}T (time taken, µs)", false),
        (b'u', _) => (Slot::User, "%u (remote user)", false),
        (b'U', _) => (Slot::Path, "%U (URL path)", false),
        (b'v', _) => (Slot::Vhost, "%v (server name)", false),
        (b'V', _) => (Slot::HostHeader, "%V (server name)", false),
        (b'X', _) => (Slot::Skip, "%X (connection status)", false),
        (b'I', _) => (Slot::Count, "%I (bytes received)", false),
        (b'O', _) => (Slot::Bytes, "%O (bytes sent)", false),
        (b'S', _) => (Slot::Count, "%S (bytes transferred)", false),
        (b'x', Some("SSL_PROTOCOL")) => (Slot::TlsProtocol, "%{SSL_PROTOCOL}x (TLS protocol)", false),
        (b'x', Some("SSL_CIPHER")) => (Slot::TlsCipher, "%{SSL_CIPHER}x (TLS cipher)", false),
        (b'x', Some(_)) | (b'c', Some(_)) => (Slot::Skip, "%{VAR}x (TLS variable)", false),
        (b'^', Some(_)) => (Slot::Skip, "%{NAME}^ti (trailer)", false),
        _ => return None,
    })
}

/// `%{...}t`: strftime, or `sec`, `msec`, `usec`, `msec_frac`,
/// `usec_frac`, each optionally after `begin:` or `end:`.
fn time_arg(a: &str, col: usize) -> Result<(TimeSpec, &'static str), FormatError> {
    let a = a.strip_prefix("begin:").or_else(|| a.strip_prefix("end:")).unwrap_or(a);
    Ok(match a {
        "sec" => (TimeSpec::EpochSecs, "%{sec}t (epoch seconds)"),
        "msec" => (TimeSpec::EpochMillis, "%{msec}t (epoch milliseconds)"),
        "usec" => (TimeSpec::EpochMicros, "%{usec}t (epoch microseconds)"),
        "msec_frac" | "usec_frac" => (TimeSpec::Fraction, "%{msec_frac}t (sub-second digits)"),
        p => {
            let parts = compile_strftime(p).map_err(|what| FormatError::Unknown {
                what: format!("{what} in %{{{p}}}t"),
                col,
            })?;
            (TimeSpec::Strftime(parts), "%{FORMAT}t (time)")
        }
    })
}

/// Parses an Apache `LogFormat` string (as given to the directive, quotes
/// of the config file already removed; `\"`, `\t`, `\n` are read as
/// Apache reads them).
pub fn parse(fmt: &str) -> Result<Vec<Item>, FormatError> {
    let b = fmt.as_bytes();
    let mut items = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => {
                lit.push(match b[i + 1] {
                    b'n' => b'\n',
                    b't' => b'\t',
                    c => c,
                });
                i += 2;
            }
            b'%' => {
                let col = i + 1;
                i += 1;
                if b.get(i) == Some(&b'%') {
                    lit.push(b'%');
                    i += 1;
                    continue;
                }
                // Modifiers: < > ! and a status list.
                while i < b.len() && (b"<>!,".contains(&b[i]) || b[i].is_ascii_digit()) {
                    i += 1;
                }
                let mut arg = None;
                if b.get(i) == Some(&b'{') {
                    let close = b[i..].iter().position(|&c| c == b'}').ok_or(FormatError::Unterminated { col })?;
                    arg = Some(&fmt[i + 1..i + close]);
                    i += close + 1;
                }
                let Some(&letter) = b.get(i) else {
                    return Err(FormatError::Unknown { what: fmt[col - 1..].to_string(), col });
                };
                let end = i + 1;
                // A directive's text, for errors: up to its letter.
                let text = || String::from_utf8_lossy(&b[col - 1..end]).into_owned();
                i = end;
                let quoted = lit.last() == Some(&b'"');
                if !lit.is_empty() {
                    items.push(Item::Lit(std::mem::take(&mut lit)));
                }
                if letter == b't' {
                    let (spec, name) = match arg {
                        None => {
                            items.push(Item::Lit(b"[".to_vec()));
                            items.push(Item::Field(Field { slot: Slot::Time(TimeSpec::Clf), name: "%t (time)", col, list: false }));
                            items.push(Item::Lit(b"]".to_vec()));
                            continue;
                        }
                        Some(a) => time_arg(a, col)?,
                    };
                    items.push(Item::Field(Field { slot: Slot::Time(spec), name, col, list: false }));
                    continue;
                }
                if letter == b'^' {
                    // %{NAME}^ti / ^to: two letters.
                    if !matches!(b.get(i..i + 2), Some(b"ti") | Some(b"to")) {
                        return Err(FormatError::Unknown { what: text(), col });
                    }
                    i += 2;
                }
                let (slot, name, list) = directive(letter, arg, quoted).ok_or_else(|| FormatError::Unknown { what: text(), col })?;
                items.push(Item::Field(Field { slot, name, col, list }));
            }
            c => {
                lit.push(c);
                i += 1;
            }
        }
    }
    if !lit.is_empty() {
        items.push(Item::Lit(lit));
    }
    // %O is the byte count only when the format has no %b/%B (combinedio
    // logs both).
    let has_b = items.iter().any(|i| matches!(i, Item::Field(f) if f.slot == Slot::Bytes && !f.name.starts_with("%O")));
    if has_b {
        for it in &mut items {
            if let Item::Field(f) = it {
                if f.name.starts_with("%O") {
                    f.slot = Slot::Count;
                }
            }
        }
    }
    Ok(items)
}

/// Does `s` look like an Apache format (a `%` directive)?
pub fn looks_like(s: &str) -> bool {
    let b = s.as_bytes();
    b.windows(2).any(|w| w[0] == b'%' && (w[1].is_ascii_alphabetic() || b"{<>!".contains(&w[1])))
}
