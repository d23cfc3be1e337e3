//! DUMP payloads: parse (footer, CRC, optional KEY_META) and validate the value.
//! Most mutants fail the CRC; a zero CRC is "not computed" and is accepted, so
//! seeds are written with a zero CRC to let mutations reach the value decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rdb-parser/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::dump_payload(data));
