//! Reading RFC 1035 zone files with hickory-proto's parser, one entry at a
//! time, so that every error carries its line and all of them are reported.

use std::path::{Path, PathBuf};

use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder, NameEncoding};
use hickory_proto::serialize::txt::Parser;
use rustc_hash::FxHashMap;

use super::{Node, Rrset, Zone};
use crate::diagnostics::Diagnostic;
use crate::wire::{NameKey, rtype};

/// One logical entry of a zone file (parentheses joined) and its first line.
struct Entry {
    /// 1-based line the entry starts on.
    line: usize,
    /// The entry's text, comments removed, on one line.
    text: String,
}

/// Loads every `*.zone` file of a directory; all errors of all files.
pub fn load_zone_dir(dir: &Path) -> Result<Vec<Zone>, Vec<Diagnostic>> {
    let listing = std::fs::read_dir(dir).map_err(|error| {
        vec![Diagnostic::new(
            dir,
            None,
            format!("cannot read zones directory: {error}"),
        )]
    })?;
    let mut paths: Vec<PathBuf> = listing
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| crate::diagnostics::is_data_file(path, "zone"))
        .collect();
    paths.sort();
    let mut zones: Vec<Zone> = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_zone_file(&path) {
            Ok(zone) => {
                if let Some(other) = zones.iter().find(|other| other.apex == zone.apex) {
                    errors.push(Diagnostic::new(
                        &path,
                        None,
                        format!(
                            "zone {} is also served from {}",
                            crate::wire::name::wire_name_to_string(&zone.apex),
                            other.file.display()
                        ),
                    ));
                } else {
                    zones.push(zone);
                }
            }
            Err(mut file_errors) => errors.append(&mut file_errors),
        }
    }
    if errors.is_empty() {
        Ok(zones)
    } else {
        Err(errors)
    }
}

/// Loads one zone file. Its origin is its `$ORIGIN`, else its file name
/// without `.zone`.
pub fn load_zone_file(path: &Path) -> Result<Zone, Vec<Diagnostic>> {
    let text = crate::diagnostics::read_text_file(path).map_err(|error| vec![error])?;
    parse_zone(path, &text)
}

/// Parses zone text read from `path`.
pub fn parse_zone(path: &Path, text: &str) -> Result<Zone, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let error = |errors: &mut Vec<Diagnostic>, line: usize, message: String| {
        errors.push(Diagnostic::new(path, Some(line), message));
    };
    let stem = path
        .file_stem()
        .and_then(|stem| stem.to_str())
        .unwrap_or_default()
        .to_owned();
    let mut origin: Option<Name> = Name::parse(&stem, Some(&Name::root())).ok();
    let mut apex: Option<Name> = None;
    let mut default_ttl: Option<String> = None;
    let mut last_owner: Option<String> = None;
    let mut records: Vec<(usize, Record)> = Vec::new();

    for entry in split_entries(text, &mut errors, path) {
        let trimmed = entry.text.trim();
        let mut words = trimmed.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.eq_ignore_ascii_case("$ORIGIN") {
            match words.next().map(|name| Name::parse(name, origin.as_ref())) {
                Some(Ok(name)) => origin = Some(name),
                _ => error(
                    &mut errors,
                    entry.line,
                    "$ORIGIN needs a domain name".to_owned(),
                ),
            }
            continue;
        }
        if first.eq_ignore_ascii_case("$TTL") {
            match words.next() {
                Some(ttl) => default_ttl = Some(ttl.to_owned()),
                None => error(&mut errors, entry.line, "$TTL needs a value".to_owned()),
            }
            continue;
        }
        if first.starts_with('$') {
            error(&mut errors, entry.line, format!("{first} is not supported"));
            continue;
        }
        let Some(current_origin) = origin.clone() else {
            error(
                &mut errors,
                entry.line,
                "no $ORIGIN and the file name is not a domain".to_owned(),
            );
            continue;
        };
        // The first record fixes the apex: the origin at that point.
        let zone_apex = apex.get_or_insert_with(|| current_origin.clone()).clone();
        let starts_blank = entry.text.starts_with([' ', '\t']);
        let record_text = match (&last_owner, starts_blank) {
            (Some(owner), true) => format!("{owner} {trimmed}"),
            (None, true) => {
                error(
                    &mut errors,
                    entry.line,
                    "record has no owner name".to_owned(),
                );
                continue;
            }
            _ => trimmed.to_owned(),
        };
        let mut single = String::with_capacity(record_text.len() + 16);
        if let Some(ttl) = &default_ttl {
            single.push_str("$TTL ");
            single.push_str(ttl);
            single.push('\n');
        }
        single.push_str(&record_text);
        single.push('\n');
        let parsed = Parser::new(single.as_str(), None, Some(current_origin)).parse();
        match parsed {
            Ok((_, sets)) => {
                for set in sets.into_values() {
                    for record in set.records_without_rrsigs() {
                        if !zone_apex.zone_of(&record.name) {
                            error(
                                &mut errors,
                                entry.line,
                                format!("{} is outside the zone {zone_apex}", record.name),
                            );
                            continue;
                        }
                        last_owner = Some(record.name.to_ascii());
                        records.push((entry.line, record.clone()));
                    }
                }
            }
            Err(parse_error) => error(&mut errors, entry.line, parse_error.to_string()),
        }
    }

    let Some(apex) = apex else {
        errors.push(Diagnostic::new(path, None, "zone has no records"));
        return Err(errors);
    };
    let zone = assemble(path, &apex, records, &mut errors);
    match zone {
        Some(zone) if errors.is_empty() => Ok(zone),
        _ => Err(errors),
    }
}

