//! Negative answers at pinned names (RFC 2308, RFC 8020): a name that
//! exists but lacks the asked type is NODATA, not NXDOMAIN, and both carry
//! the zone's SOA at TTL min(SOA TTL, MINIMUM) in the authority section.

use hickory_proto::rr::RecordType;

use crate::support::{
    F0_NEGATIVE_SOA, F0_PINS, Fixture, QueryBuilder, Reply, TRANSPORTS, TestServer, f0_server,
    query, rcode, shipped_server,
};

/// Asks over both transports; every reply must be an authoritative
/// negative answer with exactly the F0 SOA (TTL 60) in authority.
fn assert_negative(
    server: &TestServer,
    question: &QueryBuilder,
    expected_rcode: u16,
) -> Vec<Reply> {
    TRANSPORTS
        .iter()
        .map(|&transport| {
            let reply = server.ask(transport, question);
            assert_eq!(reply.rcode(), expected_rcode, "{reply:?}");
            assert!(reply.aa(), "negative answers are authoritative: {reply:?}");
            assert!(reply.answers().is_empty(), "{reply:?}");
            reply.negative_soa();
            assert_eq!(reply.authority_lines(), vec![F0_NEGATIVE_SOA]);
            reply
        })
        .collect()
}

/// C01: a pinned name without the asked type is NODATA with the SOA at TTL 60.
#[test]
fn nodata_at_a_pinned_name_carries_the_soa() {
    let server = f0_server();
    // The pinned PoP has no IPv6; the dedicated IPs are IPv4 only.
    assert_negative(
        server,
        &query("v4only.example.com", RecordType::AAAA),
        rcode::NOERROR,
    );
    assert_negative(
        server,
        &query("ded.example.com", RecordType::AAAA),
        rcode::NOERROR,
    );
    // Types the pin table does not steer come from the zone, which has
    // nothing at cdn: still NODATA, and the answer does not depend on the
    // client.
    for reply in assert_negative(
        server,
        &query("cdn.example.com", RecordType::MX).ecs("203.0.113.0/25"),
        rcode::NOERROR,
    ) {
        assert_eq!(
            reply.ecs().expect("ECS echoed").to_dig(),
            "203.0.113.0/25/0"
        );
    }
    for qtype in [RecordType::TXT, RecordType::NS, RecordType::SOA] {
        assert_negative(server, &query("eu.example.com", qtype), rcode::NOERROR);
    }
}

/// C01: a name that does not exist is NXDOMAIN with the same SOA.
#[test]
fn unknown_name_is_nxdomain_with_the_same_soa() {
    let server = f0_server();
    assert_negative(
        server,
        &query("nosuch.example.com", RecordType::A),
        rcode::NXDOMAIN,
    );
    // Below a pinned name nothing exists.
    assert_negative(
        server,
        &query("x.cdn.example.com", RecordType::A),
        rcode::NXDOMAIN,
    );
}

/// Names above reserved names and wildcard suffixes are NODATA, not NXDOMAIN.
#[test]
fn names_above_pinned_names_exist_as_empty_non_terminals() {
    // A resolver that minimises QNAMEs (RFC 9156) asks for the names above
    // a pinned one first; NXDOMAIN there would deny the pinned name too
    // (RFC 8020). They are empty non-terminals: NODATA.
    let fixture = Fixture::f0();
    let pins = format!(
        "{F0_PINS}\n[[reserved_domain]]\ndomain = \"deep.name.example.com\"\nips = [\"ams\"]\n\n\
         [[reserved_domain]]\ndomain = \"*.apps.example.com\"\nips = [\"fra\"]\n"
    );
    fixture.write_pins(&pins);
    let server = fixture.start();
    for name in ["name.example.com", "apps.example.com"] {
        for qtype in [RecordType::A, RecordType::AAAA, RecordType::NS] {
            assert_negative(&server, &query(name, qtype), rcode::NOERROR);
        }
    }
    for name in [
        "deep.name.example.com",
        "x.apps.example.com",
        "y.x.apps.example.com",
    ] {
        let reply = server.ask_udp(&query(name, RecordType::A));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{name}: {reply:?}");
        assert_eq!(reply.answers().len(), 1, "{name}: {reply:?}");
    }
    assert_negative(
        &server,
        &query("other.name.example.com", RecordType::A),
        rcode::NXDOMAIN,
    );
    // The shipped wildcard *.eu.example.com makes eu.example.com exist.
    let shipped = shipped_server();
    let reply = shipped.ask_udp(&query("eu.example.com", RecordType::A));
    assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
    assert!(reply.answers().is_empty());
    reply.negative_soa();
}

