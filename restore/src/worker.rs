//! The per-node worker of restore, verify (and sync): one connection to one node,
//! batches pipelined through a [`Window`], replies read in order, and a lost
//! connection survived. What a batch *is* (`RESTORE`s, `DUMP` + `PEXPIRETIME`, copies
//! or deletes) is the [`NodeOp`] the worker is given; the loop is written once.
//!
//! When the connection fails (a node killed or restarted, a proxy cutting it), the
//! batches in flight are handed back to the operation in order ([`NodeOp::reroute`]:
//! it settles them through the router, [`crate::delivery`], to whichever node owns
//! each key now), the worker reconnects once, and while its node stays away every
//! further batch goes the same way: after a failover the keys reach the new master.
//! The retry policy ([`crate::delivery::Retry`]) and the node deadline live there.

use crossbeam_channel::Receiver;

use crate::target::{Connection, Target};
use crate::window::Window;

/// How a step of the worker went.
pub(crate) enum Flow {
    /// On to the next batch.
    Go,
    /// The connection failed (what it carried is settled already, or is to be).
    Lost,
    /// The run is over (a fatal error, already recorded).
    Stop,
}

/// One kind of work a [`NodeWorker`] pipelines.
pub(crate) trait NodeOp {
    /// What the dispatcher hands the worker.
    type Batch;
    /// A batch sent (or taken to be sent) and not yet answered.
    type InFlight;

    /// Whether the run is stopping: no further batch is sent.
    fn stopped(&self) -> bool;

    /// A new connection to the node (the first, or after a loss).
    fn connected(&mut self, conn: &mut Connection);

    /// Whether everything in flight must be answered before `batch` is sent (its
    /// content depends on earlier answers).
    fn drains(&self, _batch: &Self::Batch) -> bool {
        false
    }

    /// Sends `batch`: the in-flight record, and [`Flow::Lost`] when the connection
    /// failed while sending ([`Flow::Stop`]: the run is over).
    fn send(&mut self, conn: &mut Connection, batch: Self::Batch) -> (Self::InFlight, Flow);

    /// A batch taken from the queue that was never sent.
    fn not_sent(&mut self, batch: Self::Batch) -> Self::InFlight;

    /// Bytes the window counts for `f`.
    fn bytes(&self, f: &Self::InFlight) -> usize;

    /// Reads the replies of the oldest batch in flight and accounts them;
    /// [`Flow::Lost`] when the connection failed (the batch is then settled already).
    fn collect(&mut self, conn: &mut Connection, f: Self::InFlight) -> Flow;

    /// Settles a batch without the worker's connection (through the router).
    fn reroute(&mut self, f: Self::InFlight) -> Flow;
}

/// One worker: one connection to one node, up to `depth` batches (and about
/// `max_bytes`) in flight; see the [module docs](self).
pub(crate) struct NodeWorker<'t, O> {
    /// The node.
    pub(crate) target: &'t Target,
    /// What it pipelines.
    pub(crate) op: O,
    /// Batches in flight at most.
    pub(crate) depth: usize,
    /// Bytes in flight beyond which no further batch is sent before a reply.
    pub(crate) max_bytes: usize,
}

impl<O: NodeOp> NodeWorker<'_, O> {
    /// Runs until the queue closes or the run stops.
    pub(crate) fn run(self, rx: Receiver<O::Batch>) {
        let NodeWorker { target, mut op, .. } = self;
        let mut window: Window<O::InFlight> = Window::new(self.depth, self.max_bytes);
        let mut conn = target.connect().ok();
        if let Some(c) = conn.as_mut() {
            op.connected(c);
        }
        loop {
            let Some(c) = conn.as_mut() else {
                // The node is gone: every batch goes through the router.
                if op.stopped() {
                    return;
                }
                let Ok(batch) = rx.recv() else { return };
                let f = op.not_sent(batch);
                if let Flow::Stop = op.reroute(f) {
                    return;
                }
                continue;
            };
            let mut lost = false;
            while !op.stopped() && !lost {
                let Some(batch) = window.next_batch(&rx) else {
                    break;
                };
                if op.drains(&batch) {
                    while let Some(f) = window.pop() {
                        match op.collect(c, f) {
                            Flow::Go => {}
                            Flow::Lost => {
                                lost = true;
                                break;
                            }
                            Flow::Stop => return,
                        }
                    }
                    if lost {
                        let f = op.not_sent(batch);
                        window.push(f, 0);
                        break;
                    }
                }
                let (f, flow) = op.send(c, batch);
                let bytes = op.bytes(&f);
                window.push(f, bytes);
                match flow {
                    Flow::Go => {}
                    Flow::Lost => lost = true,
                    Flow::Stop => return,
                }
            }
            if !lost {
                let Some(f) = window.pop() else {
                    if window.is_closed() || op.stopped() {
                        return;
                    }
                    continue;
                };
                match op.collect(c, f) {
                    Flow::Go => continue,
                    Flow::Lost => {}
                    Flow::Stop => return,
                }
            }
            // The connection is lost: what is in flight is settled in order (a
            // checkpoint moves batch by batch), then one reconnection is tried.
            while let Some(f) = window.pop() {
                if let Flow::Stop = op.reroute(f) {
                    return;
                }
            }
            conn = target.connect().ok();
            if let Some(c) = conn.as_mut() {
                op.connected(c);
            }
        }
    }
}
