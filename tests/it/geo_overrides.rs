//! Geo overrides (`[geo.overrides]`, like gdnsd's `nets`): networks placed
//! at a PoP or at coordinates, consulted before the database, longest
//! prefix first, their prefix length giving the ECS scope; and
//! `default_location` for clients nothing places.

use std::net::IpAddr;
use std::sync::OnceLock;

use hickory_proto::rr::RecordType;
use ipnet::IpNet;

use crate::support::{Fixture, TRANSPORTS, TestServer, ip, query, rcode, repo_root};

/// The overrides of [`override_server`], as (network, TOML location).
const OVERRIDES: [(&str, &str); 5] = [
    ("198.51.100.0/24", "\"jp-tokyo-1\""),
    ("198.51.100.128/25", "{ lat = -33.87, lon = 151.21 }"), // Sydney
    ("130.149.1.0/24", "\"br-sao-1\""),                      // inside a database network
    ("2001:db8:100::/48", "\"in-mum-1\""),
    ("10.0.0.0/8", "{ lat = 1.35, lon = 103.82 }"), // Singapore
];

/// The shipped files plus [`OVERRIDES`], served once for this module.
fn override_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let fixture = Fixture::shipped();
        fixture.add_geo_overrides(&OVERRIDES);
        fixture.keep().start()
    })
}

/// Asks `name`/`qtype` from ECS `client` over both transports; returns
/// the answer addresses and the scope.
fn ask(server: &TestServer, name: &str, qtype: RecordType, client: &str) -> (Vec<IpAddr>, u8) {
    let mut seen = Vec::new();
    for transport in TRANSPORTS {
        let reply = server.ask(transport, &query(name, qtype).ecs(client));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
        let ecs = reply.ecs().expect("ECS echoed");
        let sent: IpNet = client.parse().expect("network");
        assert_eq!(
            (ecs.ip(), ecs.source_prefix_len),
            (sent.network(), sent.prefix_len())
        );
        seen.push((reply.addresses(), ecs.scope_prefix_len));
    }
    assert_eq!(seen[0], seen[1], "UDP and TCP agree");
    seen.remove(0)
}

/// An override naming a PoP places its network at that PoP, scope = its prefix.
#[test]
fn override_by_pop_code_places_the_client_at_that_pop() {
    let server = override_server();
    let (answer, scope) = ask(
        server,
        "global.example.com",
        RecordType::A,
        "2001:db8:100::/56",
    );
    assert_eq!((answer, scope), (vec![ip("192.0.2.6")], 48));
    let (answer, scope) = ask(
        server,
        "global.example.com",
        RecordType::AAAA,
        "2001:db8:100:ff::/64",
    );
    assert_eq!((answer, scope), (vec![ip("2001:db8::6")], 48));
}

/// An override with coordinates places its network there, scope = its prefix.
#[test]
fn override_by_coordinates_places_the_client_there() {
    let server = override_server();
    let (answer, scope) = ask(server, "global.example.com", RecordType::A, "10.1.2.0/24");
    assert_eq!((answer, scope), (vec![ip("192.0.2.4")], 8));
    // Then the choice stays within the pin set: Singapore is nearer to
    // Frankfurt than to Ohio.
    let (answer, scope) = ask(server, "api.example.com", RecordType::A, "10.1.2.0/24");
    assert_eq!((answer, scope), (vec![ip("192.0.2.3")], 8));
}

/// Nested overrides: the longest prefix holding the client decides.
#[test]
fn longest_override_prefix_wins() {
    let server = override_server();
    let (answer, scope) = ask(
        server,
        "global.example.com",
        RecordType::A,
        "198.51.100.200/32",
    );
    assert_eq!((answer, scope), (vec![ip("192.0.2.5")], 25), "Sydney /25");
    let (answer, _) = ask(
        server,
        "global.example.com",
        RecordType::A,
        "198.51.100.7/32",
    );
    assert_eq!(answer, vec![ip("192.0.2.7")], "Tokyo /24");
}

/// An override inside a database network wins over the database.
#[test]
fn overrides_are_consulted_before_the_database() {
    let server = override_server();
    // The database places 130.149.0.0/16 in Berlin.
    let (answer, scope) = ask(
        server,
        "global.example.com",
        RecordType::A,
        "130.149.1.0/24",
    );
    assert_eq!((answer, scope), (vec![ip("192.0.2.8")], 24));
}

