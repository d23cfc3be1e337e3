//! The target: URL, credentials, TLS, connections, and what the server can take
//! ([`TargetCaps`], learned by [`Target::probe`]).
//!
//! URLs are those of `redis-cli` and the `redis` crate: `redis://[user:password@]host:port`,
//! `rediss://` for TLS. TLS uses rustls: the server certificate is verified against
//! the system roots, or against [`TargetConfig::tls_ca_cert`] only when given; client
//! certificates ([`TargetConfig::tls_client_cert`]/[`TargetConfig::tls_client_key`])
//! give mTLS; [`TargetConfig::tls_insecure`] turns verification off.
//!
//! **Server name.** The name presented (SNI) and verified is
//! [`TargetConfig::tls_server_name`] when given, else the host connected to. The
//! override lets a client connect to an address the certificate does not name (an
//! Azure Cache for Redis private endpoint by IP, whose certificate names
//! `*.redis.cache.windows.net`) and still verify the certificate; it applies to every
//! node of a cluster too (cluster nodes are reported by IP). The `redis` crate
//! cannot do this (it always verifies the host it connects to and takes no rustls
//! configuration), so every TLS connection uses this crate's own transport (the
//! private `tls` module: rustls + the redis crate's reply parser), for uniform
//! verification; plain connections are the redis crate's.
//!
//! Secrets never leave this module in clear: [`redact_url`] hides the password of a
//! URL, every error text coming from the client is scrubbed of the password, and
//! [`Secret`]'s `Debug` prints `***`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdb_parser::{DumpPayload, Family};
use redis::{ConnectionAddr, ConnectionInfo, ConnectionLike, IntoConnectionInfo, Value};

use crate::credential::{self, Credentials, Issued};
use crate::error::{Error, Result};
use crate::live::info::Info;

// The TLS transport is a private part of the target (the file sits next to this one).
#[path = "tls.rs"]
mod tls;

use tls::{TlsConnection, TlsOptions, TlsSettings};

/// A connection to a server, from [`Target::connect`]: authenticated, with the
/// target's timeouts set, re-authenticating by itself when its credentials change.
/// An embedder sends commands with [`Connection::query`]; the crate's own stages
/// speak the redis protocol through it.
pub struct Connection {
    link: Link,
    /// The server, redacted (`host:port`), for errors.
    server: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("link", &self.link)
            .finish()
    }
}

/// A reply of the server to [`Connection::query`] (RESP2 and RESP3 shapes).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// Null.
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk string (bytes) or verbatim string.
    Data(Vec<u8>),
    /// A simple status (`OK`, `PONG`).
    Status(String),
    /// An array, set or push message.
    Array(Vec<Reply>),
    /// A RESP3 map.
    Map(Vec<(Reply, Reply)>),
    /// A RESP3 double.
    Double(f64),
    /// A RESP3 boolean.
    Bool(bool),
    /// A RESP3 big number, as text.
    BigNumber(String),
}

impl Reply {
    /// The bytes of a `Data` or `Status` reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Data(d) => Some(d),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The server's reply as this crate's type (`Err`: a server error reply, as
    /// `CODE message`).
    fn from_value(value: Value) -> std::result::Result<Reply, String> {
        let all = |items: Vec<Value>| {
            items
                .into_iter()
                .map(Reply::from_value)
                .collect::<std::result::Result<Vec<_>, String>>()
        };
        Ok(match value {
            Value::Nil => Reply::Nil,
            Value::Int(i) => Reply::Int(i),
            Value::BulkString(d) => Reply::Data(d),
            Value::VerbatimString { text, .. } => Reply::Data(text.into_bytes()),
            Value::SimpleString(s) => Reply::Status(s),
            Value::Okay => Reply::Status("OK".to_string()),
            Value::Array(items) | Value::Set(items) => Reply::Array(all(items)?),
            Value::Push { data, .. } => Reply::Array(all(data)?),
            Value::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| Ok((Reply::from_value(k)?, Reply::from_value(v)?)))
                    .collect::<std::result::Result<_, String>>()?,
            ),
            Value::Double(d) => Reply::Double(d),
            Value::Boolean(b) => Reply::Bool(b),
            Value::BigNumber(n) => Reply::BigNumber(String::from_utf8_lossy(&n).into_owned()),
            Value::Attribute { data, .. } => Reply::from_value(*data)?,
            Value::ServerError(e) => {
                return Err(match e.details() {
                    Some(d) => format!("{} {d}", e.code()),
                    None => e.code().to_string(),
                })
            }
            _ => return Err("a reply of a kind this crate does not know".to_string()),
        })
    }
}

impl Connection {
    /// Sends one command (`args[0]` is its name) and reads its reply. A server error
    /// reply is [`Error::Command`], a lost connection or a timeout
    /// [`Error::Connection`]; both name the server and the command (its name only:
    /// arguments may be secrets or large values).
    pub fn query<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(a.as_ref()).to_uppercase())
            .unwrap_or_default();
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(a.as_ref());
        }
        let value = self.link.req_command(&cmd).map_err(|e| match e.kind() {
            redis::ErrorKind::Server(_) => Error::Command {
                target: self.server.clone(),
                command: name.clone(),
                reply: e.to_string(),
            },
            _ => Error::Connection {
                target: self.server.clone(),
                message: format!("{name}: {e}"),
            },
        })?;
        Reply::from_value(value).map_err(|reply| Error::Command {
            target: self.server.clone(),
            command: name,
            reply,
        })
    }

    /// The redis-protocol side of the connection, for the crate's stages
    /// (`redis::cmd(..).query(conn.link())`).
    pub(crate) fn link(&mut self) -> &mut Link {
        &mut self.link
    }

    /// Sends encoded commands without reading replies.
    pub(crate) fn send_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<()> {
        self.link.send_packed_command(cmd)
    }

    /// Reads one reply.
    pub(crate) fn recv_response(&mut self) -> redis::RedisResult<Value> {
        self.link.recv_response()
    }

    /// Sets the read timeout (`None`: no limit).
    pub(crate) fn set_read_timeout(&self, dur: Option<Duration>) -> redis::RedisResult<()> {
        self.link.set_read_timeout(dur)
    }

    /// One encoded command, one reply.
    pub(crate) fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<Value> {
        self.link.req_packed_command(cmd)
    }

    /// Encoded commands; the `count` replies after the first `offset`.
    pub(crate) fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<Value>> {
        self.link.req_packed_commands(cmd, offset, count)
    }
}

