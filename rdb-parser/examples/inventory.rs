//! Keys per database and the biggest keys of RDB snapshots, with the public API of
//! `rdb-parser` (feature `inventory`).
//!
//! Run it from the workspace root:
//!
//! ```text
//! cargo run -p rdb-parser --features inventory --example inventory -- dump.rdb [more.rdb ...]
//! ```
//!
//! Several files (one per shard) are inventoried together. Exit code 0 on success,
//! 2 when a file cannot be read or parsed.

use std::process::ExitCode;

use rdb_parser::inventory::{inventory, FileInput, InventoryOptions, TopKey};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: inventory FILE.rdb [FILE.rdb ...]");
        return ExitCode::from(2);
    }
    match run(&paths) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inventory: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(paths: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    // The library takes bytes, never paths: reading (or memory-mapping) the file is
    // the caller's business.
    let mut data = Vec::with_capacity(paths.len());
    for path in paths {
        data.push(std::fs::read(path).map_err(|e| format!("{path}: {e}"))?);
    }
    let files: Vec<FileInput<'_>> = paths
        .iter()
        .zip(&data)
        .map(|(name, data)| FileInput {
            name,
            data,
            mtime_ms: None,
        })
        .collect();

    let options = InventoryOptions {
        top: 5,
        ..InventoryOptions::default()
    };
    let inv = inventory(&files, &options, &|_framed| {})?;

    for file in &inv.files {
        let magic = file.header.map(|h| h.magic()).unwrap_or_default();
        println!(
            "{}: {magic}, {} bytes, {} keys",
            file.name, file.bytes, file.keys
        );
    }
    println!("\nkeys per database:");
    for (db, stats) in &inv.keyspace {
        println!(
            "  db{db}: {} keys, {} with a TTL, ~{} bytes",
            stats.keys, stats.expires, stats.memory
        );
    }
    println!("  total: {} keys", inv.keys());

    print_top(
        "biggest keys by estimated memory (bytes)",
        &inv.top_by_memory,
        |t| t.memory,
    );
    print_top("biggest keys by elements", &inv.top_by_elements, |t| {
        t.elements
    });
    Ok(())
}

fn print_top(title: &str, keys: &[TopKey], measure: impl Fn(&TopKey) -> u64) {
    println!("\n{title}:");
    for t in keys {
        // Keys are bytes; show them as lossy text with control characters escaped.
        let key: String = String::from_utf8_lossy(&t.key)
            .chars()
            .flat_map(char::escape_debug)
            .collect();
        println!(
            "  {:>12}  db{} {key} ({} {})",
            measure(t),
            t.db,
            t.type_name,
            t.encoding
        );
    }
}
