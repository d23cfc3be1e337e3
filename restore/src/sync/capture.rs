//! Change capture: one pub/sub subscriber per source master, on the keyevent
//! channels (`PSUBSCRIBE __keyevent@*__:*`).
//!
//! Why keyevent rather than keyspace channels: the key arrives as the message
//! payload, binary-safe and whole, while a keyspace channel carries it inside the
//! channel name after `__keyspace@N__:`; both carry the database. Keyevent needs the
//! `E` flag of `notify-keyspace-events` plus the key-type flags (`A`).
//!
//! The subscriber never blocks on the dirty set: events go through a bounded
//! channel with `try_send`; a full channel raises the overflow flag, which the sync
//! loop repairs with a re-scan (a gap is never dropped silently). A subscription
//! that ends (the server closed it, `CLIENT KILL TYPE pubsub`, an output-buffer
//! limit) raises its node's `lost` flag; one that goes silent is caught by the
//! heartbeat: the sync loop `PUBLISH`es on a keyevent channel of its own every
//! [`HEARTBEAT_EVERY`] and declares the subscriber lost when none arrives.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, TrySendError};
use redis::Value;

use crate::cluster::NodeAddr;
use crate::error::{Error, Result};
use crate::target::Target;

use super::nodes::{text, Nodes};

/// The pattern subscribed to.
pub(crate) const PATTERN: &str = "__keyevent@*__:*";
/// The event name of the sync loop's heartbeats (published, never a real event).
pub(crate) const HEARTBEAT_EVENT: &str = "__rdbkit_sync_heartbeat__";
/// How often heartbeats are published.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_millis(250);
/// A subscriber that saw no heartbeat for this long is lost.
pub(crate) const HEARTBEAT_LOST: Duration = Duration::from_secs(5);
/// Keys of the notification probe start with this (and are never copied).
pub(crate) const PROBE_PREFIX: &[u8] = b"__rdbkit_sync_probe__";
/// Keys of the target probe of [`Target::probe`] (never copied).
const TARGET_PROBE_PREFIX: &[u8] = b"rdbkit:probe:";

/// Events that are not changes (`keymiss`: a read; `new`: always followed by the
/// write's own event).
const IGNORED: [&str; 2] = ["keymiss", "new"];

/// A changed key, as the subscriber saw it.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) db: u64,
    pub(crate) key: Vec<u8>,
    pub(crate) seen: Instant,
}

/// Whether a key belongs to rdbkit's own probes.
pub(crate) fn is_probe_key(key: &[u8]) -> bool {
    key.windows(PROBE_PREFIX.len()).any(|w| w == PROBE_PREFIX)
        || key.starts_with(TARGET_PROBE_PREFIX)
}

/// What a subscriber shares with the sync loop.
#[derive(Debug)]
pub(crate) struct NodeCapture {
    pub(crate) addr: NodeAddr,
    /// Bumped when the subscriber is replaced: an older thread exits.
    generation: AtomicU64,
    /// The subscription ended.
    pub(crate) lost: AtomicBool,
    /// Milliseconds since `start` when the last heartbeat arrived.
    last_beat_ms: AtomicU64,
    start: Instant,
    /// Event names seen on probe keys.
    probe_events: Mutex<HashSet<String>>,
}

impl NodeCapture {
    /// Whether the subscriber missed its heartbeats.
    pub(crate) fn silent(&self) -> bool {
        let last = Duration::from_millis(self.last_beat_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last) > HEARTBEAT_LOST
    }
}

/// Counters shared by every subscriber.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// The channel to the sync loop was full: events were lost.
    pub(crate) overflow: AtomicBool,
    /// Change events received.
    pub(crate) events: AtomicU64,
    /// Milliseconds since `epoch` of the last change event.
    pub(crate) last_event_ms: AtomicU64,
}

/// Parses `__keyevent@DB__:EVENT`.
fn parse_channel(channel: &[u8]) -> Option<(u64, &str)> {
    let rest = channel.strip_prefix(b"__keyevent@")?;
    let end = rest.iter().position(|&b| b == b'_')?;
    let db = std::str::from_utf8(rest.get(..end)?).ok()?.parse().ok()?;
    let event = std::str::from_utf8(rest.get(end..)?.strip_prefix(b"__:")?).ok()?;
    Some((db, event))
}

fn bytes(v: &Value) -> Option<&[u8]> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.as_bytes()),
        _ => None,
    }
}

