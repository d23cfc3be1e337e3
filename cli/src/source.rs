//! The snapshot side of the commands that work key by key against a server
//! (`restore`, `verify`): which files, which keys, and the progress line they draw.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdb_parser::{LogicalType, ParseOptions, Rdb};
use rdb_restore::glob::Glob;
use rdb_restore::plan::{parse_db_map, parse_type, KeyList};
use rdb_restore::{PlanOptions, SourceFile};

use crate::input::{self, Input};

/// Snapshot files and the key filters.
#[derive(Debug, Clone, clap::Args)]
pub struct SnapshotArgs {
    /// Snapshot files (several files, e.g. one per shard, form one dataset; `-` = stdin;
    /// `s3://BUCKET/KEY`, `az://CONTAINER/BLOB`, globs of them for shard sets; standard input, objects and gzip files are first copied to a temporary file in $TMPDIR,
    /// which needs room for the decompressed snapshot).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    /// Only this source database (repeatable).
    #[arg(long = "db", value_name = "N")]
    pub dbs: Vec<u64>,
    /// Source database SRC goes to target database DST (repeatable).
    #[arg(long = "db-map", value_name = "SRC:DST", value_parser = db_map_arg)]
    pub db_map: Vec<(u64, u64)>,
    /// Only keys matching this Redis glob pattern (repeatable: any matches).
    #[arg(long = "key-pattern", value_name = "GLOB")]
    pub key_patterns: Vec<String>,
    /// Only keys of this type: string, list, set, zset, hash, stream, module (repeatable).
    #[arg(long = "type", value_name = "T", value_parser = type_arg)]
    pub types: Vec<LogicalType>,
    /// Do not verify the snapshots' CRC-64 trailers.
    #[arg(long)]
    pub no_crc: bool,
    /// Only the keys listed in FILE: JSON Lines with "db" and "key" (a string, or
    /// {"hex": ...}), as `restore --failed-keys` writes them (a targeted retry).
    #[arg(long, value_name = "FILE")]
    pub keys_from: Option<std::path::PathBuf>,
}

/// The keys (source db, name) and function libraries of a `--failed-keys` file.
fn read_key_list(path: &std::path::Path) -> Result<KeyList> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --keys-from {}", path.display()))?;
    let mut list = KeyList::default();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = || {
            anyhow::anyhow!(
                "{}: line {}: expected {{\"db\": N, \"key\": ...}}",
                path.display(),
                n + 1
            )
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| bad())?;
        let key = match &v["key"] {
            serde_json::Value::String(s) => s.as_bytes().to_vec(),
            serde_json::Value::Object(o) => {
                let hex = o.get("hex").and_then(|h| h.as_str()).ok_or_else(bad)?;
                (0..hex.len() / 2)
                    .map(|i| {
                        hex.get(2 * i..2 * i + 2)
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
                    .filter(|b| b.len() * 2 == hex.len())
                    .ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
        if v["function"] == serde_json::Value::Bool(true) {
            list.functions.insert(key);
        } else {
            let db = v["db"].as_u64().ok_or_else(bad)?;
            list.keys.entry(db).or_default().insert(key);
        }
    }
    Ok(list)
}

fn db_map_arg(s: &str) -> Result<(u64, u64), String> {
    parse_db_map(s).ok_or_else(|| format!("expected SRC:DST (two database numbers), got {s:?}"))
}

fn type_arg(s: &str) -> Result<LogicalType, String> {
    parse_type(s).ok_or_else(|| {
        format!("unknown type {s:?}: expected string, list, set, zset, hash, stream or module")
    })
}

impl SnapshotArgs {
    /// Sets the filters and the database mapping of a plan.
    pub fn apply(&self, plan: &mut PlanOptions) -> Result<()> {
        if let Some(path) = &self.keys_from {
            plan.keys = Some(read_key_list(path)?);
        }
        plan.dbs = self.dbs.iter().copied().collect();
        plan.db_map = self.db_map.iter().copied().collect();
        plan.key_patterns = self
            .key_patterns
            .iter()
            .map(|p| Glob::new(p.as_bytes()))
            .collect();
        plan.types = self.types.clone();
        Ok(())
    }

    /// Opens (maps) every file.
    pub fn open(&self) -> Result<Vec<Input>> {
        self.files.iter().map(|p| input::open(p)).collect()
    }

    /// The opened files as parsed sources (headers checked).
    pub fn sources<'a>(&'a self, inputs: &'a [Input]) -> Result<Vec<SourceFile<'a>>> {
        let options = ParseOptions {
            verify_checksum: !self.no_crc,
        };
        self.files
            .iter()
            .zip(inputs)
            .map(|(name, data)| {
                Rdb::with_options(data, options)
                    .map(|rdb| SourceFile { name, rdb })
                    .with_context(|| name.clone())
            })
            .collect()
    }
}

/// Runs `work`, redrawing `line()` on stderr every 200 ms meanwhile when stderr is a
/// terminal and not `quiet`; the line is cleared at the end.
pub fn with_progress_line<T: Send>(
    quiet: bool,
    line: impl Fn(f64) -> String + Sync,
    work: impl FnOnce() -> T + Send,
) -> T {
    if quiet || !std::io::stderr().is_terminal() {
        return work();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let started = Instant::now();
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let text = line(secs);
                let _ = write!(
                    std::io::stderr().lock(),
                    "\r{}\x1b[K",
                    crate::progress::fit(&text)
                );
            }
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        });
        let r = work();
        done.store(true, Ordering::Relaxed);
        r
    })
}
