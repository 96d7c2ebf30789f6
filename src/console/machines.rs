//! The Machines page's data: one sampler thread per libvirt host pushing
//! what `virsh list` and `domstats` would show, and every lab action as a
//! typed request dispatched to the same library calls `tpvirt` makes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::virt::connect::{Session, VirtError};
use crate::virt::usage::{sample_all, DomainSample, Sampler};
use crate::virt::{self, domain};

/// How often hosts are sampled when nothing happens.
pub const PERIOD: Duration = Duration::from_millis(500);

/// One host as the page sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HostView {
    pub id: usize,
    pub uri: String,
    pub driver: String,
    pub domains: Vec<DomainSample>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Wakes a sampler early (after an action) so its result shows at once.
#[derive(Default)]
pub struct Nudge {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Nudge {
    pub fn poke(&self) {
        *self.flag.lock().unwrap() = true;
        self.cv.notify_all();
    }

    fn wait(&self, d: Duration) {
        let g = self.flag.lock().unwrap();
        let (mut g, _) = self.cv.wait_timeout_while(g, d, |f| !*f).unwrap();
        *g = false;
    }
}

/// A host's connection, its latest view and the sampler's nudge.
pub struct Host {
    pub id: usize,
    pub uri: String,
    pub driver: String,
    pub session: Arc<Session>,
    pub view: watch::Receiver<Arc<HostView>>,
    pub nudge: Arc<Nudge>,
}

/// Starts the sampler thread of one host.
pub fn start(conn: super::HostConn) -> Host {
    let empty = Arc::new(HostView {
        id: conn.id,
        uri: conn.uri.clone(),
        driver: conn.driver.clone(),
        domains: vec![],
        error: None,
    });
    let (tx, rx) = watch::channel(empty);
    let nudge = Arc::new(Nudge::default());
    let (s, n) = (Arc::clone(&conn.session), Arc::clone(&nudge));
    let (id, uri, driver) = (conn.id, conn.uri.clone(), conn.driver.clone());
    std::thread::Builder::new()
        .name(format!("sample-{id}"))
        .spawn(move || {
            let mut sampler = Sampler::default();
            loop {
                let at = Instant::now();
                let view = match sample_all(&s) {
                    Ok(mut d) => {
                        sampler.rates(at, &mut d);
                        HostView {
                            id,
                            uri: uri.clone(),
                            driver: driver.clone(),
                            domains: d,
                            error: None,
                        }
                    }
                    Err(e) => HostView {
                        id,
                        uri: uri.clone(),
                        driver: driver.clone(),
                        domains: vec![],
                        error: Some(e.to_string()),
                    },
                };
                if **tx.borrow() != view {
                    if tx.send(Arc::new(view)).is_err() {
                        return; // the server is gone
                    }
                }
                n.wait(PERIOD);
            }
        })
        .expect("starting a sampler thread");
    Host {
        id: conn.id,
        uri: conn.uri,
        driver: conn.driver,
        session: conn.session,
        view: rx,
        nudge,
    }
}

fn default_scope() -> String {
    "current".into()
}

/// Every action on one domain, as the page sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DomainAction {
    // Empty braces, not unit variants: serde rejects unknown fields only
    // for struct variants of an internally tagged enum.
    Start {},
    Shutdown {},
    Destroy {},
    Reboot {},
    Suspend {},
    Resume {},
    Setmem {
        size: String,
        #[serde(default = "default_scope")]
        scope: String,
    },
    Setvcpus {
        count: u32,
        #[serde(default = "default_scope")]
        scope: String,
        #[serde(default)]
        maximum: bool,
    },
    SnapshotCreate {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        description: Option<String>,
    },
    SnapshotRevert {
        snapshot: String,
    },
    SnapshotDelete {
        snapshot: String,
    },
    Clone {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        linked: bool,
    },
    Undefine {
        #[serde(default)]
        snapshots_metadata: bool,
        #[serde(default)]
        remove_storage: bool,
    },
    Backup {
        dest: String,
        #[serde(default)]
        external: bool,
    },
    Migrate {
        /// The id of another host of this console.
        dest: usize,
        #[serde(default)]
        live: bool,
        #[serde(default)]
        p2p: bool,
        #[serde(default)]
        tunnelled: bool,
        #[serde(default)]
        persistent: bool,
        #[serde(default)]
        undefine_source: bool,
        #[serde(default)]
        copy_storage_inc: bool,
        #[serde(default, rename = "unsafe")]
        unsafe_: bool,
    },
}

