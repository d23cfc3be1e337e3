//! Pre-flight checks of a migration: each check is pass / warn / fail with a one-line
//! detail ([`Check`]). The checks follow §6 of the platform notes: connectivity,
//! auth and TLS on both sides; versions; RDB version compatibility of the source (or
//! the snapshots) with the target; `RESTORE` allowed on the target; target empty;
//! capacity; eviction policy; cluster mode and databases; modules; replication health
//! on the source; last background save; AOF on both sides.
//!
//! Nothing here fails as a whole: an unreachable side becomes a failed check and the
//! checks that need it are left out (the failed check says so). The source is
//! optional (the old side is often unreachable from the new one): without it, the
//! source checks are reported as skipped and the snapshots stand in for it.

use std::collections::{BTreeMap, BTreeSet};

use rdb_parser::aux::parse_version;
use rdb_parser::Family;
use redis::Value;

use super::info::Info;
use super::{nodes, read_info};
use crate::cluster::{slot_for_key, SlotMap};
use crate::platform::{fit, Fit};
use crate::target::unique_suffix;
use crate::target::{rdb_version_for, Connection, Target, TargetCaps};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Status {
    /// Not run (what it needs was not given, e.g. no source).
    Skip,
    /// Fine.
    Pass,
    /// Works, but look at it (re-encoding needed, eviction possible, …).
    Warn,
    /// The migration would fail or lose data.
    Fail,
}

impl Status {
    /// `"skip"`, `"pass"`, `"warn"` or `"fail"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Skip => "skip",
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Check {
    /// Stable id (`source.connect`, `rdb-version`, `target.restore`, …).
    pub id: String,
    /// Outcome.
    pub status: Status,
    /// One line: what was found.
    pub detail: String,
}

fn check(id: &str, status: Status, detail: impl Into<String>) -> Check {
    Check {
        id: id.to_string(),
        status,
        detail: detail.into(),
    }
}

/// One snapshot file's header facts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SnapshotFile {
    /// File name as given.
    pub name: String,
    /// Format family of the header.
    pub family: Family,
    /// RDB version of the header.
    pub rdb_version: u32,
}

/// What the snapshot side of the checks needs (built from
/// `rdb_parser::inventory::Inventory` by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SnapshotFacts {
    /// The files.
    pub files: Vec<SnapshotFile>,
    /// Keys per database.
    pub keyspace: BTreeMap<u64, u64>,
    /// Estimated `used_memory` after loading (sum over files).
    pub memory_estimate: u64,
    /// What the estimate models, in words (`"as loaded by Redis 7.0.15: …"`).
    pub memory_model: String,
    /// Keys per RDB type name (`HASH_LISTPACK_EX`, `STREAM_LISTPACKS_3`, …).
    pub rdb_types: BTreeMap<String, u64>,
}

/// The snapshot facts a preflight read, in short (the `snapshot` of
/// [`PreflightDocument`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct SnapshotSummary {
    /// Files read.
    pub files: usize,
    /// Keys in them.
    pub keys: u64,
    /// Estimated `used_memory` after loading.
    pub memory_estimate: u64,
    /// What the estimate models, in words.
    pub memory_model: String,
}

impl SnapshotFacts {
    /// The facts in short.
    pub fn summary(&self) -> SnapshotSummary {
        SnapshotSummary {
            files: self.files.len(),
            keys: self.keyspace.values().sum(),
            memory_estimate: self.memory_estimate,
            memory_model: self.memory_model.clone(),
        }
    }

    fn count(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.rdb_types
            .iter()
            .filter(|(n, _)| pred(n))
            .map(|(_, c)| *c)
            .sum()
    }

    /// Keys whose encoding carries hash field TTLs (Redis 7.4+ / Valkey 9).
    pub fn field_ttl_keys(&self) -> u64 {
        self.count(|n| {
            n.starts_with("HASH_METADATA") || n.starts_with("HASH_LISTPACK_EX") || n == "HASH_2"
        })
    }

    /// Stream keys.
    pub fn stream_keys(&self) -> u64 {
        self.count(|n| n.starts_with("STREAM_"))
    }

    /// Module-typed keys.
    pub fn module_keys(&self) -> u64 {
        self.count(|n| n.starts_with("MODULE_"))
    }
}

/// What the target loads data with, from its `INFO`: what the snapshots' memory
/// estimate should model (see `rdb_parser::inventory::InventoryOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TargetMemory {
    /// `major.minor` of the Redis whose memory layouts the target uses (Valkey 7.2
    /// and 8.x: Redis 7.2's; Valkey 9: 7.4's); `None` when INFO has no version.
    pub layout_version: Option<(u32, u32)>,
    /// The target's version as INFO gives it (`7.0.15`, `valkey 8.1.1`).
    pub version: String,
    /// `mem_allocator` of INFO (`jemalloc-5.3.0`, `libc`), when reported.
    pub allocator: Option<String>,
}

