//! A fast reader for the common shape of pin files, one pass over the bytes.
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
//!
//! Each byte is looked at once, by a cursor that reads a line's tokens in
//! order, finds its end and checks for what TOML forbids on the way.

use std::path::Path;
use std::sync::Arc;

use super::load::PinEntry;

/// Reads `text` if it is in the regular layout; `None` means "use the full
/// TOML parser".
pub fn parse(path: &Arc<Path>, text: &str) -> Option<Vec<PinEntry>> {
    let mut entries = Vec::new();
    read_entries(path, text, |entry| entries.push(entry))?;
    Some(entries)
}

/// Reads `text` if it is in the regular layout, handing its entries to
/// `sink` in order, in batches of up to `batch` entries as they are read,
/// so that a large file's entries need not all be held at once. `false`
/// means "use the full TOML parser": the batches already handed over are
/// then void.
pub fn parse_in_batches(
    path: &Arc<Path>,
    text: &str,
    batch: usize,
    mut sink: impl FnMut(Vec<PinEntry>),
) -> bool {
    let mut entries = Vec::new();
    let read = read_entries(path, text, |entry| {
        entries.push(entry);
        if entries.len() >= batch {
            sink(std::mem::take(&mut entries));
        }
    });
    if read.is_none() {
        return false;
    }
    if !entries.is_empty() {
        sink(entries);
    }
    true
}

/// Reads `text`, handing each entry to `each` as soon as it is complete;
/// `None` as soon as the text leaves the regular layout.
fn read_entries(path: &Arc<Path>, text: &str, mut each: impl FnMut(PinEntry)) -> Option<()> {
    let mut cursor = Cursor {
        text,
        at: 0,
        line: 1,
    };
    let mut current: Option<Draft> = None;
    loop {
        cursor.skip_blanks();
        match cursor.peek() {
            None => break,
            Some(b'\n' | b'\r' | b'#') => {}
            Some(b'[') => {
                cursor.expect(b"[[reserved_domain]]")?;
                if let Some(draft) = current.take() {
                    each(draft.finish(path)?);
                }
                current = Some(Draft::default());
            }
            Some(_) => {
                let draft = current.as_mut()?;
                let key = cursor.bare_key();
                cursor.skip_blanks();
                cursor.expect(b"=")?;
                cursor.skip_blanks();
                draft.read(key, &mut cursor)?;
            }
        }
        if !cursor.end_of_line()? {
            break;
        }
    }
    if let Some(draft) = current.take() {
        each(draft.finish(path)?);
    }
    Some(())
}

/// A position in the text and its line number.
struct Cursor<'a> {
    /// The whole text.
    text: &'a str,
    /// Byte offset of the next byte to read.
    at: usize,
    /// Line number (1-based) of that byte.
    line: usize,
}

impl<'a> Cursor<'a> {
    /// The next byte, if any.
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// Steps over spaces and tabs.
    fn skip_blanks(&mut self) {
        while let Some(b' ' | b'\t') = self.peek() {
            self.at += 1;
        }
    }

    /// Steps over `expected`, which must come next.
    fn expect(&mut self, expected: &[u8]) -> Option<()> {
        let rest = self.text.as_bytes().get(self.at..)?;
        rest.starts_with(expected)
            .then(|| self.at += expected.len())
    }

