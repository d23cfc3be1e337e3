//! One row per key (`rdbkit keys`): the inventory's per-key facts, streamed in file
//! order in bounded memory.
//!
//! The memory column is the same [`MemoryModel::key`](super::memory::MemoryModel::key)
//! estimate, with the same model choice, that [`inventory`](super::inventory) sums
//! into [`Inventory::memory_keys`](super::Inventory::memory_keys): over all rows of
//! the same files and options the two totals are equal.
//!
//! Three stages overlap: one window of key records is estimated (and, for CSV and
//! JSON Lines, formatted) on the rayon workers while the next window is framed and
//! the previous one is handed to the sink in file order, so memory is a few windows
//! of records and rows whatever the file size.
//!
//! [`write_rows`] (or [`key_rows`] into a [`RowWriter`]) writes the rows as CSV, JSON
//! Lines or (feature `parquet`) Apache Parquet, the files `rdbkit keys` writes.
//!
//! # Columns
//!
//! [`COLUMNS`], in this order in every format: `file, db, key, key_hex, type,
//! encoding, elements, bytes, memory, expire_at_ms, idle_s, freq, slot, prefix,
//! pattern`. One rule for key names: `key` is the name when it is valid UTF-8;
//! otherwise `key` is its bytes in lower-case hex ([`hex`](crate::export::hex)) and
//! `key_hex` is true. `prefix` and `pattern` are descriptive and shown as UTF-8 with
//! invalid bytes replaced (U+FFFD). Empty cells (CSV), `null` (JSON) and Parquet nulls
//! mean "not recorded" (`expire_at_ms` without TTL, `idle_s`/`freq` when the server
//! kept no LRU/LFU data, `prefix` when the key has no separator). With a
//! [`Redactor`], `key` is the key's token and `prefix`/`pattern` keep only their
//! structure.
//!
//! # Complete or nothing
//!
//! The CRC-64 trailer of a file is checked after its last row was handed over, so
//! the output is complete only when [`write_rows`] (or [`RowWriter::finish`] after
//! [`key_rows`]) returns `Ok`. A caller writing a file writes it under a temporary
//! name and renames it then, and deletes it on an error: a corrupt snapshot must
//! leave no output that looks complete.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use rdb_parser::inventory::rows::{write_rows, RowFormat};
//! use rdb_parser::inventory::{FileInput, InventoryOptions};
//!
//! // An RDB 9 file with one key, `user:1` = `x`, and no checksum.
//! let rdb = b"REDIS0009\xfe\x00\x00\x06user:1\x01x\xff\0\0\0\0\0\0\0\0";
//! let files = [FileInput { name: "dump.rdb", data: rdb, mtime_ms: None }];
//! let (rows, csv) = write_rows(
//!     &files,
//!     &InventoryOptions::default(),
//!     RowFormat::Csv,
//!     None,
//!     Vec::new(),
//!     &|_| {},
//! )?;
//! assert_eq!(rows, 1);
//! let csv = String::from_utf8(csv)?;
//! assert!(csv.starts_with("file,db,key,key_hex,type,"));
//! assert!(csv.contains("\ndump.rdb,0,user:1,false,string,"));
//! # Ok(())
//! # }
//! ```

use std::borrow::Cow;
use std::io::{self, BufWriter, Write};

use rayon::prelude::*;

use crate::error::Error;
use crate::record::{KeyRecord, Rdb, Record, Records};

use super::memory::{KeyEstimate, MemoryModel};
use super::redact::Redactor;
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

/// What the workers compute for one key.
struct Estimated {
    estimate: KeyEstimate,
    slot: u16,
    /// Range of the key's pattern in the chunk's pattern buffer.
    pattern: std::ops::Range<usize>,
}

/// Estimates of one chunk of a window (one rayon task), and their patterns end to end.
struct Chunk {
    rows: Vec<Estimated>,
    patterns: Vec<u8>,
}

impl Chunk {
    /// Estimates `keys` with `model`.
    fn estimate(model: &MemoryModel, keys: &[KeyRecord<'_>]) -> Result<Chunk, Error> {
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
    }

    /// The rows of `keys` (the records this chunk was estimated from), in order.
    fn rows<'r>(
        &'r self,
        file: usize,
        keys: &'r [KeyRecord<'_>],
        options: &'r InventoryOptions,
    ) -> impl Iterator<Item = KeyRow<'r>> + 'r {
        keys.iter().zip(&self.rows).map(move |(k, e)| KeyRow {
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
            pattern: self.patterns.get(e.pattern.clone()).unwrap_or_default(),
        })
    }
}

/// Frames up to `len` key records from `records`; fewer only at the end of the file.
fn next_window<'a>(records: &mut Records<'a>, len: usize) -> Result<Vec<KeyRecord<'a>>, Error> {
    let mut window = Vec::with_capacity(len);
    while window.len() < len {
        match records.next() {
            Some(Ok(Record::Key(k))) => window.push(k),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e),
            None => break,
        }
    }
    Ok(window)
}

