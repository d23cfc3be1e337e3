//! Typed, lazily decoded values.
//!
//! [`decode`] opens a value's bytes (the `raw` slice of a
//! [`KeyRecord`](crate::KeyRecord), or a DUMP payload's body) as its logical type.
//! Collections come back as iterators that decode one element at a time and check
//! their container's framing as they go; nothing is materialized. Elements borrow
//! from the input unless they sit in LZF-compressed data (then they are owned).
//!
//! Mirrors `rdbLoadObject` in Redis' [`rdb.c`](https://github.com/redis/redis/blob/unstable/src/rdb.c).

pub mod intset;
pub mod listpack;
pub mod module;
pub mod stream;
pub mod walk;
pub mod ziplist;
pub mod zipmap;

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::header::Family;
use crate::reader::{Cursor, RdbStr};
use crate::types::ValueType;
use listpack::ListpackState;
use walk::{EntryAt, Fused};
use ziplist::ZiplistState;
use zipmap::ZipmapState;

pub use module::ModuleValue;
pub use stream::{Consumer, ConsumerGroup, PendingEntry, Stream, StreamEntry, StreamId};

/// Largest decompressed blob accepted (Redis' default `proto-max-bulk-len`).
pub const MAX_DECOMPRESSED_LEN: usize = 512 * 1024 * 1024;

/// An element of a container as stored: bytes of the container, or an integer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RawEntry<'b> {
    /// A byte string.
    Bytes(&'b [u8]),
    /// An integer (its value as a string is its decimal text).
    Int(i64),
}

impl fmt::Debug for RawEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawEntry::Bytes(b) => write!(f, "{:?}", crate::DebugBytes(b)),
            RawEntry::Int(i) => write!(f, "{i}"),
        }
    }
}

/// A string element of a value (list item, set member, hash field ...).
///
/// Containers store canonical integers as integers; their string value is the
/// decimal text, produced only when asked ([`Element::to_bytes`]).
#[derive(Clone, PartialEq, Eq)]
pub enum Element<'a> {
    /// Bytes, borrowed from the input unless they came out of LZF data.
    Bytes(Cow<'a, [u8]>),
    /// An integer-encoded element.
    Int(i64),
}

impl fmt::Debug for Element<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Bytes(b) => write!(f, "{:?}", crate::DebugBytes(b)),
            Element::Int(i) => write!(f, "{i}"),
        }
    }
}

impl<'a> Element<'a> {
    /// The element's string value.
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Element::Bytes(b) => Cow::Borrowed(b.as_ref()),
            Element::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        }
    }

    /// The element's string value, owned or borrowed from the input.
    pub fn into_bytes(self) -> Cow<'a, [u8]> {
        match self {
            Element::Bytes(b) => b,
            Element::Int(i) => Cow::Owned(i.to_string().into_bytes()),
        }
    }

    /// Appends the element's string value to `out` (no allocation for integers
    /// beyond `out`'s own growth).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Element::Bytes(b) => out.extend_from_slice(b),
            Element::Int(i) => {
                use std::io::Write;
                let _ = write!(out, "{i}");
            }
        }
    }

    /// The integer value when the element is integer-encoded.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Element::Int(i) => Some(*i),
            Element::Bytes(_) => None,
        }
    }

    /// Length of the string value in bytes.
    pub fn len(&self) -> usize {
        match self {
            Element::Bytes(b) => b.len(),
            Element::Int(i) => RdbStr::Int(*i).len(),
        }
    }

    /// Whether the string value is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn from_str(s: RdbStr<'a>) -> Result<Element<'a>> {
        match s {
            RdbStr::Int(i) => Ok(Element::Int(i)),
            other => other
                .to_bytes_limited(MAX_DECOMPRESSED_LEN)
                .map(Element::Bytes),
        }
    }
}

/// A container blob (ziplist, listpack, ...): an RDB string, decompressed if it was LZF.
#[derive(Clone)]
pub(crate) struct Blob<'a> {
    bytes: Cow<'a, [u8]>,
    /// Absolute offset of `bytes[0]` when borrowed; 0 when decompressed.
    base: u64,
    /// Offset of the compressed string when `bytes` were decompressed.
    compressed_at: Option<u64>,
}

