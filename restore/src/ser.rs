//! Serialized shapes shared by the report types (feature `serde`): reasons and
//! kinds as their stable short names, `(name, count)` lists as objects. Byte
//! strings use [`rdb_parser::serde_bytes`] (UTF-8 text, else `{"hex": "..."}`).

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::plan::SkipReason;
use crate::verify::Why;

/// A `Vec<(K, V)>` as an object `{K: V}` in list order (`K` serializes as a string).
pub(crate) fn pairs_as_map<K, V, S>(pairs: &[(K, V)], serializer: S) -> Result<S::Ok, S::Error>
where
    K: Serialize,
    V: Serialize,
    S: Serializer,
{
    let mut map = serializer.serialize_map(Some(pairs.len()))?;
    for (k, v) in pairs {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

/// As [`SkipReason::name`] (`"db"`, `"no_functions"`, …).
impl Serialize for SkipReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// As [`Why::name`] (`"missing"`, `"field_ttls"`, …).
impl Serialize for Why {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}
