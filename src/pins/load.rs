//! Reading and validating pin tables. A table is checked whole before any
//! of it is used, and every error is reported with its file and line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use toml::Spanned;

use super::table::{PinTable, Slot, TableBuilder};
use super::{Addresses, Family, Plan, Policy, fast};
use crate::config::{Config, PopSet, mask_of};
use crate::diagnostics::Diagnostic;
use crate::wire::{NameKey, rtype};
use crate::zones::{Zone, ZoneSet};

/// One `[[reserved_domain]]` as read, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEntry {
    /// The file it came from.
    pub file: Arc<Path>,
    /// Line of its `domain` key.
    pub line: usize,
    /// The domain as written.
    pub domain: String,
    /// `ips` values as written, each with its line; `None` when absent.
    pub targets: Option<Vec<(String, usize)>>,
    /// Optional TTL of steered answers.
    pub ttl: Option<u32>,
}

/// Where a pin table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// One TOML file.
    File(PathBuf),
    /// A directory of `*.toml` shards.
    Directory(PathBuf),
}

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinFile {
    /// The reserved domains.
    #[serde(default)]
    reserved_domain: Vec<RawDomain>,
}

/// One reserved domain as written; fields of the management API resource
/// that do not concern DNS are accepted and ignored.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomain {
    /// The name, possibly `*.suffix`.
    domain: Spanned<String>,
    /// PoP codes, aliases and dedicated IPs.
    ips: Option<Vec<Spanned<RawTarget>>>,
    /// TTL of steered answers.
    ttl: Option<u32>,
    /// Free text (API field).
    #[serde(default, rename = "description")]
    _description: Option<toml::Value>,
    /// API field, not used by DNS.
    #[serde(default, rename = "id")]
    _id: Option<toml::Value>,
    /// API field, not used by DNS.
    #[serde(default, rename = "metadata")]
    _metadata: Option<toml::Value>,
    /// API field, not used by DNS.
    #[serde(default, rename = "certificate_management_policy")]
    _certificate_management_policy: Option<toml::Value>,
}

/// An `ips` value: `"us-ohio-1"` or `{ value = "us-ohio-1" }`; another
/// key in the table is an error naming it, as in a `[[reserved_domain]]`.
#[derive(Debug)]
struct RawTarget(String);

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Reads either form.
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawTarget;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or { value = \"...\" }")
            }

            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RawTarget, E> {
                Ok(RawTarget(value.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawTarget, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" if value.is_none() => value = Some(map.next_value::<String>()?),
                        "value" => return Err(serde::de::Error::duplicate_field("value")),
                        other => return Err(serde::de::Error::unknown_field(other, &["value"])),
                    }
                }
                value
                    .map(RawTarget)
                    .ok_or_else(|| serde::de::Error::missing_field("value"))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

impl RawTarget {
    /// The value, whatever the form.
    fn value(&self) -> &str {
        &self.0
    }
}

impl PinSource {
    /// A file or directory path, by what is on disk.
    pub fn at(path: &Path) -> Self {
        if path.is_dir() {
            Self::Directory(path.to_path_buf())
        } else {
            Self::File(path.to_path_buf())
        }
    }

    /// The files of the source, sorted.
    pub fn files(&self) -> Result<Vec<PathBuf>, Diagnostic> {
        match self {
            Self::File(path) => Ok(vec![path.clone()]),
            Self::Directory(dir) => {
                let listing = std::fs::read_dir(dir).map_err(|error| {
                    Diagnostic::new(dir, None, format!("cannot read pin directory: {error}"))
                })?;
                let mut files: Vec<PathBuf> = listing
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| crate::diagnostics::is_data_file(path, "toml"))
                    .collect();
                files.sort();
                Ok(files)
            }
        }
    }
}

/// Entries of one pin file.
pub type Shard = (Arc<Path>, Vec<PinEntry>);

