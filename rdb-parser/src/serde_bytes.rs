//! The byte-string serializer of every report (feature `serde`).
//!
//! Keys, values and prefixes are bytes, not text. In a serialized report a byte
//! string is a plain string when it is valid UTF-8, else an object with its bytes in
//! lower-case hex: `"user:1"`, `{"hex": "ff00"}`. This is the `<bytes>` convention of
//! `rdbkit`'s JSON output. Nothing is lost: text that happens to look like an object is
//! still a string.
//!
//! Use [`serialize`] on a field with `#[serde(serialize_with = "...")]`,
//! [`serialize_option`] on an `Option` of bytes, or wrap a slice in [`Bytes`] where
//! a value is built by hand (an element of a list, a field of a hand-written
//! `Serialize`). Not for JSON object keys, which must be strings.
//!
//! ```
//! use rdb_parser::serde_bytes::Bytes;
//!
//! // Any serde format; JSON shown.
//! assert_eq!(serde_json::to_string(&Bytes(b"user:1"))?, r#""user:1""#);
//! assert_eq!(serde_json::to_string(&Bytes(b"\xff\x00"))?, r#"{"hex":"ff00"}"#);
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

/// A byte string that serializes as UTF-8 text when it is valid, else as
/// `{"hex": "..."}`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes<'a>(pub &'a [u8]);

impl std::fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::DebugBytes(self.0).fmt(f)
    }
}

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(self.0) {
            Ok(text) => serializer.serialize_str(text),
            Err(_) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("hex", &hex(self.0))?;
                map.end()
            }
        }
    }
}

pub use crate::export::hex;

/// Serializes a byte string (`Vec<u8>`, `&[u8]`, `Cow<[u8]>`, …) as [`Bytes`]; for
/// `#[serde(serialize_with = "rdb_parser::serde_bytes::serialize")]`.
pub fn serialize<T, S>(bytes: &T, serializer: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<[u8]> + ?Sized,
    S: Serializer,
{
    Bytes(bytes.as_ref()).serialize(serializer)
}

/// Serializes an optional byte string: `null`, or as [`Bytes`].
pub fn serialize_option<T, S>(bytes: &Option<T>, serializer: S) -> Result<S::Ok, S::Error>
where
    T: AsRef<[u8]>,
    S: Serializer,
{
    match bytes {
        Some(b) => serializer.serialize_some(&Bytes(b.as_ref())),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: impl Serialize) -> String {
        serde_json::to_string(&v).unwrap_or_default()
    }

    #[test]
    fn text_and_hex() {
        assert_eq!(json(Bytes(b"")), r#""""#);
        assert_eq!(json(Bytes("clé".as_bytes())), r#""clé""#);
        assert_eq!(json(Bytes(b"a\"b")), r#""a\"b""#);
        assert_eq!(json(Bytes(b"k\xfe\x01")), r#"{"hex":"6bfe01"}"#);
        assert_eq!(hex(&[0, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn field_helpers() {
        #[derive(Serialize)]
        struct Row {
            #[serde(serialize_with = "serialize")]
            key: Vec<u8>,
            #[serde(serialize_with = "serialize_option")]
            prefix: Option<Vec<u8>>,
            #[serde(serialize_with = "serialize_option")]
            none: Option<Vec<u8>>,
        }
        let row = Row {
            key: b"\x80".to_vec(),
            prefix: Some(b"user:".to_vec()),
            none: None,
        };
        assert_eq!(
            json(&row),
            r#"{"key":{"hex":"80"},"prefix":"user:","none":null}"#
        );
    }
}
