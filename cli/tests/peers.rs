//! `rdbkit check` / `export` on the peers corpus (`peers/INDEX.tsv`) and on the damaged
//! copies in `versions/`: good files parse, bad ones are refused cleanly with an offset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{clip, offsets_named, run_rdbkit, RunOutput};
use serde_json::Value;

/// Newest `REDIS` RDB version rdbkit knows (REDIS0014); above it a file is from the future.
const NEWEST_REDIS_RDB: u32 = 14;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Good,
    /// Refused; the message must contain this word (if any).
    Bad(Option<&'static str>),
}

/// INDEX.tsv rows marked `ERROR` only because the indexer's walker does not know an
/// opcode: the file is intact (its CRC-64 matches) and must parse.
const INDEXER_ONLY_ERRORS: [&str; 1] = [
    // Redis Enterprise RAM_LRU opcode (107, one length argument), as in librdb.
    "redis+librdb/test/dumps/redis_ent_opcode_ram_lru.rdb",
];

fn classify(row: &[String]) -> Expect {
    if INDEXER_ONLY_ERRORS.contains(&row[0].as_str()) {
        return Expect::Good;
    }
    let magic = row.get(1).map(String::as_str).unwrap_or_default();
    let status = row.get(3).map(String::as_str).unwrap_or_default();
    if magic.starts_with("ERROR") {
        return Expect::Bad(None);
    }
    if let Some(v) = magic.strip_prefix("REDIS") {
        if v.parse::<u32>().is_ok_and(|v| v > NEWEST_REDIS_RDB) {
            return Expect::Bad(Some("version"));
        }
    } else if !magic.starts_with("VALKEY") {
        return Expect::Bad(None);
    }
    match status {
        "CRC_MISMATCH" => Expect::Bad(Some("checksum")),
        // Empty: RDB < 5 has no checksum.
        "" | "crc_ok" => Expect::Good,
        s if s.starts_with("crc=0(disabled)") => Expect::Good,
        s => panic!("INDEX.tsv: unknown checksum status {s:?} in row {row:?}"),
    }
}

fn args(cmd: &str, path: &Path) -> Vec<std::ffi::OsString> {
    let mut a = vec![cmd.into(), path.as_os_str().to_owned()];
    if cmd == "export" {
        a.extend(["--format".into(), "jsonl".into()]);
    }
    a
}

fn run(cmd: &str, path: &Path) -> Result<RunOutput, String> {
    run_rdbkit(&args(cmd, path), None)
}

/// Problems with a run that should have succeeded.
fn expect_success(what: &str, out: &Result<RunOutput, String>) -> Vec<String> {
    match out {
        Err(e) => vec![format!("{what}: {e}")],
        Ok(o) if o.code() != Some(0) => vec![format!(
            "{what}: expected exit 0, got {}: {}",
            o.status_text(),
            clip(&o.stderr_text(), 300)
        )],
        Ok(_) => vec![],
    }
}

/// Problems with a run that should have been refused with `code`, an offset and `word`.
fn expect_refusal(
    what: &str,
    out: &Result<RunOutput, String>,
    code: i32,
    word: Option<&str>,
) -> Vec<String> {
    let o = match out {
        Err(e) => return vec![format!("{what}: {e}")],
        Ok(o) => o,
    };
    let err = o.stderr_text();
    let mut p = Vec::new();
    if o.code() != Some(code) {
        // 101 is a Rust panic; no code at all is a signal (crash).
        p.push(format!("expected exit {code}, got {}", o.status_text()));
    }
    if err.contains("panicked") {
        p.push("panicked".to_string());
    }
    if offsets_named(&err).is_empty() {
        p.push("stderr names no `offset N`".to_string());
    }
    if let Some(w) = word {
        if !err.to_ascii_lowercase().contains(w) {
            p.push(format!("stderr does not mention `{w}`"));
        }
    }
    if p.is_empty() {
        return p;
    }
    vec![format!(
        "{what}: {}; stderr: {}",
        p.join(", "),
        clip(&err, 300)
    )]
}

