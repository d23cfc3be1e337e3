//! The metrics crosswalk: one reviewed table, one row per concept, naming the same
//! measurement in Redis `INFO`, the seed/OpenTelemetry `redisreceiver` names,
//! ElastiCache CloudWatch, Azure Cache for Redis (portal name → REST metric id),
//! Azure Managed Redis, Datadog `redisdb` and Prometheus `redis_exporter`, with a note
//! where the platforms measure it differently.
//!
//! Every cell comes from the project's platform research (`shared/docs/platforms.md`
//! §1.1 and notes N0–N13); the `[Sx]` ids are that document's sources and are kept in
//! the cells they support. Where a platform has no such metric the cell says so
//! explicitly ("none (…)"), never blank; names the research could not confirm carry
//! "(verify)".
//!
//! Main source ids (all are listed in platforms.md): S2/S2b/S2d/S3/S5 AWS ElastiCache metric pages; S17/S18 Azure Cache for
//! Redis monitoring and supported-metrics pages; S19/S44 Azure Managed Redis
//! (`Microsoft.Cache/redisEnterprise`) metrics; S24 AMR server-load guidance; S26a Redis
//! Enterprise command compatibility; S27 Redis `INFO` reference; S45/S45b Datadog
//! `redisdb` metadata and check; S46 `oliver006/redis_exporter`; S47 OpenTelemetry
//! `redisreceiver`.

/// One concept across every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Row {
    /// Short stable id (`key-count`, `used-memory`, …).
    pub id: &'static str,
    /// What is measured.
    pub concept: &'static str,
    /// Redis `INFO` field(s).
    pub info: &'static str,
    /// The seed document's / OpenTelemetry `redisreceiver` name(s); the names
    /// `rdbkit info` reports.
    pub otel: &'static str,
    /// ElastiCache CloudWatch (`AWS/ElastiCache`; H = host-level, E = engine-level).
    pub cloudwatch: &'static str,
    /// Azure Cache for Redis: portal name → REST metric id.
    pub azure_cache: &'static str,
    /// Azure Managed Redis (`Microsoft.Cache/redisEnterprise`) metric id.
    pub azure_managed: &'static str,
    /// Datadog `redisdb` metric(s).
    pub datadog: &'static str,
    /// Prometheus `oliver006/redis_exporter` metric(s) (namespace `redis_`).
    pub prometheus: &'static str,
    /// How the platforms differ ("works differently"), or `"-"` when they agree.
    pub differs: &'static str,
}

impl Row {
    /// The cells in [`COLUMNS`] order.
    pub fn cells(&self) -> [&'static str; 10] {
        [
            self.id,
            self.concept,
            self.info,
            self.otel,
            self.cloudwatch,
            self.azure_cache,
            self.azure_managed,
            self.datadog,
            self.prometheus,
            self.differs,
        ]
    }
}

/// Column keys (JSON/CSV) in [`Row::cells`] order.
pub const COLUMNS: [&str; 10] = [
    "id",
    "concept",
    "info",
    "otel",
    "cloudwatch",
    "azure_cache",
    "azure_managed",
    "datadog",
    "prometheus",
    "differs",
];

/// Column titles for people, in [`Row::cells`] order.
pub const TITLES: [&str; 10] = [
    "Id",
    "Concept",
    "Redis INFO",
    "Seed / OpenTelemetry",
    "ElastiCache CloudWatch",
    "Azure Cache for Redis (portal → id)",
    "Azure Managed Redis",
    "Datadog",
    "Prometheus redis_exporter",
    "Works differently",
];

/// The ids of the rows that must be complete for every platform column.
pub const REQUIRED: [&str; 10] = [
    "key-count",
    "used-memory",
    "cpu",
    "evictions",
    "hits-misses",
    "connections",
    "network",
    "replication",
    "aof",
    "rdb-save",
];

