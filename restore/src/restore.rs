//! The restore pipeline: `records → plan → payload → route → send/ack → account`.
//!
//! The framer (the caller's thread) walks the snapshots, plans each key
//! ([`plan_key`]), writes its `RESTORE` command into the current batch of its
//! node, and hands full batches (bounded by key count and bytes; a value larger
//! than the byte bound goes alone) to the node's workers through a bounded channel:
//! a slow target slows the framer down instead of filling memory. Each worker owns
//! one connection, keeps up to `pipeline_depth` batches (and about two batches' bytes)
//! in flight, reads the replies in order and accounts every key. Function libraries are sent by the framer itself
//! (to every master of a cluster), before the keys that follow them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use rdb_parser::export::write_bytes;
use rdb_parser::reencode::readable;
use rdb_parser::{FunctionLibrary, KeyRecord, LogicalType, Rdb, Record};
use redis::Value;

use crate::target::Connection;

use crate::checkpoint::{self, CheckpointState, FailedLog, Position, SENT_STEP};
use crate::cluster::{self, NodeAddr, SlotMap};
use crate::commands::ConversionCounts;
use crate::delivery::{
    classify, deliver, is_transient, Pending, Redirects, Reply, Router, Settled,
};
use crate::error::{Error, Result};
use crate::payload::{function_refusal, payload, KeyValue, Payload};
use crate::plan::{
    plan_key, ConflictPolicy, KeyPlan, PlanOptions, SkipReason, TargetProfile, WriteMode,
};
use crate::report::{KeyFailure, Progress, RestoreReport};
use crate::resp;
use crate::target::{Target, TargetCaps};
use crate::throttle::Throttle;
use crate::worker::{Flow, NodeOp, NodeWorker};

/// Whether to treat the target as a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClusterMode {
    /// A cluster when `INFO cluster` says `cluster_enabled:1`.
    #[default]
    Auto,
    /// Always route by hash slot (a proxy refusing `CLUSTER SLOTS` is still used as
    /// a single node).
    Always,
}

/// Options of a restore run. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RestoreOptions {
    /// Filters, database mapping and conflict policy.
    pub plan: PlanOptions,
    /// Restore function libraries (`FUNCTION RESTORE`).
    pub functions: bool,
    /// Connections per node (default 2: on a small client machine more connections
    /// only compete with a single-threaded target; measured in benches/README.md).
    pub connections: usize,
    /// Batches in flight per connection at most (default 16); in flight there are also
    /// never more than about two batches' worth of bytes (`2 × batch_bytes`). The window
    /// has to cover the round trip: across clouds (20-50 ms) a window of 2 batches
    /// left the target idle most of the time (measured in benches/README.md).
    pub pipeline_depth: usize,
    /// Commands per batch at most (default 1000).
    pub batch_keys: usize,
    /// Bytes per batch at most (default 8 MiB); a larger single command goes alone.
    pub batch_bytes: usize,
    /// Commands per second at most, all connections together.
    pub max_ops: Option<u64>,
    /// Bytes per second at most, all connections together.
    pub max_bytes: Option<u64>,
    /// Checkpoint file (see [`crate::checkpoint`]).
    pub checkpoint: Option<PathBuf>,
    /// How many failures to keep with their error text (default 100).
    pub max_errors: usize,
    /// The restore time in Unix ms for the expired-key check (default: the clock).
    pub now_ms: Option<i64>,
    /// Cluster detection.
    pub cluster: ClusterMode,
    /// The RDB version to write for, instead of the one the target's `DUMP` probe
    /// shows (`--target-rdb-version`): payloads carry it in their footer and types it
    /// does not know are re-encoded.
    pub target_rdb_version: Option<u16>,
    /// Stop sending after this many failed keys (default 1000; 0: never): a full or
    /// read-only target fails every key the same way, and the report's
    /// [`RestoreReport::failures_by_cause`] says why.
    pub max_failures: u64,
    /// Write every failed key here as JSON Lines (`{"file", "db", "key", "function",
    /// "cause", "error"}`), not just the first [`RestoreOptions::max_errors`].
    pub failed_keys: Option<PathBuf>,
    /// How long a key waits for a node that takes it (a failover, a restarting server)
    /// before it fails (default 120 s): a run never hangs on a node that is gone.
    pub node_timeout: Duration,
    /// On masters that have replicas, end every batch with `WAIT 1` (default true):
    /// a master that dies before its replica has the batch would otherwise take
    /// acknowledged keys with it when the replica takes over. The batch is resent when
    /// the `WAIT` is not answered.
    pub wait_replicas: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            plan: PlanOptions::default(),
            functions: true,
            connections: 2,
            pipeline_depth: 16,
            batch_keys: 1000,
            batch_bytes: 8 << 20,
            max_ops: None,
            max_bytes: None,
            checkpoint: None,
            max_errors: 100,
            now_ms: None,
            cluster: ClusterMode::Auto,
            target_rdb_version: None,
            max_failures: 1000,
            failed_keys: None,
            node_timeout: Duration::from_secs(120),
            wait_replicas: true,
        }
    }
}

setters!(RestoreOptions {
    plan: PlanOptions,
    functions: bool,
    connections: usize,
    pipeline_depth: usize,
    batch_keys: usize,
    batch_bytes: usize,
    max_ops: Option<u64>,
    max_bytes: Option<u64>,
    checkpoint: Option<PathBuf>,
    max_errors: usize,
    now_ms: Option<i64>,
    cluster: ClusterMode,
    target_rdb_version: Option<u16>,
    max_failures: u64,
    failed_keys: Option<PathBuf>,
    node_timeout: Duration,
    wait_replicas: bool,
});

/// One input snapshot.
#[derive(Debug, Clone, Copy)]
pub struct SourceFile<'a> {
    /// How to name it in messages.
    pub name: &'a str,
    /// The parsed header (records are read during the run).
    pub rdb: Rdb<'a>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A library's name from its `#!lua name=...` line (for messages).
pub fn library_name(f: &FunctionLibrary<'_>) -> Vec<u8> {
    let Ok(code) = f.code.to_bytes() else {
        return b"?".to_vec();
    };
    let first = code.split(|&b| b == b'\n').next().unwrap_or(b"");
    let text = String::from_utf8_lossy(first);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("name="))
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_else(|| b"?".to_vec())
}

struct Item<'a> {
    db: u64,
    key: Cow<'a, [u8]>,
    /// Where its record starts in the batch's file (the failed-keys log names it so).
    offset: u64,
    /// It failed in the run this one resumes (see [`checkpoint::FailedLog`]).
    retry: bool,
    /// One `RESTORE` (else command-mode commands).
    restore: bool,
    bytes: u64,
    start: usize,
    end: usize,
    /// Replies its commands get (1 for `RESTORE`; command mode sends several).
    replies: usize,
    /// Command mode under `fail`/`skip`: `EXISTS` decides whether it is sent.
    precheck: bool,
}

struct Batch<'a> {
    seq: u64,
    file: usize,
    db: u64,
    buf: Vec<u8>,
    items: Vec<Item<'a>>,
    /// Where the batch's first record starts.
    first: Position,
    /// Everything before this is in this batch or in batches dispatched earlier
    /// (or needs no sending): the checkpoint may move here once this batch and
    /// all earlier ones are answered.
    end: Position,
    /// Everything in this batch starts before this position (the `sent` bound of
    /// the checkpoint must be beyond it before the batch goes out).
    cut: Position,
}

#[derive(Clone)]
enum Outcome {
    /// Resent after a redirection; the inner outcome counts.
    Redirected(Box<Outcome>),
    Restored,
    Exists(String),
    Failed(String),
}

struct Acc {
    report: RestoreReport,
    next_seq: u64,
    done: BTreeMap<u64, Position>,
    checkpoint: Option<(PathBuf, CheckpointState)>,
    /// Failed records, kept beside the checkpoint so a resumed run retries them.
    failed_log: Option<FailedLog>,
    /// `--failed-keys FILE`.
    failed_keys: Option<BufWriter<File>>,
    last_write: Instant,
}

