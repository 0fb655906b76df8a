//! Pin table validation: the whole file is checked before anything is
//! served from it, every error is reported with its file and line (not
//! only the first), and `pindns check` runs exactly the loader `serve`
//! runs.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use pindns::server::StartError;

use crate::support::Fixture;

/// The management API's message for an unknown region target.
fn invalid_region_target(value: &str) -> String {
    format!(
        "invalid_region_target: Invalid region target '{value}': must be a valid Point of Presence or Regional Alias."
    )
}

/// The 1-based line of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line holds {needle}"))
        + 1
}

/// A pin file naming `banana` among valid entries.
const BANANA_PINS: &str = r#"# One bad target among good ones.
[[reserved_domain]]
domain = "api.example.com"
ips = [{ value = "us-ohio-1" }, { value = "de-fra-1" }]

[[reserved_domain]]
domain = "fruit.example.com"
ips = [
  { value = "de-fra-1" },
  { value = "banana" },
]
"#;

/// A shipped fixture with `pins` as its pin table, listening on a free
/// port should it ever start.
fn fixture_with_pins(pins: &str) -> Fixture {
    let fixture = Fixture::shipped();
    fixture.edit_config(|config| {
        config
            .lines()
            .map(|line| {
                if line.starts_with("listen") {
                    "listen = [\"127.0.0.1:0\"]".to_owned()
                } else {
                    line.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    });
    fixture.write_pins(pins);
    fixture
}

/// A child process killed when dropped, so that a failing test never
/// leaves a server running.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the `pindns` binary with arguments, waiting at most `limit`.
fn run_pindns(arguments: &[&str], limit: Duration) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_pindns"))
        .args(arguments)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pindns");
    let mut guard = KillOnDrop(Some(child));
    let deadline = Instant::now() + limit;
    loop {
        let child = guard.0.as_mut().expect("the child is held");
        if child.try_wait().expect("poll pindns").is_some() {
            let child = guard.0.take().expect("the child is held");
            return child.wait_with_output().expect("collect pindns output");
        }
        assert!(
            Instant::now() < deadline,
            "pindns {arguments:?} still runs after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `pindns check --config <fixture>`.
fn check(fixture: &Fixture) -> Output {
    let config = fixture.config_path();
    let config = config.to_str().expect("a UTF-8 path");
    run_pindns(&["check", "--config", config], Duration::from_secs(60))
}

/// The pin file's path as diagnostics print it.
fn pins_file(fixture: &Fixture) -> String {
    fixture.path().join("zones/pins.toml").display().to_string()
}

/// `pindns check` accepts the shipped files.
#[test]
fn the_shipped_files_pass_check() {
    let output = check(&Fixture::shipped());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("ok:"), "{stdout}");
}

/// `pindns check` rejects `banana` with file, line and the API's message.
#[test]
fn check_rejects_an_unknown_region_target_with_file_and_line() {
    let fixture = fixture_with_pins(BANANA_PINS);
    let output = check(&fixture);
    assert!(!output.status.success(), "check must fail");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "{}:{}: {}",
        pins_file(&fixture),
        line_of(BANANA_PINS, "banana"),
        invalid_region_target("banana")
    );
    assert!(
        stderr.contains(&expected),
        "expected\n{expected}\nin\n{stderr}"
    );
}

/// `Server::start` and `pindns serve` refuse a table naming `banana`.
#[test]
fn start_up_rejects_an_unknown_region_target() {
    let fixture = fixture_with_pins(BANANA_PINS);
    let expected = format!(
        "{}:{}: {}",
        pins_file(&fixture),
        line_of(BANANA_PINS, "banana"),
        invalid_region_target("banana")
    );
    match fixture.try_start() {
        Ok(_) => panic!("the server must not start on a bad pin table"),
        Err(StartError::Load(errors)) => {
            let rendered = pindns::diagnostics::render(&errors);
            assert!(rendered.contains(&expected), "{rendered}");
        }
        Err(other) => panic!("expected a load error, got {other}"),
    }
    let config = fixture.config_path();
    let config = config.to_str().expect("a UTF-8 path");
    let output = run_pindns(&["serve", "--config", config], Duration::from_secs(30));
    assert!(!output.status.success(), "serve must exit non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&expected),
        "expected\n{expected}\nin\n{stderr}"
    );
}

/// A pin file with one error of every kind, each on its own line.
const MANY_ERRORS: &str = r#"# Every kind of error, and good entries between them.
[[reserved_domain]]
domain = "good.example.com"
ips = ["us-ohio-1"]

[[reserved_domain]]
domain = "fruit.example.com"
ips = [
  "banana",
  { value = "kiwi" },
]

[[reserved_domain]]
domain = "good.example.com"   # duplicate
ips = ["de-fra-1"]

[[reserved_domain]]
domain = "www.example.org"    # outside every zone
ips = ["de-fra-1"]

[[reserved_domain]]
domain = "bad..name.example.com"
ips = ["de-fra-1"]

[[reserved_domain]]
domain = "docs.example.com"   # a CNAME in the zone
ips = ["de-fra-1"]

[[reserved_domain]]
domain = "homed.example.com"
ips = [
  "us-ohio-1",
  "203.0.113.10",             # homed at de-fra-1
]

[[reserved_domain]]
domain = "also-good.example.com"
ips = ["global"]
"#;

/// Every error of a table is reported with its line, not only the first.
#[test]
fn every_error_is_reported_with_its_line() {
    let fixture = fixture_with_pins(MANY_ERRORS);
    let file = pins_file(&fixture);
    let expected: Vec<(usize, String)> = vec![
        (
            line_of(MANY_ERRORS, "\"banana\""),
            invalid_region_target("banana"),
        ),
        (
            line_of(MANY_ERRORS, "\"kiwi\""),
            invalid_region_target("kiwi"),
        ),
        (
            line_of(MANY_ERRORS, "# duplicate"),
            "duplicate domain 'good.example.com'".to_owned(),
        ),
        (
            line_of(MANY_ERRORS, "www.example.org"),
            "outside every served zone".to_owned(),
        ),
        (
            line_of(MANY_ERRORS, "bad..name"),
            "malformed domain 'bad..name.example.com'".to_owned(),
        ),
        (
            line_of(MANY_ERRORS, "docs.example.com"),
            "holds a CNAME".to_owned(),
        ),
        (
            line_of(MANY_ERRORS, "\"203.0.113.10\""),
            "dedicated IP 203.0.113.10 is homed at de-fra-1".to_owned(),
        ),
    ];
    let Err(errors) = fixture.load() else {
        panic!("a table with errors must not load");
    };
    let rendered = pindns::diagnostics::render(&errors);
    assert_eq!(errors.len(), expected.len(), "one error each:\n{rendered}");
    for (line, message) in &expected {
        assert!(
            errors.iter().any(|error| {
                error.file == Path::new(&file)
                    && error.line == Some(*line)
                    && error.message.contains(message.as_str())
            }),
            "no error at {file}:{line} saying {message}:\n{rendered}"
        );
    }
    // `check` prints the same list and exits non-zero.
    let output = check(&fixture);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for (line, message) in &expected {
        let prefix = format!("{file}:{line}: ");
        assert!(
            stderr
                .lines()
                .any(|printed| printed.starts_with(&prefix) && printed.contains(message.as_str())),
            "check does not print {prefix}{message}:\n{stderr}"
        );
    }
    assert!(stderr.contains("7 error(s)"), "{stderr}");
}

/// A pin over zone A/AAAA records is a warning with its line; the table loads.
#[test]
fn a_pin_shadowing_zone_records_is_a_warning_not_an_error() {
    let pins = "[[reserved_domain]]\ndomain = \"www.example.com\"\nips = [\"de-fra-1\"]\n";
    let fixture = fixture_with_pins(pins);
    let output = check(&fixture);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let warning = stdout
        .lines()
        .find(|line| line.starts_with("warning:"))
        .unwrap_or_else(|| panic!("no warning:\n{stdout}"));
    assert!(
        warning.contains(&format!("{}:2:", pins_file(&fixture))),
        "{warning}"
    );
    assert!(warning.contains("shadows"), "{warning}");
}

/// A TOML syntax error is reported with file and line.
#[test]
fn a_toml_syntax_error_is_reported_with_file_and_line() {
    let pins =
        "# unfinished\n[[reserved_domain]]\ndomain = \"x.example.com\"\nips = [\"de-fra-1\"\n";
    let fixture = fixture_with_pins(pins);
    let Err(errors) = fixture.load() else {
        panic!("a syntax error must not load");
    };
    assert!(
        errors
            .iter()
            .any(|error| error.file == Path::new(&pins_file(&fixture)) && error.line.is_some()),
        "{}",
        pindns::diagnostics::render(&errors)
    );
}

/// Asserts that `pins` does not load and that each `(needle, message)`
/// is reported on the line of `pins` holding `needle`, and nothing else.
fn assert_rejected_at(pins: &str, expected: &[(&str, &str)]) {
    let fixture = fixture_with_pins(pins);
    let file = pins_file(&fixture);
    let Err(errors) = fixture.load() else {
        panic!("the table must not load:\n{pins}");
    };
    let rendered = pindns::diagnostics::render(&errors);
    assert_eq!(errors.len(), expected.len(), "one error each:\n{rendered}");
    for (needle, message) in expected {
        let line = line_of(pins, needle);
        assert!(
            errors.iter().any(|error| {
                error.file == Path::new(&file)
                    && error.line == Some(line)
                    && error.message.contains(message)
            }),
            "no error at {file}:{line} saying {message}:\n{rendered}"
        );
    }
}

/// A PoP's own shared address listed among a domain's IPs is that PoP:
/// outside the domain's pinned regions it is refused like any dedicated
/// IP homed there, instead of being answered to every client.
#[test]
fn a_pop_address_listed_as_a_dedicated_ip_is_held_to_the_pinned_regions() {
    let pins = r#"[[reserved_domain]]
domain = "api.example.com"
ips = [
  "us-ohio-1",
  "de-fra-1",
  "192.0.2.7",
  "2001:db8::7",
]
"#;
    assert_rejected_at(
        pins,
        &[
            (
                "\"192.0.2.7\"",
                "dedicated IP 192.0.2.7 is homed at jp-tokyo-1, outside the pinned regions",
            ),
            (
                "\"2001:db8::7\"",
                "dedicated IP 2001:db8::7 is homed at jp-tokyo-1, outside the pinned regions",
            ),
        ],
    );
    // Inside the pinned regions it is accepted, and steered as its PoP.
    let fixture = fixture_with_pins(
        "[[reserved_domain]]\ndomain = \"api.example.com\"\nips = [\"jp-tokyo-1\", \"192.0.2.7\"]\n",
    );
    assert!(fixture.load().is_ok());
}

/// Only unicast addresses that reach a host from anywhere are handed out:
/// unspecified, broadcast, multicast, loopback and link-local addresses
/// are refused, each on its line, and an IPv4-mapped IPv6 address is
/// refused rather than silently answered as IPv4.
#[test]
fn addresses_that_are_not_unicast_are_refused_as_dedicated_ips() {
    let pins = r#"[[reserved_domain]]
domain = "api.example.com"
ips = [
  "0.0.0.0",
  "255.255.255.255",
  "224.0.0.1",
  "127.0.0.1",
  "169.254.1.1",
  "::",
  "ff02::1",
  "::1",
  "fe80::1",
  "::ffff:198.51.100.7",
  "0.1.2.3",
  "240.0.0.1",
  "::1.2.3.4",
  "fec0::1",
  "203.0.113.10",
]
"#;
    assert_rejected_at(
        pins,
        &[
            ("\"0.0.0.0\"", "it is the unspecified address"),
            ("\"255.255.255.255\"", "it is the broadcast address"),
            ("\"224.0.0.1\"", "it is a multicast address"),
            ("\"127.0.0.1\"", "it is a loopback address"),
            ("\"169.254.1.1\"", "it is a link-local address"),
            ("\"::\"", "it is the unspecified address"),
            ("\"ff02::1\"", "it is a multicast address"),
            ("\"::1\"", "it is a loopback address"),
            ("\"fe80::1\"", "it is a link-local address"),
            ("\"::ffff:198.51.100.7\"", "an IPv4-mapped IPv6 address"),
            ("\"0.1.2.3\"", "in 0.0.0.0/8, this network"),
            ("\"240.0.0.1\"", "in 240.0.0.0/4, reserved"),
            ("\"::1.2.3.4\"", "an IPv4-compatible IPv6 address"),
            ("\"fec0::1\"", "a site-local address"),
        ],
    );
}

/// Entries with the same `ips` share one compiled policy; a value that
/// spells another list when its parts are joined (a newline inside it)
/// is still validated on its own, whichever entry comes first.
#[test]
fn an_ips_value_is_validated_whatever_entry_came_before_it() {
    let pins = r#"[[reserved_domain]]
domain = "api.example.com"
ips = ["us-ohio-1", "de-fra-1"]

[[reserved_domain]]
domain = "sneaky.example.com"
ips = ["us-ohio-1\nde-fra-1"]
"#;
    assert_rejected_at(
        pins,
        &[(
            "us-ohio-1\\nde-fra-1",
            // The newline is shown escaped.
            "invalid_region_target: Invalid region target 'us-ohio-1\\nde-fra-1'",
        )],
    );
}

/// A domain may list at most 256 `ips` values: more is refused on the
/// domain's line, before any work proportional to their square.
#[test]
fn a_domain_listing_too_many_ips_values_is_refused() {
    let ips: Vec<String> = (0..300)
        .map(|n| format!("\"198.51.{}.{}\"", n / 200, n % 200 + 1))
        .collect();
    let pins = format!(
        "[[reserved_domain]]\ndomain = \"many.example.com\"\nips = [{}]\n",
        ips.join(", ")
    );
    assert_rejected_at(
        &pins,
        &[(
            "many.example.com",
            "'many.example.com' lists 300 ips values; at most 256 are allowed",
        )],
    );
}

/// `[dedicated_ips]` cannot home a PoP's shared address at another PoP:
/// a domain pinned to the other PoP would be answered with an address
/// that serves from the first.
#[test]
fn a_pop_shared_address_cannot_be_homed_at_another_pop() {
    let fixture = fixture_with_pins(
        "[[reserved_domain]]\ndomain = \"api.example.com\"\nips = [\"us-ohio-1\", \"192.0.2.3\"]\n",
    );
    fixture.insert_after_header("[dedicated_ips]", "\"192.0.2.3\" = \"us-ohio-1\"");
    let errors = fixture.load_errors();
    assert!(
        errors.contains(
            "dedicated IP 192.0.2.3 is a shared address of PoP 'de-fra-1'; it cannot be homed at 'us-ohio-1'"
        ),
        "{errors}"
    );
}
