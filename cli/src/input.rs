//! Opening snapshots: memory-mapped files, or a stream (standard input, a pipe) framed
//! in bounded memory by [`rdb_parser::stream`]; [`open`] still reads standard input
//! whole for the commands that need every byte in memory (`restore`).
//!
//! Inputs that are not snapshots (a directory, a compressed file, an AOF, a failed
//! download, ...) are refused here, before any command reads them, with what the
//! input is and what to do instead.

use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use flate2::read::MultiGzDecoder;
use memmap2::Mmap;
use rdb_parser::aof::{count_commands, Manifest};
use rdb_parser::header::InputKind;
use rdb_parser::inventory::Source;
use rdb_parser::stream::{RdbStream, StreamError, StreamOptions};
use rdb_parser::{ErrorKind, Header, ParseOptions};

/// The bytes of one input, mapped or owned.
pub enum Input {
    /// A memory-mapped file.
    Mapped(Mmap),
    /// Bytes read from standard input (or an empty file, which cannot be mapped).
    Owned(Vec<u8>),
}

impl Deref for Input {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }
}

/// Opens `path` as bytes in memory: a local file is mapped; standard input (`-`), an
/// object URL, a pipe or a gzip file is streamed into an unlinked temporary file in
/// `$TMPDIR` (decompressed) and that is mapped, so memory stays bounded for the
/// commands that read their input more than once.
///
/// A directory is an error with a pointer to the snapshot inside it; bytes that
/// are not an RDB file fail with [`NotSnapshot`].
pub fn open(path: &str) -> Result<Input> {
    let path = &resolve(path)?;
    if is_streamed(path) {
        return match open_source(path)? {
            Opened::Bytes(input) => Ok(input),
            Opened::Reader(reader) => spool(path, reader),
        };
    }
    let input = open_bytes(path)?;
    refuse_non_rdb(path, &input)?;
    Ok(input)
}

/// Whether `path` is read as a stream rather than mapped: standard input, an object,
/// a pipe or device, or a gzip file.
fn is_streamed(path: &str) -> bool {
    path == "-"
        || is_object(path)
        || std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
        || starts_with_gzip(path)
}

/// Whether `path` names an object in S3 or Azure Blob Storage.
pub fn is_object(path: &str) -> bool {
    rdb_restore::storage::is_object_url(path)
}

/// Copies `reader` into an unlinked temporary file in `$TMPDIR` and maps it.
fn spool(path: &str, reader: Box<dyn Read + Send>) -> Result<Input> {
    let (file, temp, copied) = copy_to_temp(path, reader)?;
    // Unlinked at once: the space is freed when the process ends, however it ends.
    let _ = std::fs::remove_file(&temp);
    if copied == 0 {
        return Ok(Input::Owned(Vec::new()));
    }
    // SAFETY: the file is unlinked and only this process holds it, so nothing else
    // can truncate or rewrite it while mapped.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) }.context("mapping the temporary copy")?;
    Ok(Input::Mapped(map))
}

