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

/// `-o` naming something that is not a regular file (`/dev/null`, a named pipe) is
/// written through, never replaced: `keys`, `report` and `convert` write a regular
/// output under a temporary name and rename it into place, and renaming over
/// `/dev/null` (as root) once replaced the device with a file.
#[test]
fn outputs_that_are_not_regular_files_are_written_through() {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    /// `O_NONBLOCK` on Linux (x86-64 and arm64).
    const O_NONBLOCK: i32 = 0o4000;

    let file = fixture("redis-7.0.15.rdb");
    let file = file.to_str().unwrap();
    let dir = temp_dir("fifo-outputs");
    let cases: [(&str, &[&str], &[u8]); 3] = [
        ("keys", &["--format", "csv"], b"file,db,key,"),
        ("report", &[], b"<!doctype html>"),
        ("convert", &["--target-rdb-version", "10"], b"REDIS0010"),
    ];
    for (command, flags, starts) in cases {
        let fifo = dir.join(format!("{command}.fifo"));
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo {}", fifo.display());
        let reading = fifo.clone();
        let (sent, read) = std::sync::mpsc::channel();
        std::thread::spawn(move || sent.send(std::fs::read(reading)));
        let mut args = vec![command, "-q", file, "-o", fifo.to_str().unwrap()];
        args.extend_from_slice(flags);
        let out = rdbkit(&args, None);
        // A run that never opened the pipe leaves the reader waiting in open(2):
        // opening the write end (without blocking) and closing it releases it.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo);
        // A pipe replaced by a file is never opened for writing: its reader waits
        // forever, so it is given up on.
        let got = read
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("{command}: nothing was written through the pipe"))
            .unwrap();
        assert!(
            out.status.success(),
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let head = &got[..got.len().min(starts.len())];
        assert!(
            head.eq_ignore_ascii_case(starts),
            "{command} wrote {} bytes through the pipe, starting {:?}",
            got.len(),
            String::from_utf8_lossy(head)
        );
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{command} replaced the pipe: {kind:?}");
    }
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["convert.fifo", "keys.fifo", "report.fifo"],
        "no temporary file is left"
    );
}
