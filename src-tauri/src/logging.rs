//! Structured logs to a daily-rotated file in the app's log directory, and a
//! panic report file beside them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Log files kept before the oldest is deleted.
const KEEP_FILES: usize = 14;
/// Lines waiting for the log writer's thread.
const LOG_QUEUE_LINES: usize = 4096;

/// Keeps the log writer's worker alive; dropping it flushes the last lines.
pub struct LogGuard(#[allow(dead_code)] WorkerGuard);

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

pub fn init(dir: &Path) -> anyhow::Result<LogGuard> {
    std::fs::create_dir_all(dir)?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("upzento-phone")
        .filename_suffix("log")
        .max_log_files(KEEP_FILES)
        .build(dir)?;
    // tracing-appender's default queue holds 128,000 lines, allocated and touched up
    // front: 4 MiB resident for the app's whole life. 4,096 lines (128 KiB) absorb any
    // burst the file cannot keep up with; past that, lines are dropped, not waited for.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .lossy(true)
        .finish(appender);
    let filter = EnvFilter::try_from_env("UPZENTO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,upzento=debug,upzento_phone=debug"));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_ansi(false),
        )
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .try_init()?;
    install_panic_hook(dir.to_path_buf());
    Ok(LogGuard(guard))
}

/// On a panic, writes `panic-<unix ms>.txt` with the message, place and backtrace,
/// then runs the default hook.
fn install_panic_hook(dir: PathBuf) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let thread = std::thread::current();
        let report = format!(
            "Upzento Phone {} panicked on thread {:?}\n{info}\n\nBacktrace:\n{backtrace}\n",
            env!("CARGO_PKG_VERSION"),
            thread.name().unwrap_or("<unnamed>"),
        );
        tracing::error!(%info, "panic");
        let path = dir.join(format!("panic-{millis}.txt"));
        if let Ok(mut file) = std::fs::File::create(&path) {
            let _ = file.write_all(report.as_bytes());
        }
        default(info);
    }));
}
