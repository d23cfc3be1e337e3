//! Snapshots in object storage: S3 (`s3://bucket/key`) and Azure Blob Storage
//! (`az://container/blob`, `https://ACCOUNT.blob.core.windows.net/container/blob`),
//! through the Arrow project's `object_store` crate (feature `object-store`).
//!
//! - [`open`]: a blocking [`std::io::Read`] over one object, fetched by ranged GETs a
//!   few at a time ahead of the reader (bounded memory: [`READ_CHUNK`] ×
//!   [`READ_AHEAD`]); every GET names the ETag seen at open, so an object replaced
//!   mid-read fails instead of mixing two versions.
//! - [`list`]: the objects a glob (`s3://bucket/mybackup-*.rdb`) or a prefix ending in
//!   `/` names, sorted by key: a shard set.
//! - [`create`]: a blocking [`std::io::Write`] that uploads parts as they fill
//!   (multipart upload; block blobs on Azure) and makes the object visible only in
//!   [`ObjectWriter::finish`]; dropped unfinished, it aborts the upload.
//!
//! Credentials come from the standard environment of each cloud (see
//! [`StorageError::NoCredentials`] for the list); they never appear in errors: a
//! SAS token in a URL's query is left out of every message.
//!
//! A small tokio runtime, started on first use and owned here, runs the requests;
//! the public API is blocking and must not be called from inside a tokio runtime.
//! Every request has a timeout ([`REQUEST_TIMEOUT`], [`CONNECT_TIMEOUT`]) and a
//! bounded number of retries.

mod credentials;
mod read;
mod write;

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, RetryConfig};

use crate::glob::Glob;

pub use read::ObjectReader;
pub use write::ObjectWriter;

/// Size of one ranged GET.
pub const READ_CHUNK: u64 = 8 << 20;
/// Ranged GETs in flight ahead of the reader.
pub const READ_AHEAD: usize = 3;
/// Size of one uploaded part (S3 wants at least 5 MiB but the last; 10,000 parts
/// at most: 160 GiB per object).
pub const PART_SIZE: usize = 16 << 20;
/// Parts uploading at once.
pub const PARTS_IN_FLIGHT: usize = 3;
/// The longest wait for one request (a ranged GET, a part upload, a listing page).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest wait for a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Which service a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Amazon S3 or an S3-compatible server (`AWS_ENDPOINT_URL`).
    S3,
    /// Azure Blob Storage (or Azurite).
    Azure,
}

/// A parsed object URL: service, bucket or container, key (maybe a glob).
#[derive(Clone, PartialEq, Eq)]
pub struct ObjectUrl {
    /// The service.
    pub service: Service,
    /// The storage account, from an `https://ACCOUNT.blob.core.windows.net` URL.
    pub account: Option<String>,
    /// Bucket (S3) or container (Azure).
    pub bucket: String,
    /// Object key or blob name (may be a glob or a prefix ending in `/`).
    pub key: String,
    /// A SAS token from the URL's query (secret: never displayed).
    sas: Option<String>,
}

impl fmt::Debug for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectUrl({self})")
    }
}

impl fmt::Display for ObjectUrl {
    /// The URL without its query (a SAS token is a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.service, &self.account) {
            (Service::S3, _) => write!(f, "s3://{}/{}", self.bucket, self.key),
            (Service::Azure, Some(account)) => write!(
                f,
                "https://{account}.blob.core.windows.net/{}/{}",
                self.bucket, self.key
            ),
            (Service::Azure, None) => write!(f, "az://{}/{}", self.bucket, self.key),
        }
    }
}

/// Whether `text` is an object-storage URL this module reads (`s3://`, `az://`,
/// `azure://`, `https://ACCOUNT.blob.core.windows.net/...`).
pub fn is_object_url(text: &str) -> bool {
    ObjectUrl::scheme_of(text).is_some()
}

