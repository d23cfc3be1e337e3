//! `verify`: proves that a live target holds exactly a snapshot (issue 6).
//!
//! The stages are those of [`restore()`](crate::restore()) with reads instead of
//! writes: **plan** (the same [`PlanOptions`] filters and database mapping),
//! **route** (standalone, or hash slot → master from `CLUSTER SLOTS`, `MOVED`/`ASK`
//! followed), **send/ack** (per-node worker threads, one connection each, up to
//! [`VerifyOptions::pipeline_depth`] batches in flight), then the content digest.
//!
//! # What is checked
//!
//! 1. **Counts.** Per target database, the snapshot's selected keys (all of them, and
//!    those not yet expired now) against the target's `INFO keyspace` (summed over the
//!    masters of a cluster).
//! 2. **Every key** (or a sample, see below): `DUMP key` and `PEXPIRETIME key` (Redis
//!    7.0+, exact) or `PTTL key` (older servers; the expiry must lie within the time
//!    window of the batch's round trip widened by [`VerifyOptions::ttl_tolerance_ms`]).
//!    The payload is parsed with [`DumpPayload::parse`] whatever RDB version the target
//!    writes, and its [`digest_value`] is compared with the snapshot value's: encodings
//!    (listpack vs ziplist, quicklist v1 vs v2, stream formats) do not matter, and hash
//!    field TTLs are compared through [`ValueDigest::field_ttls`]. A key is
//!    `matched`, `missing`, `different` (one [`Why`]: `type`, `value`, `field_ttls`,
//!    `ttl`, or `unreadable` when the payload cannot be decoded), or
//!    `expired_since_snapshot`: absent from the target while its snapshot expiry has
//!    passed (never counted as missing).
//! 3. **Extra keys.** `SCAN` of every database in scope on every master; a key is
//!    extra when it passes the filters (`--key-pattern`, `--type`) and the snapshot
//!    does not hold it. Memory stays bounded: the snapshot side is a sorted `Vec` of
//!    128-bit [`key_hash`]es of (target db, key), 16 bytes per key, never key names.
//!    Databases in scope: the mapped ones of `--db` when given, else every database
//!    listed in the node's `INFO keyspace`.
//!
//!    The scan runs alongside step 2 and is stopped once the key counts settle it:
//!    when every key was checked (no sample, no filter) and the target held as many
//!    keys in the databases in scope before and after step 2 as the snapshot keys
//!    step 2 found on it, there is no room for an extra key
//!    ([`VerifyReport::extra_by_count`]). `SCAN` is one round trip per call, one call
//!    after the other, so against a distant target it is the slowest part of a run.
//!    [`VerifyOptions::full_scan`] keeps it to the end.
//!
//!    When a master fails over mid-scan, its scan restarts (from cursor 0, what it had
//!    found dropped) on the nodes that own its slots now, counting only keys of those
//!    slots there: every key is scanned once.
//!
//! # Sampling
//!
//! With [`VerifyOptions::sample`] = N, step 2 checks only a deterministic pseudo-random
//! sample: the N selected keys with the smallest `key_hash(target_db ^ seed, key)`
//! ([`VerifyOptions::seed`], default [`DEFAULT_SEED`]). The same snapshot, filters and
//! seed always give the same sample, whatever the file order or sharding. The counts
//! (step 1) and the extra-key scan (step 3) stay complete, and a count mismatch then
//! counts as a difference ([`VerifyReport::has_differences`]), since unsampled keys are
//! only covered by it.
//!
//! # Databases in examples
//!
//! [`Finding::db`] is the *target* database (after `--db-map`), for snapshot and
//! extra keys alike.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver};
use rdb_parser::digest::{digest_value, key_hash, ValueDigest};
use rdb_parser::{DumpPayload, KeyRecord, LogicalType, Record};
use redis::Value;

use crate::cluster::{self, NodeAddr, SlotMap};
use crate::delivery::{backoff, is_transient, Retry, Router};
use crate::error::{Error, Result};
use crate::plan::PlanOptions;
use crate::report::Progress;
use crate::resp;
use crate::restore::{ClusterMode, SourceFile};
use crate::target::{info_section, Connection, Target};
use crate::throttle::Throttle;
use crate::worker::{Flow, NodeOp, NodeWorker};

/// Snapshot value bytes in flight per connection beyond which no further batch is sent
/// before a reply (a bound on the `DUMP` replies buffered on both sides).
pub const MAX_INFLIGHT_VALUE_BYTES: usize = 16 << 20;

/// Snapshot value bytes after which a batch is closed whatever its key count.
const MAX_BATCH_VALUE_BYTES: usize = 8 << 20;

/// The default sampling seed (`"verify!!"` in ASCII).
pub const DEFAULT_SEED: u64 = 0x7665_7269_6679_2121;

/// Options of a verification. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Filters and database mapping (the conflict policy is ignored).
    pub plan: PlanOptions,
    /// Connections (worker threads) per node (default 2: the server's single thread is
    /// the bottleneck; more connections only add contention on small machines).
    pub connections: usize,
    /// Keys per batch (default 500; two commands per key); a batch also closes once
    /// its snapshot values reach 8 MiB, since its replies are held together.
    pub batch_keys: usize,
    /// Batches in flight per connection at most (default 16), and never more than
    /// [`MAX_INFLIGHT_VALUE_BYTES`] of snapshot values (the size of the `DUMP` replies to
    /// come): the window has to cover the round trip to a distant target.
    pub pipeline_depth: usize,
    /// `COUNT` of each `SCAN` call of the extra-key pass (default 5000). The pass is one
    /// round trip per call, one after the other: against a distant target a larger count
    /// keeps it from outlasting the per-key checks, at the price of longer calls.
    pub scan_count: u64,
    /// Scan for extra keys to the end even when the key counts rule them out (for a
    /// target written to during the check).
    pub full_scan: bool,
    /// Commands per second at most, all connections together (`DUMP` and the TTL
    /// command count as two; a `SCAN` call of the extra-key pass as the keys it
    /// returns, plus one).
    pub max_ops: Option<u64>,
    /// Check only this many keys, chosen as described in the [module docs](self).
    pub sample: Option<u64>,
    /// Seed of the sample.
    pub seed: u64,
    /// Extra slack, in ms, on expiries read with `PTTL` (servers before 7.0) beyond
    /// the batch's round-trip window (default 1000).
    pub ttl_tolerance_ms: i64,
    /// Findings kept with their key per kind ([`Why`]) (default 20).
    pub max_examples: usize,
    /// The verification time in Unix ms for "expired since the snapshot" (default:
    /// the clock, read again for every batch).
    pub now_ms: Option<i64>,
    /// Cluster detection.
    pub cluster: ClusterMode,
    /// How long a key waits for a node that answers (a failover, a restarting
    /// server) before the check stops with an error (default 120 s).
    pub node_timeout: std::time::Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            plan: PlanOptions::default(),
            connections: 2,
            batch_keys: 500,
            pipeline_depth: 16,
            scan_count: 5000,
            full_scan: false,
            max_ops: None,
            sample: None,
            seed: DEFAULT_SEED,
            ttl_tolerance_ms: 1000,
            max_examples: 20,
            now_ms: None,
            cluster: ClusterMode::Auto,
            node_timeout: std::time::Duration::from_secs(120),
        }
    }
}

setters!(VerifyOptions {
    plan: PlanOptions,
    connections: usize,
    batch_keys: usize,
    pipeline_depth: usize,
    scan_count: u64,
    full_scan: bool,
    max_ops: Option<u64>,
    sample: Option<u64>,
    seed: u64,
    ttl_tolerance_ms: i64,
    max_examples: usize,
    now_ms: Option<i64>,
    cluster: ClusterMode,
    node_timeout: std::time::Duration,
});

