//! Property tests of the query function (SPEC invariants 1–4), called
//! directly on snapshots built from random pin tables, with random client
//! addresses, random EDNS and Client Subnet options and random name case:
//!
//! 1. every A/AAAA answered for a reserved domain is in its allowed set;
//! 2. the same table and client give the same bytes, and every client under
//!    an answer's ECS scope gets the same answer;
//! 3. ECS is echoed (family, source prefix, address) only when sent, and its
//!    scope follows the rules: 0 when the answer cannot vary, else the
//!    deciding network's prefix, never covering an override that answers
//!    otherwise;
//! 4. every reply parses, and echoes the ID and the question.
//!
//! Tables are written as `pins.toml` into a temporary directory and loaded
//! with the loader `serve` uses (`Snapshot::with_config`, sharing the
//! configuration and the compiled geo database, as a reload does).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use hickory_proto::rr::RecordType;
use ipnet::IpNet;
use pindns::config::Config;
use pindns::geo::Geo;
use pindns::resolve::{self, Transport};
use pindns::snapshot::Snapshot;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use crate::support::{
    Fixture, Reply, SHIPPED_POPS, assert_echoes, ecs_payload, query, rcode, repo_root,
    shipped_ipv4, shipped_ipv6,
};

/// Random tables per property: enough to cover the target kinds, small
/// enough for the whole suite to stay quick on a debug build.
const CASES: u32 = 48;

/// Geo overrides added to the shipped configuration, so that scopes meet
/// nested networks: a /24 inside the database's Berlin /16, a /25 inside
/// a /24, and an IPv6 /64 inside Deutsche Telekom's block.
const OVERRIDES: [(&str, &str); 4] = [
    ("130.149.1.0/24", "\"br-sao-1\""),
    ("198.51.100.0/24", "\"jp-tokyo-1\""),
    ("198.51.100.128/25", "{ lat = -33.87, lon = 151.21 }"),
    ("2003:0:0:1::/64", "\"in-mum-1\""),
];

/// Region aliases of the shipped configuration, as PoP indices in order.
const ALIASES: [(&str, &[usize]); 3] = [
    ("global", &[0, 1, 2, 3, 4, 5, 6, 7]),
    ("european_union", &[2]),
    ("united_states", &[0, 1]),
];

/// Dedicated IPs of the shipped configuration with their home PoP index.
const HOMED: [(&str, usize); 3] = [
    ("203.0.113.10", 2),
    ("203.0.113.20", 0),
    ("203.0.113.21", 2),
];

/// Dedicated IPs no PoP is home to.
const UNHOMED: [&str; 4] = [
    "198.51.100.5",
    "198.51.100.6",
    "2001:db8:ff::10",
    "2001:db8:ff::11",
];

/// The configuration and geo data every table is loaded against.
struct Base {
    /// The fixture holding config.toml and zones/ (kept for the process).
    fixture: Fixture,
    /// The loaded configuration.
    config: Arc<Config>,
    /// The compiled geo data.
    geo: Arc<Geo>,
}

/// Loads the base once per process.
fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let fixture = Fixture::shipped().keep();
        fixture.add_geo_overrides(&OVERRIDES);
        let snapshot = fixture.snapshot();
        Base {
            config: snapshot.config.clone(),
            geo: snapshot.geo.clone(),
            fixture,
        }
    })
}

/// The embedded database's bytes, for an independent reader.
fn embedded_database() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        std::fs::read(repo_root().join("data/dbip-city-lite-cells.mmdb"))
            .expect("read the embedded database")
    })
}

/// One `ips` value.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// A PoP, by index in config order.
    Pop(usize),
    /// A region alias, by index in [`ALIASES`].
    Alias(usize),
    /// A dedicated IP address.
    Dedicated(IpAddr),
}

impl Target {
    /// The value as written in the pin file.
    fn value(&self) -> String {
        match self {
            Self::Pop(index) => SHIPPED_POPS[*index].to_owned(),
            Self::Alias(index) => ALIASES[*index].0.to_owned(),
            Self::Dedicated(address) => address.to_string(),
        }
    }

    /// The PoPs a region target stands for, in order.
    fn pops(&self) -> Vec<usize> {
        match self {
            Self::Pop(index) => vec![*index],
            Self::Alias(index) => ALIASES[*index].1.to_vec(),
            Self::Dedicated(_) => Vec::new(),
        }
    }
}

