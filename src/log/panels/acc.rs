//! What the workers fill for `tplog report`, and the merge of their parts.
//!
//! Two layers. The panels' tables (requests and bytes per client, page,
//! status, method, protocol, virtual host, referer, agent; per minute; the
//! visitor set; the size and time histograms) are exact: their memory
//! grows with the distinct keys, as `stats`' sets do, never with the lines.
//! Beside them, while it stays under [`CUBE_CAP`] distinct combinations,
//! a cube: requests and bytes per (minute, client, page, status, method,
//! protocol, vhost, referer, agent). The page narrows every panel to a
//! time range or a row from it, exactly, with no server. A log with more
//! combinations than that (a busy site's day) drops the cube: the report
//! then says that narrowing needs `--from/--to` (or a smaller input), and
//! its memory is the tables' alone.

use std::borrow::Cow;
use std::hash::Hasher;

use hdrhistogram::Histogram;
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};

use super::tally::Tally;
use crate::log::keys::{hash, same};
use crate::log::record::{target_path, Ext, Record};
use crate::log::time::{Secs, DAY, MINUTE};

/// The most distinct combinations the cube holds (in the page, each is
/// one row of nine small numbers: a few MB at most).
pub const CUBE_CAP: usize = 60_000;

/// One combination of the cube's dimensions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CubeKey<'a> {
    pub minute: i64,
    pub host: Cow<'a, [u8]>,
    pub path: Cow<'a, [u8]>,
    pub status: Cow<'a, [u8]>,
    pub method: Cow<'a, [u8]>,
    pub protocol: Cow<'a, [u8]>,
    pub vhost: Cow<'a, [u8]>,
    pub referer: Cow<'a, [u8]>,
    pub agent: Cow<'a, [u8]>,
}

