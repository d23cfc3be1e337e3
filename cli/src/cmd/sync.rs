//! `rdbkit sync`: bulk copy, then live catch-up from keyspace notifications until
//! cutover (`rdb_restore::sync` does the work). Status per interval: a line on a
//! terminal (stderr), or one JSON object per line on stdout with `--format jsonl`;
//! the final summary on stdout (the last JSON line carries `verdict`).
//!
//! Exit 0 converged (or ready with `--until ready`); 1 the final comparison found
//! differences, or keys failed; 2 bad input, a refused setup (notifications off), an
//! unreachable server, or an interrupted run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use rdb_parser::reencode::FieldTtlPolicy;
use rdb_restore::document::{SyncDocument, SyncStatusDocument};
use rdb_restore::glob::Glob;
use rdb_restore::{Progress, SyncOptions, SyncReport, SyncState, SyncStatus, Until};

use crate::cmd::restore::{conversion_lines, json_line, HashFieldTtl, Mode};
use crate::connect::ConnectionArgs;
use crate::output::bytes_json;
use crate::units::parse_size;

/// `--until` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UntilArg {
    /// Backlog and lag small and stable: the moment to stop the application's writes.
    Ready,
    /// No source writes for --quiet-for, backlog empty, final comparison clean.
    Converged,
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncFormat {
    /// A status line on a terminal, a summary at the end.
    Text,
    /// One JSON object per interval on stdout; the last one has `verdict`.
    Jsonl,
}

/// Arguments of `rdbkit sync`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The source needs keyspace notifications (notify-keyspace-events \
                        KEA or EA; on ElastiCache: the parameter group); ElastiCache \
                        Serverless has none. Exit 0 converged (or ready with --until ready), \
                        1 differences or failed keys, 2 error or interrupted."
)]
pub struct SyncArgs {
    /// Source URL (redis:// or rediss://; a cluster is found by itself).
    #[arg(long, value_name = "URL")]
    source: String,
    /// Target URL (redis:// or rediss://; /N names the target database).
    #[arg(long, value_name = "URL")]
    target: String,
    #[command(flatten)]
    conn: ConnectionArgs,
    /// Snapshot files (an ElastiCache backup, one per shard) restored first; a file
    /// or `s3://`/`az://` object that does not exist yet is waited for (start the
    /// backup after sync starts). `-`, gzip files and objects already there are
    /// copied to $TMPDIR at start.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    snapshot: Vec<PathBuf>,
    /// Journal directory: the dirty keys survive a restart (rerun with the same one).
    #[arg(long, value_name = "DIR", default_value = "rdbkit-sync.journal")]
    journal: PathBuf,
    /// Only this source database (repeatable).
    #[arg(long = "db", value_name = "N")]
    dbs: Vec<u64>,
    /// Source database SRC goes to target database DST (repeatable).
    #[arg(long = "db-map", value_name = "SRC:DST", value_parser = db_map_arg)]
    db_map: Vec<(u64, u64)>,
    /// Only keys matching this Redis glob pattern (repeatable: any matches).
    #[arg(long = "key-pattern", value_name = "GLOB")]
    key_patterns: Vec<String>,
    /// When to stop.
    #[arg(long, value_enum, default_value = "converged")]
    until: UntilArg,
    /// Seconds without source writes before the final comparison.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    quiet_for: f64,
    /// Seconds between status reports.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// Status format.
    #[arg(long, value_enum, default_value = "text")]
    format: SyncFormat,
    /// Keys copied per batch at most.
    #[arg(long, value_name = "N", default_value_t = 500)]
    batch_keys: usize,
    /// Dirty keys held in memory at most (more spill to the journal directory).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    max_dirty_in_memory: usize,
    /// Commands per second to the target at most.
    #[arg(long, value_name = "N")]
    max_ops: Option<u64>,
    /// Bytes per second to the target at most (e.g. 50MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// How values are written, as restore: RESTORE with re-encoding and a fallback to
    /// commands (auto), RESTORE only, or plain commands.
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// Hash field TTLs on a target that cannot hold them: fail the key, or drop them.
    #[arg(long, value_enum, default_value = "fail")]
    hash_field_ttl: HashFieldTtl,
    /// Write for this RDB version instead of the one the target's DUMP shows.
    #[arg(long, value_name = "N")]
    target_rdb_version: Option<u16>,
}

fn db_map_arg(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("expected SRC:DST, got {s:?}"))?;
    match (a.trim().parse(), b.trim().parse()) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(format!(
            "expected SRC:DST (two database numbers), got {s:?}"
        )),
    }
}

fn seconds(v: f64, flag: &str) -> Result<Duration> {
    if !(v.is_finite() && (0.0..1e7).contains(&v)) {
        anyhow::bail!("{flag}: expected a number of seconds, got {v}");
    }
    Ok(Duration::from_secs_f64(v))
}

