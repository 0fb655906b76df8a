//! The query path: (snapshot, query bytes, client address) → reply bytes.
//!
//! One synchronous function serves UDP, TCP, `explain`, the tests and the
//! fuzz targets. It performs no I/O, takes no lock and, on the steered and
//! static paths, allocates nothing: the reply is written into the caller's
//! buffer.
//!
//! ```text
//!   bytes ─▶ wire::query::parse ─┬─ Drop ───────────────▶ no reply
//!                                ├─ error ──────────────▶ FORMERR/NOTIMP/BADVERS
//!                                └─ Query
//!                                     │ class CH ───────▶ chaos()
//!                                     │ zones.find ─ no ▶ REFUSED
//!                                     │ pins.lookup + A/AAAA ─▶ steer()  (geo.locate → plan.choose)
//!                                     └ zone.lookup ─────▶ answer / CNAME / referral / NODATA / NXDOMAIN
//! ```

use std::net::IpAddr;

use crate::geo::Placement;
use crate::pins::{Choice, Family, PinMatch, Policy};
use crate::snapshot::Snapshot;
use crate::wire::name::NameKey;
use crate::wire::query::{self, ParseError, Query};
use crate::wire::reply::{
    OptReply, Owner, QUESTION_NAME_OFFSET, Reply, Section, with_address_rdata,
};
use crate::wire::{CLASSIC_UDP_LIMIT, MAX_MESSAGE, OUR_UDP_PAYLOAD, class, rcode, rtype};
use crate::zones::{Zone, ZoneLookup};

/// The transport a query came over; it sets the reply size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: replies are limited to the requester's payload size.
    Udp,
    /// TCP: replies up to 65535 bytes.
    Tcp,
}

/// Longest CNAME chain followed inside served data.
const MAX_CNAME_CHAIN: usize = 8;

