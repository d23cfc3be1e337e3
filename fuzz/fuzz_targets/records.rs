//! Whole RDB files: frame every record (with and without CRC verification),
//! validate every key, export to a sink, and check the framer's invariants:
//! `KeyRecord::raw` is a slice of the input at `value_offset`, and its DUMP
//! payload parses back to the same type and body and validates the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdb_parser::{DumpPayload, Family, ParseOptions, Rdb, Record};

fuzz_target!(|data: &[u8]| {
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
});
