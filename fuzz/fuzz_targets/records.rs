//! Whole RDB files: frame every record (with and without CRC verification),
//! validate every key, export to a sink, and check the framer's invariants:
//! `KeyRecord::raw` is a slice of the input at `value_offset`, and its DUMP
//! payload parses back to the same type and body and validates the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rdb-parser/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::records(data));