/// Runs `rdbkit sync`.
pub fn run(args: &SyncArgs, quiet: bool) -> ExitCode {
    match sync(args, quiet) {
        Ok(report) => ExitCode::from(match report.verdict {
            "converged" | "ready" if report.failures.is_empty() => 0,
            "stopped" => 2,
            _ => 1,
        }),
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn status_line(s: &SyncStatus) -> String {
    let lag = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
    format!(
        "sync {}: backlog {} (oldest {} ms), {} events, {} applied, lag p50 {} p99 {}, {} repairs, {} errors",
        s.state.name(),
        s.backlog,
        s.oldest_dirty_ms,
        s.events,
        s.applied,
        lag(s.lag_ms_p50),
        lag(s.lag_ms_p99),
        s.repairs,
        s.errors
    )
}

fn final_text(r: &SyncReport) -> String {
    let mut out = format!("{}\nverdict: {}\n", status_line(&r.last), r.verdict);
    if let Some(c) = &r.compare {
        out.push_str(&format!(
            "final comparison: {} differences\n",
            c.differences()
        ));
        for (db, d) in &c.dbs {
            out.push_str(&format!(
                "  db {db}: {} source keys, {} target keys, {} equal, {} value differs, \
                 {} expiry differs, {} missing, {} extra\n",
                d.source_keys,
                d.target_keys,
                d.equal,
                d.value_differs,
                d.expiry_differs,
                d.missing,
                d.extra
            ));
        }
        for e in &c.examples {
            out.push_str(&format!(
                "  {} db {} {}\n",
                e.kind,
                e.db,
                bytes_json(&e.key)
            ));
        }
    }
    out.push_str(&conversion_lines(&r.conversions));
    for p in &r.repairs {
        out.push_str(&format!(
            "repair at {:.1} s: {} ({} keys re-scanned)\n",
            p.at_s, p.cause, p.keys_rescanned
        ));
    }
    for f in &r.failures {
        out.push_str(&format!(
            "failed: db {} {}: {}\n",
            f.db,
            bytes_json(&f.key),
            f.error
        ));
    }
    for n in &r.notices {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn sync(args: &SyncArgs, quiet: bool) -> Result<SyncReport> {
    let source = args.conn.target_among(&args.source)?;
    let target = args.conn.target_among(&args.target)?;
    if args.batch_keys == 0 {
        anyhow::bail!("--batch-keys must be at least 1");
    }
    let mut options = SyncOptions::default();
    options.plan.dbs = args.dbs.iter().copied().collect();
    options.plan.db_map = args.db_map.iter().copied().collect();
    options.plan.key_patterns = args
        .key_patterns
        .iter()
        .map(|p| Glob::new(p.as_bytes()))
        .collect();
    options.plan.mode = args.mode.into();
    options.plan.field_ttls = match args.hash_field_ttl {
        HashFieldTtl::Fail => FieldTtlPolicy::Fail,
        HashFieldTtl::Drop => FieldTtlPolicy::Drop,
    };
    // Standard input, gzip files and objects already there are copied to $TMPDIR
    // first; files and (plain, not glob) objects not there yet are waited for by sync.
    let mut copies = Vec::new();
    options.snapshots = Vec::with_capacity(args.snapshot.len());
    for path in &args.snapshot {
        let text = path.to_string_lossy();
        let exists_or_streamed = text == "-"
            || path.exists()
            // A glob must match already: sync cannot tell how many shards to wait for.
            || (crate::input::is_object(&text) && rdb_restore::storage::exists(&text)?);
        match exists_or_streamed
            .then(|| crate::input::local_copy(&text))
            .transpose()?
            .flatten()
        {
            Some(copy) => {
                options.snapshots.push(copy.path().to_path_buf());
                copies.push(copy);
            }
            None => options.snapshots.push(path.clone()),
        }
    }
    options.journal = args.journal.clone();
    options.until = match args.until {
        UntilArg::Ready => Until::Ready,
        UntilArg::Converged => Until::Converged,
    };
    options.quiet_for = seconds(args.quiet_for, "--quiet-for")?;
    options.interval = seconds(args.interval, "--interval")?.max(Duration::from_millis(100));
    options.batch_keys = args.batch_keys;
    options.max_dirty_in_memory = args.max_dirty_in_memory;
    options.max_ops = args.max_ops;
    options.max_bytes = args.max_bytes;
    options.target_rdb_version = args.target_rdb_version;
    options.restore.target_rdb_version = args.target_rdb_version;
    let terminal = !quiet && std::io::stderr().is_terminal();
    let jsonl = args.format == SyncFormat::Jsonl;
    let mut told_backup = false;
    let snapshots: Vec<String> = args
        .snapshot
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut on_status = |s: &SyncStatus| {
        if s.state == SyncState::WaitingForSnapshot && !told_backup && !quiet {
            told_backup = true;
            eprintln!(
                "rdbkit: waiting for {}: start the backup now (any backup started after this \
                 moment works; changes are being captured)",
                snapshots.join(", ")
            );
        }
        if jsonl {
            let _ = crate::output::print(&json_line(&SyncStatusDocument::new(s)));
        } else if terminal {
            eprint!("\r\x1b[2K{}", status_line(s));
        }
    };
    let progress = Progress::default();
    let report = crate::interrupt::while_running(&progress, || {
        rdb_restore::sync(&source, &target, &options, &progress, &mut on_status)
    });
    if terminal && !jsonl {
        eprint!("\r\x1b[2K");
    }
    let report = report?;
    if jsonl {
        crate::output::print(&json_line(&SyncDocument::new(&report)))?;
    } else {
        crate::output::print(&final_text(&report))?;
    }
    Ok(report)
}
