//! Snapshots in object storage, against real local servers started here: moto's S3
//! server (`moto_server`, PyPI `moto[server]`) and Microsoft's Azurite
//! (`azurite-blob`, npm), both installed by `scripts/test.sh`. Objects are put and
//! read back with the clouds' own SDKs (boto3, azure-storage-blob), not with rdbkit.
//!
//! - baseline of two shard objects named by a glob equals baseline of the two files;
//! - `convert` from S3 straight to Azure Blob equals a local convert of the same files;
//! - missing object, bad credentials, not an RDB: their messages, exit 2, and nothing
//!   written by a refused convert;
//! - `sync --snapshot s3://...` waits for a backup object uploaded after it started.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, temp_dir, venv_dir, versions_dir, Server};

/// Azurite's well-known development account (its README): not a secret.
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A server process, killed by its PID and reaped on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rdbkit")
}

/// An rdbkit run: arguments, extra environment, and what stderr must contain.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

fn npm_dir() -> PathBuf {
    std::env::var_os("RDBKIT_NPM").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rdbkit/npm"),
        PathBuf::from,
    )
}

/// Both servers and the environment rdbkit needs to reach them; `None` (said on
/// stderr) when a tool is not installed (`scripts/test.sh` installs them).
struct Clouds {
    _moto: Proc,
    _azurite: Proc,
    s3_port: u16,
    blob_port: u16,
    dir: PathBuf,
}

impl Clouds {
    fn start(tag: &str) -> Option<Clouds> {
        let moto = venv_dir().join("bin/moto_server");
        let azurite = npm_dir().join("node_modules/.bin/azurite-blob");
        for tool in [&moto, &azurite] {
            if !tool.is_file() {
                eprintln!(
                    "SKIPPED: {} is not installed (scripts/test.sh installs moto[server] and azurite)",
                    tool.display()
                );
                return None;
            }
        }
        let sdks = Command::new(venv_dir().join("bin/python"))
            .args(["-c", "import boto3, azure.storage.blob"])
            .stderr(Stdio::null())
            .status();
        if !sdks.is_ok_and(|s| s.success()) {
            eprintln!(
                "SKIPPED: boto3 or azure-storage-blob is not installed in {} (scripts/test.sh \
                 installs them)",
                venv_dir().display()
            );
            return None;
        }
        let dir = temp_dir(tag);
        let s3_port = free_port();
        let moto = Proc(
            Command::new(moto)
                .args(["-H", "127.0.0.1", "-p", &s3_port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server"),
        );
        let blob_port = free_port();
        let azurite = Proc(
            Command::new(azurite)
                .args([
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    &blob_port.to_string(),
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--skipApiVersionCheck",
                ])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start azurite-blob"),
        );
        wait_port(s3_port, "moto_server");
        wait_port(blob_port, "azurite-blob");
        Some(Clouds {
            _moto: moto,
            _azurite: azurite,
            s3_port,
            blob_port,
            dir,
        })
    }

    fn connection_string(&self, key: &str) -> String {
        format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={key};\
             BlobEndpoint=http://127.0.0.1:{}/devstoreaccount1;",
            self.blob_port
        )
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.s3_port),
            ),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            (
                "AZURE_STORAGE_CONNECTION_STRING",
                self.connection_string(AZURITE_KEY),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Runs `rdbkit ARGS` with the clouds' environment, `extra` overriding it.
    fn rdbkit(&self, args: &[&str], extra: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin());
        cmd.args(args)
            .stdin(Stdio::null())
            .env_remove("AWS_PROFILE");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().expect("run rdbkit")
    }

