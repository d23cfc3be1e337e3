//! `rdbkit keys` end to end: the three formats read back by DuckDB (one row per key,
//! memory summing to baseline's key memory), the non-UTF-8 key rule, and a corrupt
//! snapshot leaving no output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// `support` (the test venv) and `common` both include the corpus module: two copies
// of a few small functions, harmless in a test binary.
#[allow(clippy::duplicate_mod)]
#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_rdbkit, versions_dir};
use serde_json::Value;

/// Every snapshot of the conformance corpus that has a manifest (the valid ones).
fn corpus_files() -> Vec<String> {
    let dir = versions_dir();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".manifest.json")?;
            let rdb = dir.join(format!("{stem}.rdb"));
            rdb.is_file().then(|| rdb.to_string_lossy().into_owned())
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus has {} snapshots", files.len());
    files
}

/// Temporary output files left in `dir` (`LocalOutput`'s `.NAME.rdbkit-tmp-PID`).
fn temporaries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".rdbkit-tmp-"))
        .collect()
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a DuckDB query through the test venv's Python; the result as JSON rows.
pub fn duckdb(sql: &str) -> Vec<Vec<Value>> {
    let python = support::venv_bin("python");
    let script = "import duckdb, json, sys\n\
                  rows = duckdb.sql(sys.argv[1]).fetchall()\n\
                  print(json.dumps([[v if isinstance(v, (int, str, bool, type(None))) else str(v) for v in r] for r in rows]))";
    let out = Command::new(python)
        .args(["-c", script, sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn reader(format: &str, path: &Path) -> String {
    let p = path.display();
    match format {
        "csv" => format!(
            "read_csv('{p}', header = true, all_varchar = false, quote = '\"', escape = '\"')"
        ),
        "jsonl" => format!("read_json('{p}', format = 'newline_delimited')"),
        _ => format!("read_parquet('{p}')"),
    }
}

#[test]
fn three_formats_read_by_duckdb_add_up_to_baseline() {
    let files = corpus_files();
    let dir = out_dir("keys-formats");
    let mut args = vec!["baseline".to_string(), "--format".into(), "json".into()];
    args.extend(files.iter().cloned());
    let out = run_rdbkit(&args, None).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let baseline: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = baseline["metrics"]["redis.db.keys"].as_u64().unwrap();
    let memory = baseline["memory"]["keys"].as_u64().unwrap();
    assert!(keys > 1000, "{keys}");
    let files_with_keys = baseline["source"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["keys"].as_u64() > Some(0))
        .count();

    for format in ["csv", "jsonl", "parquet"] {
        let path = dir.join(format!("keys.{format}"));
        let mut args = vec![
            "keys".to_string(),
            "--format".into(),
            format.into(),
            "-o".into(),
            path.to_string_lossy().into_owned(),
        ];
        args.extend(files.iter().cloned());
        let out = run_rdbkit(&args, None).unwrap();
        assert_eq!(out.code(), Some(0), "{format}: {}", out.stderr_text());
        assert!(out.stdout.is_empty(), "results go to the file");
        assert_eq!(temporaries(&dir), Vec::<String>::new());
        let src = reader(format, &path);
        let rows = duckdb(&format!(
            "select count(*), sum(memory)::bigint, count(distinct (file, db, key)), \
             count(*) filter (where slot between 0 and 16383), count(distinct file) from {src}"
        ));
        assert_eq!(
            rows[0],
            vec![
                Value::from(keys),
                Value::from(memory),
                Value::from(keys),
                Value::from(keys),
                Value::from(files_with_keys)
            ],
            "{format}: rows, memory, distinct keys, valid slots, files with keys"
        );
        // Per file, the key counts of baseline's per-file breakdown.
        let per_file = duckdb(&format!(
            "select file, count(*) from {src} group by file order by file"
        ));
        for row in &per_file {
            let f = baseline["source"]["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == row[0])
                .unwrap();
            assert_eq!(f["keys"], row[1], "{format}: {}", row[0]);
        }
        // Types and TTLs are typed columns, not text.
        let typed = duckdb(&format!(
            "select any_value(typeof(memory)), any_value(typeof(expire_at_ms)), count(expire_at_ms) from {src}"
        ));
        assert_eq!(typed[0][0], "BIGINT", "{format}");
        assert_eq!(
            typed[0][2], baseline["metrics"]["redis.db.expires"],
            "{format}: keys with expire_at_ms"
        );
    }
}

#[test]
fn non_utf8_keys_are_hex_with_key_hex_set() {
    // RDB 10: `SET "\xff\xfebin" v` and `SET "user:1" v`, with a CRC-64 trailer.
    let mut file = b"REDIS0010\xfe\x00\x00\x05\xff\xfebin\x01v\x00\x06user:1\x01v\xff".to_vec();
    let crc = rdb_parser::crc::crc64(0, &file);
    file.extend_from_slice(&crc.to_le_bytes());
    let dir = out_dir("keys-hex");
    let rdb = dir.join("bin.rdb");
    std::fs::write(&rdb, &file).unwrap();
    let out_path = dir.join("keys.csv");
    let out = run_rdbkit(
        &[
            "keys",
            rdb.to_str().unwrap(),
            "-o",
            out_path.to_str().unwrap(),
        ],
        None,
    )
    .unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let rows = duckdb(&format!(
        "select key, key_hex from {} order by key",
        reader("csv", &out_path)
    ));
    assert_eq!(
        rows,
        vec![
            vec![Value::from("fffe62696e"), Value::from(true)],
            vec![Value::from("user:1"), Value::from(false)]
        ]
    );
}

#[test]
fn corrupt_snapshot_leaves_no_output() {
    let dir = out_dir("keys-corrupt");
    let mut data = std::fs::read(versions_dir().join("redis-7.0.15.rdb")).unwrap();
    // Flip a byte of the last value: framing still works, the CRC-64 does not match.
    let at = data.len() - 12;
    data[at] ^= 0x55;
    let rdb = dir.join("bad.rdb");
    std::fs::write(&rdb, &data).unwrap();
    for format in ["csv", "parquet"] {
        let out_path = dir.join(format!("keys.{format}"));
        let out = run_rdbkit(
            &[
                "keys",
                "--format",
                format,
                rdb.to_str().unwrap(),
                "-o",
                out_path.to_str().unwrap(),
            ],
            None,
        )
        .unwrap();
        assert_eq!(out.code(), Some(2), "{}", out.stderr_text());
        let err = out.stderr_text();
        assert!(err.contains("bad.rdb") && err.contains("offset"), "{err}");
        assert!(err.contains("no output written"), "{err}");
        assert!(!out_path.exists());
        assert_eq!(temporaries(&dir), Vec::<String>::new());
    }
}
