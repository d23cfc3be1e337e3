//! Writing RDB files: the reader's mirror.
//!
//! A [`Writer`] emits a file of a chosen family and version: the magic, AUX fields,
//! `SELECTDB` + `RESIZEDB` per database, keys (with expiry, LRU idle time, LFU
//! frequency), function libraries, module aux data, `EOF` and the CRC-64 trailer,
//! optionally followed by zeros up to a multiple of N bytes (loaders stop after the
//! checksum: `rdbLoadRioWithLoadingCtx` in Redis
//! [`rdb.c`](https://github.com/redis/redis/blob/unstable/src/rdb.c)).
//!
//! Values are given as a type and its body (the bytes after the type byte, as in
//! [`KeyRecord::raw`](crate::KeyRecord::raw)); a body of a type the target cannot read
//! is refused ([`WriteError::TypeNotReadable`]), so re-encode it first with
//! [`reencode`](crate::reencode::reencode). The writer is streaming: it holds
//! nothing but the running CRC, so `RESIZEDB` counts must be known when a database
//! starts (a caller typically counts in a first pass over its inputs).
//!
//! ```
//! use rdb_parser::writer::{KeyEntry, Writer, WriterOptions};
//! use rdb_parser::{Family, Header, Rdb, Record, ValueType};
//!
//! let header = Header { family: Family::Redis, version: 9 };
//! let mut w = Writer::new(Vec::new(), header, WriterOptions::default())?;
//! w.aux(b"redis-ver", b"5.0.0")?;
//! w.select_db(0, 1, 0)?;
//! w.key(&KeyEntry::new(b"greeting", ValueType::String, b"\x05hello"))?;
//! let file = w.finish()?.0;
//! let keys = Rdb::parse(&file)?
//!     .records()
//!     .filter(|r| matches!(r, Ok(Record::Key(_))))
//!     .count();
//! assert_eq!(keys, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Write;

use crate::crc::Crc64;
use crate::header::{Family, Header, MAX_REDIS_VERSION, VALKEY_VERSIONS};
use crate::record::op;
use crate::reencode::readable;
use crate::types::ValueType;
use crate::write::write_len;

/// Strings shorter than this are never LZF-compressed (Redis' own threshold in
/// `rdbSaveRawString`: "try LZF compression - under 20 bytes it's unable to compress").
const LZF_MIN_LEN: usize = 21;

/// Why a file could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The output failed.
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    /// The family and version are not one the parser reads (and so not one to write).
    #[error("cannot write RDB version {version} of the {family:?} family")]
    UnsupportedVersion {
        /// Family asked for.
        family: Family,
        /// Version asked for.
        version: u32,
    },
    /// A record the target version has no opcode for.
    #[error("{what} cannot be written in RDB {version} (needs RDB {needs})")]
    NotInVersion {
        /// What was to be written.
        what: &'static str,
        /// The file's RDB version.
        version: u32,
        /// The first version with it.
        needs: u32,
    },
    /// A value type the target version cannot read (re-encode it first).
    #[error("value type {} cannot be read by {} RDB {}; re-encode it first", .value_type.name(), family_name(.family), .version)]
    TypeNotReadable {
        /// The value's type.
        value_type: ValueType,
        /// The file's family.
        family: Family,
        /// The file's RDB version.
        version: u32,
    },
    /// A key before any `SELECTDB`.
    #[error("a key was written before select_db")]
    NoDatabase,
}

fn family_name(f: &Family) -> &'static str {
    match f {
        Family::Redis => "Redis",
        Family::Valkey => "Valkey",
    }
}

/// Writer choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterOptions {
    /// LZF-compress keys and AUX values where that makes them shorter (as Redis does
    /// with `rdbcompression yes`). Value bodies are written as given.
    pub compress: bool,
    /// Pad the file with zeros after the trailer to a multiple of this many bytes
    /// (e.g. 512 for Azure page blobs); `None` or 0: no padding.
    pub pad_to: Option<u64>,
}

/// One key to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEntry<'a> {
    /// The key name.
    pub key: &'a [u8],
    /// The value's type (written as its type byte).
    pub value_type: ValueType,
    /// The value bytes after the type byte.
    pub body: &'a [u8],
    /// Absolute expiry in Unix milliseconds.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time in seconds (written for RDB 9+).
    pub idle_s: Option<u64>,
    /// LFU counter (written for RDB 9+).
    pub freq: Option<u8>,
}

impl<'a> KeyEntry<'a> {
    /// A key without expiry, idle time or frequency.
    pub fn new(key: &'a [u8], value_type: ValueType, body: &'a [u8]) -> KeyEntry<'a> {
        KeyEntry {
            key,
            value_type,
            body,
            expire_at_ms: None,
            idle_s: None,
            freq: None,
        }
    }
}

