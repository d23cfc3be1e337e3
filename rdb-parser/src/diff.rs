//! Snapshot diff: compares the logical content of two sets of RDB files.
//!
//! Each side is a set of files taken as one dataset (ElastiCache exports one RDB per
//! shard; a side is the union of its shards). Keys are matched by `(db, key)` and
//! fall in exactly one of: only in A, only in B, different, same. Values are compared
//! only through [`crate::digest`], so encodings, compression and RDB versions do not
//! matter; see there for what "same value" means (for streams in particular).
//!
//! A matched key is *different* when any of these differ, and is then counted once in
//! [`DiffReport::different`] and in every subcategory that applies:
//! - type: the logical types differ (the value is then not compared further);
//! - ttl: the key expiry, compared exactly in ms (a key with a TTL and one without differ);
//! - value: the content digest;
//! - field_ttls: the hash field TTLs (hashes only).
//!
//! For streams, a value difference is named by part (entries, group metadata, PEL
//! delivery times; see [`digest::StreamDigest`]) in [`DiffReport::different_stream_entries`]
//! and its siblings and in the example's detail. Two servers fed the same writes stamp
//! their own delivery times: [`DiffOptions::stream_times`] `false` leaves those out.
//! Consumers' seen and active times are never compared (any read changes them); the
//! detail only mentions that they differ too.
//!
//! # Keys that expired between the snapshots
//!
//! A key only in A whose expiry is at or before B's snapshot time (B's `ctime` AUX
//! field; the latest one over B's files) did not need deleting: it expired. It is
//! counted in [`DiffReport::expired_in_a`], not in [`DiffReport::only_in_a`], and does
//! not make the result non-identical. Symmetrically a key only in B that had already
//! expired when B (or A) was taken is in [`DiffReport::expired_in_b`], not an addition.
//! The cut-off is [`DiffReport::expired_by_ms`]: the later snapshot time of the two
//! sides, at the end of its second (`ctime` has second resolution, and a key due
//! within that second may have expired before the save began). Without any `ctime`
//! (RDB < 4.0 has no AUX fields) nothing is judged expired and the cut-off is `None`.
//!
//! Function libraries are compared as a set of library codes per side (shards of a
//! cluster each carry the same libraries, which count once), reported as
//! [`DiffReport::functions_only_in_a`] / [`DiffReport::functions_only_in_b`].
//!
//! # Keys seen twice on one side
//!
//! A `(db, key)` seen more than once on one side (in two shard files, or twice in one
//! file) is counted once per extra occurrence in [`DiffReport::duplicates_in_a`] /
//! [`DiffReport::duplicates_in_b`] and makes the result non-identical; the key itself is
//! compared using its first occurrence (files in the order given, records in file
//! order). So `A = {X}` against `B = {X, X}` reports every key of X as the same and
//! once as a duplicate in B.
//!
//! # Memory
//!
//! Values are never kept. Side A is read first into one compact entry per distinct key
//! (key hash, content digest, 64-bit fold of the field-TTL digest, expiry, type: **49
//! bytes**), sorted by key hash, plus a bucket index on the top bits of the hash (at
//! most 4 bytes per key) so a lookup costs about two cache misses instead of a binary
//! search's twenty. Side B is then streamed; each key is looked up, and one bit per A
//! entry marks the matched ones. Keys found only in B cost 16 bytes each (their hash,
//! to count B-side duplicates exactly). Streams of A also keep their part digests
//! (about 100 bytes per stream, to name what differs). Total: at most
//! `53 × keys(A) + 100 × streams(A) + 16 × keys only in B` bytes plus a few MiB of
//! batch buffers and examples (10 M keys: about 510 MiB), independent of value sizes.
//! Measured: 1 M keys against themselves, ~50 MiB of heap. The files themselves are
//! expected to be memory-mapped by the caller (their pages are the kernel's page
//! cache). Put the smaller side first to save memory.
//!
//! Key names of examples are kept only for the first [`DiffOptions::examples`] keys
//! of each category; names of keys only in A are recovered by a second pass over A's
//! files (stopping once enough are found, deleted and expired keys apart).
//!
//! # Parallelism and determinism
//!
//! Records are framed sequentially in batches while the previous batch's digests are
//! computed on the rayon pool. Results are consumed in file order, so the report
//! (including which examples are shown) is the same whatever the thread count.

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

use xxhash_rust::xxh3::xxh3_128_with_seed;

use crate::aux::AuxInfo;
use crate::digest::{self, digest_value_parts, key_hash, type_code, type_from_code, StreamDigest};
use crate::error::Result;
use crate::record::{KeyRecord, Rdb, Record, Records};
use crate::types::LogicalType;

/// Example categories ([`DiffExample::category`]), in the order examples are listed.
pub mod category {
    /// The key exists only in side A.
    pub const ONLY_IN_A: &str = "only_in_a";
    /// The key exists only in side A and expired by B's snapshot time (or A's own).
    pub const EXPIRED_IN_A: &str = "expired_in_a";
    /// The key exists only in side B.
    pub const ONLY_IN_B: &str = "only_in_b";
    /// The key exists only in side B and had expired by B's snapshot time (or A's).
    pub const EXPIRED_IN_B: &str = "expired_in_b";
    /// The key has different logical types.
    pub const DIFFERENT_TYPE: &str = "different_type";
    /// The key's expiry differs.
    pub const DIFFERENT_TTL: &str = "different_ttl";
    /// The key's value differs (same type).
    pub const DIFFERENT_VALUE: &str = "different_value";
    /// The hash's field TTLs differ.
    pub const DIFFERENT_FIELD_TTLS: &str = "different_field_ttls";
    /// The key occurs more than once in side A.
    pub const DUPLICATE_IN_A: &str = "duplicate_in_a";
    /// The key occurs more than once in side B.
    pub const DUPLICATE_IN_B: &str = "duplicate_in_b";
    /// A function library only in side A (`key` is the library name).
    pub const FUNCTION_ONLY_IN_A: &str = "function_only_in_a";
    /// A function library only in side B (`key` is the library name).
    pub const FUNCTION_ONLY_IN_B: &str = "function_only_in_b";

    /// Every category, in report order.
    pub const ALL: [&str; 12] = [
        ONLY_IN_A,
        EXPIRED_IN_A,
        ONLY_IN_B,
        EXPIRED_IN_B,
        DIFFERENT_TYPE,
        DIFFERENT_TTL,
        DIFFERENT_VALUE,
        DIFFERENT_FIELD_TTLS,
        DUPLICATE_IN_A,
        DUPLICATE_IN_B,
        FUNCTION_ONLY_IN_A,
        FUNCTION_ONLY_IN_B,
    ];
}

/// Options of [`diff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffOptions {
    /// How many example keys to keep per category (default 10).
    pub examples: usize,
    /// Compare the delivery times of streams' pending entries (default `true`).
    /// `false` for servers written independently, which stamp their own times.
    pub stream_times: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            examples: 10,
            stream_times: true,
        }
    }
}

/// One example of a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DiffExample {
    /// One of the [`category`] constants.
    pub category: &'static str,
    /// Database number (0 for function libraries).
    pub db: u64,
    /// The key (for function libraries: the library name).
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_bytes::serialize")
    )]
    pub key: Vec<u8>,
    /// A short human-readable description (types, expiries as UTC dates, element
    /// counts, which parts of a stream differ).
    pub detail: String,
    /// The key's expiry (Unix ms) on the side the example is about (A's for keys in
    /// both); `None` without expiry and for function libraries.
    pub expire_at_ms: Option<i64>,
}

