//! The framer: walks opcodes and yields [`Record`]s, skipping values by their
//! length prefixes without decoding them.
//!
//! Per-key framing (all versions, Redis `rdbLoadRioWithLoadingCtx` in
//! [`rdb.c`](https://github.com/redis/redis/blob/unstable/src/rdb.c)):
//! `[EXPIRETIME_MS|EXPIRETIME] [IDLE] [FREQ] [KEY_META] <type> <key> <value>`.

use std::borrow::Cow;
use std::fmt;

use crate::crc::crc64;
use crate::dump::DumpPayload;
use crate::error::{Error, ErrorKind, Result};
use crate::header::{Family, Header, HEADER_LEN};
use crate::reader::{Cursor, RdbStr};
use crate::types::ValueType;
use crate::value::{self, module, Value};
use crate::DebugBytes;

/// Opcodes (`RDB_OPCODE_*` in `rdb.h`), read here and written by the writer.
pub(crate) mod op {
    pub const KEY_META_OR_SLOT_IMPORT: u8 = 243;
    pub const SLOT_INFO: u8 = 244;
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
    /// Redis Enterprise `RAM_LRU` and `SLOT_NUM`: one length each (librdb `defines.h`).
    pub const ENTERPRISE_RAM_LRU: u8 = 107;
    pub const ENTERPRISE_SLOT_NUM: u8 = 121;
}

/// An AUX field (`redis-ver`, `ctime`, `used-mem`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxField<'a> {
    /// Field name.
    pub key: RdbStr<'a>,
    /// Field value.
    pub value: RdbStr<'a>,
    /// Offset of the opcode.
    pub offset: u64,
}

/// A function library (`FUNCTION2`, Redis 7.0+), or a pre-GA function (7.0 RCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionLibrary<'a> {
    /// The library source (`#!lua name=...`), or the function body for pre-GA records.
    pub code: RdbStr<'a>,
    /// Pre-GA records only: function name.
    pub name: Option<RdbStr<'a>>,
    /// Pre-GA records only: engine name.
    pub engine: Option<RdbStr<'a>>,
    /// The record's bytes after the opcode: for `FUNCTION2`, the body `FUNCTION DUMP` wraps.
    pub raw: &'a [u8],
    /// Whether this is the 7.0-RC `FUNCTION` (246) record, which `FUNCTION RESTORE` refuses.
    pub pre_ga: bool,
    /// Offset of the opcode.
    pub offset: u64,
}

/// Module auxiliary data (`MODULE_AUX`), kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModuleAux<'a> {
    /// Module type ID (see [`module::module_name`]).
    pub module_id: u64,
    /// 1 = before keys, 2 = after keys.
    pub when: u64,
    /// The bytes after the opcode.
    pub raw: &'a [u8],
    /// Offset of the opcode.
    pub offset: u64,
}

impl ModuleAux<'_> {
    /// The module type name.
    pub fn module_name(&self) -> String {
        module::module_name(self.module_id)
    }
}

/// A key and its value, framed but not decoded.
#[derive(Clone)]
pub struct KeyRecord<'a> {
    /// Database number.
    pub db: u64,
    /// The key (borrowed unless it was stored LZF-compressed or as an integer).
    pub key: Cow<'a, [u8]>,
    /// Absolute expiry in Unix milliseconds.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time in seconds (`IDLE`), present when the server ran an LRU policy.
    pub idle_s: Option<u64>,
    /// LFU counter (`FREQ`), present when the server ran an LFU policy.
    pub freq: Option<u8>,
    /// Redis 8.6 key metadata (`KEY_META`), raw.
    pub key_meta: Option<&'a [u8]>,
    /// The value type.
    pub value_type: ValueType,
    /// The exact value bytes as stored (after the key): with the type byte in
    /// front, what a DUMP payload wraps.
    pub raw: &'a [u8],
    /// Offset of `raw` in the input.
    pub value_offset: u64,
    /// Offset of the record's first byte (its first opcode) in the input.
    pub offset: u64,
    family: Family,
}

impl fmt::Debug for KeyRecord<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRecord")
            .field("db", &self.db)
            .field("key", &DebugBytes(&self.key))
            .field("expire_at_ms", &self.expire_at_ms)
            .field("value_type", &self.value_type)
            .field("raw_len", &self.raw.len())
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

