//! The JSON documents `rdbkit restore` and `rdbkit verify` print with `--format
//! json` (feature `serde`), as library types: a program embedding the crate gets the
//! same document by serializing one of these (README "Output conventions").
//!
//! Each opens with its `verdict`. The reports themselves ([`RestoreReport`],
//! [`VerifyReport`]) serialize their fields as they are; a document adds what a reader
//! of one run needs beside them: the verdict, derived counts (`not_done`,
//! `counts_match`), file names instead of indexes, the fix for each failure cause.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::commands::ConversionCounts;
use crate::plan::SkipReason;
use crate::report::{cause_hint, FunctionCounts, RestoreReport};
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
}
