//! Names compare case-insensitively and keep their case (RFC 1035 §2.3.3,
//! RFC 4343): pinned, static and refused names alike, with the question
//! echoed exactly as sent so that 0x20 case randomisation survives.

use std::sync::OnceLock;

use hickory_proto::rr::RecordType;

use crate::support::{Fixture, TRANSPORTS, TestServer, f0_server, ips, query, rcode};

/// C02: mixed-case names get the lower-case data, question and owners keep their case.
#[test]
fn names_match_case_insensitively_and_keep_their_case() {
    let server = f0_server();
    let cases = [
        (
            "CDN.Example.COM",
            RecordType::A,
            Some("203.0.113.0/25"),
            "192.0.2.30",
        ),
        (
            "cDn.eXaMpLe.cOm",
            RecordType::AAAA,
            Some("203.0.113.0/25"),
            "2001:db8:c::30",
        ),
        ("WWW.EXAMPLE.COM", RecordType::A, None, "192.0.2.80"),
        (
            "wWw.ExAmPlE.cOm",
            RecordType::A,
            Some("198.51.100.0/25"),
            "192.0.2.80",
        ),
    ];
    for transport in TRANSPORTS {
        for (name, qtype, client, expected) in cases {
            let question = match client {
                Some(client) => query(name, qtype).ecs(client),
                None => query(name, qtype),
            };
            // `ask` checks the question is echoed byte for byte.
            let reply = server.ask(transport, &question);
            assert_eq!(reply.rcode(), rcode::NOERROR, "{name}: {reply:?}");
            assert!(reply.aa(), "{name}: AA=1");
            assert_eq!(reply.addresses(), ips(&[expected]), "{name} {qtype}");
            for record in reply.answers() {
                assert_eq!(
                    record.name.to_string(),
                    format!("{name}."),
                    "owner keeps the case"
                );
            }
            if let Some(client) = client {
                let ecs = reply.ecs().expect("ECS echoed");
                assert_eq!(format!("{}/{}", ecs.ip(), ecs.source_prefix_len), client);
            }
        }
    }
}

/// NXDOMAIN, NODATA and REFUSED do not depend on the name's case.
#[test]
fn negative_and_refused_answers_ignore_case_too() {
    let server = f0_server();
    for transport in TRANSPORTS {
        let reply = server.ask(transport, &query("NoSuch.EXAMPLE.com", RecordType::A));
        assert_eq!(reply.rcode(), rcode::NXDOMAIN);
        reply.negative_soa();
        let reply = server.ask(transport, &query("V4ONLY.example.COM", RecordType::AAAA));
        assert_eq!(reply.rcode(), rcode::NOERROR);
        assert!(reply.answers().is_empty());
        reply.negative_soa();
        let reply = server.ask(transport, &query("Example.ORG", RecordType::A));
        assert_eq!(reply.rcode(), rcode::REFUSED);
    }
}

/// F0 with pin keys written in mixed case.
fn mixed_case_pins_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let fixture = Fixture::f0();
        let pins = crate::support::F0_PINS.replace("\"cdn.example.com\"", "\"Cdn.Example.Com\"")
            + "\n[[reserved_domain]]\ndomain = \"*.Apps.EXAMPLE.com\"\nips = [\"nrt\"]\n";
        assert!(pins.contains("Cdn.Example.Com"));
        fixture.write_pins(&pins);
        fixture.keep().start()
    })
}

/// C02: pin keys written in mixed case match queries in any case.
#[test]
fn a_pin_key_written_in_mixed_case_matches_any_case() {
    let server = mixed_case_pins_server();
    for transport in TRANSPORTS {
        for name in ["cdn.example.com", "CDN.EXAMPLE.COM", "Cdn.Example.Com"] {
            let reply = server.ask(transport, &query(name, RecordType::A).ecs("203.0.113.0/25"));
            assert_eq!(reply.addresses(), ips(&["192.0.2.30"]), "{name}");
            assert_eq!(reply.ecs_scope(), 25);
        }
        for name in ["x.apps.example.com", "Y.X.APPS.example.com"] {
            let reply = server.ask(transport, &query(name, RecordType::A));
            assert_eq!(reply.addresses(), ips(&["192.0.2.30"]), "{name}");
        }
    }
}
