//! `rdbkit preflight`: pass / warn / fail checks of a target (and a source, and the
//! snapshots, when given) before a migration, ending with the next step.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_parser::inventory::memory::SizeClasses;
use rdb_parser::inventory::{inventory, FileInput, InventoryOptions};
use rdb_restore::live::preflight::{
    preflight, Check, PreflightDocument, PreflightOptions, SnapshotFacts, SnapshotFile, Status,
    TargetMemory,
};
use rdb_restore::target::redact_url;

use crate::connect::ConnectionArgs;
use crate::input::{self, Input};

pub use crate::output::Format;

/// Arguments of `rdbkit preflight`.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    after_help = "Password: from each URL, else --source-password-file / --target-password-file, \
                  else --password-file, else REDISCLI_AUTH. The target gets two short-lived \
                  probe keys (SET, DUMP, RESTORE), removed at once. Without --source the \
                  source checks are skipped (the snapshots stand in for it). Exit 0 ready \
                  (warnings allowed), 1 some check failed (an unreachable server included), \
                  2 usage error or unreadable input."
)]
pub struct PreflightArgs {
    /// Print help (-h is not help here: redis-cli habits would take it for a host).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Source URL (e.g. the ElastiCache primary endpoint); optional: the snapshot
    /// checks do not need it.
    #[arg(long, value_name = "URL")]
    source: Option<String>,
    /// Target URL (e.g. the Azure cache).
    #[arg(long, value_name = "URL")]
    target: String,
    /// Snapshot files to be restored, one per shard (one dataset): their RDB
    /// versions, types, databases and memory estimate are checked against the target.
    #[arg(long = "snapshot", value_name = "FILE", num_args = 1..)]
    snapshots: Vec<String>,
    /// The source's password, from this file (first line); overrides --password-file.
    #[arg(long, value_name = "FILE")]
    source_password_file: Option<PathBuf>,
    /// The target's password, from this file (first line); overrides --password-file.
    #[arg(long, value_name = "FILE")]
    target_password_file: Option<PathBuf>,
    /// jemalloc quantum of the target for the memory estimate (default: 8 for
    /// `mem_allocator:jemalloc` (bundled, managed services), 16 for `libc`); 16 for
    /// distribution packages linking the system jemalloc (Debian/Ubuntu).
    #[arg(long, value_name = "BYTES", value_parser = ["8", "16"])]
    jemalloc_quantum: Option<String>,
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

/// The size classes for the target's allocator, and that choice in words.
fn size_classes(allocator: Option<&str>, forced: Option<&str>) -> (SizeClasses, String) {
    match (forced, allocator) {
        (Some("16"), _) => (SizeClasses::Quantum16, "16-byte size classes".into()),
        (Some(_), _) => (SizeClasses::Quantum8, "8-byte size classes".into()),
        (None, Some(a)) if a.starts_with("libc") => (
            SizeClasses::Quantum16,
            format!("{a}: approximated by 16-byte size classes"),
        ),
        (None, Some(a)) => (
            SizeClasses::Quantum8,
            format!("{a}: 8-byte size classes; --jemalloc-quantum 16 for a distribution build"),
        ),
        (None, None) => (SizeClasses::Quantum8, "8-byte size classes".into()),
    }
}

/// Inventories the snapshots, modelling the memory of `memory` (the target) when known.
fn snapshot_facts(
    data: &[(&str, Input)],
    memory: Option<&TargetMemory>,
    forced_quantum: Option<&str>,
) -> Result<SnapshotFacts, String> {
    let inputs: Vec<FileInput<'_>> = data
        .iter()
        .map(|(name, d)| FileInput {
            name,
            data: d,
            mtime_ms: None,
        })
        .collect();
    let (classes, classes_words) =
        size_classes(memory.and_then(|m| m.allocator.as_deref()), forced_quantum);
    let target_version = memory.and_then(|m| m.layout_version);
    let memory_model = match (memory, target_version) {
        (Some(m), Some((major, minor))) => format!(
            "as loaded by the target, {}: Redis {major}.{minor} layouts; {classes_words}",
            m.version
        ),
        _ => format!("as loaded by the servers that wrote the files; {classes_words}"),
    };
    let options = InventoryOptions {
        target_version,
        size_classes: classes,
        ..InventoryOptions::default()
    };
    let inv =
        inventory(&inputs, &options, &|_| {}).map_err(|e| format!("reading the snapshots: {e}"))?;
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
        memory_model,
        rdb_types: inv
            .rdb_types
            .iter()
            .map(|(n, c)| ((*n).to_string(), *c))
            .collect(),
    })
}

