//! `rdbkit restore --tls-server-name` end to end: a `/usr/bin/redis-server` 7.0 with
//! TLS on a random loopback port whose certificate names `redis.test` only (not
//! 127.0.0.1), reached at `rediss://127.0.0.1:PORT` as an Azure private endpoint is
//! reached by IP (issue 4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{
    assert_restored, fixture, make_ca, make_leaf, manifest, manifest_keys, snapshot_keys, temp_dir,
    Cluster, Server, CLUSTER_NODE_ARGS,
};

fn rdbkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .output()
        .expect("run rdbkit")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The certificate directory with a CA, a second unrelated CA and the leaf.
fn certs(tag: &str) -> std::path::PathBuf {
    let dir = temp_dir(tag);
    make_ca(&dir, "ca");
    make_ca(&dir, "other-ca");
    make_leaf(&dir, "DNS:redis.test");
    dir
}

/// A TLS server using the leaf certificate (`extra` appended), reachable by
/// `redis-cli` with the CA and the leaf as client certificate.
fn tls_server(certs: &Path, extra: &[&str]) -> Server {
    let c = |n: &str| path(&certs.join(n));
    let mut args = vec![
        "--tls-cert-file".to_string(),
        c("leaf.crt"),
        "--tls-key-file".into(),
        c("leaf.key"),
        "--tls-ca-cert-file".into(),
        c("ca.crt"),
        "--tls-auth-clients".into(),
        "optional".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::start_with(&args, true, cli_tls_args(certs))
}

fn cli_tls_args(certs: &Path) -> Vec<String> {
    let c = |n: &str| path(&certs.join(n));
    vec![
        "--tls".into(),
        "--cacert".into(),
        c("ca.crt"),
        "--cert".into(),
        c("leaf.crt"),
        "--key".into(),
        c("leaf.key"),
    ]
}

#[test]
fn tls_server_name_verifies_the_certificate_name_not_the_address() {
    let certs = certs("tls-sni");
    let c = |n: &str| path(&certs.join(n));
    let server = tls_server(&certs, &[]);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let ca = c("ca.crt");
    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            f.as_str(),
            "--target",
            url.as_str(),
            "--on-conflict",
            "replace",
            "-q",
        ];
        args.extend_from_slice(extra);
        rdbkit(&args)
    };

    // The certificate does not name 127.0.0.1: refused, with a message saying so and
    // pointing at --tls-server-name; nothing written.
    let out = restore(&["--tls-ca-cert", &ca]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not valid for 127.0.0.1") && err.contains("--tls-server-name"),
        "{err}"
    );
    assert_eq!(server.cli(&["DBSIZE"]).trim(), "0");

    // Another name than the certificate's is refused too.
    let out = restore(&["--tls-ca-cert", &ca, "--tls-server-name", "other.test"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("not valid for other.test"), "{err}");

    // With the certificate's name the data arrives.
    let out = restore(&["--tls-ca-cert", &ca, "--tls-server-name", "redis.test"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);

    // JSON summary through the same path (every key replaced again).
    let out = restore(&[
        "--tls-ca-cert",
        &ca,
        "--tls-server-name",
        "redis.test",
        "--format",
        "json",
        "--no-functions",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(summary["restored"], 113, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");

    // A CA that did not sign the certificate: refused even with the right name.
    let out = restore(&[
        "--tls-ca-cert",
        &c("other-ca.crt"),
        "--tls-server-name",
        "redis.test",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("TLS handshake failed") && err.contains("not signed by the CA"),
        "{err}"
    );
    assert!(
        !err.contains("--tls-server-name"),
        "not a name problem: {err}"
    );

    // --tls-insecure accepts the certificate whatever the name.
    let out = restore(&["--tls-insecure"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The flag needs a rediss:// URL.
    let plain = format!("redis://127.0.0.1:{}", server.port);
    let out = rdbkit(&[
        "restore",
        &f,
        "--target",
        &plain,
        "--tls-server-name",
        "redis.test",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("rediss://"), "{err}");

    // Mutual TLS: once client certificates are required, the restore needs one, and
    // with it (and the server name) succeeds.
    server.cli(&["CONFIG", "SET", "tls-auth-clients", "yes"]);
    let named = [
        "--tls-ca-cert",
        ca.as_str(),
        "--tls-server-name",
        "redis.test",
    ];
    let out = restore(&named);
    assert_eq!(
        out.status.code(),
        Some(2),
        "no client certificate must fail: {}",
        text(&out.stderr)
    );
    let (cert, key) = (c("leaf.crt"), c("leaf.key"));
    let mut with_cert = named.to_vec();
    with_cert.extend(["--tls-cert", &cert, "--tls-key", &key]);
    server.cli(&["FLUSHALL"]);
    let out = restore(&with_cert);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);
    drop(server);
    let _ = std::fs::remove_dir_all(&certs);
}

/// A 3-master cluster over TLS (`tls-cluster yes`): `CLUSTER SLOTS` reports the
/// nodes as 127.0.0.1, which the certificate does not name, so every node
/// connection (not only the seed's) must verify against `--tls-server-name`.
#[test]
fn tls_cluster_nodes_verify_against_the_server_name() {
    let certs = certs("tls-sni-cluster");
    let c = |n: &str| path(&certs.join(n));
    let nodes: Vec<Server> = (0..3)
        .map(|_| {
            tls_server(
                &certs,
                &[&["--tls-cluster", "yes"][..], &CLUSTER_NODE_ARGS].concat(),
            )
        })
        .collect();
    let cluster = Cluster::join(nodes, &cli_tls_args(&certs));
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = format!("rediss://127.0.0.1:{}", cluster.nodes[0].port);
    let ca = c("ca.crt");
    let base = [
        "restore",
        f.as_str(),
        "--target",
        url.as_str(),
        "--db",
        "0",
        "--tls-ca-cert",
        ca.as_str(),
        "--format",
        "json",
    ];

    let out = rdbkit(&base);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--tls-server-name"), "{err}");

    let mut named = base.to_vec();
    named.extend(["--tls-server-name", "redis.test"]);
    let out = rdbkit(&named);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let j: Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    assert_eq!(j["target"]["cluster"], true, "{j}");
    let expected: BTreeSet<_> = manifest_keys(&manifest("redis-7.0.15"))
        .into_iter()
        .filter(|k| k.0 == 0)
        .collect();
    assert_eq!(j["restored"].as_u64(), Some(expected.len() as u64), "{j}");
    let mut got = BTreeSet::new();
    let mut holding = 0;
    for n in &cluster.nodes {
        let keys = snapshot_keys(&n.save());
        holding += usize::from(!keys.is_empty());
        got.extend(keys);
    }
    assert_eq!(got, expected);
    assert!(holding > 1, "keys on one node only: routing not exercised");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&certs);
}

/// Runs `openssl` in `dir` (panics on failure).
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        text(&out.stderr)
    );
}

/// `{name}.crt`/`{name}.key`: a self-signed server certificate for 127.0.0.1, as
/// `openssl req -x509` makes it (CA:TRUE), the way self-signed Redis TLS is set up.
fn self_signed(dir: &Path, name: &str) {
    let (key, crt) = (format!("{name}.key"), format!("{name}.crt"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &crt,
            "-days",
            "2",
            "-subj",
            "/CN=rdbkit self-signed",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
    );
}

/// `{name}.crt`/`{name}.key` for 127.0.0.1 valid from `start` to `end`
/// (`YYYYMMDDHHMMSSZ`), signed by `ca.crt` (or self-signed when `ca` is false):
/// `openssl ca`, the one OpenSSL 3.0 command that sets both dates.
fn dated_cert(dir: &Path, name: &str, start: &str, end: &str, ca: bool) {
    std::fs::write(
        dir.join("dated.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = p\nunique_subject = no\n[p]\ncommonName = supplied\n\
         [leaf]\nbasicConstraints = CA:FALSE\nsubjectAltName = IP:127.0.0.1\n\
         extendedKeyUsage = serverAuth\n",
    )
    .expect("cnf");
    std::fs::write(dir.join("index.txt"), "").expect("index");
    std::fs::write(dir.join("serial"), "1000\n").expect("serial");
    let (key, csr, crt) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
    );
    let subj = format!("/CN=rdbkit {name}");
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", &subj,
        ],
    );
    let mut args = vec![
        "ca",
        "-batch",
        "-config",
        "dated.cnf",
        "-in",
        &csr,
        "-out",
        &crt,
        "-startdate",
        start,
        "-enddate",
        end,
        "-extensions",
        "leaf",
        "-notext",
    ];
    if ca {
        args.extend(["-cert", "ca.crt", "-keyfile", "ca.key"]);
    } else {
        args.extend(["-selfsign", "-keyfile", &key]);
    }
    openssl(dir, &args);
}

/// A TLS server presenting `{name}.crt` (no client certificates asked for).
fn server_with(certs: &Path, name: &str) -> Server {
    let c = |n: &str| path(&certs.join(n));
    let (crt, key) = (c(&format!("{name}.crt")), c(&format!("{name}.key")));
    Server::start_with(
        &[
            "--tls-cert-file",
            &crt,
            "--tls-key-file",
            &key,
            "--tls-ca-cert-file",
            &crt,
            "--tls-auth-clients",
            "no",
        ],
        true,
        vec!["--tls".into(), "--cacert".into(), crt.clone()],
    )
}

/// Text that must never reach an operator: Rust Debug forms and UNIX seconds.
fn assert_plain_words(err: &str) {
    for debug in [
        "CaUsedAsEndEntity",
        "UnknownIssuer",
        "ExpiredContext",
        "NotValidYet",
        "UnixTime",
        "InvalidCertificate",
        "DnsName(",
        "IpAddress(",
    ] {
        assert!(!err.contains(debug), "{debug} in: {err}");
    }
}

/// Issue 12 item 10: a self-signed server certificate given as the CA (as with
/// redis-cli --cacert) is trusted; its name is still checked; another CA gets a
/// message saying what to pass.
#[test]
fn self_signed_certificate_given_as_the_ca_is_accepted() {
    let certs = temp_dir("tls-self");
    self_signed(&certs, "self");
    make_ca(&certs, "ca");
    let server = server_with(&certs, "self");
    let f = path(&fixture("redis-7.0.15.rdb"));
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let own = path(&certs.join("self.crt"));

    let out = rdbkit(&["restore", &f, "--target", &url, "--tls-ca-cert", &own, "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_restored("redis-7.0.15", &server.save(), |_| true, |d| d, true);
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &own]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The same certificate inside a bundle with another CA is trusted too.
    let bundle = certs.join("bundle.crt");
    let mut pem = std::fs::read(certs.join("ca.crt")).unwrap();
    pem.extend(std::fs::read(certs.join("self.crt")).unwrap());
    std::fs::write(&bundle, pem).unwrap();
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &path(&bundle)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Trusting the certificate does not trust it for another name.
    let out = rdbkit(&[
        "info",
        &url,
        "--tls-ca-cert",
        &own,
        "--tls-server-name",
        "other.test",
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not valid for other.test (it is for 127.0.0.1)")
            && err.contains("--tls-server-name"),
        "{err}"
    );
    assert_plain_words(&err);

    // Another CA: refused, saying what to pass.
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &path(&certs.join("ca.crt"))]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("self-signed") && err.contains("not in --tls-ca-cert"),
        "{err}"
    );
    assert_plain_words(&err);
    drop(server);
    let _ = std::fs::remove_dir_all(&certs);
}

/// Issue 12 item 10: certificates out of their validity period are refused with
/// both dates and the current time as ISO-8601, chained or trusted as given.
#[test]
fn expired_and_future_certificates_are_refused_with_dates() {
    let certs = temp_dir("tls-dates");
    make_ca(&certs, "ca");
    dated_cert(
        &certs,
        "expired",
        "20240101000000Z",
        "20240102000000Z",
        true,
    );
    dated_cert(&certs, "future", "20700101000000Z", "20700102000000Z", true);
    dated_cert(
        &certs,
        "expired-self",
        "20240101000000Z",
        "20240102000000Z",
        false,
    );
    let ca = path(&certs.join("ca.crt"));
    let year = |e: &str| e.contains("(it is now 20");

    let expired = server_with(&certs, "expired");
    let url = format!("rediss://127.0.0.1:{}", expired.port);
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &ca]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the server's certificate expired at 2024-01-02T00:00:00Z") && year(&err),
        "{err}"
    );
    assert_plain_words(&err);

    let future = server_with(&certs, "future");
    let url = format!("rediss://127.0.0.1:{}", future.port);
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &ca]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is not valid before 2070-01-01T00:00:00Z") && year(&err),
        "{err}"
    );
    assert_plain_words(&err);

    // A certificate trusted as given (in the CA file) still has its dates checked.
    let own = server_with(&certs, "expired-self");
    let url = format!("rediss://127.0.0.1:{}", own.port);
    let f = path(&fixture("redis-7.0.15.rdb"));
    let own_crt = path(&certs.join("expired-self.crt"));
    let out = rdbkit(&["restore", &f, "--target", &url, "--tls-ca-cert", &own_crt]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("expired at 2024-01-02T00:00:00Z"), "{err}");
    assert_plain_words(&err);
    let _ = std::fs::remove_dir_all(&certs);
}

