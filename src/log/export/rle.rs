//! Parquet's RLE / bit-packed hybrid encoding, for definition levels and
//! dictionary indices. Values go in groups of eight: a group of eight equal
//! values extends or starts a run, any other group is bit-packed. Runs
//! therefore start on a group boundary, so no value is ever padded but in
//! the very last group, as the format allows.

/// Bits needed for values up to `max`.
pub fn width(max: u32) -> u32 {
    32 - max.leading_zeros()
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// At most this many groups per bit-packed header (one header byte each,
/// as parquet-mr writes them).
const MAX_GROUPS: usize = 63;

/// Appends `vals` encoded with `width` bits each (no length prefix).
pub fn encode(out: &mut Vec<u8>, vals: &[u32], width: u32) {
    let value_bytes = width.div_ceil(8) as usize;
    // The bit-packed groups waiting for their header.
    let mut packed: Vec<u8> = Vec::new();
    let mut groups = 0usize;
    // A run being counted: (value, count).
    let mut run: Option<(u32, u64)> = None;

    let flush_packed = |out: &mut Vec<u8>, packed: &mut Vec<u8>, groups: &mut usize| {
        if *groups > 0 {
            varint(out, ((*groups as u64) << 1) | 1);
            out.extend_from_slice(packed);
            packed.clear();
            *groups = 0;
        }
    };
    let flush_run = |out: &mut Vec<u8>, run: &mut Option<(u32, u64)>| {
        if let Some((v, n)) = run.take() {
            varint(out, n << 1);
            out.extend_from_slice(&v.to_le_bytes()[..value_bytes]);
        }
    };

    let mut chunks = vals.chunks_exact(8);
    for g in &mut chunks {
        let v = g[0];
        if g.iter().all(|&x| x == v) {
            match &mut run {
                Some((rv, n)) if *rv == v => *n += 8,
                _ => {
                    flush_run(out, &mut run);
                    flush_packed(out, &mut packed, &mut groups);
                    run = Some((v, 8));
                }
            }
            continue;
        }
        flush_run(out, &mut run);
        pack(&mut packed, g, width);
        groups += 1;
        if groups == MAX_GROUPS {
            flush_packed(out, &mut packed, &mut groups);
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        if let Some((rv, n)) = &mut run {
            if rest.iter().all(|x| x == rv) {
                *n += rest.len() as u64;
                flush_run(out, &mut run);
                return;
            }
        }
        flush_run(out, &mut run);
        let mut last = [0u32; 8];
        last[..rest.len()].copy_from_slice(rest);
        pack(&mut packed, &last, width);
        groups += 1;
    }
    flush_run(out, &mut run);
    flush_packed(out, &mut packed, &mut groups);
}

/// Eight values, `width` bits each, least significant bit first.
#[inline]
fn pack(out: &mut Vec<u8>, g: &[u32], width: u32) {
    let mut acc: u64 = 0;
    let mut bits = 0u32;
    for &v in g {
        acc |= (v as u64) << bits;
        bits += width;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    debug_assert_eq!(bits, 0, "eight values fill whole bytes");
}

/// Definition levels as a V1 data page holds them: a 4-byte length, then
/// the encoding.
pub fn with_length(out: &mut Vec<u8>, vals: &[u32], width: u32) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    encode(out, vals, width);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoder written from the format's description, to read back what
    /// the encoder wrote.
    fn decode(mut b: &[u8], width: u32, n: usize) -> Vec<u32> {
        let value_bytes = width.div_ceil(8) as usize;
        let mut out = Vec::new();
        while out.len() < n {
            let mut h = 0u64;
            let mut shift = 0;
            loop {
                let byte = b[0];
                b = &b[1..];
                h |= ((byte & 0x7f) as u64) << shift;
                shift += 7;
                if byte < 0x80 {
                    break;
                }
            }
            if h & 1 == 0 {
                let mut v = [0u8; 4];
                v[..value_bytes].copy_from_slice(&b[..value_bytes]);
                b = &b[value_bytes..];
                for _ in 0..h >> 1 {
                    out.push(u32::from_le_bytes(v));
                }
            } else {
                let count = (h >> 1) as usize * 8;
                let bytes = (h >> 1) as usize * width as usize;
                let (data, rest) = b.split_at(bytes);
                b = rest;
                for k in 0..count {
                    let mut v = 0u32;
                    for bit in 0..width as usize {
                        let at = k * width as usize + bit;
                        v |= (((data[at / 8] >> (at % 8)) & 1) as u32) << bit;
                    }
                    out.push(v);
                }
            }
        }
        assert!(b.is_empty(), "bytes left after {n} values");
        out.truncate(n);
        out
    }

    fn round_trip(vals: &[u32]) {
        let max = vals.iter().copied().max().unwrap_or(0);
        for width in [width(max).max(1), 17, 32] {
            let mut out = Vec::new();
            encode(&mut out, vals, width);
            assert_eq!(decode(&out, width, vals.len()), vals, "width {width}");
        }
    }

    #[test]
    fn runs_literals_and_their_mixes_read_back() {
        round_trip(&[]);
        round_trip(&[5]);
        round_trip(&[1; 7]);
        round_trip(&[1; 8]);
        round_trip(&[1; 1000]);
        round_trip(&(0..1000).collect::<Vec<_>>());
        let mut mixed: Vec<u32> = Vec::new();
        for k in 0..200u32 {
            mixed.extend(std::iter::repeat_n(k % 3, (k as usize * 7) % 23));
            mixed.push(k);
        }
        round_trip(&mixed);
        // A run that ends in the last, partial group.
        let mut tail = vec![3; 16];
        tail.extend([3, 3, 3]);
        round_trip(&tail);
        tail.push(4);
        round_trip(&tail);
    }

    #[test]
    fn long_runs_take_a_few_bytes_and_literals_their_bits() {
        let mut out = Vec::new();
        encode(&mut out, &[1; 100_000], 1);
        assert!(out.len() <= 4, "{} bytes", out.len());
        out.clear();
        let alternating: Vec<u32> = (0..8000).map(|i| i % 2).collect();
        encode(&mut out, &alternating, 1);
        // 1000 bytes of bits plus a header byte per 63 groups.
        assert_eq!(out.len(), 1000 + 1000usize.div_ceil(MAX_GROUPS));
    }

    #[test]
    fn widths() {
        assert_eq!(width(0), 0);
        assert_eq!(width(1), 1);
        assert_eq!(width(255), 8);
        assert_eq!(width(256), 9);
    }
}