/// Starts a subscriber on `addr`; returns once the subscription is confirmed (so
/// every change after this call is captured).
pub(crate) fn subscribe(
    node: Target,
    addr: NodeAddr,
    tx: Sender<Event>,
    shared: Arc<Shared>,
    epoch: Instant,
    previous: Option<&NodeCapture>,
) -> Result<Arc<NodeCapture>> {
    let mut conn = node.connect()?;
    let cmd = redis::cmd("PSUBSCRIBE").arg(PATTERN).get_packed_command();
    conn.send_packed_command(&cmd)
        .and_then(|()| conn.recv_response())
        .map_err(|e| node.error("PSUBSCRIBE", &e))
        .and_then(|v| match v {
            Value::Array(a) | Value::Push { data: a, .. }
                if a.first().and_then(bytes) == Some(b"psubscribe") =>
            {
                Ok(())
            }
            Value::ServerError(e) => Err(node.error("PSUBSCRIBE refused", &e)),
            other => Err(node.error("PSUBSCRIBE: unexpected reply", &format!("{other:?}"))),
        })?;
    // Between messages the subscriber waits as long as it takes; the heartbeat
    // notices a silent connection.
    conn.set_read_timeout(None)
        .map_err(|e| node.error("cannot clear the read timeout", &e))?;
    let start = Instant::now();
    let capture = Arc::new(NodeCapture {
        addr,
        generation: AtomicU64::new(previous.map_or(0, |p| p.generation.load(Ordering::SeqCst) + 1)),
        lost: AtomicBool::new(false),
        last_beat_ms: AtomicU64::new(0),
        start,
        probe_events: Mutex::new(HashSet::new()),
    });
    let me = Arc::clone(&capture);
    let my_generation = me.generation.load(Ordering::SeqCst);
    std::thread::Builder::new()
        .name("rdbkit-sync-capture".into())
        .spawn(move || loop {
            let msg = conn.recv_response();
            if me.generation.load(Ordering::SeqCst) != my_generation {
                return;
            }
            let parts = match msg {
                Ok(Value::Array(a)) | Ok(Value::Push { data: a, .. }) => a,
                Ok(_) => continue,
                Err(_) => {
                    me.lost.store(true, Ordering::SeqCst);
                    return;
                }
            };
            // ["pmessage", pattern, channel, payload]
            if parts.first().and_then(bytes) != Some(b"pmessage") {
                continue;
            }
            let (Some(channel), Some(key)) =
                (parts.get(2).and_then(bytes), parts.get(3).and_then(bytes))
            else {
                continue;
            };
            let Some((db, event)) = parse_channel(channel) else {
                continue;
            };
            if event == HEARTBEAT_EVENT {
                me.last_beat_ms
                    .store(start.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
                continue;
            }
            if IGNORED.contains(&event) {
                continue;
            }
            if is_probe_key(key) {
                if let Ok(mut seen) = me.probe_events.lock() {
                    seen.insert(event.to_string());
                }
                continue;
            }
            let seen = Instant::now();
            shared.events.fetch_add(1, Ordering::Relaxed);
            shared
                .last_event_ms
                .store(epoch.elapsed().as_millis() as u64, Ordering::Relaxed);
            match tx.try_send(Event {
                db,
                key: key.to_vec(),
                seen,
            }) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => shared.overflow.store(true, Ordering::SeqCst),
                Err(TrySendError::Disconnected(_)) => return,
            }
        })
        .map_err(|e| Error::Io {
            context: "starting a capture thread".into(),
            source: e,
        })?;
    if let Some(p) = previous {
        // The old thread (blocked in a read) exits on its next message.
        p.generation.fetch_add(1, Ordering::SeqCst);
    }
    Ok(capture)
}

/// The flags of `notify-keyspace-events` sync needs: keyevent channels (`E`) for
/// generic commands, every key type, expirations and evictions.
const NEEDED_FLAGS: &str = "Eg$lshzxet";

/// Checks `notify-keyspace-events` on `addr` (`CONFIG GET`); `Ok(None)` when the
/// server refuses CONFIG (ElastiCache), so only the probe can tell.
pub(crate) fn check_config(nodes: &mut Nodes, addr: &NodeAddr) -> Result<Option<String>> {
    let reply = nodes.query(
        addr,
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events"),
    )?;
    let value = match reply {
        Ok(Value::Array(a)) => a.get(1).and_then(text),
        Ok(Value::Map(m)) => m.first().and_then(|(_, v)| text(v)),
        _ => return Ok(None),
    };
    let Some(value) = value else { return Ok(None) };
    let flags: String = value.replace('A', "g$lshzxetd");
    let missing: String = NEEDED_FLAGS
        .chars()
        .filter(|c| !flags.contains(*c))
        .collect();
    if missing.is_empty() {
        return Ok(Some(value));
    }
    Err(Error::Refused {
        target: format!("{}:{}", addr.0, addr.1),
        message: format!(
            "notify-keyspace-events is {value:?}, which lacks {missing:?}: sync needs keyevent \
             notifications for every change. Set it to \"EA\" (or \"KEA\"; the minimum is \
             \"{NEEDED_FLAGS}\"): on ElastiCache, in the cluster's parameter group \
             (parameter notify-keyspace-events, applied without a reboot); on a server you \
             manage, CONFIG SET notify-keyspace-events KEA. ElastiCache Serverless has no \
             keyspace notifications: use restore from a backup there"
        ),
    })
}

