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

/// Whether an `-o` argument names an object (S3, Azure Blob Storage).
pub fn is_object(out: &str) -> bool {
    rdb_restore::storage::is_object_url(out)
}

/// `out` as shown in messages: an object URL without its query (a SAS token).
pub fn shown(out: &str) -> String {
    match rdb_restore::storage::ObjectUrl::parse(out) {
        Ok(url) if is_object(out) => url.to_string(),
        _ => out.to_string(),
    }
}

/// Uploads everything `data` yields as the object at `url`: a multipart upload that
/// becomes visible only when complete, aborted on any error.
pub fn upload(url: &str, mut data: impl std::io::Read) -> Result<u64> {
    let mut object = rdb_restore::storage::create(url)?;
    std::io::copy(&mut data, &mut object).with_context(|| format!("writing {}", shown(url)))?;
    Ok(object.finish()?)
}
