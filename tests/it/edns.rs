//! EDNS as DNS operators' EDNS compliance tests check it (plain, version 0,
//! version 1 → BADVERS, unknown options and flags, DO, payload sizes,
//! NSID), and RFC 7871 Client Subnet validation and echo.

use crate::wire_client::*;

/// SOA type number.
const SOA: u16 = 6;
/// A type number.
const A: u16 = 1;
/// AAAA type number.
const AAAA: u16 = 28;
/// DNSKEY type number.
const DNSKEY: u16 = 48;
/// EDNS option code of NSID.
const NSID: u16 = 3;
/// EDNS option code of Client Subnet.
const ECS: u16 = 8;
/// An option code nobody assigned.
const UNKNOWN_OPTION: u16 = 100;
/// The DO flag.
const DO: u16 = 0x8000;
/// An EDNS flag bit that must be zero (dig's `+ednsflags=0x80`).
const UNKNOWN_FLAG: u16 = 0x0080;

/// Sends a query over UDP and returns the reply bytes.
fn ask(server: &TestServer, query: &QuerySpec) -> Vec<u8> {
    udp_exchange(server.address, &query.encode()).expect("UDP reply")
}

/// Options of the reply's OPT record, which must be there.
fn reply_options(reply: &[u8]) -> Vec<(u16, Vec<u8>)> {
    opt_of(reply).expect("reply has an OPT record").4
}

#[test]
fn ednscomp_plain_query_gets_a_reply_without_opt() {
    let server = TestServer::shipped();
    let reply = ask(&server, &QuerySpec::new("example.com", SOA));
    assert_eq!(header_rcode(&reply), 0);
    assert_eq!(counts(&reply)[1], 1, "the SOA");
    assert_eq!(opt_of(&reply), None, "no OPT without one in the query");
}

#[test]
fn ednscomp_edns_version_0_gets_opt_version_0() {
    let server = TestServer::shipped();
    let reply = ask(&server, &QuerySpec::new("example.com", SOA).with_edns());
    assert_eq!(header_rcode(&reply), 0);
    assert_eq!(counts(&reply)[1], 1, "the SOA");
    let (payload, extended_rcode, version, flags, options) = opt_of(&reply).expect("OPT");
    assert_eq!((payload, extended_rcode, version, flags), (1232, 0, 0, 0));
    assert!(options.is_empty());
    // Over TCP as well (ednscomp "ednstcp").
    let reply = tcp_exchange(
        server.address,
        &QuerySpec::new("example.com", SOA).with_edns().encode(),
    );
    assert_eq!(opt_of(&reply).expect("OPT over TCP").2, 0);
}

/// Checks a BADVERS reply: header RCODE 0, OPT EXTENDED-RCODE 1 and
/// version 0, the question echoed, no records.
fn assert_badvers(reply: &[u8], query: &[u8]) {
    assert_eq!(id_of(reply), id_of(query));
    assert_eq!(header_rcode(reply), 0, "BADVERS = 16: low bits 0");
    let (payload, extended_rcode, version, flags, options) = opt_of(reply).expect("OPT");
    assert_eq!(extended_rcode, 1, "high bits of 16");
    assert_eq!(version, 0, "the version we implement");
    assert_eq!(payload, 1232);
    assert_eq!(flags & UNKNOWN_FLAG, 0, "unknown flag not echoed");
    assert!(
        options.iter().all(|(code, _)| *code != UNKNOWN_OPTION),
        "unknown option not echoed"
    );
    assert_eq!(counts(reply)[..3], [1, 0, 0], "question, no records");
    assert_eq!(question_bytes(reply), question_bytes(query));
    let message = parse(reply);
    assert_eq!(u16::from(message.response_code), 16, "BADVERS");
}

#[test]
fn rfc6891_edns_version_1_gets_badvers_with_opt_version_0_and_the_question() {
    let server = TestServer::shipped();
    let version_1 = EdnsSpec {
        version: 1,
        ..EdnsSpec::default()
    };
    let query = QuerySpec::new("example.com", SOA)
        .with(version_1.clone())
        .encode();
    assert_badvers(&ask_raw(&server, &query), &query);
    // Over TCP.
    assert_badvers(&tcp_exchange(server.address, &query), &query);
    // Every version above 0.
    for version in [2, 100, 255] {
        let query = QuerySpec::new("example.com", SOA)
            .with(EdnsSpec {
                version,
                ..EdnsSpec::default()
            })
            .encode();
        assert_badvers(&ask_raw(&server, &query), &query);
    }
}

