//! [`ObjectWriter`]: a multipart upload as a blocking `Write`.

use std::collections::VecDeque;
use std::io::Write;

use object_store::{MultipartUpload, PutPayload};
use tokio::task::JoinHandle;

use super::{StorageError, Store, PARTS_IN_FLIGHT, PART_SIZE};

/// An object being uploaded: parts of [`PART_SIZE`] bytes go up as they fill (at
/// most [`PARTS_IN_FLIGHT`] at once, so memory stays bounded), and the object
/// becomes visible at its URL only when [`ObjectWriter::finish`] completes the
/// upload (S3 multipart upload, Azure block list). Dropped without `finish` (an
/// error, a refused input, Ctrl-C unwinding), the upload is aborted: nothing is
/// written at the destination, and an existing object there is left as it was.
pub struct ObjectWriter {
    store: Store,
    upload: Option<Box<dyn MultipartUpload>>,
    buf: Vec<u8>,
    in_flight: VecDeque<JoinHandle<object_store::Result<()>>>,
    written: u64,
    /// Parts sent so far.
    parts: usize,
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("url", &self.store.url)
            .field("written", &self.written)
            .finish()
    }
}

impl ObjectWriter {
    pub(super) fn new(store: Store) -> Result<ObjectWriter, StorageError> {
        let url = store.url.clone();
        let path = store.path(&url.key);
        let upload = store.block_on(store.store.put_multipart(&path), "writing", &url)?;
        Ok(ObjectWriter {
            store,
            upload: Some(upload),
            buf: Vec::new(),
            in_flight: VecDeque::new(),
            written: 0,
            parts: 0,
        })
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Sends the buffered bytes as one part.
    fn send_part(&mut self) -> Result<(), StorageError> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(self.closed());
        };
        let part = std::mem::take(&mut self.buf);
        let fut = upload.put_part(PutPayload::from(part));
        self.parts += 1;
        self.in_flight.push_back(self.store.runtime.spawn(fut));
        while self.in_flight.len() > PARTS_IN_FLIGHT {
            self.wait_one()?;
        }
        Ok(())
    }

    fn wait_one(&mut self) -> Result<(), StorageError> {
        let Some(handle) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let url = self.store.url.clone();
        let joined = async {
            handle.await.unwrap_or_else(|e| {
                Err(object_store::Error::Generic {
                    store: "rdbkit",
                    source: Box::new(e),
                })
            })
        };
        self.store.block_on(joined, "writing", &url)
    }

    fn closed(&self) -> StorageError {
        StorageError::Request {
            url: self.store.url.to_string(),
            op: "writing",
            detail: "the upload was already finished or aborted".to_string(),
        }
    }

    /// Uploads the rest and completes the upload: the object appears at its URL
    /// (replacing one there). On an error the upload is aborted.
    pub fn finish(mut self) -> Result<u64, StorageError> {
        // The last part may be short; an empty object is one empty part.
        if !self.buf.is_empty() || self.parts == 0 {
            self.send_part()?;
        }
        while !self.in_flight.is_empty() {
            self.wait_one()?;
        }
        let url = self.store.url.clone();
        let Some(mut upload) = self.upload.take() else {
            return Err(self.closed());
        };
        match self
            .store
            .block_on(upload.complete(), "completing the upload", &url)
        {
            Ok(_) => Ok(self.written),
            Err(e) => {
                self.upload = Some(upload);
                Err(e)
            }
        }
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = PART_SIZE - self.buf.len();
        let n = data.len().min(room);
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(PART_SIZE);
        }
        self.buf.extend_from_slice(&data[..n]);
        self.written += n as u64;
        if self.buf.len() == PART_SIZE {
            self.send_part()?;
        }
        Ok(n)
    }

    /// Parts go up when full; flushing earlier would make parts smaller than S3
    /// accepts, so this does nothing ([`ObjectWriter::finish`] sends the rest).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        let Some(mut upload) = self.upload.take() else {
            return;
        };
        for handle in &self.in_flight {
            handle.abort();
        }
        let url = self.store.url.clone();
        // Best effort: an upload that is never completed is not visible either way
        // (S3 lifecycle rules or Azure's 7-day expiry of uncommitted blocks clean it).
        let _ = self
            .store
            .block_on(upload.abort(), "aborting the upload", &url);
    }
}
