//! Dispatch: each [`Cmd`] to its library call, and what it prints.

use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::{Cli, Cmd, CommandError, DiskCmd, SnapCmd};
use crate::virt::report::{overlay_text, Text};
use crate::virt::{self, domain, snapshot, Session};

type Result<T, E = CommandError> = std::result::Result<T, E>;

/// What a command that changes something reports.
#[derive(Serialize)]
struct Done<'a> {
    domain: &'a str,
    action: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
}

/// Output gathered, then written once (a closed pipe is handled by `cli::exit`).
pub struct Out {
    /// `--json`: data as JSON rather than text.
    pub json: bool,
    buf: Vec<u8>,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out {
            json,
            buf: Vec::new(),
        }
    }

    /// What was gathered so far (and not yet flushed).
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    fn json<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.buf, v)?;
        self.buf.push(b'\n');
        Ok(())
    }

    fn text(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// JSON with --json, else the value's text.
    fn show<T: Serialize + Text + ?Sized>(&mut self, v: &T) -> Result<()> {
        if self.json {
            self.json(v)
        } else {
            self.text(&v.text());
            Ok(())
        }
    }

    fn done(
        &mut self,
        domain: &str,
        action: &str,
        state: Option<&str>,
        text: String,
    ) -> Result<bool> {
        if self.json {
            self.json(&Done {
                domain,
                action,
                state: state.map(str::to_string),
            })?;
        } else {
            self.text(&text);
            self.text("\n");
        }
        Ok(true)
    }

    /// Writes what was gathered to stdout.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let mut o = std::io::stdout().lock();
        o.write_all(&self.buf)?;
        self.buf.clear();
        o.flush()
    }
}