impl TargetMemory {
    fn from_info(info: &Info) -> TargetMemory {
        let version = info.version().unwrap_or("unknown").to_string();
        let major_minor = parse_version(&version).map(|(major, minor, _)| (major, minor));
        let valkey = info.family() == "valkey";
        TargetMemory {
            layout_version: match major_minor {
                Some((major, _)) if valkey && major >= 9 => Some((7, 4)),
                Some(_) if valkey => Some((7, 2)),
                v => v,
            },
            version: if valkey {
                format!("Valkey {version}")
            } else {
                format!("Redis {version}")
            },
            allocator: info.get("mem_allocator").map(str::to_string),
        }
    }
}

/// Reads the snapshots' facts, with the memory estimate modelled for the target
/// (`None`: the target could not be read; model the servers that wrote the files).
/// Called at most once, after the target is connected.
pub type SnapshotReader<'a> = dyn Fn(Option<&TargetMemory>) -> Result<SnapshotFacts, String> + 'a;

/// Thresholds and side facts of [`preflight`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PreflightOptions {
    /// The source URL is `rediss://`.
    pub source_tls: bool,
    /// The target URL is `rediss://`.
    pub target_tls: bool,
    /// Largest acceptable gap (bytes) between a primary's offset and a replica's.
    pub max_replica_gap: u64,
    /// Largest acceptable replica `lag=` (seconds since its last acknowledgement).
    pub max_replica_lag: i64,
}

impl Default for PreflightOptions {
    fn default() -> Self {
        PreflightOptions {
            source_tls: false,
            target_tls: false,
            max_replica_gap: 1 << 20,
            max_replica_lag: 10,
        }
    }
}

setters!(PreflightOptions {
    source_tls: bool,
    target_tls: bool,
    max_replica_gap: u64,
    max_replica_lag: i64,
});

/// One side, connected.
struct Side {
    name: &'static str,
    target: Target,
    conn: Connection,
    /// `INFO` of the node the URL names.
    info: Info,
    /// Every node to sum over (cluster masters, or the one server), with its `INFO`.
    nodes: Vec<(Target, Info)>,
}

impl Side {
    fn sum(&self, field: &str) -> Option<i64> {
        let v: Vec<i64> = self
            .nodes
            .iter()
            .filter_map(|(_, i)| i.int(field))
            .collect();
        (!v.is_empty()).then(|| v.iter().sum())
    }

    fn keyspace(&self) -> BTreeMap<u64, u64> {
        let mut out = BTreeMap::new();
        for (_, i) in &self.nodes {
            for (db, d) in i.keyspace() {
                *out.entry(db).or_insert(0) += d.keys;
            }
        }
        out
    }

    fn describe(&self) -> String {
        let family = if self.info.family() == "valkey" {
            "Valkey"
        } else {
            "Redis"
        };
        format!(
            "{family} {}{}",
            self.info.version().unwrap_or("(version unknown)"),
            if self.info.cluster_enabled() {
                format!(", cluster of {} masters", self.nodes.len())
            } else {
                String::new()
            }
        )
    }
}

fn is_loopback(address: &str) -> bool {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// A hint for a plain-text connection that the server dropped at once: a TLS port
/// closes on the first bytes that are not a TLS handshake.
fn tls_hint(msg: &str, tls: bool) -> &'static str {
    let dropped = [
        "Connection reset by peer",
        "connection reset",
        "unexpected end of file",
        "Unexpected EOF",
        "Broken pipe",
        "broken pipe",
    ];
    if !tls && dropped.iter().any(|d| msg.contains(d)) {
        "; the server closed the connection at once: it may expect TLS: use rediss://"
    } else {
        ""
    }
}

/// Where the credential of `target` came from and when it expires (changing
/// credentials only: `--password-command`, `--auth azure`, `--auth aws-iam`).
fn credential_note(target: &Target) -> String {
    let Some(c) = target.credentials() else {
        return String::new();
    };
    let expiry = match c.expires() {
        Some(at) => {
            let ms = at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            let left = at
                .duration_since(std::time::SystemTime::now())
                .map_or(0, |d| d.as_secs() / 60);
            format!(
                ", expiring {} (in {left} min; renewed before then)",
                rdb_parser::time::format_utc_ms(ms)
            )
        }
        None => ", no expiry given".to_string(),
    };
    format!(" with a credential from {}{expiry}", c.identity())
}

