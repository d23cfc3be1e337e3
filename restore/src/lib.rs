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
//! - [`commands`]: command mode (SET/RPUSH/SADD/ZADD/HSET/XADD/XGROUP/XCLAIM/PEXPIREAT).
//! - [`plan`]: filters (`--db`, `--key-pattern` with [`glob`], `--type`), database
//!   mapping, expired keys, conflict policy, the `RESTORE` arguments: a pure function
//!   ([`plan::plan_key`]).
//! - [`payload`]: what to send for a key, from a snapshot record or a live `DUMP`
//!   (verbatim, slice, re-stamped, re-encoded, commands, or refused): one pure
//!   function ([`payload::payload`]) that restore, export and sync call.
//! - [`restore()`]: the framer, per-node workers with pipelined connections, and the
//!   accounting into a [`RestoreReport`]; live counters in [`Progress`]. Inside (crate
//!   private): `resp` (the commands, written into one buffer per batch with the
//!   payload built in place), `cluster` (slot map), `delivery` (routing, redirections
//!   and the one retry policy), `worker` (the per-node worker every operation runs
//!   in), `throttle` (`--max-ops`, `--max-bytes`).
//! - [`target`]: URLs, credentials, TLS, and the target's capabilities
//!   ([`TargetCaps`]: RDB version from a `DUMP` probe, cluster mode, databases).
//! - [`checkpoint`] (resume after a kill).
//! - [`export`]: the same commands as a RESP stream for `redis-cli --pipe`.
//! - [`live`]: reading running servers: `INFO` metrics, the metrics crosswalk across
//!   platforms, pre-flight checks and the post-cutover watch.
//! - [`verify()`]: the same plan and routing with `DUMP` + `PEXPIRETIME`/`PTTL`
//!   instead of `RESTORE`, compared by content digest, plus a `SCAN` for extra keys
//!   ([`VerifyReport`]).
//! - `document` (feature `serde`): the JSON documents `rdbkit restore`, `verify`,
//!   `info`, `convert` and `sync` print, as types (`preflight`'s and `metrics`' sit
//!   beside their data in [`live::preflight`] and [`live::crosswalk`]).
//! - [`platform`]: managed targets (Azure Cache for Redis, Azure Managed Redis) and
//!   the capacity rule; [`units`]: sizes and dates as reports show them.
//! - `html_report` (feature `html-report`): the self-contained HTML report of
//!   snapshots (`rdbkit report`), checked against every [`platform::Platform`].
//!
//! # Stage map
//!
//! The pipeline of the architecture notes, one type each (crate-private ones in
//! `code`, without a link):
//!
//! | Stage | Type | File |
//! |---|---|---|
//! | Router (standalone, cluster slot map, `MOVED`/`ASK`, refresh after a failover) | `delivery::Router`, `cluster::SlotMap` | `src/delivery.rs`, `src/cluster.rs` |
//! | NodeWorker (one per node, count- and byte-bounded window) | `worker::NodeWorker<O: NodeOp>`, `window::Window` | `src/worker.rs`, `src/window.rs` |
//! | Retry policy (wait, refresh, ask, fail; bounded backoff, node deadline) | `delivery::classify` → `delivery::Retry` | `src/delivery.rs` |
//! | Plan (filters, db map, expiry, conflict policy) | [`plan::plan_key`] → [`plan::KeyPlan`] | `src/plan.rs` |
//! | Payload (verbatim / slice / re-stamp / re-encode / commands / refusal), for restore, export and sync | [`payload::payload`] → [`payload::Payload`] ([`payload::Payload::write_restore`]); [`commands`] | `src/payload.rs`, `src/resp.rs`, `src/commands.rs` |
//! | Accountant (report, checkpoint, failed-keys log) | `restore::Acc` → [`RestoreReport`], [`checkpoint::CheckpointState`] | `src/restore.rs`, `src/report.rs`, `src/checkpoint.rs` |
//! | INFO reader | [`live::read_info`] → [`live::info::Info`] | `src/live/mod.rs`, `src/live/info.rs` |
//! | Version parser | [`rdb_parser::aux::parse_version`]; RDB version of a server: [`target::rdb_version_for`] | `rdb-parser/src/aux.rs`, `src/target.rs` |
//! | Orchestrators | [`restore()`], [`verify()`], [`sync()`] | `src/restore.rs`, `src/verify.rs`, `src/sync/mod.rs` |
//! | Stop button and live counters | [`Progress`] ([`Progress::cancel`]) | `src/report.rs` |
//! | A connection of one's own | [`Target::connect`] → [`Connection::query`] → [`Reply`] | `src/target.rs` |
//!
//! # Limits
//!
//! - Older targets: types the target does not read are re-encoded
//!   ([`rdb_parser::reencode`]) or, with `--mode commands` / as the last resort of
//!   `--mode auto`, written as plain commands ([`commands`]); what an older target
//!   cannot hold (hash field TTLs under `--hash-field-ttl drop`, stream v2+ metadata,
//!   consumer active times) is dropped and counted in
//!   [`RestoreReport::conversions`]. Command mode writes are not atomic per key and
//!   its `EXISTS` check (conflict policies `fail`/`skip`) is not atomic with them.
//! - TLS server names: the certificate is verified against the host connected to
//!   unless [`TargetConfig::tls_server_name`] (`--tls-server-name`) names it; the
//!   override also applies to the cluster nodes `CLUSTER SLOTS` reports (by IP on
//!   Azure). TLS connections use this crate's own rustls transport (see [`target`]).
//! - Credentials may change during a run: [`TargetConfig::credentials`] takes a
//!   [`credential::CredentialSource`] (a password command, Microsoft Entra ID tokens,
//!   ElastiCache IAM tokens) asked at every (re)connect; refusals after a rotation
//!   reconnect with a fresh credential and live connections re-`AUTH` before expiry.
//! - A lost connection does not end the run: the keys in flight are resent so that
//!   the snapshot's value wins (`RESTORE ... REPLACE`, or a `DEL` before command-mode
//!   commands), routed by a fresh slot map after a failover; a node that takes no key
//!   within [`RestoreOptions::node_timeout`] fails those keys (with a checkpoint, a
//!   rerun retries them).
//!
//! # Crate features
//!
//! - `serde` (off by default): `serde::Serialize` for every report type
//!   ([`RestoreReport`], [`KeyFailure`], [`VerifyReport`], [`TargetCaps`], the
//!   [`live`] metrics, pre-flight checks and watch samples); enables `rdb-parser/serde`.
//!   Keys are JSON strings when valid UTF-8, else `{"hex": "..."}`
//!   (`rdb_parser::serde_bytes`); skip reasons and verify kinds are their short
//!   names (`{"pattern": 3, ...}`).
//! - `html-report` (off by default): the `html_report` module (`render_html`,
//!   `html_report`): one HTML page that fetches nothing (CSP `default-src 'none'`).
//! - `object-store` (on by default): `storage`, snapshots in S3 and Azure Blob
//!   Storage: a blocking `Read` per object (ranged GETs read ahead), glob listing of
//!   shard sets, and multipart uploads visible only when complete; a small tokio
//!   runtime runs the requests inside.
//!
//! # Errors
//!
//! [`Error`] is what stops a run. A key the server refuses is not an error: it is a
//! [`KeyFailure`] in the report, with the server's reply. Credentials never appear
//! in errors or reports.