/// One key (or library) that failed, for [`Acc::failed`].
struct FailedKey<'k> {
    pos: Position,
    /// `None` for a function library.
    db: Option<u64>,
    key: &'k [u8],
    error: String,
    /// The cause it is counted under ([`crate::report::cause_of`] for server replies).
    cause: &'k str,
    /// It was a retry of an earlier run's failure (already in the log).
    retry: bool,
}

impl Acc {
    /// Accounts one failure everywhere it goes: the counts, the cause, the
    /// failed-keys log of the checkpoint, `--failed-keys`, the listed errors.
    fn failed(&mut self, f: FailedKey<'_>, names: &[&str], max_errors: usize) -> Result<()> {
        if f.db.is_some() {
            self.report.failed += 1;
        } else {
            self.report.functions.failed += 1;
        }
        *self
            .report
            .failures_by_cause
            .entry(f.cause.to_string())
            .or_default() += 1;
        if f.retry {
            self.report.retried += 1;
        }
        if let Some(log) = self.failed_log.as_mut() {
            log.failed(f.pos)?;
        }
        if let Some(out) = self.failed_keys.as_mut() {
            let mut line = Vec::with_capacity(f.key.len() + f.error.len() + 64);
            line.extend_from_slice(b"{\"file\":");
            write_bytes(
                &mut line,
                names.get(f.pos.file).copied().unwrap_or("?").as_bytes(),
            );
            line.extend_from_slice(b",\"db\":");
            match f.db {
                Some(db) => line.extend_from_slice(db.to_string().as_bytes()),
                None => line.extend_from_slice(b"null"),
            }
            line.extend_from_slice(b",\"key\":");
            write_bytes(&mut line, f.key);
            line.extend_from_slice(b",\"function\":");
            line.extend_from_slice(if f.db.is_none() { b"true" } else { b"false" });
            line.extend_from_slice(b",\"cause\":");
            write_bytes(&mut line, f.cause.as_bytes());
            line.extend_from_slice(b",\"error\":");
            write_bytes(&mut line, f.error.as_bytes());
            line.extend_from_slice(b"}\n");
            out.write_all(&line).map_err(|source| Error::Io {
                context: "writing --failed-keys".into(),
                source,
            })?;
        }
        if self.report.errors.len() < max_errors {
            self.report.errors.push(KeyFailure {
                file: f.pos.file,
                db: f.db,
                key: f.key.to_vec(),
                error: f.error,
                cause: f.cause.to_string(),
            });
        }
        Ok(())
    }

    /// A retried key (or library) of an earlier run's failures ended well (restored,
    /// skipped or expired).
    fn retried_ok(&mut self, pos: Position) -> Result<()> {
        self.report.retried += 1;
        match self.failed_log.as_mut() {
            Some(log) => log.resolved(pos),
            None => Ok(()),
        }
    }

    /// Failures so far, keys and libraries.
    fn failures(&self) -> u64 {
        self.report.failed + self.report.functions.failed
    }
}

struct Shared<'p> {
    acc: Mutex<Acc>,
    /// Set on a fatal error: workers stop at once (the replies in flight are unread).
    abort: AtomicBool,
    fatal: Mutex<Option<Error>>,
    /// Set by [`Shared::stop`]: nothing more is sent, what is in flight is answered.
    stop: Mutex<Option<Error>>,
    stopping: AtomicBool,
    moved: AtomicBool,
    progress: &'p Progress,
    policy: ConflictPolicy,
    max_errors: usize,
    max_failures: u64,
    names: Vec<&'p str>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Keeps the first `cause` in `slot` and raises `flag`.
fn end(slot: &Mutex<Option<Error>>, flag: &AtomicBool, cause: Error) {
    lock(slot).get_or_insert(cause);
    flag.store(true, Ordering::SeqCst);
}

impl Shared<'_> {
    /// Ends the run at once with `e`: workers stop without reading what is in flight.
    fn fail(&self, e: Error) {
        end(&self.fatal, &self.abort, e);
    }

    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }

    /// Ends the run gracefully with `cause`: the framer sends nothing more, the
    /// workers read the replies of what is in flight.
    fn stop(&self, cause: Error) {
        end(&self.stop, &self.stopping, cause);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Accounts a failure (see [`Acc::failed`]) and stops the run once
    /// `max_failures` is reached.
    fn key_failed(&self, acc: &mut Acc, f: FailedKey<'_>) {
        if let Err(e) = acc.failed(f, &self.names, self.max_errors) {
            self.fail(e);
        }
        let failed = acc.failures();
        if self.max_failures > 0 && failed >= self.max_failures && !self.stopping() {
            self.stop(Error::TooManyFailures {
                failed,
                limit: self.max_failures,
            });
        }
    }

    /// Accounts a retried key that ended well.
    fn retried_ok(&self, acc: &mut Acc, pos: Position) {
        if let Err(e) = acc.retried_ok(pos) {
            self.fail(e);
        }
    }

    fn complete(&self, batch: &Batch<'_>, outcomes: Vec<Outcome>) {
        let mut acc = lock(&self.acc);
        let mut bytes = 0;
        let mut failed = 0;
        for (item, outcome) in batch.items.iter().zip(outcomes) {
            let pos = Position::new(batch.file, item.offset);
            let outcome = match outcome {
                Outcome::Redirected(inner) => {
                    acc.report.redirected += 1;
                    *inner
                }
                o => o,
            };
            match outcome {
                Outcome::Restored => {
                    acc.report.restored += 1;
                    acc.report.bytes += item.bytes;
                    bytes += item.bytes;
                    if item.retry {
                        self.retried_ok(&mut acc, pos);
                    }
                }
                Outcome::Exists(_) if self.policy == ConflictPolicy::Skip => {
                    acc.report.add_skip(SkipReason::Exists, 1);
                    if item.retry {
                        self.retried_ok(&mut acc, pos);
                    }
                }
                Outcome::Redirected(_) => {}
                Outcome::Exists(error) | Outcome::Failed(error) => {
                    failed += 1;
                    let cause = crate::report::cause_of(&error).to_string();
                    self.key_failed(
                        &mut acc,
                        FailedKey {
                            pos,
                            db: Some(item.db),
                            key: &item.key,
                            error,
                            cause: &cause,
                            retry: item.retry,
                        },
                    );
                }
            }
        }
        self.progress
            .keys
            .fetch_add(batch.items.len() as u64, Ordering::Relaxed);
        self.progress.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.progress.failed.fetch_add(failed, Ordering::Relaxed);
        acc.done.insert(batch.seq, batch.end);
        let mut advanced = None;
        loop {
            let next = acc.next_seq;
            match acc.done.remove(&next) {
                Some(p) => {
                    advanced = Some(p);
                    acc.next_seq += 1;
                }
                None => break,
            }
        }
        if let Some(p) = advanced {
            let due = acc.last_write.elapsed() >= Duration::from_millis(100);
            if let Some((_, state)) = acc.checkpoint.as_mut() {
                state.acked = state.acked.max(p);
            }
            if due && acc.checkpoint.is_some() {
                let r = acc.store_checkpoint();
                acc.last_write = Instant::now();
                drop(acc);
                if let Err(e) = r {
                    self.fail(e);
                }
            }
        }
    }
}

impl Acc {
    /// Writes the checkpoint, the failed-keys log first: `acked` may pass a failed
    /// record only once its failure is on disk.
    fn store_checkpoint(&mut self) -> Result<()> {
        if let Some(log) = self.failed_log.as_mut() {
            log.sync()?;
        }
        match self.checkpoint.as_ref() {
            Some((path, state)) => checkpoint::store(path, state),
            None => Ok(()),
        }
    }
}

struct WorkerCtx<'s, 'p> {
    target: Target,
    addr: NodeAddr,
    select: bool,
    depth: usize,
    /// Bytes in flight beyond which no further batch is sent before a reply.
    max_inflight_bytes: usize,
    shared: &'s Shared<'p>,
    /// Where keys go when their first attempt did not settle.
    router: Router<'s>,
    /// `RestoreOptions::wait_replicas`.
    wait_replicas: bool,
}

/// `WAIT 1 1000`: one replica has everything before it (or 1 s passed).
const WAIT_ONE_REPLICA: &[u8] = b"*3\r\n$4\r\nWAIT\r\n$1\r\n1\r\n$4\r\n1000\r\n";