/// The redis-protocol side of a [`Connection`]: the redis crate's connection for
/// `redis://`, this crate's own TLS transport for `rediss://`. Used through
/// `redis::ConnectionLike` (`redis::cmd(..).query(conn.link())`,
/// `req_packed_commands`) and the two pipelining methods below, which behave as
/// `redis::Connection`'s.
pub(crate) struct Link {
    inner: Inner,
    /// `Some` when the target's credentials change ([`TargetConfig::credentials`]).
    reauth: Option<Box<Reauth>>,
}

enum Inner {
    Plain(redis::Connection),
    Tls(Box<TlsConnection>),
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.inner {
            Inner::Plain(_) => "Connection(tcp)",
            Inner::Tls(_) => "Connection(tls)",
        })
    }
}

impl Inner {
    fn send_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<()> {
        match self {
            Inner::Plain(c) => c.send_packed_command(cmd),
            Inner::Tls(c) => c.send_packed_command(cmd),
        }
    }

    fn recv_response(&mut self) -> redis::RedisResult<Value> {
        match self {
            Inner::Plain(c) => c.recv_response(),
            Inner::Tls(c) => c.recv_response(),
        }
    }

    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<Value> {
        match self {
            Inner::Plain(c) => c.req_packed_command(cmd),
            Inner::Tls(c) => c.req_packed_command(cmd),
        }
    }
}

/// Re-authentication of a connection whose credentials change: `AUTH` again before
/// the credential it used is due, and a reply saying the credential is no longer
/// accepted (`NOAUTH`, `WRONGPASS`: expired, rotated) turned into a lost connection,
/// so that the caller reconnects with a fresh credential instead of failing a key.
///
/// A renewal `AUTH` is sent ahead of the next commands, also mid-pipeline: the
/// connection counts the commands sent and the replies read, and drops the `AUTH`
/// replies from what the caller reads.
struct Reauth {
    credentials: Arc<Credentials>,
    /// The user the connection authenticated as.
    user: Option<String>,
    /// The user the URL names (what credentials are asked for).
    named_user: Option<String>,
    /// The credential it authenticated with last.
    issued: Issued,
    sent: u64,
    received: u64,
    /// Positions (in `sent` order) of renewal `AUTH` replies not read yet.
    auth_replies: VecDeque<u64>,
    /// Set once a reply said the credential is refused: the connection is to be
    /// dropped (replies may be out of step).
    broken: Option<String>,
}

impl Reauth {
    fn lost(&self) -> redis::RedisError {
        let why = self.broken.as_deref().unwrap_or("credential refused");
        redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!("{why}; reconnecting with a fresh credential"),
        ))
    }

    /// The `AUTH` to send now when the credential is due (`None`: not due, or no
    /// fresh one could be had: the current one is kept and asked again later).
    fn renewal(&mut self) -> Option<Vec<u8>> {
        let now = Instant::now();
        if !credential::due(&self.issued, now) {
            return None;
        }
        match self
            .credentials
            .newer_than(self.issued.generation, self.named_user.as_deref())
        {
            Ok(issued) => {
                let mut cmd = redis::cmd("AUTH");
                if let Some(u) = &self.user {
                    cmd.arg(u.as_str());
                }
                cmd.arg(issued.password.expose());
                self.issued = issued;
                Some(cmd.get_packed_command())
            }
            Err(_) => {
                self.issued.renew_at = Some(now + Duration::from_secs(5));
                None
            }
        }
    }

    /// Checks a reply read: a refused renewal or a credential refusal breaks the
    /// connection.
    fn check(
        &mut self,
        reply: &redis::RedisResult<Value>,
        renewal: bool,
    ) -> redis::RedisResult<()> {
        let code = match reply {
            Ok(Value::ServerError(e)) => Some(e.code().to_string()),
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => {
                e.code().map(str::to_string)
            }
            Err(e) if e.kind() == redis::ErrorKind::AuthenticationFailed => {
                Some("WRONGPASS".to_string())
            }
            _ => None,
        };
        let refused = match code.as_deref() {
            Some("NOAUTH" | "WRONGPASS") => true,
            Some(_) => renewal,
            None => false,
        };
        if refused {
            self.broken = Some(format!(
                "the server refused the credential ({}{})",
                code.as_deref().unwrap_or("error"),
                if renewal { " to a renewal AUTH" } else { "" }
            ));
            return Err(self.lost());
        }
        Ok(())
    }
}

/// How many commands a packed buffer holds (RESP arrays of bulk strings, as every
/// command here is written); each gets one reply.
fn count_commands(buf: &[u8]) -> u64 {
    fn number(buf: &[u8], at: &mut usize) -> Option<usize> {
        let rest = buf.get(*at..)?;
        let end = rest.iter().position(|&b| b == b'\r')?;
        let n = std::str::from_utf8(rest.get(1..end)?).ok()?.parse().ok()?;
        *at += end + 2;
        Some(n)
    }
    let mut at = 0;
    let mut n = 0;
    while at < buf.len() {
        if buf.get(at) != Some(&b'*') {
            // An inline command: one line.
            match buf
                .get(at..)
                .and_then(|r| r.iter().position(|&b| b == b'\n'))
            {
                Some(end) => at += end + 1,
                None => at = buf.len(),
            }
            n += 1;
            continue;
        }
        let Some(args) = number(buf, &mut at) else {
            return n + 1;
        };
        for _ in 0..args {
            match number(buf, &mut at) {
                Some(len) => at += len + 2,
                None => return n + 1,
            }
        }
        n += 1;
    }
    n
}

impl Link {
    fn new(inner: Inner) -> Link {
        Link {
            inner,
            reauth: None,
        }
    }

    /// Sends encoded commands without reading replies (as
    /// `redis::Connection::send_packed_command`).
    pub(crate) fn send_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<()> {
        let Some(r) = self.reauth.as_deref_mut() else {
            return self.inner.send_packed_command(cmd);
        };
        if r.broken.is_some() {
            return Err(r.lost());
        }
        if let Some(auth) = r.renewal() {
            self.inner.send_packed_command(&auth)?;
            r.auth_replies.push_back(r.sent);
            r.sent += 1;
        }
        self.inner.send_packed_command(cmd)?;
        r.sent += count_commands(cmd);
        Ok(())
    }

