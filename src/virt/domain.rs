//! Domain lifecycle (list, create, define, undefine, start, shutdown, destroy,
//! suspend, resume, dumpxml), display and console. `info` and the resource
//! changes live in `info.rs` and `resources.rs` and are re-exported here.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use virt::domain::{Domain, DomainState};
use virt::enumutil::Enum;
use virt::sys;

use super::connect::{xml_error, Result, Session, VirtError};
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

pub(crate) use super::info::volume_chain;
pub use super::info::{info, DiskReport, DomainReport, NicReport};
pub use super::resources::{setmem, setvcpus, Resources, Scope};

/// One line of `list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DomainRow {
    pub id: Option<u32>,
    pub name: String,
    pub state: String,
    pub persistent: bool,
}

/// The libvirt storage volume behind a disk (by pool and volume name, or by
/// path), when libvirt manages it.
pub(crate) fn storage_vol(
    s: &Session,
    disk: &super::xml::DiskXml,
) -> Option<virt::storage_vol::StorageVol> {
    match (&disk.pool_volume, &disk.source) {
        (Some((p, v)), _) => s
            .conn
            .lookup_storage_pool_by_name(p)
            .and_then(|p| p.lookup_storage_vol_by_name(v))
            .ok(),
        (None, Some(path)) => s.conn.lookup_storage_vol_by_path(path).ok(),
        _ => None,
    }
}

pub(crate) fn state_of(s: &Session, dom: &Domain, name: &str) -> Result<DomainState> {
    let (st, _) = dom
        .state()
        .map_err(|e| s.err(&format!("reading the state of {name}"), e))?;
    Ok(match st {
        Enum::Known(k) => k,
        Enum::Unknown(_) => DomainState::NoState,
    })
}

pub(crate) fn state_str(st: DomainState) -> String {
    state_name(&Enum::Known(st)).to_string()
}

pub(crate) fn wrong(name: &str, st: DomainState, op: &str, hint: &str) -> VirtError {
    VirtError::WrongState {
        name: name.into(),
        state: state_str(st),
        op: op.into(),
        hint: hint.into(),
    }
}

pub(crate) fn is_active(st: DomainState) -> bool {
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
    create_xml(s, &xml, file)
}

/// Starts a transient domain from XML text; `origin` names it in errors
/// (a file, or what the text came from).
pub fn create_xml(s: &Session, xml: &str, origin: &Path) -> Result<String> {
    let d = s.conn.create_domain_xml(xml, 0).map_err(|e| {
        exists_error(s, origin, xml, &e)
            .or_else(|| xml_error(origin, &e))
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

/// Defines a persistent domain from XML text; `file` names it in errors.
pub fn define_xml(s: &Session, xml: &str, file: &Path) -> Result<String> {
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
            let vol = storage_vol(s, disk);
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

/// Asks the guest to reboot (ACPI, as `virsh reboot`).
pub fn reboot(s: &Session, name: &str) -> Result<()> {
    let d = s.domain(name)?;
    let st = state_of(s, &d, name)?;
    if !is_active(st) {
        return Err(wrong(name, st, "reboot", &format!("`tpvirt start {name}`")));
    }
    d.reboot(0)
        .map_err(|e| s.err(&format!("rebooting {name}"), e))
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

pub(crate) fn parsed(xml: &str) -> Result<DomainXml> {
    parse_domain(xml)
        .map_err(|e| VirtError::Invalid(format!("libvirt returned XML tpvirt cannot read: {e}")))
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

/// Opens the domain's serial console as a libvirt stream (forcing off any
/// other client, as `virsh console --force`).
pub fn open_console(s: &Session, name: &str) -> Result<virt::stream::Stream> {
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
    Ok(stream)
}

/// Attaches the terminal to the domain's serial console until Ctrl-]
/// (0x1d) is typed or the console closes.
pub fn console(s: &Session, name: &str) -> Result<()> {
    let stream = open_console(s, name)?;
    super::console::pump(&stream).map_err(|source| VirtError::Io {
        path: "console".into(),
        source,
    })
}