/// Whether the node behind `conn` is a master with replicas connected.
fn has_replicas(conn: &mut Connection) -> bool {
    crate::target::info_section(conn, "replication")
        .map(|t| crate::live::info::Info::parse(&t))
        .and_then(|i| i.uint("connected_slaves"))
        .is_some_and(|n| n > 0)
}

/// Restore's [`NodeOp`]: pipelined `RESTORE` batches (command-mode keys under
/// `fail`/`skip` checked with `EXISTS` first), each followed by `WAIT 1` on a master
/// with replicas. A batch whose connection failed is settled through the
/// [`delivery`](crate::delivery) stage: what was answered keeps its answer, the rest is
/// resent so that the snapshot's value wins.
struct RestoreOp<'c, 'a> {
    ctx: &'c WorkerCtx<'c, 'c>,
    redirects: Redirects<'c>,
    current_db: Option<u64>,
    /// `WAIT 1` after each batch (a master with replicas).
    wait: bool,
    batches: std::marker::PhantomData<Batch<'a>>,
}

impl<'a> NodeOp for RestoreOp<'_, 'a> {
    type Batch = Batch<'a>;
    type InFlight = InFlight<'a>;

    fn stopped(&self) -> bool {
        self.ctx.shared.aborted()
    }

    fn connected(&mut self, conn: &mut Connection) {
        self.current_db = None;
        self.wait = self.ctx.wait_replicas && has_replicas(conn);
    }

    fn drains(&self, batch: &Batch<'a>) -> bool {
        // Command-mode keys under `fail`/`skip`: the EXISTS answers decide what is
        // sent, so everything in flight is answered first.
        batch.items.iter().any(|i| i.precheck)
    }

    fn send(&mut self, c: &mut Connection, batch: Batch<'a>) -> (InFlight<'a>, Flow) {
        let ctx = self.ctx;
        let mut selected = false;
        if ctx.select && self.current_db != Some(batch.db) {
            let mut cmd = Vec::with_capacity(32);
            resp::write_select(&mut cmd, batch.db);
            if c.send_packed_command(&cmd).is_err() {
                return (self.not_sent(batch), Flow::Lost);
            }
            selected = true;
            self.current_db = Some(batch.db);
        }
        let mut pre: Vec<Option<Outcome>> = Vec::new();
        let sent = if self.drains(&batch) {
            let Some(p) = precheck(c, &batch, selected, ctx, &mut self.redirects) else {
                return (self.not_sent(batch), Flow::Stop);
            };
            pre = p;
            selected = false;
            let mut buf = Vec::with_capacity(batch.buf.len());
            for (item, p) in batch.items.iter().zip(&pre) {
                if p.is_none() {
                    buf.extend_from_slice(batch.buf.get(item.start..item.end).unwrap_or(&[]));
                }
            }
            buf.is_empty() || c.send_packed_command(&buf).is_ok()
        } else {
            c.send_packed_command(&batch.buf).is_ok()
        };
        let sent = sent && (!self.wait || c.send_packed_command(WAIT_ONE_REPLICA).is_ok());
        let f = InFlight {
            batch,
            selected,
            pre,
            sent: true,
            waited: self.wait,
        };
        (f, if sent { Flow::Go } else { Flow::Lost })
    }

    fn not_sent(&mut self, batch: Batch<'a>) -> InFlight<'a> {
        InFlight {
            batch,
            selected: false,
            pre: Vec::new(),
            sent: false,
            waited: false,
        }
    }

    fn bytes(&self, f: &InFlight<'a>) -> usize {
        if f.sent {
            f.batch.buf.len()
        } else {
            0
        }
    }

    fn collect(&mut self, c: &mut Connection, f: InFlight<'a>) -> Flow {
        let ctx = self.ctx;
        match collect(
            c,
            &f,
            &mut self.current_db,
            ctx,
            &mut self.redirects,
            &mut self.wait,
        ) {
            Ok(outcomes) => {
                ctx.shared.complete(&f.batch, outcomes);
                Flow::Go
            }
            Err(known) => {
                let outcomes = settle(&f.batch, &f.pre, known, ctx, &mut self.redirects, true);
                ctx.shared.complete(&f.batch, outcomes);
                Flow::Lost
            }
        }
    }

    fn reroute(&mut self, f: InFlight<'a>) -> Flow {
        let outcomes = settle(
            &f.batch,
            &f.pre,
            Vec::new(),
            self.ctx,
            &mut self.redirects,
            f.sent,
        );
        self.ctx.shared.complete(&f.batch, outcomes);
        Flow::Go
    }
}

/// One worker: a [`NodeWorker`] running [`RestoreOp`].
fn worker(ctx: WorkerCtx<'_, '_>, rx: Receiver<Batch<'_>>) {
    let op = RestoreOp {
        ctx: &ctx,
        redirects: Redirects {
            base: &ctx.target,
            conns: HashMap::new(),
        },
        current_db: None,
        wait: false,
        batches: std::marker::PhantomData,
    };
    NodeWorker {
        target: &ctx.target,
        op,
        depth: ctx.depth,
        max_bytes: ctx.max_inflight_bytes,
    }
    .run(rx);
}

/// A batch's outcomes: `known` (those of its first items, answered before the
/// connection failed), then the rest settled through the delivery stage: items decided
/// before sending (`pre`) keep their outcome, the others are resent (`sent`: they may
/// have been carried out, so the snapshot's value must win).
fn settle(
    batch: &Batch<'_>,
    pre: &[Option<Outcome>],
    mut known: Vec<Outcome>,
    ctx: &WorkerCtx<'_, '_>,
    redirects: &mut Redirects<'_>,
    sent: bool,
) -> Vec<Outcome> {
    let first = known.len();
    let mut pending = Vec::new();
    let mut slots = Vec::new();
    for (i, item) in batch.items.iter().enumerate().skip(first) {
        match pre.get(i) {
            Some(Some(o)) => known.push(o.clone()),
            _ => {
                slots.push(known.len());
                known.push(Outcome::Failed("IO not delivered".into()));
                // A command-mode key never sent skipped its EXISTS check: DEL first too.
                pending.push(pending_of(batch, item, sent || item.precheck));
            }
        }
    }
    redeliver(&mut known, &slots, &pending, ctx, redirects);
    known
}

/// The delivery stage's view of one item.
fn pending_of<'b>(batch: &'b Batch<'_>, item: &'b Item<'_>, unknown: bool) -> Pending<'b> {
    Pending {
        db: batch.db,
        key: &item.key,
        cmd: batch.buf.get(item.start..item.end).unwrap_or(&[]),
        replies: item.replies.max(1),
        restore: item.restore,
        unknown,
    }
}

/// Delivers `pending` and puts each outcome at its slot of `outcomes`.
fn redeliver(
    outcomes: &mut [Outcome],
    slots: &[usize],
    pending: &[Pending<'_>],
    ctx: &WorkerCtx<'_, '_>,
    redirects: &mut Redirects<'_>,
) {
    for (&slot, settled) in slots.iter().zip(deliver(pending, &ctx.router, redirects)) {
        if let Some(o) = outcomes.get_mut(slot) {
            *o = Outcome::Redirected(Box::new(match settled {
                Settled::Ok => Outcome::Restored,
                Settled::Exists(text) => Outcome::Exists(text),
                Settled::Failed(text) => Outcome::Failed(text),
            }));
        }
    }
}

/// Reads the reply of a `SELECT db` sent ahead of a batch: `Ok(Some(text))` when the
/// server refused it, `Err` when the connection failed.
fn select_reply(conn: &mut Connection, db: u64) -> std::result::Result<Option<String>, ()> {
    match classify(conn.recv_response()) {
        Ok(Reply::Ok) => Ok(None),
        Ok(Reply::Error { text, .. }) => Ok(Some(format!("SELECT {db}: {text}"))),
        Err(_) => Err(()),
    }
}

/// A batch sent and not yet answered.
struct InFlight<'a> {
    batch: Batch<'a>,
    /// A `SELECT` went before it.
    selected: bool,
    /// Outcomes decided before sending (keys found by the EXISTS check), per item;
    /// empty when there was no check.
    pre: Vec<Option<Outcome>>,
    /// It was (perhaps partly) sent; `false` for a batch taken from the queue when
    /// the connection failed before it went out.
    sent: bool,
    /// A `WAIT 1` follows it: its keys count as done once a replica has them.
    waited: bool,
}

