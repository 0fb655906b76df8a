//! Arbitrary bytes and a client address through the whole query path (`resolve::answer`) on the shipped snapshot.
//! The oracle is `fuzz/oracle.rs`, shared with the replay test.

#![no_main]

use std::path::Path;

/// The oracles; this target uses one of them.
#[allow(dead_code)]
#[path = "../oracle.rs"]
mod oracle;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let repository = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    oracle::fuzz_one(repository, oracle::check_resolve, data);
});
