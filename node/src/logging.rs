//! Logging to standard error that can never stop the node.
//!
//! A line that cannot be written (a full disk under a redirected stderr, a closed
//! pipe) is dropped and counted (`customs_log_lines_dropped_total`). The formatter's
//! own fallback is switched off: it reports a failed write with `eprintln!`, which
//! panics when stderr itself is failing.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

static LINES_DROPPED: AtomicU64 = AtomicU64::new(0);

/// Log lines dropped since the process started.
pub fn lines_dropped() -> u64 {
    LINES_DROPPED.load(Ordering::Relaxed)
}

/// Standard error, with failures counted instead of reported.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if std::io::stderr().lock().write_all(buf).is_err() {
            LINES_DROPPED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Logs to standard error at `default_level` unless RUST_LOG says otherwise.
pub fn init(default_level: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(|| Stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .log_internal_errors(false)
        .init();
}
