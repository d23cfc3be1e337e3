//! The parallel key inventory behind `rdbkit baseline`: what a snapshot (or a set of
//! shard snapshots) holds, offline.
//!
//! A sequential framer per file finds record boundaries (cheap: length-prefixed
//! skips) and hands batches of key records to rayon workers through a bounded
//! channel (so memory stays bounded however fast the framer runs). Each worker folds
//! its batches into a private [`Inventory`]; the partials are merged at the end.
//! Merging is associative and independent of batch boundaries: counts add, top-N
//! lists keep a total order, prefix tables add (see [`InventoryOptions::max_prefixes`]
//! for the one bounded, order-dependent part).

pub mod check;
#[cfg(feature = "serde")]
pub mod document;
pub mod memory;
pub mod parallel;
pub mod pattern;
pub mod redact;
pub mod rows;
pub mod slot;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};

use crate::aux::AuxInfo;
use crate::error::Result;
use crate::header::Header;
use crate::record::{KeyRecord, ParseOptions, Rdb, Record};
use crate::stream::{RdbStream, StreamError};
use memory::MemoryModel;
use parallel::{fold_keys, Framing};
use std::io::Read;

/// One input file.
#[derive(Debug, Clone, Copy)]
pub struct FileInput<'a> {
    /// Name shown in reports (usually the path).
    pub name: &'a str,
    /// The file's bytes (typically memory-mapped).
    pub data: &'a [u8],
    /// Modification time (Unix ms): the snapshot time when the file has no `ctime` AUX field.
    pub mtime_ms: Option<i64>,
}

/// Where an input's bytes come from.
pub enum Source<'a> {
    /// All of it in memory (typically memory-mapped): framed in place.
    Bytes(&'a [u8]),
    /// Read as it comes (standard input, a decompressor, a download): framed chunk by
    /// chunk in bounded memory.
    Stream(Box<BoxedStream<'a>>),
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Source::Stream(s) => write!(f, "{s:?}"),
        }
    }
}

/// A stream over any reader that can move to a worker thread.
pub type BoxedStream<'a> = RdbStream<Box<dyn Read + Send + 'a>>;

/// One input, in memory or streamed.
#[derive(Debug)]
pub struct Input<'a> {
    /// Name shown in reports (usually the path).
    pub name: &'a str,
    /// The bytes.
    pub source: Source<'a>,
    /// Modification time (Unix ms): the snapshot time when the file has no `ctime` AUX field.
    pub mtime_ms: Option<i64>,
}

impl<'a> From<FileInput<'a>> for Input<'a> {
    fn from(f: FileInput<'a>) -> Input<'a> {
        Input {
            name: f.name,
            source: Source::Bytes(f.data),
            mtime_ms: f.mtime_ms,
        }
    }
}

impl Input<'_> {
    /// The header, and the AUX fields up to the first key (read ahead, not consumed).
    fn header_and_aux(
        &mut self,
        parse: ParseOptions,
    ) -> std::result::Result<(Header, AuxInfo), StreamError> {
        match &mut self.source {
            Source::Bytes(data) => {
                let rdb = Rdb::with_options(data, parse)?;
                Ok((rdb.header(), AuxInfo::read(&rdb)?))
            }
            Source::Stream(stream) => Ok((stream.header(), stream.aux()?)),
        }
    }

    /// The input's size, when known before reading it.
    pub fn known_len(&self) -> Option<u64> {
        match &self.source {
            Source::Bytes(b) => Some(b.len() as u64),
            Source::Stream(_) => None,
        }
    }
}

/// The parser error of a run over inputs in memory (which cannot fail to read).
pub(crate) fn in_memory(e: StreamError) -> crate::Error {
    match e {
        StreamError::Parse(e) => e,
        StreamError::Io { offset, .. } => crate::Error::new(
            crate::ErrorKind::UnexpectedEof,
            offset,
            "input (reading it failed)",
        ),
    }
}

/// Inventory options.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    /// How many keys to keep in each top-N list.
    pub top: usize,
    /// Separator of key prefixes (default `:`).
    pub separator: Vec<u8>,
    /// Prefix depth: `user:42:cart` is counted under `user:` at depth 1, `user:42:` at depth 2.
    pub depth: usize,
    /// Most distinct prefixes tracked; keys of prefixes first seen after the table is
    /// full are counted under `(other)`. Below this bound the table is exact.
    pub max_prefixes: usize,
    /// Parser options (checksum verification).
    pub parse: ParseOptions,
    /// Key records per batch handed to a worker.
    pub batch_keys: usize,
    /// Model the memory of this Redis version (`major`, `minor`) loading the files,
    /// instead of the version that wrote each file.
    pub target_version: Option<(u32, u32)>,
    /// The loading server's allocator size classes.
    pub size_classes: memory::SizeClasses,
    /// Most distinct key patterns tracked ([`pattern`]); 0 (the default) skips
    /// pattern discovery. Keys of patterns first seen once the table is full are
    /// counted under [`Inventory::patterns_other`].
    pub max_patterns: usize,
    /// Count keys and memory per cluster hash slot ([`Inventory::slots`]).
    pub slots: bool,
}

