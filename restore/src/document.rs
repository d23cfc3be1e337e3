//! The JSON documents `rdbkit restore`, `rdbkit verify` and `rdbkit info` print with
//! `--format json` (feature `serde`), as library types: a program embedding the crate gets the
//! same document by serializing one of these (README "Output conventions").
//!
//! Each opens with its `verdict`. The reports themselves ([`RestoreReport`],
//! [`VerifyReport`]) serialize their fields as they are; a document adds what a reader
//! of one run needs beside them: the verdict, derived counts (`not_done`,
//! `counts_match`), file names instead of indexes, the fix for each failure cause.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::commands::ConversionCounts;
use crate::convert::ConvertReport;
use crate::live::info::{DbKeys, NodeMetrics, Totals, Unavailable};
use crate::plan::SkipReason;
use crate::report::{cause_hint, FunctionCounts, RestoreReport};
use crate::sync::compare::{DbCompare, Difference};
use crate::sync::{Repair, SyncFailure, SyncReport, SyncStatus};
use crate::verify::{DbCounts, Finding, VerifyReport, VerifyTarget, Why};

/// Seconds rounded to the millisecond (a document is read by people too).
fn millis(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// `rdbkit restore --format json`: `{"verdict": "ok"|"failed"|"stopped",
/// "snapshot_keys", "restored", "skipped", "failed", "expired", "not_done", "retried",
/// "failures_by_cause": {CAUSE: {"count", "hint"}}, "bytes", "seconds", "errors":
/// [{"file", "db", "key", "function", "cause", "error"}], "skipped_by": {reason: n},
/// "functions": {"restored", "skipped", "failed"}, "resumed", "redirected", "target":
/// {"version", "rdb_version", "rdb_version_source", "cluster"}, "conversions": {...},
/// "error"}` (`error` only for a stopped run). `db` is `null` for a function library
/// (its name is the `key`). `snapshot_keys = restored + skipped + expired + failed +
/// not_done` always holds.
#[derive(Debug, Serialize)]
pub struct RestoreDocument<'r> {
    verdict: &'static str,
    snapshot_keys: u64,
    restored: u64,
    skipped: u64,
    failed: u64,
    expired: u64,
    not_done: u64,
    retried: u64,
    failures_by_cause: BTreeMap<&'r str, CauseCount>,
    bytes: u64,
    seconds: f64,
    errors: Vec<ErrorEntry<'r>>,
    #[serde(serialize_with = "crate::ser::pairs_as_map")]
    skipped_by: &'r [(SkipReason, u64)],
    functions: &'r FunctionCounts,
    resumed: bool,
    redirected: u64,
    target: Option<RestoreTarget<'r>>,
    conversions: &'r ConversionCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Debug, Serialize)]
struct CauseCount {
    count: u64,
    hint: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct ErrorEntry<'r> {
    file: Option<&'r str>,
    db: Option<u64>,
    #[serde(serialize_with = "rdb_parser::serde_bytes::serialize")]
    key: &'r [u8],
    function: bool,
    cause: &'r str,
    error: &'r str,
}

#[derive(Debug, Serialize)]
struct RestoreTarget<'r> {
    version: Option<&'r str>,
    rdb_version: u16,
    rdb_version_source: &'static str,
    cluster: bool,
}

impl<'r> RestoreDocument<'r> {
    /// The document of a finished run: verdict `failed` when a key or library failed,
    /// else `ok`. `files` are the snapshot names in the order given to
    /// [`restore()`](crate::restore()) (errors name their file).
    pub fn new(report: &'r RestoreReport, files: &'r [String]) -> RestoreDocument<'r> {
        RestoreDocument {
            verdict: if report.has_failures() {
                "failed"
            } else {
                "ok"
            },
            snapshot_keys: report.snapshot_keys,
            restored: report.restored,
            skipped: report.skipped,
            failed: report.failed,
            expired: report.expired,
            not_done: report.not_done(),
            retried: report.retried,
            failures_by_cause: report
                .failures_by_cause
                .iter()
                .map(|(cause, &count)| {
                    let hint = cause_hint(cause);
                    (cause.as_str(), CauseCount { count, hint })
                })
                .collect(),
            bytes: report.bytes,
            seconds: millis(report.seconds),
            errors: report
                .errors
                .iter()
                .map(|e| ErrorEntry {
                    file: files.get(e.file).map(String::as_str),
                    db: e.db,
                    key: &e.key,
                    function: e.db.is_none(),
                    cause: &e.cause,
                    error: &e.error,
                })
                .collect(),
            skipped_by: &report.skipped_by,
            functions: &report.functions,
            resumed: report.resumed,
            redirected: report.redirected,
            target: report.target.as_ref().map(|t| RestoreTarget {
                version: t.version.as_deref(),
                rdb_version: t.rdb_version,
                rdb_version_source: t.rdb_version_source,
                cluster: t.cluster,
            }),
            conversions: &report.conversions,
            error: None,
        }
    }

    /// The document of a run that stopped part-way (verdict `stopped`), with the
    /// error that stopped it.
    pub fn stopped(mut self, error: String) -> RestoreDocument<'r> {
        self.verdict = "stopped";
        self.error = Some(error);
        self
    }
}

