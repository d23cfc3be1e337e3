//! Streams (types 15, 19, 21, 26): listpack nodes, metadata, consumer groups.
//!
//! Outer layout: Redis `rdbSaveObject` / `rdbLoadObject` for `OBJ_STREAM` in
//! [`rdb.c`](https://github.com/redis/redis/blob/unstable/src/rdb.c). Node layout:
//! [`t_stream.c`](https://github.com/redis/redis/blob/unstable/src/t_stream.c)
//! (`streamAppendItem`): a master entry `count, deleted, num_fields, fields..., 0`,
//! then per entry `flags, ms-delta, seq-delta, [num_fields, f, v ... | v ...], lp-count`.
//!
//! The nodes are walked lazily by [`Stream::entries`]; the metadata and consumer
//! groups (which follow all nodes in the file) are decoded when the stream is opened.

use std::fmt;

use super::{Blob, BlobIter, ContainerKind, Element};
use crate::error::{Error, ErrorKind, Result};
use crate::reader::Cursor;
use crate::types::ValueType;

/// A stream entry ID, `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl StreamId {
    fn from_raw(raw: &[u8]) -> Option<StreamId> {
        let ms = u64::from_be_bytes(raw.get(..8)?.try_into().ok()?);
        let seq = u64::from_be_bytes(raw.get(8..16)?.try_into().ok()?);
        Some(StreamId { ms, seq })
    }

    fn read_raw(cur: &mut Cursor<'_>, context: &'static str) -> Result<StreamId> {
        let at = cur.offset();
        let raw = cur.read_bytes(16, context)?;
        StreamId::from_raw(raw).ok_or_else(|| Error::new(ErrorKind::Corrupt, at, context))
    }

    fn read_lens(cur: &mut Cursor<'_>, context: &'static str) -> Result<StreamId> {
        Ok(StreamId {
            ms: cur.read_len(context)?,
            seq: cur.read_len(context)?,
        })
    }
}

/// An entry of a consumer group's pending entries list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry ID.
    pub id: StreamId,
    /// Last delivery time (Unix ms).
    pub delivery_time_ms: i64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer<'a> {
    /// Consumer name.
    pub name: Element<'a>,
    /// Last time the consumer was seen (Unix ms).
    pub seen_time_ms: i64,
    /// Last successful interaction (stream v3+; `None` before).
    pub active_time_ms: Option<i64>,
    /// IDs of the entries pending for this consumer.
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerGroup<'a> {
    /// Group name.
    pub name: Element<'a>,
    /// Last delivered ID.
    pub last_delivered_id: StreamId,
    /// Logical read counter (stream v2+); `None` when absent or unknown (-1).
    pub entries_read: Option<u64>,
    /// The group's pending entries list.
    pub pending: Vec<PendingEntry>,
    /// The group's consumers.
    pub consumers: Vec<Consumer<'a>>,
}

/// IDMP (idempotent XADD) state of a stream v4 (Redis 8.6), kept as counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdmpState {
    /// Retention of IDMP entries in seconds.
    pub duration_s: u64,
    /// Maximum entries kept per producer.
    pub max_entries: u64,
    /// Producers with recorded IDs.
    pub producers: u64,
    /// IDs recorded over all producers.
    pub ids: u64,
}

/// A stream: metadata and groups decoded, entries walked on demand.
#[derive(Clone)]
pub struct Stream<'a> {
    nodes: Cursor<'a>,
    node_count: usize,
    /// The RDB type (stream version).
    pub value_type: ValueType,
    /// Number of live entries.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First entry ID as recorded (v2+).
    pub first_id: Option<StreamId>,
    /// Largest deleted ID (v2+).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (v2+).
    pub entries_added: Option<u64>,
    /// Consumer groups.
    pub groups: Vec<ConsumerGroup<'a>>,
    /// IDMP state (v4).
    pub idmp: Option<IdmpState>,
}

