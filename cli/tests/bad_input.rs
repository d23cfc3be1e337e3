//! Inputs that are not snapshots (issue 12, "Operator ergonomics"): every command
//! that reads snapshots says what the input is and what to do, at offset 0, and
//! `check` keeps its exit codes (1 not a valid snapshot, 2 unreadable). Also the
//! JSON forms of `check` and `watch`.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_rdbkit, versions_dir, RunOutput};
use serde_json::Value;

/// A fresh directory for one test under cargo's per-target temp dir.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bad_input-{name}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    p
}

fn rdbkit(args: &[&str], stdin: Option<Vec<u8>>) -> RunOutput {
    run_rdbkit(args, stdin).unwrap_or_else(|e| panic!("{e}"))
}

fn good_rdb() -> PathBuf {
    versions_dir().join("redis-7.4.1.rdb")
}

/// Runs `check` and `export` on `path`: check exits 1, export 2, and both name
/// offset 0 and every word of `words` on stderr. Returns check's stderr.
fn refused(path: &Path, words: &[&str]) -> String {
    let p = path.to_str().unwrap_or_else(|| panic!("{path:?}"));
    let mut check_err = String::new();
    for (cmd, code) in [("check", 1), ("export", 2)] {
        let out = rdbkit(&[cmd, p], None);
        let err = out.stderr_text();
        assert_eq!(out.code(), Some(code), "{cmd} {p}: {err}");
        assert!(
            out.stdout.is_empty() || cmd == "check",
            "{cmd} {p} printed output"
        );
        assert!(err.contains("(offset 0)"), "{cmd} {p}: no offset 0: {err}");
        assert!(!err.contains("panicked"), "{cmd} {p}: {err}");
        for w in words {
            let w = w.replace("CMD", cmd);
            assert!(err.contains(&w), "{cmd} {p}: {w:?} missing from: {err}");
        }
        if cmd == "check" {
            check_err = err;
        }
    }
    check_err
}

#[test]
fn gzip_is_decompressed_and_a_damaged_one_named() {
    let dir = scratch("gzip");
    let gz = dir.join("dump.rdb.gz");
    let out = Command::new("gzip")
        .arg("-c")
        .arg(good_rdb())
        .output()
        .unwrap_or_else(|e| panic!("running gzip (needed for this test): {e}"));
    assert!(out.status.success(), "gzip failed");
    fs::write(&gz, &out.stdout).unwrap_or_else(|e| panic!("{}: {e}", gz.display()));
    // Read by its magic, from the file and from standard input.
    let ok = rdbkit(&["check", gz.to_str().unwrap_or_default()], None);
    assert_eq!(ok.code(), Some(0), "{}", ok.stderr_text());
    let ok = rdbkit(&["check", "-"], Some(out.stdout.clone()));
    assert_eq!(ok.code(), Some(0), "{}", ok.stderr_text());

    // A gzip file cut off inside its first block: named, with what to do.
    let cut = write(&dir, "cut.rdb.gz", &out.stdout[..out.stdout.len().min(200)]);
    refused(
        &cut,
        &[
            "gzip-compressed data that does not decompress",
            "copy it again",
        ],
    );
}

#[test]
fn other_compressed_formats_are_named() {
    let dir = scratch("compressed");
    let cases: [(&str, &[u8], &str); 5] = [
        ("d.zst", b"\x28\xb5\x2f\xfd\x24\x04\x21\x00\x00", "zstd -dc"),
        ("d.xz", b"\xfd7zXZ\x00\x00\x04\xe6\xd6\xb4\x46", "xz -dc"),
        ("d.lz4", b"\x04\x22\x4d\x18\x64\x40\xa7\x00\x00", "lz4 -dc"),
        ("d.bz2", b"BZh91AY&SY\x00\x00\x00", "bzip2 -dc"),
        ("d.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "unzip -p"),
    ];
    for (name, bytes, tool) in cases {
        let f = write(&dir, name, bytes);
        refused(&f, &[&format!("`{tool} {} | rdbkit CMD -`", f.display())]);
    }
}

#[test]
fn aof_is_named_and_an_rdb_preamble_aof_is_read() {
    let dir = scratch("aof");
    let resp = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n";
    let aof = write(&dir, "appendonly.aof", resp);
    refused(
        &aof,
        &[
            "an append-only file (AOF) in RESP",
            "redis-cli --pipe <",
            "SAVE",
        ],
    );

    // An AOF with an RDB preamble starts with REDIS: read, tail reported.
    let mut data = fs::read(good_rdb()).unwrap_or_else(|e| panic!("{e}"));
    data.extend_from_slice(resp);
    let f = write(&dir, "preamble.aof", &data);
    let out = rdbkit(&["check", f.to_str().unwrap_or_default()], None);
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{} bytes after the checksum", resp.len())),
        "{text}"
    );
}

