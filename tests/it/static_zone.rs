//! Static data from the RFC 1035 zone file: authoritative answers, CNAME
//! chains, NXDOMAIN and NODATA with the zone's SOA (TTL = min(SOA TTL,
//! MINIMUM), RFC 2308), REFUSED outside every zone, never recursion.

use hickory_proto::rr::RecordType;

use crate::support::{TRANSPORTS, ips, query, rcode, shipped_server};

/// The apex SOA as the zone gives it.
const SOA: &str =
    "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60";
/// The apex SOA in negative answers: TTL min(300, 60).
const NEGATIVE_SOA: &str =
    "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60";

/// Asks over both transports and checks an authoritative NOERROR answer
/// with exactly these lines (in any order).
fn assert_answer(name: &str, qtype: RecordType, expected: &[&str]) {
    let server = shipped_server();
    for transport in TRANSPORTS {
        // RD=1 as a stub would send it: echoed, but never RA.
        let reply = server.ask(transport, &query(name, qtype).recursion_desired(true));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{name} {qtype}: {reply:?}");
        assert!(reply.aa(), "{name} {qtype}: AA=1");
        assert!(!reply.ra(), "{name} {qtype}: RA=0, no recursion");
        assert!(reply.rd(), "RD is copied from the query");
        let mut lines = reply.answer_lines();
        lines.sort();
        let mut wanted: Vec<String> = expected.iter().map(|line| (*line).to_owned()).collect();
        wanted.sort();
        assert_eq!(lines, wanted, "{name} {qtype} over {transport:?}");
    }
}

/// The apex SOA is answered with AA=1 and RA=0.
#[test]
fn apex_soa_is_answered_authoritatively() {
    assert_answer("example.com", RecordType::SOA, &[SOA]);
}

/// The apex NS set is answered authoritatively.
#[test]
fn apex_ns_is_answered_authoritatively() {
    assert_answer(
        "example.com",
        RecordType::NS,
        &[
            "example.com. 300 IN NS ns1.example.com.",
            "example.com. 300 IN NS ns2.example.com.",
        ],
    );
}

/// The apex MX and TXT records are answered.
#[test]
fn apex_mx_and_txt_are_answered() {
    assert_answer(
        "example.com",
        RecordType::MX,
        &["example.com. 300 IN MX 10 mail.example.com."],
    );
    let reply = shipped_server().ask_udp(&query("example.com", RecordType::TXT));
    assert_eq!(reply.answers().len(), 1, "{reply:?}");
    let line = reply.answer_lines().remove(0);
    assert!(line.starts_with("example.com. 300 IN TXT"), "{line}");
    assert!(line.contains("v=spf1 mx -all"), "{line}");
}

/// www answers its A and AAAA records.
#[test]
fn www_has_a_and_aaaa() {
    assert_answer(
        "www.example.com",
        RecordType::A,
        &["www.example.com. 300 IN A 192.0.2.80"],
    );
    assert_answer(
        "www.example.com",
        RecordType::AAAA,
        &["www.example.com. 300 IN AAAA 2001:db8::80"],
    );
}

/// docs answers its CNAME, then www's records.
#[test]
fn cname_is_followed_inside_the_zone() {
    for (qtype, target) in [
        (RecordType::A, "www.example.com. 300 IN A 192.0.2.80"),
        (
            RecordType::AAAA,
            "www.example.com. 300 IN AAAA 2001:db8::80",
        ),
    ] {
        let server = shipped_server();
        for transport in TRANSPORTS {
            let reply = server.ask(transport, &query("docs.example.com", qtype));
            assert_eq!(reply.rcode(), rcode::NOERROR);
            assert!(reply.aa());
            // The CNAME comes first, then the target's records.
            assert_eq!(
                reply.answer_lines(),
                vec!["docs.example.com. 300 IN CNAME www.example.com.", target],
                "{reply:?}"
            );
        }
    }
    assert_answer(
        "docs.example.com",
        RecordType::CNAME,
        &["docs.example.com. 300 IN CNAME www.example.com."],
    );
}

/// An unknown name is NXDOMAIN with the SOA at TTL min(300, 60).
#[test]
fn unknown_name_is_nxdomain_with_the_soa_at_its_negative_ttl() {
    let server = shipped_server();
    for transport in TRANSPORTS {
        for name in ["nosuch.example.com", "a.b.nosuch.example.com"] {
            let reply = server.ask(transport, &query(name, RecordType::A));
            assert_eq!(reply.rcode(), rcode::NXDOMAIN, "{name}: {reply:?}");
            assert!(reply.aa(), "{name}: AA=1");
            assert!(!reply.ra());
            assert!(reply.answers().is_empty());
            reply.negative_soa();
            assert_eq!(reply.authority_lines(), vec![NEGATIVE_SOA]);
        }
    }
}

/// An existing name without the type is NODATA with the SOA.
#[test]
fn existing_name_without_the_type_is_nodata_with_the_soa() {
    let server = shipped_server();
    let cases = [
        ("www.example.com", RecordType::MX),
        ("www.example.com", RecordType::TXT),
        ("ns2.example.com", RecordType::AAAA),
        ("mail.example.com", RecordType::AAAA),
        ("example.com", RecordType::A),
    ];
    for transport in TRANSPORTS {
        for (name, qtype) in cases {
            let reply = server.ask(transport, &query(name, qtype));
            assert_eq!(reply.rcode(), rcode::NOERROR, "{name} {qtype}: {reply:?}");
            assert!(reply.aa());
            assert!(reply.answers().is_empty(), "{name} {qtype}: {reply:?}");
            reply.negative_soa();
            assert_eq!(reply.authority_lines(), vec![NEGATIVE_SOA]);
        }
    }
}

/// Names outside every zone are REFUSED, without AA or RA.
#[test]
fn names_outside_every_zone_are_refused() {
    let server = shipped_server();
    let names = [
        "example.org",
        "www.example.net",
        "com",
        ".",
        "notexample.com",
    ];
    for transport in TRANSPORTS {
        for name in names {
            let reply = server.ask(
                transport,
                &query(name, RecordType::A).recursion_desired(true),
            );
            assert_eq!(reply.rcode(), rcode::REFUSED, "{name}: {reply:?}");
            assert!(!reply.aa(), "{name}: not authoritative");
            assert!(!reply.ra(), "{name}: no recursion");
            assert!(reply.answers().is_empty());
            assert!(reply.authorities().is_empty());
        }
    }
}

/// Static answers echo Client Subnet with scope 0.
#[test]
fn static_answers_echo_ecs_with_scope_zero() {
    let server = shipped_server();
    for (name, qtype) in [
        ("www.example.com", RecordType::A),
        ("example.com", RecordType::MX),
        ("nosuch.example.com", RecordType::A),
    ] {
        let reply = server.ask_udp(&query(name, qtype).ecs("130.149.1.0/24"));
        let ecs = reply.ecs().expect("ECS echoed");
        assert_eq!(ecs.to_dig(), "130.149.1.0/24/0", "{name} {qtype}");
    }
    let reply = server.ask_udp(&query("www.example.com", RecordType::A).ecs("130.149.1.0/24"));
    assert_eq!(reply.addresses(), ips(&["192.0.2.80"]));
}
