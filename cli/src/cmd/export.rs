//! `rdbkit export`: every key as JSON Lines, or (`--format resp`) as the `RESTORE`
//! commands a restore would send, for `redis-cli --pipe`.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use rdb_parser::export::{write_record, ExportError};
use rdb_parser::{ParseOptions, Rdb};

use rdb_restore::export::{write_resp, RespExportOptions};

use crate::input;
use crate::progress::Progress;

/// Output formats of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per key and per function library.
    Jsonl,
    /// `RESTORE key ttl payload ABSTTL ...` (and `FUNCTION RESTORE`) commands as RESP,
    /// for `redis-cli --pipe`; already expired keys are left out.
    Resp,
}

/// Exports `files` to stdout.
pub fn run(
    files: &[String],
    format: Format,
    options: ParseOptions,
    target_rdb_version: Option<u16>,
    quiet: bool,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    if format == Format::Resp {
        return export_resp(files, options, target_rdb_version, quiet, &mut out);
    }
    if target_rdb_version.is_some() {
        anyhow::bail!("--target-rdb-version applies to --format resp only");
    }
    let mut line = Vec::with_capacity(4096);
    for path in files {
        let data = input::open(path)?;
        let rdb = Rdb::with_options(&data, options).with_context(|| path.clone())?;
        let mut progress = Progress::new(&format!("exporting {path}"), data.len() as u64, quiet);
        let mut records = rdb.records();
        while let Some(record) = records.next() {
            let record = record.with_context(|| path.clone())?;
            line.clear();
            if write_record(&record, &mut line).with_context(|| path.clone())? {
                out.write_all(&line).map_err(ExportError::Io)?;
                progress.update(records.offset());
            }
        }
        progress.finish();
    }
    out.flush().map_err(ExportError::Io)?;
    Ok(())
}

fn export_resp<W: Write>(
    files: &[String],
    options: ParseOptions,
    target_rdb_version: Option<u16>,
    quiet: bool,
    out: &mut W,
) -> Result<()> {
    let resp_options = RespExportOptions {
        footer_version: target_rdb_version,
        ..RespExportOptions::default()
    };
    for (i, path) in files.iter().enumerate() {
        let data = input::open(path)?;
        let rdb = Rdb::with_options(&data, options).with_context(|| path.clone())?;
        let summary = write_resp(&rdb, i, &resp_options, out).with_context(|| path.clone())?;
        if !quiet && (summary.expired > 0 || summary.unsupported > 0) {
            eprintln!(
                "rdbkit: {path}: {} keys and {} function libraries written; left out: {} expired, {} unreadable by the footer version",
                summary.keys, summary.functions, summary.expired, summary.unsupported
            );
            for e in &summary.errors {
                eprintln!(
                    "rdbkit:   {} {:?}: {}",
                    e.db.map_or("library".to_string(), |d| format!("db {d}")),
                    String::from_utf8_lossy(&e.key),
                    e.error
                );
            }
        }
    }
    out.flush().map_err(ExportError::Io)?;
    Ok(())
}