    /// Runs a Python snippet in the test venv with the clouds' environment (boto3 and
    /// azure-storage-blob talk to the servers directly).
    fn python(&self, code: &str, args: &[&str]) {
        let mut cmd = Command::new(venv_dir().join("bin/python"));
        cmd.arg("-c").arg(code).args(args);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run python");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates `bucket` and uploads each (local file, key).
    fn s3_put(&self, bucket: &str, objects: &[(&Path, &str)]) {
        let mut args = vec![bucket.to_string()];
        for (file, key) in objects {
            args.push(file.display().to_string());
            args.push(key.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.python(
            "import sys, boto3\n\
             s3 = boto3.client('s3')\n\
             s3.create_bucket(Bucket=sys.argv[1])\n\
             for f, k in zip(sys.argv[2::2], sys.argv[3::2]):\n    s3.upload_file(f, sys.argv[1], k)\n",
            &args,
        );
    }

    /// Object `key` of `bucket` downloaded to `to`.
    fn s3_get(&self, bucket: &str, key: &str, to: &Path) {
        self.python(
            "import sys, boto3\nboto3.client('s3').download_file(sys.argv[1], sys.argv[2], sys.argv[3])\n",
            &[bucket, key, &to.display().to_string()],
        );
    }

    fn blob_client_code() -> &'static str {
        "import os, sys\n\
         from azure.storage.blob import BlobServiceClient\n\
         c = BlobServiceClient.from_connection_string(os.environ['AZURE_STORAGE_CONNECTION_STRING'])\n"
    }

    fn azure_container(&self, container: &str) {
        self.python(
            &format!(
                "{}c.create_container(sys.argv[1])\n",
                Self::blob_client_code()
            ),
            &[container],
        );
    }

    /// The blobs of `container` (names), and `blob` downloaded to `to`.
    fn azure_get(&self, container: &str, blob: &str, to: &Path) -> Vec<String> {
        let list = self.dir.join("blobs.txt");
        self.python(
            &format!(
                "{}cc = c.get_container_client(sys.argv[1])\n\
                 open(sys.argv[4], 'w').write('\\n'.join(b.name for b in cc.list_blobs()))\n\
                 if sys.argv[2]:\n    open(sys.argv[3], 'wb').write(cc.get_blob_client(sys.argv[2]).download_blob().readall())\n",
                Self::blob_client_code()
            ),
            &[
                container,
                blob,
                &to.display().to_string(),
                &list.display().to_string(),
            ],
        );
        std::fs::read_to_string(list)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn shard_files() -> [PathBuf; 2] {
    let dir = versions_dir();
    [dir.join("redis-7.0.15.rdb"), dir.join("redis-7.2.6.rdb")]
}

#[test]
fn baseline_of_shard_objects_by_glob_equals_the_files() {
    let Some(clouds) = Clouds::start("s3-glob") else {
        return;
    };
    let [a, b] = shard_files();
    // A third object that the glob must leave out.
    clouds.s3_put(
        "backups",
        &[
            (&a, "daily/mybackup-0001.rdb"),
            (&b, "daily/mybackup-0002.rdb"),
            (&a, "daily/other-0001.rdb"),
        ],
    );
    let remote = clouds.rdbkit(
        &[
            "baseline",
            "s3://backups/daily/mybackup-*.rdb",
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = clouds.rdbkit(
        &[
            "baseline",
            &a.display().to_string(),
            &b.display().to_string(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let unname = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .replace("s3://backups/daily/mybackup-0001.rdb", "A")
            .replace("s3://backups/daily/mybackup-0002.rdb", "B")
            .replace(&a.display().to_string(), "A")
            .replace(&b.display().to_string(), "B")
    };
    let (r, l) = (unname(&remote), unname(&local));
    // Both files have a ctime, so nothing depends on the files' modification times.
    let rv: serde_json::Value = serde_json::from_str(&r).unwrap();
    let lv: serde_json::Value = serde_json::from_str(&l).unwrap();
    assert_eq!(
        rv, lv,
        "baseline by glob differs from baseline of the files"
    );
    assert_eq!(
        rv["source"]["files"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );

    // `keys` streams its rows into an upload: the same rows as from the files.
    let remote = clouds.rdbkit(
        &[
            "keys",
            "s3://backups/daily/mybackup-*.rdb",
            "--format",
            "csv",
            "-o",
            "s3://backups/keys.csv",
        ],
        &[],
    );
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local_csv = clouds.dir.join("keys.csv");
    let local = clouds.rdbkit(
        &[
            "keys",
            &a.display().to_string(),
            &b.display().to_string(),
            "--format",
            "csv",
            "-o",
            &local_csv.display().to_string(),
        ],
        &[],
    );
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));
    let downloaded = clouds.dir.join("downloaded.csv");
    clouds.s3_get("backups", "keys.csv", &downloaded);
    let got = std::fs::read_to_string(&downloaded)
        .unwrap()
        .replace("s3://backups/daily/mybackup-0001.rdb", "A")
        .replace("s3://backups/daily/mybackup-0002.rdb", "B");
    let want = std::fs::read_to_string(&local_csv)
        .unwrap()
        .replace(&a.display().to_string(), "A")
        .replace(&b.display().to_string(), "B");
    assert!(want.lines().count() > 100);
    assert!(got == want, "keys -o s3:// differs from keys -o FILE");
}

#[test]
fn convert_from_s3_to_azure_equals_a_local_convert() {
    let Some(clouds) = Clouds::start("s3-azure") else {
        return;
    };
    let [a, b] = shard_files();
    clouds.s3_put(
        "exports",
        &[(&a, "mybackup-0001.rdb"), (&b, "mybackup-0002.rdb")],
    );
    clouds.azure_container("imports");
    let flags = [
        "--target-rdb-version",
        "9",
        "--on-duplicate",
        "last",
        "--functions",
        "drop",
    ];
    let mut args = vec!["convert", "s3://exports/mybackup-*.rdb"];
    args.extend(flags);
    args.extend(["-o", "az://imports/import.rdb"]);
    let remote = clouds.rdbkit(&args, &[]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));

    let local_out = clouds.dir.join("import.rdb");
    let (a_s, b_s, out_s) = (
        a.display().to_string(),
        b.display().to_string(),
        local_out.display().to_string(),
    );
    let mut args = vec!["convert", a_s.as_str(), b_s.as_str()];
    args.extend(flags);
    args.extend(["-o", out_s.as_str()]);
    let local = clouds.rdbkit(&args, &[]);
    assert_eq!(local.status.code(), Some(0), "{}", stderr(&local));

    let downloaded = clouds.dir.join("downloaded.rdb");
    let blobs = clouds.azure_get("imports", "import.rdb", &downloaded);
    assert!(blobs.contains(&"import.rdb".to_string()), "{blobs:?}");
    let got = std::fs::read(&downloaded).unwrap();
    let want = std::fs::read(&local_out).unwrap();
    assert_eq!(got.len(), want.len());
    // Byte-equal but for the conversion time (AUX ctime, same length) and the CRC-64
    // trailer that covers it.
    let ctime = want.windows(5).position(|w| w == b"ctime").unwrap();
    let value = ctime + 5 + 1;
    let differing: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(
        differing
            .iter()
            .all(|&i| (value..value + 10).contains(&i) || i >= got.len() - 8),
        "the uploaded file differs from the local convert at {differing:?}"
    );
    let check = clouds.rdbkit(&["check", "az://imports/import.rdb"], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
}

#[test]
fn errors_name_the_cause_and_exit_2() {
    let Some(clouds) = Clouds::start("s3-errors") else {
        return;
    };
    let [a, _] = shard_files();
    let page = clouds.dir.join("page.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body>Access denied</body></html>",
    )
    .unwrap();
    let gz = clouds.dir.join("a.rdb.gz");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("gzip -c {} > {}", a.display(), gz.display()))
        .status()
        .unwrap();
    assert!(status.success());
    clouds.s3_put(
        "errs",
        &[(&page, "page.rdb"), (&a, "good.rdb"), (&gz, "good.rdb.gz")],
    );
    clouds.azure_container("dest");

    // A gzip object decompresses as it streams.
    let out = clouds.rdbkit(&["check", "s3://errs/good.rdb.gz"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let no_aws = [
        ("AWS_ACCESS_KEY_ID", ""),
        ("AWS_SECRET_ACCESS_KEY", ""),
        ("HOME", "/nonexistent"),
    ];
    let cases: [Case<'_>; 6] = [
        (
            &["baseline", "s3://errs/good.rdb"],
            &no_aws,
            "no credentials for S3",
        ),
        (
            &["baseline", "s3://errs/missing.rdb"],
            &[],
            "no such object",
        ),
        (
            &["baseline", "s3://errs/nothing-*.rdb"],
            &[],
            "no object matches",
        ),
        (
            &["baseline", "s3://errs/page.rdb"],
            &[],
            "HTML page, not an RDB snapshot",
        ),
        (
            &["baseline", "az://dest/x.rdb"],
            &[("AZURE_STORAGE_CONNECTION_STRING", "")],
            "no credentials",
        ),
        (
            &["baseline", "s3://errs/"],
            &[],
            "HTML page, not an RDB snapshot",
        ),
    ];
    for (args, extra, want) in cases {
        let out = clouds.rdbkit(args, extra);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "rdbkit {args:?}: {err}");
        assert!(
            err.contains(want),
            "rdbkit {args:?}: want {want:?} in: {err}"
        );
    }

    // Bad credentials: refused by the server, named with what to set; the key is
    // never printed.
    let bad_key = AZURITE_KEY.replace("Eby8", "Xby8");
    let bad = clouds.connection_string(&bad_key);
    let out = clouds.rdbkit(
        &[
            "convert",
            "s3://errs/good.rdb",
            "--target-rdb-version",
            "11",
            "-o",
            "az://dest/out.rdb",
        ],
        &[("AZURE_STORAGE_CONNECTION_STRING", &bad)],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("access denied to container dest"), "{err}");
    assert!(err.contains("AZURE_STORAGE_CONNECTION_STRING"), "{err}");
    assert!(!err.contains(&bad_key) && !err.contains("Xby8"), "{err}");

    // A convert refused midway (a corrupt input after a good one) leaves nothing at
    // the destination: the upload is aborted.
    let corrupt = versions_dir().join("redis-7.0.15.corrupt.rdb");
    clouds.s3_put("errs2", &[(&corrupt, "z-corrupt.rdb"), (&a, "a-good.rdb")]);
    let out = clouds.rdbkit(
        &[
            "convert",
            "s3://errs2/*.rdb",
            "--target-rdb-version",
            "11",
            "-o",
            "az://dest/out.rdb",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let blobs = clouds.azure_get("dest", "", &clouds.dir.join("unused"));
    assert!(blobs.is_empty(), "a refused convert left {blobs:?}");
}

/// The library's writer: nothing is visible at the URL before `finish` (parts already
/// uploaded included), a dropped writer aborts, and what `finish` completes reads back
/// byte for byte, through the SDKs and through the library's ranged reader.
#[test]
fn uploads_appear_only_when_finished() {
    use std::io::{Read, Write};
    let Some(clouds) = Clouds::start("upload") else {
        return;
    };
    clouds.s3_put("uploads", &[]);
    clouds.azure_container("uploads");
    // The library reads credentials from the environment: this process's own, used
    // only by the library calls below (the rdbkit runs of other tests set theirs).
    for (k, v) in clouds.env() {
        std::env::set_var(k, v);
    }
    // More than one part (16 MiB), not a multiple of the read ranges.
    let data: Vec<u8> = (0..(20u32 << 20) + 12345)
        .map(|i| (i % 251) as u8)
        .collect();
    for base in ["s3://uploads", "az://uploads"] {
        {
            let mut dropped = rdb_restore::storage::create(&format!("{base}/dropped.bin")).unwrap();
            dropped.write_all(&data).unwrap();
        }
        let mut done = rdb_restore::storage::create(&format!("{base}/done.bin")).unwrap();
        done.write_all(&data).unwrap();
        let listed = rdb_restore::storage::list(&format!("{base}/"));
        assert!(
            matches!(
                listed,
                Err(rdb_restore::storage::StorageError::NoMatch { .. })
            ),
            "{base}: visible before finish: {listed:?}"
        );
        assert_eq!(done.finish().unwrap(), data.len() as u64);
        let listed: Vec<String> = rdb_restore::storage::list(&format!("{base}/"))
            .unwrap()
            .into_iter()
            .map(|o| o.url.key)
            .collect();
        assert_eq!(listed, vec!["done.bin".to_string()], "{base}");
        let mut back = Vec::new();
        rdb_restore::storage::open(&format!("{base}/done.bin"))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "{base}: read back differs");
    }
    let downloaded = clouds.dir.join("done.bin");
    clouds.azure_get("uploads", "done.bin", &downloaded);
    assert!(std::fs::read(&downloaded).unwrap() == data);
}

/// The sync runbook with the backup in S3: sync starts first (capture running), the
/// backup object does not exist yet and is waited for; it is uploaded after writes
/// that only the capture sees. Sync restores the object, catches up and converges:
/// the target equals the source, with no re-scan (the backup is newer than capture).
#[test]
fn sync_waits_for_a_snapshot_object_uploaded_after_it_started() {
    let Some(clouds) = Clouds::start("sync-object") else {
        return;
    };
    clouds.s3_put("backups", &[]);
    let source = Server::start(&["--notify-keyspace-events", "KEA"]);
    let target = Server::start(&[]);
    for i in 0..500 {
        source.cli(&["SET", &format!("before:{i}"), &i.to_string()]);
    }
    let journal = clouds.dir.join("journal");
    let mut cmd = Command::new(bin());
    cmd.args(["sync", "--source", &source.url(), "--target", &target.url()])
        .args(["--snapshot", "s3://backups/backup.rdb", "--journal"])
        .arg(&journal)
        .args(["--quiet-for", "2", "--interval", "0.5", "--format", "jsonl"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in clouds.env() {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run rdbkit sync");
    let stdout = child.stdout.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines
        .lock()
        .unwrap()
        .iter()
        .any(|l| l.contains("\"waiting-for-snapshot\""))
    {
        assert!(
            Instant::now() < deadline,
            "sync never waited for the snapshot"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The backup's ctime must fall in a later second than the capture.
    std::thread::sleep(Duration::from_millis(1100));
    for i in 0..100 {
        source.cli(&["SET", &format!("during:{i}"), &i.to_string()]);
    }
    let backup = clouds.dir.join("backup.rdb");
    std::fs::write(&backup, source.save()).unwrap();
    for i in 0..100 {
        source.cli(&["SET", &format!("after:{i}"), &i.to_string()]);
    }
    source.cli(&["DEL", "before:0", "before:1"]);
    clouds.s3_put("backups", &[(&backup, "backup.rdb")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sync did not end: {:?}", lines.lock().unwrap().last());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    reader.join().unwrap();
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let last: serde_json::Value =
        serde_json::from_str(lines.lock().unwrap().last().expect("a last line")).unwrap();
    assert!(status.success(), "stderr: {err}\nlast: {last}");
    assert_eq!(last["verdict"], "converged", "{last}");
    assert_eq!(last["snapshot"]["restored"], 600, "{last}");
    assert_eq!(last["repairs_list"], serde_json::json!([]), "{last}");
    let reply = |server: &Server, args: &[&str]| server.cli(args).trim().to_string();
    assert_eq!(reply(&source, &["DBSIZE"]), "698");
    assert_eq!(reply(&target, &["DBSIZE"]), "698");
    assert_eq!(reply(&target, &["GET", "after:99"]), "99");
    assert_eq!(reply(&target, &["GET", "during:99"]), "99");
    assert_eq!(reply(&target, &["EXISTS", "before:0"]), "0");
}