/// A new file in `$TMPDIR` holding everything `reader` yields: the file, its path,
/// its length.
fn copy_to_temp(path: &str, mut reader: Box<dyn Read + Send>) -> Result<(File, PathBuf, u64)> {
    let dir = std::env::temp_dir();
    let temp = dir.join(format!(
        ".rdbkit-spool-{}-{}",
        std::process::id(),
        SPOOLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&temp)
        .with_context(|| {
            format!(
                "creating a temporary copy of {} in {}",
                display_name(path),
                dir.display()
            )
        })?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
    let mut progress = crate::progress::Progress::new(
        &format!("copying {} to {}", display_name(path), dir.display()),
        0,
        QUIET.load(std::sync::atomic::Ordering::Relaxed),
    );
    let copied = copy_counting(&mut reader, &mut out, &mut |n| progress.update(n))
        .and_then(|n| out.flush().map(|()| n))
        .with_context(|| {
            format!(
                "copying {} to a temporary file in {} (set TMPDIR to a disk with room for the \
                 snapshot)",
                display_name(path),
                dir.display()
            )
        });
    drop(out);
    progress.finish();
    match copied {
        Ok(n) => Ok((file, temp, n)),
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// `-q`: no progress line while copying a stream to `$TMPDIR`.
pub static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `std::io::copy` that reports the bytes copied so far.
fn copy_counting(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.write_all(&buf[..n])?;
        total += n as u64;
        progress(total);
    }
}

/// A temporary copy of a streamed input (standard input, an object, a gzip file,
/// decompressed), removed on drop: for code that takes a path.
pub struct TempCopy(PathBuf);

impl TempCopy {
    /// Where the copy is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `path` itself when it is a local file, else a [`TempCopy`] of what it streams
/// (checked to start like a snapshot).
pub fn local_copy(path: &str) -> Result<Option<TempCopy>> {
    if !is_streamed(path) || !(path == "-" || is_object(path) || starts_with_gzip(path)) {
        return Ok(None);
    }
    match open_source(path)? {
        Opened::Bytes(_) => Ok(None),
        Opened::Reader(reader) => {
            let (_, temp, _) = copy_to_temp(path, reader)?;
            Ok(Some(TempCopy(temp)))
        }
    }
}

/// Temporary copies made so far (their names differ).
static SPOOLED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The gzip magic (RFC 1952): gzip input is recognised by its bytes, not its name.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn display_name(path: &str) -> &str {
    if path == "-" {
        "standard input"
    } else {
        path
    }
}

fn open_bytes(path: &str) -> Result<Input> {
    // Opening a directory succeeds on Linux and only mapping it fails, with a
    // message that does not say why.
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("{}", directory_message(path));
    }
    let file = File::open(path).with_context(|| format!("opening {path}"))?;
    let len = file
        .metadata()
        .with_context(|| format!("reading metadata of {path}"))?
        .len();
    if len == 0 {
        return Ok(Input::Owned(Vec::new()));
    }
    // SAFETY: the map is read-only and lives no longer than this process uses it.
    // A file truncated or rewritten by another process while mapped can raise SIGBUS;
    // snapshots are written to a temporary name and renamed by Redis, so a finished
    // snapshot file is not modified in place.
    #[allow(unsafe_code)]
    let map = unsafe { Mmap::map(&file) }.with_context(|| format!("mapping {path}"))?;
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Input::Mapped(map))
}

/// A snapshot opened for reading: mapped, or a reader to stream.
pub enum Opened {
    /// A local file, memory-mapped (the fast path).
    Bytes(Input),
    /// Standard input or another source that cannot be mapped, checked to start like
    /// an RDB file; read once, in bounded memory.
    Reader(Box<dyn Read + Send>),
}

/// Bytes read ahead from a stream to tell what it is (enough for an S3 error document).
const HEAD_LEN: usize = 4096;

/// Opens `path` for streaming: a regular file is mapped; `-` (standard input), a pipe
/// or a device is read as a stream. Non-RDB content fails as in [`open`].
pub fn open_source(path: &str) -> Result<Opened> {
    let path = &resolve(path)?;
    if !is_streamed(path) {
        return open(path).map(Opened::Bytes);
    }
    let reader: Box<dyn Read + Send> = if path == "-" {
        Box::new(std::io::stdin())
    } else if is_object(path) {
        open_object(path)?
    } else {
        Box::new(File::open(path).with_context(|| format!("opening {path}"))?)
    };
    let name = display_name(path);
    let (mut head, mut reader) = read_head(reader).with_context(|| format!("reading {name}"))?;
    if head.starts_with(&GZIP_MAGIC) {
        // Decompressed as it is read (concatenated members, as `cat a.gz b.gz` makes,
        // are one stream); offsets in errors are offsets in the decompressed data.
        let decoder = MultiGzDecoder::new(std::io::Cursor::new(head).chain(reader));
        (head, reader) = read_head(Box::new(decoder)).map_err(|e| damaged_gzip(path, &e))?;
    }
    refuse_non_rdb(path, &head)?;
    Ok(Opened::Reader(Box::new(
        std::io::Cursor::new(head).chain(reader),
    )))
}

/// The object at `url`, read ahead by ranged GETs.
fn open_object(url: &str) -> Result<Box<dyn Read + Send>> {
    Ok(Box::new(rdb_restore::storage::open(url)?))
}

/// Object URLs in `args` that name several objects (a glob such as
/// `s3://bucket/mybackup-*.rdb`, or a prefix ending in `/`) replaced by the objects
/// they match, sorted by key; the value of `-o`/`--output` is left alone.
pub fn expand_object_globs(args: Vec<std::ffi::OsString>) -> Result<Vec<std::ffi::OsString>> {
    let mut out = Vec::with_capacity(args.len());
    let mut after_output = false;
    for arg in args {
        let text = arg.to_str().unwrap_or_default();
        let expand = !after_output && is_object(text) && is_pattern(text);
        after_output = text == "-o" || text == "--output";
        if !expand {
            out.push(arg);
            continue;
        }
        for object in list_objects(text)? {
            out.push(object.into());
        }
    }
    Ok(out)
}

fn is_pattern(url: &str) -> bool {
    rdb_restore::storage::ObjectUrl::parse(url).is_ok_and(|u| u.is_pattern())
}

fn list_objects(url: &str) -> Result<Vec<String>> {
    Ok(rdb_restore::storage::list(url)?
        .into_iter()
        .map(|o| o.url.to_arg())
        .collect())
}

/// A gzip input whose first bytes do not decompress.
fn damaged_gzip(path: &str, e: &std::io::Error) -> NotSnapshot {
    NotSnapshot {
        kind: Some(InputKind::Gzip),
        message: format!(
            "{}: gzip-compressed data that does not decompress ({e}) (offset 0): the file is \
             damaged or cut off (an interrupted copy or download?); copy it again",
            display_name(path)
        ),
    }
}

/// Whether the local file at `path` starts with the gzip magic.
fn starts_with_gzip(path: &str) -> bool {
    let mut magic = [0u8; 2];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == GZIP_MAGIC)
}

