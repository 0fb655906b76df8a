//! A fast reader for the common shape of pin files, one line at a time.
//!
//! Large tables are written by programs in one regular layout:
//!
//! ```toml
//! [[reserved_domain]]
//! domain = "d0000001.example.com"
//! ips = [{ value = "us-ohio-1" }, "de-fra-1"]
//! ttl = 30
//! ```
//!
//! This reader accepts only that layout: `[[reserved_domain]]` headers,
//! comments, and one-line `domain`, `description`, `id` (plain basic
//! strings, no escapes), `ips` (one-line array of such strings or
//! `{ value = "..." }` tables) and `ttl` (plain decimal) keys. On anything
//! else, or anything TOML would reject, it gives up and the file is read by
//! the full TOML parser instead, so the result is always the one TOML
//! gives; it is only faster. A property test holds the two to agreement.

use std::path::Path;
use std::sync::Arc;

use super::load::PinEntry;

/// Reads `text` if it is in the regular layout; `None` means "use the full
/// TOML parser".
pub fn parse(path: &Arc<Path>, text: &str) -> Option<Vec<PinEntry>> {
    let mut entries = Vec::new();
    let mut current: Option<Draft> = None;
    for (index, raw_line) in text.split('\n').enumerate() {
        let line_number = index + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.contains('\r') {
            return None;
        }
        let content = strip_comment(line)?.trim_matches([' ', '\t']);
        if content.is_empty() {
            continue;
        }
        if content == "[[reserved_domain]]" {
            if let Some(draft) = current.take() {
                entries.push(draft.finish(path)?);
            }
            current = Some(Draft::default());
            continue;
        }
        let draft = current.as_mut()?;
        let (key, value) = content.split_once('=')?;
        let key = key.trim_matches([' ', '\t']);
        let value = value.trim_matches([' ', '\t']);
        match key {
            "domain" => {
                if draft.domain.is_some() {
                    return None;
                }
                draft.domain = Some((whole_string(value)?.to_owned(), line_number));
            }
            "description" | "id" => {
                let seen = if key == "id" {
                    &mut draft.id
                } else {
                    &mut draft.description
                };
                if *seen {
                    return None;
                }
                whole_string(value)?;
                *seen = true;
            }
            "ttl" => {
                if draft.ttl.is_some() {
                    return None;
                }
                draft.ttl = Some(plain_u32(value)?);
            }
            "ips" => {
                if draft.targets.is_some() {
                    return None;
                }
                draft.targets = Some(targets(value, line_number)?);
            }
            _ => return None,
        }
    }
    if let Some(draft) = current.take() {
        entries.push(draft.finish(path)?);
    }
    Some(entries)
}

/// One `[[reserved_domain]]` being read.
#[derive(Default)]
struct Draft {
    /// `domain` and its line.
    domain: Option<(String, usize)>,
    /// `ips` values and their lines.
    targets: Option<Vec<(String, usize)>>,
    /// `ttl`.
    ttl: Option<u32>,
    /// Whether `description` was seen.
    description: bool,
    /// Whether `id` was seen.
    id: bool,
}

impl Draft {
    /// The entry; `None` (full parser) when `domain` is missing.
    fn finish(self, path: &Arc<Path>) -> Option<PinEntry> {
        let (domain, line) = self.domain?;
        Some(PinEntry {
            file: path.clone(),
            line,
            domain,
            targets: self.targets,
            ttl: self.ttl,
        })
    }
}

/// The line without its comment; `None` when the line holds what this
/// reader leaves to the full parser (escapes, literal strings, control
/// characters in a comment).
fn strip_comment(line: &str) -> Option<&str> {
    let mut in_string = false;
    for (at, byte) in line.bytes().enumerate() {
        match byte {
            b'"' => in_string = !in_string,
            b'\\' => return None,
            b'\'' if !in_string => return None,
            b'#' if !in_string => {
                // TOML forbids control characters in comments.
                let comment = &line[at..];
                if comment
                    .chars()
                    .any(|character| character.is_control() && character != '\t')
                {
                    return None;
                }
                return Some(&line[..at]);
            }
            _ => {}
        }
    }
    Some(line)
}

/// A value that is exactly one plain basic string.
fn whole_string(value: &str) -> Option<&str> {
    let (text, rest) = basic_string(value)?;
    rest.is_empty().then_some(text)
}

/// A plain basic string at the start of `input` (no escapes, no control
/// characters) and what follows it.
fn basic_string(input: &str) -> Option<(&str, &str)> {
    let body = input.strip_prefix('"')?;
    let end = body.find('"')?;
    let text = &body[..end];
    if text.contains('\\') || text.chars().any(char::is_control) {
        return None;
    }
    Some((text, &body[end + 1..]))
}

/// A plain decimal integer that fits u32 (no sign, underscores or leading
/// zeros: TOML would read those differently or reject them).
fn plain_u32(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if value.len() > 1 && value.starts_with('0') {
        return None;
    }
    value.parse().ok()
}

