//! Delivering commands whose first attempt did not settle, through a cluster that may
//! be failing over: redirections (`MOVED`, `ASK`), a cluster or server that is busy
//! changing (`TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, `READONLY` from a
//! master just demoted), and connections lost with replies unread.
//!
//! A worker reads its replies in order; what does not settle on the first reply
//! comes here as [`Pending`] commands. They are routed by the current slot map (or an
//! explicit redirection), grouped per node and pipelined, and retried with backoff,
//! re-reading `CLUSTER SLOTS` from any node that answers, until each settles or the
//! node deadline passes (then it fails with the last error: a run never hangs).
//!
//! A command whose reply was lost may have been carried out. It is resent so that the
//! snapshot's value wins whatever happened: `RESTORE ... REPLACE`, or command-mode
//! commands after a `DEL` (an `RPUSH` sent twice would otherwise double a list). This
//! is the checkpoint overlap's rule too (see [`crate::checkpoint`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use redis::Value;

use crate::cluster::{self, NodeAddr, SlotMap};
use crate::resp;
use crate::target::{Connection, Target};

/// A reply, classified.
pub(crate) enum Reply {
    Ok,
    Error { code: String, text: String },
}

/// A server error reply becomes [`Reply::Error`]; a transport error stays an `Err`.
pub(crate) fn classify(v: redis::RedisResult<Value>) -> Result<Reply, redis::RedisError> {
    match v {
        Ok(Value::ServerError(e)) => Ok(Reply::Error {
            code: e.code().to_string(),
            text: match e.details() {
                Some(d) => format!("{} {d}", e.code()),
                None => e.code().to_string(),
            },
        }),
        Ok(_) => Ok(Reply::Ok),
        Err(e) => match e.kind() {
            redis::ErrorKind::Server(_) => Ok(Reply::Error {
                code: e.code().unwrap_or("ERR").to_string(),
                text: e.to_string(),
            }),
            _ => Err(e),
        },
    }
}

/// What to do about a command's error reply: the one retry policy of restore, verify
/// and sync, driven by the server's error kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not now (`LOADING`, `MASTERDOWN`, `TRYAGAIN`, `BUSY`): wait (bounded backoff)
    /// and send it again to the same node.
    Wait,
    /// Not here any more (`READONLY` from a master just demoted, `CLUSTERDOWN` while a
    /// failover completes): re-read the slot map, wait, and send it to the owner.
    Refresh,
    /// `MOVED`: the slot lives on that node now (the slot map is re-read too).
    Moved(NodeAddr),
    /// `ASK`: this once to that node, after `ASKING`.
    Ask(NodeAddr),
    /// For good: the key fails with the reply.
    Fail,
}

impl Retry {
    /// The policy for an error reply of code `code` and full text `text` (`MOVED 3999
    /// 127.0.0.1:6381`).
    pub(crate) fn of(code: &str, text: &str) -> Retry {
        let detail = || text.get(code.len()..).unwrap_or("").trim();
        match code {
            "LOADING" | "MASTERDOWN" | "TRYAGAIN" | "BUSY" => Retry::Wait,
            "READONLY" | "CLUSTERDOWN" => Retry::Refresh,
            "MOVED" => cluster::parse_redirect(detail()).map_or(Retry::Fail, |r| Retry::Moved(r.1)),
            "ASK" => cluster::parse_redirect(detail()).map_or(Retry::Fail, |r| Retry::Ask(r.1)),
            _ => Retry::Fail,
        }
    }
}

/// Replies that mean "not now, or not here" (any [`Retry`] but `Fail`): the command
/// was not carried out and is to be sent again (to the node the slot map or the
/// redirection names).
pub(crate) fn is_transient(code: &str) -> bool {
    matches!(code, "MOVED" | "ASK") || Retry::of(code, code) != Retry::Fail
}

/// The wait before attempt `n` (0-based) of a retry: 50 ms doubling to 2 s at most.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(50)
        .saturating_mul(1 << attempt.min(6))
        .min(Duration::from_secs(2))
}