impl Opened {
    /// The bytes to frame: the mapped file, or the reader as a stream (its header is
    /// read and checked here; the reader is taken, so this is done once).
    pub fn source(&mut self, parse: ParseOptions) -> Result<Source<'_>, StreamError> {
        match self {
            Opened::Bytes(input) => Ok(Source::Bytes(input)),
            Opened::Reader(reader) => {
                let reader = std::mem::replace(reader, Box::new(std::io::empty()));
                let options = StreamOptions {
                    parse,
                    ..StreamOptions::default()
                };
                Ok(Source::Stream(Box::new(RdbStream::new(reader, options)?)))
            }
        }
    }
}

/// The first [`HEAD_LEN`] bytes of `reader` (fewer when it ends first), and the rest.
fn read_head(mut reader: Box<dyn Read + Send>) -> std::io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = Vec::with_capacity(HEAD_LEN);
    (&mut reader).take(HEAD_LEN as u64).read_to_end(&mut head)?;
    Ok((head, reader))
}

/// An input whose bytes are not an RDB snapshot (offset 0 of the input).
///
/// `check` counts it as an invalid snapshot (exit 1), like a corrupt one: the bytes
/// were read and they are not a snapshot.
#[derive(Debug)]
pub struct NotSnapshot {
    /// What the input was recognised as; `None` for unrecognised bytes.
    pub kind: Option<InputKind>,
    message: String,
}

impl fmt::Display for NotSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NotSnapshot {}

/// Fails when the header is not an RDB magic; a known magic with an unsupported
/// version, and everything after the header, are left to the command.
fn refuse_non_rdb(path: &str, data: &[u8]) -> Result<(), NotSnapshot> {
    let err = match Header::parse(data) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let kind = match err.kind() {
        ErrorKind::NotRdb(k) => Some(k),
        ErrorKind::BadMagic => None,
        // A cut-off magic (`REDIS00`): told as "too short" like any short input.
        ErrorKind::UnexpectedEof => Some(InputKind::TooShort),
        _ => return Ok(()),
    };
    Err(NotSnapshot {
        kind,
        message: not_snapshot_message(path, data, kind),
    })
}

