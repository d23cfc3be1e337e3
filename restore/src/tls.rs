//! Our own TLS transport for `rediss://` targets.
//!
//! The `redis` crate (1.8) always presents and verifies the host it connects to as
//! the TLS server name and takes no custom rustls configuration, so connecting to an
//! address (an Azure private endpoint's IP, a cluster node that `CLUSTER SLOTS`
//! reports by IP) while verifying the name the certificate carries
//! (`--tls-server-name`) is impossible through it. Every TLS connection therefore
//! goes through this module, so verification is the same everywhere:
//!
//! - one rustls [`ClientConfig`] per [`crate::Target`] (ring provider), built once:
//!   roots from the given PEM CA certificate(s) only, else the system roots
//!   (`rustls-native-certs`); a client certificate chain and key for mTLS; with
//!   `insecure` a verifier that accepts any certificate (handshake signatures are
//!   still checked);
//! - the server name is the override when given, else the host connected to (a
//!   DNS name or an IP address); SNI is sent for DNS names;
//! - a blocking [`StreamOwned`] over a [`TcpStream`]; replies are parsed with the
//!   redis crate's own [`redis::Parser`], and the connection follows
//!   `redis::Connection`'s rules (push messages skipped by the request methods, a
//!   late reply after a read timeout skipped, EOF closes);
//! - setup as the crate does it: `HELLO 3 [AUTH user pass]` for RESP3, else
//!   `AUTH [user] pass` (retried without the user name for servers before 6.0), then
//!   `SELECT db` when the URL names a database; `CLIENT SETINFO` is never sent (the
//!   target always skips it).
//!
//! Error texts never contain the password: authentication failures are reported
//! with fixed messages, and PEM problems without the PEM contents.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::{
    Cmd, ConnectionLike, ErrorKind, Parser, RedisConnectionInfo, RedisError, RedisResult, Value,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};

/// What the TLS configuration is made from (PEM data as read from the files).
#[derive(Default)]
pub(crate) struct TlsOptions<'a> {
    /// PEM CA certificate(s); `None`: the system roots.
    pub ca_cert: Option<&'a [u8]>,
    /// PEM client certificate chain and private key (mTLS).
    pub client: Option<(&'a [u8], &'a [u8])>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// The name to present (SNI) and verify instead of the host connected to.
    pub server_name: Option<&'a str>,
}

/// A prepared TLS configuration (cheap to clone: shared).
#[derive(Clone)]
pub(crate) struct TlsSettings {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM error without the PEM text (a key's lines must never be printed).
fn pem_error(e: &rustls::pki_types::pem::Error) -> &'static str {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "a PEM section has no END line",
        E::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        E::Base64Decode(_) => "a PEM section is not valid base64",
        E::NoItemsFound => "no PEM item found",
        _ => "unreadable PEM data",
    }
}

fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: {}", pem_error(&e)))?;
    if certs.is_empty() {
        return Err(format!("{what}: no PEM certificate found"));
    }
    Ok(certs)
}

impl TlsSettings {
    /// Builds the configuration; the error text names what is wrong (never a secret).
    pub(crate) fn new(opts: &TlsOptions<'_>) -> Result<TlsSettings, String> {
        let server_name = opts
            .server_name
            .map(|n| {
                ServerName::try_from(n.to_string()).map_err(|_| {
                    format!("TLS server name {n:?} is neither a DNS name nor an IP address")
                })
            })
            .transpose()?;
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS configuration: {e}"))?;
        let builder = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            match opts.ca_cert {
                Some(pem) => {
                    for cert in certificates(pem, "CA certificate")? {
                        roots
                            .add(cert)
                            .map_err(|e| format!("CA certificate: {e}"))?;
                    }
                }
                None => {
                    let native = rustls_native_certs::load_native_certs();
                    roots.add_parsable_certificates(native.certs);
                    if roots.is_empty() {
                        return Err("no system root certificate could be loaded; give the CA \
                                    certificate to verify the server with"
                            .into());
                    }
                }
            }
            builder.with_root_certificates(roots)
        };
        let config = match opts.client {
            Some((cert, key)) => {
                let chain = certificates(cert, "client certificate")?;
                let key = PrivateKeyDer::from_pem_slice(key)
                    .map_err(|e| format!("client key: {}", pem_error(&e)))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("client certificate and key: {e}"))?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(TlsSettings {
            config: Arc::new(config),
            server_name,
        })
    }

    /// The name verified for `host`: the override, else `host` itself.
    pub(crate) fn name_for(&self, host: &str) -> Result<ServerName<'static>, String> {
        match &self.server_name {
            Some(n) => Ok(n.clone()),
            None => ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
                .map(|n| n.to_owned())
                .map_err(|_| {
                    format!(
                        "{host:?} is neither a DNS name nor an IP address usable as the TLS \
                         server name; give one with --tls-server-name"
                    )
                }),
        }
    }
}