/// The crosswalk.
pub const ROWS: &[Row] = &[
    Row {
        id: "key-count",
        concept: "Key count",
        info: "# Keyspace dbN:keys=…,expires=…,avg_ttl=… [S27]",
        otel: "redis.db.keys, redis.db.expires, redis.db.avg_ttl (attr db) [S47]",
        cloudwatch: "E: CurrItems (sum of all DBs on the node); DB0AverageTTL (ms) [S2]",
        azure_cache: "Total Keys → totalkeys (per shard totalkeys0…9, instance alltotalkeys), aggregation Maximum [S17][S18]",
        azure_managed: "no key-count metric in the retrieved metric lists (verify) [S19]",
        datadog: "redis.keys, redis.expires, redis.persist (tag redis_db) [S45]",
        prometheus: "redis_db_keys{db}, redis_db_keys_expiring{db}, redis_db_avg_ttl_seconds [S46]",
        differs: "N1: CloudWatch CurrItems is per node (sum of its DBs); Azure Total Keys on a clustered cache is the key count of the largest shard, not the total [S17]; sum INFO keyspace over primaries yourself (replicas duplicate keys). Granularity: CloudWatch 60 s per node [S3], Azure Cache ~2 samples/min PT1M [S17], AMR PT5M minimum [S19]",
    },
    Row {
        id: "used-memory",
        concept: "Used memory",
        info: "used_memory (also used_memory_dataset, used_memory_rss, used_memory_peak) [S27]",
        otel: "redis.memory.used [S47]; redis.memory.peak (seed name for used_memory_peak)",
        cloudwatch: "E: BytesUsedForCache; H: FreeableMemory (host free RAM) [S2][S2d]",
        azure_cache: "Used Memory → usedmemory (docs say MB, REST unit Bytes), allusedmemory [S17][S18]",
        azure_managed: "usedmemory (verify name) [S19]",
        datadog: "redis.mem.used [S45]",
        prometheus: "redis_memory_used_bytes [S46]",
        differs: "N2: Azure Used Memory is used_memory without fragmentation/metadata; on Enterprise tiers it includes primary and replica (can look twice as large) [S17]; AMR is the same resource type (likely the same, verify)",
    },
    Row {
        id: "memory-limit",
        concept: "Memory %, maxmemory and policy",
        info: "maxmemory, maxmemory_policy, mem_not_counted_for_evict [S27]",
        otel: "redis.maxmemory (optional, off by default) [S47]; policy: redis.maxmemory.policy (rdbkit name, no OTel metric)",
        cloudwatch: "E: DatabaseMemoryUsagePercentage (= used_memory/maxmemory), DatabaseMemoryUsageCountedForEvictPercentage [S2b][S2c]",
        azure_cache: "Used Memory Percentage → usedmemorypercentage [S18]",
        azure_managed: "usedmemorypercentage (verify name) [S19]",
        datadog: "redis.mem.maxmemory (compute the %) [S45]",
        prometheus: "redis_memory_max_bytes (+ redis_memory_max_reservation_bytes from Azure's INFO maxmemory_reservation, inferred) [S46]",
        differs: "N3: percentages use different formulas (Azure subtracts the replication backlog and reserved memory [S23]); reserved memory differs (ElastiCache reserved-memory-percent 25 [S9], AMR ~20% [S15]): compare bytes, not %",
    },
    Row {
        id: "evictions",
        concept: "Evictions",
        info: "evicted_keys [S27]",
        otel: "redis.keys.evicted [S47]",
        cloudwatch: "E: Evictions [S2]",
        azure_cache: "Evicted Keys → evictedkeys (Sum) [S18]",
        azure_managed: "evictedkeys [S19]",
        datadog: "redis.keys.evicted [S45]",
        prometheus: "redis_evicted_keys_total [S46]",
        differs: "N4: INFO and Prometheus are cumulative counters; CloudWatch and Azure are per-interval counts (Azure Total/Sum per minute) [S18]; Datadog reports the cumulative value as a gauge [S45]",
    },
    Row {
        id: "expirations",
        concept: "Expirations",
        info: "expired_keys [S27]",
        otel: "redis.keys.expired [S47]",
        cloudwatch: "E: Reclaimed (key expiration events) [S2]",
        azure_cache: "Expired Keys → expiredkeys (Sum) [S18]",
        azure_managed: "expiredkeys [S19]",
        datadog: "redis.keys.expired [S45]",
        prometheus: "redis_expired_keys_total [S46]",
        differs: "N4: cumulative (INFO, Prometheus, Datadog gauge) vs per-interval (CloudWatch, Azure) [S18][S45]",
    },
    Row {
        id: "hits-misses",
        concept: "Keyspace hits / misses",
        info: "keyspace_hits, keyspace_misses [S27]",
        otel: "redis.keyspace.hits, redis.keyspace.misses [S47]",
        cloudwatch: "E: CacheHits, CacheMisses, CacheHitRate (= hits/(hits+misses)) [S2][S5]",
        azure_cache: "Cache Hits → cachehits; Cache Misses → cachemisses; Cache Miss Rate → cachemissrate (not on Enterprise) [S17][S18]",
        azure_managed: "cachehits, cachemisses [S19]",
        datadog: "redis.stats.keyspace_hits, redis.stats.keyspace_misses (submitted as rates) [S45][S45b]",
        prometheus: "redis_keyspace_hits_total, redis_keyspace_misses_total [S46]",
        differs: "N4: counters vs per-interval counts vs Datadog rates; Azure has a miss rate, CloudWatch a hit rate [S17][S2]",
    },
    Row {
        id: "connections",
        concept: "Connections",
        info: "connected_clients, total_connections_received, rejected_connections, maxclients [S27]",
        otel: "redis.clients.connected, redis.connections.received, redis.connections.rejected [S47]",
        cloudwatch: "E: CurrConnections, NewConnections [S2]",
        azure_cache: "Connected Clients → connectedclients (Max); Connections Created/Closed Per Second → allConnectionsCreatedPerSecond / allConnectionsClosedPerSecond; ConnectedClientsUsingAADToken [S17][S18]",
        azure_managed: "connectedclients [S19]",
        datadog: "redis.net.clients, redis.net.rejected, redis.net.maxclients [S45]",
        prometheus: "redis_connected_clients, redis_connections_received_total, redis_rejected_connections_total, redis_max_clients [S46]",
        differs: "N5: ElastiCache uses 2–3 connections for its own monitoring [S2]; Azure counts internal connections even when idle and recommends Average, not Sum [S17]; AMR clients connect to a proxy, so counts are proxy-side (verify) [S15]",
    },
    Row {
        id: "cpu",
        concept: "CPU / engine CPU / server load",
        info: "used_cpu_sys, used_cpu_user, used_cpu_*_main_thread (cumulative seconds) [S27]",
        otel: "redis.cpu.time{state} [S47]",
        cloudwatch: "H: CPUUtilization; E: EngineCPUUtilization (engine thread, not from INFO) [S2][S3b]",
        azure_cache: "CPU → percentProcessorTime; Server Load → serverLoad [S17][S18]",
        azure_managed: "percentProcessorTime, serverLoad (verify names) [S19][S24]",
        datadog: "redis.cpu.sys, redis.cpu.user (+ children) [S45]",
        prometheus: "redis_cpu_sys_seconds_total, redis_cpu_user_seconds_total, redis_cpu_*_main_thread_seconds_total [S46]",
        differs: "N6: Azure Server Load is not CPU: it is the % of cycles Redis is busy (Enterprise tiers can show > 100) [S17]; Azure CPU is whole-VM % Processor Time; no Azure equivalent of EngineCPUUtilization; AMR runs several shards per VM behind a proxy, watch Server Load < 80% [S24][S15]; INFO and Prometheus give cumulative CPU seconds",
    },
    Row {
        id: "network",
        concept: "Network in / out",
        info: "total_net_input_bytes, total_net_output_bytes, instantaneous_input_kbps / instantaneous_output_kbps [S27]",
        otel: "redis.net.input, redis.net.output [S47]",
        cloudwatch: "H: NetworkBytesIn, NetworkBytesOut (+ packet and allowance-exceeded metrics) [S2d]",
        azure_cache: "Cache Write → cacheWrite (≈ ingress); Cache Read → cacheRead (≈ egress); BytesPerSecond, Max [S17][S18]",
        azure_managed: "cacheWrite, cacheRead (BytesPerSecond, Max, dimension InstanceId) [S19]",
        datadog: "none in redisdb metadata.csv [S45] (an older check mapped Azure-only INFO bytes_received_per_sec / bytes_sent_per_sec [S45b])",
        prometheus: "redis_net_input_bytes_total, redis_net_output_bytes_total [S46]",
        differs: "N7: CloudWatch and Azure measure the host NIC (not Redis-specific), per period or bytes/s (Max); INFO counts Redis-level bytes cumulatively. NetworkBytesOut ↔ cacheRead, NetworkBytesIn ↔ cacheWrite; convert units [S17][S2d]",
    },
    Row {
        id: "replication",
        concept: "Replication offset / lag",
        info: "master_repl_offset, slave_repl_offset, slaveN:…,offset=,lag=, master_link_status, master_last_io_seconds_ago [S27]",
        otel: "redis.replication.offset, redis.replication.backlog_first_byte_offset, redis.slaves.connected [S47]",
        cloudwatch: "E: ReplicationLag (seconds, replica nodes only, not from INFO), ReplicationBytes [S2]",
        azure_cache: "none (Azure exposes no in-cache replica metric [S17]); Premium geo-replication only: GeoReplicationConnectivityLag (s), GeoReplicationDataSyncOffset (bytes), GeoReplicationHealthy [S18]",
        azure_managed: "none for in-cache replicas; geo-replication health only (verify name) [S19]; ROLE/PSYNC/REPLCONF unsupported and INFO fields differ [S26a]",
        datadog: "redis.replication.master_repl_offset, redis.replication.slave_repl_offset, redis.replication.delay (bytes), redis.replication.last_io_seconds_ago [S45]",
        prometheus: "redis_master_repl_offset, redis_connected_slave_offset_bytes, redis_connected_slave_lag_seconds, redis_slave_repl_offset, redis_master_link_up [S46]",
        differs: "N8: CloudWatch lag is seconds; Datadog delay is an offset difference in bytes [S45b]; Azure has no in-cache replication metric, only geo-replication [S17]; on AMR INFO replication fields cannot be relied on [S26a]",
    },
    Row {
        id: "commands",
        concept: "Commands / ops",
        info: "total_commands_processed, instantaneous_ops_per_sec, # Commandstats [S27]",
        otel: "redis.commands.processed, redis.commands ({ops}/s), redis.cmd.calls (optional) [S47]",
        cloudwatch: "E: GetTypeCmds, SetTypeCmds, KeyBasedCmds, StringBasedCmds, HashBasedCmds, …; Serverless: TotalCmdsCount, ElastiCacheProcessingUnits [S2][S5]",
        azure_cache: "Total Operations → totalcommandsprocessed; Operations Per Second → operationsPerSecond (Max); Gets → getcommands; Sets → setcommands [S17][S18]",
        azure_managed: "operationsPerSecond, getcommands, setcommands (verify) [S19]",
        datadog: "redis.net.commands (rate), redis.net.commands.instantaneous_ops_per_sec, redis.command.calls (optional) [S45]",
        prometheus: "redis_commands_processed_total, redis_commands_total{cmd} (no instantaneous-ops gauge) [S46]",
        differs: "N9: Azure Gets/Sets are sums of specific cmdstats, CloudWatch uses AWS's own classification [S17][S2]; Azure Operations Per Second is the max of instantaneous_ops_per_sec samples [S18]",
    },
    Row {
        id: "latency",
        concept: "Latency",
        info: "# Commandstats usec_per_call; # Latencystats (7.0+) [S27]",
        otel: "redis.cmd.usec (optional) [S47]",
        cloudwatch: "E: SuccessfulReadRequestLatency, SuccessfulWriteRequestLatency (µs, not from INFO) [S5]",
        azure_cache: "99th percentile latency → LatencyP99 (PING-based, Standard/Premium); Cache Latency (preview) → cacheLatency (µs, internode) [S17][S18]",
        azure_managed: "cacheLatency (preview, µs, InstanceId) [S19]",
        datadog: "redis.info.latency_ms (agent-measured INFO round trip), redis.slowlog.micros.*, redis.command.usec_per_call [S45][S45b]",
        prometheus: "redis_commands_duration_seconds_total, redis_commands_latencies_usec, redis_latency_percentiles_usec [S46]",
        differs: "N10: four different things (server-side request latency, PING from the load balancer, internode latency, agent INFO round trip); measure client-side RTT yourself to compare before/after",
    },
    Row {
        id: "aof",
        concept: "AOF enabled / size",
        info: "aof_enabled, aof_current_size (only when AOF is on), aof_last_write_status, aof_last_bgrewrite_status [S27]",
        otel: "redis.persistence.aof-enabled, redis.persistence.aof-current-size (seed house names; redisreceiver has no AOF metric [S47])",
        cloudwatch: "none (no AOF metric in AWS/ElastiCache [S2]); BGREWRITEAOF is blocked [S1]",
        azure_cache: "none (only Errors → errors with ErrorType AOF [S18])",
        azure_managed: "none (persistence is set through ARM aofEnabled; persistence file not accessible [S12])",
        datadog: "redis.aof.size, redis.aof.rewrite, redis.aof.last_rewrite_time (no aof_enabled metric) [S45]",
        prometheus: "redis_aof_enabled, redis_aof_current_size_bytes, redis_aof_last_write_status, redis_aof_last_bgrewrite_status [S46]",
        differs: "N11: BGSAVE/SAVE/BGREWRITEAOF are blocked on all three platforms [S1][S10][S16]; INFO persistence reflects provider-run persistence",
    },
    Row {
        id: "rdb-save",
        concept: "Last RDB save status / duration",
        info: "rdb_last_bgsave_status (ok/err), rdb_last_bgsave_time_sec (duration), rdb_last_save_time (epoch), rdb_bgsave_in_progress, rdb_changes_since_last_save [S27]",
        otel: "redis.persistence.rdb-last-bgsave-status (1 ok, 0 err), redis.persistence.rdb-last-bgsave-time-sec (seed house names); redisreceiver has only redis.rdb.changes_since_last_save [S47]",
        cloudwatch: "E: SaveInProgress (1 while a background save runs); no save-status metric [S2]",
        azure_cache: "none (only Errors → errors with ErrorType RDB [S18])",
        azure_managed: "none (LASTSAVE blocked [S26a]; persistence file not accessible [S12])",
        datadog: "redis.rdb.last_bgsave_time (duration), redis.rdb.bgsave, redis.rdb.changes_since_last [S45]",
        prometheus: "redis_rdb_last_bgsave_status (ok → 1), redis_rdb_last_save_timestamp_seconds, redis_rdb_last_bgsave_duration_sec, redis_rdb_bgsave_in_progress [S46]",
        differs: "N11: rdb_last_bgsave_time_sec is a duration, not a timestamp [S27]; snapshots are provider-run, BGSAVE is blocked [S1][S10][S16]",
    },
    Row {
        id: "fragmentation",
        concept: "Fragmentation",
        info: "mem_fragmentation_ratio, allocator_frag_ratio, used_memory_rss [S27]",
        otel: "redis.memory.fragmentation_ratio, redis.memory.rss [S47]",
        cloudwatch: "E: MemoryFragmentationRatio (verify) [S2]",
        azure_cache: "Used Memory RSS → usedmemoryRss (compute the ratio; not on Enterprise tiers) [S17]",
        azure_managed: "none in the retrieved metric lists [S19]",
        datadog: "redis.mem.fragmentation_ratio, redis.mem.rss [S45]",
        prometheus: "redis_mem_fragmentation_ratio, redis_allocator_frag_ratio, redis_memory_used_rss_bytes [S46]",
        differs: "N12: Azure has only RSS (not on Enterprise tiers); AMR has no fragmentation metric [S17]",
    },
    Row {
        id: "swap",
        concept: "Swap",
        info: "none (used_memory > used_memory_rss means swapped pages) [S27]",
        otel: "none [S47]",
        cloudwatch: "H: SwapUsage [S2d]",
        azure_cache: "none [S18]",
        azure_managed: "none [S19]",
        datadog: "host agent system.swap.*, not redisdb [S45]",
        prometheus: "none [S46]",
        differs: "N13: only ElastiCache exposes host swap [S2d]",
    },
    Row {
        id: "errors",
        concept: "Errors",
        info: "# Errorstats errorstat_* [S27]",
        otel: "none [S47]",
        cloudwatch: "AuthenticationFailures, CommandAuthorizationFailures [S2]",
        azure_cache: "Errors → errors (dimension ErrorType: Failover, Dataloss, UnresponsiveClients, AOF, RDB, Import, Export, MicrosoftEntraAuthenticationFailure, MicrosoftEntraTokenExpired) [S18]",
        azure_managed: "errors [S19]",
        datadog: "none [S45]",
        prometheus: "redis_errors_total{err} [S46]",
        differs: "Azure errors are platform events (failover, data loss, persistence), not Redis error replies [S18]",
    },
];