impl<'a> Blob<'a> {
    pub(crate) fn read(cur: &mut Cursor<'a>, context: &'static str) -> Result<Blob<'a>> {
        let start = cur.offset();
        match cur.read_string(context)? {
            RdbStr::Raw(b) => Ok(Blob {
                bytes: Cow::Borrowed(b),
                base: cur.offset() - b.len() as u64,
                compressed_at: None,
            }),
            other => Ok(Blob {
                bytes: other.to_bytes_limited(MAX_DECOMPRESSED_LEN)?,
                base: 0,
                compressed_at: Some(start),
            }),
        }
    }

    fn map_err(&self, e: Error) -> Error {
        match self.compressed_at {
            Some(at) => e.in_decompressed(at),
            None => e,
        }
    }

    fn lift(&self, at: EntryAt) -> Element<'a> {
        match at {
            EntryAt::Int(i) => Element::Int(i),
            EntryAt::Bytes(s, e) => match &self.bytes {
                Cow::Borrowed(b) => Element::Bytes(Cow::Borrowed(b.get(s..e).unwrap_or(&[]))),
                Cow::Owned(v) => Element::Bytes(Cow::Owned(v.get(s..e).unwrap_or(&[]).to_vec())),
            },
        }
    }

    fn into_element(self) -> Element<'a> {
        Element::Bytes(self.bytes)
    }
}

/// Which container a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ContainerKind {
    Listpack,
    Ziplist,
    Zipmap,
    Intset,
}

#[derive(Clone)]
enum ContainerState {
    Listpack(Fused<ListpackState>),
    Ziplist(Fused<ZiplistState>),
    Zipmap(Fused<ZipmapState>),
    Intset(intset::IntsetState),
}

/// Element iterator over one container blob, owning the blob when it was decompressed.
#[derive(Clone)]
pub(crate) struct BlobIter<'a> {
    blob: Blob<'a>,
    state: ContainerState,
}

impl<'a> BlobIter<'a> {
    pub(crate) fn open(blob: Blob<'a>, kind: ContainerKind) -> Result<BlobIter<'a>> {
        let (data, base) = (&blob.bytes[..], blob.base);
        let state = match kind {
            ContainerKind::Listpack => Fused::open(data, base).map(ContainerState::Listpack),
            ContainerKind::Ziplist => Fused::open(data, base).map(ContainerState::Ziplist),
            ContainerKind::Zipmap => Fused::open(data, base).map(ContainerState::Zipmap),
            ContainerKind::Intset => {
                intset::IntsetState::new(data, base).map(ContainerState::Intset)
            }
        }
        .map_err(|e| blob.map_err(e))?;
        Ok(BlobIter { blob, state })
    }

    pub(crate) fn next_element(&mut self) -> Result<Option<Element<'a>>> {
        self.advance(true).map(Option::flatten)
    }

    /// Steps to the next element: `Some(Some(element))` when `lift`, `Some(None)`
    /// when only checking (no bytes copied out of a decompressed blob), `None` at
    /// the end.
    fn advance(&mut self, lift: bool) -> Result<Option<Option<Element<'a>>>> {
        let at = self.advance_at()?;
        Ok(at.map(|at| lift.then(|| self.blob.lift(at))))
    }

    /// Steps to the next element and returns where it is, without lifting it.
    fn advance_at(&mut self) -> Result<Option<EntryAt>> {
        let (data, base) = (&self.blob.bytes[..], self.blob.base);
        let at = match &mut self.state {
            ContainerState::Listpack(s) => s.next(data, base),
            ContainerState::Ziplist(s) => s.next(data, base),
            ContainerState::Zipmap(s) => s.next(data, base),
            ContainerState::Intset(s) => s.next(data).map(|o| o.map(EntryAt::Int)),
        };
        at.map_err(|e| self.blob.map_err(e))
    }

    /// The next element's position, which must exist (the second or third of a tuple).
    fn next_required_at(&mut self, context: &'static str) -> Result<EntryAt> {
        match self.advance_at()? {
            Some(at) => Ok(at),
            None => Err(self.error_here(context)),
        }
    }

    /// The bytes of a string entry (as [`Blob::lift`] would copy them).
    fn bytes_at(&self, start: usize, end: usize) -> &[u8] {
        self.blob.bytes.get(start..end).unwrap_or(&[])
    }

    /// The next element, which must exist (the second or third of a tuple).
    fn next_required(&mut self, context: &'static str) -> Result<Element<'a>> {
        match self.next_element()? {
            Some(e) => Ok(e),
            None => Err(self
                .blob
                .map_err(Error::new(ErrorKind::Corrupt, self.blob.base, context))),
        }
    }

    fn error_here(&self, context: &'static str) -> Error {
        self.blob
            .map_err(Error::new(ErrorKind::Corrupt, self.blob.base, context))
    }
}

