//! DUMP payloads: `type byte + value bytes + u16 LE RDB version + u64 LE CRC-64`,
//! the argument of `RESTORE` (`createDumpPayload` / `verifyDumpPayload` in Redis
//! [`cluster.c`](https://github.com/redis/redis/blob/unstable/src/cluster.c)).
//!
//! The value bytes are exactly those of an RDB file, so a payload can be cut out of
//! a snapshot without re-encoding ([`KeyRecord::dump_payload`](crate::KeyRecord::dump_payload)).

use std::fmt;

use crate::crc::crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::header::Family;
use crate::reader::Cursor;
use crate::types::ValueType;
use crate::value::{self, Value};

/// Redis 8.6 `KEY_META` opcode, which may precede the type byte in a payload.
const KEY_META: u8 = 243;
const FOOTER_LEN: usize = 10;

/// A parsed DUMP payload.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DumpPayload<'a> {
    /// Redis 8.6 key metadata before the type byte, raw.
    pub key_meta: Option<&'a [u8]>,
    /// The value type.
    pub value_type: ValueType,
    /// The value bytes (after the type byte, before the footer).
    pub body: &'a [u8],
    /// RDB version in the footer.
    pub rdb_version: u16,
    /// CRC-64 in the footer (0 means "not computed", accepted by Redis 8.4+).
    pub crc: u64,
    family: Family,
    body_offset: u64,
}

impl fmt::Debug for DumpPayload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DumpPayload")
            .field("value_type", &self.value_type)
            .field("body_len", &self.body.len())
            .field("rdb_version", &self.rdb_version)
            .finish_non_exhaustive()
    }
}

impl<'a> DumpPayload<'a> {
    /// Builds a payload from a type byte and value bytes.
    pub fn build(type_byte: u8, body: &[u8], rdb_version: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + body.len() + FOOTER_LEN);
        out.push(type_byte);
        out.extend_from_slice(body);
        out.extend_from_slice(&rdb_version.to_le_bytes());
        let crc = crc64(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses a payload and checks its CRC (a zero CRC is taken as "not computed").
    /// The family is that of the footer version: 80 and above are Valkey 9 formats.
    pub fn parse(bytes: &'a [u8]) -> Result<DumpPayload<'a>> {
        let split = bytes
            .len()
            .checked_sub(FOOTER_LEN)
            .filter(|&n| n >= 1)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::UnexpectedEof,
                    bytes.len() as u64,
                    "DUMP payload footer",
                )
            })?;
        let (data, footer) = bytes.split_at(split);
        let rdb_version = u16::from_le_bytes([footer[0], footer[1]]);
        let mut crc_bytes = [0u8; 8];
        crc_bytes.copy_from_slice(&footer[2..]);
        let crc = u64::from_le_bytes(crc_bytes);
        if crc != 0 {
            let computed = crc64(0, &bytes[..split + 2]);
            if computed != crc {
                return Err(Error::new(
                    ErrorKind::ChecksumMismatch {
                        stored: crc,
                        computed,
                    },
                    split as u64 + 2,
                    "DUMP payload CRC-64",
                ));
            }
        }
        let family = if rdb_version >= 80 {
            Family::Valkey
        } else {
            Family::Redis
        };
        let mut cur = Cursor::new(data, 0);
        let mut key_meta = None;
        if family == Family::Redis && rdb_version >= 13 && cur.peek_u8() == Some(KEY_META) {
            cur.read_u8("key metadata opcode")?;
            let start = cur.position();
            let n = cur.read_count(5, "key metadata class count")?;
            for _ in 0..n {
                cur.skip(4, "key metadata class spec")?;
                value::module::skip_opcodes(&mut cur)?;
            }
            key_meta = Some(cur.since(start));
        }
        let at = cur.offset();
        let byte = cur.read_u8("value type")?;
        let value_type = ValueType::from_byte(byte, family)
            .ok_or_else(|| Error::new(ErrorKind::UnknownType(byte), at, "value type"))?;
        let body_offset = cur.offset();
        Ok(DumpPayload {
            key_meta,
            value_type,
            body: cur.rest(),
            rdb_version,
            crc,
            family,
            body_offset,
        })
    }

    /// Decodes the value.
    pub fn value(&self) -> Result<Value<'a>> {
        value::decode_body(
            self.value_type,
            &mut Cursor::new(self.body, self.body_offset),
        )
    }

    /// Checks that the value spans exactly the body and that every container is valid;
    /// returns the element count. `RESTORE` ignores trailing bytes, so a payload built
    /// from a wrong slice would go unnoticed by the server: this notices.
    pub fn validate(&self) -> Result<u64> {
        let mut cur = Cursor::new(self.body, self.body_offset);
        crate::record::skip_value(self.value_type, &mut cur)?;
        if !cur.is_empty() {
            return Err(cur.error(ErrorKind::Corrupt, "end of the DUMP payload value"));
        }
        self.value()?.validate()
    }

    /// The format family implied by the footer version.
    pub fn family(&self) -> Family {
        self.family
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_7_vector() {
        // SET k hello; DUMP k on Redis 7.0.15.
        let p = [
            0x00, 0x05, b'h', b'e', b'l', b'l', b'o', 0x0a, 0x00, 0x63, 0x72, 0xdf, 0x76, 0x65,
            0x34, 0x20, 0x0a,
        ];
        assert_eq!(DumpPayload::build(0, &p[1..7], 10), p.to_vec());
        let d = DumpPayload::parse(&p);
        assert_eq!(
            d.map(|d| (d.value_type, d.rdb_version, d.body)).ok(),
            Some((ValueType::String, 10, &p[1..7]))
        );
        let mut bad = p;
        bad[3] ^= 1;
        assert!(matches!(
            DumpPayload::parse(&bad).map_err(|e| e.kind()),
            Err(ErrorKind::ChecksumMismatch { .. })
        ));
        assert_eq!(
            DumpPayload::parse(&p).and_then(|d| d.validate()).ok(),
            Some(1)
        );
        // Trailing garbage inside the body is caught by validate.
        let long = DumpPayload::build(0, &[0x01, b'a', b'b'], 10);
        assert!(DumpPayload::parse(&long)
            .and_then(|d| d.validate())
            .is_err());
    }
}