#[test]
fn empty_short_and_unknown_files() {
    let dir = scratch("short");
    refused(
        &write(&dir, "empty.rdb", b""),
        &["an empty input (0 bytes)"],
    );
    refused(&write(&dir, "cut.rdb", b"REDIS00"), &["only 7 bytes"]);
    refused(&write(&dir, "tiny.rdb", b"ok\n"), &["only 3 bytes"]);
    refused(
        &write(&dir, "elf.bin", b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00"),
        &["not an RDB snapshot", "7f 45 4c 46 02 01 01 00 00"],
    );
}

#[test]
fn download_error_pages_say_the_download_failed() {
    let dir = scratch("pages");
    let s3 = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>\
               <Message>The specified key does not exist.</Message></Error>";
    refused(
        &write(&dir, "s3.rdb", s3),
        &["an XML document", "error code NoSuchKey", "download failed"],
    );
    refused(
        &write(
            &dir,
            "http.rdb",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        ),
        &[
            "an HTTP response",
            "\"HTTP/1.1 403 Forbidden\"",
            "download failed",
        ],
    );
    refused(
        &write(
            &dir,
            "page.rdb",
            b"<!DOCTYPE html><html><body>Bad Gateway</body></html>",
        ),
        &[
            "an HTML page, not an RDB snapshot",
            "download failed",
            "head -c 600",
        ],
    );
    refused(
        &write(
            &dir,
            "api.rdb",
            b"{\"error\": \"AuthorizationFailed\", \"code\": 403}",
        ),
        &["a JSON document", "download failed"],
    );
    refused(
        &write(&dir, "notes.txt", b"keys to migrate: user:*, session:*\n"),
        &["a text file", "\"keys to migrate: user:*, session:*\""],
    );
}

#[test]
fn directories_point_at_the_snapshot_inside() {
    let rdb = fs::read(good_rdb()).unwrap_or_else(|e| panic!("{e}"));
    let dir = scratch("aofdir");
    let aofdir = dir.join("appendonlydir");
    fs::create_dir_all(&aofdir).unwrap_or_else(|e| panic!("{e}"));
    write(
        &aofdir,
        "appendonly.aof.manifest",
        b"file appendonly.aof.3.base.rdb seq 3 type b\nfile appendonly.aof.5.incr.aof seq 5 type i\n",
    );
    let base = write(&aofdir, "appendonly.aof.3.base.rdb", &rdb);
    write(
        &aofdir,
        "appendonly.aof.5.incr.aof",
        b"*1\r\n$5\r\nMULTI\r\n",
    );
    // An append-only directory is read through its base file; the incremental file's
    // commands are counted and named as not included.
    let out = rdbkit(&["check", aofdir.to_str().unwrap_or_default()], None);
    let err = out.stderr_text();
    assert_eq!(out.code(), Some(0), "{err}");
    assert!(
        err.contains("a Redis 7+ append-only directory")
            && err.contains(&format!("reading its base file {}", base.display())),
        "{err}"
    );
    assert!(
        err.contains("NOT included: 1 commands in 1 incremental file(s)"),
        "{err}"
    );

    // Without a manifest, the base file is found by its name.
    fs::remove_file(aofdir.join("appendonly.aof.manifest")).unwrap_or_else(|e| panic!("{e}"));
    let out = rdbkit(&["export", aofdir.to_str().unwrap_or_default()], None);
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let direct = rdbkit(&["export", base.to_str().unwrap_or_default()], None);
    assert_eq!(out.stdout, direct.stdout);

    // A plain directory lists its .rdb files.
    let plain = dir.join("backups");
    fs::create_dir_all(&plain).unwrap_or_else(|e| panic!("{e}"));
    let shard = write(&plain, "shard-0001.rdb", &rdb);
    let out = rdbkit(&["baseline", plain.to_str().unwrap_or_default()], None);
    assert_eq!(out.code(), Some(2));
    assert!(
        out.stderr_text()
            .contains(&format!("e.g. {}", shard.display())),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn check_json_reports_every_file_with_a_verdict() {
    let dir = scratch("json");
    let good = good_rdb();
    let corrupt = versions_dir().join("redis-7.0.15.corrupt-type.rdb");
    let gz = write(
        &dir,
        "x.rdb.gz",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
    );
    let args: Vec<String> = [&good, &corrupt, &gz]
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut a = vec!["check", "--format", "json"];
    a.extend(args.iter().map(String::as_str));
    let out = rdbkit(&a, None);
    assert_eq!(out.code(), Some(1), "{}", out.stderr_text());
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j["verdict"], "corrupt");
    let files = j["files"].as_array().cloned().unwrap_or_default();
    assert_eq!(files.len(), 3, "{j}");

    let ok = &files[0];
    assert_eq!(ok["verdict"], "ok");
    assert_eq!(ok["path"], args[0]);
    assert_eq!(ok["magic"], "REDIS0012");
    assert_eq!(ok["checksum"]["status"], "ok");
    assert_eq!(ok["trailing_bytes"], 0);
    let size = fs::metadata(&good).map(|m| m.len()).unwrap_or_default();
    assert_eq!(ok["bytes"], size);
    // Same db map as baseline's keyspace, and the counts add up.
    let base = rdbkit(&["baseline", "--format", "json", &args[0]], None);
    let b: Value = serde_json::from_slice(&base.stdout).unwrap_or_else(|e| panic!("{e}"));
    let dbs = ok["dbs"].as_object().cloned().unwrap_or_default();
    let keyspace = b["keyspace"].as_object().cloned().unwrap_or_default();
    assert!(!dbs.is_empty());
    assert_eq!(
        dbs.keys().collect::<Vec<_>>(),
        keyspace.keys().collect::<Vec<_>>()
    );
    for (db, d) in &dbs {
        assert_eq!(d["keys"], keyspace[db]["keys"], "db {db}");
        assert_eq!(d["expires"], keyspace[db]["expires"], "db {db}");
    }
    let sum: u64 = dbs.values().filter_map(|d| d["keys"].as_u64()).sum();
    assert_eq!(ok["keys"], sum);
    let types: u64 = ok["types"]
        .as_object()
        .map(|t| t.values().filter_map(Value::as_u64).sum())
        .unwrap_or_default();
    assert_eq!(types, sum);

    assert_eq!(files[1]["verdict"], "corrupt");
    assert_eq!(files[1]["offset"], 377, "{}", files[1]);
    assert!(files[1]["error"]
        .as_str()
        .is_some_and(|e| e.contains("offset 377")));
    assert_eq!(files[2]["verdict"], "corrupt");
    assert_eq!(files[2]["offset"], 0);
    assert_eq!(files[2]["input_kind"], "gzip");

    // An unreadable file: exit 2, verdict "error", the document still printed.
    let missing = dir.join("missing.rdb").display().to_string();
    let out = rdbkit(&["check", "--format", "json", &args[0], &missing], None);
    assert_eq!(out.code(), Some(2));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j["verdict"], "error");
    assert_eq!(j["files"][0]["verdict"], "ok");
    assert_eq!(j["files"][1]["verdict"], "error");

    let out = rdbkit(&["check", "--format", "json", &args[0]], None);
    assert_eq!(out.code(), Some(0));
    let j: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(j["verdict"], "ok");
}

#[test]
fn watch_json_lines_have_times_and_a_verdict() {
    // A port nobody listens on: the node is unreachable, so each sample fails.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let url = format!("redis://127.0.0.1:{port}");
    let out = rdbkit(
        &[
            "watch",
            &url,
            "--count",
            "2",
            "--interval",
            "0.1",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr_text());
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in &lines {
        assert_eq!(l["verdict"], "fail", "{l}");
        assert_eq!(l["alerts"][0]["kind"], "unreachable", "{l}");
        let ms = l["time_ms"].as_i64().unwrap_or_else(|| panic!("{l}"));
        // GNU date as the reference for the ISO-8601 form.
        let date = Command::new("date")
            .args(["-u", "-d", &format!("@{}", ms / 1000), "+%Y-%m-%dT%H:%M:%S"])
            .output()
            .unwrap_or_else(|e| panic!("date: {e}"));
        let want = String::from_utf8_lossy(&date.stdout).trim().to_string();
        let time = l["time"].as_str().unwrap_or_default();
        assert!(
            time.starts_with(&want) && time.ends_with('Z'),
            "{time} vs {want}"
        );
    }

    let out = rdbkit(&["watch", &url, "--count", "1"], None);
    assert_eq!(out.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("sample 1 20") && text.contains("): fail"),
        "{text}"
    );
}
