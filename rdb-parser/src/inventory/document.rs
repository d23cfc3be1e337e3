//! The JSON document `rdbkit baseline --format json` prints (feature `serde`), as a
//! library type: a program embedding the crate gets the same document by serializing
//! a [`BaselineDocument`].
//!
//! The [`Inventory`] itself serializes its fields as they are; the document is what a
//! reader of one dataset needs: the verdict first, the source server's facts, the
//! keyspace, the metrics a monitoring system calls them by, types, TTLs, the top keys
//! with their file names and the largest prefixes.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    ranked, DbStats, Inventory, InventoryOptions, PrefixStats, TopKey, TypeStats, FREQ_BUCKETS,
    IDLE_BUCKETS, TTL_BUCKETS,
};
use crate::serde_bytes::Bytes;

/// Unix seconds as ISO 8601 (`2026-11-25T10:01:49Z`).
fn iso(secs: i64) -> String {
    crate::time::format_utc_ms(secs.saturating_mul(1000))
}

/// `rdbkit baseline --format json`: `{"verdict": "ok", "source": {"redis_ver",
/// "valkey_ver", "ctime", "ctime_iso", "used_mem", "repl_id", "repl_offset",
/// "aof_base", "rdb_version", "files": [...]}, "keyspace": {DB: {"keys", "expires",
/// "expired_at_snapshot", "memory"}}, "metrics": {"redis.db.keys", "redis.db.expires",
/// "redis.db.avg_ttl", "redis.memory.used"}, "memory": {"estimate", "keys",
/// "recorded_used_mem"}, "types": [...], "rdb_types": {...}, "ttl": {"none",
/// "expired_at_snapshot", "buckets": [{"remaining", "keys"}]}, "top_keys": {"by_memory",
/// "by_elements"}, "prefixes": {"separator", "depth", "distinct", "entries", "other",
/// "no_prefix"}, "lru_idle": [{"idle", "keys"}], "lfu_freq": [{"counter", "keys"}]}`.
/// `lru_idle` and `lfu_freq` appear only when the snapshot recorded idle times or
/// access counters. Keys, prefixes and the separator follow
/// [`serde_bytes`](crate::serde_bytes).
#[derive(Debug, Serialize)]
pub struct BaselineDocument<'a> {
    verdict: &'static str,
    source: Source<'a>,
    #[serde(serialize_with = "keyspace")]
    keyspace: &'a BTreeMap<u64, DbStats>,
    metrics: Metrics,
    memory: Memory,
    #[serde(serialize_with = "super::ser::types")]
    types: &'a BTreeMap<(&'static str, &'static str), TypeStats>,
    rdb_types: &'a BTreeMap<&'static str, u64>,
    ttl: Ttl,
    top_keys: TopKeys<'a>,
    prefixes: Prefixes<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lru_idle: Option<Vec<IdleBucket>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lfu_freq: Option<Vec<FreqBucket>>,
}

#[derive(Debug, Serialize)]
struct Source<'a> {
    redis_ver: Option<&'a str>,
    valkey_ver: Option<&'a str>,
    ctime: Option<i64>,
    ctime_iso: Option<String>,
    used_mem: Option<u64>,
    repl_id: Option<&'a str>,
    repl_offset: Option<i64>,
    aof_base: Option<bool>,
    rdb_version: Option<u32>,
    files: Vec<File<'a>>,
}

#[derive(Debug, Serialize)]
struct File<'a> {
    name: &'a str,
    magic: Option<String>,
    rdb_version: Option<u32>,
    bytes: u64,
    keys: u64,
    redis_ver: Option<&'a str>,
    valkey_ver: Option<&'a str>,
    ctime: Option<i64>,
    ctime_iso: Option<String>,
    used_mem: Option<u64>,
    repl_id: Option<&'a str>,
    repl_offset: Option<i64>,
    aof_base: Option<bool>,
    memory_estimate: u64,
    functions: u64,
    module_aux: u64,
    checksum_verified: Option<bool>,
    /// Every AUX field as text (a field written twice: the last value).
    aux: BTreeMap<&'a str, &'a str>,
}

#[derive(Debug, Serialize)]
struct Metrics {
    #[serde(rename = "redis.db.keys")]
    keys: u64,
    #[serde(rename = "redis.db.expires")]
    expires: u64,
    #[serde(rename = "redis.db.avg_ttl")]
    avg_ttl: Option<u64>,
    #[serde(rename = "redis.memory.used")]
    memory_used: u64,
}

#[derive(Debug, Serialize)]
struct Memory {
    estimate: u64,
    keys: u64,
    recorded_used_mem: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Ttl {
    none: u64,
    expired_at_snapshot: u64,
    buckets: Vec<TtlBucket>,
}

#[derive(Debug, Serialize)]
struct TtlBucket {
    remaining: &'static str,
    keys: u64,
}

#[derive(Debug, Serialize)]
struct IdleBucket {
    idle: &'static str,
    keys: u64,
}

#[derive(Debug, Serialize)]
struct FreqBucket {
    counter: &'static str,
    keys: u64,
}

#[derive(Debug, Serialize)]
struct TopKeys<'a> {
    by_memory: Vec<Top<'a>>,
    by_elements: Vec<Top<'a>>,
}

#[derive(Debug, Serialize)]
struct Top<'a> {
    db: u64,
    key: Bytes<'a>,
    #[serde(rename = "type")]
    type_name: &'static str,
    encoding: &'static str,
    memory: u64,
    elements: u64,
    /// The file's name (the report keeps its index).
    file: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Prefixes<'a> {
    separator: Bytes<'a>,
    depth: usize,
    distinct: usize,
    entries: Vec<PrefixEntry<'a>>,
    other: Share,
    no_prefix: Share,
}

