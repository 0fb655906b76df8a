//! The fuzz oracles: what must hold for any input to the query path, the
//! pin loader and the zone loader. One copy, compiled into the fuzz targets
//! (`fuzz/fuzz_targets/*.rs`) and into the stable replay test
//! (`tests/it/fuzz_replay.rs`) with `#[path]`.
//!
//! Each check returns `Err(reason)` for a broken invariant; a panic inside
//! pindns is a failure too (the fuzzer reports it, the replay test catches
//! it). The reply checks read the reply through hickory-proto and through a
//! small walker written here, never through pindns's own decoder.
//!
//! ```text
//!   resolve input = [mode] [client address: 4 or 16 bytes] [DNS message]
//!   mode bit 0: 0 = UDP, 1 = TCP;  mode bit 1: 0 = IPv4 client, 1 = IPv6 client
//! ```

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData};
use pindns::config::Config;
use pindns::pins::{self, Family, PinTable};
use pindns::resolve::{self, Transport};
use pindns::snapshot::Snapshot;
use pindns::wire::NameKey;
use pindns::zones::{self, ZoneSet};

/// Loads the shipped configuration, zones and pins from the repository.
pub(crate) fn shipped_snapshot(repository: &Path) -> Snapshot {
    match Snapshot::load(&repository.join("config.toml")) {
        Ok(loaded) => loaded.snapshot,
        Err(errors) => panic!("the shipped files do not load: {errors:?}"),
    }
}

/// The shipped files of the repository at `repository`, loaded on first
/// use and kept for the life of the process: loaded once, not per input.
pub(crate) fn shipped_snapshot_once(repository: &Path) -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| shipped_snapshot(repository))
}

/// A fuzz target's body: `data` through `check` on the shipped snapshot of
/// `repository`; a broken invariant panics, which is how the fuzzer learns
/// of it.
#[allow(dead_code)] // the replay test reports instead of panicking
pub(crate) fn fuzz_one(
    repository: &Path,
    check: fn(&Snapshot, &[u8]) -> Result<(), String>,
    data: &[u8],
) {
    if let Err(broken) = check(shipped_snapshot_once(repository), data) {
        panic!("oracle: {broken}");
    }
}

/// A decoded `resolve` fuzz input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolveInput<'a> {
    /// The transport the query arrives on.
    pub(crate) transport: Transport,
    /// The packet's source address.
    pub(crate) client: IpAddr,
    /// The DNS message.
    pub(crate) message: &'a [u8],
}

impl<'a> ResolveInput<'a> {
    /// Splits raw fuzz bytes into mode, client address and message; missing
    /// address bytes are zero.
    pub(crate) fn from_bytes(data: &'a [u8]) -> Self {
        let mode = data.first().copied().unwrap_or(0);
        let transport = if mode & 1 == 0 {
            Transport::Udp
        } else {
            Transport::Tcp
        };
        let rest = data.get(1..).unwrap_or_default();
        let width = if mode & 2 == 0 { 4 } else { 16 };
        let mut octets = [0u8; 16];
        let taken = rest.len().min(width);
        octets[..taken].copy_from_slice(&rest[..taken]);
        let client = if width == 4 {
            IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]))
        } else {
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        Self {
            transport,
            client,
            message: &rest[taken..],
        }
    }

    /// Encodes an input (for seed corpora).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut mode = 0u8;
        if self.transport == Transport::Tcp {
            mode |= 1;
        }
        let mut out = Vec::with_capacity(17 + self.message.len());
        match self.client {
            IpAddr::V4(v4) => {
                out.push(mode);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.push(mode | 2);
                out.extend_from_slice(&v6.octets());
            }
        }
        out.extend_from_slice(self.message);
        out
    }
}

/// What the oracle's own walk found in a message's OPT record.
#[derive(Debug, Clone, Default)]
struct OptFacts {
    /// CLASS of the OPT record: the sender's UDP payload size.
    udp_payload: u16,
    /// EXTENDED-RCODE (upper 8 bits of the 12-bit RCODE).
    extended_rcode: u8,
    /// EDNS version.
    version: u8,
    /// EDNS flags.
    flags: u16,
    /// Options as (code, payload).
    options: Vec<(u16, Vec<u8>)>,
}

