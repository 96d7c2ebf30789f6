//! What a format's field means (its [`Slot`] in the record) and how its
//! value is read: numbers, durations, times in every layout servers write.
//! Pure functions on the field's bytes; no allocation.

use crate::log::record::Ext;
use crate::log::time::{days_from_civil, parse_log_clock, Secs, DAY};

/// Where a field's value goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    Host,
    Ident,
    User,
    Time(TimeSpec),
    /// `METHOD TARGET HTTP/x` as one field.
    Request,
    Method,
    /// The path without the query (`%U`, `$uri`).
    Path,
    /// `?query` or empty (`%q`); `$args` is without the `?`.
    Query,
    /// Path and query together (`$request_uri`).
    Target,
    Version,
    Status,
    Bytes,
    Referer,
    Agent,
    Vhost,
    /// A virtual host that may carry `:port` (`Host` header, `%V`).
    HostHeader,
    Port,
    /// `host:port` (ALB/ELB clients).
    HostPort,
    /// A duration; the factor turns the written number into microseconds.
    Micros(Unit),
    Xff,
    TlsProtocol,
    TlsCipher,
    /// A number (or `-`) that is checked, not kept (bytes received...).
    Count,
    /// Read and checked for its end, not kept.
    Skip,
}

/// The unit a duration is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Millis,
    Micros,
}

/// A timestamp's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// `dd/Mon/yyyy:HH:MM:SS +zzzz` (Apache `%t` without its brackets,
    /// nginx `$time_local`).
    Clf,
    /// `2026-12-01T22:06:36+00:00`, `...36.123Z` (nginx `$time_iso8601`, ALB).
    Iso8601,
    /// Seconds since the epoch, maybe with a fraction (`%{sec}t`, `$msec`).
    EpochSecs,
    EpochMillis,
    EpochMicros,
    /// W3C's separate `date` (`2026-12-01`) and `time` (`22:06:36`) columns.
    Date,
    TimeOfDay,
    /// The sub-second part only (`%{msec_frac}t`): checked, not kept.
    Fraction,
    /// A strftime pattern (`%{%d/%b/%Y %T}t`).
    Strftime(Vec<Tm>),
}

/// One piece of a strftime pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tm {
    Lit(Vec<u8>),
    Day,
    DaySpace,
    MonthName,
    MonthFull,
    Month,
    Year,
    Year2,
    Hour,
    Minute,
    Second,
    Zone,
    ZoneName,
    Weekday,
    Epoch,
    YearDay,
    /// `%f` style fraction digits.
    Frac,
}

/// Compiles a strftime pattern; the error is the unsupported conversion.
pub fn compile_strftime(p: &str) -> Result<Vec<Tm>, String> {
    let mut out = Vec::new();
    let mut lit = Vec::new();
    let b = p.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            lit.push(b[i]);
            i += 1;
            continue;
        }
        let Some(&c) = b.get(i + 1) else {
            return Err("%".into());
        };
        i += 2;
        let parts: &[Tm] = match c {
            b'%' => {
                lit.push(b'%');
                continue;
            }
            b'n' | b't' => {
                lit.push(if c == b'n' { b'\n' } else { b'\t' });
                continue;
            }
            b'd' => &[Tm::Day],
            b'e' => &[Tm::DaySpace],
            b'b' | b'h' => &[Tm::MonthName],
            b'B' => &[Tm::MonthFull],
            b'm' => &[Tm::Month],
            b'Y' => &[Tm::Year],
            b'y' => &[Tm::Year2],
            b'H' => &[Tm::Hour],
            b'M' => &[Tm::Minute],
            b'S' => &[Tm::Second],
            b'z' => &[Tm::Zone],
            b'Z' => &[Tm::ZoneName],
            b'a' | b'A' => &[Tm::Weekday],
            b's' => &[Tm::Epoch],
            b'j' => &[Tm::YearDay],
            b'f' => &[Tm::Frac],
            b'T' => &[Tm::Hour, Tm::Lit(Vec::new()), Tm::Minute, Tm::Lit(Vec::new()), Tm::Second],
            b'R' => &[Tm::Hour, Tm::Lit(Vec::new()), Tm::Minute],
            b'D' => &[Tm::Month, Tm::Lit(Vec::new()), Tm::Day, Tm::Lit(Vec::new()), Tm::Year2],
            b'F' => &[Tm::Year, Tm::Lit(Vec::new()), Tm::Month, Tm::Lit(Vec::new()), Tm::Day],
            _ => return Err(format!("%{}", c as char)),
        };
        let sep: &[u8] = match c {
            b'T' | b'R' => b":",
            b'D' => b"/",
            _ => b"-",
        };
        if !lit.is_empty() {
            out.push(Tm::Lit(std::mem::take(&mut lit)));
        }
        for t in parts {
            out.push(match t {
                Tm::Lit(_) => Tm::Lit(sep.to_vec()),
                t => t.clone(),
            });
        }
    }
    if !lit.is_empty() {
        out.push(Tm::Lit(lit));
    }
    Ok(out)
}

