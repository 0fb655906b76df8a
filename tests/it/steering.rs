//! Steering with the shipped files: each pinned domain is answered from the
//! nearest PoP of its own pinned set, placed by EDNS Client Subnet through
//! the embedded geo database, with the ECS scope of the deciding network.

use hickory_proto::rr::RecordType;

use crate::support::{TRANSPORTS, ip, ips, query, rcode, shipped_server};

/// Clients by the network the embedded database places them in.
const BERLIN: &str = "130.149.1.0/24";
/// University of Tokyo.
const TOKYO: &str = "133.11.1.0/24";
/// Stanford University.
const STANFORD: &str = "171.64.1.0/24";
/// Deutsche Telekom IPv6.
const GERMANY_V6: &str = "2003::/48";

/// Asks for `name`/`qtype` from `client` over both transports and checks
/// the answer addresses and the ECS scope.
fn assert_steered(name: &str, qtype: RecordType, client: &str, expected: &[&str], scope: u8) {
    let server = shipped_server();
    for transport in TRANSPORTS {
        let reply = server.ask(transport, &query(name, qtype).ecs(client));
        assert_eq!(
            reply.rcode(),
            rcode::NOERROR,
            "{name} from {client}: {reply:?}"
        );
        assert!(reply.aa(), "{name} from {client}: AA must be set");
        assert_eq!(
            reply.addresses(),
            ips(expected),
            "{name} {qtype} from {client} over {transport:?}"
        );
        let ecs = reply.ecs().expect("an ECS query gets an ECS echo");
        let sent: ipnet::IpNet = client.parse().expect("network");
        assert_eq!(ecs.ip(), sent.network(), "ECS address echoed");
        assert_eq!(
            ecs.source_prefix_len,
            sent.prefix_len(),
            "ECS source echoed"
        );
        assert_eq!(
            ecs.scope_prefix_len, scope,
            "{name} {qtype} from {client}: ECS scope"
        );
        for record in reply.answers() {
            assert_eq!(record.ttl, 60, "steered answers carry [defaults] ttl");
        }
    }
}

/// Berlin → Frankfurt for api.example.com, scope 16 (the database network).
#[test]
fn api_from_berlin_is_frankfurt_with_the_database_network_as_scope() {
    assert_steered("api.example.com", RecordType::A, BERLIN, &["192.0.2.3"], 16);
}

/// Tokyo → Frankfurt for api.example.com, never the unpinned Tokyo PoP.
#[test]
fn api_from_tokyo_stays_in_its_pinned_set() {
    // Tokyo's own PoP (192.0.2.7) is nearer but not pinned.
    assert_steered("api.example.com", RecordType::A, TOKYO, &["192.0.2.3"], 11);
}

/// Stanford → Ohio for api.example.com, scope 13.
#[test]
fn api_from_stanford_is_ohio() {
    assert_steered(
        "api.example.com",
        RecordType::A,
        STANFORD,
        &["192.0.2.1"],
        13,
    );
}

/// An IPv6 ECS client in Germany → Frankfurt's AAAA, scope 29.
#[test]
fn api_aaaa_from_germany_over_ipv6_ecs_is_frankfurt() {
    assert_steered(
        "api.example.com",
        RecordType::AAAA,
        GERMANY_V6,
        &["2001:db8::3"],
        29,
    );
}

/// global.example.com: the nearest of all PoPs, A and AAAA.
#[test]
fn global_routing_picks_the_nearest_of_every_pop() {
    assert_steered(
        "global.example.com",
        RecordType::A,
        STANFORD,
        &["192.0.2.2"],
        13,
    );
    assert_steered(
        "global.example.com",
        RecordType::A,
        TOKYO,
        &["192.0.2.7"],
        11,
    );
    assert_steered(
        "global.example.com",
        RecordType::AAAA,
        STANFORD,
        &["2001:db8::2"],
        13,
    );
    assert_steered(
        "global.example.com",
        RecordType::AAAA,
        TOKYO,
        &["2001:db8::7"],
        11,
    );
}

/// An empty `ips` list routes globally.
#[test]
fn unpinned_domain_is_routed_globally() {
    assert_steered(
        "unpinned.example.com",
        RecordType::A,
        TOKYO,
        &["192.0.2.7"],
        11,
    );
    assert_steered(
        "unpinned.example.com",
        RecordType::A,
        BERLIN,
        &["192.0.2.3"],
        16,
    );
}