/// What the oracle's own walk found in a message.
#[derive(Debug, Clone, Default)]
struct Walk {
    /// Offset past the first question, when QDCOUNT ≥ 1 and it was read.
    question_end: Option<usize>,
    /// Number of OPT records anywhere.
    opt_count: usize,
    /// The last OPT record seen.
    opt: Option<OptFacts>,
    /// Whether every section was framed correctly.
    complete: bool,
}

/// Reads a big-endian u16.
fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

/// Skips a name (pointers end it) and returns the offset past it.
fn skip_name(message: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..=message.len() {
        let length = *message.get(at)?;
        match length & 0xC0 {
            0x00 if length == 0 => return Some(at + 1),
            0x00 => at += 1 + usize::from(length),
            0xC0 => return message.get(at + 1).map(|_| at + 2),
            _ => return None,
        }
    }
    None
}

/// Walks a message's sections, as leniently as the format allows.
fn walk(message: &[u8]) -> Walk {
    let mut found = Walk::default();
    let Some(counts) = (0..4)
        .map(|index| u16_at(message, 4 + 2 * index))
        .collect::<Option<Vec<u16>>>()
    else {
        return found;
    };
    let mut at = 12;
    for index in 0..counts[0] {
        let Some(end) = skip_name(message, at).map(|end| end + 4) else {
            return found;
        };
        if end > message.len() {
            return found;
        }
        if index == 0 {
            found.question_end = Some(end);
        }
        at = end;
    }
    let records = u32::from(counts[1]) + u32::from(counts[2]) + u32::from(counts[3]);
    for _ in 0..records {
        let Some(owner_end) = skip_name(message, at) else {
            return found;
        };
        let (Some(record_type), Some(class), Some(length)) = (
            u16_at(message, owner_end),
            u16_at(message, owner_end + 2),
            u16_at(message, owner_end + 8),
        ) else {
            return found;
        };
        let start = owner_end + 10;
        let Some(rdata) = message.get(start..start + usize::from(length)) else {
            return found;
        };
        if record_type == 41 {
            found.opt_count += 1;
            let ttl = &message[owner_end + 4..owner_end + 8];
            let mut facts = OptFacts {
                udp_payload: class,
                extended_rcode: ttl[0],
                version: ttl[1],
                flags: u16::from_be_bytes([ttl[2], ttl[3]]),
                options: Vec::new(),
            };
            let mut option_at = 0;
            while option_at < rdata.len() {
                let (Some(code), Some(option_length)) =
                    (u16_at(rdata, option_at), u16_at(rdata, option_at + 2))
                else {
                    return found;
                };
                let payload_start = option_at + 4;
                let Some(payload) =
                    rdata.get(payload_start..payload_start + usize::from(option_length))
                else {
                    return found;
                };
                facts.options.push((code, payload.to_vec()));
                option_at = payload_start + usize::from(option_length);
            }
            found.opt = Some(facts);
        }
        at = start + usize::from(length);
    }
    found.complete = true;
    found
}

/// Whether an ECS option payload is well formed (RFC 7871 §6), checked
/// here independently of pindns's decoder.
fn subnet_is_valid(payload: &[u8]) -> bool {
    let (Some(family), Some(&source), Some(&scope)) =
        (u16_at(payload, 0), payload.get(2), payload.get(3))
    else {
        return false;
    };
    let address = &payload[4..];
    let max = match family {
        1 => 32,
        2 => 128,
        _ => return false,
    };
    if source > max || scope != 0 || address.len() != usize::from(source).div_ceil(8) {
        return false;
    }
    let spare_bits = (8 - source % 8) % 8;
    address
        .last()
        .is_none_or(|&last| spare_bits == 0 || last & ((1u8 << spare_bits) - 1) == 0)
}

/// Lower-cased labels of a hickory name, root excluded.
fn labels_of(name: &Name) -> Vec<Vec<u8>> {
    name.iter()
        .map(|label| label.to_ascii_lowercase())
        .collect()
}