/// `rdbkit verify --format json`: `{"verdict": "ok"|"different", "matched",
/// "missing", "different", "extra", "expired_since_snapshot", "examples": [{"db",
/// "key", "why", "detail"}], "different_by": {kind: n}, "dbs": [{"db", "snapshot",
/// "snapshot_live", "target", "compared", "match"}], "counts_match", "snapshot_keys",
/// "checked", "sampled", "scanned", "extra_by_count", "seconds", "target": {"version",
/// "cluster", "masters", "exact_ttl"}}`. `db` is the target database; `why` is
/// `missing`, `type`, `value`, `field_ttls`, `ttl`, `unreadable`, `extra` or
/// `expired_since_snapshot`.
#[derive(Debug, Serialize)]
pub struct VerifyDocument<'r> {
    verdict: &'static str,
    matched: u64,
    missing: u64,
    different: u64,
    extra: u64,
    expired_since_snapshot: u64,
    examples: &'r [Finding],
    #[serde(serialize_with = "crate::ser::pairs_as_map")]
    different_by: &'r [(Why, u64)],
    dbs: Vec<DbEntry<'r>>,
    counts_match: bool,
    snapshot_keys: u64,
    checked: u64,
    sampled: bool,
    scanned: u64,
    extra_by_count: bool,
    seconds: f64,
    target: Option<&'r VerifyTarget>,
}

#[derive(Debug, Serialize)]
struct DbEntry<'r> {
    #[serde(flatten)]
    counts: &'r DbCounts,
    #[serde(rename = "match")]
    matches: bool,
}

impl<'r> VerifyDocument<'r> {
    /// The document of a verification: verdict `different` when
    /// [`VerifyReport::has_differences`], else `ok`.
    pub fn new(report: &'r VerifyReport) -> VerifyDocument<'r> {
        VerifyDocument {
            verdict: if report.has_differences() {
                "different"
            } else {
                "ok"
            },
            matched: report.matched,
            missing: report.missing,
            different: report.different,
            extra: report.extra,
            expired_since_snapshot: report.expired_since_snapshot,
            examples: &report.examples,
            different_by: &report.different_by,
            dbs: report
                .dbs
                .iter()
                .map(|d| DbEntry {
                    counts: d,
                    matches: d.matches(),
                })
                .collect(),
            counts_match: report.counts_match(),
            snapshot_keys: report.snapshot_keys,
            checked: report.checked,
            sampled: report.sampled,
            scanned: report.scanned,
            extra_by_count: report.extra_by_count,
            seconds: millis(report.seconds),
            target: report.target.as_ref(),
        }
    }
}

/// `rdbkit info --format json`: `{"verdict": "ok", "nodes": [{"url", "address",
/// "metrics": {NAME: value}, "config", "unavailable": [{"what", "reason"}]}],
/// "totals_over_primaries", "metrics": {NAME: value}}`. Metric names are the
/// OpenTelemetry `redisreceiver` ones; `redis.db.keys` and `redis.db.expires` are
/// `{"total", "by_db": {"0": n}}`, `redis.db.avg_ttl` `{"by_db": ...}`; a primary lists
/// `redis.replication.replicas` (`address`, `state`, `offset`, `behind_bytes`,
/// `lag_seconds`), a replica its `redis.replication.replica_offset` and
/// `redis.replication.master_link_status`. The top-level `metrics` sum the primaries.
#[derive(Debug, Serialize)]
pub struct InfoDocument<'r> {
    verdict: &'static str,
    nodes: Vec<InfoNode<'r>>,
    totals_over_primaries: usize,
    metrics: TotalMetrics<'r>,
}

