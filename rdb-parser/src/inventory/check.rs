//! Whole-file validation (`rdbkit check`): every record, every value's containers
//! and the checksum, with values walked on all cores.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::record::{Eof, ParseOptions, Record};

use super::parallel::{fold_keys, Framing};
use super::{in_memory, FileInput, Input};
use crate::stream::StreamError;

/// What a valid file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FileCheck {
    /// Keys and keys with TTL per database (serialized as `{"0": {"keys": N,
    /// "expires": M}}`, the shape of the inventory's keyspace).
    #[cfg_attr(feature = "serde", serde(serialize_with = "dbs_ser"))]
    pub dbs: BTreeMap<u64, (u64, u64)>,
    /// Keys per RDB type name.
    pub types: BTreeMap<&'static str, u64>,
    /// Elements walked (1 per string).
    pub elements: u64,
    /// Function libraries.
    pub functions: u64,
    /// Module aux records.
    pub module_aux: u64,
    /// Opcodes skipped as safe to ignore (Redis Enterprise).
    pub skipped_opcodes: u64,
    /// The `EOF` record.
    pub eof: Option<Eof>,
}

/// [`FileCheck::dbs`] as `{db: {"keys", "expires"}}`.
#[cfg(feature = "serde")]
fn dbs_ser<S: serde::Serializer>(
    dbs: &BTreeMap<u64, (u64, u64)>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;

    #[derive(serde::Serialize)]
    struct Counts {
        keys: u64,
        expires: u64,
    }
    let mut map = serializer.serialize_map(Some(dbs.len()))?;
    for (db, &(keys, expires)) in dbs {
        map.serialize_entry(db, &Counts { keys, expires })?;
    }
    map.end()
}

impl FileCheck {
    /// Total keys.
    pub fn keys(&self) -> u64 {
        self.dbs.values().map(|d| d.0).sum()
    }

    fn merge(&mut self, other: FileCheck) {
        for (db, (k, e)) in other.dbs {
            let d = self.dbs.entry(db).or_default();
            d.0 += k;
            d.1 += e;
        }
        for (t, n) in other.types {
            *self.types.entry(t).or_default() += n;
        }
        self.elements += other.elements;
    }
}

/// The state of a file's checksum, as a stable word: `ok` (verified), `disabled`
/// (a zero trailer: the writer turned checksums off), `not-verified` (not computed,
/// [`ParseOptions`] said so) or `none` (RDB version < 5 has no trailer).
pub fn checksum_status(eof: Option<&Eof>) -> &'static str {
    match eof {
        Some(e) if e.checksum_verified => "ok",
        Some(e) if e.stored_checksum == Some(0) => "disabled",
        Some(e) if e.stored_checksum.is_some() => "not-verified",
        _ => "none",
    }
}

/// What checking one whole file found (`rdbkit check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// A valid snapshot.
    Valid(Box<ValidFile>),
    /// The bytes are not a valid snapshot.
    Corrupt {
        /// What is wrong, with the offset.
        message: String,
        /// Offset of the failing byte.
        offset: u64,
        /// What the input is instead of RDB (`gzip`, `aof`, ...), when known.
        input_kind: Option<&'static str>,
    },
    /// The file could not be read (missing, a directory, unreadable).
    Unreadable(String),
}

impl CheckOutcome {
    /// 0 valid, 1 corrupt, 2 unreadable: the worst of a run is its exit status.
    pub fn severity(&self) -> u8 {
        match self {
            CheckOutcome::Valid(_) => 0,
            CheckOutcome::Corrupt { .. } => 1,
            CheckOutcome::Unreadable(_) => 2,
        }
    }
}

/// The facts about a valid file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidFile {
    /// The magic string (`REDIS0011`, `VALKEY080`).
    pub magic: String,
    /// The RDB version.
    pub rdb_version: u32,
    /// AUX `redis-ver`.
    pub redis_ver: Option<String>,
    /// AUX `valkey-ver`.
    pub valkey_ver: Option<String>,
    /// The file's length.
    pub bytes: u64,
    /// What the walk counted.
    pub report: FileCheck,
    /// RESP commands in the bytes after the trailer (an AOF with an RDB preamble),
    /// when they were counted.
    pub tail_commands: Option<u64>,
}

impl ValidFile {
    /// The facts of a file read with `header` and `aux` and walked into `report`.
    pub fn new(
        header: crate::Header,
        aux: crate::AuxInfo,
        bytes: u64,
        report: FileCheck,
        tail_commands: Option<u64>,
    ) -> ValidFile {
        ValidFile {
            magic: header.magic(),
            rdb_version: header.version,
            redis_ver: aux.redis_ver,
            valkey_ver: aux.valkey_ver,
            bytes,
            report,
            tail_commands,
        }
    }
}

