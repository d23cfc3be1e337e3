//! `rdbkit keys`: one row per key (CSV, JSON Lines or Parquet), for spreadsheets,
//! DuckDB, pandas and Spark.
//!
//! The rows and their formats are `rdb_parser::inventory::rows` (columns and the
//! key rule documented there); this module opens the files and writes the output
//! under a temporary name ([`Output`]), renamed to `OUT` only when every file
//! was read to its end and its CRC-64 trailer matched: a corrupt snapshot leaves no
//! output file.

use std::cell::RefCell;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_parser::inventory::redact::Redactor;
use rdb_parser::inventory::rows::{self, write_rows};

use super::baseline::{which_file, ModelArgs, Opened};
use crate::output::{self, Output};
use crate::progress::Progress;

/// Arguments of `rdbkit keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Snapshot files; several files (one per shard) are one dataset.
    #[arg(required = true)]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: RowFormat,
    /// Output file (written under a temporary name, renamed when complete).
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Replace key names by a keyed hash (random key per run, the same name gives the
    /// same token within the run); prefixes and patterns keep only their structure.
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// Row formats of `rdbkit keys` (`rows::RowFormat`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RowFormat {
    /// Comma-separated values (RFC 4180), with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet, typed columns, Snappy-compressed.
    Parquet,
}

/// Runs `keys`; exit 0 when every key was written, 2 otherwise.
pub fn run(args: &KeysArgs, quiet: bool) -> ExitCode {
    match keys(args, quiet) {
        Ok(n) => {
            if !quiet {
                eprintln!("rdbkit: {n} keys written to {}", args.output);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn keys(args: &KeysArgs, quiet: bool) -> Result<u64> {
    let opened = Opened::open(&args.files)?;
    let files = opened.files();
    let options = args.model.options();
    let redactor = args.redact.then(Redactor::new);
    let format = match args.format {
        RowFormat::Csv => rows::RowFormat::Csv,
        RowFormat::Jsonl => rows::RowFormat::Jsonl,
        RowFormat::Parquet => rows::RowFormat::Parquet,
    };
    let to_object = output::is_object(&args.output);
    let out = Output::create(&args.output)?;
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let progress = RefCell::new(Progress::new("keys", total, quiet));
    let result = write_rows(&files, &options, format, redactor.as_ref(), out, &|pos| {
        if let Ok(mut p) = progress.try_borrow_mut() {
            p.update(pos);
        }
    })
    .with_context(|| which_file(&args.files))
    .and_then(|(rows, out)| {
        out.complete()?;
        Ok(rows)
    });
    progress.borrow_mut().finish();
    // A failure dropped the output: the temporary file removed, the upload aborted.
    result.map_err(|e| match to_object {
        true => e.context("no output written (the upload was aborted)"),
        false => e.context("no output written"),
    })
}
