//! The final comparison of a sync: the live source against the live target, key by
//! key (values by content digest, expiries to the millisecond), both directions,
//! counted per source database as verify reports them.

use std::collections::{BTreeMap, BTreeSet};

use rdb_parser::digest::digest_value;
use rdb_parser::DumpPayload;
use redis::Value;

use crate::error::Result;

use super::copy::{now_ms, read_keys, Read};
use super::dirty::DbKey;
use super::nodes::Nodes;
use super::Scope;

/// Keys whose expiry is this close are not held against the comparison when one
/// side already lost them (they expire while it runs).
const EXPIRING_MS: i64 = 3_000;

/// Differences and counts of one source database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbCompare {
    /// Keys at the source.
    pub source_keys: u64,
    /// Keys at the target (in the database this one maps to, of the keys in scope).
    pub target_keys: u64,
    /// Keys equal on both sides (value and expiry).
    pub equal: u64,
    /// Keys on both sides with different values.
    pub value_differs: u64,
    /// Keys on both sides with different expiries.
    pub expiry_differs: u64,
    /// Source keys the target lacks.
    pub missing: u64,
    /// Target keys the source lacks.
    pub extra: u64,
    /// Keys that expired while they were compared (not counted as differences).
    pub expired_meanwhile: u64,
}

impl DbCompare {
    /// Differences found.
    pub fn differences(&self) -> u64 {
        self.value_differs + self.expiry_differs + self.missing + self.extra
    }
}

/// One difference, for the report (the first few are kept).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Difference {
    /// Source database.
    pub db: u64,
    /// The key.
    #[cfg_attr(feature = "serde", serde(with = "rdb_parser::serde_bytes"))]
    pub key: Vec<u8>,
    /// `missing`, `extra`, `value` or `expiry`.
    pub kind: &'static str,
}

/// The live comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct LiveCompare {
    /// Per source database.
    pub dbs: BTreeMap<u64, DbCompare>,
    /// The first differences (at most 20).
    pub examples: Vec<Difference>,
}

impl LiveCompare {
    /// Differences found in every database.
    pub fn differences(&self) -> u64 {
        self.dbs.values().map(DbCompare::differences).sum()
    }

    fn note(&mut self, db: u64, key: &[u8], kind: &'static str) {
        if self.examples.len() < 20 {
            self.examples.push(Difference {
                db,
                key: key.to_vec(),
                kind,
            });
        }
    }
}

/// SCANs every master of `nodes` in `db`, calling `page` with each page of keys.
pub(crate) fn scan_db(
    nodes: &mut Nodes,
    db: u64,
    mut page: impl FnMut(&mut Nodes, Vec<Vec<u8>>) -> Result<()>,
) -> Result<()> {
    for addr in nodes.masters() {
        let mut cursor = b"0".to_vec();
        loop {
            let (next, keys) = nodes.scan_page(&addr, db, &cursor)??;
            page(nodes, keys)?;
            if next == b"0" {
                break;
            }
            cursor = next;
        }
    }
    Ok(())
}

