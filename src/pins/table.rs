//! The compiled pin table, built whole or updated one shard file at a time.
//!
//! Every name remembers the shard file and line it came from, so that a
//! changed shard can be swapped out of a copy of the table (sharing every
//! untouched bucket, see [`NameIndex`]) and duplicates across files are
//! reported with both places.

use std::path::Path;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::index::NameIndex;
use super::load::{CompiledShard, Digest, PinEntry, Policies, compile_shard, fit_in_zones};
use super::{PinDiff, PinMatch, Policy};
use crate::config::Config;
use crate::diagnostics::Diagnostic;
use crate::wire::NameKey;
use crate::wire::name::wire_name_to_string;
use crate::zones::ZoneSet;

/// Where a reserved name came from and what it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into the table's policies.
    pub policy: u32,
    /// Index of the shard file.
    pub shard: u32,
    /// Line of its `domain` key.
    pub line: u32,
    /// Labels of the name below its zone's apex: the names between the
    /// two are the ones this name makes exist.
    pub below_apex: u8,
}

/// Names from which a table's index (about 70 bytes a name) outgrows a
/// core's own cache, and batches of queries prefetch their lookups.
const PREFETCH_FROM_NAMES: usize = 32_768;

/// The pin table.
#[derive(Clone, Default)]
pub struct PinTable {
    /// Exact names (lower-case wire format).
    exact: NameIndex<Slot>,
    /// Wildcard suffixes (the name after `*.`).
    wildcards: Arc<FxHashMap<Box<[u8]>, Slot>>,
    /// Distinct policies and their interning keys.
    policies: Arc<Policies>,
    /// Names that exist because reserved names lie below them (ancestors
    /// of exact names, wildcard suffixes), with how many names need each.
    interior: Arc<FxHashMap<Box<[u8]>, u32>>,
    /// Shard files by index.
    shards: Arc<Vec<Arc<Path>>>,
    /// Digest of each shard file's content when it was compiled (`None`
    /// for a removed shard, or one built from entries rather than a file).
    digests: Arc<Vec<Option<Digest>>>,
    /// The buckets of `exact` that hold each shard's names, sorted: a
    /// changed shard is taken out of these alone, not found by a scan of
    /// the whole table.
    shard_buckets: Arc<Vec<Arc<[u32]>>>,
}

impl std::fmt::Debug for PinTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinTable")
            .field("names", &self.exact.len())
            .field("wildcards", &self.wildcards.len())
            .field("policies", &self.policies.list.len())
            .finish()
    }
}

impl PinTable {
    /// The policy for a name: exact names win over wildcards, and among
    /// wildcards the longest suffix wins.
    pub fn lookup(&self, name: &NameKey) -> Option<(&Policy, PinMatch)> {
        if let Some(slot) = self.exact.get(name.as_bytes()) {
            return self.policy(slot).map(|policy| (policy, PinMatch::Exact));
        }
        if self.wildcards.is_empty() {
            return None;
        }
        (1..name.label_count()).find_map(|skip| {
            let (suffix, _) = name.suffix(skip);
            let slot = self.wildcards.get(suffix)?;
            self.policy(slot)
                .map(|policy| (policy, PinMatch::Wildcard { skip }))
        })
    }

    /// Whether prefetching lookups pays: only when the table is too large
    /// for the processor's cache, so that a random name is a miss.
    pub fn worth_prefetching(&self) -> bool {
        self.exact.len() >= PREFETCH_FROM_NAMES
    }

    /// Starts loading the first thing [`lookup`](Self::lookup) of `name`
    /// reads; returns the token for [`prefetch_second`](Self::prefetch_second).
    /// A batch of queries makes both steps for every query before
    /// answering any, so that one query's memory access overlaps the
    /// others' instead of each stalling in turn.
    pub fn prefetch_first(&self, name: &NameKey) -> u64 {
        self.exact.prefetch_bucket(name.as_bytes())
    }

    /// Starts loading the second thing a lookup reads.
    pub fn prefetch_second(&self, token: u64) {
        self.exact.prefetch_slot(token);
    }

