//! `rdbkit baseline`: the offline inventory of one snapshot or a set of shard files.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use rdb_parser::inventory::document::BaselineDocument;
use rdb_parser::inventory::memory::SizeClasses;
use rdb_parser::inventory::redact::{redact_inventory, Redactor};
use rdb_parser::inventory::{
    inventory_of, ranked, FileInput, Input, Inventory, InventoryOptions, FREQ_BUCKETS,
    IDLE_BUCKETS, TTL_BUCKETS,
};
use rdb_parser::ParseOptions;

use crate::input;
use crate::progress::Progress;
use crate::units;

pub use crate::output::Format;

/// Arguments of `rdbkit baseline`.
#[derive(Debug, clap::Args)]
pub struct BaselineArgs {
    /// Snapshot files; several files (one per shard) are one dataset. `-` reads stdin
    /// (streamed); `s3://BUCKET/KEY`, `az://CONTAINER/BLOB` read objects (a glob such as
    /// `s3://b/mybackup-*.rdb` names a shard set).
    #[arg(required = true)]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Keys in each top-N list.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Most distinct prefixes tracked (bounds memory on millions of keys).
    #[arg(long, default_value_t = 10_000)]
    max_prefixes: usize,
    /// Replace key names by a keyed hash (random key per run, stable within it);
    /// prefixes keep only their structure.
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// The options `baseline`, `keys` and `report` share: prefixes, the memory model, CRC.
#[derive(Debug, clap::Args)]
pub struct ModelArgs {
    /// Key prefix separator.
    #[arg(long, default_value = ":")]
    separator: String,
    /// Prefix depth (`user:42:cart` is `user:` at depth 1, `user:42:` at depth 2).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Estimate memory for this Redis version loading the files (e.g. `6.2`, `7.4`);
    /// default: the version that wrote each file.
    #[arg(long, value_name = "MAJOR.MINOR", value_parser = parse_version)]
    target_version: Option<(u32, u32)>,
    /// Allocator size classes of the loading server: 8 for official builds and managed
    /// services (bundled jemalloc), 16 for distribution packages linking the system
    /// jemalloc (Debian/Ubuntu `redis-server`).
    #[arg(long, value_enum, default_value = "8")]
    jemalloc_quantum: Quantum,
    /// Do not verify the CRC-64 trailers.
    #[arg(long)]
    no_crc: bool,
}

/// jemalloc quantum of the loading server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Quantum {
    /// Bundled jemalloc (official builds, managed services).
    #[value(name = "8")]
    Q8,
    /// System jemalloc of Linux distributions.
    #[value(name = "16")]
    Q16,
}

fn parse_version(s: &str) -> Result<(u32, u32), String> {
    let mut it = s.split('.');
    let major = it.next().and_then(|m| m.parse().ok());
    let minor = it.next().map_or(Some(0), |m| m.parse().ok());
    match (major, minor) {
        (Some(major), Some(minor)) => Ok((major, minor)),
        _ => Err(format!("expected MAJOR.MINOR, got {s:?}")),
    }
}

/// Runs the baseline; exit 0 on success, 2 on bad input.
pub fn run(args: &BaselineArgs, quiet: bool) -> ExitCode {
    match baseline(args, quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

impl ModelArgs {
    /// Inventory options with these settings (the others at their defaults).
    pub fn options(&self) -> InventoryOptions {
        InventoryOptions {
            separator: self.separator.as_bytes().to_vec(),
            depth: self.depth,
            parse: ParseOptions {
                verify_checksum: !self.no_crc,
            },
            target_version: self.target_version,
            size_classes: match self.jemalloc_quantum {
                Quantum::Q8 => SizeClasses::Quantum8,
                Quantum::Q16 => SizeClasses::Quantum16,
            },
            ..InventoryOptions::default()
        }
    }
}

/// Snapshot files opened for an inventory: name, bytes, modification time.
pub struct Opened(Vec<(String, input::Input, Option<i64>)>);

impl Opened {
    /// Opens (maps) every path; `-` reads stdin.
    pub fn open(paths: &[String]) -> Result<Opened> {
        let mut inputs = Vec::with_capacity(paths.len());
        for path in paths {
            inputs.push((path.clone(), input::open(path)?, mtime_ms(path)));
        }
        Ok(Opened(inputs))
    }

    /// The files as inventory inputs.
    pub fn files(&self) -> Vec<FileInput<'_>> {
        self.0
            .iter()
            .map(|(name, data, mtime_ms)| FileInput {
                name,
                data,
                mtime_ms: *mtime_ms,
            })
            .collect()
    }
}

/// A file's modification time (Unix ms): the snapshot time when it has no `ctime`.
fn mtime_ms(path: &str) -> Option<i64> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
}

