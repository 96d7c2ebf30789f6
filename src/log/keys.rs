//! Counts by a byte key (an address, a status, a path), the table the
//! group-and-count commands fill once per matching line.
//!
//! A `HashMap<Cow<[u8]>, u64>` spent a fifth of a full `tplog ips` run in
//! the lookup, half of it in libc's `memcmp` called for 10-15-byte keys.
//! hashbrown's `HashTable` takes the equality as a closure: keys of up to
//! 16 bytes (addresses, statuses, methods) compare as two overlapping
//! words, inline, and hash as two padded words. (Keeping those words in
//! each entry as well, to compare without reading the key, gained 1-2%
//! and cost 50% more memory per distinct key: not kept.)

use std::borrow::Cow;
use std::hash::Hasher;

use hashbrown::HashTable;
use rustc_hash::FxHasher;

/// A key's first 16 bytes, zero-padded, as two words; built from
/// overlapping loads rather than a copy into a buffer (a byte copy then
/// word loads stalls on store forwarding, measured at ~40% of the lookup).
#[inline]
fn pad(k: &[u8]) -> [u64; 2] {
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let half = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().expect("4 bytes")) as u64;
    let n = k.len();
    match n {
        16.. => [word(k), word(&k[8..])],
        9..=15 => [word(k), word(&k[n - 8..]) >> ((16 - n) * 8)],
        8 => [word(k), 0],
        // The two loads overlap on equal bytes, so OR-ing them is exact.
        4..=7 => [half(k) | (half(&k[n - 4..]) << ((n - 4) * 8)), 0],
        _ => [k.iter().rev().fold(0u64, |w, &b| w << 8 | b as u64), 0],
    }
}

/// Short keys hash as their two padded words (and length), long ones
/// byte by byte.
#[inline]
pub(crate) fn hash(k: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    if k.len() <= 16 {
        let p = pad(k);
        h.write_u64(p[0]);
        h.write_u64(p[1] ^ k.len() as u64);
    } else {
        h.write(k);
    }
    h.finish()
}

/// Byte equality without a `memcmp` call for short keys: the first and
/// last 8 (or 4) bytes, which overlap and so cover every byte.
#[inline]
pub fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let half = |b: &[u8]| u32::from_le_bytes(b[..4].try_into().expect("4 bytes"));
    match n {
        8..=16 => word(a) == word(b) && word(&a[n - 8..]) == word(&b[n - 8..]),
        4..=7 => half(a) == half(b) && half(&a[n - 4..]) == half(&b[n - 4..]),
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

#[derive(Clone, Debug)]
struct Entry<'a> {
    key: Cow<'a, [u8]>,
    count: u64,
}

/// Key → count. Keys borrow from the input while a chunk is scanned and
/// are copied (`Cow::Owned`) only when the answer must outlive it.
#[derive(Clone, Debug, Default)]
pub struct KeyCounts<'a> {
    table: HashTable<Entry<'a>>,
}

impl<'a> KeyCounts<'a> {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Adds `n` to `key`'s count; `make` turns the key into the stored
    /// form only when it is new.
    #[inline]
    pub fn add_with<K: AsRef<[u8]>>(
        &mut self,
        key: K,
        n: u64,
        make: impl FnOnce(K) -> Cow<'a, [u8]>,
    ) {
        let k = key.as_ref();
        let h = hash(k);
        match self.table.find_mut(h, |e| same(&e.key, k)) {
            Some(e) => e.count += n,
            None => {
                let e = Entry {
                    key: make(key),
                    count: n,
                };
                self.table.insert_unique(h, e, |e| hash(&e.key));
            }
        }
    }

    /// One more line with this key (borrowed from the input).
    #[inline]
    pub fn add(&mut self, key: &'a [u8]) {
        self.add_with(key, 1, Cow::Borrowed)
    }

    /// `n` more lines with this key.
    #[inline]
    pub fn add_cow(&mut self, key: Cow<'a, [u8]>, n: u64) {
        self.add_with(key, n, |k| k)
    }

    pub fn get(&self, key: &[u8]) -> Option<u64> {
        self.table
            .find(hash(key), |e| same(&e.key, key))
            .map(|e| e.count)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64)> + '_ {
        self.table.iter().map(|e| (&*e.key, e.count))
    }
}

impl<'a> IntoIterator for KeyCounts<'a> {
    type Item = (Cow<'a, [u8]>, u64);
    type IntoIter = Box<dyn Iterator<Item = (Cow<'a, [u8]>, u64)> + 'a>;

    fn into_iter(self) -> Self::IntoIter {
        Box::new(self.table.into_iter().map(|e| (e.key, e.count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_agrees_with_slice_equality_for_every_length() {
        // Every length from 0 to 40, equal and differing at each position.
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(same(&a, &a.clone()), "len {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert!(!same(&a, &b), "len {n}, byte {i}");
            }
            let mut longer = a.clone();
            longer.push(0);
            assert!(!same(&a, &longer));
        }
    }

    #[test]
    fn pad_is_the_zero_padded_first_16_bytes() {
        for n in 0..40usize {
            let k: Vec<u8> = (1..=n as u8).collect();
            let mut b = [0u8; 16];
            b[..n.min(16)].copy_from_slice(&k[..n.min(16)]);
            let want = [
                u64::from_le_bytes(b[..8].try_into().unwrap()),
                u64::from_le_bytes(b[8..].try_into().unwrap()),
            ];
            assert_eq!(pad(&k), want, "len {n}");
        }
    }

    #[test]
    fn counts_match_a_btreemap() {
        // Short keys, and long ones that share their first 16 bytes (and
        // differ in length or only at the end).
        let keys: Vec<Vec<u8>> = (0..5000u32)
            .map(|i| match i % 3 {
                0 => format!("192.168.{}.{}", i % 7, (i * 31) % 251),
                1 => format!("Mozilla/5.0 (X11; Linux) v{}", i % 13),
                _ => format!("/download/{}", "x".repeat((i % 11) as usize)),
            })
            .map(String::into_bytes)
            .collect();
        let mut t = KeyCounts::default();
        let mut want = std::collections::BTreeMap::<&[u8], u64>::new();
        for k in &keys {
            t.add(k);
            *want.entry(k).or_default() += 1;
        }
        t.add_cow(Cow::Owned(b"owned".to_vec()), 3);
        t.add_cow(Cow::Borrowed(b"owned"), 2);
        want.insert(b"owned", 5);
        assert_eq!(t.len(), want.len());
        let mut got: Vec<(&[u8], u64)> = t.iter().collect();
        got.sort();
        assert_eq!(got, want.into_iter().collect::<Vec<_>>());
        assert_eq!(t.get(b"owned"), Some(5));
        assert_eq!(t.get(b"nope"), None);
    }
}
