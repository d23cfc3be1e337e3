//! `rdbkit export`: every key as JSON Lines, or (`--format resp`) as the `RESTORE`
//! commands a restore would send, for `redis-cli --pipe`.

use std::io::{BufWriter, Write};

use anyhow::{Context, Result};
use rdb_parser::export::{write_record, ExportError};
use rdb_parser::inventory::{BoxedStream, Source};
use rdb_parser::stream::{OwnedChunk, StreamError};
use rdb_parser::{ParseOptions, Rdb, Record};

use rdb_restore::export::{write_resp, RespExportOptions};

use crate::input;
use crate::progress::Progress;

/// Output formats of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object per key and per function library.
    Jsonl,
    /// `RESTORE key ttl payload ABSTTL ...` (and `FUNCTION RESTORE`) commands as RESP,
    /// for `redis-cli --pipe`; already expired keys are left out.
    Resp,
}

/// Exports `files` to stdout.
pub fn run(
    files: &[String],
    format: Format,
    options: ParseOptions,
    target_rdb_version: Option<u16>,
    quiet: bool,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    if format == Format::Resp {
        return export_resp(files, options, target_rdb_version, quiet, &mut out);
    }
    if target_rdb_version.is_some() {
        anyhow::bail!("--target-rdb-version applies to --format resp only");
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    for path in files {
        let mut opened = input::open_source(path)?;
        let rdb;
        let (framer, len) = match opened.source(options).with_context(|| path.clone())? {
            Source::Bytes(data) => {
                rdb = Rdb::with_options(data, options).with_context(|| path.clone())?;
                (Framer::Bytes(&rdb), data.len() as u64)
            }
            Source::Stream(stream) => (Framer::Stream(stream), 0),
        };
        let mut progress = Progress::new(&format!("exporting {path}"), len, quiet);
        export_jsonl(framer, workers, &mut out, &mut progress).with_context(|| path.clone())?;
        progress.finish();
    }
    out.flush().map_err(ExportError::Io)?;
    Ok(())
}

/// Where [`export_jsonl`] frames records: a file in memory, or a stream chunk by chunk.
enum Framer<'r, 'a> {
    Bytes(&'r Rdb<'a>),
    Stream(Box<BoxedStream<'a>>),
}

/// The records of one batch: framed in place, or a streamed chunk the worker walks.
enum BatchRecords<'a> {
    Framed(Vec<Record<'a>>),
    Chunk(OwnedChunk),
}

/// Records per batch, and raw bytes after which a batch closes early (big values).
const BATCH_RECORDS: usize = 512;
const BATCH_BYTES: u64 = 1 << 20;

/// Records framed in file order, handed to one formatter.
struct Batch<'a> {
    records: BatchRecords<'a>,
    /// File offset after the last record (for the progress line).
    end: u64,
    /// The framing error that ended the file here, reported after these records.
    error: Option<StreamError>,
}

/// JSON lines of one batch; `error` ends the export after `lines` are written.
struct Formatted {
    lines: Vec<u8>,
    end: u64,
    error: Option<anyhow::Error>,
}

/// JSON Lines on every core: one thread frames the records into batches, `workers`
/// threads format them (batch `i` goes to worker `i % workers`, so reading the workers'
/// results round-robin gives file order back), and this thread writes. Output and
/// errors are those of a record-by-record loop: every line before the first bad record.
fn export_jsonl<W: Write>(
    framer: Framer<'_, '_>,
    workers: usize,
    out: &mut W,
    progress: &mut Progress,
) -> Result<()> {
    use std::sync::mpsc::sync_channel;
    std::thread::scope(|s| {
        let mut to_workers = Vec::with_capacity(workers);
        let mut from_workers = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (batch_tx, batch_rx) = sync_channel::<Batch<'_>>(2);
            let (done_tx, done_rx) = sync_channel::<Formatted>(2);
            to_workers.push(batch_tx);
            from_workers.push(done_rx);
            s.spawn(move || {
                let mut capacity = 1 << 16;
                for batch in batch_rx {
                    let mut lines = Vec::with_capacity(capacity);
                    let mut error = batch.error.map(anyhow::Error::from);
                    let mut format = |record: &Record<'_>| {
                        let start = lines.len();
                        let result = write_record(record, &mut lines);
                        if result.is_err() {
                            // Only whole lines, as the record-by-record loop wrote.
                            lines.truncate(start);
                        }
                        result.map_err(anyhow::Error::from)
                    };
                    let failed = match &batch.records {
                        BatchRecords::Framed(records) => {
                            records.iter().find_map(|r| format(r).err())
                        }
                        BatchRecords::Chunk(chunk) => chunk.as_chunk().records().find_map(|r| {
                            r.map_err(anyhow::Error::from)
                                .and_then(|r| format(&r))
                                .err()
                        }),
                    };
                    if failed.is_some() {
                        error = failed;
                    }
                    capacity = capacity.max(lines.len());
                    let done = Formatted {
                        lines,
                        end: batch.end,
                        error,
                    };
                    // A closed channel: the writer stopped (an error); so do we.
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            });
        }
        s.spawn(move || {
            let rdb = match framer {
                Framer::Bytes(rdb) => rdb,
                Framer::Stream(mut stream) => {
                    let mut next = 0usize;
                    loop {
                        let (batch, last) = match stream.next_owned_chunk(&mut |_| {}) {
                            Ok(Some(chunk)) => {
                                let end = chunk.as_chunk().end();
                                let records = BatchRecords::Chunk(chunk);
                                (
                                    Batch {
                                        records,
                                        end,
                                        error: None,
                                    },
                                    false,
                                )
                            }
                            Ok(None) => return,
                            Err(e) => {
                                let records = BatchRecords::Framed(Vec::new());
                                let end = stream.offset();
                                (
                                    Batch {
                                        records,
                                        end,
                                        error: Some(e),
                                    },
                                    true,
                                )
                            }
                        };
                        if to_workers[next % workers].send(batch).is_err() || last {
                            return;
                        }
                        next += 1;
                    }
                }
            };
            let mut records = rdb.records();
            let mut next = 0usize;
            let mut batch = Vec::with_capacity(BATCH_RECORDS);
            let mut start = records.offset();
            loop {
                let (error, last) = match records.next() {
                    Some(Ok(record)) => {
                        batch.push(record);
                        if batch.len() < BATCH_RECORDS && records.offset() - start < BATCH_BYTES {
                            continue;
                        }
                        (None, false)
                    }
                    Some(Err(e)) => (Some(e), true),
                    None => (None, true),
                };
                let full = Batch {
                    records: BatchRecords::Framed(std::mem::replace(
                        &mut batch,
                        Vec::with_capacity(BATCH_RECORDS),
                    )),
                    end: records.offset(),
                    error: error.map(StreamError::from),
                };
                start = records.offset();
                if to_workers[next % workers].send(full).is_err() || last {
                    return;
                }
                next += 1;
            }
        });
        for n in 0.. {
            // A worker's channel closes once the framer is done and it has sent all.
            let Ok(done) = from_workers[n % workers].recv() else {
                return Ok(());
            };
            out.write_all(&done.lines).map_err(ExportError::Io)?;
            progress.update(done.end);
            if let Some(e) = done.error {
                return Err(e);
            }
        }
        Ok(())
    })
}

