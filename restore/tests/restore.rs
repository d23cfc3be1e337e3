//! Restores into real `/usr/bin/redis-server` 7.0 processes, then reads the target
//! back (`SAVE` → `dump.rdb` → rdb-parser) and compares with the fixture manifests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use rdb_parser::{Rdb, Record};
use rdb_restore::glob::Glob;
use rdb_restore::{
    restore, verify, ConflictPolicy, Error, Progress, Reply, RestoreOptions, RestoreReport,
    SkipReason, SourceFile, Target, TargetConfig, VerifyOptions,
};
use support::{assert_restored, fixture, manifest, manifest_keys, Server};

fn target(server: &Server) -> Target {
    Target::new(&TargetConfig {
        url: server.url(),
        ..TargetConfig::default()
    })
    .expect("target")
}

fn run(server: &Server, data: &[u8], options: &RestoreOptions) -> Result<RestoreReport, Error> {
    run_with(server, data, options, &Progress::default())
}

fn run_with(
    server: &Server,
    data: &[u8],
    options: &RestoreOptions,
    progress: &Progress,
) -> Result<RestoreReport, Error> {
    let file = SourceFile {
        name: "input.rdb",
        rdb: Rdb::parse(data).expect("parse"),
    };
    restore(&target(server), &[file], options, progress)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

#[test]
fn restores_fixtures_of_three_generations() {
    for name in ["redis-7.0.15", "redis-6.2.14", "redis-2.4.18"] {
        let server = Server::start(&[]);
        let data = read(&format!("{name}.rdb"));
        let report = run(&server, &data, &RestoreOptions::default()).expect("restore");
        let n = manifest_keys(&manifest(name)).len() as u64;
        assert_eq!(
            (
                report.restored,
                report.failed,
                report.skipped,
                report.expired
            ),
            (n, 0, 0, 0),
            "{name}: {:?}",
            report.errors
        );
        assert_eq!(report.keys(), n);
        let caps = report.target.as_ref().expect("caps");
        assert_eq!(
            (caps.rdb_version, caps.rdb_version_source),
            (10, "DUMP probe")
        );
        let has_functions = name == "redis-7.0.15";
        assert_eq!(report.functions.restored, if has_functions { 2 } else { 0 });
        assert_restored(name, &server.save(), |_| true, |d| d, has_functions);
        if has_functions {
            let list = server.cli(&["FUNCTION", "LIST"]);
            assert!(
                list.contains("fixturelib") && list.contains("otherlib"),
                "{list}"
            );
        }
    }
}

fn freqs(data: &[u8]) -> BTreeMap<(u64, Vec<u8>), Option<u8>> {
    Rdb::parse(data)
        .expect("parse")
        .records()
        .filter_map(|r| match r.expect("record") {
            Record::Key(k) => Some(((k.db, k.key.to_vec()), k.freq)),
            _ => None,
        })
        .collect()
}

#[test]
fn lfu_counters_travel_with_freq() {
    let server = Server::start(&["--maxmemory-policy", "allkeys-lfu"]);
    let data = read("redis-7.0.15-lfu.rdb");
    // Small batches and one connection per depth so several pipelines are exercised.
    let options = RestoreOptions::default()
        .batch_keys(7)
        .connections(3)
        .pipeline_depth(3);
    let report = run(&server, &data, &options).expect("restore");
    assert_eq!(
        (report.restored, report.failed),
        (113, 0),
        "{:?}",
        report.errors
    );
    let dump = server.save();
    assert_restored("redis-7.0.15-lfu", &dump, |_| true, |d| d, true);
    let (src, dst) = (freqs(&data), freqs(&dump));
    assert!(src.values().all(Option::is_some));
    assert_eq!(src, dst, "FREQ counters");
}

#[test]
fn conflict_policies() {
    let server = Server::start(&[]);
    let data = read("redis-7.0.15.rdb");
    let opts = |p| {
        let mut o = RestoreOptions::default();
        o.plan.on_conflict = p;
        o
    };
    run(&server, &data, &opts(ConflictPolicy::Fail)).expect("first restore");
    server.cli(&["SET", "str:ascii", "changed"]);

    // `fail` into a target holding the snapshot's keys: refused before writing.
    let err = run(&server, &data, &opts(ConflictPolicy::Fail)).expect_err("fail policy");
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    assert!(err.to_string().contains("--on-conflict skip"), "{err}");
    assert_eq!(server.cli(&["GET", "str:ascii"]).trim(), "changed");
    // Libraries that exist fail one by one with BUSYKEY (keys flushed, libraries kept).
    server.cli(&["FLUSHALL"]);
    let r = run(&server, &data, &opts(ConflictPolicy::Fail)).expect("fail policy");
    assert_eq!((r.restored, r.failed, r.functions.failed), (113, 0, 2));
    assert!(r.has_failures());
    assert_eq!(r.failures_by_cause.get("BUSYKEY"), Some(&2));
    assert!(
        r.errors.iter().all(|e| e.error.starts_with("BUSYKEY")),
        "{:?}",
        r.errors
    );
    // Back to the state before (str:ascii changed) for the policies below.
    server.cli(&["SET", "str:ascii", "changed"]);

    let r = run(&server, &data, &opts(ConflictPolicy::Skip)).expect("skip policy");
    assert_eq!(
        (r.restored, r.failed, r.skipped_for(SkipReason::Exists)),
        (0, 0, 113)
    );
    assert_eq!(r.functions.skipped, 2);
    assert!(!r.has_failures());
    assert_eq!(server.cli(&["GET", "str:ascii"]).trim(), "changed");

    let r = run(&server, &data, &opts(ConflictPolicy::Replace)).expect("replace policy");
    assert_eq!((r.restored, r.failed), (113, 0));
    assert_eq!(r.functions.restored, 2);
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);
}

