//! `rdbkit`: inspect, export, check and migrate Redis/Valkey RDB snapshots.
//!
//! A thin front end: argument parsing and output wiring over the `rdb-parser` and
//! `rdb-restore` libraries.

mod cmd;
mod connect;
mod input;
mod interrupt;
mod output;
mod progress;
mod source;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rdb_parser::ParseOptions;

#[derive(Parser)]
#[command(
    name = "rdbkit",
    version,
    about = "Toolkit for Redis and Valkey RDB snapshots"
)]
struct Cli {
    /// No progress display or informational messages (errors still print).
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print every key (and function library) as JSON Lines.
    Export {
        /// Snapshot files (`-` reads standard input; `s3://`, `az://` objects and globs).
        #[arg(required = true)]
        files: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: cmd::export::Format,
        /// Do not verify the CRC-64 trailer.
        #[arg(long)]
        no_crc: bool,
        /// `--format resp`: RDB version written in the payload footers (default: the
        /// snapshot's); keys whose type that version cannot read are left out.
        #[arg(long, value_name = "N")]
        target_rdb_version: Option<u16>,
    },
    /// Offline inventory of snapshots: keys per db, types, memory estimate, TTLs,
    /// biggest keys, key prefixes, AUX facts.
    Baseline(cmd::baseline::BaselineArgs),
    /// One row per key (CSV, JSON Lines or Parquet): type, encoding, memory estimate,
    /// TTL, slot, prefix, pattern.
    Keys(Box<cmd::keys::KeysArgs>),
    /// One self-contained HTML report (charts and tables, no network): memory by
    /// type, key patterns, TTLs, biggest keys, balance, target compatibility.
    Report(Box<cmd::report::ReportArgs>),
    /// Compare the logical content of two snapshots (or two sets of shard files).
    Diff(cmd::diff::DiffArgs),
    /// Restore snapshots into a live Redis/Valkey server or cluster (pipelined RESTORE).
    Restore(Box<cmd::restore::RestoreArgs>),
    /// Live baseline from INFO in OpenTelemetry metric names, per node and totals.
    Info(Box<cmd::info::InfoArgs>),
    /// The metrics crosswalk: INFO, OTel, CloudWatch, Azure, Datadog, Prometheus names.
    Metrics(cmd::metrics::MetricsArgs),
    /// Pre-migration checks of a source, a target and snapshots (pass/warn/fail).
    Preflight(Box<cmd::preflight::PreflightArgs>),
    /// Sample a primary and its replicas; flag stalled offsets, AOF growth, bgsave problems.
    Watch(Box<cmd::watch::WatchArgs>),
    /// Check that a live server or cluster holds exactly the snapshots' keys (values
    /// by content digest, expiries, key counts, extra keys).
    Verify(Box<cmd::verify::VerifyArgs>),
    /// Keep a target up to date with a live source until cutover: bulk copy (or a
    /// snapshot), then live catch-up from keyspace notifications.
    Sync(Box<cmd::sync::SyncArgs>),
    /// Rewrite snapshots as RDB files of another version (older Redis, Valkey),
    /// merging files, splitting by hash slot, folding databases, padding.
    Convert(Box<cmd::convert::ConvertArgs>),
    /// Validate every record, value and checksum (like redis-check-rdb) and summarize.
    #[command(
        after_help = "Every file is checked. Exit 0 all valid; 1 some file is not a \
                            valid snapshot (corrupt, truncated, or not RDB: compressed, an AOF, \
                            an error page, empty); 2 some file could not be read (missing, a \
                            directory) or a usage error. --format json prints its document \
                            on stdout in every case."
    )]
    Check {
        /// Snapshot files (`-` reads standard input; `s3://`, `az://` objects and globs).
        #[arg(required = true)]
        files: Vec<String>,
        /// Do not verify the CRC-64 trailer.
        #[arg(long)]
        no_crc: bool,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: output::Format,
    },
}

fn options(no_crc: bool) -> ParseOptions {
    ParseOptions {
        verify_checksum: !no_crc,
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || matches!(
                e.downcast_ref::<rdb_parser::export::ExportError>(),
                Some(rdb_parser::export::ExportError::Io(io)) if io.kind() == std::io::ErrorKind::BrokenPipe
            )
    })
}

fn main() -> ExitCode {
    // A glob or prefix of objects (`s3://bucket/mybackup-*.rdb`) is a shard set: one
    // input per object, listed before the arguments are parsed.
    let args = match input::expand_object_globs(std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
    input::QUIET.store(cli.quiet, std::sync::atomic::Ordering::Relaxed);
    match cli.command {
        Command::Export {
            files,
            format,
            no_crc,
            target_rdb_version,
        } => match cmd::export::run(
            &files,
            format,
            options(no_crc),
            target_rdb_version,
            cli.quiet,
        ) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("rdbkit: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Baseline(args) => cmd::baseline::run(&args, cli.quiet),
        Command::Keys(args) => cmd::keys::run(&args, cli.quiet),
        Command::Report(args) => cmd::report::run(&args, cli.quiet),
        Command::Diff(args) => cmd::diff::run(&args, cli.quiet),
        Command::Restore(args) => cmd::restore::run(&args, cli.quiet),
        Command::Info(args) => cmd::info::run(&args),
        Command::Metrics(args) => cmd::metrics::run(&args),
        Command::Preflight(args) => cmd::preflight::run(&args),
        Command::Watch(args) => cmd::watch::run(&args),
        Command::Verify(args) => cmd::verify::run(&args, cli.quiet),
        Command::Sync(args) => cmd::sync::run(&args, cli.quiet),
        Command::Convert(args) => cmd::convert::run(&args, cli.quiet),
        Command::Check {
            files,
            no_crc,
            format,
        } => cmd::check::run(&files, options(no_crc), cli.quiet, format),
    }
}
