//! Replays every seed (`fuzz/corpus/<target>/`) and every input that once
//! broke pindns (`fuzz/regressions/<target>/`) through the fuzz oracles, on
//! stable, so that the test command keeps them honest without cargo-fuzz.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use pindns::snapshot::Snapshot;

use crate::wire_client::repo_root;

/// The oracles, shared with the fuzz targets.
#[path = "../../fuzz/oracle.rs"]
mod oracle;

/// The shipped files, loaded once for every replay.
fn snapshot() -> &'static Snapshot {
    oracle::shipped_snapshot_once(&repo_root())
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

/// The reply pindns gives to `query` over UDP from 127.0.0.1.
fn reply_to(query: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let length = pindns::resolve::answer(
        snapshot(),
        query,
        "127.0.0.1".parse().expect("address"),
        pindns::resolve::Transport::Udp,
        &mut out,
    )
    .expect("a reply");
    out.truncate(length);
    out
}

/// Runs the oracle on a (possibly doctored) reply to `query`.
fn judge(query: &[u8], reply: Option<&[u8]>) -> Result<(), String> {
    let input = oracle::ResolveInput {
        transport: pindns::resolve::Transport::Udp,
        client: "127.0.0.1".parse().expect("address"),
        message: query,
    };
    oracle::check_reply(snapshot(), &input, reply)
}

#[test]
fn fuzz_oracle_rejects_replies_that_break_an_invariant() {
    use crate::wire_client::{EdnsSpec, QuerySpec, ecs_payload};
    let query = QuerySpec::new("api.example.com", 1)
        .with(EdnsSpec {
            options: vec![(8, ecs_payload("130.149.1.0/24"))],
            ..EdnsSpec::default()
        })
        .encode();
    let good = reply_to(&query);
    assert_eq!(judge(&query, Some(&good)), Ok(()), "the real reply passes");
    let address_at = good
        .windows(4)
        .position(|window| window == [192, 0, 2, 3])
        .expect("the answer 192.0.2.3");
    // The reply ends with the OPT record: TTL (4), RDLENGTH (2) and one
    // ECS option of 11 bytes (code, length, family, source, scope, 3
    // address bytes).
    let end = good.len();
    let doctored = |change: &dyn Fn(&mut Vec<u8>)| {
        let mut reply = good.clone();
        change(&mut reply);
        reply
    };
    let broken: Vec<(&str, Vec<u8>)> = vec![
        // us-cal-1 is not among api's PoPs.
        (
            "outside the allowed set",
            doctored(&|r| r[address_at + 3] = 2),
        ),
        ("ID", doctored(&|r| r[1] ^= 1)),
        ("question case", doctored(&|r| r[13] = b'A')),
        ("ECS source", doctored(&|r| r[end - 5] = 23)),
        ("ECS address", doctored(&|r| r[end - 1] ^= 1)),
        ("unknown EDNS flag", doctored(&|r| r[end - 14] |= 1)),
        ("RA", doctored(&|r| r[3] |= 0x80)),
        ("cut short", good[..good.len() - 3].to_vec()),
    ];
    for (what, reply) in broken {
        let verdict = judge(&query, Some(&reply));
        assert!(verdict.is_err(), "{what} not caught");
    }
    assert!(
        judge(&query, None).is_err(),
        "silence to a query not caught"
    );
    // A reply without EDNS over 512 bytes, and an ECS echo to a query
    // that sent none.
    let plain = QuerySpec::new("api.example.com", 1).encode();
    let mut long = reply_to(&plain);
    long.resize(600, 0);
    assert!(judge(&plain, Some(&long)).is_err(), "size not caught");
    assert!(
        judge(&plain, Some(&good)).is_err(),
        "ECS to a query without"
    );
}