impl<'a> KeyRecord<'a> {
    /// Decodes the value lazily (collections come back as iterators).
    pub fn value(&self) -> Result<Value<'a>> {
        let mut cur = Cursor::new(self.raw, self.value_offset);
        value::decode_body(self.value_type, &mut cur).map_err(|e| e.with_record(self.offset))
    }

    /// Decodes the whole value and checks every container, returning the element count.
    pub fn validate(&self) -> Result<u64> {
        self.value()?
            .validate()
            .map_err(|e| e.with_record(self.offset))
    }

    /// The format family of the file the record came from.
    pub fn family(&self) -> Family {
        self.family
    }

    /// A DUMP payload for `RESTORE`: type byte, the raw value bytes, `rdb_version`
    /// and the CRC-64. No re-encoding: the target must read this type.
    pub fn dump_payload(&self, rdb_version: u16) -> Vec<u8> {
        DumpPayload::build(self.value_type.byte(), self.raw, rdb_version)
    }
}

/// One item of an RDB file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Record<'a> {
    /// An AUX field.
    Aux(AuxField<'a>),
    /// `SELECTDB`: following keys belong to this database.
    SelectDb {
        /// Database number.
        db: u64,
    },
    /// `RESIZEDB`: size hints for the current database.
    ResizeDb {
        /// Keys in the database.
        db_size: u64,
        /// Keys with an expiry.
        expires_size: u64,
    },
    /// A key and its value.
    Key(KeyRecord<'a>),
    /// A function library.
    Function(FunctionLibrary<'a>),
    /// Module auxiliary data.
    ModuleAux(ModuleAux<'a>),
    /// `SLOT_INFO` (Redis 7.4+ cluster): counts for the slot of the following keys.
    SlotInfo {
        /// Hash slot.
        slot: u64,
        /// Keys in the slot.
        keys: u64,
        /// Keys with an expiry in the slot.
        expires: u64,
    },
    /// Valkey 9 `SLOT_IMPORT`: an in-progress slot import job.
    SlotImport {
        /// Job name.
        job: RdbStr<'a>,
        /// Slot ranges (start, end inclusive).
        ranges: Vec<(u64, u64)>,
    },
    /// An opcode that carries nothing this parser models, skipped safely
    /// (Redis Enterprise `RAM_LRU` / `SLOT_NUM`).
    Skipped {
        /// The opcode byte.
        opcode: u8,
        /// Its argument.
        value: u64,
        /// Offset of the opcode.
        offset: u64,
    },
    /// The end of the file.
    Eof(Eof),
}

/// What follows the `EOF` opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Eof {
    /// Offset of the `EOF` opcode.
    pub offset: u64,
    /// The stored CRC-64 (RDB 5+); `Some(0)` means the writer disabled checksums.
    pub stored_checksum: Option<u64>,
    /// Whether the checksum was computed and matched (false when not checked).
    pub checksum_verified: bool,
    /// Bytes after the trailer (an AOF tail after an `aof-preamble` RDB, or padding).
    pub trailing_bytes: u64,
}

impl Eof {
    /// The input's length as this record tells it: up to the opcode, the CRC-64
    /// trailer (RDB 5+, per `header`) and the bytes after it.
    pub fn input_len(&self, header: Header) -> u64 {
        let trailer = if header.has_checksum() { 8 } else { 0 };
        self.offset + 1 + trailer + self.trailing_bytes
    }
}

/// Parsing options. Defaults: verify the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Compare the CRC-64 trailer with the data at `EOF` (zero trailers are never checked).
    pub verify_checksum: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            verify_checksum: true,
        }
    }
}

/// An RDB file held in memory: the header is checked, records are read on demand.
#[derive(Clone, Copy)]
pub struct Rdb<'a> {
    data: &'a [u8],
    header: Header,
    options: ParseOptions,
}

impl fmt::Debug for Rdb<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rdb")
            .field("header", &self.header)
            .field("len", &self.data.len())
            .finish()
    }
}

