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
//! to count B-side duplicates exactly). Total: at most
//! `53 × keys(A) + 16 × keys only in B` bytes plus a few MiB of batch buffers and
//! examples (10 M keys: about 510 MiB), independent of value sizes. Measured: 1 M keys
//! against themselves, ~50 MiB of heap. The files themselves are expected to be
//! memory-mapped by the caller (their pages are the kernel's page cache). Put the
//! smaller side first to save memory.
//!
//! Key names of examples are kept only for the first [`DiffOptions::examples`] keys
//! of each category; names of keys only in A are recovered by a second pass over A's
//! files (stopping once enough are found).
//!
//! # Parallelism and determinism
//!
//! Records are framed sequentially in batches while the previous batch's digests are
//! computed on the rayon pool. Results are consumed in file order, so the report
//! (including which examples are shown) is the same whatever the thread count.

use std::collections::{BTreeSet, HashMap, HashSet};

use rayon::prelude::*;

use crate::digest::{self, digest_value, key_hash, type_code, type_from_code};
use crate::error::Result;
use crate::record::{KeyRecord, Rdb, Record, Records};
use crate::types::LogicalType;

/// Example categories ([`DiffExample::category`]), in the order examples are listed.
pub mod category {
    /// The key exists only in side A.
    pub const ONLY_IN_A: &str = "only_in_a";
    /// The key exists only in side B.
    pub const ONLY_IN_B: &str = "only_in_b";
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
    pub const ALL: [&str; 10] = [
        ONLY_IN_A,
        ONLY_IN_B,
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
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions { examples: 10 }
    }
}

/// One example of a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffExample {
    /// One of the [`category`] constants.
    pub category: &'static str,
    /// Database number (0 for function libraries).
    pub db: u64,
    /// The key (for function libraries: the library name).
    pub key: Vec<u8>,
    /// A short human-readable description (types, expiries, element counts).
    pub detail: String,
}

/// The result of [`diff`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffReport {
    /// Key records read from side A (duplicates included).
    pub keys_a: u64,
    /// Key records read from side B (duplicates included).
    pub keys_b: u64,
    /// Distinct keys only in A.
    pub only_in_a: u64,
    /// Distinct keys only in B.
    pub only_in_b: u64,
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
    /// no duplicate keys).
    pub fn is_identical(&self) -> bool {
        self.only_in_a == 0
            && self.only_in_b == 0
            && self.different == 0
            && self.duplicates_in_a == 0
            && self.duplicates_in_b == 0
            && self.functions_only_in_a == 0
            && self.functions_only_in_b == 0
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
    };
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
        scan(rdb, None, &mut functions_a, &mut report, |_, k| {
            entries.push(Entry::new(k));
        })?;
    }
    d.report.keys_a = entries.len() as u64;
    entries.sort_unstable_by_key(|e| e.key);
    let entries = Table::new(d.resolve_duplicates_in_a(a, entries, progress)?);
    let mut matched = BitSet::new(entries.len());

    // Side B, streamed against A.
    let mut only_b: Vec<u128> = Vec::new();
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
                        only_b.push(k.key_hash);
                        if only_b_examples.contains(&k.key_hash) {
                            d.example(category::DUPLICATE_IN_B, rec, || "seen again in B".into());
                        } else if d.wants(category::ONLY_IN_B) {
                            only_b_examples.insert(k.key_hash);
                            d.example(category::ONLY_IN_B, rec, || {
                                describe(
                                    k.digest.logical,
                                    rec.expire_at_ms,
                                    Some(k.digest.elements),
                                )
                            });
                        }
                    }
                }
            },
        )?;
    }
    only_b.sort_unstable();
    let total_only_b = only_b.len() as u64;
    only_b.dedup();
    d.report.only_in_b = only_b.len() as u64;
    d.report.duplicates_in_b += total_only_b - d.report.only_in_b;
    drop(only_b);

    d.report.only_in_a = entries.len() as u64 - matched.count();
    if d.report.only_in_a > 0 && d.options.examples > 0 {
        d.name_only_in_a(a, &entries, &matched, progress)?;
    }

    d.functions(&functions_a, &functions_b);
    d.finish()
}

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
    /// Side B: position of the key in side A's table (looked up on the worker, so
    /// the cache misses of the lookups overlap).
    found: Option<usize>,
}

fn digest_record(rec: &KeyRecord<'_>, table: Option<&Table>) -> Result<Digested> {
    let digest = digest_value(rec.value()?).map_err(|e| e.with_record(rec.offset))?;
    let key_hash = key_hash(rec.db, &rec.key);
    Ok(Digested {
        key_hash,
        found: table.and_then(|t| t.find(key_hash)),
        expire_at_ms: rec.expire_at_ms,
        digest,
    })
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
                    .map(|rec| digest_record(rec, table))
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
        s.push_str(&format!(", expire_at_ms {ms}"));
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
        Some(ms) => ms.to_string(),
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
        self.push(category, rec.db, &rec.key, detail);
    }

    fn push(
        &mut self,
        category: &'static str,
        db: u64,
        key: &[u8],
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
            self.example(category::DIFFERENT_TTL, rec, || {
                format!(
                    "expire_at_ms {} in A, {} in B",
                    show_expire(ea),
                    show_expire(eb)
                )
            });
        }
        if ta == tb {
            let content = a.content;
            if content != b.digest.content {
                differs = true;
                self.report.different_value += 1;
                self.example(category::DIFFERENT_VALUE, rec, || {
                    describe_change(b.digest.logical, b.digest.elements)
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
                        *slot = Some(Entry::new(digest_record(rec, None)?));
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

    /// Second pass over A: names of the first keys that B does not have.
    fn name_only_in_a(
        &mut self,
        a: &[Rdb<'_>],
        entries: &Table,
        matched: &BitSet,
        progress: &mut dyn FnMut(&DiffProgress),
    ) -> Result<()> {
        let mut named: HashSet<u128> = HashSet::new();
        for (i, rdb) in a.iter().enumerate() {
            if !self.wants(category::ONLY_IN_A) {
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
                let unmatched = entries.find(h).is_some_and(|i| !matched.get(i));
                if unmatched && named.insert(h) {
                    let t = rec.value_type.logical();
                    self.example(category::ONLY_IN_A, rec, || {
                        describe(t, rec.expire_at_ms, None)
                    });
                }
                Ok(self.wants(category::ONLY_IN_A))
            })?;
        }
        Ok(())
    }

    fn functions(&mut self, a: &BTreeSet<Vec<u8>>, b: &BTreeSet<Vec<u8>>) {
        self.report.functions_a = a.len() as u64;
        self.report.functions_b = b.len() as u64;
        for code in a.difference(b) {
            self.report.functions_only_in_a += 1;
            self.push(category::FUNCTION_ONLY_IN_A, 0, &library_name(code), || {
                "function library".into()
            });
        }
        for code in b.difference(a) {
            self.report.functions_only_in_b += 1;
            self.push(category::FUNCTION_ONLY_IN_B, 0, &library_name(code), || {
                "function library".into()
            });
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
        diff(&a, &b, &DiffOptions { examples }).unwrap()
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
}