/// The report's accumulator.
#[derive(Clone, Debug)]
pub struct PanelAcc<'a> {
    pub requests: u64,
    /// A request's own path was `-` (not only the `-` of an unparsed request).
    pub real_dash_path: bool,
    pub hosts: Tally<'a>,
    pub paths: Tally<'a>,
    pub not_found: Tally<'a>,
    pub status: Tally<'a>,
    pub methods: Tally<'a>,
    pub protocols: Tally<'a>,
    pub vhosts: Tally<'a>,
    pub referers: Tally<'a>,
    pub agents: Tally<'a>,
    /// Requests per minute of wall-clock time as written.
    pub minutes: FxHashMap<i64, u64>,
    minute_run: Option<(i64, u64)>,
    /// The (status, method, protocol, vhost) of the last lines, with their
    /// requests and bytes, not yet in those four tables: they change
    /// rarely from one line to the next, so most lines cost four compares.
    small_run: Option<([&'a [u8]; 4], u64, u64)>,
    /// GoAccess's unique visitors: distinct (day, hash of client and agent).
    pub visitors: FxHashSet<(i64, u64)>,
    last_visitor: Option<(i64, u64)>,
    pub first: Option<Secs>,
    pub last: Option<Secs>,
    pub bytes_total: u128,
    pub bytes_unknown: u64,
    pub bytes: Histogram<u64>,
    pub micros: Histogram<u64>,
    /// None once the combinations outgrew [`CUBE_CAP`].
    pub cube: Option<FxHashMap<CubeKey<'a>, (u64, u64)>>,
}

/// A visitor's identity within a day, from the hashes of its client and
/// agent (the ones their tables were looked up with).
#[inline]
fn visitor(host_hash: u64, agent_hash: u64) -> u64 {
    let mut h = FxHasher::default();
    h.write_u64(host_hash);
    h.write_u64(agent_hash.rotate_left(29));
    h.finish()
}

impl<'a> PanelAcc<'a> {
    pub fn new() -> Self {
        PanelAcc {
            requests: 0,
            real_dash_path: false,
            hosts: Tally::default(),
            paths: Tally::default(),
            not_found: Tally::default(),
            status: Tally::default(),
            methods: Tally::default(),
            protocols: Tally::default(),
            vhosts: Tally::default(),
            referers: Tally::default(),
            agents: Tally::default(),
            minutes: FxHashMap::default(),
            minute_run: None,
            small_run: None,
            visitors: FxHashSet::default(),
            last_visitor: None,
            first: None,
            last: None,
            bytes_total: 0,
            bytes_unknown: 0,
            bytes: Histogram::new(3).expect("3 significant figures is valid"),
            micros: Histogram::new(3).expect("3 significant figures is valid"),
            cube: Some(FxHashMap::default()),
        }
    }

    /// One matching line.
    #[inline]
    pub fn add(&mut self, r: &Record<'a>, x: &Ext<'a>) {
        self.requests += 1;
        let b = r.bytes.unwrap_or(0);
        let req = x.request_line(r);
        let path = req.map_or(Cow::Borrowed(&b"-"[..]), |q| target_path(q.target));
        if req.is_some() && *path == *b"-" {
            self.real_dash_path = true;
        }
        let method: &'a [u8] = req.map_or(b"-", |q| q.method);
        let protocol: &'a [u8] = req.map_or(b"-", |q| q.version);
        let vhost: &'a [u8] = if x.vhost.is_empty() { b"-" } else { x.vhost };
        let referer = r.referer.unwrap_or(b"-");
        let agent = r.agent.unwrap_or(b"-");
        let (hh, ah) = (hash(r.host), hash(agent));
        self.hosts.add_hashed(r.host, hh, b);
        if r.status == b"404" {
            self.not_found.add_cow(path.clone(), 1, b);
        }
        let small = [r.status, method, protocol, vhost];
        match &mut self.small_run {
            Some((last, h, by)) if last.iter().zip(&small).all(|(a, k)| same(a, k)) => {
                *h += 1;
                *by += b;
            }
            run => {
                if let Some((last, h, by)) = run.replace((small, 1, b)) {
                    self.add_small(last, h, by);
                }
            }
        }
        self.referers.add(referer, b);
        self.agents.add_hashed(agent, ah, b);
        let minute = r.time.div_euclid(MINUTE);
        match &mut self.minute_run {
            Some((m, n)) if *m == minute => *n += 1,
            run => {
                if let Some((m, n)) = run.replace((minute, 1)) {
                    *self.minutes.entry(m).or_insert(0) += n;
                }
            }
        }
        // A visitor's requests come in runs (a page, then its images).
        let v = (r.time.div_euclid(DAY), visitor(hh, ah));
        if self.last_visitor != Some(v) {
            self.last_visitor = Some(v);
            self.visitors.insert(v);
        }
        self.first = Some(self.first.map_or(r.time, |f| f.min(r.time)));
        self.last = Some(self.last.map_or(r.time, |l| l.max(r.time)));
        match r.bytes {
            Some(n) => {
                self.bytes_total += n as u128;
                self.bytes.record(n).expect("an auto-resizing histogram takes any u64");
            }
            None => self.bytes_unknown += 1,
        }
        if let Some(us) = x.micros {
            self.micros.record(us).expect("an auto-resizing histogram takes any u64");
        }
        if let Some(cube) = &mut self.cube {
            let key = CubeKey {
                minute,
                host: Cow::Borrowed(r.host),
                path: path.clone(),
                status: Cow::Borrowed(r.status),
                method: Cow::Borrowed(method),
                protocol: Cow::Borrowed(protocol),
                vhost: Cow::Borrowed(vhost),
                referer: Cow::Borrowed(referer),
                agent: Cow::Borrowed(agent),
            };
            let e = cube.entry(key).or_insert((0, 0));
            e.0 += 1;
            e.1 += b;
            if cube.len() > CUBE_CAP {
                self.cube = None;
            }
        }
        self.paths.add_cow(path, 1, b);
    }

    fn add_small(&mut self, k: [&'a [u8]; 4], h: u64, b: u64) {
        self.status.add_with(k[0], h, b, Cow::Borrowed);
        self.methods.add_with(k[1], h, b, Cow::Borrowed);
        self.protocols.add_with(k[2], h, b, Cow::Borrowed);
        self.vhosts.add_with(k[3], h, b, Cow::Borrowed);
    }

    /// Moves the pending runs into their tables.
    pub fn flush(&mut self) {
        if let Some((k, h, b)) = self.small_run.take() {
            self.add_small(k, h, b);
        }
        if let Some((m, n)) = self.minute_run.take() {
            *self.minutes.entry(m).or_insert(0) += n;
        }
    }

    /// Adds another part's counts, converting its keys with `conv`.
    pub fn absorb<'b>(&mut self, mut o: PanelAcc<'b>, conv: &impl Fn(Cow<'b, [u8]>) -> Cow<'a, [u8]>) {
        self.flush();
        o.flush();
        self.requests += o.requests;
        self.real_dash_path |= o.real_dash_path;
        self.hosts.absorb(o.hosts, conv);
        self.paths.absorb(o.paths, conv);
        self.not_found.absorb(o.not_found, conv);
        self.status.absorb(o.status, conv);
        self.methods.absorb(o.methods, conv);
        self.protocols.absorb(o.protocols, conv);
        self.vhosts.absorb(o.vhosts, conv);
        self.referers.absorb(o.referers, conv);
        self.agents.absorb(o.agents, conv);
        for (k, v) in o.minutes {
            *self.minutes.entry(k).or_insert(0) += v;
        }
        if self.visitors.len() < o.visitors.len() {
            std::mem::swap(&mut self.visitors, &mut o.visitors);
        }
        self.visitors.extend(o.visitors);
        self.first = fold(self.first, o.first, Secs::min);
        self.last = fold(self.last, o.last, Secs::max);
        self.bytes_total += o.bytes_total;
        self.bytes_unknown += o.bytes_unknown;
        self.bytes.add(&o.bytes).expect("auto-resizing histogram");
        self.micros.add(&o.micros).expect("auto-resizing histogram");
        self.cube = match (self.cube.take(), o.cube) {
            (Some(mut mine), Some(theirs)) => {
                for (k, (h, b)) in theirs {
                    let k = CubeKey {
                        minute: k.minute,
                        host: conv(k.host),
                        path: conv(k.path),
                        status: conv(k.status),
                        method: conv(k.method),
                        protocol: conv(k.protocol),
                        vhost: conv(k.vhost),
                        referer: conv(k.referer),
                        agent: conv(k.agent),
                    };
                    let e = mine.entry(k).or_insert((0, 0));
                    e.0 += h;
                    e.1 += b;
                }
                (mine.len() <= CUBE_CAP).then_some(mine)
            }
            _ => None,
        };
    }
}

impl Default for PanelAcc<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl PanelAcc<'static> {
    /// Adds a part that borrows from a buffer about to be freed.
    pub fn absorb_owned(&mut self, o: PanelAcc<'_>) {
        let conv = |k: Cow<'_, [u8]>| Cow::Owned(k.into_owned());
        self.absorb(o, &conv);
    }

}

fn fold<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}
