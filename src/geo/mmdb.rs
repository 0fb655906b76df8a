//! A MaxMind-format database compiled at load into a compact search tree
//! whose leaves are location cells.
//!
//! The `maxminddb` crate reads the metadata and decodes every distinct data
//! record once; queries then walk a plain array of node pairs and never
//! decode anything.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use maxminddb::Reader;
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::config::Coordinates;
use crate::geo::countries;

/// Marks a tree record as a leaf holding a cell index.
const LEAF: u32 = 0x8000_0000;
/// A tree record with no data below it.
const EMPTY: u32 = u32::MAX;

/// Why a database could not be used.
#[derive(Debug)]
pub enum MmdbError {
    /// The file is not a valid MaxMind DB.
    Format(String),
    /// The tree is larger than pindns's compact form holds.
    TooLarge,
}

impl std::fmt::Display for MmdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Format(message) => write!(f, "not a usable MaxMind DB: {message}"),
            Self::TooLarge => f.write_str("database search tree has too many nodes"),
        }
    }
}

/// The parts of a record pindns reads, in every supported layout: City
/// (`location.latitude`), flat (`latitude`), Country (`country.iso_code`)
/// and flat country (`country_code`).
#[derive(Debug, Deserialize)]
struct RawRecord<'a> {
    /// City layout location.
    location: Option<RawLocation>,
    /// Flat layout latitude.
    latitude: Option<f64>,
    /// Flat layout longitude.
    longitude: Option<f64>,
    /// Country layout country.
    #[serde(borrow)]
    country: Option<RawCountry<'a>>,
    /// Flat country code.
    country_code: Option<&'a str>,
}

/// `location` of the City layout.
#[derive(Debug, Deserialize)]
struct RawLocation {
    /// Latitude in degrees.
    latitude: Option<f64>,
    /// Longitude in degrees.
    longitude: Option<f64>,
}

/// `country` of the Country and City layouts.
#[derive(Debug, Deserialize)]
struct RawCountry<'a> {
    /// ISO 3166-1 alpha-2 code.
    iso_code: Option<&'a str>,
}

impl RawRecord<'_> {
    /// Where the record places a client: its coordinates, else its
    /// country's capital.
    fn coordinates(&self) -> Option<(Coordinates, PlacedBy)> {
        let pair = match &self.location {
            Some(location) => location.latitude.zip(location.longitude),
            None => self.latitude.zip(self.longitude),
        };
        if let Some((latitude, longitude)) = pair {
            // Coordinates off the globe (or NaN) place nobody.
            if !((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)) {
                return None;
            }
            return Some((
                Coordinates {
                    latitude,
                    longitude,
                },
                PlacedBy::Coordinates,
            ));
        }
        let code = self
            .country
            .as_ref()
            .and_then(|country| country.iso_code)
            .or(self.country_code)?;
        countries::capital(code).map(|capital| (capital, PlacedBy::CountryCapital))
    }
}

/// How a database record gave its location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacedBy {
    /// The record carries coordinates.
    Coordinates,
    /// The record names a country, placed at its capital.
    CountryCapital,
}

/// A location a database record gives.
#[derive(Debug, Clone, Copy)]
pub struct DatabaseCell {
    /// Where.
    pub location: Coordinates,
    /// From which field.
    pub placed_by: PlacedBy,
}

/// The result of walking the tree for one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHit {
    /// Cell index, `None` when the database has no data there.
    pub cell: Option<u32>,
    /// Prefix length of the network the answer holds for.
    pub prefix_len: u8,
}

/// The compiled database.
pub struct CompiledDatabase {
    /// Node pairs: child node index, `LEAF | cell`, or `EMPTY`.
    nodes: Vec<[u32; 2]>,
    /// Where IPv4 lookups start: the node (or leaf) at ::/96.
    ipv4_root: u32,
    /// Depth of `ipv4_root` on a 128-bit path (96, or less when a leaf
    /// covers all of ::/96).
    ipv4_depth: u8,
    /// Whether the tree covers IPv6 at all.
    has_ipv6: bool,
    /// Where the walk stands after the first 16 bits of an IPv4 address
    /// (record, depth on the 128-bit path): one load instead of sixteen
    /// dependent ones through a tree far larger than the caches.
    ipv4_jump: Vec<(u32, u8)>,
    /// The same for the first 16 bits of an IPv6 address.
    ipv6_jump: Vec<(u32, u8)>,
    /// Cell locations, by index.
    pub cells: Vec<DatabaseCell>,
    /// `database_type` and build time, for `--version` and logs.
    pub description: String,
}

