//! TCP reassembly (`FlowTable` and `HalfStream`) fed arbitrary segment
//! sequences: any order, duplicates, overlaps, SYN/FIN/RST anywhere,
//! sequence numbers around the 2^32 wrap, snap-length cuts, idle time,
//! more flows than the table holds.
//!
//! Each segment is 6 bytes: flags, which connection and direction, a
//! 16-bit sequence offset from that direction's ISN, a length, a time step
//! and a snap-length cut. A segment's payload is the low byte of each
//! byte's own sequence number (what a consistent sender sends), unless the
//! flags ask for arbitrary bytes taken from the input.
//!
//! Invariants, after a consumer takes what was delivered (as the engine
//! does): the table holds at most `max_flows` flows; a direction holds at
//! most `max_flow_bytes`; and, until a gap is skipped or the flow is
//! replaced, consistent bytes come out in sequence order with nothing lost,
//! doubled or reordered.
#![no_main]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use tplab::sniff::flow::{FlowTable, Limits};
use tplab::sniff::link::TcpSegment;

const LIMITS: Limits = Limits {
    max_flows: 3,
    max_flow_bytes: 600,
    max_total_bytes: 1500,
    idle_timeout_us: 20_000_000,
};

fn addr(host: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, host)), port)
}

/// What the checker remembers of one direction.
#[derive(Default, Clone, Copy)]
struct Track {
    /// Low byte of the last byte delivered, while the run is unbroken.
    last: Option<u8>,
    /// Arbitrary bytes were sent: no content check any more.
    tainted: bool,
}

fuzz_target!(|data: &[u8]| {
    let mut table: FlowTable<()> = FlowTable::new(LIMITS);
    let mut track: HashMap<(SocketAddr, SocketAddr), Track> = HashMap::new();
    let mut ts: i64 = 0;
    let mut rest = data;
    while rest.len() >= 6 {
        let (h, tail) = rest.split_at(6);
        rest = tail;
        let flags = h[0];
        // Four connections, two of them sharing a server; 80 makes the
        // server side guessable by port, 40000 does not.
        let conn = (h[1] >> 1) & 3;
        let (client, server) = match conn {
            0 => (addr(1, 40001), addr(2, 80)),
            1 => (addr(1, 40002), addr(2, 80)),
            2 => (addr(3, 40003), addr(4, 40000)),
            _ => (addr(5, 40004), addr(6, 443)),
        };
        let to_server = h[1] & 1 == 0;
        let (src, dst) = if to_server { (client, server) } else { (server, client) };
        // ISNs near the wrap so that offsets cross it.
        let isn: u32 = 0xffff_ff00u32.wrapping_add(conn as u32 * 0x10 + to_server as u32 * 0x1000);
        let off = u16::from_be_bytes([h[1] >> 3, h[2]]) as u32;
        let len = (h[3] & 0x7f) as usize * if h[3] & 0x80 != 0 { 4 } else { 1 };
        ts += (h[4] as i64) * 250_000;
        let cut = (h[5] & 0x0f) as usize;
        let syn = flags & 1 != 0;
        let seq = if syn { isn } else { isn.wrapping_add(1).wrapping_add(off) };
        let data_seq = if syn { isn.wrapping_add(1) } else { seq };
        let arbitrary = flags & 0x40 != 0;
        let payload: Vec<u8> = if arbitrary {
            let n = len.min(rest.len());
            let (p, tail) = rest.split_at(n);
            rest = tail;
            p.to_vec()
        } else {
            (0..len).map(|i| data_seq.wrapping_add(i as u32) as u8).collect()
        };
        let kept = payload.len().saturating_sub(cut);
        let seg = TcpSegment {
            src,
            dst,
            seq,
            syn,
            ack: flags & 2 != 0,
            fin: flags & 4 != 0,
            rst: flags & 8 != 0,
            payload: &payload[..kept],
            truncated: kept < payload.len(),
            wire_len: payload.len(),
        };
        let mut ended = Vec::new();
        let res = table.segment(ts, &seg, &mut ended);
        let mut closed = None;
        if let Some((flow, _dir, before)) = res {
            let (c, s) = (flow.client, flow.server);
            for (i, half) in flow.half.iter_mut().enumerate() {
                let key = if i == 0 { (c, s) } else { (s, c) };
                let t = track.entry(key).or_default();
                if key == (src, dst) && arbitrary {
                    t.tainted = true;
                }
                if half.gap {
                    t.last = None;
                    half.gap = false;
                } else if !t.tainted {
                    for &b in &half.data {
                        if let Some(prev) = t.last {
                            assert_eq!(b, prev.wrapping_add(1), "bytes lost, doubled or reordered");
                        }
                        t.last = Some(b);
                    }
                }
                half.data.clear();
                assert!(
                    half.held() <= LIMITS.max_flow_bytes,
                    "a direction holds {} bytes",
                    half.held()
                );
            }
            let after = flow.held();
            if flow.closed() {
                closed = Some((c, s));
            }
            table.account(before, after);
            table.enforce_memory(&mut ended);
        }
        if let Some((c, s)) = closed {
            if table.remove(c, s).is_some() {
                track.remove(&(c, s));
                track.remove(&(s, c));
            }
        }
        for (f, _why) in ended {
            track.remove(&(f.client, f.server));
            track.remove(&(f.server, f.client));
        }
        assert!(table.len() <= LIMITS.max_flows);
        assert!(table.held() <= LIMITS.max_total_bytes);
    }
    for mut f in table.drain_all() {
        for h in &mut f.half {
            h.flush();
        }
    }
});
