//! Load errors and warnings, each tied to a file and, where known, a line.

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
    /// A diagnostic for `file` at `line`.
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file.display(), line, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
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
        let column = 1 + valid
            - bytes[..valid]
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map_or(0, |at| at + 1);
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
