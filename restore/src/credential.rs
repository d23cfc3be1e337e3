//! Credentials that change during a run: a password printed by a command, Microsoft
//! Entra ID tokens (Azure Managed Redis, Azure Cache for Redis), ElastiCache IAM tokens.
//!
//! A [`CredentialSource`] makes a fresh [`Credential`]; [`Credentials`] keeps the
//! current one for every connection of a target and decides when to ask again. Every
//! (re)connect of a [`Target`](crate::Target) configured with
//! [`TargetConfig::credentials`](crate::TargetConfig::credentials) takes its password
//! from here; a connection refused with `WRONGPASS`/`NOAUTH` is retried with a fresh
//! credential (a password rotated under the run), and live connections send `AUTH`
//! again before the credential they authenticated with runs out (Azure closes a
//! connection whose token expired unless it re-authenticates; ElastiCache IAM
//! connections last 12 hours and are extended by `AUTH`).
//!
//! Secrets never leave in clear: [`Secret`]'s `Debug` prints `***`, the password
//! command's output never appears in messages, and the target scrubs every password
//! issued from its error texts. Nothing secret goes on a command line.

use std::fmt;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::target::Secret;

pub mod aws;
pub mod azure;
mod http;

pub use azure::{AzureChain, AzureCli, AZURE_REDIS_SCOPE};

/// A password (or token) and, when it says so, the user it belongs to and when it
/// expires.
#[derive(Debug, Clone)]
pub struct Credential {
    /// The ACL user the credential is for (an Entra ID token's `oid`); `None`: the
    /// user named by the URL or `--user` (else `default`).
    pub user: Option<String>,
    /// The password or token sent with `AUTH`.
    pub password: Secret,
    /// When the credential stops being accepted, when known.
    pub expires: Option<SystemTime>,
}

/// Makes fresh credentials: a password command, a cloud identity.
pub trait CredentialSource: Send + Sync {
    /// A fresh credential for `user` (the one the URL or `--user` names, if any), or
    /// why there is none (no secret in the text).
    fn fetch(&self, user: Option<&str>) -> Result<Credential, String>;
    /// Who the credential comes from, for messages (`password command "..."`,
    /// `Microsoft Entra ID (Azure CLI)`); never a secret.
    fn identity(&self) -> String;
    /// What to check when the server keeps refusing this source's credentials.
    fn remedy(&self) -> String;
    /// How long before [`Credential::expires`] to renew (default: none).
    fn renew_before(&self) -> Duration {
        Duration::ZERO
    }
    /// Whether every new connection asks for a fresh credential (a password command
    /// does: it is cheap, and a rotated password is picked up at once) rather than
    /// reusing the current one until it is due.
    fn fresh_per_connection(&self) -> bool {
        false
    }
}

/// One credential as issued to connections: what to send, and when to renew it.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) user: Option<String>,
    pub(crate) password: Secret,
    pub(crate) expires: Option<SystemTime>,
    /// When connections authenticated with it send `AUTH` again (`None`: never).
    pub(crate) renew_at: Option<Instant>,
    /// Counts the credentials issued: a connection that authenticated with an older
    /// one renews.
    pub(crate) generation: u64,
}

/// The current credential of a target, shared by all its connections (and the
/// targets made from it for other cluster nodes), renewed when due.
pub struct Credentials {
    source: Box<dyn CredentialSource>,
    lifetime: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Issued>,
    generation: u64,
    /// The last passwords issued (for scrubbing error texts).
    recent: Vec<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("identity", &self.source.identity())
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// The shortest time between two renewals of a credential.
const MIN_RENEWAL: Duration = Duration::from_millis(250);

/// Renewal is spread over this much time before the source's lead, so that many
/// processes started together do not all renew at once (Azure asks for jitter).
const JITTER: Duration = Duration::from_secs(30);

impl Credentials {
    /// Credentials from `source`; `lifetime` (`--credential-lifetime`) renews them
    /// that long after each fetch even when the source gives no expiry.
    pub fn new(source: Box<dyn CredentialSource>, lifetime: Option<Duration>) -> Credentials {
        Credentials {
            source,
            lifetime,
            state: Mutex::new(State::default()),
        }
    }

    /// Who the credentials come from (for messages and `preflight`).
    pub fn identity(&self) -> String {
        self.source.identity()
    }

    /// What to check when the server keeps refusing the credentials.
    pub fn remedy(&self) -> String {
        self.source.remedy()
    }