/// Lower-cased labels of a name in presentation form.
fn labels_of_text(text: &str) -> Vec<Vec<u8>> {
    text.trim_end_matches('.')
        .split('.')
        .filter(|label| !label.is_empty())
        .map(|label| label.as_bytes().to_ascii_lowercase())
        .collect()
}

/// The reserved entry covering a name: exact first, else the longest
/// wildcard suffix (SPEC.md, "The pin table"). Returns the `ips` values.
fn covering_targets<'t>(table: &'t PinTable, owner: &[Vec<u8>]) -> Option<&'t [String]> {
    let mut best: Option<(usize, &[String])> = None;
    for (name, policy) in table.entries() {
        match name.strip_prefix("*.") {
            None => {
                if labels_of_text(&name) == owner {
                    return Some(&policy.targets);
                }
            }
            Some(suffix) => {
                let suffix = labels_of_text(suffix);
                let covers = owner.len() > suffix.len() && owner.ends_with(&suffix);
                if covers && best.is_none_or(|(length, _)| suffix.len() > length) {
                    best = Some((suffix.len(), &policy.targets));
                }
            }
        }
    }
    best.map(|(_, targets)| targets)
}

/// The addresses of a family a domain may ever be answered with, from its
/// `ips` values and the configuration alone (SPEC.md, "Answering a query",
/// rule 4), as a set of (PoP index or `None` for a dedicated IP, address).
fn allowed_addresses(
    config: &Config,
    targets: &[String],
    family: Family,
) -> BTreeSet<(Option<usize>, IpAddr)> {
    let dedicated: Vec<IpAddr> = targets
        .iter()
        .filter_map(|value| value.parse::<IpAddr>().ok())
        .map(|address| address.to_canonical())
        .collect();
    if !dedicated.is_empty() {
        // Dedicated IPs replace the shared addresses, for both families.
        return dedicated
            .into_iter()
            .filter(|address| family.holds(address))
            .map(|address| (None, address))
            .collect();
    }
    let mut pops: BTreeSet<usize> = BTreeSet::new();
    for value in targets {
        if let Some(index) = config.pops.iter().position(|pop| &pop.code == value) {
            pops.insert(index);
        } else if let Some(alias) = config.aliases.get(value) {
            pops.extend(alias.ordered.iter().map(|&index| usize::from(index)));
        }
    }
    if targets.is_empty() {
        pops.extend(0..config.pops.len());
    }
    let mut allowed = BTreeSet::new();
    for index in pops {
        let pop = &config.pops[index];
        match family {
            Family::V4 => allowed.extend(pop.ipv4.iter().map(|a| (Some(index), IpAddr::V4(*a)))),
            Family::V6 => allowed.extend(pop.ipv6.iter().map(|a| (Some(index), IpAddr::V6(*a)))),
        }
    }
    allowed
}

/// Runs one `resolve` input through the query path and checks the reply.
pub(crate) fn check_resolve(snapshot: &Snapshot, data: &[u8]) -> Result<(), String> {
    let input = ResolveInput::from_bytes(data);
    let mut out = Vec::new();
    let answered = resolve::answer(
        snapshot,
        input.message,
        input.client,
        input.transport,
        &mut out,
    );
    check_reply(snapshot, &input, answered.map(|length| &out[..length]))
}

