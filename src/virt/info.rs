//! `info`: state, memory, vCPUs, disks with their backing chains, MACs
//! and addresses (DHCP leases, libvirt's ARP source, or this host's ARP
//! table).

use std::path::Path;

use serde::Serialize;
use virt::domain::Domain;
use virt::sys;

use super::connect::{Result, Session};
use super::disk;
use super::domain::{display_uri, is_active, parsed, state_of, state_str};

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

pub(crate) fn name_of(d: &Domain, fallback: &str) -> String {
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

    #[test]
    fn volume_xml_gives_a_two_level_chain() {
        let x = "<volume><name>web.qcow2</name><capacity unit='GiB'>10</capacity>\
                 <allocation unit='MiB'>200</allocation><target><path>/p/web.qcow2</path><format type='qcow2'/></target>\
                 <backingStore><path>/p/base.raw</path><format type='raw'/></backingStore></volume>";
        let c = volume_chain(x, "/p/web.qcow2").unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!((c[0].virtual_size, c[0].actual_size), (10 << 30, 200 << 20));
        assert_eq!(c[0].backing_filename_format.as_deref(), Some("raw"));
        assert_eq!(
            (c[1].filename.as_str(), c[1].format.as_str()),
            ("/p/base.raw", "raw")
        );
    }
}
