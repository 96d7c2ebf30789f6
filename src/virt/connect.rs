//! Opening a libvirt connection (URI chosen like virsh) and turning
//! libvirt's errors into ones that say what to do.

use std::path::PathBuf;

use thiserror::Error;
use virt::connect::Connect;
use virt::domain::Domain;
use virt::enumutil::Enum;
use virt::error::{Error as LvError, ErrorNumber};

use super::disk::DiskError;
use super::size::SizeError;

/// The URI used when neither `-c` nor `LIBVIRT_DEFAULT_URI` is given.
pub const DEFAULT_URI: &str = "qemu:///system";

/// Everything that can go wrong in tpvirt's libvirt commands.
#[derive(Debug, Error)]
pub enum VirtError {
    #[error("cannot reach a libvirt daemon at {uri}: {message}\n  hint: {hint}")]
    NoDaemon {
        uri: String,
        message: String,
        hint: String,
    },
    #[error("cannot open {uri}: {message}")]
    Open { uri: String, message: String },
    #[error("no domain named {name:?} on {uri}; known domains: {}", known_list(.known))]
    NoSuchDomain {
        name: String,
        uri: String,
        known: Vec<String>,
    },
    #[error("domain {name:?} already exists on {uri}; pick another name or `tpvirt undefine {name}` first")]
    DomainExists { name: String, uri: String },
    #[error("invalid domain XML in {}: {message}", .file.display())]
    InvalidXml { file: PathBuf, message: String },
    #[error("{what} is not supported by the {driver} driver ({uri}): {message}\n  hint: {would}")]
    Unsupported {
        what: String,
        driver: String,
        uri: String,
        message: String,
        would: String,
    },
    #[error("domain {name:?} is {state}: cannot {op}\n  hint: {hint}")]
    WrongState {
        name: String,
        state: String,
        op: String,
        hint: String,
    },
    #[error("{what} {asked} is above domain {name:?}'s maximum of {max}\n  hint: {hint}")]
    AboveMaximum {
        name: String,
        what: String,
        asked: String,
        max: String,
        hint: String,
    },
    #[error("domain {domain:?} has no snapshot {snapshot:?}; its snapshots: {}", known_list(.known))]
    NoSuchSnapshot {
        domain: String,
        snapshot: String,
        known: Vec<String>,
    },
    #[error("{op}: {message}")]
    Libvirt { op: String, message: String },
    /// The domain went away during the operation (migrated, undefined).
    #[error("{op}: {message} (the domain went away: migrated or undefined meanwhile)")]
    Gone { op: String, message: String },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Disk(#[from] DiskError),
    #[error(transparent)]
    Size(#[from] SizeError),
    #[error("{0}")]
    Invalid(String),
}

fn known_list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

pub type Result<T, E = VirtError> = std::result::Result<T, E>;

/// `-c URI`, then `$LIBVIRT_DEFAULT_URI`, then `qemu:///system`, as virsh does.
pub fn choose_uri(flag: Option<&str>, env: Option<&str>) -> String {
    flag.filter(|s| !s.is_empty())
        .or(env.filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_URI)
        .to_string()
}

/// [`choose_uri`] with the process environment.
pub fn resolve_uri(flag: Option<&str>) -> String {
    let env = std::env::var("LIBVIRT_DEFAULT_URI").ok();
    choose_uri(flag, env.as_deref())
}

pub(crate) fn is_code(e: &LvError, n: ErrorNumber) -> bool {
    matches!(e.code(), Enum::Known(c) if c == n)
}

/// An open connection and what is needed to explain errors on it.
pub struct Session {
    pub conn: Connect,
    pub uri: String,
    /// `QEMU`, `TEST`, ...
    pub driver: String,
}

impl Session {
    /// Opens `uri` read-write. libvirt's own printing of errors to stderr is
    /// turned off: every error comes back as a [`VirtError`].
    pub fn open(uri: &str) -> Result<Session> {
        virt::error::clear_error_callback();
        let conn = Connect::open(Some(uri)).map_err(|e| open_error(uri, &e))?;
        let driver = conn.driver_type().unwrap_or_default();
        Ok(Session {
            conn,
            uri: uri.to_string(),
            driver,
        })
    }

    pub fn is_test_driver(&self) -> bool {
        self.driver.eq_ignore_ascii_case("test")
    }

    /// Names of all domains, running or not, sorted.
    pub fn domain_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .conn
            .list_all_domains(0)
            .map(|v| v.iter().filter_map(|d| d.name().ok()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The domain called `name` (or with that UUID or id), or an error that
    /// lists the known names.
    pub fn domain(&self, name: &str) -> Result<Domain> {
        match self.conn.lookup_domain_by_name(name) {
            Ok(d) => return Ok(d),
            Err(e) if !is_code(&e, ErrorNumber::NoDomain) => {
                return Err(self.err(&format!("looking up {name}"), e))
            }
            Err(_) => {}
        }
        if let Ok(d) = self.conn.lookup_domain_by_uuid_string(name) {
            return Ok(d);
        }
        if let Ok(id) = name.parse::<u32>() {
            if let Ok(d) = self.conn.lookup_domain_by_id(id) {
                return Ok(d);
            }
        }
        Err(VirtError::NoSuchDomain {
            name: name.to_string(),
            uri: self.uri.clone(),
            known: self.domain_names(),
        })
    }

    /// Translates a libvirt error from operation `op`.
    pub fn err(&self, op: &str, e: LvError) -> VirtError {
        if is_code(&e, ErrorNumber::NoSupport)
            || is_code(&e, ErrorNumber::ArgumentUnsupported)
            || is_code(&e, ErrorNumber::OperationUnsupported)
        {
            return self.unsupported(op, e.message(), "");
        }
        if is_code(&e, ErrorNumber::SystemError) && e.message().contains("connect socket") {
            return open_error(&self.uri, &e);
        }
        if is_code(&e, ErrorNumber::NoDomain) {
            return VirtError::Gone { op: op.to_string(), message: e.message().to_string() };
        }
        VirtError::Libvirt {
            op: op.to_string(),
            message: e.message().to_string(),
        }
    }

    /// An operation the driver does not do, with what would.
    pub fn unsupported(&self, op: &str, message: &str, would: &str) -> VirtError {
        let would = if !would.is_empty() {
            would.to_string()
        } else if self.is_test_driver() {
            format!("libvirt's test driver only simulates domains; {op} needs a real hypervisor driver such as qemu:///system")
        } else {
            format!("{op} needs a driver or domain configuration that supports it")
        };
        VirtError::Unsupported {
            what: op.to_string(),
            driver: self.driver.clone(),
            uri: self.uri.clone(),
            message: message.to_string(),
            would,
        }
    }
}

fn open_error(uri: &str, e: &LvError) -> VirtError {
    let msg = e.message().to_string();
    let socket_problem = msg.contains("connect socket")
        || msg.contains("Connection refused")
        || is_code(e, ErrorNumber::NoConnect) && msg.contains("socket");
    if socket_problem {
        let hint = if uri.contains("+tcp") {
            "the daemon at that address must run with --listen and listen_tcp = 1 in libvirtd.conf; or try -c test:///default".to_string()
        } else if uri.contains("session") {
            "a session daemon is started on demand for unprivileged users; check that libvirtd is installed (Debian: libvirt-daemon)".to_string()
        } else {
            "start one with `libvirtd --daemon` (Debian: apt install libvirt-daemon-system; or `systemctl start libvirtd` where systemd runs), pick another with -c URI or LIBVIRT_DEFAULT_URI, or try tpvirt without a daemon: -c test:///default".to_string()
        };
        return VirtError::NoDaemon {
            uri: uri.to_string(),
            message: msg,
            hint,
        };
    }
    VirtError::Open {
        uri: uri.to_string(),
        message: msg,
    }
}

/// `Invalid XML` errors from define/create, with the file named.
pub(crate) fn xml_error(file: &std::path::Path, e: &LvError) -> Option<VirtError> {
    if is_code(e, ErrorNumber::XmlError)
        || is_code(e, ErrorNumber::XmlDetail)
        || e.message().contains("XML")
    {
        Some(VirtError::InvalidXml {
            file: file.to_path_buf(),
            message: e.message().to_string(),
        })
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_precedence_is_flag_env_default() {
        assert_eq!(
            choose_uri(Some("test:///default"), Some("qemu:///session")),
            "test:///default"
        );
        assert_eq!(choose_uri(None, Some("qemu:///session")), "qemu:///session");
        assert_eq!(choose_uri(None, Some("")), DEFAULT_URI);
        assert_eq!(choose_uri(None, None), "qemu:///system");
    }
}
