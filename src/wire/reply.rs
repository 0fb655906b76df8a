//! Encoding a reply into a reused buffer, without allocating.

use std::net::IpAddr;

use super::ecs::{self, ClientSubnet};
use super::{HEADER_LEN, OUR_UDP_PAYLOAD, rtype};

/// Offset of the question name in every message: the target of the
/// compression pointer for owners equal to the question name.
pub const QUESTION_NAME_OFFSET: u16 = HEADER_LEN as u16;

/// Header flag bits pindns sets or copies.
mod flag {
    /// Message is a response.
    pub(super) const QR: u16 = 0x8000;
    /// Authoritative answer.
    pub(super) const AA: u16 = 0x0400;
    /// Truncated.
    pub(super) const TC: u16 = 0x0200;
    /// Recursion desired (copied).
    pub(super) const RD: u16 = 0x0100;
    /// Checking disabled (copied).
    pub(super) const CD: u16 = 0x0010;
    /// Opcode field.
    pub(super) const OPCODE: u16 = 0x7800;
}

/// Reply sections that hold records, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Answer section.
    Answer = 0,
    /// Authority section.
    Authority = 1,
    /// Additional section.
    Additional = 2,
}

/// How a record's owner name is written.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'n> {
    /// A compression pointer to a name already in the message.
    Pointer(u16),
    /// Uncompressed wire-format bytes.
    Wire(&'n [u8]),
}

/// The OPT record of a reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct OptReply<'n> {
    /// Copy of the query's DO bit (RFC 3225).
    pub dnssec_ok: bool,
    /// Client Subnet echo with the SCOPE PREFIX-LENGTH of the answer.
    pub client_subnet: Option<(ClientSubnet, u8)>,
    /// Our NSID, when the query asked for it and one is configured.
    pub nsid: Option<&'n [u8]>,
}

/// A reply under construction in a caller-owned buffer.
pub struct Reply<'b> {
    /// The message bytes written so far.
    buffer: &'b mut Vec<u8>,
    /// Offset just past the question section.
    question_end: usize,
    /// Records written to answer, authority and additional.
    counts: [u16; 3],
    /// Full response code (extended part goes into OPT).
    rcode: u16,
    /// Size past which records are no longer written.
    limit: usize,
    /// Whether a record was left out for the limit: the reply is sent
    /// truncated (TC=1).
    overflowed: bool,
}

