//! Following a log as `tail -F` does: the lines appended since the last
//! look, across rotation. A rename (logrotate's default, then the server
//! reopens) is seen as a new inode at the path: the old file is read to
//! its end, and kept open a while for the lines the server writes before
//! it reopens; a copytruncate is seen as the file growing shorter than
//! what was read: reading starts again at its beginning.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a rotated-away file is still read after it stopped growing.
const DRAIN: Duration = Duration::from_secs(10);
/// The most read in one look at a file (the rest is read at the next).
const MAX_READ: usize = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("--follow reads files, not stdin (it has to reopen them when they rotate)")]
    Stdin,
    #[error("{path}: cannot open: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path}: read error: {source}")]
    Read { path: String, source: io::Error },
}

/// An open file and how far it was read; a line not yet ended waits in `partial`.
#[derive(Debug)]
struct Open {
    file: File,
    ino: (u64, u64),
    offset: u64,
    partial: Vec<u8>,
    grew: Instant,
}

impl Open {
    fn new(file: File) -> io::Result<Open> {
        let m = file.metadata()?;
        Ok(Open { file, ino: (m.dev(), m.ino()), offset: 0, partial: Vec::new(), grew: Instant::now() })
    }

    /// Appends the whole lines read since the last call to `out`.
    fn read_lines(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let len = self.file.metadata()?.len();
        if len < self.offset {
            // Truncated in place (copytruncate): its new content starts at 0.
            self.offset = 0;
            self.partial.clear();
        }
        if len == self.offset {
            return Ok(());
        }
        self.file.seek(SeekFrom::Start(self.offset))?;
        let want = ((len - self.offset) as usize).min(MAX_READ);
        let mut buf = std::mem::take(&mut self.partial);
        let start = buf.len();
        buf.resize(start + want, 0);
        let n = read_full(&mut self.file, &mut buf[start..])?;
        buf.truncate(start + n);
        self.offset += n as u64;
        if n > 0 {
            self.grew = Instant::now();
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(i) => {
                out.extend_from_slice(&buf[..=i]);
                self.partial = buf[i + 1..].to_vec();
            }
            None => self.partial = buf,
        }
        Ok(())
    }
}

fn read_full(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One followed path.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    current: Option<Open>,
    /// Files rotated away, still read until they stop growing.
    old: Vec<Open>,
    /// Rotations seen (renames and truncations).
    pub rotations: u64,
}

impl Tail {
    /// Opens `path` (it must exist) to be read from its beginning.
    pub fn open(path: &Path) -> Result<Tail, TailError> {
        let f = File::open(path).map_err(|source| TailError::Open { path: path.display().to_string(), source })?;
        let o = Open::new(f).map_err(|source| TailError::Open { path: path.display().to_string(), source })?;
        Ok(Tail { path: path.to_path_buf(), current: Some(o), old: Vec::new(), rotations: 0 })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole lines appended since the last call, in the order written:
    /// first what rotated-away files still got, then the current file's.
    pub fn poll(&mut self) -> Result<Vec<u8>, TailError> {
        let err = |source| TailError::Read { path: self.path.display().to_string(), source };
        let mut out = Vec::new();
        for o in &mut self.old {
            o.read_lines(&mut out).map_err(err)?;
        }
        self.old.retain(|o| o.grew.elapsed() < DRAIN);
        // A new file at the path (rename rotation), or none yet.
        let now = fs::metadata(&self.path).ok().map(|m| (m.dev(), m.ino()));
        let replaced = match (&self.current, now) {
            (Some(c), Some(ino)) => c.ino != ino,
            (None, Some(_)) => true,
            _ => false,
        };
        if let Some(c) = &mut self.current {
            let before = c.offset;
            c.read_lines(&mut out).map_err(err)?;
            if c.offset < before {
                self.rotations += 1;
            }
        }
        if replaced {
            if let Ok(f) = File::open(&self.path) {
                if let Ok(mut n) = Open::new(f) {
                    n.read_lines(&mut out).map_err(err)?;
                    if let Some(old) = self.current.replace(n) {
                        self.old.push(old);
                        self.rotations += 1;
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Opens every input to be followed (files only: a pipe cannot be reopened).
pub fn open_all(inputs: &[crate::log::chunk::InputSpec]) -> Result<Vec<Tail>, TailError> {
    use crate::log::chunk::InputSpec;
    inputs
        .iter()
        .map(|i| match i {
            InputSpec::Path(p) => Tail::open(p),
            InputSpec::Stdin => Err(TailError::Stdin),
        })
        .collect()
}

/// Hands each followed file's new lines to `feed` (by the file's index)
/// until none has more: the whole of a file at start, in large reads.
pub fn drain(tails: &mut [Tail], mut feed: impl FnMut(usize, &[u8])) -> Result<(), TailError> {
    for (i, t) in tails.iter_mut().enumerate() {
        loop {
            let data = t.poll()?;
            if data.is_empty() {
                break;
            }
            feed(i, &data);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(p: &Path, s: &str) {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(p).unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn follows_appends_renames_and_truncation_losing_no_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("access.log");
        append(&p, "1\n2\npart");
        let mut t = Tail::open(&p).unwrap();
        assert_eq!(t.poll().unwrap(), b"1\n2\n");
        append(&p, "ial\n");
        assert_eq!(t.poll().unwrap(), b"partial\n");
        // Rename rotation: the server still writes to the old file until it reopens.
        fs::rename(&p, d.path().join("access.log.1")).unwrap();
        append(&d.path().join("access.log.1"), "3\n");
        append(&p, "4\n");
        let got = t.poll().unwrap();
        assert_eq!(got, b"3\n4\n");
        append(&d.path().join("access.log.1"), "5\n");
        append(&p, "6\n");
        assert_eq!(t.poll().unwrap(), b"5\n6\n");
        assert_eq!(t.rotations, 1);
        // copytruncate: the file starts again from nothing.
        fs::write(&p, "").unwrap();
        append(&p, "7\n");
        assert_eq!(t.poll().unwrap(), b"7\n");
        assert_eq!(t.poll().unwrap(), b"");
    }
}
