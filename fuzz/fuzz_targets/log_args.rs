//! The command-line argument parsers of tplog: `--from/--to` times,
//! `--day`, `timeline --every`, and the whole filter (`--page --ip --from
//! --to --day --status --method`). The input is cut at NUL bytes into the
//! argument values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tplab::log::filter::{Filter, FilterArgs};
use tplab::log::time::{parse_day_arg, parse_every, parse_time_arg};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0').map(str::to_string);
    let first = parts.next().unwrap_or_default();
    if let Ok(t) = parse_time_arg(&first) {
        assert!(t.start <= t.end_inclusive());
    }
    if let Ok((a, b)) = parse_day_arg(&first) {
        assert!(a <= b);
    }
    if let Ok(every) = parse_every(&first) {
        assert!(every > 0, "a zero --every would divide by zero");
    }
    let mut next = || parts.next().filter(|s| !s.is_empty());
    let args = FilterArgs {
        page: Some(first.clone()).filter(|s| !s.is_empty()),
        ip: next(),
        from: next(),
        to: next(),
        day: next(),
        status: next(),
        method: next(),
    };
    if let Ok(f) = Filter::from_args(&args) {
        let _ = f.window();
        let _ = f.prefilter();
        let _ = f.is_empty();
    }
});
