//! The 30 reference addresses of `tests/test-addresses.csv` (a copy of
//! the geo data's test list): each, sent as EDNS Client Subnet for the
//! globally routed `global.example.com`, is answered by its expected PoP.

use std::net::IpAddr;

use hickory_proto::rr::RecordType;

use crate::support::{
    TRANSPORTS, query, rcode, repo_root, shipped_ipv4, shipped_ipv6, shipped_server,
};

/// One row: the client address and the PoP code it must be steered to.
struct Row {
    /// The client address.
    address: IpAddr,
    /// The expected PoP code.
    expected_pop: String,
    /// Who holds the address, for messages.
    holder: String,
}

/// Reads the rows of the CSV (a header, then comma-separated fields;
/// `address`, `holder` and `expected_pop` contain no commas).
fn rows() -> Vec<Row> {
    let path = repo_root().join("tests/test-addresses.csv");
    let text = std::fs::read_to_string(&path).expect("read tests/test-addresses.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|field| *field == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (address_at, holder_at, pop_at) =
        (column("address"), column("holder"), column("expected_pop"));
    lines
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            Row {
                address: fields[address_at].parse().expect("an IP address"),
                holder: fields[holder_at].to_owned(),
                expected_pop: fields[pop_at].to_owned(),
            }
        })
        .collect()
}

/// All 30 reference addresses reach their expected PoP, A and AAAA, UDP and TCP.
#[test]
fn every_reference_address_is_steered_to_its_expected_pop() {
    let rows = rows();
    assert_eq!(rows.len(), 30, "the reference list has 30 addresses");
    let server = shipped_server();
    let mut failures = Vec::new();
    for row in &rows {
        let full_length = if row.address.is_ipv4() { 32 } else { 128 };
        let client = format!("{}/{full_length}", row.address);
        for transport in TRANSPORTS {
            for (qtype, expected) in [
                (RecordType::A, shipped_ipv4(&row.expected_pop)),
                (RecordType::AAAA, shipped_ipv6(&row.expected_pop)),
            ] {
                let reply = server.ask(transport, &query("global.example.com", qtype).ecs(&client));
                assert_eq!(reply.rcode(), rcode::NOERROR, "{client}: {reply:?}");
                if reply.addresses() != vec![expected] {
                    failures.push(format!(
                        "{client} ({}) {qtype} over {transport:?}: expected {} ({expected}), got {:?}",
                        row.holder,
                        row.expected_pop,
                        reply.addresses()
                    ));
                }
                let scope = reply.ecs_scope();
                assert!(
                    (1..=full_length).contains(&scope),
                    "{client}: a located answer has a scope within the address: {scope}"
                );
            }
        }
    }
    assert!(
        failures.is_empty(),
        "misplaced clients:\n{}",
        failures.join("\n")
    );
}
