//! Re-encoding values for older targets: byte-level converters from newer RDB value
//! types to the types an older server reads (the recipes of Redis' own history:
//! listpack → ziplist, quicklist2 → quicklist, stream v3 → v1, ...).
//!
//! [`reencode`] is a pure function of the value bytes (as in [`KeyRecord::raw`](crate::KeyRecord::raw):
//! after the type byte), the target's family and RDB version, and a [`Policy`]. It
//! returns the new type and body, ready for a `DUMP` payload with the target's footer
//! version, and what could not be carried ([`Dropped`]).
//!
//! | source | target reads | result |
//! |---|---|---|
//! | 16 hash listpack | RDB 4–9 | 13 hash ziplist (same element sequence) |
//! | 17 zset listpack | RDB 2–9 | 12 zset ziplist (scores stay the same entries) |
//! | 5 zset (binary scores) | RDB < 8 | 3 zset, scores as `%.17g` text (253/254/255 = NaN/+inf/−inf) |
//! | 18 quicklist2 | RDB 7–9 | 14 quicklist: PACKED nodes element-wise to ziplists, PLAIN nodes to one-element ziplists |
//! | 20 set listpack | RDB 2–10 | 11 intset when every member is a canonical integer and there are at most [`Policy::max_intset_entries`], else 2 set |
//! | 19/21/26 stream | RDB 9–11 | the newest stream version the target reads (15, 19 or 21): `first_id`, `max_deleted_id`, `entries_added`, groups' `entries_read` (v1), consumers' active times (v1/v2) and IDMP state (v4) are dropped and reported |
//! | 22–25 hash with field TTLs (Redis 7.4, pre-GA 7.4, Valkey 9) | no field TTLs | under [`FieldTtlPolicy::Drop`]: 16, 13 or 4 without TTLs (fields already expired are left out); under [`FieldTtlPolicy::Fail`]: [`ReencodeError::FieldTtls`] |
//! | 22–25 hash with field TTLs of the other family | Redis 7.4+ / Valkey 9+ | [`reencode_field_ttls`]: Redis 24 / Valkey 22 with the TTLs kept (`rdbkit convert`; restore writes HPEXPIREAT commands instead) |
//! | any collection | older than its container (e.g. RDB < 7 for quicklists) | the plain type (1 list, 2 set, 3 zset, 4 hash) |
//!
//! A value the target already reads is returned unchanged. Output blobs are
//! canonical (correct `prevlen`, `zltail`, `zllen`, terminators; sorted unique
//! intsets; no duplicate fields or members, which is checked) because Redis 6.x with
//! `sanitize-dump-payload yes` validates them deeply. Nothing is LZF-compressed.
//!
//! Version numbers are Redis' RDB numbers; a Valkey target of RDB 80+ (Valkey 9)
//! reads every type Redis 7.2 (RDB 11) does, plus its own type 22.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use crate::error::{Error, ErrorKind};
use crate::header::Family;
use crate::reader::Cursor;
use crate::types::ValueType;
use crate::value::listpack::Listpack;
use crate::value::{self, intset, ziplist, Element, RawEntry, Value, MAX_DECOMPRESSED_LEN};
use crate::write::{write_len, write_string};

/// What to do with hash field TTLs a target cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldTtlPolicy {
    /// The value is refused ([`ReencodeError::FieldTtls`]).
    #[default]
    Fail,
    /// The fields are kept without their TTLs (counted in [`Dropped::field_ttls`]).
    Drop,
}

/// Choices a re-encoding may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Hash field TTLs on targets without them.
    pub field_ttls: FieldTtlPolicy,
    /// The restore time (Unix ms): hash fields expiring at or before it are left out.
    pub now_ms: i64,
    /// Largest set written as an intset (Redis' default `set-max-intset-entries`, 512);
    /// larger integer sets become plain sets.
    pub max_intset_entries: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            field_ttls: FieldTtlPolicy::Fail,
            now_ms: 0,
            max_intset_entries: 512,
        }
    }
}

