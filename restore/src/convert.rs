//! Convert: rewrite snapshots as RDB files another server loads (`rdbkit convert`).
//!
//! records → plan (the restore filters: `--db`, `--type`, `--key-pattern`, the db
//! map; expired keys; duplicates across files; split by hash slot) → payload for the
//! target version (verbatim, or re-encoded by [`reencode`]) →
//! [`Writer`]s. It runs in two passes over the (memory-mapped) inputs:
//!
//! 1. **plan**: every record is framed (the CRC-64 trailers checked), every value the
//!    target cannot read is re-encoded once to prove it can be, functions and module
//!    data are checked against the target version, duplicates are found, and the
//!    true `RESIZEDB` counts of every output database are taken. Any refusal ends the
//!    run here, before an output is opened.
//! 2. **write**: per target database (ascending), one walk over the inputs sends each
//!    key to its output's writer.
//!
//! Memory stays bounded by the largest value, except when keys can collide (several
//! input files, or a db map): then a 128-bit hash per key remembers which record
//! wins (about 48 bytes per key).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::Instant;

use rdb_parser::digest::key_hash;
use rdb_parser::inventory::memory::{Layout, MemoryModel};
use rdb_parser::reencode::{
    readable, reencode, reencode_field_ttls, Dropped, Policy, ReencodeError,
};
use rdb_parser::writer::{opcode_level, KeyEntry, WriteError, Writer, WriterOptions};
use rdb_parser::{Family, Header, KeyRecord, Record, ValueType};

use crate::cluster::slot_for_key;
use crate::commands::ConversionCounts;
use crate::plan::PlanOptions;
use crate::restore::{library_name, SourceFile};

/// What to do with a key that more than one input (or source database) holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum DuplicatePolicy {
    /// Refuse the conversion, naming the key and both files.
    #[default]
    Refuse,
    /// Keep the first occurrence (file order, then file position).
    First,
    /// Keep the last occurrence.
    Last,
}

/// What to do with function libraries the target version cannot hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
pub enum FunctionPolicy {
    /// Keep them; refuse the conversion when the target version has no functions.
    #[default]
    Keep,
    /// Leave them out of the file (returned in [`Converted::dropped_functions`], so
    /// the caller can save their code).
    Drop,
}

/// Hash slot ranges (start, end inclusive) of one output.
pub type SlotRanges = Vec<(u16, u16)>;

/// How to convert.
///
/// `#[non_exhaustive]`: start from [`ConvertOptions::new`] and set fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConvertOptions {
    /// Family and RDB version of the files to write.
    pub target: Header,
    /// Filters (`dbs`, `types`, `key_patterns`, `keys`), the db map (`db_map`,
    /// `default_db`) and the hash field TTL policy (`field_ttls`); the write mode and
    /// conflict policy are not used.
    pub plan: PlanOptions,
    /// Function libraries on targets without functions.
    pub functions: FunctionPolicy,
    /// Keys present more than once.
    pub on_duplicate: DuplicatePolicy,
    /// One output per entry, holding the keys whose hash slot is in its ranges;
    /// empty: one output with every key.
    pub split: Vec<SlotRanges>,
    /// LZF and padding.
    pub writer: WriterOptions,
    /// "Now" in Unix ms: keys (and hash fields) expiring at or before it are dropped.
    pub now_ms: i64,
    /// The `rdbkit-ver` AUX value written into every output.
    pub tool_version: String,
}

