//! `rdbkit check`: validate every record, every value and the checksum, like
//! `redis-check-rdb`, and print a summary.
//!
//! Every file is checked, even after a bad one. Exit status: 0 every file is a valid
//! snapshot; 1 some file was read and is not a valid snapshot (corrupt, truncated,
//! or not RDB at all: compressed, an AOF, an error page, empty); 2 some file could
//! not be read (missing, a directory, unreadable), which wins over 1.
//!
//! `--format json` prints one `rdb_parser::inventory::check::CheckDocument` on stdout
//! whatever the outcome (its rustdoc gives the schema).

use std::fmt::Write as _;
use std::process::ExitCode;

use rdb_parser::aof::count_commands;
use rdb_parser::inventory::check::{
    check_inputs, checksum_status, CheckDocument, CheckOutcome as Outcome, FileCheck, ValidFile,
};
use rdb_parser::inventory::{Input, Source};
use rdb_parser::stream::StreamError;
use rdb_parser::{AuxInfo, ParseOptions, Rdb};

use crate::input::{self, NotSnapshot, Opened};
use crate::output::Format;
use crate::progress::Progress;

/// Checks every file, prints the results and returns the exit status (see the
/// module docs).
pub fn run(files: &[String], options: ParseOptions, quiet: bool, format: Format) -> ExitCode {
    let mut results = Vec::with_capacity(files.len());
    let mut status = 0u8;
    for path in files {
        let outcome = check_path(path, options, quiet);
        status = status.max(outcome.severity());
        if format == Format::Text {
            // Results as they come: a run over many shard files shows progress.
            match &outcome {
                Outcome::Valid(v) => {
                    if crate::output::print(&summary(path, v)).is_err() {
                        return ExitCode::from(2);
                    }
                }
                Outcome::Corrupt { message, .. } | Outcome::Unreadable(message) => {
                    eprintln!("rdbkit: {message}");
                }
            }
        }
        results.push((path, outcome));
    }
    if format == Format::Json {
        let doc = CheckDocument::new(results.iter().map(|(p, o)| (p.as_str(), o)));
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = crate::output::print(&format!("{text}\n")) {
            eprintln!("rdbkit: {e:#}");
            return ExitCode::from(2);
        }
    }
    ExitCode::from(status)
}

fn check_path(path: &str, options: ParseOptions, quiet: bool) -> Outcome {
    let mut opened = match input::open_source(path) {
        Ok(d) => d,
        Err(e) => {
            return match e.downcast_ref::<NotSnapshot>() {
                Some(n) => Outcome::Corrupt {
                    message: n.to_string(),
                    offset: 0,
                    input_kind: n.kind.map(|k| k.name()),
                },
                None => Outcome::Unreadable(format!("{e:#}")),
            }
        }
    };
    match check_one(path, &mut opened, options, quiet) {
        Ok(v) => Outcome::Valid(Box::new(v)),
        Err(StreamError::Parse(e)) => Outcome::Corrupt {
            message: format!("{path}: {e}"),
            offset: e.offset(),
            input_kind: match e.kind() {
                rdb_parser::ErrorKind::NotRdb(k) => Some(k.name()),
                _ => None,
            },
        },
        Err(e) => Outcome::Unreadable(format!("{path}: {e}")),
    }
}

fn check_one(
    path: &str,
    opened: &mut Opened,
    options: ParseOptions,
    quiet: bool,
) -> Result<ValidFile, StreamError> {
    let mut file = [Input {
        name: path,
        source: opened.source(options)?,
        mtime_ms: None,
    }];
    let (header, aux, mapped) = match &mut file[0].source {
        Source::Bytes(data) => {
            let rdb = Rdb::with_options(data, options)?;
            (rdb.header(), AuxInfo::read(&rdb)?, Some(*data))
        }
        Source::Stream(stream) => (stream.header(), stream.aux()?, None),
    };
    let len = mapped.map_or(0, |d| d.len() as u64);
    let progress = std::sync::Mutex::new(Progress::new(&format!("checking {path}"), len, quiet));
    let result = check_inputs(&mut file, options, &|pos| {
        if let Ok(mut p) = progress.lock() {
            p.update(pos);
        }
    });
    if let Ok(mut p) = progress.lock() {
        p.finish();
    }
    let report = result?.pop().unwrap_or_default();
    // A stream's length is known once its end is read.
    let bytes = match report.eof {
        Some(e) if len == 0 => e.input_len(header),
        _ => len,
    };
    let tail_commands = match (mapped, report.eof) {
        (Some(data), Some(e)) if e.trailing_bytes > 0 => {
            let tail = data
                .get(data.len() - e.trailing_bytes as usize..)
                .unwrap_or(&[]);
            count_commands(tail).ok().map(|c| c.commands)
        }
        _ => None,
    };
    Ok(ValidFile::new(header, aux, bytes, report, tail_commands))
}

/// The checksum's state as a sentence.
fn checksum(c: &FileCheck) -> String {
    match checksum_status(c.eof.as_ref()) {
        "ok" => format!(
            "ok ({:016x})",
            c.eof.and_then(|e| e.stored_checksum).unwrap_or(0)
        ),
        "disabled" => "disabled by the writer (zero trailer)".to_string(),
        "not-verified" => "not verified (--no-crc)".to_string(),
        _ => "none (RDB version < 5)".to_string(),
    }
}

fn summary(path: &str, v: &ValidFile) -> String {
    let c = &v.report;
    let mut s = String::new();
    let server = match (&v.valkey_ver, &v.redis_ver) {
        (Some(ver), _) => format!("valkey {ver}"),
        (None, Some(ver)) => format!("redis {ver}"),
        _ => "server version not recorded".to_string(),
    };
    let _ = writeln!(s, "{path}: {} ({server}), {} bytes", v.magic, v.bytes);
    let _ = writeln!(s, "  keys: {} ({} elements checked)", c.keys(), c.elements);
    for (db, (keys, expires)) in &c.dbs {
        let _ = writeln!(s, "  db {db}: {keys} keys, {expires} with expiry");
    }
    if !c.types.is_empty() {
        let list: Vec<String> = c.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        let _ = writeln!(s, "  types: {}", list.join(", "));
    }
    if c.functions + c.module_aux > 0 {
        let _ = writeln!(
            s,
            "  function libraries: {}, module aux records: {}",
            c.functions, c.module_aux
        );
    }
    if c.skipped_opcodes > 0 {
        let _ = writeln!(
            s,
            "  skipped: {} Redis Enterprise opcodes (safe to ignore)",
            c.skipped_opcodes
        );
    }
    let _ = writeln!(s, "  checksum: {}", checksum(c));
    if let Some(e) = c.eof {
        match v.tail_commands {
            Some(n) if n > 0 => {
                let _ = writeln!(
                    s,
                    "  {} bytes after the checksum: an AOF tail of {n} commands, NOT included \
                     in the snapshot (to include them, replay them into the server after \
                     restoring: `tail -c {} {path} | redis-cli --pipe`)",
                    e.trailing_bytes, e.trailing_bytes
                );
            }
            _ if e.trailing_bytes > 0 => {
                let _ = writeln!(
                    s,
                    "  {} bytes after the checksum (AOF tail or padding)",
                    e.trailing_bytes
                );
            }
            _ => {}
        }
    }
    let _ = writeln!(s, "  RDB looks OK");
    s
}