/// What a re-encoding left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dropped {
    /// Hash field TTLs removed from fields that were kept.
    pub field_ttls: u64,
    /// Hash fields left out because they had already expired.
    pub expired_fields: u64,
    /// Stream metadata the target's stream version cannot hold (`first_id`,
    /// `max_deleted_id`, `entries_added`, groups' `entries_read`).
    pub stream_metadata: bool,
    /// Consumers whose active time was dropped (stream v3 → v1/v2).
    pub active_times: u64,
    /// The stream's IDMP state (stream v4, Redis 8.6).
    pub idmp: bool,
}

impl Dropped {
    /// Whether something that the target will not see was left out (expired fields
    /// do not count: no target would show them).
    pub fn is_lossy(&self) -> bool {
        self.field_ttls > 0 || self.stream_metadata || self.active_times > 0 || self.idmp
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Dropped) {
        self.field_ttls += other.field_ttls;
        self.expired_fields += other.expired_fields;
        self.stream_metadata |= other.stream_metadata;
        self.active_times += other.active_times;
        self.idmp |= other.idmp;
    }
}

/// A re-encoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reencoded {
    /// The new type (its [`ValueType::byte`] starts the payload).
    pub value_type: ValueType,
    /// The new value bytes.
    pub body: Vec<u8>,
    /// What was left out.
    pub dropped: Dropped,
}

/// Why a value could not be re-encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum ReencodeError {
    /// The target has no type for this value (streams before RDB 9, modules).
    Unsupported(String),
    /// The hash has fields with TTLs that the target cannot hold and the policy is
    /// [`FieldTtlPolicy::Fail`].
    FieldTtls {
        /// Live fields with a TTL.
        fields: u64,
        /// The target's RDB version.
        target_rdb_version: u16,
    },
    /// The source value is malformed.
    Parse(Error),
}

impl fmt::Display for ReencodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReencodeError::Unsupported(why) => f.write_str(why),
            ReencodeError::FieldTtls {
                fields,
                target_rdb_version,
            } => write!(
                f,
                "{fields} hash field TTL(s) cannot be kept by a target reading RDB \
                 {target_rdb_version}; --hash-field-ttl drop restores the fields without them"
            ),
            ReencodeError::Parse(e) => write!(f, "cannot re-encode: {e}"),
        }
    }
}

impl std::error::Error for ReencodeError {}

impl From<Error> for ReencodeError {
    fn from(e: Error) -> Self {
        ReencodeError::Parse(e)
    }
}

/// The RDB version (Redis numbering) whose types a target of `family` reading
/// `rdb_version` knows: Valkey 9 (RDB 80+) reads what Redis 7.2 (RDB 11) reads.
fn redis_level(family: Family, rdb_version: u16) -> u32 {
    if family == Family::Valkey && rdb_version >= 80 {
        11
    } else {
        u32::from(rdb_version)
    }
}

/// Whether a target of `family` reading `rdb_version` knows the type `ty` (so the
/// value goes verbatim, with only the footer version re-stamped).
pub fn readable(ty: ValueType, family: Family, rdb_version: u16) -> bool {
    match ty {
        ValueType::ValkeyHash2 => family == Family::Valkey && rdb_version >= 80,
        t if t.byte() >= 22 => {
            family == Family::Redis && t.min_rdb_version() <= u32::from(rdb_version)
        }
        t => t.min_rdb_version() <= redis_level(family, rdb_version),
    }
}

