//! RDB value type bytes (`RDB_TYPE_*` in `rdb.h`), per family.

use crate::header::Family;

/// The type byte of a key's value: which logical type, and how it is encoded.
///
/// Bytes 22 and 23 mean different things in Redis and Valkey files; the mapping is
/// done by [`ValueType::from_byte`] with the file's [`Family`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// 0: string (raw, integer or LZF).
    String,
    /// 1: linked list (RDB ≤ 6 writers).
    List,
    /// 2: hashtable set.
    Set,
    /// 3: skiplist sorted set with string scores (RDB < 8 writers).
    ZSet,
    /// 4: hashtable hash.
    Hash,
    /// 5: skiplist sorted set with binary double scores.
    ZSet2,
    /// 6: pre-GA module value: not skippable, refused.
    ModulePreGa,
    /// 7: module value with opcode stream (skippable).
    Module2,
    /// 9: zipmap hash (RDB 2-3).
    HashZipmap,
    /// 10: ziplist list.
    ListZiplist,
    /// 11: intset set.
    SetIntset,
    /// 12: ziplist sorted set.
    ZSetZiplist,
    /// 13: ziplist hash.
    HashZiplist,
    /// 14: quicklist of ziplists (RDB 7-9).
    ListQuicklist,
    /// 15: stream, v1 (RDB 9).
    StreamListpacks,
    /// 16: listpack hash.
    HashListpack,
    /// 17: listpack sorted set.
    ZSetListpack,
    /// 18: quicklist of listpack (PACKED) and PLAIN nodes.
    ListQuicklist2,
    /// 19: stream v2 (Redis 7.0).
    StreamListpacks2,
    /// 20: listpack set (Redis 7.2).
    SetListpack,
    /// 21: stream v3 (Redis 7.2).
    StreamListpacks3,
    /// 22 in Redis files: hashtable hash with field TTLs, pre-GA (7.4 release candidates).
    HashMetadataPreGa,
    /// 23 in Redis files: listpack hash with field TTLs, pre-GA.
    HashListpackExPreGa,
    /// 24: hashtable hash with field TTLs (Redis 7.4+).
    HashMetadata,
    /// 25: listpack hash with field TTLs (Redis 7.4+).
    HashListpackEx,
    /// 26: stream v4 with IDMP state (Redis 8.6).
    StreamListpacks4,
    /// 22 in Valkey files: hash with per-field expiry (Valkey 9).
    ValkeyHash2,
}

/// The logical type of a value, as `TYPE` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LogicalType {
    /// `string`
    String,
    /// `list`
    List,
    /// `set`
    Set,
    /// `zset`
    ZSet,
    /// `hash`
    Hash,
    /// `stream`
    Stream,
    /// A module type (`TYPE` answers the module's type name).
    Module,
}

impl LogicalType {
    /// The name `TYPE` answers (`"module"` for module values).
    pub fn name(self) -> &'static str {
        match self {
            LogicalType::String => "string",
            LogicalType::List => "list",
            LogicalType::Set => "set",
            LogicalType::ZSet => "zset",
            LogicalType::Hash => "hash",
            LogicalType::Stream => "stream",
            LogicalType::Module => "module",
        }
    }
}

impl ValueType {
    /// Maps a type byte of a file of `family` to a value type; `None` when the byte is
    /// not a value type of that family.
    pub fn from_byte(byte: u8, family: Family) -> Option<ValueType> {
        use ValueType::*;
        Some(match byte {
            0 => String,
            1 => List,
            2 => Set,
            3 => ZSet,
            4 => Hash,
            5 => ZSet2,
            6 => ModulePreGa,
            7 => Module2,
            9 => HashZipmap,
            10 => ListZiplist,
            11 => SetIntset,
            12 => ZSetZiplist,
            13 => HashZiplist,
            14 => ListQuicklist,
            15 => StreamListpacks,
            16 => HashListpack,
            17 => ZSetListpack,
            18 => ListQuicklist2,
            19 => StreamListpacks2,
            20 => SetListpack,
            21 => StreamListpacks3,
            22 if family == Family::Valkey => ValkeyHash2,
            22 => HashMetadataPreGa,
            23 if family == Family::Redis => HashListpackExPreGa,
            24 if family == Family::Redis => HashMetadata,
            25 if family == Family::Redis => HashListpackEx,
            26 if family == Family::Redis => StreamListpacks4,
            _ => return None,
        })
    }

