//! Opening snapshots: memory-mapped files, or standard input read into memory.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;

use anyhow::{Context, Result};
use memmap2::Mmap;

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

/// Opens `path`; `-` reads standard input to the end.
pub fn open(path: &str) -> Result<Input> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        return Ok(Input::Owned(buf));
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