/// Reads every pin file of a source (a file, or a directory of shards read
/// in parallel), each file's entries apart.
pub fn load_shards(source: &PinSource) -> Result<Vec<Shard>, Vec<Diagnostic>> {
    let files = source.files().map_err(|error| vec![error])?;
    let mut shards: Vec<Option<Shard>> = (0..files.len()).map(|_| None).collect();
    let mut errors = Vec::new();
    read_in_parallel(&files, |index, result| match result {
        Ok((entries, _)) => shards[index] = Some((Arc::from(files[index].as_path()), entries)),
        Err(found) => errors.extend(found),
    });
    if errors.is_empty() {
        Ok(shards.into_iter().flatten().collect())
    } else {
        Err(errors)
    }
}

/// Reads, validates and compiles a whole pin table. Files are parsed on
/// every core and each is compiled (and its parsed entries dropped) as
/// soon as it is read, so that memory holds the table and a few files in
/// flight, never every parsed entry at once; a single file (or every file
/// on a single core) is compiled in batches as it is read.
pub fn load_table(
    source: &PinSource,
    config: &Config,
    zones: &ZoneSet,
) -> Result<(PinTable, Vec<Diagnostic>), Vec<Diagnostic>> {
    let files = source.files().map_err(|error| vec![error])?;
    let paths: Vec<Arc<Path>> = files.iter().map(|file| Arc::from(file.as_path())).collect();
    let mut builder = TableBuilder::new(paths, config, zones);
    if reader_threads(&files) <= 1 {
        for (index, file) in files.iter().enumerate() {
            read_into(&mut builder, index as u32, file);
        }
    } else {
        read_in_parallel(&files, |index, result| match result {
            Ok((entries, digest)) => builder.add_shard(index as u32, &entries, Some(digest)),
            Err(found) => builder.add_errors(found),
        });
    }
    builder.finish()
}

/// Entries the fast reader hands over at a time when a file is compiled
/// as it is read.
const READ_BATCH: usize = 4096;

/// Reads one pin file and compiles it into `builder`. Text in the regular
/// layout is compiled batch by batch as it is read, so that a large
/// file's parsed entries never all exist at once (a single file of 1M
/// names would otherwise hold about 250 MiB of them beside its text);
/// other text is parsed whole by TOML.
fn read_into(builder: &mut TableBuilder<'_>, shard: u32, path: &Path) {
    let text = match crate::diagnostics::read_text_file(path) {
        Ok(text) if text.is_empty() => return builder.add_errors(vec![empty_file(path)]),
        Ok(text) => text,
        Err(error) => return builder.add_errors(vec![error]),
    };
    let digest = digest_of(&text);
    let file: Arc<Path> = Arc::from(path);
    let mark = builder.mark();
    if fast::parse_in_batches(&file, &text, READ_BATCH, |entries| {
        builder.add_shard(shard, &entries, Some(digest));
    }) {
        return;
    }
    builder.roll_back(&mark);
    match parse_with_toml(&file, &text) {
        Ok(entries) => builder.add_shard(shard, &entries, Some(digest)),
        Err(found) => builder.add_errors(found),
    }
}

/// How many threads read `files`: one per core, at most one per file.
fn reader_threads(files: &[PathBuf]) -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(files.len())
}

/// Reads and parses files on every core, handing each result to `consume`
/// on the calling thread as it arrives (in no particular order).
fn read_in_parallel(
    files: &[PathBuf],
    mut consume: impl FnMut(usize, Result<(Vec<PinEntry>, Digest), Vec<Diagnostic>>),
) {
    let threads = reader_threads(files);
    if threads <= 1 {
        for (index, file) in files.iter().enumerate() {
            consume(index, read_pin_file_digested(file));
        }
        return;
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    // A short queue bounds the parsed files waiting to be compiled.
    let (sender, receiver) = std::sync::mpsc::sync_channel(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let sender = sender.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(index) else {
                        return;
                    };
                    if sender.send((index, read_pin_file_digested(file))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(sender);
        for (index, result) in receiver {
            consume(index, result);
        }
    });
}

/// Reads every pin file of a source, all entries together.
pub fn load_pins(path: &Path) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    Ok(load_shards(&PinSource::at(path))?
        .into_iter()
        .flat_map(|(_, entries)| entries)
        .collect())
}

