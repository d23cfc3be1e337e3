//! `INFO` text → fields, keyspace, replicas, and the metrics `rdbkit info` reports
//! under the seed document's names (the OpenTelemetry `redisreceiver` names where
//! one exists, see [`crosswalk`](super::crosswalk)).

use std::collections::BTreeMap;

/// A parsed `INFO` reply: `field:value` lines (section headers and blank lines
/// dropped). Later duplicates replace earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(transparent))]
pub struct Info {
    fields: BTreeMap<String, String>,
}

/// One `dbN` line of `# Keyspace`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbKeys {
    /// `keys=`.
    pub keys: u64,
    /// `expires=`.
    pub expires: u64,
    /// `avg_ttl=` (ms).
    pub avg_ttl: u64,
}

/// One `slaveN:` line of a primary's `# Replication`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ReplicaLine {
    /// `ip:port` the replica announced.
    pub address: String,
    /// `state=` (`online`, `wait_bgsave`, `send_bulk`, …).
    pub state: String,
    /// `offset=`: the replication offset the replica acknowledged.
    pub offset: i64,
    /// `lag=`: seconds since its last acknowledgement (`lag_seconds` when
    /// serialized).
    #[cfg_attr(feature = "serde", serde(rename = "lag_seconds"))]
    pub lag: Option<i64>,
}

impl Info {
    /// Parses the text of an `INFO` reply.
    pub fn parse(text: &str) -> Info {
        let mut fields = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.insert(k.to_string(), v.to_string());
            }
        }
        Info { fields }
    }

    /// A field's raw value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// A field as an integer.
    pub fn int(&self, field: &str) -> Option<i64> {
        self.get(field).and_then(|v| v.trim().parse().ok())
    }

    /// A field as a non-negative integer.
    pub fn uint(&self, field: &str) -> Option<u64> {
        self.get(field).and_then(|v| v.trim().parse().ok())
    }

    /// A field as a float.
    pub fn float(&self, field: &str) -> Option<f64> {
        self.get(field).and_then(|v| v.trim().parse().ok())
    }

    /// Whether the reply had no fields at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `redis_version`, or `valkey_version` when the server is Valkey.
    pub fn version(&self) -> Option<&str> {
        self.get("valkey_version")
            .or_else(|| self.get("redis_version"))
    }

    /// `"valkey"` or `"redis"`.
    pub fn family(&self) -> &'static str {
        if self.get("valkey_version").is_some() || self.get("server_name") == Some("valkey") {
            "valkey"
        } else {
            "redis"
        }
    }

    /// `role:` (`master` or `slave`).
    pub fn role(&self) -> Option<&str> {
        self.get("role")
    }

    /// `cluster_enabled:1`.
    pub fn cluster_enabled(&self) -> bool {
        self.get("cluster_enabled") == Some("1")
    }

    /// The `dbN` lines of `# Keyspace`.
    pub fn keyspace(&self) -> BTreeMap<u64, DbKeys> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.fields {
            let Some(db) = k.strip_prefix("db").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let mut d = DbKeys::default();
            for (name, val) in v.split(',').filter_map(|p| p.split_once('=')) {
                let n = val.parse().unwrap_or(0);
                match name {
                    "keys" => d.keys = n,
                    "expires" => d.expires = n,
                    "avg_ttl" => d.avg_ttl = n,
                    _ => {}
                }
            }
            out.insert(db, d);
        }
        out
    }

    /// The `slaveN:` lines of a primary, in `N` order.
    pub fn replicas(&self) -> Vec<ReplicaLine> {
        let mut lines: Vec<(u64, ReplicaLine)> = Vec::new();
        for (k, v) in &self.fields {
            let Some(n) = k.strip_prefix("slave").and_then(|n| n.parse::<u64>().ok()) else {
                continue;
            };
            let mut parts = BTreeMap::new();
            for (name, val) in v.split(',').filter_map(|p| p.split_once('=')) {
                parts.insert(name, val);
            }
            let ip = parts.get("ip").copied().unwrap_or("?");
            let port = parts.get("port").copied().unwrap_or("?");
            lines.push((
                n,
                ReplicaLine {
                    address: format!("{ip}:{port}"),
                    state: parts.get("state").copied().unwrap_or("unknown").to_string(),
                    offset: parts
                        .get("offset")
                        .and_then(|o| o.parse().ok())
                        .unwrap_or(0),
                    lag: parts.get("lag").and_then(|l| l.parse().ok()),
                },
            ));
        }
        lines.sort_by_key(|(n, _)| *n);
        lines.into_iter().map(|(_, l)| l).collect()
    }
}

/// A metric value.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize), serde(untagged))]
pub enum MetricValue {
    /// An integer (counters, bytes, offsets, 0/1 flags).
    Int(i64),
    /// A ratio.
    Float(f64),
    /// Text (version, policy).
    Text(String),
}

/// How an `INFO` field becomes a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Float,
    Text,
    /// `ok` → 1, anything else → 0.
    OkFlag,
}

