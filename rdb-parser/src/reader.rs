//! A bounds-checked cursor over RDB bytes: fixed-width integers, RDB length
//! encodings and RDB strings (raw, integer-encoded, LZF).
//!
//! Every read returns a `Result`; nothing indexes the input with a number read from
//! it. Mirrors `rdbLoadLenByRef`, `rdbGenericLoadStringObject` and `rdbLoadLzfStringObject`
//! in Redis' [`rdb.c`](https://github.com/redis/redis/blob/unstable/src/rdb.c).

use std::borrow::Cow;
use std::fmt;

use crate::error::{Error, ErrorKind, Result};

/// A cursor over a byte slice that knows the absolute offset of its first byte, so
/// errors name file positions even when reading a sub-slice.
#[derive(Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cursor")
            .field("offset", &self.offset())
            .field("remaining", &self.remaining())
            .finish()
    }
}

/// A decoded RDB length prefix (`rdbLoadLenByRef`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// A plain length or count.
    Len(u64),
    /// The `11xxxxxx` marker: a specially encoded string follows (`RDB_ENC_*` in the low bits).
    Encoded(u8),
}

/// `RDB_ENC_INT8`, `RDB_ENC_INT16`, `RDB_ENC_INT32`, `RDB_ENC_LZF` (rdb.h).
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// Worst case LZF expansion: a 3-byte back reference yields at most 264 bytes.
/// A declared length beyond this bound cannot be honest, so it is refused before
/// anything is allocated.
const LZF_MAX_RATIO: usize = 88;

impl<'a> Cursor<'a> {
    /// A cursor over `data`, whose first byte is at absolute offset `base`.
    pub fn new(data: &'a [u8], base: u64) -> Cursor<'a> {
        Cursor { data, pos: 0, base }
    }

    /// Absolute offset of the next byte to read.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Index of the next byte within the slice given to [`Cursor::new`].
    #[inline]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// Whether the cursor is at the end of its slice.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// The whole slice this cursor reads.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The bytes between `start` (a previous [`position`](Cursor::position)) and the current position.
    #[inline]
    pub fn since(&self, start: usize) -> &'a [u8] {
        self.data.get(start..self.pos).unwrap_or(&[])
    }

    /// An error of `kind` at the current position.
    #[inline]
    pub fn error(&self, kind: ErrorKind, context: &'static str) -> Error {
        Error::new(kind, self.offset(), context)
    }

