//! Issue 12: the ways `restore` and `verify` could report success while data was
//! missing, or send an operator the wrong way, each reproduced against real
//! `/usr/bin/redis-server` 7.0 processes on random loopback ports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{fixture, temp_dir, Server};

fn rdbkit(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rdbkit");
    // A hang fails the test instead of blocking CI.
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "rdbkit {args:?} hung");
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
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

/// Keys over every database of `server`.
fn total_keys(server: &Server) -> u64 {
    server
        .cli(&["INFO", "keyspace"])
        .lines()
        .filter_map(|l| l.split_once(":keys="))
        .filter_map(|(_, rest)| rest.split(',').next()?.parse::<u64>().ok())
        .sum()
}

/// `rdbkit restore FILE --target URL EXTRA... --format json`, which must exit with
/// `code`; its output.
fn restore_json(code: i32, f: &str, url: &str, extra: &[&str]) -> Output {
    let mut args = vec!["restore", f, "--target", url];
    args.extend(extra);
    args.extend(["--format", "json"]);
    let out = rdbkit(&args);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    out
}

/// `snapshot_keys = restored + skipped + expired + failed + not_done`.
fn assert_totals_add_up(j: &Value) {
    let n = |f: &str| j[f].as_u64().unwrap_or_else(|| panic!("no {f}: {j}"));
    assert_eq!(
        n("snapshot_keys"),
        n("restored") + n("skipped") + n("expired") + n("failed") + n("not_done"),
        "{j}"
    );
}

