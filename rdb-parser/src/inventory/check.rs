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
}