/// Re-encodes a value of type `value_type` (body `raw`, without the type byte) for a
/// target of `family` whose `RESTORE` reads RDB `target_rdb_version`. A value the
/// target reads already comes back unchanged.
pub fn reencode(
    value_type: ValueType,
    raw: &[u8],
    family: Family,
    target_rdb_version: u16,
    policy: &Policy,
) -> Result<Reencoded, ReencodeError> {
    use ValueType as T;
    if readable(value_type, family, target_rdb_version) {
        return Ok(done(value_type, raw.to_vec(), Dropped::default()));
    }
    let level = redis_level(family, target_rdb_version);
    let mut cur = Cursor::new(raw, 0);
    let out = match value_type {
        T::HashListpack if level >= 4 => {
            let lp = blob(&mut cur, "hash listpack")?;
            let entries = listpack_entries(&lp)?;
            check_unique(entries.iter().step_by(2), "hash field")?;
            let mut body = Vec::new();
            write_string(&mut body, &ziplist::encode(&entries));
            done(T::HashZiplist, body, Dropped::default())
        }
        T::ZSetListpack if level >= 2 => {
            let lp = blob(&mut cur, "sorted set listpack")?;
            let entries = listpack_entries(&lp)?;
            if entries.len() % 2 != 0 {
                return Err(corrupt("sorted set listpack (member, score pairs)"));
            }
            check_unique(entries.iter().step_by(2), "sorted set member")?;
            let mut body = Vec::new();
            write_string(&mut body, &ziplist::encode(&entries));
            done(T::ZSetZiplist, body, Dropped::default())
        }
        T::ListQuicklist2 if level >= 7 => quicklist2_to_quicklist(&mut cur)?,
        T::SetListpack if level >= 2 => {
            let lp = blob(&mut cur, "set listpack")?;
            let entries = listpack_entries(&lp)?;
            check_unique(entries.iter(), "set member")?;
            let ints: Option<Vec<i64>> = if entries.len() <= policy.max_intset_entries {
                entries.iter().map(canonical_int).collect()
            } else {
                None
            };
            match ints {
                Some(mut ints) => {
                    ints.sort_unstable();
                    let mut body = Vec::new();
                    write_string(&mut body, &intset::encode(&ints));
                    done(T::SetIntset, body, Dropped::default())
                }
                None => {
                    let mut body = Vec::new();
                    write_len(&mut body, entries.len() as u64);
                    for e in &entries {
                        write_entry(&mut body, e);
                    }
                    done(T::Set, body, Dropped::default())
                }
            }
        }
        T::StreamListpacks | T::StreamListpacks2 | T::StreamListpacks3 | T::StreamListpacks4 => {
            let out_version = match level {
                0..=8 => {
                    return Err(ReencodeError::Unsupported(format!(
                        "streams need RDB 9 (Redis 5.0); the target reads RDB {target_rdb_version}"
                    )))
                }
                9 => 1,
                10 => 2,
                _ => 3,
            };
            stream_downgrade(value_type, &mut cur, out_version)?
        }
        t if t.has_field_ttls() => hash_without_ttls(t, raw, level, target_rdb_version, policy)?,
        T::ModulePreGa | T::Module2 => {
            return Err(ReencodeError::Unsupported(
                "module values cannot be re-encoded (the target must load the module)".into(),
            ))
        }
        // Everything else: the plain type of the same logical type.
        _ => return plain(value_type, raw, level),
    };
    // Branches that read through the cursor must have consumed all of the value.
    if cur.position() != 0 && !cur.is_empty() {
        return Err(corrupt("end of the value"));
    }
    Ok(out)
}

fn done(value_type: ValueType, body: Vec<u8>, dropped: Dropped) -> Reencoded {
    Reencoded {
        value_type,
        body,
        dropped,
    }
}

fn corrupt(context: &'static str) -> ReencodeError {
    ReencodeError::Parse(Error::new(ErrorKind::Corrupt, 0, context))
}

/// Reads one blob string (decompressing LZF).
fn blob<'a>(cur: &mut Cursor<'a>, context: &'static str) -> Result<Cow<'a, [u8]>, ReencodeError> {
    Ok(cur
        .read_string(context)?
        .to_bytes_limited(MAX_DECOMPRESSED_LEN)?)
}

fn listpack_entries(lp: &[u8]) -> Result<Vec<RawEntry<'_>>, ReencodeError> {
    Ok(Listpack::new(lp, 0)?.collect::<crate::Result<Vec<_>>>()?)
}

#[derive(Hash, PartialEq, Eq)]
enum Key<'b> {
    Bytes(&'b [u8]),
    Int(i64),
}

