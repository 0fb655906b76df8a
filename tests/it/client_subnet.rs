//! EDNS Client Subnet (RFC 7871) in replies: the option is validated
//! strictly (a malformed one is FORMERR), echoed with the query's family,
//! source prefix and address only when the query carried it, and its
//! SCOPE is the prefix length of the network that decided the answer.

use hickory_proto::rr::RecordType;

use crate::support::{
    Reply, TRANSPORTS, TestServer, f0_server, ip, ips, query, rcode, repo_root, shipped_server,
};

/// Decodes hex text.
fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).expect("hex"))
        .collect()
}

/// Asks `name`/`qtype` with ECS `client` over both transports and checks
/// the answer and the echoed option, as dig prints it.
fn assert_ecs(
    server: &TestServer,
    name: &str,
    qtype: RecordType,
    client: &str,
    expected: &[&str],
    echo: &str,
) {
    for transport in TRANSPORTS {
        let reply = server.ask(transport, &query(name, qtype).ecs(client));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
        assert_eq!(
            reply.addresses(),
            ips(expected),
            "{name} {qtype} from {client}"
        );
        let ecs = reply.ecs().expect("ECS echoed");
        let family = if client.contains(':') { 2 } else { 1 };
        assert_eq!(ecs.family, family, "FAMILY echoed");
        assert_eq!(
            ecs.to_dig(),
            echo,
            "{name} {qtype} from {client} over {transport:?}"
        );
    }
}

/// The prefix length of the embedded database's network (or no-data
/// block) holding `address`, read with the `maxminddb` crate.
fn embedded_block(address: &str) -> u8 {
    let database = std::fs::read(repo_root().join("data/dbip-city-lite-cells.mmdb"))
        .expect("read the embedded database");
    let reader = maxminddb::Reader::from_source(database.as_slice()).expect("database");
    let result = reader.lookup(ip(address)).expect("lookup");
    assert!(!result.has_data(), "{address} must not be in the geo data");
    result.network().expect("network").prefix()
}

/// C09: the scope is the prefix of the override that placed the client, even past the source.
#[test]
fn ecs_scope_follows_the_deciding_network() {
    let server = f0_server();
    let cdn = "cdn.example.com";
    // The overrides that place the client decide: /25 each. Asked back to
    // back, so a cache keyed without the client would show.
    assert_ecs(
        server,
        cdn,
        RecordType::A,
        "198.51.100.0/25",
        &["192.0.2.10"],
        "198.51.100.0/25/25",
    );
    assert_ecs(
        server,
        cdn,
        RecordType::A,
        "203.0.113.0/25",
        &["192.0.2.30"],
        "203.0.113.0/25/25",
    );
    assert_ecs(
        server,
        cdn,
        RecordType::AAAA,
        "2001:db8:200::/48",
        &["2001:db8:c::30"],
        "2001:db8:200::/48/48",
    );
    // A scope longer than the source: /24 was not specific enough.
    assert_ecs(
        server,
        cdn,
        RecordType::A,
        "203.0.113.0/24",
        &["192.0.2.30"],
        "203.0.113.0/24/25",
    );
}

/// C09: static, negative, single-candidate and dedicated answers carry scope 0.
#[test]
fn answers_that_do_not_depend_on_the_client_have_scope_zero() {
    let server = f0_server();
    let client = "198.51.100.0/25";
    // Static records, negative answers, one candidate, dedicated IPs.
    assert_ecs(
        server,
        "www.example.com",
        RecordType::A,
        client,
        &["192.0.2.80"],
        "198.51.100.0/25/0",
    );
    assert_ecs(
        server,
        "eu.example.com",
        RecordType::A,
        client,
        &["192.0.2.20"],
        "198.51.100.0/25/0",
    );
    assert_ecs(
        server,
        "ded.example.com",
        RecordType::A,
        client,
        &["192.0.2.77"],
        "198.51.100.0/25/0",
    );
    assert_ecs(
        server,
        "v4only.example.com",
        RecordType::AAAA,
        client,
        &[],
        "198.51.100.0/25/0",
    );
    for transport in TRANSPORTS {
        let reply = server.ask(
            transport,
            &query("nosuch.example.com", RecordType::A).ecs(client),
        );
        assert_eq!(reply.rcode(), rcode::NXDOMAIN);
        assert_eq!(
            reply.ecs().expect("ECS echoed").to_dig(),
            "198.51.100.0/25/0"
        );
    }
}