/// F0 with zone wildcards at the apex (a CNAME and a TXT), one under
/// `w.example.com` that sits at the same owner as a wildcard pin, a
/// delegation inside a wildcard pin, and pins at and below them.
fn wildcard_server() -> TestServer {
    let fixture = Fixture::f0();
    fixture.write(
        "zones/example.com.zone",
        format!(
            "{}*    IN CNAME www\n*.w  IN TXT \"zone wildcard\"\nsub.zz IN NS ns.other.net.\n",
            crate::support::F0_ZONE
        ),
    );
    fixture.write_pins(&format!(
        "{F0_PINS}
[[reserved_domain]]
domain = \"a.b.example.com\"
ips = [\"fra\"]

[[reserved_domain]]
domain = \"*.eu2.example.com\"
ips = [\"fra\"]

[[reserved_domain]]
domain = \"*.w.example.com\"
ips = [\"ams\"]

[[reserved_domain]]
domain = \"*.zz.example.com\"
ips = [\"nrt\"]
"
    ));
    fixture.start()
}

/// RFC 4592 §2.2.1, §3.3.1: a zone wildcard synthesises only names that
/// do not exist, from the closest encloser's own wildcard. Reserved names,
/// the names above them and the names a closer pin wildcard covers exist:
/// other types there are NODATA, names below a reserved name NXDOMAIN, so
/// that a resolver never caches a wildcard CNAME at a pinned name (which
/// would send its A queries outside the pinned set).
#[test]
fn zone_wildcards_do_not_reach_names_the_pin_table_makes_exist() {
    let server = wildcard_server();
    // The wildcard still answers a name nothing else makes exist.
    let reply = server.ask_udp(&query("other.example.com", RecordType::TXT));
    assert_eq!(
        reply.answer_lines(),
        vec!["other.example.com. 300 IN CNAME www.example.com."]
    );
    for (name, qtype) in [
        ("cdn.example.com", RecordType::TXT),      // reserved
        ("cdn.example.com", RecordType::MX),       // reserved
        ("a.b.example.com", RecordType::TXT),      // reserved
        ("b.example.com", RecordType::TXT),        // above a reserved name
        ("x1.eu2.example.com", RecordType::HTTPS), // a pin wildcard closer than the zone's
        ("x1.eu2.example.com", RecordType::CNAME),
    ] {
        assert_negative(&server, &query(name, qtype), rcode::NOERROR);
    }
    // Below a reserved name nothing exists, wildcard or not.
    assert_negative(
        &server,
        &query("x.cdn.example.com", RecordType::TXT),
        rcode::NXDOMAIN,
    );
    assert_negative(
        &server,
        &query("x.a.b.example.com", RecordType::A),
        rcode::NXDOMAIN,
    );
    // The pinned answers are the pins'.
    let reply = server.ask_udp(&query("x1.eu2.example.com", RecordType::A));
    assert_eq!(reply.answers().len(), 1, "{reply:?}");
    // A zone wildcard at the same owner as a pin wildcard shares it: the
    // zone's types come from the zone, A/AAAA from the pin.
    let reply = server.ask_udp(&query("host.w.example.com", RecordType::TXT));
    assert_eq!(
        reply.answer_lines(),
        vec!["host.w.example.com. 300 IN TXT zone wildcard"]
    );
    let reply = server.ask_udp(&query("host.w.example.com", RecordType::A));
    assert_eq!(reply.addresses().len(), 1, "{reply:?}");
}

/// RFC 1034 §4.3.2 step 3b: a name at or below a zone cut is the child
/// zone's, even when a wildcard pin above the cut covers it: A and AAAA
/// get the same referral as every other type, never an authoritative
/// answer; beside the cut the wildcard pin answers.
#[test]
fn a_wildcard_pin_does_not_answer_below_a_delegation() {
    let server = wildcard_server();
    for qtype in [RecordType::A, RecordType::AAAA, RecordType::TXT] {
        let reply = server.ask_udp(&query("host.sub.zz.example.com", qtype));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
        assert!(!reply.aa(), "a referral is not authoritative: {reply:?}");
        assert!(reply.answers().is_empty(), "{reply:?}");
        assert_eq!(
            reply.authority_lines(),
            vec!["sub.zz.example.com. 300 IN NS ns.other.net."]
        );
    }
    let reply = server.ask_udp(&query("host.zz.example.com", RecordType::A));
    assert!(reply.aa(), "{reply:?}");
    assert_eq!(reply.answers().len(), 1, "{reply:?}");
}

/// RFC 4035 §3.1.4.1: DS at a delegation point is the parent's data: the
/// parent answers it authoritatively (here NODATA with the SOA: the zone
/// holds no DS), not with the referral every other type gets there.
#[test]
fn ds_at_a_delegation_point_is_answered_by_the_parent() {
    let server = wildcard_server();
    assert_negative(
        &server,
        &query("sub.zz.example.com", RecordType::DS),
        rcode::NOERROR,
    );
    // Below the cut DS is the child's: the referral.
    let reply = server.ask_udp(&query("x.sub.zz.example.com", RecordType::DS));
    assert!(!reply.aa(), "{reply:?}");
    assert_eq!(
        reply.authority_lines(),
        vec!["sub.zz.example.com. 300 IN NS ns.other.net."]
    );
}

/// A referral's glue never gives a name the pin table answers for an
/// address outside its pinned set (resolvers cache glue, RFC 2181
/// §5.4.1): glue for an NS name a pin covers outside the cut is left out
/// (the resolver asks for it and gets the pin's answer); glue below the
/// cut, which no pin reaches, is kept.
#[test]
fn referral_glue_leaves_out_names_the_pin_table_answers_for() {
    let fixture = Fixture::f0();
    fixture.write(
        "zones/example.com.zone",
        format!(
            "{}sub.zz IN NS ns.sub.zz\nsub.zz IN NS nsglue.zz\nns.sub.zz IN A 192.0.2.54\nnsglue.zz IN A 198.51.100.8\nchild3 IN NS ns.other.zz\nother.zz IN NS ns.other.zz\nns.other.zz IN A 192.0.2.102\n",
            crate::support::F0_ZONE
        ),
    );
    fixture.write_pins(&format!(
        "{F0_PINS}\n[[reserved_domain]]\ndomain = \"*.zz.example.com\"\nips = [\"nrt\"]\n"
    ));
    let server = fixture.start();
    let reply = server.ask_udp(&query("host.sub.zz.example.com", RecordType::A));
    assert!(!reply.aa(), "a referral: {reply:?}");
    let glue: Vec<Vec<u8>> = reply
        .raw_section(crate::support::Section::Additional)
        .filter(|record| record.rtype == 1 || record.rtype == 28)
        .map(|record| record.rdata.clone())
        .collect();
    assert_eq!(
        glue,
        vec![vec![192, 0, 2, 54]],
        "only ns.sub.zz's glue: {reply:?}"
    );
    let reply = server.ask_udp(&query("nsglue.zz.example.com", RecordType::A));
    assert_eq!(reply.addresses(), vec![crate::support::ip("192.0.2.30")]);
    // An NS name the wildcard pin covers but that sits below another cut
    // is that child's, which no pin reaches: its glue stays.
    let reply = server.ask_udp(&query("x.child3.example.com", RecordType::A));
    let glue: Vec<Vec<u8>> = reply
        .raw_section(crate::support::Section::Additional)
        .filter(|record| record.rtype == 1)
        .map(|record| record.rdata.clone())
        .collect();
    assert_eq!(glue, vec![vec![192, 0, 2, 102]], "{reply:?}");
}
