//! [`ObjectReader`]: one object as a blocking `Read`, fetched ahead by ranged GETs.

use std::collections::VecDeque;
use std::io::Read;

use object_store::{GetOptions, GetRange};
use tokio::task::JoinHandle;

use super::{StorageError, Store, READ_AHEAD, READ_CHUNK};

type Fetch = JoinHandle<object_store::Result<bytes::Bytes>>;

/// One object read in order; up to [`READ_AHEAD`] ranged GETs of [`READ_CHUNK`] bytes
/// are in flight ahead of the reader, so memory stays bounded whatever the object's
/// size. Every GET carries the object's ETag seen at open (`If-Match`): an object
/// replaced mid-read fails with [`StorageError::Changed`] instead of mixing versions.
pub struct ObjectReader {
    store: Store,
    size: u64,
    e_tag: Option<String>,
    /// Offset of the next range to request.
    next: u64,
    /// Requests in flight, in order, with their start offsets.
    pending: VecDeque<(u64, Fetch)>,
    current: bytes::Bytes,
    pos: usize,
    /// Bytes handed to the reader so far.
    delivered: u64,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("url", &self.store.url)
            .field("size", &self.size)
            .field("delivered", &self.delivered)
            .finish()
    }
}

impl ObjectReader {
    pub(super) fn new(store: Store) -> Result<ObjectReader, StorageError> {
        let url = store.url.clone();
        let meta = match store.block_on(store.store.head(&store.path(&url.key)), "reading", &url) {
            Err(StorageError::NotFound { hint, .. }) => {
                return Err(StorageError::NotFound {
                    url: url.to_string(),
                    hint: store.similar(&url).unwrap_or(hint),
                })
            }
            other => other?,
        };
        let mut reader = ObjectReader {
            store,
            size: meta.size,
            e_tag: meta.e_tag,
            next: 0,
            pending: VecDeque::new(),
            current: bytes::Bytes::new(),
            pos: 0,
            delivered: 0,
        };
        reader.fill();
        Ok(reader)
    }

    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Starts requests until [`READ_AHEAD`] are in flight or the object is covered.
    fn fill(&mut self) {
        while self.pending.len() < READ_AHEAD && self.next < self.size {
            let start = self.next;
            let end = (start + READ_CHUNK).min(self.size);
            let options = GetOptions {
                range: Some(GetRange::Bounded(start..end)),
                if_match: self.e_tag.clone(),
                ..GetOptions::default()
            };
            let store = self.store.store.clone();
            let path = self.store.path(&self.store.url.key);
            let fetch = self
                .store
                .runtime
                .spawn(async move { store.get_opts(&path, options).await?.bytes().await });
            self.pending.push_back((start, fetch));
            self.next = end;
        }
    }

    /// The next chunk, in order; `Ok(false)` at the end of the object.
    fn next_chunk(&mut self) -> Result<bool, StorageError> {
        let Some((start, fetch)) = self.pending.pop_front() else {
            return Ok(false);
        };
        let url = self.store.url.clone();
        let joined = async {
            fetch.await.unwrap_or_else(|e| {
                Err(object_store::Error::Generic {
                    store: "rdbkit",
                    source: Box::new(e),
                })
            })
        };
        let chunk = match self.store.block_on(joined, "reading", &url) {
            Err(StorageError::Changed { url, .. }) => {
                return Err(StorageError::Changed { url, offset: start })
            }
            other => other?,
        };
        let expected = (start + READ_CHUNK).min(self.size) - start;
        if chunk.len() as u64 != expected {
            return Err(StorageError::Request {
                url: url.to_string(),
                op: "reading",
                detail: format!(
                    "the server sent {} bytes for the {expected} at offset {start}: read it again",
                    chunk.len()
                ),
            });
        }
        self.current = chunk;
        self.pos = 0;
        self.fill();
        Ok(true)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        self.delivered += n as u64;
        Ok(n)
    }
}

impl Drop for ObjectReader {
    fn drop(&mut self) {
        for (_, fetch) in &self.pending {
            fetch.abort();
        }
    }
}
