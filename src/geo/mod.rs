//! Where is a client, which PoPs are nearest to it, and over what prefix
//! does that answer hold.
//!
//! Everything that depends on coordinates is done at load: each location
//! the geo data can give (a database cell, an override, the default) is a
//! *cell*, and every cell has its PoPs ranked by great-circle distance once.
//! Per query there is one prefix lookup and then a scan of a short ranked
//! list (see `crate::pins::Policy::choose`).

pub mod countries;
pub mod mmdb;

use std::fmt;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use crate::config::{Config, Coordinates, Pop};
use crate::diagnostics::Diagnostic;
use mmdb::{CompiledDatabase, PlacedBy};

/// The geo database compiled into the binary (DB-IP City Lite, adapted).
pub static EMBEDDED_DATABASE: &[u8] = include_bytes!("../../data/dbip-city-lite-cells.mmdb");

/// Attribution the embedded database's licence requires.
pub const ATTRIBUTION: &str = "This product includes IP geolocation data derived from DB-IP IP to City Lite \
(https://db-ip.com), licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). \
IP Geolocation by DB-IP. Changes: coordinates rounded to a 1-degree grid and IP ranges generalised.\n\
Contains data from GeoNames (https://www.geonames.org), CC BY 4.0; changes: aggregated per country.";

/// Mean Earth radius in kilometres (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Great-circle distance in kilometres (haversine).
pub fn distance_km(from: Coordinates, to: Coordinates) -> f64 {
    let (lat1, lat2) = (from.latitude.to_radians(), to.latitude.to_radians());
    let delta_lat = lat2 - lat1;
    let delta_lon = (to.longitude - from.longitude).to_radians();
    let a =
        (delta_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (delta_lon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// What decided a client's location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A geo override network.
    Override(IpNet),
    /// The database's coordinates for the client's network.
    Database,
    /// The database's country for the client's network, at its capital.
    DatabaseCountry,
    /// Nothing placed the client; `default_location` did.
    Default,
    /// Nothing placed the client and there is no default.
    Unplaced,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Override(network) => write!(f, "geo override {network}"),
            Self::Database => f.write_str("geo database"),
            Self::DatabaseCountry => f.write_str("geo database (country, placed at its capital)"),
            Self::Default => f.write_str("default_location (not in the geo data)"),
            Self::Unplaced => f.write_str("nowhere (not in the geo data, no default_location)"),
        }
    }
}

/// A client's place: the cell it falls in and how far that holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The cell, `None` when the client could not be placed.
    pub cell: Option<u32>,
    /// Prefix length of the network that decided: the ECS scope.
    pub scope: u8,
    /// What decided.
    pub source: Source,
}

/// Override networks, the compiled database, the default, and every
/// cell's PoP ranking.
pub struct Geo {
    /// Overrides, longest prefix first, with their cell.
    overrides: Vec<(IpNet, u32)>,
    /// The database.
    database: CompiledDatabase,
    /// Cell of `default_location`.
    default_cell: Option<u32>,
    /// Coordinates of every cell: database cells first, then overrides,
    /// then the default.
    cells: Vec<Coordinates>,
    /// Number of PoPs ranked per cell.
    pop_count: usize,
    /// PoP indices by distance, `pop_count` per cell, ties in config order.
    rankings: Vec<u8>,
}