/// The row with this id.
pub fn row(id: &str) -> Option<&'static Row> {
    ROWS.iter().find(|r| r.id == id)
}

/// `rdbkit metrics --format json` (feature `serde`): `{"columns": {KEY: title}, "rows":
/// [{KEY: cell}]}`, keys in [`COLUMNS`] order.
#[cfg(feature = "serde")]
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CrosswalkDocument {
    #[serde(serialize_with = "column_titles")]
    columns: (),
    rows: &'static [Row],
}

#[cfg(feature = "serde")]
impl CrosswalkDocument {
    /// The whole crosswalk.
    pub fn new() -> CrosswalkDocument {
        CrosswalkDocument {
            columns: (),
            rows: ROWS,
        }
    }
}

#[cfg(feature = "serde")]
impl Default for CrosswalkDocument {
    fn default() -> CrosswalkDocument {
        CrosswalkDocument::new()
    }
}

/// [`COLUMNS`] to [`TITLES`] as one object.
#[cfg(feature = "serde")]
fn column_titles<S: serde::Serializer>(_: &(), serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_map(COLUMNS.iter().zip(TITLES))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_rows_are_complete() {
        for id in REQUIRED {
            let r = row(id);
            assert!(r.is_some(), "missing row {id}");
            if let Some(r) = r {
                for (c, cell) in COLUMNS.iter().zip(r.cells()) {
                    assert!(
                        !cell.trim().is_empty() && cell.trim() != "—",
                        "{id}.{c} empty"
                    );
                }
            }
        }
        let mut ids: Vec<_> = ROWS.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), ROWS.len(), "duplicate ids");
    }

    #[cfg(feature = "serde")]
    #[test]
    fn document_shape() -> Result<(), serde_json::Error> {
        let text = serde_json::to_string(&CrosswalkDocument::new())?;
        assert!(
            text.starts_with(r#"{"columns":{"id":"Id","concept":"Concept","#),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let rows = v["rows"].as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), ROWS.len());
        for (row, r) in rows.iter().zip(ROWS) {
            for (c, cell) in COLUMNS.iter().zip(r.cells()) {
                assert_eq!(row[*c], cell);
            }
            assert_eq!(row.as_object().map(|o| o.len()), Some(COLUMNS.len()));
        }
        Ok(())
    }
}
