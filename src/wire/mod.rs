//! DNS wire format: strict query decoding and allocation-free reply encoding.
//!
//! ```text
//!   datagram ──▶ query::parse ──▶ Query (borrowed, on the stack)
//!                                   │
//!   resolve::answer ◀───────────────┘
//!        │
//!        ▼
//!   reply::Reply (writes into a reused buffer) ──▶ datagram
//! ```
//!
//! Only what an authoritative server needs is decoded: the header, the one
//! question, and the OPT record with its EDNS Client Subnet option. Every
//! other section is skipped after its framing is checked.

pub mod ecs;
pub mod name;
pub mod query;
pub mod reply;

pub use ecs::ClientSubnet;
pub use name::NameKey;
pub use query::{Edns, ParseError, Query};
pub use reply::Reply;

/// Record types pindns handles by number.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Authoritative name server.
    pub const NS: u16 = 2;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// Start of authority.
    pub const SOA: u16 = 6;
    /// Host information (RFC 8482 minimal ANY answers).
    pub const HINFO: u16 = 13;
    /// Text strings.
    pub const TXT: u16 = 16;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// Delegation signer (RFC 4034): held by the parent side of a cut.
    pub const DS: u16 = 43;
    /// EDNS pseudo-record.
    pub const OPT: u16 = 41;
    /// Incremental zone transfer.
    pub const IXFR: u16 = 251;
    /// Full zone transfer.
    pub const AXFR: u16 = 252;
    /// Any type (RFC 8482).
    pub const ANY: u16 = 255;
}

/// Classes pindns handles by number.
pub mod class {
    /// Internet.
    pub const IN: u16 = 1;
    /// CHAOS (server identity queries).
    pub const CH: u16 = 3;
    /// Any class.
    pub const ANY: u16 = 255;
}

/// Response codes, including the extended ones carried in OPT.
pub mod rcode {
    /// No error.
    pub const NOERROR: u16 = 0;
    /// Format error.
    pub const FORMERR: u16 = 1;
    /// Server failure.
    pub const SERVFAIL: u16 = 2;
    /// Name does not exist.
    pub const NXDOMAIN: u16 = 3;
    /// Not implemented.
    pub const NOTIMP: u16 = 4;
    /// Refused.
    pub const REFUSED: u16 = 5;
    /// Bad EDNS version (extended: 16).
    pub const BADVERS: u16 = 16;
}

/// Opcode of a standard query.
pub const OPCODE_QUERY: u8 = 0;

/// Length of the fixed DNS header.
pub const HEADER_LEN: usize = 12;

/// The UDP payload size pindns advertises and the largest UDP reply it sends
/// (the DNS flag day 2020 value, which avoids IP fragmentation).
pub const OUR_UDP_PAYLOAD: u16 = 1232;

/// The largest reply over UDP to a query without EDNS (RFC 1035 §4.2.1).
pub const CLASSIC_UDP_LIMIT: usize = 512;

/// Largest DNS message (TCP framing limit).
pub const MAX_MESSAGE: usize = 65535;

/// Reads a big-endian u16 at `offset`, if the message is long enough.
pub(crate) fn read_u16(message: &[u8], offset: usize) -> Option<u16> {
    let bytes = message.get(offset..offset + 2)?;
    Some(u16::from_be_bytes([bytes[0], bytes[1]]))
}

/// Reads a big-endian u32 at `offset`, if the message is long enough.
pub(crate) fn read_u32(message: &[u8], offset: usize) -> Option<u32> {
    let bytes = message.get(offset..offset + 4)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}
