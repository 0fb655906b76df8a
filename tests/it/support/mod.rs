//! Shared support for the integration tests: fixtures (a temporary copy of
//! the shipped files, or the small F0 test world), a server started
//! in-process on `127.0.0.1:0`, a small DNS client over UDP and TCP, and
//! helpers to read replies.
//!
//! ```text
//!   Fixture::shipped() / Fixture::f0()  ── edit files ──▶ .start() ──▶ TestServer
//!   query("api.example.com", A).ecs("130.149.1.0/24")  ──▶ server.ask(Udp|Tcp, &q) ──▶ Reply
//! ```
//!
//! - [`Fixture`]: a directory holding `config.toml`, `zones/` and the pin
//!   table; files can be rewritten before (or, for reload tests, after) the
//!   server starts.
//! - [`shipped_server`] and [`f0_server`]: one server per test process for
//!   tests that only read, so the embedded geo database is compiled once.
//! - [`QueryBuilder`]: queries built byte by byte, with or without EDNS and
//!   Client Subnet, raw options included, so that exact bytes can be sent.
//! - [`Reply`]: a reply parsed both by hickory-proto (names, records) and by
//!   a small raw walker (header bits, the OPT record and its options).
//! - [`udp_exchange`], [`udp_no_reply`], [`TcpClient`]: the transports, with
//!   timeouts and retries instead of sleeps.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, Record, RecordType};
use ipnet::IpNet;
use pindns::resolve::Transport;
use pindns::server::{Options, Server, StartError};
use pindns::snapshot::{Loaded, Snapshot};

/// Both transports, for tests that must hold over UDP and TCP alike.
pub(crate) const TRANSPORTS: [Transport; 2] = [Transport::Udp, Transport::Tcp];

/// How long one UDP attempt waits for its reply before sending again.
const UDP_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// How many times a UDP query is sent before the exchange fails.
const UDP_ATTEMPTS: usize = 8;
/// How long a TCP read or write may block.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// Response codes, extended ones included (RFC 1035, RFC 6891).
pub(crate) mod rcode {
    /// No error.
    pub(crate) const NOERROR: u16 = 0;
    /// Format error.
    pub(crate) const FORMERR: u16 = 1;
    /// Server failure.
    pub(crate) const SERVFAIL: u16 = 2;
    /// Name does not exist.
    pub(crate) const NXDOMAIN: u16 = 3;
    /// Not implemented.
    pub(crate) const NOTIMP: u16 = 4;
    /// Refused.
    pub(crate) const REFUSED: u16 = 5;
    /// Bad EDNS version (extended RCODE 16).
    pub(crate) const BADVERS: u16 = 16;
}

/// The repository root (where `config.toml` and `zones/` are shipped).
pub(crate) fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where test directories are created: cargo's per-target temporary folder.
///
/// The directories of shared servers live as long as their test process
/// and are never removed by it; the first call removes those that earlier
/// runs left, once they are an hour old (no test process lives that long).
fn scratch_root() -> &'static Path {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    SWEPT.call_once(|| {
        let Ok(entries) = std::fs::read_dir(root) else {
            return;
        };
        let hour = std::time::Duration::from_secs(3600);
        for entry in entries.flatten() {
            let stale = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > hour));
            if stale
                && entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("pindns-test-")
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    });
    root
}

/// Where a fixture's files live: removed on drop, or kept for the whole
/// process (shared servers).
enum FixtureDir {
    /// Removed when the fixture is dropped.
    Temporary(tempfile::TempDir),
    /// Kept on disk (the directory of a server shared by many tests).
    Kept(PathBuf),
}

/// A directory with a configuration, zones and a pin table.
pub(crate) struct Fixture {
    /// The directory.
    dir: FixtureDir,
}

impl Fixture {
    /// An empty fixture directory.
    pub(crate) fn empty() -> Self {
        std::fs::create_dir_all(scratch_root()).expect("create the scratch directory");
        let dir = tempfile::Builder::new()
            .prefix("pindns-test-")
            .tempdir_in(scratch_root())
            .expect("create a fixture directory");
        Self {
            dir: FixtureDir::Temporary(dir),
        }
    }

    /// A copy of the shipped `config.toml` and `zones/` (pin table included)
    /// with one UDP worker, and `data/` linked, so that paths relative to
    /// the configuration resolve as in the repository.
    pub(crate) fn shipped() -> Self {
        let fixture = Self::empty();
        let config = std::fs::read_to_string(repo_root().join("config.toml"))
            .expect("read the shipped config.toml");
        fixture.write("config.toml", for_tests(&config));
        copy_tree(&repo_root().join("zones"), &fixture.path().join("zones"));
        std::os::unix::fs::symlink(repo_root().join("data"), fixture.path().join("data"))
            .expect("link data/ into the fixture");
        fixture
    }

    /// The F0 test world of the handed cases, mapped onto pindns's schema:
    /// PoPs ams, fra, nrt, iad, gru (gru IPv4 only); documentation networks
    /// placed by geo overrides; the small example.com zone; and the pins
    /// cdn (iad, ams, nrt: iad first, so unplaced clients get iad), eu
    /// (fra), v4only (gru), ded (unhomed 192.0.2.77) and r (ams).
    pub(crate) fn f0() -> Self {
        let fixture = Self::empty();
        fixture.write("config.toml", F0_CONFIG);
        fixture.write("zones/example.com.zone", F0_ZONE);
        fixture.write("pins.toml", F0_PINS);
        fixture
    }

