//! The streaming framer against the slice framer: the same records, offsets, `EOF`
//! facts and errors for every file of the conformance corpus, read through buffers of
//! 1, 7 and 64 bytes (records spanning refills) and through a reader that returns a few
//! bytes per call, whole and truncated or damaged.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::io::Read;
use std::path::PathBuf;

use rdb_parser::crc::crc64;
use rdb_parser::stream::{RdbStream, StreamError, StreamOptions};
use rdb_parser::{Error, ParseOptions, Rdb, Record};

/// One record as comparable text: its debug form, and for keys the exact value bytes.
fn describe(record: &Record<'_>) -> String {
    match record {
        Record::Key(k) => format!(
            "{record:?} db={} raw={}:{:016x} at {} value at {}",
            k.db,
            k.raw.len(),
            crc64(0, k.raw),
            k.offset,
            k.value_offset
        ),
        other => format!("{other:?}"),
    }
}

fn slice_walk(data: &[u8]) -> (Vec<String>, Option<Error>) {
    let rdb = match Rdb::with_options(data, ParseOptions::default()) {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut out = Vec::new();
    for record in rdb.records() {
        match record {
            Ok(r) => out.push(describe(&r)),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// A reader that returns at most `step` bytes per call, like a pipe under load.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn stream_walk(data: &[u8], buffer_size: usize, step: usize) -> (Vec<String>, Option<Error>) {
    let options = StreamOptions {
        buffer_size,
        ..StreamOptions::default()
    };
    let parse = |e: StreamError| match e {
        StreamError::Parse(e) => e,
        other => panic!("an I/O error from an in-memory reader: {other}"),
    };
    let mut stream = match RdbStream::new(Trickle { data, step }, options) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(parse(e))),
    };
    let mut out = Vec::new();
    loop {
        match stream.next_chunk() {
            Ok(Some(chunk)) => {
                for record in chunk.records() {
                    out.push(describe(&record.expect("a framed chunk walks again")));
                }
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(parse(e))),
        }
    }
}

/// The same walk through the owned chunks, with the records seen by the callback.
fn owned_walk(data: &[u8], buffer_size: usize) -> (Vec<String>, Vec<String>, Option<Error>) {
    let options = StreamOptions {
        buffer_size,
        ..StreamOptions::default()
    };
    let mut stream = match RdbStream::new(data, options) {
        Ok(s) => s,
        Err(StreamError::Parse(e)) => return (Vec::new(), Vec::new(), Some(e)),
        Err(e) => panic!("{e}"),
    };
    let mut seen = Vec::new();
    let mut out = Vec::new();
    loop {
        match stream.next_owned_chunk(&mut |r| seen.push(describe(r))) {
            Ok(Some(chunk)) => {
                for record in chunk.as_chunk().records() {
                    out.push(describe(&record.unwrap()));
                }
            }
            Ok(None) => return (out, seen, None),
            Err(StreamError::Parse(e)) => return (out, seen, Some(e)),
            Err(e) => panic!("{e}"),
        }
    }
}

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus::versions_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "corpus has {} files", files.len());
    files
}

fn assert_same(name: &str, data: &[u8]) {
    let expected = slice_walk(data);
    for (buffer, step) in [(1, 1), (7, 3), (64, 64), (64, 5), (1 << 20, 4096)] {
        let got = stream_walk(data, buffer, step);
        assert_eq!(
            got.1, expected.1,
            "{name}: error with buffer {buffer}, reads of {step}"
        );
        assert_eq!(
            got.0, expected.0,
            "{name}: records with buffer {buffer}, reads of {step}"
        );
    }
    let (records, seen, err) = owned_walk(data, 7);
    assert_eq!(err, expected.1, "{name}: owned chunks' error");
    assert_eq!(records, expected.0, "{name}: owned chunks' records");
    assert_eq!(seen, expected.0, "{name}: records seen while framing");
}

#[test]
fn every_corpus_file_frames_the_same() {
    let mut keys = 0;
    for path in corpus_files() {
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let (records, _) = slice_walk(&data);
        keys += records.iter().filter(|r| r.starts_with("Key(")).count();
        assert_same(&name, &data);
    }
    assert!(keys > 1000, "only {keys} keys in the corpus");
}

#[test]
fn truncated_and_damaged_files_fail_the_same() {
    let mut failures = 0;
    for path in corpus_files() {
        let data = std::fs::read(&path).unwrap();
        let name = path.display().to_string();
        let len = data.len();
        let mut cuts: Vec<usize> = vec![0, 5, 9, 10, len / 3, len / 2, len - 9, len - 8, len - 1];
        cuts.retain(|&c| c < len);
        for cut in cuts {
            let cut_data = &data[..cut];
            assert_same(&format!("{name} cut at {cut}"), cut_data);
            failures += usize::from(slice_walk(cut_data).1.is_some());
        }
        for at in [9, 20, len / 2, len - 10, len - 3] {
            if at >= len {
                continue;
            }
            let mut damaged = data.clone();
            damaged[at] ^= 0x5a;
            assert_same(&format!("{name} byte {at} flipped"), &damaged);
            failures += usize::from(slice_walk(&damaged).1.is_some());
        }
    }
    assert!(
        failures > 100,
        "only {failures} of the damaged inputs failed"
    );
}

#[test]
fn non_rdb_inputs_fail_like_the_header_check() {
    let inputs: [&[u8]; 6] = [
        b"",
        b"REDIS00",
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
        b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
        b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
        b"REDIS0099\xff",
    ];
    for data in inputs {
        let expected = slice_walk(data).1;
        assert!(expected.is_some());
        assert_eq!(stream_walk(data, 1, 1).1, expected, "{data:?}");
    }
}

#[test]
fn a_record_larger_than_the_limit_is_refused_at_its_offset() {
    // One string key whose value (100 kB) exceeds a 4 KiB record limit.
    let mut file = b"REDIS0009\xfe\x00\x00".to_vec();
    rdb_parser::write::write_string(&mut file, b"big");
    rdb_parser::write::write_string(&mut file, &vec![b'x'; 100_000]);
    file.push(0xff);
    let crc = crc64(0, &file);
    file.extend_from_slice(&crc.to_le_bytes());
    assert_same("big value", &file);
    let options = StreamOptions {
        buffer_size: 64,
        max_record_len: 4096,
        ..StreamOptions::default()
    };
    let mut stream = RdbStream::new(&file[..], options).unwrap();
    let mut err = None;
    loop {
        match stream.next_chunk() {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    match err {
        Some(StreamError::Parse(e)) => {
            assert_eq!(e.kind(), rdb_parser::ErrorKind::LimitExceeded);
            assert_eq!(e.offset(), 11, "the key record starts after SELECTDB");
        }
        other => panic!("expected a limit error, got {other:?}"),
    }
}

#[test]
fn trailing_bytes_after_the_trailer_are_counted() {
    let path = corpus_files()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("7."))
        .unwrap();
    let mut data = std::fs::read(&path).unwrap();
    data.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let (records, err) = stream_walk(&data, 64, 7);
    assert_eq!(err, None);
    let last = records.last().unwrap();
    assert!(last.contains("trailing_bytes: 14"), "{last}");
    assert_eq!(records, slice_walk(&data).0);
}
