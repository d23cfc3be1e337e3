//! `sync`: keeping a target up to date with a live source until cutover, for a
//! migration with minutes of downtime (neither ElastiCache nor Azure allows a
//! replication link, so the changes are captured client-side from keyspace
//! notifications).
//!
//! The run, in order:
//!
//! 1. **Capture** (`capture.rs`): a subscriber on every source master (cluster: every
//!    master, and new ones after a failover), `notify-keyspace-events` checked
//!    (`CONFIG GET`, when allowed) and proved with probe keys hashed to each node.
//!    Changed keys enter a de-duplicated dirty set (`dirty.rs`) journaled in
//!    [`SyncOptions::journal`], bounded in memory and spilling to disk.
//! 2. **Bulk**: with [`SyncOptions::snapshots`], the files are restored by
//!    [`restore()`](crate::restore()) (a file that does not exist yet is waited for:
//!    [`SyncState::WaitingForSnapshot`]; a file whose `ctime` is not after the
//!    source's `TIME` once capture was proven may miss writes and is followed by a
//!    re-scan, a [`Repair`]); without, every source key is scanned into
//!    the dirty set (`SCAN`) and copied like any change, and every target key in scope
//!    is checked too (so keys the source lacks are deleted).
//! 3. **Catch-up**: dirty keys are taken in batches, read from the source (`MULTI`,
//!    `DUMP`, `PEXPIRETIME`, `EXEC`: value and expiry together) and written with
//!    `RESTORE ... REPLACE ABSTTL` (re-stamped or re-encoded for an older target) or
//!    `DEL` when gone. One thread copies, one batch at a time, so at most one
//!    operation per key is in flight; a key changed after its read is dirty again
//!    (its event comes after the read) and copied again.
//! 4. **Gaps**: a lost or silent subscription, a full event queue, a `FLUSHALL`,
//!    `FLUSHDB` or `SWAPDB` (no key events: seen in `INFO commandstats`), a source
//!    restart (`run_id`) or a change of the source's masters each start a re-scan of
//!    both sides into the dirty set ([`Repair`]); a restarted sync does the same
//!    (changes made while it was not running are unknown).
//! 5. **Status and verdict**: a [`SyncStatus`] per interval; at
//!    [`Until::Ready`] the run ends when backlog and lag are small; at
//!    [`Until::Converged`] it waits for [`SyncOptions::quiet_for`] without source
//!    writes and an empty backlog, then compares both sides key by key
//!    ([`compare::LiveCompare`]).

pub mod compare;

mod capture;
mod copy;
mod dirty;
mod nodes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdb_parser::{DumpPayload, Rdb};

use crate::cluster::NodeAddr;
use crate::commands::ConversionCounts;
use crate::error::{Error, Result};
use crate::glob::Glob;
use crate::live::info::Info;
use crate::payload::{payload, KeyValue, Payload};
use crate::plan::{PlanOptions, TargetProfile};
use crate::report::{Progress, RestoreReport};
use crate::restore::{RestoreOptions, SourceFile};
use crate::target::Target;
use crate::throttle::Throttle;

use capture::{Event, NodeCapture, Shared};
use compare::LiveCompare;
use copy::{Read, Write, Written};
use dirty::{DbKey, DirtySet};
use nodes::Nodes;

/// When a sync run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Until {
    /// At [`SyncState::Ready`]: the moment to stop the application's writes.
    Ready,
    /// At [`SyncState::Converged`] (or when the final comparison finds differences).
    #[default]
    Converged,
}

/// Where a sync run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum SyncState {
    /// Subscribing and proving that notifications arrive.
    Capturing,
    /// Waiting for a `--snapshot` file: start the backup now.
    WaitingForSnapshot,
    /// Copying everything (the snapshot, or a scan of the live source).
    Bulk,
    /// Copying changed keys (or re-scanning after a gap).
    CatchingUp,
    /// Backlog and lag small and stable: stop the application's writes now.
    Ready,
    /// No source writes for the quiet window, backlog empty, and the final
    /// comparison found no difference.
    Converged,
}

impl SyncState {
    /// The state's name (`waiting-for-snapshot`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SyncState::Capturing => "capturing",
            SyncState::WaitingForSnapshot => "waiting-for-snapshot",
            SyncState::Bulk => "bulk",
            SyncState::CatchingUp => "catching-up",
            SyncState::Ready => "ready",
            SyncState::Converged => "converged",
        }
    }
}

