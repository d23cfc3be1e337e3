#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The writer's property: random keyspaces in today's encodings, re-encoded for every
//! target version and written by `Writer`, parse back with the same keys, databases,
//! expiries and content digests (`digest.rs`), and a valid CRC-64 trailer.

use rdb_parser::digest::{digest_value, ValueDigest};
use rdb_parser::reencode::{reencode, Policy};
use rdb_parser::value::{listpack, RawEntry};
use rdb_parser::write::{write_len, write_string};
use rdb_parser::writer::{KeyEntry, Writer, WriterOptions};
use rdb_parser::{DumpPayload, Family, Header, Rdb, Record, ValueType};

/// xorshift64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A short text, an integer in text form, or a long repetitive string (LZF).
    fn bytes(&mut self) -> Vec<u8> {
        match self.below(4) {
            0 => (self.next() as i64 >> self.below(60))
                .to_string()
                .into_bytes(),
            1 => b"repeat-".repeat(self.below(20) as usize + 1),
            _ => (0..self.below(12))
                .map(|_| b'a' + self.below(26) as u8)
                .collect(),
        }
    }
    /// `n` distinct members.
    fn distinct(&mut self, n: usize) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        while out.len() < n {
            let mut b = self.bytes();
            b.extend_from_slice(format!(":{}", out.len()).as_bytes());
            out.push(b);
        }
        out
    }
}

fn entries(items: &[Vec<u8>]) -> Vec<RawEntry<'_>> {
    items.iter().map(|b| RawEntry::Bytes(b)).collect()
}

/// A random value in one of the encodings Redis 7.2 writes (or a plain one).
fn random_value(rng: &mut Rng) -> (ValueType, Vec<u8>) {
    let n = rng.below(6) as usize + 1;
    let mut body = Vec::new();
    let ty = match rng.below(9) {
        0 => {
            write_string(&mut body, &rng.bytes());
            ValueType::String
        }
        1 => {
            let items: Vec<Vec<u8>> = (0..n).map(|_| rng.bytes()).collect();
            write_len(&mut body, 1);
            write_len(&mut body, 2); // PACKED node
            write_string(&mut body, &listpack::encode(&entries(&items)));
            ValueType::ListQuicklist2
        }
        2 => {
            write_string(&mut body, &listpack::encode(&entries(&rng.distinct(n))));
            ValueType::SetListpack
        }
        3 => {
            let members = rng.distinct(n);
            write_len(&mut body, members.len() as u64);
            for m in &members {
                write_string(&mut body, m);
            }
            ValueType::Set
        }
        4 => {
            let mut items = Vec::new();
            for m in rng.distinct(n) {
                items.push(m);
                items.push((rng.below(1000) as i64 - 500).to_string().into_bytes());
            }
            write_string(&mut body, &listpack::encode(&entries(&items)));
            ValueType::ZSetListpack
        }
        5 => {
            let members = rng.distinct(n);
            write_len(&mut body, members.len() as u64);
            for m in &members {
                write_string(&mut body, m);
                let score = rng.below(10_000) as f64 / 8.0 - 100.0;
                body.extend_from_slice(&score.to_le_bytes());
            }
            ValueType::ZSet2
        }
        6 => {
            let mut items = Vec::new();
            for f in rng.distinct(n) {
                items.push(f);
                items.push(rng.bytes());
            }
            write_string(&mut body, &listpack::encode(&entries(&items)));
            ValueType::HashListpack
        }
        7 => {
            let fields = rng.distinct(n);
            write_len(&mut body, fields.len() as u64);
            for f in &fields {
                write_string(&mut body, f);
                write_string(&mut body, &rng.bytes());
            }
            ValueType::Hash
        }
        _ => {
            let items: Vec<Vec<u8>> = (0..n).map(|_| rng.bytes()).collect();
            write_len(&mut body, items.len() as u64);
            for i in &items {
                write_string(&mut body, i);
            }
            ValueType::List
        }
    };
    (ty, body)
}

