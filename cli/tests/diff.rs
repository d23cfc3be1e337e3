//! `rdbkit diff` against the conformance corpus: identical content written by
//! different servers, versions and settings must compare equal, and where the
//! manifests say the content differs the diff must report exactly those keys.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{bytes_of, run_rdbkit, strict_bytes_of, RunOutput};
use serde_json::Value;

type Key = (u64, Vec<u8>);

fn fixture(name: &str) -> PathBuf {
    let p = common::versions_dir().join(format!("{name}.rdb"));
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

fn run(args: &[&str]) -> RunOutput {
    run_rdbkit(args, None).unwrap_or_else(|e| panic!("{e}"))
}

fn run_paths(args: &[&str], files: &[&Path]) -> RunOutput {
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
    run_rdbkit(&all, None).unwrap_or_else(|e| panic!("{e}"))
}

fn json_of(out: &RunOutput) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "diff output is not JSON ({e}): {}\nstderr: {}",
            common::clip(&String::from_utf8_lossy(&out.stdout), 400),
            out.stderr_text()
        )
    })
}

fn num(v: &Value, field: &str) -> u64 {
    v.get(field).and_then(Value::as_u64).unwrap_or_else(|| {
        panic!(
            "field {field} missing or not a count in {}",
            common::show(v)
        )
    })
}

// ---------------------------------------------------------------------------
// The expected diff, from the manifests alone.

/// A key's logical content as the manifest describes it, normalized so that `==`
/// is the diff's notion of equality.
#[derive(Debug, PartialEq)]
enum Content {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
    /// (member, canonical score bits): -0 == 0.
    ZSet(BTreeSet<(Vec<u8>, u64)>),
    Hash(BTreeSet<(Vec<u8>, Vec<u8>)>),
    Stream(StreamContent),
}

/// Streams as `digest` defines them: entries, last ID, groups (name, last delivered
/// ID, PEL with owner/count/time, consumers with pending IDs); no counters, no
/// consumer times.
#[derive(Debug, PartialEq)]
struct StreamContent {
    entries: Vec<(String, Vec<Vec<u8>>)>,
    last_id: String,
    groups: BTreeMap<Vec<u8>, GroupContent>,
}

type PelEntry = (String, Vec<u8>, i64, u64);

#[derive(Debug, PartialEq)]
struct GroupContent {
    last_delivered: String,
    pel: BTreeSet<PelEntry>,
    consumers: BTreeSet<(Vec<u8>, BTreeSet<String>)>,
}

#[derive(Debug)]
struct KeyInfo {
    ty: String,
    expire: Option<i64>,
    content: Content,
    field_ttls: BTreeSet<(Vec<u8>, i64)>,
}

struct Manifest {
    keys: BTreeMap<Key, KeyInfo>,
    /// library code → library name
    functions: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn b(v: &Value) -> Vec<u8> {
    bytes_of(v).unwrap()
}

fn arr(v: &Value) -> &Vec<Value> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {}", common::show(v)))
}

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {}", common::show(v)))
        .to_string()
}

fn score_bits(text: &str) -> u64 {
    let f: f64 = match text {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        t => t.parse().unwrap_or_else(|e| panic!("bad score {t:?}: {e}")),
    };
    if f == 0.0 {
        0
    } else {
        f.to_bits()
    }
}

