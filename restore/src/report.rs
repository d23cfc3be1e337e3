//! The **account** stage: every key ends in exactly one bucket (restored, skipped
//! with a reason, expired, failed with the server's error), and live counters for a
//! progress display.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::plan::SkipReason;
use crate::target::TargetCaps;

/// One key (or function library) that could not be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFailure {
    /// Index of the snapshot file in the run's file list.
    pub file: usize,
    /// Source database (`None` for a function library).
    pub db: Option<u64>,
    /// The key (for a function library: the library name).
    pub key: Vec<u8>,
    /// The server's error reply (e.g. `BUSYKEY Target key name already exists.`) or
    /// why the key could not be sent.
    pub error: String,
}

/// Counts per bucket for function libraries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
pub struct RestoreReport {
    /// Keys the server acknowledged.
    pub restored: u64,
    /// Keys not restored on purpose, all reasons together.
    pub skipped: u64,
    /// Per reason, in [`SkipReason::ALL`] order (reasons with 0 included).
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
    /// Commands resent after a cluster redirection (`MOVED`, `ASK`) or a
    /// `TRYAGAIN`/`CLUSTERDOWN`/`LOADING` reply; each key is still counted once.
    pub redirected: u64,
    /// Re-stamped, re-encoded and command-mode keys, and what their conversion
    /// left out (issue 5).
    pub conversions: crate::commands::ConversionCounts,
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

/// Live counters of a run, updated by the library and read by a progress display
/// (no terminal code here).
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
}

impl Progress {
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
