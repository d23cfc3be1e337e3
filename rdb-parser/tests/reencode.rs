#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Re-encoding round trips: every value of the version fixtures and of the peer
//! corpus, re-encoded for older targets, decodes (with rdb-parser) to the same
//! content digest as the original, in a type the target reads, framed exactly (a
//! DUMP payload of it validates); plus seeded random listpack values around every
//! encoding boundary (ziplist `prevlen` 254, string length 63/64/16383/16384, every
//! integer width).
//!
//! Fixtures: `fixtures/versions.tar.xz` (see `fixtures/corpus.rs`), plus the peers
//! corpus when it is there.

#[path = "../../fixtures/corpus.rs"]
mod corpus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdb_parser::digest::{digest_value, ValueDigest};
use rdb_parser::reencode::{
    readable, reencode, Dropped, FieldTtlPolicy, Policy, ReencodeError, Reencoded,
};
use rdb_parser::value::{self, listpack, RawEntry};
use rdb_parser::write::{write_len, write_string};
use rdb_parser::{DumpPayload, Family, ParseOptions, Rdb, Record, ValueType};

fn rdb_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rdb_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rdb") {
            out.push(p);
        }
    }
}

fn digest(family: Family, ty: u8, body: &[u8]) -> ValueDigest {
    let mut raw = vec![ty];
    raw.extend_from_slice(body);
    digest_value(value::decode(family, &raw, 0).expect("decode")).expect("digest")
}

/// Checks one re-encoding: readable by the target, exactly framed, same content.
fn check(
    ty: ValueType,
    family: Family,
    raw: &[u8],
    out: &Reencoded,
    target_family: Family,
    target: u16,
    what: &str,
) {
    assert!(
        readable(out.value_type, target_family, target),
        "{what}: {:?} not readable by RDB {target}",
        out.value_type
    );
    let payload = DumpPayload::build(out.value_type.byte(), &out.body, target);
    let parsed = DumpPayload::parse(&payload).expect("payload");
    parsed
        .validate()
        .unwrap_or_else(|e| panic!("{what}: re-encoded payload invalid: {e}"));
    let before = digest(family, ty.byte(), raw);
    let after = digest(
        if target >= 80 {
            Family::Valkey
        } else {
            Family::Redis
        },
        out.value_type.byte(),
        &out.body,
    );
    assert_eq!(
        (before.logical, before.content, before.elements),
        (after.logical, after.content, after.elements),
        "{what}: {ty:?} -> {:?} changed the content",
        out.value_type
    );
    if !ty.has_field_ttls() {
        assert_eq!(before.field_ttls, after.field_ttls, "{what}");
    } else {
        assert_eq!(after.field_ttls, 0, "{what}: TTLs left in the output");
    }
}

const TARGETS: [(Family, u16); 6] = [
    (Family::Redis, 6),
    (Family::Redis, 8),
    (Family::Redis, 9),
    (Family::Redis, 10),
    (Family::Redis, 11),
    (Family::Valkey, 11),
];

#[test]
fn corpus_values_reencode_to_equal_content() {
    let mut files = Vec::new();
    rdb_files(&corpus::versions_dir(), &mut files);
    let peers = corpus::peers_dir();
    if let Some(peers) = &peers {
        rdb_files(peers, &mut files);
    }
    files.sort();
    let policy = Policy {
        field_ttls: FieldTtlPolicy::Drop,
        now_ms: 0,
        max_intset_entries: 512,
    };
    let mut counts: BTreeMap<(u8, u8), u64> = BTreeMap::new();
    let mut dropped = Dropped::default();
    let mut files_used = 0;
    for path in &files {
        let data = std::fs::read(path).expect("read");
        let opts = ParseOptions {
            verify_checksum: false,
        };
        let Ok(rdb) = Rdb::with_options(&data, opts) else {
            continue;
        };
        // Only values that decode cleanly (the corpus holds deliberately broken ones).
        let keys: Vec<_> = rdb
            .records()
            .map_while(Result::ok)
            .filter_map(|r| match r {
                Record::Key(k) => Some(k),
                _ => None,
            })
            .filter(|k| {
                k.value().and_then(|v| digest_value(v).map(|_| ())).is_ok()
                    && k.value_type.logical() != rdb_parser::LogicalType::Module
            })
            .collect();
        files_used += 1;
        for k in &keys {
            for (tf, tv) in TARGETS {
                if readable(k.value_type, tf, tv) {
                    continue;
                }
                let what = format!("{} key {:?} -> RDB {tv}", path.display(), k.key);
                match reencode(k.value_type, k.raw, tf, tv, &policy) {
                    Ok(out) => {
                        check(k.value_type, k.family(), k.raw, &out, tf, tv, &what);
                        dropped.add(&out.dropped);
                        *counts
                            .entry((k.value_type.byte(), out.value_type.byte()))
                            .or_default() += 1;
                    }
                    Err(ReencodeError::Unsupported(why)) => {
                        assert!(
                            k.value_type.logical() == rdb_parser::LogicalType::Stream && tv < 9,
                            "{what}: {why}"
                        );
                    }
                    Err(e) => panic!("{what}: {e}"),
                }
            }
        }
    }
    eprintln!("{files_used} files; conversions (from, to) -> count: {counts:?}; {dropped:?}");
    for pair in [
        (16, 13),
        (17, 12),
        (18, 14),
        (18, 1),
        (20, 2),
        (19, 15),
        (21, 15),
        (21, 19),
        (5, 3),
        (25, 16),
        (25, 13),
        (24, 4),
        (14, 1),
    ]
    .into_iter()
    // The 7.4 release-candidate hash types are only in peer files.
    .chain(
        peers
            .is_some()
            .then_some([(22, 4), (23, 13)])
            .into_iter()
            .flatten(),
    ) {
        assert!(
            counts.get(&pair).copied().unwrap_or(0) > 0,
            "no {pair:?} conversion seen"
        );
    }
    assert!(dropped.field_ttls > 0 && dropped.stream_metadata && dropped.active_times > 0);
}

