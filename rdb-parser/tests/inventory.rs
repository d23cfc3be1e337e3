//! The key inventory against the corpus manifests, shard sums and batch independence.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::path::PathBuf;

use rdb_parser::inventory::check::{check, check_inputs};
use rdb_parser::inventory::rows::key_rows;
use rdb_parser::inventory::{
    inventory, inventory_of, FileInput, Input, Inventory, InventoryOptions, Source,
};
use rdb_parser::stream::{RdbStream, StreamError, StreamOptions};
use rdb_parser::ParseOptions;

fn run(paths: &[PathBuf], options: &InventoryOptions) -> Inventory {
    let data: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    let files: Vec<FileInput<'_>> = data
        .iter()
        .zip(&names)
        .map(|(d, n)| FileInput {
            name: n,
            data: d,
            mtime_ms: None,
        })
        .collect();
    inventory(&files, options, &|_| {}).unwrap()
}

fn manifests() -> Vec<(PathBuf, serde_json::Value)> {
    let dir = corpus::versions_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".manifest.json") {
            let manifest: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            out.push((dir.join(format!("{stem}.rdb")), manifest));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= 20,
        "expected the whole corpus, found {} manifests",
        out.len()
    );
    out
}

#[test]
fn keyspace_counts_equal_every_manifest() {
    let mut failures = Vec::new();
    for (rdb, manifest) in manifests() {
        let inv = run(std::slice::from_ref(&rdb), &InventoryOptions::default());
        let dbs = manifest["dbs"].as_object().unwrap();
        let mut expected: Vec<(u64, u64, u64)> = dbs
            .iter()
            .map(|(db, v)| {
                (
                    db.parse().unwrap(),
                    v["keys"].as_u64().unwrap(),
                    v["expires"].as_u64().unwrap(),
                )
            })
            .collect();
        expected.sort();
        let got: Vec<(u64, u64, u64)> = inv
            .keyspace
            .iter()
            .map(|(db, s)| (*db, s.keys, s.expires))
            .collect();
        if got != expected {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?}",
                rdb.display()
            ));
        }
        let key_count = manifest["key_count"].as_u64().unwrap();
        if inv.keys() != key_count {
            failures.push(format!(
                "{}: key_count {key_count}, got {}",
                rdb.display(),
                inv.keys()
            ));
        }
        // Every fixture's TTLs are far in the future of its ctime.
        if inv.keyspace.values().any(|d| d.expired_at_snapshot != 0) {
            failures.push(format!(
                "{}: keys reported expired at snapshot",
                rdb.display()
            ));
        }
        // Type counts match the manifest's OBJECT ENCODING totals per logical type.
        let mut by_type = std::collections::BTreeMap::<String, u64>::new();
        for (enc, n) in manifest["encodings"].as_object().unwrap() {
            let t = enc.split('/').next().unwrap().to_string();
            *by_type.entry(t).or_default() += n.as_u64().unwrap();
        }
        let mut got_types = std::collections::BTreeMap::<String, u64>::new();
        for ((t, _), s) in &inv.types {
            *got_types.entry(t.to_string()).or_default() += s.keys;
        }
        if by_type != got_types {
            failures.push(format!(
                "{}: types expected {by_type:?}, got {got_types:?}",
                rdb.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn shard_files_add_up() {
    let dir = corpus::versions_dir();
    let a = dir.join("redis-7.0.15.rdb");
    let b = dir.join("redis-6.2.14.rdb");
    let options = InventoryOptions::default();
    let ia = run(std::slice::from_ref(&a), &options);
    let ib = run(std::slice::from_ref(&b), &options);
    let both = run(&[a, b], &options);
    assert_eq!(both.files.len(), 2);
    assert_eq!(both.keys(), ia.keys() + ib.keys());
    assert_eq!(both.expires(), ia.expires() + ib.expires());
    for (db, s) in &both.keyspace {
        let ka = ia.keyspace.get(db).map_or(0, |d| d.keys);
        let kb = ib.keyspace.get(db).map_or(0, |d| d.keys);
        assert_eq!(s.keys, ka + kb, "db {db}");
    }
    assert_eq!(
        both.memory_estimate,
        ia.memory_estimate + ib.memory_estimate
    );
    assert_eq!(both.memory_keys, ia.memory_keys + ib.memory_keys);
    assert_eq!(both.files[0].keys, ia.keys());
    assert_eq!(both.files[1].keys, ib.keys());
    let types_sum: u64 = both.types.values().map(|t| t.keys).sum();
    assert_eq!(types_sum, both.keys());
}

/// One row per key, whose memory adds up to the inventory's key memory: what
/// `examples/key_rows.rs` prints and `rdbkit keys` writes.
#[test]
fn key_rows_add_up_to_the_inventory() {
    for (rdb, _) in manifests() {
        let data = std::fs::read(&rdb).unwrap();
        let files = [FileInput {
            name: "a.rdb",
            data: &data,
            mtime_ms: None,
        }];
        let options = InventoryOptions::default();
        let inv = inventory(&files, &options, &|_| {}).unwrap();
        let (mut rows, mut memory, mut expires) = (0u64, 0u64, 0u64);
        key_rows(&files, &options, &|_| {}, &mut |row| {
            rows += 1;
            memory += row.memory;
            expires += u64::from(row.expire_at_ms.is_some());
            Ok::<(), rdb_parser::Error>(())
        })
        .unwrap();
        let name = rdb.display();
        assert_eq!(rows, inv.keys(), "{name}");
        assert_eq!(memory, inv.memory_keys, "{name}");
        assert_eq!(expires, inv.expires(), "{name}");
    }
}

#[test]
fn report_does_not_depend_on_batch_boundaries() {
    let dir = corpus::versions_dir();
    let paths = [
        dir.join("redis-7.4.1.rdb"),
        dir.join("valkey-8.0.1.rdb"),
        dir.join("redis-2.4.18.rdb"),
    ];
    let one = InventoryOptions {
        batch_keys: 1_000_000,
        top: 5,
        ..InventoryOptions::default()
    };
    let many = InventoryOptions {
        batch_keys: 1,
        top: 5,
        ..InventoryOptions::default()
    };
    let seven = InventoryOptions {
        batch_keys: 7,
        top: 5,
        ..InventoryOptions::default()
    };
    let a = run(&paths, &one);
    for options in [&many, &seven] {
        let b = run(&paths, options);
        assert_eq!(a.keyspace, b.keyspace);
        assert_eq!(a.types, b.types);
        assert_eq!(a.top_by_memory, b.top_by_memory);
        assert_eq!(a.top_by_elements, b.top_by_elements);
        assert_eq!(a.prefixes, b.prefixes);
        assert_eq!(a.files, b.files);
        assert_eq!(a, b);
    }
    // Top lists are ordered, biggest first, and sized as asked.
    assert_eq!(a.top_by_memory.len(), 5);
    assert!(a
        .top_by_memory
        .windows(2)
        .all(|w| w[0].measure >= w[1].measure));
    assert_eq!(a.top_by_memory[0].key, b"str:1mib");
    // Prefixes: every key is under exactly one of prefix / other / none.
    let prefixed: u64 = a.prefixes.values().map(|p| p.keys).sum();
    assert_eq!(
        prefixed + a.prefixes_other.keys + a.prefixes_none.keys,
        a.keys()
    );
    assert!(a.prefixes.contains_key(&b"str:"[..]));
}

#[test]
fn prefix_table_is_bounded() {
    let dir = corpus::versions_dir();
    let options = InventoryOptions {
        max_prefixes: 3,
        ..InventoryOptions::default()
    };
    let inv = run(&[dir.join("redis-7.4.1.rdb")], &options);
    assert_eq!(inv.prefixes.len(), 3);
    assert!(inv.prefixes_other.keys > 0);
    let prefixed: u64 = inv.prefixes.values().map(|p| p.keys).sum();
    assert_eq!(
        prefixed + inv.prefixes_other.keys + inv.prefixes_none.keys,
        inv.keys()
    );
}

/// Inputs in memory and the same bytes streamed through small buffers.
fn streamed<'a>(name: &'a str, data: &'a [u8], buffer_size: usize) -> Input<'a> {
    let options = StreamOptions {
        buffer_size,
        ..StreamOptions::default()
    };
    let reader: Box<dyn std::io::Read + Send + 'a> = Box::new(data);
    Input {
        name,
        source: Source::Stream(Box::new(RdbStream::new(reader, options).unwrap())),
        mtime_ms: None,
    }
}

#[test]
fn streamed_inputs_give_the_same_inventory_and_check() {
    let options = InventoryOptions {
        batch_keys: 7,
        ..InventoryOptions::default()
    };
    let mut compared = 0;
    for (path, _) in manifests() {
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let file = FileInput {
            name: &name,
            data: &data,
            mtime_ms: None,
        };
        let Ok(expected) = inventory(&[file], &options, &|_| {}) else {
            continue;
        };
        let expected_check = check(&[file], ParseOptions::default(), &|_| {}).unwrap();
        for buffer in [64, 4096, 1 << 20] {
            let mut inputs = [streamed(&name, &data, buffer)];
            let got = inventory_of(&mut inputs, &options, &|_| {}).unwrap();
            assert_eq!(
                got, expected,
                "{name}: inventory with a {buffer}-byte buffer"
            );
            let mut inputs = [streamed(&name, &data, buffer)];
            let got = check_inputs(&mut inputs, ParseOptions::default(), &|_| {}).unwrap();
            assert_eq!(
                got, expected_check,
                "{name}: check with a {buffer}-byte buffer"
            );
        }
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} files compared");

    // A shard set of one mapped and one streamed file equals both mapped.
    let dir = corpus::versions_dir();
    let (a, b) = (dir.join("redis-7.0.15.rdb"), dir.join("redis-6.2.14.rdb"));
    let expected = run(&[a.clone(), b.clone()], &InventoryOptions::default());
    let (da, db) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (na, nb) = (a.display().to_string(), b.display().to_string());
    let mut inputs = [
        FileInput {
            name: &na,
            data: &da,
            mtime_ms: None,
        }
        .into(),
        streamed(&nb, &db, 100),
    ];
    let got = inventory_of(&mut inputs, &InventoryOptions::default(), &|_| {}).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn streamed_damaged_inputs_fail_at_the_same_offset() {
    let dir = corpus::versions_dir();
    let data = std::fs::read(dir.join("redis-7.0.15.rdb")).unwrap();
    let mut failed = 0;
    for cut in [data.len() / 2, data.len() - 1] {
        for damaged in [data[..cut].to_vec(), {
            let mut d = data.clone();
            d[cut - 1] ^= 0x21;
            d
        }] {
            let file = FileInput {
                name: "f",
                data: &damaged,
                mtime_ms: None,
            };
            let expected = check(&[file], ParseOptions::default(), &|_| {}).unwrap_err();
            let mut inputs = [streamed("f", &damaged, 64)];
            match check_inputs(&mut inputs, ParseOptions::default(), &|_| {}) {
                Err(StreamError::Parse(e)) => assert_eq!(e, expected),
                other => panic!("expected {expected}, got {other:?}"),
            }
            let mut inputs = [streamed("f", &damaged, 64)];
            let got = inventory_of(&mut inputs, &InventoryOptions::default(), &|_| {});
            assert_eq!(got.unwrap_err().offset(), expected.offset());
            failed += 1;
        }
    }
    assert_eq!(failed, 4);
}