impl Default for InventoryOptions {
    fn default() -> Self {
        InventoryOptions {
            top: 10,
            separator: b":".to_vec(),
            depth: 1,
            max_prefixes: 10_000,
            parse: ParseOptions::default(),
            batch_keys: 4096,
            target_version: None,
            size_classes: memory::SizeClasses::default(),
            max_patterns: 0,
            slots: false,
        }
    }
}

/// Per-database counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbStats {
    /// Keys in the file.
    pub keys: u64,
    /// Keys with a TTL.
    pub expires: u64,
    /// Keys whose TTL had already passed when the snapshot was taken (a master
    /// loading the file drops them).
    pub expired_at_snapshot: u64,
    /// Estimated memory of the keys (excluding the db's dict bucket arrays).
    pub memory: u64,
}

/// Per (type, in-memory encoding) counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TypeStats {
    /// Keys.
    pub keys: u64,
    /// Elements (list items, members, fields, stream entries; 1 per string).
    pub elements: u64,
    /// Serialized value bytes in the file.
    pub serialized_bytes: u64,
    /// Estimated memory.
    pub memory: u64,
}

/// A key in a top-N list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TopKey {
    /// The ranking measure (bytes or elements).
    pub measure: u64,
    /// Database.
    pub db: u64,
    /// Key name.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::serde_bytes::serialize")
    )]
    pub key: Vec<u8>,
    /// Index of the file (in the input order) holding the key.
    pub file: usize,
    /// Logical type name (`type` when serialized).
    #[cfg_attr(feature = "serde", serde(rename = "type"))]
    pub type_name: &'static str,
    /// In-memory encoding.
    pub encoding: &'static str,
    /// Estimated memory.
    pub memory: u64,
    /// Elements.
    pub elements: u64,
}

/// Keys and memory under one prefix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PrefixStats {
    /// Keys.
    pub keys: u64,
    /// Estimated memory.
    pub memory: u64,
    /// Keys with a TTL.
    pub expires: u64,
}

/// Upper bounds (exclusive, in ms of remaining TTL at snapshot time) of the TTL histogram buckets.
pub const TTL_BUCKETS: [(&str, i64); 7] = [
    ("< 1 min", 60_000),
    ("< 1 h", 3_600_000),
    ("< 1 day", 86_400_000),
    ("< 7 days", 7 * 86_400_000),
    ("< 30 days", 30 * 86_400_000),
    ("< 1 year", 365 * 86_400_000),
    (">= 1 year", i64::MAX),
];

/// Upper bounds (inclusive) of the LRU idle-time histogram buckets, in seconds.
pub const IDLE_BUCKETS: [(&str, u64); 5] = [
    ("< 1 min", 59),
    ("< 1 h", 3_599),
    ("< 1 day", 86_399),
    ("< 7 days", 7 * 86_400 - 1),
    (">= 7 days", u64::MAX),
];

/// Upper bounds (inclusive) of the LFU counter histogram buckets.
pub const FREQ_BUCKETS: [(&str, u8); 5] = [
    ("0-1", 1),
    ("2-5", 5),
    ("6-20", 20),
    ("21-100", 100),
    ("101-255", 255),
];

/// Upper bounds (exclusive, bytes of estimated memory) of the key-size histogram buckets.
pub const MEMORY_BUCKETS: [(&str, u64); 7] = [
    ("< 128 B", 128),
    ("< 1 KiB", 1 << 10),
    ("< 10 KiB", 10 << 10),
    ("< 100 KiB", 100 << 10),
    ("< 1 MiB", 1 << 20),
    ("< 10 MiB", 10 << 20),
    (">= 10 MiB", u64::MAX),
];

/// Upper bounds (inclusive) of the element-count histogram buckets.
pub const ELEMENT_BUCKETS: [(&str, u64); 6] = [
    ("0-1", 1),
    ("2-10", 10),
    ("11-100", 100),
    ("101-1000", 1000),
    ("1001-10000", 10_000),
    ("> 10000", u64::MAX),
];

/// What one file contributes.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FileReport {
    /// File name as given.
    pub name: String,
    /// Header (family and RDB version); `None` until parsed.
    pub header: Option<Header>,
    /// AUX facts.
    pub aux: AuxInfo,
    /// Size in bytes.
    pub bytes: u64,
    /// Keys.
    pub keys: u64,
    /// Estimated `used_memory` of a server of the file's version after loading this file alone.
    pub memory_estimate: u64,
    /// Snapshot time used for "expired at snapshot" (Unix ms): `ctime` AUX, else mtime.
    pub snapshot_time_ms: Option<i64>,
    /// Function libraries.
    pub functions: u64,
    /// Bytes of function library code.
    pub function_code_bytes: u64,
    /// Module aux records.
    pub module_aux: u64,
    /// CRC-64 status: `Some(true)` verified, `Some(false)` absent or disabled, `None` not checked.
    pub checksum_verified: Option<bool>,
}