/// Writes one RDB file to `W` (see the [module documentation](self)).
pub struct Writer<W: Write> {
    out: W,
    header: Header,
    options: WriterOptions,
    crc: Crc64,
    written: u64,
    db_selected: bool,
    scratch: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for Writer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("header", &self.header)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

/// The RDB version (Redis numbering) whose opcodes a file of `header` has: Valkey's
/// `VALKEY080` carries everything Redis' RDB 11 does (AUX, `FUNCTION2`, ...).
pub fn opcode_level(header: Header) -> u32 {
    match header.family {
        Family::Valkey => 11,
        Family::Redis => header.version,
    }
}

impl<W: Write> Writer<W> {
    /// Starts a file of `header`'s family and version by writing its magic.
    pub fn new(out: W, header: Header, options: WriterOptions) -> Result<Writer<W>, WriteError> {
        let known = match header.family {
            Family::Redis => (1..=MAX_REDIS_VERSION).contains(&header.version),
            Family::Valkey => VALKEY_VERSIONS.contains(&header.version),
        };
        if !known {
            return Err(WriteError::UnsupportedVersion {
                family: header.family,
                version: header.version,
            });
        }
        let mut w = Writer {
            out,
            header,
            options,
            crc: Crc64::new(),
            written: 0,
            db_selected: false,
            scratch: Vec::with_capacity(256),
        };
        let magic = header.magic();
        w.emit(magic.as_bytes())?;
        Ok(w)
    }

    /// The file's header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.out.write_all(bytes)?;
        self.crc.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn emit_scratch(&mut self) -> Result<(), WriteError> {
        let scratch = std::mem::take(&mut self.scratch);
        let r = self.emit(&scratch);
        self.scratch = scratch;
        self.scratch.clear();
        r
    }

    fn needs(&self, what: &'static str, needs: u32) -> Result<(), WriteError> {
        if opcode_level(self.header) < needs {
            return Err(WriteError::NotInVersion {
                what,
                version: self.header.version,
                needs,
            });
        }
        Ok(())
    }

    /// Appends `s` to the scratch buffer, LZF-compressed when that is on and helps.
    fn push_string(&mut self, s: &[u8]) {
        if self.options.compress && s.len() >= LZF_MIN_LEN {
            if let Some(c) = crate::lzf::compress(s) {
                // RDB_ENCVAL | RDB_ENC_LZF, compressed length, original length, data.
                self.scratch.push(0xc3);
                write_len(&mut self.scratch, c.len() as u64);
                write_len(&mut self.scratch, s.len() as u64);
                self.scratch.extend_from_slice(&c);
                return;
            }
        }
        write_len(&mut self.scratch, s.len() as u64);
        self.scratch.extend_from_slice(s);
    }

    /// Writes an AUX field (RDB 7+; silently nothing for older files, which have no
    /// place for them).
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<(), WriteError> {
        if opcode_level(self.header) < 7 {
            return Ok(());
        }
        self.scratch.push(op::AUX);
        self.push_string(key);
        self.push_string(value);
        self.emit_scratch()
    }

    /// Starts database `db`: `SELECTDB`, then (RDB 7+) `RESIZEDB` with the number of
    /// keys and of keys with an expiry that will follow.
    pub fn select_db(&mut self, db: u64, keys: u64, expires: u64) -> Result<(), WriteError> {
        self.scratch.push(op::SELECTDB);
        write_len(&mut self.scratch, db);
        if opcode_level(self.header) >= 7 {
            self.scratch.push(op::RESIZEDB);
            write_len(&mut self.scratch, keys);
            write_len(&mut self.scratch, expires);
        }
        self.db_selected = true;
        self.emit_scratch()
    }

    /// Writes a function library (`FUNCTION2`, RDB 10+): its code, `#!lua name=...`
    /// first.
    pub fn function(&mut self, code: &[u8]) -> Result<(), WriteError> {
        self.needs("a function library", 10)?;
        self.scratch.push(op::FUNCTION2);
        self.push_string(code);
        self.emit_scratch()
    }

    /// Writes module aux data (`MODULE_AUX`, RDB 9+), `raw` being the bytes after the
    /// opcode as in [`ModuleAux::raw`](crate::ModuleAux::raw).
    pub fn module_aux(&mut self, raw: &[u8]) -> Result<(), WriteError> {
        self.needs("module aux data", 9)?;
        self.emit(&[op::MODULE_AUX])?;
        self.emit(raw)
    }

