//! The memory model against real servers: every conformance fixture Redis 7.0 can
//! load (RDB ≤ 10, not the damaged ones) and a generated 50k-key snapshot are loaded
//! into `/usr/bin/redis-server` (Debian's 7.0.15), and the model's total
//! (`empty_server + Σ key + Σ db_overhead + functions`) must be within 10% of the
//! server's `used_memory`.
//!
//! Needs `/usr/bin/redis-server` (the test fails without it), and for the generated
//! dataset `python3` and `/usr/bin/redis-cli` (`benches/gen_snapshot.py`).
//!
//! `RDBKIT_MEMORY_FILES=a.rdb,b.rdb cargo test --release -p rdb-parser --features
//! inventory --test memory_model -- --ignored --nocapture` measures other files (the
//! benchmark table in `benches/README.md`); `RDBKIT_MEMORY_DUMP=DIR` also writes the
//! per-key estimates of each file there (`db key-hex bytes encoding` lines).

#![cfg(feature = "inventory")]

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdb_parser::inventory::memory::{MemoryModel, SizeClasses};
use rdb_parser::{Rdb, Record};

const REDIS_70: &str = "/usr/bin/redis-server";

/// Debian's 7.0.15 links the system jemalloc, whose quantum is 16 bytes.
fn debian_70() -> MemoryModel {
    MemoryModel::for_redis(7, 0).with_size_classes(SizeClasses::Quantum16)
}
const TOLERANCE: f64 = 0.10;

/// The model's total for a snapshot: what the baseline command sums.
fn estimate(model: &MemoryModel, data: &[u8], dump: Option<&Path>) -> u64 {
    let rdb = Rdb::parse(data).unwrap_or_else(|e| panic!("parse: {e}"));
    let mut dbs: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
    let (mut keys_bytes, mut libs, mut code) = (0u64, 0u64, 0u64);
    let mut lines = String::new();
    for record in rdb.records() {
        match record.unwrap_or_else(|e| panic!("record: {e}")) {
            Record::Key(k) => {
                let e = model
                    .key(&k)
                    .unwrap_or_else(|e| panic!("key {:?}: {e}", k.key));
                keys_bytes += e.bytes;
                let d = dbs.entry(k.db).or_default();
                d.0 += 1;
                d.1 += u64::from(k.expire_at_ms.is_some());
                if dump.is_some() {
                    let hex: String = k.key.iter().map(|b| format!("{b:02x}")).collect();
                    lines.push_str(&format!("{} {hex} {} {}\n", k.db, e.bytes, e.encoding));
                }
            }
            Record::Function(f) => {
                libs += 1;
                code += f.code.len() as u64;
            }
            _ => {}
        }
    }
    if let Some(path) = dump {
        std::fs::write(path, lines).unwrap_or_else(|e| panic!("dump: {e}"));
    }
    let overhead: u64 = dbs.values().map(|&(k, e)| model.db_overhead(k, e)).sum();
    model.empty_server() + keys_bytes + overhead + model.functions(libs, code)
}

