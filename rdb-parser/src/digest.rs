//! Encoding-independent content digests: one notion of "same value".
//!
//! [`digest_value`] reduces a decoded [`Value`] to a [`ValueDigest`] that depends only
//! on the value's logical content, never on how a server happened to store it: a
//! listpack hash and a hashtable hash with the same fields, a ziplist zset and a
//! skiplist zset, an int-encoded string and its decimal text, an LZF-compressed and a
//! raw string all get the same digest, whatever the RDB version or family. Snapshot
//! diff (`rdb_parser::diff`, feature `inventory`) and verification against a live
//! server (a DUMP payload decoded with [`crate::value::decode`]) both compare values
//! only through it.
//!
//! # What is hashed
//!
//! Every hash is XXH3-128. Byte strings are length-prefixed (so `("ab","c")` and
//! `("a","bc")` differ); integer-encoded elements are hashed as their decimal text.
//! Each digest starts with a tag for the logical type, so a set and a list with the
//! same members differ.
//!
//! | type | `content` covers | combination |
//! |---|---|---|
//! | string | the bytes | — |
//! | list | the elements | ordered (one running hash over the elements in order) |
//! | set | the members | unordered: wrapping sum of per-member hashes, then the count |
//! | zset | (member, score) pairs | unordered; scores canonical: `-0.0` → `0.0`, every NaN one value |
//! | hash | (field, value) pairs | unordered; field TTLs go to [`ValueDigest::field_ttls`] |
//! | stream | entries, last generated ID, consumer groups | see below |
//! | module | (module type ID, raw module bytes) | — |
//!
//! [`ValueDigest::field_ttls`] is an unordered digest of the (field, absolute expiry in
//! ms) pairs of the hash fields that have a TTL, and 0 when no field has one (always 0
//! for other types), so a TTL-only change is told apart from a content change.
//!
//! # Streams
//!
//! `content` covers the live entries in ID order (ID and field/value pairs in
//! order), the last generated ID, and the consumer groups as an unordered set keyed
//! by name. Each group contributes its name, its last delivered ID, its pending
//! entries list (per entry: ID, owning consumer, delivery count, last delivery time;
//! unordered) and its consumers (per consumer: name and the set of IDs pending for
//! it; unordered).
//!
//! [`digest_value_parts`] also splits a stream into parts ([`StreamDigest`]: entries,
//! groups without times, PEL delivery times, consumer times) so a caller can name what
//! differs, or leave the times out when comparing servers that were written
//! independently (each stamps its own times).
//!
//! Deliberately **excluded**: consumers' seen time and active time, the group's
//! `entries_read` counter, the stream's `entries_added`, `max_deleted_entry_id` and
//! recorded first ID, and the v4 IDMP state. Stream v1 files (Redis 5.0–6.2) do not
//! hold the counters at all, so including them would make every stream differ
//! between a 6.2 and a 7.0 snapshot of the same data; and consumer times are
//! wall-clock times that a restore (or any read) legitimately changes.

use xxhash_rust::xxh3::{xxh3_128_with_seed, Xxh3Default};

use crate::error::Result;
use crate::reader::RdbStr;
use crate::types::LogicalType;
use crate::value::{Element, Stream, StreamId, Value, MAX_DECOMPRESSED_LEN};

/// Seeds separating the hash domains (arbitrary distinct constants).
mod seed {
    pub const KEY: u64 = 0x6b65_795f_6861_7368;
    pub const STRING: u64 = 0x1000;
    pub const SET_MEMBER: u64 = 0x1001;
    pub const ZSET_PAIR: u64 = 0x1002;
    pub const HASH_PAIR: u64 = 0x1003;
    pub const HASH_TTL: u64 = 0x1004;
    pub const FINAL: u64 = 0x1005;
    pub const PEL: u64 = 0x1006;
    pub const CONSUMER: u64 = 0x1007;
    pub const CONSUMER_ID: u64 = 0x1008;
    pub const GROUP: u64 = 0x1009;
    pub const PEL_TIMES: u64 = 0x100a;
    pub const CONSUMER_TIMES: u64 = 0x100b;
}

