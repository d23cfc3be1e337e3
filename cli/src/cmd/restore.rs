//! `rdbkit restore`: pipelined `RESTORE` of snapshots into a live target, with
//! `rdb_restore::restore` doing the work. This module maps flags to options and the
//! report to text or JSON, on stdout; progress and errors go to stderr.
//!
//! Exit 0 when every key was restored, skipped or expired; 1 when any key (or
//! function library) failed; 2 on bad input, bad usage, a refused target, or a run
//! that stopped part-way (its summary is still printed: what was done, what not).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use rdb_parser::reencode::FieldTtlPolicy;
use rdb_restore::commands::ConversionCounts;
use rdb_restore::document::RestoreDocument;
use rdb_restore::plan::WriteMode;
use rdb_restore::{ClusterMode, ConflictPolicy, Progress, RestoreOptions, RestoreReport};

use crate::connect::{ConnectionArgs, ServerArgs};
use crate::source::{with_progress_line, SnapshotArgs};
use crate::units::{self, parse_size};

/// `--on-conflict` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnConflict {
    /// An existing key fails with the server's BUSYKEY error (exit 1).
    Fail,
    /// An existing key is kept and counted as skipped (`exists`).
    Skip,
    /// The snapshot's value replaces the existing key (`RESTORE ... REPLACE`).
    Replace,
}

/// `--mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// RESTORE (footer re-stamped when needed), re-encoded RESTORE for types the
    /// target does not read, plain commands as the last resort.
    Auto,
    /// RESTORE only (re-encoded when needed).
    Restore,
    /// Plain commands (SET, RPUSH, SADD, ZADD, HSET, XADD, XGROUP, XCLAIM, PEXPIREAT ...).
    Commands,
}

impl From<Mode> for WriteMode {
    fn from(mode: Mode) -> WriteMode {
        match mode {
            Mode::Auto => WriteMode::Auto,
            Mode::Restore => WriteMode::Restore,
            Mode::Commands => WriteMode::Commands,
        }
    }
}

/// `--hash-field-ttl` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HashFieldTtl {
    /// A hash with field TTLs the target cannot hold fails.
    Fail,
    /// Such hashes are restored without their field TTLs (counted in the summary).
    Drop,
}

pub use crate::output::Format;

/// Arguments of `rdbkit restore`.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    after_help = "Target: --target URL (-u), or -h HOST -p PORT [-a PASSWORD] [--user U] [--tls] [-n DB] as with redis-cli. Password: from the URL or -a, else --password-file, else REDISCLI_AUTH. \
                  Exit 0 all keys restored/skipped/expired, 1 some key failed, 2 error."
)]
pub struct RestoreArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    conn: ConnectionArgs,
    /// Print help (-h is the host, as in redis-cli).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// What to do with keys that already exist on the target.
    #[arg(long, value_enum, default_value = "fail")]
    on_conflict: OnConflict,
    /// Do not restore function libraries.
    #[arg(long)]
    no_functions: bool,
    /// Route by hash slot even if the target does not report cluster mode.
    #[arg(long)]
    cluster: bool,
    /// Connections per target node.
    #[arg(long, value_name = "N", default_value_t = 2)]
    connections: usize,
    /// Batches in flight per connection at most (also bounded to about two batches'
    /// bytes); the window must cover the round trip to a distant target.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pipeline_depth: usize,
    /// Commands per batch at most.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    batch_keys: usize,
    /// Bytes per batch at most (e.g. 8MiB); a larger value goes alone.
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size)]
    batch_bytes: u64,
    /// Commands per second at most (all connections together).
    #[arg(long, value_name = "N")]
    max_ops: Option<u64>,
    /// Bytes per second at most (e.g. 50MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Record progress here; rerunning with the same file resumes.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// How keys are written: RESTORE with re-encoding and a fallback to commands
    /// (auto), RESTORE only, or plain commands.
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// Hash field TTLs on a target that cannot hold them (older than Redis 7.4, or
    /// another family): fail the key, or drop the TTLs and keep the fields.
    #[arg(long, value_enum, default_value = "fail")]
    hash_field_ttl: HashFieldTtl,
    /// Write for this RDB version instead of the one the target's DUMP shows
    /// (payload footers, re-encoding of newer types).
    #[arg(long, value_name = "N")]
    target_rdb_version: Option<u16>,
    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Failures listed with their error in the summary.
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_errors: usize,
    /// Stop sending after this many failed keys (0: never); a full or read-only
    /// target fails every key alike.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_failures: u64,
    /// Write every failed key to FILE as JSON Lines ({"file","db","key","function","cause","error"}).
    #[arg(long, value_name = "FILE")]
    failed_keys: Option<PathBuf>,
    /// Seconds a key waits for a node that takes it (a failover, a restarting server)
    /// before it fails.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    node_timeout: u64,
    /// Do not end batches with WAIT 1 on masters that have replicas (faster; keys
    /// acknowledged just before a master dies may then be lost in the failover).
    #[arg(long)]
    no_wait_replicas: bool,
}