impl ConvertOptions {
    /// Options for `target` with every other choice at its default.
    pub fn new(target: Header) -> ConvertOptions {
        ConvertOptions {
            target,
            plan: PlanOptions::default(),
            functions: FunctionPolicy::default(),
            on_duplicate: DuplicatePolicy::default(),
            split: Vec::new(),
            writer: WriterOptions::default(),
            now_ms: now_ms(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Keys of one database of one output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DbCounts {
    /// Keys written.
    pub keys: u64,
    /// Of those, keys with an expiry.
    pub expires: u64,
}

/// One written file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OutputReport {
    /// Position in [`ConvertOptions::split`] (0 without a split).
    pub index: usize,
    /// Its hash slot ranges (empty without a split).
    pub slots: SlotRanges,
    /// Keys written.
    pub keys: u64,
    /// Per target database: keys and expires (the `RESIZEDB` counts).
    pub dbs: BTreeMap<u64, DbCounts>,
    /// Function libraries written.
    pub functions: u64,
    /// The `used-mem` AUX value: the memory model's estimate of `used_memory` after
    /// a load of this file.
    pub used_mem: u64,
    /// File length in bytes (with padding).
    pub bytes: u64,
}

/// Function library counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConvertFunctionCounts {
    /// Libraries written (into every output).
    pub written: u64,
    /// Libraries left out (`--functions drop`), their code saved by the caller.
    pub dropped: u64,
    /// Copies of a library another input already held (same name), not written again.
    pub duplicates: u64,
}

/// The outcome of a conversion. Keys add up: `snapshot_keys = written + filtered +
/// expired + duplicates + outside_split`.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ConvertReport {
    /// The family and version written (`REDIS0009`, `VALKEY080`).
    pub target: String,
    /// Keys in the inputs.
    pub snapshot_keys: u64,
    /// Keys written.
    pub written: u64,
    /// Of those, keys whose value bytes were copied as they were.
    pub verbatim: u64,
    /// Re-encoded keys, and what the re-encoding left out.
    pub conversion: ConversionCounts,
    /// Keys the filters (`--db`, `--type`, `--key-pattern`) left out.
    pub filtered: u64,
    /// Keys already expired (left out).
    pub expired: u64,
    /// Keys left out because another input (or source database) held the same key
    /// and `--on-duplicate` chose that one.
    pub duplicates: u64,
    /// Keys whose hash slot no output range covers (left out).
    pub outside_split: u64,
    /// Redis 8.6 key metadata records left out (no older version holds them).
    pub key_meta_dropped: u64,
    /// Function libraries.
    pub functions: ConvertFunctionCounts,
    /// Module aux records written (into every output).
    pub module_aux: u64,
    /// The files written.
    pub outputs: Vec<OutputReport>,
    /// Wall-clock duration.
    pub seconds: f64,
}

/// A function library left out of the files ([`FunctionPolicy::Drop`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedLibrary {
    /// Library name (`#!lua name=...`).
    pub name: Vec<u8>,
    /// Its code, as `FUNCTION LOAD` takes it.
    pub code: Vec<u8>,
}

/// A finished conversion: the report, the outputs (flushed) and the libraries left out.
#[derive(Debug)]
pub struct Converted<W> {
    /// What was written and left out.
    pub report: ConvertReport,
    /// The outputs, in [`ConvertReport::outputs`] order.
    pub outputs: Vec<W>,
    /// Libraries left out by [`FunctionPolicy::Drop`].
    pub dropped_functions: Vec<DroppedLibrary>,
}

/// Why a conversion was refused or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    /// An input is not a valid snapshot (nothing was written).
    #[error("{file}: {error}")]
    Parse {
        /// The input's name.
        file: String,
        /// The parser's error (with the byte offset).
        error: rdb_parser::Error,
    },
    /// A key cannot be expressed in the target version (nothing was written).
    #[error("{file}: db {db} key {key:?} (offset {offset}, {value_type}): {reason}")]
    Key {
        /// The input's name.
        file: String,
        /// Source database.
        db: u64,
        /// The key, printable.
        key: String,
        /// Offset of the key's record.
        offset: u64,
        /// Its value type.
        value_type: &'static str,
        /// Why, and the flag that changes the outcome when there is one.
        reason: String,
    },
    /// A function library or module record the target version cannot hold.
    #[error("{file}: {what} (offset {offset}): {reason}")]
    Record {
        /// The input's name.
        file: String,
        /// What it is (`function library "mylib"`).
        what: String,
        /// Offset of the record.
        offset: u64,
        /// Why, and the flag that changes the outcome.
        reason: String,
    },
    /// A key held by two inputs (or two source databases mapped together).
    #[error(
        "db {db} key {key:?} is in {first} (offset {first_offset}) and {second} (offset \
         {second_offset}); --on-duplicate first|last keeps one of them"
    )]
    Duplicate {
        /// Target database.
        db: u64,
        /// The key, printable.
        key: String,
        /// The first input holding it.
        first: String,
        /// Offset of its record there.
        first_offset: u64,
        /// The other input.
        second: String,
        /// Offset of its record there.
        second_offset: u64,
    },
    /// Writing an output failed.
    #[error("output {index}: {error}")]
    Write {
        /// Which output.
        index: usize,
        /// The writer's error.
        error: WriteError,
    },
    /// An output could not be opened.
    #[error("opening output {index}: {error}")]
    Open {
        /// Which output.
        index: usize,
        /// The I/O error.
        error: std::io::Error,
    },
    /// The options contradict each other (e.g. overlapping split ranges).
    #[error("{0}")]
    Options(String),
}