/// The 128-bit hash of a key in a database, for joining two keyspaces without
/// keeping key names: XXH3-128 of the key bytes with the database number mixed in
/// (as part of the seed). Different `db` values give unrelated hashes.
pub fn key_hash(db: u64, key: &[u8]) -> u128 {
    xxh3_128_with_seed(key, seed::KEY ^ db.rotate_left(17))
}

/// An encoding-independent digest of one value (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValueDigest {
    /// The value's logical type.
    pub logical: LogicalType,
    /// Digest of the logical content (typed: it also depends on `logical`).
    pub content: u128,
    /// Digest of the hash field TTLs; 0 when no field has a TTL (and for non-hashes).
    pub field_ttls: u128,
    /// Number of elements: list items, set members, zset members, hash fields, stream
    /// entries; 1 for strings and module values.
    pub elements: u64,
}

/// Computes the digest of `value`, walking (and so validating) all of it.
///
/// Errors are those of decoding the value (corrupt containers, bad LZF data...).
pub fn digest_value(value: Value<'_>) -> Result<ValueDigest> {
    let mut buf = Vec::new();
    match value {
        Value::String(s) => digest_string(s),
        Value::List(items) => {
            let mut h = Ordered::new(LogicalType::List);
            let mut n = 0u64;
            for item in items {
                h.element(&item?);
                n += 1;
            }
            Ok(simple(LogicalType::List, h.finish(n), n))
        }
        Value::Set(members) => {
            let mut sum = 0u128;
            let mut n = 0u64;
            for m in members {
                buf.clear();
                put_element(&mut buf, &m?);
                sum = sum.wrapping_add(xxh3_128_with_seed(&buf, seed::SET_MEMBER));
                n += 1;
            }
            Ok(simple(
                LogicalType::Set,
                unordered(LogicalType::Set, sum, n),
                n,
            ))
        }
        Value::ZSet(entries) => {
            let mut sum = 0u128;
            let mut n = 0u64;
            for entry in entries {
                let (member, score) = entry?;
                buf.clear();
                put_element(&mut buf, &member);
                buf.extend_from_slice(&canonical_score(score).to_le_bytes());
                sum = sum.wrapping_add(xxh3_128_with_seed(&buf, seed::ZSET_PAIR));
                n += 1;
            }
            Ok(simple(
                LogicalType::ZSet,
                unordered(LogicalType::ZSet, sum, n),
                n,
            ))
        }
        Value::Hash(fields) => {
            let (mut sum, mut ttl_sum) = (0u128, 0u128);
            let (mut n, mut ttls) = (0u64, 0u64);
            for field in fields {
                let field = field?;
                buf.clear();
                put_element(&mut buf, &field.field);
                let field_len = buf.len();
                put_element(&mut buf, &field.value);
                sum = sum.wrapping_add(xxh3_128_with_seed(&buf, seed::HASH_PAIR));
                if let Some(at) = field.expire_at_ms {
                    buf.truncate(field_len);
                    buf.extend_from_slice(&at.to_le_bytes());
                    ttl_sum = ttl_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::HASH_TTL));
                    ttls += 1;
                }
                n += 1;
            }
            let field_ttls = if ttls == 0 {
                0
            } else {
                let mut b = [0u8; 24];
                b[..16].copy_from_slice(&ttl_sum.to_le_bytes());
                b[16..].copy_from_slice(&ttls.to_le_bytes());
                xxh3_128_with_seed(&b, seed::HASH_TTL)
            };
            Ok(ValueDigest {
                logical: LogicalType::Hash,
                content: unordered(LogicalType::Hash, sum, n),
                field_ttls,
                elements: n,
            })
        }
        Value::Stream(stream) => Ok(digest_stream(&stream, false)?.0),
        Value::Module(m) => {
            let mut h = Ordered::new(LogicalType::Module);
            h.raw(&m.module_id.to_le_bytes());
            h.bytes(m.raw);
            Ok(simple(LogicalType::Module, h.finish(1), 1))
        }
    }
}

fn simple(logical: LogicalType, content: u128, elements: u64) -> ValueDigest {
    ValueDigest {
        logical,
        content,
        field_ttls: 0,
        elements,
    }
}

