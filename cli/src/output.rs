//! What every report-printing command shares: the text/JSON choice and writing a
//! finished document to stdout (a closed pipe, as with `| head`, is not an error).

use std::io::Write;

use anyhow::{Context, Result};

/// Output format of the commands that print one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// One JSON document for scripts.
    Json,
}

/// A byte string as JSON: a string when valid UTF-8, else `{"hex": ...}`
/// (`rdb_parser::serde_bytes`, the rule of every JSON output).
pub fn bytes_json(b: &[u8]) -> serde_json::Value {
    serde_json::to_value(rdb_parser::serde_bytes::Bytes(b)).unwrap_or_default()
}

/// Writes `text` to stdout and flushes; a broken pipe ends quietly.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing output"),
        _ => Ok(()),
    }
}