    /// When the current credential expires, when one was fetched and says so.
    pub fn expires(&self) -> Option<SystemTime> {
        self.lock().current.as_ref().and_then(|c| c.expires)
    }

    /// The user of the current credential, when it names one.
    pub fn user(&self) -> Option<String> {
        self.lock().current.as_ref().and_then(|c| c.user.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The credential for a new connection: fresh when the source asks for that or
    /// the current one is due, else the current one.
    pub(crate) fn for_connection(&self, user: Option<&str>) -> Result<Issued, String> {
        let mut state = self.lock();
        match &state.current {
            Some(c) if !self.source.fresh_per_connection() && !due(c, Instant::now()) => {
                Ok(c.clone())
            }
            _ => self.fetch_into(&mut state, user),
        }
    }

    /// A credential newer than `generation` (the one just refused, or due): the one
    /// another connection already fetched, else a fresh one.
    pub(crate) fn newer_than(&self, generation: u64, user: Option<&str>) -> Result<Issued, String> {
        let mut state = self.lock();
        match &state.current {
            Some(c) if c.generation > generation && !due(c, Instant::now()) => Ok(c.clone()),
            _ => self.fetch_into(&mut state, user),
        }
    }

    /// Every password issued lately (error texts are scrubbed of them).
    pub(crate) fn recent_secrets(&self) -> Vec<String> {
        self.lock().recent.clone()
    }

    fn fetch_into(&self, state: &mut State, user: Option<&str>) -> Result<Issued, String> {
        let fetched_at = Instant::now();
        let credential = self.source.fetch(user)?;
        state.generation += 1;
        let password = credential.password.expose().to_string();
        if !state.recent.contains(&password) {
            state.recent.push(password);
            if state.recent.len() > 8 {
                state.recent.remove(0);
            }
        }
        let issued = Issued {
            renew_at: self.renew_at(fetched_at, credential.expires),
            user: credential.user,
            password: credential.password,
            expires: credential.expires,
            generation: state.generation,
        };
        state.current = Some(issued.clone());
        Ok(issued)
    }

    /// When a credential fetched at `fetched_at` is to be renewed: `lifetime` after
    /// the fetch, and the source's lead (with jitter) before its expiry; a credential
    /// that lives less than the lead is renewed at half its life.
    fn renew_at(&self, fetched_at: Instant, expires: Option<SystemTime>) -> Option<Instant> {
        let by_lifetime = self.lifetime.map(|l| fetched_at + l);
        let by_expiry = expires.map(|e| {
            let left = e
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            let lead = self.source.renew_before();
            let early = if lead.is_zero() {
                Duration::ZERO
            } else {
                lead + jitter(JITTER)
            };
            if left > early * 2 {
                fetched_at + (left - early)
            } else {
                fetched_at + left / 2
            }
        });
        let at = match (by_lifetime, by_expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // A credential that is (nearly) expired when issued is not asked for again at
        // every command: the server's refusal brings a reconnect instead.
        at.map(|at| at.max(fetched_at + MIN_RENEWAL))
    }
}

/// Whether `c` is to be renewed at `now`.
pub(crate) fn due(c: &Issued, now: Instant) -> bool {
    c.renew_at.is_some_and(|at| now >= at)
}

/// A pseudo-random duration in `0..max` (spreads renewals; not for secrets).
fn jitter(max: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(h.finish() % millis)
}

/// The most a command may print (a password or a token is far smaller).
const OUTPUT_LIMIT: u64 = 256 * 1024;

/// What a helper program printed.
pub(crate) struct Ran {
    pub(crate) stdout: String,
}

/// Runs `cmd` (stdin closed, output captured and bounded) for at most `timeout`;
/// a failure says how it ended and the last lines of its stderr (never its stdout,
/// which holds the secret).
pub(crate) fn run_bounded(mut cmd: Command, what: &str, timeout: Duration) -> Result<Ran, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(OUTPUT_LIMIT).read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{what} did not finish within {} s (stopped)",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("waiting for {what}: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
    let stdout_text = String::from_utf8_lossy(&stdout).into_owned();
    if !status.success() {
        let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(5)..].join(" | ");
        let tail = crate::target::scrub(&tail, &[stdout_text.trim().to_string()]);
        return Err(format!(
            "{what} failed ({status}){}",
            if tail.is_empty() {
                ", printing nothing on stderr".to_string()
            } else {
                format!(": {tail}")
            }
        ));
    }
    Ok(Ran {
        stdout: stdout_text,
    })
}

/// `--password-command CMD`: the first line `sh -c CMD` prints is the password; run
/// at every (re)connect.
#[derive(Debug, Clone)]
pub struct PasswordCommand {
    command: String,
    timeout: Duration,
}

impl PasswordCommand {
    /// `command`, run through `sh -c`, stopped after `timeout`.
    pub fn new(command: impl Into<String>, timeout: Duration) -> PasswordCommand {
        PasswordCommand {
            command: command.into(),
            timeout,
        }
    }
}

impl PasswordCommand {
    /// The command's first word: the rest may hold a secret (a token in an option).
    fn shown(&self) -> String {
        let mut words = self.command.split_whitespace();
        let first = words.next().unwrap_or("");
        let more = if words.next().is_some() { " ..." } else { "" };
        format!("password command \"{first}{more}\"")
    }
}

impl CredentialSource for PasswordCommand {
    fn fetch(&self, _user: Option<&str>) -> Result<Credential, String> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&self.command);
        let ran = run_bounded(cmd, "it", self.timeout)?;
        let password = ran.stdout.lines().next().unwrap_or("").trim_end();
        if password.is_empty() {
            return Err(
                "it printed no password (its first line of output is the password)".to_string(),
            );
        }
        Ok(Credential {
            user: None,
            password: Secret::new(password),
            expires: None,
        })
    }

