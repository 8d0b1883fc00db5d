//! Logging that ends up in Fluent Bit's own log.
//!
//! The FFI layer installs a sink wrapping the host's `log_print` (whose
//! function pointer lives in the Fluent Bit binary and stays valid for the
//! life of the process) together with the level the instance asked for.
//! Until then, and in tests, messages go to stderr so nothing is lost.

use std::collections::VecDeque;
use std::sync::{Mutex, RwLock};

/// Fluent Bit's numeric log levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(i32)]
pub enum Level {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

pub type SinkFn = dyn Fn(Level, &str) + Send + Sync;

struct Sink {
    max: Level,
    write: Box<SinkFn>,
}

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Route messages at or below `max` to `write`.
pub fn install(max: Level, write: Box<SinkFn>) {
    if let Ok(mut s) = SINK.write() {
        *s = Some(Sink { max, write });
    }
}

/// Whether a message at `level` would be written; lets callers skip
/// building expensive strings.
pub fn enabled(level: Level) -> bool {
    match SINK.read() {
        Ok(s) => s
            .as_ref()
            .map(|s| level <= s.max)
            .unwrap_or(level <= Level::Info),
        Err(_) => true,
    }
}

pub fn log(level: Level, msg: &str) {
    let guard = match SINK.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    match guard.as_ref() {
        Some(sink) if level <= sink.max => (sink.write)(level, msg),
        Some(_) => {}
        None if level <= Level::Info => eprintln!("[{}] [input:opamp] {}", level.as_str(), msg),
        None => {}
    }
    drop(guard);
    if level <= Level::Info {
        remember(level, msg);
    }
}

/// Recent lines kept for `diagnostics`: what a support engineer asks for
/// first, without access to the host's log. Bounded in count and length.
/// Nothing secret is ever logged, so nothing secret is kept.
pub const RECENT_LINES: usize = 100;
const RECENT_LINE_BYTES: usize = 500;

static RECENT: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

fn remember(level: Level, msg: &str) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut cut = msg.len().min(RECENT_LINE_BYTES);
    while !msg.is_char_boundary(cut) {
        cut -= 1;
    }
    let line = format!("{secs} [{}] {}", level.as_str(), &msg[..cut]);
    let mut ring = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    if ring.len() == RECENT_LINES {
        ring.pop_front();
    }
    ring.push_back(line);
}

/// The plugin's recent log lines (info and above), oldest first: unix
/// seconds, level, message.
pub fn recent() -> Vec<String> {
    let ring = RECENT.lock().unwrap_or_else(|p| p.into_inner());
    ring.iter().cloned().collect()
}

#[macro_export]
macro_rules! log_at {
    ($lvl:expr, $($arg:tt)*) => {
        if $crate::logging::enabled($lvl) {
            $crate::logging::log($lvl, &format!($($arg)*));
        }
    };
}
#[macro_export]
macro_rules! error { ($($arg:tt)*) => { $crate::log_at!($crate::logging::Level::Error, $($arg)*) }; }
#[macro_export]
macro_rules! warn { ($($arg:tt)*) => { $crate::log_at!($crate::logging::Level::Warn, $($arg)*) }; }
#[macro_export]
macro_rules! info { ($($arg:tt)*) => { $crate::log_at!($crate::logging::Level::Info, $($arg)*) }; }
#[macro_export]
macro_rules! debug { ($($arg:tt)*) => { $crate::log_at!($crate::logging::Level::Debug, $($arg)*) }; }
