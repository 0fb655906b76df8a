//! A name → value index that can be updated by copying only what changes.
//!
//! Keys are spread over many small buckets by hash; each bucket is shared
//! through an `Arc`. An update that touches a few thousand names copies
//! those few thousand buckets and shares the rest with the previous
//! table, so a one-name change to a million-name table costs microseconds
//! of copying, not a rebuild; a lookup is one hash, one bucket and a short
//! scan.

use std::hash::BuildHasher;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

/// Most bucket bits: 2^18 buckets hold a few million names at a few each.
const MAX_BUCKET_BITS: u32 = 18;

/// Names per bucket aimed at when sizing.
const NAMES_PER_BUCKET: usize = 4;

/// A key given twice: the key, the value kept, the value dropped.
pub type Duplicate<V> = (Box<[u8]>, V, V);

/// One entry: the key's hash, the key, the value.
type Entry<V> = (u64, Key, V);

/// Longest key held inline; wire-format host names like
/// `d0000001.example.com` (22 bytes) fit.
const INLINE_KEY: usize = 30;

/// A key, held inside its entry when short, so that a lookup compares it
/// without following a pointer (and building the index allocates nothing
/// per name); longer keys live on the heap.
#[derive(Clone)]
enum Key {
    /// `len` bytes at the start of `bytes`.
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    /// A key longer than `INLINE_KEY`.
    Heap(Box<[u8]>),
}

impl Key {
    /// The key for these bytes.
    fn new(key: &[u8]) -> Self {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0u8; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            Self::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Self::Heap(key.into())
        }
    }

    /// The key's bytes.
    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// The index.
#[derive(Clone)]
pub struct NameIndex<V> {
    /// Buckets by the top `bits` bits of the hash.
    buckets: Vec<Arc<[Entry<V>]>>,
    /// Bucket count is 2^bits.
    bits: u32,
    /// Number of keys.
    len: usize,
}

impl<V> Default for NameIndex<V> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

/// The hash of a key.
fn hash_of(key: &[u8]) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<V> NameIndex<V> {
    /// An empty index sized for about `capacity` names.
    pub fn with_capacity(capacity: usize) -> Self {
        let wanted = capacity.div_ceil(NAMES_PER_BUCKET).max(1);
        let bits = wanted
            .next_power_of_two()
            .trailing_zeros()
            .min(MAX_BUCKET_BITS);
        let empty: Arc<[Entry<V>]> = Arc::from(Vec::new());
        Self {
            buckets: vec![empty; 1 << bits],
            bits,
            len: 0,
        }
    }

    /// Which bucket a hash falls in.
    fn bucket_of(&self, hash: u64) -> usize {
        if self.bits == 0 {
            0
        } else {
            (hash >> (64 - self.bits)) as usize
        }
    }

    /// The value of a key.
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        let hash = hash_of(key);
        self.buckets[self.bucket_of(hash)]
            .iter()
            .find(|(entry_hash, entry_key, _)| *entry_hash == hash && entry_key.as_bytes() == key)
            .map(|(_, _, value)| value)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every key and value, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.buckets
            .iter()
            .flat_map(|bucket| bucket.iter().map(|(_, key, value)| (key.as_bytes(), value)))
    }

    /// Every key and value with the index of its bucket.
    pub fn iter_with_buckets(&self) -> impl Iterator<Item = (u32, &[u8], &V)> {
        self.buckets.iter().enumerate().flat_map(|(index, bucket)| {
            bucket
                .iter()
                .map(move |(_, key, value)| (index as u32, key.as_bytes(), value))
        })
    }

    /// The keys and values of the given buckets.
    pub fn iter_buckets<'i>(
        &'i self,
        buckets: &'i [u32],
    ) -> impl Iterator<Item = (&'i [u8], &'i V)> {
        buckets
            .iter()
            .filter_map(|&index| self.buckets.get(index as usize))
            .flat_map(|bucket| bucket.iter().map(|(_, key, value)| (key.as_bytes(), value)))
    }

    /// Number of buckets.
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// The bucket a key falls in.
    pub fn bucket_index(&self, key: &[u8]) -> u32 {
        self.bucket_of(hash_of(key)) as u32
    }
}

impl<V: Clone> NameIndex<V> {
    /// The same index with more buckets if updates have grown it well past
    /// the size it was built for (a table that starts small and grows by
    /// shards would otherwise pile its names into a few long buckets).
    pub fn rebalanced(self) -> Self {
        let wanted = Self::with_capacity(self.len).bits;
        if wanted <= self.bits + 1 {
            return self;
        }
        let entries: Vec<(Box<[u8]>, V)> = self
            .iter()
            .map(|(key, value)| (Box::from(key), value.clone()))
            .collect();
        Self::from_distinct(entries, |_, _| true).0
    }

