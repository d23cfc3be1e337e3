//! The commands that read a snapshot twice (restore's pre-write check, convert's
//! planning pass) or need it mapped work from standard input too: the stream is
//! copied to a temporary file in `$TMPDIR` first. `cat FILE | rdbkit restore -` and
//! `rdbkit keys -` give what the path gives.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use support::{fixture, snapshot_keys, temp_dir, Server};

/// `rdbkit ARGS`, with `stdin` piped in when given.
fn rdbkit(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rdbkit");
    if let (Some(mut pipe), Some(data)) = (child.stdin.take(), stdin) {
        let data = data.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    child.wait_with_output().expect("wait for rdbkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn restore_from_stdin_equals_restore_from_the_file() {
    let file = fixture("redis-7.0.15.rdb");
    let data = std::fs::read(&file).unwrap();
    let by_path = Server::start(&[]);
    let by_stdin = Server::start(&[]);
    let path = file.display().to_string();
    let a = rdbkit(
        &[
            "restore",
            &path,
            "--target",
            &by_path.url(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    let b = rdbkit(
        &[
            "restore",
            "-",
            "--target",
            &by_stdin.url(),
            "--format",
            "json",
        ],
        Some(&data),
    );
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    let ja: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let jb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    for field in ["restored", "skipped", "failed", "expired", "snapshot_keys"] {
        assert_eq!(ja[field], jb[field], "{field}: {ja} vs {jb}");
    }
    assert!(ja["restored"].as_u64().unwrap() > 100, "{ja}");
    assert_eq!(
        snapshot_keys(&by_path.save()),
        snapshot_keys(&by_stdin.save()),
        "the servers hold different keys"
    );
}

#[test]
fn keys_from_stdin_and_gzip_equal_keys_from_the_file() {
    let file = fixture("redis-7.0.15.rdb");
    let data = std::fs::read(&file).unwrap();
    let dir = temp_dir("keys-stdin");
    let path = file.display().to_string();
    let out_path = dir.join("by-path.csv").display().to_string();
    let out_stdin = dir.join("by-stdin.csv").display().to_string();
    let a = rdbkit(
        &["keys", &path, "--format", "csv", "-o", &out_path, "-q"],
        None,
    );
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    let b = rdbkit(
        &["keys", "-", "--format", "csv", "-o", &out_stdin, "-q"],
        Some(&data),
    );
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    let rows_a = std::fs::read_to_string(&out_path)
        .unwrap()
        .replace(&path, "-");
    let rows_b = std::fs::read_to_string(&out_stdin).unwrap();
    assert!(rows_a.lines().count() > 100);
    assert_eq!(rows_a, rows_b);

    // gzip on stdin decompresses the same way.
    let gz = dir.join("in.rdb.gz");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {path} > {}", gz.display()))
        .status()
        .unwrap();
    assert!(st.success());
    let out_gz = dir.join("by-gz.csv").display().to_string();
    let c = rdbkit(
        &["keys", "-", "--format", "csv", "-o", &out_gz, "-q"],
        Some(&std::fs::read(&gz).unwrap()),
    );
    assert_eq!(c.status.code(), Some(0), "{}", text(&c.stderr));
    assert_eq!(std::fs::read_to_string(&out_gz).unwrap(), rows_b);
}