    /// Reads one reply (as `redis::Connection::recv_response`).
    pub(crate) fn recv_response(&mut self) -> redis::RedisResult<Value> {
        let Some(r) = self.reauth.as_deref_mut() else {
            return self.inner.recv_response();
        };
        loop {
            if r.broken.is_some() {
                return Err(r.lost());
            }
            let reply = self.inner.recv_response();
            let position = r.received;
            r.received += 1;
            let renewal = r.auth_replies.front() == Some(&position);
            if renewal {
                r.auth_replies.pop_front();
            }
            r.check(&reply, renewal)?;
            if !renewal {
                return reply;
            }
        }
    }

    /// Sends a renewal `AUTH` as its own round trip when due and nothing is in
    /// flight (the request-reply calls below).
    fn renew_between_requests(&mut self) -> redis::RedisResult<()> {
        let Some(r) = self.reauth.as_deref_mut() else {
            return Ok(());
        };
        if r.broken.is_some() {
            return Err(r.lost());
        }
        if r.sent != r.received {
            return Ok(());
        }
        if let Some(auth) = r.renewal() {
            let reply = self.inner.req_packed_command(&auth);
            r.check(&reply, true)?;
        }
        Ok(())
    }

    /// Checks the replies of a request-reply call for a refused credential.
    fn check_replies(&mut self, replies: &[Value]) -> redis::RedisResult<()> {
        if let Some(r) = self.reauth.as_deref_mut() {
            for v in replies {
                r.check(&Ok(v.clone()), false)?;
            }
        }
        Ok(())
    }

    /// Sets the read timeout (`None`: wait without limit, as a pub/sub subscriber
    /// does between messages).
    pub(crate) fn set_read_timeout(&self, dur: Option<Duration>) -> redis::RedisResult<()> {
        match &self.inner {
            Inner::Plain(c) => c.set_read_timeout(dur),
            Inner::Tls(c) => c.set_read_timeout(dur),
        }
    }

