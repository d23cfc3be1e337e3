//! `rdbkit export`: every key as JSON Lines.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use rdb_parser::export::{write_record, ExportError};
use rdb_parser::{ParseOptions, Rdb};

use crate::input;
use crate::progress::Progress;

/// Output formats of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per key and per function library.
    Jsonl,
}

/// Exports `files` to stdout.
pub fn run(files: &[String], _format: Format, options: ParseOptions, quiet: bool) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
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