#[derive(Debug, Serialize)]
struct InfoNode<'r> {
    url: &'r str,
    address: &'r str,
    metrics: NodeMetricMap<'r>,
    config: &'r BTreeMap<String, String>,
    unavailable: &'r [Unavailable],
}

impl<'r> InfoDocument<'r> {
    /// The document of the nodes read, each with the URL it was reached through
    /// (credentials removed: [`crate::target::redact_url`]), and their totals.
    pub fn new(nodes: &'r [(String, NodeMetrics)], totals: &'r Totals) -> InfoDocument<'r> {
        InfoDocument {
            verdict: "ok",
            nodes: nodes
                .iter()
                .map(|(url, n)| InfoNode {
                    url,
                    address: &n.address,
                    metrics: NodeMetricMap(n),
                    config: &n.config,
                    unavailable: &n.unavailable,
                })
                .collect(),
            totals_over_primaries: totals.primaries,
            metrics: TotalMetrics(totals),
        }
    }
}

/// `{"total"?, "by_db": {db: n}}`.
#[derive(Debug, Serialize)]
struct ByDb {
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    by_db: BTreeMap<u64, u64>,
}

impl ByDb {
    fn of(ks: &BTreeMap<u64, DbKeys>, f: impl Fn(&DbKeys) -> u64, total: bool) -> ByDb {
        ByDb {
            total: total.then(|| ks.values().map(&f).sum()),
            by_db: ks.iter().map(|(db, d)| (*db, f(d))).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct ReplicaEntry<'r> {
    address: &'r str,
    state: &'r str,
    offset: i64,
    behind_bytes: i64,
    lag_seconds: Option<i64>,
}

#[derive(Debug)]
struct NodeMetricMap<'r>(&'r NodeMetrics);

impl Serialize for NodeMetricMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("redis.db.keys", &ByDb::of(&n.keyspace, |d| d.keys, true))?;
        m.serialize_entry(
            "redis.db.expires",
            &ByDb::of(&n.keyspace, |d| d.expires, true),
        )?;
        m.serialize_entry(
            "redis.db.avg_ttl",
            &ByDb::of(&n.keyspace, |d| d.avg_ttl, false),
        )?;
        for (name, v) in &n.scalars {
            m.serialize_entry(name, v)?;
        }
        if n.is_primary() {
            let primary = n.int("redis.replication.offset").unwrap_or(0);
            let replicas: Vec<ReplicaEntry<'_>> = n
                .replicas
                .iter()
                .map(|r| ReplicaEntry {
                    address: &r.address,
                    state: &r.state,
                    offset: r.offset,
                    behind_bytes: primary.saturating_sub(r.offset),
                    lag_seconds: r.lag,
                })
                .collect();
            m.serialize_entry("redis.replication.replicas", &replicas)?;
        } else {
            if let Some(o) = n.replica_offset {
                m.serialize_entry("redis.replication.replica_offset", &o)?;
            }
            if let Some(l) = &n.master_link_status {
                m.serialize_entry("redis.replication.master_link_status", l)?;
            }
        }
        m.end()
    }
}

#[derive(Debug)]
struct TotalMetrics<'r>(&'r Totals);

impl Serialize for TotalMetrics<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let t = self.0;
        let mut m = serializer.serialize_map(None)?;
        m.serialize_entry("redis.db.keys", &ByDb::of(&t.keyspace, |d| d.keys, true))?;
        m.serialize_entry(
            "redis.db.expires",
            &ByDb::of(&t.keyspace, |d| d.expires, true),
        )?;
        for (name, v) in &t.sums {
            m.serialize_entry(name, v)?;
        }
        m.end()
    }
}

