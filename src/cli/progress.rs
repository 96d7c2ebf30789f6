//! A progress bar on stderr for long runs: bytes done, rate, time left.
//! Shown only when stderr is a terminal, the input is large and `--quiet`
//! was not given; never when piped.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Inputs at least this large get a bar (about 1 GB).
pub const SHOW_ABOVE_BYTES: u64 = 1 << 30;

/// A bar counting bytes, or a no-op when it should not be shown.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `total` bytes (None when unknown, e.g. stdin), shown when
    /// stderr is a terminal, `quiet` is false and the input is large.
    pub fn bytes(total: Option<u64>, quiet: bool) -> Progress {
        let large = total.is_some_and(|t| t >= SHOW_ABOVE_BYTES);
        if quiet || !large || !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        Progress(Some(Self::make(total)))
    }

    /// Always shown on a terminal (for tests of the bar's drawing use `hidden`).
    fn make(total: Option<u64>) -> ProgressBar {
        let bar = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::no_length(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("static template"),
        );
        bar
    }

    /// A bar that draws nothing (its position can still be read).
    pub fn hidden() -> Progress {
        Progress(None)
    }

    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
