//! The report's data: what the page shows and what `--format json`
//! writes, one structure for both so they never disagree. Its schema is
//! documented in docs/report.md.

use std::borrow::Cow;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::acc::PanelAcc;
use super::agent;
use super::tally::Tally;
use crate::log::engine::Outcome;
use crate::log::time::{civil_from_days, format_clock, DAY, MINUTE};

/// Bumped when a field changes meaning or goes away.
pub const SCHEMA: u32 = 1;

/// Longest text kept for a key (a 100 kB user agent is cut, and says so).
pub const MAX_TEXT: usize = 1024;

/// Bucket widths the requests-over-time chart picks from (seconds).
const BUCKETS: [i64; 13] = [
    60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, DAY, 7 * DAY, 30 * DAY, 365 * DAY,
];
/// The chart aims at no more bars than this.
const MAX_BARS: i64 = 240;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub generator: String,
    /// Rows kept per panel.
    pub top: usize,
    pub files: Vec<FileInfo>,
    /// The filters given, as typed (`--page truc.html`).
    pub filters: Vec<String>,
    pub overview: Overview,
    pub timeline: Timeline,
    pub days: Vec<DayRow>,
    /// Requests by day of week (Monday first) and hour of day, in the
    /// log's wall-clock time.
    pub heatmap: Vec<[u64; 24]>,
    pub panels: Vec<Panel>,
    /// What the page narrows from; None when the log had more
    /// combinations than the report keeps (see `cube_note`).
    pub cube: Option<Cube>,
    pub cube_note: Option<String>,
    /// Served by `tplog report --follow`: the page takes updates.
    pub live: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    pub name: String,
    pub format: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Overview {
    pub lines: u64,
    pub malformed: u64,
    pub requests: u64,
    /// GoAccess's count: distinct (client, day, user agent).
    pub visitors: u64,
    pub distinct_ips: usize,
    pub distinct_pages: usize,
    pub distinct_agents: usize,
    pub distinct_referers: usize,
    /// `08/Feb/2014:07:05:03`, the log's clock as written.
    pub first: Option<String>,
    pub last: Option<String>,
    pub first_epoch: Option<i64>,
    pub last_epoch: Option<i64>,
    pub span_secs: i64,
    pub bytes_total: u128,
    pub bytes_unknown: u64,
    pub bytes: Percentiles,
    /// Response times in microseconds, where the format logs one.
    pub response_time_us: Option<Percentiles>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    pub bucket_secs: i64,
    /// Start of the first bucket (seconds of the log's wall clock).
    pub start: i64,
    /// Requests per bucket, empty buckets included.
    pub counts: Vec<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DayRow {
    /// `2014-02-08`
    pub day: String,
    pub requests: u64,
    pub visitors: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Panel {
    pub id: &'static str,
    pub title: &'static str,
    /// What a key is (`client`, `page`...).
    pub key: &'static str,
    pub rows: Vec<Row>,
    /// Distinct keys in all; `rows` holds the first `top`.
    pub keys: usize,
    pub rest_keys: usize,
    pub rest_hits: u64,
    pub rest_bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub key: String,
    pub hits: u64,
    pub bytes: u64,
}

/// Requests and bytes per combination, for the page's narrowing.
/// `rows[i]` is `[minute - minute0, client, page, status, method,
/// protocol, vhost, referer, agent, hits, bytes]`, the middle ones
/// indexes into the `dims` lists of the same names.
#[derive(Clone, Debug, Serialize)]
pub struct Cube {
    pub minute0: i64,
    pub dims: Dims,
    pub rows: Vec<[u64; 11]>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Dims {
    pub client: Vec<String>,
    pub page: Vec<String>,
    pub status: Vec<String>,
    pub method: Vec<String>,
    pub protocol: Vec<String>,
    pub vhost: Vec<String>,
    pub referer: Vec<String>,
    pub agent: Vec<String>,
    /// Per agent: its browser and OS, indexes into `browser` and `os`.
    pub agent_kind: Vec<[u32; 2]>,
    pub browser: Vec<String>,
    pub os: Vec<String>,
}

/// Bytes as text: UTF-8 as is, any other byte as `\xHH`; cut at
/// [`MAX_TEXT`] characters with what was left out said.
pub fn text(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len().min(MAX_TEXT + 32));
    for chunk in b.utf8_chunks() {
        s.push_str(chunk.valid());
        for c in chunk.invalid() {
            s.push_str(&format!("\\x{c:02x}"));
        }
        if s.len() > MAX_TEXT * 4 {
            break;
        }
    }
    if s.chars().count() > MAX_TEXT {
        let cut: String = s.chars().take(MAX_TEXT).collect();
        return format!("{cut}… (+{} bytes)", b.len().saturating_sub(cut.len()));
    }
    s
}

/// The host of a referer URL (`http://a.example:8080/x` → `a.example:8080`);
/// `-` stays `-`, and anything without `scheme://` is kept whole.
pub fn referer_site(r: &[u8]) -> &[u8] {
    match memchr::memmem::find(r, b"://") {
        Some(i) if i > 0 && r[..i].iter().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) => {
            let rest = &r[i + 3..];
            let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
            &rest[..end]
        }
        _ => r,
    }
}

/// Paths GoAccess counts as static files: by their extension.
pub fn is_static(path: &[u8]) -> bool {
    const EXT: &[&[u8]] = &[
        b"css", b"js", b"mjs", b"map", b"png", b"jpg", b"jpeg", b"gif", b"svg", b"ico", b"webp", b"avif",
        b"bmp", b"woff", b"woff2", b"ttf", b"otf", b"eot", b"mp3", b"mp4", b"webm", b"ogg", b"wav",
        b"pdf", b"zip", b"gz", b"tgz", b"bz2", b"xz", b"7z", b"rar", b"txt", b"csv", b"xml", b"json",
        b"swf", b"flv", b"iso", b"dmg", b"exe", b"deb", b"rpm", b"tar",
    ];
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i + 1 < name.len() => {
            let ext = &name[i + 1..];
            EXT.iter().any(|e| e.eq_ignore_ascii_case(ext))
        }
        _ => false,
    }
}