    /// F0 with its pins in a directory `pins.d` of shards: `a.toml` holds
    /// F0's pins, and each `(file, name, pop)` adds a shard pinning
    /// `name.example.com` to `pop`.
    pub(crate) fn f0_sharded(shards: &[(&str, &str, &str)]) -> Self {
        let fixture = Self::f0();
        fixture.edit_config(|config| config.replace("pins = \"pins.toml\"", "pins = \"pins.d\""));
        fixture.write("pins.d/a.toml", F0_PINS);
        for (file, name, pop) in shards {
            fixture.write(&format!("pins.d/{file}"), one_name_shard(name, pop));
        }
        fixture
    }

    /// Keeps the directory for the rest of the process, for a server
    /// shared by several tests through a `static OnceLock<TestServer>`.
    pub(crate) fn keep(self) -> Self {
        match self.dir {
            FixtureDir::Temporary(dir) => Self {
                dir: FixtureDir::Kept(dir.keep()),
            },
            kept @ FixtureDir::Kept(_) => Self { dir: kept },
        }
    }

    /// The fixture directory.
    pub(crate) fn path(&self) -> &Path {
        match &self.dir {
            FixtureDir::Temporary(dir) => dir.path(),
            FixtureDir::Kept(path) => path,
        }
    }

    /// The configuration file.
    pub(crate) fn config_path(&self) -> PathBuf {
        self.path().join("config.toml")
    }

    /// Writes a file (parent folders created) relative to the fixture.
    pub(crate) fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture folders");
        }
        std::fs::write(&path, contents).expect("write a fixture file");
        self
    }

    /// Reads a file relative to the fixture.
    pub(crate) fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path().join(relative)).expect("read a fixture file")
    }

    /// Rewrites the configuration through `edit`.
    pub(crate) fn edit_config(&self, edit: impl FnOnce(&str) -> String) -> &Self {
        let config = self.read("config.toml");
        self.write("config.toml", edit(&config))
    }

    /// Inserts lines right after a table header of the configuration
    /// (e.g. `[geo]` or `[geo.overrides]`), which must be present.
    pub(crate) fn insert_after_header(&self, header: &str, lines: &str) -> &Self {
        self.edit_config(|config| insert_after_header(config, header, lines))
    }

    /// Adds geo overrides (network, TOML value) to the configuration.
    pub(crate) fn add_geo_overrides(&self, overrides: &[(&str, &str)]) -> &Self {
        let lines: String = overrides
            .iter()
            .map(|(network, location)| format!("\"{network}\" = {location}\n"))
            .collect();
        self.insert_after_header("[geo.overrides]", &lines)
    }

    /// Sets a key of the `[geo]` table (TOML value as written).
    pub(crate) fn set_geo(&self, key: &str, value: &str) -> &Self {
        self.insert_after_header("[geo]", &format!("{key} = {value}\n"))
    }

    /// Replaces the pin table the configuration names.
    pub(crate) fn write_pins(&self, pins: &str) -> &Self {
        let relative = pins_path_of(&self.read("config.toml"));
        self.write(&relative, pins)
    }

    /// Loads the fixture exactly as `serve` and `check` do.
    pub(crate) fn load(&self) -> Result<Loaded, Vec<pindns::diagnostics::Diagnostic>> {
        Snapshot::load(&self.config_path())
    }

    /// Loads the fixture, which must be valid.
    pub(crate) fn loaded(&self) -> Loaded {
        match self.load() {
            Ok(loaded) => loaded,
            Err(errors) => panic!(
                "fixture does not load:\n{}",
                pindns::diagnostics::render(&errors)
            ),
        }
    }

    /// The errors of a fixture that must not load, rendered as `check`
    /// prints them.
    pub(crate) fn load_errors(&self) -> String {
        match self.load() {
            Ok(_) => panic!("the fixture must not load"),
            Err(errors) => pindns::diagnostics::render(&errors),
        }
    }

    /// Loads the fixture's snapshot, which must be valid.
    pub(crate) fn snapshot(&self) -> Snapshot {
        match self.load() {
            Ok(loaded) => loaded.snapshot,
            Err(errors) => panic!(
                "fixture does not load:\n{}",
                pindns::diagnostics::render(&errors)
            ),
        }
    }

    /// Starts a server on `127.0.0.1:0`, returning the start-up error.
    pub(crate) fn try_start(&self) -> Result<Server, StartError> {
        let options = Options {
            listen: Some(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, 0))]),
        };
        Server::start(&self.config_path(), &options)
    }

    /// Starts a server on `127.0.0.1:0`; the fixture stays editable
    /// through [`TestServer::fixture`].
    pub(crate) fn start(self) -> TestServer {
        let server = match self.try_start() {
            Ok(server) => server,
            Err(error) => panic!("server does not start:\n{error}"),
        };
        let address = *server
            .addresses()
            .first()
            .expect("the server listens somewhere");
        TestServer {
            server,
            address,
            fixture: self,
        }
    }
}

