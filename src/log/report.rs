//! Printers: group counts (exactly `sort | uniq -c` by default), tsv, csv,
//! json, the timeline chart, stats, `check`'s list and the end-of-run
//! summary. They only read an [`Outcome`]; they never parse.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use super::engine::{Action, Group, Located, Outcome};
use super::time::{format_bucket, format_clock, format_day, Secs, DAY, HOUR, MINUTE};
use crate::cli::json_bytes;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Tsv,
    Csv,
    Json,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Format::Text),
            "tsv" => Ok(Format::Tsv),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            _ => Err(format!(
                "unknown format {s:?}: expected text, tsv, csv or json"
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Like `LC_ALL=C sort` on the key (days, hours, timeline: in time order).
    #[default]
    Key,
    /// Most first; ties in key order.
    Count,
}

impl FromStr for SortBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "key" => Ok(SortBy::Key),
            "count" => Ok(SortBy::Count),
            _ => Err(format!("unknown sort {s:?}: expected key or count")),
        }
    }
}

/// How to print rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputOpts {
    pub format: Format,
    pub sort: SortBy,
    pub top: Option<usize>,
}

/// One output row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub key: Cow<'a, [u8]>,
    pub count: u64,
}

fn num_label(action: Action, k: i64) -> String {
    match action {
        Action::Group(Group::Day) => format_day(k * DAY),
        Action::Group(Group::Hour) => format_bucket(k * HOUR, HOUR),
        Action::Timeline(w) => format_bucket(k * w, w),
        _ => k.to_string(),
    }
}

/// A timeline shows its empty buckets only up to this many buckets in all.
/// A longer span (a stray date years away, `--every 1s` over a decade)
/// shows the non-empty buckets only: filling it tried to allocate a row per
/// bucket (50 GB, an abort, for two lines a century apart).
pub const MAX_FILLED_BUCKETS: i64 = 1 << 20;

/// For a timeline: the buckets from the first to the last non-empty one,
/// when there are more than [`MAX_FILLED_BUCKETS`] (then only the
/// non-empty ones are shown; the caller should say so).
pub fn timeline_too_long(o: &Outcome) -> Option<u64> {
    let Action::Timeline(_) = o.action else {
        return None;
    };
    let lo = *o.acc.nums.keys().min()?;
    let hi = *o.acc.nums.keys().max()?;
    let span = hi.saturating_sub(lo).saturating_add(1);
    (span > MAX_FILLED_BUCKETS).then_some(span as u64)
}

/// The rows of a group or timeline query, sorted and cut as asked.
pub fn rows<'o>(o: &'o Outcome, opts: &OutputOpts) -> Vec<Row<'o>> {
    let rows: Vec<Row<'o>> = match o.action {
        Action::Group(Group::Day | Group::Hour) | Action::Timeline(_) => {
            let mut nums: Vec<(i64, u64)> = o.acc.nums.iter().map(|(&k, &v)| (k, v)).collect();
            nums.sort_unstable();
            if let (Action::Timeline(_), Some(&(lo, _)), Some(&(hi, _))) =
                (o.action, nums.first(), nums.last())
            {
                if timeline_too_long(o).is_some() {
                    return finish_rows(sparse_rows(o.action, nums), opts);
                }
                // A timeline shows the empty buckets too.
                let mut it = nums.iter().peekable();
                let mut filled = Vec::with_capacity((hi - lo + 1) as usize);
                for k in lo..=hi {
                    let v = if it.peek().is_some_and(|&&(kk, _)| kk == k) {
                        it.next().unwrap().1
                    } else {
                        0
                    };
                    filled.push((k, v));
                }
                nums = filled;
            }
            sparse_rows(o.action, nums)
        }
        _ => {
            let mut r: Vec<Row<'o>> = o
                .acc
                .keys
                .iter()
                .map(|(k, v)| Row {
                    key: Cow::Borrowed(k),
                    count: v,
                })
                .collect();
            r.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            r
        }
    };
    finish_rows(rows, opts)
}

fn sparse_rows<'o>(action: Action, nums: Vec<(i64, u64)>) -> Vec<Row<'o>> {
    nums.into_iter()
        .map(|(k, v)| Row {
            key: Cow::Owned(num_label(action, k).into_bytes()),
            count: v,
        })
        .collect()
}