/// Which name an entry reserves.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// `dN.example.com`.
    Exact,
    /// `*.wN.example.com`.
    Wildcard,
    /// `n.wN.example.com`: an exact name under a possible wildcard.
    UnderWildcard,
}

/// One reserved domain.
#[derive(Debug, Clone)]
struct Entry {
    /// The name kind; with the entry's index it gives the name.
    kind: Kind,
    /// The `ips` values (`None`: no `ips` key), each with its written form
    /// (`true`: `{ value = … }`).
    ips: Option<Vec<(Target, bool)>>,
    /// The domain's TTL, if set.
    ttl: Option<u32>,
}

/// A random pin table: entries numbered by position.
#[derive(Debug, Clone)]
struct Table {
    /// The entries.
    entries: Vec<Entry>,
}

impl Entry {
    /// The reserved name (lower case, no trailing dot); wildcards with `*.`.
    fn domain(&self, index: usize) -> String {
        match self.kind {
            Kind::Exact => format!("d{index}.example.com"),
            Kind::Wildcard => format!("*.w{index}.example.com"),
            Kind::UnderWildcard => format!("n.w{index}.example.com"),
        }
    }

    /// The targets as listed (empty when absent).
    fn targets(&self) -> Vec<Target> {
        self.ips
            .iter()
            .flatten()
            .map(|(target, _)| target.clone())
            .collect()
    }

    /// The allowed PoPs in listing order: regions expanded, global when
    /// nothing is listed; `None` when only dedicated IPs are.
    fn regions(&self) -> Option<Vec<usize>> {
        let targets = self.targets();
        let mut listed = Vec::new();
        for target in &targets {
            for pop in target.pops() {
                if !listed.contains(&pop) {
                    listed.push(pop);
                }
            }
        }
        let has_region = targets
            .iter()
            .any(|target| !matches!(target, Target::Dedicated(_)));
        if has_region {
            Some(listed)
        } else if targets.is_empty() {
            Some((0..SHIPPED_POPS.len()).collect())
        } else {
            None
        }
    }

    /// Drops homed dedicated IPs whose home is outside the regions, which
    /// the loader rightly rejects; the table stays valid.
    fn make_valid(&mut self) {
        let Some(regions) = self.regions() else {
            return;
        };
        if let Some(ips) = &mut self.ips {
            ips.retain(|(target, _)| match target {
                Target::Dedicated(address) => {
                    home_of(*address).is_none_or(|home| regions.contains(&home))
                }
                _ => true,
            });
        }
    }

    /// What A (`ipv6` false) or AAAA answers may hold, and from how many
    /// distinct choices the answer is picked.
    fn allowed(&self, ipv6: bool) -> (BTreeSet<IpAddr>, usize) {
        let family = |address: &IpAddr| address.is_ipv6() == ipv6;
        let dedicated: Vec<IpAddr> = self
            .targets()
            .iter()
            .filter_map(|target| match target {
                Target::Dedicated(address) => Some(*address),
                _ => None,
            })
            .collect();
        let own: Vec<IpAddr> = dedicated.iter().copied().filter(family).collect();
        if !own.is_empty() {
            let homes: BTreeSet<usize> =
                own.iter().filter_map(|address| home_of(*address)).collect();
            return (own.into_iter().collect(), homes.len());
        }
        if !dedicated.is_empty() {
            // Dedicated IPs of the other family only: never shared ones.
            return (BTreeSet::new(), 0);
        }
        let regions = self.regions().unwrap_or_default();
        let addresses = regions
            .iter()
            .map(|&pop| {
                let code = SHIPPED_POPS[pop];
                if ipv6 {
                    shipped_ipv6(code)
                } else {
                    shipped_ipv4(code)
                }
            })
            .collect();
        (addresses, regions.len())
    }
}

impl Table {
    /// The pin file text.
    fn to_toml(&self) -> String {
        let mut text = String::from("# generated\n");
        for (index, entry) in self.entries.iter().enumerate() {
            let _ = writeln!(text, "\n[[reserved_domain]]");
            let _ = writeln!(text, "domain = \"{}\"", entry.domain(index));
            if let Some(ips) = &entry.ips {
                let values: Vec<String> = ips
                    .iter()
                    .map(|(target, object)| {
                        if *object {
                            format!("{{ value = \"{}\" }}", target.value())
                        } else {
                            format!("\"{}\"", target.value())
                        }
                    })
                    .collect();
                let _ = writeln!(text, "ips = [{}]", values.join(", "));
            }
            if let Some(ttl) = entry.ttl {
                let _ = writeln!(text, "ttl = {ttl}");
            }
        }
        text
    }

