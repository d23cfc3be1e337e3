//! `rdbkit preflight`: pass / warn / fail checks of a source and a target (and the
//! snapshots, when the migration goes through files) before a migration.

use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_parser::inventory::{inventory, FileInput, InventoryOptions};
use rdb_restore::live::preflight::{
    preflight, Check, PreflightOptions, SnapshotFacts, SnapshotFile, Status,
};
use serde_json::json;

use crate::connect::ConnectionArgs;
use crate::input;

pub use crate::output::Format;

/// Arguments of `rdbkit preflight`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Password: from each URL, else REDISCLI_AUTH. The target gets two \
                        short-lived probe keys (SET, DUMP, RESTORE), removed at once. \
                        Exit 0 nothing failed (warnings allowed), 1 some check failed, 2 error."
)]
pub struct PreflightArgs {
    /// Source URL (e.g. the ElastiCache primary endpoint).
    #[arg(long, value_name = "URL")]
    source: String,
    /// Target URL (e.g. the Azure cache).
    #[arg(long, value_name = "URL")]
    target: String,
    /// Snapshot files to be restored (their RDB versions, types, databases and memory
    /// estimate are checked against the target).
    #[arg(long = "snapshot", value_name = "FILE")]
    snapshots: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Largest acceptable gap between the primary's and a replica's offset (bytes).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_replica_gap: u64,
    /// Largest acceptable replica lag (seconds since its last acknowledgement).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    max_replica_lag: i64,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// Runs the checks; exit 0 nothing failed, 1 a check failed, 2 error.
pub fn run(args: &PreflightArgs) -> ExitCode {
    match run_checks(args) {
        Ok(checks) if checks.iter().any(|c| c.status == Status::Fail) => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn snapshot_facts(files: &[String]) -> Result<SnapshotFacts> {
    let mut data = Vec::with_capacity(files.len());
    for f in files {
        data.push((f.as_str(), input::open(f)?));
    }
    let inputs: Vec<FileInput<'_>> = data
        .iter()
        .map(|(name, d)| FileInput {
            name,
            data: d,
            mtime_ms: None,
        })
        .collect();
    let inv = inventory(&inputs, &InventoryOptions::default(), &|_| {})
        .context("reading the snapshots")?;
    Ok(SnapshotFacts {
        files: inv
            .files
            .iter()
            .filter_map(|f| {
                f.header.map(|h| SnapshotFile {
                    name: f.name.clone(),
                    family: h.family,
                    rdb_version: h.version,
                })
            })
            .collect(),
        keyspace: inv.keyspace.iter().map(|(db, s)| (*db, s.keys)).collect(),
        memory_estimate: inv.memory_estimate,
        rdb_types: inv
            .rdb_types
            .iter()
            .map(|(n, c)| ((*n).to_string(), *c))
            .collect(),
    })
}

fn run_checks(args: &PreflightArgs) -> Result<Vec<Check>> {
    let source = args.conn.target_among(&args.source).context("--source")?;
    let target = args.conn.target_among(&args.target).context("--target")?;
    let snapshot = if args.snapshots.is_empty() {
        None
    } else {
        Some(snapshot_facts(&args.snapshots)?)
    };
    let options = PreflightOptions {
        source_tls: args.source.starts_with("rediss://"),
        target_tls: args.target.starts_with("rediss://"),
        max_replica_gap: args.max_replica_gap,
        max_replica_lag: args.max_replica_lag,
    };
    let checks = preflight(&source, &target, snapshot.as_ref(), &options);
    let out = match args.format {
        Format::Json => {
            let doc = json!({"checks": checks.iter().map(|c| json!({
                "id": c.id, "status": c.status.as_str(), "detail": c.detail
            })).collect::<Vec<_>>()});
            let mut s = serde_json::to_string_pretty(&doc).context("encoding JSON")?;
            s.push('\n');
            s
        }
        Format::Text => {
            let mut s = String::new();
            for c in &checks {
                s.push_str(&format!(
                    "{:<4}  {:<20} {}\n",
                    c.status.as_str().to_uppercase(),
                    c.id,
                    c.detail
                ));
            }
            let count = |st: Status| checks.iter().filter(|c| c.status == st).count();
            s.push_str(&format!(
                "{} passed, {} warnings, {} failed\n",
                count(Status::Pass),
                count(Status::Warn),
                count(Status::Fail)
            ));
            s
        }
    };
    crate::output::print(&out)?;
    Ok(checks)
}
