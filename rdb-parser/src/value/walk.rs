//! What the container readers share: the walk that turns a position state into an
//! iterator, and bounds-checked byte access with absolute offsets in errors.

use std::fmt;

use super::RawEntry;
use crate::error::{Error, ErrorKind, Result};

/// An element found by a walk: a range of the container's bytes, or an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryAt {
    /// Bytes `start..end` of the container.
    Bytes(usize, usize),
    /// An integer element.
    Int(i64),
}

impl EntryAt {
    pub(crate) fn resolve(self, data: &[u8]) -> RawEntry<'_> {
        match self {
            EntryAt::Bytes(s, e) => RawEntry::Bytes(data.get(s..e).unwrap_or(&[])),
            EntryAt::Int(i) => RawEntry::Int(i),
        }
    }
}

pub(crate) mod sealed {
    /// Only this crate's walkers implement [`Walker`](super::Walker).
    pub trait Sealed {}
}

/// The position state of a walk over one container encoding (listpack, ziplist,
/// zipmap). It holds no bytes, so an owner of decompressed bytes can drive it too.
pub trait Walker: sealed::Sealed + Clone + fmt::Debug + Sized {
    /// Checks the container's header in `data` (`base`: absolute offset of `data[0]`).
    #[doc(hidden)]
    fn open(data: &[u8], base: u64) -> Result<Self>;
    /// The next element, or `None` at the end (after the container's final checks).
    #[doc(hidden)]
    fn step(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>>;
}

/// Iterates the elements of a container held in `data`; after an error or the end
/// it yields nothing more.
#[derive(Debug, Clone)]
pub struct Entries<'b, W> {
    pub(crate) data: &'b [u8],
    base: u64,
    pub(crate) state: W,
    done: bool,
}

impl<'b, W: Walker> Entries<'b, W> {
    /// Checks the header of the container in `data`; `base` is the absolute offset of
    /// `data[0]`, used in error offsets.
    pub fn new(data: &'b [u8], base: u64) -> Result<Entries<'b, W>> {
        Ok(Entries {
            data,
            base,
            state: W::open(data, base)?,
            done: false,
        })
    }

    /// The size of the container in bytes.
    pub fn byte_len(&self) -> usize {
        self.data.len()
    }
}

impl<'b, W: Walker> Iterator for Entries<'b, W> {
    type Item = Result<RawEntry<'b>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.state.step(self.data, self.base) {
            Ok(Some(e)) => Some(Ok(e.resolve(self.data))),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A [`Walker`] driven over bytes it does not own, stopping for good after the end
/// or an error (used by [`BlobIter`](super::BlobIter)).
#[derive(Debug, Clone)]
pub(crate) struct Fused<W> {
    state: W,
    done: bool,
}

impl<W: Walker> Fused<W> {
    pub(crate) fn open(data: &[u8], base: u64) -> Result<Fused<W>> {
        Ok(Fused {
            state: W::open(data, base)?,
            done: false,
        })
    }

    pub(crate) fn next(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>> {
        if self.done {
            return Ok(None);
        }
        let r = self.state.step(data, base);
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }
}

/// A corruption error at `pos` of a container starting at absolute offset `base`.
pub(crate) fn corrupt(base: u64, pos: usize, context: &'static str) -> Error {
    Error::new(ErrorKind::Corrupt, base + pos as u64, context)
}

/// `n` bytes at `pos`, or an end-of-input error naming the container's end.
pub(crate) fn bytes_at<'d>(
    data: &'d [u8],
    base: u64,
    pos: usize,
    n: usize,
    context: &'static str,
) -> Result<&'d [u8]> {
    pos.checked_add(n)
        .and_then(|end| data.get(pos..end))
        .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, base + data.len() as u64, context))
}

/// A little-endian signed integer of 1 to 8 bytes, sign-extended.
pub(crate) fn le_signed(bytes: &[u8]) -> i64 {
    let n = bytes.len().min(8);
    let mut buf = [0u8; 8];
    buf[..n].copy_from_slice(&bytes[..n]);
    let shift = 64 - 8 * n as u32;
    if n == 0 {
        0
    } else {
        (i64::from_le_bytes(buf) << shift) >> shift
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sign_extension() {
        use super::le_signed;
        assert_eq!(le_signed(&[0xff]), -1);
        assert_eq!(le_signed(&[0x00, 0x80]), -32768);
        assert_eq!(le_signed(&[0xff, 0xff, 0x7f]), 8388607);
        assert_eq!(le_signed(&[0x00, 0x00, 0x80]), -8388608);
        assert_eq!(le_signed(&i64::MIN.to_le_bytes()), i64::MIN);
        assert_eq!(le_signed(&[]), 0);
    }
}
