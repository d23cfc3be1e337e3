//! The dirty set: keys changed at the source and not yet copied, de-duplicated,
//! bounded in memory and spilling to disk, and journaled so that a restarted sync
//! finds them again.
//!
//! Files in the journal directory:
//! - `dirty.log`: every key that entered the set since the set was last empty
//!   (records `u32 db, u32 len, key`, little-endian). A restart loads it: copying a
//!   key twice is harmless, forgetting one is not. Truncated when the set empties.
//! - `spill.log`: keys that did not fit in memory, read back in order as the
//!   in-memory part drains.

use std::collections::{HashMap, HashSet, VecDeque};

use rdb_parser::digest::key_hash;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{Error, Result};

/// A source key: database and name.
pub(crate) type DbKey = (u64, Vec<u8>);

/// `dirty.log` is compacted past this size (see [`DirtySet::flush`]).
const COMPACT_AFTER: u64 = 16 << 20;

/// Largest key accepted from a journal record (Redis' own limit is 512 MiB).
const MAX_KEY_LEN: u32 = 512 << 20;

pub(crate) struct DirtySet {
    /// Key → when its first unapplied change was seen (`None`: from a scan).
    entries: HashMap<DbKey, Option<Instant>>,
    order: VecDeque<DbKey>,
    cap: usize,
    log: BufWriter<File>,
    log_path: PathBuf,
    /// Bytes in `dirty.log`, and in its records of keys still in memory.
    log_bytes: u64,
    live_bytes: u64,
    spill: BufWriter<File>,
    spill_path: PathBuf,
    spill_read: u64,
    spill_written: u64,
    /// Keys in the spill file not read back yet.
    spilled: u64,
    /// 128-bit hashes of the spilled keys (16 bytes per key instead of the key),
    /// so that a key changed again while spilled is not spilled twice.
    spilled_hashes: HashSet<u128>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

fn write_record(w: &mut impl Write, db: u64, key: &[u8]) -> std::io::Result<()> {
    let db = u32::try_from(db).unwrap_or(u32::MAX);
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    w.write_all(&db.to_le_bytes())?;
    w.write_all(&len.to_le_bytes())?;
    w.write_all(key)
}

/// Reads one record; `None` at the end (or a torn last record from a kill).
fn read_record(r: &mut impl Read) -> Option<(DbKey, u64)> {
    let mut head = [0u8; 8];
    r.read_exact(&mut head).ok()?;
    let db = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if len > MAX_KEY_LEN {
        return None;
    }
    let mut key = vec![0u8; len as usize];
    r.read_exact(&mut key).ok()?;
    Some(((u64::from(db), key), 8 + u64::from(len)))
}

impl DirtySet {
    /// Opens the set in `dir` (created if missing) holding at most `cap` keys in
    /// memory; keys journaled by an earlier run are loaded (their count returned).
    pub(crate) fn open(dir: &Path, cap: usize) -> Result<(DirtySet, u64)> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating journal {}", dir.display())))?;
        let log_path = dir.join("dirty.log");
        let spill_path = dir.join("spill.log");
        let mut earlier = Vec::new();
        for p in [&log_path, &spill_path] {
            if let Ok(f) = File::open(p) {
                let mut r = BufReader::new(f);
                while let Some((k, _)) = read_record(&mut r) {
                    earlier.push(k);
                }
            }
        }
        let create = |p: &Path| {
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(p)
                .map(BufWriter::new)
                .map_err(io(format!("opening {}", p.display())))
        };
        let mut set = DirtySet {
            entries: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
            log: create(&log_path)?,
            log_path,
            log_bytes: 0,
            live_bytes: 0,
            spill: create(&spill_path)?,
            spill_path,
            spill_read: 0,
            spill_written: 0,
            spilled: 0,
            spilled_hashes: HashSet::new(),
        };
        for (db, key) in earlier {
            set.insert(db, key, None)?;
        }
        set.flush()?;
        let n = set.len();
        Ok((set, n))
    }

    /// Adds a key (a key already present keeps its first-seen time).
    pub(crate) fn insert(&mut self, db: u64, key: Vec<u8>, seen: Option<Instant>) -> Result<()> {
        let k = (db, key);
        if let Some(t) = self.entries.get_mut(&k) {
            if t.is_none() {
                *t = seen;
            }
            return Ok(());
        }
        let spill = self.entries.len() >= self.cap;
        if spill && self.spilled_hashes.contains(&key_hash(k.0, &k.1)) {
            return Ok(());
        }
        write_record(&mut self.log, k.0, &k.1)
            .map_err(io(format!("writing {}", self.log_path.display())))?;
        self.log_bytes += 8 + k.1.len() as u64;
        if spill {
            self.spilled_hashes.insert(key_hash(k.0, &k.1));
            write_record(&mut self.spill, k.0, &k.1)
                .map_err(io(format!("writing {}", self.spill_path.display())))?;
            self.spill_written += 8 + k.1.len() as u64;
            self.spilled += 1;
            return Ok(());
        }
        self.live_bytes += 8 + k.1.len() as u64;
        self.order.push_back(k.clone());
        self.entries.insert(k, seen);
        Ok(())
    }