/// Reads and parses one pin file.
pub fn read_pin_file(path: &Path) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    read_pin_file_digested(path).map(|(entries, _)| entries)
}

/// What a pin file's content is known by between reloads: its length and
/// a SipHash of its bytes. A full reload compiles again only the files
/// whose digest changed.
pub type Digest = (usize, u64);

/// Reads and parses one pin file, with the digest of what was read.
pub fn read_pin_file_digested(path: &Path) -> Result<(Vec<PinEntry>, Digest), Vec<Diagnostic>> {
    let text = crate::diagnostics::read_text_file(path).map_err(|error| vec![error])?;
    let entries = parse_pin_text(path, &text)?;
    Ok((entries, digest_of(&text)))
}

/// The digest of a pin file as it is on disk now.
pub fn file_digest(path: &Path) -> Result<Digest, Diagnostic> {
    crate::diagnostics::read_text_file(path).map(|text| digest_of(&text))
}

/// The digest of pin file text.
fn digest_of(text: &str) -> Digest {
    use std::hash::{Hash, Hasher};
    // Fixed keys: digests are compared within one process only.
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    (text.len(), hasher.finish())
}

/// Whether a pin file is a zero-byte regular file: a write in progress,
/// never an empty table (an empty table is a file with no entries, e.g.
/// only a comment).
pub fn is_unfinished_write(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|metadata| metadata.is_file() && metadata.len() == 0)
}

/// Parses pin file text read from `path`.
pub fn parse_pin_text(path: &Path, text: &str) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    if text.is_empty() {
        return Err(vec![empty_file(path)]);
    }
    let file: Arc<Path> = Arc::from(path);
    if let Some(entries) = fast::parse(&file, text) {
        return Ok(entries);
    }
    parse_with_toml(&file, text)
}

/// The error for a zero-byte pin file: a write in progress, never an
/// empty table (an empty table is a file with no entries, e.g. only a
/// comment).
fn empty_file(path: &Path) -> Diagnostic {
    Diagnostic::new(
        path,
        None,
        "file is empty (a write in progress?); an empty table needs at least a comment",
    )
}

/// The line of an error TOML reports without a position (a key of more
/// dotted parts than it nests, 80): the first line of many dots that,
/// read alone, fails with no position either.
fn line_of_positionless_error(text: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.bytes().filter(|&byte| byte == b'.').count() >= 16)
        .find(|(_, line)| {
            toml::from_str::<toml::Table>(line).is_err_and(|error| error.span().is_none())
        })
        .map(|(index, _)| index + 1)
}

/// Parses pin file text with the full TOML parser.
pub fn parse_with_toml(file: &Arc<Path>, text: &str) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    let lines = LineIndex::new(text);
    let parsed: PinFile = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| lines.line_of(span.start))
            .or_else(|| line_of_positionless_error(text));
        vec![Diagnostic::new(
            file,
            line,
            error.message().trim().to_owned(),
        )]
    })?;
    Ok(parsed
        .reserved_domain
        .into_iter()
        .map(|raw| PinEntry {
            file: file.clone(),
            line: lines.line_of(raw.domain.span().start),
            domain: raw.domain.into_inner(),
            targets: raw.ips.map(|targets| {
                targets
                    .into_iter()
                    .map(|target| {
                        let line = lines.line_of(target.span().start);
                        (target.into_inner().value().to_owned(), line)
                    })
                    .collect()
            }),
            ttl: raw.ttl,
        })
        .collect())
}

/// Byte offsets of line starts, for offset → line in O(log n).
struct LineIndex {
    /// Offset of the first byte of every line.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes the lines of `text`.
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, byte)| byte == b'\n')
                .map(|(at, _)| at + 1),
        );
        Self { starts }
    }

    /// The 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&start| start <= offset)
    }
}

/// Distinct policies, interned by what the entry wrote (`ips` and TTL).
#[derive(Debug, Clone, Default)]
pub struct Policies {
    /// The policies, by index.
    pub list: Vec<Policy>,
    /// Interning key (targets joined, then the TTL) → index.
    keys: FxHashMap<String, u32>,
}

