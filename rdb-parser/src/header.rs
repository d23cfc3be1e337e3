//! The 9-byte magic: `REDIS` + 4-digit version, or `VALKEY` + 3-digit version.
//!
//! The family decides what type bytes 22/23 and opcode 243 mean, so it is decided
//! here once and consulted by [`ValueType::from_byte`](crate::ValueType::from_byte)
//! and the framer. Sources: `rdbSaveRio` / `rdbLoadRioWithLoadingCtx` in Redis and
//! Valkey `rdb.c`; Valkey's `rdbUseValkeyMagic` (`rdb.h`).

use crate::error::{Error, ErrorKind, Result};

/// Which format family wrote the file, as told by its magic.
///
/// Valkey 7.2 to 8.1 write `REDIS0011` files: those are [`Family::Redis`] here,
/// since their format is Redis' RDB 11. The server that wrote them is in the
/// `valkey-ver` AUX field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum Family {
    /// `REDIS0001` … `REDIS0014`.
    Redis,
    /// `VALKEY080`, `VALKEY081` (Valkey 9.0+).
    Valkey,
}

/// The newest Redis RDB version this parser reads (Redis 8.8).
pub const MAX_REDIS_VERSION: u32 = 14;
/// The Valkey RDB versions this parser reads (Valkey 9.0/9.1 and 9.2).
pub const VALKEY_VERSIONS: [u32; 2] = [80, 81];

/// The file header: family and RDB version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Header {
    /// Format family (decides the meaning of type bytes 22/23 and opcode 243).
    pub family: Family,
    /// RDB format version (`RDB_VERSION` of the writer).
    pub version: u32,
}

/// Length of the magic in both families.
pub const HEADER_LEN: usize = 9;

impl Header {
    /// Parses and checks the magic at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<Header> {
        let magic = data
            .get(..HEADER_LEN)
            .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, data.len() as u64, "RDB header"))?;
        let (family, digits) = if let Some(d) = magic.strip_prefix(b"REDIS") {
            (Family::Redis, d)
        } else if let Some(d) = magic.strip_prefix(b"VALKEY") {
            (Family::Valkey, d)
        } else {
            return Err(Error::new(ErrorKind::BadMagic, 0, "RDB header magic"));
        };
        let mut version: u32 = 0;
        for &b in digits {
            if !b.is_ascii_digit() {
                return Err(Error::new(
                    ErrorKind::BadMagic,
                    0,
                    "RDB header version digits",
                ));
            }
            version = version * 10 + u32::from(b - b'0');
        }
        let known = match family {
            Family::Redis => (1..=MAX_REDIS_VERSION).contains(&version),
            Family::Valkey => VALKEY_VERSIONS.contains(&version),
        };
        if !known {
            return Err(Error::new(
                ErrorKind::UnsupportedVersion(version),
                5,
                "RDB header version (newest known: REDIS0014, VALKEY081)",
            ));
        }
        Ok(Header { family, version })
    }

    /// The magic as the writer would print it (`REDIS0011`, `VALKEY080`).
    pub fn magic(&self) -> String {
        match self.family {
            Family::Redis => format!("REDIS{:04}", self.version),
            Family::Valkey => format!("VALKEY{:03}", self.version),
        }
    }

    /// Whether the file ends with a CRC-64 trailer (RDB 5+).
    pub fn has_checksum(&self) -> bool {
        self.version >= 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics() {
        let h = Header::parse(b"REDIS0011").ok();
        assert_eq!(h.map(|h| (h.family, h.version)), Some((Family::Redis, 11)));
        let h = Header::parse(b"VALKEY080xyz").ok();
        assert_eq!(h.map(|h| (h.family, h.version)), Some((Family::Valkey, 80)));
        assert_eq!(h.map(|h| h.magic()), Some("VALKEY080".to_string()));
    }

    #[test]
    fn refusals() {
        let kind = |d: &[u8]| Header::parse(d).err().map(|e| e.kind());
        assert_eq!(kind(b"REDIS0099"), Some(ErrorKind::UnsupportedVersion(99)));
        assert_eq!(kind(b"REDIS0015"), Some(ErrorKind::UnsupportedVersion(15)));
        assert_eq!(kind(b"VALKEY011"), Some(ErrorKind::UnsupportedVersion(11)));
        assert_eq!(kind(b"REDIS0000"), Some(ErrorKind::UnsupportedVersion(0)));
        assert_eq!(kind(b"REDIX0011"), Some(ErrorKind::BadMagic));
        assert_eq!(kind(b"REDIS00a1"), Some(ErrorKind::BadMagic));
        assert_eq!(kind(b"REDIS"), Some(ErrorKind::UnexpectedEof));
    }
}