/// Every stdout line must be a JSON object shaped as the contract says.
fn jsonl_problems(stdout: &[u8]) -> Vec<String> {
    const TYPES: [&str; 7] = ["string", "list", "set", "zset", "hash", "stream", "module"];
    let mut p = Vec::new();
    let text = String::from_utf8_lossy(stdout);
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                p.push(format!("line {n} is not JSON ({e}): {}", clip(line, 200)));
                continue;
            }
        };
        let ty = v.get("type").and_then(Value::as_str).unwrap_or_default();
        let ok = if ty == "function" {
            v.get("library_code").is_some_and(Value::is_string)
        } else {
            TYPES.contains(&ty)
                && v.get("db").is_some_and(Value::is_u64)
                && v.get("key")
                    .is_some_and(|k| common::strict_bytes_of(k).is_ok())
                && v.get("expire_at_ms")
                    .is_some_and(|e| e.is_null() || e.is_i64())
                && v.get("value").is_some()
                && (ty != "module"
                    || v["value"].get("module").is_some_and(Value::is_string)
                        && v["value"].get("raw").is_some())
        };
        if !ok {
            p.push(format!(
                "line {n} is not a key/function line: {}",
                clip(line, 200)
            ));
        }
    }
    p
}

fn fail_if_any(problems: Vec<String>, total: usize, what: &str) {
    assert!(
        problems.is_empty(),
        "{} problem(s) over {total} {what}:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn peer_files_are_accepted_or_refused_as_indexed() {
    let Some(dir) = common::peers_dir() else {
        return;
    };
    let rows = common::peer_index(&dir);
    assert!(rows.len() > 100, "INDEX.tsv has only {} rows", rows.len());
    let problems: Vec<String> = common::par_map(&rows, |row| {
        let path = dir.join(&row[0]);
        let name = &row[0];
        let mut p = Vec::new();
        match classify(row) {
            Expect::Good => {
                p.extend(expect_success(
                    &format!("check {name}"),
                    &run("check", &path),
                ));
                let ex = run("export", &path);
                p.extend(expect_success(&format!("export {name}"), &ex));
                if let Ok(o) = &ex {
                    p.extend(
                        jsonl_problems(&o.stdout)
                            .into_iter()
                            .map(|e| format!("export {name}: {e}")),
                    );
                }
            }
            Expect::Bad(word) => {
                let why = row[1..].join(" ");
                p.extend(expect_refusal(
                    &format!("check {name} [{}]", clip(&why, 60)),
                    &run("check", &path),
                    1,
                    word,
                ));
                p.extend(expect_refusal(
                    &format!("export {name} [{}]", clip(&why, 60)),
                    &run("export", &path),
                    2,
                    word,
                ));
            }
        }
        p
    })
    .into_iter()
    .flatten()
    .collect();
    fail_if_any(problems, rows.len(), "INDEX.tsv rows");
}

#[test]
fn index_classification_covers_the_known_bad_files() {
    let Some(dir) = common::peers_dir() else {
        return;
    };
    let rows = common::peer_index(&dir);
    let bad = |suffix: &str| {
        let row = rows
            .iter()
            .find(|r| r[0].ends_with(suffix))
            .unwrap_or_else(|| panic!("{suffix} not in INDEX.tsv"));
        classify(row)
    };
    assert_eq!(bad("future_v19.rdb"), Expect::Bad(Some("version")));
    assert_eq!(bad("invalid_chksum_v8.rdb"), Expect::Bad(Some("checksum")));
    assert_eq!(
        bad("redis-replicator/src/test/resources/module.rdb"),
        Expect::Bad(None)
    );
    assert_eq!(bad("redis_40_with_module.rdb"), Expect::Good);
    assert_eq!(bad("script.rdb"), Expect::Good);
    assert_eq!(bad("parser_filters.rdb"), Expect::Good);
    assert_eq!(bad("redis_ent_opcode_ram_lru.rdb"), Expect::Good);
    let n_bad = rows.iter().filter(|r| classify(r) != Expect::Good).count();
    assert_eq!(
        n_bad, 5,
        "expected 3 refused ERROR rows + 2 CRC_MISMATCH rows"
    );
}

struct Damaged {
    file: PathBuf,
    size: u64,
    kind: &'static str,
    offset: Option<u64>,
}

fn damaged_files() -> Vec<Damaged> {
    let dir = common::versions_dir();
    let path = dir.join("damaged-files.json");
    let doc: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
    )
    .expect("damaged-files.json is JSON");
    let mut out = Vec::new();
    for (_, src) in doc.as_object().expect("object") {
        for kind in ["truncated", "corrupt", "corrupt_type"] {
            let d = &src[kind];
            let file = dir.join(d["file"].as_str().expect("file"));
            let size = std::fs::metadata(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
                .len();
            if kind == "truncated" {
                assert_eq!(Some(size), d["size"].as_u64(), "{}", file.display());
            }
            out.push(Damaged {
                file,
                size,
                kind,
                offset: d["offset"].as_u64(),
            });
        }
    }
    assert_eq!(
        out.len(),
        6,
        "damaged-files.json: expected 2 sources x 3 kinds"
    );
    out
}

/// How far before the end a truncation error may point and still be "near" the cut.
const TRUNCATION_SLACK: u64 = 64 * 1024;

#[test]
fn damaged_version_files_are_refused_precisely() {
    let mut problems = Vec::new();
    let files = damaged_files();
    for d in &files {
        let name = d.file.file_name().unwrap().to_string_lossy().into_owned();
        for (cmd, code) in [("check", 1), ("export", 2)] {
            let out = run(cmd, &d.file);
            let what = format!("{cmd} {name}");
            let word = match d.kind {
                "corrupt" => Some("checksum"),
                _ => None,
            };
            let p = expect_refusal(&what, &out, code, word);
            if !p.is_empty() {
                problems.extend(p);
                continue;
            }
            let err = out.as_ref().map(RunOutput::stderr_text).unwrap_or_default();
            let offsets = offsets_named(&err);
            match d.kind {
                "truncated" => {
                    let lo = d.size.saturating_sub(TRUNCATION_SLACK);
                    if !offsets.iter().any(|o| (lo..=d.size).contains(o)) {
                        problems.push(format!(
                            "{what}: no offset near the truncation at {} (within {TRUNCATION_SLACK} bytes): {offsets:?}; stderr: {}",
                            d.size,
                            clip(&err, 300)
                        ));
                    }
                }
                "corrupt_type" => {
                    let at = d.offset.expect("corrupt_type offset");
                    let names_type = err
                        .to_ascii_lowercase()
                        .split(|c: char| !c.is_ascii_alphanumeric())
                        .any(|t| t == "127" || t == "0x7f");
                    if !names_type || !offsets.contains(&at) {
                        problems.push(format!(
                            "{what}: expected type 127 at offset {at}, offsets named {offsets:?}; stderr: {}",
                            clip(&err, 300)
                        ));
                    }
                }
                _ => {}
            }
        }
    }
    fail_if_any(problems, files.len(), "damaged files");
}

#[test]
fn enterprise_ram_lru_opcode_is_skipped() {
    let Some(peers) = common::peers_dir() else {
        return;
    };
    let path = peers.join(INDEXER_ONLY_ERRORS[0]);
    let out = run("export", &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let mut keys: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("JSON line");
            (v["key"].to_string(), v["value"].to_string())
        })
        .collect();
    keys.sort();
    let want = [("a", "b"), ("c", "d"), ("e", "f")]
        .map(|(k, v)| (format!("{k:?}"), format!("{v:?}")))
        .to_vec();
    assert_eq!(keys, want);
}