/// The inventory of a set of files.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Inventory {
    /// Per-file breakdown, in input order.
    pub files: Vec<FileReport>,
    /// Per database, over all files.
    pub keyspace: BTreeMap<u64, DbStats>,
    /// Per (logical type, in-memory encoding).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::types"))]
    pub types: BTreeMap<(&'static str, &'static str), TypeStats>,
    /// Keys per RDB type byte name (`LIST_QUICKLIST_2`, ...).
    pub rdb_types: BTreeMap<&'static str, u64>,
    /// TTL histogram, aligned with [`TTL_BUCKETS`] (remaining TTL at snapshot time).
    pub ttl_buckets: [u64; 7],
    /// Keys with a TTL that had passed at snapshot time.
    pub ttl_expired: u64,
    /// Keys without TTL.
    pub ttl_none: u64,
    /// Sum of the remaining TTLs (ms) of keys not yet expired at snapshot time.
    pub ttl_remaining_total_ms: u128,
    /// Keys with an LRU idle time, histogram aligned with [`IDLE_BUCKETS`].
    pub idle_buckets: [u64; 5],
    /// Keys with an LFU counter, histogram aligned with [`FREQ_BUCKETS`].
    pub freq_buckets: [u64; 5],
    /// Biggest keys by estimated memory, largest first.
    pub top_by_memory: Vec<TopKey>,
    /// Biggest keys by element count, largest first.
    pub top_by_elements: Vec<TopKey>,
    /// Keys and memory per prefix.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::prefixes"))]
    pub prefixes: HashMap<Vec<u8>, PrefixStats>,
    /// Keys counted under `(other)` because the prefix table was full.
    pub prefixes_other: PrefixStats,
    /// Keys whose name has no separator within the first `depth` levels.
    pub prefixes_none: PrefixStats,
    /// Keys per estimated-memory bucket, aligned with [`MEMORY_BUCKETS`].
    pub memory_buckets: [u64; 7],
    /// Keys per element-count bucket, aligned with [`ELEMENT_BUCKETS`].
    pub element_buckets: [u64; 6],
    /// Keys and memory per key pattern (with [`InventoryOptions::max_patterns`]).
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::patterns"))]
    pub patterns: HashMap<Vec<u8>, PrefixStats>,
    /// Keys counted under "other" because the pattern table was full.
    pub patterns_other: PrefixStats,
    /// Keys and memory per cluster hash slot (16384 entries with
    /// [`InventoryOptions::slots`], else empty).
    pub slots: Vec<PrefixStats>,
    /// Total estimated `used_memory` (sum of per-file estimates).
    pub memory_estimate: u64,
    /// Estimated memory of all keys (values, key names, per-key structures).
    pub memory_keys: u64,
}

impl Inventory {
    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.keyspace.values().map(|d| d.keys).sum()
    }

    /// Total keys with a TTL.
    pub fn expires(&self) -> u64 {
        self.keyspace.values().map(|d| d.expires).sum()
    }

    /// Average remaining TTL (ms) of the keys with a live TTL at snapshot time, as
    /// INFO keyspace's `avg_ttl`; `None` when no key has one.
    pub fn avg_ttl_ms(&self) -> Option<u64> {
        let live: u64 = self.ttl_buckets.iter().sum();
        (live > 0).then(|| (self.ttl_remaining_total_ms / u128::from(live)) as u64)
    }

    /// The `used-mem` values recorded by the servers that wrote the files, summed.
    pub fn recorded_used_memory(&self) -> Option<u64> {
        self.files.iter().map(|f| f.aux.used_mem).sum()
    }
}

/// The rows of a prefix or pattern table, largest memory first (ties by name), so
/// every listing is the same whatever the hash order.
pub fn ranked(table: &HashMap<Vec<u8>, PrefixStats>) -> Vec<(&Vec<u8>, &PrefixStats)> {
    let mut rows: Vec<_> = table.iter().collect();
    rows.sort_by(|a, b| b.1.memory.cmp(&a.1.memory).then_with(|| a.0.cmp(b.0)));
    rows
}

/// Serialized shapes of the [`Inventory`] fields whose keys are not strings.
#[cfg(feature = "serde")]
mod ser {
    use std::collections::{BTreeMap, HashMap};

    use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
    use serde::Serialize;

    use super::{PrefixStats, TypeStats};
    use crate::serde_bytes::Bytes;

