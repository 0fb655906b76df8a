//! Answers the peer benchmark's steered queries in a loop, with no
//! sockets: the user-space cost of the query function alone, for a
//! profiler that counts instructions (`valgrind --tool=callgrind`).
//!
//! ```text
//! cargo run --release --example answer_cost -- CONFIG [ROUNDS]
//! ```

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use pindns::resolve::{self, Transport};
use pindns::snapshot::Snapshot;

/// `name`/`qtype` with EDNS and the benchmark's Client Subnet (a German
/// /24), as dnsperf sends it.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut message = id.to_be_bytes().to_vec();
    message.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.split('.') {
        message.push(label.len() as u8);
        message.extend_from_slice(label.as_bytes());
    }
    message.push(0);
    message.extend_from_slice(&qtype.to_be_bytes());
    message.extend_from_slice(&1u16.to_be_bytes());
    message.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 11]);
    message.extend_from_slice(&[0, 8, 0, 7, 0, 1, 24, 0, 193, 99, 144]);
    message
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(config) = args.next().map(PathBuf::from) else {
        eprintln!("usage: answer_cost CONFIG [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let snapshot = match Snapshot::load(&config) {
        Ok(loaded) => loaded.snapshot,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            std::process::exit(1);
        }
    };
    let queries = [
        query(1, "pinned.example.com", 1),
        query(2, "pinned.example.com", 28),
        query(3, "global.example.com", 1),
        query(4, "global.example.com", 28),
    ];
    let client = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let mut reply = Vec::with_capacity(4096);
    let mut name = pindns::wire::NameKey::root();
    let mut bytes = 0usize;
    for _ in 0..rounds {
        for message in &queries {
            let message = std::hint::black_box(message.as_slice());
            bytes += resolve::answer_reusing(
                &snapshot,
                message,
                client,
                Transport::Udp,
                &mut reply,
                &mut name,
            )
            .unwrap_or(0);
        }
    }
    println!("{} queries, {bytes} reply bytes", rounds * queries.len());
}