/// dedicated.example.com answers its IPs to every client with scope 0.
#[test]
fn dedicated_ips_answer_every_client_with_scope_zero() {
    for client in [BERLIN, TOKYO, STANFORD, GERMANY_V6] {
        assert_steered(
            "dedicated.example.com",
            RecordType::A,
            client,
            &["203.0.113.10"],
            0,
        );
        assert_steered(
            "dedicated.example.com",
            RecordType::AAAA,
            client,
            &["2001:db8:ff::10"],
            0,
        );
    }
}

/// Homed dedicated IPs are chosen like their home PoPs.
#[test]
fn homed_dedicated_ips_are_steered_like_their_pops() {
    assert_steered(
        "mixed.example.com",
        RecordType::A,
        BERLIN,
        &["203.0.113.21"],
        16,
    );
    assert_steered(
        "mixed.example.com",
        RecordType::A,
        TOKYO,
        &["203.0.113.21"],
        11,
    );
    assert_steered(
        "mixed.example.com",
        RecordType::A,
        STANFORD,
        &["203.0.113.20"],
        13,
    );
}

/// A domain with only IPv4 dedicated IPs gets NODATA for AAAA.
#[test]
fn dedicated_ipv4_only_domain_gets_nodata_for_aaaa() {
    let server = shipped_server();
    for transport in TRANSPORTS {
        for client in [BERLIN, TOKYO, STANFORD] {
            let reply = server.ask(
                transport,
                &query("mixed.example.com", RecordType::AAAA).ecs(client),
            );
            assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
            assert!(reply.aa());
            assert!(
                reply.answers().is_empty(),
                "never shared addresses: {reply:?}"
            );
            let soa = reply.negative_soa();
            assert_eq!(soa.ttl, 60);
            assert_eq!(reply.ecs_scope(), 0, "NODATA does not depend on the client");
        }
    }
}

/// `*.eu.example.com` covers names one or more labels below.
#[test]
fn wildcard_pin_covers_every_depth_below_its_suffix() {
    for name in ["a.eu.example.com", "x.y.eu.example.com"] {
        assert_steered(name, RecordType::A, TOKYO, &["192.0.2.3"], 0);
        assert_steered(name, RecordType::AAAA, STANFORD, &["2001:db8::3"], 0);
    }
}

/// A loopback client without ECS gets the first listed PoP and no ECS.
#[test]
fn unplaced_client_without_ecs_gets_the_first_listed_pop_and_no_ecs() {
    let server = shipped_server();
    let cases = [
        ("api.example.com", RecordType::A, "192.0.2.1"),
        ("api.example.com", RecordType::AAAA, "2001:db8::1"),
        ("global.example.com", RecordType::A, "192.0.2.1"),
        ("mixed.example.com", RecordType::A, "203.0.113.20"),
    ];
    for transport in TRANSPORTS {
        for (name, qtype, expected) in cases {
            let plain = server.ask(transport, &query(name, qtype));
            assert_eq!(plain.addresses(), vec![ip(expected)], "{name} {qtype}");
            assert!(plain.opt().is_none(), "no EDNS in, no OPT out");
            let with_edns = server.ask(transport, &query(name, qtype).edns());
            assert_eq!(with_edns.addresses(), vec![ip(expected)], "{name} {qtype}");
            assert!(with_edns.opt().is_some(), "EDNS in, OPT out");
            assert!(with_edns.ecs().is_none(), "no ECS in, no ECS out");
        }
    }
}

/// ECS /0 places by the packet source and is echoed with scope 0.
#[test]
fn ecs_with_source_prefix_zero_falls_back_to_the_packet_source() {
    let server = shipped_server();
    let reply = server.ask_udp(&query("api.example.com", RecordType::A).ecs("0.0.0.0/0"));
    assert_eq!(
        reply.addresses(),
        ips(&["192.0.2.1"]),
        "loopback source: first listed"
    );
    let ecs = reply.ecs().expect("ECS echoed");
    assert_eq!((ecs.source_prefix_len, ecs.scope_prefix_len), (0, 0));
    assert!(ecs.address.is_empty());
}