    fn set_timeouts(&self, dur: Duration) -> redis::RedisResult<()> {
        match &self.inner {
            Inner::Plain(c) => c
                .set_read_timeout(Some(dur))
                .and_then(|_| c.set_write_timeout(Some(dur))),
            Inner::Tls(c) => c
                .set_read_timeout(Some(dur))
                .and_then(|_| c.set_write_timeout(Some(dur))),
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<Value> {
        self.renew_between_requests()?;
        let reply = self.inner.req_packed_command(cmd);
        if let Some(r) = self.reauth.as_deref_mut() {
            r.check(&reply, false)?;
        }
        reply
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<Value>> {
        self.renew_between_requests()?;
        let replies = match &mut self.inner {
            Inner::Plain(c) => c.req_packed_commands(cmd, offset, count),
            Inner::Tls(c) => c.req_packed_commands(cmd, offset, count),
        }?;
        self.check_replies(&replies)?;
        Ok(replies)
    }

    fn req_command(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
        self.renew_between_requests()?;
        let reply = match &mut self.inner {
            Inner::Plain(c) => c.req_command(cmd),
            Inner::Tls(c) => c.req_command(cmd),
        };
        if let Some(r) = self.reauth.as_deref_mut() {
            r.check(&reply, false)?;
        }
        reply
    }

    fn get_db(&self) -> i64 {
        match &self.inner {
            Inner::Plain(c) => c.get_db(),
            Inner::Tls(c) => c.get_db(),
        }
    }

    fn check_connection(&mut self) -> bool {
        match &mut self.inner {
            Inner::Plain(c) => c.check_connection(),
            Inner::Tls(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        self.reauth.as_ref().is_none_or(|r| r.broken.is_none())
            && match &self.inner {
                Inner::Plain(c) => c.is_open(),
                Inner::Tls(c) => c.is_open(),
            }
    }
}

/// A password (or other secret) that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to reach and authenticate with the target.
#[derive(Debug, Clone, Default)]
pub struct TargetConfig {
    /// `redis://` or `rediss://` URL, possibly with `user:password@`.
    pub url: String,
    /// A password that replaces the URL's (e.g. from a password file).
    pub password: Option<Secret>,
    /// A password used only when the URL has none (e.g. `REDISCLI_AUTH`, as
    /// `redis-cli` does).
    pub default_password: Option<Secret>,
    /// PEM CA certificate(s) to verify the server with (instead of the system roots).
    pub tls_ca_cert: Option<Vec<u8>>,
    /// PEM client certificate chain for mTLS.
    pub tls_client_cert: Option<Vec<u8>>,
    /// PEM client private key for mTLS.
    pub tls_client_key: Option<Vec<u8>>,
    /// Do not verify the server certificate at all.
    pub tls_insecure: bool,
    /// The TLS server name to present (SNI) and verify the certificate against,
    /// instead of the host connected to (for every node of a cluster too).
    pub tls_server_name: Option<String>,
    /// Connect timeout (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// Read/write timeout on every connection (default 120 s; a large value or a
    /// loading server can take a while).
    pub io_timeout: Option<Duration>,
    /// Credentials that change (a password command, an Entra ID or IAM token): asked
    /// at every (re)connect, renewed on live connections before they are due (see
    /// [`crate::credential`]). Exclusive with a password in the URL or
    /// [`TargetConfig::password`]; [`TargetConfig::default_password`] is ignored.
    pub credentials: Option<Arc<Credentials>>,
}

/// Splits `url` into (scheme and `://`, userinfo, rest after the `@`), `None` when it
/// has no userinfo. The userinfo ends at the *last* `@` before the host: a password
/// that was not percent-encoded may hold `/`, `?`, `#` or `@` (Azure access keys are
/// base64 and often contain `/`), and it must still be found to be hidden.
fn split_userinfo(url: &str) -> Option<(&str, &str, &str)> {
    let scheme_end = url.find("://")? + 3;
    let rest = url.get(scheme_end..)?;
    let at = rest.rfind('@')?;
    Some((url.get(..scheme_end)?, rest.get(..at)?, rest.get(at + 1..)?))
}

/// `url` with the password replaced by `***` (user names are kept).
pub fn redact_url(url: &str) -> String {
    match split_userinfo(url) {
        Some((scheme, userinfo, host)) => {
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None if userinfo.is_empty() => String::new(),
                None => "***".to_string(),
            };
            format!("{scheme}{user}@{host}")
        }
        None => url.to_string(),
    }
}

/// Replaces every occurrence of each (non-empty) secret in `text` by `***`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(s.as_str(), "***");
    }
    out
}

/// What the target can take.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TargetCaps {
    /// `redis_version` (or `valkey_version`) from `INFO server`, when readable.
    pub version: Option<String>,
    /// Redis or Valkey.
    pub family: Family,
    /// The RDB version of the target's `DUMP` payloads (what its `RESTORE` reads).
    pub rdb_version: u16,
    /// How [`TargetCaps::rdb_version`] was learned (`"DUMP probe"` or `"INFO version"`).
    pub rdb_version_source: &'static str,
    /// `cluster_enabled:1` in `INFO cluster`.
    pub cluster: bool,
    /// Why the target has only database 0 (`None` when it has several).
    pub single_db: Option<String>,
    /// `host:port` of the primary when the node probed is a replica (`INFO
    /// replication`); a standalone replica is refused before anything is written.
    pub replica_of: Option<String>,
    /// Keys per database on the node probed (`INFO keyspace`).
    pub keyspace: std::collections::BTreeMap<u64, u64>,
    /// `proto-max-bulk-len` (`CONFIG GET`): the longest `RESTORE` payload it takes;
    /// `None` where `CONFIG` is refused (ElastiCache, Azure), which keep the default.
    pub max_bulk_len: Option<u64>,
}

/// A target: connection settings, ready to open connections.
#[derive(Clone)]
pub struct Target {
    /// Credentials, database, protocol and TCP settings (its address is `host:port`,
    /// plain TCP: TLS connections do not go through the redis crate).
    info: ConnectionInfo,
    host: String,
    port: u16,
    /// `Some` for `rediss://`: how TLS connections are made.
    tls: Option<TlsSettings>,
    display: String,
    /// The ACL user (`default` when the URL names none), for messages.
    user: String,
    /// The ACL user the URL names, if any (it wins over a credential's user).
    url_user: Option<String>,
    /// Credentials that change, asked at every connect.
    credentials: Option<Arc<Credentials>>,
    /// The database the URL names (`/N`).
    database: Option<u64>,
    secrets: Vec<String>,
    connect_timeout: Duration,
    io_timeout: Duration,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.display)
            .finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The password part of a URL, raw and percent-decoded (for scrubbing).
fn url_password(url: &str) -> Vec<String> {
    let Some((_, userinfo, _)) = split_userinfo(url) else {
        return Vec::new();
    };
    let pw = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
    vec![pw.to_string(), percent_decode(pw)]
}

/// The user name a URL gives (`redis://user:pw@` or `redis://user@`, the redis
/// crate's reading), `None` when it names none.
fn url_user(url: &str) -> Option<String> {
    split_userinfo(url)
        .map(|(_, userinfo, _)| {
            percent_decode(userinfo.split_once(':').map_or(userinfo, |(u, _)| u))
        })
        .filter(|u| !u.is_empty())
}

/// The database a URL names (`redis://host:port/N`), `None` when it names none.
/// An unparsable path is refused by [`Target::new`] (the redis crate reads it too).
fn url_database(url: &str) -> Option<u64> {
    let after_scheme = url.get(url.find("://")? + 3..)?;
    let host_part = match split_userinfo(url) {
        Some((_, _, host)) => host,
        None => after_scheme,
    };
    let path = &host_part[host_part.find('/')? + 1..];
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.trim_end_matches('/').parse().ok()
}

/// Why a URL is unusable, in words an operator can act on (never the password).
fn url_problem(url: &str, redacted: &str, cause: &str) -> String {
    if !url.contains("://") {
        return format!(
            "{redacted}: not a URL (no scheme): write redis://HOST:PORT, or rediss://HOST:PORT for TLS"
        );
    }
    let scheme = &url[..url.find("://").unwrap_or(0)];
    if !matches!(scheme, "redis" | "rediss" | "valkey" | "valkeys") {
        return format!(
            "{redacted}: unsupported scheme {scheme:?}: write redis:// (plain) or rediss:// (TLS)"
        );
    }
    format!(
        "{redacted}: the URL does not parse ({cause}); if the password holds / # ? : @ or %, \
         percent-encode them (%2F %23 %3F %3A %40 %25), or pass the password with \
         --password-file FILE or the REDISCLI_AUTH environment variable"
    )
}

impl Target {
    /// Checks the configuration and prepares connections (nothing is opened yet).
    pub fn new(config: &TargetConfig) -> Result<Target> {
        let mut secrets = url_password(&config.url);
        for p in [&config.password, &config.default_password]
            .into_iter()
            .flatten()
        {
            secrets.push(p.expose().to_string());
        }
        let redacted = redact_url(&config.url);
        let info = config.url.as_str().into_connection_info().map_err(|e| {
            Error::Config(url_problem(
                &config.url,
                &redacted,
                &scrub(&e.to_string(), &secrets),
            ))
        })?;
        if config.credentials.is_some()
            && (config.password.is_some() || info.redis_settings().password().is_some())
        {
            return Err(Error::Config(format!(
                "{redacted}: a password and changing credentials (--password-command, \
                 --auth) were both given: give one"
            )));
        }
        let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
        if config.credentials.is_some() {
            // Each connection authenticates with the credential current then.
        } else if let Some(p) = &config.password {
            settings = settings.set_password(p.expose());
        } else if let (Some(p), None) = (&config.default_password, settings.password()) {
            settings = settings.set_password(p.expose());
        }
        let info = info.set_redis_settings(settings);
        let (host, port, is_tls) = match info.addr() {
            ConnectionAddr::Tcp(h, p) => (h.clone(), *p, false),
            ConnectionAddr::TcpTls { host, port, .. } => (host.clone(), *port, true),
            _ => {
                return Err(Error::Config(format!(
                    "{redacted}: only TCP targets are supported"
                )))
            }
        };
        let wants_tls_options = config.tls_ca_cert.is_some()
            || config.tls_client_cert.is_some()
            || config.tls_client_key.is_some()
            || config.tls_insecure
            || config.tls_server_name.is_some();
        if wants_tls_options && !is_tls {
            return Err(Error::Config(format!(
                "{redacted}: TLS options need a rediss:// URL"
            )));
        }
        let tls = if is_tls {
            let client = match (&config.tls_client_cert, &config.tls_client_key) {
                (Some(cert), Some(key)) => Some((cert.as_slice(), key.as_slice())),
                (None, None) => None,
                _ => {
                    return Err(Error::Config(
                        "a client certificate needs both --tls-cert and --tls-key".into(),
                    ))
                }
            };
            let settings = TlsSettings::new(&TlsOptions {
                ca_cert: config.tls_ca_cert.as_deref(),
                client,
                insecure: config.tls_insecure,
                server_name: config.tls_server_name.as_deref(),
            })
            .map_err(|e| Error::Config(format!("{redacted}: {}", scrub(&e, &secrets))))?;
            // Fail early on a host that cannot be a server name (no override given).
            settings
                .name_for(&host)
                .map_err(|e| Error::Config(format!("{redacted}: {e}")))?;
            Some(settings)
        } else {
            None
        };
        let info = info.set_addr(ConnectionAddr::Tcp(host.clone(), port));
        Ok(Target {
            info,
            user: url_user(&config.url).unwrap_or_else(|| "default".to_string()),
            url_user: url_user(&config.url),
            credentials: config.credentials.clone(),
            database: url_database(&config.url),
            display: format!("{host}:{port}"),
            host,
            port,
            tls,
            secrets,
            connect_timeout: config.connect_timeout.unwrap_or(Duration::from_secs(10)),
            io_timeout: config.io_timeout.unwrap_or(Duration::from_secs(120)),
        })
    }