/// Refuses duplicates among `items` (a source with duplicate fields or members is
/// corrupt; a deep-sanitizing target would refuse the payload).
fn check_unique<'e, 'b: 'e>(
    items: impl Iterator<Item = &'e RawEntry<'b>>,
    context: &'static str,
) -> Result<(), ReencodeError> {
    let mut seen = HashSet::new();
    for e in items {
        let k = match *e {
            RawEntry::Bytes(b) => match canonical_int(e) {
                Some(i) => Key::Int(i),
                None => Key::Bytes(b),
            },
            RawEntry::Int(i) => Key::Int(i),
        };
        if !seen.insert(k) {
            return Err(corrupt(context));
        }
    }
    Ok(())
}

/// The integer an entry stands for when it is one in canonical decimal form.
fn canonical_int(e: &RawEntry<'_>) -> Option<i64> {
    match *e {
        RawEntry::Int(i) => Some(i),
        RawEntry::Bytes(b) => {
            if b.is_empty() || b.len() > 20 {
                return None;
            }
            let i: i64 = std::str::from_utf8(b).ok()?.parse().ok()?;
            (i.to_string().as_bytes() == b).then_some(i)
        }
    }
}

fn write_entry(out: &mut Vec<u8>, e: &RawEntry<'_>) {
    match *e {
        RawEntry::Bytes(b) => write_string(out, b),
        RawEntry::Int(i) => write_string(out, i.to_string().as_bytes()),
    }
}

fn write_element(out: &mut Vec<u8>, e: &Element<'_>) {
    match e {
        Element::Bytes(b) => write_string(out, b),
        Element::Int(i) => write_string(out, i.to_string().as_bytes()),
    }
}

/// Type 18 → 14: every PACKED node's listpack becomes a ziplist of the same
/// entries, every PLAIN node a one-element ziplist; empty nodes are left out.
fn quicklist2_to_quicklist(cur: &mut Cursor<'_>) -> Result<Reencoded, ReencodeError> {
    let nodes = cur.read_count(2, "quicklist node count")?;
    let mut zls: Vec<Vec<u8>> = Vec::with_capacity(nodes.min(1 << 16));
    for _ in 0..nodes {
        let container = cur.read_len("quicklist node container")?;
        let data = blob(cur, "quicklist node")?;
        match container {
            1 => zls.push(ziplist::encode(&[RawEntry::Bytes(&data)])),
            2 => {
                let entries = listpack_entries(&data)?;
                if !entries.is_empty() {
                    zls.push(ziplist::encode(&entries));
                }
            }
            _ => return Err(corrupt("quicklist node container (1 or 2)")),
        }
    }
    let mut body = Vec::new();
    write_len(&mut body, zls.len() as u64);
    for z in &zls {
        write_string(&mut body, z);
    }
    Ok(done(ValueType::ListQuicklist, body, Dropped::default()))
}

/// Copies `n` bytes from the cursor.
fn copy(
    cur: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    n: usize,
    context: &'static str,
) -> crate::Result<()> {
    out.extend_from_slice(cur.read_bytes(n, context)?);
    Ok(())
}

/// Copies one length as stored.
fn copy_len(cur: &mut Cursor<'_>, out: &mut Vec<u8>, context: &'static str) -> crate::Result<u64> {
    let start = cur.position();
    let n = cur.read_len(context)?;
    out.extend_from_slice(cur.since(start));
    Ok(n)
}

/// Copies one string as stored (raw, integer or LZF).
fn copy_string(
    cur: &mut Cursor<'_>,
    out: &mut Vec<u8>,
    context: &'static str,
) -> crate::Result<()> {
    let start = cur.position();
    cur.skip_string(context)?;
    out.extend_from_slice(cur.since(start));
    Ok(())
}