/// Builds the zone from its records and checks the rules that span
/// records: one SOA at the apex, CNAME alone at its name.
fn assemble(
    path: &Path,
    apex: &Name,
    records: Vec<(usize, Record)>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Zone> {
    let apex_key = key_of(apex)?;
    let mut nodes: FxHashMap<Box<[u8]>, Node> = FxHashMap::default();
    let mut first_line: FxHashMap<(Box<[u8]>, u16), usize> = FxHashMap::default();
    let mut soa: Option<(u32, u32, Box<[u8]>, u32)> = None;
    let mut has_delegations = false;
    let mut has_wildcards = false;

    for (line, record) in records {
        let Some(owner) = key_of(&record.name) else {
            errors.push(Diagnostic::new(
                path,
                Some(line),
                format!("bad owner name {}", record.name),
            ));
            continue;
        };
        let record_type = u16::from(record.record_type());
        let Some(rdata) = encode_rdata(&record.data) else {
            errors.push(Diagnostic::new(
                path,
                Some(line),
                "record data cannot be encoded",
            ));
            continue;
        };
        // RFC 1035 §3.3: every type served here has data (a TXT record, for
        // one, holds at least one character-string); an empty RDATA would
        // be sent as a record resolvers reject.
        if rdata.is_empty() {
            errors.push(Diagnostic::new(
                path,
                Some(line),
                format!("{} record has no data", record.record_type()),
            ));
            continue;
        }
        if record_type == rtype::SOA {
            if owner.as_bytes() != apex_key.as_bytes() {
                errors.push(Diagnostic::new(
                    path,
                    Some(line),
                    "SOA is only allowed at the zone apex",
                ));
                continue;
            }
            if soa.is_some() {
                errors.push(Diagnostic::new(path, Some(line), "second SOA record"));
                continue;
            }
            if let RData::SOA(data) = &record.data {
                soa = Some((record.ttl, data.minimum, rdata.clone(), data.serial));
            }
        }
        if record_type == rtype::NS && owner.as_bytes() != apex_key.as_bytes() {
            has_delegations = true;
        }
        if owner.first_label() == b"*" {
            has_wildcards = true;
        }
        let key: Box<[u8]> = owner.as_bytes().into();
        first_line.entry((key.clone(), record_type)).or_insert(line);
        let node = nodes.entry(key).or_default();
        match node.rrsets.iter_mut().find(|set| set.rtype == record_type) {
            Some(set) => {
                // RFC 2181 §5.2: an RRset has one TTL; the lowest wins.
                set.ttl = set.ttl.min(record.ttl);
                // Duplicates are dropped below, once per RRset.
                set.rdata.push(rdata);
            }
            None => node.rrsets.push(Rrset {
                rtype: record_type,
                ttl: record.ttl,
                rdata: vec![rdata],
            }),
        }
    }

    // RFC 2181 §5: an RRset is a set; a record given twice is one record.
    // The first occurrence keeps its place.
    for node in nodes.values_mut() {
        for set in &mut node.rrsets {
            if set.rdata.len() > 1 {
                let mut seen = rustc_hash::FxHashSet::default();
                set.rdata.retain(|rdata| seen.insert(rdata.clone()));
            }
        }
    }

    // RFC 1034 §3.6.2 and RFC 2181 §10.1: a CNAME is alone at its name.
    for (owner, node) in &nodes {
        if let Some(cname) = node.rrset(rtype::CNAME) {
            let line = first_line.get(&(owner.clone(), rtype::CNAME)).copied();
            if cname.rdata.len() > 1 {
                errors.push(Diagnostic::new(
                    path,
                    line,
                    "more than one CNAME at one name",
                ));
            }
            if node.rrsets.len() > 1 {
                errors.push(Diagnostic::new(
                    path,
                    line,
                    "CNAME and other data at the same name",
                ));
            }
        }
    }

    let Some((soa_ttl, minimum, soa_rdata, serial)) = soa else {
        errors.push(Diagnostic::new(
            path,
            None,
            format!("zone {apex} has no SOA record at its apex"),
        ));
        return None;
    };

    // Empty non-terminals exist (RFC 4592 §2.2.2): NODATA, not NXDOMAIN.
    let apex_labels = apex_key.label_count();
    let owners: Vec<Box<[u8]>> = nodes.keys().cloned().collect();
    for owner in owners {
        let Ok((name, _)) = NameKey::from_wire(&owner, 0) else {
            continue;
        };
        for skip in 1..name.label_count().saturating_sub(apex_labels) {
            nodes.entry(name.suffix(skip).0.into()).or_default();
        }
    }

    Some(Zone {
        file: path.to_path_buf(),
        apex: apex_key.as_bytes().into(),
        apex_labels,
        negative_ttl: soa_ttl.min(minimum),
        soa_rdata,
        serial,
        nodes,
        has_delegations,
        has_wildcards,
    })
}

/// The lookup key of a hickory name.
fn key_of(name: &Name) -> Option<NameKey> {
    let mut wire = Vec::with_capacity(64);
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    name.emit(&mut encoder).ok()?;
    NameKey::from_wire(&wire, 0).ok().map(|(key, _)| key)
}

/// RDATA in wire format with names uncompressed and their case kept.
fn encode_rdata(data: &RData) -> Option<Box<[u8]>> {
    let mut wire = Vec::with_capacity(32);
    let mut encoder = BinEncoder::new(&mut wire);
    encoder.set_name_encoding(NameEncoding::Uncompressed);
    data.emit(&mut encoder).ok()?;
    Some(wire.into_boxed_slice())
}

/// Splits zone text into logical entries: comments removed, parenthesised
/// continuations joined, each with the line it starts on.
fn split_entries(text: &str, errors: &mut Vec<Diagnostic>, path: &Path) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut start_line = 1usize;
    let mut line = 1usize;
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut in_comment = false;
    let mut escaped = false;
    for character in text.chars() {
        if character == '\n' {
            line += 1;
            in_comment = false;
            if in_quotes {
                current.push(' ');
                continue;
            }
            if depth > 0 {
                current.push(' ');
                continue;
            }
            if !current.trim().is_empty() {
                entries.push(Entry {
                    line: start_line,
                    text: std::mem::take(&mut current),
                });
            }
            current.clear();
            start_line = line;
            continue;
        }
        if in_comment {
            continue;
        }
        if escaped {
            escaped = false;
            current.push(character);
            continue;
        }
        match character {
            '\\' => {
                escaped = true;
                current.push(character);
            }
            '"' => {
                in_quotes = !in_quotes;
                current.push(character);
            }
            ';' if !in_quotes => in_comment = true,
            '(' if !in_quotes => {
                depth += 1;
                current.push(' ');
            }
            ')' if !in_quotes => {
                if depth == 0 {
                    errors.push(Diagnostic::new(path, Some(line), "unbalanced ')'"));
                } else {
                    depth -= 1;
                }
                current.push(' ');
            }
            '\r' => {}
            _ => current.push(character),
        }
    }
    if depth > 0 || in_quotes {
        errors.push(Diagnostic::new(
            path,
            Some(start_line),
            "unterminated '(' or quote at end of file",
        ));
    } else if !current.trim().is_empty() {
        entries.push(Entry {
            line: start_line,
            text: current,
        });
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "$ORIGIN example.com.\n$TTL 300\n@ IN SOA ns1 hostmaster (\n  1 7200 3600 1209600 60 )\n  IN NS ns1\nns1 IN A 192.0.2.53\na.b IN TXT \"x; y\"\n";

    #[test]
    fn zone_file_loads_with_empty_non_terminals() {
        let zone = parse_zone(Path::new("example.com.zone"), ZONE).expect("valid zone");
        assert_eq!(zone.negative_ttl, 60);
        let b = NameKey::from_text("b.example.com").expect("name");
        assert!(
            zone.nodes
                .get(b.as_bytes())
                .expect("empty non-terminal")
                .is_empty()
        );
        let apex = NameKey::from_text("example.com").expect("name");
        assert!(zone.nodes[apex.as_bytes()].rrset(rtype::NS).is_some());
    }

    #[test]
    fn every_bad_line_is_reported() {
        let broken = format!("{ZONE}www IN A not-an-address\nbad IN MX\nok IN A 192.0.2.1\n");
        let errors = parse_zone(Path::new("example.com.zone"), &broken).expect_err("invalid zone");
        let lines: Vec<Option<usize>> = errors.iter().map(|error| error.line).collect();
        assert_eq!(lines, vec![Some(8), Some(9)], "{errors:?}");
    }
}
