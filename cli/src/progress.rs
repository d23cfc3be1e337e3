//! A one-line progress display on stderr, drawn only on a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Shows how far through a file a long job is.
pub struct Progress {
    label: String,
    total: u64,
    enabled: bool,
    last: Instant,
    started: Instant,
}

impl Progress {
    /// A progress line for `label` over `total` bytes; silent when `quiet` or when
    /// stderr is not a terminal.
    pub fn new(label: &str, total: u64, quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            total,
            enabled: !quiet && std::io::stderr().is_terminal(),
            last: now,
            started: now,
        }
    }

    /// Reports the current position (cheap: redraws at most 10 times a second).
    #[inline]
    pub fn update(&mut self, position: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = position as f64 / secs / (1024.0 * 1024.0);
        if self.total == 0 {
            // A stream of unknown length: bytes so far.
            let line = format!("{}: {} MiB ({rate:.0} MiB/s)", self.label, position >> 20);
            let _ = write!(std::io::stderr().lock(), "\r{}\x1b[K", fit(&line));
            return;
        }
        let pct = position as f64 * 100.0 / self.total as f64;
        let line = format!(
            "{}: {pct:5.1}% ({} / {} MiB, {rate:.0} MiB/s)",
            self.label,
            position >> 20,
            self.total >> 20
        );
        let _ = write!(std::io::stderr().lock(), "\r{}\x1b[K", fit(&line));
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.enabled {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
        }
    }
}

/// `line` cut to the terminal's width (less one column, so the cursor never wraps):
/// a wrapped progress line would leave a trail of copies behind.
pub fn fit(line: &str) -> &str {
    let width = terminal_size::terminal_size_of(std::io::stderr())
        .map_or(80, |(w, _)| usize::from(w.0))
        .saturating_sub(1)
        .max(10);
    match line.char_indices().nth(width) {
        Some((i, _)) => &line[..i],
        None => line,
    }
}
