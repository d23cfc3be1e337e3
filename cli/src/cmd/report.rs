//! `rdbkit report`: one self-contained HTML file about a backup. The page is
//! `rdb_restore::html_report` (no network fetch of any kind: CSP `default-src
//! 'none'`); this module opens the files and writes `OUT` under a temporary name,
//! renamed when complete.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_parser::inventory::redact::Redactor;
use rdb_parser::inventory::InventoryOptions;
use rdb_restore::html_report::{html_report, ReportOptions};
use rdb_restore::platform::Platform;

use super::baseline::{which_file, ModelArgs, Opened};
use crate::output::{self, Output};
use crate::progress::Progress;
use crate::units::parse_size;

/// Arguments of `rdbkit report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Snapshot files; several files (one per shard) are one dataset. `-` reads stdin;
    /// `s3://...`, `az://...` read objects (globs name shard sets); standard input, objects and gzip files are first copied to a temporary file in $TMPDIR.
    #[arg(required = true)]
    files: Vec<String>,
    /// Output HTML file (written under a temporary name, renamed when complete); an
    /// `s3://` or `az://` URL uploads it.
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Target profile whose memory is estimated (headline, capacity).
    #[arg(long, value_enum, default_value = "azure-managed-7.4")]
    target: TargetProfile,
    /// Memory size of the target SKU (`6GB`, `12.5GiB`, `500MB`; GB = GiB here, as
    /// the cloud price lists mean it), for the capacity check.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    target_size: Option<u64>,
    /// Keys in the biggest-keys table.
    #[arg(long, default_value_t = 100)]
    top: usize,
    /// Most distinct key patterns tracked (the rest is "other").
    #[arg(long, default_value_t = 2000)]
    max_patterns: usize,
    /// Replace key names by a keyed hash (random key per run); prefixes and
    /// patterns keep only their structure.
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// Migration targets the report checks against (`rdb_restore::platform::Platform`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetProfile {
    /// Azure Cache for Redis (Basic/Standard/Premium): Redis 6.0, RDB 9.
    #[value(name = "azure-cache-6.0")]
    AzureCache6,
    /// Azure Managed Redis: Redis 7.4, RDB 12, one database.
    #[value(name = "azure-managed-7.4")]
    AzureManaged74,
}

impl TargetProfile {
    fn platform(self) -> Platform {
        match self {
            TargetProfile::AzureCache6 => Platform::AzureCache6,
            TargetProfile::AzureManaged74 => Platform::AzureManaged74,
        }
    }
}

/// Runs the report; exit 0 when written, 2 otherwise.
pub fn run(args: &ReportArgs, quiet: bool) -> ExitCode {
    match report(args, quiet) {
        Ok(()) => {
            if !quiet {
                eprintln!("rdbkit: report written to {}", output::shown(&args.output));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn report(args: &ReportArgs, quiet: bool) -> Result<()> {
    let opened = Opened::open(&args.files)?;
    let files = opened.files();
    let base = InventoryOptions {
        top: args.top,
        max_patterns: args.max_patterns,
        ..args.model.options()
    };
    let options = ReportOptions::new(args.target.platform(), base).target_size(args.target_size);
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let progress = std::sync::Mutex::new(Progress::new("report", total, quiet));
    let redactor = args.redact.then(Redactor::new);
    let html = html_report(&files, &options, redactor.as_ref(), &|pos| {
        if let Ok(mut p) = progress.lock() {
            p.update(pos);
        }
    })
    .with_context(|| which_file(&args.files))?;
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let mut out = Output::create(&args.output)?;
    out.write_all(html.as_bytes())
        .with_context(|| format!("writing {}", output::shown(&args.output)))?;
    out.complete()
}
