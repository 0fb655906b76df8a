//! Answers stay inside the pinned PoP set on every path: the nearest
//! *pinned* PoP, never the nearest PoP overall filtered afterwards, and no
//! global fallback when nothing places the client.

use std::net::{IpAddr, UdpSocket};
use std::time::Duration;

use hickory_proto::rr::RecordType;

use crate::support::{Fixture, Reply, TRANSPORTS, assert_echoes, f0_server, ip, ips, query, rcode};

/// F0's PoPs: (code, IPv4, IPv6).
const F0_POPS: [(&str, &str, Option<&str>); 5] = [
    ("ams", "192.0.2.10", Some("2001:db8:a::10")),
    ("fra", "192.0.2.20", Some("2001:db8:b::20")),
    ("nrt", "192.0.2.30", Some("2001:db8:c::30")),
    ("iad", "192.0.2.40", Some("2001:db8:d::40")),
    ("gru", "192.0.2.50", None),
];

/// The PoP an address belongs to, if any.
fn pop_of(address: IpAddr) -> Option<&'static str> {
    F0_POPS.iter().find_map(|(code, v4, v6)| {
        (ip(v4) == address || v6.map(ip) == Some(address)).then_some(*code)
    })
}

/// Asks over both transports and checks the exact answer.
fn assert_only(name: &str, qtype: RecordType, client: Option<&str>, expected: &[&str]) {
    let server = f0_server();
    for transport in TRANSPORTS {
        let question = match client {
            Some(client) => query(name, qtype).ecs(client),
            None => query(name, qtype),
        };
        let reply = server.ask(transport, &question);
        assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
        let answer = reply.addresses();
        assert_eq!(answer, ips(expected), "{name} {qtype} from {client:?}");
        // One PoP per answer, never a mix.
        let mut pops: Vec<_> = answer.iter().map(|address| pop_of(*address)).collect();
        pops.dedup();
        assert!(
            pops.len() <= 1,
            "{name}: addresses of several PoPs: {answer:?}"
        );
    }
}

/// C11: the nearest pinned PoP answers, never a nearer unpinned one.
#[test]
fn answers_stay_inside_the_pinned_set() {
    // A German client: fra is nearest but not pinned for cdn; ams is.
    assert_only(
        "cdn.example.com",
        RecordType::A,
        Some("198.51.100.128/25"),
        &["192.0.2.10"],
    );
    assert_only(
        "cdn.example.com",
        RecordType::AAAA,
        Some("2001:db8:100::/48"),
        &["2001:db8:a::10"],
    );
    // A Japanese client of a domain pinned to fra alone.
    assert_only(
        "eu.example.com",
        RecordType::A,
        Some("203.0.113.0/25"),
        &["192.0.2.20"],
    );
    assert_only(
        "eu.example.com",
        RecordType::AAAA,
        Some("2001:db8:200::/48"),
        &["2001:db8:b::20"],
    );
}

/// C11: a dedicated-IP domain answers only its IPs, to every client.
#[test]
fn dedicated_ips_are_the_only_answer_for_every_client() {
    for client in [
        Some("198.51.100.0/25"),
        Some("203.0.113.0/25"),
        Some("203.0.113.128/25"),
        Some("2001:db8:200::/48"),
        None,
    ] {
        assert_only("ded.example.com", RecordType::A, client, &["192.0.2.77"]);
    }
}

/// C11: an unplaced client gets the first listed pinned PoP, never a global default.
#[test]
fn the_fallback_for_an_unplaced_client_stays_inside_the_pinned_set() {
    // Loopback source, no ECS: the first PoP each domain lists.
    assert_only("eu.example.com", RecordType::A, None, &["192.0.2.20"]);
    assert_only("cdn.example.com", RecordType::A, None, &["192.0.2.40"]);
    assert_only("v4only.example.com", RecordType::A, None, &["192.0.2.50"]);
    // A client the geo data has nothing for, by ECS.
    assert_only(
        "eu.example.com",
        RecordType::A,
        Some("233.252.0.0/24"),
        &["192.0.2.20"],
    );
}

/// C11: a pinned PoP without IPv6 gives NODATA, never another PoP's AAAA.
#[test]
fn a_pinned_pop_without_the_family_is_nodata_not_another_pop() {
    let server = f0_server();
    for client in [Some("203.0.113.0/25"), Some("2001:db8:100::/48"), None] {
        let question = match client {
            Some(client) => query("v4only.example.com", RecordType::AAAA).ecs(client),
            None => query("v4only.example.com", RecordType::AAAA),
        };
        for transport in TRANSPORTS {
            let reply = server.ask(transport, &question);
            assert_eq!(reply.rcode(), rcode::NOERROR);
            assert!(
                reply.answers().is_empty(),
                "never another PoP's IPv6: {reply:?}"
            );
            reply.negative_soa();
        }
    }
}

/// A table large enough that the UDP worker prefetches its lookups, asked
/// in bursts (so that the worker receives several queries at once) with a
/// malformed datagram among them and names in mixed case: every query gets
/// its own name's answer, from that name's pinned set.
#[test]
fn bursts_to_a_large_pin_table_answer_every_name_from_its_own_set() {
    const NAMES: usize = 40_000;
    const BURST: usize = 24;
    // Pin sets and their answer for a client in Berlin.
    let sets = [
        ("\"us-ohio-1\", \"de-fra-1\"", "192.0.2.3"),
        ("\"us-ohio-1\"", "192.0.2.1"),
        ("\"sg-sin-1\"", "192.0.2.4"),
    ];
    let mut pins = String::new();
    for n in 0..NAMES {
        let (set, _) = sets[n % sets.len()];
        pins.push_str(&format!(
            "[[reserved_domain]]\ndomain = \"n{n}.example.com\"\nips = [{set}]\n\n"
        ));
    }
    let fixture = Fixture::shipped();
    fixture.write_pins(&pins);
    let server = fixture.start();
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP client socket");
    socket.connect(server.address()).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let mut buffer = vec![0u8; 4096];
    // Names spread over the table, none twice in a burst.
    for burst in 0..40 {
        let names: Vec<usize> = (0..BURST)
            .map(|k| (burst * 7919 + k * 1543) % NAMES)
            .collect();
        // Every other name in capitals (C02): the same entry, the
        // question echoed as asked.
        let queries: Vec<Vec<u8>> = names
            .iter()
            .enumerate()
            .map(|(k, n)| {
                let name = if k % 2 == 0 {
                    format!("n{n}.example.com")
                } else {
                    format!("N{n}.Example.COM")
                };
                query(&name, RecordType::A).ecs("130.149.1.0/24").build()
            })
            .collect();
        for (k, bytes) in queries.iter().enumerate() {
            if k == BURST / 2 {
                // A header promising a question that is not there.
                socket
                    .send(&[0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'x'])
                    .expect("send");
            }
            socket.send(bytes).expect("send a query");
        }
        let mut answered = [false; BURST];
        while answered.contains(&false) {
            let length = socket
                .recv(&mut buffer)
                .expect("every query of the burst is answered");
            let reply = Reply::parse(buffer[..length].to_vec());
            if reply.id() == 0xABCD {
                continue;
            }
            let k = queries
                .iter()
                .position(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]) == reply.id())
                .expect("a reply to a query of this burst");
            assert_echoes(&reply, &queries[k]);
            let (_, expected) = sets[names[k] % sets.len()];
            assert_eq!(
                reply.addresses(),
                ips(&[expected]),
                "n{}.example.com",
                names[k]
            );
            answered[k] = true;
        }
    }
}