/// Sends `EXISTS` for the batch's checked items (after the pending `SELECT`, whose
/// reply it reads) and returns the items already decided: those whose key exists.
/// `None`: the run failed (already reported).
fn precheck(
    conn: &mut Connection,
    batch: &Batch<'_>,
    selected: bool,
    ctx: &WorkerCtx<'_, '_>,
    redirects: &mut Redirects<'_>,
) -> Option<Vec<Option<Outcome>>> {
    let shared = ctx.shared;
    let mut buf = Vec::new();
    let mut cmds = Vec::new();
    for item in batch.items.iter().filter(|i| i.precheck) {
        let from = buf.len();
        resp::write_command(&mut buf, &[b"EXISTS", &item.key]);
        cmds.push((from, buf.len()));
    }
    if let Err(e) = conn.send_packed_command(&buf) {
        shared.fail(ctx.target.error("sending EXISTS", &e));
        return None;
    }
    let select_error = if selected {
        match select_reply(conn, batch.db) {
            Ok(e) => e,
            Err(()) => {
                shared.fail(
                    ctx.target
                        .error("reading replies", &"the connection was lost"),
                );
                return None;
            }
        }
    } else {
        None
    };
    let mut answers = Vec::with_capacity(cmds.len());
    for &(from, to) in &cmds {
        let reply = match conn.recv_response() {
            Ok(Value::Int(n)) => Ok(n > 0),
            other => match classify(other) {
                Ok(r @ Reply::Error { .. }) if matches!(&r, Reply::Error { code, .. } if is_transient(code)) =>
                {
                    let cmd = buf.get(from..to).unwrap_or(&[]);
                    match redirects.exists(&ctx.addr, cmd, r, &shared.moved) {
                        Some(b) => Ok(b),
                        None => Err("EXISTS: no answer after redirection".to_string()),
                    }
                }
                Ok(Reply::Error { text, .. }) => Err(format!("EXISTS: {text}")),
                Ok(Reply::Ok) => Err("EXISTS: unexpected reply".to_string()),
                Err(e) => {
                    shared.fail(ctx.target.error("reading replies", &e));
                    return None;
                }
            },
        };
        answers.push(reply);
    }
    let mut answers = answers.into_iter();
    Some(
        batch
            .items
            .iter()
            .map(|item| {
                if let Some(e) = &select_error {
                    return Some(Outcome::Failed(e.clone()));
                }
                if !item.precheck {
                    return None;
                }
                match answers.next() {
                    Some(Ok(true)) => Some(Outcome::Exists(
                        "BUSYKEY the key already exists on the target (EXISTS before writing commands)"
                            .into(),
                    )),
                    Some(Ok(false)) => None,
                    Some(Err(e)) => Some(Outcome::Failed(e)),
                    None => Some(Outcome::Failed("EXISTS: no reply".into())),
                }
            })
            .collect(),
    )
}

/// Reads the replies of an in-flight batch into outcomes; replies that do not settle
/// a key (redirections, a cluster or server busy changing) are settled through the
/// delivery stage. `Err` holds the outcomes of the items answered before the
/// connection failed.
fn collect(
    conn: &mut Connection,
    f: &InFlight<'_>,
    current_db: &mut Option<u64>,
    ctx: &WorkerCtx<'_, '_>,
    redirects: &mut Redirects<'_>,
    wait: &mut bool,
) -> std::result::Result<Vec<Outcome>, Vec<Outcome>> {
    let batch = &f.batch;
    // A batch followed by `WAIT` is done only once a replica has it: when the
    // connection fails before that answer, all of it is resent.
    let lost = |outcomes: Vec<Outcome>| if f.waited { Vec::new() } else { outcomes };
    let select_error = if f.selected {
        select_reply(conn, batch.db).map_err(|()| Vec::new())?
    } else {
        None
    };
    if select_error.is_some() {
        *current_db = None;
    }
    let mut outcomes = Vec::with_capacity(batch.items.len());
    let mut deferred = Vec::new();
    for (i, item) in batch.items.iter().enumerate() {
        if let Some(Some(o)) = f.pre.get(i) {
            outcomes.push(o.clone());
            continue;
        }
        // The first error among the item's replies decides.
        let mut reply = Reply::Ok;
        for _ in 0..item.replies.max(1) {
            let Ok(r) = classify(conn.recv_response()) else {
                return Err(lost(outcomes));
            };
            if matches!(reply, Reply::Ok) {
                reply = r;
            }
        }
        let outcome = match (&select_error, reply) {
            (Some(e), _) => Outcome::Failed(e.clone()),
            (None, Reply::Ok) => Outcome::Restored,
            (None, Reply::Error { code, text }) if code == "BUSYKEY" => Outcome::Exists(text),
            (None, Reply::Error { code, .. }) if is_transient(&code) => {
                deferred.push(i);
                Outcome::Failed(String::new())
            }
            (None, Reply::Error { text, .. }) => Outcome::Failed(text),
        };
        outcomes.push(outcome);
    }
    if f.waited {
        match conn.recv_response() {
            Ok(Value::Int(n)) if n >= 1 => {}
            // No replica within the second (it is down or far behind): stop waiting on
            // this connection; the keys are on the master all the same.
            Ok(_) => *wait = false,
            Err(_) => return Err(Vec::new()),
        }
    }
    // Not carried out (a redirection or "not now"): resent as they were.
    let pending: Vec<Pending<'_>> = deferred
        .iter()
        .filter_map(|&i| batch.items.get(i))
        .map(|item| pending_of(batch, item, false))
        .collect();
    redeliver(&mut outcomes, &deferred, &pending, ctx, redirects);
    Ok(outcomes)
}

/// A master node during the run: where its batches go.
struct Node<'a> {
    tx: Sender<Batch<'a>>,
    batch: Option<Batch<'a>>,
}

/// Function libraries are sent synchronously on these connections (one per master).
struct FunctionSender {
    conns: Vec<(String, Connection)>,
}