impl<'a> Rdb<'a> {
    /// Checks the header of `data` (nothing else is read yet).
    pub fn parse(data: &'a [u8]) -> Result<Rdb<'a>> {
        Rdb::with_options(data, ParseOptions::default())
    }

    /// Like [`Rdb::parse`], with options.
    pub fn with_options(data: &'a [u8], options: ParseOptions) -> Result<Rdb<'a>> {
        let header = Header::parse(data)?;
        Ok(Rdb {
            data,
            header,
            options,
        })
    }

    /// The header (family and RDB version).
    pub fn header(&self) -> Header {
        self.header
    }

    /// The input.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Iterates the records from the start of the file.
    pub fn records(&self) -> Records<'a> {
        Records {
            cur: Cursor::new(self.data, 0).tap_skip(HEADER_LEN),
            header: self.header,
            options: self.options,
            db: 0,
            done: false,
            trailer: None,
            whole_records: false,
        }
    }
}

impl<'a> Cursor<'a> {
    fn tap_skip(mut self, n: usize) -> Cursor<'a> {
        let _ = self.skip(n, "header");
        self
    }
}

/// Iterator over the records of an RDB file; stops for good after the first error
/// or after `EOF`.
#[derive(Clone)]
pub struct Records<'a> {
    cur: Cursor<'a>,
    header: Header,
    options: ParseOptions,
    db: u64,
    done: bool,
    /// The `EOF` record to yield instead of checking the trailer here: set when the
    /// records of a streamed chunk are walked again after the stream checked the
    /// CRC over the whole input (see [`crate::stream`]).
    trailer: Option<Eof>,
    /// The input ends at a record boundary (a streamed chunk): stop there.
    whole_records: bool,
}

impl fmt::Debug for Records<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("offset", &self.cur.offset())
            .field("db", &self.db)
            .finish()
    }
}

