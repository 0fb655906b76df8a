//! Load errors and warnings, each tied to a file and, where known, a line.

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found while loading configuration, zones or pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic for `file` at `line`. Control characters in the
    /// message (a value quoted from the file) are kept as escapes.
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            file: file.to_path_buf(),
            line,
            message: match escape_controls(&message) {
                Cow::Borrowed(_) => message,
                Cow::Owned(escaped) => escaped,
            },
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.to_string_lossy();
        let file = escape_controls(&file);
        match self.line {
            Some(line) => write!(f, "{file}:{line}: {}", self.message),
            None => write!(f, "{file}: {}", self.message),
        }
    }
}

/// `text` with control characters and Unicode's bidirectional controls
/// written as Rust escapes (`\n`, `\u{1b}`), so that a value or file
/// name quoted in a message can neither forge a log line nor drive the
/// terminal that shows it.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    /// Whether a character is shown escaped.
    fn hidden(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// Largest configuration, zone or pin file read (a pin directory holds
/// any number of them).
pub const MAX_TEXT_FILE: u64 = 1 << 30;

/// Whether a directory entry is one of the data files a loader reads
/// there: its name ends in `.extension` and does not start with a dot.
/// Hidden names are other programs' (an editor's lock file `.#a.toml`,
/// often a dangling symlink; a writer's temporary `.a.toml` before its
/// rename), never data, for the loaders and the watcher alike.
pub fn is_data_file(path: &Path, extension: &str) -> bool {
    path.extension().is_some_and(|found| found == extension)
        && !path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// Reads a text file the loaders accept: a regular file (after following
/// links) in UTF-8, of at most [`MAX_TEXT_FILE`] bytes. A FIFO or a device would block or never end, so they
/// are refused before they are opened.
pub fn read_text_file(path: &Path) -> Result<String, Diagnostic> {
    let metadata = std::fs::metadata(path)
        .map_err(|error| Diagnostic::new(path, None, format!("cannot read: {error}")))?;
    if !metadata.is_file() {
        return Err(Diagnostic::new(path, None, "not a regular file"));
    }
    if metadata.len() > MAX_TEXT_FILE {
        return Err(Diagnostic::new(
            path,
            None,
            format!(
                "larger than {} MiB: split it (zones into files, pins into a directory of shards)",
                MAX_TEXT_FILE >> 20
            ),
        ));
    }
    let bytes = std::fs::read(path)
        .map_err(|error| Diagnostic::new(path, None, format!("cannot read: {error}")))?;
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let bytes = error.as_bytes();
        let line = 1 + bytes[..valid].iter().filter(|&&byte| byte == b'\n').count();
        let line_start = bytes[..valid]
            .iter()
            .rposition(|&byte| byte == b'\n')
            .map_or(0, |at| at + 1);
        // Columns count characters; the bytes before `valid` are UTF-8.
        let column = 1 + std::str::from_utf8(&bytes[line_start..valid])
            .map_or(valid - line_start, |text| text.chars().count());
        Diagnostic::new(
            path,
            Some(line),
            format!(
                "not UTF-8 text: byte 0x{:02x} at column {column}",
                bytes[valid]
            ),
        )
    })
}

/// The 1-based line holding byte `offset` of `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&byte| byte == b'\n')
        .count()
        + 1
}

/// Joins diagnostics one per line, for logs and error output.
pub fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
