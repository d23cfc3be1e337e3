//! Ziplist (types 10, 12, 13 and quicklist v1 nodes; RDB 2-9 writers).
//!
//! Layout (Redis [`ziplist.c`](https://github.com/redis/redis/blob/unstable/src/ziplist.c)):
//! `u32 zlbytes`, `u32 zltail` (offset of the last entry), `u16 zllen` (65535 =
//! unknown), entries, `0xFF`. Entry: `prevlen` (1 byte, or `0xFE` + u32 LE), encoding,
//! data. Every prevlen, the tail offset, the count and the terminator are checked.

use super::walk::{bytes_at, corrupt, le_signed, sealed::Sealed, Entries, EntryAt, Walker};
use super::RawEntry;
use crate::error::Result;

const HEADER: usize = 10;
const END: u8 = 0xff;

/// Walks the entries of a ziplist held in `data` (see [`Entries::new`]).
pub type Ziplist<'b> = Entries<'b, ZiplistState>;

/// Position state of a ziplist walk.
#[derive(Debug, Clone)]
pub struct ZiplistState {
    pos: usize,
    prev_size: usize,
    last_start: usize,
    tail: usize,
    seen: usize,
    declared: Option<usize>,
}

impl Sealed for ZiplistState {}

impl Walker for ZiplistState {
    fn open(data: &[u8], base: u64) -> Result<ZiplistState> {
        let h = bytes_at(data, base, 0, HEADER, "ziplist header")?;
        let zlbytes = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let tail = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let n = u16::from_le_bytes([h[8], h[9]]);
        if zlbytes != data.len() {
            return Err(corrupt(
                base,
                0,
                "ziplist zlbytes (must equal the blob length)",
            ));
        }
        if data.last() != Some(&END) || tail >= data.len() {
            return Err(corrupt(base, 4, "ziplist tail offset and terminator"));
        }
        Ok(ZiplistState {
            pos: HEADER,
            prev_size: 0,
            last_start: HEADER,
            tail,
            seen: 0,
            declared: (n != u16::MAX).then_some(n as usize),
        })
    }

    fn step(&mut self, data: &[u8], base: u64) -> Result<Option<EntryAt>> {
        let ctx = "ziplist entry";
        let start = self.pos;
        let first = *bytes_at(data, base, start, 1, ctx)?.first().unwrap_or(&0);
        if first == END {
            if start + 1 != data.len() {
                return Err(corrupt(
                    base,
                    start,
                    "ziplist terminator at the end of the blob",
                ));
            }
            if self.tail != self.last_start {
                return Err(corrupt(base, 4, "ziplist tail offset"));
            }
            if let Some(n) = self.declared {
                if n != self.seen {
                    return Err(corrupt(base, 8, "ziplist entry count"));
                }
            }
            return Ok(None);
        }
        let (prevlen, mut p) = if first < 254 {
            (first as usize, start + 1)
        } else if first == 254 {
            let d = bytes_at(data, base, start + 1, 4, ctx)?;
            (
                u32::from_le_bytes([d[0], d[1], d[2], d[3]]) as usize,
                start + 5,
            )
        } else {
            return Err(corrupt(base, start, "ziplist prevlen"));
        };
        if prevlen != self.prev_size {
            return Err(corrupt(
                base,
                start,
                "ziplist prevlen (size of the previous entry)",
            ));
        }
        let enc = *bytes_at(data, base, p, 1, ctx)?.first().unwrap_or(&0);
        let (entry, end) = match enc >> 6 {
            0 => {
                let len = (enc & 0x3f) as usize;
                p += 1;
                (
                    EntryAt::Bytes(p, p.saturating_add(len)),
                    p.saturating_add(len),
                )
            }
            1 => {
                let d = bytes_at(data, base, p, 2, ctx)?;
                let len = (((d[0] & 0x3f) as usize) << 8) | d[1] as usize;
                p += 2;
                (
                    EntryAt::Bytes(p, p.saturating_add(len)),
                    p.saturating_add(len),
                )
            }
            2 => {
                let d = bytes_at(data, base, p + 1, 4, ctx)?;
                let len = u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize;
                p += 5;
                (
                    EntryAt::Bytes(p, p.saturating_add(len)),
                    p.saturating_add(len),
                )
            }
            _ => {
                p += 1;
                let (v, n) = match enc {
                    // int16, int32, int64, int24, int8 (little-endian).
                    0xc0 | 0xd0 | 0xe0 | 0xf0 | 0xfe => {
                        let n = match enc {
                            0xc0 => 2,
                            0xd0 => 4,
                            0xe0 => 8,
                            0xf0 => 3,
                            _ => 1,
                        };
                        (le_signed(bytes_at(data, base, p, n, ctx)?), n)
                    }
                    // Immediate 0..12.
                    0xf1..=0xfd => (i64::from(enc & 0x0f) - 1, 0),
                    _ => return Err(corrupt(base, p - 1, "ziplist entry encoding")),
                };
                (EntryAt::Int(v), p + n)
            }
        };
        // The entry must end before the terminator.
        if end >= data.len() {
            return Err(corrupt(base, start, "ziplist entry within the blob"));
        }
        self.prev_size = end - start;
        self.last_start = start;
        self.pos = end;
        self.seen += 1;
        Ok(Some(entry))
    }
}

