//! The server configuration (`config.toml`): listeners, paths, PoPs,
//! aliases, dedicated-IP homes, defaults and geo settings.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostics::{Diagnostic, line_of};

/// Largest TTL (RFC 2181 §8: TTLs are 31-bit values).
pub const MAX_TTL: u32 = 0x7FFF_FFFF;

/// Most PoPs a configuration may define: PoP sets are 64-bit masks.
pub const MAX_POPS: usize = 64;

/// A set of PoPs as a bit mask over their index in config order.
pub type PopSet = u64;

/// The configuration file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    /// Addresses to serve on, UDP and TCP each.
    #[serde(default = "default_listen")]
    listen: Vec<String>,
    /// Directory of `*.zone` files.
    #[serde(default = "default_zones_dir")]
    zones_dir: PathBuf,
    /// Pin table: a file, or a directory of `*.toml` shards.
    #[serde(default = "default_pins")]
    pins: PathBuf,
    /// Server behaviour.
    #[serde(default)]
    server: ServerFile,
    /// Defaults for pinned answers.
    #[serde(default)]
    defaults: DefaultsFile,
    /// Geo database and overrides.
    #[serde(default)]
    geo: GeoFile,
    /// The PoPs, in tie-break order.
    #[serde(rename = "pop", default)]
    pops: Vec<Spanned<PopFile>>,
    /// Region aliases besides the built-in `global`.
    #[serde(default)]
    aliases: BTreeMap<String, Spanned<Vec<String>>>,
    /// Dedicated IP address → the PoP it is homed at.
    #[serde(default)]
    dedicated_ips: BTreeMap<String, Spanned<String>>,
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerFile {
    /// Answer to `id.server`/`hostname.bind` CH TXT; REFUSED when unset.
    identity: Option<String>,
    /// Answer to `version.bind`/`version.server` CH TXT; REFUSED when unset.
    version: Option<String>,
    /// NSID (RFC 5001) sent to requesters that ask; none when unset.
    nsid: Option<String>,
    /// UDP worker threads per listen address (0 = one per core).
    udp_workers: Option<usize>,
    /// Most TCP connections open at once.
    tcp_max_connections: Option<usize>,
    /// Seconds an idle TCP connection is kept.
    tcp_idle_timeout: Option<f64>,
    /// Milliseconds of quiet before changed files are reloaded.
    reload_debounce_ms: Option<u64>,
}

/// `[defaults]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsFile {
    /// TTL of steered answers when the domain sets none.
    ttl: Option<u32>,
}

/// `[geo]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeoFile {
    /// MaxMind-format database; the embedded one when unset.
    database: Option<PathBuf>,
    /// Where clients the database cannot place are assumed to be.
    default_location: Option<LocationFile>,
    /// Networks placed before the database is asked.
    #[serde(default)]
    overrides: BTreeMap<String, LocationFile>,
}

/// A location as written: a PoP code or coordinates.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum LocationFile {
    /// At a PoP.
    Pop(String),
    /// At coordinates in degrees.
    Coordinates {
        /// Latitude in degrees.
        lat: f64,
        /// Longitude in degrees.
        lon: f64,
    },
}

/// `[[pop]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PopFile {
    /// The code used in pin tables.
    code: String,
    /// Free text.
    #[serde(default)]
    name: Option<String>,
    /// Latitude in degrees.
    lat: f64,
    /// Longitude in degrees.
    lon: f64,
    /// IPv4 service addresses.
    #[serde(default)]
    ipv4: Vec<Ipv4Addr>,
    /// IPv6 service addresses.
    #[serde(default)]
    ipv6: Vec<Ipv6Addr>,
}

/// Default listen address.
fn default_listen() -> Vec<String> {
    vec!["127.0.0.1:5353".to_owned()]
}

/// Default zones directory.
fn default_zones_dir() -> PathBuf {
    PathBuf::from("zones")
}

/// Default pin table.
fn default_pins() -> PathBuf {
    PathBuf::from("zones/pins.toml")
}

/// A point on the globe, in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    /// Latitude in degrees, -90..=90.
    pub latitude: f64,
    /// Longitude in degrees, -180..=180.
    pub longitude: f64,
}

impl fmt::Display for Coordinates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}, {:.2}", self.latitude, self.longitude)
    }
}