/// A sequence of RDB strings counted by a length prefix (linked lists, hashtable sets).
#[derive(Debug, Clone)]
pub(crate) struct StringSeq<'a> {
    cur: Cursor<'a>,
    left: usize,
}

impl<'a> StringSeq<'a> {
    /// Counts one more item off the sequence; false when none are left.
    fn take(&mut self) -> bool {
        let more = self.left > 0;
        self.left = self.left.saturating_sub(1);
        more
    }

    fn read(cur: &mut Cursor<'a>, per_item: usize, context: &'static str) -> Result<StringSeq<'a>> {
        let n = cur.read_count(per_item, context)?;
        Ok(StringSeq {
            cur: cur.clone(),
            left: n,
        })
    }
}

fn finish<T>(r: Result<Option<T>>, done: &mut bool) -> Option<Result<T>> {
    match r {
        Ok(Some(v)) => Some(Ok(v)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}

/// Elements of a list (in order) or a set.
#[derive(Clone)]
pub struct Elements<'a> {
    source: ElementSource<'a>,
    done: bool,
}

impl fmt::Debug for Elements<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Elements").finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum ElementSource<'a> {
    Strings(StringSeq<'a>),
    Blob(BlobIter<'a>),
    Quicklist {
        cur: Cursor<'a>,
        nodes_left: usize,
        v2: bool,
        node: Option<BlobIter<'a>>,
    },
}

impl<'a> Elements<'a> {
    /// The next element (see [`BlobIter::advance`] for `lift`).
    fn next_inner(&mut self, lift: bool) -> Result<Option<Option<Element<'a>>>> {
        match &mut self.source {
            ElementSource::Strings(seq) => {
                if !seq.take() {
                    return Ok(None);
                }
                let s = seq.cur.read_string("list or set element")?;
                if lift {
                    Element::from_str(s).map(|e| Some(Some(e)))
                } else {
                    s.validate(MAX_DECOMPRESSED_LEN).map(|()| Some(None))
                }
            }
            ElementSource::Blob(it) => it.advance(lift),
            ElementSource::Quicklist {
                cur,
                nodes_left,
                v2,
                node,
            } => loop {
                if let Some(it) = node {
                    if let Some(e) = it.advance(lift)? {
                        return Ok(Some(e));
                    }
                    *node = None;
                }
                if *nodes_left == 0 {
                    return Ok(None);
                }
                *nodes_left -= 1;
                if *v2 {
                    // QUICKLIST_NODE_CONTAINER_PLAIN = 1, PACKED = 2 (quicklist.h).
                    let at = cur.offset();
                    let container = cur.read_len("quicklist node container")?;
                    match container {
                        1 if lift => {
                            return Ok(Some(Some(
                                Blob::read(cur, "quicklist node")?.into_element(),
                            )))
                        }
                        1 => {
                            let s = cur.read_string("quicklist node")?;
                            return s.validate(MAX_DECOMPRESSED_LEN).map(|()| Some(None));
                        }
                        2 => {
                            let blob = Blob::read(cur, "quicklist node")?;
                            *node = Some(BlobIter::open(blob, ContainerKind::Listpack)?);
                        }
                        _ => {
                            return Err(Error::new(
                                ErrorKind::Corrupt,
                                at,
                                "quicklist node container (1 or 2)",
                            ))
                        }
                    }
                } else {
                    let blob = Blob::read(cur, "quicklist node")?;
                    *node = Some(BlobIter::open(blob, ContainerKind::Ziplist)?);
                }
            },
        }
    }

    /// Walks the remaining elements, checking every container, without copying
    /// them out; returns how many there were.
    pub fn count_valid(mut self) -> Result<u64> {
        let mut n = 0;
        while !self.done {
            match self.next_inner(false) {
                Ok(Some(_)) => n += 1,
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            }
        }
        Ok(n)
    }
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Element<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_inner(true).map(Option::flatten);
        finish(r, &mut self.done)
    }
}