/// A scope never spans a longer override that answers otherwise.
#[test]
fn ecs_scope_never_covers_a_network_that_answers_differently() {
    // A scope is a promise that every address under it gets this answer
    // (RFC 7871 §7.3.1: resolvers cache by it). The deciding network may
    // hold a longer override that answers otherwise: the scope then
    // narrows to leave it out, as gdnsd's merged nets tree does.
    let server = override_server();
    let cases = [
        // Berlin /16 of the database, around the São Paulo /24 override.
        ("130.149.2.0/24", "192.0.2.3", 23),
        ("130.149.128.0/24", "192.0.2.3", 17),
        // The Tokyo /24 override, around the Sydney /25 one.
        ("198.51.100.7/32", "192.0.2.7", 25),
    ];
    for (client, expected, scope) in cases {
        let (answer, got) = ask(server, "global.example.com", RecordType::A, client);
        assert_eq!(answer, vec![ip(expected)], "{client}");
        assert_eq!(got, scope, "{client}: scope");
        let sent: IpNet = client.parse().expect("network");
        let covered = IpNet::new(sent.network(), got).expect("scope").trunc();
        for (network, _) in OVERRIDES {
            let network: IpNet = network.parse().expect("network");
            let differs = !network.contains(&sent.network());
            assert!(
                !(differs && covered.contains(&network)),
                "{client}: scope /{got} covers override {network}"
            );
        }
    }
}

/// An IPv4-mapped ECS address is placed as IPv4, its scope counted in IPv6 bits.
#[test]
fn ipv4_mapped_ecs_counts_as_ipv4_with_the_scope_in_ipv6_bits() {
    let server = override_server();
    let cases = [
        // The database: Tokyo /11, then api.example.com's pin set.
        (
            "api.example.com",
            "::ffff:133.11.1.0/120",
            "192.0.2.3",
            96 + 11,
        ),
        // An override: Singapore /8.
        (
            "global.example.com",
            "::ffff:10.1.2.0/120",
            "192.0.2.4",
            96 + 8,
        ),
    ];
    for (name, client, expected, scope) in cases {
        let (answer, got) = ask(server, name, RecordType::A, client);
        assert_eq!(
            (answer, got),
            (vec![ip(expected)], scope),
            "{name} from {client}"
        );
    }
}

/// `default_location` (a PoP code) places clients the geo data does not.
#[test]
fn default_location_places_clients_nothing_else_places() {
    let fixture = Fixture::shipped();
    fixture.set_geo("default_location", "\"jp-tokyo-1\"");
    let server = fixture.start();
    // No ECS, loopback source: Tokyo; api.example.com's nearest to Tokyo
    // is Frankfurt.
    for transport in TRANSPORTS {
        for (name, expected) in [
            ("api.example.com", "192.0.2.3"),
            ("global.example.com", "192.0.2.7"),
        ] {
            let reply = server.ask(transport, &query(name, RecordType::A));
            assert_eq!(reply.addresses(), vec![ip(expected)], "{name}");
        }
    }
    // An ECS address the database has no data for: Tokyo, and the no-data
    // block as scope.
    let database = std::fs::read(repo_root().join("data/dbip-city-lite-cells.mmdb"))
        .expect("read the embedded database");
    let reader = maxminddb::Reader::from_source(database.as_slice()).expect("database");
    let block = reader
        .lookup(ip("233.252.0.0"))
        .expect("lookup")
        .network()
        .expect("network")
        .prefix();
    assert!(block > 0);
    let (answer, scope) = ask(
        &server,
        "global.example.com",
        RecordType::A,
        "233.252.0.0/24",
    );
    assert_eq!((answer, scope), (vec![ip("192.0.2.7")], block));
}

/// `default_location` may be given as coordinates.
#[test]
fn default_location_may_be_coordinates() {
    let fixture = Fixture::shipped();
    fixture.set_geo("default_location", "{ lat = -23.55, lon = -46.63 }");
    let server = fixture.start();
    let reply = server.ask_udp(&query("global.example.com", RecordType::AAAA));
    assert_eq!(reply.addresses(), vec![ip("2001:db8::8")]);
}

/// Overrides with stray bits, bad networks or unknown PoPs fail the load.
#[test]
fn malformed_overrides_are_rejected_at_load() {
    let fixture = Fixture::shipped();
    fixture.add_geo_overrides(&[
        ("10.0.0.1/8", "\"de-fra-1\""),
        ("not-a-network", "\"de-fra-1\""),
        ("192.168.0.0/16", "\"banana\""),
    ]);
    let errors = fixture.load_errors();
    for needle in ["10.0.0.1/8", "not-a-network", "banana"] {
        assert!(
            errors.contains(needle),
            "no error names {needle}:\n{errors}"
        );
    }
}
