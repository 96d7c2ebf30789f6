//! Text renderings of what the commands return (the `--json` rendering is
//! serde's). Printers never talk to libvirt; engines never print.

use std::fmt::Write;

use super::backup::BackupReport;
use super::check::{Check, Verdict};
use super::clone::Cloned;
use super::disk::ImageInfo;
use super::domain::{DomainReport, DomainRow, Resources, Undefined};
use super::import::Imported;
use super::migrate::{JobReport, MigrateReport};
use super::size::{human_bytes, human_kib};
use super::snapshot::SnapshotRow;
use super::watch::WatchReport;

/// How a value reads on a terminal; one or more lines, each ending in `\n`.
pub trait Text {
    fn text(&self) -> String;
}

macro_rules! w {
    ($s:expr, $($a:tt)*) => {{ let _ = writeln!($s, $($a)*); }};
}

impl Text for [DomainRow] {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(s, " {:<5} {:<30} State", "Id", "Name");
        w!(s, "{}", "-".repeat(50));
        for r in self {
            let id = r.id.map_or("-".to_string(), |i| i.to_string());
            w!(s, " {:<5} {:<30} {}", id, r.name, r.state);
        }
        s
    }
}

impl Text for Undefined {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(s, "Domain '{}' has been undefined", self.name);
        if self.snapshots_removed > 0 {
            w!(
                s,
                "Removed the metadata of {} snapshot(s)",
                self.snapshots_removed
            );
        }
        for v in &self.volumes_removed {
            w!(s, "Volume '{v}' removed");
        }
        for v in &self.volumes_kept {
            w!(s, "Kept {v}");
        }
        s
    }
}

impl Text for DomainReport {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(s, "{:<15} {}", "Name:", self.name);
        w!(s, "{:<15} {}", "UUID:", self.uuid);
        w!(
            s,
            "{:<15} {}",
            "Id:",
            self.id.map_or("-".into(), |i| i.to_string())
        );
        w!(s, "{:<15} {}", "State:", self.state);
        w!(
            s,
            "{:<15} {}",
            "Persistent:",
            if self.persistent { "yes" } else { "no" }
        );
        w!(
            s,
            "{:<15} {} KiB ({})",
            "Memory:",
            self.memory_kib,
            human_kib(self.memory_kib)
        );
        w!(
            s,
            "{:<15} {} KiB ({})",
            "Max memory:",
            self.max_memory_kib,
            human_kib(self.max_memory_kib)
        );
        w!(
            s,
            "{:<15} {}{}",
            "vCPUs:",
            self.vcpus,
            self.max_vcpus
                .map_or(String::new(), |m| format!(" (max {m})"))
        );
        if let Some(d) = &self.display {
            w!(s, "{:<15} {}", "Display:", d);
        }
        for d in &self.disks {
            w!(
                s,
                "Disk {:<10} {} {} ({})",
                d.target,
                d.device,
                d.source.as_deref().unwrap_or("-"),
                d.format.as_deref().unwrap_or("?")
            );
            for (i, img) in d.chain.iter().enumerate() {
                w!(
                    s,
                    "  {}{} [{}] virtual {} actual {}",
                    "  ".repeat(i),
                    img.filename,
                    img.format,
                    human_bytes(img.virtual_size),
                    human_bytes(img.actual_size)
                );
            }
            if let Some(n) = &d.chain_note {
                w!(s, "  (backing chain: {n})");
            }
        }
        for n in &self.nics {
            w!(
                s,
                "NIC  {:<17}  {} {} {} {}",
                n.mac.as_deref().unwrap_or("-"),
                n.kind,
                n.source.as_deref().unwrap_or("-"),
                n.model.as_deref().unwrap_or("-"),
                if n.addresses.is_empty() {
                    "-".to_string()
                } else {
                    n.addresses.join(", ")
                }
            );
        }
        s
    }
}

impl Text for Resources {
    fn text(&self) -> String {
        format!(
            "Domain '{}' ({}): memory {} KiB ({}) of max {} KiB, {} of max {} vCPUs\n",
            self.name,
            self.scope,
            self.memory_kib,
            human_kib(self.memory_kib),
            self.max_memory_kib,
            self.vcpus,
            self.max_vcpus
        )
    }
}

impl Text for [SnapshotRow] {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(
            s,
            " {:<24} {:<12} {:<12} Parent",
            "Name",
            "Created",
            "State"
        );
        w!(s, "{}", "-".repeat(64));
        for r in self {
            w!(
                s,
                " {:<24} {:<12} {:<12} {}{}",
                r.name,
                r.creation_time.map_or("-".into(), |t| t.to_string()),
                r.state,
                r.parent.as_deref().unwrap_or("-"),
                if r.current { " (current)" } else { "" }
            );
        }
        s
    }
}

impl Text for Cloned {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(s, "Clone '{}' created (UUID {})", self.name, self.uuid);
        for m in &self.macs {
            w!(s, "  MAC {m}");
        }
        for d in &self.disks {
            w!(s, "  {} {} -> {} ({})", d.target, d.from, d.to, d.how);
        }
        s
    }
}