/// Sends raw bytes over UDP.
fn ask_raw(server: &TestServer, query: &[u8]) -> Vec<u8> {
    udp_exchange(server.address, query).expect("UDP reply")
}

#[test]
fn rfc6891_badvers_is_not_skipped_for_a_name_answered_just_before() {
    let server = TestServer::shipped();
    let subnet = (ECS, ecs_payload("130.149.1.0/24"));
    let warm = QuerySpec::new("api.example.com", A).with(EdnsSpec {
        options: vec![subnet.clone()],
        ..EdnsSpec::default()
    });
    let reply = ask(&server, &warm);
    assert_eq!(counts(&reply)[1], 1, "normal answer first");
    let query = QuerySpec::new("api.example.com", A)
        .with(EdnsSpec {
            version: 1,
            options: vec![subnet],
            ..EdnsSpec::default()
        })
        .encode();
    let reply = ask_raw(&server, &query);
    assert_badvers(&reply, &query);
    assert!(
        reply_options(&reply).iter().all(|(code, _)| *code != ECS),
        "no Client Subnet in BADVERS"
    );
}

#[test]
fn ednscomp_unknown_option_is_ignored_and_not_echoed() {
    let server = TestServer::shipped();
    let query = QuerySpec::new("example.com", SOA).with(EdnsSpec {
        options: vec![(UNKNOWN_OPTION, Vec::new()), (65001, vec![1, 2, 3])],
        ..EdnsSpec::default()
    });
    let reply = ask(&server, &query);
    assert_eq!(header_rcode(&reply), 0);
    assert_eq!(counts(&reply)[1], 1, "answered normally");
    assert!(reply_options(&reply).is_empty(), "nothing echoed");
}

#[test]
fn ednscomp_unknown_edns_flag_is_not_echoed() {
    let server = TestServer::shipped();
    let query = QuerySpec::new("example.com", SOA).with(EdnsSpec {
        flags: UNKNOWN_FLAG | 0x0001,
        ..EdnsSpec::default()
    });
    let reply = ask(&server, &query);
    assert_eq!(header_rcode(&reply), 0);
    assert_eq!(counts(&reply)[1], 1);
    assert_eq!(opt_of(&reply).expect("OPT").3, 0, "flags all clear");
}

#[test]
fn ednscomp_version_1_with_unknown_option_and_flag_gets_badvers() {
    let server = TestServer::shipped();
    let query = QuerySpec::new("example.com", SOA)
        .with(EdnsSpec {
            version: 1,
            flags: UNKNOWN_FLAG,
            options: vec![(UNKNOWN_OPTION, Vec::new())],
            ..EdnsSpec::default()
        })
        .encode();
    let reply = ask_raw(&server, &query);
    assert_badvers(&reply, &query);
    assert_eq!(opt_of(&reply).expect("OPT").3, 0);
}

#[test]
fn rfc3225_do_bit_is_copied_into_the_reply() {
    let server = TestServer::shipped();
    for (flags, expected) in [(DO, DO), (0, 0), (DO | UNKNOWN_FLAG, DO)] {
        let query = QuerySpec::new("example.com", SOA).with(EdnsSpec {
            flags,
            ..EdnsSpec::default()
        });
        let reply = ask(&server, &query);
        assert_eq!(
            opt_of(&reply).expect("OPT").3,
            expected,
            "query flags {flags:#06x}"
        );
    }
    // Also in a BADVERS reply.
    let query = QuerySpec::new("example.com", SOA).with(EdnsSpec {
        version: 1,
        flags: DO,
        ..EdnsSpec::default()
    });
    assert_eq!(opt_of(&ask(&server, &query)).expect("OPT").3, DO);
}

#[test]
fn ednscomp_large_and_small_payload_sizes() {
    let server = TestServer::shipped();
    for udp_payload in [512, 1232, 4096, 65535] {
        let query = QuerySpec::new("example.com", SOA).with(EdnsSpec {
            udp_payload,
            ..EdnsSpec::default()
        });
        let reply = ask(&server, &query);
        assert_eq!(header_rcode(&reply), 0, "payload {udp_payload}");
        assert!(!truncated(&reply), "payload {udp_payload}");
        assert_eq!(opt_of(&reply).expect("OPT").0, 1232, "we advertise 1232");
    }
    // ednscomp "edns@512": DO, 512 bytes, a type the zone lacks: an
    // answer that fits, with OPT.
    let query = QuerySpec::new("example.com", DNSKEY).with(EdnsSpec {
        udp_payload: 512,
        flags: DO,
        ..EdnsSpec::default()
    });
    let reply = ask(&server, &query);
    assert!(reply.len() <= 512);
    assert_eq!(opt_of(&reply).expect("OPT").3, DO);
}

