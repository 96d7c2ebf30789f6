//! Bounded TCP reassembly of one direction: ordered by sequence number
//! (wrap-around safe); retransmissions and overlaps dropped, out-of-order
//! segments buffered until the gap fills, or skipped past a byte limit.

use std::collections::BTreeMap;

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct HalfStream {
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Stream offset of the next expected byte (bytes delivered so far).
    offset: u64,
    /// Out-of-order segments by stream offset.
    ooo: BTreeMap<u64, Held>,
    ooo_bytes: usize,
    /// Delivered, in-order bytes that the consumer has not taken yet.
    pub data: Vec<u8>,
    /// Set when bytes were skipped; the consumer should resynchronise.
    pub gap: bool,
    /// Stream offset where the FIN was sent, once seen.
    fin_at: Option<u64>,
    /// Bytes of sequence space still to come that the consumer will not
    /// read (a body it skips, the rest of a TLS session): passed over
    /// without being copied, and missing ones are no gap.
    discard: u64,
}

/// A buffered segment: the bytes captured and the sequence space it covers.
#[derive(Debug, Default, Clone)]
struct Held {
    data: Vec<u8>,
    wire: usize,
}

/// What one segment did to a half stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pushed {
    pub delivered: usize,
    pub retransmitted: bool,
    pub overlap: bool,
    pub buffered: bool,
    pub gap_skipped: u64,
}

impl HalfStream {
    /// Bytes held (out-of-order plus undelivered data).
    pub fn held(&self) -> usize {
        self.ooo_bytes + self.data.len()
    }

    /// Bytes delivered in order so far (including skipped gaps).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next `n` bytes (`u64::MAX`: all the rest) are not wanted.
    pub fn discard(&mut self, n: u64) {
        self.discard = self.discard.saturating_add(n);
    }

    /// A SYN fixes the initial sequence number.
    pub fn syn(&mut self, seq: u32) {
        if self.base.is_none() {
            self.base = Some(seq.wrapping_add(1));
        }
    }

    /// A FIN whose sequence number (after its payload) is `seq_end`.
    pub fn fin(&mut self, seq_end: u32) {
        let base = *self.base.get_or_insert(seq_end);
        let next = base.wrapping_add(self.offset as u32);
        let at = self.offset as i64 + seq_end.wrapping_sub(next) as i32 as i64;
        self.fin_at = Some(at.max(0) as u64);
    }

    /// The FIN was seen and every byte before it was delivered (a FIN can
    /// overtake data in a capture).
    pub fn finished(&self) -> bool {
        self.fin_at
            .is_some_and(|at| self.offset >= at && self.ooo.is_empty())
    }

    /// Adds one segment's payload at `seq`.
    pub fn push(&mut self, seq: u32, payload: &[u8], max_bytes: usize) -> Pushed {
        self.push_cut(seq, payload, payload.len(), max_bytes)
    }

    /// Adds a segment that covered `wire_len` bytes of sequence space of
    /// which the capture kept only `payload` (snap length): the missing tail
    /// is skipped as a gap once the segment is in order.
    pub fn push_cut(
        &mut self,
        seq: u32,
        payload: &[u8],
        wire_len: usize,
        max_bytes: usize,
    ) -> Pushed {
        let mut out = Pushed::default();
        let wire_len = wire_len.max(payload.len());
        if wire_len == 0 {
            return out;
        }
        let base = *self.base.get_or_insert(seq);
        let next = base.wrapping_add(self.offset as u32);
        let rel = seq.wrapping_sub(next) as i32 as i64;
        let start = self.offset as i64 + rel;
        let end = start + wire_len as i64;
        if end <= self.offset as i64 {
            out.retransmitted = true;
            return out;
        }
        if start > self.offset as i64 {
            // Out of order: keep it until the gap fills, unless it is a
            // duplicate of a buffered segment.
            let start = start as u64;
            match self.ooo.get(&start) {
                Some(have) if have.wire >= wire_len => out.retransmitted = true,
                _ => {
                    let seg = Held {
                        data: payload.to_vec(),
                        wire: wire_len,
                    };
                    if let Some(old) = self.ooo.insert(start, seg) {
                        self.ooo_bytes -= old.data.len();
                    }
                    self.ooo_bytes += payload.len();
                    out.buffered = true;
                }
            }
            while self.held() > max_bytes && !self.ooo.is_empty() {
                out.gap_skipped += self.skip_gap();
                out.delivered += self.drain();
            }
            return out;
        }
        // In order, possibly overlapping what was delivered (also before
        // the first byte seen, when the capture began mid-stream).
        let skip = (self.offset as i64 - start) as usize;
        out.overlap = skip > 0;
        // Delivered straight from the packet: one copy, into `data`.
        out.delivered += self.deliver(payload, wire_len, skip);
        out.delivered += self.drain();
        out
    }

    /// Delivers a segment from `skip` bytes in; the part the capture lacks
    /// is skipped and flagged as a gap.
    fn deliver(&mut self, data: &[u8], wire: usize, skip: usize) -> usize {
        let advance = wire - skip;
        let unwanted = self.discard.min(advance as u64) as usize;
        self.discard -= unwanted as u64;
        let from = skip + unwanted;
        let have = data.len().saturating_sub(from);
        if have > 0 {
            self.data.extend_from_slice(&data[from..]);
        }
        if advance - unwanted > have {
            self.gap = true;
        }
        self.offset += advance as u64;
        have
    }

