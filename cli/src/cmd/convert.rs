//! `rdbkit convert`: rewrite snapshots as RDB files of another version (merge, split
//! by hash slot, fold databases, pad), for imports such as Azure's.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use rdb_parser::reencode::FieldTtlPolicy;
use rdb_parser::writer::WriterOptions;
use rdb_parser::{Family, Header};
use rdb_restore::convert::{
    self, ConvertOptions, ConvertReport, DroppedLibrary, DuplicatePolicy, FunctionPolicy,
};
use rdb_restore::document::{ConvertDocument, RefusedDocument};
use rdb_restore::storage::ObjectWriter;
use rdb_restore::target::rdb_version_for;
use rdb_restore::PlanOptions;

use crate::connect::ConnectionArgs;
use crate::output::{self, Format, LocalOutput};
use crate::source::SnapshotArgs;

/// `-o`'s help. Clap prints `{n}` in help text as a line break, so the placeholder
/// is written with an empty ANSI reset between `{` and `n}` (stripped when printed).
const OUTPUT_HELP: &str = "Output file; `-` writes to stdout; `s3://BUCKET/KEY` or \
    `az://CONTAINER/BLOB` uploads it (multipart; the object appears only when complete); \
    with --split/--split-by a name with `{\x1b[0mn}` (the output's number, from 0), e.g. \
    `shard-{\x1b[0mn}.rdb`";

/// `rdbkit convert` flags.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target_choice")
        .required(true)
        .args(["target_rdb_version", "target_version", "target"])
))]
pub struct ConvertArgs {
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[arg(
        short,
        long,
        value_name = "OUT",
        help = OUTPUT_HELP
    )]
    output: String,
    /// RDB version to write: 1-12 (Redis: 9 = 5.0/6.x, 10 = 7.0, 11 = 7.2, 12 = 7.4),
    /// or 80 (Valkey 9, `VALKEY080`).
    #[arg(long, value_name = "N")]
    target_rdb_version: Option<u32>,
    /// Server version to write for: `6.0`, `7.4`, `valkey-8.0`, `valkey-9.0`.
    #[arg(long, value_name = "X.Y")]
    target_version: Option<String>,
    /// Write for this live server (its version is probed).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Hash field TTLs the target version cannot hold: refuse (`fail`), or write the
    /// fields without them (`drop`).
    #[arg(long, value_enum, default_value = "fail")]
    hash_field_ttl: FieldTtlArg,
    /// Function libraries on a target version without functions (RDB < 10): refuse
    /// (`keep`), or leave them out and write each library's code to
    /// `OUT.function-NAME.lua` (`drop`).
    #[arg(long, value_enum, default_value = "keep")]
    functions: FunctionsArg,
    /// A key in several inputs (or source databases folded together): refuse, or keep
    /// the first or last.
    #[arg(long, value_enum, default_value = "refuse")]
    on_duplicate: DuplicateArg,
    /// One output per hash slot range: `0-5460,5461-10922,10923-16383` (`+` joins
    /// ranges of one output: `0-99+200-299`).
    #[arg(long, value_name = "RANGES", conflicts_with = "split_by")]
    split: Option<String>,
    /// One output per master of this live cluster, by its `CLUSTER SLOTS`.
    #[arg(long, value_name = "URL")]
    split_by: Option<String>,
    /// Pad each file with zeros to a multiple of N bytes (512 for Azure page blobs).
    #[arg(long, value_name = "N")]
    pad: Option<u64>,
    /// Do not LZF-compress keys (values are copied as they are).
    #[arg(long)]
    no_lzf: bool,
    /// Summary format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    connection: ConnectionArgs,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FieldTtlArg {
    Fail,
    Drop,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FunctionsArg {
    Keep,
    Drop,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DuplicateArg {
    Refuse,
    First,
    Last,
}

/// An output being written: a temporary file renamed when complete, an object
/// upload completed at the end (aborted when dropped), or stdout.
enum Out {
    File(BufWriter<LocalOutput>),
    Object(ObjectWriter),
    Stdout(BufWriter<std::io::Stdout>),
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::File(file) => file.write(buf),
            Out::Object(o) => o.write(buf),
            Out::Stdout(s) => s.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Out::File(file) => file.write_all(buf),
            Out::Object(o) => o.write_all(buf),
            Out::Stdout(s) => s.write_all(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::File(file) => file.flush(),
            Out::Object(o) => o.flush(),
            Out::Stdout(s) => s.flush(),
        }
    }
}

/// The header to write for `--target-version` text (`7.4`, `valkey-9.0`).
fn header_for_version(text: &str) -> Result<Header> {
    let lower = text.trim().to_ascii_lowercase();
    let (family, version) = match lower
        .strip_prefix("valkey")
        .map(|v| v.trim_start_matches(['-', ':', ' ']))
    {
        Some(v) => (Family::Valkey, v.to_string()),
        None => (
            Family::Redis,
            lower.trim_start_matches("redis-").to_string(),
        ),
    };
    let rdb = rdb_version_for(family, &version).with_context(|| {
        format!("--target-version {text:?}: unknown version (try 6.0, 7.0, 7.2, 7.4, valkey-8.0, valkey-9.0, or --target-rdb-version)")
    })?;
    Ok(header_for_rdb(u32::from(rdb)))
}

/// RDB 80+ are Valkey's `VALKEY0NN`; everything else Redis' `REDIS00NN` (which
/// Valkey 7.2–8.1 write too).
fn header_for_rdb(version: u32) -> Header {
    Header {
        family: if version >= 80 {
            Family::Valkey
        } else {
            Family::Redis
        },
        version,
    }
}

fn target_header(args: &ConvertArgs) -> Result<Header> {
    if let Some(n) = args.target_rdb_version {
        let h = header_for_rdb(n);
        let known = match h.family {
            Family::Redis => (1..=rdb_parser::header::MAX_REDIS_VERSION).contains(&n),
            Family::Valkey => rdb_parser::header::VALKEY_VERSIONS.contains(&n),
        };
        if !known {
            bail!(
                "--target-rdb-version {n}: expected 1-{} or 80",
                rdb_parser::header::MAX_REDIS_VERSION
            );
        }
        return Ok(h);
    }
    if let Some(v) = &args.target_version {
        return header_for_version(v);
    }
    let Some(url) = &args.target else {
        bail!("give --target-rdb-version, --target-version or --target");
    };
    let target = args.connection.target_among(url)?;
    let mut conn = target.connect()?;
    let caps = target.probe(&mut conn)?;
    Ok(header_for_rdb(u32::from(caps.rdb_version)))
}

fn split_by(args: &ConvertArgs, url: &str) -> Result<Vec<convert::SlotRanges>> {
    let target = args.connection.target_among(url)?;
    convert::split_by_cluster(&target)?.with_context(|| {
        format!(
            "--split-by {}: not a cluster (no CLUSTER SLOTS)",
            target.address()
        )
    })
}

/// The output path of output `n`.
fn output_path(pattern: &str, n: usize) -> PathBuf {
    PathBuf::from(pattern.replace("{n}", &n.to_string()))
}

/// Runs `rdbkit convert`.
pub fn run(args: &ConvertArgs, quiet: bool) -> ExitCode {
    match convert_files(args, quiet) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if args.format == Format::Json {
                let error = format!("{e:#}");
                let doc = serde_json::to_string(&RefusedDocument::new(&error)).unwrap_or_default();
                let text = format!("{doc}\n");
                if args.output == "-" {
                    eprint!("{text}");
                } else {
                    let _ = output::print(&text);
                }
            }
            eprintln!("rdbkit convert: {e:#}");
            eprintln!("rdbkit convert: nothing was written");
            ExitCode::from(2)
        }
    }
}

