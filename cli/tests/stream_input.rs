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

/// `gzip -c FILE` (the real tool), as bytes.
fn gzip(path: &PathBuf) -> Vec<u8> {
    let out = std::process::Command::new("gzip")
        .arg("-c")
        .arg(path)
        .output()
        .expect("gzip is installed");
    assert!(out.status.success());
    out.stdout
}

#[test]
fn gzip_is_read_by_its_magic_from_files_and_stdin() {
    let dir = std::env::temp_dir().join(format!("rdbkit-gzip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files = ["redis-7.4.1.rdb", "redis-6.2.14.rdb", "redis-2.8.24.rdb"];
    for name in files {
        let path = versions_dir().join(name);
        let compressed = gzip(&path);
        // No `.gz` in the name: the bytes tell.
        let gz_path = dir.join(format!("{name}.backup"));
        std::fs::write(&gz_path, &compressed).unwrap();
        for args in [
            &["check", "--format", "json"][..],
            &["export"],
            &["baseline", "--format", "json"],
        ] {
            let mut plain: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            plain.push(path.display().to_string());
            let want = run_rdbkit(&plain, None).unwrap();
            assert_eq!(
                want.code(),
                Some(0),
                "{args:?} {name}: {}",
                want.stderr_text()
            );
            let by_file: Vec<String> = plain[..args.len()]
                .iter()
                .cloned()
                .chain([gz_path.display().to_string()])
                .collect();
            let by_stdin: Vec<String> = plain[..args.len()]
                .iter()
                .cloned()
                .chain(["-".to_string()])
                .collect();
            let same = |out: &common::RunOutput, from: &str| {
                assert_eq!(
                    out.code(),
                    Some(0),
                    "{args:?} {name} {from}: {}",
                    out.stderr_text()
                );
                let text = |b: &[u8]| {
                    String::from_utf8_lossy(b)
                        .lines()
                        .filter(|l| {
                            !l.contains(name)
                                && !l.contains("\"-\"")
                                && !l.contains("ttl")
                                && !l.contains("snapshot_time")
                                && !l.contains("\"bytes\"")
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                assert_eq!(
                    text(&out.stdout),
                    text(&want.stdout),
                    "{args:?} {name} {from}"
                );
            };
            same(&run_rdbkit(&by_file, None).unwrap(), "gzip file");
            same(
                &run_rdbkit(&by_stdin, Some(compressed.clone())).unwrap(),
                "gzip stdin",
            );
        }
    }
    // Two gzip members (`cat a.gz b.gz`) are one stream; a cut-off one is a damaged
    // input (check: exit 1) named as such.
    let path = versions_dir().join("redis-7.4.1.rdb");
    let mut two = gzip(&path);
    let empty = dir.join("empty");
    std::fs::write(&empty, b"").unwrap();
    two.extend(gzip(&empty));
    let out = run_rdbkit(&["check", "-"], Some(two)).unwrap();
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let cut = gzip(&path)[..3000].to_vec();
    let out = run_rdbkit(&["check", "-"], Some(cut)).unwrap();
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr_text()
            .contains("gzip-compressed data that does not decompress"),
        "{}",
        out.stderr_text()
    );
    std::fs::remove_dir_all(&dir).ok();
}
