//! Per-domain usage, sampled: what `virsh list` shows plus the counters
//! behind `virsh domstats` (CPU time, memory, disk and network bytes), and
//! rates computed between two samples. The console's Machines page and its
//! usage graphs read these; so could a `top`-like CLI.

use std::collections::HashMap;
use std::time::Instant;

use serde::Serialize;
use virt::sys;

use super::connect::{Result, Session};
use super::domain::{is_active, state_str};
use super::xml::parse_domain;

/// One domain at one instant.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DomainSample {
    pub name: String,
    pub uuid: String,
    pub id: Option<u32>,
    pub state: String,
    pub active: bool,
    pub persistent: bool,
    pub vcpus: u32,
    pub max_vcpus: u32,
    pub memory_kib: u64,
    pub max_memory_kib: u64,
    /// Cumulative counters (None where the driver does not give them).
    pub cpu_time_ns: u64,
    pub disk_read_bytes: Option<u64>,
    pub disk_write_bytes: Option<u64>,
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    /// Devices, as the page needs them to offer consoles.
    pub vnc: bool,
    pub serials: usize,
    pub snapshots: u32,
    /// Rates against the previous sample of the same domain.
    pub cpu_percent: Option<f64>,
    pub disk_read_bps: Option<f64>,
    pub disk_write_bps: Option<f64>,
    pub net_rx_bps: Option<f64>,
    pub net_tx_bps: Option<f64>,
}

fn sum(parts: impl Iterator<Item = Option<u64>>) -> Option<u64> {
    let mut any = false;
    let mut total = 0u64;
    for p in parts.flatten() {
        any = true;
        total = total.saturating_add(p);
    }
    any.then_some(total)
}

fn nonneg(v: i64) -> Option<u64> {
    (v >= 0).then_some(v as u64)
}