/// Streams: copies the nodes (as stored) and the groups, leaving out what stream
/// version `out_version` (1, 2 or 3) does not have.
fn stream_downgrade(
    ty: ValueType,
    cur: &mut Cursor<'_>,
    out_version: u8,
) -> Result<Reencoded, ReencodeError> {
    let version: u8 = match ty {
        ValueType::StreamListpacks => 1,
        ValueType::StreamListpacks2 => 2,
        ValueType::StreamListpacks3 => 3,
        _ => 4,
    };
    let mut dropped = Dropped::default();
    let mut body = Vec::new();
    let nodes = copy_len(cur, &mut body, "stream listpack count")?;
    for _ in 0..nodes {
        copy_string(cur, &mut body, "stream node key")?;
        copy_string(cur, &mut body, "stream node listpack")?;
    }
    copy_len(cur, &mut body, "stream length")?;
    copy_len(cur, &mut body, "stream last ID")?;
    copy_len(cur, &mut body, "stream last ID")?;
    if version >= 2 {
        let mut meta = Vec::new();
        for _ in 0..5 {
            copy_len(cur, &mut meta, "stream metadata")?;
        }
        if out_version >= 2 {
            body.extend_from_slice(&meta);
        } else {
            dropped.stream_metadata = true;
        }
    }
    let groups = copy_len(cur, &mut body, "stream consumer group count")?;
    for _ in 0..groups {
        copy_string(cur, &mut body, "consumer group name")?;
        copy_len(cur, &mut body, "group last ID")?;
        copy_len(cur, &mut body, "group last ID")?;
        if version >= 2 {
            let mut er = Vec::new();
            copy_len(cur, &mut er, "group entries read")?;
            if out_version >= 2 {
                body.extend_from_slice(&er);
            } else {
                dropped.stream_metadata = true;
            }
        }
        let pel = copy_len(cur, &mut body, "group PEL size")?;
        for _ in 0..pel {
            copy(cur, &mut body, 16 + 8, "PEL entry")?;
            copy_len(cur, &mut body, "PEL delivery count")?;
        }
        let consumers = copy_len(cur, &mut body, "consumer count")?;
        for _ in 0..consumers {
            copy_string(cur, &mut body, "consumer name")?;
            copy(cur, &mut body, 8, "consumer seen time")?;
            if version >= 3 {
                let active = cur.read_bytes(8, "consumer active time")?;
                if out_version >= 3 {
                    body.extend_from_slice(active);
                } else {
                    dropped.active_times += 1;
                }
            }
            let n = copy_len(cur, &mut body, "consumer PEL size")?;
            let bytes = usize::try_from(n)
                .ok()
                .and_then(|n| n.checked_mul(16))
                .ok_or_else(|| corrupt("consumer PEL size"))?;
            copy(cur, &mut body, bytes, "consumer PEL")?;
        }
    }
    if version >= 4 {
        // IDMP: duration, max entries, producers (pid, ids (iid, ms, seq)), two counters.
        let mut sink = Vec::new();
        copy_len(cur, &mut sink, "IDMP duration")?;
        copy_len(cur, &mut sink, "IDMP max entries")?;
        let producers = copy_len(cur, &mut sink, "IDMP producer count")?;
        for _ in 0..producers {
            copy_string(cur, &mut sink, "IDMP producer")?;
            let ids = copy_len(cur, &mut sink, "IDMP id count")?;
            for _ in 0..ids {
                copy_string(cur, &mut sink, "IDMP id")?;
                copy_len(cur, &mut sink, "IDMP entry ID")?;
                copy_len(cur, &mut sink, "IDMP entry ID")?;
            }
        }
        copy_len(cur, &mut sink, "IDMP ids added")?;
        copy_len(cur, &mut sink, "IDMP duplicates")?;
        dropped.idmp = true;
    }
    if !cur.is_empty() {
        return Err(corrupt("end of the stream value"));
    }
    let out_type = match out_version {
        1 => ValueType::StreamListpacks,
        2 => ValueType::StreamListpacks2,
        _ => ValueType::StreamListpacks3,
    };
    Ok(done(out_type, body, dropped))
}

