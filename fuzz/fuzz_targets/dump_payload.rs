//! DUMP payloads: parse (footer, CRC, optional KEY_META) and validate the value.
//! Most mutants fail the CRC; a zero CRC is "not computed" and is accepted, so
//! seeds are written with a zero CRC to let mutations reach the value decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdb_parser::DumpPayload;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = DumpPayload::parse(data) {
        let _ = p.validate();
        if let Ok(v) = p.value() {
            let _ = v.validate();
        }
    }
});
