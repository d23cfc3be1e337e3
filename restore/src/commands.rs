//! **Command mode**: a key written as plain commands instead of `RESTORE`, for
//! targets that accept no `RESTORE` (or no payload of this type), and as the last
//! resort of `--mode auto`.
//!
//! | type | commands |
//! |---|---|
//! | string | `SET` |
//! | list | `RPUSH` in chunks |
//! | set | `SADD` in chunks |
//! | sorted set | `ZADD` in chunks (scores printed as Redis prints them, `%.17g`) |
//! | hash | `HSET` (`HMSET` before RDB 8 / Redis 4.0) in chunks; field TTLs with `HPEXPIREAT … FIELDS` (Redis 7.4+, Valkey 9+) |
//! | stream | `XADD` per entry with its ID (an empty stream: `XADD … MAXLEN 0`), `XSETID` (with `ENTRIESADDED`/`MAXDELETEDID` on 7.0+), `XGROUP CREATE` (with `ENTRIESREAD` on 7.0+), `XCLAIM … TIME ms RETRYCOUNT n FORCE JUSTID` per pending entry, `XGROUP CREATECONSUMER` (7.0+; `XREADGROUP … 0` before) for consumers without pending entries |
//! | expiry | `PEXPIREAT` last |
//!
//! A chunk holds at most [`CommandOptions::chunk_elements`] elements and about
//! [`CommandOptions::chunk_bytes`] bytes of arguments. With `replace`, `DEL key` comes
//! first. The commands of one key are not atomic: a failure part-way leaves part of
//! the key written (the key is reported failed with the server's error).
//!
//! What commands cannot reproduce: consumers' seen/active times (set by the target
//! when the commands run), `OBJECT IDLETIME`/`FREQ`, and pending entries whose
//! stream entry was deleted (`XCLAIM … FORCE` only claims existing entries: the
//! target leaves them out).

use std::collections::HashMap;
use std::fmt;

use rdb_parser::reencode::{format_score, Dropped, FieldTtlPolicy};
use rdb_parser::value::{Element, Stream, StreamId, Value};
use rdb_parser::Family;

use crate::plan::TargetProfile;
use crate::resp::write_bulk;

/// How to write one key as commands.
#[derive(Debug, Clone, Copy)]
pub struct CommandOptions {
    /// What the target is.
    pub target: TargetProfile,
    /// `DEL key` first.
    pub replace: bool,
    /// Key expiry (Unix ms), set last with `PEXPIREAT`.
    pub expire_at_ms: Option<i64>,
    /// The restore time (Unix ms): hash fields expiring at or before it are left out.
    pub now_ms: i64,
    /// Hash field TTLs on a target without field-expiry commands.
    pub field_ttls: FieldTtlPolicy,
    /// Elements per command at most (default 256).
    pub chunk_elements: usize,
    /// Argument bytes per command, about (default 1 MiB; one larger element goes alone).
    pub chunk_bytes: usize,
}

impl CommandOptions {
    /// Options with the default chunk sizes.
    pub fn new(target: TargetProfile, now_ms: i64) -> CommandOptions {
        CommandOptions {
            target,
            replace: false,
            expire_at_ms: None,
            now_ms,
            field_ttls: FieldTtlPolicy::Fail,
            chunk_elements: 256,
            chunk_bytes: 1 << 20,
        }
    }

    /// Whether the target has hash field expiry commands (`HPEXPIREAT`).
    pub fn has_field_ttl_commands(&self) -> bool {
        field_ttl_commands(&self.target)
    }
}

/// Whether `target` has hash field expiry commands: Redis 7.4+ (RDB 12) or Valkey 9+
/// (RDB 80).
pub fn field_ttl_commands(target: &TargetProfile) -> bool {
    match target.family {
        Family::Redis => target.rdb_version >= 12 && target.rdb_version < 80,
        _ => target.rdb_version >= 80,
    }
}

/// What was written for a key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Commands appended (one reply each).
    pub commands: usize,
    /// What the commands do not carry.
    pub dropped: Dropped,
    /// Every field of the hash had expired: nothing was written (the key should not
    /// exist).
    pub empty: bool,
}