/// A stable one-byte code for each logical type (the enum's discriminants are not
/// part of its API).
pub(crate) fn type_code(t: LogicalType) -> u8 {
    match t {
        LogicalType::String => 1,
        LogicalType::List => 2,
        LogicalType::Set => 3,
        LogicalType::ZSet => 4,
        LogicalType::Hash => 5,
        LogicalType::Stream => 6,
        LogicalType::Module => 7,
    }
}

/// The inverse of [`type_code`].
#[cfg_attr(not(feature = "inventory"), allow(dead_code))]
pub(crate) fn type_from_code(code: u8) -> Option<LogicalType> {
    Some(match code {
        1 => LogicalType::String,
        2 => LogicalType::List,
        3 => LogicalType::Set,
        4 => LogicalType::ZSet,
        5 => LogicalType::Hash,
        6 => LogicalType::Stream,
        7 => LogicalType::Module,
        _ => return None,
    })
}

fn digest_string(s: RdbStr<'_>) -> Result<ValueDigest> {
    let content = match s {
        RdbStr::Int(i) => {
            let mut text = IntText::new();
            xxh3_128_with_seed(text.format(i), seed::STRING)
        }
        other => xxh3_128_with_seed(&other.to_bytes_limited(MAX_DECOMPRESSED_LEN)?, seed::STRING),
    };
    // The tag is mixed in through the seed; strings have one element.
    Ok(simple(LogicalType::String, content, 1))
}

/// The final digest of an unordered collection: type tag, sum of the per-element
/// hashes, element count.
fn unordered(t: LogicalType, sum: u128, n: u64) -> u128 {
    let mut b = [0u8; 25];
    b[0] = type_code(t);
    b[1..17].copy_from_slice(&sum.to_le_bytes());
    b[17..].copy_from_slice(&n.to_le_bytes());
    xxh3_128_with_seed(&b, seed::FINAL)
}

/// Scores compared numerically: `-0.0` equals `0.0`, all NaNs are one value.
fn canonical_score(score: f64) -> u64 {
    if score.is_nan() {
        0x7ff8_0000_0000_0000
    } else if score == 0.0 {
        0
    } else {
        score.to_bits()
    }
}

/// Decimal text of an integer without allocating.
struct IntText {
    buf: [u8; 20],
}

impl IntText {
    fn new() -> IntText {
        IntText { buf: [0; 20] }
    }

    fn format(&mut self, v: i64) -> &[u8] {
        let mut pos = self.buf.len();
        let mut n = v.unsigned_abs();
        loop {
            pos -= 1;
            self.buf[pos] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            pos -= 1;
            self.buf[pos] = b'-';
        }
        &self.buf[pos..]
    }
}

/// Appends `len (u64 LE) || bytes` of an element's string value.
fn put_element(buf: &mut Vec<u8>, e: &Element<'_>) {
    match e {
        Element::Bytes(b) => put_bytes(buf, b),
        Element::Int(i) => put_bytes(buf, IntText::new().format(*i)),
    }
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    buf.extend_from_slice(&(b.len() as u64).to_le_bytes());
    buf.extend_from_slice(b);
}

/// An ordered running hash, started with a type tag.
struct Ordered {
    h: Xxh3Default,
}

impl Ordered {
    fn new(t: LogicalType) -> Ordered {
        let mut h = Xxh3Default::new();
        h.update(&[type_code(t)]);
        Ordered { h }
    }

    fn raw(&mut self, b: &[u8]) {
        self.h.update(b);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.h.update(&(b.len() as u64).to_le_bytes());
        self.h.update(b);
    }

    fn element(&mut self, e: &Element<'_>) {
        match e {
            Element::Bytes(b) => self.bytes(b),
            Element::Int(i) => self.bytes(IntText::new().format(*i)),
        }
    }

    fn u64(&mut self, v: u64) {
        self.h.update(&v.to_le_bytes());
    }

    fn id(&mut self, id: StreamId) {
        self.u64(id.ms);
        self.u64(id.seq);
    }

    fn finish(mut self, n: u64) -> u128 {
        self.u64(n);
        self.h.digest128()
    }
}

