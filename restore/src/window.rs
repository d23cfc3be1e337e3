//! The pipelining window of one connection: the batches sent on it and not yet
//! answered, bounded by a count and by bytes. Restore and verify workers both keep one:
//! the window has to cover the round trip to a distant target, while the byte bound
//! keeps memory (and the target's reply buffers) in check when values are large.

use std::collections::VecDeque;

use crossbeam_channel::{Receiver, TryRecvError};

/// Batches sent on one connection and not answered yet, oldest first.
pub(crate) struct Window<T> {
    pending: VecDeque<(T, usize)>,
    bytes: usize,
    depth: usize,
    max_bytes: usize,
    closed: bool,
}

impl<T> Window<T> {
    /// At most `depth` batches in flight, and no new one once `max_bytes` are (one
    /// batch always goes, however large).
    pub(crate) fn new(depth: usize, max_bytes: usize) -> Window<T> {
        Window {
            pending: VecDeque::new(),
            bytes: 0,
            depth: depth.max(1),
            max_bytes,
            closed: false,
        }
    }

    /// The next batch to send, when the window has room for it. Waits on `rx` only
    /// when nothing is in flight (otherwise the replies come first). `None`: no room,
    /// nothing ready yet, or the channel is closed ([`Window::is_closed`]).
    pub(crate) fn next_batch<B>(&mut self, rx: &Receiver<B>) -> Option<B> {
        let full = self.pending.len() >= self.depth
            || (!self.pending.is_empty() && self.bytes >= self.max_bytes);
        if self.closed || full {
            return None;
        }
        let next = if self.pending.is_empty() {
            rx.recv().ok()
        } else {
            match rx.try_recv() {
                Ok(b) => Some(b),
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => None,
            }
        };
        self.closed = next.is_none();
        next
    }

    /// Records a batch of `bytes` as sent.
    pub(crate) fn push(&mut self, sent: T, bytes: usize) {
        self.bytes += bytes;
        self.pending.push_back((sent, bytes));
    }

    /// The oldest batch in flight, now to be answered.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let (sent, bytes) = self.pending.pop_front()?;
        self.bytes = self.bytes.saturating_sub(bytes);
        Some(sent)
    }

    /// The channel is closed: no batch will come any more.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crossbeam_channel::unbounded;

    #[test]
    fn bounded_by_count_then_bytes_and_closes() {
        let (tx, rx) = unbounded();
        for i in 0..10u32 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let mut w = Window::new(3, 100);
        let mut sent = Vec::new();
        while let Some(b) = w.next_batch(&rx) {
            w.push(b, 10);
            sent.push(b);
        }
        assert_eq!(sent, [0, 1, 2], "three in flight at most");
        assert_eq!(w.pop(), Some(0));
        // 20 bytes in flight, under 100: one more.
        let b = w.next_batch(&rx).unwrap();
        w.push(b, 500);
        assert_eq!(w.next_batch(&rx), None, "over the byte bound");
        assert_eq!((w.pop(), w.pop(), w.pop()), (Some(1), Some(2), Some(3)));
        // Empty: a batch goes whatever its size.
        let b = w.next_batch(&rx).unwrap();
        w.push(b, 10_000);
        assert_eq!(w.pop(), Some(4));
        let mut rest = Vec::new();
        while let Some(b) = w.next_batch(&rx) {
            rest.push(b);
            w.push(b, 1);
            w.pop();
        }
        assert_eq!(rest, [5, 6, 7, 8, 9]);
        assert!(w.is_closed());
        assert_eq!(w.next_batch(&rx), None);
    }
}
