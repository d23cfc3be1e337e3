//! The **route** stage for cluster targets: the slot map from `CLUSTER SLOTS`, the
//! key → slot function (CRC16/XMODEM of the hash tag, through
//! `redis::cluster_routing::Slot`), and the parsing of `MOVED`/`ASK` redirections.

use redis::Value;

use crate::target::Connection;

pub use rdb_parser::inventory::slot::SLOTS;

/// The hash slot of `key` (Redis `keyHashSlot`): the parser crate's, checked against
/// `redis::cluster_routing::Slot::for_key` in the tests (that type does not expose its
/// number).
pub use rdb_parser::inventory::slot::key_slot as slot_for_key;

/// A master node address.
pub type NodeAddr = (String, u16);

/// Which master serves each slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotMap {
    /// The masters, in the order they were first seen.
    pub nodes: Vec<NodeAddr>,
    /// Per slot, an index into `nodes` (`None`: slot not served).
    pub owner: Vec<Option<usize>>,
}

impl SlotMap {
    /// Reads `CLUSTER SLOTS` over `conn`. `seed_host` replaces an empty host name
    /// (a node that does not know its own address). `Ok(None)` when the server
    /// refuses the command (a proxy endpoint: use it as a single node).
    pub(crate) fn fetch(
        conn: &mut Connection,
        seed_host: &str,
    ) -> redis::RedisResult<Option<SlotMap>> {
        let reply: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(conn.link())
            .or_else(|e| {
                if e.kind() == redis::ErrorKind::Io {
                    Err(e)
                } else {
                    Ok(Value::Nil)
                }
            })?;
        let Value::Array(ranges) = reply else {
            return Ok(None);
        };
        let mut map = SlotMap {
            nodes: Vec::new(),
            owner: vec![None; SLOTS],
        };
        for range in ranges {
            let Value::Array(parts) = range else { continue };
            let int = |v: Option<&Value>| match v {
                Some(Value::Int(n)) => usize::try_from(*n).ok(),
                _ => None,
            };
            let (Some(start), Some(end)) = (int(parts.first()), int(parts.get(1))) else {
                continue;
            };
            let Some(Value::Array(master)) = parts.get(2) else {
                continue;
            };
            let host = match master.first() {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(Value::SimpleString(s)) => s.clone(),
                _ => String::new(),
            };
            let host = if host.is_empty() || host == "?" {
                seed_host.to_string()
            } else {
                host
            };
            let Some(port) = int(master.get(1)).and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            let idx = map.node_index(&host, port);
            for s in start..=end.min(SLOTS - 1) {
                if let Some(o) = map.owner.get_mut(s) {
                    *o = Some(idx);
                }
            }
        }
        if map.nodes.is_empty() {
            return Ok(None);
        }
        Ok(Some(map))
    }

    /// The index of `host:port`, added when new.
    pub fn node_index(&mut self, host: &str, port: u16) -> usize {
        match self.nodes.iter().position(|(h, p)| h == host && *p == port) {
            Some(i) => i,
            None => {
                self.nodes.push((host.to_string(), port));
                self.nodes.len() - 1
            }
        }
    }
}

/// The target of a `MOVED`/`ASK` error's detail (`"3999 127.0.0.1:6381"`).
pub fn parse_redirect(detail: &str) -> Option<(u16, NodeAddr)> {
    let mut w = detail.split_whitespace();
    let slot = w.next()?.parse().ok()?;
    let addr = w.next()?;
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((slot, (host.to_string(), port.parse().ok()?)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn slots_and_redirects() {
        // Reference values from `CLUSTER KEYSLOT`.
        assert_eq!(slot_for_key(b"foo"), 12182);
        assert_eq!(
            slot_for_key(b"{user1000}.following"),
            slot_for_key(b"user1000")
        );
        assert_eq!(slot_for_key(b""), 0);
        for key in [
            &b"a"[..],
            b"{}x",
            b"x{}",
            b"{a}{b}",
            b"{{a}}",
            b"long:key:with:parts",
            b"\xff\x00",
        ] {
            assert_eq!(
                redis::cluster_routing::Slot::new(slot_for_key(key)),
                Some(redis::cluster_routing::Slot::for_key(key)),
                "{key:?}"
            );
        }
        assert_eq!(
            parse_redirect("3999 127.0.0.1:6381"),
            Some((3999, ("127.0.0.1".to_string(), 6381)))
        );
        assert_eq!(parse_redirect("x"), None);
    }
}
