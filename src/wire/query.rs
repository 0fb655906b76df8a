//! Decoding a query: header, the one question, and EDNS.

use super::ecs::{self, ClientSubnet, EcsError};
use super::name::{NameError, NameKey};
use super::{HEADER_LEN, OPCODE_QUERY, rcode, read_u16, read_u32, rtype};

/// EDNS option code of the Name Server Identifier (RFC 5001).
const OPTION_NSID: u16 = 3;

/// The EDNS facts of a query that shape its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edns {
    /// Requester's UDP payload size, raised to 512 when smaller
    /// (RFC 6891 §6.2.5).
    pub udp_payload: u16,
    /// EDNS version the requester speaks.
    pub version: u8,
    /// The DO bit (RFC 3225), copied into the reply.
    pub dnssec_ok: bool,
    /// A valid Client Subnet option, if one was sent.
    pub client_subnet: Option<ClientSubnet>,
    /// Whether the requester asked for our NSID (RFC 5001).
    pub nsid_requested: bool,
}

/// A decoded query. It borrows the message so that the question can be
/// echoed byte for byte (0x20 case randomisation survives).
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The whole message as received.
    pub message: &'a [u8],
    /// Message ID.
    pub id: u16,
    /// Header flags as received (second and third octets).
    pub flags: u16,
    /// The question name, lower-cased for lookups (in the caller's buffer).
    pub name: &'a NameKey,
    /// Question type.
    pub qtype: u16,
    /// Question class.
    pub qclass: u16,
    /// Offset just past the question section.
    pub question_end: usize,
    /// The OPT record, if any.
    pub edns: Option<Edns>,
}

impl Query<'_> {
    /// The question section exactly as received.
    pub fn question_bytes(&self) -> &[u8] {
        &self.message[HEADER_LEN..self.question_end]
    }

    /// Whether recursion was desired (copied into the reply).
    pub fn recursion_desired(&self) -> bool {
        self.flags & 0x0100 != 0
    }

    /// Whether checking was disabled (copied into the reply).
    pub fn checking_disabled(&self) -> bool {
        self.flags & 0x0010 != 0
    }
}

/// What to do with a message that cannot be answered normally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Send nothing: the header is unreadable, or the message is itself a
    /// response (QR=1), which must never be answered.
    Drop,
    /// Answer with an error code.
    Reply(ErrorReply),
}

/// The parts of a bad query an error reply echoes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorReply {
    /// Message ID.
    pub id: u16,
    /// Header flags as received.
    pub flags: u16,
    /// Response code, possibly extended (BADVERS).
    pub rcode: u16,
    /// Offset past the question, when the question was read cleanly.
    pub question_end: Option<usize>,
    /// EDNS facts, when the OPT record was read cleanly (an invalid Client
    /// Subnet is dropped from them, so it is never echoed).
    pub edns: Option<Edns>,
    /// Why the query was rejected, for `explain` and logs.
    pub reason: RejectReason,
}

/// Why a query got an error reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// Opcode other than QUERY.
    Opcode,
    /// QDCOUNT other than 1 (RFC 9619).
    QuestionCount,
    /// The question name could not be read.
    Name(NameError),
    /// The message ended inside a section.
    Truncated,
    /// More than one OPT record, or an OPT outside the additional section
    /// or with a non-root owner.
    BadOpt,
    /// EDNS version above 0.
    EdnsVersion,
    /// Malformed Client Subnet option.
    ClientSubnet(EcsError),
}