/// Why a key is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// In the snapshot, not on the target, and its snapshot expiry (if any) has not
    /// passed.
    Missing,
    /// Another logical type on the target.
    Type,
    /// Same type, other content.
    Value,
    /// Same content, other hash field TTLs.
    FieldTtls,
    /// Same value, other key expiry.
    Ttl,
    /// The target's `DUMP` payload could not be parsed or decoded.
    Unreadable,
    /// On the target, not in the snapshot.
    Extra,
    /// In the snapshot with an expiry that has passed, absent from the target.
    ExpiredSinceSnapshot,
}

impl Why {
    /// The kinds of [`VerifyReport::different`], in report order.
    pub const DIFFERENCES: [Why; 5] = [
        Why::Type,
        Why::Value,
        Why::FieldTtls,
        Why::Ttl,
        Why::Unreadable,
    ];

    /// Stable short name (used in JSON).
    pub fn name(self) -> &'static str {
        match self {
            Why::Missing => "missing",
            Why::Type => "type",
            Why::Value => "value",
            Why::FieldTtls => "field_ttls",
            Why::Ttl => "ttl",
            Why::Unreadable => "unreadable",
            Why::Extra => "extra",
            Why::ExpiredSinceSnapshot => "expired_since_snapshot",
        }
    }

    /// Whether this kind counts in [`VerifyReport::different`].
    pub fn is_difference(self) -> bool {
        Why::DIFFERENCES.contains(&self)
    }
}

/// One reported key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Finding {
    /// Target database.
    pub db: u64,
    /// The key.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "rdb_parser::serde_bytes::serialize")
    )]
    pub key: Vec<u8>,
    /// Its category.
    pub why: Why,
    /// Human-readable detail (types, expiries, decoding error).
    pub detail: String,
}

/// Key counts of one target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbCounts {
    /// Target database.
    pub db: u64,
    /// Selected snapshot keys mapped to this database.
    pub snapshot: u64,
    /// Of those, the ones whose expiry had not passed when the verification started.
    pub snapshot_live: u64,
    /// `keys=` of `INFO keyspace`, summed over masters (0 when the db is not listed).
    pub target: u64,
    /// Whether the counts are comparable: not with `--key-pattern` or `--type`, which
    /// `INFO keyspace` cannot apply.
    pub compared: bool,
}

impl DbCounts {
    /// Whether the target holds as many keys as the snapshot's live ones (always true
    /// when the counts are not [`compared`](DbCounts::compared)).
    pub fn matches(&self) -> bool {
        !self.compared || self.target == self.snapshot_live
    }
}

/// What the target turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VerifyTarget {
    /// `redis_version` / `valkey_version` from `INFO server`, when readable.
    pub version: Option<String>,
    /// Routed by hash slot.
    pub cluster: bool,
    /// Nodes checked (masters of a cluster; 1 otherwise).
    pub masters: usize,
    /// Expiries read with `PEXPIRETIME` (exact) rather than `PTTL`.
    pub exact_ttl: bool,
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct VerifyReport {
    /// Selected snapshot keys (after filters).
    pub snapshot_keys: u64,
    /// Keys compared one by one (all of them, or the sample).
    pub checked: u64,
    /// Whether [`VerifyOptions::sample`] limited the per-key checks.
    pub sampled: bool,
    /// Keys equal on the target (type, content, field TTLs, expiry).
    pub matched: u64,
    /// Keys absent from the target.
    pub missing: u64,
    /// Keys present with a difference (all kinds; see [`VerifyReport::different_by`]).
    pub different: u64,
    /// Per kind of difference, in [`Why::DIFFERENCES`] order.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::pairs_as_map"))]
    pub different_by: Vec<(Why, u64)>,
    /// Target keys the snapshot does not hold.
    pub extra: u64,
    /// Snapshot keys absent from the target because their expiry has passed.
    pub expired_since_snapshot: u64,
    /// Keys the extra-key scan looked at.
    pub scanned: u64,
    /// Extra keys were ruled out by the key counts and the scan stopped early (see the
    /// [module docs](self)); `scanned` is then what it had looked at until then.
    pub extra_by_count: bool,
    /// The first findings, up to [`VerifyOptions::max_examples`] per kind.
    pub examples: Vec<Finding>,
    /// Per target database counts, by database number.
    pub dbs: Vec<DbCounts>,
    /// The target.
    pub target: Option<VerifyTarget>,
    /// Wall-clock duration.
    pub seconds: f64,
}

impl VerifyReport {
    fn new() -> VerifyReport {
        VerifyReport {
            different_by: Why::DIFFERENCES.iter().map(|w| (*w, 0)).collect(),
            ..VerifyReport::default()
        }
    }

    /// Whether every database's count matches (see [`DbCounts::matches`]).
    pub fn counts_match(&self) -> bool {
        self.dbs.iter().all(DbCounts::matches)
    }

    /// Whether anything differs: a missing, different or extra key, or, when
    /// sampling, a count mismatch. (Keys expired since the snapshot do not count.)
    pub fn has_differences(&self) -> bool {
        self.missing + self.different + self.extra > 0 || (self.sampled && !self.counts_match())
    }

    /// The number of findings of kind `why`.
    pub fn count(&self, why: Why) -> u64 {
        match why {
            Why::Missing => self.missing,
            Why::Extra => self.extra,
            Why::ExpiredSinceSnapshot => self.expired_since_snapshot,
            w => self
                .different_by
                .iter()
                .find(|(x, _)| *x == w)
                .map_or(0, |(_, n)| *n),
        }
    }

    fn add(&mut self, f: Finding, max_examples: usize) {
        match f.why {
            Why::Missing => self.missing += 1,
            Why::Extra => self.extra += 1,
            Why::ExpiredSinceSnapshot => self.expired_since_snapshot += 1,
            w => {
                self.different += 1;
                if let Some(e) = self.different_by.iter_mut().find(|(x, _)| *x == w) {
                    e.1 += 1;
                }
            }
        }
        if self.examples.iter().filter(|e| e.why == f.why).count() < max_examples {
            self.examples.push(f);
        }
    }

    fn merge(&mut self, other: VerifyReport, max_examples: usize) {
        self.matched += other.matched;
        self.checked += other.checked;
        self.scanned += other.scanned;
        for f in other.examples {
            if self.examples.iter().filter(|e| e.why == f.why).count() < max_examples {
                self.examples.push(f);
            }
        }
        self.missing += other.missing;
        self.extra += other.extra;
        self.expired_since_snapshot += other.expired_since_snapshot;
        self.different += other.different;
        for (w, n) in other.different_by {
            if let Some(e) = self.different_by.iter_mut().find(|(x, _)| *x == w) {
                e.1 += n;
            }
        }
    }
}

/// How expiries are read on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlMode {
    /// `PEXPIRETIME`: absolute Unix ms, compared exactly.
    Exact,
    /// `PTTL`: remaining ms, compared within the batch window plus this slack (ms).
    Relative(i64),
}

impl TtlMode {
    fn command(self) -> &'static [u8] {
        match self {
            TtlMode::Exact => b"PEXPIRETIME",
            TtlMode::Relative(_) => b"PTTL",
        }
    }
}

