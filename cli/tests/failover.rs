//! Issue 13: a restore survives the target failing over under it — a cluster master
//! killed with SIGKILL whose replica takes over, a standalone server restarted — and
//! still ends with every key on the target (exit 0, verify clean).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{free_port, temp_dir, Cluster, Server, REDIS_SERVER};

const KEYS: u64 = 20_000;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A snapshot of `KEYS` string keys (`key:0` ...), written by a real server.
fn populated_snapshot(dir: &Path) -> PathBuf {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    server.cli(&["DEBUG", "POPULATE", &KEYS.to_string(), "key", "100"]);
    let data = server.save();
    let path = dir.join("populated.rdb");
    std::fs::write(&path, data).unwrap();
    path
}

fn spawn_restore(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .arg("restore")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = child;
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("restore did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn dbsize(port: u16) -> u64 {
    let out = Command::new(support::REDIS_CLI)
        .args(["-p", &port.to_string(), "DBSIZE"])
        .output()
        .unwrap();
    text(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn cluster_master_killed_mid_restore() {
    let dir = temp_dir("failover-cluster");
    let file = populated_snapshot(&dir);
    let f = file.to_string_lossy().into_owned();
    let mut cluster = Cluster::start_with_replicas(1000);
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| cluster.nodes[i].cli(&["ROLE"]).starts_with("master"))
        .collect();
    assert_eq!(masters.len(), 3);
    let url = cluster.nodes[masters[0]].url();
    // Throttled so that the kill lands mid-run.
    let child = spawn_restore(&[
        &f,
        "--target",
        &url,
        "--max-ops",
        "5000",
        "--format",
        "json",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let victim = masters[0];
    while dbsize(cluster.nodes[victim].port) < 1000 {
        assert!(Instant::now() < deadline, "restore did not start");
        thread::sleep(Duration::from_millis(20));
    }
    // The seed node itself dies: routing must learn the map from the others.
    cluster.nodes[victim].kill();
    let out = finish(child, Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["restored"].as_u64(), Some(KEYS), "{j}");
    assert!(j["redirected"].as_u64().unwrap() > 0, "{j}");
    // Every key is on the surviving masters.
    let live: Vec<&Server> = cluster
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .map(|(_, n)| n)
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let total: u64 = live
            .iter()
            .filter(|n| n.cli(&["ROLE"]).starts_with("master"))
            .map(|n| dbsize(n.port))
            .sum();
        if total == KEYS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{total} of {KEYS} keys on the masters"
        );
        thread::sleep(Duration::from_millis(100));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["verify", &f, "--target", &live[0].url()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A redis-server on a given port and directory (to restart one in place).
fn start_at(port: u16, dir: &Path) -> Child {
    let log = dir.join("server.log");
    let before = std::fs::read_to_string(&log).unwrap_or_default();
    let ready_before = before.matches("Ready to accept connections").count();
    let child = Command::new(REDIS_SERVER)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--dir",
            &dir.to_string_lossy(),
            "--logfile",
            &log.to_string_lossy(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(&log)
        .unwrap_or_default()
        .matches("Ready to accept connections")
        .count()
        == ready_before
    {
        assert!(Instant::now() < deadline, "redis-server did not start");
        thread::sleep(Duration::from_millis(20));
    }
    child
}

#[test]
fn standalone_server_restarted_mid_restore() {
    let dir = temp_dir("failover-standalone");
    let file = populated_snapshot(&dir);
    let f = file.to_string_lossy().into_owned();
    let data_dir = dir.join("server");
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let mut server = start_at(port, &data_dir);
    let url = format!("redis://127.0.0.1:{port}");
    let child = spawn_restore(&[
        &f,
        "--target",
        &url,
        "--max-ops",
        "5000",
        "--format",
        "json",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while dbsize(port) < 3000 {
        assert!(Instant::now() < deadline, "restore did not start");
        thread::sleep(Duration::from_millis(20));
    }
    // A restart that keeps what was written (SHUTDOWN SAVE), then back after a pause.
    let _ = Command::new(support::REDIS_CLI)
        .args(["-p", &port.to_string(), "SHUTDOWN", "SAVE"])
        .output();
    let _ = server.wait();
    thread::sleep(Duration::from_millis(700));
    let mut server = start_at(port, &data_dir);
    let out = finish(child, Duration::from_secs(60));
    let code = out.status.code();
    let _ = Command::new(support::REDIS_CLI)
        .args(["-p", &port.to_string(), "SAVE"])
        .output();
    assert_eq!(code, Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["restored"].as_u64(), Some(KEYS), "{j}");
    assert_eq!(dbsize(port), KEYS);
    let out = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["verify", &f, "--target", &url])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let _ = server.kill();
    let _ = server.wait();
}