/// Parses `--split` ranges: `0-5460,5461-10922,10923-16383`, one output per range
/// (`+` joins several ranges into one output: `0-99+200-299`).
pub fn parse_split(text: &str) -> Result<Vec<SlotRanges>, ConvertError> {
    let bad = |what: &str| ConvertError::Options(format!("--split {text:?}: {what}"));
    let mut outputs = Vec::new();
    for output in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let mut ranges = Vec::new();
        for range in output.split('+') {
            let (a, b) = range.split_once('-').unwrap_or((range, range));
            let (Ok(a), Ok(b)) = (a.trim().parse::<u16>(), b.trim().parse::<u16>()) else {
                return Err(bad("expected START-END slot ranges separated by commas"));
            };
            if a > b || usize::from(b) >= crate::cluster::SLOTS {
                return Err(bad("slots run from 0 to 16383, START <= END"));
            }
            ranges.push((a, b));
        }
        outputs.push(ranges);
    }
    if outputs.is_empty() {
        return Err(bad("no ranges"));
    }
    check_split(&outputs)?;
    Ok(outputs)
}

/// Refuses overlapping ranges (a key would belong to two outputs).
fn check_split(outputs: &[SlotRanges]) -> Result<(), ConvertError> {
    let mut owner = vec![None::<usize>; crate::cluster::SLOTS];
    for (i, ranges) in outputs.iter().enumerate() {
        for &(a, b) in ranges {
            for slot in a..=b {
                if let Some(o) = owner.get_mut(usize::from(slot)) {
                    if let Some(prev) = *o {
                        return Err(ConvertError::Options(format!(
                            "split ranges overlap: slot {slot} is in outputs {prev} and {i}"
                        )));
                    }
                    *o = Some(i);
                }
            }
        }
    }
    Ok(())
}

/// The split of a live cluster (`--split-by URL`): one output per master, its slot
/// ranges from the cluster's `CLUSTER SLOTS`, masters in the map's order. `None` when
/// the server is not a cluster.
pub fn split_by_cluster(target: &crate::target::Target) -> crate::Result<Option<Vec<SlotRanges>>> {
    let mut conn = target.connect()?;
    let host = target
        .address()
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let map = crate::cluster::SlotMap::fetch(&mut conn, &host)
        .map_err(|e| target.error("CLUSTER SLOTS", &e))?;
    Ok(map.as_ref().map(split_from_slot_map))
}

/// The split of a slot map: one output per master, masters in the map's order.
pub(crate) fn split_from_slot_map(map: &crate::cluster::SlotMap) -> Vec<SlotRanges> {
    let mut outputs: Vec<SlotRanges> = vec![Vec::new(); map.nodes.len()];
    let mut slot = 0usize;
    while slot < map.owner.len() {
        let owner = map.owner.get(slot).copied().flatten();
        let start = slot;
        while slot < map.owner.len() && map.owner.get(slot).copied().flatten() == owner {
            slot += 1;
        }
        if let Some(ranges) = owner.and_then(|o| outputs.get_mut(o)) {
            ranges.push((start as u16, (slot - 1) as u16));
        }
    }
    outputs
}