/// What the target answered for one key: the `DUMP` payload (`None`: no such key),
/// the TTL command's reply, and the Unix ms window (`sent`, `received`) of the round
/// trip.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'p> {
    /// The `DUMP` reply.
    pub dump: Option<&'p [u8]>,
    /// `PEXPIRETIME` / `PTTL` reply (-1 no expiry, -2 no key).
    pub ttl: i64,
    /// When the batch was sent (Unix ms).
    pub sent_ms: i64,
    /// When its replies had arrived (Unix ms).
    pub received_ms: i64,
}

/// Compares one key (a pure function, no I/O): `expected` is the snapshot value's
/// digest (computed on demand: it is not needed for a missing key) and
/// `expire_at_ms` its expiry. `None` means the key matches.
pub fn compare_key(
    expected: impl FnOnce() -> rdb_parser::Result<ValueDigest>,
    expire_at_ms: Option<i64>,
    observed: &Observed<'_>,
    mode: TtlMode,
) -> rdb_parser::Result<Option<(Why, String)>> {
    let absent = |why_detail: &str| {
        Ok(Some(match expire_at_ms {
            Some(at) if at <= observed.received_ms => (
                Why::ExpiredSinceSnapshot,
                format!("expired at {at} ms{why_detail}"),
            ),
            _ => (Why::Missing, format!("not on the target{why_detail}")),
        }))
    };
    let Some(payload) = observed.dump else {
        return absent("");
    };
    if observed.ttl == -2 {
        return absent(" (gone between DUMP and the TTL read)");
    }
    let want = expected()?;
    let got = match DumpPayload::parse(payload).and_then(|p| digest_value(p.value()?)) {
        Ok(d) => d,
        Err(e) => {
            return Ok(Some((
                Why::Unreadable,
                format!("target's DUMP payload: {e}"),
            )))
        }
    };
    if got.logical != want.logical {
        return Ok(Some((
            Why::Type,
            format!(
                "snapshot {}, target {}",
                want.logical.name(),
                got.logical.name()
            ),
        )));
    }
    if got.content != want.content {
        return Ok(Some((
            Why::Value,
            format!(
                "{} content differs ({} elements in the snapshot, {} on the target)",
                want.logical.name(),
                want.elements,
                got.elements
            ),
        )));
    }
    if got.field_ttls != want.field_ttls {
        return Ok(Some((Why::FieldTtls, "hash field TTLs differ".to_string())));
    }
    let show = |e: Option<i64>| e.map_or_else(|| "no expiry".to_string(), |a| format!("{a} ms"));
    let ttl_ok = match (mode, expire_at_ms, observed.ttl) {
        (_, None, t) => t == -1,
        (_, Some(_), -1) => false,
        (TtlMode::Exact, Some(at), t) => t == at,
        (TtlMode::Relative(slack), Some(at), t) => {
            let lo = at
                .saturating_sub(observed.received_ms)
                .saturating_sub(slack);
            let hi = at.saturating_sub(observed.sent_ms).saturating_add(slack);
            (lo..=hi).contains(&t)
        }
    };
    if !ttl_ok {
        let target = match (mode, observed.ttl) {
            (_, -1) => "no expiry".to_string(),
            (TtlMode::Exact, t) => format!("{t} ms"),
            (TtlMode::Relative(_), t) => format!(
                "about {} ms (PTTL {t})",
                observed.received_ms.saturating_add(t)
            ),
        };
        return Ok(Some((
            Why::Ttl,
            format!("snapshot expires {}, target {target}", show(expire_at_ms)),
        )));
    }
    Ok(None)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sample_hash(db: u64, key: &[u8], seed: u64) -> u128 {
    key_hash(db ^ seed, key)
}

struct Item<'a> {
    rec: KeyRecord<'a>,
    db: u64,
}

struct Batch<'a> {
    file: usize,
    db: u64,
    items: Vec<Item<'a>>,
    /// Snapshot value bytes of the items (about the size of their `DUMP` replies).
    value_bytes: usize,
}

struct Shared<'p> {
    report: Mutex<VerifyReport>,
    abort: AtomicBool,
    fatal: Mutex<Option<Error>>,
    moved: AtomicBool,
    progress: &'p Progress,
    max_examples: usize,
}

impl Shared<'_> {
    fn fail(&self, e: Error) {
        let mut f = lock(&self.fatal);
        if f.is_none() {
            *f = Some(e);
        }
        self.abort.store(true, Ordering::SeqCst);
    }

    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

struct WorkerCtx<'s, 'p, 'f> {
    target: Target,
    select: bool,
    depth: usize,
    mode: TtlMode,
    now: Option<i64>,
    files: &'f [SourceFile<'f>],
    shared: &'s Shared<'p>,
    /// Where keys are read again when the worker's connection is lost.
    router: Router<'s>,
}

/// A reply that does not settle a key (see [`Retry`]): its code and full text.
fn retry_error(v: &Value) -> Option<(String, String)> {
    match v {
        Value::ServerError(e) if is_transient(e.code()) => {
            let text = server_error_text(v).unwrap_or_default();
            Some((e.code().to_string(), text))
        }
        _ => None,
    }
}

fn server_error_text(v: &Value) -> Option<String> {
    match v {
        Value::ServerError(e) => Some(match e.details() {
            Some(d) => format!("{} {d}", e.code()),
            None => e.code().to_string(),
        }),
        _ => None,
    }
}

/// Side connections for redirected keys (cluster).
struct Redirects<'t> {
    base: &'t Target,
    own: NodeAddr,
    conns: HashMap<NodeAddr, Connection>,
    /// The database the next reads are for (standalone targets with several
    /// databases: a side connection selects it first).
    db: Option<u64>,
}

impl Redirects<'_> {
    /// Sends `DUMP key` + the TTL command to `addr` (with `ASKING` before each when
    /// `asking`); returns both replies.
    fn send(
        &mut self,
        addr: &NodeAddr,
        key: &[u8],
        mode: TtlMode,
        asking: bool,
    ) -> Result<(Value, Value)> {
        let conn = match self.conns.entry(addr.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(self.base.for_node(&addr.0, addr.1).connect()?)
            }
        };
        let mut buf = Vec::with_capacity(64 + 2 * key.len());
        if let Some(db) = self.db {
            resp::write_select(&mut buf, db);
        }
        if asking {
            resp::write_command(&mut buf, &[b"ASKING"]);
        }
        resp::write_command(&mut buf, &[b"DUMP", key]);
        if asking {
            resp::write_command(&mut buf, &[b"ASKING"]);
        }
        resp::write_command(&mut buf, &[mode.command(), key]);
        let n = if asking { 4 } else { 2 } + usize::from(self.db.is_some());
        let replies = match conn.req_packed_commands(&buf, 0, n) {
            Ok(r) => r,
            Err(e) => {
                self.conns.remove(addr);
                return Err(self.base.error("redirected read", &e));
            }
        };
        let mut it = replies.into_iter();
        if let Some(db) = self.db {
            if let Some(text) = it.next().as_ref().and_then(server_error_text) {
                return Err(self.base.error(&format!("SELECT {db}"), &text));
            }
        }
        if asking {
            it.next();
        }
        let dump = it.next().unwrap_or(Value::Nil);
        if asking {
            it.next();
        }
        let ttl = it.next().unwrap_or(Value::Nil);
        Ok((dump, ttl))
    }

    /// Follows redirections (and waits out `TRYAGAIN`/`CLUSTERDOWN`/`LOADING`) until
    /// both replies are final.
    fn resolve(
        &mut self,
        key: &[u8],
        mode: TtlMode,
        mut replies: (Value, Value),
        shared: &Shared<'_>,
    ) -> Result<(Value, Value)> {
        for attempt in 0..12 {
            let Some((code, text)) = retry_error(&replies.0).or_else(|| retry_error(&replies.1))
            else {
                return Ok(replies);
            };
            replies = match Retry::of(&code, &text) {
                Retry::Moved(addr) => {
                    shared.moved.store(true, Ordering::Relaxed);
                    self.send(&addr, key, mode, false)?
                }
                Retry::Ask(addr) => self.send(&addr, key, mode, true)?,
                Retry::Fail => return Ok(replies),
                Retry::Wait | Retry::Refresh => {
                    std::thread::sleep(backoff(attempt));
                    let own = self.own.clone();
                    self.send(&own, key, mode, false)?
                }
            };
        }
        Ok(replies)
    }
}