impl Policies {
    /// The index of the entry's policy, building it on first sight.
    fn intern(
        &mut self,
        entry: &PinEntry,
        ttl: u32,
        config: &Config,
        key: &mut String,
    ) -> Result<u32, Vec<Diagnostic>> {
        key.clear();
        // Each value with its length first: no value, whatever bytes it
        // holds, makes the key of another list (one that would pass
        // validation for it).
        for (value, _) in entry.targets.iter().flatten() {
            key.push_str(itoa_u32(value.len() as u32, &mut [0u8; 10]));
            key.push(':');
            key.push_str(value);
        }
        key.push('\0');
        key.push_str(itoa_u32(ttl, &mut [0u8; 10]));
        if let Some(&index) = self.keys.get(key.as_str()) {
            return Ok(index);
        }
        let policy = build_policy(entry, ttl, config)?;
        let index = self.list.len() as u32;
        self.list.push(policy);
        self.keys.insert(key.clone(), index);
        Ok(index)
    }

    /// Forgets the policies from index `len` on.
    pub(super) fn truncate(&mut self, len: usize) {
        if len < self.list.len() {
            self.list.truncate(len);
            self.keys.retain(|_, index| (*index as usize) < len);
        }
    }
}

/// Decimal digits of a u32, without allocating.
fn itoa_u32(mut value: u32, buffer: &mut [u8; 10]) -> &str {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    std::str::from_utf8(&buffer[at..]).unwrap_or("0")
}

/// The validated names of one shard file.
#[derive(Debug, Default)]
pub struct CompiledShard {
    /// Exact names (lower-case wire format) and their slots.
    pub exact: Vec<(Box<[u8]>, Slot)>,
    /// Wildcard suffixes and their slots.
    pub wildcards: Vec<(Box<[u8]>, Slot)>,
    /// Non-fatal findings.
    pub warnings: Vec<Diagnostic>,
    /// Errors; the names compiled despite them are kept so that duplicates
    /// of them can be reported too.
    pub errors: Vec<Diagnostic>,
}

/// Validates one shard's entries against the configuration and zones.
/// Duplicates are left to the caller, who sees every shard.
pub fn compile_shard(
    entries: &[PinEntry],
    shard: u32,
    config: &Config,
    zones: &ZoneSet,
    policies: &mut Policies,
) -> CompiledShard {
    let mut compiled = CompiledShard::default();
    let errors = &mut compiled.errors;
    let mut key = String::new();
    compiled.exact.reserve(entries.len());
    for entry in entries {
        let at = |line: usize, message: String| Diagnostic::new(&entry.file, Some(line), message);
        let (name, wildcard) = match parse_domain(&entry.domain) {
            Ok(parsed) => parsed,
            Err(reason) => {
                errors.push(at(
                    entry.line,
                    format!("malformed domain '{}': {reason}", entry.domain),
                ));
                continue;
            }
        };
        let fit = fit_in_zones(|| entry.domain.clone(), &name, wildcard, zones);
        let below_apex = fit.below_apex;
        errors.extend(
            fit.errors
                .into_iter()
                .map(|message| at(entry.line, message)),
        );
        compiled.warnings.extend(
            fit.warnings
                .into_iter()
                .map(|message| at(entry.line, message)),
        );
        let ttl = entry.ttl.unwrap_or(config.default_ttl);
        if ttl > crate::config::MAX_TTL {
            errors.push(at(
                entry.line,
                format!(
                    "ttl {ttl} is above {} (RFC 2181 §8)",
                    crate::config::MAX_TTL
                ),
            ));
            continue;
        }
        let policy = match policies.intern(entry, ttl, config, &mut key) {
            Ok(policy) => policy,
            Err(found) => {
                errors.extend(found);
                continue;
            }
        };
        let slot = Slot {
            policy,
            shard,
            line: u32::try_from(entry.line).unwrap_or(u32::MAX),
            below_apex: u8::try_from(below_apex).unwrap_or(u8::MAX),
        };
        let list = if wildcard {
            &mut compiled.wildcards
        } else {
            &mut compiled.exact
        };
        list.push((name.as_bytes().into(), slot));
    }
    compiled
}

