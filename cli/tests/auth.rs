//! Issue 18: credentials that change under a run. Against a real Redis 7.0 with an
//! ACL user: a throttled restore whose user's password is rotated in the middle
//! (`ACL SETUSER ... resetpass >new`) with all of that user's connections killed
//! (`CLIENT KILL USER`) finishes with every key restored (exit 0) and `verify` clean,
//! with the password from `--password-command` and from `--auth azure` (an Azure CLI
//! stand-in on `PATH` printing tokens as `az account get-access-token` does).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../restore/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::{temp_dir, Server};

const KEYS: u64 = 20_000;
const USER: &str = "migrator";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A server with the ACL user `user` (password `password`, every permission); the
/// `default` user stays open for the test's own `redis-cli`.
fn server_with_user(user: &str, password: &str) -> Server {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    let pass = format!(">{password}");
    let reply = server.cli(&["ACL", "SETUSER", user, "on", &pass, "~*", "&*", "+@all"]);
    assert_eq!(reply.trim(), "OK");
    server
}

/// A snapshot of `KEYS` string keys written by a real server.
fn populated_snapshot(dir: &Path) -> PathBuf {
    let server = Server::start(&["--enable-debug-command", "yes"]);
    server.cli(&["DEBUG", "POPULATE", &KEYS.to_string(), "key", "100"]);
    let path = dir.join("populated.rdb");
    std::fs::write(&path, server.save()).unwrap();
    path
}

fn dbsize(server: &Server) -> u64 {
    server.cli(&["DBSIZE"]).trim().parse().unwrap_or(0)
}

/// `DBSIZE` polled on one connection of the `default` user (a `redis-cli` per poll
/// would add a connection each time to the server's count).
struct Poller(std::net::TcpStream);

impl Poller {
    fn new(server: &Server) -> Poller {
        Poller(std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap())
    }