impl CompiledDatabase {
    /// Compiles a database from its bytes.
    pub fn compile(bytes: &[u8]) -> Result<Self, MmdbError> {
        let reader =
            Reader::from_source(bytes).map_err(|error| MmdbError::Format(error.to_string()))?;
        let metadata = reader.metadata();
        let node_count = metadata.node_count;
        if node_count == 0 {
            return Err(MmdbError::Format("empty search tree".to_owned()));
        }
        if node_count >= LEAF - 1 {
            return Err(MmdbError::TooLarge);
        }
        let record_size = usize::from(metadata.record_size);
        if !matches!(record_size, 24 | 28 | 32) {
            return Err(MmdbError::Format(format!("record size {record_size}")));
        }
        let node_bytes = record_size * 2 / 8;
        let tree_len = node_count as usize * node_bytes;
        let tree = bytes
            .get(..tree_len)
            .ok_or_else(|| MmdbError::Format("search tree runs past the file".to_owned()))?;
        let read_record = |node: u32, right: bool| -> u32 {
            let at = node as usize * node_bytes;
            let n = &tree[at..at + node_bytes];
            match (record_size, right) {
                (24, false) => u32::from_be_bytes([0, n[0], n[1], n[2]]),
                (24, true) => u32::from_be_bytes([0, n[3], n[4], n[5]]),
                (28, false) => u32::from_be_bytes([(n[3] & 0xF0) >> 4, n[0], n[1], n[2]]),
                (28, true) => u32::from_be_bytes([n[3] & 0x0F, n[4], n[5], n[6]]),
                (_, false) => u32::from_be_bytes([n[0], n[1], n[2], n[3]]),
                (_, true) => u32::from_be_bytes([n[4], n[5], n[6], n[7]]),
            }
        };
        let is_ipv6_tree = metadata.ip_version == 6;
        let description = format!(
            "{} (built {})",
            metadata.database_type, metadata.build_epoch
        );

        let mut nodes = vec![[EMPTY, EMPTY]; node_count as usize];
        let mut cells = Vec::new();
        let mut cell_of_record: FxHashMap<u32, Option<u32>> = FxHashMap::default();
        let mut visited = vec![false; node_count as usize];
        // Depth-first walk from the root, carrying the address bits of the
        // path so that each data record is decoded once, through a lookup
        // of an address that reaches it.
        let mut stack: Vec<(u32, u128, u8)> = vec![(0, 0, 0)];
        while let Some((node, path, depth)) = stack.pop() {
            if node >= node_count || visited[node as usize] {
                continue;
            }
            visited[node as usize] = true;
            for (side, right) in [(0usize, false), (1usize, true)] {
                let record = read_record(node, right);
                let child_path = (path << 1) | u128::from(right);
                let child_depth = depth + 1;
                let compiled = if record < node_count {
                    stack.push((record, child_path, child_depth));
                    record
                } else if record == node_count {
                    EMPTY
                } else {
                    let cell = match cell_of_record.get(&record) {
                        Some(cell) => *cell,
                        None => {
                            let address = path_address(child_path, child_depth, is_ipv6_tree);
                            let decoded = decode_cell(&reader, address);
                            let cell = decoded.map(|found| {
                                cells.push(found);
                                (cells.len() - 1) as u32
                            });
                            cell_of_record.insert(record, cell);
                            cell
                        }
                    };
                    cell.map_or(EMPTY, |index| LEAF | index)
                };
                nodes[node as usize][side] = compiled;
            }
        }

        let mut compiled = Self {
            nodes,
            ipv4_root: 0,
            ipv4_depth: 96,
            has_ipv6: is_ipv6_tree,
            ipv4_jump: Vec::new(),
            ipv6_jump: Vec::new(),
            cells,
            description,
        };
        if is_ipv6_tree {
            // IPv4 lives in the IPv4-compatible subtree ::/96.
            let mut record = 0u32;
            let mut depth = 0u8;
            while depth < 96 && record & LEAF == 0 && record != EMPTY {
                record = compiled.nodes[record as usize][0];
                depth += 1;
            }
            compiled.ipv4_root = record;
            compiled.ipv4_depth = depth;
        }
        compiled.ipv4_jump = compiled.jump_table(compiled.ipv4_root, compiled.ipv4_depth, 96);
        if is_ipv6_tree {
            compiled.ipv6_jump = compiled.jump_table(0, 0, 0);
        }
        if compiled.cells.is_empty() {
            return Err(MmdbError::Format(
                "no record gives a location (coordinates or a known country)".to_owned(),
            ));
        }
        Ok(compiled)
    }