/// A hash with field TTLs for a target without them.
fn hash_without_ttls(
    ty: ValueType,
    raw: &[u8],
    level: u32,
    target_rdb_version: u16,
    policy: &Policy,
) -> Result<Reencoded, ReencodeError> {
    let Value::Hash(fields) = value::decode_body(ty, &mut Cursor::new(raw, 0))? else {
        return Err(corrupt("hash value"));
    };
    let mut dropped = Dropped::default();
    let mut kept: Vec<(Element<'_>, Element<'_>)> = Vec::new();
    for f in fields {
        let f = f?;
        match f.expire_at_ms {
            Some(at) if at <= policy.now_ms => dropped.expired_fields += 1,
            Some(_) => {
                dropped.field_ttls += 1;
                kept.push((f.field, f.value));
            }
            None => kept.push((f.field, f.value)),
        }
    }
    if dropped.field_ttls > 0 && policy.field_ttls == FieldTtlPolicy::Fail {
        return Err(ReencodeError::FieldTtls {
            fields: dropped.field_ttls,
            target_rdb_version,
        });
    }
    let listpack_shaped = matches!(
        ty,
        ValueType::HashListpackEx | ValueType::HashListpackExPreGa
    );
    let mut body = Vec::new();
    let out_type = if listpack_shaped && level >= 4 {
        let entries: Vec<RawEntry<'_>> = kept
            .iter()
            .flat_map(|(f, v)| [raw_entry(f), raw_entry(v)])
            .collect();
        check_unique(entries.iter().step_by(2), "hash field")?;
        if level >= 10 {
            write_string(&mut body, &value::listpack::encode(&entries));
            ValueType::HashListpack
        } else {
            write_string(&mut body, &ziplist::encode(&entries));
            ValueType::HashZiplist
        }
    } else {
        write_len(&mut body, kept.len() as u64);
        for (f, v) in &kept {
            write_element(&mut body, f);
            write_element(&mut body, v);
        }
        ValueType::Hash
    };
    Ok(done(out_type, body, dropped))
}

/// Whether a target of `family` reading `rdb_version` keeps hash field TTLs in some
/// type of its own: Redis 7.4+ (RDB 12, types 24/25) and Valkey 9+ (RDB 80, type 22).
pub fn holds_field_ttls(family: Family, rdb_version: u16) -> bool {
    match family {
        Family::Redis => (12..80).contains(&rdb_version),
        Family::Valkey => rdb_version >= 80,
    }
}

/// Re-encodes a hash with field TTLs (any of types 22–25, either family) into the
/// field-TTL type of a target that [holds field TTLs](holds_field_ttls) but not this
/// type: Valkey `HASH_2` → Redis `HASH_METADATA` (24) and Redis 22–25 → Valkey
/// `HASH_2` (22), TTLs kept. Fields already expired at [`Policy::now_ms`] are left out;
/// a hash left without TTLs becomes a plain hash (4). `None` when the value is not a
/// field-TTL hash or the target has no field TTLs (use [`reencode`]).
///
/// Layouts ([rdb-format.md §types]; Redis `rdb.c` `rdbSaveObject`, Valkey `rdb.c`
/// `RDB_TYPE_HASH_2`): 24 = `int64 LE minExpire`, `len n`, n × (`len ttl`, field,
/// value) with `ttl = expireAt − minExpire + 1` (0: none); Valkey 22 = `len n`, n ×
/// (field, value, `int64 LE expireAt`, −1: none).
pub fn reencode_field_ttls(
    value_type: ValueType,
    raw: &[u8],
    family: Family,
    target_rdb_version: u16,
    policy: &Policy,
) -> Option<Result<Reencoded, ReencodeError>> {
    if !value_type.has_field_ttls() || !holds_field_ttls(family, target_rdb_version) {
        return None;
    }
    Some(field_ttls_kept(value_type, raw, family, policy))
}