/// Restores `files` (taken as one dataset, e.g. one file per shard) into `target`.
///
/// Before the first write, every file is framed and its CRC-64 checked (unless the
/// files were opened without checksum verification), the target is probed, and a
/// target that cannot take the snapshot as asked is refused: a replica, databases it
/// does not have or that the URL's `/N` would merge, and under
/// [`ConflictPolicy::Fail`] keys of the snapshot it already holds.
///
/// Returns the report when the run went through, even if keys failed (see
/// [`RestoreReport::has_failures`]). An `Err` means the run could not start (nothing
/// was written), or [`Error::Stopped`] when it stopped part-way (connection lost,
/// `max_failures` reached, cancelled through [`Progress::cancel`]): that error carries
/// the report of what was done. With a checkpoint, rerunning resumes and retries
/// every key that failed.
pub fn restore<'a>(
    target: &Target,
    files: &[SourceFile<'a>],
    options: &RestoreOptions,
    progress: &Progress,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let now = options.now_ms.unwrap_or_else(now_ms);
    let mut options = options.clone();
    options.plan.default_db = target.database().or(options.plan.default_db);
    let options = &options;

    let mut probe_conn = target.connect()?;
    let mut caps = target.probe(&mut probe_conn)?;
    if let Some(v) = options.target_rdb_version {
        caps.rdb_version = v;
        caps.rdb_version_source = "--target-rdb-version";
    }
    if let (Some(primary), false) = (&caps.replica_of, caps.cluster) {
        return Err(Error::Refused {
            target: target.address().to_string(),
            message: format!(
                "this server is a replica of {primary} (role:slave): writes would fail with \
                 READONLY; restore into the primary"
            ),
        });
    }
    let profile = TargetProfile::of(&caps);
    // Nothing is written from a file before it is known good, nor before everything
    // the target cannot take is known: one pass over every record.
    let survey = survey(files, options, &profile, now)?;
    progress.keys_total.store(survey.keys, Ordering::Relaxed);

    // Topology: one node, or the masters of a cluster.
    let cluster_wanted = caps.cluster || options.cluster == ClusterMode::Always;
    let host = target
        .address()
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let slot_map = if cluster_wanted {
        SlotMap::fetch(&mut probe_conn, &host).map_err(|e| target.error("CLUSTER SLOTS", &e))?
    } else {
        None
    };
    let single_db = caps.single_db.clone().or_else(|| {
        (options.cluster == ClusterMode::Always).then(|| "--cluster given".to_string())
    });
    check_databases(&survey, &options.plan, single_db.as_deref(), target)?;
    check_writable(&survey, target)?;

    // Checkpoint.
    let file_ids: Vec<(u64, String)> = files
        .iter()
        .map(|f| (f.rdb.data().len() as u64, f.name.to_string()))
        .collect();
    let resume = match &options.checkpoint {
        Some(path) => checkpoint::load(path, &file_ids)?,
        None => None,
    };
    let failed_log = match (&options.checkpoint, &resume) {
        (Some(path), Some(_)) => Some(FailedLog::open(path)?),
        (Some(path), None) => Some(FailedLog::start(path)?),
        (None, _) => None,
    };
    let (acked, mut sent_bound) = match &resume {
        Some(s) => (s.acked, s.sent),
        None => (Position::default(), Position::default()),
    };
    let resumed = resume.is_some();
    // Records before `acked` that failed in an earlier run: retried.
    let retry: HashSet<Position> = match (&failed_log, resumed) {
        (Some(log), true) => log.positions().collect(),
        _ => HashSet::new(),
    };
    if options.plan.on_conflict == ConflictPolicy::Fail && !resumed {
        check_conflicts(
            target,
            &mut probe_conn,
            &caps,
            slot_map.as_ref(),
            &survey,
            &options.plan,
        )?;
    }
    let overlap_end = sent_bound;
    let cp_state = options.checkpoint.as_ref().map(|path| {
        (
            path.clone(),
            CheckpointState {
                files: file_ids.clone(),
                acked,
                sent: sent_bound,
            },
        )
    });
    let failed_keys = match &options.failed_keys {
        Some(path) => Some(BufWriter::new(File::create(path).map_err(|source| {
            Error::Io {
                context: format!("creating {}", path.display()),
                source,
            }
        })?)),
        None => None,
    };

    let shared = Shared {
        acc: Mutex::new(Acc {
            report: RestoreReport::new(),
            next_seq: 0,
            done: BTreeMap::new(),
            checkpoint: cp_state,
            failed_log,
            failed_keys,
            last_write: Instant::now(),
        }),
        abort: AtomicBool::new(false),
        fatal: Mutex::new(None),
        stop: Mutex::new(None),
        stopping: AtomicBool::new(false),
        moved: AtomicBool::new(false),
        progress,
        policy: options.plan.on_conflict,
        max_errors: options.max_errors,
        max_failures: options.max_failures,
        names: files.iter().map(|f| f.name).collect(),
    };
    progress
        .input_total
        .store(file_ids.iter().map(|f| f.0).sum(), Ordering::Relaxed);

    let node_addrs: Vec<NodeAddr> = match &slot_map {
        Some(m) => m.nodes.clone(),
        None => vec![(host.clone(), port_of(target))],
    };
    let slot_owner: RwLock<Option<SlotMap>> = RwLock::new(slot_map);
    let mut local = RestoreReport::new();
    let mut throttle = Throttle::new(options.max_ops, options.max_bytes);
    let mut batch_keys = options.batch_keys.max(1);
    let mut batch_bytes = options.batch_bytes.max(1);
    if let Some(ops) = options.max_ops {
        batch_keys = batch_keys.min((ops / 10).max(1) as usize);
    }
    if let Some(b) = options.max_bytes {
        batch_bytes = batch_bytes.min((b / 10).max(1) as usize);
    }
    let select = single_db.is_none();
    let connections = options.connections.max(1);

    let mut functions = FunctionSender { conns: Vec::new() };
    if options.functions {
        for (h, p) in &node_addrs {
            let t = target.for_node(h, *p);
            let c = if node_addrs.len() == 1 {
                target.connect()?
            } else {
                t.connect()?
            };
            functions.conns.push((t.address().to_string(), c));
        }
    }
    drop(probe_conn);

    let router_for = |own: NodeAddr| Router {
        target,
        host: &host,
        slots: &slot_owner,
        own,
        select,
        deadline: options.node_timeout,
        moved: &shared.moved,
    };
    let mut frame_error: Option<Error> = None;
    std::thread::scope(|scope| {
        let mut nodes: Vec<Node<'a>> = Vec::new();
        let spawn_node = |addr: &NodeAddr, nodes: &mut Vec<Node<'a>>| {
            let (tx, rx) = bounded::<Batch<'a>>(connections);
            for _ in 0..connections {
                let ctx = WorkerCtx {
                    target: if slot_owner_is_cluster(&slot_owner) {
                        target.for_node(&addr.0, addr.1)
                    } else {
                        target.clone()
                    },
                    addr: addr.clone(),
                    select,
                    depth: options.pipeline_depth,
                    max_inflight_bytes: batch_bytes.saturating_mul(2),
                    shared: &shared,
                    router: router_for(addr.clone()),
                    wait_replicas: options.wait_replicas,
                };
                let rx = rx.clone();
                scope.spawn(move || worker(ctx, rx));
            }
            nodes.push(Node { tx, batch: None });
        };
        for a in &node_addrs {
            spawn_node(a, &mut nodes);
        }
        let mut known: Vec<NodeAddr> = node_addrs.clone();
        let mut seq = 0u64;
        let mut base = 0u64;

        // Hands a batch to its node's workers (after pacing and the `sent` bound).
        let mut dispatch =
            |batch: Batch<'a>, node: &Node<'a>, seq: &mut u64, sent_bound: &mut Position| -> bool {
                let mut batch = batch;
                batch.seq = *seq;
                *seq += 1;
                if throttle.is_limited() {
                    throttle.wait(batch.items.len() as u64, batch.buf.len() as u64);
                }
                if options.checkpoint.is_some() && batch.cut >= *sent_bound {
                    *sent_bound = Position::new(batch.cut.file, batch.cut.offset + SENT_STEP);
                    let mut acc = lock(&shared.acc);
                    if let Some((path, state)) = acc.checkpoint.as_mut() {
                        state.sent = state.sent.max(*sent_bound);
                        if let Err(e) = checkpoint::store(path, state) {
                            drop(acc);
                            shared.fail(e);
                            return false;
                        }
                    }
                }
                node.tx.send(batch).is_ok()
            };

        'files: for (fi, file) in files.iter().enumerate() {
            let mut records = file.rdb.records();
            loop {
                if progress.is_cancelled() {
                    shared.stop(Error::Interrupted);
                }
                if shared.aborted() || shared.stopping() {
                    break 'files;
                }
                let start = records.offset();
                let Some(record) = records.next() else { break };
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        frame_error = Some(Error::Parse {
                            file: file.name.to_string(),
                            error: e,
                        });
                        break 'files;
                    }
                };
                progress
                    .input_position
                    .store(base + records.offset(), Ordering::Relaxed);
                let pos = Position::new(fi, start);
                // Answered by the run this one resumes: skipped, unless it failed there.
                let answered = resumed && pos < acked;
                let is_retry = answered && retry.contains(&pos);
                match record {
                    Record::Key(k) => {
                        if answered && !is_retry {
                            local.add_skip(SkipReason::Checkpoint, 1);
                            progress.keys.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        let force = resumed && pos < overlap_end;
                        let plan = plan_key(&k, &options.plan, &profile, now, force);
                        let prepared = prepare(
                            plan,
                            &k,
                            file.rdb.header().version,
                            &profile,
                            options,
                            now,
                            &mut local.conversions,
                        );
                        match prepared {
                            Prepared::Send { db, send } => {
                                // Route.
                                if shared.moved.swap(false, Ordering::Relaxed) {
                                    router_for((host.clone(), port_of(target))).refresh();
                                }
                                let ni = {
                                    let map = slot_owner.read().unwrap_or_else(|p| p.into_inner());
                                    match map.as_ref() {
                                        Some(m) => {
                                            let slot = cluster::slot_for_key(&k.key);
                                            match m.owner.get(usize::from(slot)).copied().flatten()
                                            {
                                                Some(owner) => m.nodes.get(owner).map(|a| {
                                                    match known.iter().position(|x| x == a) {
                                                        Some(i) => i,
                                                        None => {
                                                            known.push(a.clone());
                                                            known.len() - 1
                                                        }
                                                    }
                                                }),
                                                None => None,
                                            }
                                        }
                                        None => Some(0),
                                    }
                                };
                                let Some(ni) = ni else {
                                    progress.keys.fetch_add(1, Ordering::Relaxed);
                                    progress.failed.fetch_add(1, Ordering::Relaxed);
                                    shared.key_failed(
                                        &mut lock(&shared.acc),
                                        FailedKey {
                                            pos,
                                            db: Some(k.db),
                                            key: &k.key,
                                            error: "CLUSTERDOWN no cluster node serves this \
                                                    key's slot"
                                                .into(),
                                            cause: "CLUSTERDOWN",
                                            retry: is_retry,
                                        },
                                    );
                                    continue;
                                };
                                while nodes.len() < known.len() {
                                    let a = known[nodes.len()].clone();
                                    spawn_node(&a, &mut nodes);
                                }
                                let estimate = k.key.len() + send.len() + 128;
                                let must_flush = match nodes.get(ni).and_then(|n| n.batch.as_ref())
                                {
                                    Some(b) => {
                                        b.db != db
                                            || (!b.items.is_empty()
                                                && b.buf.len() + estimate > batch_bytes)
                                    }
                                    None => false,
                                };
                                if must_flush {
                                    if let Some(b) = take_batch(&mut nodes, ni, pos) {
                                        if !dispatch(b, &nodes[ni], &mut seq, &mut sent_bound) {
                                            break 'files;
                                        }
                                    }
                                }
                                let Some(node) = nodes.get_mut(ni) else {
                                    continue;
                                };
                                let b = node.batch.get_or_insert_with(|| Batch {
                                    seq: 0,
                                    file: fi,
                                    db,
                                    buf: Vec::with_capacity(batch_bytes.min(1 << 20)),
                                    items: Vec::new(),
                                    first: pos,
                                    end: pos,
                                    cut: pos,
                                });
                                let from = b.buf.len();
                                let is_restore = matches!(send, Send::Restore { .. });
                                let (bytes, replies, precheck) = match send {
                                    Send::Restore {
                                        ttl,
                                        flags,
                                        payload,
                                    } => {
                                        payload.write_restore(&mut b.buf, &k.key, ttl, flags);
                                        (payload.restore_len().unwrap_or(0) as u64, 1, false)
                                    }
                                    Send::Commands {
                                        buf,
                                        commands,
                                        precheck,
                                    } => {
                                        b.buf.extend_from_slice(&buf);
                                        (buf.len() as u64, commands, precheck)
                                    }
                                };
                                b.items.push(Item {
                                    db: k.db,
                                    key: k.key,
                                    offset: pos.offset,
                                    retry: is_retry,
                                    restore: is_restore,
                                    bytes,
                                    start: from,
                                    end: b.buf.len(),
                                    replies,
                                    precheck,
                                });
                                if b.items.len() >= batch_keys || b.buf.len() >= batch_bytes {
                                    let cut = Position::new(fi, records.offset());
                                    if let Some(b) = take_batch(&mut nodes, ni, cut) {
                                        if !dispatch(b, &nodes[ni], &mut seq, &mut sent_bound) {
                                            break 'files;
                                        }
                                    }
                                }
                            }
                            Prepared::Skip(r) => {
                                local.add_skip(r, 1);
                                progress.keys.fetch_add(1, Ordering::Relaxed);
                                if is_retry {
                                    shared.retried_ok(&mut lock(&shared.acc), pos);
                                }
                            }
                            Prepared::Expired => {
                                local.expired += 1;
                                progress.keys.fetch_add(1, Ordering::Relaxed);
                                if is_retry {
                                    shared.retried_ok(&mut lock(&shared.acc), pos);
                                }
                            }
                            Prepared::Reject(why) => {
                                progress.keys.fetch_add(1, Ordering::Relaxed);
                                progress.failed.fetch_add(1, Ordering::Relaxed);
                                shared.key_failed(
                                    &mut lock(&shared.acc),
                                    FailedKey {
                                        pos,
                                        db: Some(k.db),
                                        key: &k.key,
                                        error: why,
                                        cause: "PLAN",
                                        retry: is_retry,
                                    },
                                );
                            }
                        }
                    }
                    Record::Function(f) => {
                        let name = library_name(&f);
                        if !options.functions
                            || (answered && !is_retry)
                            || !options.plan.function_listed(&name)
                        {
                            local.functions.skipped += 1;
                            continue;
                        }
                        let replace = options.plan.on_conflict == ConflictPolicy::Replace
                            || (resumed && pos < overlap_end);
                        let outcome = send_function(&f, replace, &profile, &mut functions, target);
                        let mut acc = lock(&shared.acc);
                        match outcome {
                            FunctionOutcome::Restored(bytes) => {
                                acc.report.functions.restored += 1;
                                acc.report.bytes += bytes;
                            }
                            FunctionOutcome::Exists
                                if options.plan.on_conflict == ConflictPolicy::Skip =>
                            {
                                acc.report.functions.skipped += 1;
                            }
                            FunctionOutcome::Exists | FunctionOutcome::Failed(..) => {
                                let (error, cause) = match outcome {
                                    FunctionOutcome::Failed(e, cause) => (e, cause),
                                    _ => (
                                        format!(
                                            "BUSYKEY library '{}' already exists",
                                            String::from_utf8_lossy(&name)
                                        ),
                                        "BUSYKEY".to_string(),
                                    ),
                                };
                                shared.key_failed(
                                    &mut acc,
                                    FailedKey {
                                        pos,
                                        db: None,
                                        key: &name,
                                        error,
                                        cause: &cause,
                                        retry: is_retry,
                                    },
                                );
                                continue;
                            }
                        }
                        if is_retry {
                            shared.retried_ok(&mut acc, pos);
                        }
                    }
                    _ => {}
                }
            }
            // End of file: flush every node's batch.
            let end = Position::new(fi, records.offset());
            for ni in 0..nodes.len() {
                if let Some(b) = take_batch(&mut nodes, ni, end) {
                    if !dispatch(b, &nodes[ni], &mut seq, &mut sent_bound) {
                        break 'files;
                    }
                }
            }
            base += file.rdb.data().len() as u64;
        }
        // Closing the channels lets the workers drain and stop.
        drop(nodes);
    });

    let cause = lock(&shared.fatal)
        .take()
        .or(frame_error)
        .or_else(|| lock(&shared.stop).take());
    let mut acc = shared.acc.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut closing = Ok(());
    if cause.is_none() {
        // Everything was answered: the checkpoint moves to the end, and the log
        // keeps only what still failed.
        if let Some((_, state)) = acc.checkpoint.as_mut() {
            let end = Position::new(
                files.len().saturating_sub(1),
                files.last().map_or(0, |f| f.rdb.data().len() as u64),
            );
            state.acked = end;
            state.sent = state.sent.max(end);
        }
        if let Some(log) = acc.failed_log.as_mut() {
            closing = log.compact();
        }
    }
    let closing = closing
        .and_then(|()| acc.store_checkpoint())
        .and_then(|()| match acc.failed_keys.as_mut() {
            Some(out) => out.flush().map_err(|source| Error::Io {
                context: "writing --failed-keys".into(),
                source,
            }),
            None => Ok(()),
        });
    let mut report = acc.report;
    report.merge(&local, options.max_errors);
    report.conversions.merge(&local.conversions);
    report.seconds = started.elapsed().as_secs_f64();
    report.target = Some(caps);
    report.resumed = resumed;
    report.snapshot_keys = survey.keys;
    report.checkpointed = options.checkpoint.is_some();
    match cause.map_or(closing, Err) {
        Ok(()) => Ok(report),
        Err(cause) => Err(Error::Stopped {
            cause: Box::new(cause),
            report: Box::new(report),
        }),
    }
}

