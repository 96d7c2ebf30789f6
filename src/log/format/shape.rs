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
use crate::log::record::{Ext, Rich};

/// A known shape a program can hand its lines to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Shape {
    /// The fields and literals of combined, nothing before or after.
    Combined,
    /// Anything else: the general program.
    General,
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
    let same = items.len() == combined.len()
        && items.iter().zip(&combined).all(|(i, p)| match (i, p) {
            (Item::Field(f), P::F(s)) => f.slot == *s && !f.list,
            (Item::Lit(l), P::L(w)) => l.as_slice() == *w,
            _ => false,
        });
    if same {
        Shape::Combined
    } else {
        Shape::General
    }
}

/// The record of a combined line read by the fast path, when it reads the
/// whole of `line` (which has no `\n`; a trailing `\r` is allowed).
#[inline(always)]
pub(super) fn fast_combined(line: &[u8]) -> Option<Rich<'_>> {
    match parse_fused(line, 0) {
        Some((rec, end)) if end == line.len() => Some(Rich {
            rec,
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
        fast_combined(line).is_some()
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
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" %D"#,
            r#"%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#,
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{X-Forwarded-For}i""#,
        ] {
            assert_eq!(program(f).shape, Shape::General, "{f}");
        }
        assert_eq!(program(COMBINED).shape, Shape::Combined);
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
