//! Copying keys: the source read (value and expiry together, in one
//! `MULTI`/`DUMP`/`PEXPIRETIME`/`EXEC` per key, pipelined per node) and the target
//! write (`RESTORE ... REPLACE ABSTTL`, or `DEL` when the key is gone), with the
//! payload re-stamped or re-encoded for an older target as restore does.

use std::collections::BTreeMap;

use rdb_parser::reencode::{readable, reencode, FieldTtlPolicy, Policy};
use rdb_parser::{DumpPayload, Family};
use redis::Value;

use crate::cluster::NodeAddr;
use crate::error::Result;
use crate::resp::{self, Ttl};
use crate::target::TargetCaps;

use super::dirty::DbKey;
use super::nodes::Nodes;

/// What the source holds for a key.
#[derive(Debug)]
pub(crate) enum Read {
    /// The DUMP payload and the absolute expiry (Unix ms), if any.
    Value {
        payload: Vec<u8>,
        expire_at_ms: Option<i64>,
    },
    /// The key does not exist (deleted, expired, renamed away).
    Gone,
    /// Not read this time (a redirection, a lost connection): try again; the text
    /// says why. `moved` asks for a fresh slot map.
    Retry { why: String, moved: bool },
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Reads `keys` (source databases) from the source. `pexpiretime`: the source has
/// `PEXPIRETIME` (Redis 7.0+); older ones are asked `PTTL` (relative, converted
/// with the local clock).
pub(crate) fn read_keys(src: &mut Nodes, keys: &[&DbKey], pexpiretime: bool) -> Vec<Read> {
    let mut out: Vec<Option<Read>> = keys.iter().map(|_| None).collect();
    let mut by_node: BTreeMap<NodeAddr, Vec<usize>> = BTreeMap::new();
    for (i, (_, key)) in keys.iter().enumerate() {
        by_node.entry(src.owner(key)).or_default().push(i);
    }
    for (addr, mut idx) in by_node {
        idx.sort_by_key(|&i| keys.get(i).map_or(0, |k| k.0));
        let mut buf = Vec::new();
        let mut count = 0;
        // Per key: where its EXEC reply is among the replies.
        let mut exec_at = Vec::with_capacity(idx.len());
        let mut db = None;
        for &i in &idx {
            let Some((kdb, key)) = keys.get(i) else {
                continue;
            };
            if !src.cluster && db != Some(*kdb) {
                resp::write_select(&mut buf, *kdb);
                count += 1;
                db = Some(*kdb);
            }
            resp::write_command(&mut buf, &[b"MULTI"]);
            resp::write_command(&mut buf, &[b"DUMP", key]);
            if pexpiretime {
                resp::write_command(&mut buf, &[b"PEXPIRETIME", key]);
            } else {
                resp::write_command(&mut buf, &[b"PTTL", key]);
            }
            resp::write_command(&mut buf, &[b"EXEC"]);
            exec_at.push((i, count + 3));
            count += 4;
        }
        let sent_at = now_ms();
        let replies = match src.exchange(&addr, &buf, count) {
            Ok(r) => r,
            Err(e) => {
                for &i in &idx {
                    if let Some(o) = out.get_mut(i) {
                        *o = Some(Read::Retry {
                            why: e.to_string(),
                            moved: src.cluster,
                        });
                    }
                }
                continue;
            }
        };
        for (i, at) in exec_at {
            // A refused command inside MULTI (MOVED, OOM ...) shows in its QUEUED reply.
            let queued_err = (at.saturating_sub(2)..at)
                .filter_map(|j| replies.get(j).and_then(|r| r.as_ref().err()))
                .next()
                .cloned();
            let read = match (queued_err, replies.get(at).cloned()) {
                (Some((code, text)), _) | (None, Some(Err((code, text)))) => Read::Retry {
                    moved: matches!(code.as_str(), "MOVED" | "ASK" | "CLUSTERDOWN" | "TRYAGAIN"),
                    why: text,
                },
                (None, Some(Ok(Value::Array(parts)))) => match (parts.first(), parts.get(1)) {
                    (Some(Value::BulkString(p)), Some(Value::Int(t))) => Read::Value {
                        payload: p.clone(),
                        expire_at_ms: match *t {
                            t if t < 0 => None,
                            t if pexpiretime => Some(t),
                            t => Some(sent_at.saturating_add(t)),
                        },
                    },
                    (Some(Value::Nil), _) => Read::Gone,
                    _ => Read::Retry {
                        why: format!("unexpected EXEC reply {parts:?}"),
                        moved: false,
                    },
                },
                (None, other) => Read::Retry {
                    why: format!("unexpected EXEC reply {other:?}"),
                    moved: false,
                },
            };
            if let Some(o) = out.get_mut(i) {
                *o = Some(read);
            }
        }
    }
    out.into_iter()
        .map(|r| {
            r.unwrap_or(Read::Retry {
                why: "not read".into(),
                moved: false,
            })
        })
        .collect()
}

/// How the target is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Writer {
    pub(crate) family: Family,
    pub(crate) rdb_version: u16,
    pub(crate) field_ttls: FieldTtlPolicy,
}