fn finish_rows<'o>(mut rows: Vec<Row<'o>>, opts: &OutputOpts) -> Vec<Row<'o>> {
    if opts.sort == SortBy::Count {
        rows.sort_by_key(|r| std::cmp::Reverse(r.count)); // stable: ties keep key order
    }
    if let Some(n) = opts.top {
        rows.truncate(n);
    }
    rows
}

fn csv_field(out: &mut Vec<u8>, b: &[u8]) {
    if b.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &c in b {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(b);
    }
}

/// Writes rows: text is `sort | uniq -c`'s own layout (count right-aligned
/// in 7 columns, a space, the key); tsv `count<TAB>key`; csv with a header;
/// json one array of `{"key": ..., "count": ...}`.
pub fn write_rows(w: &mut dyn Write, rows: &[Row<'_>], format: Format) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64 * 1024);
    match format {
        Format::Json => buf.push(b'['),
        Format::Csv => buf.extend_from_slice(b"count,key\n"),
        _ => {}
    }
    for (i, r) in rows.iter().enumerate() {
        match format {
            Format::Text => {
                let _ = write!(buf, "{:>7} ", r.count);
                buf.extend_from_slice(&r.key);
                buf.push(b'\n');
            }
            Format::Tsv => {
                let _ = write!(buf, "{}\t", r.count);
                for &c in r.key.iter() {
                    match c {
                        b'\t' => buf.extend_from_slice(b"\\t"),
                        c => buf.push(c),
                    }
                }
                buf.push(b'\n');
            }
            Format::Csv => {
                let _ = write!(buf, "{},", r.count);
                csv_field(&mut buf, &r.key);
                buf.push(b'\n');
            }
            Format::Json => {
                buf.extend_from_slice(if i == 0 {
                    b"\n  {\"key\": "
                } else {
                    b",\n  {\"key\": "
                });
                json_bytes(&mut buf, &r.key);
                let _ = write!(buf, ", \"count\": {}}}", r.count);
            }
        }
        if buf.len() >= 60 * 1024 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    if format == Format::Json {
        buf.extend_from_slice(if rows.is_empty() { b"]\n" } else { b"\n]\n" });
    }
    w.write_all(&buf)
}

/// The timeline as a bar chart: `08/Feb/2014:07:05  123 █████`.
pub fn write_timeline_chart(w: &mut dyn Write, rows: &[Row<'_>], width: usize) -> io::Result<()> {
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0).max(1);
    let keyw = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let numw = max.to_string().len();
    for r in rows {
        let cells = (r.count as u128 * width as u128 * 8).div_ceil(max as u128) as usize;
        let mut bar = "█".repeat(cells / 8);
        const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
        bar.push_str(PARTS[cells % 8]);
        writeln!(
            w,
            "{:<keyw$}  {:>numw$} {}",
            String::from_utf8_lossy(&r.key),
            r.count,
            bar
        )?;
    }
    Ok(())
}

/// Numbers that `stats` prints.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsView {
    pub lines: u64,
    pub malformed: u64,
    pub requests: u64,
    pub distinct_ips: usize,
    pub distinct_pages: usize,
    pub first: Option<Secs>,
    pub last: Option<Secs>,
    pub bytes_total: u128,
    pub bytes_unknown: u64,
    pub bytes_p50: u64,
    pub bytes_p90: u64,
    pub bytes_p99: u64,
    pub bytes_max: u64,
    pub peak_second: Option<(Secs, u64)>,
    pub peak_minute: Option<(Secs, u64)>,
    /// Response-time percentiles, when the format logs a time taken.
    pub times: Option<Times>,
}

/// Response times in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Times {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// `1.234 ms`-style, from microseconds.
fn human_micros(us: u64) -> String {
    match us {
        0..=999 => format!("{us} µs"),
        1_000..=999_999 => format!("{:.3} ms", us as f64 / 1e3),
        _ => format!("{:.3} s", us as f64 / 1e6),
    }
}

fn peak(it: impl Iterator<Item = (Secs, u64)>) -> Option<(Secs, u64)> {
    // Most requests; the earliest on a tie.
    it.fold(None, |best: Option<(Secs, u64)>, (t, n)| match best {
        Some((bt, bn)) if bn > n || (bn == n && bt < t) => Some((bt, bn)),
        _ => Some((t, n)),
    })
}

impl StatsView {
    pub fn new(o: &Outcome) -> StatsView {
        let s = o.acc.stats.as_deref();
        let h = s.map(|s| &s.bytes);
        let q = |p: f64| {
            h.filter(|h| !h.is_empty())
                .map_or(0, |h| h.value_at_quantile(p))
        };
        let mut per_minute: rustc_hash::FxHashMap<Secs, u64> = Default::default();
        if let Some(s) = s {
            for (&t, &n) in &s.per_second {
                *per_minute.entry(t.div_euclid(MINUTE)).or_insert(0) += n;
            }
        }
        StatsView {
            lines: o.acc.lines,
            malformed: o.acc.malformed,
            requests: o.acc.matched,
            distinct_ips: s.map_or(0, |s| s.ips.len()),
            distinct_pages: s.map_or(0, |s| s.pages.len()),
            first: s.and_then(|s| s.first),
            last: s.and_then(|s| s.last),
            bytes_total: s.map_or(0, |s| s.bytes_total),
            bytes_unknown: s.map_or(0, |s| s.bytes_unknown),
            bytes_p50: q(0.5),
            bytes_p90: q(0.9),
            bytes_p99: q(0.99),
            bytes_max: h.map_or(0, |h| h.max()),
            peak_second: s.and_then(|s| peak(s.per_second.iter().map(|(&t, &n)| (t, n)))),
            peak_minute: peak(per_minute.into_iter().map(|(m, n)| (m * MINUTE, n))),
            times: s.map(|s| &s.micros).filter(|h| !h.is_empty()).map(|h| Times {
                count: h.len(),
                p50: h.value_at_quantile(0.5),
                p90: h.value_at_quantile(0.9),
                p99: h.value_at_quantile(0.99),
                max: h.max(),
            }),
        }
    }
}

fn human_bytes(n: u128) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

struct Span(Secs);
impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        write!(
            f,
            "{}d {:02}:{:02}:{:02}",
            s / DAY,
            s % DAY / 3600,
            s % 3600 / 60,
            s % 60
        )
    }
}