/// A one-line array of targets: plain strings or `{ value = "..." }`.
fn targets(value: &str, line: usize) -> Option<Vec<(String, usize)>> {
    let mut rest = value.strip_prefix('[')?.trim_start_matches([' ', '\t']);
    let mut found = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix(']') {
            return after.is_empty().then_some(found);
        }
        let (target, after) = if rest.starts_with('"') {
            basic_string(rest)?
        } else {
            let inner = rest.strip_prefix('{')?.trim_start_matches([' ', '\t']);
            let inner = inner.strip_prefix("value")?.trim_start_matches([' ', '\t']);
            let inner = inner.strip_prefix('=')?.trim_start_matches([' ', '\t']);
            let (text, after) = basic_string(inner)?;
            let after = after.trim_start_matches([' ', '\t']).strip_prefix('}')?;
            (text, after)
        };
        found.push((target.to_owned(), line));
        let after = after.trim_start_matches([' ', '\t']);
        rest = match after.strip_prefix(',') {
            Some(next) => next.trim_start_matches([' ', '\t']),
            None if after.starts_with(']') => after,
            None => return None,
        };
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::parse;
    use crate::pins::parse_with_toml;

    /// Picks one of the given lines.
    fn one_of(lines: &[&'static str]) -> impl Strategy<Value = String> + use<> {
        prop::sample::select(lines.to_vec()).prop_map(str::to_owned)
    }

    /// A table header, mostly the regular one.
    fn header() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => Just("[[reserved_domain]]".to_owned()),
            1 => one_of(&["  [[reserved_domain]]  # header comment", "[ [reserved_domain] ]", "[reserved_domain]", "[[other]]"]),
        ]
    }

    /// A key line, regular or irregular.
    fn key_line() -> impl Strategy<Value = String> {
        one_of(&[
            "domain = \"a.example.com\"",
            "domain = \"B.Example.COM\"   # trailing comment",
            "domain=\"c.example.com\"",
            "domain = 'literal.example.com'",
            "domain = \"esc\\u0061ped.example.com\"",
            "domain = \"\"",
            "\"domain\" = \"quoted-key.example.com\"",
            "ips = [\"us-ohio-1\", { value = \"de-fra-1\" }]",
            "ips = []",
            "ips = [ ]",
            "ips = [\"global\",]",
            "ips = [,]",
            "ips = [{value=\"203.0.113.10\"}]",
            "ips = [{ value = \"x\", }]",
            "ips = [{ value = \"x\" , other = 1 }]",
            "ips = [\"a\" \"b\"]",
            "ips = [\"has # hash\"]",
            "ips = [\n  \"continued\",\n]",
            "ttl = 30",
            "ttl = 0",
            "ttl = 030",
            "ttl = +30",
            "ttl = 1_000",
            "ttl = 4294967296",
            "ttl = 3.5",
            "description = \"free text = with equals\"",
            "description = \"it's fine\"",
            "description = 5",
            "id = \"rd_123\"",
            "metadata = \"{}\"",
            "other = 1",
            "# a comment",
            "",
            "\t# tabbed comment",
        ])
    }

    /// A pin file: tables of a domain line (usually) and other keys.
    fn pin_file() -> impl Strategy<Value = String> {
        let table = (
            header(),
            prop::option::weighted(0.85, key_line()),
            prop::collection::vec(key_line(), 0..4),
        )
            .prop_map(|(header, first, rest)| {
                let domain = first.map(|_| "domain = \"d.example.com\"".to_owned());
                std::iter::once(header)
                    .chain(domain)
                    .chain(rest)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        prop::collection::vec(table, 0..5).prop_map(|tables| tables.join("\n"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever the fast reader accepts, TOML reads the same way; and
        /// it accepts nothing TOML rejects.
        #[test]
        fn fast_reader_agrees_with_toml(text in pin_file(), crlf in any::<bool>()) {
            let text = if crlf { text.replace('\n', "\r\n") } else { text };
            let path: Arc<Path> = Arc::from(Path::new("pins.toml"));
            if let Some(fast) = parse(&path, &text) {
                match parse_with_toml(&path, &text) {
                    Ok(full) => prop_assert_eq!(fast, full, "text:\n{}", text),
                    Err(errors) => prop_assert!(false, "fast reader accepted what TOML rejects: {:?}\n{}", errors, text),
                }
            }
        }
    }

    #[test]
    /// The generated layout is read by the fast reader, not left to TOML.
    fn regular_layout_takes_the_fast_path() {
        let text = "# generated\n[[reserved_domain]]\ndomain = \"d1.example.com\"\nips = [{ value = \"us-ohio-1\" }, { value = \"de-fra-1\" }]\n\n[[reserved_domain]]\ndomain = \"d2.example.com\"  # note\nips = [\"global\"]\nttl = 30\n";
        let path: Arc<Path> = Arc::from(Path::new("pins.toml"));
        let entries = parse(&path, text).expect("the regular layout is read fast");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].line, 7);
        assert_eq!(entries[1].ttl, Some(30));
        assert_eq!(parse_with_toml(&path, text).expect("valid TOML"), entries);
    }
}
