//! Log formats beyond combined/common: Apache `LogFormat` and nginx
//! `log_format` strings compiled into field programs, presets, Caddy's
//! JSON, W3C extended logs, and formats read from a server's config.
//!
//! combined/common keep the hand-tuned one-pass parser ([`LogFormat::Fast`]);
//! every other format gets its own compiled parser that fills the same
//! [`Record`].

use std::sync::Arc;

pub mod apache;
mod around;
pub mod config;
pub mod fields;
pub mod json;
pub mod nginx;
pub mod presets;
pub mod program;
pub mod realip;
mod shape;
pub mod w3c;

use crate::log::parse::{parse_line, ParseError};
use crate::log::record::{Ext, Rich};
use presets::Tail;
use fields::Slot;
use program::Program;

/// Why a format string cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("unknown directive or variable {what} at column {col}")]
    Unknown { what: String, col: usize },
    #[error("unterminated {{ at column {col}")]
    Unterminated { col: usize },
    #[error("{first} is directly followed by {second} at column {col}: nothing tells where the first ends (put a separator between them)")]
    Adjacent { first: &'static str, second: &'static str, col: usize },
    #[error("the format names no field (Apache: %h %t \"%r\" ...; nginx: $remote_addr $time_local ...)")]
    NoField,
    #[error("{0:?} is neither a preset name ({presets}) nor a format string (Apache %directives or nginx $variables)", presets = preset_names())]
    NotAFormat(String),
}

fn preset_names() -> String {
    presets::PRESETS.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
}

/// How lines are read.
#[derive(Clone, Debug)]
pub enum LogFormat {
    /// combined, common, nginx main: the one-pass parser.
    Fast,
    Program(Box<Program>),
    Caddy,
    W3c,
}

impl LogFormat {
    /// Whether a line can carry an X-Forwarded-For chain: a compiled
    /// format that names it, Caddy's request headers, a W3C log (its
    /// columns can change within the file); never the fast path's layouts.
    pub fn logs_xff(&self) -> bool {
        match self {
            LogFormat::Fast => false,
            LogFormat::Program(p) => p.fields().any(|f| f.slot == Slot::Xff),
            LogFormat::Caddy | LogFormat::W3c => true,
        }
    }
}

/// A format and the name a reader knows it by (a preset's, the config's
/// nickname, or `custom`).
#[derive(Clone, Debug)]
pub struct NamedFormat {
    pub name: String,
    pub format: LogFormat,
}

impl NamedFormat {
    pub fn fast() -> NamedFormat {
        NamedFormat { name: "combined".into(), format: LogFormat::Fast }
    }

    pub fn is_fast(&self) -> bool {
        matches!(self.format, LogFormat::Fast)
    }
}

pub(crate) fn compile_apache(fmt: &str, trailing_ok: bool) -> Result<LogFormat, FormatError> {
    let items = apache::parse(fmt)?;
    Ok(LogFormat::Program(Box::new(Program::compile(items, trailing_ok, false)?)))
}

pub(crate) fn compile_nginx(fmt: &str, tail: Tail) -> Result<LogFormat, FormatError> {
    let items = nginx::parse(fmt)?;
    let (open, squeeze) = match tail {
        Tail::Exact => (false, false),
        Tail::Open => (true, false),
        Tail::Squeezed => (false, true),
    };
    Ok(LogFormat::Program(Box::new(Program::compile(items, open, squeeze)?)))
}

/// `--log-format`: a preset name, or a format string recognised by its
/// syntax (`%h %t "%r"` is Apache's, `$remote_addr [$time_local]` nginx's;
/// an nginx `escape=` parameter in front is accepted).
pub fn from_arg(arg: &str) -> Result<NamedFormat, FormatError> {
    if let Some(p) = presets::find(arg) {
        return Ok(p.format());
    }
    compile_string(arg).map(|format| NamedFormat { name: "custom".into(), format })
}

/// A format string (not a preset name).
pub fn compile_string(arg: &str) -> Result<LogFormat, FormatError> {
    let s = arg.trim_start();
    let s = ["escape=default", "escape=json", "escape=none"]
        .iter()
        .find_map(|e| s.strip_prefix(e).map(str::trim_start))
        .unwrap_or(s);
    if apache::looks_like(s) {
        compile_apache(s, false)
    } else if nginx::looks_like(s) {
        compile_nginx(s, Tail::Exact)
    } else {
        Err(FormatError::NotAFormat(arg.to_string()))
    }
}

