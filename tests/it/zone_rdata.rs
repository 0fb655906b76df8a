//! Zone records that would go out malformed are rejected when the zone is
//! loaded, with their line, instead of being served.

use std::path::Path;

use crate::wire_client::*;

#[test]
fn txt_record_without_strings_is_rejected_with_its_line() {
    // Found by the zone fuzz target: `@ IN TXT` with nothing after it was
    // loaded as a TXT record with empty RDATA and served as a record that
    // resolvers cannot decode (RFC 1035 §3.3.14: one or more strings).
    let text = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ IN NS ns1\n@ IN TXT\nns1 IN A 192.0.2.53\n";
    let errors = pindns::zones::parse_zone(Path::new("example.com.zone"), text)
        .expect_err("an empty TXT is an error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].line, Some(5));
    assert!(
        errors[0].message.contains("TXT record has no data"),
        "{errors:?}"
    );
    // A TXT holding one empty string is data, and is served.
    let with_empty_string = text.replace("@ IN TXT\n", "@ IN TXT \"\"\n");
    let zone = pindns::zones::parse_zone(Path::new("example.com.zone"), &with_empty_string)
        .expect("an empty string is a TXT record");
    assert_eq!(zone.record_count(), 4);
}

#[test]
fn server_refuses_to_start_on_a_zone_with_an_empty_txt_record() {
    let files = tempfile::tempdir().expect("temporary directory");
    let root = files.path();
    std::fs::copy(repo_root().join("config.toml"), root.join("config.toml")).expect("copy config");
    std::fs::create_dir(root.join("zones")).expect("zones directory");
    std::fs::copy(
        repo_root().join("zones/pins.toml"),
        root.join("zones/pins.toml"),
    )
    .expect("copy pins");
    let zone = std::fs::read_to_string(repo_root().join("zones/example.com.zone")).expect("zone");
    std::fs::write(root.join("zones/example.com.zone"), zone + "empty IN TXT\n").expect("zone");
    let options = pindns::server::Options {
        listen: Some(vec!["127.0.0.1:0".parse().expect("address")]),
    };
    match pindns::server::Server::start(&root.join("config.toml"), &options) {
        Err(pindns::server::StartError::Load(errors)) => {
            assert!(
                errors
                    .iter()
                    .any(|error| error.message.contains("TXT record has no data")),
                "{errors:?}"
            );
        }
        Err(other) => panic!("unexpected start error: {other}"),
        Ok(_) => panic!("served a zone with an empty TXT record"),
    }
}