fn id_bytes(id: StreamId) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&id.ms.to_le_bytes());
    b[8..].copy_from_slice(&id.seq.to_le_bytes());
    b
}

/// Per-part digests of a stream, so that a difference can be named: two servers fed
/// the same writes hold the same entries and group metadata but stamp their own
/// delivery and consumer times. Computed by [`digest_value_parts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamDigest {
    /// The live entries in ID order (ID, field/value pairs) and the last generated ID.
    pub entries: u128,
    /// The consumer groups without times: per group its name, last delivered ID,
    /// pending entries (ID, owning consumer, delivery count) and consumers (name,
    /// pending IDs).
    pub groups: u128,
    /// The pending entries' last delivery times (per group and ID).
    pub delivery_times: u128,
    /// The consumers' seen and active times (per group and consumer); never part of
    /// [`ValueDigest::content`].
    pub consumer_times: u128,
}

/// Like [`digest_value`], and for a stream also its [`StreamDigest`] (in the same
/// walk); `None` for other types. The [`ValueDigest`] is exactly [`digest_value`]'s.
pub fn digest_value_parts(value: Value<'_>) -> Result<(ValueDigest, Option<StreamDigest>)> {
    match value {
        Value::Stream(stream) => {
            let (d, parts) = digest_stream(&stream, true)?;
            Ok((d, parts))
        }
        other => Ok((digest_value(other)?, None)),
    }
}

/// The sum of per-item hashes and the count, hashed (an unordered set's digest).
fn unordered_set(sum: u128, n: u64, seed: u64) -> u128 {
    let mut b = [0u8; 24];
    b[..16].copy_from_slice(&sum.to_le_bytes());
    b[16..].copy_from_slice(&n.to_le_bytes());
    xxh3_128_with_seed(&b, seed)
}