impl<'a> Records<'a> {
    /// The records of `data`, whose first byte is at absolute offset `base` of a file
    /// with `header`, in database `db`. At `EOF`, `trailer` is yielded when given (the
    /// caller checked the CRC over the whole input); without it, the trailer is read
    /// but not checked (the CRC covers bytes not in `data`). With `whole_records`,
    /// `data` ends at a record boundary and the iterator ends there.
    pub(crate) fn resume(
        data: &'a [u8],
        base: u64,
        header: Header,
        db: u64,
        trailer: Option<Eof>,
        whole_records: bool,
    ) -> Records<'a> {
        Records {
            cur: Cursor::new(data, base),
            header,
            options: ParseOptions {
                verify_checksum: false,
            },
            db,
            done: false,
            trailer,
            whole_records,
        }
    }

    /// Offset of the next byte the framer will read.
    pub fn offset(&self) -> u64 {
        self.cur.offset()
    }

    /// The file header.
    pub fn header(&self) -> Header {
        self.header
    }

    fn next_record(&mut self) -> Result<Record<'a>> {
        let family = self.header.family;
        let cur = &mut self.cur;
        let record_start = cur.offset();
        let mut expire_at_ms = None;
        let mut idle_s = None;
        let mut freq = None;
        let mut key_meta = None;
        loop {
            let at = cur.offset();
            let byte = cur.read_u8("opcode or value type")?;
            match byte {
                op::EOF => return self.finish(at),
                op::SELECTDB => {
                    let db = cur.read_len("database number")?;
                    self.db = db;
                    return Ok(Record::SelectDb { db });
                }
                op::RESIZEDB => {
                    let db_size = cur.read_len("RESIZEDB size")?;
                    let expires_size = cur.read_len("RESIZEDB expires size")?;
                    return Ok(Record::ResizeDb {
                        db_size,
                        expires_size,
                    });
                }
                op::AUX => {
                    let key = cur.read_string("AUX field name")?;
                    let value = cur.read_string("AUX field value")?;
                    return Ok(Record::Aux(AuxField {
                        key,
                        value,
                        offset: at,
                    }));
                }
                op::EXPIRETIME_MS => expire_at_ms = Some(cur.read_i64_le("expire time (ms)")?),
                op::EXPIRETIME => {
                    expire_at_ms = Some(i64::from(cur.read_i32_le("expire time (s)")?) * 1000)
                }
                op::IDLE => idle_s = Some(cur.read_len("LRU idle time")?),
                op::FREQ => freq = Some(cur.read_u8("LFU frequency")?),
                op::MODULE_AUX => {
                    let start = cur.position();
                    let module_id = cur.read_len("module aux module ID")?;
                    let when_opcode = cur.read_len("module aux when opcode")?;
                    if when_opcode != 2 {
                        return Err(Error::new(
                            ErrorKind::Corrupt,
                            at,
                            "module aux when opcode (2)",
                        ));
                    }
                    let when = cur.read_len("module aux when")?;
                    module::skip_opcodes(cur)?;
                    return Ok(Record::ModuleAux(ModuleAux {
                        module_id,
                        when,
                        raw: cur.since(start),
                        offset: at,
                    }));
                }
                op::FUNCTION2 => {
                    let start = cur.position();
                    let code = cur.read_string("function library code")?;
                    return Ok(Record::Function(FunctionLibrary {
                        code,
                        name: None,
                        engine: None,
                        raw: cur.since(start),
                        pre_ga: false,
                        offset: at,
                    }));
                }
                op::FUNCTION_PRE_GA => {
                    let start = cur.position();
                    let name = cur.read_string("function name")?;
                    let engine = cur.read_string("function engine")?;
                    if cur.read_len("function has description")? != 0 {
                        cur.skip_string("function description")?;
                    }
                    let code = cur.read_string("function code")?;
                    return Ok(Record::Function(FunctionLibrary {
                        code,
                        name: Some(name),
                        engine: Some(engine),
                        raw: cur.since(start),
                        pre_ga: true,
                        offset: at,
                    }));
                }
                op::SLOT_INFO => {
                    let slot = cur.read_len("slot info slot")?;
                    let keys = cur.read_len("slot info keys")?;
                    let expires = cur.read_len("slot info expires")?;
                    return Ok(Record::SlotInfo {
                        slot,
                        keys,
                        expires,
                    });
                }
                op::KEY_META_OR_SLOT_IMPORT if family == Family::Valkey => {
                    let job = cur.read_string("slot import job name")?;
                    let n = cur.read_count(2, "slot import range count")?;
                    let mut ranges = Vec::with_capacity(n);
                    for _ in 0..n {
                        ranges.push((
                            cur.read_len("slot import range start")?,
                            cur.read_len("slot import range end")?,
                        ));
                    }
                    return Ok(Record::SlotImport { job, ranges });
                }
                op::KEY_META_OR_SLOT_IMPORT if self.header.version >= 13 => {
                    // KEY_META (Redis 8.6, keymeta.c): class count, then per class a
                    // u32 class spec and a module-opcode payload ending in EOF.
                    let start = cur.position();
                    let n = cur.read_count(5, "key metadata class count")?;
                    for _ in 0..n {
                        cur.skip(4, "key metadata class spec")?;
                        module::skip_opcodes(cur)?;
                    }
                    key_meta = Some(cur.since(start));
                }
                op::ENTERPRISE_RAM_LRU | op::ENTERPRISE_SLOT_NUM if family == Family::Redis => {
                    let value = cur.read_len("Redis Enterprise opcode argument")?;
                    return Ok(Record::Skipped {
                        opcode: byte,
                        value,
                        offset: at,
                    });
                }
                _ => {
                    let Some(value_type) = ValueType::from_byte(byte, family) else {
                        let kind = if byte >= 200 {
                            ErrorKind::UnknownOpcode(byte)
                        } else {
                            ErrorKind::UnknownType(byte)
                        };
                        return Err(Error::new(kind, at, "opcode or value type"));
                    };
                    let key_at = cur.offset();
                    let key = cur
                        .read_string("key")?
                        .to_bytes_limited(value::MAX_DECOMPRESSED_LEN)
                        .map_err(|e| Error::new(e.kind(), key_at, "key"))?;
                    let value_start = cur.position();
                    let value_offset = cur.offset();
                    skip_value(value_type, cur).map_err(|e| e.with_record(record_start))?;
                    let body = cur.since(value_start);
                    return Ok(Record::Key(KeyRecord {
                        db: self.db,
                        key,
                        expire_at_ms,
                        idle_s,
                        freq,
                        key_meta,
                        value_type,
                        raw: body,
                        value_offset,
                        offset: record_start,
                        family,
                    }));
                }
            }
        }
    }

    fn finish(&mut self, eof_at: u64) -> Result<Record<'a>> {
        self.done = true;
        if let Some(trailer) = self.trailer {
            if self.header.has_checksum() {
                self.cur.skip(8, "CRC-64 trailer")?;
            }
            return Ok(Record::Eof(trailer));
        }
        let mut eof = Eof {
            offset: eof_at,
            stored_checksum: None,
            checksum_verified: false,
            trailing_bytes: 0,
        };
        if self.header.has_checksum() {
            let stored = self.cur.read_u64_le("CRC-64 trailer")?;
            eof.stored_checksum = Some(stored);
            if self.options.verify_checksum && stored != 0 {
                let covered = self.cur.data().get(..=eof_at as usize).unwrap_or(&[]);
                let computed = crc64(0, covered);
                if computed != stored {
                    return Err(Error::new(
                        ErrorKind::ChecksumMismatch { stored, computed },
                        eof_at + 1,
                        "CRC-64 trailer",
                    ));
                }
                eof.checksum_verified = true;
            }
        }
        eof.trailing_bytes = self.cur.remaining() as u64;
        Ok(Record::Eof(eof))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || (self.whole_records && self.cur.is_empty()) {
            return None;
        }
        let r = self.next_record();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Skips a value body of type `ty` structurally (length prefixes only; no
/// decompression, no container walks). Streams and module values are parsed
/// enough to find their end.
pub(crate) fn skip_value(ty: ValueType, cur: &mut Cursor<'_>) -> Result<()> {
    use ValueType as T;
    match ty {
        T::String
        | T::HashZipmap
        | T::ListZiplist
        | T::SetIntset
        | T::ZSetZiplist
        | T::HashZiplist
        | T::HashListpack
        | T::ZSetListpack
        | T::SetListpack
        | T::HashListpackExPreGa => cur.skip_string("value"),
        T::List | T::Set => {
            let n = cur.read_count(1, "collection length")?;
            for _ in 0..n {
                cur.skip_string("collection element")?;
            }
            Ok(())
        }
        T::ZSet => {
            let n = cur.read_count(2, "sorted set size")?;
            for _ in 0..n {
                cur.skip_string("sorted set member")?;
                let len = cur.read_u8("string-encoded score")?;
                if len < 253 {
                    cur.skip(len as usize, "string-encoded score")?;
                }
            }
            Ok(())
        }
        T::ZSet2 => {
            let n = cur.read_count(9, "sorted set size")?;
            for _ in 0..n {
                cur.skip_string("sorted set member")?;
                cur.skip(8, "sorted set score")?;
            }
            Ok(())
        }
        T::Hash => {
            let n = cur.read_count(2, "hash size")?;
            for _ in 0..n {
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
            }
            Ok(())
        }
        T::ListQuicklist => {
            let n = cur.read_count(1, "quicklist node count")?;
            for _ in 0..n {
                cur.skip_string("quicklist node")?;
            }
            Ok(())
        }
        T::ListQuicklist2 => {
            let n = cur.read_count(2, "quicklist node count")?;
            for _ in 0..n {
                cur.read_len("quicklist node container")?;
                cur.skip_string("quicklist node")?;
            }
            Ok(())
        }
        T::HashMetadata | T::HashMetadataPreGa => {
            if ty == T::HashMetadata {
                cur.skip(8, "hash minimum field expiry")?;
            }
            let n = cur.read_count(3, "hash size")?;
            for _ in 0..n {
                cur.read_len("hash field expiry")?;
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
            }
            Ok(())
        }
        T::HashListpackEx => {
            cur.skip(8, "hash minimum field expiry")?;
            cur.skip_string("hash listpack")
        }
        T::ValkeyHash2 => {
            let n = cur.read_count(10, "hash size")?;
            for _ in 0..n {
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
                cur.skip(8, "hash field expiry")?;
            }
            Ok(())
        }
        T::StreamListpacks | T::StreamListpacks2 | T::StreamListpacks3 | T::StreamListpacks4 => {
            value::Stream::read(cur, ty).map(|_| ())
        }
        T::Module2 => value::ModuleValue::read(cur).map(|_| ()),
        T::ModulePreGa => Err(Error::new(
            ErrorKind::PreGaModule,
            cur.offset().saturating_sub(1),
            "module value",
        )),
    }
}