/// Accepts any server certificate (`--tls-insecure`); handshake signatures are still
/// verified, so the server at least holds the key of the certificate it sent.
#[derive(Debug)]
struct NoCertificateVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A `Read` that remembers the kind of the last I/O error it returned (the redis
/// crate's error type does not expose it).
struct Tracked<'a, R> {
    inner: &'a mut R,
    last_error: Option<io::ErrorKind>,
}

impl<R: Read> Read for Tracked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            self.last_error = Some(e.kind());
        })
    }
}

/// One authenticated TLS connection to a server.
pub(crate) struct TlsConnection {
    stream: StreamOwned<ClientConnection, TcpStream>,
    parser: Parser,
    db: i64,
    open: bool,
    /// Replies still owed for requests that gave up after a read timeout.
    messages_to_skip: usize,
}

/// Why a TLS handshake failed, in words (with a hint for a name mismatch).
fn handshake_error(e: &io::Error, name: &ServerName<'_>) -> String {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => format!(
            "TLS handshake failed: the server certificate is not valid for {}: {e}; if this \
             is the right server, give the name its certificate carries with --tls-server-name",
            name.to_str()
        ),
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            format!(
                "TLS handshake failed: {e}: the server certificate is not signed by a trusted \
                 CA; give the CA certificate that signed it with --tls-ca-cert"
            )
        }
        _ if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            "TLS handshake timed out".to_string()
        }
        _ => format!("TLS handshake failed: {e}"),
    }
}