    /// `host:port` of the target (no credentials).
    pub fn address(&self) -> &str {
        &self.display
    }

    /// The database the URL names (`redis://host:port/N`), `None` when it names none.
    /// Restore and verify send every source database that `--db-map` does not map
    /// there (and refuse a snapshot whose databases would be merged by it).
    pub fn database(&self) -> Option<u64> {
        self.database
    }

    /// The ACL user connections authenticate as (`default` when none is named).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The same settings (credentials, TLS, TLS server name) for another node
    /// (cluster redirects).
    pub fn for_node(&self, host: &str, port: u16) -> Target {
        let mut t = self.clone();
        t.info = t.info.set_addr(ConnectionAddr::Tcp(host.to_string(), port));
        t.host = host.to_string();
        t.port = port;
        t.display = format!("{host}:{port}");
        t
    }

    /// The user a connection made now authenticates as: the URL's (or `--user`),
    /// else the current credential's (an Entra ID token's `oid`), else `default`.
    pub fn authenticated_user(&self) -> String {
        self.url_user
            .clone()
            .or_else(|| self.credentials.as_ref().and_then(|c| c.user()))
            .unwrap_or_else(|| "default".to_string())
    }

    /// The changing credentials connections take their password from, if any.
    pub fn credentials(&self) -> Option<&Arc<Credentials>> {
        self.credentials.as_ref()
    }

    /// Removes secrets from a message.
    pub fn scrub(&self, text: &str) -> String {
        let text = scrub(text, &self.secrets);
        match &self.credentials {
            Some(c) => scrub(&text, &c.recent_secrets()),
            None => text,
        }
    }

    /// A connection error for this target with `what` and a scrubbed cause.
    pub fn error(&self, what: &str, cause: &dyn fmt::Display) -> Error {
        Error::Connection {
            target: self.display.clone(),
            message: self.scrub(&format!("{what}: {cause}")),
        }
    }

    /// A connection failure in words, with the refusal code when the server refused
    /// the credentials: authentication problems name the user, timeouts and closed
    /// connections say what the port may be instead.
    fn connect_error(&self, e: &redis::RedisError) -> (Error, Option<String>) {
        // The crate reports a refused AUTH as its own kind, without the reply's code.
        let code = match e.kind() {
            redis::ErrorKind::AuthenticationFailed => Some("WRONGPASS"),
            _ => e.code(),
        };
        self.connect_failed(
            code,
            &explain_transport(e, self.connect_timeout, self.tls.is_some()),
        )
    }

    /// A connection failure from its reply code (if any) and its text.
    fn connect_failed(&self, code: Option<&str>, text: &str) -> (Error, Option<String>) {
        let refusal = refusal_code(code, text);
        match self.auth_problem(code, text) {
            Some(auth) => (auth, refusal),
            None => (self.error("cannot connect", &text), None),
        }
    }

    /// `Some` when a reply (code and text) says the credentials are missing, wrong or
    /// lack a permission: an error naming the user and what to check.
    fn auth_problem(&self, code: Option<&str>, text: &str) -> Option<Error> {
        let code = refusal_code(code, text)?;
        let user = self.authenticated_user();
        let what = match (code.as_str(), &self.credentials) {
            ("NOAUTH" | "WRONGPASS", Some(c)) => format!(
                "authentication failed for user '{user}' with the credential from {}: {}",
                c.identity(),
                c.remedy()
            ),
            ("NOAUTH", None) => "the server requires a password and none was given: put it in the \
                         URL (redis://USER:PASSWORD@host:port), --password-file FILE or \
                         REDISCLI_AUTH"
                .to_string(),
            ("WRONGPASS", None) => format!(
                "authentication failed for user '{user}': wrong password, or the user does not \
                 exist or is disabled"
            ),
            ("NOPERM", _) => format!(
                "user '{user}' lacks a permission it needs ({}); restore needs at least \
                 +restore +dump +info +select +exists +ping (or +@all) on ~*",
                self.scrub(text)
            ),
            _ => return None,
        };
        Some(Error::Auth {
            target: self.display.clone(),
            user,
            message: what,
        })
    }

