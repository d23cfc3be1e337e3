//! One value: the first byte picks the family (odd: Valkey), the rest is
//! `type byte + value bytes` as in a file or a DUMP payload body.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rdb-parser/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::value(data));