/// The stream's digest; with `parts`, also its [`StreamDigest`].
fn digest_stream(stream: &Stream<'_>, parts: bool) -> Result<(ValueDigest, Option<StreamDigest>)> {
    let mut h = Ordered::new(LogicalType::Stream);
    let mut n = 0u64;
    for entry in stream.entries() {
        let entry = entry?;
        h.id(entry.id);
        h.u64(entry.fields.len() as u64);
        for (f, v) in &entry.fields {
            h.element(f);
            h.element(v);
        }
        n += 1;
    }
    h.u64(n);
    h.id(stream.last_id);
    // The entries part is the running hash so far (a clone, so `h` goes on unchanged).
    let entries = parts.then(|| h.h.clone().digest128());

    let mut groups_sum = 0u128;
    // Parts: groups without times, delivery times, consumer times (and their counts).
    let (mut meta_sum, mut times_sum, mut ctimes_sum) = (0u128, 0u128, 0u128);
    let (mut times_n, mut ctimes_n) = (0u64, 0u64);
    let mut buf = Vec::new();
    let mut named = Vec::new();
    for group in &stream.groups {
        // Owner of each pending ID, from the consumers' own pending lists.
        let mut owners: Vec<(StreamId, usize)> = Vec::new();
        let mut consumers_sum = 0u128;
        for (ci, consumer) in group.consumers.iter().enumerate() {
            let mut ids_sum = 0u128;
            for &id in &consumer.pending {
                owners.push((id, ci));
                ids_sum =
                    ids_sum.wrapping_add(xxh3_128_with_seed(&id_bytes(id), seed::CONSUMER_ID));
            }
            buf.clear();
            put_element(&mut buf, &consumer.name);
            buf.extend_from_slice(&ids_sum.to_le_bytes());
            buf.extend_from_slice(&(consumer.pending.len() as u64).to_le_bytes());
            consumers_sum = consumers_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::CONSUMER));
            if parts {
                named.clear();
                put_element(&mut named, &group.name);
                put_element(&mut named, &consumer.name);
                named.extend_from_slice(&consumer.seen_time_ms.to_le_bytes());
                match consumer.active_time_ms {
                    Some(t) => {
                        named.push(1);
                        named.extend_from_slice(&t.to_le_bytes());
                    }
                    None => named.push(0),
                }
                ctimes_sum =
                    ctimes_sum.wrapping_add(xxh3_128_with_seed(&named, seed::CONSUMER_TIMES));
                ctimes_n += 1;
            }
        }
        owners.sort_unstable();

        let (mut pel_sum, mut pel_meta_sum) = (0u128, 0u128);
        for p in &group.pending {
            buf.clear();
            buf.extend_from_slice(&id_bytes(p.id));
            let owner = owners
                .binary_search_by(|(id, _)| id.cmp(&p.id))
                .ok()
                .and_then(|i| owners.get(i))
                .and_then(|&(_, ci)| group.consumers.get(ci));
            match owner {
                Some(c) => {
                    buf.push(1);
                    put_element(&mut buf, &c.name);
                }
                None => buf.push(0),
            }
            buf.extend_from_slice(&p.delivery_count.to_le_bytes());
            if parts {
                pel_meta_sum = pel_meta_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::PEL));
                named.clear();
                put_element(&mut named, &group.name);
                named.extend_from_slice(&id_bytes(p.id));
                named.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
                times_sum = times_sum.wrapping_add(xxh3_128_with_seed(&named, seed::PEL_TIMES));
                times_n += 1;
            }
            buf.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            pel_sum = pel_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::PEL));
        }

        buf.clear();
        put_element(&mut buf, &group.name);
        buf.extend_from_slice(&id_bytes(group.last_delivered_id));
        let pel_at = buf.len();
        buf.extend_from_slice(&pel_sum.to_le_bytes());
        buf.extend_from_slice(&(group.pending.len() as u64).to_le_bytes());
        buf.extend_from_slice(&consumers_sum.to_le_bytes());
        buf.extend_from_slice(&(group.consumers.len() as u64).to_le_bytes());
        groups_sum = groups_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::GROUP));
        if parts {
            // The same group record with the time-free PEL sum in place.
            if let Some(slot) = buf.get_mut(pel_at..pel_at + 16) {
                slot.copy_from_slice(&pel_meta_sum.to_le_bytes());
            }
            meta_sum = meta_sum.wrapping_add(xxh3_128_with_seed(&buf, seed::GROUP));
        }
    }
    h.raw(&groups_sum.to_le_bytes());
    let content = h.finish(stream.groups.len() as u64);
    let groups_n = stream.groups.len() as u64;
    let parts = entries.map(|entries| StreamDigest {
        entries,
        groups: unordered_set(meta_sum, groups_n, seed::GROUP),
        delivery_times: unordered_set(times_sum, times_n, seed::PEL_TIMES),
        consumer_times: unordered_set(ctimes_sum, ctimes_n, seed::CONSUMER_TIMES),
    });
    Ok((simple(LogicalType::Stream, content, n), parts))
}