fn content_of(ty: &str, k: &Value) -> Content {
    let v = &k["value"];
    match ty {
        "string" => Content::String(b(v)),
        "list" => Content::List(arr(v).iter().map(b).collect()),
        "set" => Content::Set(arr(v).iter().map(b).collect()),
        "zset" => {
            let canonical = arr(&k["scores_canonical"]);
            assert_eq!(canonical.len(), arr(v).len());
            Content::ZSet(
                arr(v)
                    .iter()
                    .zip(canonical)
                    .map(|(pair, score)| (b(&pair[0]), score_bits(&s(score))))
                    .collect(),
            )
        }
        "hash" => Content::Hash(
            arr(v)
                .iter()
                .map(|pair| (b(&pair[0]), b(&pair[1])))
                .collect(),
        ),
        "stream" => {
            let entries = arr(&v["entries"])
                .iter()
                .map(|e| (s(&e[0]), arr(&e[1]).iter().map(b).collect()))
                .collect();
            let groups = arr(&v["groups"])
                .iter()
                .map(|g| {
                    let pel = arr(&g["pel"])
                        .iter()
                        .map(|p| {
                            (
                                s(&p["id"]),
                                b(&p["consumer"]),
                                p["delivery_time_ms"].as_i64().unwrap(),
                                p["delivery_count"].as_u64().unwrap(),
                            )
                        })
                        .collect();
                    let consumers = arr(&g["consumers"])
                        .iter()
                        .map(|c| (b(&c["name"]), arr(&c["pel"]).iter().map(s).collect()))
                        .collect();
                    (
                        b(&g["name"]),
                        GroupContent {
                            last_delivered: s(&g["last_delivered_id"]),
                            pel,
                            consumers,
                        },
                    )
                })
                .collect();
            Content::Stream(StreamContent {
                entries,
                last_id: s(&v["last_generated_id"]),
                groups,
            })
        }
        other => panic!("unexpected type {other} in a manifest"),
    }
}

fn library_name(code: &[u8]) -> Vec<u8> {
    let line = code.split(|&c| c == b'\n').next().unwrap_or(code);
    line.split(|&c| c == b' ')
        .find_map(|w| w.strip_prefix(b"name="))
        .unwrap_or(line)
        .to_vec()
}

