//! Replays every seed (`fuzz/corpus/<target>/`) and every input that once
//! broke pindns (`fuzz/regressions/<target>/`) through the fuzz oracles, on
//! stable, so that the test command keeps them honest without cargo-fuzz.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pindns::snapshot::Snapshot;

use crate::wire_client::repo_root;

/// The oracles, shared with the fuzz targets.
#[path = "../../fuzz/oracle.rs"]
mod oracle;

/// The shipped files, loaded once for every replay.
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| oracle::shipped_snapshot(&repo_root()))
}

/// Every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = repo_root().join("fuzz").join(kind).join(target);
        let Ok(listing) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in listing {
            let path = entry.expect("fuzz input entry").path();
            let hidden = path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with('.'));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Runs `check` on every input of a target; fails listing each input that
/// panicked or broke an invariant.
fn replay(target: &str, check: fn(&Snapshot, &[u8]) -> Result<(), String>) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no inputs for the {target} fuzz target");
    let snapshot = snapshot();
    let mut failures = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("read fuzz input");
        match catch_unwind(AssertUnwindSafe(|| check(snapshot, &data))) {
            Ok(Ok(())) => {}
            Ok(Err(broken)) => failures.push(format!("{}: {broken}", shown(file))),
            Err(_) => failures.push(format!("{}: panicked", shown(file))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} {target} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// A path relative to the repository, for messages.
fn shown(path: &Path) -> String {
    path.strip_prefix(repo_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn fuzz_corpus_and_regressions_replay_through_the_resolve_oracle() {
    replay("resolve", oracle::check_resolve);
}

#[test]
fn fuzz_corpus_and_regressions_replay_through_the_pins_oracle() {
    replay("pins", oracle::check_pins);
}

#[test]
fn fuzz_corpus_and_regressions_replay_through_the_zone_oracle() {
    replay("zone", oracle::check_zone);
}

#[test]
fn fuzz_input_layout_round_trips() {
    let message = [0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
    for (client, transport) in [
        ("127.0.0.1", pindns::resolve::Transport::Udp),
        ("2003::1", pindns::resolve::Transport::Tcp),
    ] {
        let input = oracle::ResolveInput {
            transport,
            client: client.parse().expect("address"),
            message: &message,
        };
        let bytes = input.to_bytes();
        assert_eq!(oracle::ResolveInput::from_bytes(&bytes), input);
    }
}