/// `rdbkit convert --format json`: `{"verdict": "ok", "target", "snapshot_keys",
/// "written", "verbatim", "reencoded", "filtered", "expired", "duplicates",
/// "outside_split", "dropped": {"field_ttls", "expired_fields", "stream_metadata",
/// "active_times", "idmp", "key_meta"}, "functions": {"written", "dropped",
/// "duplicates", "saved_to"}, "module_aux", "outputs": [{"file", "slots": ["a-b"],
/// "keys", "dbs": {DB: {"keys", "expires"}}, "functions", "used_mem", "bytes"}],
/// "seconds"}`. `file` is `null` for an output written to stdout.
#[derive(Debug, Serialize)]
pub struct ConvertDocument<'r> {
    verdict: &'static str,
    target: &'r str,
    snapshot_keys: u64,
    written: u64,
    verbatim: u64,
    reencoded: u64,
    filtered: u64,
    expired: u64,
    duplicates: u64,
    outside_split: u64,
    dropped: ConvertDropped,
    functions: ConvertFunctions<'r>,
    module_aux: u64,
    outputs: Vec<ConvertOutput<'r>>,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct ConvertDropped {
    field_ttls: u64,
    expired_fields: u64,
    stream_metadata: u64,
    active_times: u64,
    idmp: u64,
    key_meta: u64,
}

#[derive(Debug, Serialize)]
struct ConvertFunctions<'r> {
    written: u64,
    dropped: u64,
    duplicates: u64,
    saved_to: &'r [String],
}

#[derive(Debug, Serialize)]
struct ConvertOutput<'r> {
    file: Option<&'r str>,
    slots: Vec<String>,
    keys: u64,
    dbs: &'r BTreeMap<u64, crate::convert::DbCounts>,
    functions: u64,
    used_mem: u64,
    bytes: u64,
}

impl<'r> ConvertDocument<'r> {
    /// The document of a finished conversion. `written` are the output files' names
    /// by [`OutputReport::index`](crate::convert::OutputReport::index) (none when
    /// the output went to stdout), `saved` the files the dropped libraries' code went
    /// to.
    pub fn new(
        report: &'r ConvertReport,
        written: &'r [String],
        saved: &'r [String],
    ) -> ConvertDocument<'r> {
        let c = &report.conversion;
        ConvertDocument {
            verdict: "ok",
            target: &report.target,
            snapshot_keys: report.snapshot_keys,
            written: report.written,
            verbatim: report.verbatim,
            reencoded: c.reencoded,
            filtered: report.filtered,
            expired: report.expired,
            duplicates: report.duplicates,
            outside_split: report.outside_split,
            dropped: ConvertDropped {
                field_ttls: c.field_ttls_dropped,
                expired_fields: c.expired_fields,
                stream_metadata: c.stream_metadata_dropped,
                active_times: c.active_times_dropped,
                idmp: c.idmp_dropped,
                key_meta: report.key_meta_dropped,
            },
            functions: ConvertFunctions {
                written: report.functions.written,
                dropped: report.functions.dropped,
                duplicates: report.functions.duplicates,
                saved_to: saved,
            },
            module_aux: report.module_aux,
            outputs: report
                .outputs
                .iter()
                .map(|o| ConvertOutput {
                    file: written.get(o.index).map(String::as_str),
                    slots: o.slots.iter().map(|(a, b)| format!("{a}-{b}")).collect(),
                    keys: o.keys,
                    dbs: &o.dbs,
                    functions: o.functions,
                    used_mem: o.used_mem,
                    bytes: o.bytes,
                })
                .collect(),
            seconds: millis(report.seconds),
        }
    }
}

/// The document of a command refused before it wrote anything: `{"verdict":
/// "refused", "error"}` (`rdbkit convert`).
#[derive(Debug, Serialize)]
pub struct RefusedDocument<'r> {
    verdict: &'static str,
    error: &'r str,
}

impl<'r> RefusedDocument<'r> {
    /// The refusal, with the error that caused it.
    pub fn new(error: &'r str) -> RefusedDocument<'r> {
        RefusedDocument {
            verdict: "refused",
            error,
        }
    }
}

/// One line of `rdbkit sync --format jsonl` while the run goes on: `{"verdict":
/// "running", "state", "elapsed_s", "backlog", "oldest_dirty_ms", "events", "applied",
/// "deleted", "lag_ms_p50", "lag_ms_p99", "repairs", "errors", "failed"}` (the fields of
/// [`SyncStatus`]).
#[derive(Debug, Serialize)]
pub struct SyncStatusDocument<'r> {
    verdict: &'static str,
    #[serde(flatten)]
    status: &'r SyncStatus,
}

