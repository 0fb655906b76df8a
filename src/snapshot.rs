//! The published snapshot: everything a query reads, built aside and
//! swapped in whole.
//!
//! Loading is split by what changes: the configuration and geo data are
//! read once at start; zones and pins are rebuilt on reload and share the
//! rest through `Arc`s.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Config;
use crate::diagnostics::Diagnostic;
use crate::geo::Geo;
use crate::pins::{self, PinDiff, PinTable};
use crate::zones::{self, ZoneSet};

/// Everything the query path reads, immutable once published.
pub struct Snapshot {
    /// Counts published snapshots, starting at 1.
    pub generation: u64,
    /// When this snapshot was published.
    pub published_at: SystemTime,
    /// The configuration.
    pub config: Arc<Config>,
    /// Geo data and PoP rankings.
    pub geo: Arc<Geo>,
    /// Static zones.
    pub zones: Arc<ZoneSet>,
    /// Pin table.
    pub pins: Arc<PinTable>,
}

/// A loaded snapshot and the warnings its loading gave.
pub struct Loaded {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Non-fatal findings (e.g. pins shadowing zone records).
    pub warnings: Vec<Diagnostic>,
}

impl Snapshot {
    /// Loads configuration, geo data, zones and pins: exactly what `serve`
    /// and `check` run. Every error is returned.
    pub fn load(config_path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
        let config = Arc::new(Config::load(config_path)?);
        let geo = Arc::new(Geo::load(&config).map_err(|error| vec![error])?);
        Self::with_config(config, geo, 1)
    }

    /// Loads zones and pins against an existing configuration and geo data.
    pub fn with_config(
        config: Arc<Config>,
        geo: Arc<Geo>,
        generation: u64,
    ) -> Result<Loaded, Vec<Diagnostic>> {
        let zone_list = zones::load_zone_dir(&config.zones_dir);
        // Pins are checked against the zones: with broken zones, only the
        // pin file's own syntax can still be checked, and is.
        let zones = match zone_list {
            Ok(zone_list) => ZoneSet::new(zone_list),
            Err(mut errors) => {
                if let Err(pin_errors) = pins::load_shards(&config.pins) {
                    errors.extend(pin_errors);
                }
                return Err(errors);
            }
        };
        let (pins, warnings) = pins::load_table(&config.pins, &config, &zones)?;
        Ok(Loaded {
            snapshot: Self {
                generation,
                published_at: SystemTime::now(),
                config,
                geo,
                zones: Arc::new(zones),
                pins: Arc::new(pins),
            },
            warnings,
        })
    }

    /// A copy with some pin shard files read again (a shard file that no
    /// longer exists takes its names with it), everything else shared.
    /// Returns the new snapshot, its warnings and what changed.
    pub fn with_shards_reread(
        &self,
        files: &[std::path::PathBuf],
        generation: u64,
    ) -> Result<(Loaded, PinDiff), Vec<Diagnostic>> {
        let mut table = (*self.pins).clone();
        let mut warnings = Vec::new();
        let mut diff = PinDiff::default();
        for file in files {
            let entries = match std::fs::metadata(file) {
                Ok(_) => Some(pins::read_pin_file(file)?),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(vec![Diagnostic::new(
                        file,
                        None,
                        format!("cannot read: {error}"),
                    )]);
                }
            };
            let (next, found, changes) =
                table.with_shard(file, entries, &self.config, &self.zones)?;
            table = next;
            warnings.extend(found);
            diff.extend(changes);
        }
        diff.sort();
        Ok((
            Loaded {
                snapshot: Self {
                    generation,
                    published_at: SystemTime::now(),
                    config: self.config.clone(),
                    geo: self.geo.clone(),
                    zones: self.zones.clone(),
                    pins: Arc::new(table),
                },
                warnings,
            },
            diff,
        ))
    }

    /// Seconds since the Unix epoch at publication.
    pub fn published_unix(&self) -> u64 {
        self.published_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}
