//! Country reference points: a country-level database places a client at
//! its country's capital (`cap_lat`/`cap_lon` of `data/country-points.csv`,
//! derived from GeoNames, CC BY 4.0).

use std::sync::OnceLock;

use rustc_hash::FxHashMap;

use crate::config::Coordinates;

/// The shipped table, compiled into the binary.
const COUNTRY_POINTS: &str = include_str!("../../data/country-points.csv");

/// Capital coordinates by ISO 3166-1 alpha-2 code.
fn capitals() -> &'static FxHashMap<String, Coordinates> {
    static CAPITALS: OnceLock<FxHashMap<String, Coordinates>> = OnceLock::new();
    CAPITALS.get_or_init(|| {
        let mut lines = COUNTRY_POINTS.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
        let column = |name: &str| header.iter().position(|&field| field == name);
        let (Some(code_at), Some(lat_at), Some(lon_at)) =
            (column("iso_code"), column("cap_lat"), column("cap_lon"))
        else {
            return FxHashMap::default();
        };
        lines
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(',').collect();
                let latitude = fields.get(lat_at)?.parse().ok()?;
                let longitude = fields.get(lon_at)?.parse().ok()?;
                Some((
                    fields.get(code_at)?.to_ascii_uppercase(),
                    Coordinates {
                        latitude,
                        longitude,
                    },
                ))
            })
            .collect()
    })
}

/// The capital of the country with this ISO code, if known.
pub fn capital(iso_code: &str) -> Option<Coordinates> {
    capitals().get(&iso_code.to_ascii_uppercase()).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capitals_are_known() {
        let berlin = capital("de").expect("Germany is listed");
        assert!((berlin.latitude - 52.5).abs() < 0.5, "{berlin}");
        assert!(capital("ZZ").is_none());
    }
}