/// The subcommand being run (`check`, `export`, ...), for the examples in hints.
fn subcommand() -> String {
    // The only global flag (`-q`) takes no value, so the first word is the command.
    std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "check".to_string())
}

fn not_snapshot_message(path: &str, data: &[u8], kind: Option<InputKind>) -> String {
    let name = if path == "-" { "standard input" } else { path };
    let file = if path == "-" { "FILE" } else { path };
    let cmd = subcommand();
    let head = match kind {
        None => format!("{name}: not an RDB snapshot (offset 0)"),
        Some(k @ (InputKind::Empty | InputKind::TooShort)) => {
            format!("{name}: {} (offset 0)", k.description())
        }
        Some(k) => format!(
            "{name}: {}, not an RDB snapshot (offset 0)",
            k.description()
        ),
    };
    let download = "the download failed or fetched the wrong thing: check the URL and the \
                    credentials and download the snapshot again";
    let tail = match kind {
        Some(InputKind::Empty) => {
            "the save or the copy did not finish: take or copy the snapshot again".to_string()
        }
        Some(InputKind::TooShort) => format!(
            "only {} bytes: the file is truncated (an interrupted copy or save?); copy it again",
            data.len()
        ),
        Some(k) if k.is_compressed() => {
            let tool = match k {
                InputKind::Gzip => "gunzip -c",
                InputKind::Zstd => "zstd -dc",
                InputKind::Xz => "xz -dc",
                InputKind::Lz4 => "lz4 -dc",
                InputKind::Bzip2 => "bzip2 -dc",
                _ => "unzip -p",
            };
            format!("decompress it first, e.g. `{tool} {file} | rdbkit {cmd} -`")
        }
        Some(InputKind::Aof) => format!(
            "its commands are not RDB data: replay it into a server \
             (`redis-cli --pipe < {file}`) and SAVE, then read the dump.rdb it writes \
             (an AOF with an RDB preamble starts with REDIS and is read directly)"
        ),
        Some(InputKind::Http) => format!("{}: {download}", first_line(data)),
        Some(InputKind::Xml) => match between(data, "<Code>", "</Code>") {
            Some(code) => format!("error code {code}: {download}"),
            None => format!("{}: {download}", first_line(data)),
        },
        Some(InputKind::Html | InputKind::Json) if is_object(path) => format!(
            "an error message, probably, stored in place of the snapshot: the copy that \
             wrote {file} failed; upload the snapshot again"
        ),
        Some(InputKind::Html | InputKind::Json) => format!(
            "an error message, probably: {download} (`head -c 600 {file}` shows the reason)"
        ),
        Some(_) => format!(
            "{}; an RDB file starts with REDIS or VALKEY",
            first_line(data)
        ),
        None => format!(
            "it starts with bytes {}; an RDB file starts with REDIS or VALKEY and a version \
             number",
            hex_head(data)
        ),
    };
    format!("{head}: {tail}")
}

/// The first line of text, clipped, as `starts with "..."`.
fn first_line(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(&data[..data.len().min(200)]);
    let line = text.trim_start().lines().next().unwrap_or_default();
    let clipped: String = line.chars().take(60).collect();
    let more = if clipped.len() < line.len() {
        "..."
    } else {
        ""
    };
    format!("it starts with {:?}", format!("{clipped}{more}"))
}

/// The text between the first `open` and the next `close` in the first 4 KiB
/// (`<Code>AccessDenied</Code>` in an S3 error).
fn between(data: &[u8], open: &str, close: &str) -> Option<String> {
    let text = String::from_utf8_lossy(&data[..data.len().min(4096)]);
    let start = text.find(open)? + open.len();
    let len = text[start..].find(close)?;
    let inner = text[start..start + len].trim();
    (!inner.is_empty() && inner.len() <= 64).then(|| inner.to_string())
}