fn panel<'t>(
    id: &'static str,
    title: &'static str,
    key: &'static str,
    rows: Vec<(Cow<'t, [u8]>, u64, u64)>,
    top: usize,
) -> Panel {
    let mut v = rows;
    v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let keys = v.len();
    let rest = v.split_off(v.len().min(top));
    Panel {
        id,
        title,
        key,
        keys,
        rest_keys: rest.len(),
        rest_hits: rest.iter().map(|r| r.1).sum(),
        rest_bytes: rest.iter().map(|r| r.2).sum(),
        rows: v.into_iter().map(|(k, h, b)| Row { key: text(&k), hits: h, bytes: b }).collect(),
    }
}

fn of<'t>(t: &'t Tally<'_>) -> Vec<(Cow<'t, [u8]>, u64, u64)> {
    t.iter().map(|(k, h, b)| (Cow::Borrowed(k), h, b)).collect()
}

/// Sums a table's rows by a function of the key.
fn regroup<'t>(t: &'t Tally<'_>, f: impl Fn(&'t [u8]) -> Cow<'t, [u8]>) -> Vec<(Cow<'t, [u8]>, u64, u64)> {
    let mut m: FxHashMap<Cow<'t, [u8]>, (u64, u64)> = FxHashMap::default();
    for (k, h, b) in t.iter() {
        let e = m.entry(f(k)).or_insert((0, 0));
        e.0 += h;
        e.1 += b;
    }
    m.into_iter().map(|(k, (h, b))| (k, h, b)).collect()
}

fn percentiles(h: &hdrhistogram::Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles { count: 0, p50: 0, p90: 0, p99: 0, max: 0 };
    }
    Percentiles {
        count: h.len(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        max: h.max(),
    }
}

/// `2014-02-08` for a day number.
pub fn iso_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The chart's bucket for a span: the smallest width that gives at most
/// [`MAX_BARS`] bars.
pub fn bucket_for(span: i64) -> i64 {
    *BUCKETS.iter().find(|&&w| span / w < MAX_BARS).unwrap_or(&BUCKETS[BUCKETS.len() - 1])
}

/// What the report needs beyond the accumulator.
pub struct Context {
    pub top: usize,
    pub filters: Vec<String>,
    pub live: bool,
}