    /// The entry governing a lower-case name: the exact name, else the
    /// longest wildcard suffix.
    fn governing(&self, name: &str) -> Option<&Entry> {
        let domain = |entry: &Entry, index| entry.domain(index);
        let exact =
            self.entries.iter().enumerate().find(|(index, entry)| {
                entry.kind != Kind::Wildcard && domain(entry, *index) == name
            });
        if let Some((_, entry)) = exact {
            return Some(entry);
        }
        let mut rest = name;
        while let Some((_, suffix)) = rest.split_once('.') {
            let wildcard = format!("*.{suffix}");
            let found = self.entries.iter().enumerate().find(|(index, entry)| {
                entry.kind == Kind::Wildcard && domain(entry, *index) == wildcard
            });
            if let Some((_, entry)) = found {
                return Some(entry);
            }
            rest = suffix;
        }
        None
    }

    /// Writes the table into a temporary directory and loads it against
    /// the base configuration, as `serve` and a reload do.
    fn load(&self) -> (tempfile::TempDir, Snapshot) {
        let base = base();
        let dir = tempfile::Builder::new()
            .prefix("pindns-pins-")
            .tempdir_in(base.fixture.path())
            .expect("a directory for the table");
        let path = dir.path().join("pins.toml");
        std::fs::write(&path, self.to_toml()).expect("write pins.toml");
        let mut config = (*base.config).clone();
        config.pins = path;
        match Snapshot::with_config(Arc::new(config), base.geo.clone(), 1) {
            Ok(loaded) => (dir, loaded.snapshot),
            Err(errors) => panic!(
                "a valid table must load:\n{}\n{}",
                self.to_toml(),
                pindns::diagnostics::render(&errors)
            ),
        }
    }
}

/// The home PoP of a dedicated IP, if any.
fn home_of(address: IpAddr) -> Option<usize> {
    HOMED
        .iter()
        .find(|(text, _)| text.parse::<IpAddr>().ok() == Some(address))
        .map(|(_, home)| *home)
}

/// A random `ips` value.
fn target() -> impl Strategy<Value = Target> {
    let dedicated: Vec<IpAddr> = HOMED
        .iter()
        .map(|(text, _)| *text)
        .chain(UNHOMED)
        .map(|text| text.parse().expect("an address"))
        .collect();
    prop_oneof![
        4 => (0..SHIPPED_POPS.len()).prop_map(Target::Pop),
        2 => (0..ALIASES.len()).prop_map(Target::Alias),
        2 => proptest::sample::select(dedicated).prop_map(Target::Dedicated),
    ]
}

/// A random entry.
fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        3 => Just(Kind::Exact),
        2 => Just(Kind::Wildcard),
        1 => Just(Kind::UnderWildcard),
    ];
    let ips = proptest::option::weighted(
        0.9,
        proptest::collection::vec((target(), any::<bool>()), 0..5),
    );
    let ttl = proptest::option::of(1u32..86_400);
    (kind, ips, ttl).prop_map(|(kind, ips, ttl)| {
        let mut entry = Entry { kind, ips, ttl };
        entry.make_valid();
        entry
    })
}

/// A random table of 1–6 entries.
fn table() -> impl Strategy<Value = Table> {
    proptest::collection::vec(entry(), 1..7).prop_map(|entries| Table { entries })
}

/// A random client address, weighted towards networks that matter: the
/// overrides and the database networks around them, loopback, IPv4-mapped.
fn client_address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        3 => any::<u32>().prop_map(|bits| IpAddr::V4(Ipv4Addr::from(bits))),
        2 => any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from(bits))),
        2 => any::<u16>().prop_map(|low| IpAddr::V4(Ipv4Addr::from(0x8295_0000 | u32::from(low)))),
        2 => any::<u8>().prop_map(|low| IpAddr::V4(Ipv4Addr::new(198, 51, 100, low))),
        2 => any::<u128>().prop_map(|bits| IpAddr::V6(Ipv6Addr::from((0x2003u128 << 112) | (bits >> 60)))),
        1 => Just(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        1 => Just(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        1 => any::<u32>().prop_map(|bits| IpAddr::V6(Ipv4Addr::from(bits).to_ipv6_mapped())),
    ]
}