/// Connections opened on demand, per node, beside a worker's own.
pub(crate) struct Redirects<'t> {
    pub(crate) base: &'t Target,
    pub(crate) conns: HashMap<NodeAddr, Connection>,
}

impl Redirects<'_> {
    /// A connection to `addr` (opened when there is none).
    pub(crate) fn connection(&mut self, addr: &NodeAddr) -> crate::Result<&mut Connection> {
        match self.conns.entry(addr.clone()) {
            std::collections::hash_map::Entry::Occupied(o) => Ok(o.into_mut()),
            std::collections::hash_map::Entry::Vacant(v) => {
                Ok(v.insert(self.base.for_node(&addr.0, addr.1).connect()?))
            }
        }
    }

    /// Resolves a redirected `EXISTS` (`cmd`): whether the key exists.
    pub(crate) fn exists(
        &mut self,
        own: &NodeAddr,
        cmd: &[u8],
        first: Reply,
        moved: &AtomicBool,
    ) -> Option<bool> {
        let mut reply = first;
        for _ in 0..12 {
            let Reply::Error { code, text } = &reply else {
                return None;
            };
            let (addr, asking) = match Retry::of(code, text) {
                Retry::Moved(to) => {
                    moved.store(true, Ordering::Relaxed);
                    (to, false)
                }
                Retry::Ask(to) => (to, true),
                Retry::Wait | Retry::Refresh => {
                    std::thread::sleep(Duration::from_millis(50));
                    (own.clone(), false)
                }
                Retry::Fail => return None,
            };
            let conn = self.connection(&addr).ok()?;
            if asking {
                let _ = conn.req_packed_command(&redis::cmd("ASKING").get_packed_command());
            }
            match conn.req_packed_command(cmd) {
                Ok(Value::Int(n)) => return Some(n > 0),
                other => reply = classify(other).ok()?,
            }
        }
        None
    }
}

/// Where keys go: the slot map (shared with the framer) or the one node.
pub(crate) struct Router<'r> {
    /// The target as given (its seed node).
    pub(crate) target: &'r Target,
    /// Host used for nodes that report an empty address.
    pub(crate) host: &'r str,
    /// The cluster's slot map, `None` for one node.
    pub(crate) slots: &'r RwLock<Option<SlotMap>>,
    /// The one node when there is no slot map.
    pub(crate) own: NodeAddr,
    /// Whether commands need a `SELECT` of their database first (standalone targets
    /// with several databases).
    pub(crate) select: bool,
    /// How long a key may wait for a node that answers before it fails.
    pub(crate) deadline: Duration,
    /// Set on `MOVED`: the framer re-reads the slot map too.
    pub(crate) moved: &'r AtomicBool,
}

impl Router<'_> {
    /// The node that owns `key` now (`None`: no node serves its slot yet).
    pub(crate) fn owner(&self, key: &[u8]) -> Option<NodeAddr> {
        let map = self.slots.read().unwrap_or_else(|p| p.into_inner());
        match map.as_ref() {
            Some(m) => {
                let slot = usize::from(cluster::slot_for_key(key));
                m.owner
                    .get(slot)
                    .copied()
                    .flatten()
                    .and_then(|i| m.nodes.get(i).cloned())
            }
            None => Some(self.own.clone()),
        }
    }

    /// Re-reads `CLUSTER SLOTS` from the first node that answers: the seed, then
    /// every master known (after a failover the seed may be the node that died).
    pub(crate) fn refresh(&self) {
        if self.slots.read().map(|g| g.is_none()).unwrap_or(true) {
            return;
        }
        let known: Vec<NodeAddr> = self
            .slots
            .read()
            .map(|g| g.as_ref().map(|m| m.nodes.clone()).unwrap_or_default())
            .unwrap_or_default();
        let candidates = std::iter::once(self.target.clone())
            .chain(known.iter().map(|(h, p)| self.target.for_node(h, *p)));
        for t in candidates {
            let Ok(mut c) = t.connect() else { continue };
            if let Ok(Some(m)) = SlotMap::fetch(&mut c, self.host) {
                if let Ok(mut g) = self.slots.write() {
                    *g = Some(m);
                }
                return;
            }
        }
    }
}