/// The scalar metrics: (name, INFO field, kind). Names are the seed document's
/// (OpenTelemetry `redisreceiver` names, plus the seed's `redis.persistence.*`
/// house names and `redis.maxmemory.policy` / `redis.version`, which OTel has no
/// metric for).
const SCALARS: &[(&str, &str, Kind)] = &[
    ("redis.version", "", Kind::Text),
    ("redis.role", "role", Kind::Text),
    ("redis.uptime", "uptime_in_seconds", Kind::Int),
    ("redis.memory.used", "used_memory", Kind::Int),
    ("redis.memory.peak", "used_memory_peak", Kind::Int),
    ("redis.memory.rss", "used_memory_rss", Kind::Int),
    (
        "redis.memory.fragmentation_ratio",
        "mem_fragmentation_ratio",
        Kind::Float,
    ),
    ("redis.maxmemory", "maxmemory", Kind::Int),
    ("redis.maxmemory.policy", "maxmemory_policy", Kind::Text),
    ("redis.clients.connected", "connected_clients", Kind::Int),
    (
        "redis.connections.received",
        "total_connections_received",
        Kind::Int,
    ),
    (
        "redis.connections.rejected",
        "rejected_connections",
        Kind::Int,
    ),
    ("redis.keyspace.hits", "keyspace_hits", Kind::Int),
    ("redis.keyspace.misses", "keyspace_misses", Kind::Int),
    ("redis.keys.evicted", "evicted_keys", Kind::Int),
    ("redis.keys.expired", "expired_keys", Kind::Int),
    ("redis.net.input", "total_net_input_bytes", Kind::Int),
    ("redis.net.output", "total_net_output_bytes", Kind::Int),
    (
        "redis.commands.processed",
        "total_commands_processed",
        Kind::Int,
    ),
    ("redis.persistence.aof-enabled", "aof_enabled", Kind::Int),
    (
        "redis.persistence.aof-current-size",
        "aof_current_size",
        Kind::Int,
    ),
    (
        "redis.persistence.rdb-last-bgsave-status",
        "rdb_last_bgsave_status",
        Kind::OkFlag,
    ),
    (
        "redis.persistence.rdb-last-bgsave-time-sec",
        "rdb_last_bgsave_time_sec",
        Kind::Int,
    ),
    ("redis.replication.offset", "master_repl_offset", Kind::Int),
    ("redis.slaves.connected", "connected_slaves", Kind::Int),
];

/// Something `rdbkit info` could not read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Unavailable {
    /// What (`INFO field used_memory_peak`, `CONFIG GET databases`, …).
    pub what: String,
    /// Why (the server's error, scrubbed of secrets, or "not in INFO").
    pub reason: String,
}

/// The metrics of one node.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NodeMetrics {
    /// `host:port`.
    pub address: String,
    /// Scalar metrics by name (`redis.version`, `redis.memory.used`, …), in a fixed
    /// order; a field missing from `INFO` is left out (see
    /// [`NodeMetrics::unavailable`]).
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::pairs_as_map"))]
    pub scalars: Vec<(&'static str, MetricValue)>,
    /// `redis.db.keys` / `redis.db.expires` / `redis.db.avg_ttl` per database.
    pub keyspace: BTreeMap<u64, DbKeys>,
    /// A primary's replicas with their acknowledged offsets.
    pub replicas: Vec<ReplicaLine>,
    /// A replica's `slave_repl_offset`.
    pub replica_offset: Option<i64>,
    /// A replica's `master_link_status` (`up`/`down`).
    pub master_link_status: Option<String>,
    /// `CONFIG GET` values that could be read (`databases`, `appendfsync`, …).
    pub config: BTreeMap<String, String>,
    /// What could not be read.
    pub unavailable: Vec<Unavailable>,
}

impl NodeMetrics {
    /// The metrics in `info`; fields missing from `INFO` are listed in
    /// [`NodeMetrics::unavailable`] (except `aof_current_size` with AOF off, and
    /// replica-only fields on a primary).
    pub fn from_info(address: &str, info: &Info) -> NodeMetrics {
        let mut scalars = Vec::new();
        let mut unavailable = Vec::new();
        for &(name, field, kind) in SCALARS {
            let value = if name == "redis.version" {
                info.version().map(|v| MetricValue::Text(v.to_string()))
            } else {
                match kind {
                    Kind::Int => info.int(field).map(MetricValue::Int),
                    Kind::Float => info.float(field).map(MetricValue::Float),
                    Kind::Text => info.get(field).map(|v| MetricValue::Text(v.to_string())),
                    Kind::OkFlag => info
                        .get(field)
                        .map(|v| MetricValue::Int(i64::from(v == "ok"))),
                }
            };
            match value {
                Some(v) => scalars.push((name, v)),
                None if field == "aof_current_size" && info.get("aof_enabled") == Some("0") => {}
                None => unavailable.push(Unavailable {
                    what: format!(
                        "{name} (INFO {})",
                        if field.is_empty() {
                            "redis_version"
                        } else {
                            field
                        }
                    ),
                    reason: "not in the server's INFO reply".into(),
                }),
            }
        }
        let is_replica = info.role() == Some("slave");
        NodeMetrics {
            address: address.to_string(),
            scalars,
            keyspace: info.keyspace(),
            replicas: info.replicas(),
            replica_offset: if is_replica {
                info.int("slave_repl_offset")
            } else {
                None
            },
            master_link_status: if is_replica {
                info.get("master_link_status").map(str::to_string)
            } else {
                None
            },
            config: BTreeMap::new(),
            unavailable,
        }
    }

