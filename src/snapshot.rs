//! The published snapshot: everything a query reads, built aside and
//! swapped in whole.
//!
//! Loading is split by what changes: the configuration and geo data are
//! read once at start; zones and pins are rebuilt on reload and share the
//! rest through `Arc`s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use crate::config::Config;
use crate::diagnostics::Diagnostic;
use crate::geo::Geo;
use crate::pins::{self, PinDiff, PinTable};
use crate::zones::{self, ZoneSet};

/// Why a full reload built no snapshot.
#[derive(Debug)]
pub enum RereadError {
    /// The table must be built afresh from every pin file (the set of
    /// zones changed) while a shard is still being written: the reload
    /// waits for it instead of reading it half-written. Not a bad file.
    NotReady(String),
    /// The files are bad.
    Invalid(Vec<Diagnostic>),
}

impl From<Vec<Diagnostic>> for RereadError {
    fn from(errors: Vec<Diagnostic>) -> Self {
        Self::Invalid(errors)
    }
}

/// Everything the query path reads, immutable once published.
#[derive(Clone)]
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
    /// Reloads rejected since the server started (bad files); a rejected
    /// reload republishes the same data with this count raised.
    pub failed_reloads: u64,
}

/// A loaded snapshot and the warnings its loading gave.
pub struct Loaded {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Non-fatal findings (e.g. pins shadowing zone records).
    pub warnings: Vec<Diagnostic>,
    /// How many pin files were parsed and compiled to make it (the others
    /// were shared with the snapshot before).
    pub pin_files_compiled: usize,
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
                if let Err(pin_errors) = pins::load_shards(&config.pin_source()) {
                    errors.extend(pin_errors);
                }
                return Err(errors);
            }
        };
        Self::with_zones(config, geo, Arc::new(zones), generation)
    }

    /// Loads pins against an existing configuration, geo data and zones.
    fn with_zones(
        config: Arc<Config>,
        geo: Arc<Geo>,
        zones: Arc<ZoneSet>,
        generation: u64,
    ) -> Result<Loaded, Vec<Diagnostic>> {
        let (pins, warnings) = pins::load_table(&config.pin_source(), &config, &zones)?;
        Ok(Loaded {
            pin_files_compiled: pins.shard_files().len(),
            snapshot: Self {
                generation,
                published_at: SystemTime::now(),
                config,
                geo,
                zones,
                pins: Arc::new(pins),
                failed_reloads: 0,
            },
            warnings,
        })
    }

    /// A full reload (SIGHUP, a zone change): zones and every pin file read
    /// again. Only the pin files whose content changed (by digest) are
    /// compiled again, and the rest of the table is shared: memory and
    /// time grow with what changed, not with the table. Zones edited in
    /// place have the whole table checked against them, without compiling
    /// it again. The table is built afresh only when the set of zones
    /// changed (a name may now fall in another zone) or every pin file
    /// did. The diff comes back when it was found on the way.
    ///
    /// The shards in `held` (open for writing) and empty shards are writes
    /// in progress: their last good contents (none for a new shard) stay
    /// until they are written, unless the table must be built afresh.
    pub fn reread(
        &self,
        generation: u64,
        held: &[PathBuf],
    ) -> Result<(Loaded, Option<PinDiff>), RereadError> {
        let Ok(zone_list) = zones::load_zone_dir(&self.config.zones_dir) else {
            // Reports the zone errors and the pin files' own errors.
            return Self::with_config(self.config.clone(), self.geo.clone(), generation)
                .map(|loaded| (loaded, None))
                .map_err(RereadError::Invalid);
        };
        let zones = Arc::new(ZoneSet::new(zone_list));
        let files = self
            .config
            .pin_source()
            .files()
            .map_err(|error| vec![error])?;
        let unfinished = |file: &PathBuf| {
            if !self.config.pins_sharded {
                None
            } else if held.contains(file) {
                Some("is open for writing")
            } else if pins::is_unfinished_write(file) {
                Some("is empty (a write in progress?)")
            } else {
                None
            }
        };
        let rebuild = |zones| -> Result<_, RereadError> {
            if let Some((file, state)) = files
                .iter()
                .find_map(|file| unfinished(file).map(|state| (file, state)))
            {
                return Err(RereadError::NotReady(format!(
                    "{} {state}, and the pin table must be built afresh from every file: \
                     waiting for it to be written",
                    file.display()
                )));
            }
            Self::with_zones(self.config.clone(), self.geo.clone(), zones, generation)
                .map(|loaded| (loaded, None))
                .map_err(RereadError::Invalid)
        };
        let zones_changed = !zones.diff(&self.zones).is_empty();
        if zones_changed && !zones.same_apexes(&self.zones) {
            return rebuild(zones);
        }
        let mut kept = Vec::new();
        let mut changed: Vec<PathBuf> = files
            .iter()
            .filter(|file| {
                if let Some(state) = unfinished(file) {
                    kept.push(Diagnostic::new(
                        file,
                        None,
                        format!("{state}: its last good contents keep serving"),
                    ));
                    return false;
                }
                match self.pins.digest_of(file) {
                    Some(known) => pins::file_digest(file).ok() != Some(known),
                    None => true,
                }
            })
            .cloned()
            .collect();
        if !files.is_empty() && changed.len() == files.len() {
            return rebuild(zones);
        }
        changed.extend(
            self.pins
                .shard_files()
                .iter()
                .filter(|known| {
                    self.pins.digest_of(known).is_some()
                        && !files.iter().any(|file| file == &***known)
                })
                .map(|known| known.to_path_buf()),
        );
        let (mut loaded, diff) = self.with_shards_reread(&changed, &zones, generation)?;
        if zones_changed {
            // The shards not read again were checked against the old zones.
            loaded.warnings = loaded.snapshot.pins.check_zones(&zones)?;
        }
        loaded.warnings.extend(kept);
        Ok((loaded, Some(diff)))
    }

    /// A copy with some pin shard files read again (a shard file that no
    /// longer exists takes its names with it) and checked against `zones`,
    /// everything else shared.
    /// Returns the new snapshot, its warnings and what changed.
    pub fn with_shards_reread(
        &self,
        files: &[PathBuf],
        zones: &Arc<ZoneSet>,
        generation: u64,
    ) -> Result<(Loaded, PinDiff), Vec<Diagnostic>> {
        let mut table = (*self.pins).clone();
        let mut warnings = Vec::new();
        let mut diff = PinDiff::default();
        for file in files {
            let entries = match std::fs::metadata(file) {
                Ok(_) => Some(pins::read_pin_file_digested(file)?),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
                Err(error) => {
                    return Err(vec![Diagnostic::new(
                        file,
                        None,
                        format!("cannot read: {error}"),
                    )]);
                }
            };
            let (next, found, changes) = table.with_shard(file, entries, &self.config, zones)?;
            table = next;
            warnings.extend(found);
            diff.extend(changes);
        }
        diff.sort();
        Ok((
            Loaded {
                pin_files_compiled: files.len(),
                snapshot: Self {
                    generation,
                    published_at: SystemTime::now(),
                    config: self.config.clone(),
                    geo: self.geo.clone(),
                    zones: zones.clone(),
                    pins: Arc::new(table),
                    failed_reloads: self.failed_reloads,
                },
                warnings,
            },
            diff,
        ))
    }

    /// The same data with one more rejected reload counted.
    pub fn with_failed_reload(&self) -> Self {
        Self {
            failed_reloads: self.failed_reloads + 1,
            ..self.clone()
        }
    }

    /// Seconds since the Unix epoch at publication.
    pub fn published_unix(&self) -> u64 {
        self.published_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs())
    }
}

/// Seconds since the Unix epoch shown as an RFC 3339 UTC time.
pub struct Rfc3339(pub u64);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let days = self.0 / 86_400;
        let seconds = self.0 % 86_400;
        // Civil date from days since 1970-01-01 (Howard Hinnant's method).
        let shifted = days as i64 + 719_468;
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_index = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * month_index + 2) / 5 + 1;
        let month = if month_index < 10 {
            month_index + 3
        } else {
            month_index - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Rfc3339;

    #[test]
    fn unix_times_render_as_rfc3339() {
        assert_eq!(Rfc3339(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Rfc3339(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Rfc3339(1_796_340_493).to_string(), "2026-12-03T23:28:13Z");
    }
}