/// One command (or one key's command-mode commands) to deliver.
pub(crate) struct Pending<'b> {
    /// The key's database on the target.
    pub(crate) db: u64,
    /// The key (routing).
    pub(crate) key: &'b [u8],
    /// The command(s) as first sent.
    pub(crate) cmd: &'b [u8],
    /// Replies `cmd` gets.
    pub(crate) replies: usize,
    /// `cmd` is one `RESTORE` (else command-mode commands).
    pub(crate) restore: bool,
    /// The first attempt may have been carried out (its reply was lost).
    pub(crate) unknown: bool,
}

impl Pending<'_> {
    /// Appends the command to send now; returns how many replies it gets.
    fn write(&self, out: &mut Vec<u8>) -> usize {
        if !self.unknown {
            out.extend_from_slice(self.cmd);
            self.replies
        } else if self.restore {
            resp::with_replace(out, self.cmd);
            self.replies
        } else {
            resp::write_command(out, &[b"DEL", self.key]);
            out.extend_from_slice(self.cmd);
            self.replies + 1
        }
    }
}

/// How a delivered command ended.
pub(crate) enum Settled {
    /// Carried out.
    Ok,
    /// `BUSYKEY`: the key exists (reply text).
    Exists(String),
    /// Refused for good, or no node answered before the deadline (reply text).
    Failed(String),
}

