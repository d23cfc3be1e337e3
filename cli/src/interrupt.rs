//! Ctrl-C: the first one asks the running job to stop (it reads the replies of what
//! is in flight and prints what it did); a second one, or one with no job running,
//! exits at once with 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdb_restore::Progress;

/// Ctrl-C was pressed once.
static PRESSED: AtomicBool = AtomicBool::new(false);
/// A job that can be cancelled is running.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Runs `work` with Ctrl-C wired to `progress.cancel()`.
pub fn while_running<T: Send>(progress: &Progress, work: impl FnOnce() -> T + Send) -> T {
    let _ = ctrlc::set_handler(|| {
        if PRESSED.swap(true, Ordering::SeqCst) || !RUNNING.load(Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nrdbkit: interrupted: reading the replies in flight, then the summary \
             (Ctrl-C again quits at once)"
        );
    });
    RUNNING.store(true, Ordering::SeqCst);
    let done = AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        // The handler cannot reach `progress` (it must be 'static): this thread
        // forwards the press.
        s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if PRESSED.load(Ordering::Relaxed) {
                    progress.cancel();
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        out
    });
    RUNNING.store(false, Ordering::SeqCst);
    out
}