/// Reads lines of one format; W3C's columns change with `#Fields:` lines.
pub struct LineParser<'f> {
    format: &'f LogFormat,
    w3c: Option<Arc<w3c::Layout>>,
}

impl LogFormat {
    /// A parser for a chunk; `w3c` is the layout in effect at its start.
    pub fn parser(&self, w3c: Option<Arc<w3c::Layout>>) -> LineParser<'_> {
        LineParser { format: self, w3c }
    }
}

impl LineParser<'_> {
    /// Whether this reads the fast path's layouts (combined, common,
    /// nginx): then `parse_line` reads a line without the wider record.
    #[inline]
    pub fn is_fast(&self) -> bool {
        matches!(self.format, LogFormat::Fast)
    }

    /// A record, None for a line that is not an entry (a W3C directive),
    /// or why the line is malformed.
    #[inline]
    pub fn parse<'a>(&mut self, line: &'a [u8]) -> Result<Option<Rich<'a>>, ParseError> {
        match self.format {
            LogFormat::Fast => parse_line(line).map(|rec| Some(Rich { rec, ext: Ext::NONE })),
            LogFormat::Program(p) => p.parse(line).map(Some),
            LogFormat::Caddy => json::parse_caddy(line.strip_suffix(b"\r").unwrap_or(line)).map(Some),
            LogFormat::W3c => {
                if line.starts_with(b"#Fields:") {
                    if let Some(l) = w3c::fields_line(line) {
                        self.w3c = Some(Arc::new(l));
                    }
                    return Ok(None);
                }
                w3c::parse(self.w3c.as_deref(), line)
            }
        }
    }
}

/// Which format each input is read in.
#[derive(Clone, Debug, Default)]
pub enum FormatChoice {
    /// Chosen per file from its first lines among the presets.
    #[default]
    Detect,
    /// `--log-format`.
    Fixed(Arc<NamedFormat>),
    /// `--log-config`: the format that writes the file's path; otherwise
    /// the config's format that reads its first lines best.
    Config(Arc<config::LogConfig>),
}

/// The format chosen for an input, and whether it was guessed from its lines.
#[derive(Clone, Debug)]
pub struct Chosen {
    pub format: Arc<NamedFormat>,
    pub detected: bool,
}

/// Bytes of an input looked at to choose its format.
pub const SAMPLE_BYTES: usize = 64 * 1024;

fn reads(f: &LogFormat, sample: &[u8]) -> usize {
    let mut p = f.parser(None);
    sample
        .split(|&c| c == b'\n')
        .take(presets::SAMPLE_LINES)
        .filter(|l| !l.is_empty() && matches!(p.parse(l), Ok(Some(_))))
        .count()
}

impl FormatChoice {
    pub fn choose(&self, input: &crate::log::chunk::InputSpec, sample: &[u8]) -> Chosen {
        let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
        match self {
            FormatChoice::Fixed(f) => Chosen { format: f.clone(), detected: false },
            FormatChoice::Detect => match presets::detect(sample) {
                Some(p) => Chosen { format: Arc::new(p.format()), detected: true },
                None => Chosen { format: Arc::new(NamedFormat::fast()), detected: false },
            },
            FormatChoice::Config(cfg) => {
                if let crate::log::chunk::InputSpec::Path(p) = input {
                    if let Some(f) = cfg.for_path(p) {
                        return Chosen { format: f, detected: false };
                    }
                }
                let best = cfg.all().into_iter().max_by_key(|f| reads(&f.format, sample));
                match best {
                    Some(f) => Chosen { format: f, detected: true },
                    None => Chosen { format: Arc::new(NamedFormat::fast()), detected: false },
                }
            }
        }
    }
}

/// The preset that would read lines a format failed on, when one reads
/// most of them (for `check`'s hint).
pub fn suggest(lines: &[&[u8]]) -> Option<&'static presets::Preset> {
    let sample: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain(std::iter::once(b'\n'))).collect();
    let ranked = presets::rank(&sample);
    ranked.first().filter(|(_, ok, n)| *ok * 2 > *n).map(|r| r.0)
}

#[cfg(test)]
mod tests;