/// Why a key cannot be written as commands.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandError {
    /// No commands exist for it on this target (modules, streams before 5.0).
    Unsupported(String),
    /// Live hash field TTLs on a target without field expiry, policy `fail`.
    FieldTtls(u64),
    /// The source value is malformed.
    Parse(rdb_parser::Error),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Unsupported(why) => f.write_str(why),
            CommandError::FieldTtls(n) => write!(
                f,
                "{n} hash field TTL(s) cannot be set on this target (needs Redis 7.4 or Valkey 9); \
                 --hash-field-ttl drop restores the fields without them"
            ),
            CommandError::Parse(e) => write!(f, "cannot decode the value: {e}"),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<rdb_parser::Error> for CommandError {
    fn from(e: rdb_parser::Error) -> Self {
        CommandError::Parse(e)
    }
}

/// One command being built: arguments go to a scratch buffer, the array header is
/// written when the argument count is known.
struct Cmd<'o> {
    out: &'o mut Vec<u8>,
    args: Vec<u8>,
    n: u64,
    commands: usize,
}

impl<'o> Cmd<'o> {
    fn arg(&mut self, a: &[u8]) {
        write_bulk(&mut self.args, a);
        self.n += 1;
    }

    fn arg_el(&mut self, e: &Element<'_>) {
        match e {
            Element::Bytes(b) => self.arg(b),
            Element::Int(i) => self.arg(i.to_string().as_bytes()),
        }
    }

    fn arg_num(&mut self, n: impl fmt::Display) {
        self.arg(n.to_string().as_bytes());
    }

    fn finish(&mut self) {
        if self.n == 0 {
            return;
        }
        self.out.push(b'*');
        self.out.extend_from_slice(self.n.to_string().as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.out.extend_from_slice(&self.args);
        self.args.clear();
        self.n = 0;
        self.commands += 1;
    }
}

/// Chunked variadic commands: `NAME key` + elements, a new command when full.
struct Chunker<'c, 'o> {
    cmd: &'c mut Cmd<'o>,
    name: &'static [&'static [u8]],
    key: &'c [u8],
    elements: usize,
    max_elements: usize,
    max_bytes: usize,
}

impl Chunker<'_, '_> {
    /// Starts a new element (several arguments, e.g. score + member) of `bytes` size.
    fn element(&mut self, bytes: usize) {
        if self.elements > 0
            && (self.elements >= self.max_elements || self.cmd.args.len() + bytes > self.max_bytes)
        {
            self.cmd.finish();
            self.elements = 0;
        }
        if self.elements == 0 {
            for a in self.name {
                self.cmd.arg(a);
            }
            self.cmd.arg(self.key);
        }
        self.elements += 1;
    }

    fn done(&mut self) {
        self.cmd.finish();
        self.elements = 0;
    }
}

/// Appends the commands that rebuild `key` with `value` to `out` (nothing is appended
/// on error).
pub fn write_key_commands(
    out: &mut Vec<u8>,
    key: &[u8],
    value: Value<'_>,
    options: &CommandOptions,
) -> Result<Written, CommandError> {
    let start = out.len();
    let r = write_inner(out, key, value, options);
    if r.is_err() {
        out.truncate(start);
    }
    r
}