/// C09: a client in no geo data gets the fallback, scoped to its no-data block, never /0.
#[test]
fn an_unplaced_client_gets_the_fallback_with_its_no_data_block_as_scope() {
    // 233.252.0.0/24 is in no geo data: the fallback (the first PoP cdn
    // lists), scoped to the no-data block so that it is not cached for
    // everyone.
    let block = embedded_block("233.252.0.0");
    assert!((3..=24).contains(&block), "no-data block /{block}");
    assert_ecs(
        f0_server(),
        "cdn.example.com",
        RecordType::A,
        "233.252.0.0/24",
        &["192.0.2.40"],
        &format!("233.252.0.0/24/{block}"),
    );
}

/// C09: no Client Subnet in the query, none in the reply.
#[test]
fn ecs_is_echoed_only_when_the_query_carried_it() {
    let server = f0_server();
    for transport in TRANSPORTS {
        let plain = server.ask(transport, &query("cdn.example.com", RecordType::A));
        assert_eq!(plain.addresses(), ips(&["192.0.2.40"]));
        assert!(plain.opt().is_none());
        let edns = server.ask(transport, &query("cdn.example.com", RecordType::A).edns());
        assert_eq!(edns.addresses(), ips(&["192.0.2.40"]));
        assert!(edns.opt().is_some() && edns.ecs().is_none(), "{edns:?}");
    }
}

/// The malformed ECS payloads of RFC 7871 §6 (FAMILY onwards).
const MALFORMED: [(&str, &str); 8] = [
    ("00012100c000020100", "IPv4 SOURCE 33, 5 address bytes"),
    ("00011818c63364", "SCOPE 24 set in a query"),
    ("00011800c6336400", "IPv4 /24 with 4 address bytes"),
    ("00011600c63367", "address bits set past SOURCE /22"),
    ("00030000", "FAMILY 3"),
    (
        "000281000000000000000000000000000000000000",
        "IPv6 SOURCE 129",
    ),
    ("000118", "cut short: no SCOPE, no ADDRESS"),
    ("0001", "cut short: FAMILY only"),
];

/// Checks a FORMERR reply to a query with a bad ECS option.
fn assert_formerr(reply: &Reply, case: &str) {
    assert_eq!(reply.rcode(), rcode::FORMERR, "{case}: {reply:?}");
    assert!(reply.answers().is_empty(), "{case}: no answer");
    assert!(
        reply.ecs().is_none(),
        "{case}: the bad option is not echoed"
    );
}

/// C08: every malformed Client Subnet option is FORMERR, and serving goes on.
#[test]
fn malformed_client_subnet_is_formerr() {
    let server = f0_server();
    for (payload, case) in MALFORMED {
        for transport in TRANSPORTS {
            let question = query("cdn.example.com", RecordType::A).ecs_raw(&hex(payload));
            // `ask` checks the ID and question are echoed.
            let reply = server.ask(transport, &question);
            assert_formerr(&reply, case);
            // The server goes on answering.
            let next = server.ask(
                transport,
                &query("cdn.example.com", RecordType::A).ecs("203.0.113.0/25"),
            );
            assert_eq!(next.addresses(), ips(&["192.0.2.30"]), "after {case}");
        }
    }
}

/// More than one Client Subnet option in a query is FORMERR.
#[test]
fn two_client_subnet_options_are_formerr() {
    let server = shipped_server();
    let question = query("api.example.com", RecordType::A)
        .ecs("130.149.1.0/24")
        .ecs("133.11.1.0/24");
    for transport in TRANSPORTS {
        assert_formerr(&server.ask(transport, &question), "two ECS options");
    }
}

/// Full-length, short and zero-length source prefixes are valid options.
#[test]
fn well_formed_edge_options_are_accepted() {
    let server = shipped_server();
    let cases = [
        ("130.149.1.1/32", "192.0.2.3", "130.149.1.1/32/16"),
        ("130.149.0.0/22", "192.0.2.3", "130.149.0.0/22/16"),
        ("2003::1/128", "192.0.2.3", "2003::1/128/29"),
        ("0.0.0.0/0", "192.0.2.1", "0.0.0.0/0/0"),
        ("::/0", "192.0.2.1", "::/0/0"),
    ];
    for (client, expected, echo) in cases {
        assert_ecs(
            server,
            "api.example.com",
            RecordType::A,
            client,
            &[expected],
            echo,
        );
    }
}
