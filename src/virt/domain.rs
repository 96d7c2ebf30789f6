//! Domain lifecycle, resources, display and console, and `info`.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::sys;

use super::connect::{xml_error, Result, Session, VirtError};
use super::disk;
use super::size::human_kib;
use super::xml::{parse_domain, DomainXml};

/// virsh's words for a state.
pub fn state_name(s: &virt::domain::DomainStateEnum) -> &'static str {
    match s {
        Enum::Known(DomainState::NoState) => "no state",
        Enum::Known(DomainState::Running) => "running",
        Enum::Known(DomainState::Blocked) => "idle",
        Enum::Known(DomainState::Paused) => "paused",
        Enum::Known(DomainState::Shutdown) => "in shutdown",
        Enum::Known(DomainState::Shutoff) => "shut off",
        Enum::Known(DomainState::Crashed) => "crashed",
        Enum::Known(DomainState::PMSuspended) => "pmsuspended",
        Enum::Unknown(_) => "unknown",
    }
}

/// One line of `list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DomainRow {
    pub id: Option<u32>,
    pub name: String,
    pub state: String,
    pub persistent: bool,
}

/// Where a change of memory or vCPUs applies, like virsh's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The running domain if it runs, else its configuration.
    #[default]
    Current,
    Live,
    Config,
}

impl Scope {
    fn flags(self) -> u32 {
        match self {
            Scope::Current => sys::VIR_DOMAIN_AFFECT_CURRENT,
            Scope::Live => sys::VIR_DOMAIN_AFFECT_LIVE,
            Scope::Config => sys::VIR_DOMAIN_AFFECT_CONFIG,
        }
    }
}

fn state_of(s: &Session, dom: &Domain, name: &str) -> Result<DomainState> {
    let (st, _) = dom
        .state()
        .map_err(|e| s.err(&format!("reading the state of {name}"), e))?;
    Ok(match st {
        Enum::Known(k) => k,
        Enum::Unknown(_) => DomainState::NoState,
    })
}

fn state_str(st: DomainState) -> String {
    state_name(&Enum::Known(st)).to_string()
}

fn wrong(name: &str, st: DomainState, op: &str, hint: &str) -> VirtError {
    VirtError::WrongState {
        name: name.into(),
        state: state_str(st),
        op: op.into(),
        hint: hint.into(),
    }
}

fn is_active(st: DomainState) -> bool {
    !matches!(
        st,
        DomainState::Shutoff | DomainState::Crashed | DomainState::NoState
    )
}

/// Domains sorted by name; only running ones unless `all`.
pub fn list(s: &Session, all: bool) -> Result<Vec<DomainRow>> {
    let flags = if all {
        0
    } else {
        sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE
    };
    let doms = s
        .conn
        .list_all_domains(flags)
        .map_err(|e| s.err("listing domains", e))?;
    let mut rows = Vec::with_capacity(doms.len());
    for d in doms {
        let name = d.name().map_err(|e| s.err("reading a domain name", e))?;
        let st = state_of(s, &d, &name)?;
        rows.push(DomainRow {
            id: d.id(),
            name,
            state: state_str(st),
            persistent: d.is_persistent().unwrap_or(false),
        });
    }
    rows.sort_by(|a, b| (a.id.is_none(), a.id, &a.name).cmp(&(b.id.is_none(), b.id, &b.name)));
    Ok(rows)
}

fn read_xml(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).map_err(|source| VirtError::Io {
        path: file.to_path_buf(),
        source,
    })
}

fn exists_error(s: &Session, file: &Path, xml: &str, e: &virt::error::Error) -> Option<VirtError> {
    if e.message().contains("already exists") {
        let name = parse_domain(xml)
            .map(|d| d.name)
            .unwrap_or_else(|_| file.display().to_string());
        return Some(VirtError::DomainExists {
            name,
            uri: s.uri.clone(),
        });
    }
    None
}

/// Starts a transient domain from an XML file; returns its name.
pub fn create(s: &Session, file: &Path) -> Result<String> {
    let xml = read_xml(file)?;
    let d = s.conn.create_domain_xml(&xml, 0).map_err(|e| {
        exists_error(s, file, &xml, &e)
            .or_else(|| xml_error(file, &e))
            .unwrap_or_else(|| s.err("creating the domain", e))
    })?;
    d.name()
        .map_err(|e| s.err("reading the new domain's name", e))
}

