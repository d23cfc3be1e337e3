//! Cluster hash slots of key names, for the per-slot balance of a snapshot.

/// Hash slots in a Redis Cluster.
pub const SLOTS: usize = 16384;

/// The hash slot of `key`: CRC16/XMODEM of the `{tag}` part when there is a
/// non-empty one, of the whole key otherwise, modulo 16384 (`keyHashSlot` in
/// Redis `cluster.c`).
///
/// ```
/// use rdb_parser::inventory::slot::key_slot;
/// assert_eq!(key_slot(b"foo"), 12182); // CLUSTER KEYSLOT foo
/// assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
/// ```
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = key.get(open + 1..)?;
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| rest.get(..close)).flatten()
        })
        .unwrap_or(key);
    crc16_xmodem(hashed) % SLOTS as u16
}

/// CRC16/XMODEM tables for four bytes at a time: `TABLES[k][x]` is the CRC of the
/// byte `x` followed by `k` zero bytes. Four bytes then cost four independent
/// lookups instead of a chain of four dependent ones ("slicing-by-4"): the slot is
/// computed for every row `rdbkit keys` writes, and the byte-wise loop was a tenth
/// of its CPU.
const TABLES: [[u16; 256]; 4] = crc16_tables();

const fn crc16_tables() -> [[u16; 256]; 4] {
    let mut tables = [[0u16; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        tables[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 4 {
        let mut i = 0;
        while i < 256 {
            let prev = tables[k - 1][i];
            tables[k][i] = (prev << 8) ^ tables[0][(prev >> 8) as usize];
            i += 1;
        }
        k += 1;
    }
    tables
}

/// One byte into `crc`.
fn crc16_byte(crc: u16, b: u8) -> u16 {
    (crc << 8) ^ TABLES[0][usize::from((crc >> 8) as u8 ^ b)]
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let [t0, t1, t2, t3] = &TABLES;
    let mut crc = 0u16;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        let &[b0, b1, b2, b3] = w else { break };
        let [hi, lo] = crc.to_be_bytes();
        crc = t3[usize::from(hi ^ b0)]
            ^ t2[usize::from(lo ^ b1)]
            ^ t1[usize::from(b2)]
            ^ t0[usize::from(b3)];
    }
    words
        .remainder()
        .iter()
        .fold(crc, |crc, &b| crc16_byte(crc, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four bytes at a time give the byte-wise CRC, for every length and alignment.
    #[test]
    fn sliced_crc_equals_the_bytewise_one() {
        let data: Vec<u8> = (0u32..300)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..8 {
            for end in start..data.len() {
                let part = &data[start..end];
                let bytewise = part.iter().fold(0u16, |crc, &b| crc16_byte(crc, b));
                assert_eq!(crc16_xmodem(part), bytewise, "{start}..{end}");
            }
        }
        // The XMODEM check value.
        assert_eq!(crc16_xmodem(b"123456789"), 0x31c3);
    }
}
