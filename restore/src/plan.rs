//! The **plan** stage: what happens to each key, as a pure function of the record,
//! the options and the target's capabilities (no I/O, unit-tested without a server).
//!
//! Filters (db, key pattern, type), database mapping, the already-expired skip, the
//! conflict policy, and the `RESTORE` arguments around the payload (expiry,
//! `REPLACE`, `IDLETIME`/`FREQ`). What the payload itself is (slice, re-stamped,
//! re-encoded, commands, or refused) is the next stage's answer:
//! [`crate::payload::payload`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use rdb_parser::reencode::FieldTtlPolicy;
use rdb_parser::{Family, KeyRecord, LogicalType};

use crate::glob::Glob;
use crate::payload::PayloadOptions;
use crate::resp::{RestoreFlags, Ttl};
use crate::target::TargetCaps;

/// What to do when a key already exists on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Plain `RESTORE`; `BUSYKEY` counts the key as failed (the default).
    #[default]
    Fail,
    /// Plain `RESTORE`; `BUSYKEY` counts the key as skipped (`exists`), the target's
    /// value is kept.
    Skip,
    /// `RESTORE ... REPLACE`: the snapshot's value wins.
    Replace,
}

/// How keys are written (`--mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// `RESTORE` (verbatim or re-stamped), re-encoded `RESTORE` for types the target
    /// does not read, plain commands as the last resort.
    #[default]
    Auto,
    /// `RESTORE` only (re-encoded when needed); keys re-encoding cannot carry fail.
    Restore,
    /// Plain commands for every key (targets that refuse `RESTORE`).
    Commands,
}

/// Why a key (or function library) was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Its database is not among `--db`.
    Db,
    /// Its name matches no `--key-pattern`.
    Pattern,
    /// Its type is not among `--type`.
    Type,
    /// It exists on the target and the policy is [`ConflictPolicy::Skip`].
    Exists,
    /// It lies before the checkpoint of a resumed run (restored by an earlier run).
    Checkpoint,
    /// Function libraries with `--no-functions`.
    NoFunctions,
    /// Not among the keys listed with `--keys-from` (a targeted retry).
    NotListed,
}

impl SkipReason {
    /// Every reason, in report order.
    pub const ALL: [SkipReason; 7] = [
        SkipReason::Db,
        SkipReason::Pattern,
        SkipReason::Type,
        SkipReason::Exists,
        SkipReason::Checkpoint,
        SkipReason::NoFunctions,
        SkipReason::NotListed,
    ];