impl ObjectUrl {
    fn scheme_of(text: &str) -> Option<(Service, &str)> {
        if let Some(rest) = text.strip_prefix("s3://") {
            return Some((Service::S3, rest));
        }
        if let Some(rest) = text
            .strip_prefix("az://")
            .or_else(|| text.strip_prefix("azure://"))
        {
            return Some((Service::Azure, rest));
        }
        let rest = text.strip_prefix("https://")?;
        let host = rest.split('/').next()?;
        host.ends_with(".blob.core.windows.net")
            .then_some((Service::Azure, rest))
    }

    /// Parses `s3://bucket/key`, `az://container/blob` (also `azure://`) or
    /// `https://ACCOUNT.blob.core.windows.net/container/blob[?SAS]`.
    pub fn parse(text: &str) -> Result<ObjectUrl, StorageError> {
        let bad = |why: &str| StorageError::BadUrl {
            url: strip_query(text).to_string(),
            why: why.to_string(),
        };
        let (service, rest) = Self::scheme_of(text)
            .ok_or_else(|| bad("expected s3://BUCKET/KEY, az://CONTAINER/BLOB or https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB"))?;
        let (rest, sas) = match rest.split_once('?') {
            Some((r, q)) if service == Service::Azure => (r, Some(q.to_string())),
            Some(_) => return Err(bad("an s3:// URL has no query")),
            None => (rest, None),
        };
        let (account, rest) = if text.starts_with("https://") {
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let account = host.trim_end_matches(".blob.core.windows.net").to_string();
            (Some(account), path)
        } else {
            (None, rest)
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("no bucket or container name"));
        }
        // `s3://bucket/` is the whole bucket: a prefix.
        if key.is_empty() && !rest.ends_with('/') {
            return Err(bad(
                "no object name (name the object, a glob such as mybackup-*.rdb, or a prefix ending in /)",
            ));
        }
        Ok(ObjectUrl {
            service,
            account,
            bucket: bucket.to_string(),
            key: key.to_string(),
            sas,
        })
    }

    /// Whether the key names several objects: a glob (`*`, `?`, `[`) or a prefix
    /// ending in `/`.
    pub fn is_pattern(&self) -> bool {
        self.key.is_empty() || self.key.ends_with('/') || self.key.contains(['*', '?', '['])
    }

    /// The same URL for another key (keeping the account and SAS).
    fn with_key(&self, key: &str) -> ObjectUrl {
        ObjectUrl {
            key: key.to_string(),
            ..self.clone()
        }
    }

    /// This URL as text that [`ObjectUrl::parse`] reads back, SAS included: for
    /// passing on, never for display.
    pub fn to_arg(&self) -> String {
        match &self.sas {
            Some(sas) => format!("{self}?{sas}"),
            None => self.to_string(),
        }
    }

    /// "bucket B" or "container C".
    fn place(&self) -> String {
        match self.service {
            Service::S3 => format!("bucket {}", self.bucket),
            Service::Azure => format!("container {}", self.bucket),
        }
    }
}

fn strip_query(text: &str) -> &str {
    text.split_once('?').map_or(text, |(u, _)| u)
}

