//! `tplog GROUP --follow`: the answer redrawn in the terminal, like `top`,
//! while lines are appended (rotation followed as `tail -F` does).

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::log::chunk::InputSpec;
use crate::log::engine::{Incremental, Query};
use crate::log::format::FormatChoice;
use crate::log::report::{self, OutputOpts};
use crate::log::tail::TailError;

#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    #[error(transparent)]
    Tail(#[from] TailError),
    #[error("writing output: {0}")]
    Output(#[from] io::Error),
}

/// Rows shown when neither --top nor a terminal height says.
const DEFAULT_ROWS: usize = 20;

fn terminal_rows() -> Option<usize> {
    // SAFETY: TIOCGWINSZ fills a winsize struct on a terminal descriptor.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0).then_some(ws.ws_row as usize)
    }
}

/// Redraws until the process is stopped (or stdout closes).
pub fn top(title: &str, query: Query, choice: FormatChoice, inputs: &[InputSpec], opts: OutputOpts) -> Result<(), FollowError> {
    let mut tails = crate::log::tail::open_all(inputs)?;
    let mut inc = Incremental::new(query, choice, inputs);
    let tty = io::stdout().is_terminal();
    let mut shown = u64::MAX;
    let mut last = Instant::now() - Duration::from_secs(1);
    loop {
        crate::log::tail::drain(&mut tails, |i, data| inc.feed(i, data))?;
        if inc.version != shown && last.elapsed() >= Duration::from_secs(1) {
            shown = inc.version;
            last = Instant::now();
            let o = inc.outcome();
            let mut opts = opts;
            if opts.top.is_none() {
                opts.top = Some(if tty { terminal_rows().map_or(DEFAULT_ROWS, |r| r.saturating_sub(3).max(1)) } else { DEFAULT_ROWS });
            }
            let rows = report::rows(&o, &opts);
            let mut out = io::stdout().lock();
            if tty {
                out.write_all(b"\x1b[H\x1b[2J")?;
            }
            writeln!(
                out,
                "{title}: {} lines, {} matching, {} malformed; {} (Ctrl-C to stop)",
                o.acc.lines,
                o.acc.matched,
                o.acc.malformed,
                clock_now()
            )?;
            report::write_rows(&mut out, &rows, opts.format)?;
            if !tty {
                writeln!(out)?;
            }
            out.flush()?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `HH:MM:SS` UTC, for the header line.
fn clock_now() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02} UTC", s / 3600 % 24, s / 60 % 60, s % 60)
}