/// Builds a ziplist from entries (used by tests and re-encoders for old targets).
pub fn encode(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER];
    let mut prev = 0usize;
    let mut last = HEADER;
    for e in entries {
        let start = out.len();
        last = start;
        if prev < 254 {
            out.push(prev as u8);
        } else {
            out.push(254);
            out.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match *e {
            RawEntry::Int(v) => {
                if (0..=12).contains(&v) {
                    out.push(0xf1 + v as u8);
                } else if i8::try_from(v).is_ok() {
                    out.push(0xfe);
                    out.push(v as i8 as u8);
                } else if i16::try_from(v).is_ok() {
                    out.push(0xc0);
                    out.extend_from_slice(&(v as i16).to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&v) {
                    out.push(0xf0);
                    out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if i32::try_from(v).is_ok() {
                    out.push(0xd0);
                    out.extend_from_slice(&(v as i32).to_le_bytes());
                } else {
                    out.push(0xe0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            RawEntry::Bytes(s) => {
                let len = s.len();
                if len <= 0x3f {
                    out.push(len as u8);
                } else if len <= 0x3fff {
                    out.push(0x40 | (len >> 8) as u8);
                    out.push(len as u8);
                } else {
                    out.push(0x80);
                    out.extend_from_slice(&(len as u32).to_be_bytes());
                }
                out.extend_from_slice(s);
            }
        }
        prev = out.len() - start;
    }
    out.push(END);
    let total = out.len() as u32;
    out[..4].copy_from_slice(&total.to_le_bytes());
    out[4..8].copy_from_slice(&(last as u32).to_le_bytes());
    let n = u16::try_from(entries.len()).unwrap_or(u16::MAX);
    out[8..10].copy_from_slice(&n.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(data: &[u8]) -> Result<Vec<RawEntry<'_>>> {
        Ziplist::new(data, 0)?.collect()
    }

    #[test]
    fn round_trip_every_width() {
        let big = vec![b'x'; 20000];
        let mid = vec![b'y'; 300];
        let ints = [
            0i64,
            12,
            13,
            -1,
            127,
            -128,
            128,
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
        entries.push(RawEntry::Bytes(&mid));
        entries.push(RawEntry::Bytes(&big));
        entries.push(RawEntry::Bytes(b"after a big one"));
        let zl = encode(&entries);
        assert_eq!(walk(&zl).ok(), Some(entries));
        assert_eq!(walk(&encode(&[])).ok(), Some(vec![]));
    }

    #[test]
    fn corruption_is_detected() {
        let zl = encode(&[RawEntry::Bytes(b"abc"), RawEntry::Int(500)]);
        let mut bad = zl.clone();
        bad[4] += 1; // tail
        assert!(walk(&bad).is_err());
        let mut bad = zl.clone();
        bad[8] = 3; // count
        assert!(walk(&bad).is_err());
        let mut bad = zl.clone();
        bad[HEADER + 5] = 7; // prevlen of the second entry
        assert_eq!(
            walk(&bad).err().map(|e| e.offset()),
            Some((HEADER + 5) as u64)
        );
        let mut bad = zl;
        bad[HEADER + 1] = 0x3f; // string overruns
        assert!(walk(&bad).is_err());
    }
}
