//! `watch`: periodic `INFO` samples of a primary and its replicas after a cutover,
//! with alerts for replication offsets that stop advancing or diverge beyond a
//! threshold, an AOF growing without rewrites, and failed or slower background saves.
//!
//! [`sample`] reads one node; [`Watcher::observe`] compares a round of samples with
//! what it saw before and returns the alerts. Replicas report their acknowledged
//! offset about once a second (`REPLCONF ACK`), so "stopped advancing" is judged
//! over time ([`WatchOptions::stall_after`]), not between two samples.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::info::{Info, ReplicaLine};
use super::read_info;
use crate::target::Target;

/// One node at one moment.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Sample {
    /// `host:port`.
    pub address: String,
    /// Why the node could not be read (the other fields are then empty).
    pub error: Option<String>,
    /// `role:` (`master`/`slave`).
    pub role: Option<String>,
    /// `master_repl_offset`.
    pub offset: Option<i64>,
    /// A replica's `slave_repl_offset`.
    pub replica_offset: Option<i64>,
    /// A replica's `master_host:master_port`.
    pub master: Option<String>,
    /// A replica's `master_link_status` (serialized under that name).
    #[cfg_attr(feature = "serde", serde(rename = "master_link_status"))]
    pub link: Option<String>,
    /// A primary's replicas.
    pub replicas: Vec<ReplicaLine>,
    /// `aof_enabled:1`.
    pub aof_enabled: bool,
    /// `aof_current_size`.
    pub aof_current_size: Option<i64>,
    /// `aof_base_size`.
    pub aof_base_size: Option<i64>,
    /// `aof_rewrite_in_progress:1`.
    pub aof_rewriting: bool,
    /// `aof_rewrites` (Redis 7.0+), counts completed rewrites.
    pub aof_rewrites: Option<i64>,
    /// `rdb_last_bgsave_status` (`ok`/`err`; serialized under that name).
    #[cfg_attr(feature = "serde", serde(rename = "rdb_last_bgsave_status"))]
    pub bgsave_status: Option<String>,
    /// `rdb_last_bgsave_time_sec` (duration of the last save, -1 none; serialized
    /// under that name).
    #[cfg_attr(feature = "serde", serde(rename = "rdb_last_bgsave_time_sec"))]
    pub bgsave_secs: Option<i64>,
    /// `rdb_last_save_time` (Unix seconds; serialized under that name).
    #[cfg_attr(feature = "serde", serde(rename = "rdb_last_save_time"))]
    pub last_save_time: Option<i64>,
}

impl Sample {
    /// The sample of a node that could not be read.
    pub fn failed(address: &str, error: String) -> Sample {
        Sample {
            address: address.to_string(),
            error: Some(error),
            role: None,
            offset: None,
            replica_offset: None,
            master: None,
            link: None,
            replicas: Vec::new(),
            aof_enabled: false,
            aof_current_size: None,
            aof_base_size: None,
            aof_rewriting: false,
            aof_rewrites: None,
            bgsave_status: None,
            bgsave_secs: None,
            last_save_time: None,
        }
    }

    /// The sample in a parsed `INFO`.
    pub fn from_info(address: &str, info: &Info) -> Sample {
        let replica = info.role() == Some("slave");
        Sample {
            address: address.to_string(),
            error: None,
            role: info.role().map(str::to_string),
            offset: info.int("master_repl_offset"),
            replica_offset: if replica {
                info.int("slave_repl_offset")
            } else {
                None
            },
            master: match (info.get("master_host"), info.get("master_port")) {
                (Some(h), Some(p)) if replica => Some(format!("{h}:{p}")),
                _ => None,
            },
            link: if replica {
                info.get("master_link_status").map(str::to_string)
            } else {
                None
            },
            replicas: info.replicas(),
            aof_enabled: info.get("aof_enabled") == Some("1"),
            aof_current_size: info.int("aof_current_size"),
            aof_base_size: info.int("aof_base_size"),
            aof_rewriting: info.get("aof_rewrite_in_progress") == Some("1"),
            aof_rewrites: info.int("aof_rewrites"),
            bgsave_status: info.get("rdb_last_bgsave_status").map(str::to_string),
            bgsave_secs: info.int("rdb_last_bgsave_time_sec"),
            last_save_time: info.int("rdb_last_save_time"),
        }
    }
}

