//! One row per key (`rdbkit keys`): the inventory's per-key facts, streamed in file
//! order in bounded memory.
//!
//! The memory column is the same [`MemoryModel::key`](super::memory::MemoryModel::key)
//! estimate, with the same model choice, that [`inventory`](super::inventory) sums
//! into [`Inventory::memory_keys`](super::Inventory::memory_keys): over all rows of
//! the same files and options the two totals are equal.
//!
//! One thread frames each file; windows of key records (one batch per rayon worker)
//! are estimated in parallel and handed to the sink in file order, so memory is one
//! window of records and estimates whatever the file size.

use rayon::prelude::*;

use crate::error::Error;
use crate::record::{KeyRecord, Rdb, Record};

use super::memory::KeyEstimate;
use super::{pattern, prefix_of, slot, AuxInfo, FileInput, InventoryOptions};

/// One key, as `rdbkit keys` writes it.
#[derive(Debug, Clone, Copy)]
pub struct KeyRow<'r> {
    /// Index of the file (in the input order).
    pub file: usize,
    /// Database.
    pub db: u64,
    /// Key name.
    pub key: &'r [u8],
    /// Logical type (`string`, `hash`, ...).
    pub type_name: &'static str,
    /// `OBJECT ENCODING` on the modelled server.
    pub encoding: &'static str,
    /// Elements (1 for strings).
    pub elements: u64,
    /// Serialized value bytes in the file.
    pub bytes: u64,
    /// Estimated memory (the inventory's per-key figure).
    pub memory: u64,
    /// Absolute expiry, Unix ms.
    pub expire_at_ms: Option<i64>,
    /// LRU idle time, seconds.
    pub idle_s: Option<u64>,
    /// LFU counter.
    pub freq: Option<u8>,
    /// Cluster hash slot.
    pub slot: u16,
    /// Prefix up to the `depth`-th separator ([`InventoryOptions::separator`]).
    pub prefix: Option<&'r [u8]>,
    /// Key pattern ([`pattern::pattern_of`]).
    pub pattern: &'r [u8],
}

/// Column names of `rdbkit keys`, in order, in every format (the fields of a
/// serialized [`KeyLine`]).
pub const COLUMNS: [&str; 15] = [
    "file",
    "db",
    "key",
    "key_hex",
    "type",
    "encoding",
    "elements",
    "bytes",
    "memory",
    "expire_at_ms",
    "idle_s",
    "freq",
    "slot",
    "prefix",
    "pattern",
];

/// A [`KeyRow`] with its text columns resolved: one line of `rdbkit keys` (a JSON
/// Lines object with feature `serde`, fields as [`COLUMNS`]). The key is text when it
/// is UTF-8, else hex with `key_hex` set; a caller that redacts names replaces the
/// text columns.
#[derive(Debug, Clone)]
pub struct KeyLine<'r> {
    /// The file's name.
    pub file: &'r str,
    /// The row.
    pub row: &'r KeyRow<'r>,
    /// The key as text, or hex (`key_hex`).
    pub key: String,
    /// Whether `key` is hex.
    pub key_hex: bool,
    /// The prefix as text.
    pub prefix: Option<String>,
    /// The pattern as text.
    pub pattern: String,
}

