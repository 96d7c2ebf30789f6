//! `check`: the lab's first step. CPU virtualization flags, /dev/kvm, KVM
//! modules, libvirt reachable — each with a plain verdict. The reading of
//! /proc files is separate from the parsing so the parsing is testable.

use serde::Serialize;

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

/// One line of `check`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
    pub detail: String,
}

fn c(name: &str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name: name.into(),
        verdict,
        detail: detail.into(),
    }
}

/// `vmx` (Intel VT-x), `svm` (AMD-V) or None, from /proc/cpuinfo text.
pub fn cpu_virt_flag(cpuinfo: &str) -> Option<&'static str> {
    for line in cpuinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.trim() != "flags" {
            continue;
        }
        let flags: Vec<&str> = v.split_whitespace().collect();
        if flags.contains(&"vmx") {
            return Some("vmx");
        }
        if flags.contains(&"svm") {
            return Some("svm");
        }
    }
    None
}

/// Is the CPU itself a guest (the `hypervisor` flag)?
pub fn cpu_is_guest(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
}

/// The loaded KVM modules, from /proc/modules text.
pub fn kvm_modules(modules: &str) -> Vec<String> {
    modules
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|m| *m == "kvm" || m.starts_with("kvm_"))
        .map(str::to_string)
        .collect()
}

/// The host checks (everything but libvirt).
pub fn host_checks(
    cpuinfo: &str,
    modules: Option<&str>,
    kvm_dev: Result<(), std::io::Error>,
    kvm_dev_exists: bool,
) -> Vec<Check> {
    let mut v = Vec::new();
    let guest = if cpu_is_guest(cpuinfo) {
        " (this machine is itself a virtual machine: nested virtualization)"
    } else {
        ""
    };
    v.push(match cpu_virt_flag(cpuinfo) {
        Some("vmx") => c("cpu", Verdict::Ok, format!("Intel VT-x (vmx) present{guest}")),
        Some(f) => c("cpu", Verdict::Ok, format!("AMD-V ({f}) present{guest}")),
        None => c("cpu", Verdict::Warn, format!("no vmx/svm flag: no hardware virtualization, guests run under QEMU's software emulation (domain type 'qemu', slow){guest}")),
    });
    v.push(match (kvm_dev_exists, kvm_dev) {
        (true, Ok(())) => c("/dev/kvm", Verdict::Ok, "present and usable (read-write)"),
        (true, Err(e)) => c("/dev/kvm", Verdict::Fail, format!("present but not usable: {e} (add the user to group kvm, or run as root)")),
        (false, _) => c("/dev/kvm", Verdict::Warn, "missing: load kvm_intel or kvm_amd, or enable virtualization in the firmware; use domain type 'qemu' meanwhile"),
    });
    v.push(match modules {
        None => c("modules", Verdict::Warn, "cannot read /proc/modules"),
        Some(m) => {
            let mods = kvm_modules(m);
            if mods.iter().any(|m| m == "kvm_intel" || m == "kvm_amd") {
                c("modules", Verdict::Ok, format!("loaded: {}", mods.join(", ")))
            } else if mods.is_empty() {
                c("modules", Verdict::Warn, "no kvm module loaded (modprobe kvm_intel or kvm_amd; built-in KVM also shows as /dev/kvm)")
            } else {
                c("modules", Verdict::Warn, format!("loaded: {} but no kvm_intel/kvm_amd", mods.join(", ")))
            }
        }
    });
    v
}

/// Reads the host files and runs [`host_checks`].
pub fn check_host() -> Vec<Check> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let modules = std::fs::read_to_string("/proc/modules").ok();
    let exists = std::path::Path::new("/dev/kvm").exists();
    let usable = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(|_| ());
    host_checks(&cpuinfo, modules.as_deref(), usable, exists)
}

/// The libvirt check's line from the result of opening a connection.
pub fn libvirt_check(uri: &str, opened: Result<String, String>) -> Check {
    match opened {
        Ok(desc) => c("libvirt", Verdict::Ok, format!("{uri} answers ({desc})")),
        Err(e) => c("libvirt", Verdict::Fail, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_flags() {
        assert_eq!(
            cpu_virt_flag("processor: 0\nflags\t\t: fpu vme vmx sse\n"),
            Some("vmx")
        );
        assert_eq!(cpu_virt_flag("flags : fpu svm\n"), Some("svm"));
        assert_eq!(cpu_virt_flag("flags : fpu sse hypervisor\n"), None);
        assert!(cpu_is_guest("flags : fpu sse hypervisor\n"));
    }

    #[test]
    fn modules_and_verdicts() {
        let m =
            "kvm_intel 380928 0 - Live 0x0\nkvm 1142784 1 kvm_intel, Live 0x0\nbridge 1 0 - Live\n";
        assert_eq!(kvm_modules(m), ["kvm_intel", "kvm"]);
        let v = host_checks("flags : vmx\n", Some(m), Ok(()), true);
        assert!(v.iter().all(|c| c.verdict == Verdict::Ok), "{v:?}");
        let v = host_checks(
            "flags : sse\n",
            Some(""),
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)),
            true,
        );
        assert_eq!(
            v.iter().map(|c| c.verdict).collect::<Vec<_>>(),
            [Verdict::Warn, Verdict::Fail, Verdict::Warn]
        );
        assert!(v[1].detail.contains("group kvm"));
    }
}
