//! Domain names as lookup keys: lower-cased wire format in a fixed buffer.
//!
//! Names compare case-insensitively and keep their case on the wire
//! (RFC 1035 §2.3.3, RFC 4343): the reply copies the question's bytes, and
//! every table lookup uses the lower-cased key built here.

use std::fmt;

/// Longest name in wire format (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// Most labels a 255-byte name can hold.
const MAX_LABELS: usize = 128;

/// Why a name could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    /// The message ended inside the name.
    Truncated,
    /// A compression pointer where pindns accepts none (the question).
    Pointer,
    /// A label type other than a plain label (0x40 and 0x80 prefixes).
    BadLabelType,
    /// Longer than 255 bytes in wire format.
    TooLong,
    /// A label longer than 63 bytes, or an empty label in text form.
    BadLabel,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => "name runs past the end of the message",
            Self::Pointer => "compression pointer in the question name",
            Self::BadLabelType => "unknown label type",
            Self::TooLong => "name longer than 255 bytes",
            Self::BadLabel => "empty or over-long label",
        })
    }
}

/// A lower-cased domain name in wire format, with its label offsets, held
/// on the stack so that decoding a query allocates nothing.
#[derive(Clone)]
pub struct NameKey {
    /// Wire-format bytes, lower-cased; `len` of them are valid.
    bytes: [u8; MAX_NAME_LEN],
    /// Number of valid bytes in `bytes`, the root label included.
    len: u8,
    /// Offset of each label's length byte, root label excluded.
    label_starts: [u8; MAX_LABELS],
    /// Number of labels, root excluded.
    label_count: u8,
}

impl NameKey {
    /// The root name.
    pub fn root() -> Self {
        let mut bytes = [0u8; MAX_NAME_LEN];
        bytes[0] = 0;
        Self {
            bytes,
            len: 1,
            label_starts: [0; MAX_LABELS],
            label_count: 0,
        }
    }

    /// Reads an uncompressed name starting at `offset` in `message` and
    /// returns it with the offset just past it.
    pub fn from_wire(message: &[u8], offset: usize) -> Result<(Self, usize), NameError> {
        let mut key = Self::root();
        let end = key.read_wire(message, offset)?;
        Ok((key, end))
    }

    /// Like [`NameKey::from_wire`], but overwrites `self`, so that the
    /// query path builds its key in place instead of moving 400 bytes
    /// around. On error `self` holds the root name.
    pub fn read_wire(&mut self, message: &[u8], offset: usize) -> Result<usize, NameError> {
        self.clear();
        let read = self.decode_wire(message, offset);
        if read.is_err() {
            self.clear();
        }
        read
    }

    /// Decodes the name at `offset` into `self`, which holds the root name.
    ///
    /// The labels are walked once for their framing, then the whole name
    /// is copied and lower-cased in one pass: length bytes (at most 63)
    /// are never ASCII letters, so lower-casing them changes nothing.
    fn decode_wire(&mut self, message: &[u8], offset: usize) -> Result<usize, NameError> {
        let mut position = offset;
        let mut label_count = 0usize;
        loop {
            let length = *message.get(position).ok_or(NameError::Truncated)? as usize;
            if length == 0 {
                break;
            }
            match length & 0xC0 {
                0x00 => {}
                0xC0 => return Err(NameError::Pointer),
                _ => return Err(NameError::BadLabelType),
            }
            let written = position - offset;
            // This label, and at least the root label after it.
            if written + 1 + length + 1 > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            self.label_starts[label_count] = written as u8;
            label_count += 1;
            position += 1 + length;
        }
        let wire = &message[offset..=position];
        for (key, &byte) in self.bytes.iter_mut().zip(wire) {
            *key = byte.to_ascii_lowercase();
        }
        self.len = wire.len() as u8;
        self.label_count = label_count as u8;
        Ok(position + 1)
    }

    /// Makes this the root name.
    fn clear(&mut self) {
        self.len = 1;
        self.bytes[0] = 0;
        self.label_count = 0;
    }

