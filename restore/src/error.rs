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
    /// A snapshot could not be framed (corrupt or truncated file). Restore checks
    /// every file before its first write, so from restore it means nothing was
    /// written.
    #[error(
        "{file}: damaged snapshot: {error}; download or export the file again \
         (`rdbkit check FILE` shows the first problem)"
    )]
    Parse {
        /// The file (as given by the caller).
        file: String,
        /// The parser's error, with the byte offset (shown in the message, so it is
        /// not also a `source`).
        error: rdb_parser::Error,
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
    /// The server refused the credentials, or the user lacks a permission.
    #[error("{target}: {message}")]
    Auth {
        /// The target, redacted (`host:port`).
        target: String,
        /// The ACL user (`default` when none was named).
        user: String,
        /// What is wrong and what to check.
        message: String,
    },
    /// A changing credential (`--password-command`, an Entra ID or IAM token) could
    /// not be had.
    #[error("{target}: cannot get a credential from {identity}: {message}")]
    Credential {
        /// The target, redacted (`host:port`).
        target: String,
        /// Where the credential comes from (never a secret).
        identity: String,
        /// Why, and what to check.
        message: String,
    },
    /// The server answered a command with an error reply
    /// ([`Connection::query`](crate::Connection::query)).
    #[error("{target}: {command} refused: {reply}")]
    Command {
        /// The server, redacted (`host:port`).
        target: String,
        /// The command's name.
        command: String,
        /// The server's error reply (`CODE message`).
        reply: String,
    },
    /// The target cannot take this snapshot as asked; nothing was written.
    #[error("{target}: {message}")]
    Refused {
        /// The target, redacted (`host:port`).
        target: String,
        /// Why, and which option or action changes it.
        message: String,
    },
    /// The run stopped part-way (connection lost, too many failures, interrupted,
    /// a damaged snapshot read without a prior check): `report` accounts for what was
    /// done before the stop, and the target is partly loaded.
    #[error("{cause}; {}", stop_summary(report))]
    Stopped {
        /// What stopped the run.
        cause: Box<Error>,
        /// What was done until then.
        report: Box<crate::RestoreReport>,
    },
    /// More keys failed than `--max-failures` allows; the run stopped (inside
    /// [`Error::Stopped`]).
    #[error("stopped after {failed} failed keys (--max-failures {limit})")]
    TooManyFailures {
        /// Keys failed when the run stopped.
        failed: u64,
        /// The limit.
        limit: u64,
    },
    /// The run was cancelled (Ctrl-C, [`crate::Progress::cancel`]).
    #[error("interrupted")]
    Interrupted,
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

fn stop_summary(report: &crate::RestoreReport) -> String {
    let written = if report.restored == 0 {
        "no key was written before the stop".to_string()
    } else {
        format!(
            "{} keys were written before the stop, so the target is partly loaded",
            report.restored
        )
    };
    let resume = if report.checkpointed {
        "rerun the same command to resume (failed and unfinished keys are retried)"
    } else {
        "with --checkpoint FILE a rerun resumes instead of starting over"
    };
    format!("{written}; {} keys not done; {resume}", report.not_done())
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