#![deny(unsafe_code)]
#![warn(missing_docs)]
#![warn(missing_debug_implementations)]

/// Builder-style setters for an options struct: `Options::default().name(value)`
/// for every listed field. With `#[non_exhaustive]` on the struct, options can grow
/// without breaking callers that build them this way.
macro_rules! setters {
    ($t:ty { $($name:ident: $ty:ty),* $(,)? }) => {
        impl $t {
            $(
                #[doc = concat!("Sets [`", stringify!($name), "`](Self::", stringify!($name), ").")]
                #[must_use]
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

pub mod checkpoint;
pub(crate) mod cluster;
pub mod commands;
pub mod convert;
pub mod credential;
mod delivery;
#[cfg(feature = "serde")]
pub mod document;
pub mod error;
pub mod export;
pub mod glob;
#[cfg(feature = "html-report")]
pub mod html_report;
pub mod live;
pub mod payload;
pub mod plan;
pub mod platform;
pub mod report;
pub(crate) mod resp;
pub mod restore;
#[cfg(feature = "serde")]
mod ser;
#[cfg(feature = "object-store")]
pub mod storage;
pub mod sync;
pub mod target;
pub(crate) mod throttle;
pub mod units;
pub mod verify;
mod window;
mod worker;

pub use error::{Error, Result};
pub use plan::{ConflictPolicy, PlanOptions, SkipReason};
pub use rdb_parser;
pub use report::{FunctionCounts, KeyFailure, Progress, RestoreReport};
pub use restore::{restore, ClusterMode, RestoreOptions, SourceFile};
pub use sync::{sync, SyncOptions, SyncReport, SyncState, SyncStatus, Until};
pub use target::{Connection, Reply, Secret, Target, TargetCaps, TargetConfig};
pub use verify::{verify, VerifyOptions, VerifyReport};
