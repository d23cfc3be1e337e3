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
//! holding the snapshot.
//!
//! Keys that *failed* are not done: their positions go to a log beside the
//! checkpoint ([`FailedLog`], `FILE.failed`), appended and synced before `acked`
//! passes them. A resumed run retries every key of that log (with the chosen
//! conflict policy: a failed `RESTORE` wrote nothing), so a target that ran out of
//! memory, once enlarged, gets every key by rerunning the same command.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How far ahead of the last written `sent` bound a run may send before writing a
/// new one.
pub const SENT_STEP: u64 = 64 << 20;

/// A position in the run's input: file index, then byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
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

/// The log of failed records beside a checkpoint (`FILE.failed`): one line per event,
/// `failed F O` when the record at file `F`, offset `O` failed and `ok F O` when a
/// later run retried it successfully (restored, skipped or expired). Append-only
/// while a run goes, rewritten with only the unresolved failures when it ends.
#[derive(Debug)]
pub struct FailedLog {
    path: PathBuf,
    file: Option<std::io::BufWriter<fs::File>>,
    /// Failures not (yet) retried successfully, this run's and earlier runs'.
    unresolved: std::collections::BTreeSet<Position>,
}

impl FailedLog {
    /// The log's path for checkpoint `checkpoint`.
    pub fn path_for(checkpoint: &Path) -> PathBuf {
        let mut name = checkpoint
            .file_name()
            .map(|n| n.to_os_string())
            .unwrap_or_default();
        name.push(".failed");
        checkpoint.with_file_name(name)
    }

    /// Opens the log of `checkpoint`, reading the failures earlier runs left.
    pub fn open(checkpoint: &Path) -> Result<FailedLog> {
        let path = FailedLog::path_for(checkpoint);
        let bad = |message: String| Error::Checkpoint {
            path: path.clone(),
            message,
        };
        let mut unresolved = std::collections::BTreeSet::new();
        match fs::read_to_string(&path) {
            Ok(text) => {
                // A torn last line (killed mid-write) is cut off: it was not synced,
                // so `acked` did not pass its record either.
                let whole = text.rfind('\n').map_or(0, |i| i + 1);
                if whole < text.len() {
                    let f = fs::OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .map_err(|e| bad(e.to_string()))?;
                    f.set_len(whole as u64).map_err(|e| bad(e.to_string()))?;
                }
                for (n, line) in text[..whole].lines().enumerate() {
                    let mut w = line.split(' ');
                    let (kind, f, o) = (w.next(), w.next(), w.next());
                    let pos = f
                        .and_then(|f| f.parse().ok())
                        .zip(o.and_then(|o| o.parse().ok()))
                        .map(|(f, o)| Position::new(f, o));
                    match (kind, pos) {
                        (Some("failed"), Some(p)) => {
                            unresolved.insert(p);
                        }
                        (Some("ok"), Some(p)) => {
                            unresolved.remove(&p);
                        }
                        _ => {
                            return Err(bad(format!(
                                "line {}: not a failed-keys log line; remove the file and \
                                 the checkpoint to start over",
                                n + 1
                            )))
                        }
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(bad(e.to_string())),
        }
        Ok(FailedLog {
            path,
            file: None,
            unresolved,
        })
    }

    /// A new log for a run that starts over (no checkpoint to resume): a log left by
    /// another run is removed, so that its failures are not taken for this one's.
    pub fn start(checkpoint: &Path) -> Result<FailedLog> {
        let path = FailedLog::path_for(checkpoint);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Checkpoint {
                path,
                message: e.to_string(),
            }),
            _ => Ok(FailedLog {
                path,
                file: None,
                unresolved: std::collections::BTreeSet::new(),
            }),
        }
    }

    /// Whether the record at `pos` failed in an earlier run and is still not done.
    pub fn is_unresolved(&self, pos: Position) -> bool {
        self.unresolved.contains(&pos)
    }

    /// The positions of the failures not resolved so far.
    pub fn positions(&self) -> impl Iterator<Item = Position> + '_ {
        self.unresolved.iter().copied()
    }

    /// Failures not resolved so far.
    pub fn unresolved(&self) -> usize {
        self.unresolved.len()
    }

    fn append(&mut self, kind: &str, pos: Position) -> Result<()> {
        if self.file.is_none() {
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| self.error(e))?;
            self.file = Some(std::io::BufWriter::new(f));
        }
        let line = format!("{kind} {} {}\n", pos.file, pos.offset);
        match self.file.as_mut() {
            Some(f) => f.write_all(line.as_bytes()).map_err(|e| Error::Checkpoint {
                path: self.path.clone(),
                message: e.to_string(),
            }),
            None => Ok(()),
        }
    }

    fn error(&self, e: std::io::Error) -> Error {
        Error::Checkpoint {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Records that the record at `pos` failed (once).
    pub fn failed(&mut self, pos: Position) -> Result<()> {
        if self.unresolved.insert(pos) {
            self.append("failed", pos)?;
        }
        Ok(())
    }

    /// Records that the record at `pos`, failed earlier, is now done.
    pub fn resolved(&mut self, pos: Position) -> Result<()> {
        if self.unresolved.remove(&pos) {
            self.append("ok", pos)?;
        }
        Ok(())
    }

    /// Makes what was appended durable (before the checkpoint may pass it).
    pub fn sync(&mut self) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.flush().map_err(|e| Error::Checkpoint {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
            f.get_ref().sync_data().map_err(|e| Error::Checkpoint {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Rewrites the log with only the unresolved failures (removes it when none).
    pub fn compact(&mut self) -> Result<()> {
        self.file = None;
        if self.unresolved.is_empty() {
            return match fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.error(e)),
                _ => Ok(()),
            };
        }
        let mut text = String::new();
        for p in &self.unresolved {
            text.push_str(&format!("failed {} {}\n", p.file, p.offset));
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| self.error(e))
    }
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

    #[test]
    fn failed_log_survives_runs_and_compacts() {
        let dir = std::env::temp_dir().join(format!("rdbkit-fl-{}", std::process::id()));
        let _ = fs::create_dir_all(&dir);
        let cp = dir.join("cp");
        let mut log = FailedLog::open(&cp).unwrap();
        log.failed(Position::new(0, 10)).unwrap();
        log.failed(Position::new(0, 20)).unwrap();
        log.failed(Position::new(0, 10)).unwrap(); // once only
        log.sync().unwrap();
        drop(log);
        // A torn last line (killed mid-write) is ignored.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(FailedLog::path_for(&cp))
            .unwrap();
        f.write_all(b"fail").unwrap();
        drop(f);
        let mut log = FailedLog::open(&cp).unwrap();
        assert_eq!(log.unresolved(), 2);
        assert!(log.is_unresolved(Position::new(0, 20)));
        log.failed(Position::new(0, 30)).unwrap();
        log.resolved(Position::new(0, 20)).unwrap();
        log.sync().unwrap();
        drop(log);
        let mut log = FailedLog::open(&cp).unwrap();
        assert_eq!(log.unresolved(), 2);
        log.compact().unwrap();
        let text = fs::read_to_string(FailedLog::path_for(&cp)).unwrap();
        assert_eq!(text, "failed 0 10\nfailed 0 30\n");
        log.resolved(Position::new(0, 10)).unwrap();
        log.resolved(Position::new(0, 30)).unwrap();
        log.compact().unwrap();
        assert!(!FailedLog::path_for(&cp).exists());
        let _ = fs::remove_dir_all(&dir);
    }
}