    /// The policy a slot names.
    fn policy(&self, slot: &Slot) -> Option<&Policy> {
        self.policies.list.get(slot.policy as usize)
    }

    /// Whether reserved names lie below `name`: it then exists, and a
    /// query for it gets NODATA, never NXDOMAIN (RFC 8020: NXDOMAIN denies
    /// every name below, which QNAME-minimising resolvers ask first).
    pub fn has_names_below(&self, name: &NameKey) -> bool {
        self.interior.contains_key(name.as_bytes())
    }

    /// Whether the table makes a name (lower-case wire format) exist: it
    /// is reserved itself, or reserved names lie below it.
    pub fn makes_exist(&self, name: &[u8]) -> bool {
        self.exact.get(name).is_some() || self.interior.contains_key(name)
    }

    /// Number of reserved names (exact and wildcard).
    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcards.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of distinct policies.
    pub fn policy_count(&self) -> usize {
        self.policies.list.len()
    }

    /// Every reserved name (wildcards with their `*.` label) and its policy.
    pub fn entries(&self) -> impl Iterator<Item = (String, &Policy)> {
        let exact = self
            .exact
            .iter()
            .map(|(name, slot)| (wire_name_to_string(name), slot));
        let wildcards = self
            .wildcards
            .iter()
            .map(|(name, slot)| (format!("*.{}", wire_name_to_string(name)), slot));
        exact
            .chain(wildcards)
            .filter_map(|(name, slot)| self.policy(slot).map(|policy| (name, policy)))
    }

    /// Builds a table from every shard's entries, checking everything,
    /// duplicates across shards included.
    pub fn build(
        shards: Vec<(Arc<Path>, Vec<PinEntry>)>,
        config: &Config,
        zones: &ZoneSet,
    ) -> Result<(Self, Vec<Diagnostic>), Vec<Diagnostic>> {
        let paths: Vec<Arc<Path>> = shards.iter().map(|(path, _)| path.clone()).collect();
        let mut builder = TableBuilder::new(paths, config, zones);
        for (shard, (_, entries)) in shards.into_iter().enumerate() {
            builder.add_shard(shard as u32, &entries, None);
        }
        builder.finish()
    }

    /// A copy of the table with one shard file's entries replaced (or the
    /// shard removed, with `None`), and what changed. Only that file is
    /// validated again, duplicates against the other files included.
    pub fn with_shard(
        &self,
        path: &Path,
        entries: Option<(Vec<PinEntry>, Digest)>,
        config: &Config,
        zones: &ZoneSet,
    ) -> Result<(Self, Vec<Diagnostic>, PinDiff), Vec<Diagnostic>> {
        let existing = self.shards.iter().position(|shard| &**shard == path);
        let shard = existing.unwrap_or(self.shards.len()) as u32;
        let mut policies = (*self.policies).clone();
        let compiled = match &entries {
            Some((entries, _)) => compile_shard(entries, shard, config, zones, &mut policies),
            None => CompiledShard::default(),
        };
        let mut digests = (*self.digests).clone();
        digests.resize(self.shards.len().max(shard as usize + 1), None);
        digests[shard as usize] = entries.as_ref().map(|(_, digest)| *digest);
        let mut shards = (*self.shards).clone();
        if existing.is_none() {
            shards.push(Arc::from(path));
        }
        let mut errors = compiled.errors.clone();
        for (name, slot) in &compiled.exact {
            if let Some(other) = self.exact.get(name).filter(|other| other.shard != shard) {
                errors.push(duplicate(&shards, name, false, other, slot));
            }
        }
        for (name, slot) in &compiled.wildcards {
            if let Some(other) = self
                .wildcards
                .get(name)
                .filter(|other| other.shard != shard)
            {
                errors.push(duplicate(&shards, name, true, other, slot));
            }
        }
        let (_, duplicates) =
            NameIndex::from_distinct(compiled.exact.clone(), |a: &Slot, b: &Slot| {
                a.line <= b.line
            });
        for (name, first, second) in duplicates {
            errors.push(duplicate(&shards, &name, false, &first, &second));
        }
        let mut seen_wildcards: FxHashMap<&[u8], &Slot> = FxHashMap::default();
        for (name, slot) in &compiled.wildcards {
            if let Some(first) = seen_wildcards.insert(name, slot) {
                errors.push(duplicate(&shards, name, true, first, slot));
            }
        }
        let next_paths = Arc::new(shards);
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(errors);
        }