    fn dbsize(&mut self) -> u64 {
        use std::io::{BufRead, BufReader, Write};
        self.0.write_all(b"*1\r\n$6\r\nDBSIZE\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(&self.0).read_line(&mut line).unwrap();
        line.trim().trim_start_matches(':').parse().unwrap()
    }
}

/// A field of `INFO section` as a number.
fn info_number(server: &Server, section: &str, field: &str) -> u64 {
    server
        .cli(&["INFO", section])
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// `AUTH` calls the server answered (`INFO commandstats`).
fn auth_calls(server: &Server) -> u64 {
    server
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_auth:calls="))
        .and_then(|r| r.split(',').next())
        .map(|v| v.parse().unwrap())
        .unwrap_or(0)
}

fn rdbkit(args: &[&str], path_dir: Option<&Path>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rdbkit"));
    // Nothing of the developer's own cloud identity leaks into a test.
    for (k, _) in std::env::vars() {
        if k.starts_with("AZURE_") || k.starts_with("AWS_") || k.starts_with("IDENTITY_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = path_dir {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", dir.display()));
    }
    cmd
}

fn finish(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("rdbkit did not finish within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Exit 0 and every key restored; no secret in the output.
fn assert_all_restored(out: &Output, secrets: &[&str]) {
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{all}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["restored"].as_u64(), Some(KEYS), "{j}");
    for s in secrets {
        assert!(!all.contains(s), "a secret in the output: {all}");
    }
}

/// Rotates `USER`'s password to `new` and kills all its connections; how many.
fn rotate_and_kill(server: &Server, new: &str) -> u64 {
    let pass = format!(">{new}");
    let reply = server.cli(&["ACL", "SETUSER", USER, "resetpass", &pass]);
    assert_eq!(reply.trim(), "OK");
    server
        .cli(&["CLIENT", "KILL", "USER", USER])
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn password_command_survives_a_rotation_with_connections_killed() {
    let dir = temp_dir("auth-rotate");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let server = server_with_user(USER, "first-Secret-1");
    let pw_file = dir.join("password");
    std::fs::write(&pw_file, "first-Secret-1\n").unwrap();
    let command = format!("cat '{}'", pw_file.display());
    let url = format!("redis://{USER}@127.0.0.1:{}", server.port);
    let child = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--password-command",
            &command,
            "--max-ops",
            "5000",
            "--format",
            "json",
        ],
        None,
    )
    .spawn()
    .unwrap();
    wait_until("restore did not start", || dbsize(&server) >= 2000);
    // The secrets manager gets the new password first, then the server.
    std::fs::write(&pw_file, "second-Secret-2\n").unwrap();
    let killed = rotate_and_kill(&server, "second-Secret-2");
    assert!(killed >= 1, "no connection of {USER} to kill");
    let before_end = dbsize(&server);
    assert!(before_end < KEYS, "the rotation came after the end");
    let out = finish(child, Duration::from_secs(90));
    assert_all_restored(&out, &["first-Secret-1", "second-Secret-2"]);
    assert_eq!(dbsize(&server), KEYS);
    let out = rdbkit(
        &[
            "verify",
            &f,
            "--target",
            &url,
            "--password-command",
            &command,
        ],
        None,
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// `--credential-lifetime`: live connections send `AUTH` again (with the password
/// current then) instead of waiting to be cut; a rotation without any kill is
/// picked up by those re-authentications.
#[test]
fn credential_lifetime_reauthenticates_live_connections() {
    let dir = temp_dir("auth-lifetime");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let server = server_with_user(USER, "first-Secret-1");
    let pw_file = dir.join("password");
    std::fs::write(&pw_file, "first-Secret-1\n").unwrap();
    let command = format!("cat '{}'", pw_file.display());
    let url = format!("redis://{USER}@127.0.0.1:{}", server.port);
    let mut poller = Poller::new(&server);
    let connections_before = info_number(&server, "stats", "total_connections_received");
    let auth_before = auth_calls(&server);
    let child = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--password-command",
            &command,
            "--credential-lifetime",
            "0.5",
            "--max-ops",
            "4000",
            "--format",
            "json",
        ],
        None,
    )
    .spawn()
    .unwrap();
    wait_until("restore did not start", || poller.dbsize() >= 2000);
    std::fs::write(&pw_file, "second-Secret-2\n").unwrap();
    let reply = server.cli(&["ACL", "SETUSER", USER, "resetpass", ">second-Secret-2"]);
    assert_eq!(reply.trim(), "OK");
    let out = finish(child, Duration::from_secs(90));
    assert_all_restored(&out, &["first-Secret-1", "second-Secret-2"]);
    let connections =
        info_number(&server, "stats", "total_connections_received") - connections_before;
    let auths = auth_calls(&server) - auth_before;
    // Every connection authenticates once when opened; more AUTH calls than
    // connections (the test's own redis-cli ones included) are renewals.
    assert!(
        auths > connections + 3,
        "{auths} AUTH calls for {connections} connections: no re-authentication"
    );
}

/// Wrong credentials, repeatedly: the run stops before writing with a message that
/// names the user, where the password came from and what to check; exit 2.
#[test]
fn repeated_refusal_is_explained() {
    let dir = temp_dir("auth-refused");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let server = server_with_user(USER, "right-Secret");
    let url = format!("redis://{USER}@127.0.0.1:{}", server.port);
    let out = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--password-command",
            "echo wrong-Secret",
        ],
        None,
    )
    .output()
    .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(&format!("user '{USER}'")), "{err}");
    assert!(err.contains("password command \"echo ...\""), "{err}");
    assert!(err.contains("refused 5 times"), "{err}");
    assert_eq!(dbsize(&server), 0);
    // A failing command: its exit status and stderr, never its output.
    let out = rdbkit(
        &[
            "info",
            "--target",
            &url,
            "--password-command",
            "echo half-Secret; echo 'vault: permission denied' >&2; exit 3",
        ],
        None,
    )
    .output()
    .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exit status: 3") && err.contains("vault: permission denied"),
        "{err}"
    );
    assert!(!err.contains("half-Secret"), "{err}");
}