/// Connects one side: `connect`, `auth` and `tls` checks; `None` when unusable.
fn open(name: &'static str, target: &Target, tls: bool, out: &mut Vec<Check>) -> Option<Side> {
    let id = |c: &str| format!("{name}.{c}");
    let mut conn = match target.connect() {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            let auth = [
                "WRONGPASS",
                "NOAUTH",
                "invalid password",
                "invalid username",
                "AUTH",
                "authentication",
                "Authentication",
            ]
            .iter()
            .any(|m| msg.contains(m))
                || matches!(
                    e,
                    crate::Error::Auth { .. } | crate::Error::Credential { .. }
                );
            out.push(check(
                &id(if auth { "auth" } else { "connect" }),
                Status::Fail,
                format!(
                    "{msg}{} (the other {name} checks were not run)",
                    tls_hint(&msg, tls)
                ),
            ));
            return None;
        }
    };
    match redis::cmd("PING").query::<String>(conn.link()) {
        Ok(_) => out.push(check(
            &id("connect"),
            Status::Pass,
            format!("{} answers PING", target.address()),
        )),
        Err(e) => {
            let msg = target.scrub(&e.to_string());
            let auth = msg.contains("NOAUTH") || msg.contains("WRONGPASS");
            out.push(check(
                &id(if auth { "auth" } else { "connect" }),
                Status::Fail,
                format!(
                    "PING: {msg}{} (the other {name} checks were not run)",
                    tls_hint(&msg, tls)
                ),
            ));
            return None;
        }
    }
    let who = redis::cmd("ACL").arg("WHOAMI").query::<String>(conn.link());
    out.push(check(
        &id("auth"),
        Status::Pass,
        match who {
            Ok(user) => format!(
                "authenticated as ACL user {user:?}{}",
                credential_note(target)
            ),
            Err(_) => format!(
                "accepted (ACL WHOAMI not available){}",
                credential_note(target)
            ),
        },
    ));
    out.push(if tls {
        check(&id("tls"), Status::Pass, "TLS (rediss://)")
    } else if is_loopback(target.address()) {
        check(&id("tls"), Status::Pass, "plaintext on loopback")
    } else {
        check(
            &id("tls"),
            Status::Warn,
            "plaintext: ElastiCache AUTH needs in-transit encryption, Azure Cache for Redis disables \
             the non-TLS port by default, Azure Managed Redis requires TLS by default",
        )
    });
    let info = match read_info(target, &mut conn) {
        Ok(i) => i,
        Err(e) => {
            out.push(check(
                &id("info"),
                Status::Fail,
                format!("{e} (the other {name} checks were not run)"),
            ));
            return None;
        }
    };
    let mut side_nodes = Vec::new();
    for node in nodes(target, &mut conn, &info) {
        if node.address() == target.address() {
            side_nodes.push((node, info.clone()));
            continue;
        }
        match node.connect().and_then(|mut c| read_info(&node, &mut c)) {
            Ok(i) => side_nodes.push((node, i)),
            Err(e) => out.push(check(&id("nodes"), Status::Fail, e.to_string())),
        }
    }
    Some(Side {
        name,
        target: target.clone(),
        conn,
        info,
        nodes: side_nodes,
    })
}

/// The RDB version of a `DUMP` payload's footer.
fn footer_version(payload: &[u8]) -> Option<u16> {
    let start = payload.len().checked_sub(10)?;
    match payload.get(start..start + 2) {
        Some(&[a, b]) => Some(u16::from_le_bytes([a, b])),
        _ => None,
    }
}

/// The source's RDB version: `DUMP` of a random key (read-only), else the version
/// table. Returns (version, how learned).
fn source_rdb_version(src: &mut Side) -> Option<(u16, String)> {
    for (node, _) in src.nodes.clone() {
        let mut own;
        let conn = if node.address() == src.target.address() {
            &mut src.conn
        } else {
            match node.connect() {
                Ok(c) => {
                    own = c;
                    &mut own
                }
                Err(_) => continue,
            }
        };
        let key: Option<Vec<u8>> = redis::cmd("RANDOMKEY").query(conn.link()).ok().flatten();
        if let Some(key) = key {
            let payload: Option<Vec<u8>> = redis::cmd("DUMP")
                .arg(&key)
                .query(conn.link())
                .ok()
                .flatten();
            if let Some(v) = payload.as_deref().and_then(footer_version) {
                return Some((v, "DUMP of a sample key".into()));
            }
        }
    }
    let family = if src.info.family() == "valkey" {
        Family::Valkey
    } else {
        Family::Redis
    };
    let version = src.info.version()?;
    rdb_version_for(family, version).map(|v| (v, format!("server version {version}")))
}