/// Members and scores of a sorted set, in file order.
#[derive(Clone)]
pub struct ZSetEntries<'a> {
    source: ZSetSource<'a>,
    done: bool,
}

impl fmt::Debug for ZSetEntries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZSetEntries").finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum ZSetSource<'a> {
    /// Type 3 (string scores) or 5 (binary doubles).
    Skiplist {
        seq: StringSeq<'a>,
        binary: bool,
    },
    Blob(BlobIter<'a>),
}

/// Reads a string-encoded double (`rdbLoadDoubleValue`): `u8 len`, 253 = NaN,
/// 254 = +inf, 255 = -inf, else `len` ASCII bytes.
fn read_string_double(cur: &mut Cursor<'_>) -> Result<f64> {
    let at = cur.offset();
    let len = cur.read_u8("string-encoded score")?;
    match len {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        n => {
            let text = cur.read_bytes(n as usize, "string-encoded score")?;
            parse_score(text)
                .ok_or_else(|| Error::new(ErrorKind::Corrupt, at, "string-encoded score"))
        }
    }
}

/// Parses a score as Redis writes it in text (`%.17g`, `inf`, `-inf`).
fn parse_score(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.trim().parse::<f64>().ok()
}

/// Whether `text` is `-?[0-9]+(\.[0-9]*)?`: text that [`parse_score`] always
/// accepts, recognised without parsing the number.
fn plain_decimal(text: &[u8]) -> bool {
    let digits = match text.split_first() {
        Some((b'-', rest)) => rest,
        _ => text,
    };
    let int_len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    if int_len == 0 {
        return false;
    }
    match digits.get(int_len..) {
        Some([]) => true,
        Some([b'.', frac @ ..]) => frac.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

fn element_score(e: &Element<'_>) -> Option<f64> {
    match e {
        Element::Int(i) => Some(*i as f64),
        Element::Bytes(b) => parse_score(b),
    }
}

impl<'a> ZSetEntries<'a> {
    fn next_inner(&mut self) -> Result<Option<(Element<'a>, f64)>> {
        match &mut self.source {
            ZSetSource::Skiplist { seq, binary } => {
                if !seq.take() {
                    return Ok(None);
                }
                let member = Element::from_str(seq.cur.read_string("sorted set member")?)?;
                let score = if *binary {
                    seq.cur.read_f64_le("sorted set score")?
                } else {
                    read_string_double(&mut seq.cur)?
                };
                Ok(Some((member, score)))
            }
            ZSetSource::Blob(it) => {
                let Some(member) = it.next_element()? else {
                    return Ok(None);
                };
                let score = it.next_required("sorted set score after its member")?;
                let score =
                    element_score(&score).ok_or_else(|| it.error_here("sorted set score"))?;
                Ok(Some((member, score)))
            }
        }
    }
}

impl ZSetEntries<'_> {
    /// Walks the remaining entries with every check of the iterator (containers,
    /// LZF streams, scores) without copying members out; returns how many there were.
    pub fn count_valid(mut self) -> Result<u64> {
        let mut n = 0u64;
        if self.done {
            return Ok(n);
        }
        loop {
            match &mut self.source {
                ZSetSource::Skiplist { seq, binary } => {
                    if !seq.take() {
                        return Ok(n);
                    }
                    seq.cur
                        .read_string("sorted set member")?
                        .validate(MAX_DECOMPRESSED_LEN)?;
                    if *binary {
                        seq.cur.read_f64_le("sorted set score")?;
                    } else {
                        read_string_double(&mut seq.cur)?;
                    }
                }
                ZSetSource::Blob(it) => {
                    if it.advance_at()?.is_none() {
                        return Ok(n);
                    }
                    let score = it.next_required_at("sorted set score after its member")?;
                    if let EntryAt::Bytes(start, end) = score {
                        let text = it.bytes_at(start, end);
                        if !plain_decimal(text) && parse_score(text).is_none() {
                            return Err(it.error_here("sorted set score"));
                        }
                    }
                }
            }
            n += 1;
        }
    }
}

impl<'a> Iterator for ZSetEntries<'a> {
    type Item = Result<(Element<'a>, f64)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_inner();
        finish(r, &mut self.done)
    }
}

/// One field of a hash.
#[derive(Debug, Clone, PartialEq)]
pub struct HashField<'a> {
    /// The field name.
    pub field: Element<'a>,
    /// The value.
    pub value: Element<'a>,
    /// Absolute expiry of the field (hash field TTLs, Redis 7.4+ / Valkey 9+).
    pub expire_at_ms: Option<i64>,
}