/// One Point of Presence.
#[derive(Debug, Clone)]
pub struct Pop {
    /// Its code, e.g. `de-fra-1`.
    pub code: String,
    /// Free text.
    pub name: Option<String>,
    /// Where it is.
    pub location: Coordinates,
    /// IPv4 service addresses.
    pub ipv4: Vec<Ipv4Addr>,
    /// IPv6 service addresses.
    pub ipv6: Vec<Ipv6Addr>,
}

/// The index of the PoP among `pops` that lists `address` as one of its
/// shared addresses.
fn pop_serving(pops: &[Pop], address: IpAddr) -> Option<usize> {
    pops.iter().position(|pop| match address {
        IpAddr::V4(v4) => pop.ipv4.contains(&v4),
        IpAddr::V6(v6) => pop.ipv6.contains(&v6),
    })
}

/// A region alias expanded to PoPs.
#[derive(Debug, Clone)]
pub struct Alias {
    /// The PoPs as a set.
    pub pops: PopSet,
    /// The PoPs in the order the alias lists them.
    pub ordered: Vec<u8>,
}

/// A geo override: a network placed at a location.
#[derive(Debug, Clone)]
pub struct GeoOverride {
    /// The network.
    pub network: IpNet,
    /// Where its clients are.
    pub location: Coordinates,
}

/// Server behaviour settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// CH TXT identity, if any.
    pub identity: Option<String>,
    /// CH TXT version, if any.
    pub version: Option<String>,
    /// NSID, if any.
    pub nsid: Option<Vec<u8>>,
    /// UDP workers per listen address.
    pub udp_workers: usize,
    /// Cap on open TCP connections.
    pub tcp_max_connections: usize,
    /// Idle TCP connections are closed after this long.
    pub tcp_idle_timeout: Duration,
    /// Quiet window before a reload.
    pub reload_debounce: Duration,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Zones directory (resolved against the config file's directory).
    pub zones_dir: PathBuf,
    /// Pin table file or directory (resolved likewise).
    pub pins: PathBuf,
    /// Whether the pin table is a directory of shards. Decided once, when
    /// the configuration is read: a reload never turns a single-file table
    /// into a (possibly empty) directory or back.
    pub pins_sharded: bool,
    /// Server settings.
    pub server: ServerSettings,
    /// TTL of steered answers when a domain sets none.
    pub default_ttl: u32,
    /// Geo database file; `None` means the embedded one.
    pub geo_database: Option<PathBuf>,
    /// Location of clients nothing places.
    pub default_location: Option<Coordinates>,
    /// Geo overrides.
    pub overrides: Vec<GeoOverride>,
    /// PoPs in config order.
    pub pops: Vec<Pop>,
    /// Aliases by name, `global` included.
    pub aliases: FxHashMap<String, Alias>,
    /// Dedicated IP → index of its home PoP.
    pub dedicated_homes: FxHashMap<IpAddr, u8>,
}

impl Config {
    /// Reads and validates a configuration file; every problem is reported.
    pub fn load(path: &Path) -> Result<Self, Vec<Diagnostic>> {
        let text = crate::diagnostics::read_text_file(path).map_err(|error| vec![error])?;
        Self::parse(path, &text)
    }

    /// Validates configuration text read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Self, Vec<Diagnostic>> {
        let file: ConfigFile = toml::from_str(text).map_err(|error| {
            let line = error.span().map(|span| line_of(text, span.start));
            vec![Diagnostic::new(path, line, error.message().to_owned())]
        })?;
        // Paths are made absolute once, so that watched directories and the
        // paths their events name compare equal.
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let base_buffer = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        let base = base_buffer.as_path();
        let mut errors = Vec::new();
        let error_at = |errors: &mut Vec<Diagnostic>, offset: Option<usize>, message: String| {
            errors.push(Diagnostic::new(
                path,
                offset.map(|at| line_of(text, at)),
                message,
            ));
        };

