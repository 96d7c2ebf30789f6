//! Log timestamps and the time arguments (`--from`, `--to`, `--day`,
//! `--every`).
//!
//! A timestamp is kept as wall-clock seconds as written in the log (the
//! `+0100` offset is ignored), counted from 1970-01-01 00:00:00 so that
//! ordering, windows and buckets are plain integer arithmetic.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_while_m_n};
use nom::combinator::{all_consuming, map_res, opt};
use nom::sequence::preceded;
use nom::{IResult, Parser};

/// Wall-clock seconds since 1970-01-01T00:00:00 as written in the log.
pub type Secs = i64;

pub const MINUTE: Secs = 60;
pub const HOUR: Secs = 3600;
pub const DAY: Secs = 86_400;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month 1-12, day 1-31) of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

#[inline]
fn two(b: &[u8]) -> Option<u32> {
    let (a, c) = (b[0].wrapping_sub(b'0'), b[1].wrapping_sub(b'0'));
    (a < 10 && c < 10).then_some(a as u32 * 10 + c as u32)
}

fn month_index(b: &[u8]) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m[..] == *b)
        .map(|i| i as u32 + 1)
}

/// Parses the log's own `dd/Mon/yyyy:HH:MM:SS` (exactly 20 bytes) into
/// seconds. Returns None for anything else, including impossible dates.
#[inline]
pub fn parse_log_clock(b: &[u8]) -> Option<Secs> {
    if b.len() != 20
        || b[2] != b'/'
        || b[6] != b'/'
        || b[11] != b':'
        || b[14] != b':'
        || b[17] != b':'
    {
        return None;
    }
    let (h, mi, s) = (two(&b[12..14])?, two(&b[15..17])?, two(&b[18..20])?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(
        day_number(b[..11].try_into().expect("11 bytes"))? * DAY + (h * 3600 + mi * 60 + s) as Secs,
    )
}

thread_local! {
    /// The last valid `dd/Mon/yyyy` seen on this thread (as two words, one
    /// holding its first 8 bytes and one its last 8, compared without a
    /// `memcmp` call) and its day number: consecutive lines almost always
    /// share their date. Word 0 is never a valid date's, so it starts empty.
    static LAST_DAY: std::cell::Cell<(u64, u64, i64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// `dd/Mon/yyyy` → days since 1970-01-01, or None for an impossible date.
#[inline]
fn day_number(date: &[u8; 11]) -> Option<i64> {
    let a = u64::from_le_bytes(date[..8].try_into().expect("8 bytes"));
    let b = u64::from_le_bytes(date[3..].try_into().expect("8 bytes"));
    let (la, lb, n) = LAST_DAY.with(|c| c.get());
    if (a, b) == (la, lb) {
        return Some(n);
    }
    let d = two(&date[0..2])?;
    let mon = month_index(&date[3..6])?;
    let y = two(&date[7..9])? as i64 * 100 + two(&date[9..11])? as i64;
    if d == 0 || d > days_in_month(y, mon) {
        return None;
    }
    let n = days_from_civil(y, mon, d);
    LAST_DAY.with(|c| c.set((a, b, n)));
    Some(n)
}

/// `08/Feb/2014`
pub fn format_day(t: Secs) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    format!(
        "{d:02}/{}/{y:04}",
        std::str::from_utf8(MONTHS[m as usize - 1]).unwrap()
    )
}

/// `08/Feb/2014:07:05:03`, the log's own form.
pub fn format_clock(t: Secs) -> String {
    let s = t.rem_euclid(DAY);
    format!(
        "{}:{:02}:{:02}:{:02}",
        format_day(t),
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A bucket start in the shortest form that names it: a day, an hour
/// (`08/Feb/2014:07`), a minute (`08/Feb/2014:07:05`) or a second.
pub fn format_bucket(t: Secs, width: Secs) -> String {
    let full = format_clock(t);
    if width % DAY == 0 && t.rem_euclid(DAY) == 0 {
        full[..11].to_string()
    } else if width % HOUR == 0 && t.rem_euclid(HOUR) == 0 {
        full[..14].to_string()
    } else if width % MINUTE == 0 && t.rem_euclid(MINUTE) == 0 {
        full[..17].to_string()
    } else {
        full
    }
}

/// How precisely a time argument was given; `--to` extends to the end of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Day,
    Hour,
    Minute,
    Second,
}

impl Unit {
    pub fn secs(self) -> Secs {
        match self {
            Unit::Day => DAY,
            Unit::Hour => HOUR,
            Unit::Minute => MINUTE,
            Unit::Second => 1,
        }
    }
}

/// A point given on the command line: its start and its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeArg {
    pub start: Secs,
    pub unit: Unit,
}

impl TimeArg {
    /// The last second the argument covers (`07:15` → `07:15:59`).
    pub fn end_inclusive(self) -> Secs {
        self.start + self.unit.secs() - 1
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("bad time {given:?}: expected 08/Feb/2014[:07[:05[:03]]] or 2014-02-08[T07[:05[:03]]]")]
pub struct TimeArgError {
    pub given: String,
}

fn num<'a>(n: usize) -> impl Parser<&'a str, Output = u32, Error = nom::error::Error<&'a str>> {
    map_res(
        take_while_m_n(n, n, |c: char| c.is_ascii_digit()),
        str::parse::<u32>,
    )
}

fn month_name(i: &str) -> IResult<&str, u32> {
    map_res(
        take_while_m_n(3, 3, |c: char| c.is_ascii_alphabetic()),
        |m: &str| month_index(m.as_bytes()).ok_or(()),
    )
    .parse(i)
}

/// (day, month, year) in the log's form `08/Feb/2014` or ISO `2014-02-08`.
fn date(i: &str) -> IResult<&str, (u32, u32, u32)> {
    alt((
        (
            num(2),
            preceded(tag("/"), month_name),
            preceded(tag("/"), num(4)),
        )
            .map(|(d, m, y)| (d, m, y)),
        (
            num(4),
            preceded(tag("-"), num(2)),
            preceded(tag("-"), num(2)),
        )
            .map(|(y, m, d)| (d, m, y)),
    ))
    .parse(i)
}

/// Hours, minutes and seconds, each present only if the one before is.
type Clock = (Option<u32>, Option<u32>, Option<u32>);

/// `[:HH[:MM[:SS]]]` after a date; the ISO form uses `T` (or a space) first.
fn clock(i: &str) -> IResult<&str, Clock> {
    let (i, h) = opt(preceded(alt((tag(":"), tag("T"), tag(" "))), num(2))).parse(i)?;
    if h.is_none() {
        return Ok((i, (None, None, None)));
    }
    let (i, m) = opt(preceded(tag(":"), num(2))).parse(i)?;
    if m.is_none() {
        return Ok((i, (h, None, None)));
    }
    let (i, s) = opt(preceded(tag(":"), num(2))).parse(i)?;
    Ok((i, (h, m, s)))
}

/// Parses a `--from`/`--to` value: `08/Feb/2014:07:00[:SS]`,
/// `2014-02-08T07:00[:SS]`, or a coarser prefix (a day, an hour).
pub fn parse_time_arg(s: &str) -> Result<TimeArg, TimeArgError> {
    let err = || TimeArgError {
        given: s.to_string(),
    };
    let (_, ((d, mon, y), (h, mi, sec))) = all_consuming((date, clock))
        .parse(s.trim())
        .map_err(|_| err())?;
    let y = y as i64;
    if !(1..=12).contains(&mon) || d == 0 || d > days_in_month(y, mon) {
        return Err(err());
    }
    if h.is_some_and(|h| h > 23) || mi.is_some_and(|m| m > 59) || sec.is_some_and(|s| s > 60) {
        return Err(err());
    }
    let unit = match (h, mi, sec) {
        (None, _, _) => Unit::Day,
        (Some(_), None, _) => Unit::Hour,
        (Some(_), Some(_), None) => Unit::Minute,
        _ => Unit::Second,
    };
    let start = days_from_civil(y, mon, d) * DAY
        + (h.unwrap_or(0) * 3600 + mi.unwrap_or(0) * 60 + sec.unwrap_or(0)) as Secs;
    Ok(TimeArg { start, unit })
}

/// Parses a `--day` value (`08/Feb/2014` or `2014-02-08`) into its first
/// and last second.
pub fn parse_day_arg(s: &str) -> Result<(Secs, Secs), TimeArgError> {
    let t = parse_time_arg(s)?;
    if t.unit != Unit::Day {
        return Err(TimeArgError {
            given: s.to_string(),
        });
    }
    Ok((t.start, t.end_inclusive()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "bad bucket width {given:?}: expected a number and a unit s, m, h or d (e.g. 1m, 15m, 1h, 1d)"
)]
pub struct EveryError {
    pub given: String,
}

/// Parses `--every` (`30s`, `1m`, `1h`, `1d`) into seconds.
pub fn parse_every(s: &str) -> Result<Secs, EveryError> {
    let err = || EveryError {
        given: s.to_string(),
    };
    let unit: Secs = match s.as_bytes().last() {
        Some(b's') => 1,
        Some(b'm') => MINUTE,
        Some(b'h') => HOUR,
        Some(b'd') => DAY,
        _ => return Err(err()),
    };
    let n: Secs = s[..s.len() - 1].parse().map_err(|_| err())?;
    if n <= 0 || n > 366 * DAY / unit {
        return Err(err());
    }
    Ok(n * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_centuries() {
        for z in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2014, 2, 8), 16_109);
    }

    #[test]
    fn months() {
        for (i, m) in MONTHS.iter().enumerate() {
            assert_eq!(month_index(&m[..]), Some(i as u32 + 1));
        }
        assert_eq!(month_index(b"feb"), None);
        assert_eq!(month_index(b"Febr"), None);
    }

    #[test]
    fn log_clock() {
        let t = parse_log_clock(b"08/Feb/2014:07:05:03").unwrap();
        assert_eq!(format_clock(t), "08/Feb/2014:07:05:03");
        assert_eq!(t, 16_109 * DAY + 7 * 3600 + 5 * 60 + 3);
        assert_eq!(
            parse_log_clock(b"29/Feb/2014:07:05:03"),
            None,
            "2014 is not a leap year"
        );
        assert!(parse_log_clock(b"29/Feb/2016:07:05:03").is_some());
        assert_eq!(parse_log_clock(b"08/Fev/2014:07:05:03"), None);
        assert_eq!(parse_log_clock(b"08/Feb/2014:24:05:03"), None);
        assert_eq!(parse_log_clock(b"08/Feb/2014:07:5:03"), None);
        assert_eq!(parse_log_clock(b"08/Feb/2014 07:05:03"), None);
        assert_eq!(parse_log_clock(b"8/Feb/2014:07:05:03 "), None);
    }

    #[test]
    fn time_args_in_both_forms_and_units() {
        let a = parse_time_arg("08/Feb/2014:07:15").unwrap();
        let b = parse_time_arg("2014-02-08T07:15").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.unit, Unit::Minute);
        assert_eq!(format_clock(a.end_inclusive()), "08/Feb/2014:07:15:59");
        let s = parse_time_arg("08/Feb/2014:07:15:30").unwrap();
        assert_eq!((s.unit, s.end_inclusive() - s.start), (Unit::Second, 0));
        let h = parse_time_arg("2014-02-08T07").unwrap();
        assert_eq!(format_clock(h.end_inclusive()), "08/Feb/2014:07:59:59");
        let d = parse_time_arg("08/Feb/2014").unwrap();
        assert_eq!(format_clock(d.end_inclusive()), "08/Feb/2014:23:59:59");
        assert_eq!(parse_time_arg("2014-02-08 07:15"), Ok(a));
        for bad in [
            "",
            "08/Feb/2014:7:15",
            "2014-13-01",
            "31/Apr/2014",
            "08/Feb/2014:07:15x",
            "yesterday",
            "08/Feb/2014:25",
        ] {
            assert!(parse_time_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn day_arg() {
        let (a, b) = parse_day_arg("2014-02-08").unwrap();
        assert_eq!(
            (format_clock(a).as_str(), format_clock(b).as_str()),
            ("08/Feb/2014:00:00:00", "08/Feb/2014:23:59:59")
        );
        assert_eq!(parse_day_arg("08/Feb/2014").unwrap(), (a, b));
        assert!(parse_day_arg("08/Feb/2014:07").is_err());
    }

    #[test]
    fn every_and_buckets() {
        assert_eq!(parse_every("1m"), Ok(60));
        assert_eq!(parse_every("15m"), Ok(900));
        assert_eq!(parse_every("1d"), Ok(DAY));
        assert!(
            parse_every("0m").is_err() && parse_every("m").is_err() && parse_every("5x").is_err()
        );
        let t = parse_time_arg("08/Feb/2014:07:05").unwrap().start;
        assert_eq!(format_bucket(t, 60), "08/Feb/2014:07:05");
        assert_eq!(format_bucket(t - 300, HOUR), "08/Feb/2014:07");
        assert_eq!(format_bucket(t - 7 * HOUR - 300, DAY), "08/Feb/2014");
    }
}
