//! Framing records from any [`Read`] (standard input, a decompressor, a download) in
//! bounded memory.
//!
//! [`RdbStream`] reads into a buffer, frames as many whole records as the buffer holds
//! with the slice framer ([`Records`]: one opcode walk for both paths) and hands them
//! out as a [`Chunk`]; the partial record at the end of the buffer is kept for the next
//! refill. A record larger than the buffer grows it for that record only, up to
//! [`StreamOptions::max_record_len`]. Offsets in errors are absolute input offsets, the
//! same as the slice framer reports for the same bytes: a "need more bytes" failure
//! (the input ran out inside the buffer) is retried after a refill, and only reported
//! once the input itself has ended, when the buffer holds everything the slice framer
//! would have seen. The CRC-64 is computed over the bytes as they are released and
//! checked at the trailer; nothing in a chunk is handed out before it was framed.

use std::io::{self, Read};

use crate::aux::AuxInfo;
use crate::crc::Crc64;
use crate::error::{Error, ErrorKind};
use crate::header::{Header, HEADER_LEN};
use crate::record::{Eof, ParseOptions, Record, Records};

/// Default buffer size: 1 MiB.
pub const DEFAULT_BUFFER_SIZE: usize = 1 << 20;

/// Default limit of one record's size (key, value and the opcodes before it): 1 GiB,
/// twice Redis' largest bulk string (`proto-max-bulk-len`, 512 MB).
pub const DEFAULT_MAX_RECORD_LEN: usize = 1 << 30;

/// Bytes sniffed to name a non-RDB input, as [`sniff`](crate::header::sniff) reads them.
const SNIFF_LEN: usize = 1024;

/// Stream options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Parser options (CRC-64 verification).
    pub parse: ParseOptions,
    /// Bytes read ahead; a chunk holds the whole records that fit.
    pub buffer_size: usize,
    /// Largest record the buffer grows to hold; a larger one fails with
    /// [`ErrorKind::LimitExceeded`] at the record's offset.
    pub max_record_len: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            parse: ParseOptions::default(),
            buffer_size: DEFAULT_BUFFER_SIZE,
            max_record_len: DEFAULT_MAX_RECORD_LEN,
        }
    }
}

/// Why a stream stopped: the bytes are not a valid snapshot, or reading them failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The bytes read are not a valid RDB file (offsets as the slice framer reports them).
    #[error(transparent)]
    Parse(#[from] Error),
    /// The source failed (a broken pipe, a decompression error, a dropped download).
    #[error("reading the input failed at offset {offset}: {source}")]
    Io {
        /// Input offset of the first byte not read.
        offset: u64,
        /// The source's error.
        #[source]
        source: io::Error,
    },
}

impl StreamError {
    /// Input offset of the failure.
    pub fn offset(&self) -> u64 {
        match self {
            StreamError::Parse(e) => e.offset(),
            StreamError::Io { offset, .. } => *offset,
        }
    }
}

/// A run of whole records of a streamed input, already framed (and, when it holds the
/// `EOF` record, with the CRC-64 checked).
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    data: &'a [u8],
    base: u64,
    db: u64,
    header: Header,
    eof: Option<Eof>,
}

impl<'a> Chunk<'a> {
    /// The records of this chunk (the same records, offsets and `EOF` as the slice
    /// framer yields for these bytes of the whole file).
    pub fn records(&self) -> Records<'a> {
        Records::resume(self.data, self.base, self.header, self.db, self.eof, true)
    }

    /// The chunk's bytes.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Input offset of the chunk's first byte.
    pub fn offset(&self) -> u64 {
        self.base
    }

    /// Input offset just past the chunk.
    pub fn end(&self) -> u64 {
        self.base + self.data.len() as u64
    }
}

/// A [`Chunk`] that owns its bytes, to hand to another thread.
#[derive(Debug, Clone)]
pub struct OwnedChunk {
    data: Vec<u8>,
    base: u64,
    db: u64,
    header: Header,
    eof: Option<Eof>,
}

impl OwnedChunk {
    /// The chunk, borrowed.
    pub fn as_chunk(&self) -> Chunk<'_> {
        Chunk {
            data: &self.data,
            base: self.base,
            db: self.db,
            header: self.header,
            eof: self.eof,
        }
    }
}

/// Where the framer stands.
#[derive(Debug)]
enum State {
    Framing,
    /// Records before the error were handed out; the error comes next.
    Failed(Error),
    Done,
}

/// The end of one framing pass over the buffer.
struct Framed {
    end: usize,
    db: u64,
    eof: Option<Eof>,
}

/// An RDB file framed from a [`Read`], chunk by chunk, in memory bounded by the buffer
/// (and the largest record).
pub struct RdbStream<R> {
    src: R,
    /// `buf[..filled]` holds input bytes from offset `base`; `buf[..start]` was handed out.
    buf: Vec<u8>,
    filled: usize,
    start: usize,
    base: u64,
    /// `buf[..crc_done]` is in `crc`.
    crc_done: usize,
    crc: Crc64,
    src_done: bool,
    header: Header,
    options: StreamOptions,
    db: u64,
    state: State,
}

