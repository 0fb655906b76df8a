//! Any MaxMind-format database named by `[geo] database`: the City layout
//! places a client at `location.latitude/longitude`, the Country layout at
//! its country's capital (`cap_lat`/`cap_lon` of data/country-points.csv).
//! The ECS scope is the prefix length of the database network that placed
//! the client, or of the no-data block an unplaced client fell in.
//!
//! The databases are written by the test with the `mmdb-writer` crate and
//! read back, as a cross-check, with the `maxminddb` crate.

use std::net::IpAddr;

use hickory_proto::rr::RecordType;
use mmdb_writer::ipnet::IpNet;
use mmdb_writer::{IpVersion, Value, Writer};

use crate::support::{Fixture, TestServer, ip, query, rcode};

/// A City-layout record: coordinates and, as City databases have it, a
/// country (which the coordinates override).
fn city(latitude: f64, longitude: f64, country: &str) -> Value {
    Value::map([
        (
            "location",
            Value::map([
                ("latitude", Value::from(latitude)),
                ("longitude", Value::from(longitude)),
            ]),
        ),
        ("country", Value::map([("iso_code", Value::from(country))])),
    ])
}

/// A Country-layout record: the ISO code only.
fn country(iso_code: &str) -> Value {
    Value::map([("country", Value::map([("iso_code", Value::from(iso_code))]))])
}

/// Writes a database of `records` into a fixture copy of the shipped files,
/// points `[geo] database` at it and starts a server.
fn serve_database(writer: &mut Writer, records: &[(&str, Value)]) -> TestServer {
    for (network, record) in records {
        let network: IpNet = network.parse().expect("a network");
        writer
            .insert_value(network, record.clone())
            .expect("insert a network");
    }
    let bytes = writer.to_bytes().expect("write the database");
    let fixture = Fixture::shipped();
    fixture.write("geo/test.mmdb", &bytes);
    fixture.set_geo("database", "\"geo/test.mmdb\"");
    fixture.start()
}

/// The prefix length of the network holding `address` in a database, as
/// the `maxminddb` crate reads it (data or not).
fn database_prefix(database: &[u8], address: IpAddr) -> u8 {
    let reader = maxminddb::Reader::from_source(database).expect("a readable database");
    reader
        .lookup(address)
        .expect("lookup")
        .network()
        .expect("a network")
        .prefix()
}

/// Asks `name`/`qtype` from ECS `client` and checks answer and scope.
fn assert_placed(
    server: &TestServer,
    name: &str,
    qtype: RecordType,
    client: &str,
    expected: &str,
    scope: u8,
) {
    for transport in crate::support::TRANSPORTS {
        let reply = server.ask(transport, &query(name, qtype).ecs(client));
        assert_eq!(reply.rcode(), rcode::NOERROR, "{reply:?}");
        assert_eq!(
            reply.addresses(),
            vec![ip(expected)],
            "{name} {qtype} from {client}"
        );
        assert_eq!(
            reply.ecs_scope(),
            scope,
            "{name} {qtype} from {client}: scope"
        );
    }
}

/// City layout: the record's coordinates place the client, scope = the network.
#[test]
fn city_layout_places_clients_at_their_coordinates() {
    let mut writer = Writer::new("Test-City");
    let records = [
        ("81.2.69.0/24", city(35.68, 139.69, "JP")),    // Tokyo
        ("81.2.70.0/23", city(-33.87, 151.21, "AU")),   // Sydney
        ("2.125.160.0/19", city(-23.55, -46.63, "BR")), // São Paulo
        ("175.16.199.0/24", city(19.08, 72.88, "BR")),  // Mumbai; coordinates win
        ("2001:218::/32", city(50.11, 8.68, "DE")),     // Frankfurt
    ];
    let server = serve_database(&mut writer, &records);
    let global = "global.example.com";
    assert_placed(
        &server,
        global,
        RecordType::A,
        "81.2.69.0/24",
        "192.0.2.7",
        24,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "81.2.70.128/25",
        "192.0.2.5",
        23,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "2.125.161.0/24",
        "192.0.2.8",
        19,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "175.16.199.0/24",
        "192.0.2.6",
        24,
    );
    assert_placed(
        &server,
        global,
        RecordType::AAAA,
        "2001:218:1::/48",
        "2001:db8::3",
        32,
    );
    // Placement then choice within the pin set: Tokyo is nearer to
    // Frankfurt than to Ohio.
    assert_placed(
        &server,
        "api.example.com",
        RecordType::A,
        "81.2.69.0/24",
        "192.0.2.3",
        24,
    );
}