/// Runs `rdbkit restore`.
pub fn run(args: &RestoreArgs, quiet: bool) -> ExitCode {
    match restore(args, quiet) {
        Ok(report) => ExitCode::from(if report.has_failures() { 1 } else { 0 }),
        Err(e) => {
            // A stopped run still prints what it did (the summary, on stdout).
            let stopped = e
                .chain()
                .find_map(|c| match c.downcast_ref::<rdb_restore::Error>() {
                    Some(rdb_restore::Error::Stopped { report, .. }) => Some(report),
                    _ => None,
                });
            if let Some(report) = stopped {
                let summary = match args.format {
                    Format::Json => json_line(
                        &RestoreDocument::new(report, &args.snapshot.files)
                            .stopped(format!("{e:#}")),
                    ),
                    Format::Text => to_text(report, &args.snapshot.files),
                };
                let _ = crate::output::print(&summary);
            }
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn restore(args: &RestoreArgs, quiet: bool) -> Result<RestoreReport> {
    let target = args.conn.target_for(&args.server)?;
    if args.connections == 0 || args.pipeline_depth == 0 || args.batch_keys == 0 {
        bail!("--connections, --pipeline-depth and --batch-keys must be at least 1");
    }
    let mut options = RestoreOptions::default()
        .functions(!args.no_functions)
        .connections(args.connections)
        .pipeline_depth(args.pipeline_depth)
        .batch_keys(args.batch_keys)
        .batch_bytes(usize::try_from(args.batch_bytes).unwrap_or(usize::MAX))
        .max_ops(args.max_ops)
        .max_bytes(args.max_bytes)
        .checkpoint(args.checkpoint.clone())
        .max_errors(args.max_errors)
        .cluster(if args.cluster {
            ClusterMode::Always
        } else {
            ClusterMode::Auto
        })
        .target_rdb_version(args.target_rdb_version)
        .max_failures(args.max_failures)
        .failed_keys(args.failed_keys.clone())
        .node_timeout(std::time::Duration::from_secs(args.node_timeout.max(1)))
        .wait_replicas(!args.no_wait_replicas);
    options.plan.mode = args.mode.into();
    options.plan.field_ttls = match args.hash_field_ttl {
        HashFieldTtl::Fail => FieldTtlPolicy::Fail,
        HashFieldTtl::Drop => FieldTtlPolicy::Drop,
    };
    args.snapshot.apply(&mut options.plan)?;
    options.plan.on_conflict = match args.on_conflict {
        OnConflict::Fail => ConflictPolicy::Fail,
        OnConflict::Skip => ConflictPolicy::Skip,
        OnConflict::Replace => ConflictPolicy::Replace,
    };
    let inputs = args.snapshot.open()?;
    let files = args.snapshot.sources(&inputs)?;

    let progress = Progress::default();
    let line = |secs: f64| {
        let (keys, bytes, failed, pos, total) = progress.snapshot();
        let keys_total = progress
            .keys_total
            .load(std::sync::atomic::Ordering::Relaxed);
        format!(
            "restoring: {keys} of {keys_total} keys ({failed} failed), {}, {:.0} keys/s, ETA {}",
            units::bytes(bytes),
            keys as f64 / secs,
            units::eta(secs, pos, total),
        )
    };
    let report = with_progress_line(quiet, line, || {
        crate::interrupt::while_running(&progress, || {
            rdb_restore::restore(&target, &files, &options, &progress)
        })
    })?;
    match args.format {
        Format::Json => crate::output::print(&json_line(&RestoreDocument::new(
            &report,
            &args.snapshot.files,
        )))?,
        Format::Text => {
            if !quiet || report.has_failures() {
                crate::output::print(&to_text(&report, &args.snapshot.files))?;
            }
        }
    }
    Ok(report)
}

/// One JSON document and a newline.
pub fn json_line(document: &impl serde::Serialize) -> String {
    match serde_json::to_string(document) {
        Ok(j) => j + "\n",
        // Serializing report types into a string cannot fail (string keys only).
        Err(e) => format!("{{\"verdict\": \"error\", \"error\": \"{e}\"}}\n"),
    }
}

fn to_text(r: &RestoreReport, files: &[String]) -> String {
    let mut s = String::new();
    let skips: Vec<String> = r
        .skipped_by
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    s.push_str(&format!(
        "restored {} keys ({}) in {:.2} s; skipped {}{}; expired {}; failed {}\n",
        r.restored,
        units::bytes(r.bytes),
        r.seconds,
        r.skipped,
        if skips.is_empty() {
            String::new()
        } else {
            format!(" ({})", skips.join(", "))
        },
        r.expired,
        r.failed,
    ));
    if r.not_done() > 0 {
        s.push_str(&format!(
            "NOT DONE: {} of the snapshot's {} keys (the run stopped before them or before \
             their replies)\n",
            r.not_done(),
            r.snapshot_keys
        ));
    }
    if r.retried > 0 {
        s.push_str(&format!(
            "retried {} keys that had failed in the resumed run\n",
            r.retried
        ));
    }
    for (cause, n) in &r.failures_by_cause {
        let hint = rdb_restore::report::cause_hint(cause)
            .map(|h| format!(": {h}"))
            .unwrap_or_default();
        s.push_str(&format!("{n} × {cause}{hint}\n"));
    }
    s.push_str(&conversion_lines(&r.conversions));
    let f = &r.functions;
    if f.restored + f.skipped + f.failed > 0 {
        s.push_str(&format!(
            "function libraries: restored {}, skipped {}, failed {}\n",
            f.restored, f.skipped, f.failed
        ));
    }
    for e in &r.errors {
        let file = files.get(e.file).map(String::as_str).unwrap_or("?");
        let key = String::from_utf8_lossy(&e.key);
        match e.db {
            Some(db) => s.push_str(&format!(
                "  failed: {file}: db {db} key {key:?}: {}\n",
                e.error
            )),
            None => s.push_str(&format!(
                "  failed: {file}: function library {key:?}: {}\n",
                e.error
            )),
        }
    }
    let shown = r.errors.len() as u64;
    let total = r.failed + r.functions.failed;
    if total > shown {
        s.push_str(&format!("  ... and {} more failures\n", total - shown));
    }
    s
}

/// What was converted for the target and what it could not hold, a line each (empty
/// when nothing was): restore's and sync's summaries.
pub(crate) fn conversion_lines(c: &ConversionCounts) -> String {
    let mut s = String::new();
    if c.restamped + c.reencoded + c.commands > 0 {
        s.push_str(&format!(
            "converted for the target: {} re-stamped, {} re-encoded, {} as commands\n",
            c.restamped, c.reencoded, c.commands
        ));
    }
    let mut lost = Vec::new();
    if c.field_ttls_dropped > 0 {
        lost.push(format!("{} hash field TTLs", c.field_ttls_dropped));
    }
    if c.stream_metadata_dropped > 0 {
        lost.push(format!(
            "stream metadata (entries_read, entries_added, max_deleted_id, first_id) of {} streams",
            c.stream_metadata_dropped
        ));
    }
    if c.active_times_dropped > 0 {
        lost.push(format!("{} consumer active times", c.active_times_dropped));
    }
    if c.idmp_dropped > 0 {
        lost.push(format!("IDMP state of {} streams", c.idmp_dropped));
    }
    if !lost.is_empty() {
        s.push_str(&format!(
            "dropped (the target cannot hold them): {}\n",
            lost.join("; ")
        ));
    }
    if c.expired_fields > 0 {
        s.push_str(&format!(
            "hash fields already expired, not restored: {}\n",
            c.expired_fields
        ));
    }
    s
}