#[test]
fn field_ttls_fail_by_default_and_expired_fields_are_left_out() {
    // A listpack hash with TTLs (type 25): a=1 (TTL 5000), b=2 (no TTL), c=3 (TTL 100).
    let lp = listpack::encode(&[
        RawEntry::Bytes(b"a"),
        RawEntry::Int(1),
        RawEntry::Int(5000),
        RawEntry::Bytes(b"b"),
        RawEntry::Int(2),
        RawEntry::Int(0),
        RawEntry::Bytes(b"c"),
        RawEntry::Int(3),
        RawEntry::Int(100),
    ]);
    let mut body = 100i64.to_le_bytes().to_vec();
    write_string(&mut body, &lp);
    let mut policy = Policy {
        now_ms: 1000,
        ..Policy::default()
    };
    match reencode(ValueType::HashListpackEx, &body, Family::Redis, 9, &policy) {
        Err(e @ ReencodeError::FieldTtls { fields: 1, .. }) => {
            assert!(e.to_string().contains("--hash-field-ttl drop"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    policy.field_ttls = FieldTtlPolicy::Drop;
    let out = reencode(ValueType::HashListpackEx, &body, Family::Redis, 9, &policy).unwrap();
    assert_eq!(out.value_type, ValueType::HashZiplist);
    assert_eq!((out.dropped.field_ttls, out.dropped.expired_fields), (1, 1));
    let mut raw = vec![out.value_type.byte()];
    raw.extend_from_slice(&out.body);
    let value::Value::Hash(fields) = value::decode(Family::Redis, &raw, 0).unwrap() else {
        panic!()
    };
    let got: Vec<(Vec<u8>, Vec<u8>)> = fields
        .map(|f| {
            let f = f.unwrap();
            (f.field.to_bytes().to_vec(), f.value.to_bytes().to_vec())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), b"2".to_vec())
        ]
    );
    // Every TTL already past: nothing is lost, so even the fail policy re-encodes.
    policy.field_ttls = FieldTtlPolicy::Fail;
    policy.now_ms = 10_000;
    let out = reencode(ValueType::HashListpackEx, &body, Family::Redis, 10, &policy).unwrap();
    assert_eq!(
        (out.value_type, out.dropped.expired_fields),
        (ValueType::HashListpack, 2)
    );
    // Streams cannot go below RDB 9; module values never re-encode.
    assert!(matches!(
        reencode(
            ValueType::StreamListpacks2,
            b"\x00",
            Family::Redis,
            8,
            &policy
        ),
        Err(ReencodeError::Unsupported(_))
    ));
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A random element: integers of every width, strings at the length boundaries.
fn element(rng: &mut Rng, unique: u64) -> Vec<u8> {
    let lens = [
        0usize, 1, 20, 63, 64, 250, 251, 252, 253, 254, 255, 300, 4095, 4096, 16383, 16384, 70000,
    ];
    match rng.below(4) {
        0 => {
            let ints = [
                0i64,
                12,
                13,
                -1,
                127,
                128,
                -128,
                4095,
                -4096,
                32767,
                -32768,
                8388607,
                -8388608,
                2147483647,
                -2147483648,
                i64::MAX,
                i64::MIN,
            ];
            let i = ints[rng.below(ints.len() as u64) as usize];
            format!("{}", i.wrapping_add(unique as i64 * 1_000_003)).into_bytes()
        }
        1 => format!("{}", rng.next() as i64).into_bytes(),
        _ => {
            let len = lens[rng.below(lens.len() as u64) as usize];
            let mut s = format!("u{unique}-").into_bytes();
            s.resize(len.max(s.len()), b'a' + (rng.below(26) as u8));
            s
        }
    }
}

fn entry(s: &[u8]) -> RawEntry<'_> {
    // Listpack writers store canonical integers as integers.
    match std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
    {
        Some(i) if i.to_string().as_bytes() == s => RawEntry::Int(i),
        _ => RawEntry::Bytes(s),
    }
}

#[test]
fn random_listpack_values_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let policy = Policy::default();
    for round in 0..300 {
        let n = rng.below(if round % 10 == 0 { 600 } else { 40 }) + 1;
        let elems: Vec<Vec<u8>> = (0..n).map(|i| element(&mut rng, i)).collect();
        let entries: Vec<RawEntry<'_>> = elems.iter().map(|e| entry(e)).collect();
        let lp = listpack::encode(&entries);
        let mut blob = Vec::new();
        write_string(&mut blob, &lp);
        // Hash: pairs (field = element, value = another element).
        let pairs: Vec<RawEntry<'_>> = entries
            .iter()
            .flat_map(|e| [*e, entries[(rng.below(n)) as usize]])
            .collect();
        let mut hash = Vec::new();
        write_string(&mut hash, &listpack::encode(&pairs));
        // Zset: member, score (ints or decimal text).
        let scores: Vec<Vec<u8>> = (0..n)
            .map(|_| match rng.below(3) {
                0 => format!("{}", rng.next() as i32).into_bytes(),
                1 => {
                    rdb_parser::reencode::format_score(f64::from_bits(rng.next() >> 2)).into_bytes()
                }
                _ => b"0.5".to_vec(),
            })
            .collect();
        let zentries: Vec<RawEntry<'_>> = entries
            .iter()
            .zip(&scores)
            .flat_map(|(m, s)| [*m, entry(s)])
            .collect();
        let mut zset = Vec::new();
        write_string(&mut zset, &listpack::encode(&zentries));
        // Quicklist2: a PACKED node, a PLAIN node, another PACKED node.
        let mut ql = Vec::new();
        write_len(&mut ql, 3);
        write_len(&mut ql, 2);
        write_string(&mut ql, &lp);
        write_len(&mut ql, 1);
        write_string(&mut ql, &elems[0]);
        write_len(&mut ql, 2);
        write_string(&mut ql, &listpack::encode(&entries[..entries.len() / 2]));
        for (ty, body) in [
            (ValueType::SetListpack, &blob),
            (ValueType::HashListpack, &hash),
            (ValueType::ZSetListpack, &zset),
            (ValueType::ListQuicklist2, &ql),
        ] {
            for target in [6u16, 9, 10] {
                if readable(ty, Family::Redis, target) {
                    continue;
                }
                let what = format!("round {round} {ty:?} -> {target}");
                let out = reencode(ty, body, Family::Redis, target, &policy)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                check(ty, Family::Redis, body, &out, Family::Redis, target, &what);
            }
        }
    }
}

#[test]
fn integer_sets_pick_intset_within_the_limit() {
    let ints: Vec<RawEntry<'_>> = [5i64, -3, 70000, i64::MIN].map(RawEntry::Int).to_vec();
    let mut body = Vec::new();
    write_string(&mut body, &listpack::encode(&ints));
    let mut policy = Policy::default();
    let out = reencode(ValueType::SetListpack, &body, Family::Redis, 10, &policy).unwrap();
    assert_eq!(out.value_type, ValueType::SetIntset);
    policy.max_intset_entries = 3;
    let out = reencode(ValueType::SetListpack, &body, Family::Redis, 10, &policy).unwrap();
    assert_eq!(out.value_type, ValueType::Set);
    // "007" is not a canonical integer: plain set.
    let mut body = Vec::new();
    write_string(
        &mut body,
        &listpack::encode(&[RawEntry::Int(1), RawEntry::Bytes(b"007")]),
    );
    let out = reencode(
        ValueType::SetListpack,
        &body,
        Family::Redis,
        10,
        &Policy::default(),
    )
    .unwrap();
    assert_eq!(out.value_type, ValueType::Set);
    // Duplicates are refused.
    let mut body = Vec::new();
    write_string(
        &mut body,
        &listpack::encode(&[RawEntry::Int(1), RawEntry::Bytes(b"1")]),
    );
    assert!(matches!(
        reencode(
            ValueType::SetListpack,
            &body,
            Family::Redis,
            10,
            &Policy::default()
        ),
        Err(ReencodeError::Parse(_))
    ));
}
