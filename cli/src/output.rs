//! What every report-printing command shares: the text/JSON choice and writing a
//! finished document to stdout (a closed pipe, as with `| head`, is not an error).

use std::io::Write;

use anyhow::{Context, Result};

/// Output format of the commands that print one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text for people.
    Text,
    /// One JSON document for scripts.
    Json,
}

/// A byte string as JSON: a string when valid UTF-8, else `{"hex": ...}`
/// (`rdb_parser::serde_bytes`, the rule of every JSON output).
pub fn bytes_json(b: &[u8]) -> serde_json::Value {
    serde_json::to_value(rdb_parser::serde_bytes::Bytes(b)).unwrap_or_default()
}

/// Writes `text` to stdout and flushes; a broken pipe ends quietly.
pub fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing output"),
        _ => Ok(()),
    }
}

/// Whether an `-o` argument names an object (S3, Azure Blob Storage).
pub fn is_object(out: &str) -> bool {
    rdb_restore::storage::is_object_url(out)
}

/// `out` as shown in messages: an object URL without its query (a SAS token).
pub fn shown(out: &str) -> String {
    match rdb_restore::storage::ObjectUrl::parse(out) {
        Ok(url) if is_object(out) => url.to_string(),
        _ => out.to_string(),
    }
}

/// Uploads everything `data` yields as the object at `url`: a multipart upload that
/// becomes visible only when complete, aborted on any error.
pub fn upload(url: &str, mut data: impl std::io::Read) -> Result<u64> {
    let mut object = rdb_restore::storage::create(url)?;
    std::io::copy(&mut data, &mut object).with_context(|| format!("writing {}", shown(url)))?;
    Ok(object.finish()?)
}

/// A command's output (`-o`): a local file renamed into place when complete
/// ([`LocalOutput`]), or an object uploaded as it is written and completed only at
/// the end. Dropped without [`Output::complete`] (an error), nothing is left: the
/// temporary file is removed, the upload aborted.
pub enum Output {
    /// A local path.
    File(LocalOutput),
    /// An `s3://`/`az://` object.
    Object(Box<rdb_restore::storage::ObjectWriter>),
}

impl Output {
    /// Starts the output `-o OUT` names.
    pub fn create(out: &str) -> Result<Self> {
        Ok(if is_object(out) {
            Output::Object(Box::new(rdb_restore::storage::create(out)?))
        } else {
            Output::File(LocalOutput::create(out)?)
        })
    }

    /// Makes the output visible: the file renamed, or the upload completed.
    pub fn complete(self) -> Result<()> {
        match self {
            Output::File(f) => f.commit().map(|_| ()),
            Output::Object(o) => o.finish().map(|_| ()).context("completing the upload"),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::File(f) => f.write(buf),
            Output::Object(o) => o.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Object(o) => o.flush(),
        }
    }
}

/// A local output file that takes its name only when complete: written under a
/// hidden temporary name next to it (`.NAME.rdbkit-tmp-PID`), renamed by
/// [`LocalOutput::commit`], removed when dropped uncommitted (an error, a panic).
/// Files that leave the machine (`convert`'s snapshots) are made durable first with
/// [`LocalOutput::sync`]; reports and key lists are not (a rename is atomic, and
/// they are made again from the snapshot).
///
/// A path that exists and is not a regular file (`/dev/null`, a FIFO, a terminal)
/// is written directly: renaming over it would replace the device for everyone.
pub struct LocalOutput {
    file: std::fs::File,
    path: std::path::PathBuf,
    /// The temporary name, while the output is not committed (`None`: written directly).
    temp: Option<std::path::PathBuf>,
}

impl LocalOutput {
    /// Creates the output for `path` (its temporary file, or the device itself).
    pub fn create(path: impl Into<std::path::PathBuf>) -> Result<Self> {
        let path = path.into();
        let special = std::fs::metadata(&path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        if special {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            return Ok(LocalOutput {
                file,
                path,
                temp: None,
            });
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temp = path.with_file_name(format!(".{name}.rdbkit-tmp-{}", std::process::id()));
        let file = std::fs::File::create(&temp)
            .with_context(|| format!("creating {} (for {})", temp.display(), path.display()))?;
        Ok(LocalOutput {
            file,
            path,
            temp: Some(temp),
        })
    }

    /// Writes the output through to the disk (not for a device or a pipe).
    pub fn sync(&self) -> Result<()> {
        if let Some(temp) = &self.temp {
            self.file
                .sync_all()
                .with_context(|| format!("syncing {}", temp.display()))?;
        }
        Ok(())
    }

    /// Gives the output its name; returns the name.
    pub fn commit(mut self) -> Result<std::path::PathBuf> {
        if let Some(temp) = &self.temp {
            std::fs::rename(temp, &self.path).with_context(|| {
                format!("renaming {} to {}", temp.display(), self.path.display())
            })?;
            self.temp = None;
        }
        Ok(std::mem::take(&mut self.path))
    }
}

impl Write for LocalOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl Drop for LocalOutput {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            let _ = std::fs::remove_file(temp);
        }
    }
}