/// How a query carries EDNS.
#[derive(Debug, Clone)]
enum EdnsChoice {
    /// No OPT record.
    Without,
    /// OPT without Client Subnet.
    Plain,
    /// OPT with a valid Client Subnet for this address cut to this prefix.
    Subnet(IpAddr, u8),
}

/// A random EDNS choice, mostly with Client Subnet.
fn edns_choice() -> impl Strategy<Value = EdnsChoice> {
    let subnet = (client_address(), any::<u8>()).prop_map(|(address, prefix)| {
        let limit = if address.is_ipv4() { 33 } else { 129 };
        // Mostly specific prefixes, sometimes /0.
        let prefix = if prefix < 16 { 0 } else { prefix % limit };
        EdnsChoice::Subnet(truncate(address, prefix), prefix)
    });
    prop_oneof![
        1 => Just(EdnsChoice::Without),
        1 => Just(EdnsChoice::Plain),
        6 => subnet,
    ]
}

/// One random query against a table.
#[derive(Debug, Clone)]
struct Probe {
    /// Which entry to ask for (index modulo the table's length).
    entry: usize,
    /// A label put before a wildcard's suffix (one or two labels).
    labels: Vec<String>,
    /// The query type.
    qtype: RecordType,
    /// A mask of letters to upper-case (0x20).
    case_mask: u64,
    /// The packet's source address.
    source: IpAddr,
    /// EDNS and Client Subnet.
    edns: EdnsChoice,
    /// The transport.
    transport: Transport,
    /// The message ID.
    id: u16,
    /// Random bits for a second client under the same scope.
    neighbour_bits: u128,
}

/// A random probe.
fn probe() -> impl Strategy<Value = Probe> {
    let qtype = prop_oneof![
        5 => Just(RecordType::A),
        5 => Just(RecordType::AAAA),
        1 => Just(RecordType::MX),
        1 => Just(RecordType::TXT),
    ];
    let labels = proptest::collection::vec("[a-z][a-z0-9-]{0,6}[a-z0-9]", 1..3);
    let transport = prop_oneof![Just(Transport::Udp), Just(Transport::Tcp)];
    (
        any::<usize>(),
        labels,
        qtype,
        any::<u64>(),
        client_address(),
        edns_choice(),
        transport,
        any::<u16>(),
        any::<u128>(),
    )
        .prop_map(
            |(entry, labels, qtype, case_mask, source, edns, transport, id, neighbour_bits)| {
                Probe {
                    entry,
                    labels,
                    qtype,
                    case_mask,
                    source,
                    edns,
                    transport,
                    id,
                    neighbour_bits,
                }
            },
        )
}

/// `address` with the bits past `prefix` cleared.
fn truncate(address: IpAddr, prefix: u8) -> IpAddr {
    IpNet::new(address, prefix)
        .expect("a prefix within the family")
        .network()
}

/// Upper-cases the letters of `name` selected by `mask`.
fn with_case(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(at, letter)| {
            if mask >> (at % 64) & 1 == 1 {
                letter.to_ascii_uppercase()
            } else {
                letter
            }
        })
        .collect()
}

impl Probe {
    /// The lower-case name asked for.
    fn name(&self, table: &Table) -> String {
        let index = self.entry % table.entries.len();
        let domain = table.entries[index].domain(index);
        match domain.strip_prefix("*.") {
            Some(suffix) => format!("{}.{suffix}", self.labels.join(".")),
            None => domain,
        }
    }

    /// The query bytes for a name (case applied) and an EDNS choice.
    fn bytes(&self, name: &str, edns: &EdnsChoice) -> Vec<u8> {
        let question = query(&with_case(name, self.case_mask), self.qtype).id(self.id);
        let question = match edns {
            EdnsChoice::Without => question,
            EdnsChoice::Plain => question.edns(),
            EdnsChoice::Subnet(address, prefix) => {
                question.ecs_raw(&ecs_payload(*address, *prefix))
            }
        };
        question.build()
    }
}