/// What the framer sends for one key.
enum Send<'b> {
    /// A `RESTORE` of this payload ([`Payload::Restore`] or [`Payload::Verbatim`]).
    Restore {
        ttl: resp::Ttl,
        flags: resp::RestoreFlags,
        payload: Payload<'b>,
    },
    /// Commands (RESP, `commands` of them).
    Commands {
        buf: Vec<u8>,
        commands: usize,
        precheck: bool,
    },
}

impl Send<'_> {
    fn len(&self) -> usize {
        match self {
            Send::Restore { payload, .. } => payload.restore_len().unwrap_or(0),
            Send::Commands { buf, .. } => buf.len(),
        }
    }
}

/// A key's plan with its payload made.
enum Prepared<'b> {
    Send { db: u64, send: Send<'b> },
    Skip(SkipReason),
    Expired,
    Reject(String),
}

/// Makes the payload a plan asks for ([`payload()`]: slice, re-stamp, re-encode,
/// commands or a refusal); counts conversions and losses.
fn prepare<'b>(
    plan: KeyPlan,
    k: &KeyRecord<'b>,
    source_version: u32,
    profile: &TargetProfile,
    options: &RestoreOptions,
    now: i64,
    counts: &mut ConversionCounts,
) -> Prepared<'b> {
    let (db, ttl, flags) = match plan {
        KeyPlan::Send { db, ttl, flags } => (db, ttl, flags),
        KeyPlan::Skip(r) => return Prepared::Skip(r),
        KeyPlan::Expired => return Prepared::Expired,
    };
    let value = KeyValue::Record {
        record: k,
        rdb_version: source_version,
    };
    let made = payload(
        &value,
        profile,
        &options.plan.payload_options(now, flags.replace),
    );
    made.count(counts);
    match made {
        Payload::Commands { buf, commands, .. } => Prepared::Send {
            db,
            send: Send::Commands {
                buf,
                commands,
                precheck: !flags.replace,
            },
        },
        Payload::Expired { .. } => Prepared::Expired,
        Payload::Reject(why) => Prepared::Reject(why),
        made @ (Payload::Restore { .. } | Payload::Verbatim(_)) => Prepared::Send {
            db,
            send: Send::Restore {
                ttl,
                flags,
                payload: made,
            },
        },
    }
}

