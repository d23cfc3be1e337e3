//! Hot paths of the parser: framing, full validation, length decoding, listpack and
//! ziplist walks, LZF, CRC-64, the memory model, and the hand-written cursor against nom
//! on the same length-prefixed strings.
//!
//! Inputs are generated deterministically at startup. Run:
//! `cargo bench -p rdb-parser --features inventory` (the memory-model group needs the
//! feature; without it the other groups run).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rdb_parser::reader::Cursor;
use rdb_parser::value::listpack::Listpack;
use rdb_parser::value::ziplist::Ziplist;
use rdb_parser::value::{listpack, ziplist, RawEntry};
use rdb_parser::write::{write_len, write_string};
use rdb_parser::{Rdb, Record};

/// A REDIS0011 file: `keys` keys, 70% strings, 30% listpack hashes of 8 fields.
fn synthetic_rdb(keys: usize) -> Vec<u8> {
    let mut f = b"REDIS0011".to_vec();
    f.extend_from_slice(&[0xfe, 0x00]);
    let fields: Vec<Vec<u8>> = (0..8).map(|i| format!("field:{i}").into_bytes()).collect();
    for i in 0..keys {
        if i % 10 < 7 {
            f.push(0);
            write_string(&mut f, format!("user:{i}:session").as_bytes());
            write_string(
                &mut f,
                format!("value-{i}-{}", "x".repeat(i % 40)).as_bytes(),
            );
        } else {
            f.push(16);
            write_string(&mut f, format!("hash:{i}").as_bytes());
            let vals: Vec<Vec<u8>> = (0..8).map(|j| format!("v{}", i * j).into_bytes()).collect();
            let mut entries = Vec::new();
            for (k, v) in fields.iter().zip(&vals) {
                entries.push(RawEntry::Bytes(k));
                entries.push(RawEntry::Bytes(v));
            }
            write_string(&mut f, &listpack::encode(&entries));
        }
    }
    f.push(0xff);
    let crc = rdb_parser::crc::crc64(0, &f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

fn framing(c: &mut Criterion) {
    let file = synthetic_rdb(200_000);
    let mut g = c.benchmark_group("records");
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function("frame (no checksum)", |b| {
        let rdb = Rdb::with_options(
            &file,
            rdb_parser::ParseOptions {
                verify_checksum: false,
            },
        )
        .unwrap();
        b.iter(|| {
            rdb.records()
                .filter(|r| matches!(r, Ok(Record::Key(_))))
                .count()
        })
    });
    g.bench_function("frame + checksum", |b| {
        let rdb = Rdb::parse(&file).unwrap();
        b.iter(|| {
            rdb.records()
                .filter(|r| matches!(r, Ok(Record::Key(_))))
                .count()
        })
    });
    g.bench_function("frame + validate every value", |b| {
        let rdb = Rdb::parse(&file).unwrap();
        b.iter(|| {
            let mut n = 0;
            for r in rdb.records() {
                if let Ok(Record::Key(k)) = r {
                    n += k.validate().unwrap();
                }
            }
            n
        })
    });
    g.finish();
}

fn lzf(c: &mut Criterion) {
    let text: Vec<u8> = (0..65536u32)
        .map(|i| b"the quick brown fox "[(i % 20) as usize] ^ ((i / 997) as u8 & 1))
        .collect();
    let compressed = lzf::compress(&text).unwrap();
    let mut g = c.benchmark_group("lzf 64 KiB");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("lzf crate decompress", |b| {
        b.iter(|| lzf::decompress(black_box(&compressed), text.len()).unwrap())
    });
    g.bench_function("rdb_parser::lzf::decompress_into", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            rdb_parser::lzf::decompress_into(black_box(&compressed), text.len(), &mut out).unwrap();
            out
        })
    });
    g.bench_function("rdb_parser::lzf::check (no output)", |b| {
        b.iter(|| rdb_parser::lzf::check(black_box(&compressed), text.len()))
    });
    g.finish();
}

fn crc(c: &mut Criterion) {
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 31) as u8).collect();
    let mut g = c.benchmark_group("crc64 1 MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("crc-fast Crc64Redis", |b| {
        b.iter(|| rdb_parser::crc::crc64(0, black_box(&data)))
    });
    g.finish();
}

/// The same loop (skip N length-prefixed strings) with the cursor and with nom.
fn cursor_vs_nom(c: &mut Criterion) {
    let mut buf = Vec::new();
    let n = 100_000;
    for i in 0..n {
        write_string(&mut buf, format!("element-{i}").as_bytes());
    }
    let mut g = c.benchmark_group("skip 100k strings");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("Cursor::read_string", |b| {
        b.iter(|| {
            let mut cur = Cursor::new(black_box(&buf), 0);
            let mut total = 0usize;
            for _ in 0..n {
                total += cur.read_string("s").unwrap().len();
            }
            total
        })
    });
    g.bench_function("nom combinators", |b| {
        b.iter(|| {
            let mut input: &[u8] = black_box(&buf);
            let mut total = 0usize;
            for _ in 0..n {
                let (rest, s) = nom_string(input).unwrap();
                total += s.len();
                input = rest;
            }
            total
        })
    });
    g.finish();
}