/// Runs the query function and parses the reply (invariant 4).
fn run(snapshot: &Snapshot, bytes: &[u8], source: IpAddr, transport: Transport) -> Reply {
    let mut out = Vec::with_capacity(512);
    let length = resolve::answer(snapshot, bytes, source, transport, &mut out)
        .expect("a well-formed query gets a reply");
    out.truncate(length);
    let reply = Reply::parse(out);
    assert_echoes(&reply, bytes);
    reply
}

/// The location address the server must use: a usable ECS address, else
/// the packet source.
fn location(probe: &Probe) -> IpAddr {
    match probe.edns {
        EdnsChoice::Subnet(address, prefix) if prefix > 0 => address,
        _ => probe.source,
    }
}

/// The prefix of the embedded database's network (or no-data block)
/// holding a canonical address.
fn database_prefix(address: IpAddr) -> u8 {
    let reader = maxminddb::Reader::from_source(embedded_database()).expect("database");
    reader
        .lookup(address)
        .expect("lookup")
        .network()
        .expect("network")
        .prefix()
}

/// The override networks.
fn override_networks() -> Vec<IpNet> {
    OVERRIDES
        .iter()
        .map(|(network, _)| network.parse().expect("a network"))
        .collect()
}

/// An address sharing the first `scope` bits of `address`, the rest from
/// `bits`.
fn neighbour(address: IpAddr, scope: u8, bits: u128) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(scope)).unwrap_or(0);
            let value = (u32::from(v4) & mask) | (bits as u32 & !mask);
            IpAddr::V4(Ipv4Addr::from(value))
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(scope)).unwrap_or(0);
            let value = (u128::from(v6) & mask) | (bits & !mask);
            IpAddr::V6(Ipv6Addr::from(value))
        }
    }
}

/// Checks the ECS scope of a located answer against the geo data and the
/// overrides, then asks again from another client under the scope.
fn check_scope(snapshot: &Snapshot, probe: &Probe, name: &str, reply: &Reply, scope: u8) {
    let address = location(probe);
    let mapped = matches!(address, IpAddr::V6(_)) && address.to_canonical().is_ipv4();
    let (canonical, canonical_scope) = if mapped {
        assert!(
            scope >= 96,
            "an IPv4-mapped client's scope counts the 96 mapped bits"
        );
        (address.to_canonical(), scope - 96)
    } else {
        (address, scope)
    };
    let block = IpNet::new(canonical, canonical_scope)
        .expect("a scope within the family")
        .trunc();
    let overrides = override_networks();
    for network in &overrides {
        if network.contains(&canonical) {
            assert!(
                canonical_scope >= network.prefix_len(),
                "{canonical} is in override {network}; scope /{canonical_scope} is wider"
            );
        } else {
            assert!(
                !block.contains(network),
                "scope {block} of {canonical} covers override {network}"
            );
        }
    }
    let database = database_prefix(canonical);
    let database_block = IpNet::new(canonical, database).expect("prefix").trunc();
    let untouched = overrides
        .iter()
        .all(|network| !database_block.contains(network) && !network.contains(&canonical));
    if untouched {
        assert_eq!(
            canonical_scope, database,
            "{canonical}: the database network decides"
        );
    }
    // Another client under the scope gets the same answer.
    let other = neighbour(address, scope, probe.neighbour_bits);
    let full = if other.is_ipv4() { 32 } else { 128 };
    let again = run(
        snapshot,
        &probe.bytes(name, &EdnsChoice::Subnet(other, full)),
        probe.source,
        probe.transport,
    );
    assert_eq!(
        again.addresses(),
        reply.addresses(),
        "{other} is under {address}/{scope} but gets another answer"
    );
}