fn write_inner(
    out: &mut Vec<u8>,
    key: &[u8],
    value: Value<'_>,
    o: &CommandOptions,
) -> Result<Written, CommandError> {
    let mut dropped = Dropped::default();
    let out_start = out.len();
    let mut cmd = Cmd {
        out,
        args: Vec::new(),
        n: 0,
        commands: 0,
    };
    if o.replace {
        cmd.arg(b"DEL");
        cmd.arg(key);
        cmd.finish();
    }
    let max_elements = o.chunk_elements.max(1);
    let max_bytes = o.chunk_bytes.max(1);
    let chunker = |cmd, name| Chunker {
        cmd,
        name,
        key,
        elements: 0,
        max_elements,
        max_bytes,
    };
    let is_list = matches!(value, Value::List(_));
    match value {
        Value::String(s) => {
            let bytes = s.to_bytes()?;
            cmd.arg(b"SET");
            cmd.arg(key);
            cmd.arg(&bytes);
            cmd.finish();
        }
        Value::List(items) | Value::Set(items) => {
            let name: &'static [&'static [u8]] = if is_list { &[b"RPUSH"] } else { &[b"SADD"] };
            let mut c = chunker(&mut cmd, name);
            for e in items {
                let e = e?;
                c.element(e.len() + 16);
                c.cmd.arg_el(&e);
            }
            c.done();
        }
        Value::ZSet(entries) => {
            let mut c = chunker(&mut cmd, &[b"ZADD"]);
            for e in entries {
                let (member, score) = e?;
                let text = format_score(score);
                c.element(member.len() + text.len() + 16);
                c.cmd.arg(text.as_bytes());
                c.cmd.arg_el(&member);
            }
            c.done();
        }
        Value::Hash(fields) => {
            let hset: &'static [&'static [u8]] = if o.target.rdb_version >= 8 {
                &[b"HSET"]
            } else {
                &[b"HMSET"]
            };
            let mut ttls: Vec<(i64, Element<'_>)> = Vec::new();
            let mut c = chunker(&mut cmd, hset);
            for f in fields {
                let f = f?;
                match f.expire_at_ms {
                    Some(at) if at <= o.now_ms => {
                        dropped.expired_fields += 1;
                        continue;
                    }
                    Some(at) => ttls.push((at, f.field.clone())),
                    None => {}
                }
                c.element(f.field.len() + f.value.len() + 16);
                c.cmd.arg_el(&f.field);
                c.cmd.arg_el(&f.value);
            }
            c.done();
            if !ttls.is_empty() {
                if field_ttl_commands(&o.target) {
                    write_field_ttls(&mut cmd, key, &mut ttls, max_elements);
                } else if o.field_ttls == FieldTtlPolicy::Drop {
                    dropped.field_ttls += ttls.len() as u64;
                } else {
                    return Err(CommandError::FieldTtls(ttls.len() as u64));
                }
            }
            if cmd.commands == usize::from(o.replace) {
                // Every field had expired: the key does not exist any more.
                cmd.out.truncate(out_start);
                return Ok(Written {
                    commands: 0,
                    dropped,
                    empty: true,
                });
            }
        }
        Value::Stream(stream) => {
            if o.target.rdb_version < 9 {
                return Err(CommandError::Unsupported(
                    "streams need Redis 5.0 (RDB 9)".into(),
                ));
            }
            write_stream(&mut cmd, key, &stream, o, &mut dropped)?;
        }
        Value::Module(m) => {
            return Err(CommandError::Unsupported(format!(
                "module values ({}) cannot be written as commands",
                m.name()
            )))
        }
        _ => {
            return Err(CommandError::Unsupported(
                "a value type without commands".into(),
            ))
        }
    }
    if let Some(at) = o.expire_at_ms {
        cmd.arg(b"PEXPIREAT");
        cmd.arg(key);
        cmd.arg_num(at);
        cmd.finish();
    }
    Ok(Written {
        commands: cmd.commands,
        dropped,
        empty: false,
    })
}

/// `HPEXPIREAT key ms FIELDS n f...`, one command per expiry time (chunked).
fn write_field_ttls(cmd: &mut Cmd<'_>, key: &[u8], ttls: &mut [(i64, Element<'_>)], max: usize) {
    ttls.sort_by_key(|(at, _)| *at);
    for group in ttls.chunk_by(|a, b| a.0 == b.0) {
        for chunk in group.chunks(max) {
            cmd.arg(b"HPEXPIREAT");
            cmd.arg(key);
            cmd.arg_num(chunk[0].0);
            cmd.arg(b"FIELDS");
            cmd.arg_num(chunk.len());
            for (_, f) in chunk {
                cmd.arg_el(f);
            }
            cmd.finish();
        }
    }
}

fn id_text(id: StreamId) -> String {
    id.to_string()
}