fn same_value(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let digest = |p: &[u8]| {
        DumpPayload::parse(p)
            .ok()
            .and_then(|d| d.value().ok())
            .and_then(|v| digest_value(v).ok())
    };
    match (digest(a), digest(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Compares the source's keys in `scope` with the target's.
pub(crate) fn compare(
    src: &mut Nodes,
    tgt: &mut Nodes,
    scope: &Scope,
    src_dbs: &BTreeSet<u64>,
    tgt_dbs: &BTreeSet<u64>,
    pexpiretime_src: bool,
    pexpiretime_tgt: bool,
) -> Result<LiveCompare> {
    let mut out = LiveCompare::default();
    for &db in src_dbs.iter().filter(|d| scope.db_in_scope(**d)) {
        let tdb = scope.target_db(db, tgt.cluster);
        let mut counts = DbCompare::default();
        scan_db(src, db, |src, keys| {
            let keys: Vec<DbKey> = keys
                .into_iter()
                .filter(|k| scope.key_in_scope(k))
                .map(|k| (db, k))
                .collect();
            let refs: Vec<&DbKey> = keys.iter().collect();
            let a = read_keys(src, &refs, pexpiretime_src);
            let tkeys: Vec<DbKey> = keys.iter().map(|(_, k)| (tdb, k.clone())).collect();
            let trefs: Vec<&DbKey> = tkeys.iter().collect();
            let b = read_keys(tgt, &trefs, pexpiretime_tgt);
            let now = now_ms();
            let soon = |t: &Option<i64>| t.is_some_and(|t| t - now < EXPIRING_MS);
            for (((_, key), a), b) in keys.iter().zip(a).zip(b) {
                match (a, b) {
                    (Read::Gone, _) => {}
                    (Read::Value { expire_at_ms, .. }, Read::Gone) if soon(&expire_at_ms) => {
                        counts.source_keys += 1;
                        counts.expired_meanwhile += 1;
                    }
                    (Read::Value { .. }, Read::Gone) => {
                        counts.source_keys += 1;
                        counts.missing += 1;
                        out.note(db, key, "missing");
                    }
                    (
                        Read::Value {
                            payload: pa,
                            expire_at_ms: ea,
                        },
                        Read::Value {
                            payload: pb,
                            expire_at_ms: eb,
                        },
                    ) => {
                        counts.source_keys += 1;
                        counts.target_keys += 1;
                        if !same_value(&pa, &pb) {
                            counts.value_differs += 1;
                            out.note(db, key, "value");
                        } else if ea != eb
                            && !(pexpiretime_tgt && pexpiretime_src)
                            && ea.zip(eb).is_some_and(|(x, y)| (x - y).abs() < 1000)
                        {
                            // PTTL on either side: equal within the clock's reach.
                            counts.equal += 1;
                        } else if ea != eb {
                            counts.expiry_differs += 1;
                            out.note(db, key, "expiry");
                        } else {
                            counts.equal += 1;
                        }
                    }
                    (Read::Retry { why, .. }, _) | (_, Read::Retry { why, .. }) => {
                        return Err(crate::Error::Probe(format!(
                            "comparing {}: cannot read a key: {why}",
                            String::from_utf8_lossy(key)
                        )))
                    }
                }
            }
            Ok(())
        })?;
        out.dbs.insert(db, counts);
    }
    // The other direction: target keys the source lacks.
    for &tdb in tgt_dbs {
        let sources: Vec<u64> = src_dbs
            .iter()
            .copied()
            .filter(|d| scope.db_in_scope(*d) && scope.target_db(*d, tgt.cluster) == tdb)
            .collect();
        let Some(&first) = sources.first() else {
            continue;
        };
        scan_db(tgt, tdb, |_, keys| {
            let keys: Vec<Vec<u8>> = keys.into_iter().filter(|k| scope.key_in_scope(k)).collect();
            let mut found = vec![false; keys.len()];
            for &sdb in &sources {
                // One pipeline of EXISTS per source node.
                let mut by_node: BTreeMap<crate::cluster::NodeAddr, Vec<usize>> = BTreeMap::new();
                for (i, k) in keys.iter().enumerate() {
                    if !found.get(i).copied().unwrap_or(true) {
                        by_node.entry(src.owner(k)).or_default().push(i);
                    }
                }
                for (addr, idx) in by_node {
                    let mut buf = Vec::new();
                    let mut skip = 0;
                    if !src.cluster {
                        crate::resp::write_select(&mut buf, sdb);
                        skip = 1;
                    }
                    for &i in &idx {
                        if let Some(k) = keys.get(i) {
                            crate::resp::write_command(&mut buf, &[b"EXISTS", k]);
                        }
                    }
                    let replies = src.exchange(&addr, &buf, skip + idx.len())?;
                    for (&i, r) in idx.iter().zip(replies.iter().skip(skip)) {
                        if matches!(r, Ok(Value::Int(1))) {
                            if let Some(f) = found.get_mut(i) {
                                *f = true;
                            }
                        }
                    }
                }
            }
            for (key, found) in keys.iter().zip(found) {
                if !found {
                    let c = out.dbs.entry(first).or_default();
                    c.extra += 1;
                    c.target_keys += 1;
                    out.note(first, key, "extra");
                }
            }
            Ok(())
        })?;
    }
    Ok(out)
}
