//! `clone`: virt-clone's job. New name, UUID and MACs; disks copied
//! through libvirt storage (or, with `linked`, a qcow2 overlay on the
//! original's disk). Refuses a running original and never overwrites a disk.

use std::path::{Path, PathBuf};

use serde::Serialize;
use virt::domain::DomainState;
use virt::enumutil::Enum;
use virt::sys;

use super::connect::{Result, Session, VirtError};
use super::disk;
use super::xml::{clone_xml, escape, parse_domain, CloneEdit};

/// What to clone and how.
#[derive(Debug, Clone, Default)]
pub struct CloneOptions {
    pub original: String,
    /// New name; None with `auto` picks `ORIGINAL-clone` (then -clone1, ...).
    pub name: Option<String>,
    /// MAC for the first NIC; the others get generated ones.
    pub mac: Option<String>,
    pub auto: bool,
    /// qcow2 overlays on the original disks instead of copies.
    pub linked: bool,
}

/// One disk of the clone.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClonedDisk {
    pub target: String,
    pub from: String,
    pub to: String,
    /// `copy` (libvirt storage), `file-copy`, `overlay` (libvirt storage) or `file-overlay`.
    pub how: String,
}

/// The clone made.
#[derive(Debug, Clone, Serialize)]
pub struct Cloned {
    pub name: String,
    pub uuid: String,
    pub macs: Vec<String>,
    pub disks: Vec<ClonedDisk>,
}

/// A MAC in QEMU's locally administered range 52:54:00:xx:xx:xx.
pub fn random_mac() -> String {
    let mut b = [0u8; 3];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        b = [(t >> 16) as u8, (t >> 8) as u8, t as u8];
    }
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Checks `aa:bb:cc:dd:ee:ff`, unicast.
pub fn check_mac(mac: &str) -> Result<String> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && u8::from_str_radix(p, 16).is_ok());
    if !ok {
        return Err(VirtError::Invalid(format!(
            "{mac:?} is not a MAC address: give six hex pairs like 52:54:00:12:34:56"
        )));
    }
    let first = u8::from_str_radix(parts[0], 16).unwrap_or(0);
    if first & 1 == 1 {
        return Err(VirtError::Invalid(format!("{mac} is a multicast address; a NIC needs a unicast one (first byte even, e.g. 52:54:00:...)")));
    }
    Ok(mac.to_ascii_lowercase())
}

fn new_disk_name(
    orig_file: &str,
    orig_dom: &str,
    new_dom: &str,
    target: &str,
    first: bool,
) -> String {
    let base = Path::new(orig_file)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !orig_dom.is_empty() && base.contains(orig_dom) {
        return base.replacen(orig_dom, new_dom, 1);
    }
    let ext = Path::new(&base)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    if first {
        format!("{new_dom}{ext}")
    } else {
        format!("{new_dom}-{target}{ext}")
    }
}