/// Reads one node (a failure is a [`Sample::failed`], not an error).
pub fn sample(target: &Target) -> Sample {
    let sample = target.connect().and_then(|mut c| {
        target.ping(&mut c)?;
        read_info(target, &mut c)
    });
    match sample {
        Ok(info) => Sample::from_info(target.address(), &info),
        Err(e) => Sample::failed(target.address(), e.to_string()),
    }
}

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "kebab-case")
)]
pub enum AlertKind {
    /// The node could not be read.
    Unreachable,
    /// A replica's link to its primary is not up / not `online`.
    LinkDown,
    /// A replica's offset did not advance while its primary's did.
    OffsetStalled,
    /// A replica is further behind its primary than the threshold.
    OffsetDiverged,
    /// The AOF grew past the rewrite threshold with no rewrite.
    AofGrowing,
    /// `rdb_last_bgsave_status:err`.
    BgsaveFailed,
    /// The last background save took longer than the one before.
    BgsaveSlower,
}

impl AlertKind {
    /// Kebab-case name (`offset-stalled`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Unreachable => "unreachable",
            AlertKind::LinkDown => "link-down",
            AlertKind::OffsetStalled => "offset-stalled",
            AlertKind::OffsetDiverged => "offset-diverged",
            AlertKind::AofGrowing => "aof-growing",
            AlertKind::BgsaveFailed => "bgsave-failed",
            AlertKind::BgsaveSlower => "bgsave-slower",
        }
    }
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Alert {
    /// The node it is about (a replica for replication alerts).
    pub node: String,
    /// What.
    pub kind: AlertKind,
    /// One line with the numbers.
    pub detail: String,
}

/// Thresholds of [`Watcher`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WatchOptions {
    /// Largest acceptable primary − replica offset gap (bytes).
    pub max_gap: u64,
    /// How long a replica's offset may stay put while its primary's advances.
    pub stall_after: Duration,
    /// AOF size / base size above which a rewrite is due (Redis'
    /// `auto-aof-rewrite-percentage` 100 → 2.0).
    pub aof_growth: f64,
    /// AOF size below which growth is not flagged (`auto-aof-rewrite-min-size`).
    pub aof_min_size: i64,
    /// A background save this many times slower than the previous one is flagged
    /// (and at least one second slower).
    pub bgsave_slowdown: f64,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            max_gap: 1 << 20,
            stall_after: Duration::from_secs(5),
            aof_growth: 2.0,
            aof_min_size: 64 << 20,
            bgsave_slowdown: 1.5,
        }
    }
}

setters!(WatchOptions {
    max_gap: u64,
    stall_after: Duration,
    aof_growth: f64,
    aof_min_size: i64,
    bgsave_slowdown: f64,
});

/// Replica progress: last offset seen and when it last changed.
#[derive(Debug, Clone, Copy)]
struct Progress {
    offset: i64,
    since: Instant,
}

/// Compares rounds of samples.
#[derive(Debug)]
pub struct Watcher {
    options: WatchOptions,
    prev: HashMap<String, Sample>,
    replicas: HashMap<String, Progress>,
}

impl Watcher {
    /// A watcher with no history.
    pub fn new(options: WatchOptions) -> Watcher {
        Watcher {
            options,
            prev: HashMap::new(),
            replicas: HashMap::new(),
        }
    }