fn manifest(name: &str) -> Manifest {
    let path = common::versions_dir().join(format!("{name}.manifest.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let m: Value = serde_json::from_str(&text).unwrap();
    let mut keys = BTreeMap::new();
    for k in arr(&m["keys"]) {
        let ty = s(&k["type"]);
        let field_ttls = k
            .get("field_expires_ms")
            .map(|f| {
                arr(f)
                    .iter()
                    .map(|p| (b(&p[0]), p[1].as_i64().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let info = KeyInfo {
            content: content_of(&ty, k),
            ty,
            expire: k["expire_at_ms"].as_i64(),
            field_ttls,
        };
        let key = (k["db"].as_u64().unwrap(), b(&k["key"]));
        assert!(keys.insert(key, info).is_none(), "duplicate key in {name}");
    }
    let functions = match &m["functions"] {
        Value::Array(list) => list
            .iter()
            .map(|f| {
                let code = b(&f["library_code"]);
                (code.clone(), library_name(&code))
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    Manifest { keys, functions }
}

#[derive(Debug, Default, PartialEq)]
struct Expected {
    only_in_a: u64,
    only_in_b: u64,
    different: u64,
    same: u64,
    by: [u64; 4],
    functions_only_in_a: u64,
    functions_only_in_b: u64,
    /// (category, db, key), sorted.
    examples: Vec<(String, u64, Vec<u8>)>,
}

fn expected(a: &Manifest, b: &Manifest) -> Expected {
    let mut e = Expected::default();
    let all: BTreeSet<&Key> = a.keys.keys().chain(b.keys.keys()).collect();
    let push = |e: &mut Expected, cat: &str, key: &Key| {
        e.examples.push((cat.to_string(), key.0, key.1.clone()));
    };
    for key in all {
        match (a.keys.get(key), b.keys.get(key)) {
            (Some(_), None) => {
                e.only_in_a += 1;
                push(&mut e, "only_in_a", key);
            }
            (None, Some(_)) => {
                e.only_in_b += 1;
                push(&mut e, "only_in_b", key);
            }
            (Some(x), Some(y)) => {
                let mut cats = Vec::new();
                if x.ty != y.ty {
                    cats.push((0, "different_type"));
                }
                if x.expire != y.expire {
                    cats.push((1, "different_ttl"));
                }
                if x.ty == y.ty {
                    if x.content != y.content {
                        cats.push((2, "different_value"));
                    }
                    if x.field_ttls != y.field_ttls {
                        cats.push((3, "different_field_ttls"));
                    }
                }
                if cats.is_empty() {
                    e.same += 1;
                } else {
                    e.different += 1;
                }
                for (i, cat) in cats {
                    e.by[i] += 1;
                    push(&mut e, cat, key);
                }
            }
            (None, None) => unreachable!(),
        }
    }
    for (code, name) in &a.functions {
        if !b.functions.contains_key(code) {
            e.functions_only_in_a += 1;
            e.examples
                .push(("function_only_in_a".into(), 0, name.clone()));
        }
    }
    for (code, name) in &b.functions {
        if !a.functions.contains_key(code) {
            e.functions_only_in_b += 1;
            e.examples
                .push(("function_only_in_b".into(), 0, name.clone()));
        }
    }
    e.examples.sort();
    e
}

fn got(v: &Value) -> Expected {
    let by = &v["different_by"];
    let mut examples: Vec<(String, u64, Vec<u8>)> = arr(&v["examples"])
        .iter()
        .map(|x| {
            (
                s(&x["category"]),
                x["db"].as_u64().unwrap(),
                strict_bytes_of(&x["key"]).unwrap(),
            )
        })
        .collect();
    examples.sort();
    Expected {
        only_in_a: num(v, "only_in_a"),
        only_in_b: num(v, "only_in_b"),
        different: num(v, "different"),
        same: num(v, "same"),
        by: [
            num(by, "type"),
            num(by, "ttl"),
            num(by, "value"),
            num(by, "field_ttls"),
        ],
        functions_only_in_a: num(v, "functions_only_in_a"),
        functions_only_in_b: num(v, "functions_only_in_b"),
        examples,
    }
}

fn show_list(list: &[(String, u64, Vec<u8>)]) -> String {
    list.iter()
        .map(|(c, db, k)| format!("  {c} {db}:{}", common::show_bytes(k)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Pairs of fixtures: (A, B, whether the manifests hold the same logical content).
const PAIRS: &[(&str, &str, bool)] = &[
    ("redis-7.0.15", "redis-7.0.15-nocompress", true),
    ("redis-6.2.14", "redis-6.2.14-nocompress", true),
    ("redis-6.2.14", "redis-6.2.14-nochecksum", true),
    ("redis-7.0.15-lfu", "redis-7.0.15-lru", true),
    ("redis-7.2.6", "valkey-8.0.1", true),
    ("redis-7.4.1", "redis-8.0-m01", true),
    ("redis-6.2.14", "redis-7.0.15", false),
    ("redis-5.0.14", "redis-6.0.20", false),
    ("redis-2.4.18", "redis-2.6.17", false),
    ("redis-2.8.24", "redis-3.2.13", false),
    ("redis-7.0.15", "redis-7.4.1", false),
    ("redis-7.4.1-cluster", "redis-7.4.1", false),
    ("valkey-8.0.1", "valkey-unstable", true),
];

#[test]
fn versions_report_only_true_differences() {
    let results = common::par_map(PAIRS, |&(a, b, same)| {
        let want = expected(&manifest(a), &manifest(b));
        let (fa, fb) = (fixture(a), fixture(b));
        let out = run_paths(
            &["diff", "--format", "json", "--examples", "100000"],
            &[&fa, &fb],
        );
        let mut problems = Vec::new();
        if same
            && want
                != (Expected {
                    same: want.same,
                    ..Expected::default()
                })
        {
            problems.push(format!(
                "the manifests of {a} and {b} were expected to hold the same content"
            ));
        }
        let want_code = if want.examples.is_empty() { 0 } else { 1 };
        if out.code() != Some(want_code) {
            problems.push(format!(
                "{}, expected exit code {want_code}; stderr: {}",
                out.status_text(),
                out.stderr_text()
            ));
        }
        if out.code() == Some(2) {
            return (a, b, problems);
        }
        let got = got(&json_of(&out));
        if got != want {
            let missing: Vec<_> = want
                .examples
                .iter()
                .filter(|x| !got.examples.contains(x))
                .cloned()
                .collect();
            let extra: Vec<_> = got
                .examples
                .iter()
                .filter(|x| !want.examples.contains(x))
                .cloned()
                .collect();
            problems.push(format!(
                "counts/examples differ.\nexpected (from manifests): only_a {} only_b {} different {} \
                 same {} by {:?} functions {}/{}\n{}\ngot: only_a {} only_b {} different {} same {} \
                 by {:?} functions {}/{}\n{}\nexpected but not reported:\n{}\nreported but not \
                 expected:\n{}",
                want.only_in_a,
                want.only_in_b,
                want.different,
                want.same,
                want.by,
                want.functions_only_in_a,
                want.functions_only_in_b,
                show_list(&want.examples),
                got.only_in_a,
                got.only_in_b,
                got.different,
                got.same,
                got.by,
                got.functions_only_in_a,
                got.functions_only_in_b,
                show_list(&got.examples),
                show_list(&missing),
                show_list(&extra),
            ));
        }
        (a, b, problems)
    });
    let failures: Vec<String> = results
        .into_iter()
        .filter(|(_, _, p)| !p.is_empty())
        .map(|(a, b, p)| format!("{a} vs {b}:\n{}", p.join("\n")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_fixture_equals_itself() {
    let names: Vec<String> = std::fs::read_dir(common::versions_dir())
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".manifest.json").map(str::to_string)
        })
        .collect();
    assert!(names.len() > 10);
    let results = common::par_map(&names, |name| {
        let f = fixture(name);
        let out = run_paths(&["diff", "--format", "json"], &[&f, &f]);
        let keys = manifest(name).keys.len() as u64;
        let ok = out.code() == Some(0) && {
            let v = json_of(&out);
            num(&v, "same") == keys
                && num(&v, "different") == 0
                && num(&v, "only_in_a") == 0
                && num(&v, "only_in_b") == 0
                && arr(&v["examples"]).is_empty()
                && v["identical"] == Value::Bool(true)
        };
        (
            name.clone(),
            ok,
            out.status_text(),
            out.stderr_text(),
            out.stdout,
        )
    });
    for (name, ok, status, stderr, stdout) in results {
        assert!(
            ok,
            "{name} vs itself: {status}\n{}\n{stderr}",
            String::from_utf8_lossy(&stdout)
        );
    }
}

// ---------------------------------------------------------------------------
// Shard sets.

fn put_len(out: &mut Vec<u8>, n: usize) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

/// Splits a snapshot into `n` shard files (keys dealt round-robin, every function
/// library in every shard, as a cluster export has them). Returns the shard paths
/// and how many keys each got.
fn split(src: &Path, n: usize, tag: &str) -> (Vec<PathBuf>, Vec<u64>) {
    use rdb_parser::{Rdb, Record};
    let data = std::fs::read(src).unwrap();
    let rdb = Rdb::parse(&data).unwrap();
    let header = &data[..9];
    let mut shards: Vec<(Vec<u8>, Option<u64>, u64)> =
        (0..n).map(|_| (header.to_vec(), None, 0)).collect();
    let mut next = 0usize;
    for record in rdb.records() {
        match record.unwrap() {
            Record::Key(k) => {
                let (out, db, count) = &mut shards[next % n];
                next += 1;
                *count += 1;
                if *db != Some(k.db) {
                    out.push(254);
                    put_len(out, k.db as usize);
                    *db = Some(k.db);
                }
                if let Some(ms) = k.expire_at_ms {
                    out.push(252);
                    out.extend_from_slice(&ms.to_le_bytes());
                }
                out.push(k.value_type.byte());
                put_len(out, k.key.len());
                out.extend_from_slice(&k.key);
                out.extend_from_slice(k.raw);
            }
            Record::Function(f) => {
                for (out, _, _) in &mut shards {
                    out.push(245);
                    out.extend_from_slice(f.raw);
                }
            }
            _ => {}
        }
    }
    let dir = std::env::temp_dir().join(format!("rdbkit-diff-test-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    let mut counts = Vec::new();
    for (i, (mut out, _, count)) in shards.into_iter().enumerate() {
        out.push(255);
        let crc = rdb_parser::crc::crc64(0, &out);
        out.extend_from_slice(&crc.to_le_bytes());
        let p = dir.join(format!("shard{i}.rdb"));
        std::fs::write(&p, out).unwrap();
        paths.push(p);
        counts.push(count);
    }
    (paths, counts)
}

#[test]
fn shard_sets() {
    let full = fixture("redis-7.4.1");
    let total = manifest("redis-7.4.1").keys.len() as u64;
    let (shards, counts) = split(&full, 2, "shards");
    let (s0, s1) = (shards[0].as_path(), shards[1].as_path());
    assert_eq!(counts.iter().sum::<u64>(), total);

    let json = ["diff", "--format", "json"];
    let check = |args: Vec<&str>, files: &[&Path], code: i32, what: &str| -> Value {
        let mut all = json.to_vec();
        all.extend(args);
        let out = run_paths(&all, files);
        assert_eq!(
            out.code(),
            Some(code),
            "{what}: {}\n{}\n{}",
            out.status_text(),
            String::from_utf8_lossy(&out.stdout),
            out.stderr_text()
        );
        json_of(&out)
    };
    // The union of the shards is the snapshot, whichever way round.
    let args = |a: &[&Path], b: &[&Path]| -> Vec<String> {
        let mut v = vec!["--a".to_string()];
        v.extend(a.iter().map(|p| p.to_string_lossy().into_owned()));
        v.push("--b".into());
        v.extend(b.iter().map(|p| p.to_string_lossy().into_owned()));
        v
    };
    let run_sets = |a: &[&Path], b: &[&Path], code: i32, what: &str| -> Value {
        let a = args(a, b);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        check(refs, &[], code, what)
    };
    let v = run_sets(&[s0, s1], &[&full], 0, "shards vs whole");
    assert_eq!(num(&v, "same"), total);
    let v = run_sets(&[s0, s1], &[s1, s0], 0, "shards vs shards");
    assert_eq!(num(&v, "same"), total);
    assert_eq!(
        num(&v, "functions_only_in_a") + num(&v, "functions_only_in_b"),
        0
    );

    // A missing shard: its keys are only in B.
    let v = run_sets(&[s0], &[&full], 1, "one shard vs whole");
    assert_eq!(num(&v, "only_in_b"), counts[1]);
    assert_eq!(num(&v, "same"), counts[0]);
    assert_eq!(num(&v, "only_in_a"), 0);

    // A key seen twice on one side is reported, and compared once.
    let v = run_sets(&[&full], &[&full, &full], 1, "X vs X X");
    assert_eq!(num(&v, "same"), total);
    assert_eq!(num(&v, "duplicates_in_b"), total);
    assert_eq!(num(&v, "duplicates_in_a"), 0);
    assert_eq!(num(&v, "different"), 0);
    let v = run_sets(&[s0, s1, s0], &[&full], 1, "shard given twice in A");
    assert_eq!(num(&v, "duplicates_in_a"), counts[0]);
    assert_eq!(num(&v, "same"), total);
    assert!(arr(&v["examples"])
        .iter()
        .all(|e| e["category"] == "duplicate_in_a"));
    let _ = std::fs::remove_dir_all(s0.parent().unwrap());
}

// ---------------------------------------------------------------------------
// Output format and exit codes.

#[test]
fn json_fields_and_hex_keys() {
    let empty = fixture("redis-7.0.15-empty");
    let full = fixture("redis-7.0.15");
    let out = run_paths(
        &["diff", "--format", "json", "--examples", "1000"],
        &[&empty, &full],
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr_text());
    let v = json_of(&out);
    for f in [
        "only_in_a",
        "only_in_b",
        "different",
        "same",
        "duplicates_in_a",
        "duplicates_in_b",
        "functions_only_in_a",
        "functions_only_in_b",
    ] {
        num(&v, f);
    }
    for f in ["type", "ttl", "value", "field_ttls"] {
        num(&v["different_by"], f);
    }
    assert_eq!(num(&v, "only_in_b"), 113);
    assert_eq!(num(&v, "functions_only_in_b"), 2);
    let examples = arr(&v["examples"]);
    assert_eq!(examples.len(), 113 + 2);
    let mut hex_seen = false;
    for e in examples {
        assert!(e["category"].is_string() && e["db"].is_u64() && e["detail"].is_string());
        let key = strict_bytes_of(&e["key"]).unwrap();
        if key == b"bin\x00key\xff\xfe" {
            assert_eq!(e["key"]["hex"], "62696e006b6579fffe");
            hex_seen = true;
        }
    }
    assert!(hex_seen, "the binary key is missing from the examples");

    // --examples caps each category.
    let out = run_paths(
        &["diff", "--format", "json", "--examples", "3"],
        &[&empty, &full],
    );
    let v = json_of(&out);
    let cats: Vec<String> = arr(&v["examples"])
        .iter()
        .map(|e| s(&e["category"]))
        .collect();
    assert_eq!(
        cats,
        [
            "only_in_b",
            "only_in_b",
            "only_in_b",
            "function_only_in_b",
            "function_only_in_b"
        ]
    );
    let out = run_paths(
        &["diff", "--format", "json", "--examples", "0"],
        &[&full, &empty],
    );
    assert_eq!(out.code(), Some(1));
    assert!(arr(&json_of(&out)["examples"]).is_empty());
}

#[test]
fn text_output() {
    let a = fixture("redis-6.2.14");
    let b = fixture("redis-7.0.15");
    let out = run_paths(&["diff"], &[&a, &b]);
    assert_eq!(out.code(), Some(1), "{}", out.stderr_text());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "only in B",
        "different",
        "same",
        "result: different",
        "stream:basic",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert!(out.stderr.is_empty(), "stderr: {}", out.stderr_text());
    let out = run_paths(&["-q", "diff"], &[&b, &b]);
    assert_eq!(out.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("result: identical"));
}

#[test]
fn exit_codes() {
    let good = fixture("redis-7.0.15");
    let corrupt = fixture("redis-7.0.15.corrupt");
    let truncated = fixture("redis-7.0.15.truncated");

    let two = |args: &[&str], files: &[&Path]| run_paths(args, files);
    // Usage errors.
    assert_eq!(two(&["diff"], &[&good]).code(), Some(2));
    assert_eq!(two(&["diff"], &[]).code(), Some(2));
    let out = two(&["diff", "--a"], &[&good]);
    assert_eq!(out.code(), Some(2), "--a without --b");
    let g = good.to_string_lossy().into_owned();
    let out = run(&["diff", &g, &g, "--a", &g, "--b", &g]);
    assert_eq!(out.code(), Some(2), "positional and --a/--b together");
    let out = run(&["diff", "--format", "yaml", &g, &g]);
    assert_eq!(out.code(), Some(2));
    // Unreadable and damaged files, named in the message.
    let out = run(&["diff", &g, "/nonexistent/x.rdb"]);
    assert_eq!(out.code(), Some(2));
    assert!(out.stderr_text().contains("/nonexistent/x.rdb"));
    for bad in [&corrupt, &truncated] {
        let out = two(&["diff"], &[&good, bad]);
        assert_eq!(out.code(), Some(2), "{}", out.stderr_text());
        let name = bad.file_name().unwrap().to_string_lossy().into_owned();
        assert!(out.stderr_text().contains(&name), "{}", out.stderr_text());
        assert!(out.stdout.is_empty());
    }
    // Without the checksum, the flipped byte is a value difference.
    let out = two(
        &["diff", "--no-crc", "--format", "json"],
        &[&good, &corrupt],
    );
    assert_eq!(out.code(), Some(1), "{}", out.stderr_text());
    let v = json_of(&out);
    assert_eq!(num(&v, "different"), 1);
    assert_eq!(num(&v["different_by"], "value"), 1);

    // Standard input as one side.
    let data = std::fs::read(&good).unwrap();
    let out = run_rdbkit(&["diff", "-", g.as_str()], Some(data)).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let out = run(&["diff", "-", "-"]);
    assert_eq!(out.code(), Some(2));
}

// ---------------------------------------------------------------------------
// Real servers: keys that expire between two snapshots, and streams written twice.

// `support` (servers) and `common` both include the corpus module: two copies of a
// few small functions, harmless in a test binary.
#[allow(clippy::duplicate_mod)]
#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{temp_dir, Server};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Saves `server`'s dataset into `dir/name`.
fn save_as(server: &Server, dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, server.save()).unwrap();
    p
}

fn diff_json(args: &[&str], a: &Path, b: &Path) -> (Option<i32>, Value, String) {
    let mut all = vec!["diff", "--format", "json"];
    all.extend(args);
    let out = run_paths(&all, &[a, b]);
    let stderr = out.stderr_text();
    assert_ne!(out.code(), Some(2), "{stderr}");
    (out.code(), json_of(&out), stderr)
}

fn example_keys(v: &Value, category: &str) -> BTreeSet<String> {
    arr(&v["examples"])
        .iter()
        .filter(|e| e["category"] == category)
        .map(|e| s(&e["key"]))
        .collect()
}

/// Issue 12 item 4: keys that expired between A and B are not deletions.
#[test]
fn expired_between_snapshots_are_not_deletions() {
    let server = Server::start(&[]);
    let dir = temp_dir("diff-expiry");
    // Margin for a loaded machine: A must be saved before the keys expire.
    let soon = now_ms() + 2500;
    let later = now_ms() + 3_600_000;
    for k in ["keep", "far", "del1", "del2", "soon1", "soon2", "soon3"] {
        server.cli(&["SET", k, "v"]);
    }
    for k in ["soon1", "soon2", "soon3"] {
        server.cli(&["PEXPIREAT", k, &soon.to_string()]);
    }
    server.cli(&["PEXPIREAT", "far", &later.to_string()]);
    let a = save_as(&server, &dir, "a.rdb");

    server.cli(&["DEL", "del1", "del2"]);
    server.cli(&["SET", "added", "v"]);
    while now_ms() <= soon + 50 {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Reading the keys expires them now (not at the next active-expiry cycle).
    assert_eq!(
        server.cli(&["EXISTS", "soon1", "soon2", "soon3"]).trim(),
        "0"
    );
    let b = save_as(&server, &dir, "b.rdb");

    // Real deletions and additions next to expirations: each counted apart.
    let (code, v, stderr) = diff_json(&[], &a, &b);
    assert_eq!(code, Some(1), "{v}");
    assert!(stderr.is_empty(), "no notice when B has a ctime: {stderr}");
    assert_eq!(
        (num(&v, "only_in_a"), num(&v, "expired_in_a")),
        (2, 3),
        "{v}"
    );
    assert_eq!((num(&v, "only_in_b"), num(&v, "expired_in_b")), (1, 0));
    assert_eq!(num(&v, "same"), 2);
    assert_eq!(
        example_keys(&v, "only_in_a"),
        ["del1", "del2"].map(String::from).into()
    );
    assert_eq!(
        example_keys(&v, "expired_in_a"),
        ["soon1", "soon2", "soon3"].map(String::from).into()
    );
    assert_eq!(
        example_keys(&v, "only_in_b"),
        ["added"].map(String::from).into()
    );
    let b_ctime = v["ctime_b_ms"].as_i64().unwrap();
    assert!(b_ctime >= soon - 1000 && b_ctime <= now_ms(), "{v}");
    assert_eq!(v["expired_by_ms"].as_i64(), Some(b_ctime + 999));
    assert!(v["ctime_b"].as_str().unwrap().ends_with('Z'));
    assert!(v["notice"].is_null());
    let soon1 = arr(&v["examples"])
        .iter()
        .find(|e| e["key"] == "soon1")
        .unwrap();
    assert_eq!(soon1["expire_at_ms"].as_i64(), Some(soon));
    assert_eq!(
        soon1["expires"].as_str(),
        Some(rdb_parser::diff::format_utc_ms(soon).as_str())
    );

    // The text says it in words, with dates rather than epoch seconds.
    let out = run_paths(&["diff"], &[&a, &b]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2 deleted, 3 expired by B's time"), "{text}");
    assert!(text.contains("1 added, 0 already expired"), "{text}");
    let taken = format!("taken {}", rdb_parser::diff::format_utc_ms(b_ctime));
    assert!(text.contains(&taken), "{taken:?} missing from:\n{text}");
    assert!(!text.contains(&(b_ctime / 1000).to_string()), "{text}");

    // Nothing but expirations: identical (exit 0) unless asked to count them.
    server.cli(&["SET", "del1", "v"]);
    server.cli(&["SET", "del2", "v"]);
    server.cli(&["DEL", "added"]);
    let c = save_as(&server, &dir, "c.rdb");
    let (code, v, _) = diff_json(&[], &a, &c);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["identical"], true);
    assert_eq!((num(&v, "only_in_a"), num(&v, "expired_in_a")), (0, 3));
    let (code, v, _) = diff_json(&["--count-expired"], &a, &c);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["identical"], false);
    let out = run_paths(&["diff"], &[&a, &c]);
    assert_eq!(out.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("result: identical (3 expired keys not counted"));
    // The other way round (newer snapshot first): the keys only in B were dead by A's time.
    let (code, v, _) = diff_json(&[], &c, &a);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!((num(&v, "only_in_b"), num(&v, "expired_in_b")), (0, 3));

    // B without a ctime (RDB 6, Redis 2.8): not judged against B's time, and said so.
    let old = fixture("redis-2.8.24");
    let (code, v, _) = diff_json(&[], &a, &old);
    assert_eq!(code, Some(1));
    assert!(v["ctime_b_ms"].is_null() && v["ctime_b"].is_null());
    assert!(v["notice"]
        .as_str()
        .unwrap()
        .contains("B records no snapshot time"));
    let out = run_paths(&["diff"], &[&a, &old]);
    assert!(
        out.stderr_text()
            .contains("notice: B records no snapshot time"),
        "{}",
        out.stderr_text()
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("7 deleted, 0 already expired in A"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same stream commands sent to two servers, 50 ms apart.
fn stream_server(consumer_reads: &[(&str, &str)]) -> Server {
    let server = Server::start(&[]);
    for (id, value) in [("1-1", "a"), ("1-2", "b"), ("1-3", "c"), ("1-4", "d")] {
        server.cli(&["XADD", "s", id, "f", value]);
    }
    server.cli(&["XGROUP", "CREATE", "s", "g", "0"]);
    server.cli(&["SET", "plain", "v"]);
    for (consumer, n) in consumer_reads {
        server.cli(&[
            "XREADGROUP",
            "GROUP",
            "g",
            consumer,
            "COUNT",
            n,
            "STREAMS",
            "s",
            ">",
        ]);
    }
    server
}

/// Issue 19: only the PEL delivery times differ, and the diff says so.
#[test]
fn stream_differences_named() {
    let dir = temp_dir("diff-streams");
    let reads = [("c1", "2"), ("c2", "1")];
    let s1 = stream_server(&reads);
    std::thread::sleep(Duration::from_millis(50));
    let s2 = stream_server(&reads);
    let a = save_as(&s1, &dir, "a.rdb");
    let b = save_as(&s2, &dir, "b.rdb");

    let (code, v, _) = diff_json(&[], &a, &b);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!((num(&v, "different"), num(&v, "same")), (1, 1), "{v}");
    let stream = &v["different_by"]["stream"];
    assert_eq!(
        (
            num(stream, "entries"),
            num(stream, "group_metadata"),
            num(stream, "pel_delivery_times")
        ),
        (0, 0, 1),
        "{v}"
    );
    let detail = s(&arr(&v["examples"])[0]["detail"]);
    assert!(detail.contains(": PEL delivery times;"), "{detail}");
    assert!(
        detail.contains("consumer seen/active times differ too"),
        "{detail}"
    );
    let out = run_paths(&["diff"], &[&a, &b]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PEL delivery times"), "{text}");
    assert!(!text.contains("entries, group metadata"), "{text}");

    // Independently written servers: the times left out, identical.
    for ignore in [
        &["--ignore", "stream-times"][..],
        &["--ignore=stream-times"],
    ] {
        let (code, v, _) = diff_json(ignore, &a, &b);
        assert_eq!(code, Some(0), "{v}");
        assert_eq!(num(&v, "same"), 2);
        assert_eq!(v["ignore"], serde_json::json!(["stream-times"]));
    }
    let out = run_paths(&["diff", "--ignore", "stream-times"], &[&a, &b]);
    assert_eq!(out.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ignored: stream-times"));
    assert_eq!(
        run_paths(&["diff", "--ignore", "stream-time"], &[&a, &b]).code(),
        Some(2),
        "an unknown --ignore value is a usage error"
    );

    // Real group and entry changes are still found with the times ignored.
    s2.cli(&["XACK", "s", "g", "1-1"]);
    let acked = save_as(&s2, &dir, "acked.rdb");
    let (code, v, _) = diff_json(&["--ignore", "stream-times"], &a, &acked);
    assert_eq!(code, Some(1), "{v}");
    let stream = &v["different_by"]["stream"];
    assert_eq!(
        (
            num(stream, "entries"),
            num(stream, "group_metadata"),
            num(stream, "pel_delivery_times")
        ),
        (0, 1, 0),
        "{v}"
    );
    s2.cli(&["XADD", "s", "1-5", "f", "e"]);
    let added = save_as(&s2, &dir, "added.rdb");
    let (code, v, _) = diff_json(&["--ignore", "stream-times"], &acked, &added);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(num(&v["different_by"]["stream"], "entries"), 1, "{v}");
    assert_eq!(
        num(&v["different_by"]["stream"], "group_metadata"),
        0,
        "{v}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