/// The pipeline under [`key_rows`] and [`write_rows`], three stages at once: while
/// the rayon workers `process` one window of key records (two batches of
/// [`InventoryOptions::batch_keys`] per worker), the previous window goes to `sink`
/// and the next one is framed. `sink` gets the windows in file order. Memory is
/// three windows and two windows' results, whatever the file size. Errors come in
/// file order: the sink's for earlier rows, then a window's own, then the framing
/// error that follows it (the CRC-64 trailer is checked when the last window has
/// been framed, so every row reaches `sink` before a bad trailer is reported).
fn for_each_window<'f, T, E, P, S>(
    files: &[FileInput<'f>],
    options: &InventoryOptions,
    progress: &dyn Fn(u64),
    process: P,
    mut sink: S,
) -> Result<(), E>
where
    T: Send,
    E: From<Error> + Send,
    P: Fn(usize, &MemoryModel, &[KeyRecord<'f>]) -> Result<T, Error> + Sync,
    S: FnMut(usize, &[KeyRecord<'f>], T) -> Result<(), E> + Send,
{
    let window_len = options.batch_keys.max(1) * 2 * rayon::current_num_threads().max(1);
    let mut done = 0u64;
    for (file, f) in files.iter().enumerate() {
        let rdb = Rdb::with_options(f.data, options.parse)?;
        let model = super::model_for(rdb.header(), &AuxInfo::read(&rdb)?, options);
        let mut records = rdb.records();
        let mut window = next_window(&mut records, window_len)?;
        let mut processed: Option<(Vec<KeyRecord<'f>>, T)> = None;
        while !window.is_empty() {
            let ((sunk, next), this) = rayon::join(
                || {
                    let sunk = match processed.take() {
                        Some((keys, t)) => sink(file, &keys, t),
                        None => Ok(()),
                    };
                    (sunk, next_window(&mut records, window_len))
                },
                || process(file, &model, &window),
            );
            sunk?;
            processed = Some((window, this?));
            progress(done + records.offset());
            window = next?;
        }
        if let Some((keys, t)) = processed {
            sink(file, &keys, t)?;
        }
        done += f.data.len() as u64;
        progress(done);
    }
    Ok(())
}

/// Keys per rayon task: a quarter of [`InventoryOptions::batch_keys`]. A window (two
/// batches per worker) is then eight tasks per worker, so the worker that was
/// framing or writing still finds tasks left when it is done, instead of waiting
/// for the other one's last batch.
fn task_keys(options: &InventoryOptions) -> usize {
    (options.batch_keys / 4).max(1)
}

/// Estimates `window` on the rayon workers, [`task_keys`] keys per task, in order.
fn estimate_window(
    model: &MemoryModel,
    window: &[KeyRecord<'_>],
    options: &InventoryOptions,
) -> Result<Vec<Chunk>, Error> {
    window
        .par_chunks(task_keys(options))
        .map(|keys| Chunk::estimate(model, keys))
        .collect()
}

/// Calls `sink` with every key of `files`, in file order; `sink` runs on a rayon
/// worker while other workers estimate the next keys. `progress` gets the input
/// bytes framed so far over all files. Stops at the first error: the parser's (with
/// its offset; the CRC-64 trailer is checked when a file's last key has been handed
/// over, so a caller writing a file should keep it only when this returns `Ok`) or
/// the sink's.
pub fn key_rows<E: From<Error> + Send>(
    files: &[FileInput<'_>],
    options: &InventoryOptions,
    progress: &dyn Fn(u64),
    sink: &mut (dyn FnMut(&KeyRow<'_>) -> Result<(), E> + Send),
) -> Result<(), E> {
    let task = task_keys(options);
    for_each_window(
        files,
        options,
        progress,
        |_, model, window| estimate_window(model, window, options),
        |file, window, chunks| {
            for (keys, chunk) in window.chunks(task).zip(&chunks) {
                for row in chunk.rows(file, keys, options) {
                    sink(&row)?;
                }
            }
            Ok(())
        },
    )
}

/// A row-writing failure: the input is bad, or the output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowsError {
    /// A snapshot could not be parsed (the error names the byte offset).
    #[error(transparent)]
    Parse(#[from] Error),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] io::Error),
    /// The Parquet writer failed.
    #[cfg(feature = "parquet")]
    #[error("writing Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// Formats of key rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowFormat {
    /// Comma-separated values (RFC 4180), with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet: typed columns, Snappy-compressed (feature `parquet`).
    #[cfg(feature = "parquet")]
    Parquet,
}

/// Column names, in order, in every format.
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

/// Writes one row per key of `files` to `out` in `format` and returns the rows
/// written and `out` (flushed, not synced). `redactor` hides key names; `progress`
/// gets the input bytes framed so far. See the [module docs](self) for the columns
/// and for why `out` must be discarded when this fails.
pub fn write_rows<W: Write + Send>(
    files: &[FileInput<'_>],
    options: &InventoryOptions,
    format: RowFormat,
    redactor: Option<&Redactor>,
    out: W,
    progress: &dyn Fn(u64),
) -> Result<(u64, W), RowsError> {
    let mut writer = RowWriter::new(format, out, redactor)?;
    let name = |file: usize| files.get(file).map_or("", |f| f.name);
    let task = task_keys(options);
    // Rows are turned into lines or column values on the workers, a task's chunk
    // each, and written in order: that costs more than estimating, so on the
    // writing thread it would be the bottleneck.
    for_each_window(
        files,
        options,
        progress,
        |file, model, window| {
            window
                .par_chunks(task)
                .map(|keys| {
                    let chunk = Chunk::estimate(model, keys)?;
                    let mut formatted = Formatted::new(format, name(file), keys.len());
                    for row in chunk.rows(file, keys, options) {
                        formatted.push(&Resolved::new(name(file), &row, redactor));
                    }
                    formatted.seal();
                    Ok(formatted)
                })
                .collect::<Result<Vec<_>, Error>>()
        },
        |_, _, chunks| {
            for formatted in chunks {
                writer.write_formatted(formatted)?;
            }
            Ok::<(), RowsError>(())
        },
    )?;
    let rows = writer.rows();
    Ok((rows, writer.finish()?))
}

/// Rows formatted on a worker, for [`RowWriter::write_formatted`].
enum Formatted {
    /// CSV or JSON lines.
    Lines {
        rows: u64,
        json: bool,
        /// The rows' [`file_field`].
        file: Vec<u8>,
        text: Vec<u8>,
    },
    /// Parquet column values.
    #[cfg(feature = "parquet")]
    Columns(Box<parquet_rows::Columns>),
}

impl Formatted {
    /// Room for `rows` rows of `format` from the file named `file`.
    fn new(format: RowFormat, file: &str, rows: usize) -> Formatted {
        let json = match format {
            RowFormat::Csv => false,
            RowFormat::Jsonl => true,
            #[cfg(feature = "parquet")]
            RowFormat::Parquet => {
                return Formatted::Columns(Box::new(parquet_rows::Columns::new()))
            }
        };
        Formatted::Lines {
            rows: 0,
            json,
            file: file_field(json, file),
            text: Vec::with_capacity(rows * if json { 256 } else { 128 }),
        }
    }

    fn push(&mut self, r: &Resolved<'_>) {
        match self {
            Formatted::Lines {
                rows,
                json,
                file,
                text,
            } => {
                delimited_line(*json, file, r, text);
                *rows += 1;
            }
            #[cfg(feature = "parquet")]
            Formatted::Columns(c) => c.push(r),
        }
    }

    /// Completes the rows pushed (Parquet text columns become values).
    fn seal(&mut self) {
        #[cfg(feature = "parquet")]
        if let Formatted::Columns(c) = self {
            c.seal();
        }
    }
}

/// A row with its text columns resolved (the key rule, redaction): valid UTF-8,
/// borrowed from the row unless redacted, hex or lossy.
struct Resolved<'r> {
    /// Read by Parquet only: CSV and JSON lines render it once per chunk.
    #[cfg_attr(not(feature = "parquet"), allow(dead_code))]
    file: &'r str,
    row: &'r KeyRow<'r>,
    key: Cow<'r, [u8]>,
    key_hex: bool,
    prefix: Option<Cow<'r, [u8]>>,
    pattern: Cow<'r, [u8]>,
    /// Key, prefix and pattern need neither CSV quoting nor JSON escapes
    /// ([`plain`]): written as they are, without a look at each byte.
    plain: bool,
}

/// Whether `key` is printable ASCII without `,` `"` `\`. Then the key, its prefix (a
/// part of it) and its pattern (its bytes and ASCII placeholders, `{…}` when cut)
/// are valid UTF-8 that CSV quoting and JSON escaping leave as they are: most keys
/// are, and their rows skip three UTF-8 checks and three scans.
fn plain(key: &[u8]) -> bool {
    // Every byte is looked at (no early exit), so the compiler checks 16 at a time.
    !key.iter().fold(false, |bad, &b| {
        bad | !(0x20..=0x7e).contains(&b) | (b == b',') | (b == b'"') | (b == b'\\')
    })
}

impl<'r> Resolved<'r> {
    fn new(file: &'r str, row: &'r KeyRow<'r>, redactor: Option<&Redactor>) -> Resolved<'r> {
        if redactor.is_none() && plain(row.key) {
            return Resolved {
                file,
                row,
                key: Cow::Borrowed(row.key),
                key_hex: false,
                prefix: row.prefix.map(Cow::Borrowed),
                pattern: Cow::Borrowed(row.pattern),
                plain: true,
            };
        }
        let bytes = |s: Cow<'r, str>| match s {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        };
        let (key, key_hex) = match (redactor, std::str::from_utf8(row.key)) {
            (Some(r), _) => (Cow::Owned(r.key(row.key).into_bytes()), false),
            (None, Ok(_)) => (Cow::Borrowed(row.key), false),
            (None, Err(_)) => (Cow::Owned(crate::export::hex(row.key).into_bytes()), true),
        };
        // `from_utf8` first: its check is faster than the lossy one's, and nearly
        // every name is valid.
        let text = |b: &'r [u8]| match (redactor, std::str::from_utf8(b)) {
            (Some(r), _) => Cow::Owned(r.structure(b).into_bytes()),
            (None, Ok(_)) => Cow::Borrowed(b),
            (None, Err(_)) => bytes(String::from_utf8_lossy(b)),
        };
        Resolved {
            file,
            row,
            key,
            key_hex,
            prefix: row.prefix.map(text),
            pattern: text(row.pattern),
            plain: false,
        }
    }
}

/// Writes [`KeyRow`]s in one [`RowFormat`] (for callers that drive [`key_rows`]
/// themselves; [`write_rows`] does both).
pub struct RowWriter<'r, W: Write + Send> {
    sink: Sink<W>,
    redactor: Option<&'r Redactor>,
    rows: u64,
}

impl<W: Write + Send> std::fmt::Debug for RowWriter<'_, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowWriter")
            .field("rows", &self.rows)
            .field("redacted", &self.redactor.is_some())
            .finish_non_exhaustive()
    }
}

enum Sink<W: Write + Send> {
    Delimited {
        out: BufWriter<W>,
        json: bool,
        line: Vec<u8>,
        /// The last file name written and its [`file_field`].
        file: (String, Vec<u8>),
    },
    #[cfg(feature = "parquet")]
    Parquet(Box<parquet_rows::ParquetRows<W>>),
}

impl<'r, W: Write + Send> RowWriter<'r, W> {
    /// A writer of `format` into `out` (the CSV header is written now).
    pub fn new(
        format: RowFormat,
        out: W,
        redactor: Option<&'r Redactor>,
    ) -> Result<RowWriter<'r, W>, RowsError> {
        let json = match format {
            RowFormat::Csv => false,
            RowFormat::Jsonl => true,
            #[cfg(feature = "parquet")]
            RowFormat::Parquet => {
                return Ok(RowWriter {
                    sink: Sink::Parquet(Box::new(parquet_rows::ParquetRows::new(out)?)),
                    redactor,
                    rows: 0,
                })
            }
        };
        // Below a chunk of lines from `write_rows` (hundreds of KiB), so those are
        // written straight through instead of copied into the buffer first.
        let mut out = BufWriter::with_capacity(64 << 10, out);
        if !json {
            writeln!(out, "{}", COLUMNS.join(","))?;
        }
        let sink = Sink::Delimited {
            out,
            json,
            line: Vec::new(),
            file: (String::new(), file_field(json, "")),
        };
        Ok(RowWriter {
            sink,
            redactor,
            rows: 0,
        })
    }

    /// Writes `row`; `file` is its file's name.
    pub fn write(&mut self, file: &str, row: &KeyRow<'_>) -> Result<(), RowsError> {
        let r = Resolved::new(file, row, self.redactor);
        match &mut self.sink {
            Sink::Delimited {
                out,
                json,
                line,
                file: field,
            } => {
                if field.0 != file {
                    *field = (file.to_string(), file_field(*json, file));
                }
                line.clear();
                delimited_line(*json, &field.1, &r, line);
                out.write_all(line)?;
            }
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.write(&r)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes rows formatted on a worker for this writer's format.
    fn write_formatted(&mut self, formatted: Formatted) -> Result<(), RowsError> {
        let rows = match (&mut self.sink, formatted) {
            (Sink::Delimited { out, .. }, Formatted::Lines { rows, text, .. }) => {
                out.write_all(&text)?;
                rows
            }
            #[cfg(feature = "parquet")]
            (Sink::Parquet(p), Formatted::Columns(c)) => {
                let rows = c.rows() as u64;
                p.append(*c)?;
                rows
            }
            #[cfg(feature = "parquet")]
            _ => return Err(io::Error::other("rows formatted for another format").into()),
        };
        self.rows += rows;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Completes the output (the Parquet footer) and returns `out`, flushed.
    pub fn finish(self) -> Result<W, RowsError> {
        match self.sink {
            Sink::Delimited { out, .. } => out.into_inner().map_err(|e| e.into_error().into()),
            #[cfg(feature = "parquet")]
            Sink::Parquet(p) => p.finish(),
        }
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &[u8], line: &mut Vec<u8>) {
    if s.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        line.push(b'"');
        for &b in s {
            if b == b'"' {
                line.push(b'"');
            }
            line.push(b);
        }
        line.push(b'"');
    } else {
        line.extend_from_slice(s);
    }
}

/// The `file` column of `name` as it appears in every line of its rows (quoted or
/// escaped, with its separator): made once per chunk of rows, not per row.
fn file_field(json: bool, name: &str) -> Vec<u8> {
    let mut field = Vec::new();
    if json {
        field.extend_from_slice(b"{\"file\":");
        crate::export::write_bytes(&mut field, name.as_bytes());
    } else {
        csv_field(name.as_bytes(), &mut field);
    }
    field.push(b',');
    field
}

/// `r` as one CSV or JSON line, appended to `line`; `file` is its
/// [`file_field`].
fn delimited_line(json: bool, file: &[u8], r: &Resolved<'_>, line: &mut Vec<u8>) {
    line.extend_from_slice(file);
    if json {
        json_line(r, line);
    } else {
        csv_line(r, line);
    }
}

/// A number in decimal. A row has up to eight, most of them short (db, slot, sizes):
/// those are pushed a digit at a time, since copying `itoa`'s text costs a call to
/// `memcpy` each; longer ones go through `itoa` (`write!` costs a formatter call per
/// digit run).
fn number<T: itoa::Integer + Copy + TryInto<u32>>(line: &mut Vec<u8>, v: T) {
    match v.try_into() {
        Ok(n) if n < 100_000 => short_number(line, n),
        _ => line.extend_from_slice(itoa::Buffer::new().format(v).as_bytes()),
    }
}

/// `n` (below 100 000) in decimal, without leading zeros: two digits per step from a
/// table of the pairs, as `itoa` does, but pushed onto `line` as constant-size
/// copies instead of one `memcpy` call of `itoa`'s text.
fn short_number(line: &mut Vec<u8>, n: u32) {
    // `p % 100 * 2` is at most 198: the compiler drops the bounds checks.
    let pair = |p: u32| {
        let i = (p % 100) as usize * 2;
        [DIGIT_PAIRS[i], DIGIT_PAIRS[i + 1]]
    };
    if n >= 10_000 {
        line.push(b'0' + (n / 10_000) as u8);
        line.extend_from_slice(&pair(n / 100));
        line.extend_from_slice(&pair(n));
    } else if n >= 1_000 {
        line.extend_from_slice(&pair(n / 100));
        line.extend_from_slice(&pair(n));
    } else if n >= 100 {
        line.push(b'0' + (n / 100) as u8);
        line.extend_from_slice(&pair(n));
    } else if n >= 10 {
        line.extend_from_slice(&pair(n));
    } else {
        line.push(b'0' + n as u8);
    }
}

/// "00" to "99", end to end.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// An optional number, written as `none` when absent.
fn opt_number<T: itoa::Integer + Copy + TryInto<u32>>(
    line: &mut Vec<u8>,
    v: Option<T>,
    none: &str,
) {
    match v {
        Some(v) => number(line, v),
        None => line.extend_from_slice(none.as_bytes()),
    }
}

/// `true` or `false`.
fn boolean(line: &mut Vec<u8>, v: bool) {
    line.extend_from_slice(if v { b"true" } else { b"false" });
}

/// The CSV columns after `file`.
fn csv_line(r: &Resolved<'_>, line: &mut Vec<u8>) {
    let text = |line: &mut Vec<u8>, s: &[u8]| match r.plain {
        true => line.extend_from_slice(s),
        false => csv_field(s, line),
    };
    let k = r.row;
    number(line, k.db);
    line.push(b',');
    text(line, &r.key);
    line.push(b',');
    boolean(line, r.key_hex);
    for name in [k.type_name, k.encoding] {
        line.push(b',');
        line.extend_from_slice(name.as_bytes());
    }
    for n in [k.elements, k.bytes, k.memory] {
        line.push(b',');
        number(line, n);
    }
    line.push(b',');
    opt_number(line, k.expire_at_ms, "");
    line.push(b',');
    opt_number(line, k.idle_s, "");
    line.push(b',');
    opt_number(line, k.freq, "");
    line.push(b',');
    number(line, k.slot);
    line.push(b',');
    if let Some(p) = &r.prefix {
        text(line, p);
    }
    line.push(b',');
    text(line, &r.pattern);
    line.push(b'\n');
}

/// The JSON members after `file`, and the closing brace.
fn json_line(r: &Resolved<'_>, line: &mut Vec<u8>) {
    let k = r.row;
    let name = |line: &mut Vec<u8>, name: &str| {
        line.push(b'"');
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b"\":");
    };
    // The strings are valid UTF-8, so `write_bytes` writes them as JSON strings.
    let string = |line: &mut Vec<u8>, s: &[u8], plain: bool| match plain {
        true => {
            line.push(b'"');
            line.extend_from_slice(s);
            line.push(b'"');
        }
        false => crate::export::write_bytes(line, s),
    };
    let text = |line: &mut Vec<u8>, field: &str, s: &[u8], plain: bool| {
        name(line, field);
        string(line, s, plain);
        line.push(b',');
    };
    let int = |line: &mut Vec<u8>, field: &str, v: Option<i64>| {
        name(line, field);
        opt_number(line, v, "null");
        line.push(b',');
    };
    let uint = |line: &mut Vec<u8>, field: &str, v: Option<u64>| {
        name(line, field);
        opt_number(line, v, "null");
        line.push(b',');
    };
    uint(line, "db", Some(k.db));
    text(line, "key", &r.key, r.plain);
    name(line, "key_hex");
    boolean(line, r.key_hex);
    line.push(b',');
    text(line, "type", k.type_name.as_bytes(), true);
    text(line, "encoding", k.encoding.as_bytes(), true);
    uint(line, "elements", Some(k.elements));
    uint(line, "bytes", Some(k.bytes));
    uint(line, "memory", Some(k.memory));
    int(line, "expire_at_ms", k.expire_at_ms);
    uint(line, "idle_s", k.idle_s);
    uint(line, "freq", k.freq.map(u64::from));
    uint(line, "slot", Some(u64::from(k.slot)));
    match &r.prefix {
        Some(p) => text(line, "prefix", p, r.plain),
        None => uint(line, "prefix", None),
    }
    name(line, "pattern");
    string(line, &r.pattern, r.plain);
    line.extend_from_slice(b"}\n");
}

#[cfg(feature = "parquet")]
mod parquet_rows {
    //! Parquet through the `parquet` crate's low-level column writer (no Arrow).
    //!
    //! The workers turn their chunks of rows into column values ([`Columns`]); the
    //! sink appends them to the row group, and a full row group's columns are
    //! encoded (dictionaries, statistics, Snappy) on the workers too, one column per
    //! task, each into its own buffer, then spliced into the file in schema order
    //! (`SerializedRowGroupWriter::append_column`).

    use std::io::Write;
    use std::sync::Arc;

    use bytes::Bytes;
    use parquet::basic::Compression;
    use parquet::column::writer::{get_column_writer, get_typed_column_writer_mut};
    use parquet::column::writer::{ColumnCloseResult, ColumnWriter};
    use parquet::data_type::{BoolType, ByteArray, ByteArrayType, DataType};
    use parquet::data_type::{Int32Type, Int64Type};
    use parquet::errors::ParquetError;
    use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesPtr};
    use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
    use parquet::schema::parser::parse_message_type;
    use parquet::schema::types::{ColumnDescPtr, ColumnPath};
    use rayon::prelude::*;

    use super::{Resolved, RowsError};

    /// Rows per Parquet row group (bounds the column buffers).
    const ROW_GROUP: usize = 128 * 1024;

    const SCHEMA: &str = "message keys {
        required binary file (STRING);
        required int64 db;
        required binary key (STRING);
        required boolean key_hex;
        required binary type (STRING);
        required binary encoding (STRING);
        required int64 elements;
        required int64 bytes;
        required int64 memory;
        optional int64 expire_at_ms;
        optional int64 idle_s;
        optional int32 freq;
        required int32 slot;
        optional binary prefix (STRING);
        required binary pattern (STRING);
    }";

    /// Distinct file names [`Repeated`] keeps at most; past that a value gets its own
    /// allocation.
    const REPEATED_MAX: usize = 64;

    /// The file column's values: one shared `ByteArray` per file name, since a clone
    /// bumps a reference count where a new one allocates on every row. The last
    /// value found is tried first.
    #[derive(Default)]
    struct Repeated {
        values: Vec<(String, ByteArray)>,
        last: usize,
    }

    impl Repeated {
        fn get(&mut self, s: &str) -> ByteArray {
            if let Some((v, b)) = self.values.get(self.last) {
                if v == s {
                    return b.clone();
                }
            }
            if let Some(i) = self.values.iter().position(|(v, _)| v == s) {
                self.last = i;
                return self.values[i].1.clone();
            }
            let b = ByteArray::from(s.as_bytes().to_vec());
            if self.values.len() < REPEATED_MAX {
                self.last = self.values.len();
                self.values.push((s.to_string(), b.clone()));
            }
            b
        }
    }

    /// A `&'static` name (type, encoding) as a value: it borrows the static bytes,
    /// so making and dropping it count no references (atomic operations on every
    /// row, a tenth of the CPU with the clones of shared values).
    fn name(s: &'static str) -> ByteArray {
        ByteArray::from(Bytes::from_static(s.as_bytes()))
    }

    /// A column of short, mostly distinct strings (key, prefix, pattern). Their bytes
    /// go end to end into one buffer, which [`Text::seal`] turns into one shared
    /// `Bytes` and the values into slices of it: an allocation per chunk of rows
    /// instead of one per value (per-value allocations, freed on another thread, were
    /// a fifth of the CPU).
    #[derive(Default)]
    struct Text {
        sealed: Column<ByteArray>,
        buf: Vec<u8>,
        /// End of each pushed value in `buf`, `None` for a null.
        ends: Vec<Option<usize>>,
    }

    impl Text {
        fn optional() -> Text {
            Text {
                sealed: Column::optional(),
                ..Text::default()
            }
        }

        fn push(&mut self, v: Option<&[u8]>) {
            self.ends.push(v.map(|v| {
                self.buf.extend_from_slice(v);
                self.buf.len()
            }));
        }

        fn seal(&mut self) {
            if self.ends.is_empty() {
                return;
            }
            let all = Bytes::from(std::mem::take(&mut self.buf));
            let mut start = 0;
            // `take`: a sealed chunk waits for its row group, so its `ends` are freed now.
            for end in std::mem::take(&mut self.ends) {
                self.sealed.push_opt(end.map(|end| {
                    let v = ByteArray::from(all.slice(start..end));
                    start = end;
                    v
                }));
            }
        }
    }

    /// One column's values and, for optional columns, definition levels.
    #[derive(Default)]
    struct Column<T> {
        values: Vec<T>,
        levels: Option<Vec<i16>>,
    }

    impl<T> Column<T> {
        fn optional() -> Column<T> {
            Column {
                values: Vec::new(),
                levels: Some(Vec::new()),
            }
        }

        fn push(&mut self, v: T) {
            self.values.push(v);
            if let Some(l) = &mut self.levels {
                l.push(1);
            }
        }

        fn push_opt(&mut self, v: Option<T>) {
            match (v, &mut self.levels) {
                (Some(v), _) => self.push(v),
                (None, Some(l)) => l.push(0),
                (None, None) => {}
            }
        }

        /// Encodes the values with `writer`, one column chunk.
        fn write_to<D>(&self, writer: &mut ColumnWriter<'_>) -> Result<(), ParquetError>
        where
            D: DataType<T = T>,
        {
            get_typed_column_writer_mut::<D>(writer).write_batch(
                &self.values,
                self.levels.as_deref(),
                None,
            )?;
            Ok(())
        }
    }

    fn clamp(v: u64) -> i64 {
        i64::try_from(v).unwrap_or(i64::MAX)
    }

    /// Rows as column values, in schema order: a worker's chunk, or a row group
    /// being filled.
    pub(super) struct Columns {
        rows: usize,
        files: Repeated,
        file: Column<ByteArray>,
        db: Column<i64>,
        key: Text,
        key_hex: Column<bool>,
        type_name: Column<ByteArray>,
        encoding: Column<ByteArray>,
        elements: Column<i64>,
        bytes: Column<i64>,
        memory: Column<i64>,
        expire_at_ms: Column<i64>,
        idle_s: Column<i64>,
        freq: Column<i32>,
        slot: Column<i32>,
        prefix: Text,
        pattern: Text,
    }

    impl Columns {
        pub(super) fn new() -> Columns {
            Columns {
                rows: 0,
                files: Repeated::default(),
                file: Column::default(),
                db: Column::default(),
                key: Text::default(),
                key_hex: Column::default(),
                type_name: Column::default(),
                encoding: Column::default(),
                elements: Column::default(),
                bytes: Column::default(),
                memory: Column::default(),
                expire_at_ms: Column::optional(),
                idle_s: Column::optional(),
                freq: Column::optional(),
                slot: Column::default(),
                prefix: Text::optional(),
                pattern: Text::default(),
            }
        }

        pub(super) fn push(&mut self, r: &Resolved<'_>) {
            let k = r.row;
            self.file.push(self.files.get(r.file));
            self.db.push(clamp(k.db));
            self.key.push(Some(&r.key));
            self.key_hex.push(r.key_hex);
            self.type_name.push(name(k.type_name));
            self.encoding.push(name(k.encoding));
            self.elements.push(clamp(k.elements));
            self.bytes.push(clamp(k.bytes));
            self.memory.push(clamp(k.memory));
            self.expire_at_ms.push_opt(k.expire_at_ms);
            self.idle_s.push_opt(k.idle_s.map(clamp));
            self.freq.push_opt(k.freq.map(i32::from));
            self.slot.push(i32::from(k.slot));
            self.prefix.push(r.prefix.as_deref());
            self.pattern.push(Some(&r.pattern));
            self.rows += 1;
        }

        pub(super) fn rows(&self) -> usize {
            self.rows
        }

        /// Turns the text columns' buffered values into `ByteArray`s (on the worker
        /// that pushed them, where it runs in parallel).
        pub(super) fn seal(&mut self) {
            self.key.seal();
            self.prefix.seal();
            self.pattern.seal();
        }

        /// Encodes column `index` (schema order) into `writer`.
        fn write_column(
            &self,
            index: usize,
            writer: &mut ColumnWriter<'_>,
        ) -> Result<(), ParquetError> {
            match index {
                0 => self.file.write_to::<ByteArrayType>(writer),
                1 => self.db.write_to::<Int64Type>(writer),
                2 => self.key.sealed.write_to::<ByteArrayType>(writer),
                3 => self.key_hex.write_to::<BoolType>(writer),
                4 => self.type_name.write_to::<ByteArrayType>(writer),
                5 => self.encoding.write_to::<ByteArrayType>(writer),
                6 => self.elements.write_to::<Int64Type>(writer),
                7 => self.bytes.write_to::<Int64Type>(writer),
                8 => self.memory.write_to::<Int64Type>(writer),
                9 => self.expire_at_ms.write_to::<Int64Type>(writer),
                10 => self.idle_s.write_to::<Int64Type>(writer),
                11 => self.freq.write_to::<Int32Type>(writer),
                12 => self.slot.write_to::<Int32Type>(writer),
                13 => self.prefix.sealed.write_to::<ByteArrayType>(writer),
                _ => self.pattern.sealed.write_to::<ByteArrayType>(writer),
            }
        }
    }

    /// One column chunk of `chunks` (a row group's rows, in order) encoded on its
    /// own, ready to splice into the row group.
    fn encode_column(
        chunks: &[Columns],
        index: usize,
        descr: ColumnDescPtr,
        props: WriterPropertiesPtr,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let mut out = TrackedWrite::new(Vec::new());
        let close = {
            let pages = Box::new(SerializedPageWriter::new(&mut out));
            let mut writer = get_column_writer(descr, props, pages);
            for chunk in chunks {
                chunk.write_column(index, &mut writer)?;
            }
            writer.close()?
        };
        Ok((Bytes::from(out.into_inner()?), close))
    }

    /// Rows buffered as the workers' chunks (encoded from there: copying them into
    /// one set of columns first moved ~250 bytes a row), one row group per
    /// [`ROW_GROUP`] rows.
    pub(super) struct ParquetRows<W: Write + Send> {
        writer: SerializedFileWriter<W>,
        chunks: Vec<Columns>,
        /// Rows written one at a time ([`ParquetRows::write`]), after `chunks`.
        single: Columns,
    }

    impl<W: Write + Send> ParquetRows<W> {
        pub(super) fn new(out: W) -> Result<ParquetRows<W>, RowsError> {
            let schema = Arc::new(parse_message_type(SCHEMA)?);
            // `key` is unique per row and `expire_at_ms` nearly so (absolute
            // milliseconds): a dictionary never pays off. Min/max statistics
            // are kept for the numbers and `file` (row groups follow the files):
            // those of names (key, type, encoding, prefix, pattern) prune nothing,
            // as every row group has a spread of them, and cost two comparisons a
            // value.
            let key = ColumnPath::from("key");
            let mut props = WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_column_dictionary_enabled(key, false)
                .set_column_dictionary_enabled(ColumnPath::from("expire_at_ms"), false)
                .set_created_by(format!("rdbkit {}", env!("CARGO_PKG_VERSION")));
            for name in ["key", "type", "encoding", "prefix", "pattern"] {
                props = props
                    .set_column_statistics_enabled(ColumnPath::from(name), EnabledStatistics::None);
            }
            Ok(ParquetRows {
                writer: SerializedFileWriter::new(out, schema, Arc::new(props.build()))?,
                chunks: Vec::new(),
                single: Columns::new(),
            })
        }

        pub(super) fn write(&mut self, r: &Resolved<'_>) -> Result<(), RowsError> {
            self.single.push(r);
            self.flush_if_full()
        }

        /// Appends a worker's rows.
        pub(super) fn append(&mut self, rows: Columns) -> Result<(), RowsError> {
            self.take_single();
            self.chunks.push(rows);
            self.flush_if_full()
        }

        /// Moves the rows written one at a time into `chunks`, where they keep their
        /// order with rows appended after them.
        fn take_single(&mut self) {
            if self.single.rows() > 0 {
                let mut single = std::mem::replace(&mut self.single, Columns::new());
                single.seal();
                self.chunks.push(single);
            }
        }

        /// Rows buffered for the row group.
        fn rows(&self) -> usize {
            self.chunks.iter().map(Columns::rows).sum::<usize>() + self.single.rows()
        }

        fn flush_if_full(&mut self) -> Result<(), RowsError> {
            if self.rows() >= ROW_GROUP {
                self.flush_group()?;
            }
            Ok(())
        }

        fn flush_group(&mut self) -> Result<(), ParquetError> {
            self.take_single();
            if self.chunks.is_empty() {
                return Ok(());
            }
            let schema = self.writer.schema_descr();
            let props = self.writer.properties();
            let chunks = &self.chunks;
            let encoded = (0..schema.num_columns())
                .into_par_iter()
                .map(|i| encode_column(chunks, i, schema.column(i), props.clone()))
                .collect::<Result<Vec<_>, _>>()?;
            let mut group = self.writer.next_row_group()?;
            for (chunk, close) in encoded {
                group.append_column(&chunk, close)?;
            }
            group.close()?;
            self.chunks.clear();
            Ok(())
        }

        pub(super) fn finish(mut self) -> Result<W, RowsError> {
            self.flush_group()?;
            Ok(self.writer.into_inner()?)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut line = Vec::new();
        for field in ["plain", "a,b", "say \"hi\"", "two\nlines", ""] {
            csv_field(field.as_bytes(), &mut line);
            line.push(b'|');
        }
        assert_eq!(line, b"plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"||");
    }

    fn row<'r>(key: &'r [u8], prefix: Option<&'r [u8]>) -> KeyRow<'r> {
        KeyRow {
            file: 0,
            db: 3,
            key,
            type_name: "hash",
            encoding: "listpack",
            elements: 2,
            bytes: 30,
            memory: 96,
            expire_at_ms: Some(1_700_000_000_000),
            idle_s: None,
            freq: Some(5),
            slot: 1234,
            prefix,
            pattern: b"user:{id}",
        }
    }

    fn bytes(format: RowFormat, rows: &[KeyRow<'_>], redactor: Option<&Redactor>) -> Vec<u8> {
        let mut w = RowWriter::new(format, Vec::new(), redactor).unwrap();
        for r in rows {
            w.write("a,b.rdb", r).unwrap();
        }
        assert_eq!(w.rows(), rows.len() as u64);
        w.finish().unwrap()
    }

    fn written(format: RowFormat, rows: &[KeyRow<'_>], redactor: Option<&Redactor>) -> String {
        String::from_utf8(bytes(format, rows, redactor)).unwrap()
    }

    #[test]
    fn csv_and_jsonl_rows() {
        let rows = [row(b"user:1", Some(b"user:")), row(b"\xff\x00", None)];
        assert_eq!(
            written(RowFormat::Csv, &rows, None),
            "file,db,key,key_hex,type,encoding,elements,bytes,memory,expire_at_ms,idle_s,freq,slot,prefix,pattern\n\
             \"a,b.rdb\",3,user:1,false,hash,listpack,2,30,96,1700000000000,,5,1234,user:,user:{id}\n\
             \"a,b.rdb\",3,ff00,true,hash,listpack,2,30,96,1700000000000,,5,1234,,user:{id}\n"
        );
        assert_eq!(
            written(RowFormat::Jsonl, &rows[1..], None),
            "{\"file\":\"a,b.rdb\",\"db\":3,\"key\":\"ff00\",\"key_hex\":true,\"type\":\"hash\",\
             \"encoding\":\"listpack\",\"elements\":2,\"bytes\":30,\"memory\":96,\
             \"expire_at_ms\":1700000000000,\"idle_s\":null,\"freq\":5,\"slot\":1234,\
             \"prefix\":null,\"pattern\":\"user:{id}\"}\n"
        );
        let json = written(RowFormat::Jsonl, &[row(b"a\"\n\\", Some(b"a\""))], None);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["key"], "a\"\n\\");
        assert_eq!(v["prefix"], "a\"");
    }

    /// Every printable ASCII key, alone and around each byte that needs quoting or
    /// escaping: the lines written without a look (`plain`) are the ones the
    /// quoting and escaping code writes.
    #[test]
    fn plain_keys_are_written_as_quoting_and_escaping_would() {
        let mut keys: Vec<Vec<u8>> = (0x20u8..=0x7e).map(|b| vec![b'k', b, b'1']).collect();
        keys.extend([b"user:42:cart".to_vec(), b"a b".to_vec(), Vec::new()]);
        for key in &keys {
            let mut pattern = Vec::new();
            pattern::pattern_of(key, &mut pattern);
            let mut r = row(key, Some(key.get(..2).unwrap_or_default()));
            r.pattern = &pattern;
            let fast = Resolved::new("f.rdb", &r, None);
            let mut slow = Resolved::new("f.rdb", &r, None);
            slow.plain = false;
            for json in [false, true] {
                let file = file_field(json, "f.rdb");
                let (mut a, mut b) = (Vec::new(), Vec::new());
                delimited_line(json, &file, &fast, &mut a);
                delimited_line(json, &file, &slow, &mut b);
                assert_eq!(
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b),
                    "{key:?}"
                );
            }
        }
        let plain_count = keys.iter().filter(|k| plain(k)).count();
        assert_eq!(
            plain_count,
            keys.len() - 3,
            "all but `,` `\"` `\\` are plain"
        );
    }

    /// Short numbers pushed a digit at a time read as `itoa` writes them.
    #[test]
    fn numbers_are_written_as_itoa_writes_them() {
        let mut line = Vec::new();
        for v in (0u64..120_000).chain([999_999, u64::MAX]) {
            line.clear();
            number(&mut line, v);
            assert_eq!(line, itoa::Buffer::new().format(v).as_bytes());
        }
        for v in [-1i64, -99_999, 0, 99_999, 1_700_000_000_000] {
            line.clear();
            number(&mut line, v);
            assert_eq!(line, v.to_string().as_bytes());
        }
    }

    #[test]
    fn redacted_rows_hide_the_names() {
        let r = Redactor::new();
        let csv = written(RowFormat::Csv, &[row(b"user:1", Some(b"user:"))], Some(&r));
        assert!(!csv.contains("user"), "{csv}");
        assert!(csv.contains(&r.key(b"user:1")));
        assert!(csv.contains(":{id}"));
    }

    /// `write_rows` formats rows on the workers a chunk at a time (and encodes
    /// Parquet columns there): over many windows and chunks its output must be the
    /// row-by-row writer's, byte for byte.
    #[test]
    fn parallel_lines_equal_row_by_row_lines() {
        let data = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/redis-7.4.1.rdb"
        ))
        .unwrap();
        let files = [FileInput {
            name: "a,b.rdb",
            data: &data,
            mtime_ms: None,
        }];
        let options = InventoryOptions {
            batch_keys: 7,
            ..InventoryOptions::default()
        };
        let redactor = Redactor::new();
        let formats = [
            (RowFormat::Csv, None),
            (RowFormat::Jsonl, None),
            (RowFormat::Csv, Some(&redactor)),
            #[cfg(feature = "parquet")]
            (RowFormat::Parquet, None),
        ];
        for (format, redactor) in formats {
            let (rows, parallel) =
                write_rows(&files, &options, format, redactor, Vec::new(), &|_| {}).unwrap();
            let mut one = RowWriter::new(format, Vec::new(), redactor).unwrap();
            key_rows(&files, &options, &|_| {}, &mut |row| {
                one.write("a,b.rdb", row)
            })
            .unwrap();
            assert!(rows > 100, "{rows} rows: too few for several windows");
            assert_eq!(rows, one.rows());
            assert_eq!(parallel, one.finish().unwrap(), "{format:?}");
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn parquet_has_a_footer() {
        let out = bytes(RowFormat::Parquet, &[row(b"user:1", None)], None);
        assert!(out.starts_with(b"PAR1") && out.ends_with(b"PAR1"));
    }
}