/// Unpadded base64url (JWT parts).
fn base64url(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// An Entra ID-shaped access token (unsigned JWT) for object id `oid`; `serial`
/// tells the tokens apart.
fn entra_token(oid: &str, serial: u32) -> String {
    let header = base64url(br#"{"typ":"JWT","alg":"RS256","kid":"test"}"#);
    let claims = format!(
        r#"{{"aud":"https://redis.azure.com","iss":"https://sts.windows.net/t/","oid":"{oid}","tid":"t","serial":{serial}}}"#
    );
    format!(
        "{header}.{}.{}",
        base64url(claims.as_bytes()),
        base64url(b"signature")
    )
}

/// An `az` stand-in in `dir`: `az account get-access-token --scope
/// https://redis.azure.com/.default --output json` prints the token in `token_file`
/// the way the Azure CLI does (accessToken, expiresOn in local time, expires_on in
/// Unix seconds, subscription, tenant, tokenType), valid for `life_s` seconds from now.
fn azure_cli_stand_in(dir: &Path, token_file: &Path, life_s: u64) {
    use std::os::unix::fs::PermissionsExt;
    let script = format!(
        r#"#!/bin/sh
case "$*" in
  "account get-access-token --scope https://redis.azure.com/.default --output json") ;;
  *) echo "ERROR: unexpected arguments: $*" >&2; exit 2 ;;
esac
exp=$(( $(date +%s) + {life_s} ))
printf '{{\n  "accessToken": "%s",\n  "expiresOn": "%s",\n  "expires_on": %s,\n  "subscription": "00000000-0000-0000-0000-000000000001",\n  "tenant": "00000000-0000-0000-0000-000000000002",\n  "tokenType": "Bearer"\n}}\n' \
  "$(cat '{}')" "$(date -d @$exp '+%Y-%m-%d %H:%M:%S.000000')" "$exp"
"#,
        token_file.display()
    );
    let path = dir.join("az");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `--auth azure`: the user is the token's `oid`, the password the token. The
/// tokens live 3 s (renewed on live connections at half their life, Azure's 3-minute
/// lead being longer); mid-run the token is rotated and the user's connections
/// killed, and the run still restores every key, then verifies clean.
#[test]
fn azure_token_from_the_cli_survives_a_rotation() {
    let dir = temp_dir("auth-azure");
    let f = populated_snapshot(&dir).to_string_lossy().into_owned();
    let oid = "4a7f7a4e-1c2b-4d3e-9f00-5b6c7d8e9f10";
    let (first, second) = (entra_token(oid, 1), entra_token(oid, 2));
    let server = server_with_user(oid, &first);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, &first).unwrap();
    azure_cli_stand_in(&bin, &token_file, 3);
    let url = format!("redis://127.0.0.1:{}", server.port);
    let mut poller = Poller::new(&server);
    let connections_before = info_number(&server, "stats", "total_connections_received");
    let auth_before = auth_calls(&server);
    let child = rdbkit(
        &[
            "restore",
            &f,
            "--target",
            &url,
            "--auth",
            "azure",
            "--max-ops",
            "3000",
            "--format",
            "json",
        ],
        Some(&bin),
    )
    .spawn()
    .unwrap();
    wait_until("restore did not start", || poller.dbsize() >= 2000);
    thread::sleep(Duration::from_millis(2500));
    // Past half the first token's life: live connections renewed it.
    let connections =
        info_number(&server, "stats", "total_connections_received") - connections_before;
    let auths = auth_calls(&server) - auth_before;
    assert!(
        auths > connections,
        "{auths} AUTH calls for {connections} connections: no renewal before expiry"
    );
    std::fs::write(&token_file, &second).unwrap();
    let pass = format!(">{second}");
    assert_eq!(
        server
            .cli(&["ACL", "SETUSER", oid, "resetpass", &pass])
            .trim(),
        "OK"
    );
    let killed: u64 = server
        .cli(&["CLIENT", "KILL", "USER", oid])
        .trim()
        .parse()
        .unwrap();
    assert!(killed >= 1, "no connection of the token's user to kill");
    assert!(poller.dbsize() < KEYS, "the rotation came after the end");
    let out = finish(child, Duration::from_secs(90));
    assert_all_restored(&out, &[&first, &second]);
    let out = rdbkit(
        &["verify", &f, "--target", &url, "--auth", "azure"],
        Some(&bin),
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    // Signed out: the CLI's complaint, and what to do.
    std::fs::write(
        bin.join("az"),
        "#!/bin/sh\necho 'ERROR: Please run az login to setup account.' >&2\nexit 1\n",
    )
    .unwrap();
    let out = rdbkit(&["info", "--target", &url, "--auth", "azure"], Some(&bin))
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("Please run az login") && err.contains("Microsoft Entra ID"),
        "{err}"
    );
}