fn scope(s: &str) -> Result<domain::Scope, VirtError> {
    match s {
        "current" => Ok(domain::Scope::Current),
        "live" => Ok(domain::Scope::Live),
        "config" => Ok(domain::Scope::Config),
        o => Err(VirtError::Invalid(format!(
            "scope {o:?}: expected current, live or config"
        ))),
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// Runs one action (blocking: call from a blocking thread). `host_of`
/// resolves a migration's destination host; `progress` gets its samples.
pub fn act(
    s: &Session,
    name: &str,
    a: DomainAction,
    host_of: impl Fn(usize) -> Option<Arc<Session>>,
    progress: impl Fn(virt::migrate::Progress) + Send + 'static,
) -> Result<Value, VirtError> {
    use DomainAction as A;
    Ok(match a {
        A::Start {} => {
            domain::start(s, name)?;
            json!({ "state": "running" })
        }
        A::Shutdown {} => json!({ "state": domain::shutdown(s, name, None)? }),
        A::Destroy {} => {
            domain::destroy(s, name)?;
            json!({ "state": "shut off" })
        }
        A::Reboot {} => {
            domain::reboot(s, name)?;
            json!({})
        }
        A::Suspend {} => {
            domain::suspend(s, name)?;
            json!({ "state": "paused" })
        }
        A::Resume {} => {
            domain::resume(s, name)?;
            json!({ "state": "running" })
        }
        A::Setmem { size, scope: sc } => {
            let kib = virt::size::parse_kib(&size)?;
            to_json(&domain::setmem(s, name, kib, scope(&sc)?)?)
        }
        A::Setvcpus {
            count,
            scope: sc,
            maximum,
        } => to_json(&domain::setvcpus(s, name, count, scope(&sc)?, maximum)?),
        A::SnapshotCreate {
            name: n,
            description,
        } => to_json(&virt::snapshot::create(
            s,
            name,
            n.as_deref().filter(|x| !x.is_empty()),
            description.as_deref(),
        )?),
        A::SnapshotRevert { snapshot } => to_json(&virt::snapshot::revert(s, name, &snapshot)?),
        A::SnapshotDelete { snapshot } => {
            virt::snapshot::delete(s, name, &snapshot)?;
            json!({ "deleted": snapshot })
        }
        A::Clone { name: n, linked } => {
            let o = virt::clone::CloneOptions {
                original: name.into(),
                auto: n.as_deref().map_or(true, str::is_empty),
                name: n.filter(|x| !x.is_empty()),
                mac: None,
                linked,
            };
            to_json(&virt::clone::clone(s, &o)?)
        }
        A::Undefine {
            snapshots_metadata,
            remove_storage,
        } => to_json(&domain::undefine(
            s,
            name,
            snapshots_metadata,
            remove_storage,
        )?),
        A::Backup { dest, external } => {
            let m = if external {
                virt::backup::Method::External
            } else {
                virt::backup::Method::Copy
            };
            to_json(&virt::backup::backup(s, name, Path::new(&dest), m)?)
        }
        A::Migrate {
            dest,
            live,
            p2p,
            tunnelled,
            persistent,
            undefine_source,
            copy_storage_inc,
            unsafe_,
        } => {
            let to = host_of(dest)
                .ok_or_else(|| VirtError::Invalid(format!("no host {dest} in this console")))?;
            if to.uri == s.uri {
                return Err(VirtError::Invalid(
                    "the destination is the host the domain is on".into(),
                ));
            }
            let f = virt::migrate::MigrateFlags {
                live,
                p2p,
                tunnelled,
                persistent,
                undefine_source,
                copy_storage_inc,
                unsafe_,
            };
            to_json(&virt::migrate::migrate_via(
                s,
                name,
                &to.uri,
                Some(&to.conn),
                f,
                progress,
            )?)
        }
    })
}

/// What the page sends to define or create a domain, or to build one on a
/// new qcow2 overlay.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum HostAction {
    Define {
        xml: String,
        #[serde(default)]
        start: bool,
    },
    Create {
        xml: String,
    },
    /// `tpvirt disk overlay BASE NEW` then `tpvirt import`.
    OverlayImport {
        base: String,
        overlay: String,
        name: String,
        #[serde(default = "default_memory")]
        memory: String,
        #[serde(default = "default_vcpus")]
        vcpus: u32,
        #[serde(default = "default_network")]
        network: String,
    },
}

fn default_memory() -> String {
    "256M".into()
}
fn default_vcpus() -> u32 {
    1
}
fn default_network() -> String {
    "default".into()
}

/// Runs a host action (blocking).
pub fn host_act(s: &Session, a: HostAction) -> Result<Value, VirtError> {
    let origin = PathBuf::from("the XML from the page");
    Ok(match a {
        HostAction::Define { xml, start } => {
            let name = domain::define_xml(s, &xml, &origin)?;
            if start {
                domain::start(s, &name)?;
            }
            json!({ "name": name, "started": start })
        }
        HostAction::Create { xml } => json!({ "name": domain::create_xml(s, &xml, &origin)? }),
        HostAction::OverlayImport {
            base,
            overlay,
            name,
            memory,
            vcpus,
            network,
        } => {
            let info = virt::disk::create_overlay(&base, Path::new(&overlay), None)?;
            let o = virt::import::ImportOptions {
                name,
                disk: overlay,
                memory_kib: virt::size::parse_kib(&memory)?,
                vcpus,
                mac: None,
                network,
                virt_type: None,
            };
            json!({ "overlay": to_json(&info), "imported": to_json(&virt::import::import(s, &o)?) })
        }
    })
}

/// An HTTP status for a library error: the page shows the message as is.
pub fn status_of(e: &VirtError) -> u16 {
    match e {
        VirtError::NoSuchDomain { .. } | VirtError::NoSuchSnapshot { .. } | VirtError::Gone { .. } => 404,
        VirtError::WrongState { .. }
        | VirtError::AboveMaximum { .. }
        | VirtError::DomainExists { .. } => 409,
        VirtError::InvalidXml { .. }
        | VirtError::Invalid(_)
        | VirtError::Size(_)
        | VirtError::Disk(_) => 400,
        VirtError::Unsupported { .. } => 501,
        _ => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_from_the_page_json() {
        let a: DomainAction = serde_json::from_str(r#"{"action":"setmem","size":"512M"}"#).unwrap();
        assert!(
            matches!(a, DomainAction::Setmem { ref size, ref scope } if size == "512M" && scope == "current")
        );
        let a: DomainAction =
            serde_json::from_str(r#"{"action":"migrate","dest":1,"live":true,"unsafe":true}"#)
                .unwrap();
        assert!(matches!(
            a,
            DomainAction::Migrate {
                dest: 1,
                live: true,
                unsafe_: true,
                p2p: false,
                ..
            }
        ));
        assert!(serde_json::from_str::<DomainAction>(r#"{"action":"format-disk"}"#).is_err());
        assert!(serde_json::from_str::<DomainAction>(r#"{"action":"start","extra":1}"#).is_err());
    }

    #[test]
    fn lifecycle_on_the_test_driver() {
        let s = Session::open("test:///default").unwrap();
        let none = |_| None;
        let r = act(&s, "test", DomainAction::Suspend {}, none, |_| {}).unwrap();
        assert_eq!(r["state"], "paused");
        let e = act(&s, "test", DomainAction::Suspend {}, none, |_| {}).unwrap_err();
        assert_eq!(status_of(&e), 409, "{e}");
        act(&s, "test", DomainAction::Resume {}, none, |_| {}).unwrap();
        let e = act(&s, "nope", DomainAction::Start {}, none, |_| {}).unwrap_err();
        assert_eq!(status_of(&e), 404);
        assert!(e.to_string().contains("known domains: test"), "{e}");
        let e = act(
            &s,
            "test",
            DomainAction::Setmem {
                size: "lots".into(),
                scope: "current".into(),
            },
            none,
            |_| {},
        )
        .unwrap_err();
        assert_eq!(status_of(&e), 400);
        let e = act(
            &s,
            "test",
            DomainAction::Migrate {
                dest: 3,
                live: true,
                p2p: false,
                tunnelled: false,
                persistent: false,
                undefine_source: false,
                copy_storage_inc: false,
                unsafe_: false,
            },
            none,
            |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("no host 3"), "{e}");
    }
}