/// The memory model of the server that would load a file of `header`.
fn memory_model(header: Header) -> MemoryModel {
    MemoryModel::with_layout(match (header.family, header.version) {
        (Family::Valkey, _) => Layout::Redis74,
        (_, 0..=9) => Layout::Legacy,
        (_, 10) => Layout::Redis70,
        (_, 11) => Layout::Redis72,
        _ => Layout::Redis74,
    })
}

/// Which record of a key is written, where (kept only when keys can collide).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Winner {
    source: u32,
    offset: u64,
    output: u32,
    db: u64,
    expires: bool,
}

/// A library to write, and the input it came from (for messages).
struct Library {
    name: Vec<u8>,
    code: Vec<u8>,
}

/// The result of the planning pass.
struct Plan {
    /// Per output, per target database: counts.
    counts: Vec<BTreeMap<u64, DbCounts>>,
    used_mem: Vec<u64>,
    winners: Option<HashMap<u128, Winner>>,
    libraries: Vec<Library>,
    dropped_functions: Vec<DroppedLibrary>,
    module_aux: Vec<(u64, Vec<u8>)>,
    report: ConvertReport,
}

fn printable(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// A value's type and bytes for the target, and what re-encoding left out (`None`:
/// the bytes are the source's).
type Payload<'a> = (ValueType, Cow<'a, [u8]>, Option<Dropped>);

/// What happens to one key record (shared by both passes, so they agree).
enum Fate {
    Filtered,
    Expired,
    OutsideSplit,
    Write { output: usize, db: u64 },
}

struct Context<'o> {
    options: &'o ConvertOptions,
    level: u32,
    rdb_version: u16,
    policy: Policy,
    slot_owner: Option<Vec<Option<u32>>>,
}

impl Context<'_> {
    fn fate(&self, k: &KeyRecord<'_>) -> Fate {
        if !self.options.plan.selects(k) {
            return Fate::Filtered;
        }
        if k.expire_at_ms.is_some_and(|at| at <= self.options.now_ms) {
            return Fate::Expired;
        }
        let output = match &self.slot_owner {
            None => 0,
            Some(owner) => match owner
                .get(usize::from(slot_for_key(&k.key)))
                .copied()
                .flatten()
            {
                Some(o) => o as usize,
                None => return Fate::OutsideSplit,
            },
        };
        Fate::Write {
            output,
            db: self.options.plan.map_db(k.db),
        }
    }

    /// The value as the target reads it: verbatim, or re-encoded.
    fn payload<'a>(&self, k: &KeyRecord<'a>) -> Result<Payload<'a>, ReencodeError> {
        let family = self.options.target.family;
        if readable(k.value_type, family, self.rdb_version) {
            return Ok((k.value_type, Cow::Borrowed(k.raw), None));
        }
        // A field-TTL hash of the other family: the target's own field-TTL type.
        let re = match reencode_field_ttls(
            k.value_type,
            k.raw,
            family,
            self.rdb_version,
            &self.policy,
        ) {
            Some(re) => re?,
            None => reencode(k.value_type, k.raw, family, self.rdb_version, &self.policy)?,
        };
        Ok((re.value_type, Cow::Owned(re.body), Some(re.dropped)))
    }

    /// Refuses, before anything is written, a value the target cannot express: one
    /// whose re-encoding depends on its content (hash field TTLs) or on its type alone
    /// (streams before RDB 9, module values). Other re-encodings fail only on corrupt
    /// input, which the write pass reports (its temporary output is then removed).
    fn check(&self, k: &KeyRecord<'_>) -> Result<(), ReencodeError> {
        use rdb_parser::LogicalType;
        let ty = k.value_type;
        let may_refuse = ty.has_field_ttls()
            || matches!(ty.logical(), LogicalType::Stream | LogicalType::Module);
        if may_refuse && !readable(ty, self.options.target.family, self.rdb_version) {
            self.payload(k)?;
        }
        Ok(())
    }

    fn key_error(&self, file: &str, k: &KeyRecord<'_>, e: &ReencodeError) -> ConvertError {
        let reason = match e {
            ReencodeError::FieldTtls { fields, .. } => format!(
                "{fields} hash field TTL(s) cannot be kept in {}; --hash-field-ttl drop writes \
                 the fields without them",
                self.options.target.magic()
            ),
            ReencodeError::Unsupported(why) => format!(
                "cannot be expressed in {}: {why} (choose a newer --target-rdb-version, or leave \
                 the key out with --type/--key-pattern/--db)",
                self.options.target.magic()
            ),
            ReencodeError::Parse(e) => format!("corrupt value: {e}"),
        };
        ConvertError::Key {
            file: file.to_string(),
            db: k.db,
            key: printable(&k.key),
            offset: k.offset,
            value_type: k.value_type.name(),
            reason,
        }
    }
}