/// Why reading a batch stopped.
enum Stop {
    /// The connection failed: the batch is read again elsewhere ([`recheck`]).
    Lost,
    /// Anything else ends the run.
    Fatal(Error),
}

/// Verify's [`NodeOp`]: `DUMP` + the TTL command for every key of a batch, the
/// replies compared; a batch whose connection failed is read again key by key from
/// whichever node owns each key now ([`recheck`]): a failover during a check costs
/// time, not the check.
struct VerifyOp<'c, 'a> {
    ctx: &'c WorkerCtx<'c, 'c, 'c>,
    redirects: Redirects<'c>,
    current_db: Option<u64>,
    batches: std::marker::PhantomData<Batch<'a>>,
}

impl VerifyOp<'_, '_> {
    /// Adds a batch's findings to the report; `Stop` when it could not be read.
    fn account(&self, local: Result<VerifyReport>) -> Flow {
        let shared = self.ctx.shared;
        match local {
            Ok(local) => {
                let n = local.checked;
                let bad = local.missing + local.different;
                lock(&shared.report).merge(local, shared.max_examples);
                shared.progress.keys.fetch_add(n, Ordering::Relaxed);
                shared.progress.failed.fetch_add(bad, Ordering::Relaxed);
                Flow::Go
            }
            Err(e) => {
                shared.fail(e);
                Flow::Stop
            }
        }
    }
}

impl<'a> NodeOp for VerifyOp<'_, 'a> {
    type Batch = Batch<'a>;
    type InFlight = SentBatch<'a>;

    fn stopped(&self) -> bool {
        self.ctx.shared.aborted() || self.ctx.shared.progress.is_cancelled()
    }

    fn connected(&mut self, _conn: &mut Connection) {
        self.current_db = None;
    }

    fn send(&mut self, conn: &mut Connection, batch: Batch<'a>) -> (SentBatch<'a>, Flow) {
        match send_batch(self.ctx, conn, &mut self.current_db, batch) {
            Ok(sent) => (sent, Flow::Go),
            Err(batch) => (self.not_sent(batch), Flow::Lost),
        }
    }

    fn not_sent(&mut self, batch: Batch<'a>) -> SentBatch<'a> {
        SentBatch {
            select: false,
            count: 0,
            value_bytes: batch.value_bytes,
            sent_ms: now_ms(),
            batch,
        }
    }

    fn bytes(&self, f: &SentBatch<'a>) -> usize {
        f.value_bytes
    }

    fn collect(&mut self, conn: &mut Connection, f: SentBatch<'a>) -> Flow {
        match check_batch(self.ctx, conn, &mut self.redirects, &f) {
            Ok(local) => self.account(Ok(local)),
            Err(Stop::Fatal(e)) => self.account(Err(e)),
            Err(Stop::Lost) => match self.reroute(f) {
                Flow::Stop => Flow::Stop,
                _ => Flow::Lost,
            },
        }
    }

    fn reroute(&mut self, f: SentBatch<'a>) -> Flow {
        let local = recheck(self.ctx, &mut self.redirects, &f.batch);
        self.account(local)
    }
}

/// One worker: a [`NodeWorker`] running [`VerifyOp`].
fn worker(ctx: WorkerCtx<'_, '_, '_>, own: NodeAddr, rx: Receiver<Batch<'_>>) {
    let op = VerifyOp {
        ctx: &ctx,
        redirects: Redirects {
            base: &ctx.target,
            own,
            conns: HashMap::new(),
            db: None,
        },
        current_db: None,
        batches: std::marker::PhantomData,
    };
    NodeWorker {
        target: &ctx.target,
        op,
        depth: ctx.depth,
        max_bytes: MAX_INFLIGHT_VALUE_BYTES,
    }
    .run(rx);
}

/// Reads every key of `batch` again, one by one, from the node that owns it now (the
/// slot map re-read from any node that answers), waiting out a failover up to the
/// node deadline; then compares them as [`check_batch`] does.
fn recheck(
    ctx: &WorkerCtx<'_, '_, '_>,
    redirects: &mut Redirects<'_>,
    batch: &Batch<'_>,
) -> Result<VerifyReport> {
    let mut local = VerifyReport::new();
    redirects.db = ctx.select.then_some(batch.db);
    let deadline = ctx.router.deadline;
    for item in &batch.items {
        let key = &item.rec.key;
        let started = std::time::Instant::now();
        let mut tries = 0;
        let (dump, ttl, sent_ms) = loop {
            let sent_ms = now_ms();
            let attempt = match ctx.router.owner(key) {
                Some(addr) => redirects
                    .send(&addr, key, ctx.mode, false)
                    .and_then(|r| redirects.resolve(key, ctx.mode, r, ctx.shared)),
                None => Err(ctx
                    .target
                    .error("reading a key", &"no cluster node serves its slot")),
            };
            match attempt {
                Ok((dump, ttl)) if retry_error(&dump).is_none() && retry_error(&ttl).is_none() => {
                    break (dump, ttl, sent_ms)
                }
                Ok(_) => {}
                Err(e) if started.elapsed() >= deadline => return Err(e),
                Err(_) => {}
            }
            if started.elapsed() >= deadline {
                return Err(ctx.target.error(
                    "reading a key",
                    &format!("no node answered within {} s", deadline.as_secs()),
                ));
            }
            ctx.router.refresh();
            std::thread::sleep(backoff(tries));
            tries += 1;
        };
        let received_ms = ctx.now.unwrap_or_else(now_ms);
        judge(
            ctx,
            batch,
            item,
            (dump, ttl),
            sent_ms,
            received_ms,
            &mut local,
        )?;
    }
    redirects.db = None;
    Ok(local)
}

/// A batch whose commands are sent and whose replies are still to be read.
struct SentBatch<'a> {
    batch: Batch<'a>,
    /// A `SELECT` went before it.
    select: bool,
    /// Replies to read (the `SELECT`'s included).
    count: usize,
    /// Snapshot value bytes of its keys.
    value_bytes: usize,
    /// When it was sent (Unix ms): the start of the TTL window.
    sent_ms: i64,
}

/// Sends `DUMP` and the TTL command for every key of `batch` (after a `SELECT` when
/// the connection is on another db).
fn send_batch<'a>(
    ctx: &WorkerCtx<'_, '_, '_>,
    conn: &mut Connection,
    current_db: &mut Option<u64>,
    batch: Batch<'a>,
) -> std::result::Result<SentBatch<'a>, Batch<'a>> {
    let mut buf = Vec::with_capacity(batch.items.len() * 64);
    let mut count = 0;
    let select = ctx.select && *current_db != Some(batch.db);
    if select {
        resp::write_select(&mut buf, batch.db);
        count += 1;
        // A refused SELECT ends the run (see `check_batch`), so the db is taken as
        // selected from here on.
        *current_db = Some(batch.db);
    }
    let value_bytes = batch.value_bytes;
    for item in &batch.items {
        resp::write_command(&mut buf, &[b"DUMP", &item.rec.key]);
        resp::write_command(&mut buf, &[ctx.mode.command(), &item.rec.key]);
        count += 2;
    }
    let sent_ms = now_ms();
    if conn.send_packed_command(&buf).is_err() {
        return Err(batch);
    }
    Ok(SentBatch {
        batch,
        select,
        count,
        value_bytes,
        sent_ms,
    })
}