/// Runs one command; what it prints goes to `out`. `Ok(false)`: nothing
/// found (no domains, no snapshots, no job...).
pub fn run(args: Cli, out: &mut Out) -> Result<bool> {
    let uri = virt::resolve_uri(args.uri.as_deref());
    // Commands that do not need a libvirt connection.
    let cmd = match args.cmd {
        Cmd::Disk(c) => return run_disk(c, out),
        Cmd::Watch {
            url,
            every,
            duration,
            count,
            timeout,
            verbose,
        } => return run_watch(out, url, every, duration, count, timeout, verbose),
        Cmd::Check => return run_check(out, &uri),
        other => other,
    };
    let s = Session::open(&uri)?;
    match cmd {
        Cmd::List { all } => {
            let rows = domain::list(&s, all)?;
            out.show(rows.as_slice())?;
            Ok(!rows.is_empty())
        }
        Cmd::Create { file } => {
            let n = domain::create(&s, &file)?;
            out.done(
                &n,
                "created",
                Some("running"),
                format!("Domain '{n}' created from {}", file.display()),
            )
        }
        Cmd::Define { file } => {
            let n = domain::define(&s, &file)?;
            out.done(
                &n,
                "defined",
                None,
                format!("Domain '{n}' defined from {}", file.display()),
            )
        }
        Cmd::Undefine {
            name,
            snapshots_metadata,
            remove_storage,
        } => {
            out.show(&domain::undefine(
                &s,
                &name,
                snapshots_metadata,
                remove_storage,
            )?)?;
            Ok(true)
        }
        Cmd::Start { name } => {
            domain::start(&s, &name)?;
            out.done(
                &name,
                "started",
                Some("running"),
                format!("Domain '{name}' started"),
            )
        }
        Cmd::Shutdown { name, wait } => {
            let st = domain::shutdown(&s, &name, wait.map(Duration::from_secs))?;
            let text = if wait.is_some() {
                format!("Domain '{name}' is {st}")
            } else {
                format!("Domain '{name}' is being shut down")
            };
            out.done(&name, "shutdown", Some(&st), text)
        }
        Cmd::Destroy { name } => {
            domain::destroy(&s, &name)?;
            out.done(
                &name,
                "destroyed",
                Some("shut off"),
                format!("Domain '{name}' destroyed"),
            )
        }
        Cmd::Suspend { name } => {
            domain::suspend(&s, &name)?;
            out.done(
                &name,
                "suspended",
                Some("paused"),
                format!("Domain '{name}' suspended"),
            )
        }
        Cmd::Resume { name } => {
            domain::resume(&s, &name)?;
            out.done(
                &name,
                "resumed",
                Some("running"),
                format!("Domain '{name}' resumed"),
            )
        }
        Cmd::Dumpxml { name, inactive } => {
            let x = domain::dumpxml(&s, &name, inactive)?;
            if out.json {
                out.json(&serde_json::json!({ "domain": name, "xml": x }))?;
            } else {
                out.text(&x);
            }
            Ok(true)
        }
        Cmd::Info { name } => {
            out.show(&domain::info(&s, &name)?)?;
            Ok(true)
        }
        Cmd::Setmem { name, size, scope } => {
            let kib = virt::size::parse_kib(&size)?;
            out.show(&domain::setmem(&s, &name, kib, scope.scope())?)?;
            Ok(true)
        }
        Cmd::Setvcpus {
            name,
            count,
            scope,
            maximum,
        } => {
            out.show(&domain::setvcpus(&s, &name, count, scope.scope(), maximum)?)?;
            Ok(true)
        }
        Cmd::Display { name } => {
            let u = domain::display(&s, &name)?;
            if out.json {
                out.json(&serde_json::json!({ "domain": name, "uri": u }))?;
            } else {
                out.text(&format!("{u}\n"));
            }
            Ok(true)
        }
        Cmd::Console { name } => {
            out.flush()?;
            eprint!("Connected to domain '{name}'; Ctrl-] to leave\r\n");
            domain::console(&s, &name)?;
            eprint!("\r\n");
            Ok(true)
        }
        Cmd::Snapshot(c) => run_snapshot(&s, c, out),
        Cmd::Clone {
            original,
            name,
            mac,
            auto_clone,
            linked,
        } => {
            let o = virt::clone::CloneOptions {
                original,
                name,
                mac,
                auto: auto_clone,
                linked,
            };
            out.show(&virt::clone::clone(&s, &o)?)?;
            Ok(true)
        }
        Cmd::Import {
            name,
            disk,
            memory,
            vcpus,
            mac,
            network,
            virt_type,
        } => {
            let memory_kib = virt::size::parse_kib(&memory)?;
            let o = virt::import::ImportOptions {
                name,
                disk,
                memory_kib,
                vcpus,
                mac,
                network,
                virt_type,
            };
            out.show(&virt::import::import(&s, &o)?)?;
            Ok(true)
        }
        Cmd::Migrate {
            name,
            dest_uri,
            live,
            p2p,
            tunnelled,
            persistent,
            undefinesource,
            copy_storage_inc,
            unsafe_,
        } => {
            let flags = virt::migrate::MigrateFlags {
                live,
                p2p,
                tunnelled,
                persistent,
                undefine_source: undefinesource,
                copy_storage_inc,
                unsafe_,
            };
            let quiet = out.json;
            let r = virt::migrate::migrate(&s, &name, &dest_uri, flags, move |p| {
                if quiet {
                    return;
                }
                let t = p.elapsed_ms as f64 / 1000.0;
                match (p.data_total.unwrap_or(0), p.data_remaining.unwrap_or(0)) {
                    (0, _) => eprintln!("migrating: {t:>6.1} s, preparing the destination"),
                    (_, 0) => eprintln!("migrating: {t:>6.1} s, switching over"),
                    (total, left) => eprintln!(
                        "migrating: {t:>6.1} s, {} of {} remaining ({:.0}%)",
                        virt::size::human_bytes(left),
                        virt::size::human_bytes(total),
                        100.0 * left as f64 / total as f64
                    ),
                }
            })?;
            out.show(&r)?;
            Ok(true)
        }
        Cmd::Job { name, completed } => {
            let r = virt::migrate::job(&s, &name, completed)?;
            out.show(&r)?;
            Ok(r.kind != "none")
        }
        Cmd::Backup { name, dest, method } => {
            let m = if method == "external" {
                virt::backup::Method::External
            } else {
                virt::backup::Method::Copy
            };
            out.show(&virt::backup::backup(&s, &name, &dest, m)?)?;
            Ok(true)
        }
        Cmd::Disk(_) | Cmd::Watch { .. } | Cmd::Check => unreachable!("handled before connecting"),
    }
}