/// RDB length + raw string with nom (6/14/32-bit lengths; enough for this input).
fn nom_string(input: &[u8]) -> nom::IResult<&[u8], &[u8]> {
    use nom::number::complete::{be_u32, be_u8};
    let (input, first) = be_u8(input)?;
    let (input, len) = match first >> 6 {
        0 => (input, (first & 0x3f) as usize),
        1 => {
            let (input, second) = be_u8(input)?;
            (input, (((first & 0x3f) as usize) << 8) | second as usize)
        }
        _ => {
            let (input, l) = be_u32(input)?;
            (input, l as usize)
        }
    };
    nom::bytes::complete::take(len)(input)
}

/// 100k RDB lengths of every width (6-bit, 14-bit, 32-bit, 64-bit), in a fixed mix
/// that leans on the short forms, as real files do.
fn length_decoding(c: &mut Criterion) {
    let n = 100_000u64;
    let mut buf = Vec::new();
    for i in 0..n {
        let len = match i % 10 {
            0..=5 => i % 64,
            6..=8 => 64 + i % 16_000,
            _ if i % 20 == 9 => 1 << 20 | i,
            _ => 1 << 40 | i,
        };
        write_len(&mut buf, len);
    }
    let mut g = c.benchmark_group("lengths 100k");
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.bench_function("Cursor::read_len", |b| {
        b.iter(|| {
            let mut cur = Cursor::new(black_box(&buf), 0);
            let mut total = 0u64;
            for _ in 0..n {
                total = total.wrapping_add(cur.read_len("len").unwrap());
            }
            total
        })
    });
    g.finish();
}

/// Entries of a hash-like container: short strings, small and large integers and a few
/// longer strings, the mix listpack/ziplist hashes and zsets carry.
fn container_entries() -> Vec<Vec<u8>> {
    (0..4000u64)
        .map(|i| match i % 4 {
            0 => format!("field:{i}").into_bytes(),
            1 => (i * 7).to_string().into_bytes(),
            2 => (i * 1_000_003_001).to_string().into_bytes(),
            _ => format!("value-{i}-{}", "v".repeat((i % 50) as usize)).into_bytes(),
        })
        .collect()
}

/// Walks every entry of one 4000-entry listpack and one ziplist of the same content.
fn container_walks(c: &mut Criterion) {
    let entries = container_entries();
    let raw: Vec<RawEntry<'_>> = entries
        .iter()
        .map(|e| {
            match std::str::from_utf8(e)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            {
                Some(v) => RawEntry::Int(v),
                None => RawEntry::Bytes(e),
            }
        })
        .collect();
    let lp = listpack::encode(&raw);
    let zl = ziplist::encode(&raw);
    let mut g = c.benchmark_group("walk 4000 entries");
    g.throughput(Throughput::Elements(raw.len() as u64));
    g.bench_function("listpack", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for e in Listpack::new(black_box(&lp), 0).unwrap() {
                total += entry_weight(&e.unwrap());
            }
            total
        })
    });
    g.bench_function("ziplist", |b| {
        b.iter(|| {
            let mut total = 0usize;
            for e in Ziplist::new(black_box(&zl), 0).unwrap() {
                total += entry_weight(&e.unwrap());
            }
            total
        })
    });
    g.finish();
}

fn entry_weight(e: &RawEntry<'_>) -> usize {
    match e {
        RawEntry::Bytes(b) => b.len(),
        RawEntry::Int(v) => *v as usize & 7,
    }
}

/// The memory model over every key of the synthetic file (the per-key cost of
/// `rdbkit baseline`, without framing: records are framed once, outside the loop).
#[cfg(feature = "inventory")]
fn memory_model(c: &mut Criterion) {
    use rdb_parser::inventory::memory::MemoryModel;
    let file = synthetic_rdb(200_000);
    let rdb = Rdb::parse(&file).unwrap();
    let keys: Vec<_> = rdb
        .records()
        .filter_map(|r| match r.unwrap() {
            Record::Key(k) => Some(k),
            _ => None,
        })
        .collect();
    let model = MemoryModel::for_redis(7, 0);
    let mut g = c.benchmark_group("memory model 200k keys");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("MemoryModel::key", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for k in &keys {
                total += model.key(black_box(k)).unwrap().bytes;
            }
            total
        })
    });
    g.finish();
}

#[cfg(not(feature = "inventory"))]
fn memory_model(_: &mut Criterion) {}

criterion_group!(
    benches,
    framing,
    length_decoding,
    container_walks,
    lzf,
    crc,
    memory_model,
    cursor_vs_nom
);
criterion_main!(benches);