fn export_resp<W: Write>(
    files: &[String],
    options: ParseOptions,
    target_rdb_version: Option<u16>,
    quiet: bool,
    out: &mut W,
) -> Result<()> {
    let resp_options = RespExportOptions {
        footer_version: target_rdb_version,
        ..RespExportOptions::default()
    };
    for (i, path) in files.iter().enumerate() {
        let data = input::open(path)?;
        let rdb = Rdb::with_options(&data, options).with_context(|| path.clone())?;
        let summary = write_resp(&rdb, i, &resp_options, out).with_context(|| path.clone())?;
        if !quiet && (summary.expired > 0 || summary.unsupported > 0) {
            eprintln!(
                "rdbkit: {path}: {} keys and {} function libraries written; left out: {} expired, {} unreadable by the footer version",
                summary.keys, summary.functions, summary.expired, summary.unsupported
            );
            for e in &summary.errors {
                eprintln!(
                    "rdbkit:   {} {:?}: {}",
                    e.db.map_or("library".to_string(), |d| format!("db {d}")),
                    String::from_utf8_lossy(&e.key),
                    e.error
                );
            }
        }
    }
    out.flush().map_err(ExportError::Io)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rdb_parser::write::write_string;

    /// `n` string keys (every 7th value padded with NULs, every 1000th 300 KiB so that
    /// batches also close on size), no checksum.
    fn snapshot(n: usize, bad_at: Option<usize>) -> Vec<u8> {
        let mut f = b"REDIS0009".to_vec();
        for i in 0..n {
            if bad_at == Some(i) {
                // A list ziplist (type 10) the framer carries but the formatter refuses.
                f.push(10);
                write_string(&mut f, b"bad");
                write_string(&mut f, b"not a ziplist");
                continue;
            }
            f.push(0);
            write_string(&mut f, format!("key:{i}").as_bytes());
            let mut v = format!("value:{i}").into_bytes();
            if i % 7 == 0 {
                v.resize(v.len() + 20, 0);
            }
            if i % 1000 == 999 {
                v.resize(300 << 10, b'x');
            }
            write_string(&mut f, &v);
        }
        f.push(0xff);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn sequential(rdb: &Rdb<'_>) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        for record in rdb.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => return (out, Some(e.to_string())),
            };
            let mut line = Vec::new();
            match write_record(&record, &mut line) {
                Ok(_) => out.extend_from_slice(&line),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
        (out, None)
    }

    fn parallel(rdb: &Rdb<'_>, workers: usize) -> (Vec<u8>, Option<String>) {
        let mut out = Vec::new();
        let mut progress = Progress::new("test", 0, true);
        let r = export_jsonl(Framer::Bytes(rdb), workers, &mut out, &mut progress);
        (out, r.err().map(|e| e.to_string()))
    }

    #[test]
    fn parallel_export_keeps_file_order_and_stops_where_the_loop_stops() {
        let opts = ParseOptions {
            verify_checksum: false,
        };
        let good = snapshot(5000, None);
        let rdb = Rdb::with_options(&good, opts).unwrap();
        let want = sequential(&rdb);
        assert!(want.1.is_none());
        assert_eq!(want.0.iter().filter(|&&b| b == b'\n').count(), 5000);
        for workers in [1, 2, 3] {
            assert!(parallel(&rdb, workers) == want, "{workers} workers");
        }
        // Cut inside a value: every line before it, then the framing error.
        let cut = &good[..good.len() * 2 / 3];
        let rdb = Rdb::with_options(cut, opts).unwrap();
        let want = sequential(&rdb);
        assert!(want.1.is_some());
        for workers in [1, 2, 3] {
            assert!(
                parallel(&rdb, workers) == want,
                "{workers} workers, truncated"
            );
        }
    }
}