impl fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("value_type", &self.value_type)
            .field("length", &self.length)
            .field("nodes", &self.node_count)
            .field("last_id", &self.last_id)
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Stream<'a> {
    /// Reads a stream value of type `ty` at the cursor, consuming all of it.
    pub(crate) fn read(cur: &mut Cursor<'a>, ty: ValueType) -> Result<Stream<'a>> {
        let version = match ty {
            ValueType::StreamListpacks => 1,
            ValueType::StreamListpacks2 => 2,
            ValueType::StreamListpacks3 => 3,
            _ => 4,
        };
        let node_count = cur.read_count(2, "stream listpack count")?;
        let nodes = cur.clone();
        for _ in 0..node_count {
            cur.skip_string("stream node key")?;
            cur.skip_string("stream node listpack")?;
        }
        let length = cur.read_len("stream length")?;
        let last_id = StreamId::read_lens(cur, "stream last ID")?;
        let (mut first_id, mut max_deleted_id, mut entries_added) = (None, None, None);
        if version >= 2 {
            first_id = Some(StreamId::read_lens(cur, "stream first ID")?);
            max_deleted_id = Some(StreamId::read_lens(cur, "stream max deleted ID")?);
            entries_added = Some(cur.read_len("stream entries added")?);
        }
        let group_count = cur.read_count(4, "stream consumer group count")?;
        let mut groups = Vec::with_capacity(group_count.min(64));
        for _ in 0..group_count {
            groups.push(read_group(cur, version)?);
        }
        let idmp = if version >= 4 {
            Some(read_idmp(cur)?)
        } else {
            None
        };
        Ok(Stream {
            nodes,
            node_count,
            value_type: ty,
            length,
            last_id,
            first_id,
            max_deleted_id,
            entries_added,
            groups,
            idmp,
        })
    }

    /// Number of listpack nodes (radix tree keys).
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The live entries, in ID order, decoded node by node.
    pub fn entries(&self) -> StreamEntries<'a> {
        StreamEntries {
            cur: self.nodes.clone(),
            nodes_left: self.node_count,
            node: None,
            done: false,
        }
    }
}

fn read_group<'a>(cur: &mut Cursor<'a>, version: u32) -> Result<ConsumerGroup<'a>> {
    let name = Element::from_str(cur.read_string("consumer group name")?)?;
    let last_delivered_id = StreamId::read_lens(cur, "consumer group last ID")?;
    let entries_read = if version >= 2 {
        let n = cur.read_len("consumer group entries read")?;
        // SCG_INVALID_ENTRIES_READ (-1) is saved as a 64-bit length.
        (n != u64::MAX).then_some(n)
    } else {
        None
    };
    let pel_count = cur.read_count(25, "consumer group PEL size")?;
    let mut pending = Vec::with_capacity(pel_count);
    for _ in 0..pel_count {
        let id = StreamId::read_raw(cur, "PEL entry ID")?;
        let delivery_time_ms = cur.read_i64_le("PEL delivery time")?;
        let delivery_count = cur.read_len("PEL delivery count")?;
        pending.push(PendingEntry {
            id,
            delivery_time_ms,
            delivery_count,
        });
    }
    let mut pel_ids: Vec<StreamId> = pending.iter().map(|p| p.id).collect();
    pel_ids.sort_unstable();
    let consumer_count = cur.read_count(10, "consumer count")?;
    let mut consumers = Vec::with_capacity(consumer_count.min(1024));
    for _ in 0..consumer_count {
        let name = Element::from_str(cur.read_string("consumer name")?)?;
        let seen_time_ms = cur.read_i64_le("consumer seen time")?;
        let active_time_ms = if version >= 3 {
            Some(cur.read_i64_le("consumer active time")?)
        } else {
            None
        };
        let n = cur.read_count(16, "consumer PEL size")?;
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            let at = cur.offset();
            let id = StreamId::read_raw(cur, "consumer PEL entry")?;
            // rdbLoadObject refuses a consumer PEL entry missing from the group PEL.
            if pel_ids.binary_search(&id).is_err() {
                return Err(Error::new(
                    ErrorKind::Corrupt,
                    at,
                    "consumer PEL entry present in the group PEL",
                ));
            }
            ids.push(id);
        }
        consumers.push(Consumer {
            name,
            seen_time_ms,
            active_time_ms,
            pending: ids,
        });
    }
    Ok(ConsumerGroup {
        name,
        last_delivered_id,
        entries_read,
        pending,
        consumers,
    })
}

fn read_idmp(cur: &mut Cursor<'_>) -> Result<IdmpState> {
    let duration_s = cur.read_len("stream IDMP duration")?;
    let max_entries = cur.read_len("stream IDMP max entries")?;
    let producers = cur.read_count(2, "stream IDMP producer count")?;
    let mut ids = 0u64;
    for _ in 0..producers {
        cur.skip_string("stream IDMP producer")?;
        let n = cur.read_count(3, "stream IDMP ID count")?;
        for _ in 0..n {
            cur.skip_string("stream IDMP iid")?;
            cur.read_len("stream IDMP entry ms")?;
            cur.read_len("stream IDMP entry seq")?;
        }
        ids += n as u64;
    }
    cur.read_len("stream IDMP IDs added")?;
    cur.read_len("stream IDMP duplicates")?;
    Ok(IdmpState {
        duration_s,
        max_entries,
        producers: producers as u64,
        ids,
    })
}

/// A stream entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry<'a> {
    /// The entry ID.
    pub id: StreamId,
    /// Field/value pairs in order.
    pub fields: Vec<(Element<'a>, Element<'a>)>,
}

