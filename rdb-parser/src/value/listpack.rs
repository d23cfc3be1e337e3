//! Listpack (types 16, 17, 20, 23, 25, quicklist2 nodes, stream nodes).
//!
//! Layout (Redis [`listpack.c`](https://github.com/redis/redis/blob/unstable/src/listpack.c)):
//! `u32 total_bytes`, `u16 num_elements` (65535 = unknown), elements, `0xFF`. Each
//! element is its encoding + data followed by a back-length (the size of encoding +
//! data, 1-5 bytes, 7 bits each, read right to left). Every element's back-length,
//! the count and the terminator are checked while walking.

use super::walk::{bytes_at, corrupt, le_signed, sealed::Sealed, Entries, EntryAt, Walker};
use super::RawEntry;
use crate::error::Result;

const HEADER: usize = 6;
const EOF: u8 = 0xff;

/// Walks the elements of a listpack held in `data` (see [`Entries::new`]).
pub type Listpack<'b> = Entries<'b, ListpackState>;

impl Entries<'_, ListpackState> {
    /// The element count from the header, when known (not 65535).
    pub fn declared_len(&self) -> Option<usize> {
        self.state.declared
    }
}

/// Position state of a listpack walk.
#[derive(Debug, Clone)]
pub struct ListpackState {
    pos: usize,
    seen: usize,
    declared: Option<usize>,
}

impl Sealed for ListpackState {}