#[test]
fn single_db_target_is_refused_before_writing() {
    let server = Server::start(&["--databases", "1"]);
    let data = read("redis-7.0.15.rdb");
    let err = run(&server, &data, &RestoreOptions::default()).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::SingleDbTarget { .. }), "{msg}");
    assert!(
        msg.contains("1, 5, 15") && msg.contains("--db") && msg.contains("--db-map"),
        "{msg}"
    );
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
    assert_eq!(server.cli(&["FUNCTION", "LIST"]).trim(), "");

    // db 0 plus db 5 mapped onto it is fine.
    let mut o = RestoreOptions::default();
    o.plan.dbs = [0, 5].into();
    o.plan.db_map.insert(5, 0);
    let r = run(&server, &data, &o).expect("restore db 0 + 5");
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    assert_eq!(r.skipped_for(SkipReason::Db), 5);
    assert_restored(
        "redis-7.0.15",
        &server.save(),
        |k| k.0 == 0 || k.0 == 5,
        |d| if d == 5 { 0 } else { d },
        true,
    );
}

#[test]
fn db_selection_and_mapping() {
    let server = Server::start(&[]);
    let data = read("redis-7.0.15.rdb");
    let mut o = RestoreOptions::default();
    o.plan.dbs = [1, 15].into();
    o.plan.db_map.insert(1, 3);
    o.functions = false;
    let r = run(&server, &data, &o).expect("restore");
    assert_eq!((r.restored, r.skipped_for(SkipReason::Db)), (5, 108));
    assert_eq!(r.functions.skipped, 2);
    assert_restored(
        "redis-7.0.15",
        &server.save(),
        |k| k.0 == 1 || k.0 == 15,
        |d| if d == 1 { 3 } else { d },
        false,
    );
}