/// Copies a directory tree (files and folders).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a fixture folder");
    for entry in std::fs::read_dir(from).expect("list a shipped folder") {
        let path = entry.expect("a folder entry").path();
        let target = to.join(path.file_name().expect("a file name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy a shipped file");
        }
    }
}

/// Makes a shipped configuration fit for tests: one UDP worker (the machine
/// is shared), the listen address is overridden at start anyway.
fn for_tests(config: &str) -> String {
    let mut lines: Vec<String> = config.lines().map(str::to_owned).collect();
    for line in &mut lines {
        if line.trim_start().starts_with("udp_workers") {
            *line = "udp_workers = 1".to_owned();
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Inserts `lines` after the line `header` of a TOML text.
pub(crate) fn insert_after_header(config: &str, header: &str, lines: &str) -> String {
    let mut out = String::with_capacity(config.len() + lines.len());
    let mut found = false;
    for line in config.lines() {
        out.push_str(line);
        out.push('\n');
        if !found && line.trim() == header {
            out.push_str(lines);
            if !lines.ends_with('\n') {
                out.push('\n');
            }
            found = true;
        }
    }
    assert!(found, "the configuration has no {header} table");
    out
}

/// The `pins = "..."` path of a configuration text (the default when
/// unset).
fn pins_path_of(config: &str) -> String {
    config
        .lines()
        .map(str::trim)
        .find_map(|line| {
            let rest = line.strip_prefix("pins")?.trim_start().strip_prefix('=')?;
            Some(rest.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "zones/pins.toml".to_owned())
}

/// A server started in-process from a fixture.
pub(crate) struct TestServer {
    /// The running server (dropped, and so stopped, before the fixture).
    server: Server,
    /// Where it serves UDP and TCP.
    address: SocketAddr,
    /// Its files.
    fixture: Fixture,
}

impl TestServer {
    /// Where it serves UDP and TCP (the same port for both).
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// The fixture it was started from.
    pub(crate) fn fixture(&self) -> &Fixture {
        &self.fixture
    }

    /// The running server.
    pub(crate) fn server(&self) -> &Server {
        &self.server
    }

    /// Sends raw query bytes and returns the raw reply.
    pub(crate) fn exchange(&self, transport: Transport, query: &[u8]) -> Vec<u8> {
        match transport {
            Transport::Udp => udp_exchange(self.address, query),
            Transport::Tcp => tcp_exchange(self.address, query),
        }
    }

    /// Sends a query and parses the reply, checking what every reply to a
    /// well-formed query must do: QR set, ID and question echoed byte for
    /// byte.
    pub(crate) fn ask(&self, transport: Transport, query: &QueryBuilder) -> Reply {
        let bytes = query.build();
        let reply = Reply::parse(self.exchange(transport, &bytes));
        assert_echoes(&reply, &bytes);
        reply
    }

    /// [`ask`](Self::ask) over UDP.
    pub(crate) fn ask_udp(&self, query: &QueryBuilder) -> Reply {
        self.ask(Transport::Udp, query)
    }

    /// [`ask`](Self::ask) over TCP.
    pub(crate) fn ask_tcp(&self, query: &QueryBuilder) -> Reply {
        self.ask(Transport::Tcp, query)
    }
}

/// Asserts that a reply is a response to `query`: QR=1, the same ID and
/// the same question bytes.
pub(crate) fn assert_echoes(reply: &Reply, query: &[u8]) {
    assert!(reply.qr(), "reply has QR=0: {reply:?}");
    assert_eq!(
        reply.id(),
        u16::from_be_bytes([query[0], query[1]]),
        "reply ID differs from the query's"
    );
    let question = question_bytes(query).expect("the query has a question");
    assert_eq!(
        reply.question_bytes(),
        question,
        "the question is not echoed byte for byte"
    );
}

/// A server per test process on a copy of the shipped files, for tests
/// that only query.
pub(crate) fn shipped_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| Fixture::shipped().keep().start())
}

/// A server per test process on the F0 fixture, for tests that only query.
pub(crate) fn f0_server() -> &'static TestServer {
    static SERVER: OnceLock<TestServer> = OnceLock::new();
    SERVER.get_or_init(|| Fixture::f0().keep().start())
}

/// F0's configuration: five PoPs and the documentation networks placed by
/// geo overrides at the PoP of their country (NL ams, DE fra, JP nrt, US
/// iad); everything else falls to the embedded database.
pub(crate) const F0_CONFIG: &str = r#"# F0: the small test world of the handed cases.
listen = ["127.0.0.1:0"]
zones_dir = "zones"
pins = "pins.toml"

[server]
udp_workers = 1
reload_debounce_ms = 20

[defaults]
ttl = 60

[geo]

[geo.overrides]
"198.51.100.0/25" = "ams"     # NL
"198.51.100.128/25" = "fra"   # DE
"203.0.113.0/25" = "nrt"      # JP
"203.0.113.128/25" = "iad"    # US
"2001:db8:100::/48" = "fra"   # DE
"2001:db8:200::/48" = "nrt"   # JP

[[pop]]
code = "ams"
name = "Amsterdam, NL"
lat = 52.37
lon = 4.90
ipv4 = ["192.0.2.10"]
ipv6 = ["2001:db8:a::10"]

[[pop]]
code = "fra"
name = "Frankfurt, DE"
lat = 50.11
lon = 8.68
ipv4 = ["192.0.2.20"]
ipv6 = ["2001:db8:b::20"]

[[pop]]
code = "nrt"
name = "Tokyo, JP"
lat = 35.68
lon = 139.69
ipv4 = ["192.0.2.30"]
ipv6 = ["2001:db8:c::30"]

[[pop]]
code = "iad"
name = "Virginia, US"
lat = 38.95
lon = -77.45
ipv4 = ["192.0.2.40"]
ipv6 = ["2001:db8:d::40"]

[[pop]]
code = "gru"
name = "Sao Paulo, BR (IPv4 only)"
lat = -23.43
lon = -46.47
ipv4 = ["192.0.2.50"]
"#;

/// F0's zone: SOA TTL 300 and MINIMUM 60, so negative answers carry TTL 60.
pub(crate) const F0_ZONE: &str = "$ORIGIN example.com.
$TTL 300
@    IN SOA ns1 hostmaster 1 7200 3600 1209600 60
@    IN NS  ns1
ns1  IN A   192.0.2.53
www  IN A   192.0.2.80
";

/// A pin shard pinning `name.example.com` to `pop`.
pub(crate) fn one_name_shard(name: &str, pop: &str) -> String {
    format!("[[reserved_domain]]\ndomain = \"{name}.example.com\"\nips = [\"{pop}\"]\n")
}

/// F0's pin table.
pub(crate) const F0_PINS: &str = r#"# F0 pins; an unplaced client gets the first PoP a domain lists.
[[reserved_domain]]
domain = "cdn.example.com"
ips = ["iad", "ams", "nrt"]

[[reserved_domain]]
domain = "eu.example.com"
ips = ["fra"]

[[reserved_domain]]
domain = "v4only.example.com"
ips = ["gru"]

[[reserved_domain]]
domain = "ded.example.com"
ips = ["192.0.2.77"]

[[reserved_domain]]
domain = "r.example.com"
ips = ["ams"]
"#;

/// The F0 SOA as presentation text, TTL 60 (negative answers).
pub(crate) const F0_NEGATIVE_SOA: &str =
    "example.com. 60 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 60";

/// Message IDs for queries: distinct within a process.
fn next_id() -> u16 {
    static NEXT: OnceLock<AtomicU16> = OnceLock::new();
    NEXT.get_or_init(|| AtomicU16::new((std::process::id() as u16).wrapping_mul(7919)))
        .fetch_add(1, Ordering::Relaxed)
}

/// EDNS parameters of a query (RFC 6891).
#[derive(Debug, Clone)]
pub(crate) struct EdnsParams {
    /// Requester's UDP payload size.
    pub(crate) udp_payload: u16,
    /// EDNS version.
    pub(crate) version: u8,
    /// The DO bit.
    pub(crate) dnssec_ok: bool,
    /// Options as (code, payload), in order.
    pub(crate) options: Vec<(u16, Vec<u8>)>,
}

impl Default for EdnsParams {
    fn default() -> Self {
        Self {
            udp_payload: 1232,
            version: 0,
            dnssec_ok: false,
            options: Vec::new(),
        }
    }
}

/// A query, built byte by byte.
#[derive(Debug, Clone)]
pub(crate) struct QueryBuilder {
    /// Message ID.
    id: u16,
    /// Question name as text; its case is kept.
    name: String,
    /// Question type.
    qtype: u16,
    /// Question class.
    qclass: u16,
    /// Opcode (0 = QUERY).
    opcode: u8,
    /// The RD bit.
    recursion_desired: bool,
    /// The OPT record, if any.
    edns: Option<EdnsParams>,
}

/// A query for `name` (case kept) and `qtype`, class IN, without EDNS.
pub(crate) fn query(name: &str, qtype: RecordType) -> QueryBuilder {
    QueryBuilder {
        id: next_id(),
        name: name.to_owned(),
        qtype: u16::from(qtype),
        qclass: 1,
        opcode: 0,
        recursion_desired: false,
        edns: None,
    }
}

impl QueryBuilder {
    /// Sets the message ID.
    pub(crate) fn id(mut self, id: u16) -> Self {
        self.id = id;
        self
    }

    /// The message ID.
    pub(crate) fn message_id(&self) -> u16 {
        self.id
    }

    /// Sets the question type by number.
    pub(crate) fn qtype(mut self, qtype: u16) -> Self {
        self.qtype = qtype;
        self
    }

    /// Sets the question class by number.
    pub(crate) fn qclass(mut self, qclass: u16) -> Self {
        self.qclass = qclass;
        self
    }

    /// Sets the opcode.
    pub(crate) fn opcode(mut self, opcode: u8) -> Self {
        self.opcode = opcode;
        self
    }

    /// Sets the RD bit.
    pub(crate) fn recursion_desired(mut self, desired: bool) -> Self {
        self.recursion_desired = desired;
        self
    }

    /// Adds an OPT record (payload 1232, version 0) if there is none.
    pub(crate) fn edns(mut self) -> Self {
        self.edns.get_or_insert_with(EdnsParams::default);
        self
    }

    /// Sets the EDNS UDP payload size.
    pub(crate) fn udp_payload(mut self, size: u16) -> Self {
        self.edns
            .get_or_insert_with(EdnsParams::default)
            .udp_payload = size;
        self
    }

    /// Sets the EDNS version.
    pub(crate) fn edns_version(mut self, version: u8) -> Self {
        self.edns.get_or_insert_with(EdnsParams::default).version = version;
        self
    }

    /// Sets the DO bit.
    pub(crate) fn dnssec_ok(mut self) -> Self {
        self.edns.get_or_insert_with(EdnsParams::default).dnssec_ok = true;
        self
    }

    /// Adds an EDNS option with a raw payload.
    pub(crate) fn option(mut self, code: u16, payload: &[u8]) -> Self {
        self.edns
            .get_or_insert_with(EdnsParams::default)
            .options
            .push((code, payload.to_vec()));
        self
    }

    /// Adds a well-formed Client Subnet option for `network` (e.g.
    /// `"130.149.1.0/24"`): the address cut to the prefix, SCOPE 0.
    pub(crate) fn ecs(self, network: &str) -> Self {
        let network: IpNet = network.parse().expect("an address/prefix");
        let payload = ecs_payload(network.network(), network.prefix_len());
        self.option(8, &payload)
    }

    /// Adds a Client Subnet option with a raw payload (FAMILY onwards).
    pub(crate) fn ecs_raw(self, payload: &[u8]) -> Self {
        self.option(8, payload)
    }

    /// The query bytes.
    pub(crate) fn build(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.id.to_be_bytes());
        let mut flags: u16 = u16::from(self.opcode & 0x0F) << 11;
        if self.recursion_desired {
            flags |= 0x0100;
        }
        out.extend_from_slice(&flags.to_be_bytes());
        let additional: u16 = u16::from(self.edns.is_some());
        for count in [1u16, 0, 0, additional] {
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(&encode_name(&self.name));
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
        if let Some(edns) = &self.edns {
            out.push(0); // root owner
            out.extend_from_slice(&41u16.to_be_bytes());
            out.extend_from_slice(&edns.udp_payload.to_be_bytes());
            out.push(0); // extended RCODE
            out.push(edns.version);
            let edns_flags: u16 = if edns.dnssec_ok { 0x8000 } else { 0 };
            out.extend_from_slice(&edns_flags.to_be_bytes());
            let rdata_len: usize = edns
                .options
                .iter()
                .map(|(_, payload)| 4 + payload.len())
                .sum();
            out.extend_from_slice(&(rdata_len as u16).to_be_bytes());
            for (code, payload) in &edns.options {
                out.extend_from_slice(&code.to_be_bytes());
                out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                out.extend_from_slice(payload);
            }
        }
        out
    }
}

/// A Client Subnet payload (RFC 7871 §6) for an address cut to `prefix`
/// bits, SCOPE 0.
pub(crate) fn ecs_payload(address: IpAddr, prefix: u8) -> Vec<u8> {
    let (family, octets): (u16, Vec<u8>) = match address {
        IpAddr::V4(v4) => (1, v4.octets().to_vec()),
        IpAddr::V6(v6) => (2, v6.octets().to_vec()),
    };
    let used = usize::from(prefix).div_ceil(8);
    let mut payload = Vec::with_capacity(4 + used);
    payload.extend_from_slice(&family.to_be_bytes());
    payload.push(prefix);
    payload.push(0);
    payload.extend_from_slice(&octets[..used]);
    if prefix % 8 != 0 {
        if let Some(last) = payload.last_mut() {
            *last &= 0xFFu8 << (8 - prefix % 8);
        }
    }
    payload
}

/// Encodes a presentation name (no escapes) as wire labels, keeping case.
pub(crate) fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() {
            continue;
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

/// The question section of a message (from the end of the header to the
/// end of the first question), if it has one.
pub(crate) fn question_bytes(message: &[u8]) -> Option<&[u8]> {
    if u16::from_be_bytes([*message.get(4)?, *message.get(5)?]) == 0 {
        return None;
    }
    let end = skip_name(message, 12)? + 4;
    message.get(12..end)
}

/// Skips a (possibly compressed) name starting at `at`.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let length = *message.get(at)?;
        match length {
            0 => return Some(at + 1),
            _ if length & 0xC0 == 0xC0 => return Some(at + 2),
            _ if length & 0xC0 != 0 => return None,
            _ => at += 1 + usize::from(length),
        }
    }
}

/// A reply section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// Answer.
    Answer,
    /// Authority.
    Authority,
    /// Additional.
    Additional,
}