/// Decodes a query, checking everything the reply depends on.
///
/// The question name is decoded into `name`, which the returned query
/// borrows: the caller's buffer, so that nothing large is moved.
pub fn parse<'a>(message: &'a [u8], name: &'a mut NameKey) -> Result<Query<'a>, ParseError> {
    if message.len() < HEADER_LEN {
        return Err(ParseError::Drop);
    }
    let id = u16::from_be_bytes([message[0], message[1]]);
    let flags = u16::from_be_bytes([message[2], message[3]]);
    if flags & 0x8000 != 0 {
        return Err(ParseError::Drop);
    }
    let opcode = ((flags >> 11) & 0x0F) as u8;
    let counts = |index: usize| read_u16(message, 4 + 2 * index).unwrap_or(0);
    let (question_count, answer_count, authority_count, additional_count) =
        (counts(0), counts(1), counts(2), counts(3));

    let reject = |rcode: u16, question_end: Option<usize>, edns: Option<Edns>, reason| {
        ParseError::Reply(ErrorReply {
            id,
            flags,
            rcode,
            question_end,
            edns,
            reason,
        })
    };

    if question_count != 1 {
        let rcode = if opcode == OPCODE_QUERY {
            rcode::FORMERR
        } else {
            rcode::NOTIMP
        };
        return Err(reject(rcode, None, None, RejectReason::QuestionCount));
    }
    let name_end = match name.read_wire(message, HEADER_LEN) {
        Ok(end) => end,
        Err(error) => {
            return Err(reject(
                rcode::FORMERR,
                None,
                None,
                RejectReason::Name(error),
            ));
        }
    };
    let (Some(qtype), Some(qclass)) =
        (read_u16(message, name_end), read_u16(message, name_end + 2))
    else {
        return Err(reject(rcode::FORMERR, None, None, RejectReason::Truncated));
    };
    let question_end = name_end + 4;

    let sections = scan_sections(
        message,
        question_end,
        answer_count,
        authority_count,
        additional_count,
    );
    let (edns, subnet_error) = match sections {
        Ok(found) => found,
        Err(reason) => {
            return Err(reject(rcode::FORMERR, Some(question_end), None, reason));
        }
    };

    if opcode != OPCODE_QUERY {
        return Err(reject(
            rcode::NOTIMP,
            Some(question_end),
            edns,
            RejectReason::Opcode,
        ));
    }
    if let Some(found) = edns {
        // RFC 6891 §6.1.3: a version we do not implement gets BADVERS,
        // whatever else the query holds.
        if found.version > 0 {
            return Err(reject(
                rcode::BADVERS,
                Some(question_end),
                edns,
                RejectReason::EdnsVersion,
            ));
        }
    }
    if let Some(error) = subnet_error {
        return Err(reject(
            rcode::FORMERR,
            Some(question_end),
            edns,
            RejectReason::ClientSubnet(error),
        ));
    }
    Ok(Query {
        message,
        id,
        flags,
        name: &*name,
        qtype,
        qclass,
        question_end,
        edns,
    })
}

/// Walks the answer, authority and additional sections, checking their
/// framing, and decodes the OPT record. A bad Client Subnet option is
/// returned beside the EDNS facts so that BADVERS can take precedence.
fn scan_sections(
    message: &[u8],
    mut offset: usize,
    answer_count: u16,
    authority_count: u16,
    additional_count: u16,
) -> Result<(Option<Edns>, Option<EcsError>), RejectReason> {
    let mut edns = None;
    let mut subnet_error = None;
    let total = u32::from(answer_count) + u32::from(authority_count) + u32::from(additional_count);
    for index in 0..total {
        let owner_start = offset;
        offset = skip_name(message, offset).ok_or(RejectReason::Truncated)?;
        let record_type = read_u16(message, offset).ok_or(RejectReason::Truncated)?;
        let record_class = read_u16(message, offset + 2).ok_or(RejectReason::Truncated)?;
        let ttl = read_u32(message, offset + 4).ok_or(RejectReason::Truncated)?;
        let rdata_len = read_u16(message, offset + 8).ok_or(RejectReason::Truncated)? as usize;
        let rdata_start = offset + 10;
        let rdata = message
            .get(rdata_start..rdata_start + rdata_len)
            .ok_or(RejectReason::Truncated)?;
        offset = rdata_start + rdata_len;
        if record_type != rtype::OPT {
            continue;
        }
        let in_additional = index >= u32::from(answer_count) + u32::from(authority_count);
        // RFC 6891 §6.1.1: one OPT, in the additional section, owned by
        // the root.
        if edns.is_some() || !in_additional || message[owner_start] != 0 {
            return Err(RejectReason::BadOpt);
        }
        let (found, error) = parse_opt(record_class, ttl, rdata)?;
        edns = Some(found);
        subnet_error = error;
    }
    Ok((edns, subnet_error))
}

