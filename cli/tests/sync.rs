//! `rdbkit sync` against real servers (Debian's Redis 7.0, keyspace notifications
//! on): a source taking about 2,000 writes/s of every type in four databases while
//! its pub/sub connections are killed and a database is flushed; a sync killed and
//! restarted on the same journal; a `--snapshot` that appears late, into a 3-master
//! cluster. After the writes stop each run must exit 0 `converged`, and the TEST reads
//! both sides back key by key (values and expiries) through the redis crate, with
//! none of rdbkit's code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use redis::Value;
use serde_json::Value as Json;
use support::{redis62, temp_dir, Cluster, Server};

const NOTIFY: [&str; 2] = ["--notify-keyspace-events", "KEA"];

fn sync_cmd(source: &str, target: &str, journal: &std::path::Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["sync", "--source", source, "--target", target, "--journal"])
        .arg(journal)
        .args(["--quiet-for", "2", "--interval", "0.5", "--format", "jsonl"])
        .args(extra)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rdbkit sync")
}

/// Collects a sync's JSON lines on a thread; `lines` fills as they come.
fn collect(child: &mut Child) -> (Arc<std::sync::Mutex<Vec<Json>>>, thread::JoinHandle<()>) {
    let out = child.stdout.take().unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
    let l = Arc::clone(&lines);
    let h = thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let v: Json =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
            l.lock().unwrap().push(v);
        }
    });
    (lines, h)
}

