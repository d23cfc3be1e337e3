//! `rdbkit baseline` end to end: JSON fields and numbers against the manifest, text
//! output, shard sets and errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{run_rdbkit, versions_dir};
use serde_json::Value;

fn baseline_json(files: &[&str]) -> Value {
    let mut args = vec!["baseline", "--format", "json"];
    args.extend_from_slice(files);
    let out = run_rdbkit(&args, None).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    serde_json::from_slice(&out.stdout).expect("baseline --format json prints one JSON document")
}

#[test]
fn json_carries_keyspace_metrics_and_source() {
    let path = versions_dir().join("redis-7.4.1.rdb");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(versions_dir().join("redis-7.4.1.manifest.json")).unwrap(),
    )
    .unwrap();
    let doc = baseline_json(&[path.to_str().unwrap()]);
    for (db, v) in manifest["dbs"].as_object().unwrap() {
        assert_eq!(doc["keyspace"][db]["keys"], v["keys"], "db {db}");
        assert_eq!(doc["keyspace"][db]["expires"], v["expires"], "db {db}");
        assert_eq!(doc["keyspace"][db]["expired_at_snapshot"], 0, "db {db}");
    }
    assert_eq!(doc["metrics"]["redis.db.keys"], manifest["key_count"]);
    let expires: u64 = manifest["dbs"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v["expires"].as_u64().unwrap())
        .sum();
    assert_eq!(doc["metrics"]["redis.db.expires"], expires);
    assert!(
        doc["metrics"]["redis.memory.used"].as_u64().unwrap() > 1 << 20,
        "the 1 MiB string alone"
    );
    let aux = &manifest["rdb_walk"]["aux"];
    assert_eq!(doc["source"]["redis_ver"], aux["redis-ver"]);
    assert_eq!(
        doc["source"]["ctime"].to_string(),
        aux["ctime"].as_str().unwrap()
    );
    assert_eq!(
        doc["source"]["used_mem"].to_string(),
        aux["used-mem"].as_str().unwrap()
    );
    assert_eq!(doc["source"]["rdb_version"], 12);
    assert_eq!(doc["source"]["files"][0]["functions"], 2);
    assert_eq!(doc["source"]["files"][0]["checksum_verified"], true);
    // Types add up to the key count; the top key by memory is the 1 MiB string.
    let types: u64 = doc["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(types, manifest["key_count"].as_u64().unwrap());
    assert_eq!(doc["top_keys"]["by_memory"][0]["key"], "str:1mib");
    assert_eq!(doc["top_keys"]["by_memory"].as_array().unwrap().len(), 10);
    let ttl = &doc["ttl"];
    let live: u64 = ttl["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["keys"].as_u64().unwrap())
        .sum();
    assert_eq!(
        live + ttl["none"].as_u64().unwrap() + ttl["expired_at_snapshot"].as_u64().unwrap(),
        118
    );
    assert!(doc["prefixes"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["prefix"] == "hash:"));
}

#[test]
fn shard_set_sums_and_text_report() {
    let a = versions_dir().join("redis-7.0.15.rdb");
    let b = versions_dir().join("valkey-8.0.1.rdb");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let da = baseline_json(&[a]);
    let db = baseline_json(&[b]);
    let both = baseline_json(&[a, b]);
    let n = |d: &Value, m: &str| d["metrics"][m].as_u64().unwrap();
    assert_eq!(
        n(&both, "redis.db.keys"),
        n(&da, "redis.db.keys") + n(&db, "redis.db.keys")
    );
    assert_eq!(
        n(&both, "redis.memory.used"),
        n(&da, "redis.memory.used") + n(&db, "redis.memory.used")
    );
    assert_eq!(both["source"]["files"].as_array().unwrap().len(), 2);

    let out = run_rdbkit(&["baseline", a], None).unwrap();
    assert_eq!(out.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Keyspace (113 keys",
        "Memory estimate",
        "Biggest keys by memory",
        "Key prefixes",
        "db0 str:1mib",
        // ctime 1795609276 (the manifest's aux), as a date (`date -u -d @1795609276`).
        "ctime 2026-11-25 12:21:16 UTC",
        "mem share",
        "key share",
    ] {
        assert!(
            text.contains(needle),
            "text report lacks {needle:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("1795609276"),
        "epoch seconds in text:\n{text}"
    );
    assert_eq!(da["source"]["ctime_iso"], "2026-11-25T12:21:16Z");
    assert_eq!(
        da["source"]["files"][0]["ctime_iso"],
        "2026-11-25T12:21:16Z"
    );
}

#[test]
fn corrupt_input_is_an_error_with_offset() {
    let path = versions_dir().join("redis-7.0.15.corrupt-type.rdb");
    let out = run_rdbkit(&["baseline", path.to_str().unwrap()], None).unwrap();
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr_text().contains("offset 377"),
        "{}",
        out.stderr_text()
    );
}
