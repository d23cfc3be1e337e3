//! One row per key of RDB snapshots, streamed into your own code with
//! `inventory::rows::key_rows` (feature `inventory`). This one counts the rows, adds
//! up their estimated memory (the key memory `rdbkit baseline` reports) and keeps the
//! biggest key.
//!
//! Run it from the workspace root:
//!
//! ```text
//! cargo run --release -p rdb-parser --features inventory --example key_rows -- dump.rdb [more.rdb ...]
//! ```
//!
//! It is also the floor of `rdbkit keys`: every row is computed (estimate, slot,
//! prefix, pattern) but none is formatted or written. `benches/README.md` times it.
//! Exit code 0 on success, 2 when a file cannot be read or parsed.
// Memory-mapping is the one unsafe call: see the SAFETY note in `run`.
#![allow(unsafe_code)]

use std::fs::File;
use std::process::ExitCode;

use memmap2::Mmap;
use rdb_parser::inventory::rows::{key_rows, KeyRow};
use rdb_parser::inventory::{FileInput, InventoryOptions};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: key_rows FILE.rdb [FILE.rdb ...]");
        return ExitCode::from(2);
    }
    match run(&paths) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("key_rows: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(paths: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let mut maps = Vec::with_capacity(paths.len());
    for path in paths {
        let file = File::open(path).map_err(|e| format!("{path}: {e}"))?;
        // SAFETY: the map is read-only and outlives the rows. A file truncated or
        // rewritten by another process while mapped can raise SIGBUS; Redis writes a
        // snapshot to a temporary name and renames it, so a finished one is not
        // modified in place (as in `rdbkit`'s own input mapping).
        maps.push(unsafe { Mmap::map(&file) }.map_err(|e| format!("{path}: {e}"))?);
    }
    let files: Vec<FileInput<'_>> = paths
        .iter()
        .zip(&maps)
        .map(|(name, map)| FileInput {
            name,
            data: map,
            mtime_ms: None,
        })
        .collect();

    let (mut rows, mut memory, mut with_ttl) = (0u64, 0u64, 0u64);
    // A row borrows from the snapshot and the pipeline's buffers only while the
    // closure runs: whatever is kept is copied.
    let mut biggest: Option<(u64, String)> = None;
    let mut count = |row: &KeyRow<'_>| -> Result<(), rdb_parser::Error> {
        rows += 1;
        memory += row.memory;
        with_ttl += u64::from(row.expire_at_ms.is_some());
        if biggest.as_ref().is_none_or(|(m, _)| row.memory > *m) {
            let key = String::from_utf8_lossy(row.key).into_owned();
            biggest = Some((row.memory, format!("{key} ({})", row.type_name)));
        }
        Ok(())
    };
    key_rows(
        &files,
        &InventoryOptions::default(),
        &|_framed| {},
        &mut count,
    )?;

    println!("{rows} keys, {with_ttl} with a TTL, {memory} bytes of estimated memory");
    if let Some((bytes, key)) = biggest {
        println!("biggest: {key}, {bytes} bytes");
    }
    Ok(())
}