/// `XADD` per entry, `XSETID`, groups, consumers and pending entries.
fn write_stream(
    cmd: &mut Cmd<'_>,
    key: &[u8],
    stream: &Stream<'_>,
    o: &CommandOptions,
    dropped: &mut Dropped,
) -> Result<(), CommandError> {
    let v7 = o.target.rdb_version >= 10;
    let mut added = 0u64;
    for entry in stream.entries() {
        let entry = entry?;
        cmd.arg(b"XADD");
        cmd.arg(key);
        cmd.arg(id_text(entry.id).as_bytes());
        for (f, v) in &entry.fields {
            cmd.arg_el(f);
            cmd.arg_el(v);
        }
        cmd.finish();
        added += 1;
    }
    let zero = StreamId::default();
    if added == 0 {
        // An empty stream: create it with one entry trimmed away at once.
        let first = if stream.last_id == zero {
            StreamId { ms: 0, seq: 1 }
        } else {
            stream.last_id
        };
        cmd.arg(b"XADD");
        cmd.arg(key);
        cmd.arg(b"MAXLEN");
        cmd.arg(b"0");
        cmd.arg(id_text(first).as_bytes());
        cmd.arg(b"x");
        cmd.arg(b"");
        cmd.finish();
    }
    cmd.arg(b"XSETID");
    cmd.arg(key);
    cmd.arg(id_text(stream.last_id).as_bytes());
    match (stream.entries_added, stream.max_deleted_id) {
        (Some(n), Some(max_deleted)) if v7 => {
            cmd.arg(b"ENTRIESADDED");
            cmd.arg_num(n);
            cmd.arg(b"MAXDELETEDID");
            cmd.arg(id_text(max_deleted).as_bytes());
        }
        (Some(_), _) => dropped.stream_metadata = true,
        _ => {}
    }
    cmd.finish();
    for g in &stream.groups {
        cmd.arg(b"XGROUP");
        cmd.arg(b"CREATE");
        cmd.arg(key);
        cmd.arg_el(&g.name);
        cmd.arg(id_text(g.last_delivered_id).as_bytes());
        if let Some(n) = g.entries_read {
            if v7 {
                cmd.arg(b"ENTRIESREAD");
                cmd.arg_num(n);
            } else {
                dropped.stream_metadata = true;
            }
        }
        cmd.finish();
        let pel: HashMap<StreamId, (i64, u64)> = g
            .pending
            .iter()
            .map(|p| (p.id, (p.delivery_time_ms, p.delivery_count)))
            .collect();
        for c in &g.consumers {
            if c.active_time_ms.is_some() {
                dropped.active_times += 1;
            }
            if c.pending.is_empty() {
                if v7 {
                    cmd.arg(b"XGROUP");
                    cmd.arg(b"CREATECONSUMER");
                    cmd.arg(key);
                    cmd.arg_el(&g.name);
                    cmd.arg_el(&c.name);
                } else {
                    // Reading the consumer's own (empty) history creates it.
                    cmd.arg(b"XREADGROUP");
                    cmd.arg(b"GROUP");
                    cmd.arg_el(&g.name);
                    cmd.arg_el(&c.name);
                    cmd.arg(b"COUNT");
                    cmd.arg(b"1");
                    cmd.arg(b"STREAMS");
                    cmd.arg(key);
                    cmd.arg(b"0");
                }
                cmd.finish();
                continue;
            }
            // One XCLAIM per run of entries with the same delivery time and count.
            let claims: Vec<(StreamId, (i64, u64))> = c
                .pending
                .iter()
                .map(|id| (*id, pel.get(id).copied().unwrap_or((o.now_ms, 1))))
                .collect();
            for run in claims.chunk_by(|a, b| a.1 == b.1) {
                for chunk in run.chunks(o.chunk_elements.max(1)) {
                    let (time, count) = chunk[0].1;
                    cmd.arg(b"XCLAIM");
                    cmd.arg(key);
                    cmd.arg_el(&g.name);
                    cmd.arg_el(&c.name);
                    cmd.arg(b"0");
                    for (id, _) in chunk {
                        cmd.arg(id_text(*id).as_bytes());
                    }
                    cmd.arg(b"TIME");
                    cmd.arg_num(time);
                    cmd.arg(b"RETRYCOUNT");
                    cmd.arg_num(count);
                    cmd.arg(b"FORCE");
                    cmd.arg(b"JUSTID");
                    cmd.finish();
                }
            }
        }
    }
    if stream.idmp.is_some() {
        dropped.idmp = true;
    }
    Ok(())
}

/// How the keys of a run were converted for the target, counted when they are
/// framed (before the target answers: a key counted here may still fail).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConversionCounts {
    /// Keys sent with only the footer version re-stamped (source file newer than the
    /// target, type known to it).
    pub restamped: u64,
    /// Keys re-encoded to a type the target reads.
    pub reencoded: u64,
    /// Keys written as plain commands.
    pub commands: u64,
    /// Hash field TTLs dropped (`--hash-field-ttl drop`).
    pub field_ttls_dropped: u64,
    /// Hash fields left out because they had already expired.
    pub expired_fields: u64,
    /// Streams whose v2+ metadata (`entries_read`, `first_id`, `max_deleted_id`,
    /// `entries_added`) the target's stream version cannot hold.
    pub stream_metadata_dropped: u64,
    /// Consumers whose active time was dropped.
    pub active_times_dropped: u64,
    /// Streams whose IDMP state was dropped.
    pub idmp_dropped: u64,
}

