//! Intset (type 11): `u32 encoding` (2, 4 or 8), `u32 length`, sorted unique
//! little-endian integers. Redis [`intset.c`](https://github.com/redis/redis/blob/unstable/src/intset.c).

use super::walk::{bytes_at, le_signed};
use crate::error::{Error, ErrorKind, Result};

/// Walks the members of an intset held in `data` (`base` = absolute offset of `data[0]`).
#[derive(Debug, Clone)]
pub struct Intset<'b> {
    data: &'b [u8],
    state: IntsetState,
}

impl<'b> Intset<'b> {
    /// Checks the header and size of the intset in `data`.
    pub fn new(data: &'b [u8], base: u64) -> Result<Intset<'b>> {
        Ok(Intset {
            data,
            state: IntsetState::new(data, base)?,
        })
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.state.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.state.len == 0
    }
}

impl Iterator for Intset<'_> {
    type Item = Result<i64>;

    fn next(&mut self) -> Option<Result<i64>> {
        self.state.next(self.data).transpose()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct IntsetState {
    width: usize,
    len: usize,
    index: usize,
    prev: Option<i64>,
    base: u64,
}

impl IntsetState {
    pub(crate) fn new(data: &[u8], base: u64) -> Result<IntsetState> {
        let h = data.get(..8).ok_or_else(|| {
            Error::new(
                ErrorKind::UnexpectedEof,
                base + data.len() as u64,
                "intset header",
            )
        })?;
        let width = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                base,
                "intset encoding (2, 4 or 8)",
            ));
        }
        if len.checked_mul(width).and_then(|b| b.checked_add(8)) != Some(data.len()) {
            return Err(Error::new(
                ErrorKind::Corrupt,
                base + 4,
                "intset length (must fill the blob)",
            ));
        }
        Ok(IntsetState {
            width,
            len,
            index: 0,
            prev: None,
            base,
        })
    }

    pub(crate) fn next(&mut self, data: &[u8]) -> Result<Option<i64>> {
        if self.index >= self.len {
            return Ok(None);
        }
        let at = 8 + self.index * self.width;
        let v = le_signed(bytes_at(data, self.base, at, self.width, "intset member")?);
        if self.prev.is_some_and(|p| p >= v) {
            self.index = self.len;
            return Err(Error::new(
                ErrorKind::Corrupt,
                self.base + at as u64,
                "intset member order (ascending, unique)",
            ));
        }
        self.prev = Some(v);
        self.index += 1;
        Ok(Some(v))
    }
}

/// Builds an intset of sorted unique members with the narrowest width that fits.
pub fn encode(members: &[i64]) -> Vec<u8> {
    let width: usize = if members.iter().all(|&m| i16::try_from(m).is_ok()) {
        2
    } else if members.iter().all(|&m| i32::try_from(m).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for &m in members {
        out.extend_from_slice(&m.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_order() {
        for members in [
            vec![-5i64, 0, 7],
            vec![-70000, 1, 70000],
            vec![i64::MIN, 0, i64::MAX],
        ] {
            let blob = encode(&members);
            let got: Result<Vec<i64>> = Intset::new(&blob, 0).and_then(|s| s.collect());
            assert_eq!(got.ok(), Some(members));
        }
        let mut bad = encode(&[1, 2, 3]);
        bad[10] = 9; // second member now 9 > 3
        let got: Result<Vec<i64>> = Intset::new(&bad, 0).and_then(|s| s.collect());
        assert_eq!(got.err().map(|e| e.offset()), Some(12));
        assert!(Intset::new(&bad[..bad.len() - 1], 0).is_err());
    }
}