    /// [`Inventory::types`](super::Inventory::types) as a list of
    /// `{"type", "encoding", "keys", "elements", "serialized_bytes", "memory"}`.
    pub(super) fn types<S: Serializer>(
        types: &BTreeMap<(&'static str, &'static str), TypeStats>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        struct Row<'a>(&'static str, &'static str, &'a TypeStats);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut row = serializer.serialize_struct("TypeRow", 6)?;
                row.serialize_field("type", self.0)?;
                row.serialize_field("encoding", self.1)?;
                row.serialize_field("keys", &self.2.keys)?;
                row.serialize_field("elements", &self.2.elements)?;
                row.serialize_field("serialized_bytes", &self.2.serialized_bytes)?;
                row.serialize_field("memory", &self.2.memory)?;
                row.end()
            }
        }
        let mut seq = serializer.serialize_seq(Some(types.len()))?;
        for (&(t, e), stats) in types {
            seq.serialize_element(&Row(t, e, stats))?;
        }
        seq.end()
    }

    /// [`Inventory::prefixes`](super::Inventory::prefixes) as a list of `{"prefix":
    /// <bytes>, "keys", "memory", "expires"}`, largest memory first (ties by prefix),
    /// so the output does not depend on hash order.
    pub(super) fn prefixes<S: Serializer>(
        prefixes: &HashMap<Vec<u8>, PrefixStats>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ranked(prefixes, "prefix", serializer)
    }

    /// [`Inventory::patterns`](super::Inventory::patterns) as a list of `{"pattern":
    /// <bytes>, "keys", "memory", "expires"}`, ordered as the prefixes.
    pub(super) fn patterns<S: Serializer>(
        patterns: &HashMap<Vec<u8>, PrefixStats>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        ranked(patterns, "pattern", serializer)
    }

    fn ranked<S: Serializer>(
        table: &HashMap<Vec<u8>, PrefixStats>,
        name: &'static str,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        struct Row<'a>(&'static str, &'a [u8], &'a PrefixStats);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut row = serializer.serialize_struct("Row", 4)?;
                row.serialize_field(self.0, &Bytes(self.1))?;
                row.serialize_field("keys", &self.2.keys)?;
                row.serialize_field("memory", &self.2.memory)?;
                row.serialize_field("expires", &self.2.expires)?;
                row.end()
            }
        }
        let rows = super::ranked(table);
        let mut seq = serializer.serialize_seq(Some(rows.len()))?;
        for (prefix, stats) in rows {
            seq.serialize_element(&Row(name, prefix, stats))?;
        }
        seq.end()
    }
}

/// Per-file context shared by the workers.
struct FileContext {
    model: MemoryModel,
    snapshot_time_ms: Option<i64>,
}

/// Per-file counts a worker keeps: keys, key memory, and (keys, expires) per db,
/// from which the file's dict overhead is modelled.
#[derive(Debug, Clone, Default)]
struct FileTally {
    keys: u64,
    memory: u64,
    dbs: BTreeMap<u64, (u64, u64)>,
}

/// A small multiplicative hasher (FxHash) for the per-worker prefix tables, seeded per
/// table: prefixes are short and hashed once per key, where SipHash was a visible cost.
#[derive(Clone, Copy)]
struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s from a random seed.
#[derive(Clone, Copy)]
struct FxBuild(u64);

impl Default for FxBuild {
    fn default() -> Self {
        FxBuild(std::collections::hash_map::RandomState::new().hash_one(0u64))
    }
}

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;

    #[inline]
    fn build_hasher(&self) -> FxHasher {
        FxHasher(self.0)
    }
}

