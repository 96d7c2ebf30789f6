//! Packets to findings: `Sniffer::feed` on any link type and any bytes,
//! then `finish`. The input is: one byte choosing the link type and the
//! limits, then packets, each a 2-byte length and a 1-byte time step
//! (seconds) before its bytes. Small limits so that eviction, gap skipping
//! and the memory bound are exercised. Invariant: the flow table stays
//! within its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tplab::sniff::flow::Limits;
use tplab::sniff::{Config, LinkType, Sniffer};

const LINKS: [LinkType; 8] = [
    LinkType::Ethernet,
    LinkType::Null,
    LinkType::Loop,
    LinkType::Raw,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let link = LINKS[(sel & 7) as usize];
    let mut cfg = Config::default();
    if sel & 8 != 0 {
        cfg.limits = Limits {
            max_flows: 4,
            max_flow_bytes: 512,
            max_total_bytes: 1024,
            idle_timeout_us: 5_000_000,
        };
    }
    cfg.dedup = sel & 16 == 0;
    if sel & 32 != 0 {
        cfg.fields.add_secret("pin");
    }
    let max_flows = cfg.limits.max_flows;
    let mut s = Sniffer::new(cfg);
    let mut ts: i64 = 1_500_000_000_000_000;
    while rest.len() >= 3 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        ts += rest[2] as i64 * 1_000_000;
        rest = &rest[3..];
        let (pkt, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        let _ = s.feed(link, ts, pkt);
        assert!(s.open_flows() <= max_flows);
    }
    let _ = s.finish();
    let _ = s.summary();
});