/// The parts of a time as they are read; a record's time is assembled
/// from them once the line is done.
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeParts {
    pub days: Option<i64>,
    pub tod: Option<i64>,
    pub epoch: Option<i64>,
}

impl TimeParts {
    /// Wall-clock seconds as written (UTC for epoch times).
    #[inline]
    pub fn secs(&self) -> Secs {
        match (self.epoch, self.days) {
            (Some(e), _) => e,
            (None, Some(d)) => d * DAY + self.tod.unwrap_or(0),
            (None, None) => self.tod.unwrap_or(0),
        }
    }
}

#[inline]
fn digits(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u64, |n, &d| n * 10 + (d - b'0') as u64))
}

/// Digits, or `-` (None inside Some).
#[inline]
pub fn count_or_dash(b: &[u8]) -> Option<Option<u64>> {
    if b == b"-" {
        return Some(None);
    }
    digits(b).map(Some)
}

/// `123`, `0.004`, `1.5e-3` is not written by servers: a decimal number
/// scaled to micro-units of `unit`; `-` is None inside Some. A list
/// (`0.010, 0.002`, `0.1 : 0.2`, nginx upstream tries) is summed.
#[inline]
pub fn duration(b: &[u8], unit: Unit) -> Option<Option<u64>> {
    // `-`, or `-1` (AWS: the request never reached a target).
    if b.is_empty() || b[0] == b'-' {
        return Some(None);
    }
    // The usual case, one whole number (`%D`, `%T`): no split, no scan
    // for a decimal point.
    if b.len() <= 19 {
        let mut n = 0u64;
        let mut whole = true;
        for &c in b {
            let d = c.wrapping_sub(b'0');
            whole &= d < 10;
            n = n.wrapping_mul(10).wrapping_add(d as u64);
        }
        if whole {
            let scale: u64 = match unit {
                Unit::Seconds => 1_000_000,
                Unit::Millis => 1_000,
                Unit::Micros => 1,
            };
            return Some(Some(n.saturating_mul(scale)));
        }
    }
    duration_parts(b, unit)
}

/// Stores a field beyond combined's (see [`super::shape`]'s extras) in
/// `ext`, always writing its place (`-` writes None or nothing), so that
/// one `Ext` can serve line after line of a format; Err where the value
/// is not one the field can hold.
#[inline(always)]
pub(crate) fn set_extra<'a>(ext: &mut Ext<'a>, slot: &Slot, v: &'a [u8]) -> Result<(), ()> {
    let ok = |c: bool| if c { Ok(()) } else { Err(()) };
    match slot {
        Slot::Vhost | Slot::HostHeader => {
            ext.vhost = v;
            Ok(())
        }
        Slot::Port => {
            ext.port = match count_or_dash(v).ok_or(())? {
                Some(n) => Some(u16::try_from(n).map_err(|_| ())?),
                None => None,
            };
            Ok(())
        }
        Slot::Micros(unit) => {
            ext.micros = duration(v, *unit).ok_or(())?;
            Ok(())
        }
        Slot::Xff => {
            ext.xff = if v == b"-" { &v[..0] } else { v };
            ok(v.iter().all(|&c| (0x20..0x7f).contains(&c)))
        }
        Slot::TlsProtocol => {
            ext.tls_protocol = if v == b"-" { &v[..0] } else { v };
            Ok(())
        }
        Slot::TlsCipher => {
            ext.tls_cipher = if v == b"-" { &v[..0] } else { v };
            Ok(())
        }
        Slot::Count => ok(count_or_dash(v).is_some()),
        Slot::Skip => Ok(()),
        // The record's own fields are not set here.
        _ => Err(()),
    }
}