/// Waits for `child` (at most `secs`), killing it on timeout.
fn wait(child: &mut Child, secs: u64) -> (i32, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code().unwrap_or(-1), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sync did not finish within {secs} s");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn wait_state(lines: &std::sync::Mutex<Vec<Json>>, states: &[&str], secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| states.iter().any(|s| l["state"] == *s))
        {
            return;
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("sync never reached {states:?}: {:?}", lines.lock().unwrap());
}

fn conn(url: &str, db: u64) -> redis::Connection {
    let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
    redis::cmd("SELECT").arg(db).query::<()>(&mut c).unwrap();
    c
}

/// A small xorshift generator (no rand crate).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One random write of any type into `db` (keys from a pool of 300 per type).
fn write_one(c: &mut redis::Connection, r: &mut Rng, dbs: u64) {
    let db = r.below(dbs);
    let n = r.below(300);
    let mut p = redis::pipe();
    p.cmd("SELECT").arg(db).ignore();
    match r.below(16) {
        0 => p.cmd("SET").arg(format!("s:{n}")).arg(r.next()).ignore(),
        1 => p
            .cmd("INCRBY")
            .arg(format!("c:{n}"))
            .arg(r.below(10))
            .ignore(),
        2 => p
            .cmd("HSET")
            .arg(format!("h:{n}"))
            .arg(format!("f{}", r.below(20)))
            .arg(r.next())
            .ignore(),
        3 => p.cmd("RPUSH").arg(format!("l:{n}")).arg(r.next()).ignore(),
        4 => p.cmd("LPOP").arg(format!("l:{n}")).ignore(),
        5 => p
            .cmd("SADD")
            .arg(format!("set:{n}"))
            .arg(r.below(50))
            .ignore(),
        6 => p
            .cmd("SREM")
            .arg(format!("set:{n}"))
            .arg(r.below(50))
            .ignore(),
        7 => p
            .cmd("ZADD")
            .arg(format!("z:{n}"))
            .arg(r.below(1000))
            .arg(r.below(40))
            .ignore(),
        8 => p
            .cmd("XADD")
            .arg(format!("x:{}", n % 30))
            .arg("MAXLEN")
            .arg(50)
            .arg("*")
            .arg("f")
            .arg(r.next())
            .ignore(),
        // Keys that expire during the run.
        9 => p
            .cmd("SET")
            .arg(format!("e:{n}"))
            .arg(1)
            .arg("PX")
            .arg(200 + r.below(1500))
            .ignore(),
        10 => p
            .cmd("PEXPIRE")
            .arg(format!("s:{n}"))
            .arg(60_000 + r.below(60_000))
            .ignore(),
        11 => p.cmd("PERSIST").arg(format!("s:{n}")).ignore(),
        12 => p
            .cmd("RENAME")
            .arg(format!("s:{n}"))
            .arg(format!("s:{}", r.below(300)))
            .ignore(),
        13 => p.cmd("DEL").arg(format!("h:{n}")).ignore(),
        14 => p.cmd("UNLINK").arg(format!("set:{n}")).ignore(),
        _ => p
            .cmd("HINCRBY")
            .arg(format!("h:{n}"))
            .arg("n")
            .arg(1)
            .ignore(),
    };
    // RENAME of a missing key and LPOP of a missing list are errors/nil: fine.
    let _: redis::RedisResult<()> = p.query(c);
}

/// A writer thread at about `rate` writes/s over `dbs` databases until stopped.
struct Load {
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Load {
    fn start(url: String, rate: u64, dbs: u64, seed: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let (stop_w, count_w) = (Arc::clone(&stop), Arc::clone(&count));
        let thread = thread::spawn(move || {
            let mut c = conn(&url, 0);
            let mut r = Rng(seed);
            let start = Instant::now();
            while !stop_w.load(Ordering::Relaxed) {
                write_one(&mut c, &mut r, dbs);
                let done = count_w.fetch_add(1, Ordering::Relaxed) + 1;
                let due = Duration::from_secs_f64(done as f64 / rate as f64);
                if let Some(ahead) = due.checked_sub(start.elapsed()) {
                    thread::sleep(ahead);
                }
            }
        });
        Load {
            stop,
            count,
            thread: Some(thread),
        }
    }

    /// Stops the writes; returns how many were made.
    fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.count.load(Ordering::SeqCst)
    }
}

/// A key's type, value (in a comparable form) and absolute expiry.
/// The expiry is exact (`PEXPIRETIME`) unless the last field says it was read through
/// `PTTL` (Redis 6.2).
fn read_key(
    c: &mut dyn redis::ConnectionLike,
    key: &[u8],
) -> Option<(String, Vec<Vec<u8>>, i64, bool)> {
    let ty: String = redis::cmd("TYPE").arg(key).query(c).ok()?;
    let bulk = |v: Value| -> Vec<Vec<u8>> {
        match v {
            Value::Array(a) => a
                .into_iter()
                .flat_map(|x| match x {
                    Value::BulkString(b) => vec![b],
                    Value::Array(inner) => inner
                        .into_iter()
                        .flat_map(|y| match y {
                            Value::BulkString(b) => vec![b],
                            Value::Array(kv) => kv
                                .into_iter()
                                .filter_map(|z| match z {
                                    Value::BulkString(b) => Some(b),
                                    _ => None,
                                })
                                .collect(),
                            _ => vec![],
                        })
                        .collect(),
                    Value::Int(i) => vec![i.to_string().into_bytes()],
                    _ => vec![],
                })
                .collect(),
            Value::BulkString(b) => vec![b],
            _ => vec![],
        }
    };
    let mut value = match ty.as_str() {
        "none" => return None,
        "string" => bulk(redis::cmd("GET").arg(key).query(c).ok()?),
        "list" => bulk(redis::cmd("LRANGE").arg(key).arg(0).arg(-1).query(c).ok()?),
        "set" => bulk(redis::cmd("SMEMBERS").arg(key).query(c).ok()?),
        "hash" => {
            let m: BTreeMap<Vec<u8>, Vec<u8>> = redis::cmd("HGETALL").arg(key).query(c).ok()?;
            m.into_iter().flat_map(|(k, v)| [k, v]).collect()
        }
        "zset" => bulk(
            redis::cmd("ZRANGE")
                .arg(key)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES")
                .query(c)
                .ok()?,
        ),
        "stream" => bulk(
            redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query(c)
                .ok()?,
        ),
        other => vec![other.as_bytes().to_vec()],
    };
    if ty == "set" {
        value.sort();
    }
    // Redis 6.2 has no PEXPIRETIME: PTTL from the server's clock (a few ms off).
    let (exp, approximate) = match redis::cmd("PEXPIRETIME").arg(key).query(c) {
        Ok(exp) => (exp, false),
        Err(_) => match redis::cmd("PTTL").arg(key).query::<i64>(c).ok()? {
            t if t < 0 => (t, false),
            t => {
                let (secs, micros): (i64, i64) = redis::cmd("TIME").query(c).ok()?;
                (secs * 1000 + micros / 1000 + t, true)
            }
        },
    };
    Some((ty, value, exp, approximate))
}

fn keys_of(c: &mut dyn redis::ConnectionLike) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).unwrap();
    keys.sort();
    keys
}