/// Defines (or redefines) a persistent domain from an XML file; returns its name.
pub fn define(s: &Session, file: &Path) -> Result<String> {
    let xml = read_xml(file)?;
    define_xml(s, &xml, file)
}

pub(crate) fn define_xml(s: &Session, xml: &str, file: &Path) -> Result<String> {
    let d = s.conn.define_domain_xml(xml).map_err(|e| {
        exists_error(s, file, xml, &e)
            .or_else(|| xml_error(file, &e))
            .unwrap_or_else(|| s.err("defining the domain", e))
    })?;
    d.name()
        .map_err(|e| s.err("reading the new domain's name", e))
}

/// What `undefine` removed.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Undefined {
    pub name: String,
    pub snapshots_removed: u32,
    pub volumes_removed: Vec<String>,
    /// Storage that could not be removed (not in a pool), with the reason.
    pub volumes_kept: Vec<String>,
}

/// Removes a domain's configuration, optionally its snapshots' metadata and
/// its disks (through libvirt storage).
pub fn undefine(
    s: &Session,
    name: &str,
    snapshots_metadata: bool,
    remove_storage: bool,
) -> Result<Undefined> {
    let d = s.domain(name)?;
    if !d.is_persistent().unwrap_or(true) {
        let st = state_of(s, &d, name)?;
        return Err(VirtError::WrongState {
            name: name.into(),
            state: format!("{} and transient", state_str(st)),
            op: "undefine".into(),
            hint: format!(
                "a transient domain has no definition; `tpvirt destroy {name}` removes it"
            ),
        });
    }
    let nsnap = d.num_snapshots(0).unwrap_or(0);
    if nsnap > 0 && !snapshots_metadata {
        return Err(VirtError::WrongState {
            name: name.into(),
            state: format!("holding {nsnap} snapshot(s)"),
            op: "undefine".into(),
            hint: "add --snapshots-metadata to drop their metadata too".into(),
        });
    }
    let mut out = Undefined {
        name: name.into(),
        snapshots_removed: if snapshots_metadata { nsnap } else { 0 },
        ..Default::default()
    };
    let mut vols = Vec::new();
    if remove_storage {
        let xml = d
            .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
            .map_err(|e| s.err("reading the domain XML", e))?;
        let px = parse_domain(&xml).map_err(|e| {
            VirtError::Invalid(format!("libvirt returned XML tpvirt cannot read: {e}"))
        })?;
        for disk in px.disks.iter().filter(|d| d.device == "disk") {
            let vol = match (&disk.pool_volume, &disk.source) {
                (Some((p, v)), _) => s
                    .conn
                    .lookup_storage_pool_by_name(p)
                    .and_then(|p| p.lookup_storage_vol_by_name(v))
                    .ok(),
                (None, Some(path)) => s.conn.lookup_storage_vol_by_path(path).ok(),
                _ => None,
            };
            match vol {
                Some(v) => vols.push(v),
                None => out.volumes_kept.push(format!(
                    "{} ({}): not a volume of a libvirt storage pool",
                    disk.target,
                    disk.source.as_deref().unwrap_or("-")
                )),
            }
        }
    }
    let mut flags = sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE;
    if snapshots_metadata {
        flags |= sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    }
    d.undefine_flags(flags)
        .map_err(|e| s.err(&format!("undefining {name}"), e))?;
    for v in vols {
        let path = v.path().unwrap_or_default();
        v.delete(0)
            .map_err(|e| s.err(&format!("removing volume {path}"), e))?;
        out.volumes_removed.push(path);
    }
    Ok(out)
}

/// Boots a defined domain.
pub fn start(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if is_active(st) {
        let hint = if st == DomainState::Paused {
            format!("`tpvirt resume {name}`")
        } else {
            format!("`tpvirt shutdown {name}` or `tpvirt destroy {name}` first")
        };
        return Err(wrong(name, st, "start", &hint));
    }
    d.create()
        .map_err(|e| s.err(&format!("starting {name}"), e))
}