/// `SET` a probe key, `DUMP` it, `RESTORE` the payload under a second name (same
/// slot), then `DEL` both.
fn restore_probe(tgt: &mut Side) -> Check {
    let base = format!("{{rdbkit:preflight:{}}}", unique_suffix());
    let (a, b) = (format!("{base}:a"), format!("{base}:b"));
    let mut own;
    let conn: &mut Connection = if tgt.info.cluster_enabled() {
        let host = tgt
            .target
            .address()
            .rsplit_once(':')
            .map_or(tgt.target.address(), |(h, _)| h)
            .to_string();
        let owner = SlotMap::fetch(&mut tgt.conn, &host)
            .ok()
            .flatten()
            .and_then(|m| {
                let idx = (*m.owner.get(usize::from(slot_for_key(a.as_bytes())))?)?;
                m.nodes.get(idx).cloned()
            });
        match owner {
            Some((h, p)) => match tgt.target.for_node(&h, p).connect() {
                Ok(c) => {
                    own = c;
                    &mut own
                }
                Err(e) => return check("target.restore", Status::Fail, e.to_string()),
            },
            None => &mut tgt.conn,
        }
    } else {
        &mut tgt.conn
    };
    let scrub = |e: &redis::RedisError| tgt.target.scrub(&e.to_string());
    if let Err(e) = redis::cmd("SET")
        .arg(&a)
        .arg("x")
        .arg("PX")
        .arg(60_000)
        .query::<Value>(conn.link())
    {
        return check(
            "target.restore",
            Status::Fail,
            format!("cannot write a probe key: {}", scrub(&e)),
        );
    }
    let result = redis::cmd("DUMP")
        .arg(&a)
        .query::<Option<Vec<u8>>>(conn.link())
        .and_then(|payload| {
            redis::cmd("RESTORE")
                .arg(&b)
                .arg(60_000)
                .arg(payload.unwrap_or_default())
                .query::<Value>(conn.link())
        });
    let exists = redis::cmd("EXISTS").arg(&b).query::<i64>(conn.link());
    let _ = redis::cmd("DEL")
        .arg(&a)
        .arg(&b)
        .query::<Value>(conn.link());
    match (result, exists) {
        (Ok(_), Ok(1)) => check(
            "target.restore",
            Status::Pass,
            "RESTORE accepted (probe key restored, then removed)",
        ),
        (Ok(_), _) => check(
            "target.restore",
            Status::Fail,
            "RESTORE answered but the probe key is not there",
        ),
        (Err(e), _) => check(
            "target.restore",
            Status::Fail,
            format!("RESTORE refused: {} (use a type-based copy)", scrub(&e)),
        ),
    }
}

/// `MODULE LIST` names, or the refusal.
fn modules(side: &mut Side) -> Result<BTreeSet<String>, String> {
    let reply: Value = redis::cmd("MODULE")
        .arg("LIST")
        .query(side.conn.link())
        .map_err(|e| side.target.scrub(&e.to_string()))?;
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    let mut out = BTreeSet::new();
    if let Value::Array(mods) = reply {
        for m in mods {
            let pairs: Vec<(Value, Value)> = match m {
                Value::Array(items) => items
                    .chunks(2)
                    .filter_map(|c| match c {
                        [k, v] => Some((k.clone(), v.clone())),
                        _ => None,
                    })
                    .collect(),
                Value::Map(p) => p,
                _ => continue,
            };
            for (k, v) in pairs {
                if text(&k).as_deref() == Some("name") {
                    if let Some(n) = text(&v) {
                        out.insert(n);
                    }
                }
            }
        }
    }
    Ok(out)
}

fn bytes(n: i64) -> String {
    crate::units::signed_bytes(n)
}

