//! LZF decompression (liblzf `lzf_d.c`, as used by Redis `rdbLoadLzfStringObject`)
//! and compression ([`compress`], liblzf `lzf_c.c`, for the [`Writer`](crate::writer::Writer)).
//!
//! A control byte below 32 starts a literal run of `ctrl + 1` bytes; otherwise
//! `ctrl >> 5` is a length (7 means "add the next byte") and the low 5 bits plus the
//! next byte a back-reference distance; `len + 2` bytes are copied from `distance + 1`
//! bytes back (the ranges may overlap).
//!
//! Besides decompression this module can *check* a stream without producing output:
//! `rdbkit check` validates every LZF string in a file without allocating.

/// Decompresses `input`, which must expand to exactly `len` bytes, appending to `out`.
/// Returns `None` (with `out` as it was) when the stream is corrupt or does not
/// produce `len` bytes.
pub fn decompress_into(input: &[u8], len: usize, out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let end = start.checked_add(len)?;
    out.resize(end, 0);
    let ok = out
        .get_mut(start..)
        .is_some_and(|buf| decompress_slice(input, buf));
    if ok {
        Some(())
    } else {
        out.truncate(start);
        None
    }
}

/// Decompresses `input` into exactly all of `out`. Short copies move a fixed 32 or
/// 16 bytes when there is room (no `memcpy` call); the bytes written past a copy's
/// end are overwritten by the next ones, and back-references only read what was
/// already produced.
fn decompress_slice(input: &[u8], out: &mut [u8]) -> bool {
    let mut o = 0usize;
    let mut i = 0usize;
    while let Some(&ctrl) = input.get(i) {
        let ctrl = ctrl as usize;
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if let (Some(src), Some(dst)) = (input.get(i..i + 32), out.get_mut(o..o + 32)) {
                dst.copy_from_slice(src);
            } else {
                match (input.get(i..i + n), out.get_mut(o..o + n)) {
                    (Some(src), Some(dst)) => dst.copy_from_slice(src),
                    _ => return false,
                }
            }
            i += n;
            o += n;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                let Some(&extra) = input.get(i) else {
                    return false;
                };
                n += extra as usize;
                i += 1;
            }
            let Some(&low) = input.get(i) else {
                return false;
            };
            i += 1;
            let distance = ((ctrl & 0x1f) << 8) + low as usize + 1;
            let n = n + 2;
            if distance > o || o + n > out.len() {
                return false;
            }
            let from = o - distance;
            if distance >= n {
                if n <= 16 && o + 16 <= out.len() {
                    out.copy_within(from..from + 16, o);
                } else {
                    out.copy_within(from..from + n, o);
                }
            } else {
                // Overlapping copy: byte by byte repeats the pattern.
                for k in 0..n {
                    let Some(&b) = out.get(from + k) else {
                        return false;
                    };
                    if let Some(slot) = out.get_mut(o + k) {
                        *slot = b;
                    }
                }
            }
            o += n;
        }
    }
    o == out.len()
}

/// Decompresses only the first `out.len()` bytes of `input` into `out` (a blob's
/// header, say), stopping as soon as they are known. Returns how many bytes were
/// written: fewer than `out.len()` only when the whole stream is shorter. Returns
/// `None` when the part of the stream read is corrupt; the rest is not checked.
pub fn decompress_prefix(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut o = 0usize;
    let mut i = 0;
    while o < out.len() && i < input.len() {
        let ctrl = *input.get(i)? as usize;
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            let take = run.len().min(out.len() - o);
            out.get_mut(o..o + take)?.copy_from_slice(run.get(..take)?);
            o += take;
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let distance = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let from = o.checked_sub(distance)?;
            for k in 0..(n + 2).min(out.len() - o) {
                let b = *out.get(from + k)?;
                *out.get_mut(o)? = b;
                o += 1;
            }
        }
    }
    Some(o)
}

/// Checks that `input` is a well-formed LZF stream expanding to exactly `len` bytes,
/// without producing the output.
pub fn check(input: &[u8], len: usize) -> bool {
    let mut produced = 0usize;
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            i += ctrl + 1;
            produced += ctrl + 1;
            if i > input.len() || produced > len {
                return false;
            }
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                match input.get(i) {
                    Some(&b) => n += b as usize,
                    None => return false,
                }
                i += 1;
            }
            let Some(&low) = input.get(i) else {
                return false;
            };
            i += 1;
            let distance = ((ctrl & 0x1f) << 8) + low as usize + 1;
            if distance > produced {
                return false;
            }
            produced += n + 2;
            if produced > len {
                return false;
            }
        }
    }
    produced == len
}

/// Longest back-reference distance LZF can express (13 bits, plus one).
const MAX_DISTANCE: usize = 1 << 13;
/// Longest match: 7 + 255 in the length fields, plus the implicit 2.
const MAX_MATCH: usize = 264;
/// Longest literal run (5-bit control byte, plus one).
const MAX_LITERAL: usize = 32;