/// What a sync run is told.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SyncOptions {
    /// Filters and database mapping (`dbs`, `db_map`, `default_db`, `key_patterns`),
    /// and how values are written (`mode`, `field_ttls`: the payload stage's
    /// options, as for restore); the others are not used by sync.
    pub plan: PlanOptions,
    /// Snapshot files (one per shard) restored first; waited for when missing. With
    /// the `object-store` feature an entry may be an object URL (`s3://`, `az://`),
    /// waited for the same way and read whole.
    pub snapshots: Vec<PathBuf>,
    /// Options of the snapshot restore (its plan is [`SyncOptions::plan`] with
    /// `REPLACE`).
    pub restore: RestoreOptions,
    /// The journal directory (dirty set, spill file, state).
    pub journal: PathBuf,
    /// When the run ends.
    pub until: Until,
    /// Seconds without source writes before the final comparison.
    pub quiet_for: Duration,
    /// How often a [`SyncStatus`] is reported.
    pub interval: Duration,
    /// Keys copied per batch at most.
    pub batch_keys: usize,
    /// Dirty keys held in memory at most (more spill to the journal).
    pub max_dirty_in_memory: usize,
    /// Events queued between the subscribers and the copier at most (more is an
    /// overflow: a gap, repaired by a re-scan).
    pub event_queue: usize,
    /// Backlog at or under which the run can be [`SyncState::Ready`].
    pub ready_backlog: u64,
    /// Lag p99 (ms) under which the run can be [`SyncState::Ready`].
    pub ready_lag_ms: u64,
    /// Commands per second to the target at most.
    pub max_ops: Option<u64>,
    /// Bytes per second to the target at most.
    pub max_bytes: Option<u64>,
    /// RDB version to write for instead of the target's.
    pub target_rdb_version: Option<u16>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            plan: PlanOptions::default(),
            snapshots: Vec::new(),
            restore: RestoreOptions::default(),
            journal: PathBuf::from("rdbkit-sync.journal"),
            until: Until::Converged,
            quiet_for: Duration::from_secs(10),
            interval: Duration::from_secs(1),
            batch_keys: 500,
            max_dirty_in_memory: 1_000_000,
            event_queue: 200_000,
            ready_backlog: 1000,
            ready_lag_ms: 1000,
            max_ops: None,
            max_bytes: None,
            target_rdb_version: None,
        }
    }
}

/// One status report (per [`SyncOptions::interval`]).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SyncStatus {
    /// The state.
    pub state: SyncState,
    /// Seconds since the run started.
    pub elapsed_s: f64,
    /// Dirty keys waiting.
    pub backlog: u64,
    /// Age of the oldest waiting change (ms).
    pub oldest_dirty_ms: u64,
    /// Change events received.
    pub events: u64,
    /// Keys written to the target (restored or deleted).
    pub applied: u64,
    /// Of `applied`, deletions.
    pub deleted: u64,
    /// Event seen → target acknowledged, median over the interval (ms).
    pub lag_ms_p50: Option<u64>,
    /// The same, 99th percentile.
    pub lag_ms_p99: Option<u64>,
    /// Gaps repaired or being repaired (re-scans started).
    pub repairs: u64,
    /// Errors so far (refused writes, unreadable values, lost connections).
    pub errors: u64,
    /// Keys currently failed (refused by the target or not convertible).
    pub failed: u64,
}

/// A gap and its repair.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Repair {
    /// What was lost (`subscription lost on host:port`, `FLUSHDB/FLUSHALL/SWAPDB on
    /// host:port`, ...).
    pub cause: String,
    /// Seconds since the start when it was found.
    pub at_s: f64,
    /// Keys the re-scan put in the dirty set (both sides), once finished.
    pub keys_rescanned: u64,
}

/// A key that could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SyncFailure {
    /// Source database.
    pub db: u64,
    /// The key.
    #[cfg_attr(feature = "serde", serde(with = "rdb_parser::serde_bytes"))]
    pub key: Vec<u8>,
    /// The server's reply, or why the value could not be converted.
    pub error: String,
}

/// What a sync run did.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SyncReport {
    /// The last status.
    pub status: SyncState,
    /// The last status report.
    pub last: SyncStatus,
    /// The final comparison (at [`Until::Converged`]).
    pub compare: Option<LiveCompare>,
    /// Every gap found, and its repair.
    pub repairs: Vec<Repair>,
    /// Keys failed at the end (the first 100).
    pub failures: Vec<SyncFailure>,
    /// The snapshot restore, when `--snapshot` was given.
    pub snapshot: Option<RestoreReport>,
    /// Dirty keys found in the journal of an earlier run.
    pub resumed_keys: u64,
    /// What the writes of changed keys (bulk copy and catch-up) converted for the
    /// target and what it could not hold, counted per write: a key written three
    /// times counts three times. The snapshot's are in [`SyncReport::snapshot`].
    pub conversions: ConversionCounts,
    /// Things the operator should know (CONFIG refused, ...).
    pub notices: Vec<String>,
    /// `converged`, `ready`, `differences` or `stopped`.
    pub verdict: &'static str,
}

/// The filters and database mapping of a run.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    plan: PlanOptions,
}

impl Scope {
    pub(crate) fn db_in_scope(&self, db: u64) -> bool {
        self.plan.db_selected(db)
    }

    pub(crate) fn key_in_scope(&self, key: &[u8]) -> bool {
        !capture::is_probe_key(key)
            && (self.plan.key_patterns.is_empty()
                || self.plan.key_patterns.iter().any(|g: &Glob| g.matches(key)))
    }

    pub(crate) fn target_db(&self, db: u64, cluster: bool) -> u64 {
        if cluster {
            0
        } else {
            self.plan.map_db(db)
        }
    }
}

/// A re-scan of both sides into the dirty set.
struct Rescan {
    repair: Option<usize>,
    /// Databases left to scan, the next one last: (source side, db).
    todo: Vec<(bool, u64)>,
    /// The database being scanned: (source side, db, master index, SCAN cursor).
    current: Option<(bool, u64, usize, Vec<u8>)>,
    keys: u64,
}

impl Rescan {
    fn new(repair: Option<usize>, src_dbs: &BTreeSet<u64>, tgt_dbs: &BTreeSet<u64>) -> Rescan {
        // The target first: scanned after the source, it would find every key this
        // re-scan just copied and copy it again.
        let mut todo: Vec<(bool, u64)> = tgt_dbs.iter().map(|&d| (false, d)).collect();
        todo.extend(src_dbs.iter().map(|&d| (true, d)));
        todo.reverse();
        Rescan {
            repair,
            todo,
            current: None,
            keys: 0,
        }
    }
}