/// What the zones make of a reserved name.
#[derive(Debug, Default)]
pub(super) struct ZoneFit {
    /// Labels of the name below its zone's apex.
    pub(super) below_apex: usize,
    /// Why the name cannot be pinned.
    pub(super) errors: Vec<String>,
    /// Zone records the pin shadows.
    pub(super) warnings: Vec<String>,
}

/// Checks a reserved name (`name`, the suffix for a wildcard; `domain`
/// gives it as written, asked only for a message) against the zones: it
/// must lie in a zone, not at or below a delegation, and not where a CNAME
/// is; A/AAAA records it shadows are worth a warning.
pub(super) fn fit_in_zones(
    domain: impl Fn() -> String,
    name: &NameKey,
    wildcard: bool,
    zones: &ZoneSet,
) -> ZoneFit {
    let mut fit = ZoneFit::default();
    let Some((zone, skip)) = zones.find(name) else {
        fit.errors.push(format!(
            "domain '{}' is outside every served zone",
            domain()
        ));
        return fit;
    };
    fit.below_apex = skip;
    if let crate::zones::ZoneLookup::Delegation { .. } = zone.lookup(name) {
        fit.errors.push(format!(
            "domain '{}' is at or below a delegation in zone {}: the child zone's servers answer for it",
            domain(),
            zone.file.display()
        ));
    }
    // The zones' names the pin answers A/AAAA for: the name itself, or for
    // a wildcard every name below its suffix, in its zone and in any zone
    // served below it, except names at or below a zone cut (the child's).
    let covered: Vec<(&Zone, &[u8], &crate::zones::Node)> = if wildcard {
        zones
            .iter()
            .flat_map(|zone| {
                zone.nodes
                    .iter()
                    .filter(|(owner, _)| is_below(owner, name) && !is_at_or_below_cut(zone, owner))
                    .map(move |(owner, node)| (zone, &**owner, node))
            })
            .collect()
    } else {
        zone.nodes
            .get(name.as_bytes())
            .map(|node| (zone, name.as_bytes(), node))
            .into_iter()
            .collect()
    };
    for (zone, owner, node) in covered {
        let shown = crate::wire::name::wire_name_to_string(owner);
        if node.rrset(rtype::CNAME).is_some() {
            let what = if wildcard {
                format!("covers {shown}, which holds")
            } else {
                "holds".to_owned()
            };
            fit.errors.push(format!(
                "domain '{}' {what} a CNAME in zone {}",
                domain(),
                zone.file.display()
            ));
        } else if node.rrset(rtype::A).is_some() || node.rrset(rtype::AAAA).is_some() {
            fit.warnings.push(format!(
                "the pin for '{}' shadows the A/AAAA records of {shown} in {}",
                domain(),
                zone.file.display()
            ));
        }
    }
    fit
}

/// Whether a zone's owner name is at or below one of its zone cuts.
fn is_at_or_below_cut(zone: &Zone, owner: &[u8]) -> bool {
    zone.has_delegations
        && NameKey::from_wire(owner, 0).is_ok_and(|(key, _)| {
            matches!(
                zone.lookup(&key),
                crate::zones::ZoneLookup::Delegation { .. }
            )
        })
}

/// Validates entries (from any number of files) and compiles the table.
/// Returns the table and its warnings, or every error.
pub fn compile(
    entries: &[PinEntry],
    config: &Config,
    zones: &ZoneSet,
) -> Result<(PinTable, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut shards: Vec<(Arc<Path>, Vec<PinEntry>)> = Vec::new();
    for entry in entries {
        match shards.iter_mut().find(|(file, _)| *file == entry.file) {
            Some((_, list)) => list.push(entry.clone()),
            None => shards.push((entry.file.clone(), vec![entry.clone()])),
        }
    }
    PinTable::build(shards, config, zones)
}

