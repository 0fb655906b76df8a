//! Static zones from RFC 1035 files, held as pre-encoded RRsets.
//!
//! Record data is encoded once at load (names uncompressed), so answering
//! copies bytes. The lookup here is the only place that decides between an
//! answer, a delegation, a wildcard and NXDOMAIN (RFC 1034 §4.3.2, RFC 4592).

mod load;

use std::path::PathBuf;

use rustc_hash::FxHashMap;

use crate::wire::NameKey;
use crate::wire::rtype;

pub use load::{load_zone_dir, load_zone_file, parse_zone};

/// One RRset: records of one type at one name, with their encoded RDATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rrset {
    /// Record type.
    pub rtype: u16,
    /// TTL (RFC 2181 §5.2: one per RRset).
    pub ttl: u32,
    /// RDATA of each record, names uncompressed.
    pub rdata: Vec<Box<[u8]>>,
}

/// All RRsets at one name; empty for an empty non-terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// RRsets, in the order the zone file first gave each type.
    pub rrsets: Vec<Rrset>,
}

impl Node {
    /// The RRset of a type, if present.
    pub fn rrset(&self, record_type: u16) -> Option<&Rrset> {
        self.rrsets.iter().find(|set| set.rtype == record_type)
    }

    /// Whether the node holds no records (an empty non-terminal).
    pub fn is_empty(&self) -> bool {
        self.rrsets.is_empty()
    }
}

/// One zone.
#[derive(Debug, Clone)]
pub struct Zone {
    /// The file it came from.
    pub file: PathBuf,
    /// Apex name, lower-case wire format.
    pub apex: Box<[u8]>,
    /// Number of labels in the apex.
    pub apex_labels: usize,
    /// TTL of the SOA in negative answers: min(SOA TTL, MINIMUM) (RFC 2308 §3).
    pub negative_ttl: u32,
    /// Encoded SOA RDATA.
    pub soa_rdata: Box<[u8]>,
    /// SOA serial, for logs.
    pub serial: u32,
    /// Nodes by lower-case wire name, empty non-terminals included.
    pub nodes: FxHashMap<Box<[u8]>, Node>,
    /// Whether any name below the apex holds NS (a zone cut).
    pub has_delegations: bool,
    /// Whether any wildcard owner exists.
    pub has_wildcards: bool,
}

/// What a zone holds for a name.
#[derive(Debug, Clone, Copy)]
pub enum ZoneLookup<'z> {
    /// The name exists (possibly as an empty non-terminal).
    Node(&'z Node),
    /// The name does not exist but a wildcard covers it (RFC 4592).
    Wildcard {
        /// The wildcard's node.
        node: &'z Node,
        /// Labels of the query name above the closest encloser (the
        /// wildcard's parent).
        encloser: usize,
    },
    /// The name is at or below a zone cut; the NS RRset of the cut and the
    /// number of leading labels of the query name above the cut.
    Delegation {
        /// The cut's NS RRset.
        ns: &'z Rrset,
        /// Labels of the query name to skip to reach the cut's name.
        skip: usize,
    },
    /// The name does not exist.
    NxDomain,
}

impl Zone {
    /// Looks a name up; `name` must be at or below the apex.
    pub fn lookup(&self, name: &NameKey) -> ZoneLookup<'_> {
        let depth = name.label_count().saturating_sub(self.apex_labels);
        if self.has_delegations {
            // Walk from just below the apex down to the name itself: the
            // highest cut wins.
            for skip in (0..depth).rev() {
                let (suffix, _) = name.suffix(skip);
                if let Some(ns) = self
                    .nodes
                    .get(suffix)
                    .and_then(|node| node.rrset(rtype::NS))
                {
                    return ZoneLookup::Delegation { ns, skip };
                }
            }
        }
        if let Some(node) = self.nodes.get(name.as_bytes()) {
            return ZoneLookup::Node(node);
        }
        if self.has_wildcards {
            // The closest encloser is the longest existing ancestor; only a
            // wildcard directly below it applies (RFC 4592 §3.3.1).
            let mut wildcard = [0u8; 256];
            for skip in 1..=depth {
                let (suffix, _) = name.suffix(skip);
                if !self.nodes.contains_key(suffix) {
                    continue;
                }
                wildcard[0] = 1;
                wildcard[1] = b'*';
                wildcard[2..2 + suffix.len()].copy_from_slice(suffix);
                return match self.nodes.get(&wildcard[..2 + suffix.len()]) {
                    Some(node) => ZoneLookup::Wildcard {
                        node,
                        encloser: skip,
                    },
                    None => ZoneLookup::NxDomain,
                };
            }
        }
        ZoneLookup::NxDomain
    }

    /// Number of records in the zone.
    pub fn record_count(&self) -> usize {
        self.nodes
            .values()
            .flat_map(|node| node.rrsets.iter())
            .map(|set| set.rdata.len())
            .sum()
    }
}

/// Every served zone, found by the longest matching apex.
#[derive(Debug, Clone, Default)]
pub struct ZoneSet {
    /// Zones by lower-case wire apex.
    zones: FxHashMap<Box<[u8]>, Zone>,
    /// Most labels any apex has: longer suffixes need not be tried.
    max_apex_labels: usize,
}

impl ZoneSet {
    /// A set of zones; apexes must be distinct.
    pub fn new(zones: Vec<Zone>) -> Self {
        let max_apex_labels = zones.iter().map(|zone| zone.apex_labels).max().unwrap_or(0);
        Self {
            zones: zones
                .into_iter()
                .map(|zone| (zone.apex.clone(), zone))
                .collect(),
            max_apex_labels,
        }
    }

    /// The most specific zone containing the name, and the number of
    /// leading labels of the name above its apex.
    pub fn find(&self, name: &NameKey) -> Option<(&Zone, usize)> {
        let labels = name.label_count();
        let first = labels.saturating_sub(self.max_apex_labels);
        (first..=labels).find_map(|skip| {
            let (suffix, _) = name.suffix(skip);
            self.zones.get(suffix).map(|zone| (zone, skip))
        })
    }

    /// Whether both sets serve the same apexes (contents aside).
    pub fn same_apexes(&self, other: &Self) -> bool {
        self.zones.len() == other.zones.len()
            && self.zones.keys().all(|apex| other.zones.contains_key(apex))
    }

    /// The zone with exactly this apex.
    pub fn get(&self, apex: &[u8]) -> Option<&Zone> {
        self.zones.get(apex)
    }

    /// All zones, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Zone> {
        self.zones.values()
    }

    /// What changed from `old`: zones added (`+`), removed (`-`) and
    /// changed (with their serials), by apex.
    pub fn diff(&self, old: &Self) -> Vec<String> {
        let name = |apex: &[u8]| crate::wire::name::wire_name_to_string(apex);
        let mut changes: Vec<String> = Vec::new();
        for (apex, zone) in &self.zones {
            match old.zones.get(apex) {
                None => changes.push(format!("+{}", name(apex))),
                Some(before)
                    if before.nodes != zone.nodes || before.soa_rdata != zone.soa_rdata =>
                {
                    changes.push(format!(
                        "{} (serial {} -> {})",
                        name(apex),
                        before.serial,
                        zone.serial
                    ));
                }
                Some(_) => {}
            }
        }
        changes.extend(
            old.zones
                .keys()
                .filter(|apex| !self.zones.contains_key(*apex))
                .map(|apex| format!("-{}", name(apex))),
        );
        changes.sort();
        changes
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.zones.len()
    }

    /// Whether there are no zones.
    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }
}