    /// A bare key's characters (possibly none).
    fn bare_key(&mut self) -> &'a str {
        let start = self.at;
        while let Some(b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-') = self.peek() {
            self.at += 1;
        }
        &self.text[start..self.at]
    }

    /// The end of a line: blanks, an optional comment, then a line feed
    /// (optionally after a carriage return) or the end of the text.
    /// `Some(true)` when another line follows; `None` when something else
    /// comes first, or the comment holds a control character (TOML forbids
    /// them).
    fn end_of_line(&mut self) -> Option<bool> {
        self.skip_blanks();
        if self.peek() == Some(b'#') {
            self.at += 1;
            while let Some(byte) = self.peek() {
                if byte == b'\n' || byte == b'\r' {
                    break;
                }
                if byte != b'\t' && is_control_byte(self.text.as_bytes(), self.at) {
                    return None;
                }
                self.at += 1;
            }
        }
        if self.peek() == Some(b'\r') {
            self.at += 1;
            if self.peek() != Some(b'\n') {
                return None;
            }
        }
        match self.peek() {
            None => Some(false),
            Some(b'\n') => {
                self.at += 1;
                self.line += 1;
                Some(true)
            }
            Some(_) => None,
        }
    }

    /// A plain basic string: no escapes, no control characters.
    fn basic_string(&mut self) -> Option<&'a str> {
        self.expect(b"\"")?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => return None,
                _ if is_control_byte(self.text.as_bytes(), self.at) => return None,
                _ => self.at += 1,
            }
        }
        let text = &self.text[start..self.at];
        self.at += 1;
        Some(text)
    }

    /// A plain decimal integer that fits u32 (no sign, underscores or
    /// leading zeros: TOML would read those differently or reject them).
    fn plain_u32(&mut self) -> Option<u32> {
        let start = self.at;
        let mut value: u32 = 0;
        while let Some(digit @ b'0'..=b'9') = self.peek() {
            value = value
                .checked_mul(10)?
                .checked_add(u32::from(digit - b'0'))?;
            self.at += 1;
        }
        let digits = self.at - start;
        let leading_zero = digits > 1 && self.text.as_bytes().get(start) == Some(&b'0');
        (digits > 0 && !leading_zero).then_some(value)
    }

    /// A one-line array of targets: plain strings or `{ value = "..." }`.
    fn targets(&mut self) -> Option<Vec<(String, usize)>> {
        self.expect(b"[")?;
        self.skip_blanks();
        let mut found = Vec::new();
        loop {
            if self.expect(b"]").is_some() {
                return Some(found);
            }
            let target = if self.peek() == Some(b'"') {
                self.basic_string()?
            } else {
                self.expect(b"{")?;
                self.skip_blanks();
                self.expect(b"value")?;
                self.skip_blanks();
                self.expect(b"=")?;
                self.skip_blanks();
                let text = self.basic_string()?;
                self.skip_blanks();
                self.expect(b"}")?;
                text
            };
            found.push((target.to_owned(), self.line));
            self.skip_blanks();
            if self.expect(b",").is_some() {
                self.skip_blanks();
            } else if self.peek() != Some(b']') {
                return None;
            }
        }
    }
}

