//! The pin table: which PoPs (or dedicated IPs) may answer for each
//! reserved domain, and the choice within that set.
//!
//! Domains with the same `ips` and TTL share one [`Policy`], compiled at
//! load into one [`Plan`] per address family. A plan lists its candidate
//! PoPs as a bit mask and the addresses each would answer; per query the
//! only work left is to walk the client cell's PoP ranking to the first
//! candidate. No path can produce an address that is not in the plan.

pub mod fast;
mod index;
mod load;
mod table;

use std::net::IpAddr;

use crate::config::PopSet;
use crate::geo::{Geo, Placement};

pub use index::{Duplicate, NameIndex};
pub use load::{
    CompiledShard, Digest, PinEntry, PinSource, Policies, Shard, compile, compile_shard,
    file_digest, invalid_region_target, is_unfinished_write, load_pins, load_shards, load_table,
    parse_pin_text, parse_with_toml, read_pin_file, read_pin_file_digested,
};
pub use table::{PinTable, Slot, TableBuilder};

/// Address family of a query: A → IPv4, AAAA → IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 (A).
    V4,
    /// IPv6 (AAAA).
    V6,
}

impl Family {
    /// The family a query type asks for: A → IPv4, AAAA → IPv6.
    pub fn of_query_type(qtype: u16) -> Option<Self> {
        match qtype {
            crate::wire::rtype::A => Some(Self::V4),
            crate::wire::rtype::AAAA => Some(Self::V6),
            _ => None,
        }
    }

    /// Whether an address is of this family.
    pub fn holds(self, address: &IpAddr) -> bool {
        matches!(
            (self, address),
            (Self::V4, IpAddr::V4(_)) | (Self::V6, IpAddr::V6(_))
        )
    }
}

/// The answers of one family for a policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// PoPs that may be chosen (shared PoPs, or homes of dedicated IPs).
    pub candidates: PopSet,
    /// Candidates in the order the domain lists them: the choice for a
    /// client nothing places.
    pub fallback_order: Vec<u8>,
    /// Addresses answered when each candidate is chosen, with their
    /// answer records.
    pub per_pop: Vec<(u8, Addresses)>,
    /// Addresses answered for every client (unhomed dedicated IPs).
    pub always: Addresses,
}

/// Addresses answered together, and their answer records encoded once at
/// load as an answer for the question's own name writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Addresses {
    /// The addresses, in answer order.
    pub list: Vec<IpAddr>,
    /// Their records: owner a compression pointer to the question name,
    /// class IN, the policy's TTL.
    pub records: Box<[u8]>,
}

impl Addresses {
    /// The addresses and their records with time to live `ttl`.
    pub fn new(list: Vec<IpAddr>, ttl: u32) -> Self {
        let records = crate::wire::reply::encode_address_records(&list, ttl);
        Self { list, records }
    }
}

/// The outcome of steering one query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice<'p> {
    /// The chosen PoP, when the answer is steered.
    pub pop: Option<u8>,
    /// Addresses of the chosen PoP (possibly empty).
    pub steered: &'p [IpAddr],
    /// Addresses answered to everyone.
    pub always: &'p [IpAddr],
    /// The answer records of `steered` then `always`, for the question's
    /// own name.
    pub records: [&'p [u8]; 2],
    /// ECS scope the answer holds for.
    pub scope: u8,
}

impl Choice<'_> {
    /// Whether the answer has no records (NODATA).
    pub fn is_empty(&self) -> bool {
        self.steered.is_empty() && self.always.is_empty()
    }

    /// Every answered address.
    pub fn addresses(&self) -> impl Iterator<Item = &IpAddr> {
        self.steered.iter().chain(self.always.iter())
    }
}

impl Plan {
    /// Chooses within the plan for a placed (or unplaced) client.
    pub fn choose(&self, geo: &Geo, placement: &Placement) -> Choice<'_> {
        let candidate_count = self.candidates.count_ones();
        // An answer that cannot vary by client holds for everyone.
        let scope = if candidate_count > 1 {
            placement.scope
        } else {
            0
        };
        let pop = if candidate_count == 0 {
            None
        } else {
            let ranked = placement.cell.and_then(|cell| {
                geo.ranking(cell)
                    .iter()
                    .copied()
                    .find(|&index| self.candidates & (1u64 << index) != 0)
            });
            ranked.or_else(|| self.fallback_order.first().copied())
        };
        let steered = pop
            .and_then(|index| self.per_pop.iter().find(|(pop, _)| *pop == index))
            .map(|(_, addresses)| addresses);
        Choice {
            pop,
            steered: steered.map_or(&[][..], |addresses| addresses.list.as_slice()),
            always: &self.always.list,
            records: [
                steered.map_or(&[][..], |addresses| &addresses.records),
                &self.always.records,
            ],
            scope,
        }
    }

    /// Every address the plan can ever answer.
    pub fn allowed_addresses(&self) -> impl Iterator<Item = &IpAddr> {
        self.per_pop
            .iter()
            .flat_map(|(_, addresses)| addresses.list.iter())
            .chain(self.always.list.iter())
    }
}

/// What a reserved domain may be answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Allowed PoPs (aliases expanded); `None` when `ips` lists only
    /// dedicated addresses.
    pub regions: Option<PopSet>,
    /// The `ips` values as written, for `explain` and change logs.
    pub targets: Vec<String>,
    /// TTL of steered answers.
    pub ttl: u32,
    /// A answers.
    pub ipv4: Plan,
    /// AAAA answers.
    pub ipv6: Plan,
}

impl Policy {
    /// The plan of a family.
    pub fn plan(&self, family: Family) -> &Plan {
        match family {
            Family::V4 => &self.ipv4,
            Family::V6 => &self.ipv6,
        }
    }
}

/// How a name matched the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMatch {
    /// The name itself is reserved.
    Exact,
    /// A wildcard `*.suffix` covers it.
    Wildcard {
        /// Labels of the name above `suffix`.
        skip: usize,
    },
}

/// The difference between two pin tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PinDiff {
    /// Names new in the table.
    pub added: Vec<String>,
    /// Names no longer in the table.
    pub removed: Vec<String>,
    /// Names whose policy changed.
    pub changed: Vec<String>,
}

impl PinDiff {
    /// Adds another change set to this one.
    pub fn extend(&mut self, other: Self) {
        self.added.extend(other.added);
        self.removed.extend(other.removed);
        self.changed.extend(other.changed);
    }

    /// Sorts each list by name.
    pub fn sort(&mut self) {
        self.added.sort();
        self.removed.sort();
        self.changed.sort();
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// A one-line summary naming up to a few names of each kind.
    pub fn summary(&self) -> String {
        let list = |names: &[String]| {
            let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            if more > 0 {
                format!("{} (+{more} more)", shown.join(" "))
            } else {
                shown.join(" ")
            }
        };
        format!(
            "added {} [{}], removed {} [{}], changed {} [{}]",
            self.added.len(),
            list(&self.added),
            self.removed.len(),
            list(&self.removed),
            self.changed.len(),
            list(&self.changed)
        )
    }
}
