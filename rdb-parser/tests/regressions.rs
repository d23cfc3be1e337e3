#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Replays the inputs saved from fuzzing: `tests/regressions/<target>-<hash>.bin`
//! goes through the same checks as the fuzz target `<target>` (`records`, `value`,
//! `dump_payload`, `containers`; see `fuzz/README.md`). Each must end in `Ok` or
//! `Err` without panicking; a failure names the file and the panic message.

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

mod fuzz_checks;
use fuzz_checks::{containers, dump_payload, records, value};

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

/// The shared checks themselves, over the real corpus: every fixture passes them
/// (so a broken framer invariant fails here, not only under the fuzzer).
#[test]
fn fuzz_checks_pass_on_every_fixture() {
    let versions = corpus::versions_dir();
    let mut n = 0;
    for entry in std::fs::read_dir(&versions).expect("conformance corpus") {
        let path = entry.expect("directory entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("rdb") {
            records(&std::fs::read(&path).expect("fixture"));
            n += 1;
        }
    }
    assert!(
        n >= 20,
        "expected the whole corpus in {}",
        versions.display()
    );
}
