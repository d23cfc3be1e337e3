//! Helpers shared by the integration tests: fixture lookup, running the binary
//! with a timeout, and the `<bytes>` JSON convention.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../../../fixtures/corpus.rs"]
mod corpus;

/// The conformance corpus (`fixtures/versions.tar.xz`, unpacked; `RDBKIT_FIXTURES`
/// overrides). Panics (fails the test, never skips) when missing.
pub fn versions_dir() -> PathBuf {
    corpus::versions_dir()
}

/// The peers corpus, or `None` (said once on stderr) when it is not there: peer
/// tests return early then.
pub fn peers_dir() -> Option<PathBuf> {
    corpus::peers_dir()
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rdbkit")
}

fn timeout() -> Duration {
    let secs = std::env::var("RDBKIT_TEST_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Worker threads for per-file loops: the CI machine has 2 cores.
pub fn jobs() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4)
}

pub struct RunOutput {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl RunOutput {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// "exit code N" or "killed by signal N", for failure messages.
    pub fn status_text(&self) -> String {
        describe_status(&self.status)
    }
}

pub fn describe_status(status: &ExitStatus) -> String {
    if let Some(c) = status.code() {
        return format!("exit code {c}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(s) = status.signal() {
            return format!("killed by signal {s}");
        }
    }
    format!("{status}")
}

fn drain<R: Read + Send + 'static>(r: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut buf);
        }
        buf
    })
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Runs `rdbkit ARGS`, feeding `stdin` through a pipe when given. A run that outlives
/// the timeout (60 s, `RDBKIT_TEST_TIMEOUT_SECS`) is killed and reported as `Err`, so
/// a hang fails the test instead of blocking CI.
pub fn run_rdbkit<S: AsRef<OsStr>>(
    args: &[S],
    stdin: Option<Vec<u8>>,
) -> Result<RunOutput, String> {
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {} {}: {e}", bin(), shown.join(" ")))?;
    let writer = match (child.stdin.take(), stdin) {
        (Some(mut w), Some(data)) => Some(thread::spawn(move || {
            // A reader that stops early closes the pipe: not an error here.
            let _ = w.write_all(&data);
        })),
        _ => None,
    };
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let limit = timeout();
    let status = wait_with_deadline(&mut child, limit);
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if let Some(w) = writer {
        let _ = w.join();
    }
    match status {
        Some(status) => Ok(RunOutput {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!(
            "`rdbkit {}` did not finish within {} s and was killed; stderr so far: {}",
            shown.join(" "),
            limit.as_secs(),
            clip(&String::from_utf8_lossy(&stderr), 300)
        )),
    }
}

/// Every decimal number that directly follows the word "offset" (case-insensitive,
/// allowing `:`/`=`/spaces in between).
pub fn offsets_named(text: &str) -> Vec<u64> {
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(i) = rest.find("offset") {
        rest = &rest[i + "offset".len()..];
        let t = rest.trim_start_matches([' ', '\t', ':', '=']);
        let digits: String = t.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse() {
            found.push(n);
        }
    }
    found
}

/// First `n` characters of `s`, marked when cut.
pub fn clip(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…[{} chars]", &s[..i], s.chars().count()),
        None => s.to_string(),
    }
}

/// Compact JSON of `v`, clipped to ~200 characters.
pub fn show(v: &Value) -> String {
    clip(&v.to_string(), 200)
}

pub fn show_bytes(b: &[u8]) -> String {
    show(&bytes_to_json(b))
}

pub fn bytes_to_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            serde_json::json!({ "hex": hex })
        }
    }
}

fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    if !s.len().is_multiple_of(2) {
        return Err(format!("odd-length hex {}", clip(s, 40)));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad hex {}", clip(s, 40)))
        })
        .collect()
}

/// Decodes the `<bytes>` convention leniently (used for the manifests).
pub fn bytes_of(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(o) if o.len() == 1 => match o.get("hex") {
            Some(Value::String(h)) => hex_decode(h),
            _ => Err(format!("not <bytes>: {}", show(v))),
        },
        _ => Err(format!("not <bytes>: {}", show(v))),
    }
}

/// Decodes `<bytes>` from rdbkit output and also enforces the canonical form: a
/// JSON string for valid UTF-8, otherwise lower-case `{"hex"}`.
pub fn strict_bytes_of(v: &Value) -> Result<Vec<u8>, String> {
    let b = bytes_of(v)?;
    if let Some(Value::String(h)) = v.get("hex") {
        if std::str::from_utf8(&b).is_ok() {
            return Err(format!("valid UTF-8 written as hex: {}", show(v)));
        }
        if h.chars().any(|c| c.is_ascii_uppercase()) {
            return Err(format!("upper-case hex: {}", show(v)));
        }
    }
    Ok(b)
}

/// Rows of `peers/INDEX.tsv`: path, magic, ver, checksum status, types, encodings
/// (rows starting with `ERROR` have only the first two).
pub fn peer_index(peers: &Path) -> Vec<Vec<String>> {
    let path = peers.join("INDEX.tsv");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

/// Runs `f` over `items` on a small thread pool; results keep the input order.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, R)>> = Mutex::new(Vec::with_capacity(items.len()));
    thread::scope(|s| {
        for _ in 0..jobs().min(items.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                done.lock().unwrap_or_else(|p| p.into_inner()).push((i, r));
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}
