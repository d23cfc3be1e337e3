//! RESP encoding of the commands a restore sends, written straight into one buffer
//! per batch (no per-command allocation): `RESTORE` with the DUMP payload built in
//! place (type byte, raw value bytes, footer version, CRC-64), `FUNCTION RESTORE`,
//! `SELECT`.

use rdb_parser::crc::crc64;

/// `FUNCTION2` opcode: the record type byte of a library in a `FUNCTION DUMP` payload.
pub const FUNCTION2_OPCODE: u8 = 0xF5;

/// How a restored key's expiry, LRU and LFU data travel (see [`write_restore`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// No expiry (`RESTORE key 0 ...`).
    None,
    /// Absolute Unix milliseconds with `ABSTTL` (Redis 5.0+).
    Absolute(i64),
    /// Milliseconds from now (targets older than 5.0).
    Relative(i64),
}

/// The optional trailing arguments of `RESTORE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestoreFlags {
    /// Add `REPLACE`.
    pub replace: bool,
    /// `IDLETIME seconds` (never together with `freq`).
    pub idle_s: Option<u64>,
    /// `FREQ counter`.
    pub freq: Option<u8>,
}

fn push_usize(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_usize(out, n.unsigned_abs());
}

fn header(out: &mut Vec<u8>, prefix: u8, n: u64) {
    out.push(prefix);
    push_usize(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Writes one bulk string.
pub fn write_bulk(out: &mut Vec<u8>, data: &[u8]) {
    header(out, b'$', data.len() as u64);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

fn write_bulk_int(out: &mut Vec<u8>, n: i64) {
    let mut tmp = Vec::with_capacity(20);
    push_i64(&mut tmp, n);
    write_bulk(out, &tmp);
}

/// Writes a command from its arguments.
pub fn write_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    header(out, b'*', args.len() as u64);
    for a in args {
        write_bulk(out, a);
    }
}

/// Writes `SELECT db`.
pub fn write_select(out: &mut Vec<u8>, db: u64) {
    header(out, b'*', 2);
    write_bulk(out, b"SELECT");
    write_bulk_int(out, db as i64);
}

/// Length of the DUMP payload for a body of `body_len` bytes.
pub fn payload_len(body_len: usize) -> usize {
    1 + body_len + 10
}

/// Writes a DUMP payload as a bulk string: `type_byte`, `body`, `version` and the
/// CRC-64 over those, computed as they are copied.
pub fn write_payload_bulk(out: &mut Vec<u8>, type_byte: u8, body: &[u8], version: u16) {
    header(out, b'$', payload_len(body.len()) as u64);
    let version = version.to_le_bytes();
    let crc = crc64(crc64(crc64(0, &[type_byte]), body), &version);
    out.push(type_byte);
    out.extend_from_slice(body);
    out.extend_from_slice(&version);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s | FREQ f]` with the
/// payload built from `type_byte` + `body` + `version` + CRC.
pub fn write_restore(
    out: &mut Vec<u8>,
    key: &[u8],
    ttl: Ttl,
    type_byte: u8,
    body: &[u8],
    version: u16,
    flags: RestoreFlags,
) {
    restore_command(out, key, ttl, flags, |out| {
        write_payload_bulk(out, type_byte, body, version)
    });
}

/// Writes `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s | FREQ f]` with a
/// whole payload (as `DUMP` returned it).
pub fn write_restore_raw(
    out: &mut Vec<u8>,
    key: &[u8],
    ttl: Ttl,
    payload: &[u8],
    flags: RestoreFlags,
) {
    restore_command(out, key, ttl, flags, |out| write_bulk(out, payload));
}

/// The `RESTORE` command around a payload that `write_payload` writes as one bulk.
fn restore_command(
    out: &mut Vec<u8>,
    key: &[u8],
    ttl: Ttl,
    flags: RestoreFlags,
    write_payload: impl FnOnce(&mut Vec<u8>),
) {
    let mut n = 4;
    n += u64::from(flags.replace);
    n += u64::from(matches!(ttl, Ttl::Absolute(_)));
    n += 2 * u64::from(flags.idle_s.is_some() || flags.freq.is_some());
    header(out, b'*', n);
    write_bulk(out, b"RESTORE");
    write_bulk(out, key);
    match ttl {
        Ttl::None => write_bulk(out, b"0"),
        Ttl::Absolute(ms) | Ttl::Relative(ms) => write_bulk_int(out, ms),
    }
    write_payload(out);
    if flags.replace {
        write_bulk(out, b"REPLACE");
    }
    if matches!(ttl, Ttl::Absolute(_)) {
        write_bulk(out, b"ABSTTL");
    }
    if let Some(idle) = flags.idle_s {
        write_bulk(out, b"IDLETIME");
        write_bulk_int(out, i64::try_from(idle).unwrap_or(i64::MAX));
    } else if let Some(freq) = flags.freq {
        write_bulk(out, b"FREQ");
        write_bulk_int(out, i64::from(freq));
    }
}

/// Appends `cmd`, one packed `RESTORE`, with `REPLACE` added (its array length
/// raised by one): for a command whose first attempt may have been carried out.
/// A second `REPLACE` in a command that had one already is accepted by `RESTORE`.
pub fn with_replace(out: &mut Vec<u8>, cmd: &[u8]) {
    let head_end = cmd.windows(2).position(|w| w == b"\r\n");
    let count = head_end
        .and_then(|e| cmd.get(1..e))
        .and_then(|d| std::str::from_utf8(d).ok())
        .and_then(|d| d.parse::<u64>().ok());
    match (cmd.first(), head_end, count) {
        (Some(b'*'), Some(e), Some(n)) => {
            header(out, b'*', n + 1);
            out.extend_from_slice(cmd.get(e + 2..).unwrap_or(&[]));
            write_bulk(out, b"REPLACE");
        }
        // Not a packed array (never made by this crate): sent as it is.
        _ => out.extend_from_slice(cmd),
    }
}

/// Writes `FUNCTION RESTORE payload [REPLACE]` for one library: the payload is the
/// `FUNCTION2` opcode, the record body ([`FunctionLibrary::raw`](rdb_parser::FunctionLibrary::raw)),
/// the footer version and the CRC, as `FUNCTION DUMP` makes it.
pub fn write_function_restore(out: &mut Vec<u8>, raw: &[u8], version: u16, replace: bool) {
    header(out, b'*', if replace { 4 } else { 3 });
    write_bulk(out, b"FUNCTION");
    write_bulk(out, b"RESTORE");
    write_payload_bulk(out, FUNCTION2_OPCODE, raw, version);
    if replace {
        write_bulk(out, b"REPLACE");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn restore_command_bytes() {
        let mut out = Vec::new();
        write_restore(
            &mut out,
            b"k",
            Ttl::Absolute(1234),
            0,
            b"\x05hello",
            10,
            RestoreFlags {
                replace: true,
                idle_s: None,
                freq: Some(5),
            },
        );
        let payload = rdb_parser::DumpPayload::build(0, b"\x05hello", 10);
        let mut expected = b"*8\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$4\r\n1234\r\n$17\r\n".to_vec();
        expected.extend_from_slice(&payload);
        expected
            .extend_from_slice(b"\r\n$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n$4\r\nFREQ\r\n$1\r\n5\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn numbers() {
        let mut out = Vec::new();
        push_i64(&mut out, i64::MIN);
        assert_eq!(out, b"-9223372036854775808");
        out.clear();
        push_usize(&mut out, 0);
        assert_eq!(out, b"0");
        out.clear();
        write_select(&mut out, 15);
        assert_eq!(out, b"*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n");
    }
}
