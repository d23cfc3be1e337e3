//! Whole-file validation (`rdbkit check`): every record, every value's containers
//! and the checksum, with values walked on all cores.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::record::{Eof, ParseOptions, Record};

use super::parallel::{fold_keys, Framing};
use super::FileInput;

/// What a valid file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// Keys and keys with TTL per database.
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

/// Validates `files` completely; returns one [`FileCheck`] per file, or the first
/// error in file order.
pub fn check(
    files: &[FileInput<'_>],
    parse: ParseOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<FileCheck>> {
    let mut reports = vec![FileCheck::default(); files.len()];
    let partials = fold_keys(
        files,
        Framing {
            parse,
            batch_keys: 1024,
        },
        || vec![FileCheck::default(); files.len()],
        |state, file, key| {
            let elements = key.validate()?;
            if let Some(c) = state.get_mut(file) {
                c.elements += elements;
                let d = c.dbs.entry(key.db).or_default();
                d.0 += 1;
                d.1 += u64::from(key.expire_at_ms.is_some());
                *c.types.entry(key.value_type.name()).or_default() += 1;
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
            report.merge(part);
        }
    }
    Ok(reports)
}