    /// Opens and authenticates one connection (timeouts set). With changing
    /// credentials ([`TargetConfig::credentials`]) it authenticates with the current
    /// one, and a refusal (`WRONGPASS`, `NOAUTH`: a password rotated, a token
    /// expired) is retried with fresh ones a few times, with a pause, before it
    /// becomes an [`Error::Auth`] naming the user and where the credential came from.
    pub fn connect(&self) -> Result<Connection> {
        let Some(creds) = &self.credentials else {
            return self.open(&self.info).map_err(|e| e.0);
        };
        let fetch_error = |message: String| Error::Credential {
            target: self.display.clone(),
            identity: creds.identity(),
            message: self.scrub(&message),
        };
        let named = self.url_user.as_deref();
        let mut issued = creds.for_connection(named).map_err(fetch_error)?;
        let mut pause = Duration::from_millis(200);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let user = self.url_user.clone().or_else(|| issued.user.clone());
            let mut settings = self
                .info
                .redis_settings()
                .clone()
                .set_password(issued.password.expose());
            if let Some(u) = &user {
                settings = settings.set_username(u);
            }
            let info = self.info.clone().set_redis_settings(settings);
            match self.open(&info).map_err(|e| *e) {
                Ok(mut conn) => {
                    conn.link.reauth = Some(Box::new(Reauth {
                        credentials: Arc::clone(creds),
                        user,
                        named_user: self.url_user.clone(),
                        issued,
                        sent: 0,
                        received: 0,
                        auth_replies: VecDeque::new(),
                        broken: None,
                    }));
                    return Ok(conn);
                }
                Err((
                    Error::Auth {
                        target,
                        user,
                        message,
                    },
                    Some(code),
                )) if code != "NOPERM" => {
                    if attempt >= AUTH_ATTEMPTS {
                        return Err(Error::Auth {
                            target,
                            user,
                            message: format!(
                                "{message} (refused {attempt} times in a row, a fresh \
                                 credential each time)"
                            ),
                        });
                    }
                    std::thread::sleep(pause);
                    pause *= 2;
                    issued = creds
                        .newer_than(issued.generation, named)
                        .map_err(fetch_error)?;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Opens and authenticates one connection with `info`'s credentials.
    fn open(
        &self,
        info: &ConnectionInfo,
    ) -> std::result::Result<Connection, Box<(Error, Option<String>)>> {
        let conn = match &self.tls {
            None => {
                let client = redis::Client::open(info.clone()).map_err(|e| {
                    let text = self.scrub(&e.to_string());
                    Box::new((Error::Config(format!("{}: {text}", self.display)), None))
                })?;
                let c = client
                    .get_connection_with_timeout(self.connect_timeout)
                    .map_err(|e| Box::new(self.connect_error(&e)))?;
                Link::new(Inner::Plain(c))
            }
            Some(tls) => {
                let c = TlsConnection::connect(
                    &self.host,
                    self.port,
                    tls,
                    info.redis_settings(),
                    info.tcp_settings().nodelay(),
                    self.connect_timeout,
                )
                .map_err(|e| Box::new(self.connect_failed(None, &e)))?;
                Link::new(Inner::Tls(Box::new(c)))
            }
        };
        conn.set_timeouts(self.io_timeout)
            .map_err(|e| Box::new((self.error("cannot set timeouts", &e), None)))?;
        Ok(Connection {
            link: conn,
            server: self.display.clone(),
        })
    }

    /// Checks that `conn` is answered and authenticated (`PING`, bounded by the
    /// connect timeout): a port that never answers, missing or wrong credentials and
    /// a missing permission become errors that say so, before any real work.
    pub fn ping(&self, conn: &mut Connection) -> Result<()> {
        match self
            .first_exchange(conn, &[redis::cmd("PING")], "PING")?
            .pop()
        {
            Some(Err(e)) => Err(self.error("PING", &e)),
            _ => Ok(()),
        }
    }

    /// The first round trip on a new connection: bounded by the connect timeout (a
    /// port that accepts and never answers — a load balancer or Private Link endpoint
    /// with no backend, a TLS port spoken to in plain text — must not hold the run for
    /// the I/O timeout), transport failures explained, and an authentication refusal
    /// of the first command turned into [`Error::Auth`].
    fn first_exchange(
        &self,
        conn: &mut Connection,
        cmds: &[redis::Cmd],
        what: &str,
    ) -> Result<Vec<redis::RedisResult<Value>>> {
        conn.link
            .set_timeouts(self.connect_timeout)
            .map_err(|e| self.error("cannot set timeouts", &e))?;
        let replies = round_trip(conn, cmds).map_err(|e| {
            let text = explain_transport(&e, self.connect_timeout, self.tls.is_some());
            self.error(what, &text)
        })?;
        conn.link
            .set_timeouts(self.io_timeout)
            .map_err(|e| self.error("cannot set timeouts", &e))?;
        if let Some(Err(e)) = replies.first() {
            if let Some(auth) = self.auth_problem(e.code(), &e.to_string()) {
                return Err(auth);
            }
        }
        Ok(replies)
    }

    /// Learns what the target can take: version and family (`INFO server`), cluster
    /// mode (`INFO cluster`), the RDB version (a `DUMP` of a probe key: `SET` with a
    /// 60 s expiry, `DUMP`, `DEL`; the `INFO` version as a fallback), and whether it
    /// has more than database 0 (`CONFIG GET databases`, else whether `SELECT 1` is
    /// accepted; never asked of a cluster), and `proto-max-bulk-len`.
    ///
    /// The commands go in one pipeline: across clouds every round trip costs tens
    /// of milliseconds before the first key is sent.
    pub fn probe(&self, conn: &mut Connection) -> Result<TargetCaps> {
        let key = format!("rdbkit:probe:{}", unique_suffix());
        let replies = self.first_exchange(
            conn,
            &[
                redis::cmd("INFO").arg("server").clone(),
                redis::cmd("INFO").arg("cluster").clone(),
                probe_set(&key),
                redis::cmd("DUMP").arg(&key).clone(),
                redis::cmd("DEL").arg(&key).clone(),
                redis::cmd("CONFIG").arg("GET").arg("databases").clone(),
                redis::cmd("INFO").arg("replication").clone(),
                redis::cmd("INFO").arg("keyspace").clone(),
                redis::cmd("CONFIG")
                    .arg("GET")
                    .arg("proto-max-bulk-len")
                    .clone(),
            ],
            "probing the target",
        )?;
        let mut replies = replies.into_iter();
        let mut next = || replies.next().unwrap_or(Ok(Value::Nil));
        let (server, cluster_info, set, dumped, _del, databases, replication, keyspace) = (
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
            next(),
        );
        let max_bulk_len = config_value(next());
        let server = reply_text(server).unwrap_or_default();
        let field = |name: &str| {
            server.lines().find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.strip_prefix(':'))
                    .map(|v| v.trim().to_string())
            })
        };
        let valkey = field("valkey_version");
        let family = if valkey.is_some() || field("server_name").as_deref() == Some("valkey") {
            Family::Valkey
        } else {
            Family::Redis
        };
        let version = valkey.clone().or_else(|| field("redis_version"));
        let cluster = reply_text(cluster_info)
            .map(|s| s.lines().any(|l| l.trim() == "cluster_enabled:1"))
            .unwrap_or(false);
        let probed = match read_probe(set, dumped) {
            Probe::Moved(host, port) => match self.for_node(&host, port).connect() {
                Ok(mut c) => dump_probe(&mut c, &key),
                Err(_) => Probe::Failed,
            },
            p => p,
        };
        let (rdb_version, rdb_version_source) = match probed {
            Probe::Version(v) => (v, "DUMP probe"),
            _ => {
                let v = version
                    .as_deref()
                    .and_then(|v| rdb_version_for(family, v))
                    .ok_or_else(|| {
                        Error::Probe(format!(
                            "{}: cannot learn the target's RDB version: the DUMP probe failed and \
                             the server version ({}) is not in the table",
                            self.display,
                            version.as_deref().unwrap_or("unknown")
                        ))
                    })?;
                (v, "INFO version")
            }
        };
        let single_db = if cluster {
            Some("cluster mode".to_string())
        } else {
            single_db_reason(conn, databases)
        };
        let replication = Info::parse(&reply_text(replication).unwrap_or_default());
        let replica_of = matches!(replication.role(), Some("slave" | "replica")).then(|| {
            format!(
                "{}:{}",
                replication.get("master_host").unwrap_or("?"),
                replication.get("master_port").unwrap_or("?")
            )
        });
        let keyspace = Info::parse(&reply_text(keyspace).unwrap_or_default())
            .keyspace()
            .into_iter()
            .map(|(db, d)| (db, d.keys))
            .collect();
        Ok(TargetCaps {
            version,
            family,
            rdb_version,
            rdb_version_source,
            cluster,
            single_db,
            replica_of,
            keyspace,
            max_bulk_len,
        })
    }
}

/// The number a `CONFIG GET name` reply holds, if it holds one.
fn config_value(reply: redis::RedisResult<Value>) -> Option<u64> {
    let pair = redis::from_redis_value::<Vec<String>>(reply.ok()?).ok()?;
    pair.get(1)?.parse().ok()
}

/// How many times a connection is tried with fresh credentials while the server
/// refuses them (a rotation caught half-way settles within the pauses between).
const AUTH_ATTEMPTS: u32 = 5;

/// The refusal code of a reply (`NOAUTH`, `WRONGPASS`, `NOPERM`), from its code or
/// its text.
fn refusal_code(code: Option<&str>, text: &str) -> Option<String> {
    match code {
        Some(c @ ("NOAUTH" | "WRONGPASS" | "NOPERM")) => Some(c.to_string()),
        _ => ["NOAUTH", "WRONGPASS", "NOPERM"]
            .into_iter()
            .find(|c| text.contains(c))
            .map(str::to_string),
    }
}

/// A transport failure in words, with what the port may be instead of a Redis
/// server speaking the protocol asked for.
fn explain_transport(e: &redis::RedisError, timeout: Duration, tls: bool) -> String {
    let text = e.to_string().to_ascii_lowercase();
    if e.is_timeout()
        || text.contains("timed out")
        || text.contains("would block")
        || text.contains("temporarily unavailable")
    {
        return format!(
            "no answer within {} s (a firewall, a load balancer or a Private Link endpoint \
             with no backend, or a TLS port spoken to in plain text{}; the wait is set by \
             --connect-timeout SECS)",
            timeout.as_secs_f64(),
            if tls { "" } else { ": try rediss://" }
        );
    }
    format!("{e}{}", transport_hint(e, &text, tls))
}

fn transport_hint(e: &redis::RedisError, text: &str, tls: bool) -> &'static str {
    if text.contains("http/") {
        return " (this port speaks HTTP, not the Redis protocol: check the port)";
    }
    if e.is_connection_refusal() || text.contains("connection refused") {
        return " (nothing listens there: check the host and port)";
    }
    if !tls
        && (e.is_connection_dropped()
            || text.contains("reset by peer")
            || text.contains("end of file")
            || text.contains("broken pipe"))
    {
        return " (the server closed the connection before answering: if this port \
                expects TLS, use rediss://)";
    }
    ""
}