/// Takes node `ni`'s open batch for dispatch. Its acknowledgement position is
/// `cut`, or the first record of another node's still open batch when that is
/// earlier: those records have not been sent yet, so the checkpoint must not pass
/// them. (Such positions never decrease from one dispatched batch to the next.)
fn take_batch<'a>(nodes: &mut [Node<'a>], ni: usize, cut: Position) -> Option<Batch<'a>> {
    let mut batch = nodes.get_mut(ni)?.batch.take()?;
    let open = nodes
        .iter()
        .filter_map(|n| n.batch.as_ref().map(|b| b.first))
        .min();
    batch.end = open.map_or(cut, |o| o.min(cut));
    batch.cut = cut;
    Some(batch)
}

fn slot_owner_is_cluster(m: &RwLock<Option<SlotMap>>) -> bool {
    m.read().map(|g| g.is_some()).unwrap_or(false)
}

fn port_of(target: &Target) -> u16 {
    target
        .address()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(6379)
}

/// What became of a function library.
enum FunctionOutcome {
    /// Restored on every master; payload bytes.
    Restored(u64),
    /// It already exists (and `REPLACE` was not asked for).
    Exists,
    /// Refused (or not restorable into this target): why, and the cause it counts under.
    Failed(String, String),
}

/// Sends one library with `FUNCTION RESTORE` to every master.
fn send_function(
    f: &FunctionLibrary<'_>,
    replace: bool,
    profile: &TargetProfile,
    sender: &mut FunctionSender,
    target: &Target,
) -> FunctionOutcome {
    if let Some(why) = function_refusal(f, profile) {
        return FunctionOutcome::Failed(why, "PLAN".into());
    }
    let mut cmd = Vec::with_capacity(f.raw.len() + 64);
    resp::write_function_restore(&mut cmd, f.raw, profile.rdb_version, replace);
    let mut exists = false;
    let mut errors = Vec::new();
    let mut cause = None;
    for (addr, conn) in sender.conns.iter_mut() {
        match classify(conn.req_packed_command(&cmd)) {
            Ok(Reply::Ok) => {}
            Ok(Reply::Error { text, .. }) if text.contains("already exists") => exists = true,
            Ok(Reply::Error { code, text }) => {
                cause.get_or_insert(code);
                errors.push(format!("{addr}: {text}"));
            }
            Err(e) => {
                cause.get_or_insert_with(|| "IO".to_string());
                errors.push(format!("{addr}: {}", target.scrub(&e.to_string())));
            }
        }
    }
    if !errors.is_empty() {
        FunctionOutcome::Failed(errors.join("; "), cause.unwrap_or_else(|| "ERR".into()))
    } else if exists {
        FunctionOutcome::Exists
    } else {
        FunctionOutcome::Restored(resp::payload_len(f.raw.len()) as u64)
    }
}

/// What the pass before the first write learned of the snapshots.
struct Survey {
    /// Key records, all of them.
    keys: u64,
    /// Source databases holding keys the plan selects.
    dbs: BTreeSet<u64>,
    /// The first selected keys not expired (source db, key), for the conflict check.
    sample: Vec<(u64, Vec<u8>)>,
    /// What this target cannot take as asked: why → (count, an example).
    refused: BTreeMap<String, (u64, String)>,
}

impl Survey {
    /// Notes a key or library the target cannot take, under `why`.
    fn refuse(&mut self, why: &str, example: String) {
        // Per-key numbers ("3 hash field TTL(s) ...") would split one reason in many.
        let why = why
            .split_once(' ')
            .filter(|(n, _)| n.bytes().all(|b| b.is_ascii_digit()))
            .map_or(why, |(_, rest)| rest);
        self.refused
            .entry(why.to_string())
            .or_insert((0, example))
            .0 += 1;
    }
}

/// Keys of the snapshot looked up on a non-empty target under `--on-conflict fail`.
const CONFLICT_SAMPLE: usize = 1000;

