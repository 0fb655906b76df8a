//! Hostile files and settings: what a loader must refuse, and what must
//! never stop the server or widen a pinned set.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use pindns::server::{Options, Server};

use crate::reload::{failed_reloads_at, wait_for_failed_reloads_at};
use crate::support::{Fixture, ip, query};

/// The F0 answer for r.example.com (pinned to ams).
fn ams() -> std::net::IpAddr {
    ip("192.0.2.10")
}

#[test]
/// A single-file pin table replaced by a directory is rejected: it never
/// becomes an empty shard directory that would hand pinned names to the
/// zone's own records.
fn pin_file_replaced_by_a_directory_keeps_the_table() {
    let fixture = Fixture::f0();
    let zone = fixture.read("zones/example.com.zone");
    fixture.write(
        "zones/example.com.zone",
        format!("{zone}r IN A 192.0.2.30\n"),
    );
    let server = fixture.start();
    let address = server.address();
    let pins = server.fixture().path().join("pins.toml");
    assert_eq!(
        server
            .ask_udp(&query("r.example.com", RecordType::A))
            .addresses(),
        vec![ams()]
    );
    let before = failed_reloads_at(address);
    std::fs::remove_file(&pins).expect("remove the pin file");
    std::fs::create_dir(&pins).expect("a directory in its place");
    wait_for_failed_reloads_at(address, before + 1);
    assert_eq!(
        server
            .ask_udp(&query("r.example.com", RecordType::A))
            .addresses(),
        vec![ams()],
        "the pin must keep winning over the zone's A record"
    );
}

