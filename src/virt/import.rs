//! `import`: define a domain that boots from an existing disk (the lab's
//! `import-copie.sh`), with the disk's real format in `<driver type=>` —
//! a qcow2 disk declared `raw` is what gives "no bootable disk".

use std::path::Path;

use serde::Serialize;

use super::clone::{check_mac, random_mac};
use super::connect::{Result, Session, VirtError};
use super::disk;
use super::domain::volume_chain;
use super::xml::escape;

/// What `import` builds.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub name: String,
    pub disk: String,
    pub memory_kib: u64,
    pub vcpus: u32,
    pub mac: Option<String>,
    /// A libvirt network name.
    pub network: String,
    /// `kvm`, `qemu` or `test`; None picks for the driver.
    pub virt_type: Option<String>,
}

/// The domain defined.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub name: String,
    pub disk: String,
    pub format: String,
    pub mac: String,
    pub virt_type: String,
}

/// The format of `path`: read from the file when it is here, else from the
/// libvirt volume with that path.
pub fn disk_format(s: &Session, path: &str) -> Result<String> {
    let p = Path::new(path);
    if p.is_file() {
        return Ok(disk::image_info(p)?.format);
    }
    if let Ok(v) = s.conn.lookup_storage_vol_by_path(path) {
        if let Ok(x) = v.xml_desc(0) {
            if let Some(c) = volume_chain(&x, path) {
                return Ok(c[0].format.clone());
            }
        }
    }
    Err(VirtError::Invalid(format!(
        "disk {path}: no such file here and no libvirt storage volume with that path"
    )))
}

/// The domain XML `import` defines.
pub fn import_xml(o: &ImportOptions, format: &str, mac: &str, virt_type: &str) -> String {
    format!(
        "<domain type='{vt}'>
  <name>{name}</name>
  <memory unit='KiB'>{mem}</memory>
  <currentMemory unit='KiB'>{mem}</currentMemory>
  <vcpu placement='static'>{vcpus}</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <boot dev='hd'/>
  </os>
  <features><acpi/><apic/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='{mac}'/>
      <source network='{net}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
    <graphics type='vnc' autoport='yes' listen='127.0.0.1'/>
  </devices>
</domain>
",
        vt = escape(virt_type),
        name = escape(&o.name),
        mem = o.memory_kib,
        vcpus = o.vcpus,
        fmt = escape(format),
        disk = escape(&o.disk),
        mac = escape(mac),
        net = escape(&o.network),
    )
}

/// Defines the domain (not started).
pub fn import(s: &Session, o: &ImportOptions) -> Result<Imported> {
    if s.domain_names().contains(&o.name) {
        return Err(VirtError::DomainExists {
            name: o.name.clone(),
            uri: s.uri.clone(),
        });
    }
    if o.vcpus == 0 || o.memory_kib == 0 {
        return Err(VirtError::Invalid(
            "--memory and --vcpus must be above 0".into(),
        ));
    }
    let disk_path = if Path::new(&o.disk).is_file() {
        std::fs::canonicalize(&o.disk)
            .map_err(|source| VirtError::Io {
                path: o.disk.clone().into(),
                source,
            })?
            .display()
            .to_string()
    } else {
        o.disk.clone()
    };
    let format = disk_format(s, &disk_path)?;
    if s.conn.lookup_network_by_name(&o.network).is_err() {
        let mut nets = s.conn.list_networks().unwrap_or_default();
        nets.extend(s.conn.list_defined_networks().unwrap_or_default());
        nets.sort();
        return Err(VirtError::Invalid(format!(
            "no libvirt network {:?}; known networks: {}",
            o.network,
            if nets.is_empty() {
                "(none)".into()
            } else {
                nets.join(", ")
            }
        )));
    }
    let mac = match &o.mac {
        Some(m) => check_mac(m)?,
        None => random_mac(),
    };
    let virt_type = match &o.virt_type {
        Some(t) => t.clone(),
        None if s.is_test_driver() => "test".into(),
        None => if std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
            .is_ok()
        {
            "kvm"
        } else {
            "qemu"
        }
        .into(),
    };
    let oo = ImportOptions {
        disk: disk_path.clone(),
        ..o.clone()
    };
    let xml = import_xml(&oo, &format, &mac, &virt_type);
    let name = super::domain::define_xml(s, &xml, Path::new("(generated import XML)"))?;
    Ok(Imported {
        name,
        disk: disk_path,
        format,
        mac,
        virt_type,
    })
}
