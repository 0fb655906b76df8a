//! A name → value index that can be updated by copying only what changes.
//!
//! Keys are spread over buckets by the top bits of their hash; each bucket
//! is a small open-addressed table of its own (linear probing, at most
//! 80% full), shared through an `Arc`. A lookup reads one bucket pointer
//! from an array small enough to stay in cache (a few hundred KiB for a
//! million names) and then, in the common case, one cache line of
//! entries: the key's hash, the key itself and the value sit together. An
//! update that touches a few thousand names copies the buckets they fall
//! in and shares the rest with the previous table, so a one-name change
//! to a million-name table copies a few KiB, not the table.

use std::hash::BuildHasher;
use std::sync::Arc;

use rustc_hash::FxBuildHasher;

/// Most bucket bits: 2^16 buckets hold a few million names at a few dozen
/// each, behind a 1 MiB array of bucket pointers.
const MAX_BUCKET_BITS: u32 = 16;

/// Names per bucket aimed at when sizing: enough that the bucket array of
/// a large table stays in cache (16 bytes a bucket), few enough that an
/// update copies little.
const NAMES_PER_BUCKET: usize = 64;

/// Slots a prefetch covers from where a probe starts: a successful probe
/// in a table 80% full visits three on average.
const PROBE_PREFETCH: usize = 4;

/// A key given twice: the key, the value kept, the value dropped.
pub type Duplicate<V> = (Box<[u8]>, V, V);

/// One entry: the key's hash, the key, the value.
type Entry<V> = (u64, Key, V);

/// A bucket: an open-addressed table with at least one free slot, so that
/// a probe for a missing key ends.
type Bucket<V> = Arc<[Option<Entry<V>>]>;

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
    buckets: Vec<Bucket<V>>,
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

/// Where a probe for a hash starts in a bucket of `slots` slots (from the
/// low bits; the bucket was chosen by the high ones).
fn home_slot(hash: u64, slots: usize) -> usize {
    ((u64::from(hash as u32) * slots as u64) >> 32) as usize
}

/// The next slot of a probe.
fn next_slot(at: usize, slots: usize) -> usize {
    if at + 1 == slots { 0 } else { at + 1 }
}

/// A bucket holding these entries (distinct keys).
fn bucket_of_entries<V>(entries: Vec<Entry<V>>) -> Bucket<V> {
    let mut table = empty_table(entries.len());
    for entry in entries {
        let at = probe(&table, entry.0, entry.1.as_bytes());
        table[at] = Some(entry);
    }
    Arc::from(table)
}

/// Free slots for `count` entries: at most 80% full, one slot free.
fn empty_table<V>(count: usize) -> Vec<Option<Entry<V>>> {
    let slots = if count == 0 { 0 } else { count + count / 4 + 1 };
    (0..slots).map(|_| None).collect()
}

/// The slot holding `key`, or the free slot where it would go.
fn probe<V>(table: &[Option<Entry<V>>], hash: u64, key: &[u8]) -> usize {
    let mut at = home_slot(hash, table.len());
    loop {
        match &table[at] {
            Some((entry_hash, entry_key, _))
                if !(*entry_hash == hash && entry_key.as_bytes() == key) =>
            {
                at = next_slot(at, table.len());
            }
            _ => return at,
        }
    }
}

/// Asks the processor to start loading the cache line holding `value`.
#[cfg(target_arch = "x86_64")]
fn prefetch_read<T>(value: &T) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    // SAFETY: a prefetch is a hint with no effect on memory or on
    // program state, and the address is that of a live reference.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(value).cast()) }
}

/// Without a prefetch instruction at hand, loads come when they come.
#[cfg(not(target_arch = "x86_64"))]
fn prefetch_read<T>(_value: &T) {}

/// The entries of a bucket.
fn entries_of<V>(bucket: &[Option<Entry<V>>]) -> impl Iterator<Item = &Entry<V>> {
    bucket.iter().flatten()
}

impl<V> NameIndex<V> {
    /// An empty index sized for about `capacity` names.
    pub fn with_capacity(capacity: usize) -> Self {
        let wanted = capacity.div_ceil(NAMES_PER_BUCKET).max(1);
        let bits = wanted
            .next_power_of_two()
            .trailing_zeros()
            .min(MAX_BUCKET_BITS);
        let empty: Bucket<V> = Arc::from(Vec::new());
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
        let bucket = &self.buckets[self.bucket_of(hash)];
        if bucket.is_empty() {
            return None;
        }
        bucket[probe(bucket, hash, key)]
            .as_ref()
            .map(|(_, _, value)| value)
    }

    /// Starts bringing the bucket `key` falls in into cache, for a
    /// [`prefetch_slot`](Self::prefetch_slot) with the returned hash and
    /// a [`get`](Self::get) later: a caller with several keys in hand
    /// makes their memory accesses overlap instead of waiting on each.
    pub fn prefetch_bucket(&self, key: &[u8]) -> u64 {
        let hash = hash_of(key);
        prefetch_read(&self.buckets[self.bucket_of(hash)]);
        hash
    }