    /// Takes up to `n` keys, oldest first (refilling memory from the spill file).
    pub(crate) fn take(&mut self, n: usize) -> Result<Vec<(DbKey, Option<Instant>)>> {
        if self.entries.len() < self.cap / 2 && self.spilled > 0 {
            self.unspill()?;
        }
        let mut out = Vec::with_capacity(n.min(self.order.len()));
        while out.len() < n {
            let Some(k) = self.order.pop_front() else {
                break;
            };
            if let Some(seen) = self.entries.remove(&k) {
                self.live_bytes = self.live_bytes.saturating_sub(8 + k.1.len() as u64);
                out.push((k, seen));
            }
        }
        Ok(out)
    }

    fn unspill(&mut self) -> Result<()> {
        self.spill
            .flush()
            .map_err(io(format!("writing {}", self.spill_path.display())))?;
        let mut f = File::open(&self.spill_path)
            .map_err(io(format!("reading {}", self.spill_path.display())))?;
        f.seek(SeekFrom::Start(self.spill_read))
            .map_err(io(format!("reading {}", self.spill_path.display())))?;
        let mut r = BufReader::new(f);
        while self.entries.len() < self.cap && self.spilled > 0 {
            let Some(((db, key), len)) = read_record(&mut r) else {
                break;
            };
            self.spill_read += len;
            self.spilled -= 1;
            self.spilled_hashes.remove(&key_hash(db, &key));
            let k = (db, key);
            if !self.entries.contains_key(&k) {
                // Journaled again: the spill file is emptied once read back.
                write_record(&mut self.log, k.0, &k.1)
                    .map_err(io(format!("writing {}", self.log_path.display())))?;
                self.log_bytes += 8 + k.1.len() as u64;
                self.live_bytes += 8 + k.1.len() as u64;
                self.order.push_back(k.clone());
                self.entries.insert(k, None);
            }
        }
        if self.spilled == 0 || self.spill_read >= self.spill_written {
            self.spilled = 0;
            self.spilled_hashes.clear();
            self.spill_read = 0;
            self.spill_written = 0;
            self.spill
                .get_mut()
                .set_len(0)
                .and_then(|()| self.spill.get_mut().seek(SeekFrom::Start(0)).map(|_| ()))
                .map_err(io(format!("truncating {}", self.spill_path.display())))?;
        }
        Ok(())
    }

    /// Keys waiting (in memory and spilled).
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64 + self.spilled
    }

    /// When the oldest waiting change was seen.
    pub(crate) fn oldest(&self) -> Option<Instant> {
        self.entries.values().flatten().min().copied()
    }

    /// Writes the journal out. `dirty.log` needs only the keys in memory (spilled
    /// ones are in `spill.log` until read back): it is emptied with the set, and
    /// rewritten with the keys in memory once it has grown past [`COMPACT_AFTER`]
    /// and four times their size, so that a set that never empties under load does
    /// not grow the file without end.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let ctx = || format!("writing {}", self.log_path.display());
        let compact = self.log_bytes > COMPACT_AFTER && self.log_bytes > 4 * self.live_bytes;
        if self.len() == 0 || compact {
            self.log.flush().map_err(io(ctx()))?;
            self.log
                .get_mut()
                .set_len(0)
                .and_then(|()| self.log.get_mut().seek(SeekFrom::Start(0)).map(|_| ()))
                .map_err(io(ctx()))?;
            self.log_bytes = 0;
            for (db, key) in self.order.iter().filter(|k| self.entries.contains_key(*k)) {
                write_record(&mut self.log, *db, key).map_err(io(ctx()))?;
                self.log_bytes += 8 + key.len() as u64;
            }
        }
        self.log.flush().map_err(io(ctx()))?;
        self.spill
            .flush()
            .map_err(io(format!("writing {}", self.spill_path.display())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbkit-dirty-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn dedup_spill_and_resume() {
        let d = dir("spill");
        let (mut set, loaded) = DirtySet::open(&d, 4).unwrap();
        assert_eq!(loaded, 0);
        for i in 0..10u32 {
            set.insert(0, format!("k{i}").into_bytes(), None).unwrap();
            set.insert(0, format!("k{i}").into_bytes(), None).unwrap();
        }
        set.insert(1, b"k0".to_vec(), None).unwrap();
        assert_eq!(set.len(), 11);
        set.flush().unwrap();
        drop(set);
        // A restart finds all of them (the kill left them journaled).
        let (mut set, loaded) = DirtySet::open(&d, 4).unwrap();
        assert_eq!(loaded, 11);
        let mut got = Vec::new();
        loop {
            let batch = set.take(3).unwrap();
            if batch.is_empty() {
                break;
            }
            got.extend(batch.into_iter().map(|(k, _)| k));
        }
        got.sort();
        got.dedup();
        assert_eq!(got.len(), 11);
        assert_eq!(set.len(), 0);
        set.flush().unwrap();
        drop(set);
        let (_, loaded) = DirtySet::open(&d, 4).unwrap();
        assert_eq!(loaded, 0);
        let _ = std::fs::remove_dir_all(&d);
    }
}
