//! LZF decompression (liblzf `lzf_d.c`, as used by Redis `rdbLoadLzfStringObject`).
//!
//! A control byte below 32 starts a literal run of `ctrl + 1` bytes; otherwise
//! `ctrl >> 5` is a length (7 means "add the next byte") and the low 5 bits plus the
//! next byte a back-reference distance; `len + 2` bytes are copied from `distance + 1`
//! bytes back (the ranges may overlap).
//!
//! Besides decompression this module can *check* a stream without producing output:
//! `rdbkit check` validates every LZF string in a file without allocating.

/// Decompresses `input`, which must expand to exactly `len` bytes, appending to `out`.
/// Returns `None` when the stream is corrupt or does not produce `len` bytes.
pub fn decompress_into(input: &[u8], len: usize, out: &mut Vec<u8>) -> Option<()> {
    let start = out.len();
    let end = start.checked_add(len)?;
    out.reserve(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = *input.get(i)? as usize;
        i += 1;
        if ctrl < 32 {
            let run = input.get(i..i + ctrl + 1)?;
            if out.len() + run.len() > end {
                return None;
            }
            out.extend_from_slice(run);
            i += ctrl + 1;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let distance = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let n = n + 2;
            let from = out.len().checked_sub(distance)?;
            if from < start || out.len() + n > end {
                return None;
            }
            if distance >= n {
                out.extend_from_within(from..from + n);
            } else {
                // Overlapping copy: byte by byte repeats the pattern.
                for k in 0..n {
                    let b = *out.get(from + k)?;
                    out.push(b);
                }
            }
        }
    }
    (out.len() == end).then_some(())
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
        }
        // A back-reference before the start of the output.
        assert!(!check(&[0x20, 0x05], 3));
        assert_eq!(decompress_into(&[0x20, 0x05], 3, &mut Vec::new()), None);
    }
}