    /// Builds an index, reporting keys given more than once: each
    /// duplicate comes back with the value kept (`first_wins(kept, other)`
    /// decides which is first) and the value dropped.
    pub fn from_distinct(
        entries: Vec<(Box<[u8]>, V)>,
        first_wins: impl Fn(&V, &V) -> bool,
    ) -> (Self, Vec<Duplicate<V>>) {
        let mut index = Self::with_capacity(entries.len());
        let mut grouped: Vec<Vec<Entry<V>>> =
            (0..index.buckets.len()).map(|_| Vec::new()).collect();
        let mut duplicates = Vec::new();
        for (key, value) in entries {
            let hash = hash_of(&key);
            let bucket = &mut grouped[index.bucket_of(hash)];
            match bucket.iter_mut().find(|(entry_hash, entry_key, _)| {
                *entry_hash == hash && entry_key.as_bytes() == &*key
            }) {
                Some((_, _, kept)) => {
                    if first_wins(kept, &value) {
                        duplicates.push((key, kept.clone(), value));
                    } else {
                        let dropped = std::mem::replace(kept, value);
                        duplicates.push((key, kept.clone(), dropped));
                    }
                }
                None => bucket.push((hash, Key::new(&key), value)),
            }
        }
        index.len = grouped.iter().map(Vec::len).sum();
        index.buckets = grouped.into_iter().map(Arc::from).collect();
        (index, duplicates)
    }

    /// A copy with every entry for which `remove` holds taken out and
    /// `inserts` put in (an insert replaces an entry with the same key).
    /// Only the buckets touched are copied; the rest are shared.
    pub fn updated(&self, remove: impl Fn(&V) -> bool, inserts: Vec<(Box<[u8]>, V)>) -> Self {
        let every_bucket: Vec<u32> = (0..self.buckets.len() as u32).collect();
        self.updated_in(&every_bucket, remove, inserts)
    }

    /// [`updated`](Self::updated), looking for entries to remove only in
    /// the given buckets (where the caller knows they all are).
    pub fn updated_in(
        &self,
        candidates: &[u32],
        remove: impl Fn(&V) -> bool,
        inserts: Vec<(Box<[u8]>, V)>,
    ) -> Self {
        let mut next = self.clone();
        let mut touched: rustc_hash::FxHashMap<usize, Vec<Entry<V>>> =
            rustc_hash::FxHashMap::default();
        for &bucket_index in candidates {
            let bucket_index = bucket_index as usize;
            let Some(bucket) = self.buckets.get(bucket_index) else {
                continue;
            };
            if bucket.iter().any(|(_, _, value)| remove(value)) {
                touched.insert(
                    bucket_index,
                    bucket
                        .iter()
                        .filter(|(_, _, value)| !remove(value))
                        .cloned()
                        .collect(),
                );
            }
        }
        for (key, value) in inserts {
            let hash = hash_of(&key);
            let bucket_index = self.bucket_of(hash);
            let entries = touched
                .entry(bucket_index)
                .or_insert_with(|| self.buckets[bucket_index].to_vec());
            entries.retain(|(entry_hash, entry_key, _)| {
                !(*entry_hash == hash && entry_key.as_bytes() == &*key)
            });
            entries.push((hash, Key::new(&key), value));
        }
        for (bucket_index, entries) in touched {
            next.len = next.len - next.buckets[bucket_index].len() + entries.len();
            next.buckets[bucket_index] = Arc::from(entries);
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> Box<[u8]> {
        text.as_bytes().into()
    }

    #[test]
    fn updates_share_untouched_buckets() {
        let entries: Vec<(Box<[u8]>, u32)> = (0..10_000)
            .map(|n| (key(&format!("n{n}")), n % 7))
            .collect();
        let (index, duplicates) = NameIndex::from_distinct(entries, |_, _| true);
        assert!(duplicates.is_empty());
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.get(b"n42"), Some(&0));
        let next = index.updated(|&value| value == 3, vec![(key("new"), 9), (key("n42"), 8)]);
        assert_eq!(next.get(b"new"), Some(&9));
        assert_eq!(next.get(b"n42"), Some(&8));
        assert_eq!(next.get(b"n3"), None);
        assert_eq!(index.get(b"n3"), Some(&3));
        let removed = (0..10_000).filter(|n| n % 7 == 3).count();
        assert_eq!(next.len(), 10_000 - removed + 1);
        let shared = index
            .buckets
            .iter()
            .zip(&next.buckets)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(shared > 0);
    }
}