#[derive(Debug, Serialize)]
struct PrefixEntry<'a> {
    prefix: Bytes<'a>,
    keys: u64,
    memory: u64,
    expires: u64,
}

#[derive(Debug, Serialize)]
struct Share {
    keys: u64,
    memory: u64,
}

impl From<&PrefixStats> for Share {
    fn from(s: &PrefixStats) -> Share {
        Share {
            keys: s.keys,
            memory: s.memory,
        }
    }
}

/// The keyspace as `{"0": {...}}` (JSON object keys are strings).
fn keyspace<S: serde::Serializer>(
    keyspace: &&BTreeMap<u64, DbStats>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(keyspace.iter())
}

/// `(label, bound)` buckets zipped with their counts, when any count is not zero.
fn buckets<B, T>(
    labels: &[(&'static str, B)],
    counts: &[u64],
    row: impl Fn(&'static str, u64) -> T,
) -> Option<Vec<T>> {
    counts.iter().any(|&n| n > 0).then(|| {
        labels
            .iter()
            .zip(counts)
            .map(|((label, _), &n)| row(label, n))
            .collect()
    })
}

impl<'a> BaselineDocument<'a> {
    /// The document of `inv`, computed with `options` (the separator, the depth and
    /// how many prefixes to list: `options.top`, at least 100).
    pub fn new(inv: &'a Inventory, options: &'a InventoryOptions) -> BaselineDocument<'a> {
        let first = inv.files.first();
        let aux = first.map(|f| &f.aux);
        let top = |list: &'a [TopKey]| -> Vec<Top<'a>> {
            list.iter()
                .map(|t| Top {
                    db: t.db,
                    key: Bytes(&t.key),
                    type_name: t.type_name,
                    encoding: t.encoding,
                    memory: t.memory,
                    elements: t.elements,
                    file: inv.files.get(t.file).map(|f| f.name.as_str()),
                })
                .collect()
        };
        BaselineDocument {
            verdict: "ok",
            source: Source {
                redis_ver: aux.and_then(|a| a.redis_ver.as_deref()),
                valkey_ver: aux.and_then(|a| a.valkey_ver.as_deref()),
                ctime: aux.and_then(|a| a.ctime),
                ctime_iso: aux.and_then(|a| a.ctime).map(iso),
                used_mem: inv.recorded_used_memory(),
                repl_id: aux.and_then(|a| a.repl_id.as_deref()),
                repl_offset: aux.and_then(|a| a.repl_offset),
                aof_base: aux.and_then(|a| a.aof_base),
                rdb_version: first.and_then(|f| f.header.map(|h| h.version)),
                files: inv
                    .files
                    .iter()
                    .map(|f| File {
                        name: &f.name,
                        magic: f.header.map(|h| h.magic()),
                        rdb_version: f.header.map(|h| h.version),
                        bytes: f.bytes,
                        keys: f.keys,
                        redis_ver: f.aux.redis_ver.as_deref(),
                        valkey_ver: f.aux.valkey_ver.as_deref(),
                        ctime: f.aux.ctime,
                        ctime_iso: f.aux.ctime.map(iso),
                        used_mem: f.aux.used_mem,
                        repl_id: f.aux.repl_id.as_deref(),
                        repl_offset: f.aux.repl_offset,
                        aof_base: f.aux.aof_base,
                        memory_estimate: f.memory_estimate,
                        functions: f.functions,
                        module_aux: f.module_aux,
                        checksum_verified: f.checksum_verified,
                        aux: f
                            .aux
                            .fields
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect(),
                    })
                    .collect(),
            },
            keyspace: &inv.keyspace,
            metrics: Metrics {
                keys: inv.keys(),
                expires: inv.expires(),
                avg_ttl: inv.avg_ttl_ms(),
                memory_used: inv.memory_estimate,
            },
            memory: Memory {
                estimate: inv.memory_estimate,
                keys: inv.memory_keys,
                recorded_used_mem: inv.recorded_used_memory(),
            },
            types: &inv.types,
            rdb_types: &inv.rdb_types,
            ttl: Ttl {
                none: inv.ttl_none,
                expired_at_snapshot: inv.ttl_expired,
                buckets: TTL_BUCKETS
                    .iter()
                    .zip(inv.ttl_buckets)
                    .map(|((remaining, _), keys)| TtlBucket { remaining, keys })
                    .collect(),
            },
            top_keys: TopKeys {
                by_memory: top(&inv.top_by_memory),
                by_elements: top(&inv.top_by_elements),
            },
            prefixes: Prefixes {
                separator: Bytes(&options.separator),
                depth: options.depth,
                distinct: inv.prefixes.len(),
                entries: ranked(&inv.prefixes)
                    .into_iter()
                    .take(options.top.max(100))
                    .map(|(p, s)| PrefixEntry {
                        prefix: Bytes(p),
                        keys: s.keys,
                        memory: s.memory,
                        expires: s.expires,
                    })
                    .collect(),
                other: (&inv.prefixes_other).into(),
                no_prefix: (&inv.prefixes_none).into(),
            },
            lru_idle: buckets(&IDLE_BUCKETS, &inv.idle_buckets, |idle, keys| IdleBucket {
                idle,
                keys,
            }),
            lfu_freq: buckets(&FREQ_BUCKETS, &inv.freq_buckets, |counter, keys| {
                FreqBucket { counter, keys }
            }),
        }
    }
}
