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
use crate::pins::{self, PinTable};
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
        let entries = pins::load_pins(&config.pins);
        let (zone_list, entries) = match (zone_list, entries) {
            (Ok(zone_list), Ok(entries)) => (zone_list, entries),
            (zone_result, pin_result) => {
                let mut errors = zone_result.err().unwrap_or_default();
                errors.extend(pin_result.err().unwrap_or_default());
                return Err(errors);
            }
        };
        let zones = ZoneSet::new(zone_list);
        let (pins, warnings) = pins::compile(&entries, &config, &zones)?;
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

    /// Seconds since the Unix epoch at publication.
    pub fn published_unix(&self) -> u64 {
        self.published_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}