fn rdb_checks(
    src: Option<(u16, String)>,
    snapshot: Option<&SnapshotFacts>,
    caps: &TargetCaps,
    out: &mut Vec<Check>,
) {
    let tv = u32::from(caps.rdb_version);
    let mut inputs: Vec<(String, u32)> = Vec::new();
    if let Some((v, how)) = &src {
        inputs.push((format!("source RDB {v} ({how})"), u32::from(*v)));
    }
    for f in snapshot.map(|s| s.files.as_slice()).unwrap_or_default() {
        inputs.push((format!("{} RDB {}", f.name, f.rdb_version), f.rdb_version));
    }
    if inputs.is_empty() {
        out.push(check(
            "rdb-version",
            Status::Warn,
            format!(
                "the source's RDB version is unknown; target reads RDB ≤ {tv} ({})",
                caps.rdb_version_source
            ),
        ));
    } else {
        let newer: Vec<&(String, u32)> = inputs.iter().filter(|(_, v)| *v > tv).collect();
        let list = inputs
            .iter()
            .map(|(d, _)| d.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        out.push(if newer.is_empty() {
            check(
                "rdb-version",
                Status::Pass,
                format!("{list}; target reads RDB ≤ {tv}: payloads restore as they are"),
            )
        } else {
            let max = newer.iter().map(|(_, v)| *v).max().unwrap_or(0);
            check(
                "rdb-version",
                Status::Warn,
                format!(
                    "{list}; target reads RDB ≤ {tv}: the RDB {max} → {tv} step needs re-encoding \
                     (the target rejects newer DUMP payloads)"
                ),
            )
        });
    }
    let Some(s) = snapshot else { return };
    let mut lost = Vec::new();
    let ttl = s.field_ttl_keys();
    if ttl > 0 && tv < 12 {
        lost.push(format!(
            "{ttl} hash(es) with field TTLs (the target has no HEXPIRE: needs Redis 7.4+, RDB 12)"
        ));
    }
    let streams = s.stream_keys();
    if streams > 0 && tv < 9 {
        lost.push(format!(
            "{streams} stream(s) (the target predates streams: needs Redis 5.0+)"
        ));
    }
    let modules = s.module_keys();
    out.push(if !lost.is_empty() {
        check(
            "snapshot-types",
            Status::Fail,
            format!("data would be lost without a policy: {}", lost.join("; ")),
        )
    } else if modules > 0 {
        check(
            "snapshot-types",
            Status::Warn,
            format!("{modules} module-typed key(s): the target needs the same modules (see modules)"),
        )
    } else {
        check(
            "snapshot-types",
            Status::Pass,
            format!(
                "every type in the snapshot exists on the target ({ttl} field-TTL hashes, {streams} streams, no module types)"
            ),
        )
    });
}

/// Runs every check of `source` → `target` (the source checks only when a source is
/// given), with the snapshots' facts when the migration goes through files.
pub fn preflight(
    source: Option<&Target>,
    target: &Target,
    snapshot: Option<&SnapshotReader<'_>>,
    options: &PreflightOptions,
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut src = match source {
        Some(s) => open("source", s, options.source_tls, &mut out),
        None => {
            out.push(check(
                "source",
                Status::Skip,
                "no --source given: the source checks (connect, auth, versions, modules, \
                 replication, bgsave, aof) were not run",
            ));
            None
        }
    };
    let mut tgt = open("target", target, options.target_tls, &mut out);

    let facts = snapshot.and_then(|read| {
        let memory = tgt.as_ref().map(|t| TargetMemory::from_info(&t.info));
        match read(memory.as_ref()) {
            Ok(f) => {
                let keys: u64 = f.keyspace.values().sum();
                out.push(check(
                    "snapshot",
                    Status::Pass,
                    format!(
                        "{} file(s) read, {keys} key(s); memory estimate {} ({})",
                        f.files.len(),
                        bytes(f.memory_estimate as i64),
                        f.memory_model
                    ),
                ));
                Some(f)
            }
            Err(e) => {
                out.push(check(
                    "snapshot",
                    Status::Fail,
                    format!("{e} (the snapshot checks were not run)"),
                ));
                None
            }
        }
    });
    let snapshot = facts.as_ref();

    if let (Some(s), Some(t)) = (&src, &tgt) {
        let older = match (s.info.version(), t.info.version()) {
            (Some(a), Some(b)) => {
                s.info.family() == t.info.family() && parse_version(b) < parse_version(a)
            }
            _ => false,
        };
        out.push(check(
            "versions",
            if older { Status::Warn } else { Status::Pass },
            format!(
                "source {}, target {}{}",
                s.describe(),
                t.describe(),
                if older {
                    ": the target is older (newer commands and encodings are unavailable)"
                } else {
                    ""
                }
            ),
        ));
    }

    let caps = match &mut tgt {
        Some(t) => match t.target.probe(&mut t.conn) {
            Ok(c) => Some(c),
            Err(e) => {
                out.push(check("rdb-version", Status::Warn, e.to_string()));
                None
            }
        },
        None => None,
    };
    if let Some(caps) = &caps {
        let sv = src.as_mut().and_then(source_rdb_version);
        rdb_checks(sv, snapshot, caps, &mut out);
    }

    if let Some(t) = &mut tgt {
        out.push(restore_probe(t));
        let keys: u64 = t.keyspace().values().sum();
        out.push(if keys == 0 {
            check("target.empty", Status::Pass, "the target has no keys")
        } else {
            check(
                "target.empty",
                Status::Warn,
                format!(
                    "the target already has {keys} key(s) in db(s) {}: conflicts need --on-conflict skip|replace",
                    t.keyspace().keys().map(u64::to_string).collect::<Vec<_>>().join(",")
                ),
            )
        });

        // Capacity.
        let need = match (snapshot, &src) {
            (Some(s), _) => Some((
                s.memory_estimate as i64,
                "the snapshots' memory estimate".to_string(),
            )),
            (None, Some(s)) => s
                .sum("used_memory")
                .map(|u| (u, "the source's used_memory".to_string())),
            _ => None,
        };
        let maxmemory = t.sum("maxmemory");
        let used = t.sum("used_memory").unwrap_or(0);
        out.push(match (need, maxmemory) {
            (None, _) => check(
                "capacity",
                Status::Warn,
                "nothing to size against: give the snapshots with --snapshot (or a --source)",
            ),
            (_, None) => check(
                "capacity",
                Status::Warn,
                "the target's maxmemory is not in INFO",
            ),
            (Some((need, what)), Some(0)) => {
                let ram = t.sum("total_system_memory");
                match ram {
                    Some(ram) if ram >= need + used => check(
                        "capacity",
                        Status::Pass,
                        format!(
                            "no maxmemory limit; {what} {} fits host RAM {}",
                            bytes(need),
                            bytes(ram)
                        ),
                    ),
                    _ => check(
                        "capacity",
                        Status::Warn,
                        format!(
                            "no maxmemory limit; {what} {} vs host RAM {}",
                            bytes(need),
                            ram.map_or("unknown".into(), bytes)
                        ),
                    ),
                }
            }
            (Some((need, what)), Some(max)) => {
                let free = max - used;
                let detail = format!(
                    "{what} {} vs target maxmemory {} ({} used, {} free)",
                    bytes(need),
                    bytes(max),
                    bytes(used),
                    bytes(free)
                );
                let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
                match fit(unsigned(need), unsigned(free)) {
                    Fit::Fits => check("capacity", Status::Pass, detail),
                    Fit::Tight => check(
                        "capacity",
                        Status::Warn,
                        format!("{detail}: less than 20% headroom"),
                    ),
                    _ => check("capacity", Status::Fail, format!("{detail}: does not fit")),
                }
            }
        });

        // Eviction policy.
        let policy = t
            .info
            .get("maxmemory_policy")
            .unwrap_or("unknown")
            .to_string();
        out.push(if policy == "noeviction" {
            check("eviction-policy", Status::Pass, "noeviction: nothing is evicted during the import")
        } else if maxmemory == Some(0) {
            check(
                "eviction-policy",
                Status::Pass,
                format!("{policy}, but maxmemory is 0: nothing is evicted"),
            )
        } else {
            check(
                "eviction-policy",
                Status::Warn,
                format!("{policy}: keys can be evicted silently during the import; use noeviction while loading"),
            )
        });

        // Cluster mode and databases.
        let dbs: Vec<u64> = match (snapshot, &src) {
            (Some(s), _) => s
                .keyspace
                .iter()
                .filter(|(_, k)| **k > 0)
                .map(|(d, _)| *d)
                .collect(),
            (None, Some(s)) => s
                .keyspace()
                .into_iter()
                .filter(|(_, k)| *k > 0)
                .map(|(d, _)| d)
                .collect(),
            _ => Vec::new(),
        };
        let high: Vec<String> = dbs.iter().filter(|d| **d > 0).map(u64::to_string).collect();
        let src_mode = match &src {
            Some(s) if s.info.cluster_enabled() => "cluster",
            Some(_) => "standalone",
            None => "unknown",
        };
        let tgt_mode = if t.info.cluster_enabled() {
            "cluster"
        } else {
            "standalone"
        };
        let used_dbs = dbs.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let databases = redis::cmd("CONFIG")
            .arg("GET")
            .arg("databases")
            .query::<Vec<String>>(t.conn.link())
            .ok()
            .and_then(|p| p.get(1).and_then(|v| v.parse::<u64>().ok()));
        let mode = format!(
            "source {src_mode}, target {tgt_mode}; databases with keys: {}",
            if used_dbs.is_empty() {
                "none".into()
            } else {
                used_dbs
            }
        );
        out.push(match caps.as_ref().and_then(|c| c.single_db.clone()) {
            Some(why) if !high.is_empty() => check(
                "cluster-dbs",
                Status::Fail,
                format!(
                    "{mode}; the target has only db 0 ({why}): map db(s) {} with --db-map",
                    high.join(",")
                ),
            ),
            _ => match (databases, dbs.iter().max()) {
                (Some(n), Some(&max)) if max >= n => check(
                    "cluster-dbs",
                    Status::Fail,
                    format!("{mode}; the target has {n} databases (db {max} does not exist)"),
                ),
                _ => check("cluster-dbs", Status::Pass, mode),
            },
        });
    }

    // Modules.
    if let (Some(s), Some(t)) = (&mut src, &mut tgt) {
        out.push(match (modules(s), modules(t)) {
            (Ok(a), Ok(b)) => {
                let missing: Vec<&String> = a.difference(&b).collect();
                let list = |m: &BTreeSet<String>| {
                    if m.is_empty() {
                        "none".to_string()
                    } else {
                        m.iter().cloned().collect::<Vec<_>>().join(",")
                    }
                };
                if missing.is_empty() {
                    check(
                        "modules",
                        Status::Pass,
                        format!("source modules: {}; target modules: {}", list(&a), list(&b)),
                    )
                } else {
                    check(
                        "modules",
                        Status::Fail,
                        format!(
                            "source modules missing on the target: {}",
                            missing
                                .iter()
                                .map(|m| m.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        ),
                    )
                }
            }
            (Err(e), _) => check(
                "modules",
                Status::Warn,
                format!("MODULE LIST refused by the source: {e}"),
            ),
            (_, Err(e)) => check(
                "modules",
                Status::Warn,
                format!("MODULE LIST refused by the target: {e}"),
            ),
        });
    }

    if let Some(s) = &src {
        out.push(replication_check(s, options));
    }
    for side in [&src, &tgt].into_iter().flatten() {
        out.push(bgsave_check(side));
        out.push(aof_check(side));
    }
    out
}

/// Replication health of the source: every replica online, within the offset gap and
/// lag limits (a replica URL: its link to the primary).
fn replication_check(s: &Side, o: &PreflightOptions) -> Check {
    let id = "source.replication";
    let mut notes = Vec::new();
    let mut worst = Status::Pass;
    for (node, info) in &s.nodes {
        match info.role() {
            Some("slave") => {
                let link = info.get("master_link_status").unwrap_or("unknown");
                let io = info.int("master_last_io_seconds_ago");
                if link != "up" {
                    worst = worst.max(Status::Fail);
                }
                notes.push(format!(
                    "{} is a replica, link {link}, last I/O {}s ago",
                    node.address(),
                    io.map_or("?".into(), |v| v.to_string())
                ));
            }
            _ => {
                let primary = info.int("master_repl_offset").unwrap_or(0);
                let replicas = info.replicas();
                if replicas.is_empty() {
                    notes.push(format!("{}: no replicas", node.address()));
                }
                for r in replicas {
                    let gap = primary - r.offset;
                    let lag = r.lag.unwrap_or(0);
                    let status = if r.state != "online" {
                        Status::Fail
                    } else if gap.unsigned_abs() > o.max_replica_gap || lag > o.max_replica_lag {
                        Status::Warn
                    } else {
                        Status::Pass
                    };
                    worst = worst.max(status);
                    notes.push(format!(
                        "replica {} {} offset {} ({} behind), lag {lag}s",
                        r.address,
                        r.state,
                        r.offset,
                        bytes(gap)
                    ));
                }
            }
        }
    }
    check(id, worst, notes.join("; "))
}

fn bgsave_check(s: &Side) -> Check {
    let id = format!("{}.bgsave", s.name);
    let mut failed = Vec::new();
    let mut notes = Vec::new();
    for (node, info) in &s.nodes {
        let status = info.get("rdb_last_bgsave_status").unwrap_or("unknown");
        let secs = info.int("rdb_last_bgsave_time_sec");
        if status != "ok" {
            failed.push(node.address().to_string());
        }
        notes.push(format!(
            "{}: last bgsave {status}{}",
            node.address(),
            match secs {
                Some(-1) | None => ", none since start".to_string(),
                Some(t) => format!(", took {t}s"),
            }
        ));
    }
    let status = if failed.is_empty() {
        Status::Pass
    } else if s.name == "source" {
        Status::Fail
    } else {
        Status::Warn
    };
    check(&id, status, notes.join("; "))
}

fn aof_check(s: &Side) -> Check {
    let id = format!("{}.aof", s.name);
    let mut notes = Vec::new();
    let mut status = Status::Pass;
    for (node, info) in &s.nodes {
        if info.get("aof_enabled") == Some("1") {
            let write = info.get("aof_last_write_status").unwrap_or("unknown");
            let rewrite = info.get("aof_last_bgrewrite_status").unwrap_or("unknown");
            if write != "ok" || rewrite != "ok" {
                status = Status::Warn;
            }
            notes.push(format!(
                "{}: AOF on, {} (last write {write}, last rewrite {rewrite})",
                node.address(),
                info.int("aof_current_size")
                    .map_or("size unknown".into(), bytes)
            ));
        } else {
            notes.push(format!("{}: AOF off", node.address()));
        }
    }
    if s.name == "target" && notes.iter().any(|n| n.contains("AOF on")) {
        notes.push("the import is appended to the AOF too (expect a rewrite)".into());
    }
    check(&id, status, notes.join("; "))
}

/// `rdbkit preflight --format json` (feature `serde`): `{"verdict": "ready"|"not_ready",
/// "ready", "failures", "next", "snapshot": {"files", "keys", "memory_estimate",
/// "memory_model"} or null, "checks": [...]}`, the checks as [`Check`] serializes them.
#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
pub struct PreflightDocument<'a> {
    verdict: &'static str,
    ready: bool,
    failures: usize,
    next: &'a str,
    snapshot: Option<&'a SnapshotSummary>,
    checks: &'a [Check],
}

#[cfg(feature = "serde")]
impl<'a> PreflightDocument<'a> {
    /// The document of `checks`; `next` says what to do now (the command to run, or
    /// what to fix), `snapshot` what was read of the snapshots.
    pub fn new(
        checks: &'a [Check],
        next: &'a str,
        snapshot: Option<&'a SnapshotSummary>,
    ) -> PreflightDocument<'a> {
        let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
        PreflightDocument {
            verdict: if failures == 0 { "ready" } else { "not_ready" },
            ready: failures == 0,
            failures,
            next,
            snapshot,
            checks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_type_classes() {
        let mut s = SnapshotFacts::default();
        s.rdb_types.insert("HASH_LISTPACK_EX".into(), 2);
        s.rdb_types.insert("HASH_2".into(), 1);
        s.rdb_types.insert("STREAM_LISTPACKS_3".into(), 4);
        s.rdb_types.insert("MODULE_2".into(), 5);
        s.rdb_types.insert("HASH_LISTPACK".into(), 7);
        assert_eq!(s.field_ttl_keys(), 3);
        assert_eq!(s.stream_keys(), 4);
        assert_eq!(s.module_keys(), 5);
    }

    #[test]
    fn rdb_step_and_loss() {
        let caps = TargetCaps {
            version: Some("6.2.14".into()),
            family: Family::Redis,
            rdb_version: 9,
            rdb_version_source: "DUMP probe",
            cluster: false,
            single_db: None,
            replica_of: None,
            keyspace: Default::default(),
            max_bulk_len: None,
        };
        let mut out = Vec::new();
        rdb_checks(Some((10, "x".into())), None, &caps, &mut out);
        assert_eq!(out.first().map(|c| c.status), Some(Status::Warn));
        let mut s = SnapshotFacts::default();
        s.rdb_types.insert("HASH_METADATA".into(), 1);
        let mut out = Vec::new();
        rdb_checks(None, Some(&s), &caps, &mut out);
        assert!(out
            .iter()
            .any(|c| c.id == "snapshot-types" && c.status == Status::Fail));
        assert_eq!(
            footer_version(&[0xAA, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8]),
            Some(9)
        );
        assert!(is_loopback("127.0.0.1:6379") && !is_loopback("cache.example.net:6380"));
    }

    #[cfg(feature = "serde")]
    #[test]
    fn preflight_document_shape() -> Result<(), serde_json::Error> {
        let checks = [
            check("target.connect", Status::Pass, "ok"),
            check("rdb-version", Status::Fail, "too new"),
        ];
        let mut facts = SnapshotFacts::default();
        facts.keyspace.insert(0, 3);
        let summary = facts.summary();
        let doc = PreflightDocument::new(&checks, "not ready: fix it", Some(&summary));
        let text = serde_json::to_string(&doc)?;
        assert!(
            text.starts_with(r#"{"verdict":"not_ready","ready":false,"failures":1,"next":"#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text)?;
        assert_eq!(
            v["snapshot"],
            serde_json::json!({"files": 0, "keys": 3, "memory_estimate": 0, "memory_model": ""})
        );
        assert_eq!(
            v["checks"][1],
            serde_json::json!({"id": "rdb-version", "status": "fail", "detail": "too new"})
        );
        let none = serde_json::to_value(PreflightDocument::new(&checks[..1], "go", None))?;
        assert_eq!(none["verdict"], "ready");
        assert_eq!(none["snapshot"], serde_json::Value::Null);
        Ok(())
    }
}