    /// The type byte as written in the file.
    pub fn byte(self) -> u8 {
        use ValueType::*;
        match self {
            String => 0,
            List => 1,
            Set => 2,
            ZSet => 3,
            Hash => 4,
            ZSet2 => 5,
            ModulePreGa => 6,
            Module2 => 7,
            HashZipmap => 9,
            ListZiplist => 10,
            SetIntset => 11,
            ZSetZiplist => 12,
            HashZiplist => 13,
            ListQuicklist => 14,
            StreamListpacks => 15,
            HashListpack => 16,
            ZSetListpack => 17,
            ListQuicklist2 => 18,
            StreamListpacks2 => 19,
            SetListpack => 20,
            StreamListpacks3 => 21,
            HashMetadataPreGa | ValkeyHash2 => 22,
            HashListpackExPreGa => 23,
            HashMetadata => 24,
            HashListpackEx => 25,
            StreamListpacks4 => 26,
        }
    }

    /// The logical type.
    pub fn logical(self) -> LogicalType {
        use ValueType::*;
        match self {
            String => LogicalType::String,
            List | ListZiplist | ListQuicklist | ListQuicklist2 => LogicalType::List,
            Set | SetIntset | SetListpack => LogicalType::Set,
            ZSet | ZSet2 | ZSetZiplist | ZSetListpack => LogicalType::ZSet,
            Hash | HashZipmap | HashZiplist | HashListpack | HashMetadataPreGa
            | HashListpackExPreGa | HashMetadata | HashListpackEx | ValkeyHash2 => {
                LogicalType::Hash
            }
            StreamListpacks | StreamListpacks2 | StreamListpacks3 | StreamListpacks4 => {
                LogicalType::Stream
            }
            ModulePreGa | Module2 => LogicalType::Module,
        }
    }

    /// The name of the RDB constant (`"LIST_QUICKLIST_2"`), as in `rdb.h`.
    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            String => "STRING",
            List => "LIST",
            Set => "SET",
            ZSet => "ZSET",
            Hash => "HASH",
            ZSet2 => "ZSET_2",
            ModulePreGa => "MODULE_PRE_GA",
            Module2 => "MODULE_2",
            HashZipmap => "HASH_ZIPMAP",
            ListZiplist => "LIST_ZIPLIST",
            SetIntset => "SET_INTSET",
            ZSetZiplist => "ZSET_ZIPLIST",
            HashZiplist => "HASH_ZIPLIST",
            ListQuicklist => "LIST_QUICKLIST",
            StreamListpacks => "STREAM_LISTPACKS",
            HashListpack => "HASH_LISTPACK",
            ZSetListpack => "ZSET_LISTPACK",
            ListQuicklist2 => "LIST_QUICKLIST_2",
            StreamListpacks2 => "STREAM_LISTPACKS_2",
            SetListpack => "SET_LISTPACK",
            StreamListpacks3 => "STREAM_LISTPACKS_3",
            HashMetadataPreGa => "HASH_METADATA_PRE_GA",
            HashListpackExPreGa => "HASH_LISTPACK_EX_PRE_GA",
            HashMetadata => "HASH_METADATA",
            HashListpackEx => "HASH_LISTPACK_EX",
            StreamListpacks4 => "STREAM_LISTPACKS_4",
            ValkeyHash2 => "HASH_2",
        }
    }

    /// Whether the encoding carries per-field expiry times (hash field TTLs).
    pub fn has_field_ttls(self) -> bool {
        use ValueType::*;
        matches!(
            self,
            HashMetadataPreGa | HashListpackExPreGa | HashMetadata | HashListpackEx | ValkeyHash2
        )
    }

    /// The oldest RDB version whose readers know this type byte (Redis numbering;
    /// Valkey 9's `HASH_2` needs Valkey RDB 80).
    pub fn min_rdb_version(self) -> u32 {
        use ValueType::*;
        match self {
            String | List | Set | ZSet | Hash => 1,
            HashZipmap | ListZiplist | SetIntset | ZSetZiplist => 2,
            HashZiplist => 4,
            ListQuicklist => 7,
            ZSet2 | ModulePreGa | Module2 => 8,
            StreamListpacks => 9,
            HashListpack | ZSetListpack | ListQuicklist2 | StreamListpacks2 => 10,
            SetListpack | StreamListpacks3 => 11,
            HashMetadataPreGa | HashListpackExPreGa | HashMetadata | HashListpackEx => 12,
            StreamListpacks4 => 13,
            ValkeyHash2 => 80,
        }
    }
}