/// City layout: an address without data gets the fallback and its no-data block.
#[test]
fn city_layout_unplaced_clients_get_the_no_data_block_as_scope() {
    let mut writer = Writer::new("Test-City");
    let records = [("81.2.69.0/24", city(35.68, 139.69, "JP"))];
    let server = serve_database(&mut writer, &records);
    let database = writer.to_bytes().expect("write the database");
    for client in ["8.8.8.0/24", "81.2.68.0/24", "2001:db8:5::/48"] {
        let network: IpNet = client.parse().expect("network");
        let expected_scope = database_prefix(&database, network.network());
        assert!(expected_scope > 0, "{client} falls in a no-data block");
        // Nothing places the client: the first PoP the domain lists.
        let (qtype, expected) = (RecordType::A, "192.0.2.1");
        assert_placed(
            &server,
            "global.example.com",
            qtype,
            client,
            expected,
            expected_scope,
        );
    }
}

/// Country layout: the country's capital places the client, scope = the network.
#[test]
fn country_layout_places_clients_at_their_capital() {
    let mut writer = Writer::new("Test-Country");
    let records = [
        ("1.0.16.0/20", country("JP")),
        // Baku is nearer to Mumbai, Azerbaijan's population centre nearer
        // to Frankfurt: the capital decides.
        ("5.0.0.0/16", country("AZ")),
        ("5.1.0.0/17", country("BR")),
        ("5.2.0.0/18", country("DE")),
        ("5.3.0.0/21", country("US")),
        ("2a02:1000::/24", country("AU")),
    ];
    let server = serve_database(&mut writer, &records);
    let global = "global.example.com";
    assert_placed(
        &server,
        global,
        RecordType::A,
        "1.0.16.0/24",
        "192.0.2.7",
        20,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "5.0.1.0/24",
        "192.0.2.6",
        16,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "5.1.0.0/24",
        "192.0.2.8",
        17,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "5.2.0.0/24",
        "192.0.2.3",
        18,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "5.3.0.0/24",
        "192.0.2.1",
        21,
    );
    assert_placed(
        &server,
        global,
        RecordType::AAAA,
        "2a02:1000::/32",
        "2001:db8::5",
        24,
    );
    // Berlin, then the pin set of api.example.com (Ohio, Frankfurt).
    assert_placed(
        &server,
        "api.example.com",
        RecordType::AAAA,
        "5.2.0.0/24",
        "2001:db8::3",
        18,
    );
}

/// Country layout in an IPv4-only tree, IPv4-mapped ECS included.
#[test]
fn country_layout_in_an_ipv4_tree_places_ipv4_clients() {
    let mut writer = Writer::builder("Test-Country-IPv4")
        .ip_version(IpVersion::V4)
        .build();
    let records = [
        ("1.0.16.0/20", country("JP")),
        ("5.0.0.0/16", country("IN")),
    ];
    let server = serve_database(&mut writer, &records);
    let global = "global.example.com";
    assert_placed(
        &server,
        global,
        RecordType::A,
        "1.0.16.0/24",
        "192.0.2.7",
        20,
    );
    assert_placed(
        &server,
        global,
        RecordType::A,
        "5.0.0.0/24",
        "192.0.2.6",
        16,
    );
    // An IPv4-mapped ECS address counts as IPv4; its scope is counted in
    // the option's own family (RFC 7871 §6: the prefix of the ADDRESS).
    assert_placed(
        &server,
        global,
        RecordType::A,
        "::ffff:1.0.16.0/120",
        "192.0.2.7",
        96 + 20,
    );
}