        // What the shard held before, to diff and to uncount.
        let old_buckets: &[u32] = self
            .shard_buckets
            .get(shard as usize)
            .map_or(&[], |buckets| buckets);
        let old: FxHashMap<Box<[u8]>, Slot> = self
            .exact
            .iter_buckets(old_buckets)
            .filter(|(_, slot)| slot.shard == shard)
            .map(|(name, slot)| (Box::from(name), *slot))
            .collect();
        let old_wildcards: FxHashMap<Box<[u8]>, Slot> = self
            .wildcards
            .iter()
            .filter(|(_, slot)| slot.shard == shard)
            .map(|(name, slot)| (name.clone(), *slot))
            .collect();
        let mut diff = PinDiff::default();
        for (new, before, wildcard) in [
            (&compiled.exact, &old, false),
            (&compiled.wildcards, &old_wildcards, true),
        ] {
            let new_map: FxHashMap<&[u8], &Slot> =
                new.iter().map(|(name, slot)| (&**name, slot)).collect();
            diff_names(
                &mut diff,
                wildcard,
                new_map
                    .iter()
                    .map(|(name, slot)| (*name, policy_in(&policies, slot))),
                |name| before.get(name).map(|slot| policy_in(&self.policies, slot)),
                before.keys().map(|name| &**name),
                |name| new_map.contains_key(name),
            );
        }
        diff.sort();