/// One resource record as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawRecord {
    /// Its section.
    pub(crate) section: Section,
    /// Offset of its owner name in the message.
    pub(crate) owner_at: usize,
    /// TYPE.
    pub(crate) rtype: u16,
    /// CLASS (the UDP payload size for OPT).
    pub(crate) class: u16,
    /// TTL (extended RCODE, version and flags for OPT).
    pub(crate) ttl: u32,
    /// RDATA.
    pub(crate) rdata: Vec<u8>,
}

/// A message walked section by section without interpreting names.
#[derive(Debug, Clone)]
pub(crate) struct RawMessage {
    /// End of the question section.
    pub(crate) question_end: usize,
    /// Every record, in order.
    pub(crate) records: Vec<RawRecord>,
}

impl RawMessage {
    /// Walks a message; `None` when it is cut short or malformed.
    pub(crate) fn parse(message: &[u8]) -> Option<Self> {
        let count = |at: usize| -> Option<usize> {
            Some(usize::from(u16::from_be_bytes([
                *message.get(at)?,
                *message.get(at + 1)?,
            ])))
        };
        let (questions, answers, authorities, additionals) =
            (count(4)?, count(6)?, count(8)?, count(10)?);
        let mut at = 12;
        for _ in 0..questions {
            at = skip_name(message, at)? + 4;
        }
        if at > message.len() {
            return None;
        }
        let question_end = at;
        let mut records = Vec::new();
        let sections = [
            (Section::Answer, answers),
            (Section::Authority, authorities),
            (Section::Additional, additionals),
        ];
        for (section, number) in sections {
            for _ in 0..number {
                let owner_at = at;
                at = skip_name(message, at)?;
                let fixed = message.get(at..at + 10)?;
                let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
                let class = u16::from_be_bytes([fixed[2], fixed[3]]);
                let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
                let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
                let rdata = message.get(at + 10..at + 10 + length)?.to_vec();
                at += 10 + length;
                records.push(RawRecord {
                    section,
                    owner_at,
                    rtype,
                    class,
                    ttl,
                    rdata,
                });
            }
        }
        (at == message.len()).then_some(Self {
            question_end,
            records,
        })
    }
}

