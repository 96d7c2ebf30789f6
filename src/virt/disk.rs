//! qcow2 images read and written by hand from the qcow2 specification
//! (QEMU's docs/interop/qcow2.txt): format, virtual and actual size, the
//! backing chain, and creating an overlay with a backing file and backing
//! format (what `qemu-img create -f qcow2 -b BASE -F FMT NEW` does).
//! No libvirt, no shelling out; [`parse_header`] is a pure function of
//! bytes so it can be fuzzed.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

/// `QFI\xfb`.
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
const EXT_END: u32 = 0;
const EXT_BACKING_FORMAT: u32 = 0xE279_2ACA;
const EXT_DATA_FILE: u32 = 0x4441_5441;
/// Longest backing file name the format allows.
pub const MAX_BACKING_NAME: usize = 1023;
/// Deepest backing chain followed before giving up.
pub const MAX_CHAIN: usize = 64;
/// Cluster size of the overlays written here (QEMU's default).
pub const OVERLAY_CLUSTER_BITS: u32 = 16;

#[derive(Debug, Error)]
pub enum DiskError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid qcow2 image: {what}", .path.display())]
    Corrupt { path: PathBuf, what: String },
    #[error("qcow2 header: {0}")]
    Header(String),
    #[error("{}: its backing file {backing:?} is missing (looked at {}); qemu resolves a relative backing name from the overlay's directory, so give an absolute path or move the files together", .path.display(), .resolved.display())]
    BackingMissing {
        path: PathBuf,
        backing: String,
        resolved: PathBuf,
    },
    #[error("{}: already exists; tpvirt never overwrites a disk, remove it or pick another name", .path.display())]
    Exists { path: PathBuf },
    #[error("{}: the backing chain loops back to {}", .path.display(), .again.display())]
    Loop { path: PathBuf, again: PathBuf },
    #[error("{}: backing chain deeper than {MAX_CHAIN} images", .path.display())]
    TooDeep { path: PathBuf },
    #[error("backing file name {0:?} is longer than the {MAX_BACKING_NAME} bytes qcow2 allows")]
    NameTooLong(String),
    #[error("unsupported backing format {0:?}: tpvirt writes overlays on qcow2 or raw images")]
    Format(String),
}

/// The qcow2 header fields tpvirt uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Qcow2Header {
    pub version: u32,
    pub cluster_bits: u32,
    pub virtual_size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub nb_snapshots: u32,
    pub incompatible_features: u64,
    pub compatible_features: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    /// The backing file name exactly as stored (may be relative).
    pub backing_file: Option<String>,
    /// From the backing-format header extension.
    pub backing_format: Option<String>,
    /// From the external data file extension.
    pub data_file: Option<String>,
}

fn be32(b: &[u8], at: usize) -> Result<u32, DiskError> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes(s.try_into().expect("4 bytes")))
        .ok_or_else(|| DiskError::Header(format!("truncated at byte {at}")))
}

fn be64(b: &[u8], at: usize) -> Result<u64, DiskError> {
    b.get(at..at + 8)
        .map(|s| u64::from_be_bytes(s.try_into().expect("8 bytes")))
        .ok_or_else(|| DiskError::Header(format!("truncated at byte {at}")))
}