/// Issue 12 item 10: an unknown issuer, a plain-text port given as rediss:// and a
/// missing client certificate, each in words with what to do.
#[test]
fn unknown_ca_plain_port_and_client_certificate_in_words() {
    let certs = certs("tls-words");
    let c = |n: &str| path(&certs.join(n));
    let server = tls_server(&certs, &["--tls-auth-clients", "yes"]);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let named = ["--tls-server-name", "redis.test"];

    let out = rdbkit(
        &[
            &["info", &url, "--tls-ca-cert", &c("other-ca.crt")][..],
            &named,
        ]
        .concat(),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(
            "the server's certificate is not signed by the CA in --tls-ca-cert: pass the CA"
        ),
        "{err}"
    );
    assert_plain_words(&err);

    // A CA of the same name but another key: the signature does not verify.
    openssl(
        &certs,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "twin.key",
            "-out",
            "twin.crt",
            "-days",
            "2",
            "-subj",
            "/CN=rdbkit ca",
        ],
    );
    let out = rdbkit(&[&["info", &url, "--tls-ca-cert", &c("twin.crt")][..], &named].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("signature that does not verify against the CA's key"),
        "{err}"
    );
    assert_plain_words(&err);

    let out = rdbkit(&[&["info", &url, "--tls-ca-cert", &c("ca.crt")][..], &named].concat());
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("requires a TLS client certificate: pass it with --tls-cert and --tls-key"),
        "{err}"
    );
    assert!(!err.contains("CertificateRequired"), "{err}");

    // The TLS port spoken to in plain text: the server drops the connection; preflight
    // says what that likely means.
    let plain_url = format!("redis://127.0.0.1:{}", server.port);
    let out = rdbkit(&["preflight", "--target", &plain_url]);
    let report = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert!(
        report.contains("FAIL  target.connect")
            && report.contains("it may expect TLS: use rediss://"),
        "{report}"
    );
    let f = fixture("redis-7.0.15.rdb").to_string_lossy().into_owned();
    for cmd in ["restore", "verify"] {
        let out = rdbkit(&[cmd, &f, "--target", &plain_url]);
        assert_eq!(out.status.code(), Some(2), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("use rediss://"), "{cmd}: {err}");
    }

    // A plain-text server: the TLS greeting gets no TLS answer.
    let plain = Server::start(&[]);
    let url = format!("rediss://127.0.0.1:{}", plain.port);
    let out = rdbkit(&["info", &url, "--tls-ca-cert", &c("ca.crt")]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("plain-text port") && err.contains("redis://"),
        "{err}"
    );
    drop((server, plain));
    let _ = std::fs::remove_dir_all(&certs);
}