/// Asks the guest to power off (ACPI); with `wait`, waits until it is off.
/// Returns the state reached.
pub fn shutdown(s: &Session, name: &str, wait: Option<Duration>) -> Result<String> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if !is_active(st) {
        return Err(wrong(name, st, "shut down", "it is already off"));
    }
    d.shutdown()
        .map_err(|e| s.err(&format!("shutting {name} down"), e))?;
    let Some(wait) = wait else {
        return Ok(state_str(state_of(s, &d, name).unwrap_or(st)));
    };
    let t0 = Instant::now();
    loop {
        // A transient domain disappears when it stops.
        let st = match d.state() {
            Ok((Enum::Known(k), _)) => k,
            Ok(_) => DomainState::NoState,
            Err(_) => return Ok(state_str(DomainState::Shutoff)),
        };
        if !is_active(st) {
            return Ok(state_str(st));
        }
        if t0.elapsed() >= wait {
            return Err(VirtError::WrongState {
                name: name.into(),
                state: format!("still {} after {} s", state_str(st), wait.as_secs()),
                op: "finish shutting down".into(),
                hint: format!("the guest may ignore ACPI (needs acpid or similar); `tpvirt destroy {name}` forces it off"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Pulls the plug.
pub fn destroy(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if !is_active(st) {
        return Err(wrong(name, st, "destroy", "it is not running"));
    }
    d.destroy()
        .map_err(|e| s.err(&format!("destroying {name}"), e))
}

/// Pauses a running domain.
pub fn suspend(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if st != DomainState::Running && st != DomainState::Blocked {
        let hint = if st == DomainState::Paused {
            "it is already paused".to_string()
        } else {
            format!("`tpvirt start {name}` first")
        };
        return Err(wrong(name, st, "suspend", &hint));
    }
    d.suspend()
        .map_err(|e| s.err(&format!("suspending {name}"), e))
}

/// Resumes a paused domain.
pub fn resume(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if st != DomainState::Paused {
        return Err(wrong(
            name,
            st,
            "resume",
            "only a paused domain can be resumed",
        ));
    }
    d.resume()
        .map_err(|e| s.err(&format!("resuming {name}"), e))
}

/// The domain's XML (`inactive`: its persistent configuration).
pub fn dumpxml(s: &Session, name: &str, inactive: bool) -> Result<String> {
    let d = s.domain(name)?;
    let flags = if inactive {
        sys::VIR_DOMAIN_XML_INACTIVE
    } else {
        0
    };
    d.xml_desc(flags)
        .map_err(|e| s.err(&format!("reading the XML of {name}"), e))
}

fn parsed(xml: &str) -> Result<DomainXml> {
    parse_domain(xml)
        .map_err(|e| VirtError::Invalid(format!("libvirt returned XML tpvirt cannot read: {e}")))
}

/// A disk in `info`.
#[derive(Debug, Clone, Serialize)]
pub struct DiskReport {
    pub target: String,
    pub device: String,
    pub source: Option<String>,
    pub format: Option<String>,
    /// The image and its backing files, top first, when readable here.
    pub chain: Vec<disk::ImageInfo>,
    /// Why the chain is empty, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_note: Option<String>,
}

/// A NIC in `info`.
#[derive(Debug, Clone, Serialize)]
pub struct NicReport {
    pub mac: Option<String>,
    pub kind: String,
    pub source: Option<String>,
    pub model: Option<String>,
    pub addresses: Vec<String>,
}

/// `info`: what the lab looks up with dominfo, domblklist, domiflist, domifaddr.
#[derive(Debug, Clone, Serialize)]
pub struct DomainReport {
    pub name: String,
    pub uuid: String,
    pub id: Option<u32>,
    pub state: String,
    pub persistent: bool,
    pub memory_kib: u64,
    pub max_memory_kib: u64,
    pub vcpus: u32,
    pub max_vcpus: Option<u32>,
    pub disks: Vec<DiskReport>,
    pub nics: Vec<NicReport>,
    pub display: Option<String>,
}

/// Everything `info` shows.
pub fn info(s: &Session, name: &str) -> Result<DomainReport> {
    let d = s.domain(name)?;
    let i = d
        .info()
        .map_err(|e| s.err(&format!("reading info of {name}"), e))?;
    let xml = d
        .xml_desc(0)
        .map_err(|e| s.err(&format!("reading the XML of {name}"), e))?;
    let px = parsed(&xml)?;
    let st = state_of(s, &d, name)?;
    let addrs = if is_active(st) {
        addresses(s, &d)
    } else {
        Vec::new()
    };
    let disks = px
        .disks
        .iter()
        .map(|dk| {
            let (chain, note) = disk_chain(s, dk.source.as_deref());
            DiskReport {
                target: dk.target.clone(),
                device: dk.device.clone(),
                source: dk.source.clone(),
                format: dk.format.clone(),
                chain,
                chain_note: note,
            }
        })
        .collect();
    let nics = px
        .nics
        .iter()
        .map(|n| NicReport {
            mac: n.mac.clone(),
            kind: n.kind.clone(),
            source: n.source.clone(),
            model: n.model.clone(),
            addresses: addrs
                .iter()
                .filter(|(mac, _)| {
                    n.mac
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(mac))
                })
                .map(|(_, a)| a.clone())
                .collect(),
        })
        .collect();
    Ok(DomainReport {
        name: name_of(&d, name),
        uuid: d.uuid_string().unwrap_or_default(),
        id: d.id(),
        state: state_str(st),
        persistent: d.is_persistent().unwrap_or(false),
        memory_kib: i.memory,
        max_memory_kib: i.max_mem,
        vcpus: i.nr_virt_cpu,
        max_vcpus: px.vcpus_max,
        disks,
        nics,
        display: display_uri(&px),
    })
}

fn name_of(d: &Domain, fallback: &str) -> String {
    d.name().unwrap_or_else(|_| fallback.to_string())
}

/// (MAC, address/prefix) from DHCP leases, else libvirt's ARP source,
/// else — for a daemon on this host — this host's ARP table (libvirt 9.0's
/// ARP source fails with "wrong nlmsg len" on current kernels).
fn addresses(s: &Session, d: &Domain) -> Vec<(String, String)> {
    for src in [
        sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_LEASE,
        sys::VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_ARP,
    ] {
        if let Ok(ifs) = d.interface_addresses(src, 0) {
            let v: Vec<(String, String)> = ifs
                .iter()
                .flat_map(|i| {
                    let mac = i.hwaddr.clone().unwrap_or_default();
                    i.addrs.iter().map(move |a| {
                        (
                            mac.clone(),
                            if a.prefix > 0 {
                                format!("{}/{}", a.addr, a.prefix)
                            } else {
                                a.addr.clone()
                            },
                        )
                    })
                })
                .collect();
            if !v.is_empty() {
                return v;
            }
        }
    }
    if is_local_uri(&s.uri) {
        if let Ok(t) = std::fs::read_to_string("/proc/net/arp") {
            return parse_proc_arp(&t);
        }
    }
    Vec::new()
}

/// A URI whose daemon runs on this host (same ARP table as us).
pub fn is_local_uri(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return false;
    };
    (rest.starts_with('/') || rest.starts_with("localhost/"))
        && (!scheme.contains('+') || scheme.ends_with("+unix"))
}

/// (MAC, IP) of complete entries of /proc/net/arp.
pub fn parse_proc_arp(text: &str) -> Vec<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[2] != "0x0" && f[3] != "00:00:00:00:00:00")
                .then(|| (f[3].to_string(), f[0].to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_arp_entries_and_local_uris() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
                 10.88.0.10       0x1         0x2         52:54:00:88:00:0a     *        br0\n\
                 10.88.0.11       0x1         0x0         00:00:00:00:00:00     *        br0\n";
        assert_eq!(
            parse_proc_arp(t),
            [("52:54:00:88:00:0a".to_string(), "10.88.0.10".to_string())]
        );
        assert!(is_local_uri("qemu:///system"));
        assert!(is_local_uri("qemu+unix:///system?socket=/x/sock"));
        assert!(!is_local_uri("qemu+tcp://10.0.0.2/system"));
        assert!(!is_local_uri("qemu+ssh://host/system"));
    }
}

/// The backing chain of a disk: read from the file when it is here, else
/// from libvirt's storage volume description.
fn disk_chain(s: &Session, source: Option<&str>) -> (Vec<disk::ImageInfo>, Option<String>) {
    let Some(src) = source else {
        return (Vec::new(), Some("no source".into()));
    };
    let p = Path::new(src);
    if p.is_file() {
        return match disk::backing_chain(p) {
            Ok(c) => (c, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
    }
    if let Ok(v) = s.conn.lookup_storage_vol_by_path(src) {
        if let Ok(vx) = v.xml_desc(0) {
            if let Some(c) = volume_chain(&vx, src) {
                return (c, None);
            }
        }
    }
    (Vec::new(), Some("not readable from this host".into()))
}

fn el<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

/// A chain from a storage volume's XML (`<target>` and `<backingStore>`).
pub(crate) fn volume_chain(vol_xml: &str, path: &str) -> Option<Vec<disk::ImageInfo>> {
    let doc = roxmltree::Document::parse(vol_xml).ok()?;
    let root = doc.root_element();
    let bytes = |n: Option<roxmltree::Node<'_, '_>>| -> u64 {
        n.and_then(|n| {
            let v: u64 = n.text()?.trim().parse().ok()?;
            Some(v * super::size::unit_bytes(n.attribute("unit").unwrap_or("bytes"), 1)?)
        })
        .unwrap_or(0)
    };
    let fmt = |n: Option<roxmltree::Node<'_, '_>>| {
        n.and_then(|t| el(t, "format"))
            .and_then(|f| f.attribute("type"))
            .unwrap_or("raw")
            .to_string()
    };
    let target = el(root, "target");
    let backing = el(root, "backingStore");
    let bpath = backing
        .and_then(|b| el(b, "path"))
        .and_then(|p| p.text())
        .map(str::to_string);
    let mut chain = vec![disk::ImageInfo {
        filename: path.to_string(),
        format: fmt(target),
        virtual_size: bytes(el(root, "capacity")),
        actual_size: bytes(el(root, "allocation")),
        cluster_size: None,
        compat: None,
        backing_filename: bpath.clone(),
        full_backing_filename: bpath.clone(),
        backing_filename_format: bpath.as_ref().map(|_| fmt(backing)),
        encrypted: false,
        snapshots: 0,
    }];
    if let Some(b) = bpath {
        chain.push(disk::ImageInfo {
            filename: b,
            format: fmt(backing),
            virtual_size: chain[0].virtual_size,
            actual_size: 0,
            cluster_size: None,
            compat: None,
            backing_filename: None,
            full_backing_filename: None,
            backing_filename_format: None,
            encrypted: false,
            snapshots: 0,
        });
    }
    Some(chain)
}

/// What `setmem` and `setvcpus` leave behind.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    pub name: String,
    pub memory_kib: u64,
    pub max_memory_kib: u64,
    pub vcpus: u32,
    pub max_vcpus: u32,
    pub scope: String,
}

fn resources(s: &Session, d: &Domain, name: &str, scope: Scope) -> Result<Resources> {
    let active = d.is_active().unwrap_or(false);
    let config = scope == Scope::Config || !active;
    let (mem, max, vc, vmax) = if config {
        let px = parsed(
            &d.xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
                .map_err(|e| s.err("reading the configuration", e))?,
        )?;
        let max = px.memory_kib.unwrap_or(0);
        (
            px.current_memory_kib.unwrap_or(max),
            max,
            px.vcpus_current.unwrap_or(0),
            px.vcpus_max.unwrap_or(0),
        )
    } else {
        let i = d
            .info()
            .map_err(|e| s.err(&format!("reading info of {name}"), e))?;
        let vmax = d
            .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM)
            .unwrap_or(i.nr_virt_cpu);
        (i.memory, i.max_mem, i.nr_virt_cpu, vmax)
    };
    Ok(Resources {
        name: name_of(d, name),
        memory_kib: mem,
        max_memory_kib: max,
        vcpus: vc,
        max_vcpus: vmax,
        scope: if config { "config" } else { "live" }.into(),
    })
}

/// Sets the balloon (current memory) to `kib`; refuses more than the
/// maximum, naming it.
pub fn setmem(s: &Session, name: &str, kib: u64, scope: Scope) -> Result<Resources> {
    let d = s.domain(name)?;
    let active = d.is_active().unwrap_or(false);
    if scope == Scope::Live && !active {
        return Err(wrong(
            name,
            state_of(s, &d, name)?,
            "change live memory",
            "use --config to change the configuration, or start it first",
        ));
    }
    let before = resources(s, &d, name, scope)?;
    if kib > before.max_memory_kib {
        return Err(VirtError::AboveMaximum {
            name: name.into(),
            what: "memory".into(),
            asked: format!("{kib} KiB ({})", human_kib(kib)),
            max: format!("{} KiB ({})", before.max_memory_kib, human_kib(before.max_memory_kib)),
            hint: "raise <memory> in the configuration (shut off, then `tpvirt dumpxml`, edit, `tpvirt define`)".into(),
        });
    }
    if kib == 0 {
        return Err(VirtError::Invalid(
            "memory of 0 KiB: give a size such as 512M".into(),
        ));
    }
    d.set_memory_flags(kib, scope.flags())
        .map_err(|e| s.err(&format!("setting the memory of {name}"), e))?;
    resources(s, &d, name, scope)
}

/// Sets the number of vCPUs (or with `maximum`, the configured maximum).
pub fn setvcpus(s: &Session, name: &str, n: u32, scope: Scope, maximum: bool) -> Result<Resources> {
    let d = s.domain(name)?;
    if n == 0 {
        return Err(VirtError::Invalid(
            "0 vCPUs: a domain needs at least one".into(),
        ));
    }
    let active = d.is_active().unwrap_or(false);
    if scope == Scope::Live && !active {
        return Err(wrong(
            name,
            state_of(s, &d, name)?,
            "change live vCPUs",
            "use --config to change the configuration, or start it first",
        ));
    }
    let mut flags = scope.flags();
    if maximum {
        if scope == Scope::Live || (scope == Scope::Current && active) {
            return Err(VirtError::Invalid(
                "the vCPU maximum can only change in the configuration: use --maximum --config"
                    .into(),
            ));
        }
        flags = sys::VIR_DOMAIN_AFFECT_CONFIG | sys::VIR_DOMAIN_VCPU_MAXIMUM;
        if let Ok(hv) = s.conn.max_vcpus(None) {
            if n > hv {
                return Err(VirtError::AboveMaximum {
                    name: name.into(),
                    what: "vCPU maximum".into(),
                    asked: n.to_string(),
                    max: format!("{hv} (what the hypervisor allows)"),
                    hint: "pick a smaller number".into(),
                });
            }
        }
    } else {
        let before = resources(s, &d, name, scope)?;
        if n > before.max_vcpus {
            return Err(VirtError::AboveMaximum {
                name: name.into(),
                what: "vCPU count".into(),
                asked: n.to_string(),
                max: before.max_vcpus.to_string(),
                hint: format!("raise the maximum first: `tpvirt setvcpus {name} {n} --maximum --config` (applies at next boot)"),
            });
        }
    }
    d.set_vcpus_flags(n, flags)
        .map_err(|e| s.err(&format!("setting the vCPUs of {name}"), e))?;
    resources(s, &d, name, if maximum { Scope::Config } else { scope })
}

/// `vnc://127.0.0.1:5900` from a domain's graphics, or None.
pub fn display_uri(px: &DomainXml) -> Option<String> {
    let g = px.graphics.iter().find(|g| g.port.is_some())?;
    let host = match g.listen.as_deref() {
        None | Some("") | Some("0.0.0.0") | Some("::") => "127.0.0.1",
        Some(h) => h,
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    Some(format!("{}://{}:{}", g.kind, host, g.port?))
}

/// The URI a viewer opens (`remote-viewer vnc://127.0.0.1:5900`).
pub fn display(s: &Session, name: &str) -> Result<String> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    let px = parsed(
        &d.xml_desc(0)
            .map_err(|e| s.err(&format!("reading the XML of {name}"), e))?,
    )?;
    if px.graphics.is_empty() {
        return Err(VirtError::Invalid(format!(
            "domain {name:?} has no graphical display: add <graphics type='vnc' listen='127.0.0.1' autoport='yes'/> to its <devices> (or use `tpvirt console {name}` for its serial console)"
        )));
    }
    if !is_active(st) {
        return Err(wrong(
            name,
            st,
            "show its display",
            &format!("the port is chosen when it starts: `tpvirt start {name}`"),
        ));
    }
    display_uri(&px).ok_or_else(|| {
        VirtError::Invalid(format!(
            "domain {name:?} has graphics but no port allocated yet"
        ))
    })
}

/// Attaches the terminal to the domain's serial console until Ctrl-]
/// (0x1d) is typed or the console closes.
pub fn console(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    let stream = virt::stream::Stream::new(&s.conn, 0).map_err(|e| s.err("opening a stream", e))?;
    if let Err(e) = d.open_console(None, &stream, sys::VIR_DOMAIN_CONSOLE_FORCE) {
        if super::connect::is_code(&e, virt::error::ErrorNumber::NoSupport) {
            return Err(s.unsupported(
                "console",
                e.message(),
                &if s.is_test_driver() {
                    "libvirt's test driver has no serial consoles; use a qemu:///system domain with <serial type='pty'/> (the lab's VMs have one)".to_string()
                } else {
                    "this driver has no console streams".to_string()
                },
            ));
        }
        if !is_active(st) {
            return Err(wrong(
                name,
                st,
                "attach to its console",
                &format!("`tpvirt start {name}` first"),
            ));
        }
        return Err(s.err(&format!("opening the console of {name}"), e));
    }
    super::console::pump(&stream).map_err(|source| VirtError::Io {
        path: "console".into(),
        source,
    })
}