fn convert_files(args: &ConvertArgs, quiet: bool) -> Result<()> {
    let header = target_header(args)?;
    let split = match (&args.split, &args.split_by) {
        (Some(text), _) => convert::parse_split(text)?,
        (None, Some(url)) => split_by(args, url)?,
        (None, None) => Vec::new(),
    };
    let to_stdout = args.output == "-";
    if split.len() > 1 && (to_stdout || !args.output.contains("{n}")) {
        bail!(
            "-o {:?}: {} outputs need a file name with {{n}} (e.g. -o 'shard-{{n}}.rdb')",
            args.output,
            split.len()
        );
    }
    if args.pad == Some(0) {
        bail!("--pad 0: give a positive number of bytes (512 for page blobs)");
    }
    let mut plan = PlanOptions::default();
    args.snapshot.apply(&mut plan)?;
    plan.field_ttls = match args.hash_field_ttl {
        FieldTtlArg::Fail => FieldTtlPolicy::Fail,
        FieldTtlArg::Drop => FieldTtlPolicy::Drop,
    };
    let mut options = ConvertOptions::new(header);
    options.plan = plan;
    options.functions = match args.functions {
        FunctionsArg::Keep => FunctionPolicy::Keep,
        FunctionsArg::Drop => FunctionPolicy::Drop,
    };
    options.on_duplicate = match args.on_duplicate {
        DuplicateArg::Refuse => DuplicatePolicy::Refuse,
        DuplicateArg::First => DuplicatePolicy::First,
        DuplicateArg::Last => DuplicatePolicy::Last,
    };
    options.split = split;
    options.writer = WriterOptions {
        compress: !args.no_lzf,
        pad_to: args.pad,
    };
    let inputs = args.snapshot.open()?;
    let sources = args.snapshot.sources(&inputs)?;
    let converted = crate::source::with_progress_line(
        quiet,
        |secs| format!("converting ... {secs:.0}s"),
        || {
            convert::convert(&sources, &options, |n| {
                if to_stdout {
                    return Ok(Out::Stdout(BufWriter::with_capacity(
                        1 << 20,
                        std::io::stdout(),
                    )));
                }
                if output::is_object(&args.output) {
                    let url = args.output.replace("{n}", &n.to_string());
                    let object =
                        rdb_restore::storage::create(&url).map_err(std::io::Error::from)?;
                    return Ok(Out::Object(object));
                }
                let file = LocalOutput::create(output_path(&args.output, n))
                    .map_err(std::io::Error::other)?;
                Ok(Out::File(BufWriter::with_capacity(1 << 20, file)))
            })
        },
    )?;
    // Every output is complete: make them durable, then give them their names.
    let mut written = Vec::new();
    let mut objects = Vec::new();
    let mut files = Vec::new();
    for (n, out) in converted.outputs.into_iter().enumerate() {
        match out {
            Out::Object(object) => objects.push((n, object)),
            Out::File(file) => files.push(file),
            Out::Stdout(mut stdout) => stdout.flush().context("writing to stdout")?,
        }
    }
    // Uploads complete only now that every output is known good (a failure before
    // this point dropped them: aborted, nothing visible).
    for (n, object) in objects {
        object.finish()?;
        written.push(PathBuf::from(output::shown(
            &args.output.replace("{n}", &n.to_string()),
        )));
    }
    for file in files {
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync()?;
        written.push(file.commit()?);
    }
    let saved = save_functions(&args.output, &converted.dropped_functions)?;
    let report = &converted.report;
    let text = match args.format {
        Format::Json => {
            let names = |paths: &[PathBuf]| -> Vec<String> {
                paths.iter().map(|p| p.display().to_string()).collect()
            };
            let (written, saved) = (names(&written), names(&saved));
            let doc = ConvertDocument::new(report, &written, &saved);
            format!("{}\n", serde_json::to_string(&doc)?)
        }
        Format::Text => summary(report, &written, &saved),
    };
    if to_stdout {
        if !quiet || args.format == Format::Json {
            eprint!("{text}");
        }
        Ok(())
    } else {
        output::print(&text)
    }
}