fn hex_head(data: &[u8]) -> String {
    let hex: Vec<String> = data.iter().take(9).map(|b| format!("{b:02x}")).collect();
    hex.join(" ")
}

/// Why a directory is not a snapshot, and where the snapshot inside it is.
fn directory_message(path: &str) -> String {
    let dir = Path::new(path);
    let names = file_names(dir);
    let join = |n: &str| dir.join(n).display().to_string();
    if let Some((base, _)) = aof_dir_files(dir, &names) {
        return format!(
            "{path} is a Redis 7+ append-only directory whose base file {} is an AOF in RESP \
             (aof-use-rdb-preamble no), not RDB: start a server on this directory and SAVE, \
             then read the dump.rdb it writes",
            join(&base)
        );
    }
    let rdbs: Vec<String> = names
        .iter()
        .filter(|n| n.ends_with(".rdb"))
        .take(5)
        .map(|n| join(n))
        .collect();
    if rdbs.is_empty() {
        format!("{path} is a directory, not a snapshot file: name an .rdb file")
    } else {
        format!(
            "{path} is a directory, not a snapshot file: name a snapshot inside it, e.g. {}",
            rdbs.join(", ")
        )
    }
}

/// The base file of a Redis 7+ append-only directory and its incremental files:
/// from the `*.manifest`, else by name.
fn aof_dir_files(dir: &Path, names: &[String]) -> Option<(String, Vec<String>)> {
    let manifest = names
        .iter()
        .find(|n| n.ends_with(".manifest"))
        .and_then(|m| std::fs::read_to_string(dir.join(m)).ok())
        .map(|text| Manifest::parse(&text));
    if let Some(Manifest {
        base: Some(base),
        incremental,
    }) = manifest
    {
        return Some((base, incremental));
    }
    let base = names
        .iter()
        .find(|n| n.ends_with(".base.rdb") || n.ends_with(".base.aof"))?
        .clone();
    let incr = names
        .iter()
        .filter(|n| n.ends_with(".incr.aof"))
        .cloned()
        .collect();
    Some((base, incr))
}

/// The file to read for `path`: itself, or for a Redis 7+ append-only directory its
/// base file (an RDB, or an AOF with an RDB preamble), after a notice on stderr of
/// the commands in the incremental files that the snapshot does not include.
fn resolve(path: &str) -> Result<String> {
    if path == "-" || is_object(path) || !std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Ok(path.to_string());
    }
    let dir = Path::new(path);
    let names = file_names(dir);
    let Some((base, incremental)) = aof_dir_files(dir, &names) else {
        bail!("{}", directory_message(path));
    };
    let base_path = dir.join(&base);
    let mut magic = [0u8; 5];
    let preamble = File::open(&base_path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| &magic == b"REDIS" || &magic == b"VALKE");
    if !preamble {
        bail!("{}", directory_message(path));
    }
    let mut commands = 0u64;
    for name in &incremental {
        let file = File::open(dir.join(name))
            .with_context(|| format!("opening {}", dir.join(name).display()))?;
        commands += count_commands(std::io::BufReader::new(file))
            .with_context(|| format!("reading {}", dir.join(name).display()))?
            .commands;
    }
    let base_shown = base_path.display();
    if incremental.is_empty() {
        eprintln!(
            "rdbkit: {path}: a Redis 7+ append-only directory: reading its base file {base_shown}"
        );
    } else {
        eprintln!(
            "rdbkit: {path}: a Redis 7+ append-only directory: reading its base file \
             {base_shown}; NOT included: {commands} commands in {} incremental file(s) after it \
             (writes since the base was made). To include them, replay the directory into a \
             server (`redis-server --dir {} --appenddirname {} --appendonly yes`, then SAVE) \
             and read the dump.rdb it writes",
            incremental.len(),
            dir.parent()
                .map_or(".".to_string(), |p| p.display().to_string()),
            dir.file_name()
                .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        );
    }
    Ok(base_path.display().to_string())
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}