/// Every domain of the connection, sorted by name, without rates.
pub fn sample_all(s: &Session) -> Result<Vec<DomainSample>> {
    let doms = s
        .conn
        .list_all_domains(0)
        .map_err(|e| s.err("listing domains", e))?;
    let mut out = Vec::with_capacity(doms.len());
    for d in doms {
        // A domain can vanish between the listing and these calls (a
        // transient one stopping): skip it rather than fail the page.
        let (Ok(name), Ok(info)) = (d.name(), d.info()) else {
            continue;
        };
        let state = match info.state {
            virt::enumutil::Enum::Known(k) => k,
            virt::enumutil::Enum::Unknown(_) => virt::domain::DomainState::NoState,
        };
        let active = is_active(state);
        let px = d
            .xml_desc(0)
            .ok()
            .and_then(|x| parse_domain(&x).ok())
            .unwrap_or_default();
        let (mut rd, mut wr, mut rx, mut tx) = (None, None, None, None);
        if active {
            let disks: Vec<_> = px
                .disks
                .iter()
                .filter(|k| k.device == "disk")
                .map(|k| d.block_stats(&k.target).ok())
                .collect();
            rd = sum(disks
                .iter()
                .map(|b| b.as_ref().and_then(|b| nonneg(b.rd_bytes))));
            wr = sum(disks
                .iter()
                .map(|b| b.as_ref().and_then(|b| nonneg(b.wr_bytes))));
            let nics: Vec<_> = px
                .nics
                .iter()
                .filter_map(|n| n.target.as_deref())
                .map(|t| d.interface_stats(t).ok())
                .collect();
            rx = sum(nics
                .iter()
                .map(|n| n.as_ref().and_then(|n| nonneg(n.rx_bytes))));
            tx = sum(nics
                .iter()
                .map(|n| n.as_ref().and_then(|n| nonneg(n.tx_bytes))));
        }
        let max_vcpus = if active {
            d.vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM)
                .ok()
                .or(px.vcpus_max)
                .unwrap_or(info.nr_virt_cpu)
        } else {
            px.vcpus_max.unwrap_or(info.nr_virt_cpu)
        };
        out.push(DomainSample {
            uuid: d.uuid_string().unwrap_or_default(),
            id: d.id(),
            state: state_str(state),
            active,
            persistent: d.is_persistent().unwrap_or(false),
            vcpus: if active {
                info.nr_virt_cpu
            } else {
                px.vcpus_current.unwrap_or(info.nr_virt_cpu)
            },
            max_vcpus,
            memory_kib: info.memory,
            max_memory_kib: info.max_mem,
            cpu_time_ns: info.cpu_time,
            disk_read_bytes: rd,
            disk_write_bytes: wr,
            net_rx_bytes: rx,
            net_tx_bytes: tx,
            vnc: px.graphics.iter().any(|g| g.kind == "vnc"),
            serials: px.serials,
            snapshots: d.num_snapshots(0).unwrap_or(0),
            cpu_percent: None,
            disk_read_bps: None,
            disk_write_bps: None,
            net_rx_bps: None,
            net_tx_bps: None,
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Keeps the previous sample of each domain to turn counters into rates.
#[derive(Default)]
pub struct Sampler {
    prev: HashMap<String, (Instant, DomainSample)>,
}

fn rate(now: Option<u64>, then: Option<u64>, secs: f64) -> Option<f64> {
    match (now, then) {
        (Some(a), Some(b)) if a >= b && secs > 0.0 => Some((a - b) as f64 / secs),
        _ => None,
    }
}

impl Sampler {
    /// Fills the rates of `samples` (taken at `at`) from the previous call.
    /// CPU is the percentage of the domain's vCPUs (100 = all busy).
    pub fn rates(&mut self, at: Instant, samples: &mut [DomainSample]) {
        let mut next = HashMap::with_capacity(samples.len());
        for smp in samples.iter_mut() {
            if let Some((t, p)) = self.prev.get(&smp.uuid) {
                let secs = at.duration_since(*t).as_secs_f64();
                if smp.active && p.active && secs > 0.0 && smp.cpu_time_ns >= p.cpu_time_ns {
                    let busy = (smp.cpu_time_ns - p.cpu_time_ns) as f64 / 1e9;
                    smp.cpu_percent = Some(100.0 * busy / secs / smp.vcpus.max(1) as f64);
                }
                smp.disk_read_bps = rate(smp.disk_read_bytes, p.disk_read_bytes, secs);
                smp.disk_write_bps = rate(smp.disk_write_bytes, p.disk_write_bytes, secs);
                smp.net_rx_bps = rate(smp.net_rx_bytes, p.net_rx_bytes, secs);
                smp.net_tx_bps = rate(smp.net_tx_bytes, p.net_tx_bytes, secs);
            }
            next.insert(smp.uuid.clone(), (at, smp.clone()));
        }
        self.prev = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smp(uuid: &str, cpu: u64, rd: Option<u64>) -> DomainSample {
        DomainSample {
            name: uuid.into(),
            uuid: uuid.into(),
            id: Some(1),
            state: "running".into(),
            active: true,
            persistent: true,
            vcpus: 2,
            max_vcpus: 2,
            memory_kib: 1,
            max_memory_kib: 1,
            cpu_time_ns: cpu,
            disk_read_bytes: rd,
            disk_write_bytes: None,
            net_rx_bytes: None,
            net_tx_bytes: None,
            vnc: false,
            serials: 0,
            snapshots: 0,
            cpu_percent: None,
            disk_read_bps: None,
            disk_write_bps: None,
            net_rx_bps: None,
            net_tx_bps: None,
        }
    }

    #[test]
    fn rates_come_from_the_previous_sample_of_the_same_domain() {
        let mut s = Sampler::default();
        let t0 = Instant::now();
        let mut a = vec![smp("a", 0, Some(1000)), smp("b", 0, None)];
        s.rates(t0, &mut a);
        assert_eq!(a[0].cpu_percent, None, "no previous sample");
        // One second later: a used one of its two vCPUs fully, read 5000 B.
        let mut b = vec![smp("a", 1_000_000_000, Some(6000)), smp("b", 0, None)];
        s.rates(t0 + std::time::Duration::from_secs(1), &mut b);
        assert!((b[0].cpu_percent.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(b[0].disk_read_bps, Some(5000.0));
        assert_eq!(b[1].disk_read_bps, None, "no counter, no rate");
        assert_eq!(b[1].cpu_percent, Some(0.0));
        // A counter that went back (the domain restarted) gives no rate.
        let mut c = vec![smp("a", 10, Some(10))];
        s.rates(t0 + std::time::Duration::from_secs(2), &mut c);
        assert_eq!((c[0].cpu_percent, c[0].disk_read_bps), (None, None));
    }

    #[test]
    fn sums_keep_none_when_no_device_answers() {
        assert_eq!(sum([None, None].into_iter()), None);
        assert_eq!(sum([Some(2), None, Some(3)].into_iter()), Some(5));
    }
}