    /// Stable short name (used as a JSON key).
    pub fn name(self) -> &'static str {
        match self {
            SkipReason::Db => "db",
            SkipReason::Pattern => "pattern",
            SkipReason::Type => "type",
            SkipReason::Exists => "exists",
            SkipReason::Checkpoint => "checkpoint",
            SkipReason::NoFunctions => "no_functions",
            SkipReason::NotListed => "not_listed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The logical types `--type` accepts, by name.
pub fn parse_type(name: &str) -> Option<LogicalType> {
    [
        LogicalType::String,
        LogicalType::List,
        LogicalType::Set,
        LogicalType::ZSet,
        LogicalType::Hash,
        LogicalType::Stream,
        LogicalType::Module,
    ]
    .into_iter()
    .find(|t| t.name().eq_ignore_ascii_case(name))
}

/// Parses `SRC:DST` (`--db-map`).
pub fn parse_db_map(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Keys (per source database) and function libraries (by name) to restore, and no
/// others: a targeted retry.
#[derive(Debug, Clone, Default)]
pub struct KeyList {
    /// Source database → key names.
    pub keys: BTreeMap<u64, HashSet<Vec<u8>>>,
    /// Function library names.
    pub functions: HashSet<Vec<u8>>,
}

/// Which keys go where, and how.
///
/// `#[non_exhaustive]`: start from [`PlanOptions::default`] and use the setters (or
/// set fields), so new options do not break callers.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PlanOptions {
    /// Source databases to restore (empty: all).
    pub dbs: BTreeSet<u64>,
    /// Source database → target database (unmapped databases keep their number, or
    /// go to [`PlanOptions::default_db`]).
    pub db_map: BTreeMap<u64, u64>,
    /// Where source databases that `db_map` does not map go: the database the target
    /// URL names (`redis://host:port/N`); `None` keeps their numbers.
    pub default_db: Option<u64>,
    /// Key patterns; a key is restored when it matches any (empty: all keys).
    pub key_patterns: Vec<Glob>,
    /// Logical types to restore (empty: all).
    pub types: Vec<LogicalType>,
    /// Only these keys and function libraries (`--keys-from`, e.g. what a run wrote
    /// with `--failed-keys`); `None`: everything.
    pub keys: Option<KeyList>,
    /// Conflict policy.
    pub on_conflict: ConflictPolicy,
    /// `RESTORE`, re-encoded `RESTORE` or commands.
    pub mode: WriteMode,
    /// Hash field TTLs on a target that cannot hold them.
    pub field_ttls: FieldTtlPolicy,
}

setters!(PlanOptions {
    dbs: BTreeSet<u64>,
    db_map: BTreeMap<u64, u64>,
    default_db: Option<u64>,
    key_patterns: Vec<Glob>,
    types: Vec<LogicalType>,
    keys: Option<KeyList>,
    on_conflict: ConflictPolicy,
    mode: WriteMode,
    field_ttls: FieldTtlPolicy,
});

impl PlanOptions {
    /// The target database of source database `db`.
    pub fn map_db(&self, db: u64) -> u64 {
        self.db_map
            .get(&db)
            .copied()
            .or(self.default_db)
            .unwrap_or(db)
    }

    /// Whether keys of source database `db` are selected by `--db`.
    pub fn db_selected(&self, db: u64) -> bool {
        self.dbs.is_empty() || self.dbs.contains(&db)
    }

    /// Whether `key` of source database `db` is among [`PlanOptions::keys`].
    pub fn key_listed(&self, db: u64, key: &[u8]) -> bool {
        self.keys
            .as_ref()
            .is_none_or(|k| k.keys.get(&db).is_some_and(|set| set.contains(key)))
    }

    /// Whether the function library `name` is among [`PlanOptions::keys`].
    pub fn function_listed(&self, name: &[u8]) -> bool {
        self.keys
            .as_ref()
            .is_none_or(|k| k.functions.contains(name))
    }

    /// The payload stage's options for a key written at `now_ms`, replaced or not.
    pub fn payload_options(&self, now_ms: i64, replace: bool) -> PayloadOptions {
        PayloadOptions::default()
            .mode(self.mode)
            .field_ttls(self.field_ttls)
            .now_ms(now_ms)
            .replace(replace)
    }

    /// Whether the filters select `k`: `--db`, `--type`, `--key-pattern`, `--keys-from`.
    pub fn selects(&self, k: &KeyRecord<'_>) -> bool {
        self.db_selected(k.db)
            && (self.types.is_empty() || self.types.contains(&k.value_type.logical()))
            && (self.key_patterns.is_empty() || self.key_patterns.iter().any(|g| g.matches(&k.key)))
            && self.key_listed(k.db, &k.key)
    }
}

/// Redis' and Valkey's default `proto-max-bulk-len` (512 MiB): the longest bulk
/// string, so the longest `RESTORE` payload, a server takes.
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 << 20;

/// What the plan and payload stages need to know about the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetProfile {
    /// The RDB version the target writes and reads (the `DUMP` footer).
    pub rdb_version: u16,
    /// Redis or Valkey (type bytes 22+ differ).
    pub family: Family,
    /// The longest bulk string it takes (`proto-max-bulk-len`).
    pub max_bulk_len: u64,
}

impl TargetProfile {
    /// A target reading `rdb_version` of `family`, with the default
    /// `proto-max-bulk-len` ([`DEFAULT_MAX_BULK_LEN`]).
    pub fn new(rdb_version: u16, family: Family) -> TargetProfile {
        TargetProfile {
            rdb_version,
            family,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
        }
    }

    /// The profile of a probed target ([`TargetCaps::max_bulk_len`] when `CONFIG
    /// GET` answered, else the default).
    pub fn of(caps: &TargetCaps) -> TargetProfile {
        TargetProfile {
            rdb_version: caps.rdb_version,
            family: caps.family,
            max_bulk_len: caps.max_bulk_len.unwrap_or(DEFAULT_MAX_BULK_LEN),
        }
    }

    /// `ABSTTL`, `IDLETIME` and `FREQ` exist (Redis 5.0+, RDB 9+).
    pub fn has_restore_options(&self) -> bool {
        self.rdb_version >= 9
    }

    /// `FUNCTION RESTORE` exists (Redis 7.0+, RDB 10+).
    pub fn has_functions(&self) -> bool {
        self.rdb_version >= 10
    }

    /// The `RESTORE` expiry argument for a key expiring at `expire_at_ms` (Unix ms)
    /// written at `now_ms`: absolute with `ABSTTL` where it exists, else relative
    /// (at least 1 ms, since 0 means "no expiry").
    pub fn ttl(&self, expire_at_ms: Option<i64>, now_ms: i64) -> Ttl {
        match expire_at_ms {
            None => Ttl::None,
            Some(at) if self.has_restore_options() => Ttl::Absolute(at),
            Some(at) => Ttl::Relative(at.saturating_sub(now_ms).max(1)),
        }
    }
}

/// The decision for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPlan {
    /// Send it; how is the payload stage's answer ([`crate::payload::payload`]).
    Send {
        /// Target database.
        db: u64,
        /// Expiry argument of `RESTORE`.
        ttl: Ttl,
        /// `REPLACE` (also: `DEL` before commands), `IDLETIME`, `FREQ`.
        flags: RestoreFlags,
    },
    /// Not sent.
    Skip(SkipReason),
    /// Already expired at restore time: not sent.
    Expired,
}

