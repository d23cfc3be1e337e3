//! The servers of one side of a sync (source or target): a standalone server or the
//! masters of a cluster, with one connection per node opened on demand and the
//! slot map refreshed after a redirection or a failover.

use std::collections::HashMap;

use redis::Value;

use crate::cluster::{slot_for_key, NodeAddr, SlotMap};
use crate::error::Result;
use crate::target::{Connection, Target};

/// A `SCAN` page: the next cursor (`0` at the end) and the keys.
pub(crate) type ScanPage = (Vec<u8>, Vec<Vec<u8>>);

/// One reply of a pipeline: the value, or the server's error reply (code, text).
pub(crate) type Reply = std::result::Result<Value, (String, String)>;

/// One side of a sync.
pub(crate) struct Nodes {
    pub(crate) base: Target,
    seed: NodeAddr,
    pub(crate) cluster: bool,
    map: Option<SlotMap>,
    conns: HashMap<NodeAddr, Connection>,
}

/// `host:port` → address (the last `:` separates the port, IPv6 brackets removed).
pub(crate) fn parse_addr(text: &str) -> Option<NodeAddr> {
    let (host, port) = text.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

impl Nodes {
    /// Connects to `base`; for a cluster, reads its slot map.
    pub(crate) fn open(base: &Target, cluster: bool) -> Result<Nodes> {
        let seed =
            parse_addr(base.address()).ok_or_else(|| base.error("bad address", &base.address()))?;
        let mut nodes = Nodes {
            base: base.clone(),
            seed,
            cluster,
            map: None,
            conns: HashMap::new(),
        };
        if cluster {
            nodes.refresh()?;
        }
        Ok(nodes)
    }

    /// Reads the slot map again; `true` when the set of masters changed.
    pub(crate) fn refresh(&mut self) -> Result<bool> {
        if !self.cluster {
            return Ok(false);
        }
        let seed = self.seed.clone();
        let before = self.masters();
        let mut last_err = None;
        // The seed first, then every known master (the seed may be the one that died).
        let mut candidates = vec![seed.clone()];
        candidates.extend(before.iter().filter(|a| **a != seed).cloned());
        for addr in candidates {
            let node = self.node_target(&addr);
            let fetched = self.conn(&addr).and_then(|c| {
                SlotMap::fetch(c, &addr.0).map_err(|e| node.error("CLUSTER SLOTS", &e))
            });
            match fetched {
                Ok(Some(map)) => {
                    self.map = Some(map);
                    let mut after = self.masters();
                    after.sort();
                    let mut before = before;
                    before.sort();
                    return Ok(before != after);
                }
                Ok(None) => {
                    self.cluster = false;
                    return Ok(false);
                }
                Err(e) => {
                    self.conns.remove(&addr);
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| self.base.error("no cluster node answers", &"")))
    }

    /// The masters (the one server when standalone).
    pub(crate) fn masters(&self) -> Vec<NodeAddr> {
        match &self.map {
            Some(m) if self.cluster => m
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| m.owner.contains(&Some(*i)))
                .map(|(_, a)| a.clone())
                .collect(),
            _ => vec![self.seed.clone()],
        }
    }

    /// The master serving `key`.
    pub(crate) fn owner(&self, key: &[u8]) -> NodeAddr {
        match &self.map {
            Some(m) if self.cluster => m
                .owner
                .get(usize::from(slot_for_key(key)))
                .copied()
                .flatten()
                .and_then(|i| m.nodes.get(i).cloned())
                .unwrap_or_else(|| self.seed.clone()),
            _ => self.seed.clone(),
        }
    }

    /// A target for one node (same credentials and TLS settings).
    pub(crate) fn node_target(&self, addr: &NodeAddr) -> Target {
        if self.cluster {
            self.base.for_node(&addr.0, addr.1)
        } else {
            self.base.clone()
        }
    }

    /// The connection to `addr`, opened when needed.
    pub(crate) fn conn(&mut self, addr: &NodeAddr) -> Result<&mut Connection> {
        if !self.conns.contains_key(addr) {
            let c = self.node_target(addr).connect()?;
            self.conns.insert(addr.clone(), c);
        }
        self.conns
            .get_mut(addr)
            .ok_or_else(|| self.base.error("connection vanished", &""))
    }

    /// One `SCAN cursor COUNT 1000` page of `db` on `addr` (after a `SELECT` on a
    /// standalone server): the next cursor (`0` at the end) and the keys. The outer
    /// error is a lost exchange (the node may be failing over: worth a retry), the
    /// inner one a reply that is not a page.
    pub(crate) fn scan_page(
        &mut self,
        addr: &NodeAddr,
        db: u64,
        cursor: &[u8],
    ) -> Result<Result<ScanPage>> {
        let mut buf = Vec::new();
        let mut count = 1;
        if !self.cluster {
            crate::resp::write_select(&mut buf, db);
            count += 1;
        }
        crate::resp::write_command(&mut buf, &[b"SCAN", cursor, b"COUNT", b"1000"]);
        let reply = self.exchange(addr, &buf, count)?.into_iter().last();
        Ok(match reply {
            Some(Ok(Value::Array(parts))) => {
                let next = match parts.first() {
                    Some(Value::BulkString(c)) => c.clone(),
                    _ => b"0".to_vec(),
                };
                let keys = match parts.get(1) {
                    Some(Value::Array(k)) => k
                        .iter()
                        .filter_map(|v| match v {
                            Value::BulkString(b) => Some(b.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                Ok((next, keys))
            }
            Some(Err((_, text))) => Err(self.base.error("SCAN refused", &text)),
            other => Err(self
                .base
                .error("SCAN", &format!("unexpected reply {other:?}"))),
        })
    }

    /// Sends `buf` (holding `count` commands) to `addr` and reads `count` replies.
    /// A transport failure drops the connection (the next call reconnects) and is
    /// an `Err`; server error replies are `Err` items of the list.
    pub(crate) fn exchange(
        &mut self,
        addr: &NodeAddr,
        buf: &[u8],
        count: usize,
    ) -> Result<Vec<Reply>> {
        let target = self.node_target(addr);
        let conn = self.conn(addr)?;
        let out = (|| {
            conn.send_packed_command(buf)?;
            let mut replies = Vec::with_capacity(count);
            for _ in 0..count {
                replies.push(match conn.recv_response() {
                    Ok(Value::ServerError(e)) => Err((
                        e.code().to_string(),
                        match e.details() {
                            Some(d) => format!("{} {d}", e.code()),
                            None => e.code().to_string(),
                        },
                    )),
                    Ok(v) => Ok(v),
                    Err(e) => match e.kind() {
                        redis::ErrorKind::Server(_) => {
                            Err((e.code().unwrap_or("ERR").to_string(), e.to_string()))
                        }
                        _ => return Err(e),
                    },
                });
            }
            Ok(replies)
        })();
        match out {
            Ok(r) => Ok(r),
            Err(e) => {
                self.conns.remove(addr);
                Err(target.error("connection lost", &e))
            }
        }
    }

    /// Runs one command on `addr`.
    pub(crate) fn query(&mut self, addr: &NodeAddr, cmd: &redis::Cmd) -> Result<Reply> {
        let packed = cmd.get_packed_command();
        let mut r = self.exchange(addr, &packed, 1)?;
        Ok(r.pop().unwrap_or(Ok(Value::Nil)))
    }
}

/// The text of a bulk/simple string reply.
pub(crate) fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}