impl Geo {
    /// Builds the geo data of a configuration: the configured database or
    /// the embedded one, the overrides, the default, and the rankings.
    pub fn load(config: &Config) -> Result<Self, Diagnostic> {
        let database = match &config.geo_database {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|error| {
                    Diagnostic::new(path, None, format!("cannot read geo database: {error}"))
                })?;
                CompiledDatabase::compile(&bytes)
                    .map_err(|error| Diagnostic::new(path, None, error.to_string()))?
            }
            None => CompiledDatabase::compile(EMBEDDED_DATABASE).map_err(|error| {
                Diagnostic::new(
                    Path::new("<embedded geo database>"),
                    None,
                    error.to_string(),
                )
            })?,
        };
        Ok(Self::build(database, config))
    }

    /// Adds overrides, the default and rankings to a compiled database.
    fn build(database: CompiledDatabase, config: &Config) -> Self {
        let mut cells: Vec<Coordinates> = database.cells.iter().map(|cell| cell.location).collect();
        let mut overrides: Vec<(IpNet, u32)> = config
            .overrides
            .iter()
            .map(|entry| {
                cells.push(entry.location);
                (entry.network, (cells.len() - 1) as u32)
            })
            .collect();
        overrides.sort_by_key(|entry| std::cmp::Reverse(entry.0.prefix_len()));
        let default_cell = config.default_location.map(|location| {
            cells.push(location);
            (cells.len() - 1) as u32
        });
        let rankings = rank(&cells, &config.pops);
        Self {
            overrides,
            database,
            default_cell,
            cells,
            pop_count: config.pops.len(),
            rankings,
        }
    }

    /// Places a client address (IPv4-mapped addresses count as IPv4).
    ///
    /// The scope is counted in the bits of the address as given: for an
    /// IPv4-mapped IPv6 address the 96 bits of `::ffff:0:0/96` come first,
    /// as RFC 7871 §6 counts prefixes in the option's own family.
    pub fn locate(&self, address: IpAddr) -> Placement {
        let canonical = address.to_canonical();
        let mut placement = self.locate_canonical(canonical);
        if address.is_ipv6() && canonical.is_ipv4() {
            placement.scope = placement.scope.saturating_add(96).min(128);
        }
        placement
    }

    /// Places a canonical (never IPv4-mapped) address, the scope narrowed
    /// so that it covers no longer override answering otherwise.
    fn locate_canonical(&self, address: IpAddr) -> Placement {
        let mut placement = self.decide(address);
        placement.scope = self.exclude_overrides(address, placement.scope);
        placement
    }

    /// Narrows a scope until the block `address/scope` holds no override
    /// network that does not hold `address`: a scope promises the same
    /// answer to every address under it (RFC 7871 §7.3.1), as gdnsd's
    /// merged nets tree gives.
    fn exclude_overrides(&self, address: IpAddr, scope: u8) -> u8 {
        self.overrides.iter().fold(scope, |scope, (network, _)| {
            if network.contains(&address) {
                return scope;
            }
            let common = match (address, network.network()) {
                (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) ^ u32::from(b)).leading_zeros(),
                (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a) ^ u128::from(b)).leading_zeros(),
                _ => return scope,
            };
            // `address` is outside the network, so they part within its
            // prefix; the block holds the network when they part at or
            // below the scope.
            let common = common.min(u32::from(network.prefix_len())) as u8;
            if common >= scope { common + 1 } else { scope }
        })
    }

    /// Finds what decides the location of a canonical address.
    fn decide(&self, address: IpAddr) -> Placement {
        for &(network, cell) in &self.overrides {
            if network.contains(&address) {
                return Placement {
                    cell: Some(cell),
                    scope: network.prefix_len(),
                    source: Source::Override(network),
                };
            }
        }
        let hit = self.database.lookup(address);
        match hit.cell {
            Some(cell) => {
                let source = match self.database.cells[cell as usize].placed_by {
                    PlacedBy::Coordinates => Source::Database,
                    PlacedBy::CountryCapital => Source::DatabaseCountry,
                };
                Placement {
                    cell: Some(cell),
                    scope: hit.prefix_len,
                    source,
                }
            }
            // The no-data block's prefix is the scope: every address in it
            // gets the same fallback.
            None => Placement {
                cell: self.default_cell,
                scope: hit.prefix_len,
                source: if self.default_cell.is_some() {
                    Source::Default
                } else {
                    Source::Unplaced
                },
            },
        }
    }

    /// PoP indices of a cell, nearest first.
    pub fn ranking(&self, cell: u32) -> &[u8] {
        let start = cell as usize * self.pop_count;
        self.rankings
            .get(start..start + self.pop_count)
            .unwrap_or(&[])
    }

    /// Coordinates of a cell.
    pub fn coordinates(&self, cell: u32) -> Option<Coordinates> {
        self.cells.get(cell as usize).copied()
    }

    /// Describes the database for logs and `--version`.
    pub fn describe(&self) -> String {
        format!(
            "{}, {} tree nodes, {} locations, {} overrides",
            self.database.description,
            self.database.node_count(),
            self.database.cells.len(),
            self.overrides.len()
        )
    }
}

/// Ranks every PoP by distance from every cell; ties keep config order.
fn rank(cells: &[Coordinates], pops: &[Pop]) -> Vec<u8> {
    let mut rankings = Vec::with_capacity(cells.len() * pops.len());
    let mut order: Vec<(f64, u8)> = Vec::with_capacity(pops.len());
    for &cell in cells {
        order.clear();
        order.extend(
            pops.iter()
                .enumerate()
                .map(|(index, pop)| (distance_km(cell, pop.location), index as u8)),
        );
        order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        rankings.extend(order.iter().map(|&(_, index)| index));
    }
    rankings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_great_circle() {
        let frankfurt = Coordinates {
            latitude: 50.11,
            longitude: 8.68,
        };
        let tokyo = Coordinates {
            latitude: 35.68,
            longitude: 139.69,
        };
        let km = distance_km(frankfurt, tokyo);
        assert!((9300.0..9400.0).contains(&km), "{km}");
        assert_eq!(distance_km(tokyo, tokyo), 0.0);
    }

    #[test]
    fn embedded_database_places_known_networks() {
        let database = CompiledDatabase::compile(EMBEDDED_DATABASE).expect("embedded database");
        let berlin = database.lookup("130.149.1.1".parse().expect("ip"));
        assert_eq!(berlin.prefix_len, 16);
        let cell = berlin.cell.expect("Berlin is placed");
        let location = database.cells[cell as usize].location;
        assert_eq!((location.latitude, location.longitude), (53.0, 13.0));
        let tokyo = database.lookup("133.11.1.1".parse().expect("ip"));
        assert_eq!(tokyo.prefix_len, 11);
        let loopback = database.lookup("127.0.0.1".parse().expect("ip"));
        assert_eq!(loopback.cell, None);
        assert!(loopback.prefix_len > 0);
        let germany6 = database.lookup("2003::".parse().expect("ip"));
        assert_eq!(germany6.prefix_len, 29);
    }
}
