//! `pindns explain`: why a client gets the answer it gets. The answer shown
//! is produced by the real query function from a real query packet.

use std::fmt::Write as _;
use std::net::IpAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::EdnsOption;
use ipnet::IpNet;

use crate::geo::distance_km;
use crate::pins::{Family, PinMatch};
use crate::resolve::{self, Transport};
use crate::snapshot::Snapshot;
use crate::wire::{NameKey, ecs, rtype};

/// What `explain` is asked about.
#[derive(Debug, Clone)]
pub struct Question {
    /// The domain.
    pub domain: String,
    /// A or AAAA.
    pub family: Family,
    /// The client address, and the ECS source prefix when one is given.
    pub client: IpAddr,
    /// ECS source prefix length; `None` means no ECS (the address is the
    /// packet source).
    pub prefix: Option<u8>,
}

/// Renders the explanation, or why it cannot be given.
pub fn explain(snapshot: &Snapshot, question: &Question) -> Result<String, String> {
    let name =
        NameKey::from_text(&question.domain).map_err(|error| format!("bad domain: {error}"))?;
    let mut out = String::new();
    let qtype = match question.family {
        Family::V4 => "A",
        Family::V6 => "AAAA",
    };
    let (location_address, via) = match question.prefix {
        Some(prefix) if prefix > 0 => {
            let network = IpNet::new(question.client, prefix).map_err(|error| error.to_string())?;
            (
                network.network(),
                format!("ECS {}/{prefix}", network.network()),
            )
        }
        Some(_) => (
            question.client,
            "ECS /0: no client information, so the packet source".to_owned(),
        ),
        None => (question.client, "packet source (no ECS)".to_owned()),
    };
    let _ = writeln!(out, "query:      {} {qtype}", question.domain);
    let _ = writeln!(out, "client:     {location_address} from {via}");

    let placement = snapshot.geo.locate(location_address);
    let location = placement
        .cell
        .and_then(|cell| snapshot.geo.coordinates(cell));
    match (location, placement.source) {
        (Some(at), source) => {
            let _ = writeln!(
                out,
                "location:   {at} by {source}, network /{}",
                placement.scope
            );
        }
        (None, source) => {
            let _ = writeln!(
                out,
                "location:   unknown: {source}, no-data block /{}",
                placement.scope
            );
        }
    }

    match snapshot.pins.lookup(&name) {
        None => {
            let zone = snapshot.zones.find(&name);
            let _ = writeln!(
                out,
                "pin:        none: {}",
                match zone {
                    Some(_) => "answered from the zone file like any static name",
                    None => "outside every served zone (REFUSED)",
                }
            );
        }
        Some((policy, matched)) => {
            let how = match matched {
                PinMatch::Exact => "exact",
                PinMatch::Wildcard { .. } => "wildcard",
            };
            let targets = if policy.targets.is_empty() {
                "[] (global routing)".to_owned()
            } else {
                policy.targets.join(", ")
            };
            let _ = writeln!(
                out,
                "pin:        {how} match, ips = {targets}, ttl {}",
                policy.ttl
            );
            let plan = policy.plan(question.family);
            let choice = plan.choose(&snapshot.geo, &placement);
            let pops = &snapshot.config.pops;
            let _ = writeln!(out, "candidates ({qtype}):");
            if plan.candidates == 0 {
                let _ = writeln!(out, "  (none with {qtype} addresses)");
            }
            let mut listed: Vec<(f64, u8)> = plan
                .fallback_order
                .iter()
                .map(|&index| {
                    let distance = location.map_or(f64::NAN, |at| {
                        distance_km(at, pops[index as usize].location)
                    });
                    (distance, index)
                })
                .collect();
            listed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (distance, index) in &listed {
                let pop = &pops[*index as usize];
                let marker = if choice.pop == Some(*index) {
                    "  <- chosen"
                } else {
                    ""
                };
                let distance = if distance.is_nan() {
                    "       ? km".to_owned()
                } else {
                    format!("{distance:>8.0} km")
                };
                let _ = writeln!(out, "  {:<12} {distance}  up{marker}", pop.code);
            }
            if !choice.always.is_empty() {
                let always: Vec<String> = choice.always.iter().map(ToString::to_string).collect();
                let _ = writeln!(
                    out,
                    "  unhomed dedicated IPs, answered to every client: {}",
                    always.join(", ")
                );
            }
            let dedicated = policy.targets.iter().any(|target| {
                target
                    .parse::<IpAddr>()
                    .is_ok_and(|address| question.family.holds(&address.to_canonical()))
            });
            if dedicated {
                let _ = writeln!(
                    out,
                    "dedicated:  the domain's dedicated {qtype} addresses replace the shared ones; homed ones are steered like their PoP"
                );
            }
            let why = match (choice.pop, location) {
                _ if choice.is_empty() => "no address of this family is allowed: NODATA".to_owned(),
                (None, _) => {
                    "unhomed dedicated IPs only: the same answer for every client".to_owned()
                }
                _ if plan.candidates.count_ones() == 1 => {
                    "the only candidate: the same answer for every client (ECS scope 0)".to_owned()
                }
                (Some(_), Some(at)) => {
                    let nearest_overall = pops.iter().min_by(|a, b| {
                        distance_km(at, a.location).total_cmp(&distance_km(at, b.location))
                    });
                    match nearest_overall {
                        Some(pop)
                            if plan.candidates & (1u64 << pop_index(snapshot, &pop.code)) == 0 =>
                        {
                            format!(
                                "nearest allowed candidate; the nearest PoP overall, {}, is not allowed",
                                pop.code
                            )
                        }
                        _ => "nearest allowed candidate".to_owned(),
                    }
                }
                (Some(_), None) => {
                    "client not placed and no default_location: the first PoP the domain lists"
                        .to_owned()
                }
            };
            let _ = writeln!(out, "choice:     {why}");
        }
    }

    let packet = query_packet(
        &question.domain,
        question.family,
        question.client,
        question.prefix,
    )?;
    let mut reply = Vec::with_capacity(4096);
    if resolve::answer(
        snapshot,
        &packet,
        question.client,
        Transport::Tcp,
        &mut reply,
    )
    .is_none()
    {
        return Err("the query path sent no reply".to_owned());
    }
    let message =
        Message::from_vec(&reply).map_err(|error| format!("reply does not parse: {error}"))?;
    let _ = writeln!(out, "reply:      {}", message.metadata.response_code);
    for record in &message.answers {
        let _ = writeln!(out, "  {record}");
    }
    for record in &message.authorities {
        let _ = writeln!(out, "  (authority) {record}");
    }
    let scope = message.edns.as_ref().and_then(|edns| {
        edns.options()
            .as_ref()
            .iter()
            .find_map(|(_, option)| match option {
                EdnsOption::Subnet(subnet) => Some(subnet.scope_prefix()),
                _ => None,
            })
    });
    let _ = match scope {
        Some(scope) => writeln!(out, "ECS scope:  {scope}"),
        None => writeln!(out, "ECS scope:  (no ECS in the query, none in the reply)"),
    };
    Ok(out)
}

