//! `rdbkit keys`: one row per key (CSV, JSON Lines or Parquet), for spreadsheets,
//! DuckDB, pandas and Spark.
//!
//! Columns: `file, db, key, key_hex, type, encoding, elements, bytes, memory,
//! expire_at_ms, idle_s, freq, slot, prefix, pattern`. One rule for key names in
//! every format: `key` is the name when it is valid UTF-8; otherwise `key` is its
//! bytes in lowercase hex and `key_hex` is true. `prefix` and `pattern` are
//! descriptive and shown as UTF-8 with invalid bytes replaced (U+FFFD). Empty cells
//! (CSV), `null` (JSON) and Parquet nulls mean "not recorded" (`expire_at_ms`
//! without TTL, `idle_s`/`freq` when the server kept no LRU/LFU data, `prefix` when
//! the key has no separator).
//!
//! The output is written to `OUT.partial` and renamed to `OUT` only when every
//! file was read to its end and its CRC-64 trailer matched: a corrupt snapshot
//! leaves no output file.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use parquet::basic::Compression;
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;
use rdb_parser::inventory::rows::{key_rows, KeyRow};

use super::baseline::{which_file, ModelArgs, Opened};
use crate::progress::Progress;
use crate::redact::Redactor;

/// Arguments of `rdbkit keys`.
#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    /// Snapshot files; several files (one per shard) are one dataset.
    #[arg(required = true)]
    files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: RowFormat,
    /// Output file (written as OUT.partial, renamed when complete).
    #[arg(short, long, value_name = "OUT")]
    output: String,
    /// Replace key names by a keyed hash (random key per run, the same name gives the
    /// same token within the run); prefixes and patterns keep only their structure.
    #[arg(long)]
    redact: bool,
    #[command(flatten)]
    model: ModelArgs,
}

/// Row formats of `rdbkit keys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RowFormat {
    /// Comma-separated values (RFC 4180), with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet, typed columns, Snappy-compressed.
    Parquet,
}