/// Decodes the OPT record's fixed fields and options.
fn parse_opt(
    udp_payload: u16,
    ttl: u32,
    rdata: &[u8],
) -> Result<(Edns, Option<EcsError>), RejectReason> {
    let [_extended_rcode, version, flags_high, _flags_low] = ttl.to_be_bytes();
    let mut edns = Edns {
        udp_payload: udp_payload.max(512),
        version,
        dnssec_ok: flags_high & 0x80 != 0,
        client_subnet: None,
        nsid_requested: false,
    };
    let mut subnet_error = None;
    let mut offset = 0usize;
    while offset < rdata.len() {
        let code = read_u16(rdata, offset).ok_or(RejectReason::Truncated)?;
        let length = read_u16(rdata, offset + 2).ok_or(RejectReason::Truncated)? as usize;
        let payload = rdata
            .get(offset + 4..offset + 4 + length)
            .ok_or(RejectReason::Truncated)?;
        offset += 4 + length;
        match code {
            ecs::OPTION_CODE => {
                if edns.client_subnet.is_some() || subnet_error.is_some() {
                    subnet_error = Some(EcsError::Repeated);
                    edns.client_subnet = None;
                    continue;
                }
                match ClientSubnet::parse(payload) {
                    Ok(subnet) => edns.client_subnet = Some(subnet),
                    Err(error) => subnet_error = Some(error),
                }
            }
            OPTION_NSID => edns.nsid_requested = true,
            // Unknown options are ignored and never echoed (RFC 6891 §6.1.2).
            _ => {}
        }
    }
    Ok((edns, subnet_error))
}

/// Skips a possibly compressed name and returns the offset past it.
fn skip_name(message: &[u8], mut offset: usize) -> Option<usize> {
    loop {
        let length = *message.get(offset)?;
        match length & 0xC0 {
            0x00 if length == 0 => return Some(offset + 1),
            0x00 => offset += 1 + length as usize,
            0xC0 => {
                message.get(offset + 1)?;
                return Some(offset + 2);
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `www.example.com A` with ID 1 and no EDNS.
    const PLAIN: &[u8] = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03WwW\x07example\x03com\x00\x00\x01\x00\x01";

    #[test]
    fn plain_query_decodes() {
        let mut name = NameKey::root();
        let query = parse(PLAIN, &mut name).expect("valid query");
        assert_eq!(query.id, 1);
        assert_eq!(query.qtype, rtype::A);
        assert_eq!(query.name.to_string(), "www.example.com.");
        assert_eq!(query.question_bytes(), &PLAIN[12..]);
        assert!(query.edns.is_none());
    }

    #[test]
    fn responses_are_dropped() {
        let mut response = PLAIN.to_vec();
        response[2] |= 0x80;
        assert_eq!(
            parse(&response, &mut NameKey::root()).err(),
            Some(ParseError::Drop)
        );
        assert_eq!(
            parse(&PLAIN[..11], &mut NameKey::root()).err(),
            Some(ParseError::Drop)
        );
    }

    #[test]
    fn question_count_other_than_one_is_formerr() {
        let mut header_only = PLAIN[..12].to_vec();
        header_only[5] = 0;
        match parse(&header_only, &mut NameKey::root()) {
            Err(ParseError::Reply(reply)) => assert_eq!(reply.rcode, rcode::FORMERR),
            other => panic!("unexpected {other:?}"),
        }
    }
}