#[test]
fn rfc5001_nsid_is_returned_only_when_asked_and_configured() {
    let with_nsid = TestServer::edited(|root| set_server_setting(root, "nsid", Some("\"ns1\"")));
    let asked = QuerySpec::new("example.com", SOA).with(EdnsSpec {
        options: vec![(NSID, Vec::new())],
        ..EdnsSpec::default()
    });
    let reply = ask(&with_nsid, &asked);
    assert_eq!(reply_options(&reply), vec![(NSID, b"ns1".to_vec())]);
    assert_eq!(counts(&reply)[1], 1, "the answer is unchanged");
    let not_asked = QuerySpec::new("example.com", SOA).with_edns();
    assert!(reply_options(&ask(&with_nsid, &not_asked)).is_empty());
    // The shipped config sets none: nothing comes back.
    let shipped = TestServer::shipped();
    assert!(reply_options(&ask(&shipped, &asked)).is_empty());
    if have_dig() {
        let output = dig(with_nsid.address, &["+nsid", "example.com", "SOA"]);
        assert!(output.contains("; NSID: 6e 73 31 (\"ns1\")"), "{output}");
    }
}

/// The C08 malformed Client Subnet payloads and what is wrong with each.
const MALFORMED_SUBNETS: [(&str, &str); 9] = [
    ("00012100c000020100", "IPv4 source 33"),
    ("00011818c63364", "scope 24 in a query"),
    ("00011800c6336400", "one address byte too many"),
    ("00011600c63367", "address bits past the prefix"),
    ("00030000", "unknown family 3"),
    (
        "000281000000000000000000000000000000000000",
        "IPv6 source 129",
    ),
    ("000118", "no scope, no address"),
    ("000120000a0000", "IPv4 /32 with 3 address bytes"),
    ("00000000", "family 0"),
];

#[test]
fn rfc7871_malformed_client_subnet_is_formerr() {
    let server = TestServer::shipped();
    for (payload, what) in MALFORMED_SUBNETS {
        let query = QuerySpec::new("api.example.com", A).with(EdnsSpec {
            options: vec![(ECS, hex(payload))],
            ..EdnsSpec::default()
        });
        let reply = ask(&server, &query);
        assert_eq!(id_of(&reply), query.id, "{what}: ID echoed");
        assert_eq!(header_rcode(&reply), 1, "{what}: FORMERR");
        assert_eq!(counts(&reply)[1], 0, "{what}: no answer");
        assert!(
            reply_options(&reply).iter().all(|(code, _)| *code != ECS),
            "{what}: the bad option is not echoed"
        );
        assert_still_answers(server.address);
    }
}

#[test]
fn rfc7871_two_client_subnet_options_are_formerr() {
    let server = TestServer::shipped();
    let option = (ECS, ecs_payload("130.149.1.0/24"));
    let query = QuerySpec::new("api.example.com", A).with(EdnsSpec {
        options: vec![option.clone(), option],
        ..EdnsSpec::default()
    });
    assert_eq!(header_rcode(&ask(&server, &query)), 1);
}

#[test]
fn dig_malformed_client_subnet_is_formerr() {
    let server = TestServer::shipped();
    if !have_dig() {
        return;
    }
    for (payload, what) in MALFORMED_SUBNETS {
        let option = format!("+ednsopt=8:{payload}");
        let output = dig(server.address, &[&option, "api.example.com", "A"]);
        assert!(output.contains("status: FORMERR"), "{what}: {output}");
    }
}

/// The Client Subnet option of a reply, if any.
fn reply_subnet(reply: &[u8]) -> Option<Vec<u8>> {
    reply_options(reply)
        .into_iter()
        .find_map(|(code, payload)| (code == ECS).then_some(payload))
}