/// Runs `keys`; exit 0 when every key was written, 2 otherwise.
pub fn run(args: &KeysArgs, quiet: bool) -> ExitCode {
    match keys(args, quiet) {
        Ok(n) => {
            if !quiet {
                eprintln!("rdbkit: {n} keys written to {}", args.output);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("rdbkit: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn keys(args: &KeysArgs, quiet: bool) -> Result<u64> {
    let opened = Opened::open(&args.files)?;
    let files = opened.files();
    let options = args.model.options();
    let redactor = args.redact.then(Redactor::new);
    let partial = format!("{}.partial", args.output);
    let out = File::create(&partial).with_context(|| format!("creating {partial}"))?;
    let mut writer: Box<dyn RowWriter> = match args.format {
        RowFormat::Csv => Box::new(Delimited::csv(out)?),
        RowFormat::Jsonl => Box::new(Delimited::jsonl(out)),
        RowFormat::Parquet => Box::new(Parquet::new(out)?),
    };
    let total: u64 = files.iter().map(|f| f.data.len() as u64).sum();
    let progress = RefCell::new(Progress::new("keys", total, quiet));
    let mut rows = 0u64;
    let result = key_rows(
        &files,
        &options,
        &|pos| {
            if let Ok(mut p) = progress.try_borrow_mut() {
                p.update(pos);
            }
        },
        &mut |row: &KeyRow<'_>| -> Result<()> {
            let name = files.get(row.file).map_or("", |f| f.name);
            writer.write(&Row::new(name, row, redactor.as_ref()))?;
            rows += 1;
            Ok(())
        },
    )
    .with_context(|| which_file(&args.files))
    .and_then(|()| writer.finish());
    progress.borrow_mut().finish();
    match result {
        Ok(()) => {
            std::fs::rename(&partial, &args.output)
                .with_context(|| format!("renaming {partial} to {}", args.output))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e.context(format!("no output written ({} removed)", partial)))
        }
    }
}

/// A row with its text columns resolved (key rule, redaction).
struct Row<'r> {
    file: &'r str,
    row: &'r KeyRow<'r>,
    key: String,
    key_hex: bool,
    prefix: Option<String>,
    pattern: String,
}

impl<'r> Row<'r> {
    fn new(file: &'r str, row: &'r KeyRow<'r>, redactor: Option<&Redactor>) -> Row<'r> {
        let (key, key_hex) = match (redactor, std::str::from_utf8(row.key)) {
            (Some(r), _) => (r.key(row.key), false),
            (None, Ok(s)) => (s.to_string(), false),
            (None, Err(_)) => (hex(row.key), true),
        };
        let text = |b: &[u8]| match redactor {
            Some(r) => r.structure(b),
            None => String::from_utf8_lossy(b).into_owned(),
        };
        Row {
            file,
            row,
            key,
            key_hex,
            prefix: row.prefix.map(text),
            pattern: text(row.pattern),
        }
    }
}

fn hex(b: &[u8]) -> String {
    use std::fmt::Write as _;
    b.iter()
        .fold(String::with_capacity(b.len() * 2), |mut s, x| {
            let _ = write!(s, "{x:02x}");
            s
        })
}

/// Where rows go.
trait RowWriter {
    fn write(&mut self, row: &Row<'_>) -> Result<()>;
    /// Flushes and closes; the output is complete after this.
    fn finish(&mut self) -> Result<()>;
}

/// Column names, in order, in every format.
const COLUMNS: [&str; 15] = [
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

/// CSV or JSON Lines.
struct Delimited {
    out: BufWriter<File>,
    json: bool,
    line: String,
}

impl Delimited {
    fn csv(out: File) -> Result<Delimited> {
        let mut out = BufWriter::with_capacity(1 << 20, out);
        writeln!(out, "{}", COLUMNS.join(",")).context("writing output")?;
        Ok(Delimited {
            out,
            json: false,
            line: String::new(),
        })
    }

    fn jsonl(out: File) -> Delimited {
        Delimited {
            out: BufWriter::with_capacity(1 << 20, out),
            json: true,
            line: String::new(),
        }
    }
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str, line: &mut String) {
    if s.contains([',', '"', '\n', '\r']) {
        line.push('"');
        line.push_str(&s.replace('"', "\"\""));
        line.push('"');
    } else {
        line.push_str(s);
    }
}

impl RowWriter for Delimited {
    fn write(&mut self, r: &Row<'_>) -> Result<()> {
        use std::fmt::Write as _;
        let k = r.row;
        let opt = |v: Option<String>| v.unwrap_or_default();
        self.line.clear();
        if self.json {
            let doc = serde_json::json!({
                "file": r.file, "db": k.db, "key": r.key, "key_hex": r.key_hex,
                "type": k.type_name, "encoding": k.encoding, "elements": k.elements,
                "bytes": k.bytes, "memory": k.memory, "expire_at_ms": k.expire_at_ms,
                "idle_s": k.idle_s, "freq": k.freq, "slot": k.slot,
                "prefix": r.prefix, "pattern": r.pattern,
            });
            self.line = doc.to_string();
        } else {
            let line = &mut self.line;
            csv_field(r.file, line);
            let _ = write!(line, ",{},", k.db);
            csv_field(&r.key, line);
            let _ = write!(
                line,
                ",{},{},{},{},{},{},{},{},{},{},",
                r.key_hex,
                k.type_name,
                k.encoding,
                k.elements,
                k.bytes,
                k.memory,
                opt(k.expire_at_ms.map(|v| v.to_string())),
                opt(k.idle_s.map(|v| v.to_string())),
                opt(k.freq.map(|v| v.to_string())),
                k.slot
            );
            if let Some(p) = &r.prefix {
                csv_field(p, line);
            }
            line.push(',');
            csv_field(&r.pattern, line);
        }
        self.line.push('\n');
        self.out
            .write_all(self.line.as_bytes())
            .context("writing output")
    }

    fn finish(&mut self) -> Result<()> {
        self.out.flush().context("writing output")?;
        self.out.get_ref().sync_all().context("writing output")
    }
}

/// Rows per Parquet row group (bounds the column buffers).
const ROW_GROUP: usize = 128 * 1024;

/// Distinct values [`Repeated`] keeps at most (file names, type and encoding names
/// are far fewer); past that a value gets its own allocation.
const REPEATED_MAX: usize = 64;

/// Values repeated on most rows (file, type, encoding) as one shared `ByteArray`
/// each: a clone bumps a reference count where a new one allocates on every row.
#[derive(Default)]
struct Repeated(Vec<(String, ByteArray)>);

impl Repeated {
    fn get(&mut self, s: &str) -> ByteArray {
        if let Some((_, b)) = self.0.iter().find(|(v, _)| v == s) {
            return b.clone();
        }
        let b = ByteArray::from(s.as_bytes().to_vec());
        if self.0.len() < REPEATED_MAX {
            self.0.push((s.to_string(), b.clone()));
        }
        b
    }
}

/// Parquet: rows buffered per column, one row group per [`ROW_GROUP`] rows.
struct Parquet {
    writer: Option<SerializedFileWriter<File>>,
    repeated: Repeated,
    file: Vec<ByteArray>,
    db: Vec<i64>,
    key: Vec<ByteArray>,
    key_hex: Vec<bool>,
    type_name: Vec<ByteArray>,
    encoding: Vec<ByteArray>,
    elements: Vec<i64>,
    bytes: Vec<i64>,
    memory: Vec<i64>,
    expire_at_ms: (Vec<i64>, Vec<i16>),
    idle_s: (Vec<i64>, Vec<i16>),
    freq: (Vec<i32>, Vec<i16>),
    slot: Vec<i32>,
    prefix: (Vec<ByteArray>, Vec<i16>),
    pattern: Vec<ByteArray>,
}

const PARQUET_SCHEMA: &str = "message keys {
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

/// An optional value into a column's values and definition levels.
fn push_opt<T>(col: &mut (Vec<T>, Vec<i16>), v: Option<T>) {
    match v {
        Some(v) => {
            col.0.push(v);
            col.1.push(1);
        }
        None => col.1.push(0),
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Parquet {
    fn new(out: File) -> Result<Parquet> {
        let schema = Arc::new(parse_message_type(PARQUET_SCHEMA).context("Parquet schema")?);
        // `key` is unique per row: a dictionary never pays off and min/max statistics
        // of key names prune nothing, while both cost a lookup or compare per row.
        let key = ColumnPath::from("key");
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_column_dictionary_enabled(key.clone(), false)
            .set_column_statistics_enabled(key, EnabledStatistics::None)
            .set_created_by(format!("rdbkit {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = SerializedFileWriter::new(out, schema, Arc::new(props))
            .context("starting Parquet output")?;
        Ok(Parquet {
            writer: Some(writer),
            repeated: Repeated::default(),
            file: Vec::new(),
            db: Vec::new(),
            key: Vec::new(),
            key_hex: Vec::new(),
            type_name: Vec::new(),
            encoding: Vec::new(),
            elements: Vec::new(),
            bytes: Vec::new(),
            memory: Vec::new(),
            expire_at_ms: Default::default(),
            idle_s: Default::default(),
            freq: Default::default(),
            slot: Vec::new(),
            prefix: Default::default(),
            pattern: Vec::new(),
        })
    }

    fn flush_group(&mut self) -> Result<()> {
        if self.db.is_empty() {
            return Ok(());
        }
        let Some(writer) = self.writer.as_mut() else {
            return Ok(());
        };
        let mut group = writer.next_row_group().context("writing Parquet")?;
        let mut index = 0;
        while let Some(mut col) = group.next_column().context("writing Parquet")? {
            let written = match index {
                0 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.file, None, None),
                1 => col.typed::<Int64Type>().write_batch(&self.db, None, None),
                2 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.key, None, None),
                3 => col
                    .typed::<BoolType>()
                    .write_batch(&self.key_hex, None, None),
                4 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.type_name, None, None),
                5 => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.encoding, None, None),
                6 => col
                    .typed::<Int64Type>()
                    .write_batch(&self.elements, None, None),
                7 => col
                    .typed::<Int64Type>()
                    .write_batch(&self.bytes, None, None),
                8 => col
                    .typed::<Int64Type>()
                    .write_batch(&self.memory, None, None),
                9 => col.typed::<Int64Type>().write_batch(
                    &self.expire_at_ms.0,
                    Some(&self.expire_at_ms.1),
                    None,
                ),
                10 => {
                    col.typed::<Int64Type>()
                        .write_batch(&self.idle_s.0, Some(&self.idle_s.1), None)
                }
                11 => col
                    .typed::<Int32Type>()
                    .write_batch(&self.freq.0, Some(&self.freq.1), None),
                12 => col.typed::<Int32Type>().write_batch(&self.slot, None, None),
                13 => col.typed::<ByteArrayType>().write_batch(
                    &self.prefix.0,
                    Some(&self.prefix.1),
                    None,
                ),
                _ => col
                    .typed::<ByteArrayType>()
                    .write_batch(&self.pattern, None, None),
            };
            written.context("writing Parquet")?;
            col.close().context("writing Parquet")?;
            index += 1;
        }
        group.close().context("writing Parquet")?;
        self.file.clear();
        self.db.clear();
        self.key.clear();
        self.key_hex.clear();
        self.type_name.clear();
        self.encoding.clear();
        self.elements.clear();
        self.bytes.clear();
        self.memory.clear();
        for c in [&mut self.expire_at_ms.0, &mut self.idle_s.0] {
            c.clear();
        }
        for c in [
            &mut self.expire_at_ms.1,
            &mut self.idle_s.1,
            &mut self.freq.1,
            &mut self.prefix.1,
        ] {
            c.clear();
        }
        self.freq.0.clear();
        self.prefix.0.clear();
        self.slot.clear();
        self.pattern.clear();
        Ok(())
    }
}

impl RowWriter for Parquet {
    fn write(&mut self, r: &Row<'_>) -> Result<()> {
        let k = r.row;
        let text = |s: &str| ByteArray::from(s.as_bytes().to_vec());
        self.file.push(self.repeated.get(r.file));
        self.db.push(clamp(k.db));
        self.key.push(text(&r.key));
        self.key_hex.push(r.key_hex);
        self.type_name.push(self.repeated.get(k.type_name));
        self.encoding.push(self.repeated.get(k.encoding));
        self.elements.push(clamp(k.elements));
        self.bytes.push(clamp(k.bytes));
        self.memory.push(clamp(k.memory));
        push_opt(&mut self.expire_at_ms, k.expire_at_ms);
        push_opt(&mut self.idle_s, k.idle_s.map(clamp));
        push_opt(&mut self.freq, k.freq.map(i32::from));
        self.slot.push(i32::from(k.slot));
        push_opt(&mut self.prefix, r.prefix.as_deref().map(text));
        self.pattern.push(text(&r.pattern));
        if self.db.len() >= ROW_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        self.flush_group()?;
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().context("finishing Parquet")?;
            file.sync_all().context("writing output")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        let mut line = String::new();
        for field in ["plain", "a,b", "say \"hi\"", "two\nlines", ""] {
            csv_field(field, &mut line);
            line.push('|');
        }
        assert_eq!(line, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"||");
        assert_eq!(hex(b"\xff\x00a"), "ff0061");
    }
}