/// Item 1: keys that failed (the target ran out of memory) are retried by the resumed
/// run; the run that could not restore them exits 1 and says why, grouped by cause.
#[test]
fn resume_retries_the_keys_that_failed() {
    let server = Server::start(&["--maxmemory", "2mb"]);
    let dir = temp_dir("resume-oom");
    let cp = path(&dir.join("cp"));
    let failed_keys = path(&dir.join("failed.jsonl"));
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    let out = restore_json(
        1,
        &f,
        &url,
        &["--checkpoint", &cp, "--failed-keys", &failed_keys],
    );
    let first = json(&out);
    assert_totals_add_up(&first);
    let failed = first["failed"].as_u64().unwrap();
    assert!(failed > 0, "2 MB should not hold the snapshot: {first}");
    assert_eq!(first["verdict"], "failed");
    assert_eq!(
        first["failures_by_cause"]["OOM"]["count"].as_u64(),
        Some(failed)
    );
    assert!(first["failures_by_cause"]["OOM"]["hint"]
        .as_str()
        .unwrap()
        .contains("maxmemory"));
    // Every failed key is in --failed-keys, not just the listed examples.
    let lines = std::fs::read_to_string(&failed_keys).unwrap();
    assert_eq!(lines.lines().count() as u64, failed, "{lines}");
    for line in lines.lines() {
        let l: Value = serde_json::from_str(line).unwrap();
        assert!(l["error"].as_str().unwrap().starts_with("OOM"), "{l}");
        assert_eq!(l["cause"], "OOM", "{l}");
    }
    for e in first["errors"].as_array().unwrap() {
        assert_eq!(e["cause"], "OOM", "{e}");
    }
    let restored_first = first["restored"].as_u64().unwrap();
    assert_eq!(total_keys(&server), restored_first);

    // Capacity raised: the same command restores what failed, and only that.
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    let out = restore_json(0, &f, &url, &["--checkpoint", &cp]);
    let second = json(&out);
    assert_totals_add_up(&second);
    assert_eq!(second["retried"].as_u64(), Some(failed), "{second}");
    assert_eq!(second["restored"].as_u64(), Some(failed), "{second}");
    assert_eq!(second["failed"].as_u64(), Some(0));
    assert_eq!(total_keys(&server), restored_first + failed);
    let out = rdbkit(&["verify", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // Nothing left to retry: a third run restores nothing and still exits 0.
    let out = restore_json(0, &f, &url, &["--checkpoint", &cp]);
    assert_eq!(json(&out)["retried"].as_u64(), Some(0));
}

/// Item 6: a full target stops the run after `--max-failures`, and the stopped run
/// still prints its JSON summary (exit 2), where the totals add up.
#[test]
fn max_failures_stops_the_run_with_its_summary() {
    let server = Server::start(&["--maxmemory", "1mb"]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let out = restore_json(
        2,
        &f,
        &server.url(),
        &[
            "--max-failures",
            "3",
            "--batch-keys",
            "1",
            "--connections",
            "1",
            "--pipeline-depth",
            "1",
        ],
    );
    let j = json(&out);
    assert_eq!(j["verdict"], "stopped");
    assert_totals_add_up(&j);
    assert!(j["not_done"].as_u64().unwrap() > 0, "{j}");
    let err = text(&out.stderr);
    assert!(err.contains("--max-failures 3"), "{err}");
    assert!(err.contains("keys not done"), "{err}");
}

/// Item 2: a damaged file (bad CRC, truncated) writes nothing; the error names the
/// offset and is printed once.
#[test]
fn damaged_files_write_nothing() {
    let server = Server::start(&[]);
    for name in ["redis-7.0.15.corrupt.rdb", "redis-7.0.15.truncated.rdb"] {
        let f = path(&fixture(name));
        let out = rdbkit(&["restore", &f, "--target", &server.url()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = text(&out.stderr);
        assert!(err.contains("offset"), "{err}");
        assert_eq!(err.matches("rdbkit:").count(), 1, "printed once: {err}");
        assert_eq!(
            err.matches("damaged snapshot").count(),
            1,
            "printed once: {err}"
        );
        assert_eq!(total_keys(&server), 0, "{name} wrote keys");
    }
}

/// Item 3: `redis://host:port/N` is the target database, for restore and verify; a
/// snapshot with several databases is refused rather than merged into it.
#[test]
fn url_database_is_honoured() {
    let server = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url3 = format!("{}/3", server.url());
    let out = rdbkit(&["restore", &f, "--target", &url3, "--format", "json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("database 3") && err.contains("--db"), "{err}");
    assert_eq!(total_keys(&server), 0);

    let out = rdbkit(&["restore", &f, "--target", &url3, "--db", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let keyspace = server.cli(&["INFO", "keyspace"]);
    assert!(keyspace.contains("db3:keys=104"), "{keyspace}");
    assert!(!keyspace.contains("db0:"), "{keyspace}");
    let out = rdbkit(&["verify", &f, "--target", &url3, "--db", "0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let url4 = format!("{}/4", server.url());
    let out = rdbkit(&["verify", &f, "--target", &url4, "--db", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
}

/// A listener that accepts connections and never answers (a firewall or a Private
/// Link endpoint with no backend), for `secs` seconds.
fn silent_port(secs: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut held = Vec::new();
        while Instant::now() < end {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            thread::sleep(Duration::from_millis(10));
        }
    });
    port
}

/// Item 5: every command that connects gives up on a silent port after
/// `--connect-timeout`, saying what the port may be.
#[test]
fn silent_ports_time_out() {
    let port = silent_port(40);
    let url = format!("redis://127.0.0.1:{port}");
    let f = path(&fixture("redis-7.0.15.rdb"));
    for args in [
        vec!["restore", f.as_str(), "--target", url.as_str()],
        vec!["verify", f.as_str(), "--target", url.as_str()],
        vec!["info", url.as_str()],
    ] {
        let mut args = args.clone();
        args.extend(["--connect-timeout", "1"]);
        let started = Instant::now();
        let out = rdbkit(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(started.elapsed() < Duration::from_secs(15), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("no answer within 1 s"), "{args:?}: {err}");
    }
}

/// Item 6: a replica and a target already holding the snapshot's keys are refused
/// before anything is written, with the option to use.
#[test]
fn doomed_targets_are_refused_before_writing() {
    let primary = Server::start(&[]);
    let port = primary.port.to_string();
    let replica = Server::start(&["--replicaof", "127.0.0.1", &port]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let out = rdbkit(&["restore", &f, "--target", &replica.url()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("replica of 127.0.0.1:") && err.contains("primary"),
        "{err}"
    );

    primary.cli(&["SET", "str:a20", "theirs"]);
    let out = rdbkit(&["restore", &f, "--target", &primary.url()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("already holds 1 of")
            && err.contains("--on-conflict skip")
            && err.contains("--on-conflict replace"),
        "{err}"
    );
    assert_eq!(primary.cli(&["DBSIZE"]).trim(), "1", "nothing written");
    let out = rdbkit(&[
        "restore",
        &f,
        "--target",
        &primary.url(),
        "--on-conflict",
        "skip",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(primary.cli(&["GET", "str:a20"]).trim(), "theirs");
}

/// Items 7 and 8: missing or wrong credentials are named as such (with the user),
/// and a URL that does not parse never shows its password.
#[test]
fn credentials_problems_are_named_and_never_printed() {
    let server = Server::start(&["--requirepass", "s3cr/t+key=="]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    for cmd in ["restore", "verify"] {
        let out = rdbkit(&[cmd, &f, "--target", &url]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("requires a password"), "{cmd}: {err}");
    }
    let wrong = format!("redis://:nope@127.0.0.1:{}", server.port);
    let out = rdbkit(&["restore", &f, "--target", &wrong]);
    let err = text(&out.stderr);
    assert!(
        err.contains("authentication failed for user 'default'"),
        "{err}"
    );
    assert!(!err.contains("nope"));
    // An Azure-style key with '/' that was not percent-encoded.
    let raw = format!("redis://:s3cr/t+key==@127.0.0.1:{}", server.port);
    let out = rdbkit(&["restore", &f, "--target", &raw]);
    assert_eq!(out.status.code(), Some(2));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains("s3cr") && !all.contains("t+key"), "{all}");
    assert!(
        all.contains("percent-encode") && all.contains("--password-file"),
        "{all}"
    );
    // Percent-encoded, it works.
    let encoded = format!("redis://:s3cr%2Ft+key==@127.0.0.1:{}", server.port);
    let out = rdbkit(&["restore", &f, "--target", &encoded]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Item 11: results go to stdout (so `> restore.log` holds them), for restore and
/// verify, in text as in JSON.
#[test]
fn results_go_to_stdout() {
    let server = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let out = rdbkit(&["restore", &f, "--target", &server.url()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("restored 113 keys"),
        "{}",
        text(&out.stdout)
    );
    let out = rdbkit(&["verify", &f, "--target", &server.url()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("the target matches the snapshot"),
        "{}",
        text(&out.stdout)
    );
    let out = rdbkit(&["verify", &f, "--target", &server.url(), "--format", "json"]);
    assert_eq!(json(&out)["verdict"], "ok");
}

/// Ctrl-C stops a restore part-way and still prints what was done (exit 2).
#[test]
fn ctrl_c_prints_the_summary() {
    let server = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "restore",
            &f,
            "--target",
            &server.url(),
            "--max-ops",
            "20",
            "--format",
            "json",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some keys are on the target, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(20);
    while total_keys(&server) == 0 {
        assert!(Instant::now() < deadline, "nothing restored");
        thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "no exit after Ctrl-C");
        thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(code, Some(2), "{stderr}");
    let j: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(j["verdict"], "stopped");
    assert!(j["error"].as_str().unwrap().contains("interrupted"), "{j}");
    assert_totals_add_up(&j);
    assert!(j["not_done"].as_u64().unwrap() > 0);
    assert_eq!(j["restored"].as_u64().unwrap(), total_keys(&server));
}

/// Operator ergonomics: redis-cli's connection flags work (`-h` is the host, not
/// help), and a usage error never exits 0.
#[test]
fn redis_cli_flags_and_usage_errors() {
    let server = Server::start(&["--requirepass", "pw"]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let port = server.port.to_string();
    let out = rdbkit(&[
        "restore",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-a",
        "pw",
        "-n",
        "4",
        "--db",
        "0",
        &f,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let keyspace = server.cli(&["-a", "pw", "--no-auth-warning", "INFO", "keyspace"]);
    assert!(keyspace.contains("db4:keys=104"), "{keyspace}");
    let out = rdbkit(&[
        "verify",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-a",
        "pw",
        "-n",
        "4",
        "--db",
        "0",
        &f,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let out = rdbkit(&["info", "-h", "127.0.0.1", "-p", &port, "-a", "pw"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("redis.db.keys"));
    // Usage errors: exit 2, never 0.
    for args in [
        vec!["restore", f.as_str()],
        vec!["preflight", "-h", "127.0.0.1"],
        vec![
            "restore",
            f.as_str(),
            "-u",
            "redis://127.0.0.1:1",
            "-h",
            "x",
        ],
    ] {
        let out = rdbkit(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// One JSON convention: every command's document opens with a `verdict`.
#[test]
fn every_json_document_has_a_verdict() {
    let f = path(&fixture("redis-7.0.15.rdb"));
    let server = Server::start(&[]);
    let url = server.url();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["baseline", &f, "--format", "json"], "ok"),
        (vec!["check", &f, "--format", "json"], "ok"),
        (vec!["diff", &f, &f, "--format", "json"], "identical"),
        (vec!["info", &url, "--format", "json"], "ok"),
        (
            vec!["restore", &f, "--target", &url, "--format", "json"],
            "ok",
        ),
        (
            vec!["verify", &f, "--target", &url, "--format", "json"],
            "ok",
        ),
        (
            vec!["preflight", "--target", &url, "--format", "json"],
            "ready",
        ),
    ];
    for (args, verdict) in cases {
        let out = rdbkit(&args);
        let j = json(&out);
        assert_eq!(j["verdict"], verdict, "{args:?}: {}", text(&out.stderr));
    }
}

/// Item 6: `--failed-keys` then `--keys-from`: a targeted retry of exactly the keys
/// that failed (no checkpoint needed).
#[test]
fn failed_keys_feed_a_targeted_retry() {
    let server = Server::start(&["--maxmemory", "2mb"]);
    let dir = temp_dir("targeted-retry");
    let failed_keys = path(&dir.join("failed.jsonl"));
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    let out = restore_json(1, &f, &url, &["--failed-keys", &failed_keys]);
    let failed = json(&out)["failed"].as_u64().unwrap();
    assert!(failed > 0);
    server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    let out = restore_json(0, &f, &url, &["--keys-from", &failed_keys]);
    let j = json(&out);
    assert_eq!(j["restored"].as_u64(), Some(failed), "{j}");
    assert_eq!(
        j["skipped_by"]["not_listed"].as_u64(),
        Some(113 - failed),
        "{j}"
    );
    let out = rdbkit(&["verify", &f, "--target", &url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    // A list that is not JSON Lines is refused, naming the line.
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "not json\n").unwrap();
    let out = rdbkit(&["restore", &f, "--target", &url, "--keys-from", &path(&bad)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 1"),
        "{}",
        text(&out.stderr)
    );
}

/// A closed stdout (`rdbkit restore ... --format json | head -c1`) does not turn a
/// finished restore or verify into a failure: exit 0, every key on the target.
#[test]
fn closed_stdout_is_not_a_failure() {
    let server = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    // The reading end closed before the run prints anything: its one write fails
    // with EPIPE.
    for (cmd, format) in [("restore", "json"), ("verify", "json"), ("verify", "text")] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
            .args([cmd, &f, "--target", &url, "--format", format])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd} {format}: {}",
            text(&out.stderr)
        );
        assert_eq!(text(&out.stderr), "", "{cmd} {format}");
    }
    assert_eq!(total_keys(&server), 113);
    // Through a shell pipe into `head -c1`, as a user types it.
    let server = Server::start(&[]);
    let shell = format!(
        "set -o pipefail; '{}' restore '{f}' --target '{}' --format json | head -c1",
        env!("CARGO_BIN_EXE_rdbkit"),
        server.url()
    );
    let out = Command::new("bash").args(["-c", &shell]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{");
    assert_eq!(total_keys(&server), 113);
}
