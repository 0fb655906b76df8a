//! Reading and validating pin tables. A table is checked whole before any
//! of it is used, and every error is reported with its file and line.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use toml::Spanned;

use super::{Family, PinTable, Plan, Policy};
use crate::config::{Config, PopSet, mask_of};
use crate::diagnostics::{Diagnostic, line_of};
use crate::wire::{NameKey, rtype};
use crate::zones::ZoneSet;

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

/// An `ips` value: `"us-ohio-1"` or `{ value = "us-ohio-1" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTarget {
    /// Plain string.
    Plain(String),
    /// API object form.
    Object {
        /// The PoP code, alias or address.
        value: String,
    },
}

impl RawTarget {
    /// The value, whatever the form.
    fn value(&self) -> &str {
        match self {
            Self::Plain(value) | Self::Object { value } => value,
        }
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
                    .filter(|path| {
                        path.extension()
                            .is_some_and(|extension| extension == "toml")
                    })
                    .collect();
                files.sort();
                Ok(files)
            }
        }
    }
}

/// Reads every pin file of a source (a file or a directory of shards).
pub fn load_pins(path: &Path) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    let files = PinSource::at(path).files().map_err(|error| vec![error])?;
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match read_pin_file(&file) {
            Ok(mut found) => entries.append(&mut found),
            Err(mut found) => errors.append(&mut found),
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors)
    }
}

/// Reads and parses one pin file.
pub fn read_pin_file(path: &Path) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| vec![Diagnostic::new(path, None, format!("cannot read: {error}"))])?;
    parse_pin_text(path, &text)
}

/// Parses pin file text read from `path`.
pub fn parse_pin_text(path: &Path, text: &str) -> Result<Vec<PinEntry>, Vec<Diagnostic>> {
    if text.is_empty() {
        // A zero-byte file is a write in progress, never an empty table
        // (an empty table is a file with no entries, e.g. only a comment).
        return Err(vec![Diagnostic::new(
            path,
            None,
            "file is empty (a write in progress?); an empty table needs at least a comment",
        )]);
    }
    let parsed: PinFile = toml::from_str(text).map_err(|error| {
        let line = error.span().map(|span| line_of(text, span.start));
        vec![Diagnostic::new(
            path,
            line,
            error.message().trim().to_owned(),
        )]
    })?;
    let file: Arc<Path> = Arc::from(path);
    Ok(parsed
        .reserved_domain
        .into_iter()
        .map(|raw| PinEntry {
            file: file.clone(),
            line: line_of(text, raw.domain.span().start),
            domain: raw.domain.into_inner(),
            targets: raw.ips.map(|targets| {
                targets
                    .into_iter()
                    .map(|target| {
                        let line = line_of(text, target.span().start);
                        (target.into_inner().value().to_owned(), line)
                    })
                    .collect()
            }),
            ttl: raw.ttl,
        })
        .collect())
}

/// Validates entries against the configuration and zones and compiles the
/// table. Returns the table and its warnings, or every error.
pub fn compile(
    entries: &[PinEntry],
    config: &Config,
    zones: &ZoneSet,
) -> Result<(PinTable, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut table = PinTable::default();
    let mut first_seen: FxHashMap<Box<[u8]>, (Arc<Path>, usize)> = FxHashMap::default();
    let mut policy_index: FxHashMap<(Vec<String>, u32), u32> = FxHashMap::default();

    for entry in entries {
        let at = |line: usize, message: String| Diagnostic::new(&entry.file, Some(line), message);
        let (key, wildcard) = match parse_domain(&entry.domain) {
            Ok(parsed) => parsed,
            Err(reason) => {
                errors.push(at(
                    entry.line,
                    format!("malformed domain '{}': {reason}", entry.domain),
                ));
                continue;
            }
        };
        let mut full_key = Vec::with_capacity(key.as_bytes().len() + 2);
        if wildcard {
            full_key.extend_from_slice(b"\x01*");
        }
        full_key.extend_from_slice(key.as_bytes());
        if let Some((file, line)) = first_seen.get(full_key.as_slice()) {
            errors.push(at(
                entry.line,
                format!(
                    "duplicate domain '{}' (first at {}:{line})",
                    entry.domain,
                    file.display()
                ),
            ));
            continue;
        }
        first_seen.insert(
            full_key.into_boxed_slice(),
            (entry.file.clone(), entry.line),
        );

        match zones.find(&key) {
            None => {
                errors.push(at(
                    entry.line,
                    format!("domain '{}' is outside every served zone", entry.domain),
                ));
            }
            Some((zone, _)) if !wildcard => {
                if let crate::zones::ZoneLookup::Node(node) = zone.lookup(&key) {
                    if node.rrset(rtype::CNAME).is_some() {
                        errors.push(at(
                            entry.line,
                            format!(
                                "domain '{}' holds a CNAME in zone {}",
                                entry.domain,
                                zone.file.display()
                            ),
                        ));
                    } else if node.rrset(rtype::A).is_some() || node.rrset(rtype::AAAA).is_some() {
                        warnings.push(at(
                            entry.line,
                            format!(
                                "the pin for '{}' shadows A/AAAA records in {}",
                                entry.domain,
                                zone.file.display()
                            ),
                        ));
                    }
                }
            }
            Some(_) => {}
        }

        let ttl = entry.ttl.unwrap_or(config.default_ttl);
        let targets: Vec<String> = entry
            .targets
            .as_ref()
            .map(|targets| targets.iter().map(|(value, _)| value.clone()).collect())
            .unwrap_or_default();
        let policy = match policy_index.get(&(targets.clone(), ttl)) {
            Some(&index) => index,
            None => match build_policy(entry, ttl, config) {
                Ok(policy) => {
                    table.policies.push(policy);
                    let index = (table.policies.len() - 1) as u32;
                    policy_index.insert((targets, ttl), index);
                    index
                }
                Err(mut found) => {
                    errors.append(&mut found);
                    continue;
                }
            },
        };
        let map = if wildcard {
            &mut table.wildcards
        } else {
            &mut table.exact
        };
        map.insert(key.as_bytes().into(), policy);
        // A wildcard's suffix and every ancestor of a reserved name exist.
        for skip in usize::from(!wildcard)..key.label_count() {
            table.interior.insert(key.suffix(skip).0.into());
        }
    }
    if errors.is_empty() {
        Ok((table, warnings))
    } else {
        Err(errors)
    }
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

/// Compiles one entry's targets into a policy.
fn build_policy(entry: &PinEntry, ttl: u32, config: &Config) -> Result<Policy, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut regions: Option<PopSet> = None;
    let mut listed: Vec<u8> = Vec::new();
    let mut dedicated: Vec<(IpAddr, Option<u8>, usize)> = Vec::new();
    let targets = entry.targets.as_deref().unwrap_or_default();
    for (value, line) in targets {
        if let Ok(address) = value.parse::<IpAddr>() {
            let address = address.to_canonical();
            if !dedicated.iter().any(|(seen, _, _)| *seen == address) {
                dedicated.push((
                    address,
                    config.dedicated_homes.get(&address).copied(),
                    *line,
                ));
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
                per_pop,
                always,
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
                (index, addresses)
            })
            .collect();
        Plan {
            candidates,
            fallback_order,
            per_pop,
            always: Vec::new(),
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