    fn identity(&self) -> String {
        self.shown()
    }

    fn remedy(&self) -> String {
        "check that the command prints the current password of this user on its first \
         line (run it by hand), and the user name (URL or --user)"
            .to_string()
    }

    fn fresh_per_connection(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn password_command_failures_are_explained_without_the_output() {
        let t = Duration::from_secs(10);
        let c = PasswordCommand::new("printf 'pw1\\nrest'", t)
            .fetch(None)
            .unwrap();
        assert_eq!(c.password.expose(), "pw1");
        let e = PasswordCommand::new(
            "echo s3cret; echo 'vault: sealed' >&2; echo s3cret >&2; exit 3",
            t,
        )
        .fetch(None)
        .unwrap_err();
        assert!(
            e.contains("exit status: 3") && e.contains("vault: sealed"),
            "{e}"
        );
        assert!(!e.contains("s3cret"), "{e}");
        let e = PasswordCommand::new("true", t).fetch(None).unwrap_err();
        assert!(e.contains("printed no password"), "{e}");
        let e = PasswordCommand::new("sleep 5", Duration::from_millis(200))
            .fetch(None)
            .unwrap_err();
        assert!(e.contains("did not finish"), "{e}");
    }

    #[test]
    fn renewal_times() {
        struct Fixed(Option<u64>, Duration);
        impl CredentialSource for Fixed {
            fn fetch(&self, _user: Option<&str>) -> Result<Credential, String> {
                Ok(Credential {
                    user: None,
                    password: Secret::new("p"),
                    expires: self.0.map(|s| SystemTime::now() + Duration::from_secs(s)),
                })
            }
            fn identity(&self) -> String {
                "fixed".into()
            }
            fn remedy(&self) -> String {
                String::new()
            }
            fn renew_before(&self) -> Duration {
                self.1
            }
        }
        let lead = Duration::from_secs(180);
        // An hour-long token: renewed 3 to 3.5 minutes early.
        let c = Credentials::new(Box::new(Fixed(Some(3600), lead)), None);
        let i = c.for_connection(None).unwrap();
        let left = i.renew_at.unwrap() - Instant::now();
        assert!(left <= Duration::from_secs(3600 - 180), "{left:?}");
        assert!(left >= Duration::from_secs(3600 - 211), "{left:?}");
        // A token shorter than the lead: at half its life.
        let c = Credentials::new(Box::new(Fixed(Some(60), lead)), None);
        let left = c.for_connection(None).unwrap().renew_at.unwrap() - Instant::now();
        assert!(left <= Duration::from_secs(30) && left >= Duration::from_secs(28));
        // No expiry: the lifetime given, else never.
        let c = Credentials::new(Box::new(Fixed(None, lead)), Some(Duration::from_secs(5)));
        let i = c.for_connection(None).unwrap();
        assert!(i.renew_at.unwrap() - Instant::now() <= Duration::from_secs(5));
        // Reused until due; a newer one is asked for only when this one was refused.
        assert_eq!(c.for_connection(None).unwrap().generation, i.generation);
        assert_eq!(
            c.newer_than(i.generation, None).unwrap().generation,
            i.generation + 1
        );
        let c = Credentials::new(Box::new(Fixed(None, lead)), None);
        assert!(c.for_connection(None).unwrap().renew_at.is_none());
    }
}