impl ConversionCounts {
    /// Adds what one key's conversion left out.
    pub fn add_dropped(&mut self, d: &Dropped) {
        self.field_ttls_dropped += d.field_ttls;
        self.expired_fields += d.expired_fields;
        self.stream_metadata_dropped += u64::from(d.stream_metadata);
        self.active_times_dropped += d.active_times;
        self.idmp_dropped += u64::from(d.idmp);
    }

    /// Adds `other`'s counts.
    pub fn merge(&mut self, other: &ConversionCounts) {
        self.restamped += other.restamped;
        self.reencoded += other.reencoded;
        self.commands += other.commands;
        self.field_ttls_dropped += other.field_ttls_dropped;
        self.expired_fields += other.expired_fields;
        self.stream_metadata_dropped += other.stream_metadata_dropped;
        self.active_times_dropped += other.active_times_dropped;
        self.idmp_dropped += other.idmp_dropped;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use rdb_parser::value::listpack;
    use rdb_parser::value::RawEntry;
    use rdb_parser::write::write_string;

    fn profile(rdb_version: u16) -> TargetProfile {
        TargetProfile {
            max_bulk_len: crate::plan::DEFAULT_MAX_BULK_LEN,
            rdb_version,
            family: Family::Redis,
        }
    }

    /// Splits RESP arrays of bulk strings back into commands.
    fn parse(mut b: &[u8]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let line = |b: &mut &[u8]| {
            let i = b.windows(2).position(|w| w == b"\r\n").unwrap();
            let l = String::from_utf8(b[1..i].to_vec()).unwrap();
            *b = &b[i + 2..];
            l.parse::<usize>().unwrap()
        };
        while !b.is_empty() {
            let n = line(&mut b);
            let mut cmd = Vec::new();
            for _ in 0..n {
                let len = line(&mut b);
                cmd.push(String::from_utf8_lossy(&b[..len]).into_owned());
                b = &b[len + 2..];
            }
            out.push(cmd);
        }
        out
    }

    #[test]
    fn chunks_replace_expiry_and_field_ttls() {
        // A listpack hash with TTLs (type 25): 5 fields, 2 with the same TTL, 1 expired.
        let mut e = Vec::new();
        let names = ["a", "b", "c", "d", "e"];
        let ttls = [0i64, 9000, 9000, 50, 0];
        for (n, t) in names.iter().zip(ttls) {
            e.push(RawEntry::Bytes(n.as_bytes()));
            e.push(RawEntry::Int(1));
            e.push(RawEntry::Int(t));
        }
        let mut raw = 50i64.to_le_bytes().to_vec();
        write_string(&mut raw, &listpack::encode(&e));
        let bytes = [&[25u8][..], &raw].concat();
        let value = rdb_parser::value::decode(Family::Redis, &bytes, 0).unwrap();
        let mut o = CommandOptions::new(profile(12), 100);
        o.replace = true;
        o.expire_at_ms = Some(12345);
        o.chunk_elements = 3;
        let mut out = Vec::new();
        let w = write_key_commands(&mut out, b"h", value.clone(), &o).unwrap();
        let cmds = parse(&out);
        assert_eq!(w.commands, cmds.len());
        assert_eq!(
            cmds,
            vec![
                vec!["DEL", "h"],
                vec!["HSET", "h", "a", "1", "b", "1", "c", "1"],
                vec!["HSET", "h", "e", "1"],
                vec!["HPEXPIREAT", "h", "9000", "FIELDS", "2", "b", "c"],
                vec!["PEXPIREAT", "h", "12345"],
            ]
        );
        assert_eq!(w.dropped.expired_fields, 1);
        // On 7.0: the TTLs fail the key by default, or are dropped and counted.
        let mut o7 = CommandOptions::new(profile(10), 100);
        let mut out = Vec::new();
        assert!(matches!(
            write_key_commands(&mut out, b"h", value.clone(), &o7),
            Err(CommandError::FieldTtls(2))
        ));
        assert!(out.is_empty());
        o7.field_ttls = FieldTtlPolicy::Drop;
        let w = write_key_commands(&mut out, b"h", value, &o7).unwrap();
        assert_eq!((w.commands, w.dropped.field_ttls), (1, 2));
    }
}
