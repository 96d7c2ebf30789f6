//! Formats whose compiled program reads exactly what a hand-tuned parser
//! reads, so a line can go through that parser first.
//!
//! The Apache `combined` string (`%h %l %u %t "%r" %>s %b "%{Referer}i"
//! "%{User-Agent}i"`, or the same slots under other directives such as
//! `%a` or `%B`) is the fast path's format: where [`parse_fused`] accepts
//! a line, the program would have cut the same fields at the same places
//! and checked them the same way, so the fast path's record is the
//! program's record. Where it declines (an error, an escaped quote it
//! cannot vouch for, a newline inside the bytes) the general program runs
//! and names what is wrong as before.

use super::fields::{Slot, TimeSpec};
use super::program::Item;
use crate::log::parse::parse_fused;
use crate::log::record::{Ext, Record, Rich};

/// A known shape a program can hand its lines to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// The fields and literals of combined, nothing before or after.
    /// `dash`: nginx's spelling, a literal `-` where Apache has `%l`
    /// (`$remote_addr - $remote_user [$time_local] ...`).
    Combined { dash: bool },
    /// Combined's fields and literals starting at item `at`, with fields
    /// before or after them that only add to the record's extras (a
    /// virtual host and port before, a duration after: `vhost_combined`,
    /// `combined` + `%D`). The middle is read by the fast path's parser.
    Embedded { at: usize, dash: bool },
    /// Anything else: the general program.
    General,
}

/// Fields that may stand around an embedded combined: they set none of
/// the fields combined sets, so the fast path's record stays whole.
fn extra_only(s: &Slot) -> bool {
    matches!(
        s,
        Slot::Vhost
            | Slot::HostHeader
            | Slot::Port
            | Slot::Micros(_)
            | Slot::Xff
            | Slot::TlsProtocol
            | Slot::TlsCipher
            | Slot::Count
            | Slot::Skip
    )
}

/// Items in combined's window, the last literal of which may run on into
/// what follows (`" ` before a trailing `%D`).
pub(super) const COMBINED_ITEMS: usize = 18;

/// Items in the window: two fewer in nginx's spelling (` - ` is one
/// literal where Apache has ` `, `%l`, ` `).
pub(super) const fn window_len(dash: bool) -> usize {
    if dash {
        COMBINED_ITEMS - 2
    } else {
        COMBINED_ITEMS
    }
}