/// Context for an error of a run over `paths`: the file when there is one.
pub fn which_file(paths: &[String]) -> String {
    match paths {
        [one] => one.clone(),
        _ => "one of the input files".to_string(),
    }
}

fn baseline(args: &BaselineArgs, quiet: bool) -> Result<()> {
    let mut inputs = Vec::with_capacity(args.files.len());
    for path in &args.files {
        inputs.push((path.as_str(), input::open_source(path)?, mtime_ms(path)));
    }
    let options = InventoryOptions {
        top: args.top,
        max_prefixes: args.max_prefixes,
        ..args.model.options()
    };
    let mut files = Vec::with_capacity(inputs.len());
    for (name, opened, mtime_ms) in &mut inputs {
        files.push(Input {
            name,
            source: opened
                .source(options.parse)
                .with_context(|| name.to_string())?,
            mtime_ms: *mtime_ms,
        });
    }
    // A stream's length is not known: the progress line then counts bytes.
    let total: Option<u64> = files.iter().map(|f| f.known_len()).sum();
    let progress = std::sync::Mutex::new(Progress::new("baseline", total.unwrap_or(0), quiet));
    let inv = inventory_of(&mut files, &options, &|pos| {
        if let Ok(mut p) = progress.lock() {
            p.update(pos);
        }
    })
    .with_context(|| which_file(&args.files))?;
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let mut inv = inv;
    if args.redact {
        redact_inventory(&mut inv, &Redactor::new());
    }
    let out = match args.format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&BaselineDocument::new(&inv, &options))
                .context("encoding JSON")?;
            s.push('\n');
            s
        }
        Format::Text => to_text(&inv, &options),
    };
    crate::output::print(&out)
}

/// Bytes shown as text (lossy, control characters escaped) for tables.
fn bytes_text(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .flat_map(char::escape_debug)
        .collect()
}

/// Renders rows as columns: the first column left-aligned, the others right-aligned.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        out.push_str("  ");
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{cell:<w$}");
            } else {
                let _ = write!(out, "  {cell:>w$}");
            }
        }
        out.push('\n');
    };
    line(
        out,
        &header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    );
    for row in rows {
        line(out, row);
    }
}