/// Source db `db` and target db `db` read back equal, key by key.
fn assert_equal(source: &str, target: &str, db: u64) -> usize {
    let mut s = conn(source, db);
    let mut t = conn(target, db);
    let sk = keys_of(&mut s);
    let tk = keys_of(&mut t);
    let now: i64 = {
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query(&mut s).unwrap();
        secs * 1000 + micros / 1000
    };
    // Keys expiring within a second of the comparison may be gone on one side.
    let mut checked = 0;
    for k in sk.iter().chain(tk.iter()) {
        let a = read_key(&mut s, k);
        let b = read_key(&mut t, k);
        let soon = |x: &Option<(String, Vec<Vec<u8>>, i64, bool)>| {
            x.as_ref().is_some_and(|x| x.2 > 0 && x.2 - now < 1000)
        };
        // Expiries read through PTTL (Redis 6.2) differ by the read's own delay.
        let same = match (&a, &b) {
            (Some(x), Some(y)) if x.3 || y.3 => x.0 == y.0 && x.1 == y.1 && (x.2 - y.2).abs() <= 50,
            _ => a == b,
        };
        if !(same || soon(&a) || soon(&b)) {
            panic!(
                "db {db} key {:?} differs: source {a:?}, target {b:?}",
                String::from_utf8_lossy(k)
            );
        }
        checked += 1;
    }
    checked
}

fn last_line(lines: &std::sync::Mutex<Vec<Json>>) -> Json {
    lines
        .lock()
        .unwrap()
        .last()
        .cloned()
        .expect("a final JSON line")
}

fn prefill(url: &str, dbs: u64) {
    let mut c = conn(url, 0);
    let mut r = Rng(7);
    for _ in 0..3000 {
        write_one(&mut c, &mut r, dbs);
    }
}

#[test]
fn sync_converges_under_load_with_killed_subscriptions_and_a_flush() {
    let source = Server::start(&NOTIFY);
    let target = Server::start(&[]);
    prefill(&source.url(), 4);
    let journal = temp_dir("sync-journal");
    let mut child = sync_cmd(&source.url(), &target.url(), &journal, &[]);
    let (lines, reader) = collect(&mut child);
    let mut load = Load::start(source.url(), 2000, 4, 11);
    wait_state(&lines, &["catching-up", "ready"], 30);
    thread::sleep(Duration::from_secs(2));
    source.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    thread::sleep(Duration::from_secs(2));
    source.cli(&["-n", "3", "FLUSHDB"]);
    thread::sleep(Duration::from_secs(1));
    source.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    thread::sleep(Duration::from_secs(2));
    let writes = load.stop();
    let (code, err) = wait(&mut child, 45);
    reader.join().unwrap();
    let last = last_line(&lines);
    assert_eq!(code, 0, "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "converged", "{last}");
    // Two killed subscriptions and one flush, each repaired.
    let causes: Vec<String> = last["repairs_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cause"].as_str().unwrap().to_string())
        .collect();
    assert!(
        causes.iter().filter(|c| c.contains("subscription")).count() >= 2,
        "{causes:?}"
    );
    assert!(causes.iter().any(|c| c.contains("FLUSH")), "{causes:?}");
    assert!(writes > 5000, "the load ran");
    let lags: Vec<u64> = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l["lag_ms_p99"].as_u64())
        .collect();
    assert!(!lags.is_empty());
    let checked: usize = (0..4)
        .map(|db| assert_equal(&source.url(), &target.url(), db))
        .sum();
    assert!(checked > 1000, "{checked} keys compared");
}