/// Writes each dropped library to `OUT.function-NAME.lua` (`rdbkit-function-NAME.lua`
/// for `-o -`), ready for `redis-cli -x FUNCTION LOAD < FILE`.
fn save_functions(output: &str, libs: &[DroppedLibrary]) -> Result<Vec<PathBuf>> {
    let base = if output == "-" {
        "rdbkit".to_string()
    } else {
        output.replace("{n}", "all")
    };
    let mut saved = Vec::new();
    for lib in libs {
        let name: String = String::from_utf8_lossy(&lib.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // An object URL's query (a SAS token) stays at the end.
        let path = match base.split_once('?') {
            Some((url, query)) if output::is_object(&base) => {
                format!("{url}.function-{name}.lua?{query}")
            }
            _ => format!("{base}.function-{name}.lua"),
        };
        if output::is_object(&path) {
            output::upload(&path, &lib.code[..])?;
            saved.push(PathBuf::from(output::shown(&path)));
            continue;
        }
        let path = PathBuf::from(path);
        std::fs::write(&path, &lib.code).with_context(|| format!("writing {}", path.display()))?;
        saved.push(path);
    }
    Ok(saved)
}

fn summary(r: &ConvertReport, written: &[PathBuf], saved: &[PathBuf]) -> String {
    let mut s = format!(
        "converted {} of {} keys to {} in {:.1}s ({} verbatim, {} re-encoded)\n",
        r.written, r.snapshot_keys, r.target, r.seconds, r.verbatim, r.conversion.reencoded
    );
    let left_out = [
        ("filtered out (--db/--type/--key-pattern)", r.filtered),
        ("already expired", r.expired),
        ("duplicates (--on-duplicate)", r.duplicates),
        ("outside the split ranges", r.outside_split),
    ];
    for (what, n) in left_out.into_iter().filter(|(_, n)| *n > 0) {
        s.push_str(&format!("  left out: {n} {what}\n"));
    }
    let c = &r.conversion;
    let dropped = [
        (
            "hash field TTLs (--hash-field-ttl drop)",
            c.field_ttls_dropped,
        ),
        ("expired hash fields", c.expired_fields),
        ("streams' newer metadata", c.stream_metadata_dropped),
        ("consumers' active times", c.active_times_dropped),
        ("streams' IDMP state", c.idmp_dropped),
        ("key metadata records", r.key_meta_dropped),
    ];
    for (what, n) in dropped.into_iter().filter(|(_, n)| *n > 0) {
        s.push_str(&format!("  dropped: {n} {what}\n"));
    }
    if r.functions.written + r.functions.dropped + r.functions.duplicates > 0 {
        s.push_str(&format!(
            "  function libraries: {} written, {} dropped, {} duplicates\n",
            r.functions.written, r.functions.dropped, r.functions.duplicates
        ));
    }
    for p in saved {
        s.push_str(&format!("  library code saved: {}\n", p.display()));
    }
    for o in &r.outputs {
        let name = written
            .get(o.index)
            .map_or("(stdout)".to_string(), |p| p.display().to_string());
        let slots = if o.slots.is_empty() {
            String::new()
        } else {
            let ranges: Vec<String> = o.slots.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            format!(" slots {}", ranges.join("+"))
        };
        s.push_str(&format!(
            "  {name}:{slots} {} keys in {} db(s), {} bytes\n",
            o.keys,
            o.dbs.len(),
            o.bytes
        ));
    }
    s
}