    /// Walks the tree for an address (IPv4-mapped addresses must already be
    /// canonical).
    pub fn lookup(&self, address: IpAddr) -> TreeHit {
        // Addresses are walked as 128-bit paths; IPv4 sits at depth 96
        // (the IPv4-compatible subtree of an IPv6 tree, or the whole of an
        // IPv4 tree), and its prefix lengths count from there.
        let (path, (mut record, mut depth), offset) = match address {
            IpAddr::V4(v4) => {
                let bits = u32::from(v4);
                let start = self.ipv4_jump.get((bits >> 16) as usize).copied();
                (
                    u128::from(bits),
                    start.unwrap_or((self.ipv4_root, self.ipv4_depth)),
                    96u8,
                )
            }
            IpAddr::V6(v6) if self.has_ipv6 => {
                let bits = u128::from(v6);
                let start = self.ipv6_jump.get((bits >> 112) as usize).copied();
                (bits, start.unwrap_or((0, 0)), 0)
            }
            IpAddr::V6(_) => {
                return TreeHit {
                    cell: None,
                    prefix_len: 0,
                };
            }
        };
        // The bits still to walk, the next one on top.
        let mut rest = path.checked_shl(u32::from(depth)).unwrap_or(0);
        loop {
            if record == EMPTY || record & LEAF != 0 {
                let cell = (record != EMPTY).then_some(record & !LEAF);
                return TreeHit {
                    cell,
                    prefix_len: depth.saturating_sub(offset),
                };
            }
            if depth >= 128 {
                return TreeHit {
                    cell: None,
                    prefix_len: 128 - offset,
                };
            }
            let bit = (rest >> 127) as usize;
            rest <<= 1;
            record = self.nodes[record as usize][bit];
            depth += 1;
        }
    }

    /// Walks the first 16 bits below `(record, depth)` for every value of
    /// them; `offset` is where those bits start on the 128-bit path.
    fn jump_table(&self, record: u32, depth: u8, offset: u8) -> Vec<(u32, u8)> {
        (0..=u16::MAX)
            .map(|prefix| {
                let (mut record, mut depth) = (record, depth);
                while depth < offset + 16 && record != EMPTY && record & LEAF == 0 {
                    let Some(node) = self.nodes.get(record as usize) else {
                        return (EMPTY, depth);
                    };
                    let bit = (prefix >> (15 - (depth - offset))) & 1;
                    record = node[usize::from(bit)];
                    depth += 1;
                }
                (record, depth)
            })
            .collect()
    }

    /// Number of search tree nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// The address whose first `depth` bits are `path`.
fn path_address(path: u128, depth: u8, ipv6_tree: bool) -> IpAddr {
    let width = if ipv6_tree { 128u32 } else { 32 };
    let shifted = if u32::from(depth) >= width {
        path
    } else {
        path << (width - u32::from(depth))
    };
    if ipv6_tree {
        IpAddr::V6(Ipv6Addr::from(shifted))
    } else {
        IpAddr::V4(Ipv4Addr::from(shifted as u32))
    }
}

/// Decodes the record an address reaches into a cell.
fn decode_cell(reader: &Reader<&[u8]>, address: IpAddr) -> Option<DatabaseCell> {
    let result = reader.lookup(address).ok()?;
    let record: RawRecord<'_> = result.decode().ok()??;
    record
        .coordinates()
        .map(|(location, placed_by)| DatabaseCell {
            location,
            placed_by,
        })
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use super::CompiledDatabase;
    use crate::geo::EMBEDDED_DATABASE;

    #[test]
    /// Starting from the 16-bit jump tables gives exactly the plain walk.
    fn jump_tables_agree_with_the_plain_walk() {
        let fast = CompiledDatabase::compile(EMBEDDED_DATABASE).expect("embedded database");
        let mut plain = CompiledDatabase::compile(EMBEDDED_DATABASE).expect("embedded database");
        plain.ipv4_jump.clear();
        plain.ipv6_jump.clear();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..100_000 {
            let v4 = IpAddr::V4(Ipv4Addr::from(next() as u32));
            assert_eq!(fast.lookup(v4), plain.lookup(v4), "{v4}");
            let high = u128::from(next()) << 64 | u128::from(next());
            let v6 = IpAddr::V6(Ipv6Addr::from(high >> 3 | 1 << 125));
            assert_eq!(fast.lookup(v6), plain.lookup(v6), "{v6}");
            let anywhere = IpAddr::V6(Ipv6Addr::from(high));
            assert_eq!(fast.lookup(anywhere), plain.lookup(anywhere), "{anywhere}");
        }
    }
}
