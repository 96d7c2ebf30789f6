//! `setmem` and `setvcpus`: changes checked against the domain's maximum
//! before libvirt is asked (the test driver accepts any memory size).

use serde::Serialize;
use virt::domain::Domain;
use virt::sys;

use super::connect::{Result, Session, VirtError};
use super::domain::{parsed, state_of, wrong};
use super::info::name_of;
use super::size::human_kib;

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