pub fn write_stats(w: &mut dyn Write, v: &StatsView, format: Format) -> io::Result<()> {
    let t = |x: Option<Secs>| x.map(format_clock);
    if format == Format::Json {
        let opt = |x: Option<String>| x.map_or("null".to_string(), |s| format!("\"{s}\""));
        let pk = |p: Option<(Secs, u64)>, label: fn(Secs) -> String| {
            p.map_or("null".to_string(), |(at, n)| {
                format!("{{\"count\": {n}, \"at\": \"{}\"}}", label(at))
            })
        };
        let times = v.times.map_or(String::new(), |t| {
            format!(
                ", \"response_time_us\": {{\"count\": {}, \"p50\": {}, \"p90\": {}, \"p99\": {}, \"max\": {}}}",
                t.count, t.p50, t.p90, t.p99, t.max
            )
        });
        return writeln!(
            w,
            "{{\"lines\": {}, \"malformed\": {}, \"requests\": {}, \"distinct_ips\": {}, \"distinct_pages\": {}, \
             \"first\": {}, \"last\": {}, \"bytes_sent\": {{\"total\": {}, \"unknown\": {}, \"p50\": {}, \"p90\": {}, \
             \"p99\": {}, \"max\": {}}}, \"peak_per_second\": {}, \"peak_per_minute\": {}{times}}}",
            v.lines,
            v.malformed,
            v.requests,
            v.distinct_ips,
            v.distinct_pages,
            opt(t(v.first)),
            opt(t(v.last)),
            v.bytes_total,
            v.bytes_unknown,
            v.bytes_p50,
            v.bytes_p90,
            v.bytes_p99,
            v.bytes_max,
            pk(v.peak_second, format_clock),
            pk(v.peak_minute, |m| format_bucket(m, MINUTE)),
        );
    }
    let dash = || "-".to_string();
    let mut rows: Vec<(&str, String)> = vec![
        ("lines", v.lines.to_string()),
        ("malformed", v.malformed.to_string()),
        ("requests", v.requests.to_string()),
        ("distinct IPs", v.distinct_ips.to_string()),
        ("distinct pages", v.distinct_pages.to_string()),
        ("first", t(v.first).unwrap_or_else(dash)),
        ("last", t(v.last).unwrap_or_else(dash)),
    ];
    if let (Some(a), Some(b)) = (v.first, v.last) {
        rows.push(("span", Span(b - a).to_string()));
    }
    rows.extend([
        (
            "bytes sent",
            format!("{} ({})", v.bytes_total, human_bytes(v.bytes_total)),
        ),
        ("bytes unknown (-)", v.bytes_unknown.to_string()),
        ("bytes p50", v.bytes_p50.to_string()),
        ("bytes p90", v.bytes_p90.to_string()),
        ("bytes p99", v.bytes_p99.to_string()),
        ("bytes max", v.bytes_max.to_string()),
        (
            "peak per second",
            v.peak_second
                .map_or_else(dash, |(at, n)| format!("{n} at {}", format_clock(at))),
        ),
        (
            "peak per minute",
            v.peak_minute.map_or_else(dash, |(at, n)| {
                format!("{n} at {}", format_bucket(at, MINUTE))
            }),
        ),
    ]);
    if let Some(t) = v.times {
        rows.extend([
            ("timed requests", t.count.to_string()),
            ("time p50", human_micros(t.p50)),
            ("time p90", human_micros(t.p90)),
            ("time p99", human_micros(t.p99)),
            ("time max", human_micros(t.max)),
        ]);
    }
    match format {
        Format::Text => rows
            .iter()
            .try_for_each(|(k, val)| writeln!(w, "{k:<18} {val}")),
        Format::Tsv => rows
            .iter()
            .try_for_each(|(k, val)| writeln!(w, "{k}\t{val}")),
        Format::Csv | Format::Json => {
            writeln!(w, "field,value")?;
            rows.iter()
                .try_for_each(|(k, val)| writeln!(w, "{k},\"{val}\""))
        }
    }
}