impl<R> std::fmt::Debug for RdbStream<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdbStream")
            .field("header", &self.header)
            .field("offset", &(self.base + self.start as u64))
            .field("buffered", &(self.filled - self.start))
            .finish()
    }
}

impl<R: Read> RdbStream<R> {
    /// Reads and checks the header of `src` (the same errors as
    /// [`Header::parse`] on the whole input).
    pub fn new(src: R, options: StreamOptions) -> Result<RdbStream<R>, StreamError> {
        let mut stream = RdbStream {
            src,
            buf: vec![0; options.buffer_size.max(HEADER_LEN)],
            filled: 0,
            start: 0,
            base: 0,
            crc_done: 0,
            crc: Crc64::new(),
            src_done: false,
            header: Header {
                family: crate::header::Family::Redis,
                version: 0,
            },
            options,
            db: 0,
            state: State::Framing,
        };
        stream.fill_to(HEADER_LEN)?;
        let header = match Header::parse(&stream.buf[..stream.filled]) {
            Ok(h) => h,
            Err(e) => {
                if matches!(e.kind(), ErrorKind::BadMagic | ErrorKind::NotRdb(_)) {
                    // What the input is, told from as many bytes as the slice path sees.
                    stream.grow_to(SNIFF_LEN);
                    stream.fill_to(SNIFF_LEN)?;
                    Header::parse(&stream.buf[..stream.filled])?;
                }
                return Err(e.into());
            }
        };
        stream.header = header;
        stream.start = HEADER_LEN;
        Ok(stream)
    }

    /// The file header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Input bytes handed out so far (chunks, header).
    pub fn offset(&self) -> u64 {
        self.base + self.start as u64
    }