/// The connection flags for one side: its own password file over the shared one.
/// Changing credentials (`--auth`, `--password-command`) are the target's: the
/// source authenticates with its URL's password or `--source-password-file`.
fn side_args(args: &PreflightArgs, own: &Option<PathBuf>, source: bool) -> ConnectionArgs {
    let mut conn = args.conn.clone();
    if own.is_some() {
        conn.password_file.clone_from(own);
    }
    if source {
        conn.auth = crate::connect::AuthMethod::Password;
        conn.password_command = None;
        conn.aws_region = None;
        conn.aws_cache_name = None;
        conn.aws_serverless = false;
    }
    conn
}

/// Shell-quotes `s` when it needs it (the next step is meant to be pasted).
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@,+=*%[]".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `rdbkit restore FILE... --target URL ...` for the checks' target (password
/// redacted, files and TLS flags as given).
fn next_command(args: &PreflightArgs) -> String {
    let mut words = vec!["rdbkit".to_string(), "restore".into()];
    if args.snapshots.is_empty() {
        words.push("SNAPSHOT.rdb...".into());
    } else {
        words.extend(args.snapshots.iter().map(|f| quote(f)));
    }
    words.push("--target".into());
    words.push(quote(&redact_url(&args.target)));
    let password = args
        .target_password_file
        .as_ref()
        .or(args.conn.password_file.as_ref());
    if let Some(p) = password {
        words.push("--password-file".into());
        words.push(quote(&p.to_string_lossy()));
    }
    words.extend(args.conn.credential_flags().iter().map(|w| quote(w)));
    if args.target.starts_with("rediss://") {
        let c = &args.conn;
        for (flag, file) in [
            ("--tls-ca-cert", &c.tls_ca_cert),
            ("--tls-cert", &c.tls_cert),
            ("--tls-key", &c.tls_key),
        ] {
            if let Some(f) = file {
                words.push(flag.into());
                words.push(quote(&f.to_string_lossy()));
            }
        }
        if let Some(n) = &c.tls_server_name {
            words.push("--tls-server-name".into());
            words.push(quote(n));
        }
        if c.tls_insecure {
            words.push("--tls-insecure".into());
        }
    }
    words.join(" ")
}

fn run_checks(args: &PreflightArgs) -> Result<Vec<Check>> {
    let source = args
        .source
        .as_deref()
        .map(|url| side_args(args, &args.source_password_file, true).target_among(url))
        .transpose()
        .context("--source")?;
    let target = side_args(args, &args.target_password_file, false)
        .target_among(&args.target)
        .context("--target")?;
    // Open (map) every file first: a missing file is a usage error, not a check.
    let mut data = Vec::with_capacity(args.snapshots.len());
    for f in &args.snapshots {
        data.push((f.as_str(), input::open(f)?));
    }
    let forced = args.jemalloc_quantum.as_deref();
    // The facts as read, for the JSON summary (the library keeps only its checks).
    let seen = std::cell::RefCell::new(None);
    let reader = |memory: Option<&TargetMemory>| {
        let facts = snapshot_facts(&data, memory, forced)?;
        *seen.borrow_mut() = Some(facts.summary());
        Ok(facts)
    };
    let options = PreflightOptions::default()
        .source_tls(
            args.source
                .as_deref()
                .is_some_and(|s| s.starts_with("rediss://")),
        )
        .target_tls(args.target.starts_with("rediss://"))
        .max_replica_gap(args.max_replica_gap)
        .max_replica_lag(args.max_replica_lag);
    let checks = preflight(
        source.as_ref(),
        &target,
        (!data.is_empty()).then_some(&reader as _),
        &options,
    );
    let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
    let next = if failures == 0 {
        format!("ready: {}", next_command(args))
    } else {
        format!(
            "not ready: fix the {failures} failure{} above",
            if failures == 1 { "" } else { "s" }
        )
    };
    let out = match args.format {
        Format::Json => {
            let snapshot = seen.borrow();
            let doc = PreflightDocument::new(&checks, &next, snapshot.as_ref());
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
                "{} passed, {} warnings, {} failed{}\n",
                count(Status::Pass),
                count(Status::Warn),
                count(Status::Fail),
                match count(Status::Skip) {
                    0 => String::new(),
                    n => format!(", {n} skipped"),
                }
            ));
            s.push_str(&next);
            s.push('\n');
            s
        }
    };
    crate::output::print(&out)?;
    Ok(checks)
}