/// The ElastiCache IAM token equals the one botocore (`SigV4QueryAuth`, the AWS SDK
/// for Python) signs for the same keys, time, region, cache and user: replication
/// group and serverless, with and without a session token, a user name to encode.
#[test]
fn elasticache_iam_token_equals_botocore() {
    use rdb_restore::credential::aws::{elasticache_token, AwsKeys};
    use rdb_restore::Secret;
    let python = support::venv_bin("python");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/elasticache_token.py");
    // 2025-01-02T03:04:05Z
    let time = std::time::UNIX_EPOCH + Duration::from_secs(1_735_787_045);
    let cases = [
        (None, "us-east-1", "my-cache", "app-user", false),
        (
            Some("IQoJb3JpZ2luX2VjE/+tok=en"),
            "eu-west-1",
            "my-serverless",
            "app-user",
            true,
        ),
        (
            Some("FwoGZXIvYXdzEBY"),
            "ap-southeast-2",
            "orders-prod-001",
            "svc user@x",
            false,
        ),
    ];
    for (session, region, name, user, serverless) in cases {
        let keys = AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: session.map(Secret::new),
            expires: None,
            origin: "test".into(),
        };
        let ours = elasticache_token(&keys, region, name, user, serverless, time).unwrap();
        let out = Command::new(&python)
            .arg(&script)
            .args([
                "AKIDEXAMPLE",
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                session.unwrap_or("-"),
                region,
                name,
                user,
                if serverless {
                    "serverless"
                } else {
                    "replication-group"
                },
                "20250102T030405Z",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "botocore: {}", text(&out.stderr));
        assert_eq!(ours, text(&out.stdout).trim(), "{name} {user}");
    }
}

/// The AWS keys come from the standard chain: the environment first, then the
/// profile's static keys or credential_process in the shared files.
#[test]
fn aws_keys_from_the_standard_chain() {
    let dir = temp_dir("auth-aws-keys");
    let creds = dir.join("credentials");
    let config = dir.join("config");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = file-secret\n",
    )
    .unwrap();
    std::fs::write(
        &config,
        "[profile proc]\ncredential_process = printf '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROC\", \"SecretAccessKey\": \"proc-secret\", \"SessionToken\": \"proc-token\", \"Expiration\": \"2030-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    // Run the look-ups in a child process: the environment is per process.
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([
            "--exact",
            "aws_keys_child",
            "--nocapture",
            "--include-ignored",
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
        .env("AWS_CONFIG_FILE", &config);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stdout = text(&out.stdout);
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("KEYS "))
            .unwrap_or_else(|| panic!("{stdout}{}", text(&out.stderr)))
            .to_string()
    };
    assert_eq!(
        run(&[]),
        format!("AKIDFILE - profile default in {}", creds.display())
    );
    assert_eq!(
        run(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "env-secret")
        ]),
        "AKIDENV - environment"
    );
    assert_eq!(
        run(&[("AWS_PROFILE", "proc")]),
        format!(
            "ASIAPROC token 1893456000 profile proc in {}",
            config.display()
        )
    );
}

/// The child of `aws_keys_from_the_standard_chain`: prints what the chain found.
#[test]
#[ignore = "run by aws_keys_from_the_standard_chain in its own environment"]
fn aws_keys_child() {
    let keys = rdb_restore::credential::aws::aws_keys(Duration::from_secs(10)).unwrap();
    println!(
        "KEYS {} {} {}",
        keys.access_key_id,
        match (&keys.session_token, keys.expires) {
            (Some(_), Some(e)) => format!(
                "token {}",
                e.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            ),
            (Some(_), None) => "token".to_string(),
            _ => "-".to_string(),
        },
        keys.origin
    );
}

/// `preflight` says which identity and user it authenticated as and when the
/// credential expires; the suggested restore repeats the credential flags.
#[test]
fn preflight_names_the_identity_user_and_expiry() {
    let dir = temp_dir("auth-preflight");
    let oid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    let token = entra_token(oid, 1);
    let server = server_with_user(oid, &token);
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();
    azure_cli_stand_in(&bin, &token_file, 3600);
    let url = format!("redis://127.0.0.1:{}", server.port);
    let out = rdbkit(
        &["preflight", "--target", &url, "--auth", "azure"],
        Some(&bin),
    )
    .output()
    .unwrap();
    let stdout = text(&out.stdout);
    let auth = stdout
        .lines()
        .find(|l| l.contains("target.auth"))
        .unwrap_or_else(|| panic!("{stdout}{}", text(&out.stderr)));
    assert!(auth.starts_with("PASS"), "{auth}");
    assert!(
        auth.contains(&format!(
            "authenticated as ACL user \"{oid}\" with a credential from Microsoft Entra ID (Azure CLI), expiring 20"
        )),
        "{auth}"
    );
    assert!(
        auth.contains("(in 59 min") || auth.contains("(in 60 min"),
        "{auth}"
    );
    assert!(stdout.contains("--auth azure"), "{stdout}");
    assert!(!stdout.contains(&token), "{stdout}");
    // A password command gives no expiry; the user is the URL's.
    server.cli(&["ACL", "SETUSER", USER, "on", ">pw-Secret", "~*", "+@all"]);
    let url = format!("redis://{USER}@127.0.0.1:{}", server.port);
    let out = rdbkit(
        &[
            "preflight",
            "--target",
            &url,
            "--password-command",
            "echo pw-Secret",
        ],
        None,
    )
    .output()
    .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "authenticated as ACL user \"{USER}\" with a credential from password command \"echo ...\", no expiry given"
        )),
        "{stdout}"
    );
}