/// A Client Subnet option as a reply carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientSubnetEcho {
    /// FAMILY (1 IPv4, 2 IPv6).
    pub(crate) family: u16,
    /// SOURCE PREFIX-LENGTH.
    pub(crate) source_prefix_len: u8,
    /// SCOPE PREFIX-LENGTH.
    pub(crate) scope_prefix_len: u8,
    /// ADDRESS octets as sent.
    pub(crate) address: Vec<u8>,
}

impl ClientSubnetEcho {
    /// Decodes an option payload, checking ADDRESS holds exactly
    /// ceil(SOURCE / 8) octets.
    pub(crate) fn parse(payload: &[u8]) -> Option<Self> {
        let [high, low, source, scope, address @ ..] = payload else {
            return None;
        };
        let family = u16::from_be_bytes([*high, *low]);
        (address.len() == usize::from(*source).div_ceil(8)).then(|| Self {
            family,
            source_prefix_len: *source,
            scope_prefix_len: *scope,
            address: address.to_vec(),
        })
    }

    /// The address, padded with zero bits.
    pub(crate) fn ip(&self) -> IpAddr {
        if self.family == 1 {
            let mut octets = [0u8; 4];
            octets[..self.address.len().min(4)]
                .copy_from_slice(&self.address[..self.address.len().min(4)]);
            IpAddr::V4(Ipv4Addr::from(octets))
        } else {
            let mut octets = [0u8; 16];
            octets[..self.address.len().min(16)]
                .copy_from_slice(&self.address[..self.address.len().min(16)]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    }

    /// As dig prints it: `ADDRESS/SOURCE/SCOPE`.
    pub(crate) fn to_dig(&self) -> String {
        format!(
            "{}/{}/{}",
            self.ip(),
            self.source_prefix_len,
            self.scope_prefix_len
        )
    }
}

/// A parsed reply.
#[derive(Clone)]
pub(crate) struct Reply {
    /// The bytes as received.
    pub(crate) bytes: Vec<u8>,
    /// hickory-proto's reading of them.
    pub(crate) message: Message,
    /// The raw walk of them.
    pub(crate) raw: RawMessage,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reply {{ rcode: {}, flags: {:#06x}, answers: [",
            self.rcode(),
            self.flags()
        )?;
        for record in &self.message.answers {
            write!(f, "{record}; ")?;
        }
        write!(f, "], authority: [")?;
        for record in &self.message.authorities {
            write!(f, "{record}; ")?;
        }
        write!(f, "], ecs: {:?} }}", self.ecs())
    }
}

impl Reply {
    /// Parses a reply; it must parse both ways.
    pub(crate) fn parse(bytes: Vec<u8>) -> Self {
        let raw = RawMessage::parse(&bytes)
            .unwrap_or_else(|| panic!("reply does not walk as a DNS message: {bytes:02x?}"));
        let message = Message::from_vec(&bytes)
            .unwrap_or_else(|error| panic!("hickory-proto cannot parse the reply: {error}"));
        Self {
            bytes,
            message,
            raw,
        }
    }

    /// Message ID.
    pub(crate) fn id(&self) -> u16 {
        u16::from_be_bytes([self.bytes[0], self.bytes[1]])
    }

    /// Header flags (octets 2 and 3).
    pub(crate) fn flags(&self) -> u16 {
        u16::from_be_bytes([self.bytes[2], self.bytes[3]])
    }

    /// QR: this is a response.
    pub(crate) fn qr(&self) -> bool {
        self.flags() & 0x8000 != 0
    }

    /// Opcode.
    pub(crate) fn opcode(&self) -> u8 {
        ((self.flags() >> 11) & 0x0F) as u8
    }

    /// AA: authoritative answer.
    pub(crate) fn aa(&self) -> bool {
        self.flags() & 0x0400 != 0
    }

    /// TC: truncated.
    pub(crate) fn tc(&self) -> bool {
        self.flags() & 0x0200 != 0
    }

    /// RD, echoed from the query.
    pub(crate) fn rd(&self) -> bool {
        self.flags() & 0x0100 != 0
    }

    /// RA: recursion available.
    pub(crate) fn ra(&self) -> bool {
        self.flags() & 0x0080 != 0
    }

    /// The response code, the OPT record's extended bits included.
    pub(crate) fn rcode(&self) -> u16 {
        let low = self.flags() & 0x000F;
        let high = self.opt().map_or(0, |opt| (opt.ttl >> 24) as u16);
        (high << 4) | low
    }

    /// The question section as received.
    pub(crate) fn question_bytes(&self) -> &[u8] {
        &self.bytes[12..self.raw.question_end]
    }

    /// Records of a section, as wire records.
    pub(crate) fn raw_section(&self, section: Section) -> impl Iterator<Item = &RawRecord> {
        self.raw
            .records
            .iter()
            .filter(move |record| record.section == section)
    }

    /// Answer records.
    pub(crate) fn answers(&self) -> &[Record] {
        &self.message.answers
    }

    /// Authority records.
    pub(crate) fn authorities(&self) -> &[Record] {
        &self.message.authorities
    }

    /// The A and AAAA addresses of the answer section, in order.
    pub(crate) fn addresses(&self) -> Vec<IpAddr> {
        self.answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect()
    }

    /// The answer section as presentation lines.
    pub(crate) fn answer_lines(&self) -> Vec<String> {
        self.answers().iter().map(ToString::to_string).collect()
    }

    /// The authority section as presentation lines.
    pub(crate) fn authority_lines(&self) -> Vec<String> {
        self.authorities().iter().map(ToString::to_string).collect()
    }

    /// The OPT record, if any (there must be at most one).
    pub(crate) fn opt(&self) -> Option<&RawRecord> {
        let mut opts = self
            .raw_section(Section::Additional)
            .filter(|r| r.rtype == 41);
        let first = opts.next();
        assert!(opts.next().is_none(), "the reply holds more than one OPT");
        first
    }

    /// The options of the OPT record, as (code, payload).
    pub(crate) fn options(&self) -> Vec<(u16, Vec<u8>)> {
        let Some(opt) = self.opt() else {
            return Vec::new();
        };
        let mut options = Vec::new();
        let mut rest = opt.rdata.as_slice();
        while let [c0, c1, l0, l1, tail @ ..] = rest {
            let length = usize::from(u16::from_be_bytes([*l0, *l1]));
            let payload = tail.get(..length).expect("an option runs past its OPT");
            options.push((u16::from_be_bytes([*c0, *c1]), payload.to_vec()));
            rest = &tail[length..];
        }
        assert!(rest.is_empty(), "trailing bytes in the OPT record");
        options
    }

    /// The Client Subnet option, if any (there must be at most one, well
    /// formed).
    pub(crate) fn ecs(&self) -> Option<ClientSubnetEcho> {
        let options = self.options();
        let mut subnets = options.iter().filter(|(code, _)| *code == 8);
        let first = subnets.next()?;
        assert!(subnets.next().is_none(), "more than one ECS option");
        Some(
            ClientSubnetEcho::parse(&first.1)
                .unwrap_or_else(|| panic!("malformed ECS option in the reply: {:02x?}", first.1)),
        )
    }

    /// The ECS scope, which must be present.
    pub(crate) fn ecs_scope(&self) -> u8 {
        self.ecs()
            .unwrap_or_else(|| panic!("the reply carries no ECS option: {self:?}"))
            .scope_prefix_len
    }

    /// The SOA of the authority section, which must be the only record
    /// there.
    pub(crate) fn negative_soa(&self) -> &Record {
        let authority = self.authorities();
        assert_eq!(
            authority.len(),
            1,
            "a negative answer holds exactly the SOA in authority: {self:?}"
        );
        assert_eq!(authority[0].record_type(), RecordType::SOA, "{self:?}");
        &authority[0]
    }
}

/// Sends a query over UDP and waits for the reply with its ID, sending
/// again after each timeout.
pub(crate) fn udp_exchange(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let socket = udp_socket(server);
    let id = query.get(..2).map(|id| [id[0], id[1]]);
    let mut buffer = vec![0u8; 65535];
    for _ in 0..UDP_ATTEMPTS {
        socket.send(query).expect("send a UDP query");
        let deadline = Instant::now() + UDP_ATTEMPT_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set a read timeout");
            match socket.recv(&mut buffer) {
                Ok(length) => {
                    let reply = &buffer[..length];
                    if id.is_none() || reply.get(..2) == id.as_ref().map(|id| &id[..]) {
                        return reply.to_vec();
                    }
                }
                Err(error) if is_timeout(&error) => break,
                Err(error) => panic!("UDP receive failed: {error}"),
            }
        }
    }
    panic!("no UDP reply after {UDP_ATTEMPTS} attempts");
}

/// Sends `query` over UDP, then a well-formed probe from the same socket,
/// and returns every datagram received before the probe's reply (plus a
/// short grace period). An empty result means the query got no reply.
pub(crate) fn udp_no_reply(server: SocketAddr, query: &[u8]) -> Vec<Vec<u8>> {
    let socket = udp_socket(server);
    socket.send(query).expect("send a UDP message");
    let probe = self::query("example.com", RecordType::SOA).build();
    let probe_id = [probe[0], probe[1]];
    let mut received = Vec::new();
    let mut buffer = vec![0u8; 65535];
    let mut probe_answered: Option<Instant> = None;
    for _ in 0..UDP_ATTEMPTS {
        if probe_answered.is_none() {
            socket.send(&probe).expect("send the probe");
        }
        let deadline = Instant::now() + UDP_ATTEMPT_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            socket
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set a read timeout");
            match socket.recv(&mut buffer) {
                Ok(_) if buffer[..2] == probe_id && probe_answered.is_none() => {
                    probe_answered = Some(Instant::now());
                }
                Ok(length) => received.push(buffer[..length].to_vec()),
                Err(error) if is_timeout(&error) => break,
                Err(error) => panic!("UDP receive failed: {error}"),
            }
        }
        if probe_answered.is_some() {
            return received;
        }
    }
    panic!("the server did not answer the probe sent after the message");
}

/// A UDP socket connected to `server`.
fn udp_socket(server: SocketAddr) -> UdpSocket {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::LOCALHOST, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::LOCALHOST, 0).into(),
    };
    let socket = UdpSocket::bind(local).expect("bind a UDP client socket");
    socket.connect(server).expect("connect the UDP socket");
    socket
}