/// The fast path's record as the program gives it: in nginx's spelling
/// the line must have `-` there, and the program has no ident field.
#[inline(always)]
pub(super) fn as_program(mut rec: Record<'_>, dash: bool) -> Option<Record<'_>> {
    if dash {
        if rec.ident != b"-" {
            return None;
        }
        rec.ident = b"";
    }
    Some(rec)
}

/// The shape of normalized items (adjacent literals merged).
pub(super) fn shape_of(items: &[Item], trailing_ok: bool, squeeze: bool) -> Shape {
    // Trailing fields or squeezed spaces accept lines the fast path does
    // not read; it would decline them, but nothing is gained trying.
    if trailing_ok || squeeze {
        return Shape::General;
    }
    enum P {
        F(Slot),
        L(&'static [u8]),
    }
    let combined = [
        P::F(Slot::Host),
        P::L(b" "),
        P::F(Slot::Ident),
        P::L(b" "),
        P::F(Slot::User),
        P::L(b" ["),
        P::F(Slot::Time(TimeSpec::Clf)),
        P::L(b"] \""),
        P::F(Slot::Request),
        P::L(b"\" "),
        P::F(Slot::Status),
        P::L(b" "),
        P::F(Slot::Bytes),
        P::L(b" \""),
        P::F(Slot::Referer),
        P::L(b"\" \""),
        P::F(Slot::Agent),
        P::L(b"\""),
    ];
    debug_assert_eq!(combined.len(), COMBINED_ITEMS);
    // nginx's spelling: host, " - ", user, then as Apache's.
    let mut nginx: Vec<P> = vec![P::F(Slot::Host), P::L(b" - "), P::F(Slot::User)];
    nginx.extend(combined[5..].iter().map(|p| match p {
        P::F(s) => P::F(s.clone()),
        P::L(l) => P::L(l),
    }));
    let window_at = |at: usize, pattern: &[P]| {
        let n = pattern.len();
        items.len() >= at + n
            && items[at..at + n].iter().zip(pattern).enumerate().all(|(k, (i, p))| {
                match (i, p) {
                    (Item::Field(f), P::F(s)) => f.slot == *s && !f.list,
                    // The closing quote may be followed by the suffix's text.
                    (Item::Lit(l), P::L(w)) if k + 1 == n => {
                        l.starts_with(w) && (l.len() == 1) == (at + n == items.len())
                    }
                    (Item::Lit(l), P::L(w)) => l.as_slice() == *w,
                    _ => false,
                }
            })
    };
    let found = (0..items.len()).find_map(|a| {
        if window_at(a, &combined) {
            Some((a, false))
        } else if window_at(a, &nginx) {
            Some((a, true))
        } else {
            None
        }
    });
    let Some((at, dash)) = found else {
        return Shape::General;
    };
    let len = window_len(dash);
    debug_assert_eq!(len, if dash { nginx.len() } else { combined.len() });
    if at == 0 && items.len() == len {
        return Shape::Combined { dash };
    }
    // What stands around the window adds extras only, and text before it
    // ends in a literal (the host then starts right after it).
    let around_ok = items[..at]
        .iter()
        .chain(&items[at + len..])
        .all(|i| match i {
            Item::Field(f) => extra_only(&f.slot),
            Item::Lit(_) => true,
        });
    let before_ok = at == 0 || matches!(items[at - 1], Item::Lit(_));
    if around_ok && before_ok {
        Shape::Embedded { at, dash }
    } else {
        Shape::General
    }
}

/// The record of a combined line read by the fast path, when it reads the
/// whole of `line` (which has no `\n`; a trailing `\r` is allowed).
#[inline(always)]
pub(super) fn fast_combined(line: &[u8], dash: bool) -> Option<Rich<'_>> {
    match parse_fused(line, 0) {
        Some((rec, end)) if end == line.len() => Some(Rich {
            rec: as_program(rec, dash)?,
            ext: Ext::NONE,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::format::program::Program;
    use crate::log::format::{compile_string, LogFormat};

    const COMBINED: &str = r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;

    fn program(f: &str) -> Program {
        match compile_string(f).unwrap() {
            LogFormat::Program(p) => *p,
            other => panic!("{f}: {other:?}"),
        }
    }

    /// The shortcut and the general program give the same record or the
    /// same error; returns whether the shortcut read the line.
    fn agrees(p: &Program, line: &[u8]) -> bool {
        assert_eq!(
            p.parse(line),
            p.parse_general(line),
            "{:?}",
            String::from_utf8_lossy(line)
        );
        fast_combined(line, false).is_some()
    }

    #[test]
    fn combined_and_its_spellings_take_the_shortcut() {
        for f in [
            COMBINED,
            r#"%a %l %u %t "%r" %s %B "%{Referer}i" "%{User-Agent}i""#,
        ] {
            assert!(
                agrees(
                    &program(f),
                    br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#
                ),
                "{f}"
            );
        }
        for f in [
            r#"%h %l %u %t "%r" %>s %b"#,
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{X-Forwarded-For}i""#,
            // Around combined, fields that combined sets: not embedded.
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %t"#,
            r#"%u %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#,
            // A field glued to the closing quote.
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"%D"#,
        ] {
            assert_eq!(program(f).shape, Shape::General, "{f}");
        }
        assert_eq!(program(COMBINED).shape, Shape::Combined { dash: false });
        // nginx's spelling, alone and with extras around it.
        assert_eq!(program(NGINX).shape, Shape::Combined { dash: true });
        for (f, at) in [(format!("{NGINX} $request_time"), 0), (format!(r#"{NGINX} "$http_x_forwarded_for""#), 0), (format!("$host {NGINX}"), 2)] {
            assert_eq!(program(&f).shape, Shape::Embedded { at, dash: true }, "{f}");
        }
        for (f, at) in [
            (VHOST_D, 4),
            (r#"%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#, 2),
            (r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D"#, 0),
            (r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i" %T"#, 0),
        ] {
            assert_eq!(program(f).shape, Shape::Embedded { at, dash: false }, "{f}");
        }
    }

    /// nginx's combined, as its log_format string spells it.
    const NGINX: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;

    /// Debian's vhost_combined with the time taken after it.
    const VHOST_D: &str = r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i" %D"#;

    #[test]
    fn embedded_combined_agrees_with_the_program() {
        let formats = [
            VHOST_D.to_string(),
            r#"%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i""#.to_string(),
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{X-Forwarded-For}i" %T"#.to_string(),
            // nginx's spelling: the ident must be `-` and is not kept.
            format!("$host:$server_port {NGINX} $request_time"),
            format!(r#"$host:$server_port {NGINX} "$http_x_forwarded_for" $request_time"#),
            format!("$host:$server_port {NGINX}"),
        ];
        let ok: &[u8] =
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        let mut middles: Vec<Vec<u8>> = vec![
            ok.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET /a" HTTP/1.1" 200 5 "r"x" "a\""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "a" b""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "a" 7 "b""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 - "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5"#.to_vec(),
            br#"1.2.3.4  - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 -- - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 x - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [31/Feb/2014:25:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            b"1.2.3.4 \xc3\xa9 - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"\xff\t\"".to_vec(),
            b"\0\0\0".to_vec(),
            b"".to_vec(),
        ];
        middles.push([&b"a".repeat(60)[..], &ok[7..]].concat());
        let befores: [&[u8]; 6] = [b"www.example.org:443 ", b"a:1 ", b":443 ", b"a:b ", b"a:443  ", b""];
        let afters: [&[u8]; 8] = [b" 1234", b" -", b"", b" 12 34", b" x", b" \"-\" 0.004", b" \"9.9.9.9, 10.0.0.1\" 1", b"\r"];
        for f in &formats {
            let p = program(f);
            let mut embedded = 0;
            for m in &middles {
                for b in befores {
                    for a in afters {
                        let line = [b, &m[..], a].concat();
                        assert_eq!(p.parse(&line), p.parse_general(&line), "{f}: {:?}", String::from_utf8_lossy(&line));
                        embedded += p.parse(&line).is_ok() as usize;
                    }
                }
            }
            assert!(embedded > 0, "{f}: no line read");
        }
    }

    #[test]
    fn embedded_combined_agrees_on_generated_logs() {
        use crate::testgen::log::{write_log, GenOpts};
        let p = program(VHOST_D);
        let mut data = Vec::new();
        let opts = GenOpts {
            seed: 11,
            lines: Some(20_000),
            traps: true,
            malformed: true,
            ..Default::default()
        };
        write_log(&opts, &mut data).unwrap();
        let (mut read, mut n) = (0, 0);
        for (k, line) in data.split(|&b| b == b'\n').enumerate() {
            let line = [format!("v{}.example.org:{} ", k % 3, 80 + k % 2).as_bytes(), line, format!(" {k}").as_bytes()].concat();
            n += 1;
            let r = p.parse(&line);
            assert_eq!(r, p.parse_general(&line), "{:?}", String::from_utf8_lossy(&line));
            if let Ok(r) = r {
                read += p.parse_embedded(&line, 4, false).is_some() as usize;
                assert_eq!(r.ext.micros, Some(k as u64));
                assert_eq!(r.ext.port, Some(80 + (k % 2) as u16));
            }
        }
        assert!(read * 100 > n * 95, "{read} of {n}");
    }

    /// Reading a chunk through the shortcut (each line's end found while
    /// it is read) gives each line's record or declines it, as the
    /// program on that line alone would.
    #[test]
    fn shortcut_over_a_chunk_agrees_with_line_by_line() {
        use crate::testgen::log::{write_log, GenOpts};
        let mut data = Vec::new();
        let opts = GenOpts { seed: 5, lines: Some(5_000), traps: true, malformed: true, ..Default::default() };
        write_log(&opts, &mut data).unwrap();
        let mut vhost = Vec::new();
        let mut plain = Vec::new();
        for (k, line) in data.split(|&b| b == b'\n').enumerate() {
            // Hostile joins: a CR before the newline, a newline inside the
            // prefix, an empty line, a prefix without the middle.
            let (pre, post): (&[u8], &[u8]) = match k % 7 {
                0 => (b"v.example.org:443 ", b" 12\r"),
                1 => (b"v.example.org\n:443 ", b" 5"),
                2 => (b"", b""),
                3 => (b"a:1 ", b""),
                // A dash after a number: nothing of the line before stays.
                4 => (b"b:- ", b" -"),
                _ => (b"www.example.org:80 ", b" 1234"),
            };
            vhost.extend_from_slice(&[pre, line, post, b"\n"].concat());
            plain.extend_from_slice(&[line, if k % 5 == 0 { b"\r\n" } else { b"\n" }].concat());
        }
        for (f, data) in [(VHOST_D, &vhost), (COMBINED, &plain), (NGINX, &plain)] {
            let p = program(f);
            let (mut start, mut read) = (0, 0);
            // One Ext for the whole chunk, as the engine keeps it.
            let mut ext = Ext::NONE;
            while start < data.len() {
                let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |k| start + k);
                let line = &data[start..end];
                if let Some((rec, len)) = p.shortcut(&data[start..], &mut ext) {
                    assert_eq!(len, line.len(), "{f}: {:?}", String::from_utf8_lossy(line));
                    assert_eq!(Ok(Rich { rec, ext }), p.parse_general(line), "{f}: {:?}", String::from_utf8_lossy(line));
                    read += 1;
                }
                start = end + 1;
            }
            assert!(read > 2_000, "{f}: {read} lines read by the shortcut");
        }
    }

    #[test]
    fn shortcut_agrees_with_the_program_on_tricky_lines() {
        let p = program(COMBINED);
        let ok: &[u8] =
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "ua""#;
        let cases: Vec<Vec<u8>> = vec![
            ok.to_vec(),
            [ok, b"\r"].concat(),
            [ok, b"\r\r"].concat(),
            [ok, b" "].concat(),
            [ok, b" \"x\""].concat(),
            [ok, b"\n", ok].concat(),
            ok[..ok.len() - 1].to_vec(),
            ok[..40].to_vec(),
            b"".to_vec(),
            b"\r".to_vec(),
            b"\0\0\0".to_vec(),
            // Escaped quotes and backslashes in each quoted field.
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET /a\" HTTP/1.1" 200 5 "r\"x" "a\\""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET /a\\" HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "a" b""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "a\" b""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "" 200 5 "" """#.to_vec(),
            // Dashes, missing and extra fields, extra spaces.
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 - "-" "-""#.to_vec(),
            br#"- - - [08/Feb/2014:07:00:00 +0100] "-" 200 - "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5"#.to_vec(),
            br#"1.2.3.4  - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - -  [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1"  200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5  "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5 "-"  "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +01:00] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [31/Feb/2014:25:00:00 +0100] "GET / HTTP/1.1" 200 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 20x 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 2000 5 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 12345678901234567890 "-" "-""#.to_vec(),
            br#"1.2.3.4 - - [08/Feb/2014:07:00:00 +0100] "GET / HTTP/1.1" 200 5x "-" "-""#.to_vec(),
            b"1.2.3.4 - \x01 [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"".to_vec(),
            b"1.2.3.4 \xc3\xa9 - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"\xff\t\"".to_vec(),
            b"1.2.3.4\t- - [08/Feb/2014:07:00:00 +0100] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"".to_vec(),
            [&b"a".repeat(60)[..], &ok[7..]].concat(),
        ];
        for c in &cases {
            agrees(&p, c);
        }
        assert!(agrees(&p, ok));
    }

    #[test]
    fn shortcut_agrees_with_the_program_on_generated_logs() {
        use crate::testgen::log::{write_log, GenOpts};
        let p = program(COMBINED);
        let mut data = Vec::new();
        let opts = GenOpts {
            seed: 7,
            lines: Some(20_000),
            traps: true,
            malformed: true,
            ..Default::default()
        };
        write_log(&opts, &mut data).unwrap();
        let (mut fast, mut n) = (0, 0);
        for line in data.split(|&b| b == b'\n') {
            n += 1;
            fast += agrees(&p, line) as usize;
        }
        assert!(fast * 100 > n * 95, "{fast} of {n}");
    }
}