/// Converts `sources` into one file per output (one, or one per split entry).
/// `open(i)` is called for output `i` only after the planning pass accepted every
/// record, so a refused conversion opens nothing; on an error after that, the
/// caller discards what it opened.
pub fn convert<W: Write>(
    sources: &[SourceFile<'_>],
    options: &ConvertOptions,
    mut open: impl FnMut(usize) -> std::io::Result<W>,
) -> Result<Converted<W>, ConvertError> {
    let started = Instant::now();
    let target = options.target;
    let rdb_version = u16::try_from(target.version)
        .map_err(|_| ConvertError::Options(format!("RDB version {}", target.version)))?;
    if !options.split.is_empty() {
        check_split(&options.split)?;
    }
    let slot_owner = (!options.split.is_empty()).then(|| {
        let mut owner = vec![None; crate::cluster::SLOTS];
        for (i, ranges) in options.split.iter().enumerate() {
            for &(a, b) in ranges {
                for slot in a..=b {
                    if let Some(o) = owner.get_mut(usize::from(slot)) {
                        *o = Some(i as u32);
                    }
                }
            }
        }
        owner
    });
    let cx = Context {
        options,
        level: opcode_level(target),
        rdb_version,
        policy: Policy {
            field_ttls: options.plan.field_ttls,
            now_ms: options.now_ms,
            ..Policy::default()
        },
        slot_owner,
    };
    let mut plan = plan_pass(sources, &cx)?;
    let outputs = plan.counts.len();
    let mut writers = Vec::with_capacity(outputs);
    for index in 0..outputs {
        let out = open(index).map_err(|error| ConvertError::Open { index, error })?;
        let mut w = Writer::new(out, target, options.writer)
            .map_err(|error| ConvertError::Write { index, error })?;
        let used_mem = plan.used_mem.get(index).copied().unwrap_or(0).to_string();
        let ctime = (options.now_ms / 1000).to_string();
        let head = (|| {
            w.aux(b"rdbkit-ver", options.tool_version.as_bytes())?;
            w.aux(b"ctime", ctime.as_bytes())?;
            w.aux(b"used-mem", used_mem.as_bytes())?;
            for (when, raw) in &plan.module_aux {
                if *when != 2 {
                    w.module_aux(raw)?;
                }
            }
            for lib in &plan.libraries {
                w.function(&lib.code)?;
            }
            Ok(())
        })();
        head.map_err(|error| ConvertError::Write { index, error })?;
        writers.push(w);
    }
    write_pass(
        sources,
        &cx,
        &plan.counts,
        plan.winners.as_ref(),
        &mut writers,
        &mut plan.report,
    )?;
    let mut files = Vec::with_capacity(outputs);
    for (index, mut w) in writers.into_iter().enumerate() {
        let tail = (|| {
            for (when, raw) in &plan.module_aux {
                if *when == 2 {
                    w.module_aux(raw)?;
                }
            }
            w.finish()
        })();
        let (out, bytes) = tail.map_err(|error| ConvertError::Write { index, error })?;
        if let Some(o) = plan.report.outputs.get_mut(index) {
            o.bytes = bytes;
        }
        files.push(out);
    }
    plan.report.seconds = started.elapsed().as_secs_f64();
    Ok(Converted {
        report: plan.report,
        outputs: files,
        dropped_functions: plan.dropped_functions,
    })
}

fn plan_pass(sources: &[SourceFile<'_>], cx: &Context<'_>) -> Result<Plan, ConvertError> {
    let options = cx.options;
    let outputs = options.split.len().max(1);
    let may_collide =
        sources.len() > 1 || !options.plan.db_map.is_empty() || options.plan.default_db.is_some();
    let mut tally = Tally {
        winners: may_collide.then(HashMap::new),
        counts: vec![BTreeMap::new(); outputs],
        used_mem: vec![0; outputs],
    };
    let mut batch: Vec<(KeyRecord<'_>, usize, u64)> = Vec::with_capacity(BATCH);
    let mut report = ConvertReport {
        target: options.target.magic(),
        ..ConvertReport::default()
    };
    let mut libraries: Vec<Library> = Vec::new();
    let mut dropped_functions = Vec::new();
    let mut module_aux: Vec<(u64, Vec<u8>)> = Vec::new();
    let model = memory_model(options.target);
    for (si, source) in sources.iter().enumerate() {
        let file = source.name;
        let parse_error = |error| ConvertError::Parse {
            file: file.to_string(),
            error,
        };
        for record in source.rdb.records() {
            match record.map_err(parse_error)? {
                Record::Key(k) => {
                    report.snapshot_keys += 1;
                    match cx.fate(&k) {
                        Fate::Filtered => report.filtered += 1,
                        Fate::Expired => report.expired += 1,
                        Fate::OutsideSplit => report.outside_split += 1,
                        Fate::Write { output, db } => {
                            batch.push((k, output, db));
                            if batch.len() >= BATCH {
                                tally.admit(sources, si, cx, &model, &mut batch, &mut report)?;
                            }
                        }
                    }
                }
                Record::Function(f) => {
                    let name = library_name(&f);
                    let what = || format!("function library {:?}", printable(&name));
                    let code = f.code.to_bytes().map_err(parse_error)?.into_owned();
                    let writable = !f.pre_ga && cx.level >= 10;
                    if !writable {
                        if options.functions == FunctionPolicy::Drop {
                            report.functions.dropped += 1;
                            dropped_functions.push(DroppedLibrary { name, code });
                            continue;
                        }
                        let why = if f.pre_ga {
                            "a Redis 7.0 release-candidate function record, which no released server loads".to_string()
                        } else {
                            format!("{} has no functions (RDB 10+)", options.target.magic())
                        };
                        return Err(ConvertError::Record {
                            file: file.to_string(),
                            what: what(),
                            offset: f.offset,
                            reason: format!(
                                "{why}; --functions drop leaves it out and writes its code next to the output"
                            ),
                        });
                    }
                    match libraries.iter_mut().find(|l| l.name == name) {
                        None => libraries.push(Library { name, code }),
                        Some(l) => {
                            report.functions.duplicates += 1;
                            if l.code != code {
                                match options.on_duplicate {
                                    DuplicatePolicy::Refuse => {
                                        return Err(ConvertError::Record {
                                            file: file.to_string(),
                                            what: what(),
                                            offset: f.offset,
                                            reason:
                                                "another input has a different library of \
                                                     that name; --on-duplicate first|last keeps one"
                                                    .to_string(),
                                        })
                                    }
                                    DuplicatePolicy::First => {}
                                    DuplicatePolicy::Last => l.code = code,
                                }
                            }
                        }
                    }
                }
                Record::ModuleAux(m) => {
                    if cx.level < 9 {
                        return Err(ConvertError::Record {
                            file: file.to_string(),
                            what: format!("module aux data of {}", m.module_name()),
                            offset: m.offset,
                            reason: format!(
                                "{} has no module aux records (RDB 9+); choose a newer --target-rdb-version",
                                options.target.magic()
                            ),
                        });
                    }
                    // Each shard carries the module's global data: keep one copy.
                    if !module_aux.iter().any(|(_, raw)| raw[..] == *m.raw) {
                        module_aux.push((m.when, m.raw.to_vec()));
                    }
                }
                _ => {}
            }
        }
        tally.admit(sources, si, cx, &model, &mut batch, &mut report)?;
    }
    let Tally {
        mut counts,
        used_mem,
        winners,
    } = tally;
    if let Some(map) = &winners {
        for w in map.values() {
            count(&mut counts, w);
        }
    }
    report.functions.written = libraries.len() as u64;
    report.module_aux = module_aux.len() as u64;
    report.outputs = counts
        .iter()
        .enumerate()
        .map(|(index, dbs)| OutputReport {
            index,
            slots: options.split.get(index).cloned().unwrap_or_default(),
            keys: dbs.values().map(|c| c.keys).sum(),
            dbs: dbs.clone(),
            functions: libraries.len() as u64,
            used_mem: {
                let (keys, expires) = dbs
                    .values()
                    .fold((0, 0), |(k, e), c| (k + c.keys, e + c.expires));
                used_mem.get(index).copied().unwrap_or(0)
                    + model.db_overhead(keys, expires)
                    + model.empty_server()
            },
            bytes: 0,
        })
        .collect();
    report.written = report.outputs.iter().map(|o| o.keys).sum();
    Ok(Plan {
        used_mem,
        counts,
        winners,
        libraries,
        dropped_functions,
        module_aux,
        report,
    })
}

/// Keys checked and estimated together, on every core (the memory model and the
/// checks are the planning pass's work; framing stays sequential).
const BATCH: usize = 4096;

/// The planning pass's per-key accounting.
struct Tally {
    /// Per output, per target database (direct counts when keys cannot collide).
    counts: Vec<BTreeMap<u64, DbCounts>>,
    /// Per output: the memory model's estimate of the keys.
    used_mem: Vec<u64>,
    /// Which record of each key wins, when keys can collide.
    winners: Option<HashMap<u128, Winner>>,
}

impl Tally {
    /// Checks `batch` (keys of source `si` to write, with their output and target db)
    /// in parallel, then counts them in file order; empties `batch`.
    fn admit(
        &mut self,
        sources: &[SourceFile<'_>],
        si: usize,
        cx: &Context<'_>,
        model: &MemoryModel,
        batch: &mut Vec<(KeyRecord<'_>, usize, u64)>,
        report: &mut ConvertReport,
    ) -> Result<(), ConvertError> {
        use rayon::prelude::*;
        let file = sources.get(si).map_or("?", |s| s.name);
        let estimates: Vec<Result<u64, ConvertError>> = batch
            .par_iter()
            .map(|(k, _, _)| {
                cx.check(k).map_err(|e| cx.key_error(file, k, &e))?;
                model
                    .key(k)
                    .map(|e| e.bytes)
                    .map_err(|error| ConvertError::Parse {
                        file: file.to_string(),
                        error,
                    })
            })
            .collect();
        for ((k, output, db), estimate) in batch.drain(..).zip(estimates) {
            if let Some(u) = self.used_mem.get_mut(output) {
                *u += estimate?;
            }
            let winner = Winner {
                source: si as u32,
                offset: k.offset,
                output: output as u32,
                db,
                expires: k.expire_at_ms.is_some(),
            };
            let Some(map) = self.winners.as_mut() else {
                count(&mut self.counts, &winner);
                continue;
            };
            match map.entry(key_hash(db, &k.key)) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(winner);
                }
                std::collections::hash_map::Entry::Occupied(mut o) => {
                    let first = *o.get();
                    match cx.options.on_duplicate {
                        DuplicatePolicy::Refuse => {
                            return Err(ConvertError::Duplicate {
                                db,
                                key: printable(&k.key),
                                first: sources
                                    .get(first.source as usize)
                                    .map_or("?", |s| s.name)
                                    .to_string(),
                                first_offset: first.offset,
                                second: file.to_string(),
                                second_offset: k.offset,
                            })
                        }
                        DuplicatePolicy::First => {}
                        DuplicatePolicy::Last => {
                            o.insert(winner);
                        }
                    }
                    report.duplicates += 1;
                }
            }
        }
        Ok(())
    }
}

fn count(counts: &mut [BTreeMap<u64, DbCounts>], w: &Winner) {
    if let Some(dbs) = counts.get_mut(w.output as usize) {
        let c = dbs.entry(w.db).or_default();
        c.keys += 1;
        c.expires += u64::from(w.expires);
    }
}

fn write_pass<W: Write>(
    sources: &[SourceFile<'_>],
    cx: &Context<'_>,
    counts: &[BTreeMap<u64, DbCounts>],
    winners: Option<&HashMap<u128, Winner>>,
    writers: &mut [Writer<W>],
    report: &mut ConvertReport,
) -> Result<(), ConvertError> {
    let dbs: std::collections::BTreeSet<u64> =
        counts.iter().flat_map(|m| m.keys().copied()).collect();
    for db in dbs {
        for (index, w) in writers.iter_mut().enumerate() {
            if let Some(c) = counts.get(index).and_then(|m| m.get(&db)) {
                w.select_db(db, c.keys, c.expires)
                    .map_err(|error| ConvertError::Write { index, error })?;
            }
        }
        for (si, source) in sources.iter().enumerate() {
            let file = source.name;
            for record in source.rdb.records() {
                let k = match record {
                    Ok(Record::Key(k)) => k,
                    Ok(_) => continue,
                    Err(error) => {
                        return Err(ConvertError::Parse {
                            file: file.to_string(),
                            error,
                        })
                    }
                };
                let Fate::Write { output, db: to } = cx.fate(&k) else {
                    continue;
                };
                if to != db {
                    continue;
                }
                if let Some(map) = winners {
                    let wins = map
                        .get(&key_hash(to, &k.key))
                        .is_some_and(|w| w.source as usize == si && w.offset == k.offset);
                    if !wins {
                        continue;
                    }
                }
                let (value_type, body, dropped) =
                    cx.payload(&k).map_err(|e| cx.key_error(file, &k, &e))?;
                match dropped {
                    Some(d) => {
                        report.conversion.reencoded += 1;
                        report.conversion.add_dropped(&d);
                    }
                    None => report.verbatim += 1,
                }
                report.key_meta_dropped += u64::from(k.key_meta.is_some());
                let entry = KeyEntry {
                    key: &k.key,
                    value_type,
                    body: &body,
                    expire_at_ms: k.expire_at_ms,
                    idle_s: k.idle_s,
                    freq: k.freq,
                };
                if let Some(w) = writers.get_mut(output) {
                    w.key(&entry).map_err(|error| ConvertError::Write {
                        index: output,
                        error,
                    })?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn split_ranges_parse_and_overlaps_are_refused() {
        assert_eq!(
            parse_split("0-5460,5461-10922,10923-16383").unwrap(),
            vec![vec![(0, 5460)], vec![(5461, 10922)], vec![(10923, 16383)]]
        );
        assert_eq!(
            parse_split("0-9+20-29, 10").unwrap(),
            vec![vec![(0, 9), (20, 29)], vec![(10, 10)]]
        );
        assert!(parse_split("0-100,100-200").is_err());
        assert!(parse_split("0-16384").is_err());
        assert!(parse_split("5-1").is_err());
        assert!(parse_split("x").is_err());
        let map = crate::cluster::SlotMap {
            nodes: vec![("a".into(), 1), ("b".into(), 2)],
            owner: (0..crate::cluster::SLOTS)
                .map(|s| match s {
                    0..=99 => Some(1),
                    100..=199 => None,
                    200..=8000 => Some(0),
                    _ => Some(1),
                })
                .collect(),
        };
        assert_eq!(
            split_from_slot_map(&map),
            vec![vec![(200, 8000)], vec![(0, 99), (8001, 16383)]]
        );
    }
}