#[test]
fn key_pattern_and_type_filters() {
    let server = Server::start(&[]);
    let data = read("redis-6.2.14.rdb");
    let mut o = RestoreOptions::default();
    o.plan.key_patterns = vec![Glob::new(b"str:int:*"), Glob::new(b"*:s[et]?")];
    o.plan.types = vec![
        rdb_parser::LogicalType::String,
        rdb_parser::LogicalType::Set,
    ];
    let r = run(&server, &data, &o).expect("restore");
    let keep = |k: &support::KeyFact| {
        (k.2 == "string" || k.2 == "set")
            && [Glob::new(b"str:int:*"), Glob::new(b"*:s[et]?")]
                .iter()
                .any(|g| g.matches(&k.1))
    };
    let m = manifest_keys(&manifest("redis-6.2.14"));
    let kept = m.iter().filter(|k| keep(k)).count() as u64;
    assert!(kept > 20, "{kept}");
    assert_eq!(r.restored, kept);
    assert_eq!(
        r.skipped_for(SkipReason::Pattern) + r.skipped_for(SkipReason::Type),
        m.len() as u64 - kept
    );
    assert_restored("redis-6.2.14", &server.save(), keep, |d| d, false);
}

/// A hand-made RDB 10 file: `old` expired in 1970, `future` expiring in 2100,
/// `plain` without expiry.
fn expiring_snapshot() -> Vec<u8> {
    let mut f = b"REDIS0010\xfe\x00".to_vec();
    f.push(0xfc);
    f.extend_from_slice(&1000i64.to_le_bytes());
    f.extend_from_slice(b"\x00\x03old\x01x");
    f.push(0xfc);
    f.extend_from_slice(&4_102_444_800_000i64.to_le_bytes());
    f.extend_from_slice(b"\x00\x06future\x01y");
    f.extend_from_slice(b"\x00\x05plain\x01z");
    f.push(0xff);
    let crc = rdb_parser::crc::crc64(0, &f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn expired_keys_are_skipped_and_counted() {
    let server = Server::start(&[]);
    let r = run(&server, &expiring_snapshot(), &RestoreOptions::default()).expect("restore");
    assert_eq!((r.restored, r.expired, r.failed, r.skipped), (2, 1, 0, 0));
    assert_eq!(server.cli(&["EXISTS", "old"]).trim(), "0");
    assert_eq!(
        server.cli(&["PEXPIRETIME", "future"]).trim(),
        "4102444800000"
    );
    assert_eq!(server.cli(&["GET", "plain"]).trim(), "z");
}

#[test]
fn newer_types_are_refused_up_front_then_reencoded() {
    // Hashes with field TTLs cannot go to 7.0 under the default `--hash-field-ttl
    // fail`: the run is refused before its first write, naming the flag (a half-filled
    // target is worse than none); with `drop`, every other type is re-encoded (issue 5).
    let server = Server::start(&[]);
    let data = read("redis-7.4.1.rdb");
    let err = run(&server, &data, &RestoreOptions::default()).expect_err("refused");
    let msg = err.to_string();
    assert!(matches!(err, Error::Refused { .. }), "{msg}");
    assert!(
        msg.contains("RDB 10") && msg.contains("--hash-field-ttl drop"),
        "{msg}"
    );
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");
    let mut o = RestoreOptions::default();
    o.plan.field_ttls = rdb_parser::reencode::FieldTtlPolicy::Drop;
    let r = run(&server, &data, &o).expect("restore");
    assert_eq!(r.failed, 0, "{:?}", r.errors);
    assert!(r.conversions.reencoded > 0 && r.conversions.field_ttls_dropped > 0);
    assert_eq!(r.keys(), 118);
}

/// An embedder's own commands: replies as this crate's `Reply`, an error reply as
/// `Error::Command` naming the server and the command.
#[test]
fn connection_query_speaks_this_crates_types() {
    let server = Server::start(&[]);
    let target = target(&server);
    let mut conn = target.connect().expect("connect");
    assert_eq!(
        conn.query(&["SET", "k", "v"]).expect("SET"),
        Reply::Status("OK".to_string())
    );
    assert_eq!(
        conn.query(&[b"GET".as_slice(), b"k"])
            .expect("GET")
            .as_bytes(),
        Some(&b"v"[..])
    );
    assert_eq!(
        conn.query(&["EXISTS", "k", "nope"]).expect("EXISTS"),
        Reply::Int(1)
    );
    assert_eq!(conn.query(&["GET", "nope"]).expect("GET"), Reply::Nil);
    match conn.query(&["incr", "k"]) {
        Err(Error::Command {
            target: server_name,
            command,
            reply,
        }) => {
            assert_eq!(server_name, target.address());
            assert_eq!(command, "INCR");
            assert!(reply.contains("not an integer"), "{reply}");
        }
        other => panic!("INCR of a string: {other:?}"),
    }
    // The connection is still usable after an error reply.
    assert_eq!(conn.query(&["DBSIZE"]).expect("DBSIZE"), Reply::Int(1));
}

/// A snapshot of `keys` string keys, saved by a real server.
fn populated_snapshot(keys: u64) -> Vec<u8> {
    let source = Server::start(&[]);
    let populate = format!("for i=1,{keys} do redis.call('SET', 'key:' .. i, i) end");
    source.cli(&["EVAL", &populate, "0"]);
    source.save()
}

/// Runs `run` while another thread calls `progress.cancel()` once `after` keys are
/// done (as a Ctrl-C handler or an embedder's stop button would).
fn cancel_after<T>(progress: &Progress, after: u64, run: impl FnOnce() -> T) -> T {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if progress.keys.load(Ordering::Relaxed) >= after {
                    progress.cancel();
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        });
        let result = run();
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// `Progress::cancel` from another thread stops a restore part-way: the run ends
/// with `Error::Stopped { Interrupted }` and a report in which every key of the
/// snapshot is in exactly one bucket, and the target holds exactly the keys reported
/// restored.
#[test]
fn cancel_stops_a_restore_with_every_key_accounted() {
    const KEYS: u64 = 20_000;
    let data = populated_snapshot(KEYS);
    let target_server = Server::start(&[]);
    // Throttled so that the run is still going when the cancel arrives.
    let options = RestoreOptions::default().max_ops(Some(2_000));
    let progress = Progress::default();
    let result = cancel_after(&progress, 500, || {
        run_with(&target_server, &data, &options, &progress)
    });
    let Err(Error::Stopped { cause, report }) = result else {
        panic!("expected a stopped run, got {result:?}");
    };
    assert!(matches!(*cause, Error::Interrupted), "{cause}");
    assert_eq!(report.snapshot_keys, KEYS);
    assert!(report.restored >= 500, "{report:?}");
    assert!(report.not_done() > 0, "{report:?}");
    assert_eq!(
        report.restored + report.skipped + report.expired + report.failed + report.not_done(),
        KEYS
    );
    let dbsize: u64 = target_server
        .cli(&["DBSIZE"])
        .trim()
        .parse()
        .expect("DBSIZE");
    assert_eq!(dbsize, report.restored);
}

/// The same hook stops a verify: `Error::Interrupted`, never a report that would
/// read as a clean (or partial) verdict.
#[test]
fn cancel_stops_a_verify() {
    const KEYS: u64 = 20_000;
    let data = populated_snapshot(KEYS);
    let target_server = Server::start(&[]);
    let restored = run(&target_server, &data, &RestoreOptions::default()).expect("restore");
    assert_eq!(restored.restored, KEYS);
    let options = VerifyOptions::default().max_ops(Some(2_000));
    let progress = Progress::default();
    let file = SourceFile {
        name: "populated.rdb",
        rdb: Rdb::parse(&data).expect("parse"),
    };
    let result = cancel_after(&progress, 500, || {
        verify(&target(&target_server), &[file], &options, &progress)
    });
    assert!(matches!(result, Err(Error::Interrupted)), "{result:?}");
}