impl Report {
    pub fn new(o: &Outcome, cx: &Context) -> Report {
        let empty = PanelAcc::new();
        let p: &PanelAcc<'_> = o.acc.panels.as_deref().unwrap_or(&empty);
        let top = cx.top.max(1);
        // Per-agent classification, once per distinct agent.
        let kinds: FxHashMap<&[u8], agent::Kind> = p.agents.iter().map(|(a, _, _)| (a, agent::classify(a))).collect();
        let panels = vec![
            panel("pages", "Requested pages", "page", of(&p.paths), top),
            panel(
                "static",
                "Static files",
                "file",
                p.paths.iter().filter(|(k, _, _)| is_static(k)).map(|(k, h, b)| (Cow::Borrowed(k), h, b)).collect(),
                top,
            ),
            panel("not_found", "Not found (404)", "page", of(&p.not_found), top),
            panel("clients", "Clients", "client", of(&p.hosts), top),
            panel("sites", "Referring sites", "site", regroup(&p.referers, |r| Cow::Borrowed(referer_site(r))), top),
            panel("referers", "Referers", "referer", of(&p.referers), top),
            panel("agents", "User agents", "agent", of(&p.agents), top),
            panel(
                "browsers",
                "Browsers",
                "browser",
                regroup(&p.agents, |a| Cow::Owned(kinds[a].browser.clone().into_bytes())),
                top,
            ),
            panel("os", "Operating systems", "os", regroup(&p.agents, |a| Cow::Owned(kinds[a].os.clone().into_bytes())), top),
            panel("status", "Status codes", "status", of(&p.status), top),
            panel("methods", "Methods", "method", of(&p.methods), top),
            panel("protocols", "Protocols", "protocol", of(&p.protocols), top),
            panel("vhosts", "Virtual hosts", "vhost", of(&p.vhosts), top),
        ];
        let mut minutes: Vec<(i64, u64)> = p.minutes.iter().map(|(&k, &v)| (k, v)).collect();
        minutes.sort_unstable();
        let span = match (p.first, p.last) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let bucket = bucket_for(span.max(1));
        let start = p.first.map_or(0, |f| f.div_euclid(bucket) * bucket);
        let nb = p.last.map_or(0, |l| ((l.div_euclid(bucket) * bucket - start) / bucket + 1) as usize);
        let mut counts = vec![0u64; nb];
        let mut heatmap = vec![[0u64; 24]; 7];
        let mut per_day: std::collections::BTreeMap<i64, (u64, u64)> = Default::default();
        for &(m, n) in &minutes {
            let t = m * MINUTE;
            counts[((t.div_euclid(bucket) * bucket - start) / bucket) as usize] += n;
            let day = t.div_euclid(DAY);
            // 1970-01-01 was a Thursday: Monday is 0.
            heatmap[(day + 3).rem_euclid(7) as usize][(t.rem_euclid(DAY) / 3600) as usize] += n;
            per_day.entry(day).or_default().0 += n;
        }
        for &(day, _) in &p.visitors {
            per_day.entry(day).or_default().1 += 1;
        }
        let distinct_pages = p.paths.len() - usize::from(p.paths.get(b"-").is_some() && !p.real_dash_path);
        let overview = Overview {
            lines: o.acc.lines,
            malformed: o.acc.malformed,
            requests: o.acc.matched,
            visitors: p.visitors.len() as u64,
            distinct_ips: p.hosts.len(),
            distinct_pages,
            distinct_agents: p.agents.len(),
            distinct_referers: p.referers.len(),
            first: p.first.map(format_clock),
            last: p.last.map(format_clock),
            first_epoch: p.first,
            last_epoch: p.last,
            span_secs: span,
            bytes_total: p.bytes_total,
            bytes_unknown: p.bytes_unknown,
            bytes: percentiles(&p.bytes),
            response_time_us: (!p.micros.is_empty()).then(|| percentiles(&p.micros)),
        };
        let (cube, cube_note) = match &p.cube {
            Some(c) => (Some(cube(c, &kinds)), None),
            None => (
                None,
                Some(format!(
                    "This log has more than {} distinct combinations of minute, client, page, status, method, protocol, \
                     virtual host, referer and agent, more than a report keeps to narrow in the page: narrow with \
                     tplog report --from/--to (or --day, --ip, --page) instead.",
                    super::acc::CUBE_CAP
                )),
            ),
        };
        Report {
            schema: SCHEMA,
            generator: format!("tplog {}", env!("CARGO_PKG_VERSION")),
            top,
            files: o
                .files
                .iter()
                .map(|f| FileInfo { name: f.name.clone(), format: f.format.clone(), bytes: f.bytes })
                .collect(),
            filters: cx.filters.clone(),
            overview,
            timeline: Timeline { bucket_secs: bucket, start, counts },
            days: per_day
                .into_iter()
                .map(|(d, (r, v))| DayRow { day: iso_day(d), requests: r, visitors: v })
                .collect(),
            heatmap,
            panels,
            cube,
            cube_note,
            live: cx.live,
        }
    }
}