impl TlsConnection {
    /// Connects to `host:port` (each resolved address tried with `connect_timeout`),
    /// completes the handshake and the setup commands within what is left of
    /// `connect_timeout`, and returns with no socket timeouts set.
    pub(crate) fn connect(
        host: &str,
        port: u16,
        settings: &TlsSettings,
        redis: &RedisConnectionInfo,
        nodelay: bool,
        connect_timeout: Duration,
    ) -> Result<TlsConnection, String> {
        let start = Instant::now();
        let name = settings.name_for(host)?;
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?;
        let mut last_error = None;
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, connect_timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        let tcp = match (tcp, last_error) {
            (Some(t), _) => t,
            (None, Some(e)) => return Err(e.to_string()),
            (None, None) => return Err(format!("{host} resolves to no address")),
        };
        tcp.set_nodelay(nodelay).map_err(|e| e.to_string())?;
        let remaining = connect_timeout
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| "connection timed out".to_string())?;
        tcp.set_read_timeout(Some(remaining))
            .and_then(|_| tcp.set_write_timeout(Some(remaining)))
            .map_err(|e| e.to_string())?;
        let conn = ClientConnection::new(settings.config.clone(), name.clone())
            .map_err(|e| format!("TLS: {e}"))?;
        let mut stream = StreamOwned::new(conn, tcp);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(|e| handshake_error(&e, &name))?;
        }
        let mut c = TlsConnection {
            stream,
            parser: Parser::new(),
            db: redis.db(),
            open: true,
            messages_to_skip: 0,
        };
        if c.setup(redis, true).map_err(|e| e.to_string())? == Auth::RetryWithoutUser {
            c.setup(redis, false).map_err(|e| e.to_string())?;
        }
        c.set_read_timeout(None).map_err(|e| e.to_string())?;
        c.set_write_timeout(None).map_err(|e| e.to_string())?;
        Ok(c)
    }

    /// `HELLO`/`AUTH` and `SELECT` in one round trip, checked as the redis crate does.
    fn setup(&mut self, info: &RedisConnectionInfo, with_user: bool) -> RedisResult<Auth> {
        let mut cmds: Vec<Cmd> = Vec::new();
        let mut auth = None;
        if info.protocol().supports_resp3() {
            let mut hello = redis::cmd("HELLO");
            hello.arg("3");
            if let Some(password) = info.password() {
                hello
                    .arg("AUTH")
                    .arg(info.username().unwrap_or("default"))
                    .arg(password);
            }
            auth = Some((cmds.len(), true));
            cmds.push(hello);
        } else if let Some(password) = info.password() {
            let mut a = redis::cmd("AUTH");
            if let (true, Some(user)) = (with_user, info.username()) {
                a.arg(user);
            }
            a.arg(password);
            auth = Some((cmds.len(), false));
            cmds.push(a);
        }
        let select = (info.db() != 0).then(|| {
            let mut s = redis::cmd("SELECT");
            s.arg(info.db());
            cmds.push(s);
            cmds.len() - 1
        });
        if cmds.is_empty() {
            return Ok(Auth::Done);
        }
        let mut packed = Vec::new();
        for c in &cmds {
            c.write_packed_command(&mut packed);
        }
        let replies = self.req_packed_commands(&packed, 0, cmds.len())?;
        let reply = |i: usize| {
            replies
                .get(i)
                .ok_or_else(|| RedisError::from((ErrorKind::Client, "missing setup reply")))
        };
        if let Some((i, hello)) = auth {
            match (reply(i)?, hello) {
                (Value::ServerError(e), true) => {
                    if e.details()
                        .is_some_and(|d| d.starts_with("unknown command `HELLO`"))
                    {
                        return Err(RedisError::from((
                            ErrorKind::RESP3NotSupported,
                            "Redis Server doesn't support HELLO command therefore resp3 cannot be used",
                        )));
                    }
                    return Err(e.clone().into());
                }
                (_, true) | (Value::Okay, false) => {}
                (Value::ServerError(e), false) => {
                    let old_server = e
                        .details()
                        .is_some_and(|d| d.contains("wrong number of arguments for 'auth'"));
                    if old_server && with_user && info.username().is_some() {
                        return Ok(Auth::RetryWithoutUser);
                    }
                    return Err(RedisError::from((
                        ErrorKind::AuthenticationFailed,
                        "Password authentication failed",
                    )));
                }
                (_, false) => {
                    return Err(RedisError::from((
                        ErrorKind::AuthenticationFailed,
                        "Redis server refused to authenticate, returns Ok() != Value::Okay",
                    )))
                }
            }
        }
        if let Some(i) = select {
            if let Value::ServerError(e) = reply(i)? {
                return Err(RedisError::from((
                    ErrorKind::Client,
                    "Redis server refused to switch database",
                    e.details().unwrap_or_default().to_string(),
                )));
            }
        }
        Ok(Auth::Done)
    }

    /// Read timeout of the socket (`None`: block).
    pub(crate) fn set_read_timeout(&self, dur: Option<Duration>) -> RedisResult<()> {
        Ok(self.stream.sock.set_read_timeout(dur)?)
    }

    /// Write timeout of the socket (`None`: block).
    pub(crate) fn set_write_timeout(&self, dur: Option<Duration>) -> RedisResult<()> {
        Ok(self.stream.sock.set_write_timeout(dur)?)
    }

    fn close(&mut self) {
        let _ = self.stream.sock.shutdown(Shutdown::Both);
        self.open = false;
    }

    /// Sends an encoded command (or several) without reading a reply.
    pub(crate) fn send_packed_command(&mut self, cmd: &[u8]) -> RedisResult<()> {
        if cmd.is_empty() {
            return Err(RedisError::from((ErrorKind::Client, "empty command")));
        }
        let r = self
            .stream
            .write_all(cmd)
            .and_then(|_| self.stream.flush())
            .map_err(RedisError::from);
        if let Err(e) = &r {
            if e.is_unrecoverable_error() {
                self.open = false;
            }
        }
        r
    }

    /// Reads one reply (push messages included).
    pub(crate) fn recv_response(&mut self) -> RedisResult<Value> {
        self.read(true)
    }

    fn read(&mut self, is_response: bool) -> RedisResult<Value> {
        loop {
            let mut reader = Tracked {
                inner: &mut self.stream,
                last_error: None,
            };
            let result = self.parser.parse_value(&mut reader);
            let io_error = reader.last_error;
            match (&result, io_error) {
                (Ok(v), _) => {
                    // Push messages are not replies and do not stand in for a late one.
                    if self.messages_to_skip > 0 && !matches!(v, Value::Push { .. }) {
                        self.messages_to_skip -= 1;
                        continue;
                    }
                    return result;
                }
                (Err(_), None) => {
                    if self.messages_to_skip > 0 {
                        self.messages_to_skip -= 1;
                        continue;
                    }
                    return result;
                }
                (Err(e), Some(kind)) => {
                    if kind == io::ErrorKind::UnexpectedEof || e.is_connection_dropped() {
                        self.close();
                    } else if is_response {
                        self.messages_to_skip += 1;
                    }
                    return result;
                }
            }
        }
    }

    /// The next reply that is not a push message.
    fn read_reply(&mut self) -> RedisResult<Value> {
        loop {
            match self.read(true)? {
                Value::Push { .. } => continue,
                v => return Ok(v),
            }
        }
    }
}

/// Outcome of the setup commands.
#[derive(PartialEq, Eq)]
enum Auth {
    Done,
    /// The server (before 6.0) takes `AUTH password` only.
    RetryWithoutUser,
}

impl ConnectionLike for TlsConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.send_packed_command(cmd)?;
        self.read_reply()
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.send_packed_command(cmd)?;
        let mut rv = Vec::with_capacity(count);
        let mut first_err = None;
        let mut aborted = None;
        let mut idx = 0;
        // Every reply is read even after an error, so the connection stays in step.
        while idx < offset + count {
            match self.read(true) {
                Ok(Value::Push { .. }) => continue,
                Ok(Value::ServerError(e)) if idx < offset => {
                    aborted.get_or_insert(e);
                }
                Ok(v) => {
                    if idx >= offset {
                        rv.push(v);
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            idx += 1;
        }
        if let Some(e) = aborted {
            return Err(e.into());
        }
        first_err.map_or(Ok(rv), Err)
    }

    fn get_db(&self) -> i64 {
        self.db
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}