/// Whether the wire name `owner` lies strictly below `suffix`, label by
/// label.
fn is_below(owner: &[u8], suffix: &NameKey) -> bool {
    if owner.len() <= suffix.as_bytes().len() || !owner.ends_with(suffix.as_bytes()) {
        return false;
    }
    NameKey::from_wire(owner, 0).is_ok_and(|(key, _)| {
        key.label_count() > suffix.label_count()
            && key.suffix(key.label_count() - suffix.label_count()).0 == suffix.as_bytes()
    })
}

/// Parses a reserved name: a host name, or `*.` and a host name.
fn parse_domain(domain: &str) -> Result<(NameKey, bool), String> {
    let (wildcard, rest) = match domain.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, domain),
    };
    let valid_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let trimmed = rest.strip_suffix('.').unwrap_or(rest);
    if trimmed.is_empty() {
        return Err("empty name".to_owned());
    }
    if let Some(label) = trimmed.split('.').find(|label| !valid_label(label)) {
        return Err(format!("invalid label '{label}'"));
    }
    let key = NameKey::from_text(trimmed).map_err(|error| error.to_string())?;
    Ok((key, wildcard))
}

/// The message the management API gives for an unknown target.
pub fn invalid_region_target(value: &str) -> String {
    format!(
        "invalid_region_target: Invalid region target '{value}': must be a valid Point of Presence or Regional Alias."
    )
}

/// Most `ips` values a domain may list: more PoPs than any edge has, and
/// more dedicated addresses than a reply can usefully carry.
const MAX_TARGETS: usize = 256;

/// Why an address cannot be handed to clients as a domain's address, if
/// it cannot: it must be a unicast address that reaches a host from
/// anywhere on the Internet.
fn unservable(address: IpAddr) -> Option<&'static str> {
    match address {
        IpAddr::V4(v4) if v4.is_unspecified() => Some("the unspecified address"),
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(v4) if v4.is_multicast() => Some("a multicast address"),
        IpAddr::V4(v4) if v4.is_loopback() => Some("a loopback address"),
        IpAddr::V4(v4) if v4.is_link_local() => Some("a link-local address"),
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("in 0.0.0.0/8, this network (RFC 1122)"),
        IpAddr::V4(v4) if v4.octets()[0] >= 240 => Some("in 240.0.0.0/4, reserved (RFC 1112)"),
        IpAddr::V6(v6) if v6.is_unspecified() => Some("the unspecified address"),
        IpAddr::V6(v6) if v6.is_multicast() => Some("a multicast address"),
        IpAddr::V6(v6) if v6.is_loopback() => Some("a loopback address"),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some("a link-local address"),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
            Some("an IPv4-mapped IPv6 address (write the IPv4 address)")
        }
        IpAddr::V6(v6) if v6.segments()[..6] == [0; 6] => {
            Some("an IPv4-compatible IPv6 address, deprecated (RFC 4291 §2.5.5.1)")
        }
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfec0 => {
            Some("a site-local address, deprecated (RFC 3879)")
        }
        _ => None,
    }
}