/// Durations with a fraction, or several joined by `,` or `:` (nginx's
/// `$upstream_response_time` after retries), added up.
fn duration_parts(b: &[u8], unit: Unit) -> Option<Option<u64>> {
    let mut total = 0u64;
    let mut any = false;
    for part in b.split(|&c| c == b',' || c == b':') {
        let part = trim(part);
        if part == b"-" {
            continue;
        }
        total = total.saturating_add(one_duration(part, unit)?);
        any = true;
    }
    Some(any.then_some(total))
}

fn trim(b: &[u8]) -> &[u8] {
    let s = b.iter().position(|&c| c != b' ').unwrap_or(b.len());
    let e = b.iter().rposition(|&c| c != b' ').map_or(s, |e| e + 1);
    &b[s..e]
}

fn one_duration(b: &[u8], unit: Unit) -> Option<u64> {
    let (int, frac) = match memchr::memchr(b'.', b) {
        Some(d) => (&b[..d], &b[d + 1..]),
        None => (b, &b""[..]),
    };
    let int = if int.is_empty() && !frac.is_empty() { 0 } else { digits(int)? };
    if !frac.is_empty() && !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let scale: u64 = match unit {
        Unit::Seconds => 1_000_000,
        Unit::Millis => 1_000,
        Unit::Micros => 1,
    };
    let mut f = 0u64;
    let mut s = scale;
    for &d in frac.iter().take(9) {
        s /= 10;
        f += (d - b'0') as u64 * s;
    }
    Some(int.saturating_mul(scale).saturating_add(f))
}

#[inline]
fn two(b: &[u8]) -> Option<u32> {
    let (a, c) = (b.first()?.wrapping_sub(b'0'), b.get(1)?.wrapping_sub(b'0'));
    (a < 10 && c < 10).then_some(a as u32 * 10 + c as u32)
}

fn date(y: i64, m: u32, d: u32) -> Option<i64> {
    let dim = match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        1..=12 => 31,
        _ => return None,
    };
    (d >= 1 && d <= dim).then(|| days_from_civil(y, m, d))
}

fn clock(b: &[u8]) -> Option<i64> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (two(&b[0..2])?, two(&b[3..5])?, two(&b[6..8])?);
    (h < 24 && m < 60 && s <= 60).then_some((h * 3600 + m * 60 + s) as i64)
}

/// `.123` and then nothing else.
fn fraction_only(b: &[u8]) -> bool {
    b.is_empty() || (b[0] == b'.' && b.len() > 1 && b[1..].iter().all(u8::is_ascii_digit))
}

fn iso_date(b: &[u8]) -> Option<i64> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = two(&b[0..2])? as i64 * 100 + two(&b[2..4])? as i64;
    date(y, two(&b[5..7])?, two(&b[8..10])?)
}