/// Whether an I/O error is a read timeout.
fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Sends one query on a new TCP connection and returns the reply.
pub(crate) fn tcp_exchange(server: SocketAddr, query: &[u8]) -> Vec<u8> {
    let mut client = TcpClient::connect(server);
    client.send(query);
    client.receive()
}

/// A TCP connection speaking DNS's two-byte length framing (RFC 1035
/// §4.2.2, RFC 7766).
pub(crate) struct TcpClient {
    /// The connection.
    stream: TcpStream,
}

impl TcpClient {
    /// Connects, with read and write timeouts.
    pub(crate) fn connect(server: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&server, TCP_TIMEOUT).expect("connect over TCP");
        stream
            .set_read_timeout(Some(TCP_TIMEOUT))
            .expect("set a read timeout");
        stream
            .set_write_timeout(Some(TCP_TIMEOUT))
            .expect("set a write timeout");
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Self { stream }
    }

    /// Sends one framed message.
    pub(crate) fn send(&mut self, message: &[u8]) {
        let mut framed = Vec::with_capacity(message.len() + 2);
        framed.extend_from_slice(&(message.len() as u16).to_be_bytes());
        framed.extend_from_slice(message);
        self.send_raw(&framed);
    }

    /// Sends bytes as they are (framing included by the caller).
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .expect("write to the TCP stream");
        self.stream.flush().expect("flush the TCP stream");
    }

    /// Reads one framed message.
    pub(crate) fn receive(&mut self) -> Vec<u8> {
        let mut length = [0u8; 2];
        self.stream
            .read_exact(&mut length)
            .expect("read a TCP length prefix");
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(length))];
        self.stream
            .read_exact(&mut message)
            .expect("read a TCP message");
        message
    }

    /// The underlying stream.
    pub(crate) fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }
}