/// Compresses `input` with LZF (a greedy matcher over a hash of the next three
/// bytes, like liblzf's `lzf_compress`). Returns `None` when the result would not
/// be shorter than `input`, as Redis then stores the string raw
/// (`rdbSaveLzfStringObject`).
pub fn compress(input: &[u8]) -> Option<Vec<u8>> {
    const HASH_BITS: u32 = 14;
    if input.len() < 4 {
        return None;
    }
    let mut table = vec![usize::MAX; 1 << HASH_BITS];
    let mut out = Vec::with_capacity(input.len());
    let mut literal_start = 0usize;
    let mut i = 0usize;
    let hash = |at: usize| -> usize {
        let v =
            u32::from(input[at]) << 16 | u32::from(input[at + 1]) << 8 | u32::from(input[at + 2]);
        (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
    };
    while i + 2 < input.len() {
        let h = hash(i);
        let candidate = table[h];
        table[h] = i;
        if candidate != usize::MAX
            && i - candidate <= MAX_DISTANCE
            && input[candidate..candidate + 3] == input[i..i + 3]
        {
            let max = (input.len() - i).min(MAX_MATCH);
            let mut len = 3;
            while len < max && input[candidate + len] == input[i + len] {
                len += 1;
            }
            flush_literals(&mut out, &input[literal_start..i]);
            let distance = i - candidate - 1;
            let code = len - 2;
            if code < 7 {
                out.push(((code << 5) | (distance >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (distance >> 8)) as u8);
                out.push((code - 7) as u8);
            }
            out.push(distance as u8);
            i += len;
            literal_start = i;
            if out.len() >= input.len() {
                return None;
            }
        } else {
            i += 1;
        }
    }
    flush_literals(&mut out, &input[literal_start..]);
    (out.len() < input.len()).then_some(out)
}

fn flush_literals(out: &mut Vec<u8>, mut literals: &[u8]) {
    while !literals.is_empty() {
        let (run, rest) = literals.split_at(literals.len().min(MAX_LITERAL));
        out.push((run.len() - 1) as u8);
        out.extend_from_slice(run);
        literals = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_liblzf_port() {
        let mut samples: Vec<Vec<u8>> = vec![
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"abcabcabcabcabcabcabcabcabcabc hello hello hello hello".repeat(50),
        ];
        let mut x: u32 = 12345;
        samples.push(
            (0..5000)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if i % 3 == 0 {
                        (x % 4) as u8
                    } else {
                        b'z'
                    }
                })
                .collect(),
        );
        for s in samples {
            let Ok(c) = lzf::compress(&s) else { continue };
            let mut out = Vec::new();
            assert_eq!(decompress_into(&c, s.len(), &mut out), Some(()));
            assert_eq!(out, s);
            assert!(check(&c, s.len()));
            assert!(!check(&c, s.len() + 1));
            assert!(!check(&c[..c.len() - 1], s.len()));
            let mut out = Vec::new();
            assert_eq!(decompress_into(&c, s.len() - 1, &mut out), None);
            for n in [0, 1, 2, 6, 10, 33, 100, s.len(), s.len() + 5] {
                let mut head = vec![0u8; n];
                let got = decompress_prefix(&c, &mut head);
                assert_eq!(got, Some(n.min(s.len())), "prefix {n}");
                assert_eq!(&head[..n.min(s.len())], &s[..n.min(s.len())]);
            }
        }
        // Every length up to a few hundred bytes: copies near the end of the output.
        let mut x: u32 = 7;
        for size in 1..400usize {
            let s: Vec<u8> = (0..size)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if x.is_multiple_of(5) {
                        (x >> 8) as u8
                    } else {
                        b"abcdefgh"[i % 8]
                    }
                })
                .collect();
            let Ok(c) = lzf::compress(&s) else { continue };
            let mut out = vec![1, 2, 3];
            assert_eq!(decompress_into(&c, s.len(), &mut out), Some(()), "{size}");
            assert_eq!(&out[3..], &s[..], "{size}");
            assert!(check(&c, s.len()));
            let mut out = vec![9];
            assert_eq!(decompress_into(&c, s.len() + 1, &mut out), None);
            assert_eq!(out, [9]);
        }
        // Our compressor's output decompresses to its input (ours and the `lzf` crate's).
        let mut x: u32 = 11;
        for size in [20usize, 33, 100, 300, 9000, 70_000] {
            let s: Vec<u8> = (0..size)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    if x.is_multiple_of(7) {
                        (x >> 8) as u8
                    } else {
                        b"hello world, "[i % 13]
                    }
                })
                .collect();
            let Some(c) = compress(&s) else {
                panic!("repetitive input of {size} bytes did not compress")
            };
            assert!(c.len() < s.len());
            let mut out = Vec::new();
            assert_eq!(decompress_into(&c, s.len(), &mut out), Some(()), "{size}");
            assert_eq!(out, s);
            assert_eq!(lzf::decompress(&c, s.len()).ok(), Some(s));
        }
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert_eq!(compress(&noise), None);
        // A back-reference before the start of the output.
        assert_eq!(decompress_prefix(&[0x20, 0x05], &mut [0; 3]), None);
        assert!(!check(&[0x20, 0x05], 3));
        assert_eq!(decompress_into(&[0x20, 0x05], 3, &mut Vec::new()), None);
    }
}