        let mut interior = (*self.interior).clone();
        for (name, slot) in &old {
            count_ancestors(&mut interior, name, slot, false, -1);
        }
        for (name, slot) in &old_wildcards {
            count_ancestors(&mut interior, name, slot, true, -1);
        }
        for (name, slot) in &compiled.exact {
            count_ancestors(&mut interior, name, slot, false, 1);
        }
        for (name, slot) in &compiled.wildcards {
            count_ancestors(&mut interior, name, slot, true, 1);
        }
        let mut wildcards: FxHashMap<Box<[u8]>, Slot> = self
            .wildcards
            .iter()
            .filter(|(_, slot)| slot.shard != shard)
            .map(|(name, slot)| (name.clone(), *slot))
            .collect();
        wildcards.extend(compiled.wildcards);
        // Bucket indices depend only on the index's size, which an update
        // keeps.
        let mut new_buckets: Vec<u32> = compiled
            .exact
            .iter()
            .map(|(name, _)| self.exact.bucket_index(name))
            .collect();
        new_buckets.sort_unstable();
        new_buckets.dedup();
        let exact = if old.is_empty() && compiled.exact.is_empty() {
            self.exact.clone()
        } else {
            self.exact
                .updated_in(old_buckets, |slot| slot.shard == shard, compiled.exact)
                .rebalanced()
        };
        let shard_buckets = if exact.bucket_count() == self.exact.bucket_count() {
            let mut shard_buckets = (*self.shard_buckets).clone();
            shard_buckets.resize(next_paths.len(), Arc::from(Vec::new()));
            if let Some(slot) = shard_buckets.get_mut(shard as usize) {
                *slot = Arc::from(new_buckets);
            }
            shard_buckets
        } else {
            buckets_by_shard(&exact, next_paths.len())
        };
        let next = Self {
            exact,
            wildcards: Arc::new(wildcards),
            policies: Arc::new(policies),
            interior: Arc::new(interior),
            shards: next_paths,
            digests: Arc::new(digests),
            shard_buckets: Arc::new(shard_buckets),
        };
        Ok((next, compiled.warnings, diff))
    }

    /// Names added, removed and changed from `old` to `self`.
    pub fn diff(&self, old: &Self) -> PinDiff {
        let mut diff = PinDiff::default();
        diff_names(
            &mut diff,
            false,
            self.exact
                .iter()
                .map(|(name, slot)| (name, self.policy(slot))),
            |name| old.exact.get(name).map(|slot| old.policy(slot)),
            old.exact.iter().map(|(name, _)| name),
            |name| self.exact.get(name).is_some(),
        );
        diff_names(
            &mut diff,
            true,
            self.wildcards
                .iter()
                .map(|(name, slot)| (&**name, self.policy(slot))),
            |name| old.wildcards.get(name).map(|slot| old.policy(slot)),
            old.wildcards.keys().map(|name| &**name),
            |name| self.wildcards.contains_key(name),
        );
        diff.sort();
        diff
    }

    /// The shard files, in index order.
    pub fn shard_files(&self) -> &[Arc<Path>] {
        &self.shards
    }

    /// Checks every reserved name against other zones with the same apexes
    /// (so that each name stays in the zone it was compiled for): the
    /// checks of compiling, without reading the files again. Returns the
    /// warnings, or every error with its file and line.
    pub fn check_zones(&self, zones: &ZoneSet) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
        let mut warnings = Vec::new();
        let mut errors = Vec::new();
        let names = self
            .exact
            .iter()
            .map(|(name, slot)| (name, slot, false))
            .chain(
                self.wildcards
                    .iter()
                    .map(|(name, slot)| (&**name, slot, true)),
            );
        for (wire, slot, wildcard) in names {
            let Ok((name, _)) = NameKey::from_wire(wire, 0) else {
                continue;
            };
            let fit = fit_in_zones(|| domain_as_written(wire, wildcard), &name, wildcard, zones);
            let file = self
                .shards
                .get(slot.shard as usize)
                .map_or(Path::new(""), |path| path);
            let at = |message| Diagnostic::new(file, Some(slot.line as usize), message);
            errors.extend(fit.errors.into_iter().map(at));
            warnings.extend(fit.warnings.into_iter().map(at));
        }
        if errors.is_empty() {
            Ok(warnings)
        } else {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(errors)
        }
    }

    /// The digest of `path`'s content when its names were compiled, if it
    /// is a shard of this table that still has a file.
    pub fn digest_of(&self, path: &Path) -> Option<Digest> {
        let shard = self.shards.iter().position(|shard| &**shard == path)?;
        self.digests.get(shard).copied().flatten()
    }
}

/// A reserved name as a pin file writes it (no trailing dot; `*.` before a
/// wildcard's suffix), for messages.
fn domain_as_written(wire: &[u8], wildcard: bool) -> String {
    let text = wire_name_to_string(wire);
    let text = text.strip_suffix('.').unwrap_or(&text);
    if wildcard {
        format!("*.{text}")
    } else {
        text.to_owned()
    }
}

/// The error for a name given twice, naming both places.
fn duplicate(
    shards: &[Arc<Path>],
    name: &[u8],
    wildcard: bool,
    first: &Slot,
    second: &Slot,
) -> Diagnostic {
    let file = |slot: &Slot| {
        shards
            .get(slot.shard as usize)
            .map_or_else(|| Path::new("?").into(), Arc::clone)
    };
    let shown = domain_as_written(name, wildcard);
    Diagnostic::new(
        &file(second),
        Some(second.line as usize),
        format!(
            "duplicate domain '{shown}' (first at {}:{})",
            file(first).display(),
            first.line
        ),
    )
}

/// The buckets holding each shard's names, sorted.
fn buckets_by_shard(exact: &NameIndex<Slot>, shards: usize) -> Vec<Arc<[u32]>> {
    let mut lists: Vec<Vec<u32>> = vec![Vec::new(); shards];
    for (bucket, _, slot) in exact.iter_with_buckets() {
        if let Some(list) = lists.get_mut(slot.shard as usize) {
            if list.last() != Some(&bucket) {
                list.push(bucket);
            }
        }
    }
    lists.into_iter().map(Arc::from).collect()
}

