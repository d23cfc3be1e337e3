//! The live side: reading running servers for a migration (issue 7).
//!
//! - [`info`]: `INFO` parsing and the metrics `rdbkit info` reports, in the seed
//!   document's names (OpenTelemetry `redisreceiver` names where one exists), per
//!   node and summed over primaries ([`info::totals`]).
//! - [`crosswalk`]: the one reviewed table naming each metric on every platform
//!   (INFO, OTel, ElastiCache CloudWatch, Azure Cache for Redis, Azure Managed Redis,
//!   Datadog, Prometheus `redis_exporter`), with its sources.
//! - [`preflight`]: pass / warn / fail checks of a source and a target before a
//!   migration.
//! - [`watch`]: periodic `INFO` samples of a primary and its replicas, flagging
//!   replication offsets that stall or diverge, AOF growth without rewrites and
//!   failed or slower background saves.
//!
//! Everything here reads with `INFO` first: `CONFIG` is blocked on ElastiCache and
//! Azure Cache for Redis and partial on Azure Managed Redis, so what needs it is
//! optional and reported as unavailable ([`info::Unavailable`]) when refused.
//! Connections are used only through `redis::cmd(..).query(&mut conn)`; server error
//! texts are scrubbed of the password ([`Target::scrub`]) before they are kept.

pub mod crosswalk;
pub mod info;
pub mod preflight;
pub mod watch;

use crate::cluster::SlotMap;
use crate::error::Result;
use crate::target::{Connection, Target};
use info::{Info, NodeMetrics, Unavailable};

/// `CONFIG GET` parameters `rdbkit info` tries (none of them holds a secret).
pub const CONFIG_PARAMS: [&str; 5] = [
    "databases",
    "appendonly",
    "appendfsync",
    "save",
    "notify-keyspace-events",
];

/// Reads the full default `INFO` of `conn`.
pub fn read_info(target: &Target, conn: &mut Connection) -> Result<Info> {
    let text: String = redis::cmd("INFO")
        .query(conn.link())
        .map_err(|e| target.error("INFO failed", &e))?;
    Ok(Info::parse(&text))
}

/// The nodes to read behind `target`: the masters of `CLUSTER SLOTS` when `info` says
/// cluster mode is on (and the command is allowed), else `target` itself.
pub fn nodes(target: &Target, conn: &mut Connection, info: &Info) -> Vec<Target> {
    if info.cluster_enabled() {
        let host = target
            .address()
            .rsplit_once(':')
            .map_or(target.address(), |(h, _)| h)
            .to_string();
        if let Ok(Some(map)) = SlotMap::fetch(conn, &host) {
            if !map.nodes.is_empty() {
                return map
                    .nodes
                    .iter()
                    .map(|(h, p)| target.for_node(h, *p))
                    .collect();
            }
        }
    }
    vec![target.clone()]
}

/// The metrics of one node: `INFO`, plus the [`CONFIG_PARAMS`] that `CONFIG GET`
/// returns (a refusal is recorded in [`NodeMetrics::unavailable`], not an error).
pub fn node_metrics(target: &Target, conn: &mut Connection) -> Result<NodeMetrics> {
    let info = read_info(target, conn)?;
    let mut m = NodeMetrics::from_info(target.address(), &info);
    let mut refused: Vec<(&str, String)> = Vec::new();
    for p in CONFIG_PARAMS {
        match redis::cmd("CONFIG")
            .arg("GET")
            .arg(p)
            .query::<Vec<String>>(conn.link())
        {
            Ok(pair) => match pair.get(1) {
                Some(v) => {
                    m.config.insert(p.to_string(), v.clone());
                }
                None => refused.push((p, "not returned by CONFIG GET".into())),
            },
            Err(e) => {
                // "unknown command 'CONFIG', with args beginning with: 'GET' 'save'":
                // the arguments would make every refusal distinct.
                let text = target.scrub(&e.to_string());
                let reason = text
                    .split_once(", with args beginning with")
                    .map_or(text.as_str(), |(r, _)| r)
                    .trim()
                    .to_string();
                refused.push((p, reason));
            }
        }
    }
    // One entry per distinct reason (a blocked CONFIG refuses every parameter alike).
    let mut reasons: Vec<String> = Vec::new();
    for (_, r) in &refused {
        if !reasons.contains(r) {
            reasons.push(r.clone());
        }
    }
    for reason in reasons {
        let params: Vec<&str> = refused
            .iter()
            .filter(|(_, r)| *r == reason)
            .map(|(p, _)| *p)
            .collect();
        m.unavailable.push(Unavailable {
            what: format!("CONFIG GET {}", params.join(", ")),
            reason,
        });
    }
    Ok(m)
}

/// The metrics of every node behind `target` (all cluster masters, or the one
/// server).
pub fn collect(target: &Target) -> Result<Vec<NodeMetrics>> {
    let mut conn = target.connect()?;
    target.ping(&mut conn)?;
    let info = read_info(target, &mut conn)?;
    let nodes = nodes(target, &mut conn, &info);
    let mut out = Vec::with_capacity(nodes.len());
    for node in &nodes {
        if node.address() == target.address() {
            out.push(node_metrics(node, &mut conn)?);
        } else {
            let mut c = node.connect()?;
            out.push(node_metrics(node, &mut c)?);
        }
    }
    Ok(out)
}