/// Decides what happens to `key`. `now_ms` is the restore time (Unix ms);
/// `force_replace` is set for keys a previous, interrupted run may have written
/// (the checkpoint overlap).
pub fn plan_key(
    key: &KeyRecord<'_>,
    options: &PlanOptions,
    target: &TargetProfile,
    now_ms: i64,
    force_replace: bool,
) -> KeyPlan {
    if !options.db_selected(key.db) {
        return KeyPlan::Skip(SkipReason::Db);
    }
    if !options.types.is_empty() && !options.types.contains(&key.value_type.logical()) {
        return KeyPlan::Skip(SkipReason::Type);
    }
    if !options.key_patterns.is_empty() && !options.key_patterns.iter().any(|g| g.matches(&key.key))
    {
        return KeyPlan::Skip(SkipReason::Pattern);
    }
    if !options.key_listed(key.db, &key.key) {
        return KeyPlan::Skip(SkipReason::NotListed);
    }
    if let Some(at) = key.expire_at_ms {
        if at <= now_ms {
            return KeyPlan::Expired;
        }
    }
    let mut flags = RestoreFlags {
        replace: force_replace || options.on_conflict == ConflictPolicy::Replace,
        idle_s: None,
        freq: None,
    };
    if target.has_restore_options() {
        // Never both: a file carries IDLE or FREQ depending on the source's policy.
        if let Some(f) = key.freq {
            flags.freq = Some(f);
        } else {
            flags.idle_s = key.idle_s;
        }
    }
    KeyPlan::Send {
        db: options.map_db(key.db),
        ttl: target.ttl(key.expire_at_ms, now_ms),
        flags,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rdb_parser::{Rdb, Record};

    fn rdb_with(version: u32, body: &[u8]) -> Vec<u8> {
        let mut f = format!("REDIS{version:04}").into_bytes();
        f.extend_from_slice(body);
        f.push(0xff);
        let crc = rdb_parser::crc::crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }

    fn first_key(data: &[u8]) -> KeyRecord<'_> {
        let rdb = Rdb::parse(data).expect("test input");
        rdb.records()
            .filter_map(|r| match r {
                Ok(Record::Key(k)) => Some(k),
                _ => None,
            })
            .next()
            .expect("a key")
    }

    const T7: TargetProfile = TargetProfile {
        rdb_version: 10,
        family: Family::Redis,
        max_bulk_len: DEFAULT_MAX_BULK_LEN,
    };

    #[test]
    fn filters_expiry_and_flags() {
        // db 3, expiry at 2000 ms, FREQ 7, SET k v.
        let mut body = vec![0xfe, 3, 0xfc];
        body.extend_from_slice(&2000i64.to_le_bytes());
        body.extend_from_slice(&[0xf9, 7, 0x00, 1, b'k', 1, b'v']);
        let data = rdb_with(10, &body);
        let k = first_key(&data);
        let mut o = PlanOptions::default();
        assert_eq!(plan_key(&k, &o, &T7, 3000, false), KeyPlan::Expired);
        assert_eq!(
            plan_key(&k, &o, &T7, 1000, false),
            KeyPlan::Send {
                db: 3,
                ttl: Ttl::Absolute(2000),
                flags: RestoreFlags {
                    replace: false,
                    idle_s: None,
                    freq: Some(7)
                }
            }
        );
        o.db_map.insert(3, 0);
        o.on_conflict = ConflictPolicy::Replace;
        match plan_key(&k, &o, &T7, 1000, false) {
            KeyPlan::Send { db, flags, .. } => assert_eq!((db, flags.replace), (0, true)),
            other => panic!("{other:?}"),
        }
        o.dbs.insert(0);
        assert_eq!(
            plan_key(&k, &o, &T7, 0, false),
            KeyPlan::Skip(SkipReason::Db)
        );
        o.dbs.insert(3);
        o.key_patterns.push(Glob::new(b"x*"));
        assert_eq!(
            plan_key(&k, &o, &T7, 0, false),
            KeyPlan::Skip(SkipReason::Pattern)
        );
        o.key_patterns.push(Glob::new(b"?"));
        o.types.push(LogicalType::Hash);
        assert_eq!(
            plan_key(&k, &o, &T7, 0, false),
            KeyPlan::Skip(SkipReason::Type)
        );
        o.types.push(LogicalType::String);
        assert!(matches!(
            plan_key(&k, &o, &T7, 0, false),
            KeyPlan::Send { .. }
        ));
        // A pre-5.0 target: relative TTL, no FREQ.
        let old = TargetProfile::new(8, Family::Redis);
        match plan_key(&k, &o, &old, 1500, false) {
            KeyPlan::Send { ttl, flags, .. } => {
                assert_eq!(ttl, Ttl::Relative(500));
                assert_eq!(flags.freq, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parsing_helpers() {
        assert_eq!(parse_db_map("1:0"), Some((1, 0)));
        assert_eq!(parse_db_map("1-0"), None);
        assert_eq!(parse_type("ZSET"), Some(LogicalType::ZSet));
        assert_eq!(parse_type("bogus"), None);
    }
}
