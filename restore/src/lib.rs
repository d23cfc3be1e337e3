//! `rdb-restore`: moving RDB snapshots into live Redis/Valkey servers.
//!
//! This crate owns everything that talks to a server. Today that is `restore`: the
//! keys of one or more snapshots (one file per shard is fine) are sent as pipelined
//! `RESTORE` commands whose payloads are sliced from the file
//! ([`rdb_parser::KeyRecord::raw`] + footer version + CRC-64, no re-encoding), into
//! a standalone server or a cluster (routed by hash slot, `MOVED`/`ASK` followed),
//! over TLS and with ACL users, and every key is accounted for.
//!
//! # Example
//!
//! ```no_run
//! use rdb_parser::Rdb;
//! use rdb_restore::{restore, Progress, RestoreOptions, SourceFile, Target, TargetConfig};
//!
//! let data = std::fs::read("dump.rdb")?;
//! let file = SourceFile { name: "dump.rdb", rdb: Rdb::parse(&data)? };
//! let target = Target::new(&TargetConfig {
//!     url: "redis://127.0.0.1:6379".into(),
//!     ..TargetConfig::default()
//! })?;
//! let report = restore(&target, &[file], &RestoreOptions::default(), &Progress::default())?;
//! println!("{} restored, {} failed", report.restored, report.failed);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # API structure
//!
//! The stages of the pipeline (see the project's architecture notes) each have a
//! module:
//!
//! - [`plan`]: filters (`--db`, `--key-pattern` with [`glob`], `--type`), database
//!   mapping, expired keys, conflict policy, footer version: a pure function
//!   ([`plan::plan_key`]).
//! - [`resp`]: the commands, written into one buffer per batch with the payload
//!   built in place.
//! - [`cluster`]: slot map and redirections.
//! - [`restore()`]: the framer, per-node workers with pipelined connections, and the
//!   accounting into a [`RestoreReport`]; live counters in [`Progress`].
//! - [`target`]: URLs, credentials, TLS, and the target's capabilities
//!   ([`TargetCaps`]: RDB version from a `DUMP` probe, cluster mode, databases).
//! - [`checkpoint`] (resume after a kill) and [`throttle`] (`--max-ops`,
//!   `--max-bytes`).
//! - [`export`]: the same commands as a RESP stream for `redis-cli --pipe`.
//!
//! # Limits
//!
//! - No re-encoding: a key whose type byte the target does not know (e.g. a Redis 7.2
//!   listpack set into Redis 7.0) fails with the reason (issue 5 will re-encode).
//! - TLS server names: the `redis` crate verifies the certificate against the host it
//!   connects to and has no SNI override, so there is no `--tls-server-name`; cluster
//!   nodes are reached (and verified) by the address `CLUSTER SLOTS` reports, which
//!   must therefore be in the certificate (see [`target`]).
//! - A lost connection ends the run with an error (the keys in flight are unknown);
//!   with a checkpoint, rerunning resumes where the target had answered.
//!
//! # Errors
//!
//! [`Error`] is what stops a run. A key the server refuses is not an error: it is a
//! [`KeyFailure`] in the report, with the server's reply. Credentials never appear
//! in errors or reports.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

pub mod checkpoint;
pub mod cluster;
pub mod error;
pub mod export;
pub mod glob;
pub mod plan;
pub mod report;
pub mod resp;
pub mod restore;
pub mod target;
pub mod throttle;

pub use error::{Error, Result};
pub use plan::{ConflictPolicy, PlanOptions, SkipReason};
pub use rdb_parser;
pub use report::{FunctionCounts, KeyFailure, Progress, RestoreReport};
pub use restore::{restore, ClusterMode, RestoreOptions, SourceFile};
pub use target::{Connection, Secret, Target, TargetCaps, TargetConfig};
