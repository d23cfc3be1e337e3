//! Snapshots read from standard input (streamed, in bounded memory) give what the same
//! file gives by path (memory-mapped): `check`, `baseline` and `export`, for every file
//! of the conformance corpus, the damaged ones included (same exit code, same error
//! offsets).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::path::PathBuf;

use common::{par_map, run_rdbkit, versions_dir};

fn corpus_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(versions_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rdb"))
        .collect();
    files.sort();
    assert!(files.len() >= 20);
    files
}

/// `rdbkit ARGS FILE` and `rdbkit ARGS -` with the file on stdin, the path written as
/// `-` in the first: (exit code, stdout, stderr) of each.
fn by_path_and_stdin(args: &[&str], path: &PathBuf) -> Result<(), String> {
    let name = path.display().to_string();
    let mut by_path: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    by_path.push(name.clone());
    let mut by_stdin: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    by_stdin.push("-".into());
    let a = run_rdbkit(&by_path, None)?;
    let data = std::fs::read(path).unwrap();
    let b = run_rdbkit(&by_stdin, Some(data.clone()))?;
    // Without a `ctime` AUX field (before Redis 4.0) a file's snapshot time is its
    // modification time, which standard input does not have: TTL figures relative to
    // it differ, and only those.
    let has_ctime = data.windows(5).any(|w| w == b"ctime");
    let unname = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&name, "-")
            .replace("standard input", "-")
            .lines()
            .filter(|l| has_ctime || !(l.contains("ttl") || l.contains("snapshot_time")))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let what = format!("rdbkit {} on {name}", args.join(" "));
    if a.code() != b.code() {
        return Err(format!(
            "{what}: {} by path, {} from stdin ({})",
            a.status_text(),
            b.status_text(),
            b.stderr_text()
        ));
    }
    if unname(&a.stdout) != unname(&b.stdout) {
        return Err(format!("{what}: stdout differs"));
    }
    if unname(&a.stderr) != unname(&b.stderr) {
        return Err(format!(
            "{what}: stderr differs: {:?} vs {:?}",
            a.stderr_text(),
            b.stderr_text()
        ));
    }
    Ok(())
}

#[test]
fn stdin_equals_the_file_for_every_corpus_file() {
    let files = corpus_files();
    let commands: [&[&str]; 4] = [
        &["check", "--format", "json"],
        &["baseline", "--format", "json"],
        &["export"],
        &["check"],
    ];
    let jobs: Vec<(&[&str], PathBuf)> = commands
        .iter()
        .flat_map(|c| files.iter().map(move |f| (*c, f.clone())))
        .collect();
    let failures: Vec<String> = par_map(&jobs, |(args, path)| by_path_and_stdin(args, path))
        .into_iter()
        .filter_map(|r| r.err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn truncated_stdin_fails_with_the_offset_of_the_file() {
    let path = versions_dir().join("redis-7.0.15.rdb");
    let data = std::fs::read(&path).unwrap();
    let cut = data.len() / 2;
    let dir = std::env::temp_dir().join(format!("rdbkit-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut_path = dir.join("cut.rdb");
    std::fs::write(&cut_path, &data[..cut]).unwrap();
    for args in [&["check"][..], &["baseline"], &["export"]] {
        by_path_and_stdin(args, &cut_path).unwrap();
        let mut argv: Vec<&str> = args.to_vec();
        argv.push("-");
        let out = run_rdbkit(&argv, Some(data[..cut].to_vec())).unwrap();
        assert_ne!(out.code(), Some(0), "{args:?} passed a truncated stdin");
        assert!(
            out.stderr_text().contains(&format!("offset {cut}")),
            "{args:?}: {}",
            out.stderr_text()
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
