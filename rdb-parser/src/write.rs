//! Writing RDB primitives, the counterpart of [`reader`](crate::reader): length
//! prefixes and strings (`rdbSaveLen`, `rdbSaveRawString` in Redis `rdb.c`), for
//! building payloads, test inputs and re-encoded values. Container blobs are built
//! by [`listpack::encode`](crate::value::listpack::encode),
//! [`ziplist::encode`](crate::value::ziplist::encode) and
//! [`intset::encode`](crate::value::intset::encode).

/// Appends an RDB length in its shortest form (6, 14, 32 or 64 bits).
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0x80);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a raw (neither integer- nor LZF-encoded) RDB string.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::{Cursor, Length, RdbStr};

    #[test]
    fn lengths_round_trip() {
        for n in [
            0u64,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            u32::MAX as u64 + 1,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            write_len(&mut out, n);
            assert_eq!(
                Cursor::new(&out, 0).read_length("n").ok(),
                Some(Length::Len(n))
            );
        }
        let mut out = Vec::new();
        write_string(&mut out, b"hello");
        assert_eq!(
            Cursor::new(&out, 0).read_string("s").ok(),
            Some(RdbStr::Raw(b"hello"))
        );
    }
}