    /// Reads `n` bytes.
    #[inline]
    pub fn read_bytes(&mut self, n: usize, context: &'static str) -> Result<&'a [u8]> {
        match self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
        {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => Err(self.eof(context)),
        }
    }

    /// An end-of-input error: at the end of the slice, where the data ran out.
    #[inline]
    fn eof(&self, context: &'static str) -> Error {
        Error::new(
            ErrorKind::UnexpectedEof,
            self.base + self.data.len() as u64,
            context,
        )
    }

    /// Reads a fixed-size array.
    #[inline]
    pub fn read_array<const N: usize>(&mut self, context: &'static str) -> Result<[u8; N]> {
        let bytes = self.read_bytes(N, context)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Skips `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: usize, context: &'static str) -> Result<()> {
        self.read_bytes(n, context).map(|_| ())
    }

    /// Reads one byte.
    #[inline]
    pub fn read_u8(&mut self, context: &'static str) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.eof(context)),
        }
    }

    /// Looks at the next byte without consuming it.
    #[inline]
    pub fn peek_u8(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads a little-endian `u16`.
    #[inline]
    pub fn read_u16_le(&mut self, context: &'static str) -> Result<u16> {
        self.read_array(context).map(u16::from_le_bytes)
    }

    /// Reads a little-endian `u32`.
    #[inline]
    pub fn read_u32_le(&mut self, context: &'static str) -> Result<u32> {
        self.read_array(context).map(u32::from_le_bytes)
    }

    /// Reads a little-endian `i32`.
    #[inline]
    pub fn read_i32_le(&mut self, context: &'static str) -> Result<i32> {
        self.read_array(context).map(i32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    #[inline]
    pub fn read_u64_le(&mut self, context: &'static str) -> Result<u64> {
        self.read_array(context).map(u64::from_le_bytes)
    }

    /// Reads a little-endian `i64`.
    #[inline]
    pub fn read_i64_le(&mut self, context: &'static str) -> Result<i64> {
        self.read_array(context).map(i64::from_le_bytes)
    }

    /// Reads a big-endian `u64`.
    #[inline]
    pub fn read_u64_be(&mut self, context: &'static str) -> Result<u64> {
        self.read_array(context).map(u64::from_be_bytes)
    }

    /// Reads a little-endian IEEE-754 double (`rdbLoadBinaryDoubleValue`).
    #[inline]
    pub fn read_f64_le(&mut self, context: &'static str) -> Result<f64> {
        self.read_array(context).map(f64::from_le_bytes)
    }

    /// Reads an RDB length prefix, which may be the "encoded string" marker.
    #[inline]
    pub fn read_length(&mut self, context: &'static str) -> Result<Length> {
        let start = self.offset();
        let first = self.read_u8(context)?;
        match first >> 6 {
            0 => Ok(Length::Len(u64::from(first & 0x3f))),
            1 => {
                let second = self.read_u8(context)?;
                Ok(Length::Len(
                    (u64::from(first & 0x3f) << 8) | u64::from(second),
                ))
            }
            3 => Ok(Length::Encoded(first & 0x3f)),
            _ => match first {
                0x80 => Ok(Length::Len(u64::from(u32::from_be_bytes(
                    self.read_array(context)?,
                )))),
                0x81 => Ok(Length::Len(
                    self.read_array(context).map(u64::from_be_bytes)?,
                )),
                _ => Err(Error::new(
                    ErrorKind::BadLengthEncoding(first),
                    start,
                    context,
                )),
            },
        }
    }

    /// Reads an RDB length that must be a plain number.
    #[inline]
    pub fn read_len(&mut self, context: &'static str) -> Result<u64> {
        let start = self.offset();
        match self.read_length(context)? {
            Length::Len(n) => Ok(n),
            Length::Encoded(_) => Err(Error::new(ErrorKind::Corrupt, start, context)),
        }
    }

    /// Reads an element count and checks it against the remaining input: each of the
    /// `n` elements takes at least `min_element_size` bytes, so a count that cannot
    /// fit is refused before anything is allocated or looped over.
    #[inline]
    pub fn read_count(&mut self, min_element_size: usize, context: &'static str) -> Result<usize> {
        let start = self.offset();
        let n = self.read_len(context)?;
        let fits = usize::try_from(n)
            .ok()
            .and_then(|n| n.checked_mul(min_element_size).map(|bytes| (n, bytes)))
            .filter(|&(_, bytes)| bytes <= self.remaining());
        match fits {
            Some((n, _)) => Ok(n),
            None => Err(Error::new(ErrorKind::LengthOverflow, start, context)),
        }
    }

    /// The end of a raw string with a 6- or 14-bit length prefix starting at the
    /// cursor, when it lies within the input (the common case, decoded inline).
    #[inline(always)]
    fn short_raw_end(&self) -> Option<(usize, usize)> {
        let first = *self.data.get(self.pos)?;
        let (body, n) = match first >> 6 {
            0 => (self.pos + 1, usize::from(first & 0x3f)),
            1 => {
                let second = *self.data.get(self.pos + 1)?;
                (
                    self.pos + 2,
                    (usize::from(first & 0x3f) << 8) | usize::from(second),
                )
            }
            _ => return None,
        };
        let end = body + n;
        (end <= self.data.len()).then_some((body, end))
    }

    /// Reads an RDB string without decoding it.
    #[inline]
    pub fn read_string(&mut self, context: &'static str) -> Result<RdbStr<'a>> {
        if let Some((body, end)) = self.short_raw_end() {
            if let Some(bytes) = self.data.get(body..end) {
                self.pos = end;
                return Ok(RdbStr::Raw(bytes));
            }
        }
        self.read_string_slow(context)
    }

    /// [`read_string`](Cursor::read_string) for every other case (and every error).
    #[inline(never)]
    fn read_string_slow(&mut self, context: &'static str) -> Result<RdbStr<'a>> {
        let start = self.offset();
        match self.read_length(context)? {
            Length::Len(n) => {
                let n = usize::try_from(n)
                    .map_err(|_| Error::new(ErrorKind::LengthOverflow, start, context))?;
                if n > self.remaining() {
                    // The string runs past the end: a truncated file (or a hostile length).
                    return Err(self.eof(context));
                }
                self.read_bytes(n, context).map(RdbStr::Raw)
            }
            Length::Encoded(ENC_INT8) => {
                let v = self.read_u8(context)? as i8;
                Ok(RdbStr::Int(i64::from(v)))
            }
            Length::Encoded(ENC_INT16) => {
                let v = i16::from_le_bytes(self.read_array(context)?);
                Ok(RdbStr::Int(i64::from(v)))
            }
            Length::Encoded(ENC_INT32) => {
                let v = self.read_i32_le(context)?;
                Ok(RdbStr::Int(i64::from(v)))
            }
            Length::Encoded(ENC_LZF) => {
                let clen = self.read_len(context)?;
                let len = self.read_len(context)?;
                let clen = usize::try_from(clen)
                    .ok()
                    .filter(|&c| c <= self.remaining())
                    .ok_or_else(|| Error::new(ErrorKind::LengthOverflow, start, context))?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= clen.saturating_mul(LZF_MAX_RATIO).saturating_add(64))
                    .ok_or_else(|| Error::new(ErrorKind::LzfCorrupt, start, context))?;
                let compressed = self.read_bytes(clen, context)?;
                Ok(RdbStr::Lzf {
                    compressed,
                    len,
                    offset: start,
                })
            }
            Length::Encoded(other) => Err(Error::new(
                ErrorKind::BadLengthEncoding(0xc0 | other),
                start,
                context,
            )),
        }
    }

    /// Skips an RDB string (never decompresses).
    #[inline]
    pub fn skip_string(&mut self, context: &'static str) -> Result<()> {
        if let Some((_, end)) = self.short_raw_end() {
            self.pos = end;
            return Ok(());
        }
        self.read_string_slow(context).map(|_| ())
    }
}

/// An RDB string as stored: raw bytes, an integer, or LZF-compressed bytes.
///
/// Decoding is explicit: [`RdbStr::to_bytes`] borrows raw strings and allocates only
/// for integers (their decimal text) and LZF data.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum RdbStr<'a> {
    /// Uncompressed bytes, borrowed from the input.
    Raw(&'a [u8]),
    /// An integer-encoded string (`RDB_ENC_INT8/16/32`); its value is its decimal text.
    Int(i64),
    /// LZF-compressed bytes (`RDB_ENC_LZF`).
    Lzf {
        /// The compressed bytes.
        compressed: &'a [u8],
        /// The declared decompressed length.
        len: usize,
        /// Offset of the string's length prefix in the input.
        offset: u64,
    },
}

impl fmt::Debug for RdbStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RdbStr::Raw(b) => write!(f, "Raw({:?})", crate::DebugBytes(b)),
            RdbStr::Int(i) => write!(f, "Int({i})"),
            RdbStr::Lzf {
                compressed, len, ..
            } => {
                write!(f, "Lzf({} -> {} bytes)", compressed.len(), len)
            }
        }
    }
}

impl<'a> RdbStr<'a> {
    /// The length of the decoded string.
    pub fn len(&self) -> usize {
        match self {
            RdbStr::Raw(b) => b.len(),
            RdbStr::Int(i) => decimal_len(*i),
            RdbStr::Lzf { len, .. } => *len,
        }
    }

    /// Whether the decoded string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoded bytes: borrowed when stored raw, owned for integers and LZF.
    pub fn to_bytes(&self) -> Result<Cow<'a, [u8]>> {
        self.to_bytes_limited(usize::MAX)
    }

    /// Checks that the string decodes (LZF streams are walked without producing
    /// output), refusing LZF strings longer than `max_len`.
    pub fn validate(&self, max_len: usize) -> Result<()> {
        match *self {
            RdbStr::Raw(_) | RdbStr::Int(_) => Ok(()),
            RdbStr::Lzf {
                compressed,
                len,
                offset,
            } => {
                if len > max_len {
                    Err(Error::new(ErrorKind::LimitExceeded, offset, "LZF string"))
                } else if crate::lzf::check(compressed, len) {
                    Ok(())
                } else {
                    Err(Error::new(ErrorKind::LzfCorrupt, offset, "LZF string"))
                }
            }
        }
    }

    /// Like [`to_bytes`](RdbStr::to_bytes), refusing LZF strings that would
    /// decompress to more than `max_len` bytes.
    #[inline]
    pub fn to_bytes_limited(&self, max_len: usize) -> Result<Cow<'a, [u8]>> {
        match *self {
            RdbStr::Raw(b) => Ok(Cow::Borrowed(b)),
            _ => self.decode_limited(max_len),
        }
    }

    /// [`to_bytes_limited`](RdbStr::to_bytes_limited) for integers and LZF strings.
    #[inline(never)]
    fn decode_limited(&self, max_len: usize) -> Result<Cow<'a, [u8]>> {
        match *self {
            RdbStr::Raw(b) => Ok(Cow::Borrowed(b)),
            RdbStr::Int(i) => Ok(Cow::Owned(i.to_string().into_bytes())),
            RdbStr::Lzf {
                compressed,
                len,
                offset,
            } => {
                if len > max_len {
                    return Err(Error::new(ErrorKind::LimitExceeded, offset, "LZF string"));
                }
                decompress_lzf(compressed, len)
                    .map(Cow::Owned)
                    .ok_or_else(|| Error::new(ErrorKind::LzfCorrupt, offset, "LZF string"))
            }
        }
    }
}

/// Number of bytes in the decimal text of `i`.
fn decimal_len(i: i64) -> usize {
    let mut n = if i < 0 { 2 } else { 1 };
    let mut v = i.unsigned_abs();
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

/// Decompresses an LZF block that must expand to exactly `len` bytes. `len` was
/// bounded by the compressed size in `read_string` (at most 88 bytes per input byte).
fn decompress_lzf(compressed: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    crate::lzf::decompress_into(compressed, len, &mut out).map(|()| out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let data = [
            0x05, 0x41, 0x02, 0x80, 0, 1, 0, 0, 0x81, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0,
        ];
        let mut c = Cursor::new(&data, 0);
        assert_eq!(c.read_length("t").ok(), Some(Length::Len(5)));
        assert_eq!(c.read_length("t").ok(), Some(Length::Len(0x102)));
        assert_eq!(c.read_length("t").ok(), Some(Length::Len(0x10000)));
        assert_eq!(c.read_length("t").ok(), Some(Length::Len(1 << 32)));
        assert_eq!(c.read_length("t").ok(), Some(Length::Encoded(0)));
        let err = c.read_length("t").err().map(|e| (e.kind(), e.offset()));
        assert_eq!(err, Some((ErrorKind::UnexpectedEof, 18)));
    }

    #[test]
    fn bad_length_byte_names_offset() {
        let data = [0x00, 0x82];
        let mut c = Cursor::new(&data, 100);
        c.read_u8("t").ok();
        let e = c.read_length("len").err();
        assert_eq!(
            e.map(|e| (e.kind(), e.offset())),
            Some((ErrorKind::BadLengthEncoding(0x82), 101))
        );
    }

    #[test]
    fn int_strings() {
        let data = [0xc0, 0x80, 0xc1, 0x00, 0x80, 0xc2, 0xff, 0xff, 0xff, 0x7f];
        let mut c = Cursor::new(&data, 0);
        let a = c.read_string("s").ok().and_then(|s| s.to_bytes().ok());
        let b = c.read_string("s").ok().and_then(|s| s.to_bytes().ok());
        let d = c.read_string("s").ok().and_then(|s| s.to_bytes().ok());
        assert_eq!(a.as_deref(), Some(&b"-128"[..]));
        assert_eq!(b.as_deref(), Some(&b"-32768"[..]));
        assert_eq!(d.as_deref(), Some(&b"2147483647"[..]));
        assert_eq!(decimal_len(-32768), 6);
        assert_eq!(decimal_len(i64::MIN), 20);
    }

    #[test]
    fn hostile_lengths_refused_before_allocation() {
        // A 4 GiB string length in a 6-byte input.
        let data = [0x80, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert_eq!(
            Cursor::new(&data, 0)
                .read_string("s")
                .err()
                .map(|e| e.kind()),
            Some(ErrorKind::UnexpectedEof)
        );
        // An LZF string claiming to expand 2 bytes into 1 GiB.
        let data = [0xc3, 0x02, 0x80, 0x40, 0, 0, 0, 0x00, 0x41];
        assert_eq!(
            Cursor::new(&data, 0)
                .read_string("s")
                .err()
                .map(|e| e.kind()),
            Some(ErrorKind::LzfCorrupt)
        );
        // A count of 2^62 elements.
        let data = [0x81, 0x40, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Cursor::new(&data, 0)
                .read_count(1, "n")
                .err()
                .map(|e| e.kind()),
            Some(ErrorKind::LengthOverflow)
        );
    }

    #[test]
    fn lzf_round_trip() {
        let text = b"abcabcabcabcabcabcabcabcabcabcabcabc".repeat(4);
        let compressed = lzf::compress(&text).unwrap_or_default();
        assert!(!compressed.is_empty());
        let s = RdbStr::Lzf {
            compressed: &compressed,
            len: text.len(),
            offset: 0,
        };
        assert_eq!(s.to_bytes().ok().as_deref(), Some(&text[..]));
        let wrong = RdbStr::Lzf {
            compressed: &compressed,
            len: text.len() + 1,
            offset: 7,
        };
        assert_eq!(
            wrong.to_bytes().err().map(|e| (e.kind(), e.offset())),
            Some((ErrorKind::LzfCorrupt, 7))
        );
    }
}
