//! `rdbkit report` in a real headless Chromium (Debian `chromium`): the page renders
//! its charts after its script ran, a screenshot is non-trivial, and the browser's
//! network log shows no request from the page. And `--redact` on `report`, `keys`
//! and `baseline`: no key name of the fixtures survives in any output.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
// `support` (the test venv) and `common` both include the corpus module: two copies
// of a few small functions, harmless in a test binary.
#[allow(clippy::duplicate_mod)]
#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_rdbkit, versions_dir};

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The fixture set: a standalone 7.4 snapshot (five dbs, field TTLs, functions,
/// streams), a cluster node's snapshot and a 7.0 LFU snapshot.
fn fixtures() -> Vec<String> {
    [
        "redis-7.4.1.rdb",
        "redis-7.4.1-cluster.rdb",
        "redis-7.0.15-lfu.rdb",
    ]
    .iter()
    .map(|f| versions_dir().join(f).to_string_lossy().into_owned())
    .collect()
}

fn rdbkit_ok(args: &[String]) -> Vec<u8> {
    let out = run_rdbkit(args, None).unwrap();
    assert_eq!(
        out.code(),
        Some(0),
        "rdbkit {}: {}",
        args.join(" "),
        out.stderr_text()
    );
    out.stdout
}

/// Runs headless Chromium on `page` with `extra` arguments (killed after 120 s);
/// returns stdout and the network log's JSON text.
fn chromium(page: &Path, extra: &[String], dir: &Path) -> (String, String) {
    let netlog = dir.join(format!(
        "netlog-{}.json",
        page.file_stem().unwrap().to_string_lossy()
    ));
    let profile = dir.join("chromium-profile");
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--log-net-log={}", netlog.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium (Debian package `chromium`; scripts/test.sh installs it)");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s on {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = reader.join().unwrap();
    let log = std::fs::read_to_string(&netlog).unwrap_or_default();
    (out, log)
}

/// URLs in a Chromium network log that the page asked for: everything but the page
/// itself and Chromium's own background services (updates, accounts, time).
fn page_requests(netlog: &str, page: &Path) -> Vec<String> {
    let own = format!("file://{}", page.display());
    let mut urls: Vec<String> = netlog
        .split("\"url\":\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(str::to_string)
        .filter(|u| {
            !u.starts_with(&own)
                && ![
                    "google.com/",
                    "googleapis.com/",
                    "gvt1.com/",
                    "gstatic.com/",
                ]
                .iter()
                .any(|host| {
                    u.split('/')
                        .nth(2)
                        .is_some_and(|h| format!("{h}/").ends_with(host))
                })
        })
        .collect();
    urls.sort();
    urls.dedup();
    urls
}

#[test]
fn report_renders_in_chromium_with_charts_and_no_requests() {
    let dir = out_dir("report-chromium");
    let html = dir.join("report.html");
    let mut args = vec![
        "report".to_string(),
        "-o".into(),
        html.to_string_lossy().into_owned(),
        "--target-size".into(),
        "1GB".into(),
    ];
    args.extend(fixtures());
    let stdout = rdbkit_ok(&args);
    assert!(stdout.is_empty(), "the report goes to the file");
    let text = std::fs::read_to_string(&html).unwrap();

    // Static: a CSP that forbids every fetch, and no reference that could load.
    assert!(text.contains(
        "content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\""
    ));
    for needle in [
        "src=",
        "href=",
        "url(",
        "@import",
        "<link",
        "<iframe",
        "<img",
        "fetch(",
        "XMLHttp",
        "WebSocket",
    ] {
        assert!(!text.contains(needle), "the report contains {needle:?}");
    }
    let http: Vec<&str> = text
        .match_indices("http")
        .map(|(i, _)| &text[i..(i + 26).min(text.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/2000/svg") && !s.starts_with("http-equiv"))
        .collect();
    assert!(http.is_empty(), "{http:?}");

    // The DOM after the script ran.
    let (dom, netlog) = chromium(&html, &["--dump-dom".into()], &dir);
    assert!(dom.contains("data-ready=\"1\""), "the script did not run");
    assert!(dom.contains("id=\"flame-svg\""), "no flame graph drawn");
    assert!(
        dom.matches("<rect").count() > 200,
        "flame graph, bars, slot strip"
    );
    for id in [
        "chart-types",
        "chart-prefixes",
        "chart-ttl",
        "chart-sizes",
        "chart-elements",
        "chart-shards",
        "chart-slots",
        "table-types",
        "table-patterns",
        "table-prefixes",
        "table-ttl",
        "table-sizes",
        "table-elements",
        "table-biggest",
        "table-slots",
        "table-shards",
        "compat-azure-cache-6",
        "compat-azure-managed-7-4",
        "files",
        "keyspace",
    ] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "missing #{id}");
    }
    // What the fixtures hold shows up: the field-TTL hashes fail on 6.0, the
    // five databases on Azure Managed Redis, the patterns of the fixture keys.
    assert!(dom.contains("hashes carry field TTLs"));
    assert!(dom.contains("keys outside db 0: Azure Managed Redis 7.4 has one database"));
    assert!(dom.contains("str:int:{id}"));
    assert!(
        page_requests(&netlog, &html).is_empty(),
        "the page made requests: {:?}",
        page_requests(&netlog, &html)
    );

    // A screenshot: a real PNG of the window size with content (a blank page of
    // this size compresses to a few KiB).
    let png = dir.join("report.png");
    chromium(
        &html,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,2400".into(),
            "--hide-scrollbars".into(),
        ],
        &dir,
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 2400));
    assert!(bytes.len() > 60_000, "{} bytes", bytes.len());
}

/// The network-log check sees requests when a page makes them (so the check above
/// can fail).
#[test]
fn network_log_catches_a_page_that_fetches() {
    let dir = out_dir("report-netlog-control");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let page = dir.join("fetches.html");
    std::fs::write(
        &page,
        format!("<html><body><img src=\"http://127.0.0.1:{port}/x.png\"></body></html>"),
    )
    .unwrap();
    let (_, netlog) = chromium(&page, &["--dump-dom".into()], &dir);
    assert_eq!(
        page_requests(&netlog, &page),
        vec![format!("http://127.0.0.1:{port}/x.png")]
    );
}

/// Key names of the fixtures long enough not to occur by chance in tokens/numbers.
fn fixture_key_names(dir: &Path) -> Vec<String> {
    let csv = dir.join("plain.csv");
    let mut args = vec![
        "keys".to_string(),
        "--format".into(),
        "jsonl".into(),
        "-o".into(),
        csv.to_string_lossy().into_owned(),
    ];
    args.extend(fixtures());
    rdbkit_ok(&args);
    let mut names: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["key"].as_str().unwrap().to_string()
        })
        .filter(|k| k.len() >= 4)
        .collect();
    names.sort();
    names.dedup();
    assert!(names.len() > 100, "{}", names.len());
    names
}