/// Clones a shut-off domain.
pub fn clone(s: &Session, o: &CloneOptions) -> Result<Cloned> {
    let d = s.domain(&o.original)?;
    let (st, _) = d.state().map_err(|e| s.err("reading the state", e))?;
    if !matches!(st, Enum::Known(DomainState::Shutoff)) {
        return Err(VirtError::WrongState {
            name: o.original.clone(),
            state: super::domain::state_name(&st).into(),
            op: "clone it".into(),
            hint: format!(
                "its disks would be copied while in use; `tpvirt shutdown {} --wait 60` first",
                o.original
            ),
        });
    }
    let known = s.domain_names();
    let name = match (&o.name, o.auto) {
        (Some(n), _) => n.clone(),
        (None, true) => {
            let mut n = format!("{}-clone", o.original);
            let mut i = 1;
            while known.contains(&n) {
                n = format!("{}-clone{i}", o.original);
                i += 1;
            }
            n
        }
        (None, false) => {
            return Err(VirtError::Invalid(
                "give the clone a name with --name NAME, or --auto-clone to pick one".into(),
            ))
        }
    };
    if known.contains(&name) {
        return Err(VirtError::DomainExists {
            name,
            uri: s.uri.clone(),
        });
    }
    let xml = d
        .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE | sys::VIR_DOMAIN_XML_SECURE)
        .map_err(|e| s.err("reading the domain XML", e))?;
    let px = parse_domain(&xml)
        .map_err(|e| VirtError::Invalid(format!("libvirt returned XML tpvirt cannot read: {e}")))?;

    let mut macs = Vec::new();
    for (i, _) in px.nics.iter().enumerate() {
        macs.push(match (&o.mac, i) {
            (Some(m), 0) => check_mac(m)?,
            _ => {
                let mut m = random_mac();
                while px.nics.iter().any(|n| n.mac.as_deref() == Some(m.as_str()))
                    || macs.contains(&m)
                {
                    m = random_mac();
                }
                m
            }
        });
    }
    if let (Some(m), Some(orig)) = (&o.mac, px.nics.first().and_then(|n| n.mac.as_ref())) {
        if m.eq_ignore_ascii_case(orig) {
            return Err(VirtError::Invalid(format!(
                "{m} is the original's MAC; two guests on one network need different ones"
            )));
        }
    }

    // Plan every disk before creating anything, so a refusal leaves nothing behind.
    struct Plan {
        target: String,
        from: String,
        to: String,
        format: String,
        vol: Option<virt::storage_vol::StorageVol>,
    }
    let mut plans = Vec::new();
    let mut first = true;
    for dk in px.disks.iter().filter(|x| x.device == "disk") {
        let vol = super::domain::storage_vol(s, dk);
        let from = match (&vol, &dk.source) {
            (Some(v), _) => v.path().unwrap_or_default(),
            (None, Some(p)) => p.clone(),
            (None, None) => continue,
        };
        let newname = new_disk_name(&from, &o.original, &name, &dk.target, first);
        first = false;
        let to = Path::new(&from)
            .with_file_name(&newname)
            .display()
            .to_string();
        let format = if o.linked {
            "qcow2".to_string()
        } else {
            dk.format.clone().unwrap_or_else(|| "raw".into())
        };
        match &vol {
            Some(v) => {
                let pool = v
                    .lookup_storage_pool()
                    .map_err(|e| s.err("finding the disk's pool", e))?;
                if pool.lookup_storage_vol_by_name(&newname).is_ok() {
                    return Err(VirtError::Invalid(format!("{to} already exists in pool {}; tpvirt never overwrites a disk: remove it or choose another --name", pool.name().unwrap_or_default())));
                }
            }
            None => {
                if !Path::new(&from).is_file() {
                    return Err(VirtError::Invalid(format!(
                        "disk {} ({from}) is neither a volume of a libvirt storage pool nor a file here; define a pool over its directory so libvirt can copy it",
                        dk.target
                    )));
                }
                if Path::new(&to).exists() {
                    return Err(VirtError::Disk(disk::DiskError::Exists {
                        path: PathBuf::from(&to),
                    }));
                }
            }
        }
        plans.push(Plan {
            target: dk.target.clone(),
            from,
            to,
            format,
            vol,
        });
    }

    let mut made = Vec::new();
    let mut created_vols = Vec::new();
    let mut created_files = Vec::new();
    let result = (|| -> Result<()> {
        for p in &plans {
            let how = match &p.vol {
                Some(v) => {
                    let pool = v
                        .lookup_storage_pool()
                        .map_err(|e| s.err("finding the disk's pool", e))?;
                    let newname = Path::new(&p.to)
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into_owned();
                    let vx = v.xml_desc(0).map_err(|e| s.err("reading the volume", e))?;
                    let cap = capacity_bytes(&vx).unwrap_or(0);
                    let nv = if o.linked {
                        let backing_fmt = super::domain::volume_chain(&vx, &p.from)
                            .map(|c| c[0].format.clone())
                            .unwrap_or_else(|| "raw".into());
                        let x = format!(
                            "<volume><name>{}</name><capacity unit='bytes'>{cap}</capacity><target><format type='qcow2'/></target>\
                             <backingStore><path>{}</path><format type='{}'/></backingStore></volume>",
                            escape(&newname), escape(&p.from), escape(&backing_fmt)
                        );
                        virt::storage_vol::StorageVol::create_xml(&pool, &x, 0)
                            .map_err(|e| s.err(&format!("creating overlay {}", p.to), e))?
                    } else {
                        let x = format!(
                            "<volume><name>{}</name><capacity unit='bytes'>{cap}</capacity><target><format type='{}'/></target></volume>",
                            escape(&newname), escape(&p.format)
                        );
                        virt::storage_vol::StorageVol::create_xml_from(&pool, &x, v, 0)
                            .map_err(|e| s.err(&format!("copying {} to {}", p.from, p.to), e))?
                    };
                    created_vols.push(nv);
                    if o.linked {
                        "overlay"
                    } else {
                        "copy"
                    }
                }
                None => {
                    if o.linked {
                        let abs =
                            std::fs::canonicalize(&p.from).map_err(|source| VirtError::Io {
                                path: p.from.clone().into(),
                                source,
                            })?;
                        disk::create_overlay(&abs.display().to_string(), Path::new(&p.to), None)?;
                        created_files.push(PathBuf::from(&p.to));
                        "file-overlay"
                    } else {
                        copy_new(Path::new(&p.from), Path::new(&p.to))?;
                        created_files.push(PathBuf::from(&p.to));
                        "file-copy"
                    }
                }
            };
            made.push(ClonedDisk {
                target: p.target.clone(),
                from: p.from.clone(),
                to: p.to.clone(),
                how: how.into(),
            });
        }
        Ok(())
    })();
    let cleanup = |vols: Vec<virt::storage_vol::StorageVol>, files: &[PathBuf]| {
        for v in vols {
            let _ = v.delete(0);
        }
        for f in files {
            let _ = std::fs::remove_file(f);
        }
    };
    if let Err(e) = result {
        cleanup(created_vols, &created_files);
        return Err(e);
    }
    let edit = CloneEdit {
        name: name.clone(),
        macs: macs.clone(),
        disks: plans
            .iter()
            .map(|p| (p.target.clone(), p.to.clone(), p.format.clone()))
            .collect(),
    };
    let new_xml = clone_xml(&xml, &edit)
        .map_err(|e| VirtError::Invalid(format!("rewriting the XML: {e}")))?;
    let nd = match s.conn.define_domain_xml(&new_xml) {
        Ok(nd) => nd,
        Err(e) => {
            cleanup(created_vols, &created_files);
            return Err(s.err(&format!("defining clone {name}"), e));
        }
    };
    Ok(Cloned {
        name,
        uuid: nd.uuid_string().unwrap_or_default(),
        macs,
        disks: made,
    })
}