        if file.pops.is_empty() {
            error_at(&mut errors, None, "no [[pop]] is defined".to_owned());
        }
        if file.pops.len() > MAX_POPS {
            error_at(&mut errors, None, format!("more than {MAX_POPS} PoPs"));
        }
        let mut pops = Vec::with_capacity(file.pops.len());
        let mut pop_index: FxHashMap<String, u8> = FxHashMap::default();
        for spanned in &file.pops {
            let pop = spanned.get_ref();
            let at = Some(spanned.span().start);
            if pop_index.contains_key(&pop.code) {
                error_at(
                    &mut errors,
                    at,
                    format!("PoP '{}' is defined twice", pop.code),
                );
                continue;
            }
            if pop.code == "global" {
                error_at(
                    &mut errors,
                    at,
                    "'global' is a built-in alias, not a PoP code".to_owned(),
                );
            }
            if !valid_coordinates(pop.lat, pop.lon) {
                error_at(
                    &mut errors,
                    at,
                    format!("PoP '{}' has coordinates off the globe", pop.code),
                );
            }
            if pop.ipv4.is_empty() && pop.ipv6.is_empty() {
                error_at(
                    &mut errors,
                    at,
                    format!("PoP '{}' has no service address", pop.code),
                );
            }
            pop_index.insert(pop.code.clone(), pops.len().min(MAX_POPS - 1) as u8);
            pops.push(Pop {
                code: pop.code.clone(),
                name: pop.name.clone(),
                location: Coordinates {
                    latitude: pop.lat,
                    longitude: pop.lon,
                },
                ipv4: pop.ipv4.clone(),
                ipv6: pop.ipv6.clone(),
            });
        }

        let mut aliases: FxHashMap<String, Alias> = FxHashMap::default();
        let everything: Vec<u8> = (0..pops.len().min(MAX_POPS) as u8).collect();
        aliases.insert(
            "global".to_owned(),
            Alias {
                pops: mask_of(&everything),
                ordered: everything,
            },
        );
        for (name, members) in &file.aliases {
            let at = Some(members.span().start);
            if name == "global" || pop_index.contains_key(name) {
                error_at(
                    &mut errors,
                    at,
                    format!("alias '{name}' clashes with a PoP code or 'global'"),
                );
                continue;
            }
            let mut ordered = Vec::new();
            for member in members.get_ref() {
                match pop_index.get(member) {
                    Some(&index) if !ordered.contains(&index) => ordered.push(index),
                    Some(_) => {}
                    None if file.aliases.contains_key(member) => error_at(
                        &mut errors,
                        at,
                        format!("alias '{name}' names the alias '{member}': list PoP codes"),
                    ),
                    None => error_at(
                        &mut errors,
                        at,
                        format!("alias '{name}' names unknown PoP '{member}'"),
                    ),
                }
            }
            if members.get_ref().is_empty() {
                error_at(&mut errors, at, format!("alias '{name}' names no PoP"));
            }
            aliases.insert(
                name.clone(),
                Alias {
                    pops: mask_of(&ordered),
                    ordered,
                },
            );
        }

        let mut dedicated_homes = FxHashMap::default();
        for (address, home) in &file.dedicated_ips {
            let at = Some(home.span().start);
            let Ok(ip) = address.parse::<IpAddr>() else {
                error_at(
                    &mut errors,
                    at,
                    format!("'{address}' in [dedicated_ips] is not an IP address"),
                );
                continue;
            };
            let ip = ip.to_canonical();
            // A PoP's shared address is homed at that PoP and nowhere else.
            let sharer = pop_serving(&pops, ip);
            match pop_index.get(home.get_ref()) {
                Some(&index) if sharer.is_some_and(|sharer| sharer != usize::from(index)) => {
                    error_at(
                        &mut errors,
                        at,
                        format!(
                            "dedicated IP {address} is a shared address of PoP '{}'; it cannot be homed at '{}'",
                            sharer
                                .and_then(|sharer| pops.get(sharer))
                                .map_or("", |pop| pop.code.as_str()),
                            home.get_ref()
                        ),
                    );
                }
                Some(&index) => {
                    dedicated_homes.insert(ip, index);
                }
                None => error_at(
                    &mut errors,
                    at,
                    format!(
                        "dedicated IP {address} is homed at unknown PoP '{}'",
                        home.get_ref()
                    ),
                ),
            }
        }

