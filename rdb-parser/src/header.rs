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
    ///
    /// An input that is recognisably something else (gzip, an AOF, an HTTP error
    /// page, ...; see [`sniff`]) fails with [`ErrorKind::NotRdb`] at offset 0.
    pub fn parse(data: &[u8]) -> Result<Header> {
        let Some(magic) = data.get(..HEADER_LEN) else {
            return Err(match sniff(data) {
                Some(kind) => Error::new(ErrorKind::NotRdb(kind), 0, "RDB header magic"),
                // A cut-off magic (`REDIS00`): a truncated snapshot, not another format.
                None => Error::new(ErrorKind::UnexpectedEof, data.len() as u64, "RDB header"),
            });
        };
        let (family, digits) = if let Some(d) = magic.strip_prefix(b"REDIS") {
            (Family::Redis, d)
        } else if let Some(d) = magic.strip_prefix(b"VALKEY") {
            (Family::Valkey, d)
        } else {
            let kind = sniff(data).map_or(ErrorKind::BadMagic, ErrorKind::NotRdb);
            return Err(Error::new(kind, 0, "RDB header magic"));
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

/// What an input that is not an RDB file looks like, as told by its first bytes.
///
/// Operators hand snapshot tools whatever the backup job or the download produced:
/// a compressed copy, an append-only file, a cloud-storage error page. Naming it
/// turns "bad magic" into a next step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputKind {
    /// No bytes at all.
    Empty,
    /// Fewer bytes than the 9-byte magic, and not the start of one.
    TooShort,
    /// gzip (`1f 8b`).
    Gzip,
    /// Zstandard (`28 b5 2f fd`).
    Zstd,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// LZ4 frame (`04 22 4d 18`).
    Lz4,
    /// bzip2 (`BZh`).
    Bzip2,
    /// A zip archive (`PK 03 04`).
    Zip,
    /// An append-only file: RESP commands (`*2\r\n$6\r\nSELECT...`). An AOF with an
    /// RDB preamble starts with `REDIS` and is not this.
    Aof,
    /// An HTTP response (`HTTP/1.1 403 ...`) saved instead of its body.
    Http,
    /// An XML document, typically an S3 or cloud-storage error (`<?xml ...><Error>`).
    Xml,
    /// An HTML page.
    Html,
    /// A JSON document, typically an API error.
    Json,
    /// Other text.
    Text,
}

impl InputKind {
    /// A short, stable name (`gzip`, `aof`, `http`, ...), for JSON output.
    pub fn name(self) -> &'static str {
        match self {
            InputKind::Empty => "empty",
            InputKind::TooShort => "too-short",
            InputKind::Gzip => "gzip",
            InputKind::Zstd => "zstd",
            InputKind::Xz => "xz",
            InputKind::Lz4 => "lz4",
            InputKind::Bzip2 => "bzip2",
            InputKind::Zip => "zip",
            InputKind::Aof => "aof",
            InputKind::Http => "http",
            InputKind::Xml => "xml",
            InputKind::Html => "html",
            InputKind::Json => "json",
            InputKind::Text => "text",
        }
    }

    /// What the input is, in words (`gzip-compressed data`).
    pub fn description(self) -> &'static str {
        match self {
            InputKind::Empty => "an empty input (0 bytes)",
            InputKind::TooShort => "too short for the 9-byte RDB header",
            InputKind::Gzip => "gzip-compressed data",
            InputKind::Zstd => "zstd-compressed data",
            InputKind::Xz => "xz-compressed data",
            InputKind::Lz4 => "lz4-compressed data",
            InputKind::Bzip2 => "bzip2-compressed data",
            InputKind::Zip => "a zip archive",
            InputKind::Aof => "an append-only file (AOF) in RESP",
            InputKind::Http => "an HTTP response",
            InputKind::Xml => "an XML document (a cloud-storage error page?)",
            InputKind::Html => "an HTML page",
            InputKind::Json => "a JSON document",
            InputKind::Text => "a text file",
        }
    }

    /// Whether the input is a compressed file or archive.
    pub fn is_compressed(self) -> bool {
        matches!(
            self,
            InputKind::Gzip
                | InputKind::Zstd
                | InputKind::Xz
                | InputKind::Lz4
                | InputKind::Bzip2
                | InputKind::Zip
        )
    }
}