/// Checks a reply (or silence) against the query it answers.
pub(crate) fn check_reply(
    snapshot: &Snapshot,
    input: &ResolveInput<'_>,
    reply: Option<&[u8]>,
) -> Result<(), String> {
    let query = input.message;
    // SPEC.md "Protocol": silence only when the header cannot be read or
    // the message is a response.
    let is_query = query.len() >= 12 && query[2] & 0x80 == 0;
    let reply = match (reply, is_query) {
        (None, false) => return Ok(()),
        (Some(_), false) => return Err("replied to a response or to a short packet".into()),
        (None, true) => return Err("no reply to a query whose header is readable".into()),
        (Some(reply), true) => reply,
    };
    if reply.len() < 12 {
        return Err(format!("reply of {} bytes", reply.len()));
    }
    let message =
        Message::from_vec(reply).map_err(|error| format!("reply does not parse: {error}"))?;
    if reply[..2] != query[..2] {
        return Err("ID not echoed".into());
    }
    if reply[2] & 0x80 == 0 {
        return Err("QR clear in the reply".into());
    }
    if (reply[2] >> 3) & 0x0F != (query[2] >> 3) & 0x0F {
        return Err("opcode not echoed".into());
    }
    if reply[3] & 0x80 != 0 {
        return Err("RA set by an authoritative server".into());
    }
    let query_walk = walk(query);
    let reply_walk = walk(reply);
    if !reply_walk.complete || reply_walk.opt_count > 1 {
        return Err("reply sections are not framed, or hold two OPT records".into());
    }

    // Size: 512 without EDNS over UDP, else the requester's size.
    let limit = match input.transport {
        Transport::Tcp => 65535,
        Transport::Udp => match (&query_walk.opt, query_walk.opt_count) {
            (Some(opt), 1) => usize::from(opt.udp_payload.max(512)),
            _ => 512,
        },
    };
    if reply.len() > limit {
        return Err(format!(
            "reply of {} bytes over the limit {limit}",
            reply.len()
        ));
    }

    let header_rcode = u16::from(reply[3] & 0x0F);
    let rcode = match &reply_walk.opt {
        Some(opt) => (u16::from(opt.extended_rcode) << 4) | header_rcode,
        None => header_rcode,
    };

    // The question: echoed byte for byte whenever it is in the reply, and
    // in every reply but FORMERR to a single-question query.
    let question_count = u16_at(reply, 4).unwrap_or(0);
    if question_count > 1 {
        return Err("more than one question in the reply".into());
    }
    if question_count == 1 {
        let (Some(query_end), Some(reply_end)) = (query_walk.question_end, reply_walk.question_end)
        else {
            return Err("question in the reply that the query did not have".into());
        };
        if query[12..query_end] != reply[12..reply_end] {
            return Err("question not echoed byte for byte".into());
        }
    } else if u16_at(query, 4) == Some(1) && query_walk.complete && rcode != 1 {
        return Err(format!("rcode {rcode} without the question"));
    }

    // EDNS: version 0, only DO among the flags, DO copied.
    if let Some(opt) = &reply_walk.opt {
        if opt.version != 0 {
            return Err("reply OPT version is not 0".into());
        }
        if opt.flags & 0x7FFF != 0 {
            return Err("unknown EDNS flags in the reply".into());
        }
        let query_do = query_walk
            .opt
            .as_ref()
            .is_some_and(|q| q.flags & 0x8000 != 0);
        if opt.flags & 0x8000 != 0 && !query_do {
            return Err("DO set in the reply but not in the query".into());
        }
        if opt.options.iter().any(|(code, _)| ![3, 8].contains(code)) {
            return Err("an option other than NSID or ECS in the reply".into());
        }
    }
    if reply_walk.opt.is_some() && query_walk.opt.is_none() {
        return Err("OPT in the reply to a query without one".into());
    }
    if let (Some(query_opt), 1) = (&query_walk.opt, query_walk.opt_count) {
        if query_opt.version > 0 && query_walk.complete && rcode != 16 && rcode != 1 && rcode != 4 {
            return Err(format!(
                "EDNS version {} answered with rcode {rcode}",
                query_opt.version
            ));
        }
    }

    check_client_subnet(&query_walk, &reply_walk, rcode)?;
    check_allowed_set(snapshot, &message)?;
    Ok(())
}