        let resolve_location = |spec: &LocationFile| -> Result<Coordinates, String> {
            match spec {
                LocationFile::Pop(code) => pop_index
                    .get(code)
                    .map(|&index| pops[index as usize].location)
                    .ok_or_else(|| format!("unknown PoP '{code}'")),
                LocationFile::Coordinates { lat, lon } if valid_coordinates(*lat, *lon) => {
                    Ok(Coordinates {
                        latitude: *lat,
                        longitude: *lon,
                    })
                }
                LocationFile::Coordinates { .. } => Err("coordinates off the globe".to_owned()),
            }
        };
        let default_location = match file.geo.default_location.as_ref().map(resolve_location) {
            Some(Ok(location)) => Some(location),
            Some(Err(message)) => {
                error_at(
                    &mut errors,
                    None,
                    format!("[geo] default_location: {message}"),
                );
                None
            }
            None => None,
        };
        let mut overrides = Vec::new();
        for (network, spec) in &file.geo.overrides {
            let parsed = network
                .parse::<IpNet>()
                .map_err(|_| format!("'{network}' is not a network (address/prefix)"))
                .and_then(|net| {
                    if net.trunc() == net {
                        Ok(net)
                    } else {
                        Err(format!("network {network} has bits set past its prefix"))
                    }
                });
            match (parsed, resolve_location(spec)) {
                (Ok(network), Ok(location)) => overrides.push(GeoOverride { network, location }),
                (Err(message), _) | (_, Err(message)) => {
                    error_at(
                        &mut errors,
                        None,
                        format!("[geo.overrides] {network}: {message}"),
                    );
                }
            }
        }

        let mut listen = Vec::new();
        for address in &file.listen {
            match address.parse::<SocketAddr>() {
                Ok(parsed) => listen.push(parsed),
                Err(_) => error_at(
                    &mut errors,
                    None,
                    format!("listen address '{address}' is not ADDRESS:PORT"),
                ),
            }
        }

        let default_ttl = file.defaults.ttl.unwrap_or(60);
        if default_ttl > MAX_TTL {
            error_at(
                &mut errors,
                None,
                format!("[defaults] ttl {default_ttl} is above {MAX_TTL} (RFC 2181 §8)"),
            );
        }
        let idle_timeout = file.server.tcp_idle_timeout.unwrap_or(10.0);
        if !(0.1..=3600.0).contains(&idle_timeout) {
            error_at(
                &mut errors,
                None,
                format!(
                    "[server] tcp_idle_timeout {idle_timeout} is not between 0.1 and 3600 seconds"
                ),
            );
        }
        let server = ServerSettings {
            identity: file.server.identity.clone(),
            version: file.server.version.clone(),
            nsid: file
                .server
                .nsid
                .as_ref()
                .map(|text| text.as_bytes().to_vec()),
            udp_workers: file.server.udp_workers.unwrap_or(0),
            tcp_max_connections: file.server.tcp_max_connections.unwrap_or(512),
            // NaN fails the range check above; the clamp keeps this total.
            tcp_idle_timeout: Duration::from_secs_f64(if idle_timeout.is_nan() {
                10.0
            } else {
                idle_timeout.clamp(0.1, 3600.0)
            }),
            reload_debounce: Duration::from_millis(file.server.reload_debounce_ms.unwrap_or(50)),
        };

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            path: path.to_path_buf(),
            listen,
            zones_dir: base.join(&file.zones_dir),
            pins: base.join(&file.pins),
            pins_sharded: base.join(&file.pins).is_dir(),
            server,
            default_ttl,
            geo_database: file
                .geo
                .database
                .as_ref()
                .map(|database| base.join(database)),
            default_location,
            overrides,
            pops,
            aliases,
            dedicated_homes,
        })
    }

    /// Where the pin table lives, as decided at start.
    pub fn pin_source(&self) -> crate::pins::PinSource {
        if self.pins_sharded {
            crate::pins::PinSource::Directory(self.pins.clone())
        } else {
            crate::pins::PinSource::File(self.pins.clone())
        }
    }

    /// The index of the PoP that serves this address as one of its own
    /// shared addresses, if one does.
    pub fn pop_with_address(&self, address: IpAddr) -> Option<u8> {
        pop_serving(&self.pops, address).map(|index| index as u8)
    }

    /// The index of a PoP by its code.
    pub fn pop_index(&self, code: &str) -> Option<u8> {
        self.pops
            .iter()
            .position(|pop| pop.code == code)
            .map(|index| index as u8)
    }

    /// The set of PoPs that have at least one address of the family.
    pub fn pops_with_family(&self, ipv6: bool) -> PopSet {
        self.pops
            .iter()
            .enumerate()
            .filter(|(_, pop)| {
                if ipv6 {
                    !pop.ipv6.is_empty()
                } else {
                    !pop.ipv4.is_empty()
                }
            })
            .fold(0, |set, (index, _)| set | (1u64 << index))
    }
}

/// Whether latitude and longitude are on the globe.
fn valid_coordinates(latitude: f64, longitude: f64) -> bool {
    (-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)
}

/// The set holding these PoP indices.
pub fn mask_of(indices: &[u8]) -> PopSet {
    indices.iter().fold(0, |set, &index| set | (1u64 << index))
}