#[test]
fn killed_sync_resumes_from_its_journal_and_converges() {
    let source = Server::start(&NOTIFY);
    let target = Server::start(&[]);
    prefill(&source.url(), 4);
    let journal = temp_dir("sync-resume");
    let mut load = Load::start(source.url(), 2000, 4, 23);
    let mut first = sync_cmd(&source.url(), &target.url(), &journal, &[]);
    let (lines, reader) = collect(&mut first);
    wait_state(&lines, &["catching-up", "ready"], 30);
    thread::sleep(Duration::from_secs(1));
    first.kill().unwrap();
    first.wait().unwrap();
    reader.join().unwrap();
    // Writes go on while no sync runs.
    thread::sleep(Duration::from_secs(2));
    let mut second = sync_cmd(&source.url(), &target.url(), &journal, &[]);
    let (lines, reader) = collect(&mut second);
    thread::sleep(Duration::from_secs(3));
    load.stop();
    let (code, err) = wait(&mut second, 45);
    reader.join().unwrap();
    let last = last_line(&lines);
    assert_eq!(code, 0, "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "converged", "{last}");
    assert!(
        last["repairs_list"].to_string().contains("restart"),
        "the restart is a repaired gap: {last}"
    );
    for db in 0..4 {
        assert_equal(&source.url(), &target.url(), db);
    }
}

#[test]
fn late_snapshot_into_a_cluster_then_catch_up() {
    let source = Server::start(&NOTIFY);
    let cluster = Cluster::start();
    prefill(&source.url(), 1);
    let dir = temp_dir("sync-snapshot");
    let backup = dir.join("backup.rdb");
    let journal = dir.join("journal");
    let backup_s = backup.to_string_lossy().into_owned();
    let mut child = sync_cmd(
        &source.url(),
        &cluster.url(),
        &journal,
        &["--snapshot", &backup_s],
    );
    let (lines, reader) = collect(&mut child);
    let mut load = Load::start(source.url(), 1000, 1, 31);
    wait_state(&lines, &["waiting-for-snapshot"], 30);
    thread::sleep(Duration::from_secs(1));
    // The backup, taken after sync started: written aside, then moved in place.
    let data = source.save();
    let tmp = dir.join("backup.rdb.part");
    std::fs::write(&tmp, &data).unwrap();
    std::fs::rename(&tmp, &backup).unwrap();
    wait_state(&lines, &["catching-up", "ready"], 40);
    thread::sleep(Duration::from_secs(2));
    load.stop();
    let (code, err) = wait(&mut child, 45);
    reader.join().unwrap();
    let last = last_line(&lines);
    assert_eq!(code, 0, "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "converged", "{last}");
    assert!(
        last["snapshot"]["restored"].as_u64().unwrap() > 100,
        "{last}"
    );
    // Key by key, through a cluster client for the target.
    let nodes: Vec<String> = cluster.nodes.iter().map(Server::url).collect();
    let client = redis::cluster::ClusterClient::new(nodes).unwrap();
    let mut t = client.get_connection().unwrap();
    let mut s = conn(&source.url(), 0);
    let keys = keys_of(&mut s);
    let now: i64 = {
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query(&mut s).unwrap();
        secs * 1000 + micros / 1000
    };
    let mut target_total = 0u64;
    for n in &cluster.nodes {
        let mut c = conn(&n.url(), 0);
        let size: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        target_total += size;
    }
    for k in &keys {
        let a = read_key(&mut s, k);
        let b = read_key(&mut t, k);
        let soon = |x: &Option<(String, Vec<Vec<u8>>, i64, bool)>| {
            x.as_ref().is_some_and(|x| x.2 > 0 && x.2 - now < 1000)
        };
        assert!(
            a == b || soon(&a) || soon(&b),
            "key {:?}: source {a:?}, target {b:?}",
            String::from_utf8_lossy(k)
        );
    }
    let source_total = keys.len() as u64;
    assert!(
        target_total.abs_diff(source_total) <= 20,
        "target has {target_total} keys, source {source_total} (only expiring keys may differ)"
    );
}

#[test]
fn notifications_off_is_refused_naming_the_setting() {
    let target = Server::start(&[]);
    // CONFIG allowed: the setting is read and named.
    let source = Server::start(&["--notify-keyspace-events", "Kg"]);
    let journal = temp_dir("sync-off");
    let mut child = sync_cmd(&source.url(), &target.url(), &journal, &[]);
    let (lines, reader) = collect(&mut child);
    let (code, err) = wait(&mut child, 30);
    reader.join().unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("notify-keyspace-events") && err.contains("parameter group"),
        "{err}"
    );
    assert!(
        lines.lock().unwrap().is_empty(),
        "nothing reported as progress"
    );
    // CONFIG refused (as on ElastiCache): the probe finds that no event arrives.
    let source = Server::start(&["--rename-command", "CONFIG", ""]);
    let mut child = sync_cmd(&source.url(), &target.url(), &journal, &[]);
    let (_, reader) = collect(&mut child);
    let (code, err) = wait(&mut child, 30);
    reader.join().unwrap();
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no keyspace notification arrived") && err.contains("parameter group"),
        "{err}"
    );
    // Nothing was copied.
    let mut t = conn(&target.url(), 0);
    assert!(keys_of(&mut t).is_empty());
}

