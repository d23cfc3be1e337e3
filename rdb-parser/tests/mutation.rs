#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Bounded, deterministic mutation testing against real snapshots.
//!
//! For each fixture, mutants are made from windows of consecutive records (the
//! file's header, a run of its records cut at record boundaries, `EOF` and a CRC
//! trailer) and, a few, from the whole file: random byte flips, truncations,
//! hostile big-endian lengths (`0x80` + `u32::MAX`, `0x81` + 2^62, ...) written at
//! random offsets or at a value's first byte, and spliced ranges. Each mutant is
//! framed with CRC verification off (so mutants reach value decoding), every key is
//! validated and the file is exported to a sink; every mutant must end in `Ok` or
//! `Err`. Windows keep a mutant small, so a few hundred per fixture run in a few
//! seconds in a debug build while still covering every record type of the file.
//!
//! Memory: on Unix the test re-runs itself (`sh -c 'ulimit -v ...; exec test-binary'`)
//! with a 2 GiB address-space limit, so an unbounded allocation aborts the child
//! (which the parent reports with the last mutant, saved to disk) instead of going
//! unnoticed on a large machine. `RDBKIT_MUTATION_NO_LIMIT=1` runs it in-process.
//!
//! Reproduce a failure: the report names the fixture, the mutant index and its
//! seed, and the mutant's bytes are saved under `CARGO_TARGET_TMPDIR`. More
//! mutants: `RDBKIT_MUTANTS=5000 cargo test -p rdb-parser --test mutation`.
//!
//! Fixtures: `fixtures/versions.tar.xz` (see `fixtures/corpus.rs`); the two peer
//! files only when the peers corpus is there.

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rdb_parser::value::listpack::Listpack;
use rdb_parser::value::ziplist::Ziplist;
use rdb_parser::{export, value, Family, ParseOptions, Rdb, Record};

const FIXTURES: &[&str] = &[
    "versions/redis-7.4.1.rdb",
    "versions/redis-2.4.18.rdb",
    "versions/redis-6.2.14.rdb",
    "versions/valkey-8.0.1.rdb",
    "peers/HDT3213+rdb/cases/valkey_hash2_with_hfe.rdb",
    "peers/leonchen83+redis-rdb-cli/src/test/resources/rct/all.rdb",
];

/// Window mutants per fixture (`RDBKIT_MUTANTS` overrides).
const MUTANTS_PER_FIXTURE: usize = 500;
/// Of those, every `WHOLE_FILE_EVERY`-th mutates the whole file instead of a window.
const WHOLE_FILE_EVERY: usize = 50;
/// Target size of a window of records.
const WINDOW: usize = 32 * 1024;
/// Address-space limit of the re-executed child.
const AS_LIMIT_KIB: u64 = 2 * 1024 * 1024;
const CHILD_ENV: &str = "RDBKIT_MUTATION_CHILD";

/// A fixture's bytes; `None` for a `peers/` file when the peers corpus is not there.
fn load(rel: &str) -> Option<Vec<u8>> {
    let path = match rel.split_once('/') {
        Some(("versions", rest)) => corpus::versions_dir().join(rest),
        Some(("peers", rest)) => corpus::peers_dir()?.join(rest),
        _ => panic!("fixture {rel}: not under versions/ or peers/"),
    };
    let data =
        std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} missing ({e})", path.display()));
    Some(data)
}

