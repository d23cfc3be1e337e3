//! `rdbkit verify`: checks that a live target holds exactly the snapshots' keys,
//! with `rdb_restore::verify` doing the work (see its docs for what is compared and
//! how `--sample` chooses keys). This module maps flags to options and the report to
//! text (stderr) or JSON (stdout).
//!
//! The connection flags are those of `rdbkit restore` (same names, same meaning).
//!
//! Exit 0 when the target matches, 1 when anything differs (a missing, different or
//! extra key; with `--sample`, also a key count mismatch), 2 on bad input, bad usage
//! or a connection failure.

use std::process::ExitCode;

use anyhow::{bail, Result};
use rdb_restore::document::VerifyDocument;
use rdb_restore::verify::{VerifyReport, Why, DEFAULT_SEED};
use rdb_restore::{ClusterMode, Progress, VerifyOptions};

use crate::cmd::restore::Format;
use crate::connect::{ConnectionArgs, ServerArgs};
use crate::source::{with_progress_line, SnapshotArgs};
use crate::units;

/// Arguments of `rdbkit verify`.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    after_help = "Target: --target URL (-u), or -h HOST -p PORT [-a PASSWORD] [--user U] [--tls] [-n DB] as with redis-cli. Password: from the URL or -a, else --password-file, else REDISCLI_AUTH. \
                  --sample N checks the N keys with the smallest seeded key hash \
                  (deterministic; counts and the extra-key scan stay complete). \
                  Exit 0 target matches, 1 something differs, 2 error."
)]
pub struct VerifyArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    conn: ConnectionArgs,
    /// Print help (-h is the host, as in redis-cli).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Route by hash slot even if the target does not report cluster mode.
    #[arg(long)]
    cluster: bool,
    /// Connections per target node.
    #[arg(long, value_name = "N", default_value_t = 2)]
    connections: usize,
    /// Keys per pipelined batch (two commands each).
    #[arg(long, value_name = "N", default_value_t = 500)]
    batch_keys: usize,
    /// Batches in flight per connection at most; the window must cover the round trip
    /// to a distant target.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pipeline_depth: usize,
    /// COUNT of each SCAN call of the extra-key pass (one round trip per call).
    #[arg(long, value_name = "N", default_value_t = 5000)]
    scan_count: u64,
    /// Finish the extra-key SCAN even when the key counts already rule extra keys out
    /// (for a target written to during the check).
    #[arg(long)]
    full_scan: bool,
    /// Commands per second at most (all connections together; two per key, and a SCAN
    /// call of the extra-key pass counts as the keys it returns).
    #[arg(long, value_name = "N")]
    max_ops: Option<u64>,
    /// Check only a deterministic random sample of N keys.
    #[arg(long, value_name = "N")]
    sample: Option<u64>,
    /// Seed of the --sample choice.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Slack in ms on expiries read with PTTL (servers before 7.0).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    ttl_tolerance: i64,
    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Example keys listed per kind of finding.
    #[arg(long, value_name = "N", default_value_t = 20)]
    max_examples: usize,
    /// Seconds a key waits for a node that answers (a failover, a restarting server)
    /// before the check stops.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    node_timeout: u64,
}

