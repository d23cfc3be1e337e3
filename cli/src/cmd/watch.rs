//! `rdbkit watch`: periodic `INFO` samples of a primary and its replicas after a
//! cutover, flagging replication offsets that stall or diverge, AOF growth without
//! rewrites, and failed or slower background saves.
//!
//! Each sample has a verdict: `fail` when a node is unreachable, a replica's link
//! is down or a background save failed; `warn` for the other alerts (stalled or
//! diverging offsets, AOF growth, slower saves); `ok` with no alert. `--format
//! jsonl` (alias `json`) prints one object per sample with `sample`, `time_ms`
//! (Unix ms; `unix_ms` is the same, kept for older scripts), `time` (ISO-8601
//! UTC), `verdict`, `nodes` and `alerts`.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use rdb_parser::time::format_utc_ms;
use rdb_restore::live::watch::{
    sample, verdict, Alert, Sample, WatchDocument, WatchOptions, Watcher,
};
use rdb_restore::Target;

use crate::connect::{ConnectionArgs, ServerArgs};

/// Output formats of `watch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A few lines per sample.
    Text,
    /// One JSON object per sample (JSON Lines).
    #[value(alias = "json")]
    Jsonl,
}

/// Arguments of `rdbkit watch`.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    after_help = "Password: from each URL, else REDISCLI_AUTH. Give the primary and its \
                        replicas. Runs until --count samples or Ctrl-C. \
                        Exit 0 no alert, 1 some alert was raised, 2 error."
)]
pub struct WatchArgs {
    /// Server URLs (a primary and its replicas; or -h/-p for one).
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Print help (-h is the host, as in redis-cli).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Seconds between samples (fractions allowed).
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many samples (default: until interrupted).
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Flag a replica further than this many bytes behind its primary.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    max_gap: u64,
    /// Flag a replica whose offset stays put this long while its primary's advances.
    #[arg(long, value_name = "S", default_value_t = 5.0)]
    stall_after: f64,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// Runs the watch; exit 0 no alert, 1 some alert, 2 error.
pub fn run(args: &WatchArgs) -> ExitCode {
    match watch(args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn sample_text(s: &Sample) -> String {
    if let Some(e) = &s.error {
        return format!("  {} unreachable: {e}", s.address);
    }
    let mut line = format!("  {}", s.address);
    match s.role.as_deref() {
        Some("slave") => line.push_str(&format!(
            " replica of {} link {} offset {}",
            s.master.as_deref().unwrap_or("?"),
            s.link.as_deref().unwrap_or("?"),
            s.replica_offset.map_or("?".into(), |o| o.to_string())
        )),
        _ => {
            line.push_str(&format!(
                " primary offset {}",
                s.offset.map_or("?".into(), |o| o.to_string())
            ));
            for r in &s.replicas {
                line.push_str(&format!(
                    "; replica {} {} offset {}",
                    r.address, r.state, r.offset
                ));
            }
        }
    }
    if s.aof_enabled {
        line.push_str(&format!(
            "; aof {} bytes (base {})",
            s.aof_current_size.unwrap_or(0),
            s.aof_base_size.unwrap_or(0)
        ));
    }
    line.push_str(&format!(
        "; bgsave {} {}s",
        s.bgsave_status.as_deref().unwrap_or("?"),
        s.bgsave_secs.unwrap_or(-1)
    ));
    line
}

fn watch(args: &WatchArgs) -> Result<u64> {
    if !(args.interval.is_finite() && args.interval >= 0.0) {
        bail!("--interval must be a number of seconds >= 0");
    }
    if !(args.stall_after.is_finite() && args.stall_after >= 0.0) {
        bail!("--stall-after must be a number of seconds >= 0");
    }
    let targets: Vec<Target> = args
        .conn
        .targets(&args.urls, &args.server)?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    let mut watcher = Watcher::new(
        WatchOptions::default()
            .max_gap(args.max_gap)
            .stall_after(Duration::from_secs_f64(args.stall_after)),
    );
    let interval = Duration::from_secs_f64(args.interval);
    let mut alerts_total = 0u64;
    let mut n = 0u64;
    let mut stdout = std::io::stdout().lock();
    loop {
        n += 1;
        // Stamped when sampling starts: samples are then spaced by the interval
        // whatever each round of INFO calls takes.
        let started = Instant::now();
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let samples: Vec<Sample> = targets.iter().map(sample).collect();
        let alerts: Vec<Alert> = watcher.observe(&samples, Instant::now());
        alerts_total += alerts.len() as u64;
        let time = i64::try_from(unix_ms).map_or_else(|_| String::new(), format_utc_ms);
        let verdict = verdict(&alerts);
        let out = match args.format {
            Format::Jsonl => {
                let mut s =
                    serde_json::to_string(&WatchDocument::new(n, unix_ms, &samples, &alerts))
                        .context("encoding JSON")?;
                s.push('\n');
                s
            }
            Format::Text => {
                let mut s = format!("sample {n} {time} (unix ms {unix_ms}): {verdict}\n");
                for x in &samples {
                    s.push_str(&sample_text(x));
                    s.push('\n');
                }
                for a in &alerts {
                    s.push_str(&format!(
                        "  ALERT {} {}: {}\n",
                        a.kind.as_str(),
                        a.node,
                        a.detail
                    ));
                }
                s
            }
        };
        match stdout
            .write_all(out.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(alerts_total),
            Err(e) => return Err(e).context("writing output"),
            Ok(()) => {}
        }
        if args.count.is_some_and(|c| n >= c) {
            return Ok(alerts_total);
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}
