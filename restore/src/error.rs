//! The error type of `rdb-restore`: what stops a run. A rejection of one key is not
//! an error but data in the [`RestoreReport`](crate::RestoreReport).

use std::path::PathBuf;

/// What stops a restore (or an export) as a whole.
///
/// Messages never contain credentials: URLs are shown redacted
/// ([`redact_url`](crate::target::redact_url)) and server or client error texts are
/// scrubbed of the password before they are stored here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A snapshot could not be framed (corrupt or truncated file).
    #[error("{file}: {source}")]
    Parse {
        /// The file (as given by the caller).
        file: String,
        /// The parser's error, with the byte offset.
        source: rdb_parser::Error,
    },
    /// The target URL or TLS/auth settings are unusable.
    #[error("bad target configuration: {0}")]
    Config(String),
    /// Connecting to, authenticating with or talking to the target failed.
    #[error("{target}: {message}")]
    Connection {
        /// The target, redacted (`host:port`).
        target: String,
        /// What failed (scrubbed of secrets).
        message: String,
    },
    /// The snapshot uses databases the target does not have; nothing was written.
    #[error(
        "the target has only database 0 ({why}) but the snapshot has keys in database(s) {dbs}; \
         select databases with --db N or map them with --db-map SRC:0"
    )]
    SingleDbTarget {
        /// Why the target counts as single-database.
        why: String,
        /// The source databases that would land elsewhere than db 0 (comma separated).
        dbs: String,
    },
    /// The target's capabilities could not be determined.
    #[error("{0}")]
    Probe(String),
    /// The checkpoint file is unreadable or belongs to another set of files.
    #[error("checkpoint {}: {message}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Writing output or a checkpoint failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
