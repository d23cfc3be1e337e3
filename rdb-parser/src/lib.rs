//! `rdb-parser`: a zero-copy reader for Redis and Valkey RDB snapshots and DUMP payloads.
//!
//! It reads every RDB version a user can meet (`REDIS0001`–`REDIS0014`, Valkey's
//! `VALKEY080`/`VALKEY081`) from a byte slice, typically a memory-mapped file. Nothing
//! is copied except LZF-compressed data; values are decoded only when asked; bad
//! input gives an [`Error`] naming the byte offset and what was expected, never a
//! panic or an unbounded allocation.
//!
//! # Example
//!
//! ```
//! use rdb_parser::{Rdb, Record, Value};
//!
//! // A Redis 7.0 snapshot holding `SET greeting hello` (and a CRC-64 trailer).
//! let mut file = b"REDIS0010\xfe\x00\x00\x08greeting\x05hello\xff".to_vec();
//! let crc = rdb_parser::crc::crc64(0, &file);
//! file.extend_from_slice(&crc.to_le_bytes());
//!
//! let rdb = Rdb::parse(&file)?;
//! assert_eq!(rdb.header().version, 10);
//! let mut keys = 0;
//! for record in rdb.records() {
//!     if let Record::Key(key) = record? {
//!         assert_eq!(&key.key[..], b"greeting");
//!         // The exact value bytes, ready to become a RESTORE payload.
//!         assert_eq!(key.raw, b"\x05hello");
//!         let payload = key.dump_payload(10);
//!         assert_eq!(payload.len(), 1 + 6 + 10);
//!         match key.value()? {
//!             Value::String(s) => assert_eq!(&s.to_bytes()?[..], b"hello"),
//!             other => panic!("unexpected {other:?}"),
//!         }
//!         keys += 1;
//!     }
//! }
//! assert_eq!(keys, 1);
//! # Ok::<(), rdb_parser::Error>(())
//! ```
//!
//! # API structure
//!
//! - [`Rdb`] checks the header; [`Rdb::records`] walks the file and yields [`Record`]s:
//!   AUX fields, database switches, function libraries, module aux data, slot info
//!   and [`KeyRecord`]s. The framer skips values by their length prefixes; the key
//!   record carries the exact value bytes ([`KeyRecord::raw`]) and decodes them on
//!   demand ([`KeyRecord::value`]).
//! - [`Value`] is a value's logical type with lazy iterators over its elements
//!   ([`value::Elements`], [`value::ZSetEntries`], [`value::HashFields`],
//!   [`value::Stream::entries`]). Every container checks its framing as it is walked.
//! - [`DumpPayload`] builds and parses `DUMP`/`RESTORE` payloads.
//! - Low level: [`reader::Cursor`], [`write`](mod@write) (RDB lengths and strings) and the container readers
//!   ([`value::listpack::Listpack`], [`value::ziplist::Ziplist`],
//!   [`value::intset::Intset`], [`value::zipmap::Zipmap`]); [`crc::crc64`].
//! - [`writer::Writer`]: writing RDB files of a chosen family and version (AUX,
//!   `SELECTDB`/`RESIZEDB`, keys, functions, CRC-64, LZF, padding).
//! - [`reencode`]: converting values to the types an older server reads (listpack →
//!   ziplist, quicklist2 → quicklist, stream v3 → v1, hash field TTLs dropped by policy).
//! - [`export`] writes the JSON Lines export used by `rdbkit export`.
//! - [`digest`]: an encoding-independent digest of a value ("same content" across
//!   encodings and RDB versions), used by `diff` and `verify`.
//! - With the `inventory` feature (rayon): the `inventory` module (the parallel key
//!   inventory behind `rdbkit baseline`, its memory model, whole-file validation)
//!   and `diff` (snapshot against snapshot, in bounded memory).
//!
//! # Crate features
//!
//! - `inventory` (off by default): the `inventory` and `diff` modules, on rayon.
//! - `serde` (off by default): `serde::Serialize` for the report types ([`Header`],
//!   [`AuxInfo`], [`Eof`], the inventory, check and diff reports) and
//!   `serde_bytes`, the one byte-string serializer of every report: keys are JSON
//!   strings when valid UTF-8, else `{"hex": "..."}`.
//!
//! # Limits and safety
//!
//! Lengths are checked against the remaining input before anything is allocated or
//! looped over; an LZF string may not claim more than 88 bytes per compressed byte
//! (LZF's own ceiling) nor more than [`value::MAX_DECOMPRESSED_LEN`]. The CRC-64
//! trailer is verified at `EOF` unless [`ParseOptions::verify_checksum`] is off; a
//! zero trailer means the writer disabled checksums. The crate has no `unsafe` code.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod aof;
pub mod aux;
pub mod crc;
#[cfg(feature = "inventory")]
pub mod diff;
pub mod digest;
pub mod dump;
pub mod error;
pub mod export;
pub mod header;
#[cfg(feature = "inventory")]
pub mod inventory;
pub mod lzf;
pub mod reader;
pub mod record;
pub mod reencode;
#[cfg(feature = "serde")]
pub mod serde_bytes;
pub mod stream;
pub mod time;
pub mod types;
pub mod value;
pub mod write;
pub mod writer;

pub use aux::AuxInfo;
pub use dump::DumpPayload;
pub use error::{Error, ErrorKind, Result};
pub use header::{Family, Header};
pub use reader::RdbStr;
pub use record::{
    AuxField, Eof, FunctionLibrary, KeyRecord, ModuleAux, ParseOptions, Rdb, Record, Records,
};
pub use stream::{RdbStream, StreamError, StreamOptions};
pub use types::{LogicalType, ValueType};
pub use value::{Element, Value};

pub use export::hex;

/// Debug output for byte strings: printable text up to 32 bytes, then the length.
pub(crate) struct DebugBytes<'a>(pub &'a [u8]);

impl std::fmt::Debug for DebugBytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.0.get(..32).unwrap_or(self.0);
        write!(f, "b\"")?;
        for &b in shown {
            write!(f, "{}", std::ascii::escape_default(b))?;
        }
        write!(f, "\"")?;
        if shown.len() < self.0.len() {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
