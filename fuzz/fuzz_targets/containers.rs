//! Low-level container readers: the first byte selects listpack, ziplist, intset
//! or zipmap (modulo 4); the rest is the container blob. Each walk must end: an
//! element takes at least one byte, so more elements than input bytes is a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rdb_parser::value::{intset::Intset, listpack::Listpack, ziplist::Ziplist, zipmap::Zipmap};

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

fuzz_target!(|data: &[u8]| {
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
});