/// Fields of a hash, in file order.
#[derive(Clone)]
pub struct HashFields<'a> {
    source: HashSource<'a>,
    done: bool,
}

impl fmt::Debug for HashFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashFields").finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum HashSource<'a> {
    /// Type 4: field, value.
    Table(StringSeq<'a>),
    /// Zipmap/ziplist/listpack pairs; with `ttl_triplets`, (field, value, expire-at or 0).
    Blob {
        it: BlobIter<'a>,
        ttl_triplets: bool,
    },
    /// Type 24: `len ttl` (0 = none, else expire = ttl + min - 1), field, value.
    Metadata { seq: StringSeq<'a>, min_expire: i64 },
    /// Redis type 22 (pre-GA): `len expire-at` (0 = none), field, value.
    MetadataPreGa(StringSeq<'a>),
    /// Valkey type 22: field, value, `i64` expire-at (-1 = none).
    ValkeyHash2(StringSeq<'a>),
}

impl<'a> HashFields<'a> {
    fn next_inner(&mut self) -> Result<Option<HashField<'a>>> {
        let (field, value, expire_at_ms) = match &mut self.source {
            HashSource::Table(seq) => {
                if !seq.take() {
                    return Ok(None);
                }
                let f = Element::from_str(seq.cur.read_string("hash field")?)?;
                let v = Element::from_str(seq.cur.read_string("hash value")?)?;
                (f, v, None)
            }
            HashSource::Blob { it, ttl_triplets } => {
                let Some(f) = it.next_element()? else {
                    return Ok(None);
                };
                let v = it.next_required("hash value after its field")?;
                let ttl = if *ttl_triplets {
                    match it.next_required("hash field expiry after its value")? {
                        Element::Int(0) => None,
                        Element::Int(t) => Some(t),
                        Element::Bytes(_) => {
                            return Err(it.error_here("hash field expiry (an integer)"))
                        }
                    }
                } else {
                    None
                };
                (f, v, ttl)
            }
            HashSource::Metadata { seq, min_expire } => {
                if !seq.take() {
                    return Ok(None);
                }
                let ttl = seq.cur.read_len("hash field expiry")?;
                let f = Element::from_str(seq.cur.read_string("hash field")?)?;
                let v = Element::from_str(seq.cur.read_string("hash value")?)?;
                let expire = if ttl == 0 {
                    None
                } else {
                    Some((ttl as i64).wrapping_add(*min_expire).wrapping_sub(1))
                };
                (f, v, expire)
            }
            HashSource::MetadataPreGa(seq) => {
                if !seq.take() {
                    return Ok(None);
                }
                let ttl = seq.cur.read_len("hash field expiry")?;
                let f = Element::from_str(seq.cur.read_string("hash field")?)?;
                let v = Element::from_str(seq.cur.read_string("hash value")?)?;
                (f, v, (ttl != 0).then_some(ttl as i64))
            }
            HashSource::ValkeyHash2(seq) => {
                if !seq.take() {
                    return Ok(None);
                }
                let f = Element::from_str(seq.cur.read_string("hash field")?)?;
                let v = Element::from_str(seq.cur.read_string("hash value")?)?;
                let t = seq.cur.read_i64_le("hash field expiry")?;
                (f, v, (t != -1).then_some(t))
            }
        };
        Ok(Some(HashField {
            field,
            value,
            expire_at_ms,
        }))
    }
}

impl HashFields<'_> {
    /// Walks the remaining fields with every check of the iterator (containers, LZF
    /// streams, field TTLs) without copying fields or values out; returns how many
    /// there were.
    pub fn count_valid(mut self) -> Result<u64> {
        let mut n = 0u64;
        if self.done {
            return Ok(n);
        }
        let check = |cur: &mut Cursor<'_>, context| {
            cur.read_string(context)?.validate(MAX_DECOMPRESSED_LEN)
        };
        loop {
            match &mut self.source {
                HashSource::Table(seq) => {
                    if !seq.take() {
                        return Ok(n);
                    }
                    check(&mut seq.cur, "hash field")?;
                    check(&mut seq.cur, "hash value")?;
                }
                HashSource::Blob { it, ttl_triplets } => {
                    if it.advance_at()?.is_none() {
                        return Ok(n);
                    }
                    it.next_required_at("hash value after its field")?;
                    if *ttl_triplets {
                        let ttl = it.next_required_at("hash field expiry after its value")?;
                        if let EntryAt::Bytes(..) = ttl {
                            return Err(it.error_here("hash field expiry (an integer)"));
                        }
                    }
                }
                HashSource::Metadata { seq, .. } | HashSource::MetadataPreGa(seq) => {
                    if !seq.take() {
                        return Ok(n);
                    }
                    seq.cur.read_len("hash field expiry")?;
                    check(&mut seq.cur, "hash field")?;
                    check(&mut seq.cur, "hash value")?;
                }
                HashSource::ValkeyHash2(seq) => {
                    if !seq.take() {
                        return Ok(n);
                    }
                    check(&mut seq.cur, "hash field")?;
                    check(&mut seq.cur, "hash value")?;
                    seq.cur.read_i64_le("hash field expiry")?;
                }
            }
            n += 1;
        }
    }
}