/// Sends `cmds` as one pipeline and reads one reply each; a server error is that
/// command's `Err`, a transport error fails the whole round trip.
fn round_trip(
    conn: &mut Connection,
    cmds: &[redis::Cmd],
) -> redis::RedisResult<Vec<redis::RedisResult<Value>>> {
    let mut packed = Vec::new();
    for c in cmds {
        c.write_packed_command(&mut packed);
    }
    conn.send_packed_command(&packed)?;
    let mut out = Vec::with_capacity(cmds.len());
    for _ in cmds {
        out.push(match conn.recv_response() {
            Ok(Value::ServerError(e)) => Err(redis::RedisError::from(e)),
            Ok(v) => Ok(v),
            Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => Err(e),
            Err(e) => return Err(e),
        });
    }
    Ok(out)
}

/// A bulk or status reply as text.
fn reply_text(reply: redis::RedisResult<Value>) -> Option<String> {
    redis::from_redis_value(reply.ok()?).ok()
}

/// `INFO section` as text.
pub fn info_section(conn: &mut Connection, section: &str) -> Option<String> {
    redis::cmd("INFO")
        .arg(section)
        .query::<String>(conn.link())
        .ok()
}

/// A value unlikely to collide, for probe key names.
pub(crate) fn unique_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// What a `DUMP` probe learned.
enum Probe {
    Version(u16),
    /// A cluster node redirected the probe key to another master.
    Moved(String, u16),
    Failed,
}

/// `SET key x PX 60000`: the probe key expires by itself should the `DEL` be lost.
fn probe_set(key: &str) -> redis::Cmd {
    redis::cmd("SET")
        .arg(key)
        .arg("x")
        .arg("PX")
        .arg(60_000)
        .clone()
}

/// `SET` the probe `key`, `DUMP` it and `DEL` it again, pipelined; reads the version.
fn dump_probe(conn: &mut Connection, key: &str) -> Probe {
    let cmds = [
        probe_set(key),
        redis::cmd("DUMP").arg(key).clone(),
        redis::cmd("DEL").arg(key).clone(),
    ];
    match round_trip(conn, &cmds) {
        Ok(replies) => {
            let mut replies = replies.into_iter();
            let mut next = || replies.next().unwrap_or(Ok(Value::Nil));
            let set = next();
            read_probe(set, next())
        }
        Err(_) => Probe::Failed,
    }
}