/// Errors of object-storage reads, lists and writes. Messages name the URL (never a
/// credential) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL is not one this module reads.
    #[error("{url}: not an object URL: {why}")]
    BadUrl {
        /// The URL (without its query).
        url: String,
        /// What is wrong.
        why: String,
    },
    /// No credentials were found for the service.
    #[error("{url}: no credentials for {service}: {hint}")]
    NoCredentials {
        /// The URL.
        url: String,
        /// "S3" or "Azure Blob Storage".
        service: &'static str,
        /// What to set.
        hint: String,
    },
    /// The service refused the credentials or the operation.
    #[error("{url}: access denied to {place} ({code}) when {op}: {hint}")]
    AccessDenied {
        /// The URL.
        url: String,
        /// The bucket or container.
        place: String,
        /// The service's error code or HTTP status.
        code: String,
        /// What was being done ("reading", "listing", "writing").
        op: &'static str,
        /// What to set or check.
        hint: String,
    },
    /// The object (or its bucket/container) does not exist.
    #[error("{url}: no such object{hint}")]
    NotFound {
        /// The URL.
        url: String,
        /// Objects with a similar name, or what to check.
        hint: String,
    },
    /// A glob or prefix matched nothing.
    #[error("{url}: no object matches{hint}")]
    NoMatch {
        /// The URL (the pattern).
        url: String,
        /// What is there instead.
        hint: String,
    },
    /// The object changed while it was read.
    #[error("{url}: the object was replaced while it was being read (offset {offset}): read it again once it is complete")]
    Changed {
        /// The URL.
        url: String,
        /// Where the read was.
        offset: u64,
    },
    /// Any other failure of a request (network, timeout, server error).
    #[error("{url}: {op} failed: {detail}")]
    Request {
        /// The URL.
        url: String,
        /// What was being done.
        op: &'static str,
        /// The error, with secrets removed.
        detail: String,
    },
    /// The runtime that runs the requests could not start.
    #[error("starting the object-storage runtime: {0}")]
    Runtime(String),
}

impl From<StorageError> for std::io::Error {
    fn from(e: StorageError) -> Self {
        let kind = match e {
            StorageError::NotFound { .. } => std::io::ErrorKind::NotFound,
            StorageError::AccessDenied { .. } | StorageError::NoCredentials { .. } => {
                std::io::ErrorKind::PermissionDenied
            }
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// The runtime that runs every request (two worker threads: requests are I/O).
fn runtime() -> Result<&'static tokio::runtime::Runtime, StorageError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("rdbkit-storage")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| StorageError::Runtime(e.clone()))
}

/// A client for the bucket or container of `url`.
struct Store {
    url: ObjectUrl,
    store: Arc<dyn ObjectStore>,
    /// Where the credentials came from, for errors ("AWS_ACCESS_KEY_ID", "profile x").
    credential_source: String,
    runtime: &'static tokio::runtime::Runtime,
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_timeout(REQUEST_TIMEOUT)
        .with_connect_timeout(CONNECT_TIMEOUT)
}

fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 4,
        retry_timeout: Duration::from_secs(60),
        ..RetryConfig::default()
    }
}

impl Store {
    fn new(url: &ObjectUrl) -> Result<Store, StorageError> {
        let runtime = runtime()?;
        let (store, credential_source) = credentials::build(url)?;
        Ok(Store {
            url: url.clone(),
            store,
            credential_source,
            runtime,
        })
    }

    fn path(&self, key: &str) -> Path {
        Path::from(key)
    }

