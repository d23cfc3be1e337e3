//! Low-level container readers: the first byte selects listpack, ziplist, intset
//! or zipmap (modulo 4); the rest is the container blob. Each walk must end: an
//! element takes at least one byte, so more elements than input bytes is a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../rdb-parser/tests/fuzz_checks/mod.rs"]
mod fuzz_checks;

fuzz_target!(|data: &[u8]| fuzz_checks::containers(data));
