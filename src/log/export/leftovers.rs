//! Temporary files an earlier export left behind when it was killed
//! (`kill -9`, a power cut): hidden `.part-NNNNN.parquet.PID.tmp` and
//! `.tplog-probe.PID.tmp` names that no engine reads, but that take disk
//! space. An export removes those of processes that no longer run before
//! it writes, so an interrupted export costs nothing once it is run again.
//! A file of a process that still runs (another export writing into the
//! same table) is left alone.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Directory levels under a table: `date=…` and an optional `host=`/`vhost=`.
const DEPTH: usize = 2;

/// The writing process of a temporary name this module owns.
fn owner(name: &str) -> Option<u32> {
    let rest = name.strip_suffix(".tmp")?;
    let (stem, pid) = rest.rsplit_once('.')?;
    let ours = (stem.starts_with(".part-") && stem.ends_with(".parquet")) || stem == ".tplog-probe";
    if !ours || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this id runs (or exists, as a zombie or as
/// another user's process).
fn alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes the leftovers under `dir` (its partition directories included);
/// returns the paths removed. A directory that cannot be read is skipped:
/// the export's own checks report what it cannot write.
pub fn sweep(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    walk(dir, DEPTH, &mut removed);
    removed
}

fn walk(dir: &Path, depth: usize, removed: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if kind.is_dir() && depth > 0 && name.contains('=') {
            walk(&e.path(), depth - 1, removed);
        } else if kind.is_file() {
            if let Some(pid) = owner(name) {
                if pid != std::process::id() && !alive(pid) && fs::remove_file(e.path()).is_ok() {
                    removed.push(e.path());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_temporary_names_are_recognised() {
        assert_eq!(owner(".part-00003.parquet.4242.tmp"), Some(4242));
        assert_eq!(owner(".tplog-probe.17.tmp"), Some(17));
        for other in [
            "part-00003.parquet",
            ".part-00003.parquet.tmp",
            ".part-00003.parquet.12a.tmp",
            "part-00003.parquet.12.tmp",
            ".other.12.tmp",
            ".part-1.csv.12.tmp",
        ] {
            assert_eq!(owner(other), None, "{other}");
        }
    }

    #[test]
    fn leftovers_of_dead_processes_go_the_rest_stays() {
        let t = tempfile::tempdir().unwrap();
        let part = t.path().join("date=2014-02-08/vhost=a");
        fs::create_dir_all(&part).unwrap();
        // A pid far above any pid_max, so no such process.
        let dead = part.join(".part-00000.parquet.2147483600.tmp");
        let mine = part.join(format!(".part-00001.parquet.{}.tmp", std::process::id()));
        let final_name = part.join("part-00000.parquet");
        let stranger = t.path().join("notes.2147483600.tmp");
        for f in [&dead, &mine, &final_name, &stranger] {
            fs::write(f, b"x").unwrap();
        }
        let removed = sweep(t.path());
        assert_eq!(removed, vec![dead.clone()]);
        assert!(!dead.exists() && mine.exists() && final_name.exists() && stranger.exists());
        // The parent process runs: its files stay.
        let parent = t.path().join(format!(
            ".tplog-probe.{}.tmp",
            std::os::unix::process::parent_id()
        ));
        fs::write(&parent, b"x").unwrap();
        assert!(sweep(t.path()).is_empty() && parent.exists());
    }
}