impl Writer {
    pub(crate) fn new(
        caps: &TargetCaps,
        rdb_version: Option<u16>,
        field_ttls: FieldTtlPolicy,
    ) -> Writer {
        Writer {
            family: caps.family,
            rdb_version: rdb_version.unwrap_or(caps.rdb_version),
            field_ttls,
        }
    }

    /// The source payload as the target reads it: as is when the versions match,
    /// re-stamped when the target knows the type, else re-encoded.
    pub(crate) fn convert(&self, payload: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let parsed =
            DumpPayload::parse(payload).map_err(|e| format!("source DUMP payload: {e}"))?;
        if parsed.rdb_version == self.rdb_version && parsed.family() == self.family {
            return Ok(payload.to_vec());
        }
        let ty = parsed.value_type;
        if readable(ty, self.family, self.rdb_version) && parsed.key_meta.is_none() {
            return Ok(DumpPayload::build(ty.byte(), parsed.body, self.rdb_version));
        }
        let policy = Policy {
            field_ttls: self.field_ttls,
            now_ms: now_ms(),
            ..Policy::default()
        };
        let re =
            reencode(ty, parsed.body, self.family, self.rdb_version, &policy).map_err(|e| {
                format!(
                    "the target (RDB {}) cannot take this value: {e}",
                    self.rdb_version
                )
            })?;
        Ok(DumpPayload::build(
            re.value_type.byte(),
            &re.body,
            self.rdb_version,
        ))
    }

    /// Whether `RESTORE` takes `ABSTTL` (Redis 5.0, RDB 9, and later).
    fn absttl(&self) -> bool {
        self.family == Family::Valkey || self.rdb_version >= 9
    }
}

/// A write to the target.
#[derive(Debug)]
pub(crate) enum Write {
    /// `RESTORE key ttl payload REPLACE [ABSTTL]` (payload already converted).
    Restore {
        payload: Vec<u8>,
        expire_at_ms: Option<i64>,
    },
    /// `DEL key`.
    Del,
}

/// The outcome of one write.
#[derive(Debug)]
pub(crate) enum Written {
    Done,
    /// The server refused it (its reply).
    Refused(String),
    /// Not carried out (redirection, lost connection): send again.
    Retry,
}

/// Writes `items` (target database, key, write) to the target, pipelined per node.
pub(crate) fn write_keys(
    tgt: &mut Nodes,
    writer: &Writer,
    items: &[(u64, &[u8], &Write)],
) -> Result<Vec<Written>> {
    let mut out: Vec<Option<Written>> = items.iter().map(|_| None).collect();
    let mut by_node: BTreeMap<NodeAddr, Vec<usize>> = BTreeMap::new();
    for (i, (_, key, _)) in items.iter().enumerate() {
        by_node.entry(tgt.owner(key)).or_default().push(i);
    }
    let now = now_ms();
    for (addr, mut idx) in by_node {
        idx.sort_by_key(|&i| items.get(i).map_or(0, |k| k.0));
        let mut buf = Vec::new();
        let mut count = 0;
        let mut at = Vec::with_capacity(idx.len());
        let mut db = None;
        for &i in &idx {
            let Some((kdb, key, w)) = items.get(i) else {
                continue;
            };
            if !tgt.cluster && db != Some(*kdb) {
                resp::write_select(&mut buf, *kdb);
                count += 1;
                db = Some(*kdb);
            }
            match w {
                Write::Del => resp::write_command(&mut buf, &[b"DEL", key]),
                Write::Restore {
                    payload,
                    expire_at_ms,
                } => {
                    let ttl = match expire_at_ms {
                        None => Ttl::None,
                        Some(t) if writer.absttl() => Ttl::Absolute(*t),
                        Some(t) => Ttl::Relative((t - now).max(1)),
                    };
                    write_restore_payload(&mut buf, key, ttl, payload);
                }
            }
            at.push((i, count));
            count += 1;
        }
        match tgt.exchange(&addr, &buf, count) {
            Ok(replies) => {
                for (i, j) in at {
                    let w = match replies.get(j) {
                        Some(Ok(_)) => Written::Done,
                        Some(Err((code, _))) if crate::delivery::is_transient(code) => {
                            Written::Retry
                        }
                        Some(Err((_, text))) => Written::Refused(text.clone()),
                        None => Written::Retry,
                    };
                    if let Some(o) = out.get_mut(i) {
                        *o = Some(w);
                    }
                }
            }
            Err(_) => {
                for &i in &idx {
                    if let Some(o) = out.get_mut(i) {
                        *o = Some(Written::Retry);
                    }
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|w| w.unwrap_or(Written::Retry))
        .collect())
}

/// `RESTORE key ttl payload REPLACE [ABSTTL]` with a whole payload.
fn write_restore_payload(out: &mut Vec<u8>, key: &[u8], ttl: Ttl, payload: &[u8]) {
    let ttl_text = match ttl {
        Ttl::None => "0".to_string(),
        Ttl::Absolute(ms) | Ttl::Relative(ms) => ms.to_string(),
    };
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key, ttl_text.as_bytes(), payload, b"REPLACE"];
    if matches!(ttl, Ttl::Absolute(_)) {
        args.push(b"ABSTTL");
    }
    resp::write_command(out, &args);
}
