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

const CRC16_TABLE: [u16; 256] = crc16_table();

const fn crc16_table() -> [u16; 256] {
    let mut table = [0u16; 256];
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
        table[i] = crc;
        i += 1;
    }
    table
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}