/// Compiles one entry's targets into a policy.
fn build_policy(entry: &PinEntry, ttl: u32, config: &Config) -> Result<Policy, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut regions: Option<PopSet> = None;
    let mut listed: Vec<u8> = Vec::new();
    let mut dedicated: Vec<(IpAddr, Option<u8>, usize)> = Vec::new();
    let targets = entry.targets.as_deref().unwrap_or_default();
    if targets.len() > MAX_TARGETS {
        return Err(vec![Diagnostic::new(
            &entry.file,
            Some(entry.line),
            format!(
                "'{}' lists {} ips values; at most {MAX_TARGETS} are allowed",
                entry.domain,
                targets.len()
            ),
        )]);
    }
    for (value, line) in targets {
        if let Ok(address) = value.parse::<IpAddr>() {
            if let Some(reason) = unservable(address) {
                errors.push(Diagnostic::new(
                    &entry.file,
                    Some(*line),
                    format!("'{value}' cannot be a dedicated IP: it is {reason}"),
                ));
                continue;
            }
            // A PoP's own shared address is homed at that PoP: listing it
            // is listing the PoP, and the region check below applies.
            let home = config
                .dedicated_homes
                .get(&address)
                .copied()
                .or_else(|| config.pop_with_address(address));
            if !dedicated.iter().any(|(seen, _, _)| *seen == address) {
                dedicated.push((address, home, *line));
            }
            continue;
        }
        let pops: Vec<u8> = if let Some(index) = config.pop_index(value) {
            vec![index]
        } else if let Some(alias) = config.aliases.get(value) {
            alias.ordered.clone()
        } else {
            errors.push(Diagnostic::new(
                &entry.file,
                Some(*line),
                invalid_region_target(value),
            ));
            continue;
        };
        *regions.get_or_insert(0) |= mask_of(&pops);
        for index in pops {
            if !listed.contains(&index) {
                listed.push(index);
            }
        }
    }
    // No targets at all (absent or `[]`) is global routing.
    if regions.is_none() && dedicated.is_empty() {
        let global = config
            .aliases
            .get("global")
            .map(|alias| alias.ordered.clone())
            .unwrap_or_default();
        regions = Some(mask_of(&global));
        listed = global;
    }
    if let Some(allowed) = regions {
        for (address, home, line) in &dedicated {
            if let Some(home) = home {
                if allowed & (1u64 << home) == 0 {
                    errors.push(Diagnostic::new(
                        &entry.file,
                        Some(*line),
                        format!(
                            "dedicated IP {address} is homed at {}, outside the pinned regions of '{}'",
                            config.pops[*home as usize].code, entry.domain
                        ),
                    ));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let plan = |family: Family| -> Plan {
        let own: Vec<&(IpAddr, Option<u8>, usize)> = dedicated
            .iter()
            .filter(|(address, _, _)| family.holds(address))
            .collect();
        if !own.is_empty() {
            // Dedicated IPs of the family replace the shared addresses:
            // homed ones are steered like PoPs, unhomed ones go to all.
            let mut per_pop: Vec<(u8, Vec<IpAddr>)> = Vec::new();
            let mut always = Vec::new();
            let mut fallback_order = Vec::new();
            for (address, home, _) in own {
                match home {
                    Some(home) => {
                        match per_pop.iter_mut().find(|(pop, _)| pop == home) {
                            Some((_, addresses)) => addresses.push(*address),
                            None => per_pop.push((*home, vec![*address])),
                        }
                        if !fallback_order.contains(home) {
                            fallback_order.push(*home);
                        }
                    }
                    None => always.push(*address),
                }
            }
            // The domain's own listing order decides among homes for a
            // client nothing places, when it lists regions.
            fallback_order.sort_by_key(|home| {
                listed
                    .iter()
                    .position(|pop| pop == home)
                    .unwrap_or(usize::MAX)
            });
            return Plan {
                candidates: mask_of(&fallback_order),
                fallback_order,
                per_pop: per_pop
                    .into_iter()
                    .map(|(home, list)| (home, Addresses::new(list, ttl)))
                    .collect(),
                always: Addresses::new(always, ttl),
            };
        }
        if !dedicated.is_empty() {
            // Dedicated IPs of the other family only: never shared ones.
            return Plan::default();
        }
        let with_family = config.pops_with_family(family == Family::V6);
        let candidates = regions.unwrap_or(0) & with_family;
        let fallback_order: Vec<u8> = listed
            .iter()
            .copied()
            .filter(|&index| candidates & (1u64 << index) != 0)
            .collect();
        let per_pop = fallback_order
            .iter()
            .map(|&index| {
                let pop = &config.pops[index as usize];
                let addresses: Vec<IpAddr> = match family {
                    Family::V4 => pop.ipv4.iter().copied().map(IpAddr::V4).collect(),
                    Family::V6 => pop.ipv6.iter().copied().map(IpAddr::V6).collect(),
                };
                (index, Addresses::new(addresses, ttl))
            })
            .collect();
        Plan {
            candidates,
            fallback_order,
            per_pop,
            always: Addresses::default(),
        }
    };
    Ok(Policy {
        regions,
        targets: targets.iter().map(|(value, _)| value.clone()).collect(),
        ttl,
        ipv4: plan(Family::V4),
        ipv6: plan(Family::V6),
    })
}