    /// Writes a key of the current database.
    pub fn key(&mut self, entry: &KeyEntry<'_>) -> Result<(), WriteError> {
        if !self.db_selected {
            return Err(WriteError::NoDatabase);
        }
        let version = self.header.version;
        let rdb_version = u16::try_from(version).unwrap_or(u16::MAX);
        if !readable(entry.value_type, self.header.family, rdb_version) {
            return Err(WriteError::TypeNotReadable {
                value_type: entry.value_type,
                family: self.header.family,
                version,
            });
        }
        let level = opcode_level(self.header);
        if let Some(at) = entry.expire_at_ms {
            if level >= 3 {
                self.scratch.push(op::EXPIRETIME_MS);
                self.scratch.extend_from_slice(&at.to_le_bytes());
            } else {
                // RDB 1-2 only have second precision (rounded up, never earlier).
                let secs = at.div_euclid(1000) + i64::from(at.rem_euclid(1000) != 0);
                let secs = i32::try_from(secs).unwrap_or(i32::MAX);
                self.scratch.push(op::EXPIRETIME);
                self.scratch.extend_from_slice(&secs.to_le_bytes());
            }
        }
        if level >= 9 {
            if let Some(idle) = entry.idle_s {
                self.scratch.push(op::IDLE);
                write_len(&mut self.scratch, idle);
            }
            if let Some(freq) = entry.freq {
                self.scratch.push(op::FREQ);
                self.scratch.push(freq);
            }
        }
        self.scratch.push(entry.value_type.byte());
        self.push_string(entry.key);
        self.emit_scratch()?;
        self.emit(entry.body)
    }

    /// Ends the file: `EOF`, the CRC-64 trailer (RDB 5+), the padding; flushes and
    /// returns the output and the file's length.
    pub fn finish(mut self) -> Result<(W, u64), WriteError> {
        self.emit(&[op::EOF])?;
        if opcode_level(self.header) >= 5 {
            let crc = self.crc.value().to_le_bytes();
            self.emit(&crc)?;
        }
        if let Some(n) = self.options.pad_to.filter(|&n| n > 0) {
            let rest = (n - self.written % n) % n;
            let zeros = [0u8; 4096];
            let mut left = rest;
            while left > 0 {
                let chunk = left.min(zeros.len() as u64) as usize;
                self.out.write_all(&zeros[..chunk])?;
                left -= chunk as u64;
            }
            self.written += rest;
        }
        self.out.flush()?;
        Ok((self.out, self.written))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{Rdb, Record};

    fn header(family: Family, version: u32) -> Header {
        Header { family, version }
    }

    #[test]
    fn file_parses_with_checksum_and_padding() {
        let long_key = b"a key long enough to be compressed, compressed, compressed".to_vec();
        for (family, version) in [(Family::Redis, 9), (Family::Redis, 4), (Family::Valkey, 80)] {
            let options = WriterOptions {
                compress: true,
                pad_to: Some(512),
            };
            let mut w = Writer::new(Vec::new(), header(family, version), options).unwrap();
            w.aux(b"rdbkit-ver", b"1").unwrap();
            w.select_db(3, 2, 1).unwrap();
            let mut k = KeyEntry::new(&long_key, ValueType::String, b"\x02hi");
            k.expire_at_ms = Some(1_900_000_000_123);
            k.idle_s = Some(5);
            w.key(&k).unwrap();
            w.key(&KeyEntry::new(b"k2", ValueType::List, b"\x01\x01x"))
                .unwrap();
            let (file, len) = w.finish().unwrap();
            assert_eq!(file.len() as u64, len);
            assert_eq!(len % 512, 0);
            let rdb = Rdb::parse(&file).unwrap();
            assert_eq!(rdb.header(), header(family, version));
            let records: Vec<Record<'_>> = rdb.records().collect::<Result<_, _>>().unwrap();
            let keys: Vec<_> = records
                .iter()
                .filter_map(|r| match r {
                    Record::Key(k) => Some(k),
                    _ => None,
                })
                .collect();
            assert_eq!(keys.len(), 2);
            assert_eq!(&keys[0].key[..], &long_key[..]);
            assert_eq!(keys[0].db, 3);
            assert_eq!(keys[0].expire_at_ms, Some(1_900_000_000_123));
            assert_eq!(keys[0].idle_s, (version >= 9).then_some(5));
            let Some(Record::Eof(eof)) = records.last() else {
                panic!("no EOF")
            };
            assert_eq!(eof.checksum_verified, version >= 5);
            let has_resize = records.iter().any(|r| {
                matches!(
                    r,
                    Record::ResizeDb {
                        db_size: 2,
                        expires_size: 1
                    }
                )
            });
            assert_eq!(has_resize, version >= 7);
        }
    }

    #[test]
    fn refuses_what_the_version_cannot_hold() {
        let mut w = Writer::new(
            Vec::new(),
            header(Family::Redis, 9),
            WriterOptions::default(),
        )
        .unwrap();
        assert!(matches!(
            w.key(&KeyEntry::new(b"k", ValueType::String, b"\x00")),
            Err(WriteError::NoDatabase)
        ));
        w.select_db(0, 1, 0).unwrap();
        assert!(matches!(
            w.function(b"#!lua name=x\n"),
            Err(WriteError::NotInVersion { needs: 10, .. })
        ));
        assert!(matches!(
            w.key(&KeyEntry::new(b"k", ValueType::HashListpack, b"\x00")),
            Err(WriteError::TypeNotReadable { .. })
        ));
        assert!(matches!(
            Writer::new(
                Vec::new(),
                header(Family::Valkey, 11),
                WriterOptions::default()
            ),
            Err(WriteError::UnsupportedVersion { .. })
        ));
    }
}