/// The policy a slot names in a policy list.
fn policy_in<'p>(list: &'p Policies, slot: &Slot) -> Option<&'p Policy> {
    list.list.get(slot.policy as usize)
}

/// Adds to `diff` the names of `new` (with their policies) that `old_get`
/// does not know or knows with another policy, and the names of `old`
/// that `new_has` does not know.
fn diff_names<'n>(
    diff: &mut PinDiff,
    wildcard: bool,
    new: impl Iterator<Item = (&'n [u8], Option<&'n Policy>)>,
    old_get: impl Fn(&[u8]) -> Option<Option<&'n Policy>>,
    old: impl Iterator<Item = &'n [u8]>,
    new_has: impl Fn(&[u8]) -> bool,
) {
    let show = |name: &[u8]| {
        let text = wire_name_to_string(name);
        if wildcard { format!("*.{text}") } else { text }
    };
    for (name, policy) in new {
        match old_get(name) {
            None => diff.added.push(show(name)),
            Some(before) if before != policy => diff.changed.push(show(name)),
            Some(_) => {}
        }
    }
    for name in old {
        if !new_has(name) {
            diff.removed.push(show(name));
        }
    }
}

/// How much a [`TableBuilder`] held at one point.
pub struct BuilderMark {
    policies: usize,
    exact: usize,
    wildcards: usize,
    warnings: usize,
    errors: usize,
}

/// Builds a table shard by shard, so that each shard's parsed entries can
/// be dropped as soon as they are compiled.
pub struct TableBuilder<'c> {
    /// The configuration names are checked against.
    config: &'c Config,
    /// The zones names are checked against.
    zones: &'c ZoneSet,
    /// Shard files by index.
    paths: Vec<Arc<Path>>,
    /// Policies interned so far.
    policies: Policies,
    /// Digest of each shard's file, by shard.
    digests: Vec<Option<Digest>>,
    /// Exact names so far.
    exact: Vec<(Box<[u8]>, Slot)>,
    /// Wildcard suffixes so far.
    wildcards: Vec<(Box<[u8]>, Slot)>,
    /// Warnings so far.
    warnings: Vec<Diagnostic>,
    /// Errors so far.
    errors: Vec<Diagnostic>,
}