/// Accumulates keys into an [`Inventory`]-shaped partial.
struct Partial {
    inv: Inventory,
    per_file: Vec<FileTally>,
    options: InventoryOptions,
    /// Per (type, encoding): a short list searched by pointer first, moved into
    /// `inv.types` by [`Partial::flush`] (a `BTreeMap` lookup per key compared strings).
    types: Vec<((&'static str, &'static str), TypeStats)>,
    /// Keys per RDB type name, likewise moved into `inv.rdb_types`.
    rdb_types: Vec<(&'static str, u64)>,
    /// The prefix table, moved into `inv.prefixes` by [`Partial::flush`].
    prefixes: HashMap<Vec<u8>, PrefixStats, FxBuild>,
    /// The pattern table, likewise moved into `inv.patterns`.
    patterns: HashMap<Vec<u8>, PrefixStats, FxBuild>,
    /// Scratch buffer for the pattern of the current key.
    pattern: Vec<u8>,
}

/// Whether two static names are the same (same pointer, else same text).
#[inline]
fn same(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

impl Partial {
    fn new(files: usize, options: &InventoryOptions) -> Partial {
        Partial {
            inv: Inventory::default(),
            per_file: vec![FileTally::default(); files],
            options: options.clone(),
            types: Vec::new(),
            rdb_types: Vec::new(),
            prefixes: HashMap::default(),
            patterns: HashMap::default(),
            pattern: Vec::new(),
        }
    }

    /// Moves the per-worker tables into `inv`.
    fn flush(&mut self) {
        for (k, s) in self.types.drain(..) {
            let t = self.inv.types.entry(k).or_default();
            t.keys += s.keys;
            t.elements += s.elements;
            t.serialized_bytes += s.serialized_bytes;
            t.memory += s.memory;
        }
        for (k, n) in self.rdb_types.drain(..) {
            *self.inv.rdb_types.entry(k).or_default() += n;
        }
        // Below the bound when made, and `inv.prefixes` is empty until now.
        self.inv.prefixes.extend(self.prefixes.drain());
        self.inv.patterns.extend(self.patterns.drain());
    }

    fn add(&mut self, file: usize, ctx: &FileContext, key: &KeyRecord<'_>) -> Result<()> {
        let est = ctx.model.key(key)?;
        let type_name = key.value_type.logical().name();
        let inv = &mut self.inv;
        let db = inv.keyspace.entry(key.db).or_default();
        db.keys += 1;
        db.memory += est.bytes;
        if let Some(pf) = self.per_file.get_mut(file) {
            pf.keys += 1;
            pf.memory += est.bytes;
            let d = pf.dbs.entry(key.db).or_default();
            d.0 += 1;
            d.1 += u64::from(key.expire_at_ms.is_some());
        }
        match (key.expire_at_ms, ctx.snapshot_time_ms) {
            (None, _) => inv.ttl_none += 1,
            (Some(at), now) => {
                db.expires += 1;
                let remaining = now.map_or(i64::MAX, |now| at.saturating_sub(now));
                if remaining <= 0 {
                    db.expired_at_snapshot += 1;
                    inv.ttl_expired += 1;
                } else {
                    let i = TTL_BUCKETS
                        .iter()
                        .position(|&(_, max)| remaining < max)
                        .unwrap_or(TTL_BUCKETS.len() - 1);
                    inv.ttl_buckets[i] += 1;
                    inv.ttl_remaining_total_ms += remaining as u128;
                }
            }
        }
        if let Some(idle) = key.idle_s {
            if let Some(i) = IDLE_BUCKETS.iter().position(|&(_, max)| idle <= max) {
                inv.idle_buckets[i] += 1;
            }
        }
        if let Some(freq) = key.freq {
            if let Some(i) = FREQ_BUCKETS.iter().position(|&(_, max)| freq <= max) {
                inv.freq_buckets[i] += 1;
            }
        }
        let at = match self
            .types
            .iter()
            .position(|((t, e), _)| same(t, type_name) && same(e, est.encoding))
        {
            Some(at) => at,
            None => {
                self.types
                    .push(((type_name, est.encoding), TypeStats::default()));
                self.types.len() - 1
            }
        };
        if let Some((_, t)) = self.types.get_mut(at) {
            t.keys += 1;
            t.elements += est.elements;
            t.serialized_bytes += key.raw.len() as u64;
            t.memory += est.bytes;
        }
        let rdb_name = key.value_type.name();
        match self.rdb_types.iter_mut().find(|(n, _)| same(n, rdb_name)) {
            Some((_, n)) => *n += 1,
            None => self.rdb_types.push((rdb_name, 1)),
        }
        inv.memory_keys += est.bytes;

        let top = self.options.top;
        let make = |measure| TopKey {
            measure,
            db: key.db,
            key: key.key.to_vec(),
            file,
            type_name,
            encoding: est.encoding,
            memory: est.bytes,
            elements: est.elements,
        };
        offer(&mut inv.top_by_memory, top, est.bytes, (file, key), || {
            make(est.bytes)
        });
        offer(
            &mut inv.top_by_elements,
            top,
            est.elements,
            (file, key),
            || make(est.elements),
        );

        let key_stats = PrefixStats {
            keys: 1,
            memory: est.bytes,
            expires: u64::from(key.expire_at_ms.is_some()),
        };
        let stats = match prefix_of(&key.key, &self.options.separator, self.options.depth) {
            None => &mut inv.prefixes_none,
            Some(p) => {
                if let Some(s) = self.prefixes.get_mut(p) {
                    s
                } else if self.prefixes.len() < self.options.max_prefixes {
                    self.prefixes.entry(p.to_vec()).or_default()
                } else {
                    &mut inv.prefixes_other
                }
            }
        };
        add_prefix(stats, key_stats);

        let bucket = MEMORY_BUCKETS
            .iter()
            .position(|&(_, max)| est.bytes < max)
            .unwrap_or(MEMORY_BUCKETS.len() - 1);
        inv.memory_buckets[bucket] += 1;
        let bucket = ELEMENT_BUCKETS
            .iter()
            .position(|&(_, max)| est.elements <= max)
            .unwrap_or(0);
        inv.element_buckets[bucket] += 1;
        if self.options.max_patterns > 0 {
            pattern::pattern_of(&key.key, &mut self.pattern);
            let stats = if let Some(s) = self.patterns.get_mut(&self.pattern) {
                s
            } else if self.patterns.len() < self.options.max_patterns {
                self.patterns.entry(self.pattern.clone()).or_default()
            } else {
                &mut inv.patterns_other
            };
            add_prefix(stats, key_stats);
        }
        if self.options.slots {
            if inv.slots.is_empty() {
                inv.slots = vec![PrefixStats::default(); slot::SLOTS];
            }
            if let Some(s) = inv.slots.get_mut(usize::from(slot::key_slot(&key.key))) {
                add_prefix(s, key_stats);
            }
        }
        Ok(())
    }

    fn merge(&mut self, mut other: Partial) {
        self.flush();
        other.flush();
        let (a, b) = (&mut self.inv, other.inv);
        for (db, s) in b.keyspace {
            let d = a.keyspace.entry(db).or_default();
            d.keys += s.keys;
            d.expires += s.expires;
            d.expired_at_snapshot += s.expired_at_snapshot;
            d.memory += s.memory;
        }
        for (k, s) in b.types {
            let t = a.types.entry(k).or_default();
            t.keys += s.keys;
            t.elements += s.elements;
            t.serialized_bytes += s.serialized_bytes;
            t.memory += s.memory;
        }
        for (k, n) in b.rdb_types {
            *a.rdb_types.entry(k).or_default() += n;
        }
        for i in 0..a.ttl_buckets.len() {
            a.ttl_buckets[i] += b.ttl_buckets[i];
        }
        for i in 0..a.idle_buckets.len() {
            a.idle_buckets[i] += b.idle_buckets[i];
        }
        for i in 0..a.freq_buckets.len() {
            a.freq_buckets[i] += b.freq_buckets[i];
        }
        a.ttl_expired += b.ttl_expired;
        a.ttl_none += b.ttl_none;
        a.ttl_remaining_total_ms += b.ttl_remaining_total_ms;
        a.memory_keys += b.memory_keys;
        let top = self.options.top;
        merge_top(&mut a.top_by_memory, b.top_by_memory, top);
        merge_top(&mut a.top_by_elements, b.top_by_elements, top);
        for (p, s) in b.prefixes {
            let slot = if let Some(s) = a.prefixes.get_mut(&p) {
                s
            } else if a.prefixes.len() < self.options.max_prefixes {
                a.prefixes.entry(p).or_default()
            } else {
                &mut a.prefixes_other
            };
            add_prefix(slot, s);
        }
        add_prefix(&mut a.prefixes_other, b.prefixes_other);
        add_prefix(&mut a.prefixes_none, b.prefixes_none);
        for (p, s) in b.patterns {
            let slot = if let Some(s) = a.patterns.get_mut(&p) {
                s
            } else if a.patterns.len() < self.options.max_patterns {
                a.patterns.entry(p).or_default()
            } else {
                &mut a.patterns_other
            };
            add_prefix(slot, s);
        }
        add_prefix(&mut a.patterns_other, b.patterns_other);
        for i in 0..a.memory_buckets.len() {
            a.memory_buckets[i] += b.memory_buckets[i];
        }
        for i in 0..a.element_buckets.len() {
            a.element_buckets[i] += b.element_buckets[i];
        }
        if a.slots.is_empty() {
            a.slots = b.slots;
        } else {
            for (x, y) in a.slots.iter_mut().zip(b.slots) {
                add_prefix(x, y);
            }
        }
        for (x, y) in self.per_file.iter_mut().zip(other.per_file) {
            x.keys += y.keys;
            x.memory += y.memory;
            for (db, (k, e)) in y.dbs {
                let d = x.dbs.entry(db).or_default();
                d.0 += k;
                d.1 += e;
            }
        }
    }
}

fn add_prefix(a: &mut PrefixStats, b: PrefixStats) {
    a.keys += b.keys;
    a.memory += b.memory;
    a.expires += b.expires;
}

/// The prefix of `key` up to and including its `depth`-th separator.
pub fn prefix_of<'k>(key: &'k [u8], separator: &[u8], depth: usize) -> Option<&'k [u8]> {
    if separator.is_empty() || depth == 0 {
        return None;
    }
    let mut end = 0;
    for _ in 0..depth {
        let rest = key.get(end..)?;
        let at = match separator {
            [one] => rest.iter().position(|b| b == one)?,
            _ => rest.windows(separator.len()).position(|w| w == separator)?,
        };
        end += at + separator.len();
    }
    key.get(..end)
}

