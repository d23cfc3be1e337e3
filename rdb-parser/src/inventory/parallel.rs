//! Sequential framing, parallel analysis: the engine under [`inventory`](super::inventory)
//! and whole-file validation.
//!
//! One thread frames each file in turn (framing only skips length-prefixed bytes) and
//! sends batches of key records through a bounded channel; `rayon` workers take
//! batches and fold them into per-worker states. The bounded channel is the only
//! backpressure, so memory stays bounded whatever the speed difference. When the
//! channel is full the framing thread folds that batch itself instead of waiting,
//! so no core idles when analysis is slower than framing.
//!
//! Errors are exact: when a worker or the framer fails, framing stops, the batches
//! already sent are still analysed, and the error with the lowest (file, offset) is
//! returned, which is the first one in the file whatever the worker interleaving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::record::{KeyRecord, ParseOptions, Rdb, Record};

use super::FileInput;

/// A batch of key records from one file.
struct Batch<'a> {
    file: usize,
    keys: Vec<KeyRecord<'a>>,
}

/// An error with the index of the file it came from.
type FileError = (usize, Error);

/// How a run is split.
#[derive(Debug, Clone, Copy)]
pub struct Framing {
    /// Parser options.
    pub parse: ParseOptions,
    /// Key records per batch.
    pub batch_keys: usize,
}

/// Frames `files` and folds every key into per-worker states made by `init`, with
/// `per_key` run on rayon workers. `on_record` sees every non-key record on the
/// framing thread (with its file index); `progress` gets the bytes framed so far.
/// Returns the worker states (their number and the split of keys between them
/// depend on scheduling: fold results so that order does not matter).
pub fn fold_keys<'a, S, I, K, R>(
    files: &[FileInput<'a>],
    framing: Framing,
    init: I,
    per_key: K,
    mut on_record: R,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<S>>
where
    S: Send,
    I: Fn() -> S + Sync,
    K: Fn(&mut S, usize, &KeyRecord<'a>) -> Result<()> + Sync,
    R: FnMut(usize, &Record<'a>) + Send,
{
    let threads = rayon::current_num_threads().max(1);
    let (tx, rx) = sync_channel::<Batch<'a>>(threads * 2);
    let rx = Mutex::new(rx);
    let stop = AtomicBool::new(false);
    let states: Mutex<Vec<(S, Option<FileError>)>> = Mutex::new(Vec::new());
    let mut framed: Option<FileError> = None;
    let mut own = (init(), None);
    rayon::scope(|s| {
        for _ in 0..threads {
            s.spawn(|_| {
                let result = work(&rx, &init, &per_key, &stop);
                if let Ok(mut all) = states.lock() {
                    all.push(result);
                }
            });
        }
        let mut fold_here = |batch: Batch<'a>| {
            fold_batch(&mut own.0, &mut own.1, &batch, &per_key, &stop);
        };
        framed = frame(
            files,
            framing,
            &tx,
            &stop,
            &mut on_record,
            &mut fold_here,
            progress,
        )
        .err();
        drop(tx);
    });
    let mut first = framed;
    if let Ok(mut all) = states.lock() {
        all.push(own);
    }
    let mut out = Vec::new();
    for (state, err) in states.into_inner().unwrap_or_default() {
        if let Some((file, e)) = err {
            if first
                .as_ref()
                .is_none_or(|(f, fe)| (file, e.offset()) < (*f, fe.offset()))
            {
                first = Some((file, e));
            }
        }
        out.push(state);
    }
    match first {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

fn work<'a, S, I, K>(
    rx: &Mutex<Receiver<Batch<'a>>>,
    init: &I,
    per_key: &K,
    stop: &AtomicBool,
) -> (S, Option<FileError>)
where
    I: Fn() -> S,
    K: Fn(&mut S, usize, &KeyRecord<'a>) -> Result<()>,
{
    let mut state = init();
    let mut failed: Option<FileError> = None;
    loop {
        let batch = match rx.lock() {
            Ok(r) => r.recv(),
            Err(_) => break,
        };
        let Ok(batch) = batch else { break };
        fold_batch(&mut state, &mut failed, &batch, per_key, stop);
    }
    (state, failed)
}

/// Folds the keys of `batch` into `state`, keeping the first error in `failed`.
fn fold_batch<'a, S, K>(
    state: &mut S,
    failed: &mut Option<FileError>,
    batch: &Batch<'a>,
    per_key: &K,
    stop: &AtomicBool,
) where
    K: Fn(&mut S, usize, &KeyRecord<'a>) -> Result<()>,
{
    for key in &batch.keys {
        // After this state's first failure, later keys of its batches cannot come
        // before it; other batches still run so earlier errors are found.
        if failed
            .as_ref()
            .is_some_and(|(f, e)| (batch.file, key.offset) > (*f, e.offset()))
        {
            break;
        }
        if let Err(e) = per_key(state, batch.file, key) {
            stop.store(true, Ordering::Relaxed);
            if failed
                .as_ref()
                .is_none_or(|(f, fe)| (batch.file, e.offset()) < (*f, fe.offset()))
            {
                *failed = Some((batch.file, e));
            }
            break;
        }
    }
}

/// Sends `batch` to the workers, or folds it on this thread with `fold_here` when the
/// channel is full. `false` when the workers are gone.
fn hand_over<'a>(
    tx: &SyncSender<Batch<'a>>,
    batch: Batch<'a>,
    fold_here: &mut dyn FnMut(Batch<'a>),
) -> bool {
    match tx.try_send(batch) {
        Ok(()) => true,
        Err(TrySendError::Full(batch)) => {
            fold_here(batch);
            true
        }
        Err(TrySendError::Disconnected(_)) => false,
    }
}

fn frame<'a, R: FnMut(usize, &Record<'a>)>(
    files: &[FileInput<'a>],
    framing: Framing,
    tx: &SyncSender<Batch<'a>>,
    stop: &AtomicBool,
    on_record: &mut R,
    fold_here: &mut dyn FnMut(Batch<'a>),
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<(), FileError> {
    let batch_keys = framing.batch_keys.max(1);
    let mut done = 0u64;
    for (file, f) in files.iter().enumerate() {
        let rdb = Rdb::with_options(f.data, framing.parse).map_err(|e| (file, e))?;
        let mut records = rdb.records();
        let mut batch = Vec::with_capacity(batch_keys);
        while let Some(record) = records.next() {
            match record.map_err(|e| (file, e))? {
                Record::Key(k) => {
                    batch.push(k);
                    if batch.len() >= batch_keys {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_keys));
                        if !hand_over(tx, Batch { file, keys: full }, fold_here) {
                            return Ok(());
                        }
                        progress(done + records.offset());
                    }
                }
                other => on_record(file, &other),
            }
        }
        if !batch.is_empty() && !hand_over(tx, Batch { file, keys: batch }, fold_here) {
            return Ok(());
        }
        done += f.data.len() as u64;
        progress(done);
    }
    Ok(())
}
