//! `rdbkit restore` into a real 3-master Redis Cluster made with
//! `redis-cli --cluster create` (Debian's 7.0), including a `redis-cli --cluster
//! reshard` running while the restore writes (MOVED/ASK); `info` and `preflight` on the
//! cluster URL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use rdb_parser::Rdb;
use serde_json::Value;
use support::{
    fixture, manifest, manifest_keys, snapshot_keys, temp_dir, Cluster, Server, REDIS_CLI,
};

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

#[test]
fn cluster_restore_routes_by_slot_and_refuses_other_dbs() {
    let cluster = Cluster::start();
    let f = fixture("redis-7.0.15.rdb").to_string_lossy().into_owned();
    let url = cluster.url();

    // Databases other than 0 are refused before anything is written.
    let out = rdbkit(&["restore", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cluster mode") && err.contains("1, 5, 15"),
        "{err}"
    );
    for n in &cluster.nodes {
        assert_eq!(n.cli(&["DBSIZE"]).trim(), "0");
    }

    let out = rdbkit(&[
        "restore", &f, "--target", &url, "--db", "0", "--format", "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    eprintln!("restore summary: {j}");
    assert_eq!(j["target"]["cluster"], true);
    assert_eq!(j["target"]["rdb_version_source"], "DUMP probe");
    let expected: BTreeSet<_> = manifest_keys(&manifest("redis-7.0.15"))
        .into_iter()
        .filter(|k| k.0 == 0)
        .collect();
    assert_eq!(j["restored"].as_u64(), Some(expected.len() as u64));
    assert_eq!(j["functions"]["restored"], 1 + 1);

    let dumps = cluster.dumps();
    let mut got = BTreeSet::new();
    for d in &dumps {
        let keys = snapshot_keys(d);
        assert!(!keys.is_empty(), "every master got keys");
        got.extend(keys);
    }
    assert_eq!(got, expected);
    // Contents equal the fixture's (db 0 only), libraries on every master.
    let fixture_bytes = std::fs::read(fixture("redis-7.0.15.rdb")).expect("fixture");
    let a = [Rdb::parse(&fixture_bytes).expect("fixture")];
    let b: Vec<Rdb<'_>> = dumps.iter().map(|d| Rdb::parse(d).expect("dump")).collect();
    let d = rdb_parser::diff::diff(&a, &b, &Default::default()).expect("diff");
    assert_eq!((d.different, d.only_in_b, d.only_in_a), (0, 0, 9), "{d:#?}");
    for n in &cluster.nodes {
        assert!(n.cli(&["FUNCTION", "LIST"]).contains("fixturelib"));
    }

    // The three shard snapshots restored in one run into a standalone server.
    let dir = temp_dir("shards");
    let paths: Vec<String> = dumps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = dir.join(format!("shard-{i}.rdb"));
            std::fs::write(&p, d).expect("write shard");
            p.to_string_lossy().into_owned()
        })
        .collect();
    let single = Server::start(&[]);
    let mut args = vec!["restore"];
    args.extend(paths.iter().map(String::as_str));
    let single_url = single.url();
    args.extend([
        "--target",
        &single_url,
        "--format",
        "json",
        "--on-conflict",
        "skip",
    ]);
    let out = rdbkit(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["restored"].as_u64(), Some(expected.len() as u64));
    // Each shard carries the libraries: the second and third copies already exist.
    assert_eq!(j["functions"]["skipped"], 4);
    assert_eq!(snapshot_keys(&single.save()), expected);
    let _ = std::fs::remove_dir_all(&dir);

    // `info` on the cluster URL reads every master and sums them.
    let dbsizes: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse().expect("DBSIZE"))
        .collect();
    let out = rdbkit(&["info", &url, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let nodes = j["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3, "{j:#}");
    let mut per_node: Vec<u64> = nodes
        .iter()
        .map(|n| {
            n["metrics"]["redis.db.keys"]["total"]
                .as_u64()
                .expect("keys")
        })
        .collect();
    per_node.sort_unstable();
    let mut want = dbsizes.clone();
    want.sort_unstable();
    assert_eq!(per_node, want);
    assert_eq!(j["totals_over_primaries"], 3);
    assert_eq!(
        j["metrics"]["redis.db.keys"]["total"].as_u64(),
        Some(expected.len() as u64)
    );

    // `preflight` into the cluster: the RESTORE probe goes to the slot's owner, the
    // fixture's dbs 1, 5 and 15 cannot land on a cluster, the target is not empty.
    let out = rdbkit(&[
        "preflight",
        "--source",
        &single_url,
        "--target",
        &url,
        "--snapshot",
        &f,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    let check = |id: &str| -> (String, String) {
        let c = j["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no check {id}: {j:#}"));
        (
            c["status"].as_str().expect("status").to_string(),
            c["detail"].as_str().expect("detail").to_string(),
        )
    };
    assert_eq!(
        check("target.restore").0,
        "pass",
        "{:?}",
        check("target.restore")
    );
    let dbs = check("cluster-dbs");
    assert_eq!(dbs.0, "fail", "{dbs:?}");
    assert!(
        dbs.1.contains("target cluster") && dbs.1.contains("1,5,15"),
        "{dbs:?}"
    );
    assert_eq!(check("target.empty").0, "warn");
    assert!(
        check("versions").1.contains("cluster of 3 masters"),
        "{:?}",
        check("versions")
    );
    // The probe keys are gone again.
    let after: Vec<u64> = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse().expect("DBSIZE"))
        .collect();
    assert_eq!(after, dbsizes);
}

/// A snapshot of `n` string keys (`DEBUG POPULATE`), written by a standalone server.
fn populated_snapshot(n: u64) -> Vec<u8> {
    let s = Server::start(&["--enable-debug-command", "yes"]);
    s.cli(&["DEBUG", "POPULATE", &n.to_string(), "key", "16"]);
    s.save()
}

#[test]
fn moved_and_ask_during_resharding_lose_nothing() {
    let cluster = Cluster::start();
    let data = populated_snapshot(30_000);
    let dir = temp_dir("reshard");
    let input = dir.join("populated.rdb");
    std::fs::write(&input, &data).expect("write snapshot");
    let input_s = input.to_string_lossy().into_owned();
    let url = cluster.url();

    // Restore slowly enough (about 3 s) for the reshard to happen meanwhile.
    let restore = {
        let url = url.clone();
        thread::spawn(move || {
            rdbkit(&[
                "restore",
                &input_s,
                "--target",
                &url,
                "--max-ops",
                "10000",
                "--format",
                "json",
            ])
        })
    };
    thread::sleep(Duration::from_millis(300));
    let from = cluster.nodes[0]
        .cli(&["CLUSTER", "MYID"])
        .trim()
        .to_string();
    let to = cluster.nodes[1]
        .cli(&["CLUSTER", "MYID"])
        .trim()
        .to_string();
    let reshard = Command::new(REDIS_CLI)
        .args([
            "--cluster",
            "reshard",
            &format!("127.0.0.1:{}", cluster.nodes[0].port),
        ])
        .args([
            "--cluster-from",
            &from,
            "--cluster-to",
            &to,
            "--cluster-slots",
            "2000",
        ])
        .args(["--cluster-yes", "--cluster-pipeline", "100"])
        .output()
        .expect("reshard");
    assert!(
        reshard.status.success(),
        "reshard: {}",
        text(&reshard.stderr)
    );
    let out = restore.join().expect("restore thread");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    eprintln!("restore summary: {j}");
    assert_eq!(
        (j["restored"].as_u64(), j["failed"].as_u64()),
        (Some(30_000), Some(0))
    );
    assert!(
        j["redirected"].as_u64().unwrap_or(0) > 0,
        "the reshard should have redirected some commands: {j}"
    );

    let dumps = cluster.dumps();
    let a = [Rdb::parse(&data).expect("source")];
    let b: Vec<Rdb<'_>> = dumps.iter().map(|d| Rdb::parse(d).expect("dump")).collect();
    let d = rdb_parser::diff::diff(&a, &b, &Default::default()).expect("diff");
    assert!(d.is_identical(), "{d:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cluster_kill_then_resume_gives_the_snapshot() {
    let cluster = Cluster::start();
    let data = populated_snapshot(20_000);
    let dir = temp_dir("cluster-cp");
    let input = dir.join("populated.rdb");
    std::fs::write(&input, &data).expect("write snapshot");
    let input_s = input.to_string_lossy().into_owned();
    let cp = dir.join("cp").to_string_lossy().into_owned();
    let url = cluster.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["restore", &input_s, "--target", &url, "--checkpoint", &cp])
        .args(["--max-ops", "8000", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    thread::sleep(Duration::from_millis(1000));
    assert!(
        child.try_wait().ok().flatten().is_none(),
        "finished too early"
    );
    child.kill().expect("kill");
    let _ = child.wait();
    let partial: u64 = cluster
        .nodes
        .iter()
        .map(|n| n.cli(&["DBSIZE"]).trim().parse::<u64>().unwrap_or(0))
        .sum();
    assert!(partial > 0 && partial < 20_000, "{partial}");

    let out = rdbkit(&[
        "restore",
        &input_s,
        "--target",
        &url,
        "--checkpoint",
        &cp,
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(j["resumed"], true);
    assert_eq!(j["failed"], 0, "{j}");
    let dumps = cluster.dumps();
    let a = [Rdb::parse(&data).expect("source")];
    let b: Vec<Rdb<'_>> = dumps.iter().map(|d| Rdb::parse(d).expect("dump")).collect();
    let d = rdb_parser::diff::diff(&a, &b, &Default::default()).expect("diff");
    assert!(d.is_identical(), "{d:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