/// Whether the character starting at `at` is a control character (as
/// `char::is_control`: C0, DEL and C1). TOML forbids the first two in
/// comments and all three unescaped in basic strings; C1 in a comment is
/// left to the full parser too, as the reader has always done.
fn is_control_byte(bytes: &[u8], at: usize) -> bool {
    match bytes.get(at) {
        Some(&byte) if byte < 0x20 || byte == 0x7f => true,
        // C1 controls, U+0080..U+009F, are 0xC2 0x80..0x9F in UTF-8.
        Some(0xc2) => matches!(bytes.get(at + 1), Some(0x80..=0x9f)),
        _ => false,
    }
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
    /// Reads the value of `key` at the cursor; `None` for a key this reader
    /// does not know, one given twice, or a value not in the regular layout.
    fn read(&mut self, key: &str, cursor: &mut Cursor<'_>) -> Option<()> {
        match key {
            "domain" if self.domain.is_none() => {
                self.domain = Some((cursor.basic_string()?.to_owned(), cursor.line));
            }
            "description" if !self.description => {
                cursor.basic_string()?;
                self.description = true;
            }
            "id" if !self.id => {
                cursor.basic_string()?;
                self.id = true;
            }
            "ttl" if self.ttl.is_none() => self.ttl = Some(cursor.plain_u32()?),
            "ips" if self.targets.is_none() => self.targets = Some(cursor.targets()?),
            _ => return None,
        }
        Some(())
    }

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
            12 => Just("[[reserved_domain]]".to_owned()),
            1 => one_of(&["  [[reserved_domain]]  # header comment", "[ [reserved_domain] ]", "[reserved_domain]", "[[other]]", "[[reserved_domain]] x", "[[reserved_domain]]\r"]),
        ]
    }

    /// A `domain` line, mostly one the fast reader takes.
    fn domain_line() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => one_of(&[
                "domain = \"a.example.com\"",
                "domain = \"B.Example.COM\"   # trailing comment",
                "domain=\"c.example.com\"",
                "\tdomain = \"*.wild.example.com\"",
            ]),
            1 => one_of(&[
                "domain = 'literal.example.com'",
                "domain = \"esc\\u0061ped.example.com\"",
                "domain = \"\"",
                "\"domain\" = \"quoted-key.example.com\"",
                "domain = \"a.example.com\" \"b\"",
                "domain = \"unterminated",
                "domain = ",
                "-domain = \"dash.example.com\"",
                "domain = \"tab\there.example.com\"",
            ]),
        ]
    }

    /// Another key line, mostly one the fast reader takes.
    fn key_line() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => one_of(&[
                "ips = [\"us-ohio-1\", { value = \"de-fra-1\" }]",
                "ips = []",
                "ips = [ ]",
                "ips = [\"global\",]",
                "ips = [{value=\"203.0.113.10\"}]",
                "ips = [\"has # hash\"]  # and a comment",
                "ttl = 30",
                "ttl = 0",
                "ttl = 30 # comment",
                "ttl = 4294967295",
                "description = \"free text = with equals\"",
                "description = \"it's fine\"",
                "description = \"caf\u{e9}\"",
                "id = \"rd_123\"",
                "# a comment",
                "# comment with a \u{e9} letter and a 'quote' and a \\",
                "",
                "\t# tabbed comment",
            ]),
            1 => one_of(&[
                "domain = \"second.example.com\"",
                "ips = [,]",
                "ips = [{ value = \"x\", }]",
                "ips = [{ value = \"x\" , other = 1 }]",
                "ips = [\"a\" \"b\"]",
                "ips = [\n  \"continued\",\n]",
                "ips = [\"a\"] x",
                "ips = [\"esc\\u0061ped\"]",
                "ttl = 030",
                "ttl = +30",
                "ttl = 1_000",
                "ttl = 4294967296",
                "ttl = 3.5",
                "ttl = 30 x",
                "ttl = ",
                "ttl = # nothing",
                "ips = ",
                "ips = [",
                "ips = [\"a\"",
                "ips = [{ value = \"a\"",
                "ips = [{ }]",
                "ips = [{ value }]",
                "description = 5",
                "description = \"esc\\\"aped\"",
                "description = \"tab\there\"",
                "metadata = \"{}\"",
                "other = 1",
                "valuex = 1",
                "= \"no key\"",
                "# comment with a \u{7f} delete",
                "# comment with a \u{85} next-line control",
                "# comment with a \u{0} nul",
            ]),
        ]
    }

    /// A pin file: tables of a domain line (usually) and other keys.
    fn pin_file() -> impl Strategy<Value = String> {
        let table = (
            header(),
            prop::option::weighted(0.9, domain_line()),
            prop::collection::vec(key_line(), 0..4),
        )
            .prop_map(|(header, domain, rest)| {
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

        /// The same after a few bytes of a regular file are replaced,
        /// inserted or removed, with the bytes TOML's grammar turns on.
        #[test]
        fn fast_reader_agrees_with_toml_on_edited_files(
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3, prop::sample::select(EDIT_CHARACTERS)), 1..4),
        ) {
            let mut text: Vec<char> = REGULAR_FILE.chars().collect();
            for (at, kind, character) in edits {
                let at = at.index(text.len() + 1);
                match kind {
                    0 if at < text.len() => text[at] = character,
                    1 if at < text.len() => {
                        text.remove(at);
                    }
                    _ => text.insert(at, character),
                }
            }
            let text: String = text.into_iter().collect();
            let path: Arc<Path> = Arc::from(Path::new("pins.toml"));
            if let Some(fast) = parse(&path, &text) {
                match parse_with_toml(&path, &text) {
                    Ok(full) => prop_assert_eq!(fast, full, "text:\n{}", text),
                    Err(errors) => prop_assert!(false, "fast reader accepted what TOML rejects: {:?}\n{}", errors, text),
                }
            }
        }
    }

    /// A file in the regular layout, every kind of line once.
    const REGULAR_FILE: &str = "# generated\n[[reserved_domain]]\ndomain = \"d1.example.com\"\nips = [{ value = \"us-ohio-1\" }, \"de-fra-1\"]\nttl = 30\nid = \"rd_1\"  # note\n\n[[reserved_domain]]\ndomain = \"d2.example.com\"\ndescription = \"x\"\nips = []\n";

    /// Characters the edits put in: TOML's punctuation, blanks, line
    /// ends, controls, a non-ASCII letter, digits and letters.
    const EDIT_CHARACTERS: &[char] = &[
        '"', '\'', '\\', '#', '=', '[', ']', '{', '}', ',', '.', '+', '_', '-', ' ', '\t', '\r',
        '\n', '\u{0}', '\u{7f}', '\u{85}', '\u{e9}', '0', '7', 'a', 'u', 'x',
    ];

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