/// The shipped PoP codes in config order: PoP n (1-based) answers
/// 192.0.2.n and 2001:db8::n.
pub(crate) const SHIPPED_POPS: [&str; 8] = [
    "us-ohio-1",
    "us-cal-1",
    "de-fra-1",
    "sg-sin-1",
    "au-syd-1",
    "in-mum-1",
    "jp-tokyo-1",
    "br-sao-1",
];

/// The shipped IPv4 service address of a PoP code.
pub(crate) fn shipped_ipv4(code: &str) -> IpAddr {
    let n = shipped_index(code) + 1;
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n as u8))
}

/// The shipped IPv6 service address of a PoP code.
pub(crate) fn shipped_ipv6(code: &str) -> IpAddr {
    let n = shipped_index(code) + 1;
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n as u16))
}

/// Index of a shipped PoP code in config order.
pub(crate) fn shipped_index(code: &str) -> usize {
    SHIPPED_POPS
        .iter()
        .position(|pop| *pop == code)
        .unwrap_or_else(|| panic!("'{code}' is not a shipped PoP"))
}

/// Parses an IP address literal.
pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse()
        .unwrap_or_else(|_| panic!("'{text}' is not an IP address"))
}

/// Parses a list of IP address literals.
pub(crate) fn ips(texts: &[&str]) -> Vec<IpAddr> {
    texts.iter().map(|text| ip(text)).collect()
}