#[test]
fn nochecksum_files_parse() {
    let dir = common::versions_dir();
    let mut problems = Vec::new();
    for f in ["redis-7.0.15-nochecksum.rdb", "redis-6.2.14-nochecksum.rdb"] {
        let path = dir.join(f);
        problems.extend(expect_success(&format!("check {f}"), &run("check", &path)));
        let ex = run("export", &path);
        problems.extend(expect_success(&format!("export {f}"), &ex));
        if let Ok(o) = &ex {
            problems.extend(jsonl_problems(&o.stdout));
            let keys = String::from_utf8_lossy(&o.stdout).lines().count();
            if keys < 100 {
                problems.push(format!("export {f}: only {keys} lines"));
            }
        }
    }
    fail_if_any(problems, 2, "files");
}

#[test]
fn stdin_gives_the_same_result_as_the_path() {
    let versions = common::versions_dir();
    let mut files = vec![
        versions.join("redis-7.4.1.rdb"),
        versions.join("redis-2.4.18.rdb"),
    ];
    // A module-type value, when the peers corpus is there.
    if let Some(peers) = common::peers_dir() {
        files.push(
            peers.join("sripathikrishnan+redis-rdb-tools/tests/dumps/redis_40_with_module.rdb"),
        );
    }
    let mut problems = Vec::new();
    for f in &files {
        let name = f.display();
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        let by_path = run("export", f);
        let by_stdin = run_rdbkit(&["export", "-", "--format", "jsonl"], Some(data.clone()));
        problems.extend(expect_success(&format!("export {name}"), &by_path));
        problems.extend(expect_success(&format!("export - < {name}"), &by_stdin));
        if let (Ok(a), Ok(b)) = (&by_path, &by_stdin) {
            if a.stdout.is_empty() || a.stdout != b.stdout {
                problems.push(format!(
                    "export - < {name}: stdout differs from export by path ({} vs {} bytes)",
                    b.stdout.len(),
                    a.stdout.len()
                ));
            }
        }
        let check = run_rdbkit(&["check", "-"], Some(data));
        problems.extend(expect_success(&format!("check - < {name}"), &check));
    }
    let bad = versions.join("redis-7.0.15.corrupt-type.rdb");
    let data = std::fs::read(&bad).unwrap_or_else(|e| panic!("{}: {e}", bad.display()));
    let out = run_rdbkit(&["check", "-"], Some(data));
    problems.extend(expect_refusal("check - < corrupt-type", &out, 1, None));
    if let Ok(o) = &out {
        if !offsets_named(&o.stderr_text()).contains(&377) {
            problems.push(format!(
                "check - < corrupt-type: offset 377 not named: {}",
                clip(&o.stderr_text(), 300)
            ));
        }
    }
    fail_if_any(problems, files.len() + 1, "stdin runs");
}

#[test]
fn check_takes_several_files_and_fails_if_any_is_bad() {
    let v = common::versions_dir();
    let good = [v.join("redis-7.4.1.rdb"), v.join("redis-5.0.14.rdb")];
    let bad = v.join("redis-6.2.14.corrupt-type.rdb");
    let mut problems = Vec::new();
    let mut a: Vec<&std::ffi::OsStr> = vec!["check".as_ref()];
    a.extend(good.iter().map(|p| p.as_os_str()));
    problems.extend(expect_success("check good good", &run_rdbkit(&a, None)));
    a.push(bad.as_os_str());
    problems.extend(expect_refusal(
        "check good good bad",
        &run_rdbkit(&a, None),
        1,
        None,
    ));
    fail_if_any(problems, 2, "runs");
}

#[test]
fn unreadable_file_is_a_usage_error() {
    let missing = common::versions_dir().join("no-such-file.rdb");
    for cmd in ["check", "export"] {
        let out = run(cmd, &missing).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            out.code(),
            Some(2),
            "{cmd} on a missing file: {}: {}",
            out.status_text(),
            out.stderr_text()
        );
    }
    let out = run_rdbkit(&["export"], None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.code(),
        Some(2),
        "export without FILE: {}",
        out.status_text()
    );
}