fn zone_ok(z: &[u8]) -> bool {
    match z {
        b"" | b"Z" => true,
        [s, h1, h2, b':', m1, m2] | [s, h1, h2, m1, m2] => {
            (*s == b'+' || *s == b'-') && [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
        }
        _ => false,
    }
}

fn epoch(b: &[u8], per_sec: i64) -> Option<i64> {
    let int = match memchr::memchr(b'.', b) {
        Some(d) if fraction_only(&b[d..]) => &b[..d],
        Some(_) => return None,
        None => b,
    };
    Some(digits(int)? as i64 / per_sec)
}

/// Reads a time field into `t`, and returns the zone as written (empty
/// when there is none). None when the field is not such a time.
pub fn read_time<'a>(spec: &TimeSpec, b: &'a [u8], t: &mut TimeParts) -> Option<&'a [u8]> {
    let none: &[u8] = &b[..0];
    match spec {
        TimeSpec::Clf => {
            t.epoch = Some(parse_log_clock(b.get(..20)?)?);
            match &b[20..] {
                [] => Some(none),
                [b' ', z @ ..] if z.len() == 5 && zone_ok(z) => Some(z),
                _ => None,
            }
        }
        TimeSpec::Iso8601 => {
            let days = iso_date(b.get(..10)?)?;
            if b.get(10) != Some(&b'T') {
                return None;
            }
            let tod = clock(b.get(11..19)?)?;
            let mut rest = &b[19..];
            if rest.first() == Some(&b'.') {
                let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                if n == 0 {
                    return None;
                }
                rest = &rest[1 + n..];
            }
            if !zone_ok(rest) {
                return None;
            }
            t.epoch = Some(days * DAY + tod);
            Some(rest)
        }
        TimeSpec::EpochSecs => {
            t.epoch = Some(epoch(b, 1)?);
            Some(none)
        }
        TimeSpec::EpochMillis => {
            t.epoch = Some(epoch(b, 1000)?);
            Some(none)
        }
        TimeSpec::EpochMicros => {
            t.epoch = Some(epoch(b, 1_000_000)?);
            Some(none)
        }
        TimeSpec::Date => {
            t.days = Some(iso_date(b)?);
            Some(none)
        }
        TimeSpec::TimeOfDay => {
            let tod = clock(b)?;
            fraction_only(&b[8..]).then(|| {
                t.tod = Some(tod);
                none
            })
        }
        TimeSpec::Fraction => b.iter().all(u8::is_ascii_digit).then_some(none),
        TimeSpec::Strftime(parts) => strftime(parts, b, t),
    }
}

const MONTHS: [&str; 12] = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
];

/// A run of ASCII letters at the start of `b`.
fn letters(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_alphabetic()).count()
}

