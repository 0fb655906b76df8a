//! Arbitrary text as a zone file, parsed, then served alone and queried.
//! The oracle is `fuzz/oracle.rs`, shared with the replay test.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pindns::snapshot::Snapshot;

/// The oracles; this target uses one of them.
#[allow(dead_code)]
#[path = "../oracle.rs"]
mod oracle;

/// The shipped configuration, zones and pins, loaded once.
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        oracle::shipped_snapshot(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Err(broken) = oracle::check_zone(snapshot(), data) {
        panic!("oracle: {broken}");
    }
});