    /// Alerts for one round of samples taken at `now`.
    pub fn observe(&mut self, samples: &[Sample], now: Instant) -> Vec<Alert> {
        let mut alerts: Vec<Alert> = Vec::new();
        let mut push = |a: Alert| {
            if !alerts.iter().any(|b| b.node == a.node && b.kind == a.kind) {
                alerts.push(a);
            }
        };
        let offsets: HashMap<&str, i64> = samples
            .iter()
            .filter(|s| s.role.as_deref() == Some("master"))
            .filter_map(|s| Some((s.address.as_str(), s.offset?)))
            .collect();
        // (replica, primary offset, replica offset, primary)
        let mut pairs: Vec<(String, i64, i64, String)> = Vec::new();
        for s in samples {
            if let Some(e) = &s.error {
                push(Alert {
                    node: s.address.clone(),
                    kind: AlertKind::Unreachable,
                    detail: e.clone(),
                });
                continue;
            }
            for r in &s.replicas {
                if r.state != "online" {
                    push(Alert {
                        node: r.address.clone(),
                        kind: AlertKind::LinkDown,
                        detail: format!("{} reports the replica in state {}", s.address, r.state),
                    });
                }
                if let Some(p) = s.offset {
                    pairs.push((r.address.clone(), p, r.offset, s.address.clone()));
                }
            }
            if s.role.as_deref() == Some("slave") {
                if s.link.as_deref() != Some("up") {
                    push(Alert {
                        node: s.address.clone(),
                        kind: AlertKind::LinkDown,
                        detail: format!(
                            "master_link_status:{} (primary {})",
                            s.link.as_deref().unwrap_or("unknown"),
                            s.master.as_deref().unwrap_or("?")
                        ),
                    });
                }
                if let (Some(m), Some(ro)) = (&s.master, s.replica_offset) {
                    if let Some(&po) = offsets.get(m.as_str()) {
                        pairs.push((s.address.clone(), po, ro, m.clone()));
                    }
                }
            }
            self.persistence(s, &mut push);
        }
        for (replica, primary_offset, offset, primary) in pairs {
            let gap = primary_offset - offset;
            if gap.unsigned_abs() > self.options.max_gap {
                push(Alert {
                    node: replica.clone(),
                    kind: AlertKind::OffsetDiverged,
                    detail: format!(
                        "offset {offset} is {gap} bytes from primary {primary} ({primary_offset})"
                    ),
                });
            }
            let key = format!("{replica}<{primary}");
            let p = self
                .replicas
                .entry(key)
                .or_insert(Progress { offset, since: now });
            if offset != p.offset {
                *p = Progress { offset, since: now };
            } else if gap > 0 && now.duration_since(p.since) >= self.options.stall_after {
                push(Alert {
                    node: replica.clone(),
                    kind: AlertKind::OffsetStalled,
                    detail: format!(
                        "offset stuck at {offset} for {:.1}s while primary {primary} is at {primary_offset}",
                        now.duration_since(p.since).as_secs_f64()
                    ),
                });
            }
        }
        for s in samples {
            self.prev.insert(s.address.clone(), s.clone());
        }
        alerts
    }

    fn persistence(&self, s: &Sample, push: &mut impl FnMut(Alert)) {
        let o = &self.options;
        if s.bgsave_status.as_deref().is_some_and(|b| b != "ok") {
            push(Alert {
                node: s.address.clone(),
                kind: AlertKind::BgsaveFailed,
                detail: "rdb_last_bgsave_status:err".into(),
            });
        }
        let prev = self.prev.get(&s.address).filter(|p| p.error.is_none());
        if let Some(p) = prev {
            if let (Some(t0), Some(t1), Some(d0), Some(d1)) = (
                p.last_save_time,
                s.last_save_time,
                p.bgsave_secs,
                s.bgsave_secs,
            ) {
                if t1 != t0 && d0 >= 0 && d1 - d0 >= 1 && d1 as f64 > d0 as f64 * o.bgsave_slowdown
                {
                    push(Alert {
                        node: s.address.clone(),
                        kind: AlertKind::BgsaveSlower,
                        detail: format!(
                            "the last background save took {d1}s, the one before {d0}s"
                        ),
                    });
                }
            }
            if let (true, Some(size), Some(before)) =
                (s.aof_enabled, s.aof_current_size, p.aof_current_size)
            {
                let base = s.aof_base_size.unwrap_or(0);
                let no_rewrite = !s.aof_rewriting
                    && s.aof_rewrites == p.aof_rewrites
                    && s.aof_base_size == p.aof_base_size;
                if size > before
                    && no_rewrite
                    && size >= o.aof_min_size
                    && size as f64 >= base as f64 * o.aof_growth
                {
                    push(Alert {
                        node: s.address.clone(),
                        kind: AlertKind::AofGrowing,
                        detail: format!(
                            "AOF {size} bytes (base {base}, ×{:.1}) keeps growing with no rewrite",
                            if base > 0 {
                                size as f64 / base as f64
                            } else {
                                f64::INFINITY
                            }
                        ),
                    });
                }
            }
        }
    }
}

/// The verdict of one round of samples: `fail` when a node is unreachable, a
/// replica's link is down or a background save failed; `warn` for any other alert;
/// `ok` without alerts.
pub fn verdict(alerts: &[Alert]) -> &'static str {
    let fail = |k: AlertKind| {
        matches!(
            k,
            AlertKind::Unreachable | AlertKind::LinkDown | AlertKind::BgsaveFailed
        )
    };
    if alerts.iter().any(|a| fail(a.kind)) {
        "fail"
    } else if alerts.is_empty() {
        "ok"
    } else {
        "warn"
    }
}