fn strftime<'a>(parts: &[Tm], b: &'a [u8], t: &mut TimeParts) -> Option<&'a [u8]> {
    let (mut y, mut mo, mut d, mut yday) = (None, None, None, None);
    let (mut h, mut mi, mut s) = (0i64, 0i64, 0i64);
    let mut zone: &[u8] = &b[..0];
    let mut i = 0;
    let num = |i: &mut usize, max: usize| -> Option<i64> {
        let n = b[*i..].iter().take(max).take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        let v = digits(&b[*i..*i + n])? as i64;
        *i += n;
        Some(v)
    };
    for p in parts {
        match p {
            Tm::Lit(l) => {
                if !b[i..].starts_with(l) {
                    return None;
                }
                i += l.len();
            }
            Tm::Day => d = Some(num(&mut i, 2)?),
            Tm::DaySpace => {
                if b.get(i) == Some(&b' ') {
                    i += 1;
                }
                d = Some(num(&mut i, 2)?)
            }
            Tm::Month => mo = Some(num(&mut i, 2)?),
            Tm::MonthName | Tm::MonthFull => {
                let n = letters(&b[i..]);
                let w = std::str::from_utf8(&b[i..i + n]).ok()?.to_ascii_lowercase();
                let full = matches!(p, Tm::MonthFull);
                let m = MONTHS
                    .iter()
                    .position(|m| if full { *m == w } else { w.len() == 3 && m.starts_with(&w) })?;
                mo = Some(m as i64 + 1);
                i += n;
            }
            Tm::Year => y = Some(num(&mut i, 4)?),
            Tm::Year2 => {
                let v = num(&mut i, 2)?;
                y = Some(if v < 69 { 2000 + v } else { 1900 + v });
            }
            Tm::Hour => h = num(&mut i, 2)?,
            Tm::Minute => mi = num(&mut i, 2)?,
            Tm::Second => s = num(&mut i, 2)?,
            Tm::YearDay => yday = Some(num(&mut i, 3)?),
            Tm::Frac => {
                num(&mut i, 9)?;
            }
            Tm::Weekday | Tm::ZoneName => {
                let n = letters(&b[i..]);
                if n == 0 {
                    return None;
                }
                if matches!(p, Tm::ZoneName) {
                    zone = &b[i..i + n];
                }
                i += n;
            }
            Tm::Zone => {
                let z = b.get(i..i + 5)?;
                if !zone_ok(z) {
                    return None;
                }
                zone = z;
                i += 5;
            }
            Tm::Epoch => t.epoch = Some(num(&mut i, 19)?),
        }
    }
    if i != b.len() || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    if t.epoch.is_some() {
        return Some(zone);
    }
    let y = y?;
    let days = match (mo, d, yday) {
        (Some(m), Some(d), _) => date(y, m as u32, d as u32)?,
        (_, _, Some(j)) if (1..=366).contains(&j) => days_from_civil(y, 1, 1) + j - 1,
        _ => return None,
    };
    t.days = Some(days);
    t.tod = Some(h * 3600 + mi * 60 + s);
    Some(zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::time::format_clock;

    fn time(spec: TimeSpec, b: &str) -> Option<String> {
        let mut t = TimeParts::default();
        read_time(&spec, b.as_bytes(), &mut t)?;
        Some(format_clock(t.secs()))
    }

    #[test]
    fn every_time_layout() {
        let want = Some("08/Feb/2014:07:05:03".to_string());
        assert_eq!(time(TimeSpec::Clf, "08/Feb/2014:07:05:03 +0100"), want);
        assert_eq!(time(TimeSpec::Iso8601, "2014-02-08T07:05:03+01:00"), want);
        assert_eq!(time(TimeSpec::Iso8601, "2014-02-08T07:05:03.186641Z"), want);
        assert_eq!(time(TimeSpec::EpochSecs, "1391843103"), want);
        assert_eq!(time(TimeSpec::EpochSecs, "1391843103.450"), want);
        assert_eq!(time(TimeSpec::EpochMillis, "1391843103450"), want);
        assert_eq!(time(TimeSpec::EpochMicros, "1391843103450123"), want);
        let p = compile_strftime("%d/%b/%Y:%H:%M:%S %z").unwrap();
        assert_eq!(time(TimeSpec::Strftime(p), "08/Feb/2014:07:05:03 +0100"), want);
        let p = compile_strftime("%a, %d %B %Y %T %Z").unwrap();
        assert_eq!(time(TimeSpec::Strftime(p), "Sat, 08 February 2014 07:05:03 CET"), want);
        let p = compile_strftime("%F %T").unwrap();
        assert_eq!(time(TimeSpec::Strftime(p), "2014-02-08 07:05:03"), want);
        let p = compile_strftime("%s").unwrap();
        assert_eq!(time(TimeSpec::Strftime(p), "1391843103"), want);
        for (spec, bad) in [
            (TimeSpec::Clf, "32/Feb/2014:07:05:03 +0100"),
            (TimeSpec::Clf, "08/Feb/2014:07:05:03 CET"),
            (TimeSpec::Iso8601, "2014-02-30T07:05:03Z"),
            (TimeSpec::Iso8601, "2014-02-08 07:05:03"),
            (TimeSpec::EpochSecs, "13918x"),
            (TimeSpec::EpochSecs, ""),
            (TimeSpec::TimeOfDay, "25:00:00"),
        ] {
            assert_eq!(time(spec.clone(), bad), None, "{spec:?} {bad}");
        }
        assert_eq!(compile_strftime("%d %Q"), Err("%Q".into()));
    }

    #[test]
    fn durations_and_counts() {
        assert_eq!(duration(b"0.004", Unit::Seconds), Some(Some(4000)));
        assert_eq!(duration(b"1234", Unit::Micros), Some(Some(1234)));
        assert_eq!(duration(b"2", Unit::Seconds), Some(Some(2_000_000)));
        assert_eq!(duration(b"15", Unit::Millis), Some(Some(15_000)));
        assert_eq!(duration(b"0.010, 0.002", Unit::Seconds), Some(Some(12_000)));
        assert_eq!(duration(b"0.1 : -", Unit::Seconds), Some(Some(100_000)));
        assert_eq!(duration(b"-", Unit::Seconds), Some(None));
        assert_eq!(duration(b"1.x", Unit::Seconds), None);
        assert_eq!(duration(b"abc", Unit::Seconds), None);
        assert_eq!(count_or_dash(b"-"), Some(None));
        assert_eq!(count_or_dash(b"12"), Some(Some(12)));
        assert_eq!(count_or_dash(b"1 2"), None);
        assert_eq!(count_or_dash(b""), None);
    }
}
