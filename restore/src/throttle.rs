//! `--max-ops` / `--max-bytes`: token buckets paced by the framer before each batch
//! goes out (so the whole run, every connection together, stays under the rates).

use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        let rate = rate.max(1) as f64;
        Bucket {
            rate,
            // A tenth of a second of burst keeps the pace smooth.
            capacity: (rate / 10.0).max(1.0),
            tokens: 0.0,
            last: Instant::now(),
        }
    }

    /// Takes `n` tokens; returns how long to wait for the debt to be paid.
    fn take(&mut self, n: f64) -> Duration {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity) - n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Rate limits for operations (commands) and bytes per second.
#[derive(Debug)]
pub struct Throttle {
    ops: Option<Bucket>,
    bytes: Option<Bucket>,
}

impl Throttle {
    /// Limits (per second); `None` is unlimited.
    pub fn new(max_ops: Option<u64>, max_bytes: Option<u64>) -> Throttle {
        Throttle {
            ops: max_ops.map(Bucket::new),
            bytes: max_bytes.map(Bucket::new),
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.ops.is_some() || self.bytes.is_some()
    }

    /// Blocks until `ops` commands carrying `bytes` bytes may go out.
    pub fn wait(&mut self, ops: u64, bytes: u64) {
        let a = self
            .ops
            .as_mut()
            .map_or(Duration::ZERO, |b| b.take(ops as f64));
        let b = self
            .bytes
            .as_mut()
            .map_or(Duration::ZERO, |b| b.take(bytes as f64));
        let pause = a.max(b);
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn paces_operations() {
        let mut t = Throttle::new(Some(200), None);
        let start = Instant::now();
        for _ in 0..20 {
            t.wait(10, 0);
        }
        // 200 operations at 200/s: about a second (minus the small burst).
        let e = start.elapsed().as_secs_f64();
        assert!((0.8..2.0).contains(&e), "{e}");
        assert!(!Throttle::new(None, None).is_limited());
    }
}