/// One line of `rdbkit watch --format jsonl` (feature `serde`): `{"verdict":
/// "ok"|"warn"|"fail", "sample": N, "time_ms", "time" (ISO 8601 UTC), "unix_ms",
/// "nodes": [Sample], "alerts": [Alert]}`.
#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
pub struct WatchDocument<'a> {
    verdict: &'static str,
    sample: u64,
    time_ms: u128,
    time: String,
    unix_ms: u128,
    nodes: &'a [Sample],
    alerts: &'a [Alert],
}

#[cfg(feature = "serde")]
impl<'a> WatchDocument<'a> {
    /// The line of round `sample` (from 1), taken at `unix_ms`.
    pub fn new(
        sample: u64,
        unix_ms: u128,
        nodes: &'a [Sample],
        alerts: &'a [Alert],
    ) -> WatchDocument<'a> {
        WatchDocument {
            verdict: verdict(alerts),
            sample,
            time_ms: unix_ms,
            time: i64::try_from(unix_ms)
                .map_or_else(|_| String::new(), rdb_parser::time::format_utc_ms),
            unix_ms,
            nodes,
            alerts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn primary(offset: i64, replica_offset: i64) -> Sample {
        Sample::from_info(
            "p:1",
            &Info::parse(&format!(
                "role:master\nmaster_repl_offset:{offset}\nslave0:ip=r,port=2,state=online,offset={replica_offset},lag=0\nrdb_last_bgsave_status:ok\n"
            )),
        )
    }

    #[test]
    fn stall_and_divergence() {
        let mut w = Watcher::new(WatchOptions {
            max_gap: 100,
            stall_after: Duration::from_secs(2),
            ..WatchOptions::default()
        });
        let t0 = Instant::now();
        assert!(w.observe(&[primary(50, 50)], t0).is_empty());
        assert!(w
            .observe(&[primary(80, 50)], t0 + Duration::from_secs(1))
            .is_empty());
        let a = w.observe(&[primary(500, 50)], t0 + Duration::from_secs(3));
        let kinds: Vec<_> = a.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![AlertKind::OffsetDiverged, AlertKind::OffsetStalled]
        );
        assert!(a.iter().all(|a| a.node == "r:2"));
        // Caught up: nothing.
        assert!(w
            .observe(&[primary(500, 500)], t0 + Duration::from_secs(4))
            .is_empty());
    }

    #[test]
    fn persistence_alerts() {
        let mut w = Watcher::new(WatchOptions::default());
        let s = |size: i64, base: i64, save: i64, secs: i64, status: &str| {
            Sample::from_info(
                "p:1",
                &Info::parse(&format!(
                    "role:master\naof_enabled:1\naof_current_size:{size}\naof_base_size:{base}\naof_rewrites:3\n\
                     rdb_last_save_time:{save}\nrdb_last_bgsave_time_sec:{secs}\nrdb_last_bgsave_status:{status}\n"
                )),
            )
        };
        let t = Instant::now();
        assert!(w
            .observe(&[s(100 << 20, 60 << 20, 10, 2, "ok")], t)
            .is_empty());
        let a = w.observe(&[s(130 << 20, 60 << 20, 20, 5, "err")], t);
        let kinds: Vec<_> = a.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::BgsaveFailed,
                AlertKind::BgsaveSlower,
                AlertKind::AofGrowing
            ]
        );
    }

    #[cfg(feature = "serde")]
    #[test]
    fn watch_document_shape() -> Result<(), serde_json::Error> {
        let alerts = [Alert {
            node: "a:1".into(),
            kind: AlertKind::OffsetStalled,
            detail: "stalled".into(),
        }];
        let text = serde_json::to_string(&WatchDocument::new(3, 1_000, &[], &alerts))?;
        assert!(
            text.starts_with(
                r#"{"verdict":"warn","sample":3,"time_ms":1000,"time":"1970-01-01T00:00:01Z","unix_ms":1000,"nodes":[],"alerts":[{"node":"a:1""#
            ),
            "{text}"
        );
        assert_eq!(verdict(&[]), "ok");
        let down = Alert {
            kind: AlertKind::LinkDown,
            ..alerts[0].clone()
        };
        assert_eq!(verdict(&[alerts[0].clone(), down]), "fail");
        Ok(())
    }
}