fn capacity_bytes(vol_xml: &str) -> Option<u64> {
    let doc = roxmltree::Document::parse(vol_xml).ok()?;
    let c = doc
        .root_element()
        .children()
        .find(|c| c.has_tag_name("capacity"))?;
    let v: u64 = c.text()?.trim().parse().ok()?;
    Some(v * super::size::unit_bytes(c.attribute("unit").unwrap_or("bytes"), 1)?)
}

/// Copies a file to a path that must not exist yet (sparse-friendly via std::fs::copy).
fn copy_new(from: &Path, to: &Path) -> Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                VirtError::Disk(disk::DiskError::Exists {
                    path: to.to_path_buf(),
                })
            } else {
                VirtError::Io {
                    path: to.to_path_buf(),
                    source: e,
                }
            }
        })?;
    let mut inp = std::fs::File::open(from).map_err(|source| VirtError::Io {
        path: from.to_path_buf(),
        source,
    })?;
    std::io::copy(&mut inp, &mut out).map_err(|source| VirtError::Io {
        path: to.to_path_buf(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_in_qemus_range_and_checked() {
        let m = random_mac();
        assert!(m.starts_with("52:54:00:") && m.len() == 17, "{m}");
        assert!(check_mac("52:54:00:AA:bb:01").is_ok());
        assert!(check_mac("53:54:00:aa:bb:01").is_err());
        assert!(check_mac("52:54:00:aa:bb").is_err());
    }

    #[test]
    fn disk_names_follow_the_domain_name() {
        assert_eq!(
            new_disk_name("/p/db.qcow2", "db", "db2", "vda", true),
            "db2.qcow2"
        );
        assert_eq!(
            new_disk_name("/p/disk.img", "db", "db2", "vda", true),
            "db2.img"
        );
        assert_eq!(
            new_disk_name("/p/data.qcow2", "db", "db2", "vdb", false),
            "db2-vdb.qcow2"
        );
    }
}