impl<'r> SyncStatusDocument<'r> {
    /// The line of one status report.
    pub fn new(status: &'r SyncStatus) -> SyncStatusDocument<'r> {
        SyncStatusDocument {
            verdict: "running",
            status,
        }
    }
}

/// The last line of `rdbkit sync --format jsonl`: the last status as
/// [`SyncStatusDocument`] with the run's verdict (`converged`, `ready`, `differences`,
/// `stopped`), then `"compare": {"differences", "dbs": {DB: {...}}, "examples": [{"db",
/// "key", "kind"}]}` or `null`, `"repairs_list": [{"cause", "at_s", "keys_rescanned"}]`,
/// `"failures": [{"db", "key", "error"}]`, `"resumed_keys"`, `"conversions"` (as
/// [`RestoreDocument`]'s, counted per write), `"notices"` and
/// `"snapshot": {"restored", "failed", "expired"}` or `null`.
#[derive(Debug, Serialize)]
pub struct SyncDocument<'r> {
    verdict: &'static str,
    #[serde(flatten)]
    status: &'r SyncStatus,
    compare: Option<SyncCompare<'r>>,
    repairs_list: &'r [Repair],
    failures: &'r [SyncFailure],
    resumed_keys: u64,
    conversions: &'r ConversionCounts,
    notices: &'r [String],
    snapshot: Option<SyncSnapshot>,
}

#[derive(Debug, Serialize)]
struct SyncCompare<'r> {
    differences: u64,
    dbs: &'r BTreeMap<u64, DbCompare>,
    examples: &'r [Difference],
}

#[derive(Debug, Serialize)]
struct SyncSnapshot {
    restored: u64,
    failed: u64,
    expired: u64,
}