fn field_ttls_kept(
    ty: ValueType,
    raw: &[u8],
    family: Family,
    policy: &Policy,
) -> Result<Reencoded, ReencodeError> {
    let Value::Hash(fields) = value::decode_body(ty, &mut Cursor::new(raw, 0))? else {
        return Err(corrupt("hash value"));
    };
    let mut dropped = Dropped::default();
    let mut kept: Vec<(Element<'_>, Element<'_>, Option<i64>)> = Vec::new();
    for f in fields {
        let f = f?;
        match f.expire_at_ms {
            Some(at) if at <= policy.now_ms => dropped.expired_fields += 1,
            at => kept.push((f.field, f.value, at)),
        }
    }
    let mut body = Vec::new();
    let min_expire = kept.iter().filter_map(|(_, _, at)| *at).min();
    let out_type = match (min_expire, family) {
        (None, _) => {
            write_len(&mut body, kept.len() as u64);
            for (f, v, _) in &kept {
                write_element(&mut body, f);
                write_element(&mut body, v);
            }
            ValueType::Hash
        }
        (Some(min), Family::Redis) => {
            body.extend_from_slice(&min.to_le_bytes());
            write_len(&mut body, kept.len() as u64);
            for (f, v, at) in &kept {
                // Non-negative: `min` is the smallest expiry.
                let ttl = at.map_or(0, |at| at.abs_diff(min) + 1);
                write_len(&mut body, ttl);
                write_element(&mut body, f);
                write_element(&mut body, v);
            }
            ValueType::HashMetadata
        }
        (Some(_), Family::Valkey) => {
            write_len(&mut body, kept.len() as u64);
            for (f, v, at) in &kept {
                write_element(&mut body, f);
                write_element(&mut body, v);
                body.extend_from_slice(&at.unwrap_or(-1).to_le_bytes());
            }
            ValueType::ValkeyHash2
        }
    };
    Ok(done(out_type, body, dropped))
}

fn raw_entry<'e>(e: &'e Element<'_>) -> RawEntry<'e> {
    match e {
        Element::Bytes(b) => RawEntry::Bytes(b),
        Element::Int(i) => RawEntry::Int(*i),
    }
}

