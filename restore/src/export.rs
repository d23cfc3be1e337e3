//! `rdbkit export --format resp`: the `RESTORE` (and `FUNCTION RESTORE`) commands a
//! restore would send, as RESP, for `redis-cli --pipe`.
//!
//! `SELECT n` precedes the keys of each database other than the current one (the
//! stream starts in database 0). Payloads carry the snapshot's RDB version in their
//! footer, or `footer_version` when given (for an older target: types that version
//! cannot read are left out and counted). Keys already expired at export time are
//! left out. `ABSTTL`, `IDLETIME` and `FREQ` are used when the footer version is 9
//! (Redis 5.0) or later; below that the TTL is relative to the export time.

use std::io::Write;

use rdb_parser::{Rdb, Record};

use crate::error::{Error, Result};
use crate::payload::{function_refusal, payload, KeyValue, Payload};
use crate::plan::{plan_key, ConflictPolicy, KeyPlan, PlanOptions, TargetProfile, WriteMode};
use crate::report::KeyFailure;
use crate::resp;
use crate::restore::library_name;

/// Options of [`write_resp`].
#[derive(Debug, Clone, Default)]
pub struct RespExportOptions {
    /// Footer version of the payloads (default: the snapshot's RDB version).
    pub footer_version: Option<u16>,
    /// Export time in Unix ms for the expired-key check (default: the clock).
    pub now_ms: Option<i64>,
    /// Leave function libraries out.
    pub no_functions: bool,
    /// Add `REPLACE` to every command.
    pub replace: bool,
}

/// What [`write_resp`] wrote and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RespExportSummary {
    /// `RESTORE` commands written.
    pub keys: u64,
    /// `FUNCTION RESTORE` commands written.
    pub functions: u64,
    /// Keys left out because already expired.
    pub expired: u64,
    /// Keys and libraries left out because the footer version cannot carry them.
    pub unsupported: u64,
    /// The first few of those, with the reason.
    pub errors: Vec<KeyFailure>,
}

/// Writes the commands for every key of `rdb` to `out`. `file` is the file's index
/// (for the error list).
pub fn write_resp<W: Write>(
    rdb: &Rdb<'_>,
    file: usize,
    options: &RespExportOptions,
    out: &mut W,
) -> Result<RespExportSummary> {
    let io = |e: std::io::Error| Error::Io {
        context: "writing RESP".into(),
        source: e,
    };
    let header = rdb.header();
    let footer = match options.footer_version {
        Some(v) => v,
        None => u16::try_from(header.version).unwrap_or(u16::MAX),
    };
    let profile = TargetProfile::new(footer, header.family);
    let plan = PlanOptions {
        on_conflict: if options.replace {
            ConflictPolicy::Replace
        } else {
            ConflictPolicy::Fail
        },
        mode: WriteMode::Restore,
        ..PlanOptions::default()
    };
    let now = options.now_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    });
    let mut summary = RespExportSummary::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut current_db = 0u64;
    for record in rdb.records() {
        let record = record.map_err(|e| Error::Parse {
            file: format!("file {file}"),
            error: e,
        })?;
        match record {
            Record::Key(k) => {
                let (db, ttl, flags) = match plan_key(&k, &plan, &profile, now, false) {
                    KeyPlan::Send { db, ttl, flags } => (db, ttl, flags),
                    KeyPlan::Expired => {
                        summary.expired += 1;
                        continue;
                    }
                    KeyPlan::Skip(_) => continue,
                };
                let value = KeyValue::Record {
                    record: &k,
                    rdb_version: header.version,
                };
                // A RESTORE stream: no fallback to commands.
                let made = payload(&value, &profile, &plan.payload_options(now, flags.replace));
                if let Payload::Reject(why) = &made {
                    summary.unsupported += 1;
                    if summary.errors.len() < 100 {
                        summary.errors.push(KeyFailure {
                            file,
                            db: Some(k.db),
                            key: k.key.to_vec(),
                            error: why.clone(),
                            cause: "PLAN".into(),
                        });
                    }
                    continue;
                }
                if db != current_db {
                    resp::write_select(&mut buf, db);
                    current_db = db;
                }
                if made.write_restore(&mut buf, &k.key, ttl, flags) {
                    summary.keys += 1;
                }
            }
            Record::Function(f) if !options.no_functions => {
                if let Some(why) = function_refusal(&f, &profile) {
                    summary.unsupported += 1;
                    if summary.errors.len() < 100 {
                        summary.errors.push(KeyFailure {
                            file,
                            db: None,
                            key: library_name(&f),
                            error: why,
                            cause: "PLAN".into(),
                        });
                    }
                } else {
                    resp::write_function_restore(&mut buf, f.raw, footer, options.replace);
                    summary.functions += 1;
                }
            }
            _ => {}
        }
        if buf.len() >= 1 << 20 {
            out.write_all(&buf).map_err(io)?;
            buf.clear();
        }
    }
    out.write_all(&buf).map_err(io)?;
    Ok(summary)
}