/// RFC 7871 §7.2: ECS in a reply only when the query carried it, with the
/// same FAMILY, SOURCE PREFIX-LENGTH and ADDRESS; a malformed one is never
/// answered normally.
fn check_client_subnet(query: &Walk, reply: &Walk, rcode: u16) -> Result<(), String> {
    let subnets = |walk: &Walk| -> Vec<Vec<u8>> {
        walk.opt
            .iter()
            .flat_map(|opt| opt.options.iter())
            .filter(|(code, _)| *code == 8)
            .map(|(_, payload)| payload.clone())
            .collect()
    };
    let sent = subnets(query);
    let echoed = subnets(reply);
    if echoed.len() > 1 {
        return Err("two ECS options in the reply".into());
    }
    if let Some(echo) = echoed.first() {
        let [original] = sent.as_slice() else {
            return Err("ECS in the reply but not exactly one in the query".into());
        };
        if echo.len() != original.len() || echo.len() < 4 {
            return Err("ECS echo has another length".into());
        }
        if echo[..3] != original[..3] || echo[4..] != original[4..] {
            return Err("ECS echo changed family, source prefix or address".into());
        }
        let max_scope = if echo[1] == 1 { 32 } else { 128 };
        if echo[3] > max_scope {
            return Err("ECS scope longer than the address".into());
        }
        if !subnet_is_valid(original) {
            return Err("a malformed ECS option was echoed".into());
        }
    }
    let answered = matches!(rcode, 0 | 3 | 5);
    if query.opt_count == 1 && query.complete {
        let malformed = sent.len() > 1 || sent.iter().any(|payload| !subnet_is_valid(payload));
        if malformed && answered {
            return Err(format!(
                "malformed or repeated ECS answered with rcode {rcode}"
            ));
        }
        if sent.len() == 1 && subnet_is_valid(&sent[0]) && answered && echoed.is_empty() {
            return Err("a valid ECS option was not echoed".into());
        }
    }
    Ok(())
}

/// SPEC.md invariant 1: every A/AAAA answered at a reserved name belongs to
/// its allowed set, and comes from one PoP only.
fn check_allowed_set(snapshot: &Snapshot, message: &Message) -> Result<(), String> {
    for record in &message.answers {
        let (family, address) = match &record.data {
            RData::A(a) => (Family::V4, IpAddr::V4(a.0)),
            RData::AAAA(aaaa) => (Family::V6, IpAddr::V6(aaaa.0)),
            _ => continue,
        };
        let owner = labels_of(&record.name);
        let Some(targets) = covering_targets(&snapshot.pins, &owner) else {
            continue;
        };
        let allowed = allowed_addresses(&snapshot.config, targets, family);
        let Some(&(pop, _)) = allowed.iter().find(|(_, allowed)| *allowed == address) else {
            return Err(format!(
                "{address} answered for reserved {} outside its allowed set {allowed:?}",
                record.name
            ));
        };
        // One PoP per answer: every other steered address of this owner
        // is of the same PoP.
        for other in &message.answers {
            let other_address = match &other.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(aaaa) => IpAddr::V6(aaaa.0),
                _ => continue,
            };
            if labels_of(&other.name) != owner {
                continue;
            }
            let other_pop = allowed
                .iter()
                .find(|(_, allowed)| *allowed == other_address)
                .map(|(pop, _)| *pop);
            if pop.is_some() && other_pop != Some(pop) {
                return Err(format!("{} answered from two PoPs", record.name));
            }
        }
    }
    Ok(())
}

/// The file name pin inputs are parsed as.
pub(crate) const PIN_FILE: &str = "fuzz-pins.toml";

