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
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct,
    RootCertStore, StreamOwned,
};

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
    /// Where trust comes from, for messages: `--tls-ca-cert`, the system roots, or
    /// nothing (`--tls-insecure`).
    trust: Trust,
}

/// Where the server certificate's trust comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Trust {
    CaFile,
    SystemRoots,
    Insecure,
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
        let trust = match (opts.insecure, opts.ca_cert) {
            (true, _) => Trust::Insecure,
            (false, Some(_)) => Trust::CaFile,
            (false, None) => Trust::SystemRoots,
        };
        let builder = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoCertificateVerification(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            let mut pinned = Vec::new();
            match opts.ca_cert {
                Some(pem) => {
                    for cert in certificates(pem, "CA certificate")? {
                        roots
                            .add(cert.clone())
                            .map_err(|e| format!("CA certificate: {e}"))?;
                        pinned.push(cert);
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
            let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS configuration: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(CaFileVerifier { inner, pinned }))
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
            trust,
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

/// The usual web PKI verification, plus: a server certificate that is itself one of
/// the certificates of the CA file (byte for byte) is trusted as given, as OpenSSL
/// and so redis-cli do. That is how self-signed Redis TLS is set up (the server's
/// own certificate passed as the CA), which webpki alone refuses
/// (`CaUsedAsEndEntity`, or an unknown issuer for a leaf without CA:TRUE). Its
/// validity dates and its names are still checked.
#[derive(Debug)]
struct CaFileVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// The certificates of the CA file (empty with the system roots).
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for CaFileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref())
        {
            check_dates(end_entity, now)?;
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_name(&cert, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The validity period check webpki makes for chained certificates, with the same
/// errors (so they are worded the same way).
fn check_dates(cert: &CertificateDer<'_>, now: UnixTime) -> Result<(), rustls::Error> {
    let (not_before, not_after) = validity(cert.as_ref()).ok_or(CertificateError::BadEncoding)?;
    let at = |secs: i64| UnixTime::since_unix_epoch(Duration::from_secs(secs.max(0) as u64));
    let time = now.as_secs() as i64;
    if time < not_before {
        return Err(CertificateError::NotValidYetContext {
            time: now,
            not_before: at(not_before),
        }
        .into());
    }
    if time > not_after {
        return Err(CertificateError::ExpiredContext {
            time: now,
            not_after: at(not_after),
        }
        .into());
    }
    Ok(())
}

/// One DER TLV: (tag, contents, rest); `None` when it does not fit.
fn der_tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let len = rest
            .get(..n)?
            .iter()
            .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        (len, rest.get(n..)?)
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// `notBefore` and `notAfter` of a DER X.509 certificate, in UNIX seconds (webpki
/// keeps them private).
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    let (_, cert, _) = der_tlv(der)?;
    let (_, tbs, _) = der_tlv(cert)?;
    let (tag, _, after_version) = der_tlv(tbs)?;
    // [0] EXPLICIT version is optional (absent in v1 certificates).
    let mut rest = if tag == 0xA0 { after_version } else { tbs };
    // serialNumber, signature, issuer.
    for _ in 0..3 {
        rest = der_tlv(rest)?.2;
    }
    let (_, validity, _) = der_tlv(rest)?;
    let (t1, not_before, rest) = der_tlv(validity)?;
    let (t2, not_after, _) = der_tlv(rest)?;
    Some((der_time(t1, not_before)?, der_time(t2, not_after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, tag 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, tag
/// 0x18) in UNIX seconds.
fn der_time(tag: u8, text: &[u8]) -> Option<i64> {
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = std::str::from_utf8(text.get(r)?).ok()?;
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, at) = match (tag, text.len()) {
        (0x17, 13) => {
            let yy = digits(0..2)?;
            // RFC 5280: 50..99 are 19xx, 00..49 are 20xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, 2)
        }
        (0x18, 15) => (digits(0..4)?, 4),
        _ => return None,
    };
    if text.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(at + 2 * i..at + 2 * i + 2);
    let (month, day, h, m, s) = (field(0)?, field(1)?, field(2)?, field(3)?, field(4)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// UNIX seconds as an ISO-8601 UTC date and time (`2026-12-02T18:03:05Z`).
pub(crate) fn iso8601(secs: i64) -> String {
    rdb_parser::time::format_utc_ms(secs.saturating_mul(1000))
}

fn iso(t: &UnixTime) -> String {
    iso8601(t.as_secs() as i64)
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
        self.inner.read(buf).map_err(|e| {
            self.last_error = Some(e.kind());
            reword_alert(e)
        })
    }
}

/// With TLS 1.3 the client's handshake ends before the server has checked the
/// client certificate, so a refusal arrives as an alert on the first read: say
/// what it means.
fn reword_alert(e: io::Error) -> io::Error {
    let alert = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|t| match t {
            rustls::Error::AlertReceived(a) => Some(*a),
            _ => None,
        });
    match alert {
        Some(AlertDescription::CertificateRequired) => io::Error::new(
            e.kind(),
            "the server requires a TLS client certificate: pass it with --tls-cert and --tls-key",
        ),
        Some(
            a @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown),
        ) => io::Error::new(
            e.kind(),
            format!(
                "the server refused the TLS client certificate ({})",
                alert_words(a)
            ),
        ),
        _ => e,
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

/// A name as webpki lists it (`DnsName("a.example")`, `IpAddress(10.0.0.1)`), bare.
fn bare_name(presented: &str) -> &str {
    let inner = presented
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or(presented);
    inner.trim_matches('"')
}

/// Why a TLS handshake failed, in words: what is wrong and what to do (never Rust
/// Debug forms or UNIX seconds).
fn handshake_error(e: &io::Error, name: &ServerName<'_>, trust: Trust) -> String {
    use CertificateError as C;
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let cert = "TLS handshake failed: the server's certificate";
    match tls {
        Some(rustls::Error::InvalidCertificate(c)) => match c {
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                let names = match c {
                    C::NotValidForNameContext { presented, .. } if !presented.is_empty() => {
                        let list: Vec<&str> = presented.iter().map(|p| bare_name(p)).collect();
                        format!(" (it is for {})", list.join(", "))
                    }
                    _ => String::new(),
                };
                format!(
                    "{cert} is not valid for {}{names}; if this is the right server, give the \
                     name its certificate carries with --tls-server-name",
                    name.to_str()
                )
            }
            C::ExpiredContext { time, not_after } => format!(
                "{cert} expired at {} (it is now {}): the server needs a renewed certificate",
                iso(not_after),
                iso(time)
            ),
            C::Expired => {
                format!("{cert} has expired: the server needs a renewed certificate")
            }
            C::NotValidYetContext { time, not_before } => format!(
                "{cert} is not valid before {} (it is now {}): check this machine's clock",
                iso(not_before),
                iso(time)
            ),
            C::NotValidYet => {
                format!("{cert} is not valid yet: check this machine's clock")
            }
            C::UnknownIssuer => match trust {
                Trust::SystemRoots => format!(
                    "{cert} is not signed by any of the system's root CAs: pass the CA that \
                     signed it with --tls-ca-cert"
                ),
                _ => format!(
                    "{cert} is not signed by the CA in --tls-ca-cert: pass the CA that signed \
                     it (for a self-signed server, the server's own certificate) with \
                     --tls-ca-cert"
                ),
            },
            C::BadSignature => format!(
                "{cert} has a signature that does not verify against the CA's key (signed by \
                 another CA of the same name?): pass the CA that signed it with --tls-ca-cert"
            ),
            C::BadEncoding => format!("{cert} cannot be read (malformed DER)"),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => format!(
                "{cert} is not for server authentication (its extendedKeyUsage lacks serverAuth)"
            ),
            C::Revoked => format!("{cert} has been revoked"),
            // webpki's refusal of a CA certificate as the server's own (one that is in
            // the CA file is accepted before webpki sees it): typically a self-signed
            // server certificate.
            C::Other(o) if o.to_string().contains("CaUsedAsEndEntity") => format!(
                "{cert} is self-signed (or a CA certificate) and is not {}: pass the server's \
                 own certificate (or the CA that signed it) with --tls-ca-cert",
                match trust {
                    Trust::SystemRoots => "among the system's root CAs",
                    _ => "in --tls-ca-cert",
                }
            ),
            other => format!("{cert} is refused: {other}"),
        },
        Some(rustls::Error::InvalidMessage(_))
        | Some(rustls::Error::InappropriateMessage { .. }) => {
            "the server does not speak TLS on this port (a plain-text port?): use redis:// \
             for it, or the server's TLS port with rediss://"
                .to_string()
        }
        Some(rustls::Error::AlertReceived(AlertDescription::CertificateRequired)) => {
            "TLS handshake failed: the server requires a client certificate: pass it with \
             --tls-cert and --tls-key"
                .to_string()
        }
        Some(rustls::Error::AlertReceived(alert)) => format!(
            "TLS handshake failed: the server refused the handshake ({}){}",
            alert_words(*alert),
            if matches!(
                alert,
                AlertDescription::HandshakeFailure
                    | AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
            ) {
                "; if it requires a client certificate, pass one with --tls-cert and --tls-key"
            } else {
                ""
            }
        ),
        _ if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) =>
        {
            "TLS handshake timed out: the server did not answer the TLS greeting (a \
             plain-text port? then use redis://)"
                .to_string()
        }
        _ if matches!(
            e.kind(),
            io::ErrorKind::UnexpectedEof
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
        ) =>
        {
            "TLS handshake failed: the server closed the connection (is this its TLS port?)"
                .to_string()
        }
        _ => format!("TLS handshake failed: {e}"),
    }
}

/// A TLS alert in words.
fn alert_words(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::HandshakeFailure => "handshake failure".into(),
        AlertDescription::BadCertificate => "bad certificate".into(),
        AlertDescription::UnknownCA => "unknown CA".into(),
        AlertDescription::CertificateExpired => "certificate expired".into(),
        AlertDescription::CertificateUnknown => "certificate unknown".into(),
        AlertDescription::ProtocolVersion => "no TLS version in common".into(),
        AlertDescription::InsufficientSecurity => "no cipher in common".into(),
        AlertDescription::AccessDenied => "access denied".into(),
        other => format!("alert {}", u8::from(other)),
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
                .map_err(|e| handshake_error(&e, &name, settings.trust))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_read_and_written() {
        // (Dates are written by `rdb_parser::time`, tested there.)
        assert_eq!(iso8601(1_704_153_600), "2024-01-02T00:00:00Z");
        assert_eq!(der_time(0x17, b"240102000000Z"), Some(1_704_153_600));
        assert_eq!(der_time(0x17, b"991231235959Z"), Some(946_684_799));
        assert_eq!(der_time(0x18, b"20300101000000Z"), Some(1_893_456_000));
        assert_eq!(der_time(0x18, b"2030010100000Z"), None);
        assert_eq!(der_time(0x17, b"24010200000+Z"), None);
        assert_eq!(der_time(0x17, b"241302000000Z"), None);
        for secs in [0, 86_399, 1_893_456_000, 4_102_444_800] {
            let s = iso8601(secs);
            let g = format!(
                "{}{}{}{}{}{}Z",
                &s[0..4],
                &s[5..7],
                &s[8..10],
                &s[11..13],
                &s[14..16],
                &s[17..19]
            );
            assert_eq!(der_time(0x18, g.as_bytes()), Some(secs), "{s}");
        }
    }

    #[test]
    fn validity_of_truncated_or_odd_der_is_none() {
        assert_eq!(validity(&[]), None);
        assert_eq!(validity(&[0x30, 0x82, 0xff]), None);
        assert_eq!(validity(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
        assert_eq!(der_tlv(&[0x02, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(
            der_tlv(&[0x02, 0x01, 0x07]),
            Some((0x02, &[7u8][..], &[][..]))
        );
        assert_eq!(bare_name("DnsName(\"redis.test\")"), "redis.test");
        assert_eq!(bare_name("IpAddress(10.0.0.1)"), "10.0.0.1");
    }
}
