//! Lines fed as they arrive (a followed log): each batch of whole lines is
//! scanned like a chunk and added to one answer, which can be read at any
//! time. Single-threaded: a live log brings a few lines a second.

use std::sync::Arc;

use super::acc::Acc;
use super::scan::{Chunk, Compiled};
use super::{FileReport, Outcome, Query};
use crate::log::chunk::InputSpec;
use crate::log::format::{w3c, FormatChoice, LogFormat, NamedFormat};

/// One followed input: its format (chosen from its first lines) and, for
/// W3C, the columns in effect.
struct Input {
    name: String,
    spec: InputSpec,
    format: Option<Arc<NamedFormat>>,
    detected: bool,
    w3c: Option<Arc<w3c::Layout>>,
    bytes: u64,
}

/// An answer that grows as lines are fed.
pub struct Incremental {
    query: Query,
    choice: FormatChoice,
    inputs: Vec<Input>,
    acc: Acc<'static>,
    chunks: u32,
    /// Bumped by every feed that held a line.
    pub version: u64,
}

impl Incremental {
    pub fn new(query: Query, choice: FormatChoice, inputs: &[InputSpec]) -> Self {
        Incremental {
            acc: Acc::new(query.action),
            query,
            choice,
            inputs: inputs
                .iter()
                .map(|s| Input { name: s.to_string(), spec: s.clone(), format: None, detected: false, w3c: None, bytes: 0 })
                .collect(),
            chunks: 0,
            version: 0,
        }
    }

    /// Scans whole lines (each ending in `\n`) read from input `i`.
    pub fn feed(&mut self, i: usize, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let input = &mut self.inputs[i];
        if input.format.is_none() {
            let c = self.choice.choose(&input.spec, data);
            input.format = Some(c.format);
            input.detected = c.detected;
        }
        let format = input.format.clone().expect("chosen above");
        let at_start = input.w3c.clone();
        if let LogFormat::W3c = format.format {
            input.w3c = w3c::layout_after(data, at_start.clone());
        }
        input.bytes += data.len() as u64;
        let pre = self.query.filter.prefilter();
        let c = Compiled::new(&self.query, &pre);
        let chunk = Chunk { id: self.chunks, data, format, w3c: at_start };
        self.chunks += 1;
        let mut acc = Acc::new(self.query.action);
        let mut none = Vec::new();
        c.scan(&chunk, &mut acc, &mut none);
        // Chunk positions do not outlive the feed: malformed lines are counted.
        acc.chunk_lines.clear();
        acc.first_bad = None;
        self.acc.absorb_owned(acc);
        self.version += 1;
    }

    /// The answer so far (a copy: the feeding goes on).
    pub fn outcome(&mut self) -> Outcome {
        if let Some(p) = &mut self.acc.panels {
            p.settle();
        }
        Outcome {
            acc: self.acc.clone(),
            files: self
                .inputs
                .iter()
                .map(|f| FileReport {
                    name: f.name.clone(),
                    bytes: f.bytes,
                    scanned: f.bytes,
                    error: None,
                    seek: None,
                    format: f.format.as_ref().map_or_else(|| "combined".to_string(), |f| f.name.clone()),
                    detected: f.detected,
                    logs_xff: f.format.as_ref().is_some_and(|f| f.format.logs_xff()),
                })
                .collect(),
            first_bad: None,
            bad: Vec::new(),
            prefiltered: false,
            action: self.query.action,
        }
    }
}