/// Size in bytes of the back-length that encodes `len` (`lpEncodeBacklen`).
fn backlen_size(len: usize) -> usize {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

impl Walker for ListpackState {
    fn open(data: &[u8], base: u64) -> Result<ListpackState> {
        let header = bytes_at(data, base, 0, HEADER, "listpack header")?;
        let total = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if total != data.len() {
            return Err(corrupt(
                base,
                0,
                "listpack total-bytes (must equal the blob length)",
            ));
        }
        if data.last() != Some(&EOF) {
            return Err(corrupt(
                base,
                data.len().saturating_sub(1),
                "listpack terminator 0xFF",
            ));
        }
        let n = u16::from_le_bytes([header[4], header[5]]);
        Ok(ListpackState {
            pos: HEADER,
            seen: 0,
            declared: (n != u16::MAX).then_some(n as usize),
        })
    }

    fn step(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>> {
        let start = self.pos;
        let b = *bytes_at(data, base, start, 1, "listpack entry")?
            .first()
            .unwrap_or(&EOF);
        if b == EOF {
            if start + 1 != data.len() {
                return Err(corrupt(
                    base,
                    start,
                    "listpack terminator at the end of the blob",
                ));
            }
            if let Some(n) = self.declared {
                if n != self.seen {
                    return Err(corrupt(base, 4, "listpack element count"));
                }
            }
            return Ok(None);
        }
        let ctx = "listpack entry";
        let (entry, size) = match b {
            0x00..=0x7f => (EntryAt::Int(i64::from(b)), 1),
            0x80..=0xbf => {
                let len = (b & 0x3f) as usize;
                (EntryAt::Bytes(start + 1, start + 1 + len), 1 + len)
            }
            0xc0..=0xdf => {
                let lo = *bytes_at(data, base, start + 1, 1, ctx)?
                    .first()
                    .unwrap_or(&0);
                let u = (u64::from(b & 0x1f) << 8) | u64::from(lo);
                // 13-bit two's complement.
                let v = if u >= 1 << 12 {
                    u as i64 - (1 << 13)
                } else {
                    u as i64
                };
                (EntryAt::Int(v), 2)
            }
            0xe0..=0xef => {
                let lo = *bytes_at(data, base, start + 1, 1, ctx)?
                    .first()
                    .unwrap_or(&0);
                let len = (((b & 0x0f) as usize) << 8) | lo as usize;
                (EntryAt::Bytes(start + 2, start + 2 + len), 2 + len)
            }
            0xf0 => {
                let l = bytes_at(data, base, start + 1, 4, ctx)?;
                let len = u32::from_le_bytes([l[0], l[1], l[2], l[3]]) as usize;
                (
                    EntryAt::Bytes(start + 5, start.saturating_add(5).saturating_add(len)),
                    5usize.saturating_add(len),
                )
            }
            0xf1..=0xf4 => {
                // int16, int24, int32, int64 (little-endian).
                let width = [2, 3, 4, 8][(b - 0xf1) as usize];
                let d = bytes_at(data, base, start + 1, width, ctx)?;
                (EntryAt::Int(le_signed(d)), 1 + width)
            }
            _ => return Err(corrupt(base, start, "listpack entry encoding")),
        };
        // The entry (and its back-length) must end before the terminator.
        let bl = backlen_size(size);
        let end = start
            .checked_add(size)
            .and_then(|e| e.checked_add(bl))
            .filter(|&e| e < data.len())
            .ok_or_else(|| corrupt(base, start, "listpack entry within the blob"))?;
        let back = data.get(start + size..end).unwrap_or(&[]);
        let mut decoded: u64 = 0;
        for (i, &byte) in back.iter().rev().enumerate() {
            decoded |= u64::from(byte & 0x7f) << (7 * i);
        }
        let well_formed = back
            .iter()
            .enumerate()
            .all(|(i, &byte)| (i == 0) == (byte & 0x80 == 0));
        if !well_formed || decoded != size as u64 {
            return Err(corrupt(base, start + size, "listpack entry back-length"));
        }
        self.pos = end;
        self.seen += 1;
        Ok(Some(entry))
    }
}

/// Builds a listpack from entries (used by tests and re-encoders).
pub fn encode(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    for e in entries {
        let start = out.len();
        match *e {
            RawEntry::Int(v) => encode_int(&mut out, v),
            RawEntry::Bytes(s) => {
                let len = s.len();
                if len < 64 {
                    out.push(0x80 | len as u8);
                } else if len < 4096 {
                    out.push(0xe0 | (len >> 8) as u8);
                    out.push(len as u8);
                } else {
                    out.push(0xf0);
                    out.extend_from_slice(&(len as u32).to_le_bytes());
                }
                out.extend_from_slice(s);
            }
        }
        let size = out.len() - start;
        let n = backlen_size(size);
        for i in (0..n).rev() {
            let group = ((size >> (7 * i)) & 0x7f) as u8;
            out.push(if i == n - 1 { group } else { group | 0x80 });
        }
    }
    out.push(EOF);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    let n = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    out[4..6].copy_from_slice(&n.to_le_bytes());
    out
}

fn encode_int(out: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        out.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = (v as u64) & 0x1fff;
        out.push(0xc0 | (u >> 8) as u8);
        out.push(u as u8);
    } else if i16::try_from(v).is_ok() {
        out.push(0xf1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-(1 << 23)..(1 << 23)).contains(&v) {
        out.push(0xf2);
        out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
    } else if i32::try_from(v).is_ok() {
        out.push(0xf3);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        out.push(0xf4);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn walk(data: &[u8]) -> Result<Vec<RawEntry<'_>>> {
        Listpack::new(data, 0)?.collect()
    }

    #[test]
    fn round_trip_every_width() {
        let big = vec![b'x'; 5000];
        let mid = vec![b'y'; 300];
        let ints = [
            0i64,
            127,
            128,
            -1,
            4095,
            -4096,
            4096,
            32767,
            -32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let mut entries: Vec<RawEntry<'_>> = ints.iter().map(|&i| RawEntry::Int(i)).collect();
        entries.push(RawEntry::Bytes(b""));
        entries.push(RawEntry::Bytes(b"hello"));
        entries.push(RawEntry::Bytes(&mid));
        entries.push(RawEntry::Bytes(&big));
        let lp = encode(&entries);
        assert_eq!(walk(&lp).ok(), Some(entries));
    }

    #[test]
    fn corruption_is_detected() {
        let lp = encode(&[RawEntry::Bytes(b"abc"), RawEntry::Int(5)]);
        // Wrong total length.
        let mut bad = lp.clone();
        bad[0] ^= 1;
        assert!(walk(&bad).is_err());
        // Wrong count.
        let mut bad = lp.clone();
        bad[4] = 3;
        assert_eq!(walk(&bad).err().map(|e| e.kind()), Some(ErrorKind::Corrupt));
        // Wrong back-length of the first entry.
        let mut bad = lp.clone();
        bad[HEADER + 4] = 9;
        assert_eq!(
            walk(&bad).err().map(|e| e.offset()),
            Some((HEADER + 4) as u64)
        );
        // String length running past the end.
        let mut bad = lp.clone();
        bad[HEADER] = 0x80 | 60;
        assert!(walk(&bad).is_err());
        // Unknown count (65535) is accepted.
        let mut ok = lp;
        ok[4] = 0xff;
        ok[5] = 0xff;
        assert_eq!(walk(&ok).map(|v| v.len()).ok(), Some(2));
    }
}