/// Iterator over the live entries of a stream.
#[derive(Clone)]
pub struct StreamEntries<'a> {
    cur: Cursor<'a>,
    nodes_left: usize,
    node: Option<NodeWalk<'a>>,
    done: bool,
}

impl fmt::Debug for StreamEntries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamEntries")
            .field("nodes_left", &self.nodes_left)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct NodeWalk<'a> {
    it: BlobIter<'a>,
    master: StreamId,
    master_fields: Vec<Element<'a>>,
    expected: u64,
    walked: u64,
}

fn int_of(e: &Element<'_>) -> Option<i64> {
    match e {
        Element::Int(i) => Some(*i),
        Element::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
    }
}

impl<'a> NodeWalk<'a> {
    fn open(cur: &mut Cursor<'a>) -> Result<NodeWalk<'a>> {
        let at = cur.offset();
        let key = cur.read_string("stream node key")?.to_bytes()?;
        let master = StreamId::from_raw(&key)
            .filter(|_| key.len() == 16)
            .ok_or_else(|| Error::new(ErrorKind::Corrupt, at, "stream node key (16-byte ID)"))?;
        let mut it = BlobIter::open(
            Blob::read(cur, "stream node listpack")?,
            ContainerKind::Listpack,
        )?;
        let count = Self::int(&mut it, "stream node entry count")?;
        let deleted = Self::int(&mut it, "stream node deleted count")?;
        let nf = Self::int(&mut it, "stream node master field count")?;
        if count < 0 || deleted < 0 || nf < 0 {
            return Err(it.error_here("stream node master entry counts"));
        }
        let mut master_fields = Vec::new();
        for _ in 0..nf {
            master_fields.push(it.next_required("stream node master field")?);
        }
        if Self::int(&mut it, "stream node master terminator")? != 0 {
            return Err(it.error_here("stream node master terminator (0)"));
        }
        Ok(NodeWalk {
            it,
            master,
            master_fields,
            expected: (count as u64).saturating_add(deleted as u64),
            walked: 0,
        })
    }

    fn int(it: &mut BlobIter<'a>, context: &'static str) -> Result<i64> {
        let e = it.next_required(context)?;
        int_of(&e).ok_or_else(|| it.error_here(context))
    }

    /// The next entry of this node, live or deleted (`None` at the node's end).
    fn next_entry(&mut self) -> Result<Option<(bool, StreamEntry<'a>)>> {
        let Some(flags) = self.it.next_element()? else {
            if self.walked != self.expected {
                return Err(self
                    .it
                    .error_here("stream node entry count (count + deleted)"));
            }
            return Ok(None);
        };
        let flags = int_of(&flags).ok_or_else(|| self.it.error_here("stream entry flags"))?;
        let ms_delta = Self::int(&mut self.it, "stream entry ms delta")?;
        let seq_delta = Self::int(&mut self.it, "stream entry seq delta")?;
        let id = StreamId {
            ms: self.master.ms.wrapping_add(ms_delta as u64),
            seq: self.master.seq.wrapping_add(seq_delta as u64),
        };
        let same_fields = flags & 2 != 0;
        let mut fields = Vec::new();
        let mut lp_count: i64 = 3;
        if same_fields {
            for f in &self.master_fields {
                let v = self.it.next_required("stream entry value")?;
                fields.push((f.clone(), v));
            }
            lp_count += self.master_fields.len() as i64;
        } else {
            let nf = Self::int(&mut self.it, "stream entry field count")?;
            if nf < 0 {
                return Err(self.it.error_here("stream entry field count"));
            }
            for _ in 0..nf {
                let f = self.it.next_required("stream entry field")?;
                let v = self.it.next_required("stream entry value")?;
                fields.push((f, v));
            }
            lp_count = lp_count
                .saturating_add(nf.saturating_mul(2))
                .saturating_add(1);
        }
        if Self::int(&mut self.it, "stream entry lp-count")? != lp_count {
            return Err(self.it.error_here("stream entry lp-count"));
        }
        self.walked += 1;
        Ok(Some((flags & 1 != 0, StreamEntry { id, fields })))
    }
}

impl<'a> StreamEntries<'a> {
    fn next_inner(&mut self) -> Result<Option<StreamEntry<'a>>> {
        loop {
            if let Some(node) = &mut self.node {
                match node.next_entry()? {
                    Some((true, _)) => continue,
                    Some((false, e)) => return Ok(Some(e)),
                    None => self.node = None,
                }
            }
            if self.nodes_left == 0 {
                return Ok(None);
            }
            self.nodes_left -= 1;
            self.node = Some(NodeWalk::open(&mut self.cur)?);
        }
    }
}

impl<'a> Iterator for StreamEntries<'a> {
    type Item = Result<StreamEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_inner();
        super::finish(r, &mut self.done)
    }
}
