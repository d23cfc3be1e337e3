//! The checks every fuzz target runs on one input, shared by `fuzz/fuzz_targets/*`
//! (included with `#[path]`) and `tests/regressions.rs`, which replays saved inputs.
//! Each input must end in `Ok` or `Err`; anything else panics here.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use rdb_parser::value::{
    self, intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap,
};
use rdb_parser::{DumpPayload, Family, ParseOptions, Rdb, Record};

/// Whole RDB files: frame every record (with and without CRC verification),
/// validate every key, export to a sink, and check the framer's invariants:
/// `KeyRecord::raw` is a slice of the input at `value_offset`, and its DUMP payload
/// parses back to the same type and body and validates the same way.
pub fn records(data: &[u8]) {
    for verify_checksum in [false, true] {
        let Ok(rdb) = Rdb::with_options(data, ParseOptions { verify_checksum }) else {
            return;
        };
        // Payload footer version: 11 (Redis 7.2) maps type bytes as Redis does;
        // Valkey files need a Valkey footer (80) for bytes 22/23 to mean the same.
        let payload_version = match rdb.header().family {
            Family::Redis => 11,
            Family::Valkey => 80,
        };
        for record in rdb.records() {
            let Ok(record) = record else { break };
            let Record::Key(key) = record else { continue };

            // `raw` must be a sub-slice of the input, starting at `value_offset`.
            let start = data.as_ptr() as usize;
            let raw = key.raw.as_ptr() as usize;
            assert!(
                raw >= start && raw + key.raw.len() <= start + data.len(),
                "KeyRecord::raw lies outside the input"
            );
            assert_eq!(
                (raw - start) as u64,
                key.value_offset,
                "KeyRecord::value_offset does not point at raw"
            );
            if let Some(meta) = key.key_meta {
                let m = meta.as_ptr() as usize;
                assert!(m >= start && m + meta.len() <= start + data.len());
            }

            let validated = key.validate();

            // DUMP payload round trip.
            let payload = key.dump_payload(payload_version);
            let parsed = match DumpPayload::parse(&payload) {
                Ok(p) => p,
                Err(e) => panic!("own DUMP payload does not parse: {e}"),
            };
            assert_eq!(parsed.value_type, key.value_type);
            assert_eq!(parsed.body, key.raw);
            assert_eq!(parsed.rdb_version, payload_version);
            let again = parsed.validate();
            assert_eq!(
                validated.as_ref().ok(),
                again.as_ref().ok(),
                "KeyRecord::validate and DumpPayload::validate disagree: {validated:?} vs {again:?}"
            );
        }
        let _ = rdb_parser::export::write_jsonl(&rdb, &mut std::io::sink());
    }
}

/// One value: a family byte (odd = Valkey), then the type byte and the value.
pub fn value(data: &[u8]) {
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

/// A DUMP payload.
pub fn dump_payload(data: &[u8]) {
    if let Ok(p) = DumpPayload::parse(data) {
        let _ = p.validate();
        if let Ok(v) = p.value() {
            let _ = v.validate();
        }
    }
}

fn walk<T, E>(it: impl Iterator<Item = Result<T, E>>, limit: usize) {
    let mut it = it;
    let mut n = 0usize;
    while let Some(item) = it.next() {
        if item.is_err() {
            // Asking again after an error must not panic either.
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

/// A container blob: a selector byte (`% 4`: listpack, ziplist, intset, zipmap)
/// then the blob.
pub fn containers(data: &[u8]) {
    let Some((&selector, blob)) = data.split_first() else {
        return;
    };
    let limit = blob.len() + 1;
    match selector % 4 {
        0 => {
            if let Ok(lp) = Listpack::new(blob, 0) {
                walk(lp, limit);
            }
        }
        1 => {
            if let Ok(zl) = Ziplist::new(blob, 0) {
                walk(zl, limit);
            }
        }
        2 => {
            if let Ok(is) = Intset::new(blob, 0) {
                walk(is, limit);
            }
        }
        _ => {
            if let Ok(zm) = Zipmap::new(blob, 0) {
                walk(zm, limit);
            }
        }
    }
}