impl<'c> TableBuilder<'c> {
    /// A builder for a table of these shard files.
    pub fn new(paths: Vec<Arc<Path>>, config: &'c Config, zones: &'c ZoneSet) -> Self {
        Self {
            config,
            zones,
            digests: vec![None; paths.len()],
            paths,
            policies: Policies::default(),
            exact: Vec::new(),
            wildcards: Vec::new(),
            warnings: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Validates and adds one shard's entries.
    pub fn add_shard(&mut self, shard: u32, entries: &[PinEntry], digest: Option<Digest>) {
        if let Some(slot) = self.digests.get_mut(shard as usize) {
            *slot = digest;
        }
        let compiled = compile_shard(entries, shard, self.config, self.zones, &mut self.policies);
        self.exact.extend(compiled.exact);
        self.wildcards.extend(compiled.wildcards);
        self.warnings.extend(compiled.warnings);
        self.errors.extend(compiled.errors);
    }

    /// Where the builder stands, to roll back to.
    pub fn mark(&self) -> BuilderMark {
        BuilderMark {
            policies: self.policies.list.len(),
            exact: self.exact.len(),
            wildcards: self.wildcards.len(),
            warnings: self.warnings.len(),
            errors: self.errors.len(),
        }
    }

    /// Forgets everything added since `mark` was taken.
    pub fn roll_back(&mut self, mark: &BuilderMark) {
        self.policies.truncate(mark.policies);
        self.exact.truncate(mark.exact);
        self.wildcards.truncate(mark.wildcards);
        self.warnings.truncate(mark.warnings);
        self.errors.truncate(mark.errors);
    }

    /// Records errors found outside the shards (e.g. unreadable files).
    pub fn add_errors(&mut self, errors: Vec<Diagnostic>) {
        self.errors.extend(errors);
    }

    /// Checks duplicates and finishes the table, or returns every error.
    pub fn finish(self) -> Result<(PinTable, Vec<Diagnostic>), Vec<Diagnostic>> {
        let Self {
            paths,
            digests,
            policies,
            exact,
            wildcards,
            warnings,
            mut errors,
            ..
        } = self;
        let (exact, duplicates) = NameIndex::from_distinct(exact, |a: &Slot, b: &Slot| {
            (a.shard, a.line) <= (b.shard, b.line)
        });
        let table = PinTable {
            exact,
            wildcards: Arc::default(),
            policies: Arc::new(policies),
            interior: Arc::default(),
            shards: Arc::new(paths),
            digests: Arc::new(digests),
            shard_buckets: Arc::default(),
        };
        for (name, first, second) in duplicates {
            errors.push(duplicate(&table.shards, &name, false, &first, &second));
        }
        let mut wildcard_map: FxHashMap<Box<[u8]>, Slot> = FxHashMap::default();
        for (name, slot) in wildcards {
            match wildcard_map.get(&name) {
                Some(first) => errors.push(duplicate(&table.shards, &name, true, first, &slot)),
                None => {
                    wildcard_map.insert(name, slot);
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            return Err(errors);
        }
        let mut interior = FxHashMap::default();
        for (name, slot) in table.exact.iter() {
            count_ancestors(&mut interior, name, slot, false, 1);
        }
        for (name, slot) in wildcard_map.iter() {
            count_ancestors(&mut interior, name, slot, true, 1);
        }
        let shard_buckets = buckets_by_shard(&table.exact, table.shards.len());
        Ok((
            PinTable {
                wildcards: Arc::new(wildcard_map),
                interior: Arc::new(interior),
                shard_buckets: Arc::new(shard_buckets),
                ..table
            },
            warnings,
        ))
    }
}

/// Adds `delta` to the count of every name a reserved name makes exist:
/// its ancestors below the zone apex, and for a wildcard its suffix too
/// (the apex and what lies above it exist, or are not ours, anyway).
fn count_ancestors(
    interior: &mut FxHashMap<Box<[u8]>, u32>,
    name: &[u8],
    slot: &Slot,
    wildcard: bool,
    delta: i32,
) {
    let first = usize::from(!wildcard);
    let below_apex = usize::from(slot.below_apex);
    if first >= below_apex {
        return;
    }
    let Ok((key, _)) = NameKey::from_wire(name, 0) else {
        return;
    };
    for skip in first..below_apex {
        let suffix = key.suffix(skip).0;
        if delta > 0 {
            match interior.get_mut(suffix) {
                Some(count) => *count += 1,
                None => {
                    interior.insert(suffix.into(), 1);
                }
            }
        } else if let Some(count) = interior.get_mut(suffix) {
            *count -= 1;
            if *count == 0 {
                interior.remove(suffix);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::PinTable;
    use crate::config::Config;
    use crate::diagnostics::Diagnostic;
    use crate::pins::{PinSource, Policy, load_table, parse_pin_text};
    use crate::wire::NameKey;
    use crate::zones::{ZoneSet, parse_zone};

    /// The shipped configuration and zone.
    fn world() -> (Config, ZoneSet) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(root.join("config.toml")).expect("config.toml");
        let config = Config::parse(&root.join("config.toml"), &text).expect("valid config");
        let zone_text = std::fs::read_to_string(root.join("zones/example.com.zone")).expect("zone");
        let zone = parse_zone(Path::new("example.com.zone"), &zone_text).expect("valid zone");
        (config, ZoneSet::new(vec![zone]))
    }

    /// A shard's entries from pin text.
    fn shard(path: &str, text: &str) -> (Arc<Path>, Vec<crate::pins::PinEntry>) {
        (
            Arc::from(Path::new(path)),
            parse_pin_text(Path::new(path), text).expect("valid pins"),
        )
    }

    /// A reserved domain entry.
    fn entry(domain: &str, pop: &str) -> String {
        format!("[[reserved_domain]]\ndomain = \"{domain}\"\nips = [\"{pop}\"]\n")
    }

    #[test]
    /// Replacing one shard reports exactly the added, removed and changed
    /// names, and the other shard's names keep their answers.
    fn replacing_a_shard_reports_what_changed() {
        let (config, zones) = world();
        let a = shard(
            "a.toml",
            &(entry("a1.example.com", "de-fra-1") + &entry("a2.example.com", "global")),
        );
        let b = shard(
            "b.toml",
            &(entry("b1.example.com", "us-ohio-1") + &entry("b2.example.com", "us-ohio-1")),
        );
        let (table, _) = PinTable::build(vec![a, b], &config, &zones).expect("valid table");
        let replacement =
            entry("b1.example.com", "jp-tokyo-1") + &entry("b3.example.com", "global");
        let new_entries = parse_pin_text(Path::new("b.toml"), &replacement).expect("valid pins");
        let (next, _, diff) = table
            .with_shard(
                Path::new("b.toml"),
                Some((new_entries, (0, 0))),
                &config,
                &zones,
            )
            .expect("valid update");
        assert_eq!(diff.added, vec!["b3.example.com.".to_owned()]);
        assert_eq!(diff.removed, vec!["b2.example.com.".to_owned()]);
        assert_eq!(diff.changed, vec!["b1.example.com.".to_owned()]);
        assert_eq!(next.len(), 4);
        let a1 = NameKey::from_text("a1.example.com").expect("name");
        assert_eq!(
            next.lookup(&a1).map(|(policy, _)| policy.targets.clone()),
            Some(vec!["de-fra-1".to_owned()])
        );
        assert_eq!(next.diff(&table), diff);
        let b2 = NameKey::from_text("b2.example.com").expect("name");
        assert!(next.lookup(&b2).is_none());
        assert!(table.lookup(&b2).is_some(), "the old table is unchanged");
    }

    #[test]
    /// A name another shard already holds is rejected with both places.
    fn a_duplicate_across_shards_names_both_places() {
        let (config, zones) = world();
        let a = shard("a.toml", &entry("a1.example.com", "de-fra-1"));
        let (table, _) = PinTable::build(vec![a], &config, &zones).expect("valid table");
        let clash = parse_pin_text(
            Path::new("b.toml"),
            &format!("# clash\n{}", entry("a1.example.com", "global")),
        )
        .expect("valid pins");
        let errors = table
            .with_shard(Path::new("b.toml"), Some((clash, (0, 0))), &config, &zones)
            .expect_err("a duplicate");
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "b.toml:3: duplicate domain 'a1.example.com' (first at a.toml:2)"
        );
    }

    #[test]
    /// A table that starts small and grows by shards gets more buckets,
    /// and its shards can still be replaced and looked up.
    fn a_table_grown_by_shards_stays_balanced() {
        let (config, zones) = world();
        let a = shard("a.toml", &entry("a1.example.com", "de-fra-1"));
        let (table, _) = PinTable::build(vec![a], &config, &zones).expect("valid table");
        let small = table.exact.bucket_count();
        let many: String = (0..5000)
            .map(|n| entry(&format!("n{n}.example.com"), "global"))
            .collect();
        let entries = parse_pin_text(Path::new("b.toml"), &many).expect("valid pins");
        let (grown, _, diff) = table
            .with_shard(
                Path::new("b.toml"),
                Some((entries, (0, 0))),
                &config,
                &zones,
            )
            .expect("valid update");
        assert_eq!(diff.added.len(), 5000);
        assert!(
            grown.exact.bucket_count() > small,
            "{} buckets",
            grown.exact.bucket_count()
        );
        let n42 = NameKey::from_text("n42.example.com").expect("name");
        assert!(grown.lookup(&n42).is_some());
        let fewer = parse_pin_text(Path::new("b.toml"), &entry("n42.example.com", "us-ohio-1"))
            .expect("valid pins");
        let (shrunk, _, diff) = grown
            .with_shard(Path::new("b.toml"), Some((fewer, (0, 0))), &config, &zones)
            .expect("valid update");
        assert_eq!((diff.removed.len(), diff.changed.len()), (4999, 1));
        assert_eq!(shrunk.len(), 2);
        let n7 = NameKey::from_text("n7.example.com").expect("name");
        assert!(shrunk.lookup(&n7).is_none());
        assert!(shrunk.lookup(&n42).is_some());
    }

    /// A pin file of `count` entries over a few PoPs, in the regular layout.
    fn regular_file(count: usize) -> String {
        const POPS: [&str; 4] = ["de-fra-1", "global", "us-ohio-1", "european_union"];
        (0..count)
            .map(|index| entry(&format!("n{index}.example.com"), POPS[index % POPS.len()]))
            .collect()
    }

    /// Loads the pin table of one file holding `text`.
    fn load_one_file(
        text: &str,
        config: &Config,
        zones: &ZoneSet,
    ) -> (std::path::PathBuf, Result<PinTable, Vec<Diagnostic>>) {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("pins.toml");
        std::fs::write(&path, text).expect("pin file written");
        let loaded = load_table(&PinSource::File(path.clone()), config, zones);
        (path, loaded.map(|(table, _)| table))
    }

    /// Every name of a table with its policy, sorted.
    fn contents(table: &PinTable) -> Vec<(String, Policy)> {
        let mut names: Vec<_> = table
            .entries()
            .map(|(name, policy)| (name, policy.clone()))
            .collect();
        names.sort_by(|a, b| a.0.cmp(&b.0));
        names
    }

    #[test]
    /// A large file is compiled in batches as it is read; the table is the
    /// one its entries read whole make.
    fn a_file_compiled_in_batches_makes_the_table_of_all_its_entries() {
        let (config, zones) = world();
        let text = regular_file(10_000);
        let (path, loaded) = load_one_file(&text, &config, &zones);
        let table = loaded.expect("valid table");
        let whole = shard(path.to_str().expect("UTF-8 path"), &text);
        let (expected, _) = PinTable::build(vec![whole], &config, &zones).expect("valid table");
        assert_eq!(table.len(), 10_000);
        assert_eq!(table.policy_count(), 4);
        assert_eq!(contents(&table), contents(&expected));
    }

    #[test]
    /// When the fast reader gives up after some batches were compiled (a
    /// literal string near the end), those batches are forgotten and TOML
    /// reads the whole file: no name counted twice, no policy left over.
    fn a_file_the_fast_reader_leaves_late_is_read_whole_by_toml() {
        let (config, zones) = world();
        let mut text = regular_file(10_000);
        text.push_str("[[reserved_domain]]\ndomain = 'last.example.com'\nips = [\"jp-tokyo-1\"]\n");
        let (_, loaded) = load_one_file(&text, &config, &zones);
        let table = loaded.expect("valid table");
        assert_eq!(table.len(), 10_001);
        assert_eq!(table.policy_count(), 5);
        let last = NameKey::from_text("last.example.com").expect("name");
        assert!(table.lookup(&last).is_some());
    }

    #[test]
    /// Errors in different batches of one file are all reported, with
    /// their lines, a duplicate across batches included.
    fn errors_in_any_batch_of_a_file_are_reported_with_their_lines() {
        let (config, zones) = world();
        let mut text = regular_file(9_000);
        text.push_str(&entry("n5.example.com", "de-fra-1"));
        text.push_str(&entry("bad.example.com", "xx-nowhere-1"));
        let (path, loaded) = load_one_file(&text, &config, &zones);
        let errors = loaded.expect_err("duplicate and unknown PoP");
        let lines: Vec<_> = errors.iter().map(|error| error.line).collect();
        assert_eq!(
            lines,
            [Some(9_000 * 3 + 2), Some(9_000 * 3 + 6)],
            "{errors:?}"
        );
        assert!(errors.iter().all(|error| *error.file == *path));
        assert!(errors[0].message.contains("n5.example.com"), "{errors:?}");
        assert!(errors[1].message.contains("xx-nowhere-1"), "{errors:?}");
    }
}