/// Interns keys into a dimension's list.
#[derive(Default)]
struct Interner<'k> {
    ids: FxHashMap<&'k [u8], u64>,
    list: Vec<String>,
}

impl<'k> Interner<'k> {
    fn id(&mut self, k: &'k [u8]) -> u64 {
        if let Some(&i) = self.ids.get(k) {
            return i;
        }
        let i = self.list.len() as u64;
        self.ids.insert(k, i);
        self.list.push(text(k));
        i
    }
}

fn cube<'k>(c: &'k FxHashMap<super::acc::CubeKey<'_>, (u64, u64)>, kinds: &FxHashMap<&[u8], agent::Kind>) -> Cube {
    let minute0 = c.keys().map(|k| k.minute).min().unwrap_or(0);
    let mut d: [Interner<'k>; 8] = Default::default();
    let mut keys: Vec<_> = c.iter().collect();
    // Time order: the page reads the rows of a range as a slice.
    keys.sort_unstable_by(|a, b| a.0.minute.cmp(&b.0.minute).then_with(|| a.0.host.cmp(&b.0.host)));
    let rows = keys
        .into_iter()
        .map(|(k, &(h, b))| {
            [
                (k.minute - minute0) as u64,
                d[0].id(&k.host),
                d[1].id(&k.path),
                d[2].id(&k.status),
                d[3].id(&k.method),
                d[4].id(&k.protocol),
                d[5].id(&k.vhost),
                d[6].id(&k.referer),
                d[7].id(&k.agent),
                h,
                b,
            ]
        })
        .collect();
    let [client, page, status, method, protocol, vhost, referer, agent] = d;
    let mut browsers = Interner::default();
    let mut oses = Interner::default();
    let agent_kind = agent
        .ids
        .iter()
        .map(|(&a, &i)| (i, a))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .map(|a| {
            let k = &kinds[a];
            [browsers.id(k.browser.as_bytes()) as u32, oses.id(k.os.as_bytes()) as u32]
        })
        .collect();
    Cube {
        minute0,
        rows,
        dims: Dims {
            client: client.list,
            page: page.list,
            status: status.list,
            method: method.list,
            protocol: protocol.list,
            vhost: vhost.list,
            referer: referer.list,
            agent: agent.list,
            agent_kind,
            browser: browsers.list,
            os: oses.list,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_keeps_utf8_and_escapes_other_bytes() {
        assert_eq!(text(b"caf\xc3\xa9"), "café");
        assert_eq!(text(b"a\xffb"), "a\\xffb");
        let long = vec![b'A'; 100_000];
        let t = text(&long);
        assert!(t.starts_with(&"A".repeat(MAX_TEXT)));
        assert!(t.ends_with(&format!("… (+{} bytes)", 100_000 - MAX_TEXT)), "{}", &t[t.len() - 40..]);
    }

    #[test]
    fn referer_sites_and_static_files() {
        assert_eq!(referer_site(b"http://semicomplete.com/presentations/x"), b"semicomplete.com");
        assert_eq!(referer_site(b"https://a.example:8443?q=1"), b"a.example:8443");
        assert_eq!(referer_site(b"-"), b"-");
        assert!(is_static(b"/images/kibana-search.png"));
        assert!(is_static(b"/a/b/STYLE.CSS"));
        assert!(!is_static(b"/truc.html"));
        assert!(!is_static(b"/dir.png/index"));
        assert!(!is_static(b"/"));
    }

    #[test]
    fn buckets_follow_the_span() {
        assert_eq!(bucket_for(3600), 60);
        assert_eq!(bucket_for(3 * 3600), 60);
        assert_eq!(bucket_for(4 * 3600), 300);
        assert_eq!(bucket_for(24 * 3600), 600);
        assert_eq!(bucket_for(4 * DAY), 1800);
        assert_eq!(bucket_for(365 * DAY), 7 * DAY);
    }
}