    /// Runs `fut` on the runtime, waiting at most [`REQUEST_TIMEOUT`] (plus the
    /// retries' budget) for it.
    fn block_on<T>(
        &self,
        fut: impl std::future::Future<Output = object_store::Result<T>>,
        op: &'static str,
        url: &ObjectUrl,
    ) -> Result<T, StorageError> {
        let limit = REQUEST_TIMEOUT + retry_config().retry_timeout;
        match self
            .runtime
            .block_on(async { tokio::time::timeout(limit, fut).await })
        {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.error(e, op, url)),
            Err(_) => Err(StorageError::Request {
                url: url.to_string(),
                op,
                detail: format!("no answer within {}s", limit.as_secs()),
            }),
        }
    }

    /// Maps an `object_store` error to what the user needs to know.
    fn error(&self, e: object_store::Error, op: &'static str, url: &ObjectUrl) -> StorageError {
        let text = redact(&format!("{e}"));
        let service = match url.service {
            Service::S3 => "S3",
            Service::Azure => "Azure Blob Storage",
        };
        let missing_place = ["NoSuchBucket", "ContainerNotFound"]
            .iter()
            .any(|code| text.contains(code));
        let denied = matches!(
            e,
            object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }
        ) || [
            "403 Forbidden",
            "401 Unauthorized",
            "<Code>AccessDenied",
            "<Code>InvalidAccessKeyId",
            "<Code>SignatureDoesNotMatch",
            "<Code>AuthenticationFailed",
            "<Code>AuthorizationFailure",
        ]
        .iter()
        .any(|code| text.contains(code));
        if looks_like_credentials(&text) {
            return StorageError::NoCredentials {
                url: url.to_string(),
                service,
                hint: format!(
                    "{} (asking the {} failed: {})",
                    credentials::missing_hint(url.service),
                    match url.service {
                        Service::S3 => "instance metadata service",
                        Service::Azure => "identity endpoint",
                    },
                    clip(&text, 200)
                ),
            };
        }
        if missing_place {
            return StorageError::NotFound {
                url: url.to_string(),
                hint: format!(
                    ": there is no {} (check its name{})",
                    url.place(),
                    match url.service {
                        Service::S3 => " and AWS_ENDPOINT_URL/AWS_REGION",
                        Service::Azure => " and the storage account",
                    }
                ),
            };
        }
        if denied {
            return StorageError::AccessDenied {
                url: url.to_string(),
                place: url.place(),
                code: error_code(&text),
                op,
                hint: self.denied_hint(url),
            };
        }
        match e {
            object_store::Error::NotFound { .. } => StorageError::NotFound {
                url: url.to_string(),
                hint: format!(
                    ": check the name (`{}`)",
                    match url.service {
                        Service::S3 => format!("aws s3 ls s3://{}/", url.bucket),
                        Service::Azure => format!(
                            "az storage blob list --container-name {} -o table",
                            url.bucket
                        ),
                    }
                ),
            },
            object_store::Error::Precondition { .. } => StorageError::Changed {
                url: url.to_string(),
                offset: 0,
            },
            _ => StorageError::Request {
                url: url.to_string(),
                op,
                detail: clip(&text, 400),
            },
        }
    }

    fn denied_hint(&self, url: &ObjectUrl) -> String {
        let using = &self.credential_source;
        match url.service {
            Service::S3 => format!(
                "the credentials ({using}) are refused or may not read/write {}: set \
                 AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for an identity \
                 allowed s3:GetObject, s3:ListBucket (and s3:PutObject to write) on it, and \
                 AWS_ENDPOINT_URL for an S3-compatible server",
                url.place()
            ),
            Service::Azure => format!(
                "the credentials ({using}) are refused or may not read/write {}: set \
                 AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT_NAME with \
                 AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_TOKEN (read, list and write \
                 permissions), or sign in with `az login` and set AZURE_USE_AZURE_CLI=true",
                url.place()
            ),
        }
    }
}

/// The service's error code in an error text (`<Code>AccessDenied</Code>`, or the
/// HTTP status).
fn error_code(text: &str) -> String {
    if let Some(start) = text.find("<Code>") {
        let rest = &text[start + 6..];
        if let Some(end) = rest.find("</Code>") {
            return rest[..end].to_string();
        }
    }
    for status in ["403", "401"] {
        if text.contains(status) {
            return format!("HTTP {status}");
        }
    }
    "refused".to_string()
}

