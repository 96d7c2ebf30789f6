//! `--hashcat DIR`: every crackable line found, one file per hashcat mode
//! (`11100.txt`, ...), each line once, ready for `hashcat -m MODE FILE`.
//! `--john DIR`: the same for the lines in a John the Ripper format (VNC's,
//! which hashcat has no mode for), one file per format (`vnc.txt`), ready
//! for `john --format=FORMAT FILE`.
//! Written as found (flushed), so an interrupted live capture keeps them.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::finding::Finding;
use super::proto::Crackable;

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

/// Which cracker a directory is for: it names the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cracker {
    /// `MODE.txt` for the lines with a hashcat mode.
    Hashcat,
    /// `FORMAT.txt` for the lines with a John the Ripper format.
    John,
}

impl Cracker {
    /// The file name (without `.txt`) a line goes to, if it goes to this
    /// cracker's directory.
    fn stem(self, h: &Crackable) -> Option<String> {
        match self {
            Cracker::Hashcat => h.mode.map(|m| m.to_string()),
            Cracker::John => h.john.map(String::from),
        }
    }
}

/// The open files of a `--hashcat` or `--john` directory.
#[derive(Debug)]
pub struct HashFiles {
    dir: PathBuf,
    cracker: Cracker,
    files: BTreeMap<String, BufWriter<File>>,
    seen: HashSet<(String, String)>,
    /// Lines written, by file name (mode or format).
    pub written: BTreeMap<String, u64>,
}

impl HashFiles {
    /// Creates `dir` if needed. Files are appended to, so that several runs
    /// can collect into one directory.
    pub fn create(dir: &Path, cracker: Cracker) -> Result<HashFiles, HashFileError> {
        std::fs::create_dir_all(dir).map_err(|source| HashFileError::Dir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(HashFiles {
            dir: dir.to_path_buf(),
            cracker,
            files: BTreeMap::new(),
            seen: HashSet::new(),
            written: BTreeMap::new(),
        })
    }

    /// The file of a mode (hashcat) or format (John).
    pub fn path(&self, stem: &str) -> PathBuf {
        self.dir.join(format!("{stem}.txt"))
    }

    /// Writes the finding's crackable line, if it has one for this cracker
    /// not yet written.
    pub fn add(&mut self, f: &Finding) -> Result<(), HashFileError> {
        let Finding::Credential(c) = f else {
            return Ok(());
        };
        let Some(stem) = c.hash.as_ref().and_then(|h| self.cracker.stem(h)) else {
            return Ok(());
        };
        let line = &c.hash.as_ref().expect("has a stem").line;
        if !self.seen.insert((stem.clone(), line.clone())) {
            return Ok(());
        }
        let path = self.path(&stem);
        let err = |source| HashFileError::Write {
            path: path.clone(),
            source,
        };
        let w = match self.files.entry(stem.clone()) {
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
        let line = line.replace(['\n', '\r'], "");
        writeln!(w, "{line}")
            .and_then(|()| w.flush())
            .map_err(err)?;
        *self.written.entry(stem).or_default() += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sniff::finding::{Credential, Proto};

    fn cred(hash: Crackable) -> Finding {
        Finding::Credential(Credential {
            ts: 0,
            client: "127.0.0.1:5000".parse().unwrap(),
            server: "127.0.0.1:5432".parse().unwrap(),
            proto: Proto::Postgres,
            user: Some(b"amy".to_vec()),
            password: None,
            detail: None,
            hash: Some(hash),
        })
    }

    fn hc(mode: u32, line: &str) -> Finding {
        cred(Crackable::hashcat(mode, line.into()))
    }

    const VNC: &str = "$vnc$*00112233445566778899AABBCCDDEEFF*00112233445566778899AABBCCDDEEFF";

    #[test]
    fn one_file_per_mode_each_line_once() {
        let d = tempfile::tempdir().unwrap();
        let mut h = HashFiles::create(&d.path().join("hashes"), Cracker::Hashcat).unwrap();
        h.add(&hc(11100, "$postgres$a*1*2")).unwrap();
        h.add(&hc(11100, "$postgres$a*1*2")).unwrap();
        h.add(&hc(11100, "$postgres$b*1*2")).unwrap();
        h.add(&hc(11400, "$sip$*x\n")).unwrap();
        // No hashcat mode: not for hashcat's directory.
        h.add(&cred(Crackable::john("vnc", VNC.into()))).unwrap();
        let read = |m| std::fs::read_to_string(h.path(m)).unwrap();
        assert_eq!(read("11100"), "$postgres$a*1*2\n$postgres$b*1*2\n");
        assert_eq!(read("11400"), "$sip$*x\n");
        assert_eq!(
            h.written,
            BTreeMap::from([("11100".into(), 2), ("11400".into(), 1)])
        );
        assert!(!h.path("vnc").exists());
    }

    #[test]
    fn one_file_per_john_format() {
        let d = tempfile::tempdir().unwrap();
        let mut h = HashFiles::create(d.path(), Cracker::John).unwrap();
        h.add(&cred(Crackable::john("vnc", VNC.into()))).unwrap();
        h.add(&cred(Crackable::john("vnc", VNC.into()))).unwrap();
        h.add(&hc(11100, "$postgres$a*1*2")).unwrap();
        assert_eq!(
            std::fs::read_to_string(h.path("vnc")).unwrap(),
            format!("{VNC}\n")
        );
        assert_eq!(h.written, BTreeMap::from([("vnc".into(), 1)]));
        assert!(!h.path("11100").exists());
    }

    #[test]
    fn an_unusable_directory_is_named() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("file");
        std::fs::write(&f, "").unwrap();
        let e = HashFiles::create(&f.join("sub"), Cracker::Hashcat).unwrap_err();
        assert!(e.to_string().contains("file/sub"), "{e}");
    }
}
