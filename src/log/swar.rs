//! Byte searches eight bytes at a time in a `u64`, for the short fields
//! of log lines, where a SIMD search's set-up costs more than the search.

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` equal to the byte `p` repeats; exact
/// for the lowest such byte (a borrow only spreads upwards), which is
/// the only one read.
#[inline(always)]
fn eq_mask(w: u64, p: u64) -> u64 {
    let x = w ^ p;
    x.wrapping_sub(LO) & !x & HI
}

/// The first index from `j` holding `a` or `b`, looking at `max` bytes
/// or a little more (whole words): `Ok(index)`; `Err(n)` where it
/// stopped without finding one: `n >= data.len()` when the data ended,
/// else the caller goes on from `n` (with `memchr2` for a long field).
#[inline(always)]
pub(crate) fn find_either(data: &[u8], mut j: usize, a: u8, b: u8, max: usize) -> Result<usize, usize> {
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let stop = j.saturating_add(max);
    while j < stop {
        let Some(w) = data.get(j..j + 8) else { break };
        let w = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        let m = eq_mask(w, pa) | eq_mask(w, pb);
        if m != 0 {
            return Ok(j + (m.trailing_zeros() / 8) as usize);
        }
        j += 8;
    }
    if j >= stop {
        return Err(j);
    }
    // Fewer than eight bytes left.
    while j < data.len() {
        if data[j] == a || data[j] == b {
            return Ok(j);
        }
        j += 1;
    }
    Err(data.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain search, at every start, for bytes next to the
    /// ones sought (where a borrow could mislead) and high bytes.
    #[test]
    fn agrees_with_a_plain_search() {
        let alphabet = [b'"', b'\\', b'!', b'#', b'[', b']', 0, 0x80, 0xa2, 0xdc, 0xff, b'a'];
        let mut seed = 7u64;
        for len in 0..40 {
            for _ in 0..200 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        alphabet[(seed >> 33) as usize % alphabet.len()]
                    })
                    .collect();
                for j in 0..=len {
                    let plain = data[j..].iter().position(|&c| c == b'"' || c == b'\\').map(|k| j + k);
                    match find_either(&data, j, b'"', b'\\', usize::MAX) {
                        Ok(k) => assert_eq!(Some(k), plain, "{data:?} from {j}"),
                        Err(n) => assert_eq!((plain, n), (None, len), "{data:?} from {j}"),
                    }
                    // A window: what it finds is the first; where it stops, none before.
                    match find_either(&data, j, b'"', b'\\', 16) {
                        Ok(k) => assert_eq!(Some(k), plain),
                        Err(n) => assert!(plain.is_none_or(|k| k >= n) && n >= (j + 16).min(len), "{data:?} from {j}: {n}"),
                    }
                }
            }
        }
    }
}