/// Index of a PoP by code (it exists: it came from the configuration).
fn pop_index(snapshot: &Snapshot, code: &str) -> u32 {
    snapshot.config.pop_index(code).map_or(u32::MAX, u32::from) % 64
}

/// A query packet with EDNS (and ECS when a prefix is given).
fn query_packet(
    domain: &str,
    family: Family,
    client: IpAddr,
    prefix: Option<u8>,
) -> Result<Vec<u8>, String> {
    let name = NameKey::from_text(domain).map_err(|error| error.to_string())?;
    let qtype = match family {
        Family::V4 => rtype::A,
        Family::V6 => rtype::AAAA,
    };
    let mut packet = vec![0x4a, 0x11, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    packet.extend_from_slice(name.as_bytes());
    packet.extend_from_slice(&qtype.to_be_bytes());
    packet.extend_from_slice(&1u16.to_be_bytes());
    let mut options = Vec::new();
    if let Some(prefix) = prefix {
        let network = IpNet::new(client, prefix).map_err(|error| error.to_string())?;
        let (family_number, octets): (u16, Vec<u8>) = match network.network() {
            IpAddr::V4(v4) => (1, v4.octets().to_vec()),
            IpAddr::V6(v6) => (2, v6.octets().to_vec()),
        };
        let used = usize::from(prefix).div_ceil(8);
        options.extend_from_slice(&ecs::OPTION_CODE.to_be_bytes());
        options.extend_from_slice(&((4 + used) as u16).to_be_bytes());
        options.extend_from_slice(&family_number.to_be_bytes());
        options.push(prefix);
        options.push(0);
        options.extend_from_slice(&octets[..used]);
    }
    packet.push(0);
    packet.extend_from_slice(&rtype::OPT.to_be_bytes());
    packet.extend_from_slice(&4096u16.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 0, 0]);
    packet.extend_from_slice(&(options.len() as u16).to_be_bytes());
    packet.extend_from_slice(&options);
    Ok(packet)
}