    /// Starts bringing the slot a probe for `hash` starts on into cache.
    pub fn prefetch_slot(&self, hash: u64) {
        let bucket = &self.buckets[self.bucket_of(hash)];
        let home = home_slot(hash, bucket.len());
        for slot in bucket
            .get(home..)
            .unwrap_or_default()
            .iter()
            .take(PROBE_PREFETCH)
        {
            prefetch_read(slot);
        }
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
            .flat_map(|bucket| entries_of(bucket).map(|(_, key, value)| (key.as_bytes(), value)))
    }

    /// Every key and value with the index of its bucket.
    pub fn iter_with_buckets(&self) -> impl Iterator<Item = (u32, &[u8], &V)> {
        self.buckets.iter().enumerate().flat_map(|(index, bucket)| {
            entries_of(bucket).map(move |(_, key, value)| (index as u32, key.as_bytes(), value))
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
            .flat_map(|bucket| entries_of(bucket).map(|(_, key, value)| (key.as_bytes(), value)))
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
        for (key, value) in entries {
            let hash = hash_of(&key);
            grouped[index.bucket_of(hash)].push((hash, Key::new(&key), value));
        }
        let mut duplicates = Vec::new();
        index.buckets = grouped
            .into_iter()
            .map(|group| {
                let mut table = empty_table(group.len());
                for (hash, key, value) in group {
                    let at = probe(&table, hash, key.as_bytes());
                    match &mut table[at] {
                        Some((_, _, kept)) => {
                            let name = Box::from(key.as_bytes());
                            if first_wins(kept, &value) {
                                duplicates.push((name, kept.clone(), value));
                            } else {
                                let dropped = std::mem::replace(kept, value);
                                duplicates.push((name, kept.clone(), dropped));
                            }
                        }
                        free => {
                            *free = Some((hash, key, value));
                            index.len += 1;
                        }
                    }
                }
                Arc::from(table)
            })
            .collect();
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
            if entries_of(bucket).any(|(_, _, value)| remove(value)) {
                touched.insert(
                    bucket_index,
                    entries_of(bucket)
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
                .or_insert_with(|| entries_of(&self.buckets[bucket_index]).cloned().collect());
            entries.retain(|(entry_hash, entry_key, _)| {
                !(*entry_hash == hash && entry_key.as_bytes() == &*key)
            });
            entries.push((hash, Key::new(&key), value));
        }
        for (bucket_index, entries) in touched {
            let before = entries_of(&next.buckets[bucket_index]).count();
            next.len = next.len - before + entries.len();
            next.buckets[bucket_index] = bucket_of_entries(entries);
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
            .map(|n| (key(&format!("n{n}")), n % 1000))
            .collect();
        let (index, duplicates) = NameIndex::from_distinct(entries, |_, _| true);
        assert!(duplicates.is_empty());
        assert_eq!(index.len(), 10_000);
        assert_eq!(index.get(b"n42"), Some(&42));
        let next = index.updated(|&value| value == 3, vec![(key("new"), 9), (key("n42"), 8)]);
        assert_eq!(next.get(b"new"), Some(&9));
        assert_eq!(next.get(b"n42"), Some(&8));
        assert_eq!(next.get(b"n3"), None);
        assert_eq!(next.get(b"n1003"), None);
        assert_eq!(next.get(b"n4"), Some(&4));
        assert_eq!(index.get(b"n3"), Some(&3));
        assert_eq!(index.get(b"n42"), Some(&42));
        assert_eq!(next.len(), 10_000 - 10 + 1);
        let shared = index
            .buckets
            .iter()
            .zip(&next.buckets)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert!(
            shared >= index.bucket_count() - 12,
            "{shared} of {} buckets shared",
            index.bucket_count()
        );
    }

    #[test]
    fn lookups_find_every_key_and_no_other() {
        for count in [0, 1, 2, 5, 63, 64, 65, 1_000, 100_000] {
            // Every tenth key is longer than the inline limit.
            let name = |n: usize| {
                if n % 10 == 0 {
                    format!("a-long-name-held-on-the-heap-{n}")
                } else {
                    format!("n{n}")
                }
            };
            let entries: Vec<(Box<[u8]>, usize)> = (0..count).map(|n| (key(&name(n)), n)).collect();
            let (index, duplicates) = NameIndex::from_distinct(entries, |_, _| true);
            assert!(duplicates.is_empty());
            assert_eq!(index.len(), count);
            assert_eq!(index.iter().count(), count);
            // A prefetch of any key, present or not, is only a hint.
            let prefetch = |key: &[u8]| index.prefetch_slot(index.prefetch_bucket(key));
            for n in 0..count {
                prefetch(name(n).as_bytes());
                assert_eq!(index.get(name(n).as_bytes()), Some(&n), "{count} keys: {n}");
            }
            for n in count..count + 1_000 {
                prefetch(name(n).as_bytes());
                assert_eq!(index.get(name(n).as_bytes()), None, "{count} keys: {n}");
            }
            for bucket in &index.buckets {
                assert!(bucket.is_empty() || bucket.iter().any(Option::is_none));
            }
        }
    }

    #[test]
    fn duplicates_keep_the_first() {
        let entries = vec![(key("a"), 1), (key("b"), 2), (key("a"), 3)];
        let (index, duplicates) = NameIndex::from_distinct(entries, |kept, other| kept < other);
        assert_eq!(index.len(), 2);
        assert_eq!(index.get(b"a"), Some(&1));
        assert_eq!(duplicates, vec![(key("a"), 1, 3)]);
    }
}