fn run_snapshot(s: &Session, c: SnapCmd, out: &mut Out) -> Result<bool> {
    match c {
        SnapCmd::Create {
            name,
            snap,
            description,
        } => {
            let r = snapshot::create(s, &name, snap.as_deref(), description.as_deref())?;
            if out.json {
                out.json(&r)?;
            } else {
                out.text(&format!("Domain snapshot {} created\n", r.name));
            }
            Ok(true)
        }
        SnapCmd::List { name } => {
            let rows = snapshot::list(s, &name)?;
            out.show(rows.as_slice())?;
            Ok(!rows.is_empty())
        }
        SnapCmd::Revert { name, snap } => {
            let r = snapshot::revert(s, &name, &snap)?;
            if out.json {
                out.json(&r)?;
            } else {
                out.text(&format!(
                    "Domain '{name}' reverted to snapshot {snap} (state then: {})\n",
                    r.state
                ));
            }
            Ok(true)
        }
        SnapCmd::Delete { name, snap } => {
            snapshot::delete(s, &name, &snap)?;
            out.done(
                &name,
                "snapshot-deleted",
                None,
                format!("Domain snapshot {snap} deleted"),
            )
        }
        SnapCmd::Current { name } => {
            let r = snapshot::current(s, &name)?;
            if out.json {
                out.json(&r)?;
            } else if let Some(r) = &r {
                out.text(&format!("{}\n", r.name));
            } else {
                out.text(&format!("Domain '{name}' has no current snapshot\n"));
            }
            Ok(r.is_some())
        }
    }
}

fn run_disk(c: DiskCmd, out: &mut Out) -> Result<bool> {
    match c {
        DiskCmd::Overlay {
            base,
            new,
            backing_format,
        } => {
            let info = virt::disk::create_overlay(&base, &new, backing_format.as_deref())?;
            if out.json {
                out.json(&info)?;
            } else {
                out.text(&overlay_text(&new.display().to_string(), &info));
            }
        }
        DiskCmd::Info { file } => out.show(virt::disk::backing_chain(&file)?.as_slice())?,
    }
    Ok(true)
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn run_watch(
    out: &mut Out,
    url: String,
    every: String,
    duration: Option<String>,
    count: Option<u64>,
    timeout: String,
    verbose: bool,
) -> Result<bool> {
    use virt::watch::{parse_duration, Probe};
    let cfg = virt::watch::WatchConfig {
        url,
        every: parse_duration(&every)?,
        timeout: parse_duration(&timeout)?,
        duration: duration.as_deref().map(parse_duration).transpose()?,
        count,
    };
    // Ctrl-C ends the run and prints the report. SAFETY: the handler only
    // stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let r = virt::watch::watch(&cfg, &STOP, |at, p, _| {
        if !verbose {
            return;
        }
        match p {
            Probe::Failed(e) => eprintln!("{:>9.3} s  no answer: {e}", at.as_secs_f64()),
            Probe::Status(c) if !(200..400).contains(c) => {
                eprintln!("{:>9.3} s  HTTP {c}", at.as_secs_f64())
            }
            Probe::Status(_) => {}
        }
    })?;
    out.show(&r)?;
    Ok(r.ok > 0)
}

fn run_check(out: &mut Out, uri: &str) -> Result<bool> {
    use virt::check::{libvirt_check, Verdict};
    let mut checks = virt::check::check_host();
    let opened = Session::open(uri).map(|s| {
        let v = s.conn.lib_version().unwrap_or(0);
        format!(
            "driver {}, libvirt {}.{}.{}",
            s.driver,
            v / 1_000_000,
            v / 1000 % 1000,
            v % 1000
        )
    });
    checks.push(libvirt_check(uri, opened.map_err(|e| e.to_string())));
    out.show(checks.as_slice())?;
    Ok(checks.iter().all(|c| c.verdict != Verdict::Fail))
}