#[test]
/// A FIFO or a device among the zone files is refused before it is
/// opened: the reloader neither blocks nor reads forever.
fn zone_file_that_is_a_fifo_or_a_device_is_refused() {
    let server = Fixture::f0().start();
    let address = server.address();
    let zones = server.fixture().path().join("zones");
    let before = failed_reloads_at(address);
    let status = std::process::Command::new("mkfifo")
        .arg(zones.join("evil.zone"))
        .status()
        .expect("run mkfifo");
    assert!(status.success());
    wait_for_failed_reloads_at(address, before + 1);
    std::fs::remove_file(zones.join("evil.zone")).expect("remove the FIFO");
    std::os::unix::fs::symlink("/dev/zero", zones.join("zero.zone")).expect("link /dev/zero");
    wait_for_failed_reloads_at(address, before + 2);
    std::fs::remove_file(zones.join("zero.zone")).expect("remove the link");
    let generation_before = pindns::net::query_generation(address).expect("generation");
    let zone = std::fs::read_to_string(zones.join("example.com.zone")).expect("read the zone");
    std::fs::write(
        zones.join("example.com.zone"),
        format!("{zone}late IN A 192.0.2.98\n"),
    )
    .expect("edit the zone");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server
        .ask_udp(&query("late.example.com", RecordType::A))
        .addresses()
        != vec![ip("192.0.2.98")]
    {
        assert!(
            Instant::now() < deadline,
            "the reloader no longer reloads ({generation_before})"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The configuration errors of a fixture whose config text was edited.
fn config_errors(edit: impl FnOnce(&str) -> String) -> String {
    let fixture = Fixture::f0();
    fixture.edit_config(edit);
    fixture.load_errors()
}

#[test]
/// Settings that cannot work are errors with a reason, never a panic or a
/// silently useless value.
fn unusable_settings_are_rejected_with_a_reason() {
    let nan = config_errors(|config| {
        format!("{config}\n").replace("[server]", "[server]\ntcp_idle_timeout = nan")
    });
    assert!(nan.contains("tcp_idle_timeout"), "{nan}");
    let ttl = config_errors(|config| config.replace("ttl = 60", "ttl = 4294967295"));
    assert!(ttl.contains("above 2147483647"), "{ttl}");
    let empty = config_errors(|config| format!("{config}\n[aliases]\nnobody = []\n"));
    assert!(empty.contains("alias 'nobody' names no PoP"), "{empty}");
    let nested = config_errors(|config| {
        format!("{config}\n[aliases]\nfirst = [\"ams\"]\nsecond = [\"first\"]\n")
    });
    assert!(nested.contains("names the alias 'first'"), "{nested}");
}

#[test]
/// A geo database whose records give no usable location is refused at
/// start instead of leaving every client unplaced.
fn geo_database_without_locations_is_refused() {
    let fixture = Fixture::f0();
    let database = crate::support::repo_root().join("data/dbip-city-lite-cells.mmdb");
    let mut bytes = std::fs::read(&database).expect("read the embedded database");
    // The data section follows the search tree (2205791 nodes of 6 bytes)
    // and 16 zero bytes; garbage there leaves no record decodable.
    let data_start = 2_205_791 * 6 + 16;
    let metadata_start = bytes
        .windows(14)
        .rposition(|window| window == b"\xab\xcd\xefMaxMind.com")
        .expect("the metadata marker");
    for byte in &mut bytes[data_start..metadata_start] {
        *byte = 0xff;
    }
    fixture.write("broken.mmdb", &bytes);
    fixture.edit_config(|config| {
        format!("{config}\n").replace("[geo]", "[geo]\ndatabase = \"broken.mmdb\"")
    });
    let errors = fixture.load_errors();
    assert!(
        errors.contains("broken.mmdb") && errors.contains("no record gives a location"),
        "{errors}"
    );
}

#[test]
/// `0.0.0.0:P` and `[::]:P` can both be listed: each socket serves its own
/// family only, UDP and TCP alike.
fn ipv4_and_ipv6_wildcards_share_a_port() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    let fixture = Fixture::f0();
    // A port free a moment ago can be taken before the server binds it
    // (other tests open sockets in parallel): try a few.
    let mut attempts = 0;
    let (server, port) = loop {
        attempts += 1;
        let port = UdpSocket::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("address")
            .port();
        let listen: Vec<SocketAddr> = vec![
            format!("0.0.0.0:{port}").parse().expect("address"),
            format!("[::]:{port}").parse().expect("address"),
        ];
        match Server::start(
            &fixture.config_path(),
            &Options {
                listen: Some(listen),
            },
        ) {
            Ok(server) => break (server, port),
            Err(error) if attempts < 5 && error.to_string().contains("in use") => continue,
            Err(error) => panic!("dual-stack listen must start: {error}"),
        }
    };
    for target in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let target: SocketAddr = target.parse().expect("address");
        let reply = crate::support::Reply::parse(crate::support::udp_exchange(
            target,
            &query("r.example.com", RecordType::A).build(),
        ));
        assert_eq!(reply.addresses(), vec![ams()], "UDP to {target}");
        let reply = crate::support::Reply::parse(crate::support::tcp_exchange(
            target,
            &query("r.example.com", RecordType::A).build(),
        ));
        assert_eq!(reply.addresses(), vec![ams()], "TCP to {target}");
    }
    server.stop();
}

#[test]
/// A CNAME loop inside the zone is answered with each CNAME once, not
/// followed until the chain limit.
fn cname_loops_are_answered_once() {
    let fixture = Fixture::f0();
    let zone = fixture.read("zones/example.com.zone");
    fixture.write(
        "zones/example.com.zone",
        format!("{zone}loopa IN CNAME loopb\nloopb IN CNAME loopa\nself IN CNAME self\n"),
    );
    let server = fixture.start();
    let reply = server.ask_udp(&query("loopa.example.com", RecordType::A));
    assert_eq!(reply.answers().len(), 2, "{:?}", reply.answer_lines());
    let reply = server.ask_udp(&query("self.example.com", RecordType::A));
    assert_eq!(reply.answers().len(), 1, "{:?}", reply.answer_lines());
}

#[test]
/// A large RRset is truncated over UDP without building it whole, and
/// carried in full over TCP.
fn large_rrsets_truncate_over_udp_and_fit_over_tcp() {
    let fixture = Fixture::f0();
    let zone = fixture.read("zones/example.com.zone");
    let records: String = (0..3000)
        .map(|n| format!("many IN A 10.{}.{}.{}\n", n / 65536, n / 256 % 256, n % 256))
        .collect();
    fixture.write("zones/example.com.zone", format!("{zone}{records}"));
    let server = fixture.start();
    let bytes = server.exchange(
        pindns::resolve::Transport::Udp,
        &query("many.example.com", RecordType::A).edns().build(),
    );
    let reply = crate::support::Reply::parse(bytes.clone());
    assert!(reply.tc(), "UDP must be truncated");
    assert!(bytes.len() <= 1232, "{} bytes over UDP", bytes.len());
    let reply = server.ask_tcp(&query("many.example.com", RecordType::A));
    assert!(!reply.tc());
    assert_eq!(reply.answers().len(), 3000);
}

#[test]
/// C06 on the steered path: a reserved name whose dedicated addresses
/// (written into replies as records encoded at load) do not fit a UDP
/// reply is truncated, with TC set, no answer counted and the question
/// kept; over TCP every address comes.
fn steered_answers_too_large_for_udp_are_truncated_and_complete_over_tcp() {
    let fixture = Fixture::f0();
    let pins = fixture.read("pins.toml");
    let addresses: Vec<String> = (1..=40)
        .map(|n| format!("\"2001:db8:ff::{n:x}\""))
        .collect();
    fixture.write(
        "pins.toml",
        format!(
            "{pins}\n[[reserved_domain]]\ndomain = \"wide.example.com\"\nips = [{}]\n",
            addresses.join(", ")
        ),
    );
    let server = fixture.start();
    let asked = query("wide.example.com", RecordType::AAAA);
    let bytes = server.exchange(pindns::resolve::Transport::Udp, &asked.build());
    assert!(
        bytes.len() <= 512,
        "{} bytes over UDP without EDNS",
        bytes.len()
    );
    let reply = crate::support::Reply::parse(bytes.clone());
    assert!(reply.tc(), "UDP must be truncated");
    assert!(reply.answers().is_empty(), "{:?}", reply.answer_lines());
    assert_eq!(&bytes[6..8], &[0, 0], "no answer counted");
    let fits = server.exchange(
        pindns::resolve::Transport::Udp,
        &query("wide.example.com", RecordType::AAAA).edns().build(),
    );
    let reply = crate::support::Reply::parse(fits);
    assert!(!reply.tc(), "40 AAAA records fit 1232 bytes");
    assert_eq!(reply.answers().len(), 40);
    let reply = server.ask_tcp(&query("wide.example.com", RecordType::AAAA));
    assert!(!reply.tc());
    let mut answered: Vec<String> = reply.addresses().iter().map(ToString::to_string).collect();
    answered.sort();
    let mut expected: Vec<String> = (1..=40).map(|n| format!("2001:db8:ff::{n:x}")).collect();
    expected.sort();
    assert_eq!(answered, expected);
}

#[test]
/// The zones directory deleted and made again is watched again: later
/// edits in it are still seen.
fn recreated_zones_directory_is_watched_again() {
    let server = Fixture::f0().start();
    let root = server.fixture().path().to_path_buf();
    let zones = root.join("zones");
    let zone = std::fs::read_to_string(zones.join("example.com.zone")).expect("read the zone");
    std::fs::remove_dir_all(&zones).expect("delete the zones directory");
    std::thread::sleep(Duration::from_millis(100));
    std::fs::create_dir(&zones).expect("make it again");
    std::fs::write(zones.join("example.com.zone"), &zone).expect("restore the zone");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(
        zones.join("example.com.zone"),
        format!("{zone}again IN A 192.0.2.97\n"),
    )
    .expect("edit the zone");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server
        .ask_udp(&query("again.example.com", RecordType::A))
        .addresses()
        != vec![ip("192.0.2.97")]
    {
        assert!(
            Instant::now() < deadline,
            "an edit in the recreated directory was never seen"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
/// A wildcard pin may not cover a CNAME (a name would answer both as an
/// alias and with addresses, RFC 2181 §10.1), and no pin may sit at or
/// below a delegation, where the child zone's servers answer.
fn wildcard_pins_over_cnames_and_pins_below_delegations_are_rejected() {
    let fixture = Fixture::f0();
    let zone = fixture.read("zones/example.com.zone");
    fixture.write(
        "zones/example.com.zone",
        format!("{zone}alias.w IN CNAME www\nchild IN NS ns.child\nns.child IN A 192.0.2.54\n"),
    );
    fixture.write_pins(
        "[[reserved_domain]]\ndomain = \"*.w.example.com\"\nips = [\"ams\"]\n\n[[reserved_domain]]\ndomain = \"x.child.example.com\"\nips = [\"ams\"]\n",
    );
    let errors = fixture.load_errors();
    assert!(
        errors.contains(
            ":2: domain '*.w.example.com' covers alias.w.example.com., which holds a CNAME"
        ),
        "{errors}"
    );
    assert!(
        errors.contains(":6: domain 'x.child.example.com' is at or below a delegation"),
        "{errors}"
    );
}

/// Hidden names in the pin directory and the zones directory are other
/// programs' files, not data: an editor's lock file (a dangling symlink
/// `.#a.toml`) neither stops a start nor a check, and a writer's hidden
/// temporary file is not served before its rename.
#[test]
fn hidden_files_in_the_data_directories_are_not_read() {
    let fixture = Fixture::f0_sharded(&[(".hidden.toml", "hidden", "nrt")]);
    for dir in ["pins.d", "zones"] {
        let lock = fixture.path().join(dir).join(match dir {
            "zones" => ".#example.com.zone",
            _ => ".#a.toml",
        });
        std::os::unix::fs::symlink("root@host.12345:1700000000", &lock)
            .expect("make a dangling symlink");
    }
    let loaded = fixture.loaded();
    assert_eq!(
        loaded.snapshot.pins.len(),
        crate::support::F0_PINS
            .matches("[[reserved_domain]]")
            .count()
    );
    let server = fixture.start();
    let reply = server.ask_udp(&query("hidden.example.com", RecordType::A));
    assert_eq!(reply.rcode(), crate::support::rcode::NXDOMAIN, "{reply:?}");
}

/// A pin or zone file that is not UTF-8 is refused with the line and
/// column (in characters) of the first byte that is not, like every
/// other error.
#[test]
fn a_file_that_is_not_utf8_is_refused_at_its_line() {
    for (relative, text, (line, column, byte)) in [
        (
            "pins.toml",
            &b"# pins\n[[reserved_domain]]\ndomain = \"caf\xe9.example.com\"\nips = [\"fra\"]\n"[..],
            (3, 14, "0xe9"),
        ),
        (
            "pins.toml",
            // Three two-byte characters before the bad byte.
            &b"# pins\n[[reserved_domain]]\ndomain = \"\xc3\xa9\xc3\xa9\xc3\xa9\xff.example.com\"\n"[..],
            (3, 14, "0xff"),
        ),
        (
            "zones/example.com.zone",
            &b"$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\nt IN TXT \"\xff\"\n"[..],
            (6, 11, "0xff"),
        ),
    ] {
        let fixture = Fixture::f0();
        fixture.write(relative, text);
        let Err(errors) = fixture.load() else {
            panic!("{relative} must not load");
        };
        let rendered = pindns::diagnostics::render(&errors);
        let expected = format!(
            "{}:{line}: not UTF-8 text: byte {byte} at column {column}",
            fixture.path().join(relative).display()
        );
        assert!(rendered.contains(&expected), "{expected} not in:\n{rendered}");
    }
}

#[test]
/// A wildcard pin covers the names of a zone served below it too (its
/// A/AAAA come from the pin), so a CNAME there is refused as in the
/// pin's own zone; names at or below a delegation inside the wildcard
/// are the child's and neither refused nor reported as shadowed.
fn a_wildcard_pin_over_a_served_child_zone_holding_a_cname_is_rejected() {
    let fixture = Fixture::f0();
    let zone = fixture.read("zones/example.com.zone");
    fixture.write(
        "zones/example.com.zone",
        format!("{zone}sub.w IN NS ns.sub.w\nns.sub.w IN A 192.0.2.54\n"),
    );
    fixture.write(
        "zones/z.w.example.com.zone",
        "$ORIGIN z.w.example.com.\n$TTL 300\n@ IN SOA ns1.example.com. hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1.example.com.\ncn IN CNAME leak.example.net.\n",
    );
    fixture.write_pins("[[reserved_domain]]\ndomain = \"*.w.example.com\"\nips = [\"ams\"]\n");
    let errors = fixture.load_errors();
    assert!(
        errors.contains(
            ":2: domain '*.w.example.com' covers cn.z.w.example.com., which holds a CNAME in zone"
        ),
        "{errors}"
    );
    assert_eq!(errors.lines().count(), 1, "{errors}");
    // Without the CNAME the table loads, and the glue below the cut is
    // not reported as shadowed.
    fixture.write(
        "zones/z.w.example.com.zone",
        "$ORIGIN z.w.example.com.\n$TTL 300\n@ IN SOA ns1.example.com. hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1.example.com.\n",
    );
    let loaded = fixture.loaded();
    let warnings = pindns::diagnostics::render(&loaded.warnings);
    assert!(!warnings.contains("ns.sub.w"), "{warnings}");
}

/// The errors of F0 with this pin table, which must not load.
fn pin_errors(pins: &str) -> Vec<pindns::diagnostics::Diagnostic> {
    let fixture = Fixture::f0();
    fixture.write("pins.toml", pins);
    let Err(errors) = fixture.load() else {
        panic!("the pins must not load:\n{pins}");
    };
    errors
}

/// A value quoted in an error keeps its control characters as escapes:
/// a pin file cannot forge a log line (a line feed followed by a fake
/// entry) or send terminal controls through a message.
#[test]
fn control_characters_quoted_in_errors_are_escaped() {
    let errors = pin_errors(
        "[[reserved_domain]]\ndomain = \"evil.example.com\\n2026-12-04T21:31:00Z  INFO published\"\nips = [\"fra\"]\n\n[[reserved_domain]]\ndomain = \"ok.example.com\"\nips = [\"\\u001b]0;pwned\\u0007\\u202e\\r\"]\n",
    );
    let rendered = pindns::diagnostics::render(&errors);
    assert_eq!(rendered.lines().count(), errors.len(), "{rendered}");
    assert!(rendered.contains("evil.example.com\\n2026"), "{rendered}");
    assert!(
        rendered.contains("\\u{1b}]0;pwned\\u{7}\\u{202e}\\r"),
        "{rendered}"
    );
    assert!(
        !rendered.chars().any(|c| c.is_control() && c != '\n'),
        "{rendered:?}"
    );
}

/// TOML reports a key of more dotted parts than it nests (80) without a
/// position; the error still names its line.
#[test]
fn a_key_nested_deeper_than_toml_allows_is_refused_at_its_line() {
    let deep = format!("x{} = 1", ".x".repeat(80));
    let errors = pin_errors(&format!(
        "# pins\n[[reserved_domain]]\ndomain = \"a.example.com\"\n{deep}\n"
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(4), "{errors:?}");
}

/// An `ips` object holds `value` and nothing else: another key is an
/// error at its line naming the key, as it is in a `[[reserved_domain]]`
/// table.
#[test]
fn an_ips_object_with_another_key_is_refused_at_its_line() {
    let errors = pin_errors(
        "[[reserved_domain]]\ndomain = \"a.example.com\"\nips = [{ value = \"global\", weight = 1 }]\n",
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(3), "{errors:?}");
    assert!(
        errors[0].message.contains("unknown field `weight`"),
        "{errors:?}"
    );
}