/// Shows bytes that may be binary: printable ASCII as is, the rest `\xhh`.
pub fn escape_excerpt(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len());
    for &c in b {
        if (0x20..0x7f).contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("\\x{c:02x}"));
        }
    }
    s
}

/// `check`: `FILE:LINE: reason: excerpt`, one line per malformed line.
pub fn write_bad_lines(w: &mut dyn Write, bad: &[Located], format: Format) -> io::Result<()> {
    let mut buf = Vec::new();
    for b in bad {
        match format {
            Format::Json => {
                let _ = write!(buf, "{{\"file\": ");
                json_bytes(&mut buf, b.file.as_bytes());
                let _ = write!(
                    buf,
                    ", \"line\": {}, \"column\": {}, \"reason\": \"{}\", \"excerpt\": ",
                    b.line, b.error.col, b.error.reason
                );
                json_bytes(&mut buf, escape_excerpt(&b.excerpt).as_bytes());
                buf.extend_from_slice(b"}\n");
            }
            _ => {
                let _ = writeln!(
                    buf,
                    "{}:{}: {}: {}",
                    b.file,
                    b.line,
                    b.error,
                    escape_excerpt(&b.excerpt)
                );
            }
        }
        if buf.len() > 60 * 1024 {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

/// What goes to stderr at the end: malformed lines skipped, inputs that
/// could not be read, and how much a time window let the engine skip.
pub fn summary_lines(prog: &str, o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    if o.acc.malformed > 0 && o.action != Action::Check {
        let n = o.acc.malformed;
        let mut s = format!(
            "{prog}: {n} malformed line{} skipped",
            if n == 1 { "" } else { "s" }
        );
        if let Some(b) = &o.first_bad {
            s.push_str(&format!(
                " (first: {}:{}: {})",
                b.file, b.line, b.error.reason
            ));
        }
        if o.prefiltered {
            s.push_str("; only lines containing the filter's text were parsed, `tplog check` validates every line");
        } else if !o.parsed_everything() {
            s.push_str("; only the part of the log around the time window was parsed, `tplog check` validates every line");
        }
        out.push(s);
    }
    for f in &o.files {
        if let Some(s) = &f.seek {
            if let Some(why) = s.fallback {
                out.push(format!(
                    "{prog}: {}: scanned the whole file for the time window: {why}",
                    f.name
                ));
            }
        }
    }
    for e in o.errors() {
        out.push(format!("{prog}: error: {e}"));
    }
    out
}
