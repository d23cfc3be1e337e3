//! `rdbkit info`: a live baseline from `INFO`, in the seed document's metric names
//! (OpenTelemetry `redisreceiver` names), per node and summed over primaries.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rdb_restore::document::InfoDocument;
use rdb_restore::live::info::{totals, DbKeys, MetricValue, NodeMetrics, Totals};
use rdb_restore::target::redact_url;

use crate::connect::{ConnectionArgs, ServerArgs};
use crate::units;

pub use crate::output::Format;

/// Arguments of `rdbkit info`.
#[derive(Debug, clap::Args)]
#[command(
    disable_help_flag = true,
    after_help = "Password: from the URL, else --password-file, else REDISCLI_AUTH. A cluster URL reads every master. \
                  Totals sum the primaries only (replicas hold the same keys). \
                  Exit 0 read, 2 error."
)]
pub struct InfoArgs {
    /// Server URLs: redis://[user:password@]host:port, rediss:// for TLS (or -h/-p).
    #[arg(value_name = "URL")]
    urls: Vec<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Print help (-h is the host, as in redis-cli).
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    conn: ConnectionArgs,
}

/// Runs `info`; exit 0, or 2 on any error.
pub fn run(args: &InfoArgs) -> ExitCode {
    match info(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn info(args: &InfoArgs) -> Result<()> {
    let mut nodes: Vec<(String, NodeMetrics)> = Vec::new();
    for (url, target) in args.conn.targets(&args.urls, &args.server)? {
        for n in rdb_restore::live::collect(&target)? {
            nodes.push((redact_url(&url), n));
        }
    }
    let all: Vec<NodeMetrics> = nodes.iter().map(|(_, n)| n.clone()).collect();
    let t = totals(&all);
    let out = match args.format {
        Format::Json => {
            let doc = InfoDocument::new(&nodes, &t);
            let mut s = serde_json::to_string_pretty(&doc).context("encoding JSON")?;
            s.push('\n');
            s
        }
        Format::Text => text(&nodes, &t),
    };
    crate::output::print(&out)
}

fn show(name: &str, v: &MetricValue) -> String {
    let bytes = name.starts_with("redis.memory.used")
        || name == "redis.memory.peak"
        || name == "redis.memory.rss"
        || name == "redis.maxmemory"
        || name == "redis.persistence.aof-current-size";
    match v {
        MetricValue::Int(i) if bytes && *i >= 1024 => format!("{i} ({})", units::bytes(*i as u64)),
        MetricValue::Int(i) => i.to_string(),
        MetricValue::Float(f) => format!("{f:.2}"),
        MetricValue::Text(s) => s.clone(),
    }
}

fn keys_line(ks: &BTreeMap<u64, DbKeys>, f: impl Fn(&DbKeys) -> u64) -> String {
    let total: u64 = ks.values().map(&f).sum();
    let per: Vec<String> = ks
        .iter()
        .map(|(db, d)| format!("db{db} {}", f(d)))
        .collect();
    if per.is_empty() {
        total.to_string()
    } else {
        format!("{total} ({})", per.join(", "))
    }
}

fn text(nodes: &[(String, NodeMetrics)], t: &Totals) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    for (url, n) in nodes {
        let _ = writeln!(s, "{} ({url})", n.address);
        let _ = writeln!(
            s,
            "  {:<44} {}",
            "redis.db.keys",
            keys_line(&n.keyspace, |d| d.keys)
        );
        let _ = writeln!(
            s,
            "  {:<44} {}",
            "redis.db.expires",
            keys_line(&n.keyspace, |d| d.expires)
        );
        for (name, v) in &n.scalars {
            let _ = writeln!(s, "  {name:<44} {}", show(name, v));
        }
        if let Some(o) = n.replica_offset {
            let _ = writeln!(s, "  {:<44} {o}", "redis.replication.replica_offset");
        }
        if let Some(l) = &n.master_link_status {
            let _ = writeln!(s, "  {:<44} {l}", "redis.replication.master_link_status");
        }
        let primary = n.int("redis.replication.offset").unwrap_or(0);
        for r in &n.replicas {
            let _ = writeln!(
                s,
                "  replica {} {} offset {} ({} bytes behind), lag {}s",
                r.address,
                r.state,
                r.offset,
                primary - r.offset,
                r.lag.map_or("?".into(), |l| l.to_string())
            );
        }
        for (k, v) in &n.config {
            let _ = writeln!(s, "  config {k:<37} {v:?}");
        }
        for u in &n.unavailable {
            let _ = writeln!(s, "  could not read {}: {}", u.what, u.reason);
        }
    }
    if nodes.len() > 1 {
        let _ = writeln!(s, "totals over {} primaries", t.primaries);
        let _ = writeln!(
            s,
            "  {:<44} {}",
            "redis.db.keys",
            keys_line(&t.keyspace, |d| d.keys)
        );
        let _ = writeln!(
            s,
            "  {:<44} {}",
            "redis.db.expires",
            keys_line(&t.keyspace, |d| d.expires)
        );
        for (name, v) in &t.sums {
            let _ = writeln!(s, "  {name:<44} {}", show(name, &MetricValue::Int(*v)));
        }
    }
    s
}