#[test]
fn until_ready_ends_at_ready_under_load() {
    let source = Server::start(&NOTIFY);
    let target = Server::start(&[]);
    prefill(&source.url(), 2);
    let journal = temp_dir("sync-ready");
    let mut load = Load::start(source.url(), 1000, 2, 5);
    let mut child = sync_cmd(
        &source.url(),
        &target.url(),
        &journal,
        &["--until", "ready"],
    );
    let (lines, reader) = collect(&mut child);
    let (code, err) = wait(&mut child, 40);
    reader.join().unwrap();
    load.stop();
    let last = last_line(&lines);
    assert_eq!(code, 0, "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "ready", "{last}");
    assert_eq!(last["state"], "ready", "{last}");
    assert!(last["backlog"].as_u64().unwrap() <= 1000, "{last}");
    assert!(last["compare"].is_null(), "no final comparison at ready");
    // Every line before the last is a running status.
    for l in lines.lock().unwrap().iter().rev().skip(1) {
        assert_eq!(l["verdict"], "running", "{l}");
    }
}

/// A backup already on disk when sync starts was taken before capture began: the
/// writes made since are in neither. Sync must notice (the file's `ctime` is not after
/// the source's clock at capture), re-scan both sides, and only then say `ready`,
/// with the target equal to the source. Without the re-scan `ready` would be a false
/// success: the keys written after the backup would be missing.
#[test]
fn snapshot_older_than_the_capture_is_repaired_before_ready() {
    let source = Server::start(&NOTIFY);
    let target = Server::start(&[]);
    prefill(&source.url(), 1);
    let dir = temp_dir("sync-old-snapshot");
    let backup = dir.join("backup.rdb");
    std::fs::write(&backup, source.save()).unwrap();
    // Written after the backup, before sync runs: only a re-scan can find these.
    let mut c = conn(&source.url(), 0);
    for i in 0..200 {
        redis::cmd("SET")
            .arg(format!("after-backup:{i}"))
            .arg(i)
            .query::<()>(&mut c)
            .unwrap();
    }
    let gone: Vec<Vec<u8>> = keys_of(&mut c).into_iter().take(50).collect();
    for k in &gone {
        redis::cmd("DEL").arg(k).query::<()>(&mut c).unwrap();
    }
    let backup_s = backup.to_string_lossy().into_owned();
    let mut child = sync_cmd(
        &source.url(),
        &target.url(),
        &dir.join("journal"),
        &["--snapshot", &backup_s, "--until", "ready"],
    );
    let (lines, reader) = collect(&mut child);
    let (code, err) = wait(&mut child, 60);
    reader.join().unwrap();
    let last = last_line(&lines);
    assert_eq!(code, 0, "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "ready", "{last}");
    assert!(
        last["repairs_list"]
            .to_string()
            .contains("before change capture was proven"),
        "{last}"
    );
    let checked = assert_equal(&source.url(), &target.url(), 0);
    assert!(checked > 1000, "{checked} keys compared");
}

/// Catch-up into an older target goes through restore's payload stage: into Redis
/// 6.2 (RDB 9) the source's RDB 10 DUMP payloads (listpack hashes and zsets,
/// quicklist2 lists, v2 streams) are re-encoded, or with `--mode commands` written as
/// plain commands; both converge with equal data.
#[test]
fn catch_up_into_redis_6_2_reencodes_or_writes_commands() {
    let source = Server::start(&NOTIFY);
    prefill(&source.url(), 1);
    for (tag, extra) in [
        ("sync-62", &[][..]),
        ("sync-62-commands", &["--mode", "commands"][..]),
    ] {
        let target = Server::start_bin(&redis62(), &[], false, Vec::new());
        let journal = temp_dir(tag);
        let mut child = sync_cmd(&source.url(), &target.url(), &journal, extra);
        let (lines, reader) = collect(&mut child);
        let mut load = Load::start(source.url(), 500, 1, 31);
        wait_state(&lines, &["catching-up", "ready"], 30);
        thread::sleep(Duration::from_secs(2));
        load.stop();
        let (code, err) = wait(&mut child, 45);
        reader.join().unwrap();
        let last = last_line(&lines);
        assert_eq!(code, 0, "{tag}: stderr: {err}\nlast: {last}");
        assert_eq!(last["verdict"], "converged", "{tag}: {last}");
        // The report says how: every collection's RDB 10 payload needed one of the two.
        let how = if extra.is_empty() {
            "reencoded"
        } else {
            "commands"
        };
        let converted = last["conversions"][how].as_u64().unwrap_or(0);
        assert!(converted > 0, "{tag}: no {how} counted: {last}");
        let checked = assert_equal(&source.url(), &target.url(), 0);
        assert!(checked > 500, "{tag}: {checked} keys compared");
    }
}