/// The plain type (1 list, 2 set, 3 zset, 4 hash) of the value, for targets older
/// than its container encoding.
fn plain(ty: ValueType, raw: &[u8], level: u32) -> Result<Reencoded, ReencodeError> {
    let value = value::decode_body(ty, &mut Cursor::new(raw, 0))?;
    let mut body = Vec::new();
    let out_type = match value {
        Value::List(items) | Value::Set(items) => {
            let items: Vec<Element<'_>> = items.collect::<crate::Result<_>>()?;
            write_len(&mut body, items.len() as u64);
            for e in &items {
                write_element(&mut body, e);
            }
            if ty.logical() == crate::LogicalType::List {
                ValueType::List
            } else {
                ValueType::Set
            }
        }
        Value::ZSet(entries) => {
            let entries: Vec<(Element<'_>, f64)> = entries.collect::<crate::Result<_>>()?;
            write_len(&mut body, entries.len() as u64);
            for (m, score) in &entries {
                write_element(&mut body, m);
                write_string_double(&mut body, *score);
            }
            ValueType::ZSet
        }
        Value::Hash(fields) => {
            let fields: Vec<_> = fields.collect::<crate::Result<_>>()?;
            write_len(&mut body, fields.len() as u64);
            for f in &fields {
                write_element(&mut body, &f.field);
                write_element(&mut body, &f.value);
            }
            ValueType::Hash
        }
        _ => {
            return Err(ReencodeError::Unsupported(format!(
                "no encoding of {} for a target reading RDB {level}",
                ty.name()
            )))
        }
    };
    Ok(done(out_type, body, Dropped::default()))
}

/// Appends a score as an RDB string-encoded double (`rdbSaveDoubleValue` of RDB < 8
/// writers): `u8 len` + text; 253 NaN, 254 +inf, 255 −inf.
pub fn write_string_double(out: &mut Vec<u8>, score: f64) {
    if score.is_nan() {
        out.push(253);
    } else if score == f64::INFINITY {
        out.push(254);
    } else if score == f64::NEG_INFINITY {
        out.push(255);
    } else {
        let text = format_score(score);
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }
}

/// A score as Redis prints it (`rdbSaveDoubleValue`, `ZADD` arguments): integral
/// values within ±2^52 in integer form, others `%.17g` (17 significant digits, which
/// read back to the same double); `inf`, `-inf`, `nan`.
pub fn format_score(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v > -4_503_599_627_370_495.0 && v < 4_503_599_627_370_496.0 && v == (v as i64) as f64 {
        return (v as i64).to_string();
    }
    // `{:.16e}`: one digit, a point, 16 digits, `e`, the exponent.
    let s = format!("{v:.16e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut out = String::with_capacity(26);
    if neg {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        let rest = rest.trim_end_matches('0');
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp >= 0 {
        let point = (exp as usize + 1).min(digits.len());
        let (int, frac) = digits.split_at(point);
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_ttl_hashes_cross_families_with_their_ttls() {
        #![allow(clippy::unwrap_used)]
        let digest = |ty: ValueType, body: &[u8]| {
            crate::digest::digest_value(value::decode_body(ty, &mut Cursor::new(body, 0)).unwrap())
                .unwrap()
        };
        // Valkey HASH_2: f1 expires at 2e12, f2 none, f3 at 2e12 + 5000, old already gone.
        let mut valkey = Vec::new();
        write_len(&mut valkey, 4);
        for (f, v, at) in [
            (&b"f1"[..], &b"v1"[..], 2_000_000_000_000i64),
            (b"f2", b"12", -1),
            (b"f3", b"v3", 2_000_000_005_000),
            (b"old", b"x", 1_000),
        ] {
            write_string(&mut valkey, f);
            write_string(&mut valkey, v);
            valkey.extend_from_slice(&at.to_le_bytes());
        }
        let policy = Policy {
            now_ms: 1_700_000_000_000,
            ..Policy::default()
        };
        let redis =
            reencode_field_ttls(ValueType::ValkeyHash2, &valkey, Family::Redis, 12, &policy)
                .unwrap()
                .unwrap();
        assert_eq!(redis.value_type, ValueType::HashMetadata);
        assert_eq!(redis.dropped.expired_fields, 1);
        let back = reencode_field_ttls(redis.value_type, &redis.body, Family::Valkey, 80, &policy)
            .unwrap()
            .unwrap();
        assert_eq!(back.value_type, ValueType::ValkeyHash2);
        let (a, b) = (
            digest(redis.value_type, &redis.body),
            digest(back.value_type, &back.body),
        );
        assert_eq!(a, b);
        assert_ne!(a.field_ttls, 0);
        assert_eq!(a.elements, 3);
        assert!(
            reencode_field_ttls(ValueType::ValkeyHash2, &valkey, Family::Redis, 11, &policy)
                .is_none()
        );
        assert!(
            reencode_field_ttls(ValueType::Hash, &valkey, Family::Redis, 12, &policy).is_none()
        );
    }

    #[test]
    fn scores_print_like_redis() {
        for (v, s) in [
            (1.0, "1"),
            (-3.0, "-3"),
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e300, "1.0000000000000001e+300"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001, "0.0001"),
            (123456.789, "123456.789"),
            (4503599627370496.0, "4503599627370496"),
            (1e17, "1e+17"),
            (f64::INFINITY, "inf"),
            (-2.5e-7, "-2.4999999999999999e-07"),
        ] {
            assert_eq!(format_score(v), s, "{v}");
            assert_eq!(format_score(v).parse::<f64>().ok(), Some(v));
        }
    }

    #[test]
    fn readability() {
        assert!(readable(ValueType::SetListpack, Family::Valkey, 80));
        assert!(!readable(ValueType::SetListpack, Family::Redis, 10));
        assert!(!readable(ValueType::HashListpackEx, Family::Valkey, 80));
        assert!(readable(ValueType::HashListpackEx, Family::Redis, 12));
        assert!(!readable(ValueType::ValkeyHash2, Family::Redis, 12));
        assert!(readable(ValueType::ZSet2, Family::Redis, 9));
    }
}
