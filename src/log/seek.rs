//! Finding a time window in a time-ordered log by binary search.
//!
//! Access logs are nearly sorted: a line is written when its request
//! completes but stamped with the time it started, so a line can be later
//! than the lines after it by at most the longest request. With that
//! disorder bounded by `MAX_DISORDER` (for lines i before j in the file,
//! t(i) <= t(j) + MAX_DISORDER), every line before the found start is
//! earlier than `--from` and every line after the found end is later than
//! `--to`, so scanning only the range gives exactly the full scan's answer.
//! The bound is checked on samples spread over the file first; a file that
//! breaks it (shuffled, concatenated out of order) is scanned whole.

use std::ops::Range;

use super::parse::parse_line;
use super::time::Secs;

/// The disorder tolerated (and scanned around the window): one hour.
pub const MAX_DISORDER: Secs = 3600;

/// Samples taken to check the file's order.
const SAMPLES: usize = 64;
/// Malformed lines skipped when probing for a timestamp.
const PROBE_LINES: usize = 64;

/// How a window was looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeekOutcome {
    /// The byte range to scan, or None for the whole file.
    pub range: Option<Range<usize>>,
    /// Why the whole file is scanned, when it is.
    pub fallback: Option<&'static str>,
}

fn line_start_at_or_after(data: &[u8], off: usize) -> usize {
    if off == 0 || off >= data.len() {
        return off.min(data.len());
    }
    if data[off - 1] == b'\n' {
        return off;
    }
    memchr::memchr(b'\n', &data[off..]).map_or(data.len(), |i| off + i + 1)
}

/// The time of the first valid line starting at or after `off`.
fn time_at(data: &[u8], off: usize) -> Option<Secs> {
    let mut s = line_start_at_or_after(data, off);
    for _ in 0..PROBE_LINES {
        if s >= data.len() {
            return None;
        }
        let e = memchr::memchr(b'\n', &data[s..]).map_or(data.len(), |i| s + i);
        if let Ok(r) = parse_line(&data[s..e]) {
            return Some(r.time);
        }
        s = e + 1;
    }
    None
}

/// The first line start whose first valid line is at or after `target`
/// (the end of the data when there is none).
fn lower_bound(data: &[u8], target: Secs) -> usize {
    let (mut lo, mut hi) = (0usize, data.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if time_at(data, mid).map_or(true, |t| t >= target) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    line_start_at_or_after(data, lo)
}

/// Checks the disorder bound on samples spread over the file.
fn looks_ordered(data: &[u8]) -> bool {
    let mut max_seen: Option<Secs> = None;
    for k in 0..=SAMPLES {
        let off = (data.len() as u128 * k as u128 / SAMPLES as u128) as usize;
        if let Some(t) = time_at(data, off.min(data.len().saturating_sub(1))) {
            if max_seen.is_some_and(|m| m > t + MAX_DISORDER) {
                return false;
            }
            max_seen = Some(max_seen.map_or(t, |m| m.max(t)));
        }
    }
    true
}

/// The part of `data` that can hold lines in `[from, to]` (inclusive).
pub fn find_window(data: &[u8], (from, to): (Secs, Secs)) -> SeekOutcome {
    if !looks_ordered(data) {
        return SeekOutcome {
            range: None,
            fallback: Some("the file is not in time order"),
        };
    }
    let start = if from == Secs::MIN {
        0
    } else {
        lower_bound(data, from.saturating_sub(MAX_DISORDER))
    };
    let end = if to == Secs::MAX {
        data.len()
    } else {
        lower_bound(data, to.saturating_add(MAX_DISORDER + 1))
    };
    SeekOutcome {
        range: Some(start..end.max(start)),
        fallback: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::time::parse_time_arg;

    fn log(times: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        for t in times {
            v.extend_from_slice(
                format!("1.1.1.1 - - [{t} +0000] \"GET / HTTP/1.1\" 200 1\n").as_bytes(),
            );
        }
        v
    }

    #[test]
    fn window_in_ordered_file() {
        let times: Vec<String> = (0..24)
            .map(|h| format!("08/Feb/2014:{h:02}:00:00"))
            .collect();
        let data = log(&times.iter().map(String::as_str).collect::<Vec<_>>());
        let from = parse_time_arg("08/Feb/2014:10:00").unwrap().start;
        let to = parse_time_arg("08/Feb/2014:12:00").unwrap().end_inclusive();
        let r = find_window(&data, (from, to)).range.unwrap();
        let text = std::str::from_utf8(&data[r]).unwrap();
        // One hour of margin on each side.
        assert!(
            text.starts_with("1.1.1.1 - - [08/Feb/2014:09:00:00"),
            "{text}"
        );
        assert!(
            text.trim_end().ends_with("\"GET / HTTP/1.1\" 200 1")
                && text.contains("13:00:00")
                && !text.contains("14:00:00")
        );
    }

    #[test]
    fn shuffled_file_is_scanned_whole() {
        let mut times: Vec<String> = (0..200)
            .map(|i| format!("08/Feb/2014:{:02}:{:02}:00", i / 60 % 24, i % 60))
            .collect();
        times.reverse();
        let data = log(&times.iter().map(String::as_str).collect::<Vec<_>>());
        let s = find_window(&data, (0, 10));
        assert_eq!(s.range, None);
        assert!(s.fallback.is_some());
    }
}