impl<'r> SyncDocument<'r> {
    /// The document of a finished (or stopped) sync run.
    pub fn new(report: &'r SyncReport) -> SyncDocument<'r> {
        SyncDocument {
            verdict: report.verdict,
            status: &report.last,
            compare: report.compare.as_ref().map(|c| SyncCompare {
                differences: c.differences(),
                dbs: &c.dbs,
                examples: &c.examples,
            }),
            repairs_list: &report.repairs,
            failures: &report.failures,
            resumed_keys: report.resumed_keys,
            conversions: &report.conversions,
            notices: &report.notices,
            snapshot: report.snapshot.as_ref().map(|s| SyncSnapshot {
                restored: s.restored,
                failed: s.failed,
                expired: s.expired,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::KeyFailure;
    use serde_json::json;

    #[test]
    fn restore_document() -> std::result::Result<(), serde_json::Error> {
        let mut report = RestoreReport::new();
        report.snapshot_keys = 5;
        report.restored = 3;
        report.failed = 1;
        report.seconds = 1.23456;
        report.errors = vec![KeyFailure {
            file: 1,
            db: None,
            key: b"mylib".to_vec(),
            error: "OOM command not allowed".into(),
            cause: "OOM".into(),
        }];
        report.failures_by_cause.insert("OOM".into(), 1);
        let files = ["a.rdb".to_string(), "b.rdb".to_string()];
        let text = serde_json::to_string(&RestoreDocument::new(&report, &files))?;
        assert!(text.starts_with(r#"{"verdict":"failed","#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(v["not_done"], 1);
        assert_eq!(v["seconds"], 1.235);
        assert_eq!(
            v["errors"][0],
            json!({"file": "b.rdb", "db": null, "key": "mylib", "function": true,
                   "cause": "OOM", "error": "OOM command not allowed"})
        );
        assert_eq!(v["failures_by_cause"]["OOM"]["count"], 1);
        assert_eq!(
            v["failures_by_cause"]["OOM"]["hint"],
            json!(cause_hint("OOM"))
        );
        assert_eq!(v["skipped_by"]["pattern"], 0);
        assert_eq!(v.get("error"), None);
        let stopped = RestoreDocument::new(&report, &files).stopped("lost".into());
        let v = serde_json::to_value(&stopped)?;
        assert_eq!(
            (v["verdict"].as_str(), v["error"].as_str()),
            (Some("stopped"), Some("lost"))
        );
        Ok(())
    }

    #[test]
    fn verify_document() -> std::result::Result<(), serde_json::Error> {
        let report = VerifyReport {
            matched: 2,
            snapshot_keys: 2,
            dbs: vec![DbCounts {
                db: 0,
                snapshot: 2,
                snapshot_live: 2,
                target: 3,
                compared: true,
            }],
            ..VerifyReport::default()
        };
        let v = serde_json::to_value(VerifyDocument::new(&report))?;
        assert_eq!(v["verdict"], "ok");
        assert_eq!(
            v["dbs"][0],
            json!({"db": 0, "snapshot": 2, "snapshot_live": 2, "target": 3,
                   "compared": true, "match": false})
        );
        assert_eq!(v["counts_match"], false);
        assert_eq!(v["matched"], 2);
        Ok(())
    }

    #[test]
    fn convert_document() -> std::result::Result<(), serde_json::Error> {
        let mut report = ConvertReport {
            target: "REDIS0009".into(),
            snapshot_keys: 3,
            written: 2,
            expired: 1,
            seconds: 1.23456,
            ..ConvertReport::default()
        };
        let mut output = crate::convert::OutputReport {
            slots: vec![(0, 8191)],
            keys: 2,
            ..Default::default()
        };
        output.dbs.insert(
            0,
            crate::convert::DbCounts {
                keys: 2,
                expires: 1,
            },
        );
        report.outputs.push(output);
        let written = ["out-0.rdb".to_string()];
        let doc = ConvertDocument::new(&report, &written, &[]);
        let text = serde_json::to_string(&doc)?;
        assert!(
            text.starts_with(r#"{"verdict":"ok","target":"REDIS0009","#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(v["seconds"], 1.235);
        assert_eq!(v["dropped"]["key_meta"], 0);
        assert_eq!(v["functions"]["saved_to"], json!([]));
        assert_eq!(
            v["outputs"],
            json!([{"file": "out-0.rdb", "slots": ["0-8191"], "keys": 2,
                    "dbs": {"0": {"keys": 2, "expires": 1}}, "functions": 0, "used_mem": 0, "bytes": 0}])
        );
        assert_eq!(
            serde_json::to_string(&RefusedDocument::new("no"))?,
            r#"{"verdict":"refused","error":"no"}"#
        );
        Ok(())
    }

    #[test]
    fn sync_documents() -> std::result::Result<(), serde_json::Error> {
        let status = SyncStatus {
            state: crate::SyncState::CatchingUp,
            elapsed_s: 1.5,
            backlog: 3,
            oldest_dirty_ms: 20,
            events: 9,
            applied: 6,
            deleted: 1,
            lag_ms_p50: Some(2),
            lag_ms_p99: None,
            repairs: 0,
            errors: 0,
            failed: 1,
        };
        let text = serde_json::to_string(&SyncStatusDocument::new(&status))?;
        assert!(
            text.starts_with(r#"{"verdict":"running","state":"catching-up","elapsed_s":1.5,"#),
            "{text}"
        );
        let mut compare = crate::sync::compare::LiveCompare::default();
        compare.dbs.insert(
            0,
            DbCompare {
                source_keys: 2,
                missing: 1,
                ..DbCompare::default()
            },
        );
        compare.examples.push(Difference {
            db: 0,
            key: b"\xff".to_vec(),
            kind: "missing",
        });
        let report = SyncReport {
            status: crate::SyncState::CatchingUp,
            last: status,
            compare: Some(compare),
            repairs: Vec::new(),
            failures: vec![SyncFailure {
                db: 0,
                key: b"k".to_vec(),
                error: "ERR no".into(),
            }],
            snapshot: None,
            resumed_keys: 4,
            conversions: ConversionCounts {
                reencoded: 2,
                ..ConversionCounts::default()
            },
            notices: vec!["CONFIG refused".into()],
            verdict: "differences",
        };
        let text = serde_json::to_string(&SyncDocument::new(&report))?;
        assert!(
            text.starts_with(r#"{"verdict":"differences","state":"catching-up","#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(v["backlog"], 3);
        assert_eq!(v["compare"]["differences"], 1);
        assert_eq!(v["compare"]["dbs"]["0"]["missing"], 1);
        assert_eq!(
            v["compare"]["examples"],
            json!([{"db": 0, "key": {"hex": "ff"}, "kind": "missing"}])
        );
        assert_eq!(v["repairs_list"], json!([]));
        assert_eq!(
            v["failures"],
            json!([{"db": 0, "key": "k", "error": "ERR no"}])
        );
        assert_eq!(v["resumed_keys"], 4);
        assert_eq!(v["conversions"]["reencoded"], 2);
        assert_eq!(v["notices"], json!(["CONFIG refused"]));
        assert_eq!(v["snapshot"], serde_json::Value::Null);
        Ok(())
    }
}