/// What one worker counts for one file: keys per type name are kept in a short
/// list while walking and moved into [`FileCheck::types`] at the end.
#[derive(Debug, Clone, Default)]
struct Tally {
    check: FileCheck,
    types: Vec<(&'static str, u64)>,
}

/// Validates `files` completely; returns one [`FileCheck`] per file, or the first
/// error in file order.
pub fn check(
    files: &[FileInput<'_>],
    parse: ParseOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<FileCheck>> {
    let mut inputs: Vec<Input<'_>> = files.iter().map(|&f| f.into()).collect();
    check_inputs(&mut inputs, parse, progress).map_err(in_memory)
}

/// [`check`] of inputs in memory or streamed.
pub fn check_inputs(
    files: &mut [Input<'_>],
    parse: ParseOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<Vec<FileCheck>, StreamError> {
    let n_files = files.len();
    let mut reports = vec![FileCheck::default(); n_files];
    let partials = fold_keys(
        files,
        Framing {
            parse,
            batch_keys: 1024,
        },
        || vec![Tally::default(); n_files],
        |state, file, key| {
            let elements = key.validate()?;
            if let Some(t) = state.get_mut(file) {
                let c = &mut t.check;
                c.elements += elements;
                let d = c.dbs.entry(key.db).or_default();
                d.0 += 1;
                d.1 += u64::from(key.expire_at_ms.is_some());
                let name = key.value_type.name();
                // A short list compared by pointer first: cheaper per key than a
                // `BTreeMap` of names.
                match t
                    .types
                    .iter_mut()
                    .find(|(n, _)| std::ptr::eq(*n, name) || *n == name)
                {
                    Some((_, k)) => *k += 1,
                    None => t.types.push((name, 1)),
                }
            }
            Ok(())
        },
        |file, record| {
            let Some(c) = reports.get_mut(file) else {
                return;
            };
            match record {
                Record::Function(_) => c.functions += 1,
                Record::ModuleAux(_) => c.module_aux += 1,
                Record::Skipped { .. } => c.skipped_opcodes += 1,
                Record::Eof(e) => c.eof = Some(*e),
                _ => {}
            }
        },
        progress,
    )?;
    for partial in partials {
        for (report, part) in reports.iter_mut().zip(partial) {
            let mut check = part.check;
            for (name, n) in part.types {
                *check.types.entry(name).or_default() += n;
            }
            report.merge(check);
        }
    }
    Ok(reports)
}

/// `rdbkit check --format json` (feature `serde`): `{"verdict": "ok"|"corrupt"|"error",
/// "files": [...]}`, the verdict the worst file's. Each file has `path` and its own
/// `verdict`; a valid one has `magic`, `rdb_version`, `redis_ver`, `valkey_ver`,
/// `bytes`, `keys`, `elements`, `dbs` (`{"0": {"keys": N, "expires": M}}`), `types`,
/// `functions`, `module_aux`, `skipped_opcodes`, `checksum` (`{"status":
/// `[`checksum_status`]`, "stored": hex or null}`), `trailing_bytes` and
/// `aof_tail_commands_not_included`; a corrupt one has `error`, `offset` and
/// `input_kind`; an unreadable one has `error`.
#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
pub struct CheckDocument<'a> {
    verdict: &'static str,
    files: Vec<FileEntry<'a>>,
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
enum FileEntry<'a> {
    Valid(Box<ValidEntry<'a>>),
    Corrupt {
        path: &'a str,
        verdict: &'static str,
        error: &'a str,
        offset: u64,
        input_kind: Option<&'static str>,
    },
    Unreadable {
        path: &'a str,
        verdict: &'static str,
        error: &'a str,
    },
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
struct ValidEntry<'a> {
    path: &'a str,
    verdict: &'static str,
    magic: &'a str,
    rdb_version: u32,
    redis_ver: Option<&'a str>,
    valkey_ver: Option<&'a str>,
    bytes: u64,
    keys: u64,
    elements: u64,
    #[serde(serialize_with = "dbs_ser")]
    dbs: &'a BTreeMap<u64, (u64, u64)>,
    types: &'a BTreeMap<&'static str, u64>,
    functions: u64,
    module_aux: u64,
    skipped_opcodes: u64,
    checksum: Checksum,
    trailing_bytes: u64,
    aof_tail_commands_not_included: Option<u64>,
}

#[cfg(feature = "serde")]
#[derive(Debug, serde::Serialize)]
struct Checksum {
    status: &'static str,
    stored: Option<String>,
}

#[cfg(feature = "serde")]
impl<'a> CheckDocument<'a> {
    /// The document of a run over `files` (path, outcome), in the order checked.
    pub fn new(files: impl IntoIterator<Item = (&'a str, &'a CheckOutcome)>) -> CheckDocument<'a> {
        let mut worst = 0;
        let files = files
            .into_iter()
            .map(|(path, outcome)| {
                worst = worst.max(outcome.severity());
                match outcome {
                    CheckOutcome::Valid(v) => {
                        let c = &v.report;
                        FileEntry::Valid(Box::new(ValidEntry {
                            path,
                            verdict: "ok",
                            magic: &v.magic,
                            rdb_version: v.rdb_version,
                            redis_ver: v.redis_ver.as_deref(),
                            valkey_ver: v.valkey_ver.as_deref(),
                            bytes: v.bytes,
                            keys: c.keys(),
                            elements: c.elements,
                            dbs: &c.dbs,
                            types: &c.types,
                            functions: c.functions,
                            module_aux: c.module_aux,
                            skipped_opcodes: c.skipped_opcodes,
                            checksum: Checksum {
                                status: checksum_status(c.eof.as_ref()),
                                stored: c
                                    .eof
                                    .and_then(|e| e.stored_checksum)
                                    .map(|s| format!("{s:016x}")),
                            },
                            trailing_bytes: c.eof.map_or(0, |e| e.trailing_bytes),
                            aof_tail_commands_not_included: v.tail_commands,
                        }))
                    }
                    CheckOutcome::Corrupt {
                        message,
                        offset,
                        input_kind,
                    } => FileEntry::Corrupt {
                        path,
                        verdict: "corrupt",
                        error: message,
                        offset: *offset,
                        input_kind: *input_kind,
                    },
                    CheckOutcome::Unreadable(message) => FileEntry::Unreadable {
                        path,
                        verdict: "error",
                        error: message,
                    },
                }
            })
            .collect();
        CheckDocument {
            verdict: match worst {
                0 => "ok",
                1 => "corrupt",
                _ => "error",
            },
            files,
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::*;

    #[test]
    fn serializes_dbs_as_keyspace() -> std::result::Result<(), serde_json::Error> {
        let mut c = FileCheck::default();
        c.dbs.insert(0, (5, 2));
        c.dbs.insert(3, (1, 0));
        c.types.insert("STRING", 6);
        let v = serde_json::to_value(&c)?;
        assert_eq!(
            v["dbs"],
            serde_json::json!({"0": {"keys": 5, "expires": 2}, "3": {"keys": 1, "expires": 0}})
        );
        assert_eq!(v["types"], serde_json::json!({"STRING": 6}));
        assert_eq!(v["eof"], serde_json::json!(null));
        Ok(())
    }

    #[test]
    fn check_document_shape() -> std::result::Result<(), serde_json::Error> {
        let mut report = FileCheck::default();
        report.dbs.insert(0, (2, 1));
        report.eof = Some(Eof {
            offset: 10,
            stored_checksum: Some(0xab),
            checksum_verified: true,
            trailing_bytes: 0,
        });
        let header = crate::Header::parse(b"REDIS0011").map_err(serde::ser::Error::custom)?;
        let valid = CheckOutcome::Valid(Box::new(ValidFile::new(
            header,
            crate::AuxInfo::default(),
            100,
            report,
            None,
        )));
        let corrupt = CheckOutcome::Corrupt {
            message: "b.rdb: bad".into(),
            offset: 9,
            input_kind: Some("gzip"),
        };
        let doc = CheckDocument::new([("a.rdb", &valid), ("b.rdb", &corrupt)]);
        let text = serde_json::to_string(&doc)?;
        assert!(text.starts_with(r#"{"verdict":"corrupt","files":[{"path":"a.rdb","verdict":"ok","magic":"REDIS0011""#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text)?;
        let a = &v["files"][0];
        assert_eq!(a["keys"], 2);
        assert_eq!(
            a["dbs"],
            serde_json::json!({"0": {"keys": 2, "expires": 1}})
        );
        assert_eq!(
            a["checksum"],
            serde_json::json!({"status": "ok", "stored": "00000000000000ab"})
        );
        assert_eq!(a["aof_tail_commands_not_included"], serde_json::Value::Null);
        assert_eq!(
            v["files"][1],
            serde_json::json!({"path": "b.rdb", "verdict": "corrupt", "error": "b.rdb: bad",
                               "offset": 9, "input_kind": "gzip"})
        );
        let unreadable = CheckOutcome::Unreadable("gone".into());
        let v = serde_json::to_value(CheckDocument::new([("c", &unreadable)]))?;
        assert_eq!(v["verdict"], "error");
        assert_eq!(
            v["files"][0],
            serde_json::json!({"path": "c", "verdict": "error", "error": "gone"})
        );
        Ok(())
    }
}