    /// A scalar metric.
    pub fn get(&self, name: &str) -> Option<&MetricValue> {
        self.scalars
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// An integer metric.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(MetricValue::Int(i)) => Some(*i),
            _ => None,
        }
    }

    /// Whether this node is a primary (`role:master`).
    pub fn is_primary(&self) -> bool {
        !matches!(self.get("redis.role"), Some(MetricValue::Text(r)) if r == "slave")
    }

    /// Total keys over all databases.
    pub fn keys(&self) -> u64 {
        self.keyspace.values().map(|d| d.keys).sum()
    }

    /// Total keys with a TTL.
    pub fn expires(&self) -> u64 {
        self.keyspace.values().map(|d| d.expires).sum()
    }
}

/// The counters summed over a set of nodes.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Totals {
    /// Primaries summed (replicas duplicate the keyspace and are left out).
    pub primaries: usize,
    /// Keys per database, summed.
    pub keyspace: BTreeMap<u64, DbKeys>,
    /// Summed integer metrics by name (`redis.memory.used`, `redis.keyspace.hits`, …).
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::pairs_as_map"))]
    pub sums: Vec<(&'static str, i64)>,
}

/// Metrics summed for [`Totals`] (over primaries).
pub const SUMMED: [&str; 9] = [
    "redis.memory.used",
    "redis.maxmemory",
    "redis.clients.connected",
    "redis.keyspace.hits",
    "redis.keyspace.misses",
    "redis.keys.evicted",
    "redis.keys.expired",
    "redis.net.input",
    "redis.net.output",
];

/// Sums the primaries of `nodes` (a cluster's masters, or the primaries among the
/// URLs given): replicas hold the same keys, so they are not added (N0/N1 of the
/// platform notes).
pub fn totals(nodes: &[NodeMetrics]) -> Totals {
    let mut t = Totals::default();
    let primaries: Vec<&NodeMetrics> = nodes.iter().filter(|n| n.is_primary()).collect();
    t.primaries = primaries.len();
    for n in &primaries {
        for (db, d) in &n.keyspace {
            let e = t.keyspace.entry(*db).or_default();
            e.keys += d.keys;
            e.expires += d.expires;
            e.avg_ttl = e.avg_ttl.max(d.avg_ttl);
        }
    }
    for name in SUMMED {
        let values: Vec<i64> = primaries.iter().filter_map(|n| n.int(name)).collect();
        if !values.is_empty() {
            t.sums.push((name, values.iter().sum()));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:5\r\n\r\n# Memory\r\nused_memory:1000\r\nused_memory_peak:2000\r\nmem_fragmentation_ratio:1.50\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n# Persistence\r\naof_enabled:0\r\nrdb_last_bgsave_status:err\r\nrdb_last_bgsave_time_sec:-1\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=7001,state=online,offset=42,lag=1\r\nmaster_repl_offset:56\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=100\r\ndb2:keys=4,expires=0,avg_ttl=0\r\n";

    #[test]
    fn parses_info() {
        let info = Info::parse(SAMPLE);
        assert_eq!(info.version(), Some("7.0.15"));
        assert_eq!(info.keyspace().len(), 2);
        assert_eq!(info.keyspace().get(&2).map(|d| d.keys), Some(4));
        let r = info.replicas();
        assert_eq!(r.len(), 1);
        assert_eq!(
            r.first().map(|r| (r.address.as_str(), r.offset)),
            Some(("127.0.0.1:7001", 42))
        );
        let m = NodeMetrics::from_info("h:1", &info);
        assert_eq!(m.keys(), 7);
        assert_eq!(m.int("redis.persistence.rdb-last-bgsave-status"), Some(0));
        assert_eq!(m.int("redis.replication.offset"), Some(56));
        assert_eq!(
            m.get("redis.memory.fragmentation_ratio"),
            Some(&MetricValue::Float(1.5))
        );
        // aof_current_size is absent because AOF is off: not "unavailable".
        assert!(m.unavailable.iter().all(|u| !u.what.contains("aof")));
        assert!(m
            .unavailable
            .iter()
            .any(|u| u.what.contains("keyspace_hits")));
        let t = totals(&[m.clone(), m]);
        assert_eq!(t.primaries, 2);
        assert_eq!(t.keyspace.get(&0).map(|d| d.keys), Some(6));
    }
}
