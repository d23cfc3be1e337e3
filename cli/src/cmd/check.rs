//! `rdbkit check`: validate every record, every value and the checksum, like
//! `redis-check-rdb`, and print a summary.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Result;
use rdb_parser::{AuxInfo, ParseOptions, Rdb, Record};

use crate::input;
use crate::progress::Progress;

/// Why a check failed: the file is corrupt (exit 1) or could not be read (exit 2).
pub enum CheckFailure {
    /// The file is not a valid snapshot.
    Corrupt(String),
    /// The file could not be opened or read.
    Io(anyhow::Error),
}

#[derive(Default)]
struct DbStats {
    keys: u64,
    expires: u64,
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
    let mut dbs: BTreeMap<u64, DbStats> = BTreeMap::new();
    let mut types: BTreeMap<&'static str, u64> = BTreeMap::new();
    let (mut functions, mut module_aux, mut elements) = (0u64, 0u64, 0u64);
    let mut eof = None;
    let mut progress = Progress::new(&format!("checking {path}"), data.len() as u64, quiet);
    let mut records = rdb.records();
    while let Some(record) = records.next() {
        match record? {
            Record::Key(key) => {
                elements += key.validate()?;
                let db = dbs.entry(key.db).or_default();
                db.keys += 1;
                db.expires += u64::from(key.expire_at_ms.is_some());
                *types.entry(key.value_type.name()).or_default() += 1;
                progress.update(records.offset());
            }
            Record::Function(_) => functions += 1,
            Record::ModuleAux(_) => module_aux += 1,
            Record::Eof(e) => eof = Some(e),
            _ => {}
        }
    }
    progress.finish();
    let header = rdb.header();
    let mut s = String::new();
    use std::fmt::Write as _;
    let server = match (&aux.valkey_ver, &aux.redis_ver) {
        (Some(v), _) => format!("valkey {v}"),
        (None, Some(v)) => format!("redis {v}"),
        _ => "server version not recorded".to_string(),
    };
    let _ = writeln!(
        s,
        "{path}: {} ({server}), {} bytes",
        header.magic(),
        data.len()
    );
    let total: u64 = dbs.values().map(|d| d.keys).sum();
    let _ = writeln!(s, "  keys: {total} ({elements} elements checked)");
    for (db, st) in &dbs {
        let _ = writeln!(s, "  db {db}: {} keys, {} with expiry", st.keys, st.expires);
    }
    if !types.is_empty() {
        let list: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let _ = writeln!(s, "  types: {}", list.join(", "));
    }
    if functions + module_aux > 0 {
        let _ = writeln!(
            s,
            "  function libraries: {functions}, module aux records: {module_aux}"
        );
    }
    let crc = match eof {
        Some(e) if e.checksum_verified => format!("ok ({:016x})", e.stored_checksum.unwrap_or(0)),
        Some(e) if e.stored_checksum == Some(0) => {
            "disabled by the writer (zero trailer)".to_string()
        }
        Some(e) if e.stored_checksum.is_some() => "not verified (--no-crc)".to_string(),
        _ => "none (RDB version < 5)".to_string(),
    };
    let _ = writeln!(s, "  checksum: {crc}");
    if let Some(e) = eof {
        if e.trailing_bytes > 0 {
            let _ = writeln!(
                s,
                "  {} bytes after the checksum (AOF tail or padding)",
                e.trailing_bytes
            );
        }
    }
    let _ = writeln!(s, "  RDB looks OK");
    Ok(s)
}
