//! `migrate --live NAME DEST_URI`: live migration with progress (data
//! remaining) and the final downtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use virt::connect::Connect;
use virt::sys;

use super::connect::{Result, Session, VirtError};

/// virsh migrate's switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct MigrateFlags {
    pub live: bool,
    pub p2p: bool,
    pub tunnelled: bool,
    pub persistent: bool,
    pub undefine_source: bool,
    pub copy_storage_inc: bool,
    pub unsafe_: bool,
}

impl MigrateFlags {
    pub fn bits(self) -> u32 {
        let mut f = 0;
        let mut set = |on: bool, bit: u32| {
            if on {
                f |= bit
            }
        };
        set(self.live, sys::VIR_MIGRATE_LIVE);
        set(self.p2p, sys::VIR_MIGRATE_PEER2PEER);
        set(self.tunnelled, sys::VIR_MIGRATE_TUNNELLED);
        set(self.persistent, sys::VIR_MIGRATE_PERSIST_DEST);
        set(self.undefine_source, sys::VIR_MIGRATE_UNDEFINE_SOURCE);
        set(self.copy_storage_inc, sys::VIR_MIGRATE_NON_SHARED_INC);
        set(self.unsafe_, sys::VIR_MIGRATE_UNSAFE);
        f
    }
}

/// A progress sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Progress {
    pub elapsed_ms: u64,
    pub data_total: Option<u64>,
    pub data_remaining: Option<u64>,
}

/// The migration's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct MigrateReport {
    pub domain: String,
    pub dest_uri: String,
    pub seconds: f64,
    /// Time the guest was paused at the switch-over, from libvirt's
    /// completed-job statistics (None when the driver does not tell).
    pub downtime_ms: Option<u64>,
    pub data_total: Option<u64>,
}

/// Migrates `name` to `dest_uri`; `on_progress` gets a sample about every
/// half second from another thread.
pub fn migrate(
    s: &Session,
    name: &str,
    dest_uri: &str,
    flags: MigrateFlags,
    on_progress: impl Fn(Progress) + Send + 'static,
) -> Result<MigrateReport> {
    if flags.tunnelled && !flags.p2p {
        return Err(VirtError::Invalid(
            "--tunnelled needs --p2p (the source daemon carries the data)".into(),
        ));
    }
    let d = s.domain(name)?;
    if !d.is_active().unwrap_or(false) {
        return Err(VirtError::WrongState {
            name: name.into(),
            state: "not running".into(),
            op: "migrate it live".into(),
            hint: format!(
                "`tpvirt start {name}` first (or copy its definition with dumpxml/define)"
            ),
        });
    }
    let t0 = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let d = d.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(500));
                if done.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(j) = d.job_stats(0) {
                    if j.data_total.is_some() || j.data_remaining.is_some() {
                        on_progress(Progress {
                            elapsed_ms: t0.elapsed().as_millis() as u64,
                            data_total: j.data_total,
                            data_remaining: j.data_remaining,
                        });
                    }
                }
            }
        })
    };
    let result = if flags.p2p {
        d.migrate_to_uri(dest_uri, flags.bits(), None, 0)
            .map(|_| None)
    } else {
        match Connect::open(Some(dest_uri)) {
            Ok(dc) => d
                .migrate(&dc, flags.bits(), None, None, 0)
                .map(|nd| Some((dc, nd))),
            Err(e) => {
                done.store(true, Ordering::SeqCst);
                let _ = poller.join();
                return Err(VirtError::Open {
                    uri: dest_uri.into(),
                    message: format!("{} (the destination of the migration)", e.message()),
                });
            }
        }
    };
    done.store(true, Ordering::SeqCst);
    let _ = poller.join();
    let seconds = t0.elapsed().as_secs_f64();
    let mut dest = result.map_err(|e| s.err("migration", e))?;
    if dest.is_none() && !dest_uri.contains("+ssh") {
        // Peer-to-peer: the client never talked to the destination; ask it
        // now for the completed-job statistics (best effort, no password
        // prompts: ssh URIs are skipped).
        if let Ok(dc) = Connect::open(Some(dest_uri)) {
            if let Ok(nd) = dc.lookup_domain_by_name(name) {
                dest = Some((dc, nd));
            }
        }
    }
    // Completed-job statistics: on the source while it still knows the
    // domain, else on the destination.
    let completed = d
        .job_stats(sys::VIR_DOMAIN_JOB_STATS_COMPLETED)
        .ok()
        .filter(|j| j.downtime.is_some())
        .or_else(|| {
            dest.as_ref()
                .and_then(|(_, nd)| nd.job_stats(sys::VIR_DOMAIN_JOB_STATS_COMPLETED).ok())
        });
    Ok(MigrateReport {
        domain: name.into(),
        dest_uri: dest_uri.into(),
        seconds,
        downtime_ms: completed.as_ref().and_then(|j| j.downtime),
        data_total: completed.as_ref().and_then(|j| j.data_total),
    })
}