/// Parses arbitrary text as a pin table and compiles it against the
/// shipped configuration and zones: errors carry file and line, and a table
/// that compiles never allows an address outside its `ips`.
pub(crate) fn check_pins(snapshot: &Snapshot, data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let path = Path::new(PIN_FILE);
    let line_count = text.lines().count() + 1;
    let check_diagnostics = |errors: &[pindns::diagnostics::Diagnostic]| -> Result<(), String> {
        if errors.is_empty() {
            return Err("rejected without an error".into());
        }
        for error in errors {
            if error.file != path {
                return Err(format!("error names another file: {error}"));
            }
            match error.line {
                Some(line) if (1..=line_count).contains(&line) => {}
                // A zero-byte file has no line to point at.
                None if text.is_empty() => {}
                _ => return Err(format!("error without a line in the file: {error}")),
            }
        }
        Ok(())
    };
    // The fast reader, where it reads a file at all, reads it as TOML does.
    let file: std::sync::Arc<Path> = std::sync::Arc::from(path);
    if let Some(fast) = pins::fast::parse(&file, text) {
        match pins::parse_with_toml(&file, text) {
            Ok(full) if full == fast => {}
            Ok(full) => return Err(format!("fast reader read {fast:?}, TOML {full:?}")),
            Err(errors) => {
                return Err(format!(
                    "fast reader accepted what TOML rejects: {errors:?}"
                ));
            }
        }
    }
    let entries = match pins::parse_pin_text(path, text) {
        Ok(entries) => entries,
        Err(errors) => return check_diagnostics(&errors),
    };
    let (table, _warnings) = match pins::compile(&entries, &snapshot.config, &snapshot.zones) {
        Ok(compiled) => compiled,
        Err(errors) => return check_diagnostics(&errors),
    };
    for entry in &entries {
        let Ok(key) = NameKey::from_text(entry.domain.trim_start_matches("*.")) else {
            return Err(format!("compiled an unreadable name '{}'", entry.domain));
        };
        let targets: Vec<String> = entry
            .targets
            .iter()
            .flatten()
            .map(|(value, _)| value.clone())
            .collect();
        let probe = if entry.domain.starts_with("*.") {
            let Ok(below) =
                NameKey::from_text(&format!("x.{}", entry.domain.trim_start_matches("*.")))
            else {
                continue;
            };
            below
        } else {
            key
        };
        let Some((policy, _)) = table.lookup(&probe) else {
            return Err(format!(
                "'{}' compiled but is not in the table",
                entry.domain
            ));
        };
        if policy.targets != targets {
            // Another entry (exact over wildcard) may cover the probe.
            continue;
        }
        for family in [Family::V4, Family::V6] {
            let allowed = allowed_addresses(&snapshot.config, &targets, family);
            for address in policy.plan(family).allowed_addresses() {
                if !allowed.iter().any(|(_, allowed)| allowed == address) {
                    return Err(format!(
                        "'{}' may answer {address}, outside its ips",
                        entry.domain
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The file name zone inputs are parsed as (its stem is the origin).
pub(crate) const ZONE_FILE: &str = "example.com.zone";

/// Parses arbitrary text as a zone file: errors name the file and a line
/// inside it; a zone that loads is served without breaking the reply
/// invariants.
pub(crate) fn check_zone(snapshot: &Snapshot, data: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(data) else {
        return Ok(());
    };
    let path = Path::new(ZONE_FILE);
    let line_count = text.lines().count() + 1;
    let zone = match zones::parse_zone(path, text) {
        Ok(zone) => zone,
        Err(errors) => {
            if errors.is_empty() {
                return Err("rejected without an error".into());
            }
            for error in &errors {
                if error.file != path {
                    return Err(format!("error names another file: {error}"));
                }
                if error
                    .line
                    .is_some_and(|line| !(1..=line_count).contains(&line))
                {
                    return Err(format!("error points past the file: {error}"));
                }
            }
            return Ok(());
        }
    };
    // Serve the zone alone and ask for its apex and a few of its names.
    let apex = zone.apex.clone();
    let owners: Vec<Box<[u8]>> = zone.nodes.keys().take(8).cloned().collect();
    let served = Snapshot {
        zones: Arc::new(ZoneSet::new(vec![zone])),
        pins: Arc::new(PinTable::default()),
        ..snapshot.clone()
    };
    for owner in std::iter::once(apex).chain(owners) {
        for qtype in [1u16, 2, 5, 6, 15, 16, 28, 255] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let mut message = vec![0xAB, 0xCD, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
                message.extend_from_slice(&owner);
                message.extend_from_slice(&qtype.to_be_bytes());
                message.extend_from_slice(&1u16.to_be_bytes());
                let input = ResolveInput {
                    transport,
                    client: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    message: &message,
                };
                check_resolve(&served, &input.to_bytes())?;
            }
        }
    }
    Ok(())
}
