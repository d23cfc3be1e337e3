//! Builds seed corpora for the fuzz targets from real RDB files.
//!
//! Usage: `cargo run --release --example seeds -- <corpus-dir> <file.rdb>...`
//! (normally through `seed-corpus.sh`). Writes, named by a CRC-64 of their bytes so
//! reruns deduplicate:
//!
//! - `records/`: each whole file, plus one small file per sampled key (the file's
//!   header, that key's record, `EOF` and a CRC-64 trailer);
//! - `value/`: family byte (0 Redis, 1 Valkey) + type byte + value bytes;
//! - `dump_payload/`: the key's DUMP payload with a zero CRC (accepted as "not
//!   computed", so mutations are not all stopped by the checksum);
//! - `containers/`: selector byte (0 listpack, 1 ziplist, 2 intset, 3 zipmap) + the
//!   container blob (LZF blobs decompressed; quicklist nodes included).
//!
//! At most `PER_TYPE` keys of each value type are sampled per file, and values
//! larger than `MAX_SEED` bytes are skipped, to keep the corpora small and fast.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rdb_parser::reader::{Cursor, RdbStr};
use rdb_parser::{
    crc::crc64, DumpPayload, Family, KeyRecord, ParseOptions, Rdb, Record, ValueType,
};

const PER_TYPE: usize = 8;
const MAX_SEED: usize = 64 * 1024;

struct Out {
    dir: PathBuf,
    written: HashMap<&'static str, usize>,
}

impl Out {
    fn put(&mut self, target: &'static str, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.dir.join(target);
        fs::create_dir_all(&dir)?;
        // Not the plain CRC-64: a file ending in its own CRC-64 trailer always has
        // the same CRC (the residue), so the length is mixed in after it.
        let name = crc64(crc64(0, bytes), &(bytes.len() as u64).to_le_bytes());
        let path = dir.join(format!("{name:016x}"));
        if !path.exists() {
            fs::write(path, bytes)?;
            *self.written.entry(target).or_default() += 1;
        }
        Ok(())
    }
}

/// The container blobs inside a value: (selector, bytes).
fn containers(key: &KeyRecord<'_>) -> Vec<(u8, Vec<u8>)> {
    use ValueType as T;
    let mut out = Vec::new();
    let mut cur = Cursor::new(key.raw, 0);
    let blob = |s: RdbStr<'_>| s.to_bytes().ok().map(|b| b.into_owned());
    let single = match key.value_type {
        T::HashZipmap => Some(3),
        T::ListZiplist | T::ZSetZiplist | T::HashZiplist => Some(1),
        T::SetIntset => Some(2),
        T::HashListpack | T::ZSetListpack | T::SetListpack | T::HashListpackExPreGa => Some(0),
        T::HashListpackEx => {
            let _ = cur.skip(8, "min expiry");
            Some(0)
        }
        _ => None,
    };
    if let Some(sel) = single {
        if let Some(b) = cur.read_string("blob").ok().and_then(blob) {
            out.push((sel, b));
        }
    } else if matches!(key.value_type, T::ListQuicklist | T::ListQuicklist2) {
        let v2 = key.value_type == T::ListQuicklist2;
        let n = cur.read_count(1, "nodes").unwrap_or(0);
        for _ in 0..n.min(4) {
            // Quicklist 2 nodes: container 1 = plain string, 2 = packed listpack.
            let packed = if v2 {
                cur.read_len("container").ok() == Some(2)
            } else {
                true
            };
            let Some(b) = cur.read_string("node").ok().and_then(blob) else {
                break;
            };
            if packed {
                out.push((if v2 { 0 } else { 1 }, b));
            }
        }
    }
    out
}

fn mini_file(data: &[u8], rdb: &Rdb<'_>, key: &KeyRecord<'_>) -> Option<Vec<u8>> {
    let end = key.value_offset as usize + key.raw.len();
    let mut f = data.get(..9)?.to_vec();
    f.extend_from_slice(data.get(key.offset as usize..end)?);
    f.push(0xff);
    if rdb.header().has_checksum() {
        let crc = crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
    }
    Some(f)
}

fn seed_file(out: &mut Out, path: &Path) -> std::io::Result<()> {
    let data = fs::read(path)?;
    out.put("records", &data)?;
    let Ok(rdb) = Rdb::with_options(
        &data,
        ParseOptions {
            verify_checksum: false,
        },
    ) else {
        return Ok(());
    };
    let (family_byte, payload_version) = match rdb.header().family {
        Family::Redis => (0u8, 11u16),
        Family::Valkey => (1u8, 80u16),
    };
    let mut per_type: HashMap<ValueType, usize> = HashMap::new();
    for record in rdb.records() {
        let Ok(record) = record else { break };
        let Record::Key(key) = record else { continue };
        if key.raw.len() > MAX_SEED {
            continue;
        }
        let seen = per_type.entry(key.value_type).or_default();
        if *seen >= PER_TYPE {
            continue;
        }
        *seen += 1;
        if let Some(f) = mini_file(&data, &rdb, &key) {
            out.put("records", &f)?;
        }
        let mut v = vec![family_byte, key.value_type.byte()];
        v.extend_from_slice(key.raw);
        out.put("value", &v)?;
        let mut p = key.dump_payload(payload_version);
        let n = p.len();
        p[n - 8..].fill(0);
        debug_assert!(DumpPayload::parse(&p).is_ok());
        out.put("dump_payload", &p)?;
        for (sel, blob) in containers(&key) {
            if blob.len() <= MAX_SEED {
                let mut c = vec![sel];
                c.extend_from_slice(&blob);
                out.put("containers", &c)?;
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: seeds <corpus-dir> <file.rdb>...");
        return ExitCode::from(2);
    };
    let mut out = Out {
        dir: PathBuf::from(dir),
        written: HashMap::new(),
    };
    let mut files = 0;
    for path in args {
        let path = PathBuf::from(path);
        if let Err(e) = seed_file(&mut out, &path) {
            eprintln!("{}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        files += 1;
    }
    let mut counts: Vec<_> = out.written.iter().collect();
    counts.sort();
    eprintln!("seeds: {files} input files; new seeds written: {counts:?}");
    ExitCode::SUCCESS
}
