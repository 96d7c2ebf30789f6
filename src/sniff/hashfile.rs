//! `--hashcat DIR`: every crackable line found, one file per hashcat mode
//! (`11100.txt`, ...), each line once, ready for `hashcat -m MODE FILE`.
//! Written as found (flushed), so an interrupted live capture keeps them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::finding::Finding;

#[derive(Debug, thiserror::Error)]
pub enum HashFileError {
    #[error("{path}: cannot create the directory: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The open files of a `--hashcat` directory.
#[derive(Debug)]
pub struct HashFiles {
    dir: PathBuf,
    files: BTreeMap<u32, BufWriter<File>>,
    seen: HashSet<(u32, String)>,
    /// Lines written, by mode.
    pub written: BTreeMap<u32, u64>,
}

impl HashFiles {
    /// Creates `dir` if needed. Files are appended to, so that several runs
    /// can collect into one directory.
    pub fn create(dir: &Path) -> Result<HashFiles, HashFileError> {
        std::fs::create_dir_all(dir).map_err(|source| HashFileError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(HashFiles {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
            seen: HashSet::new(),
            written: BTreeMap::new(),
        })
    }

    /// The file of a mode.
    pub fn path(&self, mode: u32) -> PathBuf {
        self.dir.join(format!("{mode}.txt"))
    }

    /// Writes the finding's crackable line, if it has one not yet written.
    pub fn add(&mut self, f: &Finding) -> Result<(), HashFileError> {
        let Finding::Credential(c) = f else {
            return Ok(());
        };
        let Some(h) = &c.hash else {
            return Ok(());
        };
        if !self.seen.insert((h.mode, h.line.clone())) {
            return Ok(());
        }
        let path = self.path(h.mode);
        let err = |source| HashFileError::Write {
            path: path.clone(),
            source,
        };
        let w = match self.files.entry(h.mode) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(err)?;
                v.insert(BufWriter::new(file))
            }
        };
        // A line break inside the line would make two hashes of one.
        let line = h.line.replace(['\n', '\r'], "");
        writeln!(w, "{line}")
            .and_then(|()| w.flush())
            .map_err(err)?;
        *self.written.entry(h.mode).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::finding::{Credential, Proto};
    use crate::sniff::proto::Crackable;

    fn cred(mode: u32, line: &str) -> Finding {
        Finding::Credential(Credential {
            ts: 0,
            client: "127.0.0.1:5000".parse().unwrap(),
            server: "127.0.0.1:5432".parse().unwrap(),
            proto: Proto::Postgres,
            user: Some(b"amy".to_vec()),
            password: None,
            detail: None,
            hash: Some(Crackable {
                mode,
                line: line.into(),
            }),
        })
    }

    #[test]
    fn one_file_per_mode_each_line_once() {
        let d = tempfile::tempdir().unwrap();
        let mut h = HashFiles::create(&d.path().join("hashes")).unwrap();
        h.add(&cred(11100, "$postgres$a*1*2")).unwrap();
        h.add(&cred(11100, "$postgres$a*1*2")).unwrap();
        h.add(&cred(11100, "$postgres$b*1*2")).unwrap();
        h.add(&cred(11400, "$sip$*x\n")).unwrap();
        let read = |m| std::fs::read_to_string(h.path(m)).unwrap();
        assert_eq!(read(11100), "$postgres$a*1*2\n$postgres$b*1*2\n");
        assert_eq!(read(11400), "$sip$*x\n");
        assert_eq!(h.written, BTreeMap::from([(11100, 2), (11400, 1)]));
    }

    #[test]
    fn an_unusable_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("file");
        std::fs::write(&f, "").unwrap();
        let e = HashFiles::create(&f.join("sub")).unwrap_err();
        assert!(e.to_string().contains("file/sub"), "{e}");
    }
}