/// The probe's outcome from the `SET` and `DUMP` replies: the version in the
/// payload's footer, or where a cluster node redirected the key.
fn read_probe(set: redis::RedisResult<Value>, dumped: redis::RedisResult<Value>) -> Probe {
    match set {
        Ok(Value::Okay) => {}
        Err(e) => {
            return match e.redirect_node() {
                Some((addr, _)) => match addr.rsplit_once(':') {
                    Some((h, p)) => match p.parse() {
                        Ok(port) => Probe::Moved(h.to_string(), port),
                        Err(_) => Probe::Failed,
                    },
                    None => Probe::Failed,
                },
                None => Probe::Failed,
            }
        }
        Ok(_) => return Probe::Failed,
    }
    let Some(payload) = dumped
        .ok()
        .and_then(|v| redis::from_redis_value::<Option<Vec<u8>>>(v).ok())
        .flatten()
    else {
        return Probe::Failed;
    };
    // The footer is read directly: a payload from a version this parser does not
    // know (a newer family) still has it.
    let n = payload.len();
    let footer = n
        .checked_sub(10)
        .and_then(|start| payload.get(start..start + 2));
    match footer {
        Some(&[a, b]) => {
            let v = u16::from_le_bytes([a, b]);
            debug_assert!(DumpPayload::parse(&payload).map_or(true, |p| p.rdb_version == v));
            Probe::Version(v)
        }
        _ => Probe::Failed,
    }
}

/// The RDB version of a server version (fallback when `DUMP` is not allowed).
pub fn rdb_version_for(family: Family, version: &str) -> Option<u16> {
    let (major, minor, _) = rdb_parser::aux::parse_version(version)?;
    let v = match family {
        Family::Valkey => match (major, minor) {
            (7, _) | (8, _) => 11,
            (9, _) => 80,
            _ => return None,
        },
        _ => match (major, minor) {
            (2, m) if m >= 6 => 6,
            (3, 0) => 6,
            (3, _) => 7,
            (4, _) => 8,
            (5, _) | (6, _) => 9,
            (7, 0) | (7, 1) => 10,
            (7, 2) => 11,
            (7, 4) | (8, 0) => 12,
            _ => return None,
        },
    };
    Some(v)
}

/// Why a standalone target offers only database 0, or `None`; `databases` is the
/// reply to `CONFIG GET databases` (`SELECT 1` is tried when it was refused).
fn single_db_reason(conn: &mut Connection, databases: redis::RedisResult<Value>) -> Option<String> {
    let databases = databases.and_then(|v| Ok(redis::from_redis_value::<Vec<String>>(v)?));
    if let Ok(pair) = databases {
        if let Some(n) = pair.get(1).and_then(|v| v.parse::<u64>().ok()) {
            return (n <= 1).then(|| format!("databases {n}"));
        }
    }
    let select: redis::RedisResult<Value> = redis::cmd("SELECT").arg(1).query(conn.link());
    match select {
        Ok(_) => {
            let _: redis::RedisResult<Value> = redis::cmd("SELECT").arg(0).query(conn.link());
            None
        }
        Err(e) => Some(format!("SELECT 1 refused: {e}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn redaction() {
        assert_eq!(
            redact_url("redis://migrator:s3cret@host:6380/0"),
            "redis://migrator:***@host:6380/0"
        );
        assert_eq!(redact_url("rediss://:pw@h:1"), "rediss://:***@h:1");
        assert_eq!(redact_url("redis://pw@h:1"), "redis://***@h:1");
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("redis://u:p@ss@h:1"), "redis://u:***@h:1");
        assert_eq!(
            url_password("redis://u:p%40ss@h"),
            vec!["p%40ss".to_string(), "p@ss".to_string()]
        );
        assert_eq!(
            scrub("bad p@ss here", &url_password("redis://u:p%40ss@h")),
            "bad *** here"
        );
        assert_eq!(format!("{:?}", Secret::new("x")), "***");
    }

    #[test]
    fn tls_configuration_errors() {
        let err = |config: TargetConfig| match Target::new(&config) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        let plain = TargetConfig {
            url: "redis://h:1".into(),
            tls_server_name: Some("redis.test".into()),
            ..TargetConfig::default()
        };
        assert!(err(plain).contains("need a rediss:// URL"));
        let bad_name = TargetConfig {
            url: "rediss://:pw@h:1".into(),
            tls_insecure: true,
            tls_server_name: Some("not a name".into()),
            ..TargetConfig::default()
        };
        assert!(err(bad_name).contains("neither a DNS name nor an IP address"));
        // A broken key is reported without its contents.
        let broken_key = TargetConfig {
            url: "rediss://h:1".into(),
            tls_insecure: true,
            tls_client_cert: Some(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            ),
            tls_client_key: Some(b"-----BEGIN PRIVATE KEY-----\nS3CRETKEYBYTES\n".to_vec()),
            ..TargetConfig::default()
        };
        let e = err(broken_key);
        assert!(e.contains("client key") && !e.contains("S3CRET"), "{e}");
        // An insecure TLS target needs no roots; the server name applies to nodes.
        let ok = Target::new(&TargetConfig {
            url: "rediss://10.0.0.4:6380".into(),
            tls_insecure: true,
            tls_server_name: Some("cache.redis.cache.windows.net".into()),
            ..TargetConfig::default()
        })
        .unwrap();
        let node = ok.for_node("10.0.0.5", 13000);
        assert_eq!(node.address(), "10.0.0.5:13000");
        let name = node.tls.as_ref().unwrap().name_for("10.0.0.5").unwrap();
        assert_eq!(name.to_str(), "cache.redis.cache.windows.net");
    }

    #[test]
    fn version_table() {
        assert_eq!(rdb_version_for(Family::Redis, "7.0.15"), Some(10));
        assert_eq!(rdb_version_for(Family::Redis, "6.2.14"), Some(9));
        assert_eq!(rdb_version_for(Family::Redis, "7.4.1"), Some(12));
        assert_eq!(rdb_version_for(Family::Valkey, "9.0.0"), Some(80));
        assert_eq!(rdb_version_for(Family::Redis, "99.0"), None);
    }
}