/// The result of [`diff`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DiffReport {
    /// Key records read from side A (duplicates included).
    pub keys_a: u64,
    /// Key records read from side B (duplicates included).
    pub keys_b: u64,
    /// Distinct keys only in A and not expired by [`DiffReport::expired_by_ms`]:
    /// deleted between the snapshots.
    pub only_in_a: u64,
    /// Distinct keys only in B and not expired by [`DiffReport::expired_by_ms`]: added.
    pub only_in_b: u64,
    /// Distinct keys only in A that expired by [`DiffReport::expired_by_ms`].
    pub expired_in_a: u64,
    /// Distinct keys only in B that had expired by [`DiffReport::expired_by_ms`].
    pub expired_in_b: u64,
    /// The latest `ctime` of A's files, in Unix ms; `None` when no file has one.
    pub ctime_a_ms: Option<i64>,
    /// The latest `ctime` of B's files, in Unix ms; `None` when no file has one.
    pub ctime_b_ms: Option<i64>,
    /// Keys only on one side expiring at or before this (Unix ms) count as expired:
    /// the end of the second of the later of the two `ctime`s; `None` when neither
    /// side has one (then no key is judged expired).
    pub expired_by_ms: Option<i64>,
    /// Keys in both sides that differ in any way.
    pub different: u64,
    /// Of `different`: the logical type differs.
    pub different_type: u64,
    /// Of `different`: the expiry differs.
    pub different_ttl: u64,
    /// Of `different`: same type, different content.
    pub different_value: u64,
    /// Of `different`: same type, different hash field TTLs.
    pub different_field_ttls: u64,
    /// Of `different_value`: streams whose entries (or last generated ID) differ.
    pub different_stream_entries: u64,
    /// Of `different_value`: streams whose consumer groups differ apart from times
    /// (names, last delivered IDs, pending IDs, owners, delivery counts).
    pub different_stream_groups: u64,
    /// Of `different_value`: streams whose PEL delivery times differ (counted only when
    /// [`DiffOptions::stream_times`] is on).
    pub different_stream_delivery_times: u64,
    /// Keys in both sides with the same type, expiry, content and field TTLs.
    pub same: u64,
    /// Extra occurrences of keys seen more than once in A.
    pub duplicates_in_a: u64,
    /// Extra occurrences of keys seen more than once in B.
    pub duplicates_in_b: u64,
    /// Distinct function libraries in A.
    pub functions_a: u64,
    /// Distinct function libraries in B.
    pub functions_b: u64,
    /// Function libraries (by code) only in A.
    pub functions_only_in_a: u64,
    /// Function libraries (by code) only in B.
    pub functions_only_in_b: u64,
    /// The first examples of each category, grouped in [`category::ALL`] order, each
    /// group in the order the keys were met.
    pub examples: Vec<DiffExample>,
}

impl DiffReport {
    /// Whether the two sides hold the same logical content (no difference of any kind,
    /// no duplicate keys). Keys that expired ([`DiffReport::expired`]) do not count.
    pub fn is_identical(&self) -> bool {
        self.only_in_a == 0
            && self.only_in_b == 0
            && self.different == 0
            && self.duplicates_in_a == 0
            && self.duplicates_in_b == 0
            && self.functions_only_in_a == 0
            && self.functions_only_in_b == 0
    }

    /// Keys only on one side that expired: `expired_in_a + expired_in_b`.
    pub fn expired(&self) -> u64 {
        self.expired_in_a + self.expired_in_b
    }

    /// The verdict: [`DiffReport::is_identical`], and with `count_expired` no key
    /// expired on one side either.
    pub fn identical(&self, count_expired: bool) -> bool {
        self.is_identical() && !(count_expired && self.expired() > 0)
    }

    /// What could not be judged for lack of snapshot times (no `ctime` AUX field
    /// before RDB 4.0), if anything.
    pub fn notice(&self) -> Option<&'static str> {
        match (self.ctime_a_ms, self.ctime_b_ms) {
            (_, Some(_)) => None,
            (Some(_), None) => Some(
                "B records no snapshot time (no `ctime` AUX field; RDB < 4.0): keys only in A \
                 are not judged against B's time, and each counts as deleted unless it had \
                 already expired when A was taken",
            ),
            (None, None) => Some(
                "neither side records its snapshot time (no `ctime` AUX field; RDB < 4.0): \
                 keys that expired between the snapshots count as deleted or added",
            ),
        }
    }
}

/// `rdbkit diff --format json` (feature `serde`): `{"verdict": "identical"|"different",
/// "only_in_a", "only_in_b", "expired_in_a", "expired_in_b", "different", "same",
/// "different_by": {"type", "ttl", "value", "field_ttls", "stream": {"entries",
/// "group_metadata", "pel_delivery_times"}}, "duplicates_in_a", "duplicates_in_b",
/// "functions_only_in_a", "functions_only_in_b", "keys_a", "keys_b", "ctime_a_ms",
/// "ctime_a", "ctime_b_ms", "ctime_b", "expired_by_ms", "expired_by", "count_expired",
/// "ignore": [...], "notice", "identical", "examples": [{"category", "db", "key",
/// "detail", "expire_at_ms", "expires"}]}`. Times are Unix ms (`*_ms`) beside ISO 8601
/// UTC, `null` when unknown; keys follow [`serde_bytes`](crate::serde_bytes).
#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
pub struct DiffDocument<'a> {
    verdict: &'static str,
    only_in_a: u64,
    only_in_b: u64,
    expired_in_a: u64,
    expired_in_b: u64,
    different: u64,
    same: u64,
    different_by: DifferentBy,
    duplicates_in_a: u64,
    duplicates_in_b: u64,
    functions_only_in_a: u64,
    functions_only_in_b: u64,
    keys_a: u64,
    keys_b: u64,
    ctime_a_ms: Option<i64>,
    ctime_a: Option<String>,
    ctime_b_ms: Option<i64>,
    ctime_b: Option<String>,
    expired_by_ms: Option<i64>,
    expired_by: Option<String>,
    count_expired: bool,
    ignore: &'a [&'a str],
    notice: Option<&'static str>,
    identical: bool,
    examples: Vec<ExampleEntry<'a>>,
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
struct DifferentBy {
    #[serde(rename = "type")]
    type_: u64,
    ttl: u64,
    value: u64,
    field_ttls: u64,
    stream: StreamDifferences,
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
struct StreamDifferences {
    entries: u64,
    group_metadata: u64,
    pel_delivery_times: u64,
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
struct ExampleEntry<'a> {
    category: &'static str,
    db: u64,
    key: crate::serde_bytes::Bytes<'a>,
    detail: &'a str,
    expire_at_ms: Option<i64>,
    expires: Option<String>,
}

#[cfg(feature = "serde")]
impl<'a> DiffDocument<'a> {
    /// The document of `report`; `count_expired` as [`DiffReport::identical`],
    /// `ignore` the names of what the comparison left out (`stream-times`).
    pub fn new(
        report: &'a DiffReport,
        count_expired: bool,
        ignore: &'a [&'a str],
    ) -> DiffDocument<'a> {
        let identical = report.identical(count_expired);
        let time = |ms: Option<i64>| ms.map(format_utc_ms);
        let r = report;
        DiffDocument {
            verdict: if identical { "identical" } else { "different" },
            only_in_a: r.only_in_a,
            only_in_b: r.only_in_b,
            expired_in_a: r.expired_in_a,
            expired_in_b: r.expired_in_b,
            different: r.different,
            same: r.same,
            different_by: DifferentBy {
                type_: r.different_type,
                ttl: r.different_ttl,
                value: r.different_value,
                field_ttls: r.different_field_ttls,
                stream: StreamDifferences {
                    entries: r.different_stream_entries,
                    group_metadata: r.different_stream_groups,
                    pel_delivery_times: r.different_stream_delivery_times,
                },
            },
            duplicates_in_a: r.duplicates_in_a,
            duplicates_in_b: r.duplicates_in_b,
            functions_only_in_a: r.functions_only_in_a,
            functions_only_in_b: r.functions_only_in_b,
            keys_a: r.keys_a,
            keys_b: r.keys_b,
            ctime_a_ms: r.ctime_a_ms,
            ctime_a: time(r.ctime_a_ms),
            ctime_b_ms: r.ctime_b_ms,
            ctime_b: time(r.ctime_b_ms),
            expired_by_ms: r.expired_by_ms,
            expired_by: time(r.expired_by_ms),
            count_expired,
            ignore,
            notice: r.notice(),
            identical,
            examples: r
                .examples
                .iter()
                .map(|e| ExampleEntry {
                    category: e.category,
                    db: e.db,
                    key: crate::serde_bytes::Bytes(&e.key),
                    detail: &e.detail,
                    expire_at_ms: e.expire_at_ms,
                    expires: time(e.expire_at_ms),
                })
                .collect(),
        }
    }
}