/// xorshift64* seeded through splitmix64 (so nearby seeds give unrelated streams).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Hostile length encodings (RDB lengths are big-endian after the `0x80`/`0x81`
/// marker), LZF headers with huge claims, and little-endian maxima for container
/// headers (ziplist/listpack total bytes, intset length).
const HOSTILE: &[&[u8]] = &[
    &[0x80, 0xff, 0xff, 0xff, 0xff],
    &[0x80, 0x7f, 0xff, 0xff, 0xff],
    &[0x81, 0x40, 0, 0, 0, 0, 0, 0, 0],
    &[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    &[0x81, 0, 0, 0, 0x01, 0, 0, 0, 0],
    &[0xc3, 0x05, 0x80, 0xff, 0xff, 0xff, 0xff],
    &[
        0xc3, 0x81, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff,
    ],
    &[0xff, 0xff, 0xff, 0xff],
    &[0xff, 0xff, 0xff, 0x7f],
    &[0xf0, 0xff, 0xff, 0xff, 0xff],
    &[0xfe, 0xff, 0xff, 0xff, 0xff],
];

/// A parsed-once view of a fixture: its record boundaries and value offsets.
struct Fixture {
    data: Vec<u8>,
    /// Start offsets of each record before `EOF`, then the offset of `EOF`.
    bounds: Vec<usize>,
    /// `value_offset` of every key (where a value's first length sits).
    values: Vec<usize>,
    has_checksum: bool,
}

impl Fixture {
    fn new(name: &'static str) -> Option<Fixture> {
        let data = load(name)?;
        let rdb = Rdb::parse(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        let has_checksum = rdb.header().has_checksum();
        let mut bounds = Vec::new();
        let mut values = Vec::new();
        let mut records = rdb.records();
        loop {
            let at = records.offset() as usize;
            match records.next() {
                Some(Ok(Record::Eof(_))) => {
                    bounds.push(at);
                    break;
                }
                Some(Ok(record)) => {
                    if let Record::Key(k) = &record {
                        values.push(k.value_offset as usize);
                    }
                    bounds.push(at);
                }
                Some(Err(e)) => panic!("{name}: the unmutated fixture fails: {e}"),
                None => panic!("{name}: no EOF"),
            }
        }
        assert!(bounds.len() >= 2, "{name}: no records");
        Some(Fixture {
            data,
            bounds,
            values,
            has_checksum,
        })
    }

    /// Header + records `[i, j)` + `EOF` (+ CRC), and the shift of offsets into it.
    fn window(&self, rng: &mut Rng) -> (Vec<u8>, isize) {
        let records = self.bounds.len() - 1;
        let i = rng.below(records);
        let mut j = i + 1;
        while j < records && self.bounds[j + 1] - self.bounds[i] <= WINDOW {
            j += 1;
        }
        let (start, end) = (self.bounds[i], self.bounds[j]);
        let mut out = Vec::with_capacity(end - start + 18);
        out.extend_from_slice(&self.data[..9]);
        out.extend_from_slice(&self.data[start..end]);
        out.push(0xff);
        if self.has_checksum {
            let crc = rdb_parser::crc::crc64(0, &out);
            out.extend_from_slice(&crc.to_le_bytes());
        }
        (out, 9 - start as isize)
    }
}

/// Applies one random mutation; returns its description.
fn mutate(buf: &mut Vec<u8>, rng: &mut Rng, value_offsets: &[usize]) -> String {
    let len = buf.len();
    match rng.below(4) {
        0 => {
            let n = 1 + rng.below(8);
            for _ in 0..n {
                let at = rng.below(len);
                buf[at] ^= 1 + rng.below(255) as u8;
            }
            format!("{n} byte flips")
        }
        1 => {
            let at = 9 + rng.below(len.saturating_sub(9).max(1));
            buf.truncate(at);
            format!("truncated at {at}")
        }
        2 => {
            let h = HOSTILE[rng.below(HOSTILE.len())];
            // Half at random, half at (or just after) a value's first byte.
            let at = if !value_offsets.is_empty() && rng.below(2) == 0 {
                value_offsets[rng.below(value_offsets.len())] + rng.below(6)
            } else {
                rng.below(len)
            };
            let at = at.min(len.saturating_sub(1));
            let n = h.len().min(len - at);
            buf[at..at + n].copy_from_slice(&h[..n]);
            format!("hostile {h:02x?} at {at}")
        }
        _ => {
            let n = 1 + rng.below(len.min(4096));
            let from = rng.below(len - n + 1);
            let to = rng.below(len - n + 1);
            buf.copy_within(from..from + n, to);
            format!("spliced {n} bytes from {from} to {to}")
        }
    }
}

/// Frames, validates and exports `data`; only panics matter. Returns whether
/// everything was accepted (for the summary: how many mutants went unnoticed).
fn exercise(data: &[u8]) -> bool {
    let Ok(rdb) = Rdb::with_options(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    ) else {
        return false;
    };
    let mut ok = true;
    for record in rdb.records() {
        match record {
            Ok(Record::Key(key)) => ok &= key.validate().is_ok(),
            Ok(_) => {}
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    ok & export::write_jsonl(&rdb, &mut io::sink()).is_ok()
}

fn mutants_per_fixture() -> usize {
    std::env::var("RDBKIT_MUTANTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(MUTANTS_PER_FIXTURE)
}

fn save(name: &str, bytes: &[u8]) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::write(&path, bytes);
    path
}

/// Runs every mutant; returns one line per panicking mutant.
fn run_mutants() -> Vec<String> {
    let per_fixture = mutants_per_fixture();
    let in_child = std::env::var_os(CHILD_ENV).is_some();
    let mut failures = Vec::new();
    let total = Instant::now();
    for (fi, &name) in FIXTURES.iter().enumerate() {
        let started = Instant::now();
        // Seeds keep their fixture index, so a skipped peer file changes no other mutant.
        let Some(fx) = Fixture::new(name) else {
            continue;
        };
        let short = name.rsplit('/').next().unwrap_or(name);
        let mut accepted = 0;
        for m in 0..per_fixture {
            let seed = ((fi as u64) << 32) | m as u64;
            let mut rng = Rng::new(seed);
            let whole = m % WHOLE_FILE_EVERY == WHOLE_FILE_EVERY - 1;
            let (mut buf, shift) = if whole {
                (fx.data.clone(), 0)
            } else {
                fx.window(&mut rng)
            };
            let values: Vec<usize> = fx
                .values
                .iter()
                .filter_map(|&v| usize::try_from(v as isize + shift).ok())
                .filter(|&v| v < buf.len())
                .collect();
            let what = mutate(&mut buf, &mut rng, &values);
            if in_child {
                // If the child dies (an allocation over the limit aborts), the
                // parent reports the last mutant from these files.
                save("mutation-current.bin", &buf);
                save(
                    "mutation-current.txt",
                    format!("{short} mutant #{m} (seed {seed:#x}): {what}").as_bytes(),
                );
            }
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| exercise(&buf)));
            if let Ok(true) = outcome {
                accepted += 1;
            }
            if let Err(p) = outcome {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                let path = save(&format!("mutation-{short}-{m}.bin"), &buf);
                failures.push(format!(
                    "{short} mutant #{m} (seed {seed:#x}, {what}): panicked: {msg}; input saved to {}",
                    path.display()
                ));
            }
        }
        eprintln!(
            "mutation: {short}: {per_fixture} mutants ({} records, {accepted} mutants \
             accepted as valid, the rest rejected) in {:.2?}",
            fx.bounds.len() - 1,
            started.elapsed()
        );
    }
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmPeak"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    eprintln!("mutation: all fixtures in {:.2?} {peak}", total.elapsed());
    failures
}

#[test]
fn mutants_end_in_ok_or_err() {
    if std::env::var_os(CHILD_ENV).is_some()
        || std::env::var_os("RDBKIT_MUTATION_NO_LIMIT").is_some()
        || !cfg!(unix)
    {
        // A thread of its own: a panic in the harness itself (not in a mutant)
        // is reported as a failure of this test, not a crash of the runner.
        let failures = std::thread::spawn(run_mutants)
            .join()
            .expect("mutation loop");
        assert!(
            failures.is_empty(),
            "{} mutant(s) panicked:\n{}",
            failures.len(),
            failures.join("\n")
        );
        return;
    }
    // Re-run this test alone under an address-space limit.
    let exe = std::env::current_exe().expect("test binary path");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {AS_LIMIT_KIB} && exec \"$0\" \"$@\""))
        .arg(&exe)
        .args([
            "mutants_end_in_ok_or_err",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("re-run the test binary under ulimit -v");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprint!("{stderr}");
    if !out.status.success() {
        let last = std::fs::read_to_string(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("mutation-current.txt"),
        )
        .unwrap_or_default();
        panic!(
            "mutation child failed ({}) under a {} MiB address-space limit; last mutant: {last} \
             (bytes in {}/mutation-current.bin)\n--- stdout ---\n{stdout}",
            out.status,
            AS_LIMIT_KIB / 1024,
            env!("CARGO_TARGET_TMPDIR"),
        );
    }
    assert!(
        stdout.contains("1 passed"),
        "the child ran no test:\n{stdout}"
    );
}

/// Hand-made hostile inputs must fail fast, without allocating what they claim.
#[test]
fn hostile_lengths_fail_fast() {
    fn quick<T: std::fmt::Debug>(what: &str, f: impl FnOnce() -> rdb_parser::Result<T>) {
        let t = Instant::now();
        let r = f();
        let took = t.elapsed();
        match &r {
            Err(e) => eprintln!("hostile: {what}: {e} ({took:?})"),
            Ok(v) => panic!("{what}: expected an error, got Ok({v:?})"),
        }
        assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
    }
    fn file(version: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS".to_vec();
        f.extend_from_slice(version);
        f.extend_from_slice(body);
        f.push(0xff);
        let crc = rdb_parser::crc::crc64(0, &f);
        f.extend_from_slice(&crc.to_le_bytes());
        f
    }
    fn validate_all(data: &[u8]) -> rdb_parser::Result<u64> {
        let rdb = Rdb::with_options(
            data,
            ParseOptions {
                verify_checksum: false,
            },
        )?;
        let mut n = 0;
        for record in rdb.records() {
            if let Record::Key(k) = record? {
                n += k.validate()?;
            }
        }
        Ok(n)
    }
    const COUNT_2_62: [u8; 9] = [0x81, 0x40, 0, 0, 0, 0, 0, 0, 0];

    // A 2^62 element count, for every collection type that starts with a count.
    for ty in [1u8, 2, 3, 4, 5, 14, 18, 24] {
        let mut body = vec![ty, 0x01, b'k'];
        if ty == 24 {
            body.extend_from_slice(&[0; 8]); // minimum field expiry
        }
        body.extend_from_slice(&COUNT_2_62);
        body.extend_from_slice(b"\x01a\x01b");
        quick(&format!("type {ty} with 2^62 elements (file)"), || {
            validate_all(&file(b"0012", &body))
        });
        quick(&format!("type {ty} with 2^62 elements (value)"), || {
            value::decode(Family::Redis, &[&[ty][..], &body[3..]].concat(), 0)
                .and_then(|v| v.validate())
        });
    }
    quick("Valkey hash2 with 2^62 fields", || {
        let v = [&[22u8][..], &COUNT_2_62, b"\x01a\x01b"].concat();
        value::decode(Family::Valkey, &v, 0).and_then(|v| v.validate())
    });

    // An LZF string claiming 4 GiB (and 2^62 bytes) decompressed, as a value and as a key.
    for claim in [&[0x80, 0xff, 0xff, 0xff, 0xff][..], &COUNT_2_62[..]] {
        let lzf = [
            &[0xc3, 0x05][..],
            claim,
            &[0x04, b'h', b'e', b'l', b'l', b'o'],
        ]
        .concat();
        quick("LZF string claiming a huge length (value)", || {
            value::decode(Family::Redis, &[&[0u8][..], &lzf].concat(), 0).and_then(|v| v.validate())
        });
        quick("LZF string claiming a huge length (key)", || {
            validate_all(&file(b"0011", &[&[0u8][..], &lzf, b"\x01v"].concat()))
        });
        quick("LZF list element claiming a huge length", || {
            validate_all(&file(
                b"0006",
                &[&[1u8, 0x01, b'k', 0x01][..], &lzf].concat(),
            ))
        });
    }

    // A listpack whose one entry claims 4 GiB (32-bit string length 0xF0 + u32::MAX).
    let mut lp = vec![
        0, 0, 0, 0, 1, 0, 0xf0, 0xff, 0xff, 0xff, 0xff, b'x', b'y', 0x07, 0xff,
    ];
    let total = lp.len() as u32;
    lp[..4].copy_from_slice(&total.to_le_bytes());
    quick("listpack entry claiming 4 GiB", || {
        Listpack::new(&lp, 0)?.collect::<Result<Vec<_>, _>>()
    });
    for ty in [16u8, 17, 20] {
        let v = [&[ty, lp.len() as u8][..], &lp].concat();
        quick(&format!("type {ty} listpack entry claiming 4 GiB"), || {
            value::decode(Family::Redis, &v, 0).and_then(|v| v.validate())
        });
        let body = [&[ty, 0x01, b'k', lp.len() as u8][..], &lp].concat();
        quick("listpack entry claiming 4 GiB (file)", || {
            validate_all(&file(b"0011", &body))
        });
    }
    // A listpack header claiming 4 GiB of total bytes.
    let lp_total = [0xff, 0xff, 0xff, 0xff, 0x01, 0x00, 0x01, 0x61, 0x02, 0xff];
    quick("listpack total bytes 4 GiB", || {
        Listpack::new(&lp_total, 0)?.collect::<Result<Vec<_>, _>>()
    });

    // A ziplist entry claiming 4 GiB (encoding 0x80 + u32 BE).
    let mut zl = vec![0u8; 10];
    zl.extend_from_slice(&[0x00, 0x80, 0xff, 0xff, 0xff, 0xff, b'x', 0xff]);
    let zlbytes = zl.len() as u32;
    zl[..4].copy_from_slice(&zlbytes.to_le_bytes());
    zl[4..8].copy_from_slice(&10u32.to_le_bytes());
    zl[8..10].copy_from_slice(&1u16.to_le_bytes());
    quick("ziplist entry claiming 4 GiB", || {
        Ziplist::new(&zl, 0)?.collect::<Result<Vec<_>, _>>()
    });
    let v = [&[10u8, zl.len() as u8][..], &zl].concat();
    quick("type 10 ziplist entry claiming 4 GiB", || {
        value::decode(Family::Redis, &v, 0).and_then(|v| v.validate())
    });

    // An intset claiming u32::MAX members.
    let is = [
        &8u32.to_le_bytes()[..],
        &u32::MAX.to_le_bytes(),
        &1i64.to_le_bytes(),
    ]
    .concat();
    quick("intset claiming 2^32 members", || {
        value::decode(
            Family::Redis,
            &[&[11u8, is.len() as u8][..], &is].concat(),
            0,
        )
        .and_then(|v| v.validate())
    });
}
