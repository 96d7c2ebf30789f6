//! Apache/nginx access logs: zero-copy parsing and a parallel query engine.
//!
//! input ([`chunk`]) → parse ([`parse`]) → filter ([`filter`]) →
//! aggregate ([`engine`]) → print ([`report`]).

pub mod chunk;
pub mod engine;
#[cfg(feature = "parquet")]
pub mod export;
pub mod filter;
pub mod format;
pub mod keys;
pub mod panels;
pub mod parse;
pub mod record;
pub mod report;
pub mod seek;
mod swar;
pub mod tail;
pub mod time;

pub use engine::{run, Action, EngineOpts, Group, Outcome, Query};
pub use filter::{Filter, FilterArgs};
pub use parse::parse_line;
pub use record::Record;