    /// Parses a name in presentation form ("api.example.com", trailing dot
    /// optional). Escapes are not accepted: pin tables name hosts.
    pub fn from_text(text: &str) -> Result<Self, NameError> {
        let trimmed = text.strip_suffix('.').unwrap_or(text);
        let mut wire = [0u8; MAX_NAME_LEN + 1];
        let mut written = 0usize;
        if !trimmed.is_empty() {
            for label in trimmed.split('.') {
                if label.is_empty() || label.len() > MAX_LABEL_LEN {
                    return Err(NameError::BadLabel);
                }
                if written + 1 + label.len() + 1 > MAX_NAME_LEN {
                    return Err(NameError::TooLong);
                }
                wire[written] = label.len() as u8;
                wire[written + 1..written + 1 + label.len()].copy_from_slice(label.as_bytes());
                written += 1 + label.len();
            }
        }
        wire[written] = 0;
        Self::from_wire(&wire[..written + 1], 0).map(|(key, _)| key)
    }

    /// The lower-cased wire-format bytes, root label included.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// Number of labels, the root excluded.
    pub fn label_count(&self) -> usize {
        self.label_count as usize
    }

    /// The name with its first `skip` labels removed, as wire bytes, and the
    /// offset of that suffix within this name.
    pub fn suffix(&self, skip: usize) -> (&[u8], usize) {
        if skip >= self.label_count as usize {
            return (
                &self.bytes[self.len as usize - 1..self.len as usize],
                self.len as usize - 1,
            );
        }
        let start = self.label_starts[skip] as usize;
        (&self.bytes[start..self.len as usize], start)
    }

    /// The first label (without its length byte), if any.
    pub fn first_label(&self) -> &[u8] {
        if self.label_count == 0 {
            return &[];
        }
        let length = self.bytes[0] as usize;
        &self.bytes[1..1 + length]
    }
}

impl PartialEq for NameKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for NameKey {}

impl fmt::Debug for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameKey({self})")
    }
}

impl fmt::Display for NameKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_wire_name(f, self.as_bytes())
    }
}

/// Writes wire-format name bytes in presentation form, with a trailing dot.
pub fn write_wire_name(f: &mut impl fmt::Write, wire: &[u8]) -> fmt::Result {
    let mut position = 0usize;
    if wire.first().copied().unwrap_or(0) == 0 {
        return f.write_char('.');
    }
    while let Some(&length) = wire.get(position) {
        if length == 0 {
            break;
        }
        let label = wire
            .get(position + 1..position + 1 + length as usize)
            .unwrap_or(&[]);
        for &byte in label {
            if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' || byte == b'*' {
                f.write_char(byte as char)?;
            } else {
                write!(f, "\\{byte:03}")?;
            }
        }
        f.write_char('.')?;
        position += 1 + length as usize;
    }
    Ok(())
}

/// Presentation form of wire-format name bytes.
pub fn wire_name_to_string(wire: &[u8]) -> String {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = write_wire_name(&mut text, wire);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_without_case() {
        let upper = NameKey::from_text("CDN.Example.COM").expect("valid name");
        let lower = NameKey::from_text("cdn.example.com.").expect("valid name");
        assert_eq!(upper, lower);
        assert_eq!(upper.to_string(), "cdn.example.com.");
    }

    #[test]
    fn suffixes_walk_towards_the_root() {
        let name = NameKey::from_text("a.b.example.com").expect("valid name");
        assert_eq!(name.label_count(), 4);
        let (suffix, offset) = name.suffix(2);
        assert_eq!(wire_name_to_string(suffix), "example.com.");
        assert_eq!(offset, 4);
        assert_eq!(name.suffix(4).0, &[0]);
    }

    #[test]
    fn over_long_names_are_rejected() {
        let label = "a".repeat(63);
        let long = [label.as_str(); 4].join(".");
        assert_eq!(NameKey::from_text(&long).err(), Some(NameError::TooLong));
        assert_eq!(NameKey::from_text("a..b").err(), Some(NameError::BadLabel));
    }
}