impl Text for Imported {
    fn text(&self) -> String {
        format!(
            "Domain '{}' defined: boots from {} ({}), MAC {}, type {}\n",
            self.name, self.disk, self.format, self.mac, self.virt_type
        )
    }
}

/// `disk overlay`: what qemu-img says when it creates one.
pub fn overlay_text(new: &str, info: &ImageInfo) -> String {
    format!(
        "Formatting '{new}', fmt=qcow2 size={} backing_file={} backing_fmt={}\n",
        info.virtual_size,
        info.backing_filename.as_deref().unwrap_or("-"),
        info.backing_filename_format.as_deref().unwrap_or("-")
    )
}

impl Text for [ImageInfo] {
    /// Like `qemu-img info --backing-chain`.
    fn text(&self) -> String {
        let mut s = String::new();
        for (i, img) in self.iter().enumerate() {
            if i > 0 {
                w!(s, "");
            }
            w!(s, "image: {}", img.filename);
            w!(s, "file format: {}", img.format);
            w!(
                s,
                "virtual size: {} ({} bytes)",
                human_bytes(img.virtual_size),
                img.virtual_size
            );
            w!(s, "disk size: {}", human_bytes(img.actual_size));
            if let Some(c) = img.cluster_size {
                w!(s, "cluster_size: {c}");
            }
            if let Some(b) = &img.backing_filename {
                match img.full_backing_filename.as_deref() {
                    Some(full) if full != b => w!(s, "backing file: {b} (actual path: {full})"),
                    _ => w!(s, "backing file: {b}"),
                }
            }
            if let Some(f) = &img.backing_filename_format {
                w!(s, "backing file format: {f}");
            }
            if let Some(c) = &img.compat {
                w!(s, "compat: {c}");
            }
            if img.snapshots > 0 {
                w!(s, "snapshots: {}", img.snapshots);
            }
        }
        s
    }
}

impl Text for MigrateReport {
    fn text(&self) -> String {
        format!(
            "Domain '{}' migrated to {} in {:.2} s, downtime {}\n",
            self.domain,
            self.dest_uri,
            self.seconds,
            self.downtime_ms
                .map_or("unknown".into(), |d| format!("{d} ms"))
        )
    }
}

impl Text for JobReport {
    fn text(&self) -> String {
        let mut s = format!("{:<18}{}\n", "Job type:", self.kind);
        let mut row = |k: &str, v: String| s.push_str(&format!("{k:<18}{v}\n"));
        if let Some(o) = self.operation {
            row("Operation:", o.into());
        }
        if let Some(t) = self.elapsed_ms {
            row("Time elapsed:", format!("{t} ms"));
        }
        for (k, v) in [
            ("Data total:", self.data_total),
            ("Data processed:", self.data_processed),
            ("Data remaining:", self.data_remaining),
        ] {
            if let Some(b) = v {
                row(k, human_bytes(b));
            }
        }
        if let Some(b) = self.memory_bps {
            row("Memory bandwidth:", format!("{}/s", human_bytes(b)));
        }
        if let Some(d) = self.downtime_ms {
            row("Total downtime:", format!("{d} ms"));
        }
        if let Some(e) = &self.error {
            row("Error:", e.clone());
        }
        s
    }
}

impl Text for BackupReport {
    fn text(&self) -> String {
        let mut s = String::new();
        w!(
            s,
            "Domain '{}' backed up ({}); guest frozen for {:.1} ms",
            self.domain,
            self.method,
            self.frozen_ms
        );
        for d in &self.disks {
            let writes = if d.written == d.backup {
                &d.source
            } else {
                &d.written
            };
            w!(
                s,
                "  {}: backup in {} (guest writes to {})",
                d.target,
                d.backup,
                writes
            );
        }
        s
    }
}

impl Text for WatchReport {
    fn text(&self) -> String {
        let mut s = String::new();
        let l = &self.latency_us;
        let ms = |us: u64| us as f64 / 1000.0;
        w!(
            s,
            "{}: {} requests, {} ok, {} failed in {:.1} s",
            self.url,
            self.requests,
            self.ok,
            self.failed,
            self.elapsed_ms / 1000.0
        );
        w!(
            s,
            "latency (ms): min {:.2}  p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            ms(l.min),
            ms(l.p50),
            ms(l.p90),
            ms(l.p99),
            ms(l.p999),
            ms(l.max)
        );
        w!(
            s,
            "longest gap without an answer: {:.1} ms (from {:.3} s)",
            self.longest_gap_ms,
            self.longest_gap_at_ms / 1000.0
        );
        if let Some(e) = &self.last_error {
            w!(s, "last error: {e}");
        }
        s
    }
}

impl Text for [Check] {
    fn text(&self) -> String {
        let mut s = String::new();
        for c in self {
            let v = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            w!(s, "[{v}] {:<9} {}", c.name, c.detail);
        }
        s
    }
}