/// Which side a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first set of files.
    A,
    /// The second set of files.
    B,
}

/// What [`diff_with_progress`] is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiffProgress {
    /// What this pass does (`"reading"`, `"resolving duplicates"`, `"naming keys only in A"`).
    pub pass: &'static str,
    /// The side being read.
    pub side: Side,
    /// Index of the file within its side.
    pub file: usize,
    /// Bytes of the file framed so far.
    pub position: u64,
    /// The file's size.
    pub total: u64,
}

/// Compares side `a` with side `b` (each a set of files taken as one dataset).
///
/// Errors are parse errors of any file (corrupt data, checksum mismatch); the
/// comparison stops at the first.
pub fn diff(a: &[Rdb<'_>], b: &[Rdb<'_>], options: &DiffOptions) -> Result<DiffReport> {
    diff_with_progress(a, b, options, &mut |_| {})
}

/// Like [`diff`], calling `progress` when each file pass starts (with `position` 0)
/// and after each batch of records: a caller can show progress and knows which file
/// an error came from.
pub fn diff_with_progress(
    a: &[Rdb<'_>],
    b: &[Rdb<'_>],
    options: &DiffOptions,
    progress: &mut dyn FnMut(&DiffProgress),
) -> Result<DiffReport> {
    let mut d = Differ {
        options: *options,
        report: DiffReport::default(),
        examples: HashMap::new(),
        streams_a: HashMap::new(),
    };
    d.report.ctime_a_ms = latest_ctime_ms(a);
    d.report.ctime_b_ms = latest_ctime_ms(b);
    let cutoff = d
        .report
        .ctime_a_ms
        .max(d.report.ctime_b_ms)
        .map(|ms| ms.saturating_add(999));
    d.report.expired_by_ms = cutoff;
    let expired = |at: Option<i64>| matches!((at, cutoff), (Some(at), Some(c)) if at <= c);
    let stream_times = options.stream_times;
    let mut functions_a = BTreeSet::new();
    let mut functions_b = BTreeSet::new();

    // Side A: one compact entry per key.
    let mut entries: Vec<Entry> = Vec::new();
    for (i, rdb) in a.iter().enumerate() {
        let mut report = |position| {
            progress(&DiffProgress {
                pass: "reading",
                side: Side::A,
                file: i,
                position,
                total: rdb.data().len() as u64,
            })
        };
        let streams_a = &mut d.streams_a;
        scan(
            rdb,
            None,
            stream_times,
            &mut functions_a,
            &mut report,
            |_, k| {
                if let Some(parts) = k.stream {
                    // The first occurrence in file order, like the entry kept for a duplicate.
                    streams_a.entry(k.key_hash).or_insert(parts);
                }
                entries.push(Entry::new(k));
            },
        )?;
    }
    d.report.keys_a = entries.len() as u64;
    entries.sort_unstable_by_key(|e| e.key);
    let entries = Table::new(d.resolve_duplicates_in_a(a, entries, progress)?);
    let mut matched = BitSet::new(entries.len());

    // Side B, streamed against A. Keys only in B: hashes of live and of expired ones.
    let mut only_b: Vec<u128> = Vec::new();
    let mut only_b_expired: Vec<u128> = Vec::new();
    let mut only_b_examples: HashSet<u128> = HashSet::new();
    for (i, rdb) in b.iter().enumerate() {
        let mut report = |position| {
            progress(&DiffProgress {
                pass: "reading",
                side: Side::B,
                file: i,
                position,
                total: rdb.data().len() as u64,
            })
        };
        scan(
            rdb,
            Some(&entries),
            stream_times,
            &mut functions_b,
            &mut report,
            |rec, k| {
                d.report.keys_b += 1;
                match k.found {
                    Some(i) if matched.get(i) => {
                        d.report.duplicates_in_b += 1;
                        d.example(category::DUPLICATE_IN_B, rec, || "seen again in B".into());
                    }
                    Some(i) => {
                        matched.set(i);
                        if let Some(e) = entries.get(i) {
                            d.compare(e, &k, rec);
                        }
                    }
                    None => {
                        let gone = expired(rec.expire_at_ms);
                        let (list, cat) = if gone {
                            (&mut only_b_expired, category::EXPIRED_IN_B)
                        } else {
                            (&mut only_b, category::ONLY_IN_B)
                        };
                        list.push(k.key_hash);
                        if only_b_examples.contains(&k.key_hash) {
                            d.example(category::DUPLICATE_IN_B, rec, || "seen again in B".into());
                        } else if d.wants(cat) {
                            only_b_examples.insert(k.key_hash);
                            let ctimes = (d.report.ctime_a_ms, d.report.ctime_b_ms);
                            d.example(cat, rec, || {
                                let mut s = describe(
                                    k.digest.logical,
                                    rec.expire_at_ms,
                                    Some(k.digest.elements),
                                );
                                if gone {
                                    s.push_str(&taken(Side::B, rec.expire_at_ms, ctimes));
                                }
                                s
                            });
                        }
                    }
                }
            },
        )?;
    }
    let total_only_b = (only_b.len() + only_b_expired.len()) as u64;
    only_b.sort_unstable();
    only_b.dedup();
    only_b_expired.sort_unstable();
    only_b_expired.dedup();
    // A key seen in B both live and expired (two shards) counts as live.
    only_b_expired.retain(|h| only_b.binary_search(h).is_err());
    d.report.only_in_b = only_b.len() as u64;
    d.report.expired_in_b = only_b_expired.len() as u64;
    d.report.duplicates_in_b += total_only_b - d.report.only_in_b - d.report.expired_in_b;
    drop(only_b);
    drop(only_b_expired);

    // Each unmatched entry is deleted or expired (walked only when some are unmatched).
    if matched.count() < entries.len() as u64 {
        for (i, e) in entries.entries.iter().enumerate() {
            if !matched.get(i) {
                if expired(e.expire_at_ms()) {
                    d.report.expired_in_a += 1;
                } else {
                    d.report.only_in_a += 1;
                }
            }
        }
    }
    if d.report.only_in_a + d.report.expired_in_a > 0 && d.options.examples > 0 {
        d.name_only_in_a(a, &entries, &matched, &expired, progress)?;
    }

    d.functions(&functions_a, &functions_b);
    d.finish()
}

/// The latest `ctime` AUX field of `files`, in Unix ms.
fn latest_ctime_ms(files: &[Rdb<'_>]) -> Option<i64> {
    let mut latest = None;
    for rdb in files {
        // A damaged start is reported by the scan, which names the file.
        if let Some(s) = AuxInfo::read(rdb).ok().and_then(|aux| aux.ctime) {
            latest = latest.max(Some(s.saturating_mul(1000)));
        }
    }
    latest
}

/// The end of an expired key's detail: when it expired relative to the snapshots.
fn taken(side: Side, at: Option<i64>, (ctime_a, ctime_b): (Option<i64>, Option<i64>)) -> String {
    let own = match side {
        Side::A => ctime_a,
        Side::B => ctime_b,
    };
    let (name, other) = match side {
        Side::A => ("A", ctime_b),
        Side::B => ("B", ctime_a),
    };
    // Already dead in its own snapshot (`ctime` has second resolution).
    let before_own = matches!((at, own), (Some(at), Some(t)) if at <= t.saturating_add(999));
    match (before_own, own, other) {
        (true, Some(t), _) => format!(
            "; already expired when {name} was taken ({})",
            format_utc_ms(t)
        ),
        (_, _, Some(t)) => format!(
            "; expired before {} was taken ({})",
            if name == "A" { "B" } else { "A" },
            format_utc_ms(t)
        ),
        _ => String::new(),
    }
}

pub use crate::time::format_utc_ms;

/// Compact per-key state of side A.
#[derive(Clone, Copy)]
#[repr(C, packed)]
struct Entry {
    key: u128,
    content: u128,
    field_ttls: u64,
    expire: i64,
    /// Type code (low 7 bits) and `HAS_EXPIRE`.
    flags: u8,
}

const HAS_EXPIRE: u8 = 0x80;

impl Entry {
    fn new(k: Digested) -> Entry {
        let (expire, has) = match k.expire_at_ms {
            Some(ms) => (ms, HAS_EXPIRE),
            None => (0, 0),
        };
        Entry {
            key: k.key_hash,
            content: k.digest.content,
            field_ttls: fold(k.digest.field_ttls),
            expire,
            flags: type_code(k.digest.logical) | has,
        }
    }

    fn expire_at_ms(&self) -> Option<i64> {
        (self.flags & HAS_EXPIRE != 0).then_some(self.expire)
    }

    fn logical(&self) -> Option<LogicalType> {
        type_from_code(self.flags & !HAS_EXPIRE)
    }
}

fn fold(x: u128) -> u64 {
    (x as u64) ^ ((x >> 64) as u64)
}

/// Side A's entries, sorted by key hash, with a bucket index on the top bits of
/// the hash: key hashes are uniform, so a lookup is one index read and a search in a
/// bucket of about one entry (a plain binary search over millions of entries costs a
/// cache miss per step).
struct Table {
    entries: Vec<Entry>,
    /// `starts[b]..starts[b + 1]` are the entries whose hash has top bits `b`.
    starts: Vec<u32>,
    bits: u32,
}

impl Table {
    fn new(entries: Vec<Entry>) -> Table {
        let n = entries.len();
        if n < 2 || u32::try_from(n).is_err() {
            return Table {
                entries,
                starts: Vec::new(),
                bits: 0,
            };
        }
        // At most one bucket per entry: at most 4 bytes per key.
        let bits = (usize::BITS - 1 - n.leading_zeros()).min(32);
        let buckets = 1usize << bits;
        let mut starts = vec![0u32; buckets + 1];
        for e in &entries {
            if let Some(c) = starts.get_mut(Self::bucket(e.key, bits) + 1) {
                *c += 1;
            }
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        Table {
            entries,
            starts,
            bits,
        }
    }

    fn bucket(key: u128, bits: u32) -> usize {
        (key >> (128 - bits)) as usize
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get(&self, i: usize) -> Option<&Entry> {
        self.entries.get(i)
    }

    /// Position of the entry for `key`.
    fn find(&self, key: u128) -> Option<usize> {
        let (lo, hi) = if self.starts.is_empty() {
            (0, self.entries.len())
        } else {
            let b = Self::bucket(key, self.bits);
            match (self.starts.get(b), self.starts.get(b + 1)) {
                (Some(&lo), Some(&hi)) => (lo as usize, hi as usize),
                _ => return None,
            }
        };
        let slice = self.entries.get(lo..hi)?;
        slice
            .binary_search_by(|e| {
                let k = e.key;
                k.cmp(&key)
            })
            .ok()
            .map(|i| lo + i)
    }
}

/// A key's digest and expiry, computed on a worker.
#[derive(Clone, Copy)]
struct Digested {
    key_hash: u128,
    expire_at_ms: Option<i64>,
    digest: digest::ValueDigest,
    /// A stream's parts (`digest.content` then covers the parts compared).
    stream: Option<StreamDigest>,
    /// Side B: position of the key in side A's table (looked up on the worker, so
    /// the cache misses of the lookups overlap).
    found: Option<usize>,
}

fn digest_record(
    rec: &KeyRecord<'_>,
    table: Option<&Table>,
    stream_times: bool,
) -> Result<Digested> {
    let (mut digest, stream) =
        digest_value_parts(rec.value()?).map_err(|e| e.with_record(rec.offset))?;
    if let (Some(p), false) = (stream, stream_times) {
        digest.content = without_times(&p);
    }
    let key_hash = key_hash(rec.db, &rec.key);
    Ok(Digested {
        key_hash,
        found: table.and_then(|t| t.find(key_hash)),
        expire_at_ms: rec.expire_at_ms,
        digest,
        stream,
    })
}

/// A stream's content without delivery and consumer times: entries and groups.
fn without_times(p: &StreamDigest) -> u128 {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&p.entries.to_le_bytes());
    b[16..].copy_from_slice(&p.groups.to_le_bytes());
    xxh3_128_with_seed(&b, 0x5354_5245_414d)
}

struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    fn new(n: usize) -> BitSet {
        BitSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    fn get(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn set(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn count(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// Keys per batch, and bytes of values per batch, handed to the workers at once.
const BATCH_KEYS: usize = 4096;
const BATCH_BYTES: usize = 16 << 20;

/// Frames up to one batch of key records; collects function libraries on the way.
/// Returns whether the end of the file was reached.
fn frame<'a>(
    records: &mut Records<'a>,
    batch: &mut Vec<KeyRecord<'a>>,
    functions: &mut BTreeSet<Vec<u8>>,
) -> Result<bool> {
    let mut bytes = 0usize;
    while batch.len() < BATCH_KEYS && bytes < BATCH_BYTES {
        match records.next() {
            None => return Ok(true),
            Some(record) => match record? {
                Record::Key(k) => {
                    bytes += k.raw.len();
                    batch.push(k);
                }
                Record::Function(f) => {
                    let code = if f.pre_ga {
                        f.raw.to_vec()
                    } else {
                        f.code.to_bytes()?.into_owned()
                    };
                    functions.insert(code);
                }
                Record::Eof(_) => return Ok(true),
                _ => {}
            },
        }
    }
    Ok(false)
}

/// Reads every key of `rdb`, digests the values on the rayon pool (while the next
/// batch is framed) and hands them to `consume` in file order.
fn scan<'a>(
    rdb: &Rdb<'a>,
    table: Option<&Table>,
    stream_times: bool,
    functions: &mut BTreeSet<Vec<u8>>,
    progress: &mut dyn FnMut(u64),
    mut consume: impl FnMut(&KeyRecord<'a>, Digested),
) -> Result<()> {
    progress(0);
    let mut records = rdb.records();
    let mut current = Vec::with_capacity(BATCH_KEYS);
    let mut done = frame(&mut records, &mut current, functions)?;
    let mut next = Vec::with_capacity(BATCH_KEYS);
    loop {
        let (framed, digests) = rayon::join(
            || {
                if done {
                    Ok(true)
                } else {
                    frame(&mut records, &mut next, functions)
                }
            },
            || {
                current
                    .par_iter()
                    .map(|rec| digest_record(rec, table, stream_times))
                    .collect::<Vec<Result<Digested>>>()
            },
        );
        for (rec, digested) in current.iter().zip(digests) {
            consume(rec, digested?);
        }
        let framed_done = framed?;
        progress(records.offset());
        if done {
            return Ok(());
        }
        done = framed_done;
        std::mem::swap(&mut current, &mut next);
        next.clear();
    }
}

/// Walks the key records of `rdb` in order without digesting them; `visit` returns
/// `false` to stop early.
fn walk<'a>(
    rdb: &Rdb<'a>,
    progress: &mut dyn FnMut(u64),
    mut visit: impl FnMut(&KeyRecord<'a>) -> Result<bool>,
) -> Result<()> {
    progress(0);
    let mut records = rdb.records();
    let mut n = 0u32;
    while let Some(record) = records.next() {
        if let Record::Key(k) = record? {
            if !visit(&k)? {
                break;
            }
            n = n.wrapping_add(1);
            if n.is_multiple_of(65536) {
                progress(records.offset());
            }
        }
    }
    progress(records.offset());
    Ok(())
}

fn describe(t: LogicalType, expire: Option<i64>, elements: Option<u64>) -> String {
    let mut s = t.name().to_string();
    if let Some(n) = elements {
        if !matches!(t, LogicalType::String | LogicalType::Module) {
            s.push_str(&format!(", {n} element{}", if n == 1 { "" } else { "s" }));
        }
    }
    if let Some(ms) = expire {
        s.push_str(&format!(", expires {}", format_utc_ms(ms)));
    }
    s
}

fn describe_change(t: LogicalType, elements_b: u64) -> String {
    match t {
        LogicalType::String | LogicalType::Module => format!("{} content differs", t.name()),
        _ => format!(
            "{} content differs ({elements_b} element{} in B)",
            t.name(),
            if elements_b == 1 { "" } else { "s" }
        ),
    }
}

fn show_expire(e: Option<i64>) -> String {
    match e {
        Some(ms) => format_utc_ms(ms),
        None => "none".into(),
    }
}

fn type_name(t: Option<LogicalType>) -> &'static str {
    t.map_or("unknown", LogicalType::name)
}

struct Differ {
    options: DiffOptions,
    report: DiffReport,
    examples: HashMap<&'static str, Vec<DiffExample>>,
    /// Side A's streams' parts by key hash, to name what differs (streams are few;
    /// about 100 bytes each).
    streams_a: HashMap<u128, StreamDigest>,
}

impl Differ {
    fn wants(&self, category: &'static str) -> bool {
        self.examples.get(category).map_or(0, Vec::len) < self.options.examples
    }

    fn example(
        &mut self,
        category: &'static str,
        rec: &KeyRecord<'_>,
        detail: impl FnOnce() -> String,
    ) {
        self.push(category, rec.db, &rec.key, rec.expire_at_ms, detail);
    }

    fn push(
        &mut self,
        category: &'static str,
        db: u64,
        key: &[u8],
        expire_at_ms: Option<i64>,
        detail: impl FnOnce() -> String,
    ) {
        if !self.wants(category) {
            return;
        }
        self.examples
            .entry(category)
            .or_default()
            .push(DiffExample {
                category,
                db,
                key: key.to_vec(),
                detail: detail(),
                expire_at_ms,
            });
    }

    fn compare(&mut self, a: &Entry, b: &Digested, rec: &KeyRecord<'_>) {
        let mut differs = false;
        let (ta, tb) = (a.logical(), Some(b.digest.logical));
        if ta != tb {
            differs = true;
            self.report.different_type += 1;
            self.example(category::DIFFERENT_TYPE, rec, || {
                format!("{} in A, {} in B", type_name(ta), type_name(tb))
            });
        }
        let (ea, eb) = (a.expire_at_ms(), b.expire_at_ms);
        if ea != eb {
            differs = true;
            self.report.different_ttl += 1;
            self.push(category::DIFFERENT_TTL, rec.db, &rec.key, ea, || {
                format!("expires {} in A, {} in B", show_expire(ea), show_expire(eb))
            });
        }
        if ta == tb {
            let content = a.content;
            if content != b.digest.content {
                differs = true;
                self.report.different_value += 1;
                let parts = match (self.streams_a.get(&{ a.key }).copied(), b.stream) {
                    (Some(pa), Some(pb)) => Some(self.stream_parts(&pa, &pb)),
                    _ => None,
                };
                self.push(category::DIFFERENT_VALUE, rec.db, &rec.key, ea, || {
                    let mut s = describe_change(b.digest.logical, b.digest.elements);
                    if let Some(parts) = parts {
                        s.push_str(&parts);
                    }
                    s
                });
            }
            let field_ttls = a.field_ttls;
            if field_ttls != fold(b.digest.field_ttls) {
                differs = true;
                self.report.different_field_ttls += 1;
                self.example(category::DIFFERENT_FIELD_TTLS, rec, || {
                    let side = |none: bool| if none { "none" } else { "some" };
                    format!(
                        "hash field TTLs differ (fields with TTL: {} in A, {} in B)",
                        side(field_ttls == 0),
                        side(b.digest.field_ttls == 0)
                    )
                });
            }
        }
        if differs {
            self.report.different += 1;
        } else {
            self.report.same += 1;
        }
    }

    /// Counts which parts of a differing stream differ; returns them for the detail.
    fn stream_parts(&mut self, a: &StreamDigest, b: &StreamDigest) -> String {
        let mut named = Vec::new();
        if a.entries != b.entries {
            self.report.different_stream_entries += 1;
            named.push("entries");
        }
        if a.groups != b.groups {
            self.report.different_stream_groups += 1;
            named.push("group metadata");
        }
        if self.options.stream_times && a.delivery_times != b.delivery_times {
            self.report.different_stream_delivery_times += 1;
            named.push("PEL delivery times");
        }
        let mut s = format!(": {}", named.join(", "));
        if a.consumer_times != b.consumer_times {
            s.push_str("; consumer seen/active times differ too (not compared)");
        }
        s
    }

    /// Finds keys that occur more than once in A (adjacent after the sort), counts
    /// the extra occurrences, and keeps for each such key the entry of its first
    /// occurrence in file order (found by a second pass over A's files).
    fn resolve_duplicates_in_a(
        &mut self,
        a: &[Rdb<'_>],
        mut entries: Vec<Entry>,
        progress: &mut dyn FnMut(&DiffProgress),
    ) -> Result<Vec<Entry>> {
        let mut first: HashMap<u128, Option<Entry>> = HashMap::new();
        for pair in entries.windows(2) {
            if let [x, y] = pair {
                let (kx, ky) = (x.key, y.key);
                if kx == ky {
                    first.insert(kx, None);
                }
            }
        }
        if first.is_empty() {
            return Ok(entries);
        }
        let total = entries.len() as u64;
        for (i, rdb) in a.iter().enumerate() {
            let mut report = |position| {
                progress(&DiffProgress {
                    pass: "resolving duplicates",
                    side: Side::A,
                    file: i,
                    position,
                    total: rdb.data().len() as u64,
                })
            };
            walk(rdb, &mut report, |rec| {
                let h = key_hash(rec.db, &rec.key);
                if let Some(slot) = first.get_mut(&h) {
                    if slot.is_none() {
                        *slot = Some(Entry::new(digest_record(
                            rec,
                            None,
                            self.options.stream_times,
                        )?));
                    } else {
                        self.example(category::DUPLICATE_IN_A, rec, || "seen again in A".into());
                    }
                }
                Ok(true)
            })?;
        }
        entries.dedup_by_key(|e| e.key);
        for e in entries.iter_mut() {
            if let Some(Some(chosen)) = first.get(&{ e.key }) {
                *e = *chosen;
            }
        }
        self.report.duplicates_in_a = total - entries.len() as u64;
        entries.shrink_to_fit();
        Ok(entries)
    }

    /// Second pass over A: names of the first keys that B does not have, deleted and
    /// expired apart; stops once both categories have their examples (or all keys).
    fn name_only_in_a(
        &mut self,
        a: &[Rdb<'_>],
        entries: &Table,
        matched: &BitSet,
        expired: &dyn Fn(Option<i64>) -> bool,
        progress: &mut dyn FnMut(&DiffProgress),
    ) -> Result<()> {
        let mut named: HashSet<u128> = HashSet::new();
        let (mut left_deleted, mut left_expired) =
            (self.report.only_in_a, self.report.expired_in_a);
        let ctimes = (self.report.ctime_a_ms, self.report.ctime_b_ms);
        for (i, rdb) in a.iter().enumerate() {
            let more = |d: &Differ, deleted: u64, expired: u64| {
                (deleted > 0 && d.wants(category::ONLY_IN_A))
                    || (expired > 0 && d.wants(category::EXPIRED_IN_A))
            };
            if !more(self, left_deleted, left_expired) {
                break;
            }
            let mut report = |position| {
                progress(&DiffProgress {
                    pass: "naming keys only in A",
                    side: Side::A,
                    file: i,
                    position,
                    total: rdb.data().len() as u64,
                })
            };
            walk(rdb, &mut report, |rec| {
                let h = key_hash(rec.db, &rec.key);
                // The entry kept for the key (its first occurrence) decides the category.
                let entry = entries
                    .find(h)
                    .filter(|&i| !matched.get(i))
                    .and_then(|i| entries.get(i));
                if let Some(e) = entry {
                    if named.insert(h) {
                        let at = e.expire_at_ms();
                        let t = e.logical().unwrap_or(rec.value_type.logical());
                        if expired(at) {
                            left_expired -= 1;
                            self.push(category::EXPIRED_IN_A, rec.db, &rec.key, at, || {
                                let mut s = describe(t, at, None);
                                s.push_str(&taken(Side::A, at, ctimes));
                                s
                            });
                        } else {
                            left_deleted -= 1;
                            self.push(category::ONLY_IN_A, rec.db, &rec.key, at, || {
                                describe(t, at, None)
                            });
                        }
                    }
                }
                Ok(more(self, left_deleted, left_expired))
            })?;
        }
        Ok(())
    }

    fn functions(&mut self, a: &BTreeSet<Vec<u8>>, b: &BTreeSet<Vec<u8>>) {
        self.report.functions_a = a.len() as u64;
        self.report.functions_b = b.len() as u64;
        for code in a.difference(b) {
            self.report.functions_only_in_a += 1;
            self.push(
                category::FUNCTION_ONLY_IN_A,
                0,
                &library_name(code),
                None,
                || "function library".into(),
            );
        }
        for code in b.difference(a) {
            self.report.functions_only_in_b += 1;
            self.push(
                category::FUNCTION_ONLY_IN_B,
                0,
                &library_name(code),
                None,
                || "function library".into(),
            );
        }
    }

    fn finish(mut self) -> Result<DiffReport> {
        for c in category::ALL {
            if let Some(list) = self.examples.remove(c) {
                self.report.examples.extend(list);
            }
        }
        Ok(self.report)
    }
}

/// The `name=` of a library's `#!engine name=...` first line, else the first line.
fn library_name(code: &[u8]) -> Vec<u8> {
    let line = code.split(|&b| b == b'\n').next().unwrap_or(code);
    line.split(|&b| b == b' ')
        .find_map(|w| w.strip_prefix(b"name="))
        .unwrap_or(line)
        .to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn len(out: &mut Vec<u8>, n: usize) {
        assert!(n < 64);
        out.push(n as u8);
    }

    /// `(db, key, expire, raw value with type byte)`.
    type TestKey<'k> = (u64, &'k [u8], Option<i64>, &'k [u8]);

    /// A small RDB 10 file.
    fn rdb_file(keys: &[TestKey<'_>], functions: &[&[u8]]) -> Vec<u8> {
        let mut f = b"REDIS0010".to_vec();
        for code in functions {
            f.push(245);
            len(&mut f, code.len());
            f.extend_from_slice(code);
        }
        let mut db = u64::MAX;
        for (kdb, key, expire, raw) in keys {
            if *kdb != db {
                db = *kdb;
                f.push(254);
                len(&mut f, db as usize);
            }
            if let Some(ms) = expire {
                f.push(252);
                f.extend_from_slice(&ms.to_le_bytes());
            }
            f.push(raw[0]);
            len(&mut f, key.len());
            f.extend_from_slice(key);
            f.extend_from_slice(&raw[1..]);
        }
        f.push(255);
        let crc = crate::crc::crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    fn run(a: &[&[u8]], b: &[&[u8]], examples: usize) -> DiffReport {
        let a: Vec<Rdb<'_>> = a.iter().map(|d| Rdb::parse(d).unwrap()).collect();
        let b: Vec<Rdb<'_>> = b.iter().map(|d| Rdb::parse(d).unwrap()).collect();
        diff(
            &a,
            &b,
            &DiffOptions {
                examples,
                ..DiffOptions::default()
            },
        )
        .unwrap()
    }

    /// Like [`rdb_file`], with a `ctime` AUX field (Unix seconds) first.
    fn rdb_file_at(ctime: i64, keys: &[TestKey<'_>]) -> Vec<u8> {
        let plain = rdb_file(keys, &[]);
        let mut f = plain[..9].to_vec();
        f.push(250);
        let (name, value) = (b"ctime", ctime.to_string());
        len(&mut f, name.len());
        f.extend_from_slice(name);
        len(&mut f, value.len());
        f.extend_from_slice(value.as_bytes());
        // The rest without the old trailer, then a fresh one.
        f.extend_from_slice(&plain[9..plain.len() - 8]);
        let crc = crate::crc::crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    #[test]
    fn expiry_judged_against_b_time() {
        let v: &[u8] = b"\x00\x01v";
        // A taken at 1000 s, B at 2000 s.
        let a = rdb_file_at(
            1000,
            &[
                (0, b"kept", Some(9_000_000), v),
                (0, b"deleted", None, v),
                (0, b"gone", Some(1_500_000), v),
                (0, b"stale", Some(900_000), v),
                (0, b"late", Some(3_000_000), v),
            ],
        );
        let b = rdb_file_at(
            2000,
            &[
                (0, b"kept", Some(9_000_000), v),
                (0, b"new", None, v),
                // Within B's ctime second: may have expired before the save began.
                (0, b"deadb", Some(2_000_500), v),
                (0, b"newttl", Some(5_000_000), v),
            ],
        );
        let r = run(&[&a], &[&b], 10);
        assert_eq!(
            (r.ctime_a_ms, r.ctime_b_ms),
            (Some(1_000_000), Some(2_000_000))
        );
        assert_eq!(r.expired_by_ms, Some(2_000_999));
        assert_eq!((r.only_in_a, r.expired_in_a), (2, 2), "{r:?}");
        assert_eq!((r.only_in_b, r.expired_in_b), (2, 1), "{r:?}");
        assert_eq!((r.same, r.different), (1, 0));
        assert_eq!(r.expired(), 3);
        assert!(!r.is_identical());
        assert_eq!(
            cats(&r),
            vec![
                ("only_in_a", "deleted".into()),
                ("only_in_a", "late".into()),
                ("expired_in_a", "gone".into()),
                ("expired_in_a", "stale".into()),
                ("only_in_b", "new".into()),
                ("only_in_b", "newttl".into()),
                ("expired_in_b", "deadb".into()),
            ]
        );
        let detail = |key: &[u8]| {
            let e = r.examples.iter().find(|e| e.key == key).unwrap();
            (e.detail.clone(), e.expire_at_ms)
        };
        assert_eq!(
            detail(b"gone"),
            (
                "string, expires 1970-01-01T00:25:00Z; expired before B was taken \
                 (1970-01-01T00:33:20Z)"
                    .into(),
                Some(1_500_000)
            )
        );
        assert!(detail(b"stale")
            .0
            .ends_with("already expired when A was taken (1970-01-01T00:16:40Z)"));
        assert!(detail(b"deadb")
            .0
            .contains("already expired when B was taken"));

        // Only expirations: identical, and the examples say so.
        let b2 = rdb_file_at(2000, &[(0, b"kept", Some(9_000_000), v)]);
        let a2 = rdb_file_at(
            1000,
            &[
                (0, b"kept", Some(9_000_000), v),
                (0, b"gone", Some(1_500_000), v),
            ],
        );
        let r = run(&[&a2], &[&b2], 10);
        assert!(r.is_identical(), "{r:?}");
        assert_eq!((r.expired_in_a, r.only_in_a), (1, 0));
        assert_eq!(cats(&r), vec![("expired_in_a", "gone".into())]);

        // B's time unknown: only keys already dead in A are judged expired.
        let b_old = rdb_file(&[(0, b"kept", Some(9_000_000), v)], &[]);
        let r = run(&[&a], &[&b_old], 10);
        assert_eq!((r.ctime_b_ms, r.expired_by_ms), (None, Some(1_000_999)));
        assert_eq!((r.only_in_a, r.expired_in_a), (3, 1), "{r:?}");
        // Neither side's time known: today's behaviour, every missing key deleted.
        let a_old = rdb_file(&[(0, b"gone", Some(1_500_000), v)], &[]);
        let r = run(&[&a_old], &[&b_old], 10);
        assert_eq!(r.expired_by_ms, None);
        assert_eq!((r.only_in_a, r.expired_in_a, r.only_in_b), (1, 0, 1));
    }

    #[test]
    fn expired_keys_in_b_shards() {
        let v: &[u8] = b"\x00\x01v";
        let a = rdb_file_at(1000, &[]);
        // The same key expired in one shard and live in another counts as live, once.
        let s1 = rdb_file_at(
            2000,
            &[(0, b"k", Some(1_000), v), (0, b"x", Some(1_000), v)],
        );
        let s2 = rdb_file_at(1990, &[(0, b"k", None, v), (0, b"x", Some(2_000), v)]);
        let r = run(&[&a], &[&s1, &s2], 10);
        assert_eq!(r.ctime_b_ms, Some(2_000_000), "the latest of B's files");
        assert_eq!(
            (r.only_in_b, r.expired_in_b, r.duplicates_in_b),
            (1, 1, 2),
            "{r:?}"
        );
    }

    #[test]
    fn stream_parts_and_times() {
        use crate::digest::test_stream;
        let (s1, s2) = (
            test_stream(9, &[(5, 1_000, 1)], 7),
            test_stream(9, &[(5, 1_500, 1)], 8),
        );
        let a = rdb_file(&[(0, b"s", None, &s1)], &[]);
        let b = rdb_file(&[(0, b"s", None, &s2)], &[]);
        let r = run(&[&a], &[&b], 10);
        assert_eq!(
            (r.different_value, r.different_stream_delivery_times),
            (1, 1)
        );
        assert_eq!(
            (r.different_stream_entries, r.different_stream_groups),
            (0, 0)
        );
        assert_eq!(
            r.examples[0].detail,
            "stream content differs (0 elements in B): PEL delivery times; \
             consumer seen/active times differ too (not compared)"
        );
        fn parse(d: &[u8]) -> Vec<Rdb<'_>> {
            vec![Rdb::parse(d).unwrap()]
        }
        let no_times = DiffOptions {
            stream_times: false,
            ..DiffOptions::default()
        };
        let r = diff(&parse(&a), &parse(&b), &no_times).unwrap();
        assert!(r.is_identical(), "{r:?}");
        assert_eq!(r.same, 1);
        // A group change is still one.
        let s3 = test_stream(9, &[(5, 1_500, 2)], 8);
        let c = rdb_file(&[(0, b"s", None, &s3)], &[]);
        let r = diff(&parse(&a), &parse(&c), &no_times).unwrap();
        assert_eq!((r.different_value, r.different_stream_groups), (1, 1));
        assert_eq!(r.different_stream_delivery_times, 0, "not compared");
    }

    fn cats(r: &DiffReport) -> Vec<(&'static str, String)> {
        r.examples
            .iter()
            .map(|e| (e.category, String::from_utf8_lossy(&e.key).into_owned()))
            .collect()
    }

    #[test]
    fn categories() {
        let a = rdb_file(
            &[
                (0, b"same", None, b"\x00\x017"),
                (0, b"onlya", None, b"\x00\x01v"),
                (0, b"type", None, b"\x00\x01v"),
                (0, b"ttl", Some(5), b"\x00\x01v"),
                (0, b"val", None, b"\x00\x01v"),
                (1, b"db", None, b"\x00\x01v"),
            ],
            &[b"#!lua name=lib1\nreturn 1"],
        );
        let b = rdb_file(
            &[
                (0, b"val", None, b"\x00\x01w"),
                (0, b"ttl", Some(6), b"\x00\x01v"),
                (0, b"type", None, b"\x01\x01\x01v"),
                (0, b"same", None, b"\x00\xc0\x07"),
                (0, b"onlyb", None, b"\x00\x01v"),
                (2, b"db", None, b"\x00\x01v"),
            ],
            &[b"#!lua name=lib2\nreturn 2"],
        );
        let r = run(&[&a], &[&b], 10);
        assert_eq!(r.keys_a, 6);
        assert_eq!(r.keys_b, 6);
        assert_eq!(r.only_in_a, 2);
        assert_eq!(r.only_in_b, 2);
        assert_eq!(r.different, 3);
        assert_eq!(
            (r.different_type, r.different_ttl, r.different_value),
            (1, 1, 1)
        );
        assert_eq!(r.same, 1, "\"7\" vs int-encoded 7");
        assert_eq!((r.functions_only_in_a, r.functions_only_in_b), (1, 1));
        assert!(!r.is_identical());
        assert_eq!(
            cats(&r),
            vec![
                ("only_in_a", "onlya".into()),
                ("only_in_a", "db".into()),
                ("only_in_b", "onlyb".into()),
                ("only_in_b", "db".into()),
                ("different_type", "type".into()),
                ("different_ttl", "ttl".into()),
                ("different_value", "val".into()),
                ("function_only_in_a", "lib1".into()),
                ("function_only_in_b", "lib2".into()),
            ]
        );
        let self_diff = run(&[&a], &[&a], 10);
        assert!(self_diff.is_identical());
        assert_eq!(self_diff.same, 6);
        assert_eq!(self_diff.functions_a, 1);
        assert!(self_diff.examples.is_empty());
    }

    #[test]
    fn duplicates_and_shards() {
        let s1 = rdb_file(
            &[(0, b"a", None, b"\x00\x011"), (0, b"b", None, b"\x00\x012")],
            &[],
        );
        let s2 = rdb_file(&[(0, b"c", None, b"\x00\x013")], &[]);
        let r = run(&[&s1, &s2], &[&s2, &s1], 10);
        assert!(r.is_identical(), "{r:?}");
        assert_eq!(r.same, 3);

        let r = run(&[&s1], &[&s1, &s1], 10);
        assert_eq!((r.same, r.duplicates_in_b, r.duplicates_in_a), (2, 2, 0));
        assert!(!r.is_identical());
        assert_eq!(
            cats(&r),
            vec![
                ("duplicate_in_b", "a".into()),
                ("duplicate_in_b", "b".into())
            ]
        );

        // A duplicated key in A that differs: the first occurrence is compared.
        let other = rdb_file(&[(0, b"a", None, b"\x00\x01X")], &[]);
        let r = run(&[&s1, &other], &[&s1], 10);
        assert_eq!((r.same, r.duplicates_in_a, r.different), (2, 1, 0));
        assert_eq!(cats(&r), vec![("duplicate_in_a", "a".into())]);
        let r = run(&[&other, &s1], &[&s1], 10);
        assert_eq!((r.same, r.duplicates_in_a, r.different), (1, 1, 1));

        // Duplicates among keys only in B.
        let r = run(&[&s2], &[&s1, &s1], 10);
        assert_eq!((r.only_in_b, r.duplicates_in_b, r.only_in_a), (2, 2, 1));
    }

    #[test]
    fn example_limit() {
        let keys: Vec<Vec<u8>> = (0..30).map(|i| format!("k{i}").into_bytes()).collect();
        let list: Vec<TestKey<'_>> = keys
            .iter()
            .map(|k| (0u64, k.as_slice(), None, &b"\x00\x01v"[..]))
            .collect();
        let a = rdb_file(&list, &[]);
        let empty = rdb_file(&[], &[]);
        let r = run(&[&a], &[&empty], 3);
        assert_eq!(r.only_in_a, 30);
        assert_eq!(
            cats(&r),
            vec![
                ("only_in_a", "k0".into()),
                ("only_in_a", "k1".into()),
                ("only_in_a", "k2".into())
            ]
        );
        let r = run(&[&empty], &[&a], 0);
        assert_eq!(r.only_in_b, 30);
        assert!(r.examples.is_empty());
    }

    #[test]
    fn field_ttls_and_encodings() {
        use crate::value::{listpack, RawEntry};
        // HASH_LISTPACK_EX: (field, value, expire-at or 0) triplets after the minimum expiry.
        let lpex = |ttl: i64| {
            let lp = listpack::encode(&[
                RawEntry::Bytes(b"f"),
                RawEntry::Bytes(b"v"),
                RawEntry::Int(ttl),
                RawEntry::Bytes(b"g"),
                RawEntry::Int(5),
                RawEntry::Int(0),
            ]);
            let mut raw = vec![25u8];
            raw.extend_from_slice(&ttl.to_le_bytes());
            len(&mut raw, lp.len());
            raw.extend_from_slice(&lp);
            raw
        };
        let (t1, t2) = (lpex(4_102_444_800_000), lpex(4_102_444_800_500));
        // The same fields as a plain hashtable hash (type 4) without TTLs.
        let table = b"\x04\x02\x01f\x01v\x01g\x015".to_vec();
        let a = rdb_file(&[(0, b"h1", None, &t1), (0, b"h2", None, &t1)], &[]);
        let b = rdb_file(&[(0, b"h1", None, &t2), (0, b"h2", None, &table)], &[]);
        let r = run(&[&a], &[&b], 10);
        assert_eq!(r.different, 2);
        assert_eq!(r.different_field_ttls, 2);
        assert_eq!(r.different_value, 0);
        assert_eq!(r.same, 0);
        let r = run(&[&b], &[&b], 10);
        assert!(r.is_identical());
    }

    #[test]
    fn table_lookup() {
        for n in [0usize, 1, 2, 3, 100, 5000] {
            let mut entries: Vec<Entry> = (0..n)
                .map(|i| Entry {
                    key: key_hash(0, &i.to_le_bytes()),
                    content: 0,
                    field_ttls: 0,
                    expire: 0,
                    flags: 1,
                })
                .collect();
            entries.sort_unstable_by_key(|e| e.key);
            let keys: Vec<u128> = entries.iter().map(|e| e.key).collect();
            let t = Table::new(entries);
            for (i, k) in keys.iter().enumerate() {
                assert_eq!(t.find(*k), Some(i), "n = {n}");
            }
            assert_eq!(t.find(key_hash(1, b"absent")), None);
            assert_eq!(t.find(0), None);
            assert_eq!(t.find(u128::MAX), None);
        }
    }

    #[test]
    fn entry_is_compact() {
        assert_eq!(std::mem::size_of::<Entry>(), 49);
    }

    #[test]
    fn library_names() {
        assert_eq!(library_name(b"#!lua name=mylib\ncode"), b"mylib");
        assert_eq!(library_name(b"return 1"), b"return 1");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn diff_document_shape() -> std::result::Result<(), serde_json::Error> {
        let report = DiffReport {
            keys_a: 2,
            keys_b: 1,
            only_in_a: 1,
            different_stream_entries: 0,
            ctime_a_ms: Some(1_000),
            examples: vec![DiffExample {
                category: "only_in_a",
                db: 0,
                key: b"\xff".to_vec(),
                detail: "string".into(),
                expire_at_ms: Some(2_000),
            }],
            ..DiffReport::default()
        };
        let text = serde_json::to_string(&DiffDocument::new(&report, false, &["stream-times"]))?;
        assert!(
            text.starts_with(r#"{"verdict":"different","only_in_a":1,"#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(v["different_by"]["stream"]["entries"], 0);
        assert_eq!(v["different_by"]["type"], 0);
        assert_eq!(v["ctime_a"], "1970-01-01T00:00:01Z");
        assert_eq!(v["ctime_b"], serde_json::Value::Null);
        assert_eq!(v["ignore"], serde_json::json!(["stream-times"]));
        assert!(v["notice"]
            .as_str()
            .is_some_and(|n| n.starts_with("B records")));
        assert_eq!(v["identical"], false);
        assert_eq!(
            v["examples"],
            serde_json::json!([{"category": "only_in_a", "db": 0, "key": {"hex": "ff"},
                                "detail": "string", "expire_at_ms": 2000,
                                "expires": "1970-01-01T00:00:02Z"}])
        );
        Ok(())
    }
}
