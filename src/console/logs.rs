//! The Logs page: tplog's own queries on the access logs given at start,
//! answered with the same JSON `tplog QUERY --format json` prints, and a
//! push whenever a log grows (the page then asks again).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use super::{publish, Bus};
use crate::log::engine::{Action, EngineOpts, Group, Query};
use crate::log::report::{self, Format, OutputOpts, SortBy};
use crate::log::{Filter, FilterArgs};

/// The filters the page can set, as tplog's flags.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LogQuery {
    pub page: Option<String>,
    pub ip: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub day: Option<String>,
    pub status: Option<String>,
    pub method: Option<String>,
    pub vhost: Option<String>,
    pub slower_than: Option<String>,
    pub top: Option<usize>,
}

fn nonempty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// `ips`, `pages`, ... or `stats`.
pub fn action_of(name: &str) -> Option<Action> {
    Some(match name {
        "ips" => Action::Group(Group::Ip),
        "pages" => Action::Group(Group::Page),
        "days" => Action::Group(Group::Day),
        "hours" => Action::Group(Group::Hour),
        "status" => Action::Group(Group::Status),
        "methods" => Action::Group(Group::Method),
        "referers" => Action::Group(Group::Referer),
        "agents" => Action::Group(Group::Agent),
        "stats" => Action::Stats,
        _ => return None,
    })
}

fn filter_of(q: &LogQuery) -> Result<Filter, String> {
    Filter::from_args(&FilterArgs {
        page: nonempty(&q.page),
        ip: nonempty(&q.ip),
        from: nonempty(&q.from),
        to: nonempty(&q.to),
        day: nonempty(&q.day),
        status: nonempty(&q.status),
        method: nonempty(&q.method),
        vhost: nonempty(&q.vhost),
        slower_than: nonempty(&q.slower_than),
        ..FilterArgs::default()
    })
    .map_err(|e| e.to_string())
}

fn run(file: &PathBuf, action: Action, q: &LogQuery) -> Result<crate::log::Outcome, String> {
    let query = Query { action, filter: filter_of(q)? };
    let opts = EngineOpts {
        quiet: true,
        ..EngineOpts::default()
    };
    let inputs = [crate::log::chunk::InputSpec::Path(file.clone())];
    let outcome = crate::log::run(&query, &inputs, &opts, |_| Ok(())).map_err(|e| e.to_string())?;
    if let Some(e) = outcome.errors().next() {
        return Err(e.to_string());
    }
    Ok(outcome)
}

/// `tplog report`'s page for one log with the page's filters (blocking).
pub fn report_page(file: &PathBuf, q: &LogQuery) -> Result<Vec<u8>, String> {
    let outcome = run(file, Action::Report, q)?;
    let words = [("--page", &q.page), ("--ip", &q.ip), ("--from", &q.from), ("--to", &q.to), ("--day", &q.day), ("--status", &q.status), ("--method", &q.method), ("--vhost", &q.vhost), ("--slower-than", &q.slower_than)]
        .iter()
        .filter_map(|(k, v)| nonempty(v).map(|v| format!("{k} {v}")))
        .collect();
    let cx = crate::log::panels::Context { top: q.top.unwrap_or(100).clamp(1, 10_000), filters: words, live: false };
    let mut page = Vec::new();
    crate::log::panels::html::write_page(&mut page, &crate::log::panels::Report::new(&outcome, &cx)).map_err(|e| e.to_string())?;
    Ok(page)
}

/// Runs one query on one log (blocking) and returns tplog's JSON answer
/// with the counts around it.
pub fn query(file: &PathBuf, what: &str, q: &LogQuery) -> Result<Value, String> {
    let action = action_of(what).ok_or_else(|| format!("unknown query {what:?}: ips, pages, days, hours, status, methods, referers, agents or stats"))?;
    let outcome = run(file, action, q)?;
    let mut out = Vec::new();
    let w = match action {
        Action::Stats => {
            report::write_stats(&mut out, &report::StatsView::new(&outcome), Format::Json)
        }
        _ => {
            let o = OutputOpts {
                format: Format::Json,
                sort: SortBy::Count,
                top: Some(q.top.unwrap_or(20).clamp(1, 1000)),
            };
            report::write_rows(&mut out, &report::rows(&outcome, &o), Format::Json)
        }
    };
    w.map_err(|e| e.to_string())?;
    let answer: Value = serde_json::from_slice(&out).map_err(|e| format!("tplog's JSON: {e}"))?;
    Ok(json!({
        "file": file.display().to_string(),
        "query": what,
        "answer": answer,
        "lines": outcome.acc.lines,
        "matched": outcome.acc.matched,
        "malformed": outcome.acc.malformed,
        "first_malformed": outcome.first_bad.as_ref().map(|b| format!("{}:{}: {}", b.file, b.line, b.error)),
    }))
}

/// Pushes `logs` events when a log's size changes (checked every second).
pub fn follow(files: Vec<PathBuf>, bus: Bus) {
    if files.is_empty() {
        return;
    }
    std::thread::spawn(move || {
        let mut sizes: Vec<Option<u64>> = vec![None; files.len()];
        loop {
            for (i, f) in files.iter().enumerate() {
                let now = std::fs::metadata(f).ok().map(|m| m.len());
                if now != sizes[i] {
                    sizes[i] = now;
                    publish(&bus, "logs", &json!({ "file": i, "size": now }));
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    });
}