impl<'r> KeyLine<'r> {
    /// The line of `row`, from the file named `file`; prefix and pattern as lossy text.
    pub fn new(file: &'r str, row: &'r KeyRow<'r>) -> KeyLine<'r> {
        let (key, key_hex) = match std::str::from_utf8(row.key) {
            Ok(s) => (s.to_string(), false),
            Err(_) => (crate::hex(row.key), true),
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        KeyLine {
            file,
            row,
            key,
            key_hex,
            prefix: row.prefix.map(text),
            pattern: text(row.pattern),
        }
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for KeyLine<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let k = self.row;
        let [file, db, key, key_hex, type_name, encoding, elements, bytes, memory, expire_at_ms, idle_s, freq, slot, prefix, pattern] =
            COLUMNS;
        let mut line = serializer.serialize_struct("KeyLine", COLUMNS.len())?;
        line.serialize_field(file, self.file)?;
        line.serialize_field(db, &k.db)?;
        line.serialize_field(key, &self.key)?;
        line.serialize_field(key_hex, &self.key_hex)?;
        line.serialize_field(type_name, k.type_name)?;
        line.serialize_field(encoding, k.encoding)?;
        line.serialize_field(elements, &k.elements)?;
        line.serialize_field(bytes, &k.bytes)?;
        line.serialize_field(memory, &k.memory)?;
        line.serialize_field(expire_at_ms, &k.expire_at_ms)?;
        line.serialize_field(idle_s, &k.idle_s)?;
        line.serialize_field(freq, &k.freq)?;
        line.serialize_field(slot, &k.slot)?;
        line.serialize_field(prefix, &self.prefix)?;
        line.serialize_field(pattern, &self.pattern)?;
        line.end()
    }
}

/// What the workers compute for one key.
struct Estimated {
    estimate: KeyEstimate,
    slot: u16,
    /// Range of the key's pattern in the chunk's pattern buffer.
    pattern: std::ops::Range<usize>,
}

/// Estimates of one chunk of a window, and their patterns end to end.
struct Chunk {
    rows: Vec<Estimated>,
    patterns: Vec<u8>,
}

/// Calls `sink` with every key of `files`, in file order. `progress` gets the input
/// bytes framed so far over all files. Stops at the first error: the parser's (with
/// its offset; the CRC-64 trailer is checked when a file's last key has been handed
/// over, so a caller writing a file should keep it only when this returns `Ok`) or
/// the sink's.
pub fn key_rows<E: From<Error>>(
    files: &[FileInput<'_>],
    options: &InventoryOptions,
    progress: &dyn Fn(u64),
    sink: &mut dyn FnMut(&KeyRow<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let batch = options.batch_keys.max(1);
    let window_len = batch * rayon::current_num_threads().max(1);
    let mut done = 0u64;
    for (file, f) in files.iter().enumerate() {
        let rdb = Rdb::with_options(f.data, options.parse)?;
        let model = super::model_for(rdb.header(), &AuxInfo::read(&rdb)?, options);
        let mut records = rdb.records();
        let mut window: Vec<KeyRecord<'_>> = Vec::with_capacity(window_len);
        loop {
            let next = records.next();
            let end = next.is_none();
            match next {
                Some(Ok(Record::Key(k))) => window.push(k),
                Some(Ok(_)) | None => {}
                Some(Err(e)) => return Err(e.into()),
            }
            if window.len() < window_len && !end {
                continue;
            }
            let chunks: Vec<Result<Chunk, Error>> = window
                .par_chunks(batch)
                .map(|keys| {
                    let mut chunk = Chunk {
                        rows: Vec::with_capacity(keys.len()),
                        patterns: Vec::new(),
                    };
                    let mut one = Vec::new();
                    for k in keys {
                        let estimate = model.key(k)?;
                        pattern::pattern_of(&k.key, &mut one);
                        let start = chunk.patterns.len();
                        chunk.patterns.extend_from_slice(&one);
                        chunk.rows.push(Estimated {
                            estimate,
                            slot: slot::key_slot(&k.key),
                            pattern: start..chunk.patterns.len(),
                        });
                    }
                    Ok(chunk)
                })
                .collect();
            for (keys, chunk) in window.chunks(batch).zip(chunks) {
                let chunk = chunk?;
                for (k, e) in keys.iter().zip(&chunk.rows) {
                    sink(&KeyRow {
                        file,
                        db: k.db,
                        key: &k.key,
                        type_name: k.value_type.logical().name(),
                        encoding: e.estimate.encoding,
                        elements: e.estimate.elements,
                        bytes: k.raw.len() as u64,
                        memory: e.estimate.bytes,
                        expire_at_ms: k.expire_at_ms,
                        idle_s: k.idle_s,
                        freq: k.freq,
                        slot: e.slot,
                        prefix: prefix_of(&k.key, &options.separator, options.depth),
                        pattern: chunk.patterns.get(e.pattern.clone()).unwrap_or_default(),
                    })?;
                }
            }
            window.clear();
            progress(done + records.offset());
            if end {
                break;
            }
        }
        done += f.data.len() as u64;
        progress(done);
    }
    Ok(())
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn key_line_shape() -> Result<(), serde_json::Error> {
        let row = KeyRow {
            file: 0,
            db: 2,
            key: b"\xff:1",
            type_name: "string",
            encoding: "embstr",
            elements: 1,
            bytes: 3,
            memory: 56,
            expire_at_ms: Some(5),
            idle_s: None,
            freq: None,
            slot: 7,
            prefix: Some(b"\xff"),
            pattern: b"\xff:{n}",
        };
        let line = KeyLine::new("a.rdb", &row);
        let text = serde_json::to_string(&line)?;
        let expected_start =
            r#"{"file":"a.rdb","db":2,"key":"ff3a31","key_hex":true,"type":"string""#;
        assert!(text.starts_with(expected_start), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let mut fields: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut columns = COLUMNS.to_vec();
        fields.sort_unstable();
        columns.sort_unstable();
        assert_eq!(fields, columns);
        assert_eq!(v["prefix"], "\u{fffd}");
        assert_eq!(v["idle_s"], serde_json::Value::Null);
        Ok(())
    }
}