impl<'a> Iterator for HashFields<'a> {
    type Item = Result<HashField<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.next_inner();
        finish(r, &mut self.done)
    }
}

/// A decoded value: its logical type with an iterator over its contents.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Value<'a> {
    /// A string (decode it with [`RdbStr::to_bytes`]).
    String(RdbStr<'a>),
    /// A list, elements in order.
    List(Elements<'a>),
    /// A set's members.
    Set(Elements<'a>),
    /// A sorted set's (member, score) pairs.
    ZSet(ZSetEntries<'a>),
    /// A hash's fields.
    Hash(HashFields<'a>),
    /// A stream with its consumer groups.
    Stream(Box<Stream<'a>>),
    /// A module value (kept raw).
    Module(ModuleValue<'a>),
}

/// Decodes the value in `raw`: a type byte followed by the value bytes, exactly as
/// in an RDB file or a DUMP payload body. `base` is the absolute offset of `raw[0]`
/// (for error offsets). Returns the value and the number of bytes it spans.
pub fn decode(family: Family, raw: &[u8], base: u64) -> Result<Value<'_>> {
    let mut cur = Cursor::new(raw, base);
    let at = cur.offset();
    let byte = cur.read_u8("value type")?;
    let ty = ValueType::from_byte(byte, family)
        .ok_or_else(|| Error::new(ErrorKind::UnknownType(byte), at, "value type"))?;
    decode_body(ty, &mut cur)
}

/// Decodes a value of type `ty` whose body starts at the cursor, leaving the cursor
/// after the parts read eagerly (lengths of collections are known from the framer).
pub(crate) fn decode_body<'a>(ty: ValueType, cur: &mut Cursor<'a>) -> Result<Value<'a>> {
    use ValueType as T;
    let elements = |source| Elements {
        source,
        done: false,
    };
    Ok(match ty {
        T::String => Value::String(cur.read_string("string value")?),
        T::List => Value::List(elements(ElementSource::Strings(StringSeq::read(
            cur,
            1,
            "list length",
        )?))),
        T::Set => Value::Set(elements(ElementSource::Strings(StringSeq::read(
            cur, 1, "set size",
        )?))),
        T::ListZiplist => Value::List(elements(ElementSource::Blob(BlobIter::open(
            Blob::read(cur, "list ziplist")?,
            ContainerKind::Ziplist,
        )?))),
        T::ListQuicklist | T::ListQuicklist2 => {
            let v2 = ty == T::ListQuicklist2;
            let nodes_left = cur.read_count(if v2 { 2 } else { 1 }, "quicklist node count")?;
            Value::List(elements(ElementSource::Quicklist {
                cur: cur.clone(),
                nodes_left,
                v2,
                node: None,
            }))
        }
        T::SetIntset => Value::Set(elements(ElementSource::Blob(BlobIter::open(
            Blob::read(cur, "intset")?,
            ContainerKind::Intset,
        )?))),
        T::SetListpack => Value::Set(elements(ElementSource::Blob(BlobIter::open(
            Blob::read(cur, "set listpack")?,
            ContainerKind::Listpack,
        )?))),
        T::ZSet | T::ZSet2 => {
            let binary = ty == T::ZSet2;
            let seq = StringSeq::read(cur, 2, "sorted set size")?;
            Value::ZSet(ZSetEntries {
                source: ZSetSource::Skiplist { seq, binary },
                done: false,
            })
        }
        T::ZSetZiplist | T::ZSetListpack => {
            let kind = if ty == T::ZSetZiplist {
                ContainerKind::Ziplist
            } else {
                ContainerKind::Listpack
            };
            let it = BlobIter::open(Blob::read(cur, "sorted set blob")?, kind)?;
            Value::ZSet(ZSetEntries {
                source: ZSetSource::Blob(it),
                done: false,
            })
        }
        T::Hash => Value::Hash(HashFields {
            source: HashSource::Table(StringSeq::read(cur, 2, "hash size")?),
            done: false,
        }),
        T::HashZipmap
        | T::HashZiplist
        | T::HashListpack
        | T::HashListpackExPreGa
        | T::HashListpackEx => {
            if ty == T::HashListpackEx {
                // Minimum field expiry, a hint for the server's expiry index.
                cur.read_i64_le("hash minimum field expiry")?;
            }
            let kind = match ty {
                T::HashZipmap => ContainerKind::Zipmap,
                T::HashZiplist => ContainerKind::Ziplist,
                _ => ContainerKind::Listpack,
            };
            let it = BlobIter::open(Blob::read(cur, "hash blob")?, kind)?;
            let ttl_triplets = matches!(ty, T::HashListpackExPreGa | T::HashListpackEx);
            Value::Hash(HashFields {
                source: HashSource::Blob { it, ttl_triplets },
                done: false,
            })
        }
        T::HashMetadata => {
            let min_expire = cur.read_i64_le("hash minimum field expiry")?;
            let seq = StringSeq::read(cur, 3, "hash size")?;
            Value::Hash(HashFields {
                source: HashSource::Metadata { seq, min_expire },
                done: false,
            })
        }
        T::HashMetadataPreGa => Value::Hash(HashFields {
            source: HashSource::MetadataPreGa(StringSeq::read(cur, 3, "hash size")?),
            done: false,
        }),
        T::ValkeyHash2 => Value::Hash(HashFields {
            source: HashSource::ValkeyHash2(StringSeq::read(cur, 10, "hash size")?),
            done: false,
        }),
        T::StreamListpacks | T::StreamListpacks2 | T::StreamListpacks3 | T::StreamListpacks4 => {
            Value::Stream(Box::new(Stream::read(cur, ty)?))
        }
        T::Module2 => Value::Module(ModuleValue::read(cur)?),
        T::ModulePreGa => {
            return Err(Error::new(
                ErrorKind::PreGaModule,
                cur.offset().saturating_sub(1),
                "module value",
            ))
        }
    })
}

impl<'a> Value<'a> {
    /// Walks every element (and every container's framing), returning the number of
    /// elements: what `rdbkit check` does to each value.
    pub fn validate(self) -> Result<u64> {
        let mut n = 0u64;
        match self {
            Value::String(s) => {
                s.validate(MAX_DECOMPRESSED_LEN)?;
                n = 1;
            }
            Value::List(it) | Value::Set(it) => n = it.count_valid()?,
            Value::ZSet(it) => n = it.count_valid()?,
            Value::Hash(it) => n = it.count_valid()?,
            Value::Stream(s) => {
                for e in s.entries() {
                    e?;
                    n += 1;
                }
            }
            Value::Module(_) => n = 1,
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_score, plain_decimal};

    #[test]
    fn plain_decimals_always_parse() {
        for t in ["0", "-0", "12", "-12.5", "1.", "3.14159265358979312", "007"] {
            assert!(plain_decimal(t.as_bytes()), "{t}");
            assert!(parse_score(t.as_bytes()).is_some(), "{t}");
        }
        for t in [
            "", "-", ".5", "1e5", "inf", " 1", "1.2.3", "1-", "+1", "nan",
        ] {
            assert!(!plain_decimal(t.as_bytes()), "{t}");
        }
    }
}