/// A token endpoint stand-in on loopback: answers every request with `answer` and
/// records each request (request line, headers, body).
fn token_endpoint(answer: String) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                request.push_str(&line);
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            request.push_str(&text(&body));
            log.lock().unwrap().push(request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (port, seen)
}

/// `--auth azure` walks the Azure Identity chain: the environment's service
/// principal (client secret), workload identity (federated token file) and a managed
/// identity endpoint (App Service's `IDENTITY_ENDPOINT`), each asked the way Entra ID
/// and the endpoint expect; `preflight` names the one used.
#[test]
fn azure_chain_service_principal_workload_and_managed_identity() {
    let dir = temp_dir("auth-azure-chain");
    let oid = "9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9";
    let token = entra_token(oid, 7);
    let server = server_with_user(oid, &token);
    let url = format!("redis://127.0.0.1:{}", server.port);
    let expires_on = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let (port, seen) = token_endpoint(format!(
        r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}","expires_on":"{expires_on}","resource":"https://redis.azure.com"}}"#
    ));
    let authority = format!("http://127.0.0.1:{port}");
    let assertion_file = dir.join("federated-token");
    std::fs::write(&assertion_file, "federated-Assertion-1\n").unwrap();
    let assertion_path = assertion_file.to_string_lossy().into_owned();
    let msi = format!("http://127.0.0.1:{port}/msi/token");
    let cases: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "environment service principal",
            vec![
                ("AZURE_AUTHORITY_HOST", &authority),
                ("AZURE_TENANT_ID", "tenant-1"),
                ("AZURE_CLIENT_ID", "client-1"),
                ("AZURE_CLIENT_SECRET", "sp-Secret-1"),
            ],
        ),
        (
            "workload identity",
            vec![
                ("AZURE_AUTHORITY_HOST", &authority),
                ("AZURE_TENANT_ID", "tenant-1"),
                ("AZURE_CLIENT_ID", "client-1"),
                ("AZURE_FEDERATED_TOKEN_FILE", &assertion_path),
            ],
        ),
        (
            "managed identity",
            vec![
                ("IDENTITY_ENDPOINT", &msi),
                ("IDENTITY_HEADER", "header-Secret-1"),
            ],
        ),
    ];
    for (name, envs) in cases {
        seen.lock().unwrap().clear();
        let mut cmd = rdbkit(&["preflight", "--target", &url, "--auth", "azure"], None);
        cmd.envs(envs.iter().copied());
        let out = cmd.output().unwrap();
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            all.contains(&format!(
                "PASS  target.auth          authenticated as ACL user \"{oid}\" with a credential from Microsoft Entra ID ({name})"
            )),
            "{name}: {all}"
        );
        for secret in [
            &token,
            "sp-Secret-1",
            "federated-Assertion-1",
            "header-Secret-1",
        ] {
            assert!(
                !all.contains(secret),
                "{name}: a secret in the output: {all}"
            );
        }
        let requests = seen.lock().unwrap().clone();
        assert_eq!(requests.len(), 1, "{name}: {requests:?}");
        let request = &requests[0];
        let scope = "scope=https%3A%2F%2Fredis.azure.com%2F.default";
        match name {
            "environment service principal" => {
                assert!(
                    request.starts_with("POST /tenant-1/oauth2/v2.0/token HTTP/1.1"),
                    "{request}"
                );
                for part in [
                    "grant_type=client_credentials",
                    "client_id=client-1",
                    "client_secret=sp-Secret-1",
                    scope,
                ] {
                    assert!(request.contains(part), "{part}: {request}");
                }
            }
            "workload identity" => {
                assert!(
                    request.starts_with("POST /tenant-1/oauth2/v2.0/token HTTP/1.1"),
                    "{request}"
                );
                for part in [
                    "client_assertion=federated-Assertion-1&",
                    "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer",
                    scope,
                ] {
                    assert!(request.contains(part), "{part}: {request}");
                }
                assert!(!request.contains("client_secret"), "{request}");
            }
            _ => {
                assert!(
                    request.starts_with(
                        "GET /msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fredis.azure.com HTTP/1.1"
                    ),
                    "{request}"
                );
                assert!(
                    request.contains("X-IDENTITY-HEADER: header-Secret-1"),
                    "{request}"
                );
            }
        }
    }
}