fn digest(ty: ValueType, body: &[u8]) -> ValueDigest {
    let payload = DumpPayload::build(ty.byte(), body, 11);
    let parsed = DumpPayload::parse(&payload).unwrap();
    digest_value(parsed.value().unwrap()).unwrap()
}

struct Key {
    db: u64,
    name: Vec<u8>,
    expire_at_ms: Option<i64>,
    value_type: ValueType,
    body: Vec<u8>,
}

fn targets() -> Vec<Header> {
    let mut out: Vec<Header> = (2..=12)
        .map(|version| Header {
            family: Family::Redis,
            version,
        })
        .collect();
    out.push(Header {
        family: Family::Valkey,
        version: 80,
    });
    out
}

#[test]
fn random_keyspaces_round_trip_for_every_target_version() {
    for seed in 1..=12u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x1234_5678_9abc));
        let mut keys: Vec<Key> = Vec::new();
        for db in [0u64, 1, 7] {
            for i in 0..rng.below(40) + 1 {
                let (value_type, body) = random_value(&mut rng);
                let mut name = rng.bytes();
                name.extend_from_slice(format!("#{db}:{i}").as_bytes());
                keys.push(Key {
                    db,
                    name,
                    expire_at_ms: (rng.below(3) == 0)
                        .then(|| 2_000_000_000_000 + rng.below(1 << 30) as i64),
                    value_type,
                    body,
                });
            }
        }
        let expected: Vec<ValueDigest> =
            keys.iter().map(|k| digest(k.value_type, &k.body)).collect();
        for target in targets() {
            let rdb_version = target.version as u16;
            let options = WriterOptions {
                compress: seed % 2 == 0,
                pad_to: (seed % 3 == 0).then_some(512),
            };
            let mut w = Writer::new(Vec::new(), target, options).unwrap();
            w.aux(b"rdbkit-ver", b"test").unwrap();
            for db in [0u64, 1, 7] {
                let in_db: Vec<&Key> = keys.iter().filter(|k| k.db == db).collect();
                let expires = in_db.iter().filter(|k| k.expire_at_ms.is_some()).count() as u64;
                w.select_db(db, in_db.len() as u64, expires).unwrap();
                for k in in_db {
                    let re = reencode(
                        k.value_type,
                        &k.body,
                        target.family,
                        rdb_version,
                        &Policy::default(),
                    )
                    .unwrap_or_else(|e| panic!("{target:?} {:?}: {e}", k.value_type));
                    let mut entry = KeyEntry::new(&k.name, re.value_type, &re.body);
                    entry.expire_at_ms = k.expire_at_ms;
                    w.key(&entry).unwrap();
                }
            }
            let (file, len) = w.finish().unwrap();
            assert_eq!(file.len() as u64, len);
            let rdb = Rdb::parse(&file).unwrap();
            assert_eq!(rdb.header(), target);
            let mut got = 0usize;
            for record in rdb.records() {
                match record.unwrap_or_else(|e| panic!("seed {seed} {target:?}: {e}")) {
                    Record::Key(k) => {
                        let want = &keys[got];
                        assert_eq!(k.db, want.db);
                        assert_eq!(&k.key[..], &want.name[..]);
                        let want_expiry = match (want.expire_at_ms, target.version) {
                            // RDB 2 stores seconds, rounded up.
                            (Some(ms), 2) => Some((ms + 999) / 1000 * 1000),
                            (e, _) => e,
                        };
                        assert_eq!(k.expire_at_ms, want_expiry);
                        let d = digest_value(k.value().unwrap()).unwrap();
                        assert_eq!(d, expected[got], "seed {seed} {target:?} key {got}");
                        got += 1;
                    }
                    Record::Eof(eof) => {
                        assert_eq!(eof.checksum_verified, target.version >= 5);
                        assert_eq!(
                            eof.trailing_bytes,
                            len - eof.offset - 1 - if target.version >= 5 { 8 } else { 0 }
                        );
                    }
                    _ => {}
                }
            }
            assert_eq!(got, keys.len(), "{target:?}");
        }
    }
}