/// The one pass before anything is written. It frames every record of every file and
/// checks the CRC-64 trailers (as the files were opened: `--no-crc` turns the
/// checksum off, never the framing), so a truncated or corrupt download is refused
/// whole; framing runs at several GB/s, small next to any restore. It also counts
/// the keys, finds the databases in use, samples keys for the conflict check, and
/// notes what this target cannot take as asked ([`check_writable`]): only keys that
/// can be refused are converted here (hashes with field TTLs and module values, and
/// under `--mode restore` anything re-encoded, since there is no fallback to
/// commands); they are converted again when sent, the price of knowing.
fn survey(
    files: &[SourceFile<'_>],
    options: &RestoreOptions,
    profile: &TargetProfile,
    now: i64,
) -> Result<Survey> {
    let plan = &options.plan;
    let mut survey = Survey {
        keys: 0,
        dbs: BTreeSet::new(),
        sample: Vec::new(),
        refused: BTreeMap::new(),
    };
    let mut scratch = ConversionCounts::default();
    for file in files {
        let version = file.rdb.header().version;
        for record in file.rdb.records() {
            match record {
                Ok(Record::Key(k)) => {
                    survey.keys += 1;
                    if !plan.selects(&k) {
                        continue;
                    }
                    survey.dbs.insert(k.db);
                    let live = k.expire_at_ms.is_none_or(|t| t > now);
                    if live && survey.sample.len() < CONFLICT_SAMPLE {
                        survey.sample.push((k.db, k.key.to_vec()));
                    }
                    let risky = k.value_type.has_field_ttls()
                        || k.value_type.logical() == LogicalType::Module;
                    let plan = plan_key(&k, plan, profile, now, false);
                    // Converting costs: only keys that can be refused are tried.
                    let convert = matches!(plan, KeyPlan::Send { .. })
                        && match options.plan.mode {
                            WriteMode::Commands => risky,
                            mode => {
                                let restore_only = mode == WriteMode::Restore;
                                let too_long =
                                    resp::payload_len(k.raw.len()) as u64 > profile.max_bulk_len;
                                (!readable(k.value_type, profile.family, profile.rdb_version)
                                    && (risky || restore_only))
                                    || (restore_only && too_long)
                            }
                        };
                    if convert {
                        if let Prepared::Reject(why) =
                            prepare(plan, &k, version, profile, options, now, &mut scratch)
                        {
                            survey.refuse(&why, example_of(&k));
                        }
                    }
                }
                Ok(Record::Function(f)) if options.functions => {
                    let listed = library_name(&f);
                    if !plan.function_listed(&listed) {
                        continue;
                    }
                    if let Some(why) = function_refusal(&f, profile) {
                        survey.refuse(
                            &format!("{why}; --no-functions leaves them out"),
                            String::from_utf8_lossy(&listed).into_owned(),
                        );
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::Parse {
                        file: file.name.to_string(),
                        error: e,
                    })
                }
            }
        }
    }
    Ok(survey)
}

/// Refuses, before anything is written, databases the target cannot take: keys
/// that land elsewhere than db 0 on a single-database target, and several source
/// databases that the URL's `/N` would merge into one.
fn check_databases(
    survey: &Survey,
    plan: &PlanOptions,
    single_db: Option<&str>,
    target: &Target,
) -> Result<()> {
    if let Some(n) = plan.default_db {
        let merged: Vec<String> = survey
            .dbs
            .iter()
            .filter(|d| !plan.db_map.contains_key(d))
            .map(u64::to_string)
            .collect();
        if merged.len() > 1 {
            return Err(Error::Refused {
                target: target.address().to_string(),
                message: format!(
                    "the URL names database {n}, but the snapshot has keys in databases {}, \
                     which would be merged there: restore one of them with --db SRC, or \
                     place each with --db-map SRC:DST (and a URL without /N)",
                    merged.join(", ")
                ),
            });
        }
    }
    let Some(why) = single_db else {
        return Ok(());
    };
    let bad: Vec<String> = survey
        .dbs
        .iter()
        .filter(|&&d| plan.map_db(d) != 0)
        .map(|&d| match plan.map_db(d) {
            to if to != d => format!("{d} (mapped to {to})"),
            _ => d.to_string(),
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Error::SingleDbTarget {
        why: why.to_string(),
        dbs: bad.join(", "),
    })
}

/// Refuses, before anything is written, a snapshot holding keys (or function
/// libraries) that this target cannot take under the chosen options (found by
/// [`survey`]): hash field TTLs for a target older than 7.4 under
/// `--hash-field-ttl fail`, module values it cannot read, functions for a target older
/// than 7.0, types `--mode restore` cannot re-encode, and under `--mode restore`
/// payloads over the target's `proto-max-bulk-len`. Everything is said at once, with
/// counts and the option that changes it; otherwise the run would write the rest and
/// leave a half-filled target.
fn check_writable(survey: &Survey, target: &Target) -> Result<()> {
    if survey.refused.is_empty() {
        return Ok(());
    }
    let reasons: Vec<String> = survey
        .refused
        .iter()
        .map(|(why, (n, example))| format!("{n} × {why} (e.g. {example})"))
        .collect();
    Err(Error::Refused {
        target: target.address().to_string(),
        message: format!(
            "nothing was written: the snapshot holds data this target cannot take as asked: \
             {}; choose what to do with the options named, or leave those keys out with \
             --type / --key-pattern / --db",
            reasons.join("; ")
        ),
    })
}

/// `db N key "name"` for messages.
fn example_of(k: &KeyRecord<'_>) -> String {
    format!("db {} key {:?}", k.db, String::from_utf8_lossy(&k.key))
}

/// Under `--on-conflict fail`, refuses a target that already holds keys of the
/// snapshot: the first [`CONFLICT_SAMPLE`] selected keys are looked up with `EXISTS`
/// (on their cluster node) whenever the target is not empty. A restore into it would
/// otherwise fail key after key with `BUSYKEY`.
fn check_conflicts(
    target: &Target,
    probe: &mut Connection,
    caps: &TargetCaps,
    slot_map: Option<&SlotMap>,
    survey: &Survey,
    plan: &PlanOptions,
) -> Result<()> {
    if survey.sample.is_empty() {
        return Ok(());
    }
    // A standalone target whose destination databases are empty holds none of them.
    if slot_map.is_none()
        && !survey
            .dbs
            .iter()
            .any(|&d| caps.keyspace.get(&plan.map_db(d)).is_some_and(|&n| n > 0))
    {
        return Ok(());
    }
    let mut by_node: BTreeMap<usize, Vec<&(u64, Vec<u8>)>> = BTreeMap::new();
    for entry in &survey.sample {
        let node = match slot_map {
            Some(m) => m
                .owner
                .get(usize::from(cluster::slot_for_key(&entry.1)))
                .copied()
                .flatten()
                .unwrap_or(0),
            None => 0,
        };
        by_node.entry(node).or_default().push(entry);
    }
    let mut found: Vec<&(u64, Vec<u8>)> = Vec::new();
    for (node, keys) in by_node {
        let mut own;
        let (conn, who) = match slot_map.and_then(|m| m.nodes.get(node)) {
            Some((h, p)) => {
                let t = target.for_node(h, *p);
                own = t.connect()?;
                (&mut own, t)
            }
            None => (&mut *probe, target.clone()),
        };
        let mut pipe = redis::pipe();
        let mut db = None;
        for (src, key) in &keys {
            let to = plan.map_db(*src);
            if slot_map.is_none() && db != Some(to) {
                pipe.cmd("SELECT").arg(to).ignore();
                db = Some(to);
            }
            pipe.cmd("EXISTS").arg(key.as_slice());
        }
        let exists: Vec<i64> = pipe
            .query(conn.link())
            .map_err(|e| who.error("checking for keys the target already holds", &e))?;
        found.extend(
            keys.iter()
                .zip(exists)
                .filter(|(_, n)| *n > 0)
                .map(|(k, _)| *k),
        );
    }
    if slot_map.is_none() {
        // The probe connection goes back to where the URL put it.
        let _: redis::RedisResult<()> = redis::cmd("SELECT")
            .arg(target.database().unwrap_or(0))
            .query(probe.link());
    }
    let Some((db, key)) = found.first() else {
        return Ok(());
    };
    Err(Error::Refused {
        target: target.address().to_string(),
        message: format!(
            "the target already holds {} of the first {} keys of the snapshot (e.g. db {} \
             key {:?}); with --on-conflict fail every one would fail with BUSYKEY: use \
             --on-conflict skip to keep the target's values, --on-conflict replace to \
             overwrite them, or empty the target first",
            found.len(),
            survey.sample.len(),
            plan.map_db(*db),
            String::from_utf8_lossy(key)
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn open_batch<'a>(first: u64) -> Option<Batch<'a>> {
        Some(Batch {
            seq: 0,
            file: 0,
            db: 0,
            buf: Vec::new(),
            items: Vec::new(),
            first: Position::new(0, first),
            end: Position::new(0, first),
            cut: Position::new(0, first),
        })
    }

    #[test]
    fn checkpoint_never_passes_another_nodes_unsent_records() {
        let node = |batch| Node {
            tx: bounded(1).0,
            batch,
        };
        let mut nodes = vec![node(open_batch(100)), node(open_batch(50)), node(None)];
        let b = take_batch(&mut nodes, 0, Position::new(0, 200)).expect("batch");
        assert_eq!(
            (b.end, b.cut),
            (Position::new(0, 50), Position::new(0, 200))
        );
        assert!(nodes[0].batch.is_none());
        let b = take_batch(&mut nodes, 1, Position::new(0, 300)).expect("batch");
        assert_eq!(b.end, Position::new(0, 300));
        assert!(take_batch(&mut nodes, 2, Position::new(0, 400)).is_none());
    }

    #[test]
    fn library_names() {
        let data = {
            let mut f = b"REDIS0010".to_vec();
            let code = b"#!lua name=mylib\nreturn 1";
            f.push(0xf5);
            f.push(code.len() as u8);
            f.extend_from_slice(code);
            f.push(0xff);
            let crc = rdb_parser::crc::crc64(0, &f);
            f.extend_from_slice(&crc.to_le_bytes());
            f
        };
        let rdb = Rdb::parse(&data).unwrap();
        let lib = rdb
            .records()
            .find_map(|r| match r.unwrap() {
                Record::Function(f) => Some(f),
                _ => None,
            })
            .unwrap();
        assert_eq!(library_name(&lib), b"mylib");
    }
}