/// The run's working state.
struct Run<'a> {
    options: &'a SyncOptions,
    scope: Scope,
    src: Nodes,
    tgt: Nodes,
    /// What the target reads (the payload stage's input).
    target: TargetProfile,
    src_pexpiretime: bool,
    tgt_pexpiretime: bool,
    dirty: DirtySet,
    epoch: Instant,
    shared: Arc<Shared>,
    tx: crossbeam_channel::Sender<Event>,
    rx: crossbeam_channel::Receiver<Event>,
    captures: Vec<Arc<NodeCapture>>,
    repairs: Vec<Repair>,
    rescans: Vec<Rescan>,
    failures: HashMap<DbKey, String>,
    applied: u64,
    deleted: u64,
    errors: u64,
    lags: Vec<u64>,
    src_dbs: BTreeSet<u64>,
    tgt_dbs: BTreeSet<u64>,
    flush_counts: HashMap<NodeAddr, (u64, String)>,
    throttle: Throttle,
    notices: Vec<String>,
    resumed_keys: u64,
    conversions: ConversionCounts,
}

/// `calls=N` of the flush and swap commands in `INFO commandstats`.
fn flush_calls(text: &str) -> u64 {
    text.lines()
        .filter(|l| {
            ["cmdstat_flushall:", "cmdstat_flushdb:", "cmdstat_swapdb:"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .filter_map(|l| {
            l.split([':', ','])
                .find_map(|f| f.strip_prefix("calls="))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied()
}

/// Keyspace databases of every master of `nodes` (`INFO keyspace`).
fn keyspace_dbs(nodes: &mut Nodes) -> Result<BTreeSet<u64>> {
    let mut dbs = BTreeSet::new();
    for addr in nodes.masters() {
        if let Ok(v) = nodes.query(&addr, redis::cmd("INFO").arg("keyspace"))? {
            let text = nodes::text(&v).unwrap_or_default();
            dbs.extend(Info::parse(&text).keyspace().into_keys());
        }
    }
    Ok(dbs)
}

/// Distinct notices kept at most (errors repeat; their count is in `errors`).
const MAX_NOTICES: usize = 50;

impl Run<'_> {
    fn notice(&mut self, text: String) {
        if self.notices.len() < MAX_NOTICES && !self.notices.contains(&text) {
            self.notices.push(text);
        }
    }

    fn elapsed_s(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// Starts a re-scan of both sides for `cause`.
    fn gap(&mut self, cause: String) -> Result<()> {
        self.repairs.push(Repair {
            cause,
            at_s: self.elapsed_s(),
            keys_rescanned: 0,
        });
        let idx = self.repairs.len() - 1;
        self.refresh_dbs()?;
        let rescan = Rescan::new(Some(idx), &self.src_dbs, &self.tgt_dbs);
        // A newer re-scan covers everything an older one would.
        self.rescans.clear();
        self.rescans.push(rescan);
        Ok(())
    }

    fn refresh_dbs(&mut self) -> Result<()> {
        let src: BTreeSet<u64> = keyspace_dbs(&mut self.src)?
            .into_iter()
            .filter(|d| self.scope.db_in_scope(*d))
            .collect();
        self.src_dbs.extend(src);
        let tgt = keyspace_dbs(&mut self.tgt)?;
        self.tgt_dbs = tgt
            .into_iter()
            .filter(|t| self.source_db_of(*t).is_some())
            .collect();
        Ok(())
    }

    /// The source database whose keys land in target database `t`.
    fn source_db_of(&self, t: u64) -> Option<u64> {
        let cluster = self.tgt.cluster;
        self.src_dbs
            .iter()
            .copied()
            .find(|&s| self.scope.target_db(s, cluster) == t)
            .or_else(|| {
                (!cluster && self.scope.db_in_scope(t) && self.scope.target_db(t, false) == t)
                    .then_some(t)
            })
    }

    /// One page of the current re-scan; `false` when there is none left.
    fn rescan_step(&mut self) -> Result<bool> {
        let Some(job) = self.rescans.last_mut() else {
            return Ok(false);
        };
        if job.current.is_none() {
            match job.todo.pop() {
                Some((side, db)) => job.current = Some((side, db, 0, b"0".to_vec())),
                None => {
                    let job = self.rescans.pop();
                    if let Some(Rescan {
                        repair: Some(i),
                        keys,
                        ..
                    }) = job
                    {
                        if let Some(r) = self.repairs.get_mut(i) {
                            r.keys_rescanned = keys;
                        }
                    }
                    return Ok(!self.rescans.is_empty());
                }
            }
        }
        let Some((is_src, db, node, cursor)) = job.current.clone() else {
            return Ok(true);
        };
        let nodes = if is_src { &mut self.src } else { &mut self.tgt };
        let masters = nodes.masters();
        let Some(addr) = masters.get(node).cloned() else {
            job.current = None;
            return Ok(true);
        };
        let (next, keys) = match nodes.scan_page(&addr, db, &cursor) {
            Ok(page) => page?,
            Err(e) => {
                // Retried on the next step (the node may be failing over).
                self.errors += 1;
                self.notice(e.to_string());
                return Ok(true);
            }
        };
        let sdb = if is_src {
            Some(db)
        } else {
            self.source_db_of(db)
        };
        let mut n = 0;
        if let Some(sdb) = sdb {
            for key in keys {
                if self.scope.key_in_scope(&key) {
                    self.dirty.insert(sdb, key, None)?;
                    n += 1;
                }
            }
        }
        if let Some(job) = self.rescans.last_mut() {
            job.keys += n;
            job.current = if next == b"0" {
                (node + 1 < masters.len()).then(|| (is_src, db, node + 1, b"0".to_vec()))
            } else {
                Some((is_src, db, node, next))
            };
        }
        Ok(true)
    }

    /// Moves queued events into the dirty set.
    fn drain_events(&mut self) -> Result<()> {
        for _ in 0..100_000 {
            let Ok(ev) = self.rx.try_recv() else { break };
            if self.scope.db_in_scope(ev.db) && self.scope.key_in_scope(&ev.key) {
                self.src_dbs.insert(ev.db);
                self.dirty.insert(ev.db, ev.key, Some(ev.seen))?;
            }
        }
        Ok(())
    }

    /// Copies one batch of dirty keys; the number taken.
    fn copy_batch(&mut self) -> Result<usize> {
        let batch = self.dirty.take(self.options.batch_keys)?;
        if batch.is_empty() {
            return Ok(0);
        }
        let keys: Vec<&DbKey> = batch.iter().map(|(k, _)| k).collect();
        let reads = copy::read_keys(&mut self.src, &keys, self.src_pexpiretime);
        let now = copy::now_ms();
        let options = self.scope.plan.payload_options(now, true);
        let mut writes: Vec<(usize, Write<'_>)> = Vec::with_capacity(batch.len());
        let mut again = Vec::new();
        let mut refresh_src = false;
        for (i, read) in reads.iter().enumerate() {
            let Some(((db, key), _)) = batch.get(i) else {
                continue;
            };
            match read {
                Read::Value {
                    expire_at_ms: Some(t),
                    ..
                } if *t <= now => writes.push((i, Write::Del)),
                Read::Value {
                    payload: bytes,
                    expire_at_ms,
                } => {
                    let made = match DumpPayload::parse(bytes) {
                        Ok(parsed) => {
                            let value = KeyValue::Dump {
                                key,
                                bytes,
                                parsed: &parsed,
                                expire_at_ms: *expire_at_ms,
                            };
                            payload(&value, &self.target, &options)
                        }
                        Err(e) => Payload::Reject(format!("source DUMP payload: {e}")),
                    };
                    made.count(&mut self.conversions);
                    let write = match made {
                        Payload::Commands { buf, commands, .. } => {
                            Write::Commands { buf, commands }
                        }
                        // Every field had expired: so has the key.
                        Payload::Expired { .. } => Write::Del,
                        Payload::Reject(why) => {
                            self.errors += 1;
                            self.failures.insert((*db, key.clone()), why);
                            continue;
                        }
                        made @ (Payload::Restore { .. } | Payload::Verbatim(_)) => Write::Restore {
                            payload: made,
                            expire_at_ms: *expire_at_ms,
                        },
                    };
                    writes.push((i, write));
                }
                Read::Gone => writes.push((i, Write::Del)),
                Read::Retry { why, moved } => {
                    refresh_src |= moved;
                    if !moved {
                        self.errors += 1;
                        self.notice(why.clone());
                    }
                    again.push(i);
                }
            }
        }
        let cluster = self.tgt.cluster;
        let items: Vec<(u64, &[u8], &Write<'_>)> = writes
            .iter()
            .filter_map(|(i, w)| {
                let ((db, key), _) = batch.get(*i)?;
                Some((self.scope.target_db(*db, cluster), key.as_slice(), w))
            })
            .collect();
        let bytes: usize = writes.iter().map(|(_, w)| w.bytes()).sum();
        let results = copy::write_keys(&mut self.tgt, &self.target, &items)?;
        let acked = Instant::now();
        let mut refresh_tgt = false;
        for ((i, w), result) in writes.iter().zip(results) {
            let Some(((db, key), seen)) = batch.get(*i) else {
                continue;
            };
            match result {
                Written::Done => {
                    self.applied += 1;
                    if matches!(w, Write::Del) {
                        self.deleted += 1;
                    }
                    if let Some(seen) = seen {
                        self.lags
                            .push(acked.duration_since(*seen).as_millis() as u64);
                    }
                    self.failures.remove(&(*db, key.clone()));
                }
                Written::Refused(text) => {
                    self.errors += 1;
                    self.failures
                        .insert((*db, key.clone()), self.tgt.base.scrub(&text));
                }
                Written::Retry => {
                    refresh_tgt = true;
                    again.push(*i);
                }
            }
        }
        for i in again {
            if let Some(((db, key), seen)) = batch.get(i) {
                self.dirty.insert(*db, key.clone(), *seen)?;
            }
        }
        if refresh_src {
            let _ = self.src.refresh();
        }
        if refresh_tgt && self.tgt.cluster {
            let _ = self.tgt.refresh();
        }
        self.throttle.wait(items.len() as u64, bytes as u64);
        Ok(batch.len())
    }

    /// Heartbeats, lost subscriptions, overflow, flushes, restarts, failovers.
    fn watch_gaps(&mut self, check_stats: bool) -> Result<()> {
        for addr in self.src.masters() {
            let beat = redis::cmd("PUBLISH")
                .arg(format!("__keyevent@0__:{}", capture::HEARTBEAT_EVENT))
                .arg("1")
                .clone();
            if let Err(e) = self.src.query(&addr, &beat) {
                self.errors += 1;
                self.notice(e.to_string());
            }
        }
        let mut causes = Vec::new();
        for i in 0..self.captures.len() {
            let Some(c) = self.captures.get(i).cloned() else {
                continue;
            };
            let lost = c.lost.load(Ordering::SeqCst);
            if !lost && !c.silent() {
                continue;
            }
            let node = self.src.node_target(&c.addr);
            match capture::subscribe(
                node,
                c.addr.clone(),
                self.tx.clone(),
                Arc::clone(&self.shared),
                self.epoch,
                Some(&c),
            ) {
                Ok(new) => {
                    if let Some(slot) = self.captures.get_mut(i) {
                        *slot = new;
                    }
                    causes.push(format!(
                        "subscription {} on {}:{}",
                        if lost { "lost" } else { "silent" },
                        c.addr.0,
                        c.addr.1
                    ));
                }
                Err(e) => {
                    self.errors += 1;
                    self.notice(format!("resubscribing: {e}"));
                }
            }
        }
        if self.shared.overflow.swap(false, Ordering::SeqCst) {
            causes.push("event queue overflow".into());
        }
        if check_stats {
            if self.src.cluster && self.src.refresh().unwrap_or(false) {
                causes.push("the source's masters changed".into());
                let known: Vec<NodeAddr> = self.captures.iter().map(|c| c.addr.clone()).collect();
                for addr in self.src.masters() {
                    if !known.contains(&addr) {
                        let c = capture::subscribe(
                            self.src.node_target(&addr),
                            addr,
                            self.tx.clone(),
                            Arc::clone(&self.shared),
                            self.epoch,
                            None,
                        )?;
                        self.captures.push(c);
                    }
                }
            }
            for addr in self.src.masters() {
                let mut buf = Vec::new();
                for section in ["commandstats", "server"] {
                    crate::resp::write_command(&mut buf, &[b"INFO", section.as_bytes()]);
                }
                let Ok(replies) = self.src.exchange(&addr, &buf, 2) else {
                    self.errors += 1;
                    continue;
                };
                let stats = replies
                    .first()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(nodes::text)
                    .unwrap_or_default();
                let server = replies
                    .get(1)
                    .and_then(|r| r.as_ref().ok())
                    .and_then(nodes::text)
                    .unwrap_or_default();
                let calls = flush_calls(&stats);
                let run_id = Info::parse(&server)
                    .get("run_id")
                    .unwrap_or_default()
                    .to_string();
                if let Some((before, before_id)) = self.flush_counts.get(&addr) {
                    if *before_id != run_id {
                        causes.push(format!("source {}:{} restarted", addr.0, addr.1));
                    } else if *before != calls {
                        causes.push(format!("FLUSHALL/FLUSHDB/SWAPDB on {}:{}", addr.0, addr.1));
                    }
                }
                self.flush_counts.insert(addr, (calls, run_id));
            }
        }
        for cause in causes {
            self.gap(cause)?;
        }
        Ok(())
    }

    fn status(&mut self, state: SyncState) -> SyncStatus {
        let mut lags = std::mem::take(&mut self.lags);
        lags.sort_unstable();
        SyncStatus {
            state,
            elapsed_s: (self.elapsed_s() * 10.0).round() / 10.0,
            backlog: self.dirty.len(),
            oldest_dirty_ms: self
                .dirty
                .oldest()
                .map_or(0, |t| t.elapsed().as_millis() as u64),
            events: self.shared.events.load(Ordering::Relaxed),
            applied: self.applied,
            deleted: self.deleted,
            lag_ms_p50: percentile(&lags, 0.5),
            lag_ms_p99: percentile(&lags, 0.99),
            repairs: self.repairs.len() as u64,
            errors: self.errors,
            failed: self.failures.len() as u64,
        }
    }

    fn capturing_ok(&self) -> bool {
        self.captures
            .iter()
            .all(|c| !c.lost.load(Ordering::SeqCst) && !c.silent())
    }

    fn ms_since_last_event(&self) -> u64 {
        let last = self.shared.last_event_ms.load(Ordering::Relaxed);
        (self.epoch.elapsed().as_millis() as u64).saturating_sub(last)
    }
}

/// The source's clock (`TIME`, Unix seconds), the latest over its masters; `None`
/// when a master does not answer it.
fn source_clock_s(src: &mut Nodes) -> Result<Option<i64>> {
    let mut latest = i64::MIN;
    for addr in src.masters() {
        let secs = match src.query(&addr, &redis::cmd("TIME"))? {
            Ok(redis::Value::Array(parts)) => parts
                .first()
                .and_then(nodes::text)
                .and_then(|t| t.parse::<i64>().ok()),
            _ => None,
        };
        match secs {
            Some(secs) => latest = latest.max(secs),
            None => return Ok(None),
        }
    }
    Ok(Some(latest))
}

/// Why `files` may miss changes made before capture was proven at `proven_s` (the
/// source's clock, [`source_clock_s`]), or `None` when every file is younger. A
/// snapshot's `ctime` is the second its save began on the source, so only a `ctime`
/// after that second proves the save began after capture did.
fn predates_capture(files: &[SourceFile<'_>], proven_s: Option<i64>) -> Option<String> {
    for f in files {
        let ctime = rdb_parser::aux::AuxInfo::read(&f.rdb)
            .ok()
            .and_then(|a| a.ctime);
        let unknown = "whether it was taken after change capture began is unknown: \
                       every key is compared and copied again";
        match (ctime, proven_s) {
            (Some(c), Some(p)) if c > p => {}
            (Some(c), Some(p)) => {
                return Some(format!(
                    "snapshot {} was taken at {}, before change capture was proven at {}: \
                     writes in between are unknown, every key is compared and copied again",
                    f.name,
                    crate::units::utc_ms(c.saturating_mul(1000)),
                    crate::units::utc_ms(p.saturating_mul(1000)),
                ))
            }
            (None, _) => return Some(format!("snapshot {} has no ctime: {unknown}", f.name)),
            (Some(_), None) => {
                return Some(format!(
                    "the source's clock (TIME) was not readable, so for snapshot {} {unknown}",
                    f.name
                ))
            }
        }
    }
    None
}

/// How often an object snapshot is looked for: each look is a request to the store.
#[cfg(feature = "object-store")]
const OBJECT_POLL: Duration = Duration::from_secs(5);

/// `path` as an object URL (`s3://`, `az://`, `https://ACCOUNT.blob...`), when it is
/// one.
#[cfg(feature = "object-store")]
fn object_url(path: &Path) -> Option<&str> {
    path.to_str().filter(|t| crate::storage::is_object_url(t))
}

/// Whether the object at `url` exists ([`crate::storage::exists`]).
#[cfg(feature = "object-store")]
fn object_exists(url: &str) -> Result<bool> {
    crate::storage::exists(url).map_err(|e| Error::Io {
        context: format!("looking for snapshot {url}"),
        source: e.into(),
    })
}

/// Waits for every snapshot to exist and be complete: a local file once its size has
/// not changed for 2 s, an object once it exists (looked for every [`OBJECT_POLL`]).
fn wait_for_files(
    files: &[PathBuf],
    progress: &Progress,
    tick: &mut dyn FnMut() -> Result<()>,
) -> Result<bool> {
    let mut sizes: HashMap<&Path, (u64, Instant)> = HashMap::new();
    #[cfg(feature = "object-store")]
    let mut objects: HashMap<&Path, (bool, Option<Instant>)> = HashMap::new();
    loop {
        if progress.is_cancelled() {
            return Ok(false);
        }
        let mut all = true;
        for f in files {
            #[cfg(feature = "object-store")]
            if let Some(url) = object_url(f) {
                let (found, looked) = objects.entry(f.as_path()).or_insert((false, None));
                if !*found && looked.is_none_or(|t| t.elapsed() >= OBJECT_POLL) {
                    *looked = Some(Instant::now());
                    *found = object_exists(url)?;
                }
                all &= *found;
                continue;
            }
            match std::fs::metadata(f) {
                Ok(m) if m.is_file() => {
                    let e = sizes
                        .entry(f.as_path())
                        .or_insert((m.len(), Instant::now()));
                    if e.0 != m.len() {
                        *e = (m.len(), Instant::now());
                    }
                    // A file still being written grows; one quiet for 2 s is done
                    // (framing and CRC are checked by restore before any write).
                    if e.1.elapsed() < Duration::from_secs(2) {
                        all = false;
                    }
                }
                _ => all = false,
            }
        }
        if all {
            return Ok(true);
        }
        tick()?;
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The bytes of snapshot `path`: a local file, or an object read whole.
fn read_snapshot(path: &Path) -> Result<Vec<u8>> {
    let io = |source: std::io::Error| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    };
    #[cfg(feature = "object-store")]
    if let Some(url) = object_url(path) {
        use std::io::Read;
        let mut reader = crate::storage::open(url).map_err(|e| io(e.into()))?;
        let mut data = Vec::new();
        reader.read_to_end(&mut data).map_err(io)?;
        return Ok(data);
    }
    std::fs::read(path).map_err(io)
}

/// Runs a sync from `source` to `target`; `on_status` is called once per interval
/// (and with the final status). Stops early when `progress` is cancelled (verdict
/// `stopped`). Setup failures (notifications missing, unreachable servers, a
/// damaged snapshot) are errors; the journal keeps the dirty keys for a rerun.
pub fn sync(
    source: &Target,
    target: &Target,
    options: &SyncOptions,
    progress: &Progress,
    on_status: &mut dyn FnMut(&SyncStatus),
) -> Result<SyncReport> {
    let epoch = Instant::now();
    let mut notices = Vec::new();
    let src_caps = {
        let mut c = source.connect()?;
        source.ping(&mut c)?;
        source.probe(&mut c)?
    };
    let tgt_caps = {
        let mut c = target.connect()?;
        target.ping(&mut c)?;
        target.probe(&mut c)?
    };
    if let Some(primary) = &tgt_caps.replica_of {
        return Err(Error::Refused {
            target: target.address().to_string(),
            message: format!("the target is a replica of {primary}: give the primary"),
        });
    }
    let major = |v: &Option<String>| {
        v.as_deref()
            .and_then(rdb_parser::aux::parse_version)
            .map_or(0, |(major, _, _)| major)
    };
    let mut scope = Scope {
        plan: options.plan.clone(),
    };
    if scope.plan.default_db.is_none() {
        scope.plan.default_db = target.database();
    }
    let mut src = Nodes::open(source, src_caps.cluster)?;
    let tgt = Nodes::open(target, tgt_caps.cluster)?;
    let (tx, rx) = crossbeam_channel::bounded(options.event_queue.max(1));
    let shared = Arc::new(Shared::default());
    // 1. Capture, before anything is copied.
    let mut captures = Vec::new();
    for addr in src.masters() {
        match capture::check_config(&mut src, &addr)? {
            Some(_) => {}
            None => notices.push(format!(
                "{}:{}: CONFIG GET refused (as on ElastiCache): notifications checked by the probe only; \
                 make sure notify-keyspace-events also has 'e' (evictions)",
                addr.0, addr.1
            )),
        }
        let c = capture::subscribe(
            src.node_target(&addr),
            addr.clone(),
            tx.clone(),
            Arc::clone(&shared),
            epoch,
            None,
        )?;
        capture::probe(&mut src, &addr, &c)?;
        captures.push(c);
    }
    let capture_proven_s = source_clock_s(&mut src)?;
    let (dirty, resumed_keys) = DirtySet::open(&options.journal, options.max_dirty_in_memory)?;
    let state_file = options.journal.join("state");
    let bulk_done_before = std::fs::read_to_string(&state_file)
        .map(|s| s.trim() == "bulk-done")
        .unwrap_or(false);
    let mut run = Run {
        options,
        target: TargetProfile {
            rdb_version: options.target_rdb_version.unwrap_or(tgt_caps.rdb_version),
            ..TargetProfile::of(&tgt_caps)
        },
        src_pexpiretime: src_caps.family == rdb_parser::Family::Valkey
            || major(&src_caps.version) >= 7,
        tgt_pexpiretime: tgt_caps.family == rdb_parser::Family::Valkey
            || major(&tgt_caps.version) >= 7,
        scope,
        src,
        tgt,
        dirty,
        epoch,
        shared,
        tx,
        rx,
        captures,
        repairs: Vec::new(),
        rescans: Vec::new(),
        failures: HashMap::new(),
        applied: 0,
        deleted: 0,
        errors: 0,
        lags: Vec::new(),
        src_dbs: BTreeSet::new(),
        tgt_dbs: BTreeSet::new(),
        flush_counts: HashMap::new(),
        throttle: Throttle::new(options.max_ops, options.max_bytes),
        notices,
        resumed_keys,
        conversions: ConversionCounts::default(),
    };
    run.refresh_dbs()?;
    // Several source databases into one target database would mix their keys.
    let mut landed: BTreeMap<u64, u64> = BTreeMap::new();
    for &d in &run.src_dbs {
        let t = run.scope.target_db(d, run.tgt.cluster);
        if let Some(other) = landed.insert(t, d) {
            return Err(Error::Refused {
                target: target.address().to_string(),
                message: format!(
                    "source databases {other} and {d} would both land in target database {t}: \
                     select one with --db N, or map them apart with --db-map S:D"
                ),
            });
        }
    }
    run.watch_gaps(true)?;
    let mut last_status = Instant::now();
    let mut state = SyncState::Capturing;
    let mut snapshot = None;
    let mut bulk_done = bulk_done_before;
    if bulk_done_before {
        run.gap("restart: changes made while sync was not running are unknown".into())?;
    } else if !options.snapshots.is_empty() {
        // 2a. The snapshot: wait for it (capture running), then restore it. Dirty
        // keys wait: a key copied now could be overwritten by the older snapshot.
        let ok = {
            let run = &mut run;
            let mut last = Instant::now();
            wait_for_files(&options.snapshots, progress, &mut || {
                run.drain_events()?;
                run.watch_gaps(false)?;
                run.dirty.flush()?;
                if last.elapsed() >= options.interval {
                    last = Instant::now();
                    let s = run.status(SyncState::WaitingForSnapshot);
                    on_status(&s);
                }
                Ok(())
            })?
        };
        if !ok {
            return Ok(finish(
                run,
                SyncState::WaitingForSnapshot,
                None,
                None,
                "stopped",
            ));
        }
        state = SyncState::Bulk;
        let s = run.status(state);
        on_status(&s);
        let data: Vec<Vec<u8>> = options
            .snapshots
            .iter()
            .map(|p| read_snapshot(p))
            .collect::<Result<_>>()?;
        let names: Vec<String> = options
            .snapshots
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let files = data
            .iter()
            .zip(&names)
            .map(|(d, n)| {
                Rdb::parse(d)
                    .map(|rdb| SourceFile { name: n, rdb })
                    .map_err(|error| Error::Parse {
                        file: n.clone(),
                        error,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut ropts = options.restore.clone();
        ropts.plan = run.scope.plan.clone();
        ropts.plan.on_conflict = crate::ConflictPolicy::Replace;
        // Events keep flowing into the dirty set while the restore runs.
        let done = std::sync::atomic::AtomicBool::new(false);
        let report = std::thread::scope(|s| {
            let h = s.spawn(|| {
                let r = crate::restore(target, &files, &ropts, progress);
                done.store(true, Ordering::SeqCst);
                r
            });
            while !done.load(Ordering::SeqCst) {
                let _ = run.drain_events();
                let _ = run.dirty.flush();
                std::thread::sleep(Duration::from_millis(50));
            }
            h.join()
        })
        .map_err(|_| Error::Probe("the snapshot restore panicked".into()))??;
        if report.has_failures() {
            run.notices.push(format!(
                "the snapshot restore failed {} keys; each is copied again from the source \
                 if it changes, and the final comparison reports any left",
                report.failed
            ));
        }
        snapshot = Some(report);
        // A snapshot taken before capture began misses the writes in between: the
        // files already there when sync started, for one. Repaired by a re-scan.
        if let Some(why) = predates_capture(&files, capture_proven_s) {
            run.gap(why)?;
        }
        bulk_done = true;
        write_state(&state_file)?;
    } else {
        // 2b. Bulk from the live source: everything in scope, both sides.
        run.gap("initial copy".into())?;
        run.repairs.clear();
        if let Some(r) = run.rescans.last_mut() {
            r.repair = None;
        }
        state = SyncState::Bulk;
    }
    let mut stats_at = Instant::now();
    let mut beat_at = Instant::now();
    let mut ready_streak = 0u32;
    let mut compare_result = None;
    let verdict;
    loop {
        if progress.is_cancelled() {
            verdict = "stopped";
            break;
        }
        run.drain_events()?;
        if beat_at.elapsed() >= capture::HEARTBEAT_EVERY {
            beat_at = Instant::now();
            let stats = stats_at.elapsed() >= Duration::from_secs(1);
            if stats {
                stats_at = Instant::now();
            }
            run.watch_gaps(stats)?;
        }
        let mut worked = false;
        if !run.rescans.is_empty() {
            // Scan a page, then copy what is dirty: a huge re-scan does not stall
            // the changes.
            worked |= run.rescan_step()?;
        }
        let copied = run.copy_batch()?;
        worked |= copied > 0;
        run.dirty.flush()?;
        if !bulk_done && run.rescans.is_empty() && run.dirty.len() == 0 {
            bulk_done = true;
            write_state(&state_file)?;
        }
        let quiet = run.rescans.is_empty() && run.dirty.len() == 0 && run.capturing_ok();
        if last_status.elapsed() >= options.interval {
            last_status = Instant::now();
            let candidate = if !bulk_done {
                SyncState::Bulk
            } else {
                SyncState::CatchingUp
            };
            let mut s = run.status(candidate);
            let small = bulk_done
                && run.rescans.is_empty()
                && run.capturing_ok()
                && s.backlog <= options.ready_backlog
                && s.lag_ms_p99.is_none_or(|l| l < options.ready_lag_ms);
            ready_streak = if small { ready_streak + 1 } else { 0 };
            if ready_streak >= 2 {
                s.state = SyncState::Ready;
            }
            state = s.state;
            on_status(&s);
            if state == SyncState::Ready && options.until == Until::Ready {
                verdict = "ready";
                break;
            }
        }
        if options.until == Until::Converged
            && bulk_done
            && quiet
            && run.ms_since_last_event() >= options.quiet_for.as_millis() as u64
        {
            let events_before = run.shared.events.load(Ordering::SeqCst);
            let (src_dbs, tgt_dbs) = (run.src_dbs.clone(), {
                run.refresh_dbs()?;
                run.tgt_dbs.clone()
            });
            let src_dbs: BTreeSet<u64> = src_dbs.union(&run.src_dbs).copied().collect();
            let result = compare::compare(
                &mut run.src,
                &mut run.tgt,
                &run.scope,
                &src_dbs,
                &tgt_dbs,
                run.src_pexpiretime,
                run.tgt_pexpiretime,
            )?;
            run.drain_events()?;
            if run.shared.events.load(Ordering::SeqCst) != events_before || run.dirty.len() > 0 {
                // Writes came in during the comparison: not quiet after all.
                continue;
            }
            let clean = result.differences() == 0;
            compare_result = Some(result);
            if clean {
                state = SyncState::Converged;
                verdict = "converged";
            } else {
                verdict = "differences";
            }
            break;
        }
        if !worked {
            // Nothing to do: wait for the next event (bounded, for the housekeeping).
            if let Ok(ev) = run.rx.recv_timeout(Duration::from_millis(20)) {
                if run.scope.db_in_scope(ev.db) && run.scope.key_in_scope(&ev.key) {
                    run.src_dbs.insert(ev.db);
                    run.dirty.insert(ev.db, ev.key, Some(ev.seen))?;
                }
            }
        }
    }
    run.dirty.flush()?;
    Ok(finish(run, state, compare_result, snapshot, verdict))
}

fn write_state(path: &Path) -> Result<()> {
    std::fs::write(path, "bulk-done\n").map_err(|e| Error::Io {
        context: format!("writing {}", path.display()),
        source: e,
    })
}

fn finish(
    mut run: Run<'_>,
    state: SyncState,
    compare: Option<LiveCompare>,
    snapshot: Option<RestoreReport>,
    verdict: &'static str,
) -> SyncReport {
    let last = run.status(state);
    let mut failures: Vec<SyncFailure> = run
        .failures
        .drain()
        .map(|((db, key), error)| SyncFailure { db, key, error })
        .collect();
    failures.sort_by(|a, b| (a.db, &a.key).cmp(&(b.db, &b.key)));
    failures.truncate(100);
    SyncReport {
        status: state,
        last,
        compare,
        repairs: run.repairs,
        failures,
        snapshot,
        resumed_keys: run.resumed_keys,
        conversions: run.conversions,
        notices: run.notices,
        verdict,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn flush_counters() {
        let text =
            "# Commandstats\r\ncmdstat_set:calls=10,usec=5\r\ncmdstat_flushdb:calls=2,usec=1\r\n\
                    cmdstat_flushall:calls=1,usec=1,rejected_calls=0\r\ncmdstat_swapdb:calls=3\r\n";
        assert_eq!(flush_calls(text), 6);
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), Some(3));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