/// Proves that `capture` receives the events sync needs: writes probe keys hashed
/// to `addr` (one per key type, one that expires, then deletes them) and waits for
/// their events.
pub(crate) fn probe(nodes: &mut Nodes, addr: &NodeAddr, capture: &NodeCapture) -> Result<()> {
    // A hash tag that the node serves, so that the probe lands on it.
    let tag = (0..100_000u32)
        .map(|i| format!("{{p{i}}}"))
        .find(|t| nodes.owner(t.as_bytes()) == *addr)
        .unwrap_or_default();
    let base = format!(
        "{}{tag}{}",
        String::from_utf8_lossy(PROBE_PREFIX),
        crate::target::unique_suffix()
    );
    let k = |s: &str| format!("{base}:{s}");
    let mut buf = Vec::new();
    let cmds: Vec<redis::Cmd> = vec![
        redis::cmd("SET")
            .arg(k("s"))
            .arg("1")
            .arg("PX")
            .arg(60_000)
            .clone(),
        redis::cmd("RPUSH").arg(k("l")).arg("1").clone(),
        redis::cmd("SADD").arg(k("set")).arg("1").clone(),
        redis::cmd("HSET").arg(k("h")).arg("f").arg("1").clone(),
        redis::cmd("ZADD").arg(k("z")).arg(1).arg("m").clone(),
        redis::cmd("XADD")
            .arg(k("x"))
            .arg("*")
            .arg("f")
            .arg("1")
            .clone(),
        redis::cmd("DEL")
            .arg(k("s"))
            .arg(k("l"))
            .arg(k("set"))
            .arg(k("h"))
            .arg(k("z"))
            .arg(k("x"))
            .clone(),
        redis::cmd("SET")
            .arg(k("e"))
            .arg("1")
            .arg("PX")
            .arg(1)
            .clone(),
        // The heartbeat that proves the subscription alive later needs PUBLISH.
        redis::cmd("PUBLISH")
            .arg(format!("__keyevent@0__:{HEARTBEAT_EVENT}"))
            .arg("probe")
            .clone(),
    ];
    for c in &cmds {
        buf.extend_from_slice(&c.get_packed_command());
    }
    let node = format!("{}:{}", addr.0, addr.1);
    for r in nodes.exchange(addr, &buf, cmds.len())? {
        if let Err((_, text)) = r {
            return Err(Error::Refused {
                target: node,
                message: format!("the notification probe was refused: {text}"),
            });
        }
    }
    let wanted = [
        ("set", '$'),
        ("rpush", 'l'),
        ("sadd", 's'),
        ("hset", 'h'),
        ("zadd", 'z'),
        ("xadd", 't'),
        ("del", 'g'),
        ("expired", 'x'),
    ];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Reading the expired key makes the server expire it (and notify) at once.
        std::thread::sleep(Duration::from_millis(20));
        let _ = nodes.query(addr, redis::cmd("EXISTS").arg(k("e")));
        let seen = capture
            .probe_events
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default();
        let missing: Vec<_> = wanted.iter().filter(|(e, _)| !seen.contains(*e)).collect();
        if missing.is_empty() && capture.last_beat_ms.load(Ordering::Relaxed) > 0 {
            return Ok(());
        }
        if Instant::now() > deadline && missing.is_empty() {
            return Err(Error::Refused {
                target: node,
                message: "the heartbeat published on a keyevent channel did not come back \
                          within 5 s: sync needs PUBLISH and PSUBSCRIBE on __keyevent@*__:* \
                          (ACL: +publish +psubscribe &*)"
                    .into(),
            });
        }
        if Instant::now() > deadline {
            let names: Vec<&str> = missing.iter().map(|(e, _)| *e).collect();
            let flags: String = missing.iter().map(|(_, f)| *f).collect();
            return Err(Error::Refused {
                target: node,
                message: format!(
                    "no keyspace notification arrived for {} within 5 s (flags {flags:?} of \
                     notify-keyspace-events, with E): set notify-keyspace-events to \"EA\" \
                     (or \"KEA\"): on ElastiCache, in the cluster's parameter group; on a \
                     server you manage, CONFIG SET notify-keyspace-events KEA. ElastiCache \
                     Serverless has no keyspace notifications",
                    names.join(", ")
                ),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn channels() {
        assert_eq!(parse_channel(b"__keyevent@3__:set"), Some((3, "set")));
        assert_eq!(
            parse_channel(b"__keyevent@12__:rename_to"),
            Some((12, "rename_to"))
        );
        assert_eq!(parse_channel(b"__keyspace@0__:k"), None);
        assert_eq!(parse_channel(b"__keyevent@x__:set"), None);
        assert!(is_probe_key(b"__rdbkit_sync_probe__{p1}abc:s"));
        assert!(!is_probe_key(b"user:1"));
    }
}