/// Answers one query. Returns the reply length written into `out`, or
/// `None` when nothing must be sent (unreadable header, or a response).
pub fn answer(
    snapshot: &Snapshot,
    message: &[u8],
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> Option<usize> {
    answer_reusing(
        snapshot,
        message,
        client,
        transport,
        out,
        &mut NameKey::root(),
    )
}

/// [`answer`] with the question name decoded into `name`, scratch space
/// a caller answering many queries keeps, so that no query clears a fresh
/// 400-byte name buffer.
pub fn answer_reusing(
    snapshot: &Snapshot,
    message: &[u8],
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
    name: &mut NameKey,
) -> Option<usize> {
    match query::parse(message, name) {
        Ok(query) => Some(answer_query(snapshot, &query, client, transport, out)),
        Err(ParseError::Drop) => None,
        Err(ParseError::Reply(error)) => {
            let question = error
                .question_end
                .and_then(|end| message.get(crate::wire::HEADER_LEN..end))
                .unwrap_or_default();
            let mut reply = Reply::start(out, error.id, error.flags, question);
            reply.set_rcode(error.rcode);
            let opt = error.edns.map(|edns| OptReply {
                dnssec_ok: edns.dnssec_ok,
                client_subnet: None,
                nsid: None,
            });
            Some(reply.finish(opt, CLASSIC_UDP_LIMIT))
        }
    }
}

/// Starts the first memory read that answering `message` will make: the
/// pin table's entry for its question's name. For a caller with several
/// queries in hand, whose reads then overlap instead of stalling one by
/// one; the token goes to [`prefetch_next`], after the other queries'
/// first steps. `None` when the question does not decode (the answer will
/// say so). `name` is scratch space, reused over a batch.
pub fn prefetch(snapshot: &Snapshot, message: &[u8], name: &mut NameKey) -> Option<u64> {
    name.read_wire(message, crate::wire::HEADER_LEN).ok()?;
    Some(snapshot.pins.prefetch_first(name))
}

/// The second step of a [`prefetch`].
pub fn prefetch_next(snapshot: &Snapshot, token: u64) {
    snapshot.pins.prefetch_second(token);
}

/// Where the client is, for steering, and what steering decided, for the
/// ECS scope.
#[derive(Debug, Clone, Copy)]
struct Steering {
    /// The address that places the client: the Client Subnet's, else the
    /// packet's source.
    location: IpAddr,
    /// ECS scope of the answer (0 when it does not depend on the client).
    scope: u8,
}

/// Answers a well-formed query.
fn answer_query(
    snapshot: &Snapshot,
    query: &Query<'_>,
    client: IpAddr,
    transport: Transport,
    out: &mut Vec<u8>,
) -> usize {
    let edns = query.edns;
    let size_limit = match (transport, edns) {
        (Transport::Tcp, _) => MAX_MESSAGE,
        (Transport::Udp, Some(edns)) => usize::from(edns.udp_payload.clamp(512, OUR_UDP_PAYLOAD)),
        (Transport::Udp, None) => CLASSIC_UDP_LIMIT,
    };
    let subnet = edns.and_then(|edns| edns.client_subnet);
    // RFC 7871 §7.1.2: a SOURCE PREFIX-LENGTH of 0 carries no client
    // information; the packet's source is used instead.
    let location = match subnet {
        Some(subnet) if subnet.source_prefix_len > 0 => subnet.address,
        _ => client,
    };
    let mut reply = Reply::start(out, query.id, query.flags, query.question_bytes());
    reply.limit_to(size_limit);
    let mut steering = Steering { location, scope: 0 };
    match query.qclass {
        class::IN => answer_in(snapshot, query, &mut reply, &mut steering),
        class::CH => answer_chaos(snapshot, query, &mut reply),
        _ => reply.set_rcode(rcode::REFUSED),
    }
    let nsid = match edns {
        Some(edns) if edns.nsid_requested => snapshot.config.server.nsid.as_deref(),
        _ => None,
    };
    let opt = edns.map(|edns| OptReply {
        dnssec_ok: edns.dnssec_ok,
        client_subnet: subnet.map(|subnet| {
            let scope = if subnet.source_prefix_len == 0 {
                0
            } else {
                steering.scope
            };
            (subnet, scope)
        }),
        nsid,
    });
    reply.finish(opt, size_limit)
}

/// Answers class IN.
fn answer_in(
    snapshot: &Snapshot,
    query: &Query<'_>,
    reply: &mut Reply<'_>,
    steering: &mut Steering,
) {
    if matches!(query.qtype, rtype::AXFR | rtype::IXFR) {
        // No zone transfers: pin tables are not zone data to hand out.
        reply.set_rcode(rcode::REFUSED);
        return;
    }
    // The question's pin, looked up once for the reserved-name answer here
    // and the first name of the general path below.
    let question_pin = snapshot.pins.lookup(query.name);
    let family = Family::of_query_type(query.qtype);
    if let (Some(family), Some((policy, PinMatch::Exact))) = (family, question_pin) {
        // A reserved name lies in a served zone, above every cut in it: a
        // pin table is published only with the zones it was checked
        // against. Its addresses need no zone lookup; only NODATA does,
        // for the zone's SOA, and takes the general path below.
        debug_assert!(snapshot.zones.find(query.name).is_some());
        let owner = Owner::Pointer(QUESTION_NAME_OFFSET);
        if steering.steer(snapshot, policy, family, owner, reply) {
            reply.set_authoritative();
            return;
        }
    }
    let Some((zone, _)) = snapshot.zones.find(query.name) else {
        reply.set_rcode(rcode::REFUSED);
        return;
    };
    reply.set_authoritative();
    // The question's name, then each CNAME target followed: borrowed, so
    // that the common answer without a chain copies no name.
    let mut followed: Option<NameKey> = None;
    let mut owner = Owner::Pointer(QUESTION_NAME_OFFSET);
    let mut zone: &Zone = zone;
    // Names already answered in this chain, by hash: a loop (a → b → a)
    // ends the answer instead of repeating its records. Filled as the
    // chain is followed; most answers have none.
    let mut visited: Option<[u64; MAX_CNAME_CHAIN]> = None;
    for hop in 0..MAX_CNAME_CHAIN {
        let (name, pinned) = match &followed {
            Some(target) => (target, snapshot.pins.lookup(target)),
            None => (query.name, question_pin),
        };
        match answer_name(snapshot, query, name, pinned, owner, zone, reply, steering) {
            Step::Done => return,
            Step::Follow(target, target_owner) => {
                let visited = visited.get_or_insert([0; MAX_CNAME_CHAIN]);
                visited[hop] = name_hash(name);
                if visited[..=hop].contains(&name_hash(&target)) {
                    return;
                }
                let Some((next_zone, _)) = snapshot.zones.find(&target) else {
                    // The target is not ours: the resolver follows it.
                    return;
                };
                zone = next_zone;
                followed = Some(target);
                owner = target_owner;
            }
        }
    }
}

/// Whether a pin that matched `name` does not answer there: a wildcard
/// pin reaches no name at or below a zone cut inside it, which is the
/// child zone's and gets the referral (RFC 1034 §4.3.2 step 3b). Exact
/// pins there are refused at load.
fn wildcard_pin_stops_at_cut(zone: &Zone, name: &NameKey, matched: PinMatch) -> bool {
    matches!(matched, PinMatch::Wildcard { .. })
        && zone.has_delegations
        && matches!(zone.lookup(name), ZoneLookup::Delegation { .. })
}

/// Whether the pin table makes a name exist closer to `name` than the
/// zone's closest encloser (`encloser` labels above `name`): then the
/// zone's wildcard does not apply (RFC 4592 §2.2.1, §3.3.1), since a
/// wildcard synthesises only names that do not exist, from the closest
/// encloser's own wildcard. A reserved name, a name above one, and a name
/// a closer pin wildcard covers all exist; the answer is then the pin
/// table's (NODATA for other types at an existing name, NXDOMAIN below
/// one).
fn pins_make_encloser_closer(
    snapshot: &Snapshot,
    name: &NameKey,
    pinned: Option<PinMatch>,
    encloser: usize,
) -> bool {
    match pinned {
        Some(PinMatch::Exact) => return true,
        Some(PinMatch::Wildcard { skip }) if skip < encloser => return true,
        _ => {}
    }
    (0..encloser).any(|skip| snapshot.pins.makes_exist(name.suffix(skip).0))
}

/// A hash of a name's lookup key, to recognise it again in a chain.
fn name_hash(name: &NameKey) -> u64 {
    use std::hash::BuildHasher;
    rustc_hash::FxBuildHasher.hash_one(name.as_bytes())
}

/// What to do after answering one name of a CNAME chain.
// Moved once per CNAME hop; boxing the name would allocate per query.
#[allow(clippy::large_enum_variant)]
enum Step {
    /// The answer is complete.
    Done,
    /// Follow a CNAME to this target, written at this owner.
    Follow(NameKey, Owner<'static>),
}

/// Answers one name (the question, or a CNAME target inside our zones)
/// whose pin table entry is `pinned`.
#[allow(clippy::too_many_arguments)]
fn answer_name(
    snapshot: &Snapshot,
    query: &Query<'_>,
    name: &NameKey,
    pinned: Option<(&Policy, PinMatch)>,
    owner: Owner<'static>,
    zone: &Zone,
    reply: &mut Reply<'_>,
    steering: &mut Steering,
) -> Step {
    if let Some((policy, matched)) = pinned {
        let family = Family::of_query_type(query.qtype);
        if let Some(family) = family.filter(|_| !wildcard_pin_stops_at_cut(zone, name, matched)) {
            if !steering.steer(snapshot, policy, family, owner, reply) {
                negative(reply, query, zone, false);
            }
            return Step::Done;
        }
    }
    let lookup = match zone.lookup(name) {
        // DS at a cut is the parent's data (RFC 4035 §3.1.4.1): answered
        // from the parent's node there, NODATA when it holds none, never
        // the referral.
        ZoneLookup::Delegation { skip: 0, .. } if query.qtype == rtype::DS => zone
            .nodes
            .get(name.as_bytes())
            .map_or(ZoneLookup::NxDomain, ZoneLookup::Node),
        ZoneLookup::Wildcard { encloser, .. }
            if pins_make_encloser_closer(
                snapshot,
                name,
                pinned.map(|(_, matched)| matched),
                encloser,
            ) =>
        {
            ZoneLookup::NxDomain
        }
        lookup => lookup,
    };
    let node = match lookup {
        ZoneLookup::Node(node) | ZoneLookup::Wildcard { node, .. } => node,
        ZoneLookup::Delegation { ns, skip } => {
            referral(snapshot, reply, query, zone, name, ns, skip);
            return Step::Done;
        }
        ZoneLookup::NxDomain => {
            // A reserved name exists even where the zone has nothing: ANY
            // gets the same minimal answer as at any other existing name.
            if pinned.is_some() && query.qtype == rtype::ANY {
                minimal_any(reply, owner, zone);
            } else {
                // So do the names above it: NODATA, not NXDOMAIN.
                let exists = pinned.is_some() || snapshot.pins.has_names_below(name);
                negative(reply, query, zone, !exists);
            }
            return Step::Done;
        }
    };
    if query.qtype == rtype::ANY {
        if node.is_empty() && pinned.is_none() {
            negative(reply, query, zone, false);
        } else {
            minimal_any(reply, owner, zone);
        }
        return Step::Done;
    }
    if let Some(set) = node.rrset(query.qtype) {
        for rdata in &set.rdata {
            reply.push(Section::Answer, owner, set.rtype, class::IN, set.ttl, rdata);
        }
        return Step::Done;
    }
    if let Some(cname) = node.rrset(rtype::CNAME) {
        if let Some(rdata) = cname.rdata.first() {
            let target_at = reply.next_rdata_offset(owner);
            reply.push(
                Section::Answer,
                owner,
                rtype::CNAME,
                class::IN,
                cname.ttl,
                rdata,
            );
            if let Ok((target, _)) = NameKey::from_wire(rdata, 0) {
                let target_owner = match u16::try_from(target_at) {
                    Ok(offset) if offset < 0x4000 => Owner::Pointer(offset),
                    _ => return Step::Done,
                };
                return Step::Follow(target, target_owner);
            }
        }
        return Step::Done;
    }
    negative(reply, query, zone, false);
    Step::Done
}

/// RFC 8482 §4.2: answers ANY at an existing name with one synthesized
/// HINFO instead of every RRset there.
fn minimal_any(reply: &mut Reply<'_>, owner: Owner<'_>, zone: &Zone) {
    reply.push(
        Section::Answer,
        owner,
        rtype::HINFO,
        class::IN,
        zone.negative_ttl.max(1),
        b"\x07RFC8482\x00",
    );
}

impl Steering {
    /// Writes the addresses `policy` chooses for this client, or returns
    /// false when it has none of `family` (the caller answers NODATA).
    fn steer(
        &mut self,
        snapshot: &Snapshot,
        policy: &Policy,
        family: Family,
        owner: Owner<'_>,
        reply: &mut Reply<'_>,
    ) -> bool {
        let placement = snapshot.geo.locate(self.location);
        let choice = policy.plan(family).choose(&snapshot.geo, &placement);
        if choice.is_empty() {
            return false;
        }
        write_addresses(reply, owner, policy.ttl, &choice);
        self.scope = choice.scope;
        true
    }
}

/// Writes the steered A/AAAA records.
fn write_addresses(reply: &mut Reply<'_>, owner: Owner<'_>, ttl: u32, choice: &Choice<'_>) {
    if matches!(owner, Owner::Pointer(QUESTION_NAME_OFFSET)) {
        // The question's own name: the records encoded at load.
        reply.push_encoded(Section::Answer, choice.records[0], choice.steered.len());
        reply.push_encoded(Section::Answer, choice.records[1], choice.always.len());
        return;
    }
    for address in choice.addresses() {
        with_address_rdata(address, |record_type, rdata| {
            reply.push(Section::Answer, owner, record_type, class::IN, ttl, rdata);
        });
    }
}

/// Completes a negative answer: NXDOMAIN (or NODATA when the name exists)
/// with the zone's SOA in authority, TTL min(SOA TTL, MINIMUM) (RFC 2308).
/// Inside a CNAME chain the answer section keeps what was found.
fn negative(reply: &mut Reply<'_>, query: &Query<'_>, zone: &Zone, nxdomain: bool) {
    if nxdomain {
        reply.set_rcode(rcode::NXDOMAIN);
    }
    let owner = apex_owner(query, zone);
    reply.push(
        Section::Authority,
        owner,
        rtype::SOA,
        class::IN,
        zone.negative_ttl,
        &zone.soa_rdata,
    );
}

/// The owner for a zone's apex: a pointer into the question when the apex
/// is a suffix of it.
fn apex_owner<'z>(query: &Query<'_>, zone: &'z Zone) -> Owner<'z> {
    let skip = query.name.label_count().checked_sub(zone.apex_labels);
    match skip.map(|skip| query.name.suffix(skip)) {
        Some((suffix, offset)) if suffix == &*zone.apex => {
            Owner::Pointer(QUESTION_NAME_OFFSET + offset as u16)
        }
        _ => Owner::Wire(&zone.apex),
    }
}

/// Writes a referral to a delegated child zone: NS in authority, AA clear,
/// glue from the zone in additional.
fn referral(
    snapshot: &Snapshot,
    reply: &mut Reply<'_>,
    query: &Query<'_>,
    zone: &Zone,
    name: &NameKey,
    ns: &crate::zones::Rrset,
    skip: usize,
) {
    // Answers for another name in a chain keep AA; a referral for the
    // question itself is not authoritative (RFC 1034 §4.3.2).
    if name == query.name {
        reply.clear_authoritative();
    }
    let (cut, offset) = name.suffix(skip);
    let owner = if name == query.name {
        Owner::Pointer(QUESTION_NAME_OFFSET + offset as u16)
    } else {
        Owner::Wire(cut)
    };
    for rdata in &ns.rdata {
        reply.push(
            Section::Authority,
            owner,
            rtype::NS,
            class::IN,
            ns.ttl,
            rdata,
        );
    }
    for rdata in &ns.rdata {
        let Ok((target, _)) = NameKey::from_wire(rdata, 0) else {
            continue;
        };
        // A name the pin table answers for has its addresses from the
        // pin: the zone's would be a second answer outside the pinned set
        // (resolvers cache glue, RFC 2181 §5.4.1). No pin answers at or
        // below a cut (exact pins there are refused at load, wildcard
        // pins stop there), so the child's glue always stays.
        let pin_answers = snapshot
            .pins
            .lookup(&target)
            .is_some_and(|(_, matched)| !wildcard_pin_stops_at_cut(zone, &target, matched));
        if pin_answers {
            continue;
        }
        let Some(node) = zone.nodes.get(target.as_bytes()) else {
            continue;
        };
        for glue_type in [rtype::A, rtype::AAAA] {
            if let Some(set) = node.rrset(glue_type) {
                for glue in &set.rdata {
                    reply.push(
                        Section::Additional,
                        Owner::Wire(rdata),
                        glue_type,
                        class::IN,
                        set.ttl,
                        glue,
                    );
                }
            }
        }
    }
}

/// Answers class CHAOS: server identity, version, and the published
/// generation (`generation.pindns`); anything else is REFUSED.
fn answer_chaos(snapshot: &Snapshot, query: &Query<'_>, reply: &mut Reply<'_>) {
    let name = query.name.as_bytes();
    let server = &snapshot.config.server;
    let text: Option<TxtSource<'_>> = match name {
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => {
            server.version.as_deref().map(TxtSource::Text)
        }
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => {
            server.identity.as_deref().map(TxtSource::Text)
        }
        b"\x0ageneration\x06pindns\x00" => Some(TxtSource::Generation),
        _ => None,
    };
    let Some(text) = text else {
        reply.set_rcode(rcode::REFUSED);
        return;
    };
    if !matches!(query.qtype, rtype::TXT | rtype::ANY) {
        reply.set_authoritative();
        return;
    }
    reply.set_authoritative();
    let mut rdata = [0u8; 512];
    let length = match text {
        TxtSource::Text(text) => encode_txt(text.as_bytes(), &mut rdata),
        TxtSource::Generation => {
            let mut line = [0u8; 128];
            let written = format_generation(snapshot, &mut line);
            encode_txt(&line[..written], &mut rdata)
        }
    };
    reply.push(
        Section::Answer,
        Owner::Pointer(QUESTION_NAME_OFFSET),
        rtype::TXT,
        class::CH,
        0,
        &rdata[..length],
    );
}

/// Where a CHAOS TXT answer comes from.
enum TxtSource<'c> {
    /// Configured text.
    Text(&'c str),
    /// The published generation and its time.
    Generation,
}

/// Writes "generation N published 2026-12-03T23:59:01Z failed-reloads F"
/// into `out`.
fn format_generation(snapshot: &Snapshot, out: &mut [u8]) -> usize {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(out);
    let _ = write!(
        cursor,
        "generation {} published {} failed-reloads {}",
        snapshot.generation,
        crate::snapshot::Rfc3339(snapshot.published_unix()),
        snapshot.failed_reloads
    );
    cursor.position() as usize
}

/// Encodes text as TXT RDATA (character-strings of up to 255 bytes).
fn encode_txt(text: &[u8], out: &mut [u8]) -> usize {
    let mut written = 0;
    for chunk in text.chunks(255).take(2) {
        out[written] = chunk.len() as u8;
        out[written + 1..written + 1 + chunk.len()].copy_from_slice(chunk);
        written += 1 + chunk.len();
    }
    if text.is_empty() {
        out[0] = 0;
        written = 1;
    }
    written
}

/// Where a client is placed for a query, for `explain`: the ECS address
/// when a usable one is given, else the source.
pub fn placement_for(snapshot: &Snapshot, address: IpAddr) -> Placement {
    snapshot.geo.locate(address)
}