/// A redis-server started on a free loopback port in a temporary directory.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(binary: &str, rdb: Option<&Path>) -> Server {
        assert!(
            Path::new(binary).exists(),
            "{binary} is missing: install Debian's redis-server (scripts/test.sh does)"
        );
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("rdbkit-mem-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        if let Some(rdb) = rdb {
            std::fs::copy(rdb, dir.join("x.rdb")).unwrap_or_else(|e| panic!("copy: {e}"));
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("free port: {e}"));
        let child = Command::new(binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--dbfilename", "x.rdb", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{binary}: {e}"));
        Server { child, port, dir }
    }

    /// `INFO <section>` once the server has finished loading and holds
    /// `expected_keys` keys (`loading:0` alone can be seen before loading starts).
    fn info(&mut self, section: &str, expected_keys: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(300);
        loop {
            let loaded = self
                .try_command(&["INFO", "persistence"])
                .is_some_and(|t| t.contains("loading:0"));
            if loaded {
                let keys = self
                    .try_command(&["INFO", "keyspace"])
                    .map(|t| keyspace_keys(&t))
                    .unwrap_or(0);
                if keys == expected_keys {
                    break;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("redis-server exited early: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not finish loading"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the cron finish rehashing the db dicts, as a user would see it.
        std::thread::sleep(Duration::from_millis(250));
        self.try_command(&["INFO", section])
            .unwrap_or_else(|| panic!("INFO {section} failed"))
    }

    fn try_command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body).ok()?;
        body.truncate(len);
        String::from_utf8(body).ok()
    }

    fn used_memory(&mut self, expected_keys: u64) -> u64 {
        let info = self.info("memory", expected_keys);
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no used_memory in {info}"))
    }
}

/// Total of `keys=N` over the `dbN:` lines of `INFO keyspace`.
fn keyspace_keys(info: &str) -> u64 {
    info.lines()
        .filter(|l| l.starts_with("db"))
        .filter_map(|l| {
            l.split_once("keys=")?
                .1
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum()
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Row {
    name: String,
    keys: u64,
    real: u64,
    estimate: u64,
}

impl Row {
    fn error(&self) -> f64 {
        (self.estimate as f64 - self.real as f64) / self.real as f64
    }
}

fn measure(path: &Path, model: &MemoryModel) -> Row {
    measure_with(REDIS_70, path, model)
}

fn measure_with(binary: &str, path: &Path, model: &MemoryModel) -> Row {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dump = std::env::var_os("RDBKIT_MEMORY_DUMP").map(|d| {
        let name = path
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        PathBuf::from(d).join(name).with_extension("est")
    });
    let estimate = estimate(model, &data, dump.as_deref());
    let keys = Rdb::parse(&data)
        .map(|r| {
            r.records()
                .filter(|r| matches!(r, Ok(Record::Key(_))))
                .count() as u64
        })
        .unwrap_or(0);
    let mut server = Server::start(binary, Some(path));
    let real = server.used_memory(keys);
    Row {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        keys,
        real,
        estimate,
    }
}

fn print_and_check(rows: &[Row]) {
    println!(
        "{:<36} {:>9} {:>14} {:>14} {:>8}",
        "dataset", "keys", "used_memory", "estimate", "error"
    );
    for r in rows {
        println!(
            "{:<36} {:>9} {:>14} {:>14} {:>+7.2}%",
            r.name,
            r.keys,
            r.real,
            r.estimate,
            r.error() * 100.0
        );
    }
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| r.error().abs() > TOLERANCE)
        .map(|r| r.name.as_str())
        .collect();
    assert!(bad.is_empty(), "estimate off by more than 10%: {bad:?}");
}

/// Fixtures Redis 7.0 can load: RDB ≤ 10 and not one of the damaged copies.
fn loadable_fixtures() -> Vec<PathBuf> {
    let dir = corpus::versions_dir();
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} ", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            !name.contains(".corrupt") && !name.contains(".truncated")
        })
        .filter(|p| {
            std::fs::read(p)
                .ok()
                .and_then(|d| Rdb::parse(&d).ok().map(|r| r.header()))
                .is_some_and(|h| h.family == rdb_parser::Family::Redis && h.version <= 10)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fixtures_within_ten_percent_of_redis_70() {
    let model = debian_70();
    let fixtures = loadable_fixtures();
    assert!(
        fixtures.len() >= 15,
        "expected the RDB ≤ 10 fixtures, found {}",
        fixtures.len()
    );
    let rows: Vec<Row> = fixtures.iter().map(|p| measure(p, &model)).collect();
    print_and_check(&rows);
}

#[test]
fn for_snapshot_picks_the_writer() {
    use rdb_parser::inventory::memory::Layout;
    let dir = corpus::versions_dir();
    for (file, layout) in [
        ("redis-6.2.14.rdb", Layout::Legacy),
        ("redis-7.0.15.rdb", Layout::Redis70),
        ("redis-7.2.6.rdb", Layout::Redis72),
        ("valkey-8.0.1.rdb", Layout::Redis72),
        ("redis-7.4.1.rdb", Layout::Redis74),
    ] {
        let data = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let rdb = Rdb::parse(&data).unwrap_or_else(|e| panic!("{file}: {e}"));
        let aux = rdb_parser::AuxInfo::read(&rdb).unwrap_or_else(|e| panic!("{file}: {e}"));
        let model = MemoryModel::for_snapshot(&aux, rdb.header());
        assert_eq!(model.layout(), layout, "{file}");
        // Every key of every layout's own files is modelled.
        for record in rdb.records() {
            if let Ok(Record::Key(k)) = record {
                let e = model.key(&k).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert!(e.bytes >= 24, "{file}: {:?}", k.key);
            }
        }
    }
}

#[test]
fn generated_50k_within_ten_percent() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/gen_snapshot.py");
    let out = std::env::temp_dir().join(format!("rdbkit-mem-gen-{}.rdb", std::process::id()));
    assert!(Path::new(REDIS_70).exists(), "{REDIS_70} is missing");
    let status = Command::new("python3")
        .arg(&script)
        .arg(&out)
        .args(["--keys", "50000", "--server", REDIS_70])
        .stderr(Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    assert!(status.success(), "gen_snapshot.py failed: {status}");
    let row = measure(&out, &debian_70());
    let _ = std::fs::remove_file(&out);
    print_and_check(&[row]);
}

/// Measures the files listed in `RDBKIT_MEMORY_FILES` (comma-separated) against
/// Debian's 7.0, or against `RDBKIT_MEMORY_SERVER` (a redis-server built with its
/// bundled jemalloc) with the model of version `RDBKIT_MEMORY_VERSION` (`8.2`).
#[test]
#[ignore = "benchmark: set RDBKIT_MEMORY_FILES"]
fn measure_files() {
    let files = std::env::var("RDBKIT_MEMORY_FILES").unwrap_or_default();
    let server = std::env::var("RDBKIT_MEMORY_SERVER").ok();
    let model = match std::env::var("RDBKIT_MEMORY_VERSION").ok() {
        Some(v) => {
            let (major, minor) = v.split_once('.').unwrap_or((&v, "0"));
            MemoryModel::for_redis(major.parse().unwrap_or(7), minor.parse().unwrap_or(0))
        }
        None => debian_70(),
    };
    let binary = server.as_deref().unwrap_or(REDIS_70);
    let rows: Vec<Row> = files
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| measure_with(binary, Path::new(f), &model))
        .collect();
    print_and_check(&rows);
}
