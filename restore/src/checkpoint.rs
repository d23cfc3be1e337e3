//! `--checkpoint FILE`: the position in the input below which every key has been
//! answered by the target, so that a killed run can resume.
//!
//! The file is small text, replaced atomically (write a temporary file, `fsync`,
//! rename) each time it changes:
//!
//! ```text
//! rdbkit-restore-checkpoint 1
//! file 0 1226319 redis-7.0.15.rdb
//! acked 0 1180211
//! sent 0 68289875
//! ```
//!
//! - `file I LEN NAME`: the run's inputs (a resume with other files is refused;
//!   files are matched by position and length, names are informational);
//! - `acked F O`: every record of files before `F`, and of file `F` starting before
//!   offset `O`, has been answered (restored, skipped or failed);
//! - `sent F O`: nothing at or after this position has ever been sent. It is written
//!   *before* a batch beyond it goes out (in steps of 64 MiB of input, so rarely).
//!
//! A resumed run skips every record before `acked` (counted as skipped,
//! `checkpoint`), and sends the records between `acked` and `sent` with `REPLACE`
//! (and `FUNCTION RESTORE ... REPLACE`): a previous run may have written them, and
//! the snapshot's value is the right one. After `sent` the chosen conflict policy
//! applies again. So a kill at any moment followed by a resume leaves the target
//! holding the snapshot. Keys that *failed* in the killed run and lie before `acked`
//! are not retried; the killed run's summary was the place they were reported.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How far ahead of the last written `sent` bound a run may send before writing a
/// new one.
pub const SENT_STEP: u64 = 64 << 20;

/// A position in the run's input: file index, then byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    /// Index of the file in the run's file list.
    pub file: usize,
    /// Byte offset in that file.
    pub offset: u64,
}

impl Position {
    /// A position.
    pub fn new(file: usize, offset: u64) -> Position {
        Position { file, offset }
    }
}

/// The state kept in a checkpoint file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointState {
    /// The inputs: (length, name) per file.
    pub files: Vec<(u64, String)>,
    /// Everything before this was answered.
    pub acked: Position,
    /// Nothing at or after this was ever sent.
    pub sent: Position,
}

impl CheckpointState {
    fn render(&self) -> String {
        let mut s = String::from("rdbkit-restore-checkpoint 1\n");
        for (i, (len, name)) in self.files.iter().enumerate() {
            s.push_str(&format!("file {i} {len} {}\n", name.replace('\n', " ")));
        }
        s.push_str(&format!(
            "acked {} {}\n",
            self.acked.file, self.acked.offset
        ));
        s.push_str(&format!("sent {} {}\n", self.sent.file, self.sent.offset));
        s
    }

    fn parse(text: &str) -> Option<CheckpointState> {
        let mut lines = text.lines();
        if lines.next()? != "rdbkit-restore-checkpoint 1" {
            return None;
        }
        let mut files = Vec::new();
        let mut acked = None;
        let mut sent = None;
        let pos = |a: Option<&str>, b: Option<&str>| -> Option<Position> {
            Some(Position::new(a?.parse().ok()?, b?.parse().ok()?))
        };
        for line in lines {
            let mut w = line.splitn(4, ' ');
            match w.next()? {
                "file" => {
                    let _index = w.next()?;
                    let len = w.next()?.parse().ok()?;
                    files.push((len, w.next().unwrap_or("").to_string()));
                }
                "acked" => acked = pos(w.next(), w.next()),
                "sent" => sent = pos(w.next(), w.next()),
                _ => return None,
            }
        }
        Some(CheckpointState {
            files,
            acked: acked?,
            sent: sent?,
        })
    }
}

/// Reads the checkpoint at `path` if it exists; checks it describes `files`
/// ((length, name) per file).
pub fn load(path: &Path, files: &[(u64, String)]) -> Result<Option<CheckpointState>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Checkpoint {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        }
    };
    let state = CheckpointState::parse(&text).ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        message: "not an rdbkit restore checkpoint".into(),
    })?;
    let same =
        state.files.len() == files.len() && state.files.iter().zip(files).all(|(a, b)| a.0 == b.0);
    if !same {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "it was written for other input files ({}); remove it to start over",
                state
                    .files
                    .iter()
                    .map(|(len, name)| format!("{name} ({len} bytes)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    Ok(Some(state))
}

/// Writes `state` to `path` atomically.
pub fn store(path: &Path, state: &CheckpointState) -> Result<()> {
    let io = |e: std::io::Error| Error::Checkpoint {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut tmp: PathBuf = path.to_path_buf();
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    tmp.set_file_name(name);
    let mut f = fs::File::create(&tmp).map_err(io)?;
    f.write_all(state.render().as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    drop(f);
    fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let dir = std::env::temp_dir().join(format!("rdbkit-cp-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let path = dir.join("cp");
        let files = vec![(10u64, "a.rdb".to_string()), (20, "b c.rdb".to_string())];
        let state = CheckpointState {
            files: files.clone(),
            acked: Position::new(1, 5),
            sent: Position::new(1, 9),
        };
        store(&path, &state).expect("store");
        assert_eq!(load(&path, &files).expect("load"), Some(state));
        assert!(load(&path, &files[..1]).is_err());
        assert_eq!(load(&dir.join("missing"), &files).expect("load"), None);
        let _ = fs::remove_dir_all(&dir);
    }
}