/// Runs `rdbkit verify`.
pub fn run(args: &VerifyArgs, quiet: bool) -> ExitCode {
    match verify(args, quiet) {
        Ok(report) => ExitCode::from(if report.has_differences() { 1 } else { 0 }),
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: &VerifyArgs, quiet: bool) -> Result<VerifyReport> {
    let target = args.conn.target_for(&args.server)?;
    if args.connections == 0 || args.batch_keys == 0 || args.pipeline_depth == 0 {
        bail!("--connections, --batch-keys and --pipeline-depth must be at least 1");
    }
    let mut options = VerifyOptions::default()
        .connections(args.connections)
        .batch_keys(args.batch_keys)
        .pipeline_depth(args.pipeline_depth)
        .scan_count(args.scan_count)
        .full_scan(args.full_scan)
        .max_ops(args.max_ops)
        .sample(args.sample)
        .seed(args.seed)
        .ttl_tolerance_ms(args.ttl_tolerance)
        .max_examples(args.max_examples)
        .node_timeout(std::time::Duration::from_secs(args.node_timeout.max(1)))
        .cluster(if args.cluster {
            ClusterMode::Always
        } else {
            ClusterMode::Auto
        });
    args.snapshot.apply(&mut options.plan)?;
    let inputs = args.snapshot.open()?;
    let files = args.snapshot.sources(&inputs)?;

    let progress = Progress::default();
    let line = |secs: f64| {
        let (keys, _, bad, _, total) = progress.snapshot();
        format!(
            "verifying: {keys} of {total} keys ({}), {bad} missing or different, {:.0} keys/s, ETA {}",
            units::percent(keys, total),
            keys as f64 / secs,
            units::eta(secs, keys, total),
        )
    };
    let report = with_progress_line(quiet, line, || {
        rdb_restore::verify(&target, &files, &options, &progress)
    })?;
    match args.format {
        Format::Json => crate::output::print(&crate::cmd::restore::json_line(
            &VerifyDocument::new(&report),
        ))?,
        Format::Text => {
            if !quiet || report.has_differences() {
                crate::output::print(&to_text(&report))?;
            }
        }
    }
    Ok(report)
}

fn to_text(r: &VerifyReport) -> String {
    let mut s = String::new();
    let scope = if r.sampled {
        format!(
            "checked a sample of {} of {} keys",
            r.checked, r.snapshot_keys
        )
    } else {
        format!("checked {} keys", r.checked)
    };
    let kinds: Vec<String> = r
        .different_by
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(w, n)| format!("{} {n}", w.name()))
        .collect();
    s.push_str(&format!(
        "{scope} in {:.2} s: matched {}, missing {}, different {}{}, extra {} ({})\n",
        r.seconds,
        r.matched,
        r.missing,
        r.different,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({})", kinds.join(", "))
        },
        r.extra,
        if r.extra_by_count {
            "ruled out by the key counts".to_string()
        } else {
            format!("of {} scanned", r.scanned)
        },
    ));
    if r.expired_since_snapshot > 0 {
        s.push_str(&format!(
            "expired since the snapshot (not counted as missing): {}\n",
            r.expired_since_snapshot
        ));
    }
    for d in &r.dbs {
        s.push_str(&format!(
            "  db {}: snapshot {} keys ({} not expired), target {}{}\n",
            d.db,
            d.snapshot,
            d.snapshot_live,
            d.target,
            if !d.compared {
                "  (filtered: not compared)"
            } else if d.matches() {
                ""
            } else {
                "  <- counts differ"
            }
        ));
    }
    for f in &r.examples {
        let label = match f.why {
            Why::Missing | Why::Extra | Why::ExpiredSinceSnapshot => f.why.name().to_string(),
            w => format!("different ({})", w.name()),
        };
        s.push_str(&format!(
            "  {label}: db {} key {:?}: {}\n",
            f.db,
            String::from_utf8_lossy(&f.key),
            f.detail
        ));
    }
    let shown = |w: Why| r.examples.iter().filter(|e| e.why == w).count() as u64;
    let hidden: u64 = [
        Why::Missing,
        Why::Extra,
        Why::ExpiredSinceSnapshot,
        Why::Type,
        Why::Value,
        Why::FieldTtls,
        Why::Ttl,
        Why::Unreadable,
    ]
    .iter()
    .map(|&w| r.count(w).saturating_sub(shown(w)))
    .sum();
    if hidden > 0 {
        s.push_str(&format!("  ... and {hidden} more\n"));
    }
    s.push_str(if r.has_differences() {
        "result: the target differs from the snapshot\n"
    } else {
        "result: the target matches the snapshot\n"
    });
    s
}