/// Ranking order of top-N lists: measure descending, then (db, key) ascending, so
/// the result does not depend on the order keys were seen in.
fn rank(a: &TopKey, b: &TopKey) -> std::cmp::Ordering {
    b.measure
        .cmp(&a.measure)
        .then_with(|| a.db.cmp(&b.db))
        .then_with(|| a.key.cmp(&b.key))
        .then_with(|| a.file.cmp(&b.file))
}

/// Inserts a key into a sorted top-N list when it ranks; builds it only then.
fn offer(
    list: &mut Vec<TopKey>,
    n: usize,
    measure: u64,
    (file, key): (usize, &KeyRecord<'_>),
    make: impl FnOnce() -> TopKey,
) {
    if n == 0 {
        return;
    }
    if list.len() >= n {
        if let Some(last) = list.last() {
            let beats = measure > last.measure
                || (measure == last.measure
                    && (key.db, &key.key[..], file) < (last.db, &last.key[..], last.file));
            if !beats {
                return;
            }
        }
    }
    let item = make();
    let at = list.partition_point(|x| rank(x, &item) == std::cmp::Ordering::Less);
    list.insert(at, item);
    list.truncate(n);
}

fn merge_top(a: &mut Vec<TopKey>, b: Vec<TopKey>, n: usize) {
    a.extend(b);
    a.sort_by(rank);
    a.truncate(n);
}

/// The memory model of a server loading `rdb`: the target version of `options`, else
/// the version that wrote the file; with the options' size classes.
fn model_for(header: Header, aux: &AuxInfo, options: &InventoryOptions) -> MemoryModel {
    let model = match options.target_version {
        Some((major, minor)) => MemoryModel::for_redis(major, minor),
        None => MemoryModel::for_snapshot(aux, header),
    };
    model.with_size_classes(options.size_classes)
}

/// Builds the inventory of `files`. `progress` is called from the framing thread with
/// the number of input bytes framed so far over all files.
pub fn inventory(
    files: &[FileInput<'_>],
    options: &InventoryOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Inventory> {
    let mut inputs: Vec<Input<'_>> = files.iter().map(|&f| f.into()).collect();
    inventory_of(&mut inputs, options, progress).map_err(in_memory)
}

/// [`inventory`] of inputs in memory or streamed (a stream is read once, in memory
/// bounded by its buffer and the channel of chunks).
pub fn inventory_of(
    files: &mut [Input<'_>],
    options: &InventoryOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<Inventory, StreamError> {
    // Headers, AUX facts and memory models first (cheap: the AUX fields lead the file).
    let mut reports = Vec::with_capacity(files.len());
    let mut contexts = Vec::with_capacity(files.len());
    for f in files.iter_mut() {
        let (header, aux) = f.header_and_aux(options.parse)?;
        let snapshot_time_ms = aux.ctime.map(|s| s.saturating_mul(1000)).or(f.mtime_ms);
        contexts.push(FileContext {
            model: model_for(header, &aux, options),
            snapshot_time_ms,
        });
        reports.push(FileReport {
            name: f.name.to_string(),
            header: Some(header),
            aux,
            bytes: f.known_len().unwrap_or(0),
            snapshot_time_ms,
            ..FileReport::default()
        });
    }

    let framing = Framing {
        parse: options.parse,
        batch_keys: options.batch_keys,
    };
    let n_files = files.len();
    let partials = fold_keys(
        files,
        framing,
        || Partial::new(n_files, options),
        |partial, file, key| match contexts.get(file) {
            Some(ctx) => partial.add(file, ctx, key),
            None => Ok(()),
        },
        |file, record| {
            let Some(report) = reports.get_mut(file) else {
                return;
            };
            match record {
                Record::Function(func) => {
                    report.functions += 1;
                    report.function_code_bytes += func.code.len() as u64;
                }
                Record::ModuleAux(_) => report.module_aux += 1,
                Record::Eof(e) => {
                    report.checksum_verified = Some(e.checksum_verified);
                    if let Some(header) = report.header {
                        report.bytes = e.input_len(header);
                    }
                }
                _ => {}
            }
        },
        progress,
    )?;

    let mut total = Partial::new(n_files, options);
    for part in partials {
        total.merge(part);
    }
    let mut inv = total.inv;
    for ((report, ctx), tally) in reports.iter_mut().zip(&contexts).zip(total.per_file) {
        report.keys = tally.keys;
        let overhead: u64 = tally
            .dbs
            .values()
            .map(|&(k, e)| ctx.model.db_overhead(k, e))
            .sum();
        report.memory_estimate = ctx.model.empty_server()
            + tally.memory
            + overhead
            + ctx
                .model
                .functions(report.functions, report.function_code_bytes);
    }
    inv.memory_estimate = reports.iter().map(|r| r.memory_estimate).sum();
    inv.files = reports;
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(prefix_of(b"user:42:cart", b":", 1), Some(&b"user:"[..]));
        assert_eq!(prefix_of(b"user:42:cart", b":", 2), Some(&b"user:42:"[..]));
        assert_eq!(prefix_of(b"user:42:cart", b":", 3), None);
        assert_eq!(prefix_of(b"plain", b":", 1), None);
        assert_eq!(prefix_of(b"a::b", b"::", 1), Some(&b"a::"[..]));
    }

    /// An RDB 10 file of string keys in db 0 (with its CRC-64 trailer).
    fn strings_rdb(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut file = b"REDIS0010\xfe\x00".to_vec();
        for (key, value) in pairs {
            file.push(0);
            crate::write::write_string(&mut file, key);
            crate::write::write_string(&mut file, value);
        }
        file.push(0xff);
        let crc = crate::crc::crc64(0, &file);
        file.extend_from_slice(&crc.to_le_bytes());
        file
    }

    /// Patterns and slots account for every key and every byte of key memory, the
    /// pattern table stays within its bound, and the rest goes to "other".
    #[test]
    fn patterns_and_slots_add_up() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let mut keys = Vec::new();
        for i in 0..300u32 {
            keys.push(format!("user:{i}:cart"));
            keys.push(format!(
                "sess{:08x}",
                i.wrapping_mul(2_654_435_761) | 0x1000_0000
            ));
            keys.push(format!("plain{}", ["a", "b", "c"][i as usize % 3]));
        }
        let pairs: Vec<(&[u8], &[u8])> = keys.iter().map(|k| (k.as_bytes(), &b"v"[..])).collect();
        let data = strings_rdb(&pairs);
        let files = [FileInput {
            name: "a.rdb",
            data: &data,
            mtime_ms: None,
        }];
        let all = InventoryOptions {
            max_patterns: 100,
            slots: true,
            batch_keys: 64,
            ..InventoryOptions::default()
        };
        let inv = inventory(&files, &all, &|_| {})?;
        let mut patterns: Vec<(&[u8], u64)> =
            inv.patterns.iter().map(|(p, s)| (&p[..], s.keys)).collect();
        patterns.sort();
        // `sess` + 8 hex digits that may all be decimal: hex or id, one of the two.
        let sess: u64 = inv
            .patterns
            .iter()
            .filter(|(p, _)| p.starts_with(b"sess{"))
            .map(|(_, s)| s.keys)
            .sum();
        assert_eq!(sess, 300);
        assert_eq!(
            inv.patterns.get(&b"user:{id}:cart"[..]).map(|s| s.keys),
            Some(300)
        );
        for word in [&b"plaina"[..], b"plainb", b"plainc"] {
            assert_eq!(
                inv.patterns.get(word).map(|s| s.keys),
                Some(100),
                "{patterns:?}"
            );
        }
        assert_eq!(inv.patterns_other, PrefixStats::default());
        let memory: u64 = inv.patterns.values().map(|s| s.memory).sum();
        assert_eq!(memory, inv.memory_keys);
        assert_eq!(inv.slots.len(), slot::SLOTS);
        assert_eq!(inv.slots.iter().map(|s| s.keys).sum::<u64>(), 900);
        assert_eq!(
            inv.slots.iter().map(|s| s.memory).sum::<u64>(),
            inv.memory_keys
        );
        assert_eq!(inv.memory_buckets.iter().sum::<u64>(), 900);
        assert_eq!(inv.element_buckets.iter().sum::<u64>(), 900);

        let capped = InventoryOptions {
            max_patterns: 2,
            ..all
        };
        let inv = inventory(&files, &capped, &|_| {})?;
        assert!(inv.patterns.len() <= 2);
        let keys: u64 = inv.patterns.values().map(|s| s.keys).sum();
        assert_eq!(keys + inv.patterns_other.keys, 900);
        assert!(inv.patterns_other.keys >= 300);
        let memory: u64 = inv.patterns.values().map(|s| s.memory).sum();
        assert_eq!(memory + inv.patterns_other.memory, inv.memory_keys);

        let none = inventory(&files, &InventoryOptions::default(), &|_| {})?;
        assert!(none.patterns.is_empty() && none.slots.is_empty());
        Ok(())
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serializes_with_bytes_convention() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let data = strings_rdb(&[(b"user:1", b"alice"), (b"\xff:bin", b"0123456789")]);
        let files = [FileInput {
            name: "a.rdb",
            data: &data,
            mtime_ms: None,
        }];
        let inv = inventory(&files, &InventoryOptions::default(), &|_| {})?;
        let json = serde_json::to_value(&inv)?;

        let file = &json["files"][0];
        assert_eq!(file["name"], "a.rdb");
        assert_eq!(
            file["header"],
            serde_json::json!({"family": "redis", "version": 10})
        );
        assert_eq!(file["keys"], 2);
        assert_eq!(json["keyspace"]["0"]["keys"], 2);
        assert_eq!(json["types"][0]["type"], "string");
        assert_eq!(json["types"][0]["keys"], 2);

        // Keys and prefixes: text when UTF-8, else {"hex": ...}.
        let top: Vec<&serde_json::Value> = json["top_by_memory"]
            .as_array()
            .map(|a| a.iter().map(|t| &t["key"]).collect())
            .unwrap_or_default();
        assert_eq!(top.len(), 2);
        assert!(top.contains(&&serde_json::json!("user:1")));
        assert!(top.contains(&&serde_json::json!({"hex": "ff3a62696e"})));
        assert_eq!(json["top_by_memory"][0]["type"], "string");
        let prefixes = json["prefixes"].as_array().cloned().unwrap_or_default();
        assert_eq!(prefixes.len(), 2);
        assert!(prefixes
            .iter()
            .any(|p| p["prefix"] == "user:" && p["keys"] == 1));
        assert!(prefixes
            .iter()
            .any(|p| p["prefix"] == serde_json::json!({"hex": "ff3a"}) && p["keys"] == 1));
        Ok(())
    }

    #[cfg(feature = "serde")]
    #[test]
    fn baseline_document_shape() -> std::result::Result<(), Box<dyn std::error::Error>> {
        let data = strings_rdb(&[(b"user:1", b"alice"), (b"\xff:bin", b"0123456789")]);
        let files = [FileInput {
            name: "a.rdb",
            data: &data,
            mtime_ms: None,
        }];
        let options = InventoryOptions::default();
        let inv = inventory(&files, &options, &|_| {})?;
        let text = serde_json::to_string(&document::BaselineDocument::new(&inv, &options))?;
        assert!(text.starts_with(r#"{"verdict":"ok","source":{"#), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text)?;
        let fields: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut expected = [
            "verdict",
            "source",
            "keyspace",
            "metrics",
            "memory",
            "types",
            "rdb_types",
            "ttl",
            "top_keys",
            "prefixes",
        ];
        expected.sort_unstable();
        assert_eq!(fields, expected);
        assert_eq!(json["source"]["files"][0]["name"], "a.rdb");
        assert_eq!(json["source"]["files"][0]["magic"], "REDIS0010");
        assert_eq!(json["keyspace"]["0"]["keys"], 2);
        assert_eq!(json["metrics"]["redis.db.keys"], 2);
        assert_eq!(json["types"][0]["type"], "string");
        assert_eq!(json["ttl"]["buckets"].as_array().map(Vec::len), Some(7));
        assert_eq!(json["top_keys"]["by_memory"][0]["file"], "a.rdb");
        assert_eq!(json["prefixes"]["separator"], ":");
        let prefixes = json["prefixes"]["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(prefixes
            .iter()
            .any(|p| p["prefix"] == serde_json::json!({"hex": "ff3a"}) && p["keys"] == 1));
        assert_eq!(
            json["prefixes"]["no_prefix"],
            serde_json::json!({"keys": 0, "memory": 0})
        );
        Ok(())
    }
}
