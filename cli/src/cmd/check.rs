//! `rdbkit check`: validate every record, every value and the checksum, like
//! `redis-check-rdb`, and print a summary.

use std::fmt::Write as _;
use std::io::Write;

use rdb_parser::inventory::check::{check, FileCheck};
use rdb_parser::inventory::FileInput;
use rdb_parser::{AuxInfo, ParseOptions, Rdb};

use crate::input;
use crate::progress::Progress;

/// Why a check failed: the file is corrupt (exit 1) or could not be read (exit 2).
pub enum CheckFailure {
    /// The file is not a valid snapshot.
    Corrupt(String),
    /// The file could not be opened or read.
    Io(anyhow::Error),
}

/// Checks each file in turn; stops at the first corrupt one.
pub fn run(files: &[String], options: ParseOptions, quiet: bool) -> Result<(), CheckFailure> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in files {
        let data = input::open(path).map_err(CheckFailure::Io)?;
        let summary = check_one(path, &data, options, quiet)
            .map_err(|e| CheckFailure::Corrupt(format!("{path}: {e}")))?;
        let _ = out.write_all(summary.as_bytes());
    }
    Ok(())
}

fn check_one(
    path: &str,
    data: &[u8],
    options: ParseOptions,
    quiet: bool,
) -> Result<String, rdb_parser::Error> {
    let rdb = Rdb::with_options(data, options)?;
    let aux = AuxInfo::read(&rdb)?;
    let progress = std::sync::Mutex::new(Progress::new(
        &format!("checking {path}"),
        data.len() as u64,
        quiet,
    ));
    let file = [FileInput {
        name: path,
        data,
        mtime_ms: None,
    }];
    let result = check(&file, options, &|pos| {
        if let Ok(mut p) = progress.lock() {
            p.update(pos);
        }
    });
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let report = result?.pop().unwrap_or_default();
    Ok(summary(path, data.len(), &rdb, &aux, &report))
}

fn summary(path: &str, len: usize, rdb: &Rdb<'_>, aux: &AuxInfo, c: &FileCheck) -> String {
    let mut s = String::new();
    let server = match (&aux.valkey_ver, &aux.redis_ver) {
        (Some(v), _) => format!("valkey {v}"),
        (None, Some(v)) => format!("redis {v}"),
        _ => "server version not recorded".to_string(),
    };
    let _ = writeln!(
        s,
        "{path}: {} ({server}), {len} bytes",
        rdb.header().magic()
    );
    let _ = writeln!(s, "  keys: {} ({} elements checked)", c.keys(), c.elements);
    for (db, (keys, expires)) in &c.dbs {
        let _ = writeln!(s, "  db {db}: {keys} keys, {expires} with expiry");
    }
    if !c.types.is_empty() {
        let list: Vec<String> = c.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let _ = writeln!(s, "  types: {}", list.join(", "));
    }
    if c.functions + c.module_aux > 0 {
        let _ = writeln!(
            s,
            "  function libraries: {}, module aux records: {}",
            c.functions, c.module_aux
        );
    }
    if c.skipped_opcodes > 0 {
        let _ = writeln!(
            s,
            "  skipped: {} Redis Enterprise opcodes (safe to ignore)",
            c.skipped_opcodes
        );
    }
    let crc = match c.eof {
        Some(e) if e.checksum_verified => format!("ok ({:016x})", e.stored_checksum.unwrap_or(0)),
        Some(e) if e.stored_checksum == Some(0) => {
            "disabled by the writer (zero trailer)".to_string()
        }
        Some(e) if e.stored_checksum.is_some() => "not verified (--no-crc)".to_string(),
        _ => "none (RDB version < 5)".to_string(),
    };
    let _ = writeln!(s, "  checksum: {crc}");
    if let Some(e) = c.eof {
        if e.trailing_bytes > 0 {
            let _ = writeln!(
                s,
                "  {} bytes after the checksum (AOF tail or padding)",
                e.trailing_bytes
            );
        }
    }
    let _ = writeln!(s, "  RDB looks OK");
    s
}