/// Tells what `data` is when it is recognisably not an RDB file; `None` when it
/// starts like an RDB magic (possibly cut short) or is unrecognised binary.
pub fn sniff(data: &[u8]) -> Option<InputKind> {
    const MAGICS: [&[u8]; 2] = [b"REDIS", b"VALKEY"];
    if data.is_empty() {
        return Some(InputKind::Empty);
    }
    if MAGICS
        .iter()
        .any(|m| data.starts_with(m) || m.starts_with(data))
    {
        return None;
    }
    let binary: [(&[u8], InputKind); 6] = [
        (b"\x1f\x8b", InputKind::Gzip),
        (b"\x28\xb5\x2f\xfd", InputKind::Zstd),
        (b"\xfd7zXZ\x00", InputKind::Xz),
        (b"\x04\x22\x4d\x18", InputKind::Lz4),
        (b"BZh", InputKind::Bzip2),
        (b"PK\x03\x04", InputKind::Zip),
    ];
    if let Some((_, kind)) = binary.iter().find(|(m, _)| data.starts_with(m)) {
        return Some(*kind);
    }
    if data.len() < HEADER_LEN {
        return Some(InputKind::TooShort);
    }
    // Text formats may start with a UTF-8 byte order mark or blank lines.
    let text = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    let starts_ci = |p: &[u8]| {
        text.get(..p.len())
            .is_some_and(|t| t.eq_ignore_ascii_case(p))
    };
    if text.first() == Some(&b'*') && text.get(1).is_some_and(u8::is_ascii_digit) {
        return Some(InputKind::Aof);
    }
    if text.starts_with(b"HTTP/") {
        return Some(InputKind::Http);
    }
    if starts_ci(b"<?xml") {
        return Some(InputKind::Xml);
    }
    if starts_ci(b"<!doctype html") || starts_ci(b"<html") {
        return Some(InputKind::Html);
    }
    if text.first() == Some(&b'{') {
        return Some(InputKind::Json);
    }
    // A few printable bytes are too little evidence: `REDIX0011` is a damaged magic.
    if data.len() >= 2 * HEADER_LEN && looks_like_text(&data[..data.len().min(1024)]) {
        return Some(InputKind::Text);
    }
    None
}

/// UTF-8 without control characters other than whitespace; a character cut off by
/// the end of the sample does not count against it.
fn looks_like_text(sample: &[u8]) -> bool {
    let valid = match std::str::from_utf8(sample) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            // Only the last character was cut off by the sample's end.
            std::str::from_utf8(&sample[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
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
        assert_eq!(kind(b""), Some(ErrorKind::NotRdb(InputKind::Empty)));
        assert_eq!(
            kind(b"\x1f\x8b\x08"),
            Some(ErrorKind::NotRdb(InputKind::Gzip))
        );
        assert_eq!(
            kind(b"\x00\x01\x02\x03\x04\x05\x06\x07\x08"),
            Some(ErrorKind::BadMagic)
        );
        // Every header refusal of another format points at the first byte.
        let e = Header::parse(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n").err();
        assert_eq!(
            e.map(|e| (e.kind(), e.offset())),
            Some((ErrorKind::NotRdb(InputKind::Aof), 0))
        );
    }

    #[test]
    fn sniffing() {
        let cases: [(&[u8], Option<InputKind>); 19] = [
            (b"", Some(InputKind::Empty)),
            (b"RED", None),
            (b"VALKEY08", None),
            (b"REDIS0011\xfa", None),
            (
                b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
                Some(InputKind::Gzip),
            ),
            (b"\x28\xb5\x2f\xfd\x04\x58", Some(InputKind::Zstd)),
            (b"\xfd7zXZ\x00\x00\x04\xe6", Some(InputKind::Xz)),
            (b"\x04\x22\x4d\x18\x64\x40\xa7", Some(InputKind::Lz4)),
            (b"BZh91AY&SY", Some(InputKind::Bzip2)),
            (b"PK\x03\x04\x14\x00\x00\x00", Some(InputKind::Zip)),
            (b"hi\n", Some(InputKind::TooShort)),
            (b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n", Some(InputKind::Aof)),
            (b"HTTP/1.1 403 Forbidden\r\n", Some(InputKind::Http)),
            (
                b"\xef\xbb\xbf<?xml version=\"1.0\"?><Error/>",
                Some(InputKind::Xml),
            ),
            (b"\n<!DOCTYPE html><html></html>", Some(InputKind::Html)),
            (b"<HTML><body>502</body></HTML>", Some(InputKind::Html)),
            (b"{\"error\": \"denied\"}", Some(InputKind::Json)),
            (
                "keys: caf\u{e9} latt\u{e9}\n".as_bytes(),
                Some(InputKind::Text),
            ),
            (b"\x7fELF\x02\x01\x01\x00\x00\x00", None),
        ];
        for (data, want) in cases {
            assert_eq!(sniff(data), want, "{:?}", String::from_utf8_lossy(data));
        }
        // A multi-byte character cut by the 1024-byte sample is still text.
        let mut long = "a".repeat(1023).into_bytes();
        long.extend_from_slice("\u{e9}".as_bytes());
        assert_eq!(sniff(&long), Some(InputKind::Text));
    }
}
