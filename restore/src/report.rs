//! The **account** stage: every key ends in exactly one bucket (restored, skipped
//! with a reason, expired, failed with the server's error), and live counters for a
//! progress display.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::plan::SkipReason;
use crate::target::TargetCaps;

/// One key (or function library) that could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct KeyFailure {
    /// Index of the snapshot file in the run's file list.
    pub file: usize,
    /// Source database (`None` for a function library).
    pub db: Option<u64>,
    /// The key (for a function library: the library name).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "rdb_parser::serde_bytes::serialize")
    )]
    pub key: Vec<u8>,
    /// The server's error reply (e.g. `BUSYKEY Target key name already exists.`) or
    /// why the key could not be sent.
    pub error: String,
    /// What kind of failure it is, for a program to act on: the reply's error code
    /// (`OOM`, `BUSYKEY`, `READONLY`, `NOPERM`, ...), `IO` (no node took the key),
    /// `PLAN` (the key cannot be written to this target as asked). The counts per
    /// cause are [`RestoreReport::failures_by_cause`], the fixes [`cause_hint`].
    pub cause: String,
}

/// Counts per bucket for function libraries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FunctionCounts {
    /// Restored with `FUNCTION RESTORE`.
    pub restored: u64,
    /// Not sent (`--no-functions`, before the checkpoint) or already present with
    /// `--on-conflict skip`.
    pub skipped: u64,
    /// Refused by the server (or not restorable into this target).
    pub failed: u64,
}

/// The outcome of a restore.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RestoreReport {
    /// Keys the server acknowledged.
    pub restored: u64,
    /// Keys not restored on purpose, all reasons together.
    pub skipped: u64,
    /// Per reason, in [`SkipReason::ALL`] order (reasons with 0 included).
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::pairs_as_map"))]
    pub skipped_by: Vec<(SkipReason, u64)>,
    /// Keys already expired at restore time (not sent).
    pub expired: u64,
    /// Keys refused by the server or not restorable into this target.
    pub failed: u64,
    /// Payload bytes of the restored keys (and libraries).
    pub bytes: u64,
    /// Wall-clock duration of the run.
    pub seconds: f64,
    /// Function libraries.
    pub functions: FunctionCounts,
    /// The first failures (up to the configured limit), keys and libraries.
    pub errors: Vec<KeyFailure>,
    /// What the target turned out to be.
    pub target: Option<TargetCaps>,
    /// Whether this run resumed from a checkpoint.
    pub resumed: bool,
    /// Commands resent after a cluster redirection (`MOVED`, `ASK`), a
    /// `TRYAGAIN`/`CLUSTERDOWN`/`LOADING`/`MASTERDOWN`/`READONLY` reply or a lost
    /// connection; each key is still counted once.
    pub redirected: u64,
    /// Re-stamped, re-encoded and command-mode keys, and what their conversion
    /// left out (issue 5).
    pub conversions: crate::commands::ConversionCounts,
    /// Keys in the snapshots (all of them, selected or not), counted by the check
    /// that runs before the first write; [`RestoreReport::not_done`] is what a stopped
    /// run did not reach.
    pub snapshot_keys: u64,
    /// Keys (and libraries) that had failed in the run this one resumed and were
    /// retried; each is counted in the bucket its retry ended in.
    pub retried: u64,
    /// Failures per cause: the first word of the server's reply (`OOM`, `BUSYKEY`,
    /// `READONLY`, ...) or `IO`/`PLAN` for keys that could not be sent; see
    /// [`cause_hint`].
    pub failures_by_cause: BTreeMap<String, u64>,
    /// Whether a checkpoint was kept (a rerun resumes).
    pub checkpointed: bool,
}

impl RestoreReport {
    /// An empty report with every skip reason at 0.
    pub fn new() -> RestoreReport {
        RestoreReport {
            skipped_by: SkipReason::ALL.iter().map(|&r| (r, 0)).collect(),
            ..RestoreReport::default()
        }
    }

    /// Keys accounted for, every bucket together.
    pub fn keys(&self) -> u64 {
        self.restored + self.skipped + self.expired + self.failed
    }

    /// Whether anything (a key or a function library) failed.
    pub fn has_failures(&self) -> bool {
        self.failed > 0 || self.functions.failed > 0
    }

    /// Keys of the snapshots that no bucket holds: those a stopped run did not reach
    /// or whose replies it did not read (0 after a run that went through).
    pub fn not_done(&self) -> u64 {
        self.snapshot_keys.saturating_sub(self.keys())
    }

    pub(crate) fn add_skip(&mut self, reason: SkipReason, n: u64) {
        self.skipped += n;
        if let Some(slot) = self.skipped_by.iter_mut().find(|(r, _)| *r == reason) {
            slot.1 += n;
        }
    }

