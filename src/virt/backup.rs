//! `backup NAME DEST`: the hot backup the lab could only describe. Suspend
//! the guest, copy its disks (through libvirt storage when DEST is a pool's
//! directory, else file by file) or take an external disk-only snapshot,
//! resume, and report how long the guest was frozen.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use virt::domain::DomainState;
use virt::enumutil::Enum;
use virt::sys;

use super::connect::{Result, Session, VirtError};
use super::disk;
use super::xml::{escape, parse_domain};

/// How the disks are captured while the guest is frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// Copy each disk to DEST while suspended: the copy is the backup.
    #[default]
    Copy,
    /// External disk-only snapshot with the new overlays in DEST: the
    /// original disk files stop changing and are the backup; the guest
    /// goes on writing to the overlays.
    External,
}

/// One disk saved.
#[derive(Debug, Clone, Serialize)]
pub struct SavedDisk {
    pub target: String,
    pub source: String,
    /// The copy (Copy) or the new overlay the guest now writes to (External).
    pub written: String,
    /// The file that holds the point-in-time data.
    pub backup: String,
}

/// What `backup` did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub domain: String,
    pub method: String,
    /// Milliseconds between suspend and resume (0 when it was not running).
    pub frozen_ms: f64,
    pub was_running: bool,
    pub disks: Vec<SavedDisk>,
}