fn to_text(inv: &Inventory, options: &InventoryOptions) -> String {
    let mut s = String::new();
    let total_keys = inv.keys();
    for f in &inv.files {
        let server = match (&f.aux.valkey_ver, &f.aux.redis_ver) {
            (Some(v), _) => format!("valkey {v}"),
            (None, Some(v)) => format!("redis {v}"),
            _ => "server version not recorded".to_string(),
        };
        let magic = f.header.map(|h| h.magic()).unwrap_or_default();
        let _ = writeln!(
            s,
            "{}: {magic} ({server}), {}, {} keys",
            f.name,
            units::bytes(f.bytes),
            f.keys
        );
        let mut facts = Vec::new();
        if let Some(c) = f.aux.ctime {
            facts.push(format!("ctime {}", units::utc(c)));
        }
        if let Some(m) = f.aux.used_mem {
            facts.push(format!("used-mem {}", units::bytes(m)));
        }
        if let Some(id) = &f.aux.repl_id {
            facts.push(format!("repl-id {id}"));
        }
        if let Some(o) = f.aux.repl_offset {
            facts.push(format!("repl-offset {o}"));
        }
        if let Some(a) = f.aux.aof_base {
            facts.push(format!("aof-base {}", u8::from(a)));
        }
        if f.functions > 0 {
            facts.push(format!("{} function libraries", f.functions));
        }
        if !facts.is_empty() {
            let _ = writeln!(s, "  {}", facts.join(", "));
        }
    }
    let _ = writeln!(
        s,
        "\nKeyspace ({total_keys} keys, {} with TTL)",
        inv.expires()
    );
    let rows: Vec<Vec<String>> = inv
        .keyspace
        .iter()
        .map(|(db, d)| {
            vec![
                format!("db{db}"),
                d.keys.to_string(),
                d.expires.to_string(),
                d.expired_at_snapshot.to_string(),
                units::bytes(d.memory),
            ]
        })
        .collect();
    table(
        &mut s,
        &["db", "keys", "expires", "expired@snapshot", "key memory"],
        &rows,
    );

    let recorded = inv
        .recorded_used_memory()
        .map(|m| format!(" (servers recorded used-mem {})", units::bytes(m)));
    let _ = writeln!(
        s,
        "\nMemory estimate: {} used_memory after load{}",
        units::bytes(inv.memory_estimate),
        recorded.unwrap_or_default()
    );

    let _ = writeln!(s, "\nTypes");
    let rows: Vec<Vec<String>> = inv
        .types
        .iter()
        .map(|((t, e), st)| {
            vec![
                format!("{t}/{e}"),
                st.keys.to_string(),
                st.elements.to_string(),
                units::bytes(st.serialized_bytes),
                units::bytes(st.memory),
                units::percent(st.memory, inv.memory_keys),
            ]
        })
        .collect();
    table(
        &mut s,
        &[
            "type/encoding",
            "keys",
            "elements",
            "in file",
            "memory",
            "mem share",
        ],
        &rows,
    );

    let _ = writeln!(s, "\nTTL (remaining at snapshot time)");
    let mut rows = vec![vec!["no TTL".to_string(), inv.ttl_none.to_string()]];
    rows.push(vec![
        "already expired".to_string(),
        inv.ttl_expired.to_string(),
    ]);
    for ((label, _), n) in TTL_BUCKETS.iter().zip(inv.ttl_buckets) {
        rows.push(vec![label.to_string(), n.to_string()]);
    }
    table(&mut s, &["remaining", "keys"], &rows);

    if inv.idle_buckets.iter().any(|&n| n > 0) {
        let _ = writeln!(s, "\nLRU idle time");
        let rows: Vec<Vec<String>> = IDLE_BUCKETS
            .iter()
            .zip(inv.idle_buckets)
            .map(|((l, _), n)| vec![l.to_string(), n.to_string()])
            .collect();
        table(&mut s, &["idle", "keys"], &rows);
    }
    if inv.freq_buckets.iter().any(|&n| n > 0) {
        let _ = writeln!(s, "\nLFU counter");
        let rows: Vec<Vec<String>> = FREQ_BUCKETS
            .iter()
            .zip(inv.freq_buckets)
            .map(|((l, _), n)| vec![l.to_string(), n.to_string()])
            .collect();
        table(&mut s, &["counter", "keys"], &rows);
    }

    for (title, list) in [
        ("by memory", &inv.top_by_memory),
        ("by elements", &inv.top_by_elements),
    ] {
        let _ = writeln!(s, "\nBiggest keys {title}");
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|t| {
                vec![
                    format!("db{} {}", t.db, bytes_text(&t.key)),
                    format!("{}/{}", t.type_name, t.encoding),
                    units::bytes(t.memory),
                    t.elements.to_string(),
                ]
            })
            .collect();
        table(&mut s, &["key", "type", "memory", "elements"], &rows);
    }

    let _ = writeln!(
        s,
        "\nKey prefixes (separator {:?}, depth {}, {} distinct)",
        String::from_utf8_lossy(&options.separator),
        options.depth,
        inv.prefixes.len()
    );
    let mut rows: Vec<Vec<String>> = ranked(&inv.prefixes)
        .into_iter()
        .take(options.top)
        .map(|(p, st)| {
            vec![
                bytes_text(p),
                st.keys.to_string(),
                units::bytes(st.memory),
                units::percent(st.keys, total_keys),
            ]
        })
        .collect();
    if inv.prefixes_none.keys > 0 {
        let n = inv.prefixes_none;
        rows.push(vec![
            "(no prefix)".into(),
            n.keys.to_string(),
            units::bytes(n.memory),
            units::percent(n.keys, total_keys),
        ]);
    }
    if inv.prefixes_other.keys > 0 {
        let n = inv.prefixes_other;
        rows.push(vec![
            "(other)".into(),
            n.keys.to_string(),
            units::bytes(n.memory),
            units::percent(n.keys, total_keys),
        ]);
    }
    table(&mut s, &["prefix", "keys", "memory", "key share"], &rows);
    s
}