/// A stream as a raw type-21 value (`STREAM_LISTPACKS_3`) with no entry nodes and one
/// group `g` whose PEL holds `pel` (ID ms, delivery time, delivery count), owned by
/// consumer `c` (seen and active time `seen`), for tests of digests and diffs.
#[cfg(test)]
pub(crate) fn test_stream(last_id: u64, pel: &[(u64, i64, u64)], seen: i64) -> Vec<u8> {
    use crate::write::{write_len, write_string};
    let mut raw = vec![21u8];
    write_len(&mut raw, 0); // listpack nodes
    write_len(&mut raw, 0); // length
    for n in [last_id, 0, 0, 0, 0, 0, 0] {
        // last ID, first ID, max deleted ID, entries added
        write_len(&mut raw, n);
    }
    write_len(&mut raw, 1);
    write_string(&mut raw, b"g");
    for n in [last_id, 0, 0, pel.len() as u64] {
        // last delivered ID, entries read, PEL size
        write_len(&mut raw, n);
    }
    let id = |ms: u64| {
        let mut b = ms.to_be_bytes().to_vec();
        b.extend_from_slice(&0u64.to_be_bytes());
        b
    };
    for &(ms, time, count) in pel {
        raw.extend_from_slice(&id(ms));
        raw.extend_from_slice(&time.to_le_bytes());
        write_len(&mut raw, count);
    }
    write_len(&mut raw, 1);
    write_string(&mut raw, b"c");
    raw.extend_from_slice(&seen.to_le_bytes());
    raw.extend_from_slice(&seen.to_le_bytes());
    write_len(&mut raw, pel.len() as u64);
    for &(ms, _, _) in pel {
        raw.extend_from_slice(&id(ms));
    }
    raw
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::header::Family;
    use crate::value::{listpack, ziplist, RawEntry};

    /// An RDB length prefix (6-bit, 14-bit or 32-bit form).
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 64 {
            out.push(n as u8);
        } else if n < 16384 {
            out.push(0x40 | (n >> 8) as u8);
            out.push(n as u8);
        } else {
            out.push(0x80);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    fn string(out: &mut Vec<u8>, s: &[u8]) {
        len(out, s.len());
        out.extend_from_slice(s);
    }

    fn digest(raw: &[u8]) -> ValueDigest {
        digest_value(crate::value::decode(Family::Redis, raw, 0).unwrap()).unwrap()
    }

    fn blob_value(ty: u8, blob: &[u8]) -> Vec<u8> {
        let mut raw = vec![ty];
        string(&mut raw, blob);
        raw
    }

    /// A type-4 hashtable hash, fields in the given order.
    fn hashtable(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut raw = vec![4u8];
        len(&mut raw, pairs.len());
        for (f, v) in pairs {
            string(&mut raw, f);
            string(&mut raw, v);
        }
        raw
    }

    fn flat(pairs: &[(&'static [u8], &'static [u8])]) -> Vec<RawEntry<'static>> {
        pairs
            .iter()
            .flat_map(|(f, v)| [RawEntry::Bytes(f), RawEntry::Bytes(v)])
            .collect()
    }

    #[test]
    fn hash_same_across_encodings() {
        let pairs: [(&[u8], &[u8]); 3] = [(b"f1", b"v1"), (b"n", b"12345"), (b"", b"empty")];
        let table = digest(&hashtable(&pairs));
        let reversed: Vec<_> = pairs.iter().rev().copied().collect();
        let table_rev = digest(&hashtable(&reversed));

        // Listpack with the integer stored as an integer entry.
        let lp = listpack::encode(&[
            RawEntry::Bytes(b"n"),
            RawEntry::Int(12345),
            RawEntry::Bytes(b""),
            RawEntry::Bytes(b"empty"),
            RawEntry::Bytes(b"f1"),
            RawEntry::Bytes(b"v1"),
        ]);
        let lp = digest(&blob_value(16, &lp));
        let zl = digest(&blob_value(13, &ziplist::encode(&flat(&pairs))));

        assert_eq!(table, table_rev);
        assert_eq!(table, lp);
        assert_eq!(table, zl);
        assert_eq!(table.elements, 3);
        assert_eq!(table.logical, LogicalType::Hash);
        assert_eq!(table.field_ttls, 0);

        let other = digest(&hashtable(&[
            (b"f1", b"v1"),
            (b"n", b"12346"),
            (b"", b"empty"),
        ]));
        assert_ne!(table.content, other.content);
    }

    #[test]
    fn hash_field_ttls_apart_from_content() {
        // HASH_LISTPACK_EX (25): min expiry, then (field, value, expire-at or 0) triplets.
        let ex = |ttl: i64| {
            let lp = listpack::encode(&[
                RawEntry::Bytes(b"a"),
                RawEntry::Bytes(b"1"),
                RawEntry::Int(ttl),
                RawEntry::Bytes(b"b"),
                RawEntry::Bytes(b"2"),
                RawEntry::Int(0),
            ]);
            let mut raw = vec![25u8];
            raw.extend_from_slice(&ttl.to_le_bytes());
            string(&mut raw, &lp);
            digest(&raw)
        };
        let plain = digest(&hashtable(&[(b"a", b"1"), (b"b", b"2")]));
        let t1 = ex(4_102_444_800_000);
        let t2 = ex(4_102_444_800_001);
        assert_eq!(plain.content, t1.content);
        assert_eq!(plain.field_ttls, 0);
        assert_ne!(t1.field_ttls, 0);
        assert_ne!(t1.field_ttls, t2.field_ttls);
        assert_eq!(t1.content, t2.content);
    }

    #[test]
    fn zset_same_across_encodings_and_negative_zero() {
        // ZSET_2 (5): member, binary double.
        let mut skip = vec![5u8];
        len(&mut skip, 3);
        for (m, s) in [(&b"b"[..], 2.5f64), (b"zero", -0.0), (b"a", 1.0)] {
            string(&mut skip, m);
            skip.extend_from_slice(&s.to_le_bytes());
        }
        // ZSET (3): member, string score.
        let mut old = vec![3u8];
        len(&mut old, 3);
        for (m, s) in [(&b"a"[..], &b"1"[..]), (b"b", b"2.5"), (b"zero", b"0")] {
            string(&mut old, m);
            old.push(s.len() as u8);
            old.extend_from_slice(s);
        }
        let zl = ziplist::encode(&[
            RawEntry::Bytes(b"zero"),
            RawEntry::Int(0),
            RawEntry::Bytes(b"a"),
            RawEntry::Int(1),
            RawEntry::Bytes(b"b"),
            RawEntry::Bytes(b"2.5"),
        ]);
        let lp = listpack::encode(&[
            RawEntry::Bytes(b"zero"),
            RawEntry::Bytes(b"-0"),
            RawEntry::Bytes(b"a"),
            RawEntry::Int(1),
            RawEntry::Bytes(b"b"),
            RawEntry::Bytes(b"2.5"),
        ]);
        let d = digest(&skip);
        assert_eq!(d, digest(&old));
        assert_eq!(d, digest(&blob_value(12, &zl)));
        assert_eq!(d, digest(&blob_value(17, &lp)));
        assert_eq!(d.elements, 3);
    }

    fn list_of(items: &[&[u8]]) -> Vec<u8> {
        let mut raw = vec![1u8];
        len(&mut raw, items.len());
        for i in items {
            string(&mut raw, i);
        }
        raw
    }

    fn set_of(items: &[&[u8]]) -> Vec<u8> {
        let mut raw = vec![2u8];
        len(&mut raw, items.len());
        for i in items {
            string(&mut raw, i);
        }
        raw
    }

    #[test]
    fn set_order_independent_and_encoding_independent() {
        let a = digest(&set_of(&[b"x", b"1", b"yy"]));
        let b = digest(&set_of(&[b"yy", b"x", b"1"]));
        assert_eq!(a, b);
        let lp = listpack::encode(&[
            RawEntry::Int(1),
            RawEntry::Bytes(b"yy"),
            RawEntry::Bytes(b"x"),
        ]);
        assert_eq!(a, digest(&blob_value(20, &lp)));
        assert_ne!(a.content, digest(&set_of(&[b"x", b"1"])).content);
        assert_ne!(a.content, digest(&set_of(&[b"x", b"1", b"y"])).content);
    }

    #[test]
    fn list_order_sensitive_and_encoding_independent() {
        let a = digest(&list_of(&[b"a", b"b", b"7"]));
        let b = digest(&list_of(&[b"b", b"a", b"7"]));
        assert_ne!(a.content, b.content);
        let zl = ziplist::encode(&[
            RawEntry::Bytes(b"a"),
            RawEntry::Bytes(b"b"),
            RawEntry::Int(7),
        ]);
        assert_eq!(a, digest(&blob_value(10, &zl)));
        // Quicklist v2: one packed listpack node and one plain node.
        let lp = listpack::encode(&[RawEntry::Bytes(b"a"), RawEntry::Bytes(b"b")]);
        let mut ql = vec![18u8];
        len(&mut ql, 2);
        len(&mut ql, 2);
        string(&mut ql, &lp);
        len(&mut ql, 1);
        string(&mut ql, b"7");
        assert_eq!(a, digest(&ql));
        // Boundaries between elements matter.
        assert_ne!(a.content, digest(&list_of(&[b"ab", b"", b"7"])).content);
    }

    #[test]
    fn type_sensitive() {
        let l = digest(&list_of(&[b"a", b"b"]));
        let s = digest(&set_of(&[b"a", b"b"]));
        assert_eq!(l.elements, s.elements);
        assert_ne!(l.content, s.content);
        assert_eq!(l.logical, LogicalType::List);
        assert_eq!(s.logical, LogicalType::Set);
        let single_list = digest(&list_of(&[b"a"]));
        let string = digest(b"\x00\x01a");
        assert_ne!(single_list.content, string.content);
    }

    #[test]
    fn strings_int_lzf_and_raw_agree() {
        // INT8 encoding of 12 vs the text "12".
        assert_eq!(digest(b"\x00\xc0\x0c"), digest(b"\x00\x0212"));
        // INT32 of -100000.
        let mut int32 = vec![0u8, 0xc2];
        int32.extend_from_slice(&(-100_000i32).to_le_bytes());
        assert_eq!(digest(&int32), digest(b"\x00\x07-100000"));
        // LZF: a literal run of "abcabcabc" (9 bytes) as compressed data.
        let mut lzf = vec![0u8, 0xc3];
        len(&mut lzf, 10);
        len(&mut lzf, 9);
        lzf.push(8);
        lzf.extend_from_slice(b"abcabcabc");
        assert_eq!(digest(&lzf), digest(b"\x00\x09abcabcabc"));
        assert_ne!(digest(b"\x00\x01a").content, digest(b"\x00\x01b").content);
    }

    #[test]
    fn key_hash_depends_on_db_and_key() {
        assert_eq!(key_hash(0, b"k"), key_hash(0, b"k"));
        assert_ne!(key_hash(0, b"k"), key_hash(1, b"k"));
        assert_ne!(key_hash(0, b"k"), key_hash(0, b"k2"));
    }

    #[test]
    fn int_text() {
        let mut t = IntText::new();
        for v in [0i64, 7, -1, 10, -128, i64::MIN, i64::MAX] {
            assert_eq!(t.format(v), v.to_string().as_bytes());
        }
    }

    #[test]
    fn stream_parts_name_what_differs() {
        let parts = |raw: &[u8]| {
            let v = || crate::value::decode(Family::Redis, raw, 0).unwrap();
            let (d, p) = digest_value_parts(v()).unwrap();
            assert_eq!(
                d,
                digest_value(v()).unwrap(),
                "the same digest as digest_value"
            );
            (d.content, p.unwrap())
        };
        let pel = [(5, 1_000, 1), (6, 2_000, 1)];
        let (content, base) = parts(&test_stream(9, &pel, 50));
        // Delivery times: content differs, and only that part.
        let (c, p) = parts(&test_stream(9, &[(5, 1_001, 1), (6, 2_000, 1)], 50));
        assert_ne!(c, content);
        assert_ne!(p.delivery_times, base.delivery_times);
        assert_eq!(
            (p.entries, p.groups, p.consumer_times),
            (base.entries, base.groups, base.consumer_times)
        );
        // Consumer times: never in the content, a part of their own.
        let (c, p) = parts(&test_stream(9, &pel, 51));
        assert_eq!(c, content);
        assert_ne!(p.consumer_times, base.consumer_times);
        assert_eq!(
            (p.entries, p.groups, p.delivery_times),
            (base.entries, base.groups, base.delivery_times)
        );
        // A delivery count is group metadata; the last ID belongs to the entries.
        let (_, p) = parts(&test_stream(9, &[(5, 1_000, 2), (6, 2_000, 1)], 50));
        assert_ne!(p.groups, base.groups);
        assert_eq!(p.delivery_times, base.delivery_times);
        let (_, p) = parts(&test_stream(10, &pel, 50));
        assert_ne!(p.entries, base.entries);
        // Not a stream: no parts.
        let v = crate::value::decode(Family::Redis, b"\x00\x01a", 0).unwrap();
        assert_eq!(digest_value_parts(v).unwrap().1, None);
    }

    #[test]
    fn type_codes_round_trip() {
        for t in [
            LogicalType::String,
            LogicalType::List,
            LogicalType::Set,
            LogicalType::ZSet,
            LogicalType::Hash,
            LogicalType::Stream,
            LogicalType::Module,
        ] {
            assert_eq!(type_from_code(type_code(t)), Some(t));
        }
        assert_eq!(type_from_code(0), None);
    }
}
