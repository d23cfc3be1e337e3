//! Zipmap (type 9, written by Redis ≤ 2.4): `u8 zmlen` (count if < 254), then
//! `len key, key, len value, u8 free, value, free bytes` repeated, then `0xFF`. A
//! length is one byte below 254, else `0xFE` + u32. Redis
//! [`zipmap.c`](https://github.com/redis/redis/blob/unstable/src/zipmap.c).

use super::walk::{bytes_at, corrupt, sealed::Sealed, Entries, EntryAt, Walker};
use crate::error::Result;

const END: u8 = 0xff;

/// Walks the keys and values of a zipmap, alternating (key, value, key, value ...);
/// see [`Entries::new`].
pub type Zipmap<'b> = Entries<'b, ZipmapState>;

/// Position state of a zipmap walk.
#[derive(Debug, Clone)]
pub struct ZipmapState {
    pos: usize,
    pending_value: Option<(usize, usize)>,
    pairs: usize,
    declared: Option<usize>,
}

impl Sealed for ZipmapState {}

impl Walker for ZipmapState {
    fn open(data: &[u8], base: u64) -> Result<ZipmapState> {
        let n = *bytes_at(data, base, 0, 1, "zipmap header")?
            .first()
            .unwrap_or(&END);
        if data.last() != Some(&END) || data.len() < 2 {
            return Err(corrupt(
                base,
                data.len().saturating_sub(1),
                "zipmap terminator 0xFF",
            ));
        }
        Ok(ZipmapState {
            pos: 1,
            pending_value: None,
            pairs: 0,
            declared: (n < 254).then_some(n as usize),
        })
    }

    fn step(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>> {
        self.step_entry(data, base)
    }
}

impl ZipmapState {
    fn read_len(&mut self, data: &[u8], base: u64) -> Result<usize> {
        let b = *data
            .get(self.pos)
            .ok_or_else(|| corrupt(base, self.pos, "zipmap length"))?;
        match b {
            0..=253 => {
                self.pos += 1;
                Ok(b as usize)
            }
            254 => {
                let d = data
                    .get(self.pos + 1..self.pos + 5)
                    .ok_or_else(|| corrupt(base, self.pos, "zipmap length"))?;
                self.pos += 5;
                Ok(u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize)
            }
            _ => Err(corrupt(base, self.pos, "zipmap length")),
        }
    }

    fn step_entry(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>> {
        if let Some((s, e)) = self.pending_value.take() {
            return Ok(Some(EntryAt::Bytes(s, e)));
        }
        if data.get(self.pos) == Some(&END) {
            if self.pos + 1 != data.len() {
                return Err(corrupt(
                    base,
                    self.pos,
                    "zipmap terminator at the end of the blob",
                ));
            }
            if self.declared.is_some_and(|n| n != self.pairs) {
                return Err(corrupt(base, 0, "zipmap entry count"));
            }
            return Ok(None);
        }
        let entry_start = self.pos;
        let klen = self.read_len(data, base)?;
        let kstart = self.pos;
        let kend = kstart
            .checked_add(klen)
            .filter(|&e| e < data.len())
            .ok_or_else(|| corrupt(base, entry_start, "zipmap key"))?;
        self.pos = kend;
        let vlen = self.read_len(data, base)?;
        let free = *data
            .get(self.pos)
            .ok_or_else(|| corrupt(base, self.pos, "zipmap free byte"))?
            as usize;
        let vstart = self.pos + 1;
        let vend = vstart
            .checked_add(vlen)
            .filter(|&e| e < data.len())
            .ok_or_else(|| corrupt(base, entry_start, "zipmap value"))?;
        let next = vend
            .checked_add(free)
            .filter(|&e| e < data.len())
            .ok_or_else(|| corrupt(base, entry_start, "zipmap free space"))?;
        self.pos = next;
        self.pending_value = Some((vstart, vend));
        self.pairs += 1;
        Ok(Some(EntryAt::Bytes(kstart, kend)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::RawEntry;

    #[test]
    fn pairs_and_free_space() {
        // 2 pairs: "a" => "xy" (1 free byte), "bc" => "" ; then end.
        let zm = [2, 1, b'a', 2, 1, b'x', b'y', 0, 2, b'b', b'c', 0, 0, END];
        let got: Result<Vec<RawEntry<'_>>> = Zipmap::new(&zm, 0).and_then(|z| z.collect());
        assert_eq!(
            got.ok(),
            Some(vec![
                RawEntry::Bytes(b"a"),
                RawEntry::Bytes(b"xy"),
                RawEntry::Bytes(b"bc"),
                RawEntry::Bytes(b"")
            ])
        );
        let mut bad = zm;
        bad[3] = 40;
        let got: Result<Vec<RawEntry<'_>>> = Zipmap::new(&bad, 0).and_then(|z| z.collect());
        assert!(got.is_err());
    }
}
