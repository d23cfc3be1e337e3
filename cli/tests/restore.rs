//! `rdbkit restore` and `rdbkit export --format resp` end to end, against real
//! `/usr/bin/redis-server` 7.0 processes on random loopback ports (issue 4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{assert_restored, fixture, make_ca, make_leaf, temp_dir, Server, REDIS_CLI};

fn rdbkit(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdbkit"));
    cmd.args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run rdbkit")
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

#[test]
fn json_summary_and_exit_codes() {
    let server = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    let out = rdbkit(&["restore", &f, "--target", &url, "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j = json(&out);
    for field in [
        "restored", "skipped", "failed", "expired", "bytes", "seconds", "errors",
    ] {
        assert!(j.get(field).is_some(), "missing {field}: {j}");
    }
    assert_eq!(j["restored"], 113);
    assert_eq!(j["failed"], 0);
    assert_eq!(j["functions"]["restored"], 2);
    assert!(j["bytes"].as_u64().unwrap_or(0) > 1_000_000);

    // Again: every key exists → refused before writing (exit 2), naming the options
    // (cli/tests/false_success.rs has the rest of that case).
    let out = rdbkit(&["restore", &f, "--target", &url, "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing done, no summary");
    assert!(text(&out.stderr).contains("--on-conflict skip"));

    // Function libraries that exist: BUSYKEY failures, exit 1, errors listed.
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--format",
            "json",
            "--on-conflict",
            "skip",
            "--max-errors",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "skip covers libraries too");
    let j = json(&out);
    assert_eq!(j["functions"]["skipped"], 2);

    // skip: exit 0, counted per reason.
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--format",
            "json",
            "--on-conflict",
            "skip",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    let j = json(&out);
    assert_eq!(
        (j["skipped"].as_u64(), j["skipped_by"]["exists"].as_u64()),
        (Some(113), Some(113))
    );

    // Text summary on stdout, nothing on stderr.
    let out = rdbkit(
        &["restore", &f, "--target", &url, "--on-conflict", "replace"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("restored 113 keys"),
        "{}",
        text(&out.stdout)
    );

    // Usage and connection errors: exit 2.
    let out = rdbkit(&["restore", &f, "--target", &url, "--db-map", "x"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let closed = format!("redis://127.0.0.1:{}", support::free_port());
    let out = rdbkit(&["restore", &f, "--target", &closed], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn single_db_refusal_names_the_dbs_and_flags() {
    let server = Server::start(&["--databases", "1"]);
    let f = path(&fixture("redis-6.2.14.rdb"));
    let out = rdbkit(&["restore", &f, "--target", &server.url()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("1, 5, 15") && err.contains("--db-map"),
        "{err}"
    );
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
}

#[test]
fn export_resp_through_redis_cli_pipe_equals_restore() {
    let piped = Server::start(&[]);
    let restored = Server::start(&[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let out = rdbkit(&["export", &f, "--format", "resp"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut pipe = Command::new(REDIS_CLI)
        .args(["-h", "127.0.0.1", "-p", &piped.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    pipe.stdin
        .take()
        .expect("stdin")
        .write_all(&out.stdout)
        .expect("write to redis-cli");
    let p = pipe.wait_with_output().expect("redis-cli");
    assert!(
        p.status.success() && text(&p.stdout).contains("errors: 0, replies: 118"),
        "{}",
        text(&p.stdout)
    );
    let out = rdbkit(&["restore", &f, "--target", &restored.url()], &[]);
    assert_eq!(out.status.code(), Some(0));
    let (a, b) = (piped.save(), restored.save());
    assert_restored("redis-7.0.15", &a, |_| true, |d| d, true);
    assert!(support::diff(&a, &b).is_identical());

    // An older footer leaves out what RDB 9 cannot read (listpack types).
    let out = rdbkit(
        &[
            "export",
            &f,
            "--format",
            "resp",
            "--target-rdb-version",
            "9",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("unreadable by the footer version"));
}

#[test]
fn tls_with_acl_user_and_no_secret_in_output() {
    let certs = temp_dir("tls");
    make_ca(&certs, "ca");
    make_leaf(&certs, "IP:127.0.0.1");
    let c = |n: &str| path(&certs.join(n));
    let admin = "adm-Q7k2pW";
    let secret = "mig-Zx81qR-secret";
    let server = Server::start_with(
        &[
            "--tls-cert-file",
            &c("leaf.crt"),
            "--tls-key-file",
            &c("leaf.key"),
            "--tls-ca-cert-file",
            &c("ca.crt"),
            "--tls-auth-clients",
            "optional",
            "--requirepass",
            admin,
        ],
        true,
        vec![
            "--tls".into(),
            "--cacert".into(),
            c("ca.crt"),
            "-a".into(),
            admin.into(),
            "--no-auth-warning".into(),
        ],
    );
    server.cli(&[
        "ACL",
        "SETUSER",
        "migrator",
        "on",
        &format!(">{secret}"),
        "~*",
        "&*",
        "+@all",
    ]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let port = server.port;
    let check_clean = |out: &Output| {
        for s in [text(&out.stdout), text(&out.stderr)] {
            assert!(
                !s.contains(secret) && !s.contains(admin),
                "secret leaked: {s}"
            );
        }
    };

    // User and password in the URL, CA given.
    let url = format!("rediss://migrator:{secret}@127.0.0.1:{port}");
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--tls-ca-cert",
            &c("ca.crt"),
            "--format",
            "json",
            "--no-functions",
        ],
        &[],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["restored"], 113);

    // Password from REDISCLI_AUTH; on-conflict replace to write again.
    let url_no_pw = format!("rediss://migrator@127.0.0.1:{port}");
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url_no_pw,
            "--tls-ca-cert",
            &c("ca.crt"),
            "--on-conflict",
            "replace",
            "-q",
        ],
        &[("REDISCLI_AUTH", secret)],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);

    // Password from a file (replaces the URL's).
    let pw_file = certs.join("password");
    std::fs::write(&pw_file, format!("{secret}\n")).expect("password file");
    let wrong_in_url = format!("rediss://migrator:wrong@127.0.0.1:{port}");
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &wrong_in_url,
            "--tls-ca-cert",
            &c("ca.crt"),
            "--password-file",
            &path(&pw_file),
            "--on-conflict",
            "skip",
            "--format",
            "json",
        ],
        &[],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(json(&out)["skipped_by"]["exists"], 113);

    // A wrong password fails with exit 2 and shows neither password.
    let bad = format!("rediss://migrator:{admin}@127.0.0.1:{port}");
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &bad,
            "--tls-ca-cert",
            &c("ca.crt"),
        ],
        &[],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(2));

    // Without the CA the certificate is not trusted; --tls-insecure accepts it.
    let out = rdbkit(
        &["restore", &f, "--target", &url, "--on-conflict", "replace"],
        &[],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--on-conflict",
            "replace",
            "--tls-insecure",
            "-q",
        ],
        &[],
    );
    check_clean(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Mutual TLS: once the server requires client certificates, --tls-cert/--tls-key
    // are needed (the leaf certificate is also a client certificate).
    server.cli(&["CONFIG", "SET", "tls-auth-clients", "yes"]);
    let ca = c("ca.crt");
    let base = [
        "restore",
        &f,
        "--target",
        &url,
        "--tls-ca-cert",
        &ca,
        "--on-conflict",
        "replace",
        "-q",
    ];
    let out = rdbkit(&base, &[]);
    check_clean(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no client certificate must fail"
    );
    let (cert, key) = (c("leaf.crt"), c("leaf.key"));
    let mut with_cert = base.to_vec();
    with_cert.extend(["--tls-cert", &cert, "--tls-key", &key]);
    let out = rdbkit(&with_cert, &[]);
    check_clean(&out);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&certs);
}

fn acked_offset(cp: &Path) -> Option<u64> {
    let t = std::fs::read_to_string(cp).ok()?;
    let line = t.lines().find(|l| l.starts_with("acked "))?;
    line.split(' ').nth(2)?.parse().ok()
}

#[test]
fn checkpoint_kill_then_resume_gives_the_snapshot() {
    let server = Server::start(&[]);
    let dir = temp_dir("cp");
    let cp = dir.join("restore.checkpoint");
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = server.url();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args([
            "restore",
            &f,
            "--target",
            &url,
            "--checkpoint",
            &path(&cp),
            "--max-ops",
            "40",
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait for some progress to be checkpointed, then kill hard.
    let deadline = Instant::now() + Duration::from_secs(20);
    while acked_offset(&cp).unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "no checkpoint progress");
        assert!(
            child.try_wait().ok().flatten().is_none(),
            "finished before the kill"
        );
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    let _ = child.wait();
    let total: u64 = (0..16)
        .map(|db| {
            server
                .cli(&["-n", &db.to_string(), "DBSIZE"])
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    assert!(
        total > 0 && total < 113,
        "partial restore expected, got {total} keys"
    );

    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--checkpoint",
            &path(&cp),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["resumed"], true);
    assert!(
        j["skipped_by"]["checkpoint"].as_u64().unwrap_or(0) > 0,
        "{j}"
    );
    assert_eq!(j["failed"], 0, "{j}");
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);

    // A finished checkpoint makes a rerun a no-op; other files are refused.
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--checkpoint",
            &path(&cp),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["skipped_by"]["checkpoint"], 113);
    let other = path(&fixture("redis-6.2.14.rdb"));
    let out = rdbkit(
        &[
            "restore",
            &other,
            "--target",
            &url,
            "--checkpoint",
            &path(&cp),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A key whose `RESTORE` payload is over the target's `proto-max-bulk-len` (read
/// with `CONFIG GET` at the probe): `--mode restore` refuses the run before any
/// write, naming the setting; `--mode auto` writes that key as chunked commands.
#[test]
fn payloads_over_proto_max_bulk_len() {
    let source = Server::start(&["--rdbcompression", "no"]);
    source.cli(&[
        "EVAL",
        "for i = 1, 20000 do redis.call('RPUSH', KEYS[1], string.rep('x', 100) .. i) end",
        "1",
        "big",
    ]);
    source.cli(&["SET", "small", "v"]);
    let dir = temp_dir("bulk-len");
    let file = dir.join("big.rdb");
    std::fs::write(&file, source.save()).unwrap();
    let f = path(&file);
    let target = Server::start(&["--proto-max-bulk-len", "1mb"]);
    let url = target.url();

    let out = rdbkit(&["restore", &f, "--target", &url, "--mode", "restore"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("proto-max-bulk-len") && err.contains("--mode auto"),
        "{err}"
    );
    assert_eq!(target.cli(&["DBSIZE"]).trim(), "0", "nothing written");

    let out = rdbkit(&["restore", &f, "--target", &url, "--format", "json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j = json(&out);
    assert_eq!(j["restored"], 2);
    assert_eq!(j["conversions"]["commands"], 1);
    assert_eq!(target.cli(&["LLEN", "big"]).trim(), "20000");
    let last = format!("{}20000", "x".repeat(100));
    assert_eq!(target.cli(&["LINDEX", "big", "-1"]).trim(), last);
    assert_eq!(target.cli(&["GET", "small"]).trim(), "v");
    let _ = std::fs::remove_dir_all(&dir);
}
