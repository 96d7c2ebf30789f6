//! Key → (requests, bytes): the table behind each of the report's panels.
//! The same hash table and inline key compare as [`crate::log::keys`],
//! with the bytes sent summed beside the count.

use std::borrow::Cow;

use hashbrown::HashTable;

use crate::log::keys::{hash, same};

#[derive(Clone, Debug)]
struct Entry<'a> {
    key: Cow<'a, [u8]>,
    hits: u64,
    bytes: u64,
}

/// Requests and bytes by a byte key. Keys borrow from the input while a
/// chunk is scanned and are copied only when the answer outlives it.
#[derive(Clone, Debug, Default)]
pub struct Tally<'a> {
    table: HashTable<Entry<'a>>,
}

impl<'a> Tally<'a> {
    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Adds `hits` requests and `bytes` to `key`; `make` turns the key
    /// into its stored form only when it is new.
    #[inline]
    pub fn add_with<K: AsRef<[u8]>>(&mut self, key: K, hits: u64, bytes: u64, make: impl FnOnce(K) -> Cow<'a, [u8]>) {
        let k = key.as_ref();
        let h = hash(k);
        match self.table.find_mut(h, |e| same(&e.key, k)) {
            Some(e) => {
                e.hits += hits;
                e.bytes += bytes;
            }
            None => {
                let e = Entry { key: make(key), hits, bytes };
                self.table.insert_unique(h, e, |e| hash(&e.key));
            }
        }
    }

    /// One request with this key (borrowed from the input).
    #[inline]
    pub fn add(&mut self, key: &'a [u8], bytes: u64) {
        self.add_with(key, 1, bytes, Cow::Borrowed)
    }

    /// [`Tally::add`] with the key's hash (`keys::hash`) already computed.
    #[inline]
    pub fn add_hashed(&mut self, key: &'a [u8], h: u64, bytes: u64) {
        match self.table.find_mut(h, |e| same(&e.key, key)) {
            Some(e) => {
                e.hits += 1;
                e.bytes += bytes;
            }
            None => {
                let e = Entry { key: Cow::Borrowed(key), hits: 1, bytes };
                self.table.insert_unique(h, e, |e| hash(&e.key));
            }
        }
    }

    #[inline]
    pub fn add_cow(&mut self, key: Cow<'a, [u8]>, hits: u64, bytes: u64) {
        self.add_with(key, hits, bytes, |k| k)
    }

    pub fn get(&self, key: &[u8]) -> Option<(u64, u64)> {
        self.table.find(hash(key), |e| same(&e.key, key)).map(|e| (e.hits, e.bytes))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], u64, u64)> + '_ {
        self.table.iter().map(|e| (&*e.key, e.hits, e.bytes))
    }

    /// Adds another table, converting its keys with `conv` (only new ones).
    pub fn absorb<'b>(&mut self, o: Tally<'b>, conv: &impl Fn(Cow<'b, [u8]>) -> Cow<'a, [u8]>) {
        for e in o.table {
            self.add_with(e.key, e.hits, e.bytes, conv);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_hits_and_bytes_per_key() {
        let mut t = Tally::default();
        t.add(b"10.0.0.1", 100);
        t.add(b"10.0.0.2", 5);
        t.add(b"10.0.0.1", 20);
        let mut o = Tally::default();
        o.add(b"10.0.0.2", 1);
        o.add(b"a-much-longer-key-than-sixteen-bytes", 7);
        t.absorb(o, &|k| Cow::Owned(k.into_owned()));
        assert_eq!(t.get(b"10.0.0.1"), Some((2, 120)));
        assert_eq!(t.get(b"10.0.0.2"), Some((2, 6)));
        assert_eq!(t.get(b"a-much-longer-key-than-sixteen-bytes"), Some((1, 7)));
        assert_eq!(t.len(), 3);
    }
}
