//! A typed view of the AUX fields a snapshot records about its writer
//! (`rdbSaveInfoAuxFields` in Redis `rdb.c`): version, creation time, memory,
//! replication IDs and offsets, AOF base.

use crate::error::Result;
use crate::record::{AuxField, Rdb, Record};

/// Well-known AUX fields, plus every field as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct AuxInfo {
    /// `redis-ver`: version of the Redis server (or Valkey ≥ 8 pretending 7.2.4).
    pub redis_ver: Option<String>,
    /// `valkey-ver`: version of the Valkey server.
    pub valkey_ver: Option<String>,
    /// `redis-bits`: 32 or 64.
    pub redis_bits: Option<u64>,
    /// `ctime`: Unix time (s) the snapshot was taken.
    pub ctime: Option<i64>,
    /// `used-mem`: the server's `used_memory` when it saved.
    pub used_mem: Option<u64>,
    /// `repl-stream-db`.
    pub repl_stream_db: Option<u64>,
    /// `repl-id`: replication ID.
    pub repl_id: Option<String>,
    /// `repl-offset`: replication offset.
    pub repl_offset: Option<i64>,
    /// `aof-base` (7.0+) or `aof-preamble` (4.0-6.2): the file is an AOF base.
    pub aof_base: Option<bool>,
    /// Every AUX field in file order, as (lossy UTF-8) text.
    pub fields: Vec<(String, String)>,
}

/// `(major, minor, patch)` of a server version as Redis and Valkey write it
/// (`7.0.15`, `8.1`): the one version parser of the workspace (AUX fields, `INFO`). A
/// missing or unreadable minor or patch counts as 0; `None` when the major is not a
/// number.
///
/// ```
/// use rdb_parser::aux::parse_version;
///
/// assert_eq!(parse_version("7.2.4"), Some((7, 2, 4)));
/// assert_eq!(parse_version(" 8.1\n"), Some((8, 1, 0)));
/// assert_eq!(parse_version("unknown"), None);
/// ```
pub fn parse_version(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

impl AuxInfo {
    /// Reads the AUX fields at the start of `rdb` (stops at the first key).
    pub fn read(rdb: &Rdb<'_>) -> Result<AuxInfo> {
        let mut fields = Vec::new();
        for record in rdb.records() {
            match record? {
                Record::Aux(a) => fields.push(a),
                Record::Key(_) | Record::Eof(_) => break,
                _ => {}
            }
        }
        AuxInfo::from_fields(&fields)
    }

    /// The typed view of `fields` (in file order).
    pub fn from_fields(fields: &[AuxField<'_>]) -> Result<AuxInfo> {
        let mut info = AuxInfo::default();
        for a in fields {
            let key = String::from_utf8_lossy(&a.key.to_bytes()?).into_owned();
            let value = String::from_utf8_lossy(&a.value.to_bytes()?).into_owned();
            info.apply(&key, &value);
            info.fields.push((key, value));
        }
        Ok(info)
    }

    fn apply(&mut self, key: &str, value: &str) {
        match key {
            "redis-ver" => self.redis_ver = Some(value.to_string()),
            "valkey-ver" => self.valkey_ver = Some(value.to_string()),
            "redis-bits" => self.redis_bits = value.parse().ok(),
            "ctime" => self.ctime = value.parse().ok(),
            "used-mem" => self.used_mem = value.parse().ok(),
            "repl-stream-db" => self.repl_stream_db = value.parse().ok(),
            "repl-id" => self.repl_id = Some(value.to_string()),
            "repl-offset" => self.repl_offset = value.parse().ok(),
            "aof-base" | "aof-preamble" => self.aof_base = Some(value != "0"),
            _ => {}
        }
    }
}
