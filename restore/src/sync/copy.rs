//! Copying keys: the source read (value and expiry together, in one
//! `MULTI`/`DUMP`/`PEXPIRETIME`/`EXEC` per key, pipelined per node) and the target
//! write (`RESTORE ... REPLACE ABSTTL`, commands, or `DEL` when the key is gone),
//! with what to send decided by the payload stage restore uses
//! ([`crate::payload::payload`]).

use std::collections::BTreeMap;

use redis::Value;

use crate::cluster::NodeAddr;
use crate::error::Result;
use crate::payload::Payload;
use crate::plan::TargetProfile;
use crate::resp::{self, RestoreFlags};

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

/// A write to the target.
#[derive(Debug)]
pub(crate) enum Write<'a> {
    /// `RESTORE key ttl payload REPLACE [ABSTTL]` ([`Payload::Restore`] or
    /// [`Payload::Verbatim`], made by the payload stage).
    Restore {
        payload: Payload<'a>,
        expire_at_ms: Option<i64>,
    },
    /// Plain commands (`DEL` first), `commands` of them.
    Commands { buf: Vec<u8>, commands: usize },
    /// `DEL key`.
    Del,
}

impl Write<'_> {
    /// Bytes sent for the value (what `--max-bytes` counts).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Write::Restore { payload, .. } => payload.restore_len().unwrap_or(0),
            Write::Commands { buf, .. } => buf.len(),
            Write::Del => 0,
        }
    }
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

/// Writes `items` (target database, key, write) to `target`, pipelined per node.
pub(crate) fn write_keys(
    tgt: &mut Nodes,
    target: &TargetProfile,
    items: &[(u64, &[u8], &Write<'_>)],
) -> Result<Vec<Written>> {
    let mut out: Vec<Option<Written>> = items.iter().map(|_| None).collect();
    let mut by_node: BTreeMap<NodeAddr, Vec<usize>> = BTreeMap::new();
    for (i, (_, key, _)) in items.iter().enumerate() {
        by_node.entry(tgt.owner(key)).or_default().push(i);
    }
    let now = now_ms();
    let replace = RestoreFlags {
        replace: true,
        ..RestoreFlags::default()
    };
    for (addr, mut idx) in by_node {
        idx.sort_by_key(|&i| items.get(i).map_or(0, |k| k.0));
        let mut buf = Vec::new();
        let mut count = 0;
        // Per item: its first reply and how many it has.
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
            let replies = match w {
                Write::Del => {
                    resp::write_command(&mut buf, &[b"DEL", key]);
                    1
                }
                Write::Restore {
                    payload,
                    expire_at_ms,
                } => {
                    let ttl = target.ttl(*expire_at_ms, now);
                    if !payload.write_restore(&mut buf, key, ttl, replace) {
                        // Never made so (mod.rs sends commands as Write::Commands).
                        if let Some(o) = out.get_mut(i) {
                            *o = Some(Written::Refused("not a RESTORE payload".into()));
                        }
                        continue;
                    }
                    1
                }
                Write::Commands {
                    buf: cmds,
                    commands,
                } => {
                    buf.extend_from_slice(cmds);
                    *commands
                }
            };
            at.push((i, count, replies));
            count += replies;
        }
        match tgt.exchange(&addr, &buf, count) {
            Ok(replies) => {
                for (i, first, n) in at {
                    let mut w = Written::Done;
                    for j in first..first + n {
                        match replies.get(j) {
                            Some(Ok(_)) => {}
                            Some(Err((code, _))) if crate::delivery::is_transient(code) => {
                                w = Written::Retry;
                                break;
                            }
                            Some(Err((_, text))) => {
                                w = Written::Refused(text.clone());
                                break;
                            }
                            None => {
                                w = Written::Retry;
                                break;
                            }
                        }
                    }
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