    /// The AUX fields at the start of the input (up to the first key), read ahead
    /// without consuming anything.
    pub fn aux(&mut self) -> Result<AuxInfo, StreamError> {
        self.compact();
        loop {
            let data = &self.buf[..self.filled];
            let base = self.base;
            let mut records = Records::resume(data, base, self.header, self.db, None, false);
            let mut fields = Vec::new();
            let outcome = loop {
                match records.next() {
                    Some(Ok(Record::Aux(a))) => fields.push(a),
                    Some(Ok(Record::Key(_) | Record::Eof(_))) | None => break Ok(()),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => break Err(e),
                }
            };
            match outcome {
                Ok(()) => return Ok(AuxInfo::from_fields(&fields)?),
                Err(e) if self.needs_more(&e) => self.refill_bigger()?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next chunk of whole records, `None` after the `EOF` record (or an error).
    pub fn next_chunk(&mut self) -> Result<Option<Chunk<'_>>, StreamError> {
        let Some(framed) = self.frame_ahead(&mut |_| {})? else {
            return Ok(None);
        };
        self.start = framed.end;
        Ok(Some(Chunk {
            data: &self.buf[..framed.end],
            base: self.base,
            db: framed.db,
            header: self.header,
            eof: framed.eof,
        }))
    }

    /// Like [`next_chunk`](RdbStream::next_chunk), owning its bytes (the buffer is
    /// handed over, so only the partial record after the chunk is copied).
    /// `on_record` sees each record of the chunk once, in order, on this thread.
    pub fn next_owned_chunk(
        &mut self,
        on_record: &mut dyn FnMut(&Record<'_>),
    ) -> Result<Option<OwnedChunk>, StreamError> {
        let Some(framed) = self.frame_ahead(on_record)? else {
            return Ok(None);
        };
        self.crc_to(framed.end);
        let tail = self.filled - framed.end;
        let mut next = vec![0; self.options.buffer_size.max(tail).max(HEADER_LEN)];
        next[..tail].copy_from_slice(&self.buf[framed.end..self.filled]);
        let mut data = std::mem::replace(&mut self.buf, next);
        data.truncate(framed.end);
        let chunk = OwnedChunk {
            data,
            base: self.base,
            db: framed.db,
            header: self.header,
            eof: framed.eof,
        };
        self.base += framed.end as u64;
        self.filled = tail;
        self.start = 0;
        self.crc_done = 0;
        Ok(Some(chunk))
    }

    /// Frames whole records from `buf[0..]` (after releasing what was handed out),
    /// refilling and growing the buffer until at least one record is whole.
    fn frame_ahead(
        &mut self,
        on_record: &mut dyn FnMut(&Record<'_>),
    ) -> Result<Option<Framed>, StreamError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Framing => self.state = State::Framing,
            State::Failed(e) => return Err(e.into()),
            State::Done => return Ok(None),
        }
        self.compact();
        loop {
            if self.filled < self.buf.len() {
                self.fill_to(self.buf.len())?;
            }
            let chunk_db = self.db;
            let base = self.base;
            let mut records = Records::resume(
                &self.buf[..self.filled],
                base,
                self.header,
                chunk_db,
                None,
                false,
            );
            let mut end = 0usize;
            let mut db = chunk_db;
            let stop = loop {
                match records.next() {
                    Some(Ok(Record::Eof(eof))) => break Ok(eof),
                    Some(Ok(record)) => {
                        if let Record::SelectDb { db: d } = record {
                            db = d;
                        }
                        on_record(&record);
                        end = (records.offset() - base) as usize;
                    }
                    Some(Err(e)) => break Err(e),
                    // The framer ends only after EOF or an error.
                    None => break Err(Error::new(ErrorKind::Corrupt, base, "record")),
                }
            };
            let trailer_end = (records.offset() - base) as usize;
            match stop {
                Ok(eof) => match self.finish(eof, trailer_end) {
                    Ok(eof) => {
                        on_record(&Record::Eof(eof));
                        self.state = State::Done;
                        self.db = db;
                        return Ok(Some(Framed {
                            end: trailer_end,
                            db: chunk_db,
                            eof: Some(eof),
                        }));
                    }
                    Err(StreamError::Parse(e)) => return self.fail(e, end, db, chunk_db),
                    Err(e) => return Err(e),
                },
                Err(e) if self.needs_more(&e) => {
                    if end > 0 {
                        self.db = db;
                        return Ok(Some(Framed {
                            end,
                            db: chunk_db,
                            eof: None,
                        }));
                    }
                    self.refill_bigger()?;
                }
                Err(e) => return self.fail(e, end, db, chunk_db),
            }
        }
    }

    /// Hands out the records before a failure first, like the slice framer does.
    fn fail(
        &mut self,
        e: Error,
        end: usize,
        db: u64,
        chunk_db: u64,
    ) -> Result<Option<Framed>, StreamError> {
        if end == 0 {
            self.state = State::Done;
            return Err(e.into());
        }
        self.state = State::Failed(e);
        self.db = db;
        Ok(Some(Framed {
            end,
            db: chunk_db,
            eof: None,
        }))
    }

    /// Checks the CRC-64 of everything up to the `EOF` opcode and counts the bytes
    /// after the trailer (reading the source to its end).
    fn finish(&mut self, mut eof: Eof, trailer_end: usize) -> Result<Eof, StreamError> {
        let eof_end = (eof.offset + 1 - self.base) as usize;
        self.crc_to(eof_end);
        if let Some(stored) = eof.stored_checksum {
            if self.options.parse.verify_checksum && stored != 0 {
                let computed = self.crc.value();
                if computed != stored {
                    return Err(Error::new(
                        ErrorKind::ChecksumMismatch { stored, computed },
                        eof.offset + 1,
                        "CRC-64 trailer",
                    )
                    .into());
                }
                eof.checksum_verified = true;
            }
        }
        let mut trailing = (self.filled - trailer_end) as u64;
        if !self.src_done {
            let mut scratch = [0u8; 8192];
            loop {
                match self.src.read(&mut scratch) {
                    Ok(0) => break,
                    Ok(n) => trailing += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(source) => {
                        return Err(StreamError::Io {
                            offset: self.base + self.filled as u64 + trailing,
                            source,
                        })
                    }
                }
            }
            self.src_done = true;
        }
        eof.trailing_bytes = trailing;
        Ok(eof)
    }

    /// Whether `e` may only mean that the buffer ended, not the input.
    fn needs_more(&self, e: &Error) -> bool {
        !self.src_done
            && matches!(
                e.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::LengthOverflow
            )
    }

    /// Reads more into the buffer, doubling it when full (up to the record limit).
    fn refill_bigger(&mut self) -> Result<(), StreamError> {
        if self.filled == self.buf.len() {
            let limit = self.options.max_record_len.max(HEADER_LEN);
            if self.buf.len() >= limit {
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    self.base + self.start as u64,
                    "record (longer than the stream's maximum record length)",
                )
                .into());
            }
            let len = self.buf.len().saturating_mul(2).clamp(64, limit);
            self.grow_to(len);
        }
        self.fill_to(self.buf.len())
    }

    fn grow_to(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    /// Releases the bytes handed out: they go into the CRC and the rest moves to the
    /// front; a buffer grown for one large record shrinks back.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.crc_to(self.start);
        self.buf.copy_within(self.start..self.filled, 0);
        self.filled -= self.start;
        self.base += self.start as u64;
        self.start = 0;
        self.crc_done = 0;
        let size = self.options.buffer_size.max(HEADER_LEN);
        if self.buf.len() > size && self.filled <= size {
            self.buf.truncate(size);
            self.buf.shrink_to_fit();
        }
    }

    fn crc_to(&mut self, end: usize) {
        if end > self.crc_done {
            self.crc.update(&self.buf[self.crc_done..end]);
            self.crc_done = end;
        }
    }

    /// Reads until `buf[..want]` is filled or the source ends.
    fn fill_to(&mut self, want: usize) -> Result<(), StreamError> {
        let want = want.min(self.buf.len());
        while self.filled < want && !self.src_done {
            match self.src.read(&mut self.buf[self.filled..want]) {
                Ok(0) => self.src_done = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(StreamError::Io {
                        offset: self.base + self.filled as u64,
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}
