//! Restores RDB snapshots into a live server with the public API of `rdb-restore`,
//! and prints the report.
//!
//! Run it from the workspace root:
//!
//! ```text
//! cargo run -p rdb-restore --example restore -- redis://127.0.0.1:6379 dump.rdb [more.rdb ...]
//! ```
//!
//! The URL may be `rediss://` and carry `user:password@`. Several files (one per
//! shard of a cluster) are restored in one run. Built with `--features serde`, the
//! report is printed as JSON instead of text. With `RESTORE_STOP_AFTER_KEYS=N` in the
//! environment the run is cancelled once N keys are done (as a stop button would),
//! and the report of a stopped run accounts for every key.
//!
//! Exit codes, as `rdbkit restore`: 0 when every key was restored, skipped or
//! expired; 1 when a key (or function library) failed; 2 when the run could not
//! start or stopped part-way (the report of what was done is still printed).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdb_restore::rdb_parser::Rdb;
use rdb_restore::{restore, Error, Progress, RestoreOptions, RestoreReport, SourceFile};
use rdb_restore::{Target, TargetConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, paths @ ..] = args.as_slice() else {
        eprintln!("usage: restore URL FILE.rdb [FILE.rdb ...]");
        return ExitCode::from(2);
    };
    if paths.is_empty() {
        eprintln!("usage: restore URL FILE.rdb [FILE.rdb ...]");
        return ExitCode::from(2);
    }
    match run(url, paths) {
        Ok(report) => {
            print_report(&report);
            ExitCode::from(if report.has_failures() { 1 } else { 0 })
        }
        Err(RunError::Restore(Error::Stopped { cause, report })) => {
            // Part of the snapshot was written: say what was done before the stop.
            print_report(&report);
            eprintln!("restore: stopped: {cause}");
            eprintln!("restore: {} keys not done", report.not_done());
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("restore: {e}");
            ExitCode::from(2)
        }
    }
}

/// What keeps the run from finishing.
#[derive(Debug)]
enum RunError {
    /// A file could not be read or its header is not an RDB header.
    Input(String),
    /// The library's error (bad URL, unreachable target, refused or stopped run).
    Restore(Error),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Input(message) => f.write_str(message),
            RunError::Restore(e) => e.fmt(f),
        }
    }
}

// `RestoreOptions` is `#[non_exhaustive]`: it is built from `Default` with its setters,
// which keeps compiling when it gains options. (`TargetConfig` is still set field by
// field.)
#[allow(clippy::field_reassign_with_default)]
fn run(url: &str, paths: &[String]) -> Result<RestoreReport, RunError> {
    // The libraries take bytes, never paths: reading (or memory-mapping) the files is
    // the caller's business.
    let mut data = Vec::with_capacity(paths.len());
    for path in paths {
        data.push(std::fs::read(path).map_err(|e| RunError::Input(format!("{path}: {e}")))?);
    }
    let mut files = Vec::with_capacity(paths.len());
    for (name, bytes) in paths.iter().zip(&data) {
        let rdb = Rdb::parse(bytes).map_err(|e| RunError::Input(format!("{name}: {e}")))?;
        files.push(SourceFile { name, rdb });
    }

    let mut config = TargetConfig::default();
    config.url = url.to_string();
    let target = Target::new(&config).map_err(RunError::Restore)?;

    let options = RestoreOptions::default().max_errors(10);

    // Where to stop early (a stop button, a deadline, Ctrl-C in a real program).
    let stop_after: Option<u64> = std::env::var("RESTORE_STOP_AFTER_KEYS")
        .ok()
        .and_then(|v| v.parse().ok());

    // The run is synchronous; a second thread reads the live counters and may call
    // `progress.cancel()`: the run then stops sending, reads the replies of what is
    // in flight and returns `Error::Stopped` with the report of what was done.
    let progress = Progress::default();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut shown = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                let (keys, bytes, failed, position, total) = progress.snapshot();
                if stop_after.is_some_and(|n| keys >= n) && !progress.is_cancelled() {
                    progress.cancel();
                }
                if total > 0 {
                    eprint!(
                        "\r{keys} keys, {bytes} bytes, {failed} failed, {:.0}% read",
                        position as f64 * 100.0 / total as f64
                    );
                    shown = true;
                }
            }
            if shown {
                eprintln!();
            }
        });
        let result = restore(&target, &files, &options, &progress);
        done.store(true, Ordering::Relaxed);
        result.map_err(RunError::Restore)
    })
}

/// Writes `text` to stdout. A closed stdout (`| head`) is not an error: the run is
/// done either way, and its exit code must say how it went.
fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("restore: writing the report: {e}");
        }
    }
}

#[cfg(feature = "serde")]
fn print_report(report: &RestoreReport) {
    match serde_json::to_string_pretty(report) {
        Ok(json) => print(&format!("{json}\n")),
        Err(e) => eprintln!("restore: encoding the report: {e}"),
    }
}

#[cfg(not(feature = "serde"))]
fn print_report(report: &RestoreReport) {
    use std::fmt::Write;
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "restored {} keys ({} bytes) in {:.2} s; skipped {}; expired {}; failed {}",
        report.restored,
        report.bytes,
        report.seconds,
        report.skipped,
        report.expired,
        report.failed
    );
    for (reason, n) in report.skipped_by.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(s, "  skipped ({reason}): {n}");
    }
    let f = &report.functions;
    if f.restored + f.skipped + f.failed > 0 {
        let _ = writeln!(
            s,
            "functions: restored {}, skipped {}, failed {}",
            f.restored, f.skipped, f.failed
        );
    }
    for (cause, n) in &report.failures_by_cause {
        let hint = rdb_restore::report::cause_hint(cause).unwrap_or("see the errors below");
        let _ = writeln!(s, "  {n} failed with {cause}: {hint}");
    }
    for e in &report.errors {
        // Keys are bytes: shown as lossy text with control characters escaped.
        let key: String = String::from_utf8_lossy(&e.key)
            .chars()
            .flat_map(char::escape_debug)
            .collect();
        match e.db {
            Some(db) => {
                let _ = writeln!(s, "  db{db} {key}: {e}", e = e.error);
            }
            None => {
                let _ = writeln!(s, "  function library {key}: {e}", e = e.error);
            }
        }
    }
    if let Some(caps) = &report.target {
        let _ = writeln!(
            s,
            "target: {} RDB {}{}",
            caps.version.as_deref().unwrap_or("(version unknown)"),
            caps.rdb_version,
            if caps.cluster { ", cluster" } else { "" }
        );
    }
    print(&s);
}
