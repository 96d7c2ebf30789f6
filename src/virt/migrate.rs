//! `migrate --live NAME DEST_URI`: live migration with progress (data
//! remaining) and the final downtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use virt::connect::Connect;
use virt::domain::{Domain, JobStats};
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
    migrate_via(s, name, dest_uri, None, flags, on_progress)
}

/// [`migrate`] over an already open connection to the destination (the
/// console keeps one to each host; a process that dropped root may not be
/// able to open a new one).
pub fn migrate_via(
    s: &Session,
    name: &str,
    dest_uri: &str,
    dest_conn: Option<&Connect>,
    flags: MigrateFlags,
    on_progress: impl Fn(Progress) + Send + 'static,
) -> Result<MigrateReport> {
    let open_dest = || match dest_conn {
        Some(c) => Ok(c.clone()),
        None => Connect::open(Some(dest_uri)),
    };
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
                if let Ok(j) = job_stats(&d, 0) {
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
        match open_dest() {
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
        if let Ok(dc) = open_dest() {
            if let Ok(nd) = dc.lookup_domain_by_name(name) {
                dest = Some((dc, nd));
            }
        }
    }
    // Completed-job statistics: on the source while it still knows the
    // domain, else on the destination.
    let completed = job_stats(&d, KEEP_COMPLETED)
        .ok()
        .filter(|j| j.downtime.is_some())
        .or_else(|| {
            dest.as_ref()
                .and_then(|(_, nd)| job_stats(nd, KEEP_COMPLETED).ok())
        });
    Ok(MigrateReport {
        domain: name.into(),
        dest_uri: dest_uri.into(),
        seconds,
        downtime_ms: completed.as_ref().and_then(|j| j.downtime),
        data_total: completed.as_ref().and_then(|j| j.data_total),
    })
}

/// What `tpvirt job NAME` prints: the domain's current (or last
/// completed) background job, like `virsh domjobinfo`.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub domain: String,
    /// none, bounded, unbounded, completed, failed, cancelled.
    pub kind: &'static str,
    /// migration-out, migration-in, save, snapshot, backup, ... when told.
    pub operation: Option<&'static str>,
    pub elapsed_ms: Option<u64>,
    pub data_total: Option<u64>,
    pub data_processed: Option<u64>,
    pub data_remaining: Option<u64>,
    pub memory_bps: Option<u64>,
    pub downtime_ms: Option<u64>,
    pub error: Option<String>,
}

fn job_kind(t: i32) -> &'static str {
    match t as u32 {
        sys::VIR_DOMAIN_JOB_NONE => "none",
        sys::VIR_DOMAIN_JOB_BOUNDED => "bounded",
        sys::VIR_DOMAIN_JOB_UNBOUNDED => "unbounded",
        sys::VIR_DOMAIN_JOB_COMPLETED => "completed",
        sys::VIR_DOMAIN_JOB_FAILED => "failed",
        sys::VIR_DOMAIN_JOB_CANCELLED => "cancelled",
        _ => "unknown",
    }
}

fn job_operation(o: i32) -> Option<&'static str> {
    Some(match o as u32 {
        sys::VIR_DOMAIN_JOB_OPERATION_START => "start",
        sys::VIR_DOMAIN_JOB_OPERATION_SAVE => "save",
        sys::VIR_DOMAIN_JOB_OPERATION_RESTORE => "restore",
        sys::VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN => "migration-in",
        sys::VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT => "migration-out",
        sys::VIR_DOMAIN_JOB_OPERATION_SNAPSHOT => "snapshot",
        sys::VIR_DOMAIN_JOB_OPERATION_SNAPSHOT_REVERT => "snapshot-revert",
        sys::VIR_DOMAIN_JOB_OPERATION_DUMP => "dump",
        sys::VIR_DOMAIN_JOB_OPERATION_BACKUP => "backup",
        _ => return None,
    })
}

/// The domain's job now, or with `completed` the statistics libvirt kept
/// of the last one that finished (a migration's downtime, for example).
pub fn job(s: &Session, name: &str, completed: bool) -> Result<JobReport> {
    let d = s.domain(name)?;
    let flags = if completed { KEEP_COMPLETED } else { 0 };
    let j = job_stats(&d, flags).map_err(|e| s.err("job statistics", e))?;
    Ok(JobReport {
        domain: name.into(),
        kind: job_kind(j.r#type),
        operation: j.operation.and_then(job_operation),
        elapsed_ms: j.time_elapsed,
        data_total: j.data_total,
        data_processed: j.data_processed,
        data_remaining: j.data_remaining,
        memory_bps: j.mem_bps,
        downtime_ms: j.downtime,
        error: j.error_message,
    })
}

/// The last completed job's statistics, left in place: libvirt (since 6.0)
/// drops them once read unless asked to keep them, and a later `tpvirt job
/// --completed` or `virsh domjobinfo --completed` should still see them.
const KEEP_COMPLETED: u32 =
    sys::VIR_DOMAIN_JOB_STATS_COMPLETED | sys::VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED;

/// `virDomainGetJobStats`, read safely.
///
/// `virt` 0.5's `Domain::job_stats` hands libvirt's array to
/// `Vec::from_raw_parts`; when no job is active libvirt returns no array
/// (a null pointer), which debug builds abort on ("unsafe precondition
/// violated") and which is undefined behaviour in any build. Here the
/// parameters are copied out and the array goes back to libvirt's own
/// `virTypedParamsFree`.
pub fn job_stats(d: &Domain, flags: u32) -> std::result::Result<JobStats, virt::error::Error> {
    let mut kind: std::os::raw::c_int = 0;
    let mut params: sys::virTypedParameterPtr = std::ptr::null_mut();
    let mut n: std::os::raw::c_int = 0;
    // SAFETY: `d` holds a live reference to the domain for the call; the
    // out-pointers are valid locals.
    let rc =
        unsafe { sys::virDomainGetJobStats(d.as_ptr(), &mut kind, &mut params, &mut n, flags) };
    if rc < 0 {
        return Err(virt::error::Error::last_error());
    }
    let copied: Vec<sys::virTypedParameter> = if params.is_null() || n <= 0 {
        Vec::new()
    } else {
        // SAFETY: libvirt returned `n` initialised parameters at `params`;
        // they are plain data (strings stay owned by the array until freed
        // below, and `JobStats::from` copies them without freeing).
        unsafe { std::slice::from_raw_parts(params, n as usize) }.to_vec()
    };
    let stats = JobStats::from((kind, copied));
    if !params.is_null() {
        // SAFETY: the array and its strings were allocated by libvirt.
        unsafe { sys::virTypedParamsFree(params, n) };
    }
    Ok(stats)
}