/// Reads the replies of a sent batch, in order, and compares every key.
fn check_batch(
    ctx: &WorkerCtx<'_, '_, '_>,
    conn: &mut Connection,
    redirects: &mut Redirects<'_>,
    sent: &SentBatch<'_>,
) -> std::result::Result<VerifyReport, Stop> {
    let (batch, select, count, sent_ms) = (&sent.batch, sent.select, sent.count, sent.sent_ms);
    let mut replies = Vec::with_capacity(count);
    for _ in 0..count {
        replies.push(conn.recv_response().map_err(|_| Stop::Lost)?);
    }
    let received_ms = ctx.now.unwrap_or_else(now_ms);
    let mut it = replies.into_iter();
    if select {
        if let Some(text) = it.next().as_ref().and_then(server_error_text) {
            return Err(Stop::Fatal(
                ctx.target.error(&format!("SELECT {}", batch.db), &text),
            ));
        }
    }
    let mut local = VerifyReport::new();
    redirects.db = ctx.select.then_some(batch.db);
    for item in &batch.items {
        let (Some(dump), Some(ttl)) = (it.next(), it.next()) else {
            break;
        };
        let replies = if retry_error(&dump).is_some() || retry_error(&ttl).is_some() {
            redirects
                .resolve(&item.rec.key, ctx.mode, (dump, ttl), ctx.shared)
                .map_err(Stop::Fatal)?
        } else {
            (dump, ttl)
        };
        judge(ctx, batch, item, replies, sent_ms, received_ms, &mut local).map_err(Stop::Fatal)?;
    }
    redirects.db = None;
    Ok(local)
}

/// Compares one key with what the target answered (`DUMP` and the TTL command).
fn judge(
    ctx: &WorkerCtx<'_, '_, '_>,
    batch: &Batch<'_>,
    item: &Item<'_>,
    (dump, ttl): (Value, Value),
    sent_ms: i64,
    received_ms: i64,
    local: &mut VerifyReport,
) -> Result<()> {
    let key_text = || String::from_utf8_lossy(&item.rec.key).into_owned();
    if let Some(text) = server_error_text(&dump).or_else(|| server_error_text(&ttl)) {
        return Err(ctx.target.error(
            &format!("reading db {} key {:?}", item.db, key_text()),
            &text,
        ));
    }
    let payload: Option<&[u8]> = match &dump {
        Value::BulkString(b) => Some(b),
        Value::Nil => None,
        other => {
            return Err(ctx.target.error(
                &format!("DUMP of {:?}", key_text()),
                &format!("unexpected reply {other:?}"),
            ))
        }
    };
    let ttl = match ttl {
        Value::Int(n) => n,
        other => {
            return Err(ctx.target.error(
                &format!("TTL of {:?}", key_text()),
                &format!("unexpected reply {other:?}"),
            ))
        }
    };
    let observed = Observed {
        dump: payload,
        ttl,
        sent_ms,
        received_ms,
    };
    let rec = &item.rec;
    let file = ctx.files.get(batch.file);
    let verdict = compare_key(
        || rec.value().and_then(digest_value),
        rec.expire_at_ms,
        &observed,
        ctx.mode,
    )
    .map_err(|e| Error::Parse {
        file: file.map_or_else(|| "?".to_string(), |f| f.name.to_string()),
        error: e,
    })?;
    local.checked += 1;
    match verdict {
        None => local.matched += 1,
        Some((why, detail)) => local.add(
            Finding {
                db: item.db,
                key: rec.key.to_vec(),
                why,
                detail,
            },
            ctx.shared.max_examples,
        ),
    }
    Ok(())
}

/// `dbN:keys=K,...` lines of `INFO keyspace`.
fn keyspace(conn: &mut Connection) -> BTreeMap<u64, u64> {
    info_section(conn, "keyspace")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (db, rest) = l.trim().strip_prefix("db")?.split_once(':')?;
            let keys = rest
                .split(',')
                .find_map(|kv| kv.strip_prefix("keys="))?
                .parse()
                .ok()?;
            Some((db.parse().ok()?, keys))
        })
        .collect()
}

/// What the first pass over the snapshots learns.
struct Census {
    /// Sorted, deduplicated `key_hash(target db, key)` of every selected key.
    hashes: Vec<u128>,
    /// Per target db: (selected keys, not expired).
    counts: BTreeMap<u64, (u64, u64)>,
    /// Keys with a sample hash at or below this are checked.
    threshold: u128,
}