    /// Skips of one reason.
    pub fn skipped_for(&self, reason: SkipReason) -> u64 {
        self.skipped_by
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Adds `other`'s counts into `self` (errors kept up to `max_errors`).
    pub(crate) fn merge(&mut self, other: &RestoreReport, max_errors: usize) {
        self.restored += other.restored;
        self.expired += other.expired;
        self.failed += other.failed;
        self.bytes += other.bytes;
        for &(r, n) in &other.skipped_by {
            self.add_skip(r, n);
        }
        self.redirected += other.redirected;
        self.retried += other.retried;
        for (cause, n) in &other.failures_by_cause {
            *self.failures_by_cause.entry(cause.clone()).or_default() += n;
        }
        self.functions.restored += other.functions.restored;
        self.functions.skipped += other.functions.skipped;
        self.functions.failed += other.functions.failed;
        for e in &other.errors {
            if self.errors.len() < max_errors {
                self.errors.push(e.clone());
            }
        }
    }
}

/// The cause of a failure: the first word of the server's reply when it is an error
/// code (upper case, as `OOM`, `BUSYKEY`), else `ERR`.
pub fn cause_of(error: &str) -> &str {
    let word = error.split_whitespace().next().unwrap_or("ERR");
    if !word.is_empty() && word.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
        word
    } else {
        "ERR"
    }
}

/// What to do about failures of one cause (see [`RestoreReport::failures_by_cause`]),
/// when there is a clear fix.
pub fn cause_hint(cause: &str) -> Option<&'static str> {
    Some(match cause {
        "OOM" => {
            "the target is full: raise maxmemory (or scale the cache up) or free memory, \
             then rerun with the same --checkpoint to retry the failed keys"
        }
        "BUSYKEY" => {
            "the keys already exist on the target: --on-conflict skip keeps the target's \
             values, --on-conflict replace overwrites them"
        }
        "READONLY" => "the target is a read-only replica: connect to its primary",
        "NOPERM" => {
            "the ACL user may not run RESTORE on these keys: grant +restore (and ~* key \
             access) or use another user"
        }
        "NOAUTH" | "WRONGPASS" => "authentication: check the user and password",
        "MOVED" | "ASK" | "CLUSTERDOWN" | "TRYAGAIN" => {
            "the cluster was changing (resharding or failover): rerun with the same \
             --checkpoint to retry"
        }
        "IO" => "the connection to a node failed: rerun with the same --checkpoint to retry",
        "PLAN" => "the key cannot be written to this target as asked (see each error)",
        _ => return None,
    })
}

/// Live counters of a run, updated by the library and read by a progress display
/// (no terminal code here), and the run's stop button: any thread holding a
/// reference may call [`Progress::cancel`] (`restore`, `verify` and `sync` take one).
#[derive(Debug, Default)]
pub struct Progress {
    /// Keys accounted for so far (every bucket).
    pub keys: AtomicU64,
    /// Payload bytes acknowledged by the target.
    pub bytes: AtomicU64,
    /// Keys failed so far.
    pub failed: AtomicU64,
    /// Input bytes framed so far (all files together).
    pub input_position: AtomicU64,
    /// Total input bytes (all files).
    pub input_total: AtomicU64,
    /// Keys in the snapshots (known once the pre-write check is done; 0 before).
    pub keys_total: AtomicU64,
    /// Set by [`Progress::cancel`]: the run stops sending and reads the replies of
    /// what is in flight. A restore (and a sync) then ends with
    /// [`crate::Error::Interrupted`] inside [`crate::Error::Stopped`], whose report
    /// accounts for every key; a verify ends with [`crate::Error::Interrupted`].
    pub cancelled: AtomicBool,
}