#[test]
fn redact_leaves_no_key_name_in_any_output() {
    let dir = out_dir("report-redact");
    let names = fixture_key_names(&dir);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let html = dir.join("report.html");
    let mut args = vec![
        "report".to_string(),
        "--redact".into(),
        "-o".into(),
        html.to_string_lossy().into_owned(),
    ];
    args.extend(fixtures());
    rdbkit_ok(&args);
    outputs.push(("report".into(), std::fs::read_to_string(&html).unwrap()));
    for format in ["json", "text"] {
        let mut args = vec![
            "baseline".to_string(),
            "--redact".into(),
            "--format".into(),
            format.into(),
            "--top".into(),
            "1000".into(),
        ];
        args.extend(fixtures());
        let out = String::from_utf8(rdbkit_ok(&args)).unwrap();
        outputs.push((format!("baseline {format}"), out));
    }
    for format in ["csv", "jsonl", "parquet"] {
        let path = dir.join(format!("keys.{format}"));
        let mut args = vec![
            "keys".to_string(),
            "--redact".into(),
            "--format".into(),
            format.into(),
            "-o".into(),
            path.to_string_lossy().into_owned(),
        ];
        args.extend(fixtures());
        rdbkit_ok(&args);
        let text = if format == "parquet" {
            // Compressed columns: read them back as text through DuckDB.
            let python = support::venv_bin("python");
            let out = Command::new(python)
                .args([
                    "-c",
                    "import duckdb, sys\nfor r in duckdb.sql(\"select * from read_parquet('\" + sys.argv[1] + \"')\").fetchall(): print(r)",
                    path.to_str().unwrap(),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        } else {
            std::fs::read_to_string(&path).unwrap()
        };
        assert!(text.lines().count() > 100, "{format}");
        outputs.push((format!("keys {format}"), text));
    }
    // The tokens are stable within a run: the same key, the same token in every row.
    let keys_csv = &outputs.iter().find(|(n, _)| n == "keys csv").unwrap().1;
    assert!(keys_csv.contains(",k"), "keys are tokens");

    for (what, text) in &outputs {
        for name in &names {
            assert!(
                !text.contains(name.as_str()),
                "{what} shows the key {name:?}"
            );
        }
    }
    // Prefixes and patterns keep only their structure: with the placeholders and the
    // word tokens taken out, no letter is left.
    let jsonl = &outputs.iter().find(|(n, _)| n == "keys jsonl").unwrap().1;
    for line in jsonl.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        for column in ["prefix", "pattern"] {
            let Some(v) = row[column].as_str() else {
                continue;
            };
            let mut rest = v.to_string();
            for p in [
                "{id}", "{uuid}", "{hex}", "{date}", "{token}", "{bin}", "{…}",
            ] {
                rest = rest.replace(p, "");
            }
            let letters: String = rest
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| {
                    !(w.len() == 7
                        && w.starts_with('w')
                        && w[1..].chars().all(|c| c.is_ascii_hexdigit()))
                })
                .collect();
            assert!(
                !letters.chars().any(|c| c.is_ascii_alphabetic()),
                "{column} {v:?} keeps literal text"
            );
        }
    }
}