/// Delivers `items` (see the module doc); one outcome per item, in order.
pub(crate) fn deliver(
    items: &[Pending<'_>],
    router: &Router<'_>,
    redirects: &mut Redirects<'_>,
) -> Vec<Settled> {
    let started = Instant::now();
    let mut settled: Vec<Option<Settled>> = items.iter().map(|_| None).collect();
    // A redirection to follow next time: (node, ASKING first).
    let mut route: Vec<Option<(NodeAddr, bool)>> = items.iter().map(|_| None).collect();
    let mut last_error: Vec<String> = items.iter().map(|_| String::new()).collect();
    let mut attempt = 0;
    loop {
        let pending: Vec<usize> = (0..items.len()).filter(|&i| settled[i].is_none()).collect();
        if pending.is_empty() {
            break;
        }
        if started.elapsed() >= router.deadline {
            for i in pending {
                settled[i] = Some(Settled::Failed(format!(
                    "IO no node took this key within {} s (--node-timeout): {}",
                    router.deadline.as_secs(),
                    last_error[i]
                )));
            }
            break;
        }
        let mut groups: BTreeMap<(NodeAddr, bool, u64), Vec<usize>> = BTreeMap::new();
        for i in pending {
            let Some(item) = items.get(i) else { continue };
            let dest = match route[i].take() {
                Some(r) => r,
                None => match router.owner(item.key) {
                    Some(a) => (a, false),
                    None => {
                        last_error[i] = "CLUSTERDOWN no node serves this key's slot".into();
                        continue;
                    }
                },
            };
            let db = if router.select { item.db } else { 0 };
            groups.entry((dest.0, dest.1, db)).or_default().push(i);
        }
        let mut redirected = false;
        let mut refresh = false;
        for ((addr, asking, db), idxs) in groups {
            let conn = match redirects.connection(&addr) {
                Ok(c) => c,
                Err(e) => {
                    for &i in &idxs {
                        last_error[i] = e.to_string();
                    }
                    refresh = true;
                    continue;
                }
            };
            let mut buf = Vec::new();
            let mut expected = 0;
            if router.select {
                resp::write_select(&mut buf, db);
                expected += 1;
            }
            let mut counts = Vec::with_capacity(idxs.len());
            for &i in &idxs {
                if asking {
                    resp::write_command(&mut buf, &[b"ASKING"]);
                    expected += 1;
                }
                let n = items.get(i).map_or(0, |item| item.write(&mut buf));
                counts.push(n);
                expected += n;
            }
            let replies = match conn.req_packed_commands(&buf, 0, expected) {
                Ok(r) => r,
                Err(e) => {
                    redirects.conns.remove(&addr);
                    let text = redirects.base.scrub(&e.to_string());
                    for &i in &idxs {
                        last_error[i] = format!("{}:{}: {text}", addr.0, addr.1);
                    }
                    refresh = true;
                    continue;
                }
            };
            let mut replies = replies.into_iter();
            if router.select {
                if let Ok(Reply::Error { text, .. }) =
                    classify(Ok(replies.next().unwrap_or(Value::Nil)))
                {
                    for &i in &idxs {
                        settled[i] = Some(Settled::Failed(format!("SELECT {db}: {text}")));
                    }
                    continue;
                }
            }
            for (&i, n) in idxs.iter().zip(counts) {
                if asking {
                    let _ = replies.next();
                }
                // The first error among the item's replies decides.
                let mut first = Reply::Ok;
                for _ in 0..n {
                    let r = classify(Ok(replies.next().unwrap_or(Value::Nil)));
                    if let (Ok(r @ Reply::Error { .. }), Reply::Ok) = (r, &first) {
                        first = r;
                    }
                }
                match first {
                    Reply::Ok => settled[i] = Some(Settled::Ok),
                    Reply::Error { code, text } if code == "BUSYKEY" => {
                        settled[i] = Some(Settled::Exists(text));
                    }
                    Reply::Error { code, text } => match Retry::of(&code, &text) {
                        Retry::Moved(to) => {
                            route[i] = Some((to, false));
                            redirected = true;
                            router.moved.store(true, Ordering::Relaxed);
                            refresh = true;
                        }
                        Retry::Ask(to) => {
                            route[i] = Some((to, true));
                            redirected = true;
                        }
                        Retry::Refresh => {
                            refresh = true;
                            last_error[i] = text;
                        }
                        Retry::Wait => last_error[i] = text,
                        Retry::Fail => settled[i] = Some(Settled::Failed(text)),
                    },
                }
            }
        }
        if refresh {
            router.refresh();
        }
        let waiting = settled
            .iter()
            .zip(&route)
            .any(|(s, r)| s.is_none() && r.is_none());
        if waiting && !redirected {
            std::thread::sleep(backoff(attempt));
            attempt += 1;
        }
    }
    settled
        .into_iter()
        .map(|s| s.unwrap_or_else(|| Settled::Failed("IO not delivered".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_by_error_kind() {
        let node = |p| Some(("10.0.0.2".to_string(), p));
        assert_eq!(
            Some(Retry::of("MOVED", "MOVED 3999 10.0.0.2:6381")),
            node(6381).map(Retry::Moved)
        );
        assert_eq!(
            Some(Retry::of("ASK", "ASK 3999 10.0.0.2:6382")),
            node(6382).map(Retry::Ask)
        );
        for wait in ["LOADING", "MASTERDOWN", "TRYAGAIN", "BUSY"] {
            assert_eq!(Retry::of(wait, wait), Retry::Wait, "{wait}");
            assert!(is_transient(wait));
        }
        for refresh in ["READONLY", "CLUSTERDOWN"] {
            assert_eq!(Retry::of(refresh, refresh), Retry::Refresh, "{refresh}");
            assert!(is_transient(refresh));
        }
        for fail in ["BUSYKEY", "OOM", "ERR", "NOPERM", "WRONGTYPE"] {
            assert_eq!(Retry::of(fail, fail), Retry::Fail, "{fail}");
            assert!(!is_transient(fail));
        }
        // A redirection without a node to go to is not followed.
        assert_eq!(Retry::of("MOVED", "MOVED garbage"), Retry::Fail);
        assert!(is_transient("MOVED") && is_transient("ASK"));
    }

    #[test]
    fn backoff_is_bounded() {
        assert_eq!(backoff(0), Duration::from_millis(50));
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(5), Duration::from_millis(1600));
        assert_eq!(backoff(6), Duration::from_secs(2));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(2));
    }
}