impl Progress {
    /// Asks the run to stop (e.g. on Ctrl-C); safe from any thread.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// Whether [`Progress::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// A snapshot of the counters: (keys, bytes, failed, input position, input total).
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        (
            self.keys.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.input_position.load(Ordering::Relaxed),
            self.input_total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;
    use crate::verify::{Finding, VerifyReport, Why};
    use rdb_parser::Family;
    use serde_json::json;

    #[test]
    fn restore_report_json_keys_follow_the_bytes_convention(
    ) -> std::result::Result<(), serde_json::Error> {
        let mut report = RestoreReport::new();
        report.restored = 3;
        report.failed = 2;
        report.snapshot_keys = 6;
        report.add_skip(SkipReason::Pattern, 1);
        report.errors = vec![
            KeyFailure {
                file: 0,
                db: Some(0),
                key: b"bin\xff\x00key".to_vec(),
                error: "BUSYKEY Target key name already exists.".into(),
                cause: "BUSYKEY".into(),
            },
            KeyFailure {
                file: 1,
                db: None,
                key: b"mylib".to_vec(),
                error: "ERR Library 'mylib' already exists".into(),
                cause: "ERR".into(),
            },
        ];
        report.failures_by_cause.insert("BUSYKEY".into(), 1);
        report.target = Some(TargetCaps {
            version: Some("7.2.4".into()),
            family: Family::Valkey,
            rdb_version: 11,
            rdb_version_source: "DUMP probe",
            cluster: false,
            single_db: None,
            replica_of: None,
            keyspace: [(0, 3)].into_iter().collect(),
            max_bulk_len: None,
        });

        let v = serde_json::to_value(&report)?;
        assert_eq!(v["errors"][0]["key"], json!({"hex": "62696eff006b6579"}));
        assert_eq!(v["errors"][0]["db"], 0);
        assert_eq!(v["errors"][1]["key"], "mylib");
        assert_eq!(v["errors"][1]["db"], json!(null));
        assert_eq!(
            v["skipped_by"],
            json!({"db": 0, "pattern": 1, "type": 0, "exists": 0, "checkpoint": 0, "no_functions": 0, "not_listed": 0})
        );
        assert_eq!(v["restored"], 3);
        assert_eq!(v["skipped"], 1);
        assert_eq!(v["failures_by_cause"], json!({"BUSYKEY": 1}));
        assert_eq!(
            v["functions"],
            json!({"restored": 0, "skipped": 0, "failed": 0})
        );
        assert_eq!(v["conversions"]["reencoded"], 0);
        assert_eq!(v["target"]["family"], "valkey");
        assert_eq!(v["target"]["keyspace"], json!({"0": 3}));
        Ok(())
    }

    #[test]
    fn verify_report_json() -> std::result::Result<(), serde_json::Error> {
        let report = VerifyReport {
            missing: 1,
            different_by: vec![(Why::Type, 0), (Why::Ttl, 2)],
            examples: vec![Finding {
                db: 2,
                key: b"\xc3\x28".to_vec(),
                why: Why::Missing,
                detail: String::new(),
            }],
            ..VerifyReport::default()
        };
        let v = serde_json::to_value(&report)?;
        assert_eq!(v["different_by"], json!({"type": 0, "ttl": 2}));
        assert_eq!(
            v["examples"][0],
            json!({"db": 2, "key": {"hex": "c328"}, "why": "missing", "detail": ""})
        );
        assert_eq!(v["target"], json!(null));
        Ok(())
    }

    #[test]
    fn live_types_json() -> std::result::Result<(), serde_json::Error> {
        use crate::live::info::{Info, NodeMetrics};
        use crate::live::preflight::{Check, Status};
        use crate::live::watch::{Alert, AlertKind};

        let info = Info::parse(
            "# Server\r\nredis_version:7.2.4\r\nrole:master\r\nused_memory:1024\r\n\
             mem_fragmentation_ratio:1.5\r\n# Keyspace\r\ndb0:keys=5,expires=1,avg_ttl=0\r\n",
        );
        let v = serde_json::to_value(NodeMetrics::from_info("10.0.0.1:6379", &info))?;
        assert_eq!(v["address"], "10.0.0.1:6379");
        assert_eq!(v["scalars"]["redis.version"], "7.2.4");
        assert_eq!(v["scalars"]["redis.memory.used"], 1024);
        assert_eq!(v["scalars"]["redis.memory.fragmentation_ratio"], 1.5);
        assert_eq!(
            v["keyspace"]["0"],
            json!({"keys": 5, "expires": 1, "avg_ttl": 0})
        );

        let check = Check {
            id: "target.restore".into(),
            status: Status::Warn,
            detail: "x".into(),
        };
        assert_eq!(
            serde_json::to_value(&check)?,
            json!({"id": "target.restore", "status": "warn", "detail": "x"})
        );
        let alert = Alert {
            node: "r1".into(),
            kind: AlertKind::OffsetStalled,
            detail: String::new(),
        };
        assert_eq!(
            serde_json::to_value(&alert)?["kind"],
            AlertKind::OffsetStalled.as_str()
        );

        // Watch samples use the names of `rdbkit watch --format json`.
        let mut sample = crate::live::watch::Sample::failed("p:6379", "down".into());
        sample.link = Some("up".into());
        sample.bgsave_secs = Some(3);
        let v = serde_json::to_value(&sample)?;
        assert_eq!(v["address"], "p:6379");
        assert_eq!(v["error"], "down");
        assert_eq!(v["master_link_status"], "up");
        assert_eq!(v["rdb_last_bgsave_time_sec"], 3);
        assert_eq!(v["rdb_last_bgsave_status"], json!(null));
        Ok(())
    }
}