/// Whether an error came from getting credentials (the instance metadata service, a
/// token endpoint, the Azure CLI) rather than from the storage request itself.
fn looks_like_credentials(text: &str) -> bool {
    [
        "169.254.169.254",
        "169.254.170.2",
        "latest/api/token",
        "security-credentials",
        "/metadata/identity",
        "token request",
        "get-access-token",
        "credentials provider",
    ]
    .iter()
    .any(|marker| text.contains(marker))
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

/// `text` with the values of signing and SAS query parameters replaced.
fn redact(text: &str) -> String {
    const SECRETS: [&str; 5] = [
        "sig=",
        "X-Amz-Signature=",
        "X-Amz-Credential=",
        "X-Amz-Security-Token=",
        "AccountKey=",
    ];
    let mut out = text.to_string();
    for name in SECRETS {
        let mut from = 0;
        while let Some(i) = out[from..].find(name) {
            let start = from + i + name.len();
            let end = out[start..]
                .find(|c: char| c == '&' || c == ';' || c == '"' || c.is_whitespace())
                .map_or(out.len(), |e| start + e);
            out.replace_range(start..end, "REDACTED");
            from = start + "REDACTED".len();
        }
    }
    out
}

/// One object of a listing.
#[derive(Debug, Clone)]
pub struct ObjectInfo {
    /// Its URL.
    pub url: ObjectUrl,
    /// Its size in bytes.
    pub size: u64,
}

/// Whether the object `url` names exists now (an upload becomes visible only when
/// complete). A glob or prefix matching nothing is [`StorageError::NoMatch`], as for
/// [`list`].
pub fn exists(url: &str) -> Result<bool, StorageError> {
    match list(url) {
        Ok(_) => Ok(true),
        Err(StorageError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The objects `url` names, sorted by key: itself (checked to exist), or for a glob
/// (`mybackup-*.rdb`, Redis glob syntax) or a prefix ending in `/` every matching
/// object. Matching nothing is [`StorageError::NoMatch`].
pub fn list(url: &str) -> Result<Vec<ObjectInfo>, StorageError> {
    let url = ObjectUrl::parse(url)?;
    let store = Store::new(&url)?;
    if !url.is_pattern() {
        let meta = match store.block_on(store.store.head(&store.path(&url.key)), "reading", &url) {
            Err(StorageError::NotFound { hint, .. }) => {
                return Err(StorageError::NotFound {
                    url: url.to_string(),
                    hint: store.similar(&url).unwrap_or(hint),
                })
            }
            other => other?,
        };
        return Ok(vec![ObjectInfo {
            url,
            size: meta.size,
        }]);
    }
    let (dir, glob) = match url.key.find(['*', '?', '[']) {
        Some(i) => (
            url.key[..i].rfind('/').map_or("", |j| &url.key[..j]),
            Some(Glob::new(url.key.as_bytes())),
        ),
        None => (url.key.trim_end_matches('/'), None),
    };
    let objects = store.list_dir(dir, &url)?;
    let mut found: Vec<ObjectInfo> = objects
        .into_iter()
        .filter(|(key, _)| match &glob {
            Some(g) => g.matches(key.as_bytes()),
            None => true,
        })
        .map(|(key, size)| ObjectInfo {
            url: url.with_key(&key),
            size,
        })
        .collect();
    found.sort_by(|a, b| a.url.key.cmp(&b.url.key));
    if found.is_empty() {
        let hint = store.similar(&url).unwrap_or_else(|| {
            let shown = url.with_key(&if dir.is_empty() {
                String::new()
            } else {
                format!("{dir}/")
            });
            match store.list_dir(dir, &url) {
                Ok(all) if !all.is_empty() => {
                    let names: Vec<&str> = all.iter().take(5).map(|(k, _)| k.as_str()).collect();
                    format!(
                        ": {shown} holds {} object(s): {}{}",
                        all.len(),
                        names.join(", "),
                        if all.len() > 5 { ", ..." } else { "" }
                    )
                }
                _ => format!(": {shown} is empty"),
            }
        });
        return Err(StorageError::NoMatch {
            url: url.to_string(),
            hint,
        });
    }
    Ok(found)
}

impl Store {
    /// Every object under the directory `dir` (recursively): key and size.
    fn list_dir(&self, dir: &str, url: &ObjectUrl) -> Result<Vec<(String, u64)>, StorageError> {
        let prefix = (!dir.is_empty()).then(|| self.path(dir));
        let stream = self.store.list(prefix.as_ref());
        let metas = self.block_on(stream.try_collect::<Vec<_>>(), "listing", url)?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect())
    }

    /// ": objects with names like it: a, b (use a glob: ...)" when the directory of
    /// `url` holds objects whose names start with its last part, else `None`.
    fn similar(&self, url: &ObjectUrl) -> Option<String> {
        let dir = url.key.rfind('/').map_or("", |j| &url.key[..j]);
        let stem = url.key.trim_end_matches(['*', '/']);
        let stem = stem.split(['*', '?', '[']).next().unwrap_or(stem);
        let stem = stem.rsplit_once('.').map_or(stem, |(s, _)| s);
        let names: Vec<String> = self
            .list_dir(dir, url)
            .ok()?
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with(stem))
            .take(5)
            .collect();
        let first = names.first()?;
        Some(format!(
            ": there are objects with names like it: {} (a shard set is named by a glob, e.g. {})",
            names.join(", "),
            url.with_key(&format!(
                "{stem}*{}",
                first
                    .rsplit_once('.')
                    .map_or(String::new(), |(_, ext)| format!(".{ext}"))
            ))
        ))
    }
}

/// Opens the object at `url` for reading (a glob is refused: [`list`] it first).
pub fn open(url: &str) -> Result<ObjectReader, StorageError> {
    let parsed = ObjectUrl::parse(url)?;
    if parsed.is_pattern() {
        return Err(StorageError::BadUrl {
            url: parsed.to_string(),
            why: "a glob or prefix names several objects; read each one".to_string(),
        });
    }
    ObjectReader::new(Store::new(&parsed)?)
}

/// Starts an upload to `url`; nothing is visible there until
/// [`ObjectWriter::finish`].
pub fn create(url: &str) -> Result<ObjectWriter, StorageError> {
    let parsed = ObjectUrl::parse(url)?;
    if parsed.is_pattern() {
        return Err(StorageError::BadUrl {
            url: parsed.to_string(),
            why: "an output names one object, not a glob or a prefix".to_string(),
        });
    }
    let store = Store::new(&parsed)?;
    ObjectWriter::new(store)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = ObjectUrl::parse("s3://b/dir/mybackup-*.rdb").unwrap();
        assert_eq!(
            (u.service, u.bucket.as_str(), u.key.as_str()),
            (Service::S3, "b", "dir/mybackup-*.rdb")
        );
        assert!(u.is_pattern());
        let u = ObjectUrl::parse("az://imports/import.rdb").unwrap();
        assert_eq!((u.service, u.account.as_deref()), (Service::Azure, None));
        assert!(!u.is_pattern());
        let u =
            ObjectUrl::parse("https://acct.blob.core.windows.net/c/x.rdb?sv=1&sig=SECRET").unwrap();
        assert_eq!(u.account.as_deref(), Some("acct"));
        assert_eq!(u.to_string(), "https://acct.blob.core.windows.net/c/x.rdb");
        assert!(!format!("{u:?}").contains("SECRET"));
        assert!(u.to_arg().contains("sig=SECRET"));
        assert!(ObjectUrl::parse("s3://bucket").is_err());
        assert!(ObjectUrl::parse("s3://bucket/").unwrap().is_pattern());
        assert!(ObjectUrl::parse("s3:///key").is_err());
        assert!(!is_object_url("dump.rdb"));
        assert!(!is_object_url("https://example.com/dump.rdb"));
        assert!(ObjectUrl::parse("s3://b/prefix/").unwrap().is_pattern());
    }

    #[test]
    fn redacts_signatures() {
        let t = redact("GET http://h/c/b?sv=2&sig=abc%2Fdef&se=1 failed; X-Amz-Signature=123 x");
        assert!(!t.contains("abc"));
        assert!(!t.contains("123"));
        assert!(t.contains("sig=REDACTED&se=1"));
    }

    #[test]
    fn finds_error_codes() {
        assert_eq!(
            error_code("body: <Error><Code>AccessDenied</Code>"),
            "AccessDenied"
        );
        assert_eq!(error_code("status 403 Forbidden"), "HTTP 403");
    }
}
