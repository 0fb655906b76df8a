//! EDNS Client Subnet (RFC 7871): strict decoding of the option in queries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// EDNS option code of Client Subnet.
pub const OPTION_CODE: u16 = 8;

/// Address family numbers (IANA) that ECS carries.
const FAMILY_IPV4: u16 = 1;
/// IANA address family number of IPv6.
const FAMILY_IPV6: u16 = 2;

/// Why an ECS option was rejected; every variant is answered with FORMERR
/// (RFC 7871 §7.2.1: "If the option is wrongly formatted ... FORMERR").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EcsError {
    /// Shorter than FAMILY, SOURCE PREFIX-LENGTH and SCOPE PREFIX-LENGTH.
    TooShort,
    /// A FAMILY other than IPv4 (1) or IPv6 (2).
    UnknownFamily,
    /// SOURCE PREFIX-LENGTH longer than the family's address.
    SourcePrefixTooLong,
    /// SCOPE PREFIX-LENGTH not zero in a query.
    ScopeInQuery,
    /// ADDRESS not exactly ceil(SOURCE PREFIX-LENGTH / 8) bytes.
    AddressLength,
    /// ADDRESS has bits set beyond SOURCE PREFIX-LENGTH.
    StrayAddressBits,
    /// More than one ECS option in one query.
    Repeated,
}

/// A validated Client Subnet option from a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSubnet {
    /// The client network's address, bits past the prefix zero.
    pub address: IpAddr,
    /// SOURCE PREFIX-LENGTH as sent.
    pub source_prefix_len: u8,
}

impl ClientSubnet {
    /// Decodes and validates the option payload (without code and length).
    pub fn parse(payload: &[u8]) -> Result<Self, EcsError> {
        // RFC 7871 §6: FAMILY (2 octets), SOURCE PREFIX-LENGTH (1),
        // SCOPE PREFIX-LENGTH (1), ADDRESS (variable).
        let [
            family_high,
            family_low,
            source_prefix_len,
            scope_prefix_len,
            address @ ..,
        ] = payload
        else {
            return Err(EcsError::TooShort);
        };
        let family = u16::from_be_bytes([*family_high, *family_low]);
        let max_prefix = match family {
            FAMILY_IPV4 => 32,
            FAMILY_IPV6 => 128,
            // "FAMILY ... as assigned by IANA": only the two address
            // families ECS defines are meaningful here.
            _ => return Err(EcsError::UnknownFamily),
        };
        let source_prefix_len = *source_prefix_len;
        if source_prefix_len > max_prefix {
            return Err(EcsError::SourcePrefixTooLong);
        }
        // "SCOPE PREFIX-LENGTH ... In queries, it MUST be set to 0."
        if *scope_prefix_len != 0 {
            return Err(EcsError::ScopeInQuery);
        }
        // "ADDRESS ... MUST be truncated to the number of bits indicated by
        // the SOURCE PREFIX-LENGTH field, padding with 0 bits to pad to the
        // end of the last octet needed."
        let needed = usize::from(source_prefix_len).div_ceil(8);
        if address.len() != needed {
            return Err(EcsError::AddressLength);
        }
        // "A server receiving an ECS option that uses ... more ADDRESS
        // octets than are needed, or that has non-zero bits set beyond
        // SOURCE PREFIX-LENGTH, SHOULD return FORMERR".
        if let Some(&last) = address.last() {
            let used_bits = source_prefix_len % 8;
            if used_bits != 0 && last & (0xFFu8 >> used_bits) != 0 {
                return Err(EcsError::StrayAddressBits);
            }
        }
        let address = if family == FAMILY_IPV4 {
            let mut octets = [0u8; 4];
            octets[..address.len()].copy_from_slice(address);
            IpAddr::V4(Ipv4Addr::from(octets))
        } else {
            let mut octets = [0u8; 16];
            octets[..address.len()].copy_from_slice(address);
            IpAddr::V6(Ipv6Addr::from(octets))
        };
        Ok(Self {
            address,
            source_prefix_len,
        })
    }

    /// IANA family number of the address.
    pub fn family(&self) -> u16 {
        match self.address {
            IpAddr::V4(_) => FAMILY_IPV4,
            IpAddr::V6(_) => FAMILY_IPV6,
        }
    }

    /// Length of ADDRESS: ceil(source / 8) octets.
    pub fn address_len(&self) -> usize {
        usize::from(self.source_prefix_len).div_ceil(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn well_formed_options_decode() {
        let subnet = ClientSubnet::parse(&hex("00011800c6336400")[..7]).expect("valid");
        assert_eq!(
            subnet.address,
            "198.51.100.0".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(subnet.source_prefix_len, 24);
        let zero = ClientSubnet::parse(&hex("00010000")).expect("valid");
        assert_eq!(zero.source_prefix_len, 0);
    }

    #[test]
    fn malformed_options_are_rejected() {
        let cases = [
            ("00012100c000020100", EcsError::SourcePrefixTooLong),
            ("00011818c63364", EcsError::ScopeInQuery),
            ("00011800c6336400", EcsError::AddressLength),
            ("00011600c63367", EcsError::StrayAddressBits),
            ("00030000", EcsError::UnknownFamily),
            (
                "000281000000000000000000000000000000000000",
                EcsError::SourcePrefixTooLong,
            ),
            ("000118", EcsError::TooShort),
        ];
        for (payload, expected) in cases {
            assert_eq!(
                ClientSubnet::parse(&hex(payload)),
                Err(expected),
                "{payload}"
            );
        }
    }
}