fn stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Backs up every disk of `name` into directory `dest`.
pub fn backup(s: &Session, name: &str, dest: &Path, method: Method) -> Result<BackupReport> {
    let d = s.domain(name)?;
    let xml = d
        .xml_desc(0)
        .map_err(|e| s.err("reading the domain XML", e))?;
    let px = parse_domain(&xml)
        .map_err(|e| VirtError::Invalid(format!("libvirt returned XML tpvirt cannot read: {e}")))?;
    let disks: Vec<_> = px
        .disks
        .iter()
        .filter(|x| x.device == "disk" && x.source.is_some())
        .cloned()
        .collect();
    if disks.is_empty() {
        return Err(VirtError::Invalid(format!(
            "domain {name:?} has no disk with a source to back up"
        )));
    }
    let dest_s = dest.display().to_string();
    let dest_s = dest_s.trim_end_matches('/').to_string();
    let pool = pool_by_dir(s, &dest_s);
    if pool.is_none() && !dest.is_dir() {
        return Err(VirtError::Invalid(format!(
            "{dest_s} is neither a directory here nor the directory of a libvirt storage pool"
        )));
    }
    let ts = stamp();
    // Plan the names first; refuse to overwrite anything.
    let mut plan = Vec::new();
    for dk in &disks {
        let src = dk.source.clone().unwrap_or_default();
        let ext = Path::new(&src)
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let file = match method {
            Method::Copy => format!("{name}-{}-{ts}{ext}", dk.target),
            Method::External => format!("{name}-{}-overlay-{ts}.qcow2", dk.target),
        };
        let target = PathBuf::from(&dest_s).join(&file);
        let taken = match &pool {
            Some(p) => p.lookup_storage_vol_by_name(&file).is_ok(),
            None => target.exists(),
        };
        if taken {
            return Err(VirtError::Disk(disk::DiskError::Exists { path: target }));
        }
        plan.push((dk.clone(), src, file, target));
    }

    let (st, _) = d.state().map_err(|e| s.err("reading the state", e))?;
    let running = matches!(
        st,
        Enum::Known(DomainState::Running) | Enum::Known(DomainState::Blocked)
    );
    let t0 = Instant::now();
    if running {
        d.suspend()
            .map_err(|e| s.err(&format!("suspending {name}"), e))?;
    }
    let work = (|| -> Result<Vec<SavedDisk>> {
        let mut out = Vec::new();
        match method {
            Method::Copy => {
                for (dk, src, file, target) in &plan {
                    match (&pool, s.conn.lookup_storage_vol_by_path(src)) {
                        (Some(p), Ok(v)) => {
                            let fmt = dk.format.clone().unwrap_or_else(|| "raw".into());
                            let x = format!("<volume><name>{}</name><capacity unit='bytes'>0</capacity><target><format type='{}'/></target></volume>", escape(file), escape(&fmt));
                            virt::storage_vol::StorageVol::create_xml_from(p, &x, &v, 0)
                                .map_err(|e| s.err(&format!("copying {src}"), e))?;
                        }
                        _ => {
                            if !Path::new(src).is_file() {
                                return Err(VirtError::Invalid(format!("disk {} ({src}) is not a file here and DEST is not its pool's directory: give the directory of a libvirt pool as DEST", dk.target)));
                            }
                            let mut o = std::fs::OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .open(target)
                                .map_err(|source| VirtError::Io {
                                    path: target.clone(),
                                    source,
                                })?;
                            let mut i =
                                std::fs::File::open(src).map_err(|source| VirtError::Io {
                                    path: src.into(),
                                    source,
                                })?;
                            std::io::copy(&mut i, &mut o).map_err(|source| VirtError::Io {
                                path: target.clone(),
                                source,
                            })?;
                        }
                    }
                    let t = target.display().to_string();
                    out.push(SavedDisk {
                        target: dk.target.clone(),
                        source: src.clone(),
                        written: t.clone(),
                        backup: t,
                    });
                }
            }
            Method::External => {
                let mut x = format!("<domainsnapshot><name>tpvirt-backup-{ts}</name><disks>");
                for (dk, _, _, target) in &plan {
                    x.push_str(&format!(
                        "<disk name='{}' snapshot='external'><driver type='qcow2'/><source file='{}'/></disk>",
                        escape(&dk.target),
                        escape(&target.display().to_string())
                    ));
                }
                x.push_str("</disks></domainsnapshot>");
                let flags = sys::VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                    | sys::VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
                    | sys::VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA;
                d.create_snapshot_xml(&x, flags).map_err(|e| {
                    if e.message().contains("unsupported flags") || super::connect::is_code(&e, virt::error::ErrorNumber::NoSupport) {
                        s.unsupported("external disk-only snapshot", e.message(), "use --method copy here, or a qemu:///system domain whose disks are files")
                    } else {
                        s.err("taking the external snapshot", e)
                    }
                })?;
                for (dk, src, _, target) in &plan {
                    out.push(SavedDisk {
                        target: dk.target.clone(),
                        source: src.clone(),
                        written: target.display().to_string(),
                        backup: src.clone(),
                    });
                }
            }
        }
        Ok(out)
    })();
    // Resume whatever happened: a frozen guest is worse than a failed backup.
    let resumed = if running {
        d.resume().map_err(|e| {
            s.err(
                &format!("resuming {name} (it is still paused: `tpvirt resume {name}`)"),
                e,
            )
        })
    } else {
        Ok(())
    };
    let frozen_ms = if running {
        t0.elapsed().as_secs_f64() * 1000.0
    } else {
        0.0
    };
    let disks = work?;
    resumed?;
    Ok(BackupReport {
        domain: name.into(),
        method: match method {
            Method::Copy => "copy",
            Method::External => "external-snapshot",
        }
        .into(),
        frozen_ms,
        was_running: running,
        disks,
    })
}

/// The storage pool whose target directory is `dir`.
pub fn pool_by_dir(s: &Session, dir: &str) -> Option<virt::storage_pool::StoragePool> {
    if let Ok(p) = s.conn.lookup_storage_pool_by_target_path(dir) {
        return Some(p);
    }
    // Not every driver implements the lookup (the test driver does not).
    s.conn
        .list_all_storage_pools(0)
        .ok()?
        .into_iter()
        .find(|p| {
            p.xml_desc(0).ok().is_some_and(|x| {
                roxmltree::Document::parse(&x).ok().is_some_and(|doc| {
                    doc.descendants()
                        .find(|n| n.has_tag_name("target"))
                        .and_then(|t| t.children().find(|c| c.has_tag_name("path")))
                        .and_then(|n| n.text())
                        .is_some_and(|t| t.trim().trim_end_matches('/') == dir)
                })
            })
        })
}