/// Every check of one probe against one table.
fn check_probe(table: &Table, snapshot: &Snapshot, probe: &Probe) {
    let name = probe.name(table);
    let bytes = probe.bytes(&name, &probe.edns);
    let reply = run(snapshot, &bytes, probe.source, probe.transport);
    let entry = table
        .governing(&name)
        .unwrap_or_else(|| panic!("{name} is reserved"));
    assert!(reply.aa(), "{name}: authoritative");
    assert!(!reply.ra(), "{name}: no recursion");

    // Invariant 1: inside the allowed set, from one choice.
    let steered = matches!(probe.qtype, RecordType::A | RecordType::AAAA);
    let (allowed, choices) = entry.allowed(probe.qtype == RecordType::AAAA);
    let answer = reply.addresses();
    if steered {
        assert_eq!(reply.rcode(), rcode::NOERROR, "{name}: {reply:?}");
        for address in &answer {
            assert!(
                allowed.contains(address),
                "{name} {}: {address} is outside the allowed set {allowed:?}\n{}",
                probe.qtype,
                table.to_toml()
            );
        }
        assert_eq!(answer.is_empty(), allowed.is_empty(), "{name}: {reply:?}");
        let ttl = entry.ttl.unwrap_or(60);
        assert!(reply.answers().iter().all(|record| record.ttl == ttl));
        if answer.is_empty() {
            reply.negative_soa();
        }
    } else {
        // Other types at a reserved name: the zone has none, NODATA.
        assert_eq!(reply.rcode(), rcode::NOERROR, "{name}: {reply:?}");
        assert!(reply.answers().is_empty(), "{name}: {reply:?}");
        reply.negative_soa();
    }

    // Invariant 2: the same input gives the same bytes; with a usable ECS
    // option the packet source does not matter.
    let twice = run(snapshot, &bytes, probe.source, probe.transport);
    assert_eq!(twice.bytes, reply.bytes, "{name}: same input, other bytes");
    if matches!(probe.edns, EdnsChoice::Subnet(_, prefix) if prefix > 0) {
        let elsewhere = run(
            snapshot,
            &bytes,
            IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
            probe.transport,
        );
        assert_eq!(
            elsewhere.bytes, reply.bytes,
            "{name}: the source mattered despite ECS"
        );
    }

    // Invariant 3: ECS echo and scope.
    match &probe.edns {
        EdnsChoice::Without => assert!(reply.opt().is_none(), "no EDNS in, no OPT out"),
        EdnsChoice::Plain => {
            assert!(reply.opt().is_some(), "EDNS in, OPT out");
            assert!(reply.ecs().is_none(), "no ECS in, no ECS out");
        }
        EdnsChoice::Subnet(address, prefix) => {
            let ecs = reply.ecs().expect("ECS in, ECS out");
            let sent = ecs_payload(*address, *prefix);
            assert_eq!(ecs.family, u16::from_be_bytes([sent[0], sent[1]]), "family");
            assert_eq!(ecs.source_prefix_len, *prefix, "source prefix");
            assert_eq!(ecs.address, sent[4..].to_vec(), "address");
            let varies = steered && !answer.is_empty() && choices > 1 && *prefix > 0;
            if varies {
                check_scope(snapshot, probe, &name, &reply, ecs.scope_prefix_len);
            } else {
                assert_eq!(
                    ecs.scope_prefix_len, 0,
                    "{name} {}: an answer that cannot vary has scope 0",
                    probe.qtype
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    /// Invariants 1–4 over random tables, clients, options and name case.
    #[test]
    fn answers_stay_inside_the_allowed_set_and_follow_the_ecs_rules(
        table in table(),
        probes in proptest::collection::vec(probe(), 1..8),
    ) {
        let (_dir, snapshot) = table.load();
        for probe in &probes {
            check_probe(&table, &snapshot, probe);
        }
    }

    /// Zone names keep their static answers whatever the table holds.
    #[test]
    fn an_unreserved_name_is_never_steered(
        table in table(),
        probe in probe(),
    ) {
        // Names of the zone and names it lacks keep their static answers
        // whatever the table holds.
        let (_dir, snapshot) = table.load();
        let cases = [
            ("www.example.com", RecordType::A, rcode::NOERROR, vec!["192.0.2.80"]),
            ("www.example.com", RecordType::AAAA, rcode::NOERROR, vec!["2001:db8::80"]),
            ("nosuch.example.com", RecordType::A, rcode::NXDOMAIN, vec![]),
        ];
        for (name, qtype, expected_rcode, expected) in cases {
            let bytes = query(name, qtype).id(probe.id).edns().build();
            let bytes = match &probe.edns {
                EdnsChoice::Subnet(address, prefix) => {
                    query(name, qtype).id(probe.id).ecs_raw(&ecs_payload(*address, *prefix)).build()
                }
                _ => bytes,
            };
            let reply = run(&snapshot, &bytes, probe.source, probe.transport);
            prop_assert_eq!(reply.rcode(), expected_rcode);
            prop_assert_eq!(reply.addresses(), crate::support::ips(&expected));
            if let Some(ecs) = reply.ecs() {
                prop_assert_eq!(ecs.scope_prefix_len, 0);
            }
        }
    }
}
