//! One value: the first byte picks the family (odd: Valkey), the rest is
//! `type byte + value bytes` as in a file or a DUMP payload body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdb_parser::{value, Family};

fuzz_target!(|data: &[u8]| {
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
});
