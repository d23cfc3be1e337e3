//! Issue 13: a restore survives the target failing over under it — a cluster master
//! killed with SIGKILL whose replica takes over, a standalone server restarted — and
//! still ends with every key on the target (exit 0, verify clean).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
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

/// `rdbkit restore FILE --target URL --format json`, throttled (`--max-ops`) when a
/// test needs to act mid-run.
fn spawn_restore(f: &str, url: &str, max_ops: Option<&str>) -> Child {
    let mut args = vec!["restore", f, "--target", url, "--format", "json"];
    if let Some(ops) = max_ops {
        args.extend(["--max-ops", ops]);
    }
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (20 s at most) until `ready`, failing the test with `what` otherwise.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// The restore's output: exit 0, every key restored; its JSON summary.
fn assert_all_restored(child: Child) -> serde_json::Value {
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
    j
}

/// `rdbkit verify FILE --target URL EXTRA...` exits 0; its stdout.
fn assert_verifies(f: &str, url: &str, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["verify", f, "--target", url])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Keys on the nodes of `nodes` that are masters now.
fn keys_on_masters<'a>(nodes: impl Iterator<Item = &'a Server>) -> u64 {
    nodes
        .filter(|n| n.cli(&["ROLE"]).starts_with("master"))
        .map(|n| dbsize(n.port))
        .sum()
}

#[test]
fn cluster_master_killed_mid_restore() {
    let dir = temp_dir("failover-cluster");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let mut cluster = Cluster::start_with_replicas(1000);
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| cluster.nodes[i].cli(&["ROLE"]).starts_with("master"))
        .collect();
    assert_eq!(masters.len(), 3);
    let victim = masters[0];
    let url = cluster.nodes[victim].url();
    // Throttled so that the kill lands mid-run.
    let child = spawn_restore(&f, &url, Some("5000"));
    wait_until("restore did not start", || {
        dbsize(cluster.nodes[victim].port) >= 1000
    });
    // The seed node itself dies: routing must learn the map from the others.
    cluster.nodes[victim].kill();
    let j = assert_all_restored(child);
    assert!(j["redirected"].as_u64().unwrap() > 0, "{j}");
    // Every key is on the surviving masters (the replica took over the victim's slots).
    let live = || {
        cluster
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, n)| n)
    };
    wait_until("keys missing on the masters", || {
        keys_on_masters(live()) == KEYS
    });
    let seed = live().next().unwrap().url();
    assert_verifies(&f, &seed, &[]);
}

/// A manual `CLUSTER FAILOVER` mid-restore: the master is demoted while batches are in
/// flight (`MOVED`/`READONLY` for what follows), and every key still arrives.
#[test]
fn cluster_manual_failover_mid_restore() {
    let dir = temp_dir("failover-manual");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let cluster = Cluster::start_with_replicas(1000);
    let master = (0..cluster.nodes.len())
        .find(|&i| cluster.nodes[i].cli(&["ROLE"]).starts_with("master"))
        .unwrap();
    let master_id = cluster.nodes[master]
        .cli(&["CLUSTER", "MYID"])
        .trim()
        .to_string();
    let replica = (0..cluster.nodes.len())
        .find(|&i| {
            cluster.nodes[i]
                .cli(&["CLUSTER", "NODES"])
                .lines()
                .any(|l| l.contains("myself") && l.contains(&format!("slave {master_id}")))
        })
        .expect("the master's replica");
    let url = cluster.nodes[master].url();
    let child = spawn_restore(&f, &url, Some("5000"));
    wait_until("restore did not start", || {
        dbsize(cluster.nodes[master].port) >= 1000
    });
    assert_eq!(
        cluster.nodes[replica].cli(&["CLUSTER", "FAILOVER"]).trim(),
        "OK"
    );
    assert_all_restored(child);
    assert!(cluster.nodes[replica].cli(&["ROLE"]).starts_with("master"));
    assert_eq!(keys_on_masters(cluster.nodes.iter()), KEYS);
    assert_verifies(&f, &url, &[]);
}