#[test]
fn rfc7871_client_subnet_is_echoed_only_when_sent_with_family_source_and_address() {
    let server = TestServer::shipped();
    for (network, qtype, name) in [
        ("130.149.1.0/24", A, "api.example.com"),
        ("133.11.1.0/24", A, "global.example.com"),
        ("2003::/48", AAAA, "api.example.com"),
        ("130.149.1.0/24", A, "www.example.com"),
        ("130.149.1.0/24", A, "nosuch.example.com"),
        ("0.0.0.0/0", A, "api.example.com"),
        ("::/0", AAAA, "api.example.com"),
        ("192.0.2.77/32", A, "api.example.com"),
    ] {
        let sent = ecs_payload(network);
        let query = QuerySpec::new(name, qtype).with(EdnsSpec {
            options: vec![(ECS, sent.clone())],
            ..EdnsSpec::default()
        });
        let reply = ask(&server, &query);
        let echoed = reply_subnet(&reply).unwrap_or_else(|| panic!("{network} {name}: echoed"));
        assert_eq!(echoed.len(), sent.len(), "{network}: same address length");
        assert_eq!(echoed[..3], sent[..3], "{network}: family and source");
        assert_eq!(echoed[4..], sent[4..], "{network}: address");
        if sent[2] == 0 {
            assert_eq!(echoed[3], 0, "{network}: /0 gives scope 0");
        }
        if name == "www.example.com" || name == "nosuch.example.com" {
            assert_eq!(
                echoed[3], 0,
                "{name}: static and negative answers hold for all"
            );
        }
        // The same query without ECS gets none back.
        let plain = QuerySpec::new(name, qtype).with_edns();
        assert_eq!(
            reply_subnet(&ask(&server, &plain)),
            None,
            "{name}: not sent"
        );
    }
}

#[test]
fn dig_edns_compliance_checks() {
    let server = TestServer::shipped();
    if !have_dig() {
        return;
    }
    let check = |arguments: &[&str], expected: &[&str], absent: &[&str]| {
        let output = dig(server.address, arguments);
        for text in expected {
            assert!(
                output.contains(text),
                "{arguments:?}: want {text:?} in {output}"
            );
        }
        for text in absent {
            assert!(
                !output.contains(text),
                "{arguments:?}: {text:?} in {output}"
            );
        }
    };
    // Plain DNS and EDNS version 0.
    check(
        &["+noedns", "example.com", "SOA"],
        &["status: NOERROR", "ANSWER: 1"],
        &["OPT PSEUDOSECTION"],
    );
    check(
        &["+edns=0", "example.com", "SOA"],
        &["status: NOERROR", "EDNS: version: 0, flags:; udp: 1232"],
        &[],
    );
    // Version 1, alone and with an unknown option and flag.
    check(
        &["+edns=1", "+noednsneg", "example.com", "SOA"],
        &[
            "status: BADVERS",
            "EDNS: version: 0",
            "ANSWER: 0",
            ";example.com.\t\t\tIN\tSOA",
        ],
        &[],
    );
    check(
        &[
            "+edns=1",
            "+noednsneg",
            "+ednsopt=100",
            "+ednsflags=0x80",
            "example.com",
            "SOA",
        ],
        &["status: BADVERS", "EDNS: version: 0"],
        &["OPT=100", "MBZ"],
    );
    // Unknown option, unknown flag, DO.
    check(
        &["+ednsopt=100", "example.com", "SOA"],
        &["status: NOERROR", "ANSWER: 1"],
        &["OPT=100"],
    );
    check(
        &["+ednsflags=0x80", "example.com", "SOA"],
        &["status: NOERROR", "ANSWER: 1"],
        &["MBZ"],
    );
    check(
        &["+dnssec", "example.com", "SOA"],
        &["status: NOERROR", "flags: do;"],
        &[],
    );
    // Payload sizes.
    check(
        &["+bufsize=4096", "example.com", "SOA"],
        &["status: NOERROR", "udp: 1232"],
        &[],
    );
    check(
        &["+bufsize=100", "example.com", "SOA"],
        &["status: NOERROR", "ANSWER: 1"],
        &["flags: qr aa tc"],
    );
    // NSID asked of a server without one: nothing, and no error.
    check(
        &["+nsid", "example.com", "SOA"],
        &["status: NOERROR"],
        &["NSID:"],
    );
    // Client Subnet echoed with the answer's scope; none when not sent.
    check(
        &["+subnet=130.149.1.0/24", "api.example.com", "A"],
        &["CLIENT-SUBNET: 130.149.1.0/24/16", "192.0.2.3"],
        &[],
    );
    check(
        &["api.example.com", "A"],
        &["status: NOERROR"],
        &["CLIENT-SUBNET"],
    );
}
