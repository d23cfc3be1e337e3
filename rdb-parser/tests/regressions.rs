#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the inputs saved from fuzzing: `tests/regressions/<target>-<hash>.bin`
//! goes through the same checks as the fuzz target `<target>` (`records`, `value`,
//! `dump_payload`, `containers`; see `fuzz/README.md`). Each must end in `Ok` or
//! `Err` without panicking; a failure names the file and the panic message.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use rdb_parser::value::{
    self, intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap,
};
use rdb_parser::{DumpPayload, Family, ParseOptions, Rdb, Record};

fn records(data: &[u8]) {
    for verify_checksum in [false, true] {
        let Ok(rdb) = Rdb::with_options(data, ParseOptions { verify_checksum }) else {
            return;
        };
        let payload_version = match rdb.header().family {
            Family::Redis => 11,
            Family::Valkey => 80,
        };
        for record in rdb.records() {
            let Ok(record) = record else { break };
            let Record::Key(key) = record else { continue };
            let start = data.as_ptr() as usize;
            let raw = key.raw.as_ptr() as usize;
            assert!(raw >= start && raw + key.raw.len() <= start + data.len());
            assert_eq!((raw - start) as u64, key.value_offset);
            let validated = key.validate();
            let payload = key.dump_payload(payload_version);
            let parsed = DumpPayload::parse(&payload).expect("own DUMP payload parses");
            assert_eq!(parsed.value_type, key.value_type);
            assert_eq!(parsed.body, key.raw);
            assert_eq!(validated.ok(), parsed.validate().ok());
        }
        let _ = rdb_parser::export::write_jsonl(&rdb, &mut io::sink());
    }
}

fn value(data: &[u8]) {
    let Some((&selector, raw)) = data.split_first() else {
        return;
    };
    let family = if selector & 1 == 1 {
        Family::Valkey
    } else {
        Family::Redis
    };
    if let Ok(v) = value::decode(family, raw, 0) {
        let _ = v.validate();
    }
}

fn dump_payload(data: &[u8]) {
    if let Ok(p) = DumpPayload::parse(data) {
        let _ = p.validate();
        if let Ok(v) = p.value() {
            let _ = v.validate();
        }
    }
}

fn walk<T, E>(mut it: impl Iterator<Item = Result<T, E>>, limit: usize) {
    let mut n = 0usize;
    while let Some(item) = it.next() {
        if item.is_err() {
            let _ = it.next();
            return;
        }
        n += 1;
        assert!(
            n <= limit,
            "container yielded more elements than input bytes"
        );
    }
}

fn containers(data: &[u8]) {
    let Some((&selector, blob)) = data.split_first() else {
        return;
    };
    let limit = blob.len() + 1;
    match selector % 4 {
        0 => {
            if let Ok(it) = Listpack::new(blob, 0) {
                walk(it, limit);
            }
        }
        1 => {
            if let Ok(it) = Ziplist::new(blob, 0) {
                walk(it, limit);
            }
        }
        2 => {
            if let Ok(it) = Intset::new(blob, 0) {
                walk(it, limit);
            }
        }
        _ => {
            if let Ok(it) = Zipmap::new(blob, 0) {
                walk(it, limit);
            }
        }
    }
}

#[test]
fn saved_fuzz_inputs_end_in_ok_or_err() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let Some(stem) = name.strip_suffix(".bin") else {
            continue;
        };
        let target: fn(&[u8]) = match stem.rsplit_once('-').map(|(t, _)| t) {
            Some("records") => records,
            Some("value") => value,
            Some("dump_payload") => dump_payload,
            Some("containers") => containers,
            _ => panic!("{name}: name must be <target>-<hash>.bin"),
        };
        let data = std::fs::read(&path).unwrap();
        replayed += 1;
        if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| target(&data))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{name}: {msg}"));
        }
    }
    eprintln!("regressions: replayed {replayed} saved fuzz inputs");
    assert!(
        failures.is_empty(),
        "saved fuzz inputs panic:\n{}",
        failures.join("\n")
    );
}