/// True when `bytes` start with the qcow2 magic.
pub fn is_qcow2(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

/// Parses a qcow2 header, its extensions and backing file name from the
/// start of an image (the first cluster is enough). Never panics.
pub fn parse_header(b: &[u8]) -> Result<Qcow2Header, DiskError> {
    if !is_qcow2(b) {
        return Err(DiskError::Header("no QFI\\xfb magic".into()));
    }
    let version = be32(b, 4)?;
    if version != 2 && version != 3 {
        return Err(DiskError::Header(format!(
            "version {version}, expected 2 or 3"
        )));
    }
    let backing_offset = be64(b, 8)?;
    let backing_size = be32(b, 16)?;
    let cluster_bits = be32(b, 20)?;
    if !(9..=21).contains(&cluster_bits) {
        return Err(DiskError::Header(format!(
            "cluster_bits {cluster_bits} outside 9..=21"
        )));
    }
    let mut h = Qcow2Header {
        version,
        cluster_bits,
        virtual_size: be64(b, 24)?,
        crypt_method: be32(b, 32)?,
        l1_size: be32(b, 36)?,
        nb_snapshots: be32(b, 60)?,
        incompatible_features: 0,
        compatible_features: 0,
        refcount_order: 4,
        header_length: 72,
        backing_file: None,
        backing_format: None,
        data_file: None,
    };
    if version == 3 {
        h.incompatible_features = be64(b, 72)?;
        h.compatible_features = be64(b, 80)?;
        h.refcount_order = be32(b, 96)?;
        h.header_length = be32(b, 100)?;
        if h.header_length < 104 || h.header_length % 8 != 0 && h.header_length != 104 {
            return Err(DiskError::Header(format!(
                "header_length {} is invalid",
                h.header_length
            )));
        }
        if h.refcount_order > 6 {
            return Err(DiskError::Header(format!(
                "refcount_order {} above 6",
                h.refcount_order
            )));
        }
    }
    // Header extensions follow the header, 8-byte aligned, up to type 0.
    let cluster = 1usize << cluster_bits;
    let mut at = h.header_length as usize;
    loop {
        if at >= cluster.min(b.len()) {
            // Running off the data we have without an end marker: tolerated
            // only for version 2 images without extensions.
            break;
        }
        let kind = be32(b, at)?;
        let len = be32(b, at + 4)? as usize;
        if kind == EXT_END {
            break;
        }
        let data = b.get(at + 8..at + 8 + len).ok_or_else(|| {
            DiskError::Header(format!("header extension 0x{kind:08x} runs past the data"))
        })?;
        match kind {
            EXT_BACKING_FORMAT => {
                h.backing_format = Some(String::from_utf8_lossy(data).into_owned())
            }
            EXT_DATA_FILE => h.data_file = Some(String::from_utf8_lossy(data).into_owned()),
            _ => {}
        }
        at = at + 8 + len.div_ceil(8) * 8;
    }
    if backing_offset != 0 && backing_size != 0 {
        if backing_size as usize > MAX_BACKING_NAME {
            return Err(DiskError::Header(format!(
                "backing file name of {backing_size} bytes (max {MAX_BACKING_NAME})"
            )));
        }
        let start = usize::try_from(backing_offset)
            .map_err(|_| DiskError::Header("backing offset too large".into()))?;
        // checked: a crafted offset near u64::MAX overflowed here (found by
        // the qcow2_header fuzz target).
        let end = start.checked_add(backing_size as usize);
        let name = end.and_then(|end| b.get(start..end)).ok_or_else(|| {
            DiskError::Header(format!(
                "backing file name at {start}+{backing_size} runs past the first cluster"
            ))
        })?;
        h.backing_file = Some(String::from_utf8_lossy(name).into_owned());
    }
    Ok(h)
}

/// One image of a chain, named like `qemu-img info --output=json`'s fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ImageInfo {
    pub filename: String,
    /// `qcow2` or `raw`.
    pub format: String,
    pub virtual_size: u64,
    /// Bytes allocated on the host file system.
    pub actual_size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_size: Option<u64>,
    /// `0.10` (version 2) or `1.1` (version 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compat: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_backing_filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backing_filename_format: Option<String>,
    pub encrypted: bool,
    pub snapshots: u32,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DiskError + '_ {
    move |source| DiskError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads the first cluster of `path` (enough for header, extensions and
/// backing name), or the whole file when smaller.
fn read_head(path: &Path) -> Result<(Vec<u8>, std::fs::Metadata), DiskError> {
    let mut f = File::open(path).map_err(io(path))?;
    let meta = f.metadata().map_err(io(path))?;
    let mut buf = vec![0u8; 4096.min(meta.len() as usize)];
    f.read_exact(&mut buf).map_err(io(path))?;
    if is_qcow2(&buf) && buf.len() >= 24 {
        let bits = u32::from_be_bytes(buf[20..24].try_into().expect("4 bytes")).clamp(9, 21);
        let want = (1usize << bits).min(meta.len() as usize);
        if want > buf.len() {
            f.seek(SeekFrom::Start(0)).map_err(io(path))?;
            buf.resize(want, 0);
            f.read_exact(&mut buf).map_err(io(path))?;
        }
    }
    Ok((buf, meta))
}

/// Where a backing name points: relative names are relative to the
/// directory of the image that names them (as QEMU does).
pub fn resolve_backing(image: &Path, backing: &str) -> PathBuf {
    let b = Path::new(backing);
    if b.is_absolute() {
        b.to_path_buf()
    } else {
        image.parent().unwrap_or(Path::new(".")).join(b)
    }
}

/// Format and sizes of one image, without following its backing file.
pub fn image_info(path: &Path) -> Result<ImageInfo, DiskError> {
    let (head, meta) = read_head(path)?;
    let actual_size = meta.blocks() * 512;
    if !is_qcow2(&head) {
        return Ok(ImageInfo {
            filename: path.display().to_string(),
            format: "raw".into(),
            virtual_size: meta.len(),
            actual_size,
            cluster_size: None,
            compat: None,
            backing_filename: None,
            full_backing_filename: None,
            backing_filename_format: None,
            encrypted: false,
            snapshots: 0,
        });
    }
    let h = parse_header(&head).map_err(|e| DiskError::Corrupt {
        path: path.to_path_buf(),
        what: e.to_string(),
    })?;
    let full = h
        .backing_file
        .as_deref()
        .map(|b| resolve_backing(path, b).display().to_string());
    Ok(ImageInfo {
        filename: path.display().to_string(),
        format: "qcow2".into(),
        virtual_size: h.virtual_size,
        actual_size,
        cluster_size: Some(1u64 << h.cluster_bits),
        compat: Some(if h.version == 2 { "0.10" } else { "1.1" }.into()),
        backing_filename: h.backing_file.clone(),
        full_backing_filename: full,
        backing_filename_format: h.backing_format.clone(),
        encrypted: h.crypt_method != 0,
        snapshots: h.nb_snapshots,
    })
}

/// The image and every backing file below it, top first (like
/// `qemu-img info --backing-chain`). A missing backing file, a loop or a
/// chain deeper than [`MAX_CHAIN`] is an error.
pub fn backing_chain(path: &Path) -> Result<Vec<ImageInfo>, DiskError> {
    let mut chain: Vec<ImageInfo> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    let mut cur = path.to_path_buf();
    loop {
        let canon = cur.canonicalize().map_err(io(&cur))?;
        if seen.contains(&canon) {
            return Err(DiskError::Loop {
                path: path.to_path_buf(),
                again: cur,
            });
        }
        seen.push(canon);
        if chain.len() >= MAX_CHAIN {
            return Err(DiskError::TooDeep {
                path: path.to_path_buf(),
            });
        }
        let info = image_info(&cur)?;
        let next = info.backing_filename.clone();
        let top = cur.clone();
        chain.push(info);
        let Some(b) = next else { break };
        let resolved = resolve_backing(&top, &b);
        if !resolved.exists() {
            return Err(DiskError::BackingMissing {
                path: top,
                backing: b,
                resolved,
            });
        }
        cur = resolved;
    }
    Ok(chain)
}

/// The bytes of a new empty qcow2 v3 image of `virtual_size` bytes backed
/// by `backing` (stored as given) of format `backing_format`.
///
/// Layout, one 64 KiB cluster each: header + extensions + backing name,
/// refcount table, refcount block, then the L1 table.
pub fn overlay_bytes(
    virtual_size: u64,
    backing: &str,
    backing_format: &str,
) -> Result<Vec<u8>, DiskError> {
    if backing.len() > MAX_BACKING_NAME {
        return Err(DiskError::NameTooLong(backing.into()));
    }
    let cluster: u64 = 1 << OVERLAY_CLUSTER_BITS;
    // One L2 table maps cluster/8 clusters.
    let l2_covers = (cluster / 8) * cluster;
    let l1_size = virtual_size.div_ceil(l2_covers);
    let l1_size32 =
        u32::try_from(l1_size).map_err(|_| DiskError::Header("virtual size too large".into()))?;
    let l1_clusters = (l1_size * 8).div_ceil(cluster).max(1);
    let total_clusters = 3 + l1_clusters;
    if total_clusters > cluster / 2 {
        return Err(DiskError::Header(
            "virtual size too large for one refcount block".into(),
        ));
    }
    let mut out = vec![0u8; (total_clusters * cluster) as usize];
    let put32 =
        |o: &mut Vec<u8>, at: usize, v: u32| o[at..at + 4].copy_from_slice(&v.to_be_bytes());
    let put64 =
        |o: &mut Vec<u8>, at: usize, v: u64| o[at..at + 8].copy_from_slice(&v.to_be_bytes());

    let header_length: u32 = 112;
    // Extensions: backing format, then end marker.
    let mut at = header_length as usize;
    put32(&mut out, at, EXT_BACKING_FORMAT);
    put32(&mut out, at + 4, backing_format.len() as u32);
    out[at + 8..at + 8 + backing_format.len()].copy_from_slice(backing_format.as_bytes());
    at += 8 + backing_format.len().div_ceil(8) * 8;
    put32(&mut out, at, EXT_END);
    put32(&mut out, at + 4, 0);
    at += 8;
    let backing_offset = at;
    if backing_offset + backing.len() > cluster as usize {
        return Err(DiskError::NameTooLong(backing.into()));
    }
    out[at..at + backing.len()].copy_from_slice(backing.as_bytes());

    out[0..4].copy_from_slice(&MAGIC);
    put32(&mut out, 4, 3);
    put64(&mut out, 8, backing_offset as u64);
    put32(&mut out, 16, backing.len() as u32);
    put32(&mut out, 20, OVERLAY_CLUSTER_BITS);
    put64(&mut out, 24, virtual_size);
    put32(&mut out, 32, 0); // no encryption
    put32(&mut out, 36, l1_size32);
    put64(&mut out, 40, 3 * cluster); // L1 table
    put64(&mut out, 48, cluster); // refcount table
    put32(&mut out, 56, 1); // refcount table clusters
    put32(&mut out, 60, 0); // snapshots
    put64(&mut out, 64, 0);
    put64(&mut out, 72, 0); // incompatible features
    put64(&mut out, 80, 0); // compatible features
    put64(&mut out, 88, 0); // autoclear features
    put32(&mut out, 96, 4); // 16-bit refcounts
    put32(&mut out, 100, header_length);
    out[104] = 0; // compression type zlib; 105..112 padding

    // Refcount table: one block, at cluster 2.
    put64(&mut out, cluster as usize, 2 * cluster);
    // Refcount block: every cluster of the file is used once.
    for i in 0..total_clusters as usize {
        let p = 2 * cluster as usize + i * 2;
        out[p..p + 2].copy_from_slice(&1u16.to_be_bytes());
    }
    Ok(out)
}

/// Creates `new` as a qcow2 overlay on `base` (`backing` stored exactly as
/// given, resolved like QEMU from `new`'s directory). The backing format is
/// read from the base unless given. Refuses to overwrite `new`.
pub fn create_overlay(
    base: &str,
    new: &Path,
    backing_format: Option<&str>,
) -> Result<ImageInfo, DiskError> {
    let resolved = resolve_backing(new, base);
    if !resolved.exists() {
        return Err(DiskError::BackingMissing {
            path: new.to_path_buf(),
            backing: base.into(),
            resolved,
        });
    }
    let base_info = image_info(&resolved)?;
    let fmt = backing_format.unwrap_or(&base_info.format);
    if fmt != "qcow2" && fmt != "raw" {
        return Err(DiskError::Format(fmt.into()));
    }
    let bytes = overlay_bytes(base_info.virtual_size, base, fmt)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(new)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                DiskError::Exists {
                    path: new.to_path_buf(),
                }
            } else {
                DiskError::Io {
                    path: new.to_path_buf(),
                    source: e,
                }
            }
        })?;
    f.write_all(&bytes)
        .and_then(|_| f.sync_all())
        .map_err(io(new))?;
    drop(f);
    image_info(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_header_reads_back() {
        let b = overlay_bytes(10 << 30, "/pool/base.qcow2", "qcow2").unwrap();
        let h = parse_header(&b).unwrap();
        assert_eq!(h.version, 3);
        assert_eq!(h.virtual_size, 10 << 30);
        assert_eq!(h.cluster_bits, 16);
        assert_eq!(h.l1_size, 20);
        assert_eq!(h.backing_file.as_deref(), Some("/pool/base.qcow2"));
        assert_eq!(h.backing_format.as_deref(), Some("qcow2"));
        assert_eq!(b.len(), 4 << 16);
    }

    #[test]
    fn junk_is_refused_not_panicked_on() {
        assert!(parse_header(b"").is_err());
        assert!(parse_header(b"QFI\xfb").is_err());
        let mut b = overlay_bytes(1 << 20, "b", "raw").unwrap();
        b[20..24].copy_from_slice(&40u32.to_be_bytes());
        assert!(parse_header(&b).is_err());
        let mut b = overlay_bytes(1 << 20, "b", "raw").unwrap();
        b[16..20].copy_from_slice(&5000u32.to_be_bytes());
        assert!(parse_header(&b).is_err());
        let b = overlay_bytes(1 << 20, "b", "raw").unwrap();
        for cut in [30, 100, 120, 130] {
            let _ = parse_header(&b[..cut]);
        }
    }

    #[test]
    fn name_too_long_is_refused() {
        assert!(matches!(
            overlay_bytes(1, &"x".repeat(1024), "raw"),
            Err(DiskError::NameTooLong(_))
        ));
    }

    #[test]
    fn relative_backing_is_resolved_from_the_overlay_dir() {
        assert_eq!(
            resolve_backing(Path::new("/a/b/top.qcow2"), "base.qcow2"),
            PathBuf::from("/a/b/base.qcow2")
        );
        assert_eq!(
            resolve_backing(Path::new("/a/b/top.qcow2"), "/x/base"),
            PathBuf::from("/x/base")
        );
    }

    proptest::proptest! {
        #[test]
        fn parse_header_never_panics(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600), version in 2u32..4, bits in 0u32..40) {
            let mut b = MAGIC.to_vec();
            b.extend_from_slice(&version.to_be_bytes());
            b.extend_from_slice(&tail);
            if b.len() >= 24 {
                b[20..24].copy_from_slice(&bits.to_be_bytes());
            }
            let _ = parse_header(&b);
        }

        #[test]
        fn overlays_read_back(size in 0u64..(1 << 42), name in "[a-z/._-]{1,200}") {
            let b = overlay_bytes(size, &name, "qcow2").unwrap();
            let h = parse_header(&b).unwrap();
            proptest::prop_assert_eq!(h.virtual_size, size);
            proptest::prop_assert_eq!(h.backing_file.as_deref(), Some(name.as_str()));
        }
    }
}