fn census(
    files: &[SourceFile<'_>],
    options: &VerifyOptions,
    now: i64,
    single_db: Option<&str>,
) -> Result<Census> {
    let plan = &options.plan;
    let mut hashes = Vec::new();
    let mut counts: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let mut heap: BinaryHeap<u128> = BinaryHeap::new();
    let n = options
        .sample
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut bad = BTreeSet::new();
    for file in files {
        for record in file.rdb.records() {
            let k = match record {
                Ok(Record::Key(k)) => k,
                Ok(_) => continue,
                Err(e) => {
                    return Err(Error::Parse {
                        file: file.name.to_string(),
                        error: e,
                    })
                }
            };
            if !plan.selects(&k) {
                continue;
            }
            let db = plan.map_db(k.db);
            if single_db.is_some() && db != 0 {
                bad.insert(k.db);
                continue;
            }
            hashes.push(key_hash(db, &k.key));
            let c = counts.entry(db).or_default();
            c.0 += 1;
            if k.expire_at_ms.is_none_or(|at| at > now) {
                c.1 += 1;
            }
            if let Some(n) = n {
                let h = sample_hash(db, &k.key, options.seed);
                if heap.len() < n {
                    heap.push(h);
                } else if heap.peek().is_some_and(|&top| h < top) {
                    heap.pop();
                    heap.push(h);
                }
            }
        }
    }
    if let (Some(why), false) = (single_db, bad.is_empty()) {
        return Err(Error::SingleDbTarget {
            why: why.to_string(),
            dbs: bad
                .iter()
                .map(|d| match plan.db_map.get(d) {
                    Some(to) => format!("{d} (mapped to {to})"),
                    None => d.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    hashes.sort_unstable();
    hashes.dedup();
    let threshold = match n {
        Some(n) if heap.len() >= n => heap.peek().copied().unwrap_or(0),
        _ => u128::MAX,
    };
    Ok(Census {
        hashes,
        counts,
        threshold,
    })
}

/// The standard type names `TYPE` answers (anything else is a module type).
fn type_of_reply(name: &str) -> LogicalType {
    match name {
        "string" => LogicalType::String,
        "list" => LogicalType::List,
        "set" => LogicalType::Set,
        "zset" => LogicalType::ZSet,
        "hash" => LogicalType::Hash,
        "stream" => LogicalType::Stream,
        _ => LogicalType::Module,
    }
}

/// The slots a node served when the run began: after a failover, its scan goes on on
/// the nodes that own them now, and counts only keys of those slots there (so a key
/// is counted once, whatever else the new owner serves).
struct ScanSlots<'r> {
    router: &'r Router<'r>,
    served: Vec<bool>,
}

impl ScanSlots<'_> {
    /// The nodes that own the slots now (`None`: some slot has no owner yet).
    fn owners(&self) -> Option<Vec<NodeAddr>> {
        let map = self.router.slots.read().unwrap_or_else(|p| p.into_inner());
        let m = map.as_ref()?;
        let mut owners: Vec<NodeAddr> = Vec::new();
        for (slot, _) in self.served.iter().enumerate().filter(|(_, s)| **s) {
            let addr = m
                .owner
                .get(slot)
                .copied()
                .flatten()
                .and_then(|i| m.nodes.get(i))?;
            if !owners.contains(addr) {
                owners.push(addr.clone());
            }
        }
        Some(owners)
    }

    fn contains(&self, key: &[u8]) -> bool {
        self.served
            .get(usize::from(cluster::slot_for_key(key)))
            .copied()
            .unwrap_or(false)
    }
}

/// `SCAN`s the databases in scope on one node and counts the keys the snapshot does
/// not hold (see the [module docs](self)).
///
/// A lost connection (a restart, a proxy) restarts the database's scan from cursor 0
/// (what it had found is dropped, so nothing counts twice) until the node deadline.
/// In a cluster the slot map is read again first: when the node's slots moved (its
/// replica took over), the scan restarts on the nodes that own them now, limited to
/// those slots.
fn scan_node(
    target: &Target,
    own: &NodeAddr,
    slots: Option<&ScanSlots<'_>>,
    select: bool,
    dbs: &BTreeSet<u64>,
    hashes: &[u128],
    scan: &ScanCtx<'_>,
) -> Result<VerifyReport> {
    let options = scan.options;
    let mut local = VerifyReport::new();
    let mut conns: HashMap<NodeAddr, Connection> = HashMap::new();
    // Where the scan goes: the node itself until a connection to it is lost.
    let mut moved_on = false;
    for &db in dbs {
        let started = std::time::Instant::now();
        let found = loop {
            let nodes = match (moved_on, slots) {
                (true, Some(s)) => s.owners(),
                _ => Some(vec![own.clone()]),
            };
            // Every node of the list scanned to the end, or the list is to be made again.
            let mut sum = VerifyReport::new();
            let mut lost = nodes.is_none();
            for node in nodes.iter().flatten() {
                let conn = match conns.entry(node.clone()) {
                    std::collections::hash_map::Entry::Occupied(o) => Some(o.into_mut()),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        let t = if node == own {
                            target.clone()
                        } else {
                            target.for_node(&node.0, node.1)
                        };
                        t.connect().ok().map(|c| v.insert(c))
                    }
                };
                let filter = slots.filter(|_| moved_on);
                let result = match conn {
                    Some(c) => scan_db(c, target, select, db, hashes, filter, scan),
                    None => Err(Stop::Lost),
                };
                match result {
                    Ok(found) => sum.merge(found, options.max_examples),
                    Err(Stop::Fatal(e)) => return Err(e),
                    Err(Stop::Lost) => {
                        conns.remove(node);
                        lost = true;
                        break;
                    }
                }
            }
            if !lost {
                break sum;
            }
            if started.elapsed() >= options.node_timeout {
                return Err(target.error(
                    "SCAN",
                    &format!(
                        "the connection was lost and no node took over within {} s \
                         (--node-timeout)",
                        options.node_timeout.as_secs()
                    ),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
            if let Some(s) = slots {
                s.router.refresh();
                moved_on = true;
            }
        };
        local.merge(found, options.max_examples);
        if scan.stopped() {
            break;
        }
    }
    Ok(local)
}

/// What every node's scan shares.
struct ScanCtx<'s> {
    options: &'s VerifyOptions,
    /// Set once the key counts settle the extra-key question.
    stop: &'s AtomicBool,
    /// `--max-ops`, shared with the per-key checks: a `SCAN` call counts as the keys
    /// it returns.
    throttle: &'s Mutex<Throttle>,
    /// Cancelled: the scan stops too.
    progress: &'s Progress,
}

impl ScanCtx<'_> {
    /// Whether the scan is to stop (settled by the counts, or the run cancelled).
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.progress.is_cancelled()
    }
}

/// The extra keys of one database (see [`scan_node`]); with `slots`, only keys of
/// those slots count.
fn scan_db(
    conn: &mut Connection,
    target: &Target,
    select: bool,
    db: u64,
    hashes: &[u128],
    slots: Option<&ScanSlots<'_>>,
    scan: &ScanCtx<'_>,
) -> std::result::Result<VerifyReport, Stop> {
    let options = scan.options;
    let plan = &options.plan;
    let mut local = VerifyReport::new();
    // A transport error, or a node busy changing (a failover), may pass with a new
    // connection or another node; any other refusal does not.
    let stop_for = |what: &str, e: redis::RedisError| {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_timeout()
            || e.code().is_some_and(is_transient)
        {
            Stop::Lost
        } else {
            Stop::Fatal(target.error(what, &e))
        }
    };
    if select {
        redis::cmd("SELECT")
            .arg(db)
            .query::<()>(conn.link())
            .map_err(|e| stop_for(&format!("SELECT {db}"), e))?;
    }
    let mut cursor = "0".to_string();
    loop {
        if scan.stopped() {
            return Ok(local);
        }
        let (next, mut keys): (String, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(options.scan_count.max(1))
            .query(conn.link())
            .map_err(|e| stop_for("SCAN", e))?;
        if options.max_ops.is_some() {
            lock(scan.throttle).wait(keys.len() as u64 + 1, 0);
        }
        if let Some(s) = slots {
            keys.retain(|k| s.contains(k));
        }
        local.scanned += keys.len() as u64;
        let mut candidates: Vec<Vec<u8>> = keys
            .into_iter()
            .filter(|k| {
                (plan.key_patterns.is_empty() || plan.key_patterns.iter().any(|g| g.matches(k)))
                    && hashes.binary_search(&key_hash(db, k)).is_err()
            })
            .collect();
        if !plan.types.is_empty() && !candidates.is_empty() {
            let mut pipe = redis::pipe();
            for k in &candidates {
                pipe.cmd("TYPE").arg(k.as_slice());
            }
            let types: Vec<String> = pipe.query(conn.link()).map_err(|e| stop_for("TYPE", e))?;
            candidates = candidates
                .into_iter()
                .zip(types)
                .filter(|(_, t)| t != "none" && plan.types.contains(&type_of_reply(t)))
                .map(|(k, _)| k)
                .collect();
        }
        for key in candidates {
            local.add(
                Finding {
                    db,
                    key,
                    why: Why::Extra,
                    detail: "on the target, not in the snapshot".to_string(),
                },
                options.max_examples,
            );
        }
        if next == "0" {
            return Ok(local);
        }
        cursor = next;
    }
}

/// Checks that `target` holds exactly the selected keys of `files` (one dataset,
/// e.g. one file per shard); see the [module docs](self).
///
/// Returns the report whenever the run went through, differences or not
/// ([`VerifyReport::has_differences`]); an `Err` means it could not start or
/// stopped (bad target, connection lost, corrupt snapshot, databases a cluster does
/// not have, a server error reply to a read), or [`Error::Interrupted`] when
/// [`Progress::cancel`] was called (from another thread): the reads in flight are
/// answered, nothing more is sent.
pub fn verify<'a>(
    target: &Target,
    files: &[SourceFile<'a>],
    options: &VerifyOptions,
    progress: &Progress,
) -> Result<VerifyReport> {
    let started = Instant::now();
    let mut options = options.clone();
    options.plan.default_db = target.database().or(options.plan.default_db);
    let options = &options;
    let mut probe = target.connect()?;
    target.ping(&mut probe)?;
    let server = info_section(&mut probe, "server").unwrap_or_default();
    let field = |name: &str| {
        server.lines().find_map(|l| {
            l.strip_prefix(name)
                .and_then(|r| r.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        })
    };
    let version = field("valkey_version").or_else(|| field("redis_version"));
    let cluster_enabled = info_section(&mut probe, "cluster")
        .is_some_and(|s| s.lines().any(|l| l.trim() == "cluster_enabled:1"));
    let cluster_wanted = cluster_enabled || options.cluster == ClusterMode::Always;
    let host = target
        .address()
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let port = target
        .address()
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(6379);
    let slot_map = if cluster_wanted {
        SlotMap::fetch(&mut probe, &host).map_err(|e| target.error("CLUSTER SLOTS", &e))?
    } else {
        None
    };
    let is_cluster = slot_map.is_some();
    // PEXPIRETIME (7.0+) when the server knows it; a redirection means it does.
    let probe_reply = probe.req_packed_command(
        &redis::cmd("PEXPIRETIME")
            .arg("rdbkit:verify:probe")
            .get_packed_command(),
    );
    let mode = match probe_reply {
        Ok(Value::Int(_)) => TtlMode::Exact,
        Ok(Value::ServerError(e)) if matches!(e.code(), "MOVED" | "ASK") => TtlMode::Exact,
        Err(e) if e.redirect_node().is_some() => TtlMode::Exact,
        _ => TtlMode::Relative(options.ttl_tolerance_ms.max(0)),
    };
    let node_addrs: Vec<NodeAddr> = match &slot_map {
        Some(m) => m.nodes.clone(),
        None => vec![(host.clone(), port)],
    };
    let node_target = |a: &NodeAddr| {
        if is_cluster {
            target.for_node(&a.0, a.1)
        } else {
            target.clone()
        }
    };
    let single_db = if cluster_wanted {
        Some(if cluster_enabled {
            "cluster mode"
        } else {
            "--cluster given"
        })
    } else {
        None
    };
    let select = single_db.is_none();

    let now = options.now_ms.unwrap_or_else(now_ms);
    let census = census(files, options, now, single_db)?;
    let mut report = VerifyReport::new();
    report.snapshot_keys = census.counts.values().map(|c| c.0).sum();
    report.sampled = options.sample.is_some();

    // Counts per db, summed over the nodes.
    let mut target_counts: BTreeMap<u64, u64> = BTreeMap::new();
    let mut node_dbs: Vec<BTreeSet<u64>> = Vec::new();
    let mut node_counts: Vec<BTreeMap<u64, u64>> = Vec::new();
    for a in &node_addrs {
        let ks = if is_cluster {
            keyspace(&mut node_target(a).connect()?)
        } else {
            keyspace(&mut probe)
        };
        for (db, n) in &ks {
            *target_counts.entry(*db).or_default() += n;
        }
        let scope: BTreeSet<u64> = if options.plan.dbs.is_empty() {
            ks.keys().copied().collect()
        } else {
            options
                .plan
                .dbs
                .iter()
                .map(|&d| options.plan.map_db(d))
                .filter(|d| ks.contains_key(d))
                .collect()
        };
        node_dbs.push(scope);
        node_counts.push(ks);
    }
    drop(probe);
    let all_dbs: BTreeSet<u64> = census
        .counts
        .keys()
        .copied()
        .chain(node_dbs.iter().flatten().copied())
        .collect();
    let compared = options.plan.key_patterns.is_empty() && options.plan.types.is_empty();
    report.dbs = all_dbs
        .into_iter()
        .map(|db| {
            let (snapshot, snapshot_live) = census.counts.get(&db).copied().unwrap_or((0, 0));
            DbCounts {
                db,
                snapshot,
                snapshot_live,
                target: target_counts.get(&db).copied().unwrap_or(0),
                compared,
            }
        })
        .collect();
    let to_check = match options.sample {
        Some(n) => n.min(report.snapshot_keys),
        None => report.snapshot_keys,
    };
    progress.input_total.store(to_check, Ordering::Relaxed);

    let shared = Shared {
        report: Mutex::new(VerifyReport::new()),
        abort: AtomicBool::new(false),
        fatal: Mutex::new(None),
        moved: AtomicBool::new(false),
        progress,
        max_examples: options.max_examples,
    };
    let slot_owner = RwLock::new(slot_map);
    let connections = options.connections.max(1);
    let mut batch_keys = options.batch_keys.max(1);
    if let Some(ops) = options.max_ops {
        batch_keys = batch_keys.min(usize::try_from(ops / 20).unwrap_or(usize::MAX).max(1));
    }
    let throttle = Mutex::new(Throttle::new(options.max_ops, None));
    let mut frame_error = None;
    let mut scanned: Vec<Result<VerifyReport>> = Vec::new();

    let scan_stop = AtomicBool::new(false);
    let mut extra_by_count = false;
    // The slot map's reader for the dispatcher and the scans (the seed may be the
    // node that dies).
    let router = Router {
        target,
        host: &host,
        slots: &slot_owner,
        own: (host.clone(), port),
        select,
        deadline: options.node_timeout,
        moved: &shared.moved,
    };
    let scan_slots: Vec<Option<ScanSlots<'_>>> = node_addrs
        .iter()
        .map(|a| {
            let map = slot_owner.read().unwrap_or_else(|p| p.into_inner());
            let m = map.as_ref()?;
            let me = m.nodes.iter().position(|n| n == a);
            Some(ScanSlots {
                router: &router,
                served: m.owner.iter().map(|o| o.is_some() && *o == me).collect(),
            })
        })
        .collect();
    let scan_ctx = ScanCtx {
        options,
        stop: &scan_stop,
        throttle: &throttle,
        progress,
    };
    std::thread::scope(|scope| {
        // The extra-key scan runs alongside the per-key checks.
        let scans: Vec<_> = node_addrs
            .iter()
            .zip(&node_dbs)
            .zip(&scan_slots)
            .map(|((a, dbs), slots)| {
                let t = node_target(a);
                let hashes = &census.hashes;
                let scan = &scan_ctx;
                scope.spawn(move || scan_node(&t, a, slots.as_ref(), select, dbs, hashes, scan))
            })
            .collect();
        let mut workers = Vec::new();

        let mut senders = Vec::new();
        for a in &node_addrs {
            let (tx, rx) = bounded::<Batch<'a>>(connections);
            for _ in 0..connections {
                let ctx = WorkerCtx {
                    target: node_target(a),
                    select,
                    depth: options.pipeline_depth,
                    mode,
                    now: options.now_ms,
                    files,
                    shared: &shared,
                    router: Router {
                        target,
                        host: &host,
                        slots: &slot_owner,
                        own: a.clone(),
                        select,
                        deadline: options.node_timeout,
                        moved: &shared.moved,
                    },
                };
                let rx = rx.clone();
                let own = a.clone();
                workers.push(scope.spawn(move || worker(ctx, own, rx)));
            }
            senders.push((tx, None::<Batch<'a>>));
        }
        let dispatch = |b: Batch<'a>, tx: &crossbeam_channel::Sender<Batch<'a>>| {
            if options.max_ops.is_some() {
                lock(&throttle).wait(2 * b.items.len() as u64, 0);
            }
            tx.send(b).is_ok()
        };
        'files: for (fi, file) in files.iter().enumerate() {
            for record in file.rdb.records() {
                if progress.is_cancelled() {
                    shared.fail(Error::Interrupted);
                }
                if shared.aborted() {
                    break 'files;
                }
                let k = match record {
                    Ok(Record::Key(k)) => k,
                    Ok(_) => continue,
                    Err(e) => {
                        frame_error = Some(Error::Parse {
                            file: file.name.to_string(),
                            error: e,
                        });
                        break 'files;
                    }
                };
                if !options.plan.selects(&k) {
                    continue;
                }
                let db = options.plan.map_db(k.db);
                if census.threshold != u128::MAX
                    && sample_hash(db, &k.key, options.seed) > census.threshold
                {
                    continue;
                }
                if shared.moved.swap(false, Ordering::Relaxed) {
                    router.refresh();
                }
                let ni = {
                    let map = slot_owner.read().unwrap_or_else(|p| p.into_inner());
                    map.as_ref()
                        .and_then(|m| {
                            let owner = m
                                .owner
                                .get(usize::from(cluster::slot_for_key(&k.key)))
                                .copied()
                                .flatten()?;
                            let addr = m.nodes.get(owner)?;
                            node_addrs.iter().position(|x| x == addr)
                        })
                        .unwrap_or(0)
                };
                let Some((tx, open)) = senders.get_mut(ni) else {
                    continue;
                };
                if open.as_ref().is_some_and(|b| b.db != db || b.file != fi) {
                    if let Some(b) = open.take() {
                        if !dispatch(b, tx) {
                            break 'files;
                        }
                    }
                }
                let b = open.get_or_insert_with(|| Batch {
                    file: fi,
                    db,
                    items: Vec::with_capacity(batch_keys),
                    value_bytes: 0,
                });
                b.value_bytes += k.raw.len();
                b.items.push(Item { rec: k, db });
                // Big values make short batches: the replies of one batch are held
                // in memory together.
                if b.items.len() >= batch_keys || b.value_bytes >= MAX_BATCH_VALUE_BYTES {
                    if let Some(b) = open.take() {
                        if !dispatch(b, tx) {
                            break 'files;
                        }
                    }
                }
            }
        }
        for (tx, open) in senders.iter_mut() {
            if let Some(b) = open.take() {
                if !shared.aborted() {
                    let _ = dispatch(b, tx);
                }
            }
        }
        // Closing the channels lets the workers finish.
        drop(senders);
        for w in workers {
            let _ = w.join();
        }
        // Every snapshot key checked: the key counts may settle the extra-key question.
        let settled_by_count = !options.full_scan
            && options.sample.is_none()
            && compared
            && !shared.aborted()
            && frame_error.is_none()
            && {
                let found = {
                    let r = lock(&shared.report);
                    r.matched + r.different
                };
                let in_scope = |counts: &BTreeMap<u64, u64>, dbs: &BTreeSet<u64>| -> u64 {
                    dbs.iter().filter_map(|d| counts.get(d)).sum()
                };
                let before: u64 = node_dbs
                    .iter()
                    .zip(&node_counts)
                    .map(|(d, c)| in_scope(c, d))
                    .sum();
                let after: Option<u64> = node_addrs
                    .iter()
                    .zip(&node_dbs)
                    .map(|(a, d)| {
                        let mut c = node_target(a).connect().ok()?;
                        Some(in_scope(&keyspace(&mut c), d))
                    })
                    .sum();
                after == Some(before) && before == found
            };
        if settled_by_count {
            scan_stop.store(true, Ordering::Relaxed);
            extra_by_count = true;
        }
        for s in scans {
            scanned.push(s.join().unwrap_or_else(|_| {
                Err(Error::Probe("the extra-key scan thread panicked".into()))
            }));
        }
    });

    if let Some(e) = lock(&shared.fatal).take() {
        return Err(e);
    }
    if let Some(e) = frame_error {
        return Err(e);
    }
    // Cancelled while the workers or the scans ran: what was checked is partial.
    if progress.is_cancelled() {
        return Err(Error::Interrupted);
    }
    let checked = shared
        .report
        .into_inner()
        .unwrap_or_else(|p| p.into_inner());
    report.merge(checked, options.max_examples);
    for s in scanned {
        report.merge(s?, options.max_examples);
    }
    report.extra_by_count = extra_by_count;
    report.target = Some(VerifyTarget {
        version,
        cluster: is_cluster,
        masters: node_addrs.len(),
        exact_ttl: mode == TtlMode::Exact,
    });
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn string_payload(v: &[u8]) -> Vec<u8> {
        let mut body = vec![v.len() as u8];
        body.extend_from_slice(v);
        DumpPayload::build(0, &body, 10)
    }

    fn digest_of(v: &[u8]) -> ValueDigest {
        let p = string_payload(v);
        digest_value(DumpPayload::parse(&p).unwrap().value().unwrap()).unwrap()
    }

    fn obs(dump: Option<&[u8]>, ttl: i64) -> Observed<'_> {
        Observed {
            dump,
            ttl,
            sent_ms: 10_000,
            received_ms: 10_010,
        }
    }

    #[test]
    fn verdicts() {
        let want = || Ok(digest_of(b"v"));
        let same = string_payload(b"v");
        let other = string_payload(b"w");
        let c = |exp, o: &Observed<'_>, m| compare_key(want, exp, o, m).unwrap().map(|v| v.0);
        let exact = TtlMode::Exact;
        assert_eq!(c(None, &obs(Some(&same), -1), exact), None);
        assert_eq!(c(Some(20_000), &obs(Some(&same), 20_000), exact), None);
        assert_eq!(
            c(Some(20_000), &obs(Some(&same), 20_001), exact),
            Some(Why::Ttl)
        );
        assert_eq!(c(None, &obs(Some(&same), 5), exact), Some(Why::Ttl));
        assert_eq!(c(Some(5), &obs(Some(&same), -1), exact), Some(Why::Ttl));
        assert_eq!(c(None, &obs(Some(&other), -1), exact), Some(Why::Value));
        assert_eq!(c(None, &obs(None, -2), exact), Some(Why::Missing));
        assert_eq!(c(Some(20_000), &obs(None, -2), exact), Some(Why::Missing));
        assert_eq!(
            c(Some(9_000), &obs(None, -2), exact),
            Some(Why::ExpiredSinceSnapshot)
        );
        assert_eq!(
            c(None, &obs(Some(b"garbage-payload"), -1), exact),
            Some(Why::Unreadable)
        );
        // PTTL: remaining 10 s, window [10 000, 10 010] ms, slack 100 ms.
        let rel = TtlMode::Relative(100);
        assert_eq!(c(Some(20_000), &obs(Some(&same), 9_995), rel), None);
        assert_eq!(
            c(Some(20_000), &obs(Some(&same), 9_800), rel),
            Some(Why::Ttl)
        );
        // A set is not a string with the same member.
        let set = DumpPayload::build(2, &[1, 1, b'v'], 10);
        assert_eq!(c(None, &obs(Some(&set), -1), exact), Some(Why::Type));
    }

    #[test]
    fn report_counts_and_examples() {
        let mut r = VerifyReport::new();
        for i in 0..5u8 {
            r.add(
                Finding {
                    db: 0,
                    key: vec![i],
                    why: if i < 3 { Why::Missing } else { Why::Ttl },
                    detail: String::new(),
                },
                2,
            );
        }
        assert_eq!((r.missing, r.different, r.count(Why::Ttl)), (3, 2, 2));
        assert_eq!(r.examples.len(), 4);
        let mut total = VerifyReport::new();
        total.merge(r.clone(), 2);
        total.merge(r, 2);
        assert_eq!((total.missing, total.count(Why::Ttl)), (6, 4));
        assert_eq!(total.examples.len(), 4);
        assert!(total.has_differences());
    }
}
