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
//! A streamed input ([`Source::Stream`]) is framed chunk by chunk: the framing thread
//! sees every record once and hands each chunk of whole records to a worker, which
//! walks it again for its keys; memory is the channel's chunks, not the input.
//!
//! Errors are exact: when a worker or the framer fails, framing stops, the batches
//! already sent are still analysed, and the error with the lowest (file, offset) is
//! returned, which is the first one in the file whatever the worker interleaving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

use crate::error::{Error, Result};
use crate::record::{KeyRecord, ParseOptions, Rdb, Record};
use crate::stream::{OwnedChunk, StreamError};

use super::{Input, Source};

/// Key records from one file: framed already, or a chunk of a stream to walk.
enum Work<'a> {
    Keys(Vec<KeyRecord<'a>>),
    Chunk(OwnedChunk),
}

/// A batch of work from one file.
struct Batch<'a> {
    file: usize,
    work: Work<'a>,
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
    files: &mut [Input<'a>],
    framing: Framing,
    init: I,
    per_key: K,
    mut on_record: R,
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<Vec<S>, StreamError>
where
    S: Send,
    I: Fn() -> S + Sync,
    K: for<'k> Fn(&mut S, usize, &KeyRecord<'k>) -> Result<()> + Sync,
    R: for<'r> FnMut(usize, &Record<'r>) + Send,
{
    let threads = rayon::current_num_threads().max(1);
    let (tx, rx) = sync_channel::<Batch<'a>>(threads * 2);
    let rx = Mutex::new(rx);
    let stop = AtomicBool::new(false);
    let states: Mutex<Vec<(S, Option<FileError>)>> = Mutex::new(Vec::new());
    let mut framed: Option<(usize, StreamError)> = None;
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
                first = Some((file, e.into()));
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
    K: for<'k> Fn(&mut S, usize, &KeyRecord<'k>) -> Result<()>,
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
fn fold_batch<S, K>(
    state: &mut S,
    failed: &mut Option<FileError>,
    batch: &Batch<'_>,
    per_key: &K,
    stop: &AtomicBool,
) where
    K: for<'k> Fn(&mut S, usize, &KeyRecord<'k>) -> Result<()>,
{
    let file = batch.file;
    let mut fold = |key: Result<&KeyRecord<'_>>| -> bool {
        let result = key.and_then(|key| {
            // After this state's first failure, later keys of its batches cannot come
            // before it; other batches still run so earlier errors are found.
            if failed
                .as_ref()
                .is_some_and(|(f, e)| (file, key.offset) > (*f, e.offset()))
            {
                return Ok(false);
            }
            per_key(state, file, key).map(|()| true)
        });
        match result {
            Ok(go_on) => go_on,
            Err(e) => {
                stop.store(true, Ordering::Relaxed);
                if failed
                    .as_ref()
                    .is_none_or(|(f, fe)| (file, e.offset()) < (*f, fe.offset()))
                {
                    *failed = Some((file, e));
                }
                false
            }
        }
    };
    match &batch.work {
        Work::Keys(keys) => {
            for key in keys {
                if !fold(Ok(key)) {
                    break;
                }
            }
        }
        Work::Chunk(chunk) => {
            for record in chunk.as_chunk().records() {
                let go_on = match record {
                    Ok(Record::Key(key)) => fold(Ok(&key)),
                    Ok(_) => true,
                    Err(e) => fold(Err(e)),
                };
                if !go_on {
                    break;
                }
            }
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

fn frame<'a, R: for<'r> FnMut(usize, &Record<'r>)>(
    files: &mut [Input<'a>],
    framing: Framing,
    tx: &SyncSender<Batch<'a>>,
    stop: &AtomicBool,
    on_record: &mut R,
    fold_here: &mut dyn FnMut(Batch<'a>),
    progress: &(dyn Fn(u64) + Sync),
) -> std::result::Result<(), (usize, StreamError)> {
    let batch_keys = framing.batch_keys.max(1);
    let mut done = 0u64;
    for (file, f) in files.iter_mut().enumerate() {
        let data = match &mut f.source {
            Source::Bytes(data) => *data,
            Source::Stream(stream) => {
                let mut on_chunk_record = |r: &Record<'_>| {
                    if !matches!(r, Record::Key(_)) {
                        on_record(file, r);
                    }
                };
                loop {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    let chunk = stream
                        .next_owned_chunk(&mut on_chunk_record)
                        .map_err(|e| (file, e))?;
                    let Some(chunk) = chunk else { break };
                    let end = chunk.as_chunk().end();
                    let batch = Batch {
                        file,
                        work: Work::Chunk(chunk),
                    };
                    if !hand_over(tx, batch, fold_here) {
                        return Ok(());
                    }
                    progress(done + end);
                }
                done += stream.offset();
                continue;
            }
        };
        let rdb = Rdb::with_options(data, framing.parse).map_err(|e| (file, e.into()))?;
        let mut records = rdb.records();
        let mut batch = Vec::with_capacity(batch_keys);
        while let Some(record) = records.next() {
            match record.map_err(|e| (file, e.into()))? {
                Record::Key(k) => {
                    batch.push(k);
                    if batch.len() >= batch_keys {
                        if stop.load(Ordering::Relaxed) {
                            return Ok(());
                        }
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_keys));
                        let batch = Batch {
                            file,
                            work: Work::Keys(full),
                        };
                        if !hand_over(tx, batch, fold_here) {
                            return Ok(());
                        }
                        progress(done + records.offset());
                    }
                }
                other => on_record(file, &other),
            }
        }
        if !batch.is_empty() {
            let batch = Batch {
                file,
                work: Work::Keys(batch),
            };
            if !hand_over(tx, batch, fold_here) {
                return Ok(());
            }
        }
        done += data.len() as u64;
        progress(done);
    }
    Ok(())
}