/// A TCP proxy to `upstream` that cuts every connection once `limit` bytes went from
/// the client to the server (a flaky load balancer); runs until `stop` is set.
fn cutting_proxy(upstream: u16, limit: usize, stop: Arc<AtomicBool>) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let cuts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&cuts);
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Ok((client, _)) = listener.accept() else {
                thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = client.set_nonblocking(false);
            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            let (mut s_read, mut c_write) = (server, client);
            let cuts = Arc::clone(&counted);
            thread::spawn(move || {
                let mut buf = vec![0u8; 64 << 10];
                let mut sent = 0;
                while let Ok(n) = c_read.read(&mut buf) {
                    if n == 0 || s_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                    if sent >= limit {
                        cuts.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                let _ = s_write.shutdown(Shutdown::Both);
                let _ = c_read.shutdown(Shutdown::Both);
            });
            thread::spawn(move || {
                let _ = std::io::copy(&mut s_read, &mut c_write);
                let _ = c_write.shutdown(Shutdown::Both);
            });
        }
    });
    (port, cuts)
}

/// Connections cut every 256 KiB by a proxy: every key still arrives, once; verify
/// through the same proxy is cut too and reads again.
#[test]
fn connections_cut_by_a_proxy() {
    let dir = temp_dir("failover-proxy");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let server = Server::start(&[]);
    let stop = Arc::new(AtomicBool::new(false));
    let (port, cuts) = cutting_proxy(server.port, 256 << 10, Arc::clone(&stop));
    let url = format!("redis://127.0.0.1:{port}");
    assert_all_restored(spawn_restore(&f, &url, None));
    let restore_cuts = cuts.load(Ordering::Relaxed);
    assert!(restore_cuts >= 3, "the proxy cut too little");
    assert_eq!(dbsize(server.port), KEYS);
    let report = assert_verifies(&f, &url, &["--full-scan"]);
    stop.store(true, Ordering::Relaxed);
    assert!(
        cuts.load(Ordering::Relaxed) > restore_cuts,
        "verify was not cut"
    );
    assert!(report.contains(&format!("matched {KEYS}")), "{report}");
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
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let data_dir = dir.join("server");
    std::fs::create_dir_all(&data_dir).unwrap();
    let port = free_port();
    let mut server = start_at(port, &data_dir);
    let url = format!("redis://127.0.0.1:{port}");
    let child = spawn_restore(&f, &url, Some("5000"));
    wait_until("restore did not start", || dbsize(port) >= 3000);
    // A restart that keeps what was written (SHUTDOWN SAVE), then back after a pause.
    let _ = Command::new(support::REDIS_CLI)
        .args(["-p", &port.to_string(), "SHUTDOWN", "SAVE"])
        .output();
    let _ = server.wait();
    thread::sleep(Duration::from_millis(700));
    let mut server = start_at(port, &data_dir);
    assert_all_restored(child);
    assert_eq!(dbsize(port), KEYS);
    assert_verifies(&f, &url, &[]);
    let _ = server.kill();
    let _ = server.wait();
}

/// Whether a client of the server on `port` last ran `SCAN`.
fn scanning(port: u16) -> bool {
    let out = Command::new(support::REDIS_CLI)
        .args(["-p", &port.to_string(), "CLIENT", "LIST"])
        .output()
        .unwrap();
    text(&out.stdout).contains("cmd=scan")
}

/// A master SIGKILLed mid-verify, while its extra-key scan runs: the reads of its keys
/// and its scan go on on the replica that took over its slots; the check ends clean
/// (exit 0), every key matched, every key scanned once — with `--full-scan` too.
#[test]
fn cluster_master_killed_mid_verify() {
    let dir = temp_dir("failover-verify");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    for extra in [&[][..], &["--full-scan"][..]] {
        let mut cluster = Cluster::start_with_replicas(1000);
        assert_all_restored(spawn_restore(&f, &cluster.url(), None));
        let victim = (0..cluster.nodes.len())
            .find(|&i| cluster.nodes[i].cli(&["ROLE"]).starts_with("master"))
            .unwrap();
        let port = cluster.nodes[victim].port;
        // Throttled (the scan shares --max-ops) so that the kill lands mid-scan.
        let child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
            .args(["verify", &f, "--target", &cluster.nodes[victim].url()])
            .args([
                "--format",
                "json",
                "--max-ops",
                "8000",
                "--scan-count",
                "50",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until("the verify's scan did not reach the victim", || {
            scanning(port)
        });
        cluster.nodes[victim].kill();
        let out = finish(child, Duration::from_secs(90));
        let report = format!("{extra:?}: {}{}", text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{report}");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["matched"].as_u64(), Some(KEYS), "{report}");
        assert_eq!(j["extra"].as_u64(), Some(0), "{report}");
        // The kill leaves the key counts unreadable: the scan goes to the end, and
        // the victim's keys are scanned once (on the replica that took over).
        assert_eq!(j["scanned"].as_u64(), Some(KEYS), "{report}");
    }
}
