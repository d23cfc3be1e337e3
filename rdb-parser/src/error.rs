//! The parser's error type: small, `Copy`, borrowing nothing from the input.

use std::fmt;

use crate::header::InputKind;

/// What went wrong. `#[non_exhaustive]`: new formats bring new failure modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended before the structure being read was complete.
    UnexpectedEof,
    /// The file does not start with `REDIS` or `VALKEY` followed by a version number.
    BadMagic,
    /// The input is recognisably something other than an RDB file (compressed, an
    /// AOF, an HTTP error page, empty, ...); see [`sniff`](crate::header::sniff).
    NotRdb(InputKind),
    /// The header names an RDB version this parser does not know (newer, or in a
    /// range reserved by the other family).
    UnsupportedVersion(u32),
    /// A value type byte that is not an object type of this file's family and version.
    UnknownType(u8),
    /// A byte in opcode position that is neither an opcode nor a value type.
    UnknownOpcode(u8),
    /// A length prefix whose first byte is not a valid length encoding.
    BadLengthEncoding(u8),
    /// A length or count that does not fit the remaining input (or `usize`).
    LengthOverflow,
    /// A length above a configured limit (see [`ParseOptions`](crate::ParseOptions)).
    LimitExceeded,
    /// LZF-compressed data that does not decompress to its declared length.
    LzfCorrupt,
    /// The CRC-64 trailer (or DUMP footer) does not match the data.
    ChecksumMismatch {
        /// The checksum stored in the input.
        stored: u64,
        /// The checksum computed over the data.
        computed: u64,
    },
    /// A structure that is internally inconsistent (a ziplist whose entries overrun its
    /// declared size, a listpack back-length that does not match, ...). The error's
    /// context names the structure.
    Corrupt,
    /// A pre-GA module value (RDB type 6): its length cannot be known, so it cannot be skipped.
    PreGaModule,
    /// A DUMP payload whose footer names an RDB version above the one requested.
    PayloadVersion(u16),
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ErrorKind::UnexpectedEof => f.write_str("unexpected end of input"),
            ErrorKind::BadMagic => f.write_str("not an RDB file (bad magic)"),
            ErrorKind::NotRdb(k) => write!(f, "not an RDB file: {}", k.description()),
            ErrorKind::UnsupportedVersion(v) => write!(f, "unsupported RDB version {v}"),
            ErrorKind::UnknownType(t) => write!(f, "unknown value type {t}"),
            ErrorKind::UnknownOpcode(t) => write!(f, "unknown opcode {t}"),
            ErrorKind::BadLengthEncoding(b) => write!(f, "invalid length encoding 0x{b:02x}"),
            ErrorKind::LengthOverflow => f.write_str("length exceeds the remaining input"),
            ErrorKind::LimitExceeded => f.write_str("length exceeds the configured limit"),
            ErrorKind::LzfCorrupt => f.write_str("corrupt LZF data"),
            ErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:016x}, computed {computed:016x})"
            ),
            ErrorKind::Corrupt => f.write_str("corrupt data"),
            ErrorKind::PreGaModule => {
                f.write_str("pre-GA module value (RDB type 6) cannot be parsed")
            }
            ErrorKind::PayloadVersion(v) => write!(f, "DUMP payload RDB version {v} is too new"),
        }
    }
}

/// A parse error: what went wrong, at which byte, and what was expected there.
///
/// Offsets are absolute offsets in the input given to [`Rdb::parse`](crate::Rdb::parse)
/// (or the DUMP payload). When the failing byte lies inside LZF-compressed data,
/// [`offset`](Error::offset) is the start of the compressed string in the input and
/// [`decompressed_offset`](Error::decompressed_offset) the position inside the
/// decompressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    kind: ErrorKind,
    offset: u64,
    decompressed_offset: Option<u64>,
    record_offset: Option<u64>,
    context: &'static str,
}

impl Error {
    /// Builds an error at `offset` while reading `context`.
    pub fn new(kind: ErrorKind, offset: u64, context: &'static str) -> Error {
        Error {
            kind,
            offset,
            decompressed_offset: None,
            record_offset: None,
            context,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Absolute byte offset of the failing byte in the input.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Position inside LZF-decompressed data, when the failure lies there.
    pub fn decompressed_offset(&self) -> Option<u64> {
        self.decompressed_offset
    }

    /// Where the enclosing record (key, AUX field, ...) starts, when known.
    pub fn record_offset(&self) -> Option<u64> {
        self.record_offset
    }

    /// What the parser was reading or expected to find (for example `"listpack entry"`).
    pub fn context(&self) -> &'static str {
        self.context
    }

    pub(crate) fn with_record(mut self, record_offset: u64) -> Error {
        if self.record_offset.is_none() {
            self.record_offset = Some(record_offset);
        }
        self
    }

    /// Moves an error raised inside a decompressed buffer to the file position of
    /// the compressed string it came from.
    pub(crate) fn in_decompressed(mut self, blob_offset: u64) -> Error {
        if self.decompressed_offset.is_none() {
            self.decompressed_offset = Some(self.offset);
            self.offset = blob_offset;
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}", self.kind, self.offset)?;
        if let Some(d) = self.decompressed_offset {
            write!(f, " (byte {d} of the decompressed data)")?;
        }
        write!(f, " while reading {}", self.context)?;
        if let Some(r) = self.record_offset {
            if r != self.offset {
                write!(f, " (record at offset {r})")?;
            }
        }
        Ok(())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