impl<'b> Reply<'b> {
    /// Starts a reply: header copied from the query's ID and flags, the
    /// question copied byte for byte (absent when `question` is empty).
    pub fn start(buffer: &'b mut Vec<u8>, id: u16, query_flags: u16, question: &[u8]) -> Self {
        buffer.clear();
        let flags = flag::QR | (query_flags & (flag::OPCODE | flag::RD | flag::CD));
        let [id_high, id_low] = id.to_be_bytes();
        let [flags_high, flags_low] = flags.to_be_bytes();
        let question_count = u8::from(!question.is_empty());
        buffer.extend_from_slice(&[
            id_high,
            id_low,
            flags_high,
            flags_low,
            0,
            question_count,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        buffer.extend_from_slice(question);
        let question_end = buffer.len();
        Self {
            buffer,
            question_end,
            counts: [0; 3],
            rcode: 0,
            limit: super::MAX_MESSAGE,
            overflowed: false,
        }
    }

    /// Stops writing records once the message would pass `size`: a reply
    /// that cannot fit is never built whole only to be cut.
    pub fn limit_to(&mut self, size: usize) {
        self.limit = size;
    }

    /// Marks the answer authoritative.
    pub fn set_authoritative(&mut self) {
        self.buffer[2] |= (flag::AA >> 8) as u8;
    }

    /// Clears the AA flag (a referral is not an authoritative answer).
    pub fn clear_authoritative(&mut self) {
        self.buffer[2] &= !((flag::AA >> 8) as u8);
    }

    /// Sets the response code; values above 15 are completed in OPT.
    pub fn set_rcode(&mut self, rcode: u16) {
        self.rcode = rcode;
        self.buffer[3] = (self.buffer[3] & 0xF0) | (rcode & 0x0F) as u8;
    }

    /// Current length of the message.
    pub fn len(&self) -> usize {
        self.buffer.len()
    }

    /// Whether nothing but the header and question was written.
    pub fn is_empty(&self) -> bool {
        self.buffer.len() == self.question_end
    }

    /// Appends a record with ready-made RDATA.
    pub fn push(
        &mut self,
        section: Section,
        owner: Owner<'_>,
        record_type: u16,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) {
        if self.overflowed || self.next_rdata_offset(owner) + rdata.len() > self.limit {
            self.overflowed = true;
            return;
        }
        write_record(self.buffer, owner, record_type, class, ttl, rdata);
        self.count(section);
    }

    /// Appends `count` records encoded beforehand, all of one size (see
    /// [`encode_address_records`]): one copy instead of a write per field.
    pub fn push_encoded(&mut self, section: Section, records: &[u8], count: usize) {
        if records.is_empty() {
            return;
        }
        if self.overflowed || self.buffer.len() + records.len() > self.limit {
            self.overflowed = true;
            return;
        }
        self.buffer.extend_from_slice(records);
        self.count_many(section, u16::try_from(count).unwrap_or(u16::MAX));
    }

    /// Offset at which the next record's RDATA will start if its owner is
    /// written as given (used to point later owners at a CNAME target).
    pub fn next_rdata_offset(&self, owner: Owner<'_>) -> usize {
        let owner_len = match owner {
            Owner::Pointer(_) => 2,
            Owner::Wire(bytes) => bytes.len(),
        };
        self.buffer.len() + owner_len + 10
    }

    /// Writes the OPT record and enforces the size limit: a reply that does
    /// not fit loses every record but OPT and gets TC=1 (RFC 1035 §4.2.1,
    /// RFC 6891 §7). Returns the final length.
    pub fn finish(mut self, opt: Option<OptReply<'_>>, size_limit: usize) -> usize {
        if let Some(opt) = opt {
            self.write_opt(&opt);
        }
        if self.overflowed || self.buffer.len() > size_limit {
            self.buffer.truncate(self.question_end);
            self.counts = [0; 3];
            self.buffer[2] |= (flag::TC >> 8) as u8;
            self.write_counts();
            if let Some(opt) = opt {
                self.write_opt(&opt);
            }
        }
        self.buffer.len()
    }

    /// Counts one more record in `section` and updates the header.
    fn count(&mut self, section: Section) {
        self.count_many(section, 1);
    }

    /// Counts `added` more records in `section` and updates its count in
    /// the header.
    fn count_many(&mut self, section: Section, added: u16) {
        let count = self.counts[section as usize].saturating_add(added);
        self.counts[section as usize] = count;
        self.write_count(section, count);
    }

    /// Writes the three record counts into the header.
    fn write_counts(&mut self) {
        for section in [Section::Answer, Section::Authority, Section::Additional] {
            self.write_count(section, self.counts[section as usize]);
        }
    }

    /// Writes one section's record count into the header.
    fn write_count(&mut self, section: Section, count: u16) {
        let at = 6 + 2 * section as usize;
        self.buffer[at..at + 2].copy_from_slice(&count.to_be_bytes());
    }

    /// Writes the OPT pseudo-record (RFC 6891 §6.1.2).
    fn write_opt(&mut self, opt: &OptReply<'_>) {
        let nsid_len = opt.nsid.map_or(0, |nsid| 4 + nsid.len());
        let subnet_len = opt
            .client_subnet
            .map_or(0, |(subnet, _)| 8 + subnet.address_len());
        let [opt_high, opt_low] = rtype::OPT.to_be_bytes();
        let [payload_high, payload_low] = OUR_UDP_PAYLOAD.to_be_bytes();
        let extended_rcode = (self.rcode >> 4) as u8;
        let do_flag = if opt.dnssec_ok { 0x80 } else { 0 };
        let [rdata_high, rdata_low] = ((nsid_len + subnet_len) as u16).to_be_bytes();
        // Root owner, type, our payload size, extended RCODE, version 0,
        // flags (only DO is ever set: unknown flags in the query are not
        // echoed), and the RDATA length.
        self.buffer.extend_from_slice(&[
            0,
            opt_high,
            opt_low,
            payload_high,
            payload_low,
            extended_rcode,
            0,
            do_flag,
            0,
            rdata_high,
            rdata_low,
        ]);
        if let Some(nsid) = opt.nsid {
            self.buffer.extend_from_slice(&3u16.to_be_bytes());
            self.buffer
                .extend_from_slice(&(nsid.len() as u16).to_be_bytes());
            self.buffer.extend_from_slice(nsid);
        }
        if let Some((subnet, scope)) = opt.client_subnet {
            // RFC 7871 §7.2.1: FAMILY, SOURCE PREFIX-LENGTH and ADDRESS are
            // copied from the query; SCOPE says how far the answer holds.
            let [code_high, code_low] = ecs::OPTION_CODE.to_be_bytes();
            let [length_high, length_low] = ((subnet_len - 4) as u16).to_be_bytes();
            let [family_high, family_low] = subnet.family().to_be_bytes();
            let mut option = [0u8; 8 + 16];
            option[..8].copy_from_slice(&[
                code_high,
                code_low,
                length_high,
                length_low,
                family_high,
                family_low,
                subnet.source_prefix_len,
                scope,
            ]);
            match subnet.address {
                IpAddr::V4(v4) => option[8..12].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => option[8..].copy_from_slice(&v6.octets()),
            }
            // Copied whole, then cut to the ADDRESS octets sent: a copy
            // of a known size costs less than one of a computed size.
            let end = self.buffer.len() + subnet_len;
            self.buffer.extend_from_slice(&option);
            self.buffer.truncate(end);
        }
        // OPT is not among the counted records: a reply rewritten
        // truncated writes it again.
        let additional = self.counts[Section::Additional as usize].saturating_add(1);
        self.write_count(Section::Additional, additional);
    }
}

/// Appends one resource record to `out`: owner, type, class, TTL, RDATA
/// length and RDATA (RFC 1035 §4.1.3).
fn write_record(
    out: &mut Vec<u8>,
    owner: Owner<'_>,
    record_type: u16,
    class: u16,
    ttl: u32,
    rdata: &[u8],
) {
    match owner {
        Owner::Pointer(offset) => out.extend_from_slice(&(0xC000 | offset).to_be_bytes()),
        Owner::Wire(bytes) => out.extend_from_slice(bytes),
    }
    let [type_high, type_low] = record_type.to_be_bytes();
    let [class_high, class_low] = class.to_be_bytes();
    let [ttl_0, ttl_1, ttl_2, ttl_3] = ttl.to_be_bytes();
    let [length_high, length_low] = (rdata.len() as u16).to_be_bytes();
    out.extend_from_slice(&[
        type_high,
        type_low,
        class_high,
        class_low,
        ttl_0,
        ttl_1,
        ttl_2,
        ttl_3,
        length_high,
        length_low,
    ]);
    out.extend_from_slice(rdata);
}

/// Calls `write` with the record type (A or AAAA) and RDATA of an address.
pub fn with_address_rdata<R>(address: &IpAddr, write: impl FnOnce(u16, &[u8]) -> R) -> R {
    match address {
        IpAddr::V4(v4) => write(rtype::A, &v4.octets()),
        IpAddr::V6(v6) => write(rtype::AAAA, &v6.octets()),
    }
}

/// The A or AAAA records of `addresses` for the question's own name, as
/// [`Reply::push`] writes them with owner [`QUESTION_NAME_OFFSET`]: encoded
/// once at load, copied whole into each reply.
pub fn encode_address_records(addresses: &[IpAddr], ttl: u32) -> Box<[u8]> {
    let mut records = Vec::new();
    let owner = Owner::Pointer(QUESTION_NAME_OFFSET);
    for address in addresses {
        with_address_rdata(address, |record_type, rdata| {
            write_record(
                &mut records,
                owner,
                record_type,
                super::class::IN,
                ttl,
                rdata,
            );
        });
    }
    records.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::class;

    /// A reply to `api.example.com A` with ID 7.
    fn start(buffer: &mut Vec<u8>) -> Reply<'_> {
        let question = b"\x03api\x07example\x03com\x00\x00\x01\x00\x01";
        Reply::start(buffer, 7, 0x0100, question)
    }

    #[test]
    fn encoded_records_are_the_records_push_writes() {
        let addresses: Vec<IpAddr> = vec![
            "192.0.2.3".parse().expect("ip"),
            "198.51.100.7".parse().expect("ip"),
            "2001:db8::3".parse().expect("ip"),
        ];
        let mut pushed = Vec::new();
        let mut reply = start(&mut pushed);
        for address in &addresses {
            let (record_type, octets) = match address {
                IpAddr::V4(v4) => (rtype::A, v4.octets().to_vec()),
                IpAddr::V6(v6) => (rtype::AAAA, v6.octets().to_vec()),
            };
            let owner = Owner::Pointer(QUESTION_NAME_OFFSET);
            reply.push(Section::Answer, owner, record_type, class::IN, 300, &octets);
        }
        let pushed_len = reply.finish(None, 512);

        let mut encoded = Vec::new();
        let mut reply = start(&mut encoded);
        let records = encode_address_records(&addresses, 300);
        reply.push_encoded(Section::Answer, &records, addresses.len());
        let encoded_len = reply.finish(None, 512);
        assert_eq!(encoded_len, pushed_len);
        assert_eq!(encoded, pushed);
    }

    #[test]
    fn encoded_records_past_the_limit_truncate_the_reply() {
        let addresses: Vec<IpAddr> = (1..=40u8)
            .map(|last| {
                IpAddr::from([
                    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last,
                ])
            })
            .collect();
        let records = encode_address_records(&addresses, 60);
        let mut buffer = Vec::new();
        let mut reply = start(&mut buffer);
        reply.limit_to(512);
        reply.push_encoded(Section::Answer, &records, addresses.len());
        let length = reply.finish(None, 512);
        assert_eq!(length, HEADER_LEN + 21, "header and question only");
        assert_ne!(buffer[2] & 0x02, 0, "TC set");
        assert_eq!(&buffer[6..8], &[0, 0], "no answer counted");
    }
}