    /// Moves buffered segments that are now in order to `data`.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some((&start, _)) = self.ooo.first_key_value() {
            if start > self.offset {
                break;
            }
            let seg = self.ooo.remove(&start).unwrap_or_default();
            self.ooo_bytes -= seg.data.len();
            if start + seg.wire as u64 <= self.offset {
                continue;
            }
            n += self.deliver(&seg.data, seg.wire, (self.offset - start) as usize);
        }
        n
    }

    /// Gives up on the bytes missing before the first buffered segment.
    fn skip_gap(&mut self) -> u64 {
        let Some((&start, _)) = self.ooo.first_key_value() else {
            return 0;
        };
        let skipped = start.saturating_sub(self.offset);
        if skipped > 0 {
            self.offset = start;
            let unwanted = self.discard.min(skipped);
            self.discard -= unwanted;
            self.gap |= skipped > unwanted;
        }
        skipped
    }

    /// At the end of a flow: delivers what is buffered, skipping gaps.
    /// Returns the bytes skipped.
    pub fn flush(&mut self) -> u64 {
        let mut skipped = 0;
        while !self.ooo.is_empty() {
            skipped += self.skip_gap();
            self.drain();
        }
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discarded_bytes_are_passed_over_and_missing_ones_are_no_gap() {
        let mut h = HalfStream::default();
        h.syn(999);
        h.push(1000, b"head", 1 << 20);
        assert_eq!(h.data, b"head");
        h.data.clear();
        h.discard(10);
        // 6 unwanted bytes, then 4 more of them and the next message.
        h.push(1004, b"bodyby", 1 << 20);
        assert!(h.data.is_empty());
        h.push(1010, b"tailNEXT", 1 << 20);
        assert_eq!(h.data, b"NEXT");
        assert!(!h.gap);
        // A lost segment inside the unwanted part is no gap...
        h.data.clear();
        h.discard(8);
        h.push(1022, b"xxxxMORE", 1 << 20);
        h.flush();
        assert_eq!(h.data, b"MORE");
        assert!(!h.gap);
        assert_eq!(h.offset(), 30);
        // ...one past it is.
        h.data.clear();
        h.discard(2);
        h.push(1034, b"late", 1 << 20);
        h.flush();
        assert_eq!(h.data, b"late");
        assert!(h.gap);
        // All the rest, out of order too.
        let mut h = HalfStream::default();
        h.syn(0);
        h.discard(u64::MAX);
        h.push(11, b"second", 1 << 20);
        h.push(1, b"first12345", 1 << 20);
        assert!(h.data.is_empty());
        assert_eq!(h.offset(), 16);
        assert!(!h.gap);
    }

    #[test]
    fn in_order_out_of_order_retransmitted_and_overlapping() {
        let mut h = HalfStream::default();
        h.syn(1000);
        assert_eq!(h.push(1001, b"abc", 1 << 20).delivered, 3);
        let p = h.push(1007, b"ghi", 1 << 20);
        assert!(p.buffered && p.delivered == 0);
        assert!(h.push(1001, b"abc", 1 << 20).retransmitted);
        // Overlaps the delivered "c" and fills the gap.
        let p = h.push(1003, b"cdef", 1 << 20);
        assert!(p.overlap);
        assert_eq!(p.delivered, 6);
        assert_eq!(h.data, b"abcdefghi");
        assert_eq!(h.held(), 9);
    }

    #[test]
    fn snap_cut_segments_leave_a_gap_instead_of_stalling() {
        let mut h = HalfStream::default();
        h.syn(0);
        // "abcdef" on the wire, "abc" captured; then "gh" in order.
        h.push_cut(1, b"abc", 6, 100);
        h.push(7, b"gh", 100);
        assert_eq!(h.data, b"abcgh");
        assert!(h.gap);
        assert_eq!(h.offset(), 8);
        // Out of order first: the same.
        let mut h = HalfStream::default();
        h.syn(0);
        h.push(7, b"gh", 100);
        h.push_cut(1, b"abc", 6, 100);
        assert_eq!(h.data, b"abcgh");
    }

    #[test]
    fn retransmission_reaching_before_the_first_byte_seen_is_trimmed() {
        // No SYN seen: the stream starts at the first segment.
        let mut h = HalfStream::default();
        h.push(100, b"cd", 100);
        let p = h.push(98, b"abcdef", 100);
        assert!(p.overlap);
        assert_eq!(h.data, b"cdef");
    }

    #[test]
    fn a_fin_that_overtakes_data_waits_for_it() {
        let mut h = HalfStream::default();
        h.syn(10);
        h.push(11, b"ab", 100);
        h.fin(15);
        assert!(!h.finished(), "bytes 13..15 not seen yet");
        h.push(13, b"cd", 100);
        assert!(h.finished());
        // A bare FIN (no data at all) finishes at once.
        let mut h = HalfStream::default();
        h.syn(10);
        h.fin(11);
        assert!(h.finished());
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut h = HalfStream::default();
        h.syn(u32::MAX - 1);
        h.push(5, b"world", 100);
        h.push(u32::MAX, b"hel", 100);
        assert_eq!(h.data, b"hel");
        h.push(2, b"lo ", 100);
        assert_eq!(h.data, b"hello world");
    }

    #[test]
    fn a_gap_that_never_fills_is_skipped_past_the_limit() {
        let mut h = HalfStream::default();
        h.syn(0);
        h.push(1, b"ab", 8);
        h.push(10, b"xxxx", 8);
        let p = h.push(14, b"yyyy", 8);
        assert_eq!(p.gap_skipped, 7);
        assert!(h.gap);
        assert_eq!(h.data, b"abxxxxyyyy");
        h.push(20, b"zz", 100);
        assert_eq!(h.flush(), 2);
        assert_eq!(h.data, b"abxxxxyyyyzz");
    }
}
