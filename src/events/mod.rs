//! Management events as records in Fluent Bit's own pipeline.
//!
//! Whoever manages the agent (the agent thread, the commands) calls
//! [`emit`] with an [`Event`]; the record is encoded at once, on the
//! caller's thread, and waits in a bounded queue. Fluent Bit's proxy
//! collector (`FLBPluginInputCallback`, once a second) takes everything
//! waiting with [`drain`] and appends it under the input's tag.
//!
//! This room sits low in the house: it knows nothing of the agent, the
//! remote config or the FFI. The agent pushes, the plugin drains.
//!
//! Bounds: at most [`CAPACITY`] records wait, each at most
//! [`MAX_REASON`] bytes of reason; when full the oldest goes, and the
//! next drain starts with an `events_dropped` record that counts what was
//! lost. Nothing waits while the feature is off.

mod queue;
mod record;
#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

pub use queue::{Queue, CAPACITY};
pub use record::MAX_REASON;

/// What happened. The record's `event` field is [`Kind::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Connected,
    Disconnected,
    ConfigOffered,
    ConfigRefused,
    ConfigApplied,
    ConfigFailed,
    ConfigRolledBack,
    CommandReceived,
    CommandDone,
    CommandRefused,
    TemporaryChangeReverted,
    ConnectionSettingsChanged,
    /// Made by the queue itself: records were lost to the bound.
    EventsDropped,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Connected => "connected",
            Kind::Disconnected => "disconnected",
            Kind::ConfigOffered => "config_offered",
            Kind::ConfigRefused => "config_refused",
            Kind::ConfigApplied => "config_applied",
            Kind::ConfigFailed => "config_failed",
            Kind::ConfigRolledBack => "config_rolled_back",
            Kind::CommandReceived => "command_received",
            Kind::CommandDone => "command_done",
            Kind::CommandRefused => "command_refused",
            Kind::TemporaryChangeReverted => "temporary_change_reverted",
            Kind::ConnectionSettingsChanged => "connection_settings_changed",
            Kind::EventsDropped => "events_dropped",
        }
    }

    /// The outcome an event of this kind has unless the caller says.
    fn default_outcome(self) -> Outcome {
        match self {
            Kind::ConfigOffered | Kind::CommandReceived => Outcome::Pending,
            Kind::ConfigRefused | Kind::CommandRefused => Outcome::Refused,
            Kind::ConfigFailed | Kind::ConfigRolledBack | Kind::Disconnected => Outcome::Failed,
            _ => Outcome::Ok,
        }
    }
}

/// The record's `outcome` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Pending,
    Refused,
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Pending => "pending",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// One management event, built by its emitter:
/// `Event::new(Kind::CommandDone).field("command", "health")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: Kind,
    pub outcome: Outcome,
    pub reason: Option<String>,
    /// Further fields, in order; keys are fixed by the emitter's code
    /// (never taken from the network), so no key can leak a value.
    pub fields: Vec<(&'static str, Value)>,
}

/// A field's value: text, or a count that log tools can sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Count(u64),
}

impl Event {
    pub fn new(kind: Kind) -> Event {
        Event {
            kind,
            outcome: kind.default_outcome(),
            reason: None,
            fields: Vec::new(),
        }
    }

    pub fn outcome(mut self, outcome: Outcome) -> Event {
        self.outcome = outcome;
        self
    }

    /// Why: an error or a refusal, for people. Empty text is left out.
    pub fn reason(mut self, reason: impl Into<String>) -> Event {
        let r = reason.into();
        self.reason = (!r.is_empty()).then_some(r);
        self
    }

    pub fn field(mut self, key: &'static str, value: impl Into<String>) -> Event {
        self.fields.push((key, Value::Text(value.into())));
        self
    }

    pub fn count(mut self, key: &'static str, n: u64) -> Event {
        self.fields.push((key, Value::Count(n)));
        self
    }

    /// A hash as lower-case hex, the form the logs and the state use.
    pub fn hash(self, key: &'static str, bytes: &[u8]) -> Event {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push(DIGITS[(b >> 4) as usize] as char);
            hex.push(DIGITS[(b & 15) as usize] as char);
        }
        self.field(key, hex)
    }
}

/// What every record shares, set by the agent.
#[derive(Default)]
struct Context {
    instance_uid: String,
    /// Values that must never reach a record (header values and the like),
    /// longest first: any occurrence in a reason or field is masked.
    secrets: Vec<String>,
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static CONTEXT: Mutex<Context> = Mutex::new(Context {
    instance_uid: String::new(),
    secrets: Vec::new(),
});
static QUEUE: Mutex<Queue> = Mutex::new(Queue::new());
/// Whether records wait, readable without the lock. Written only while
/// the queue's lock is held, so it never says "empty" over a record.
static PENDING: AtomicBool = AtomicBool::new(false);

/// The `events` property. Off drops whatever waits: an operator who turns
/// it off wants no more records.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    if !on {
        let mut q = lock(&QUEUE);
        q.clear();
        PENDING.store(false, Ordering::Release);
    }
}

pub fn set_instance_uid(uid: &str) {
    lock(&CONTEXT).instance_uid = uid.to_string();
}

/// Replaces the values masked in every record from now on.
pub fn set_secrets(mut values: Vec<String>) {
    values.retain(|v| !v.is_empty());
    values.sort_by_key(|v| std::cmp::Reverse(v.len()));
    values.dedup();
    lock(&CONTEXT).secrets = values;
}

/// Queues a record of `event`, unless events are off. Never blocks for
/// long: encoding happens before the queue's lock is taken.
pub fn emit(event: Event) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let bytes = {
        let ctx = lock(&CONTEXT);
        record::encode(&event, &ctx.instance_uid, &ctx.secrets, SystemTime::now())
    };
    let mut q = lock(&QUEUE);
    q.push(bytes);
    PENDING.store(true, Ordering::Release);
}

/// Whether a drain would return anything: one atomic load, for the
/// collector's idle path.
pub fn has_pending() -> bool {
    PENDING.load(Ordering::Acquire)
}

/// Everything waiting, as one buffer of records; `None` when nothing
/// waits or the queue is busy this instant (the next call takes it: the
/// host's callback must not wait).
pub fn drain() -> Option<Vec<u8>> {
    if !has_pending() {
        return None;
    }
    let mut q = match QUEUE.try_lock() {
        Ok(q) => q,
        Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return None,
    };
    let dropped = q.take_dropped();
    let mut out = Vec::with_capacity(q.bytes() + 128);
    if dropped > 0 {
        let note = Event::new(Kind::EventsDropped)
            .outcome(Outcome::Failed)
            .reason(format!(
                "{dropped} event(s) lost: more than {CAPACITY} waited for Fluent Bit's collector"
            ))
            .count("dropped", dropped)
            .count("dropped_total", q.dropped_total());
        // `emit` never holds this lock and the queue's together, and holds
        // it for one encode (well under a microsecond): no deadlock, and no
        // wait the host's thread would notice.
        let uid = lock(&CONTEXT).instance_uid.clone();
        out.extend(record::encode(&note, &uid, &[], SystemTime::now()));
    }
    q.drain_into(&mut out);
    PENDING.store(false, Ordering::Release);
    (!out.is_empty()).then_some(out)
}

/// Records lost to the bound since the process started.
pub fn dropped_total() -> u64 {
    lock(&QUEUE).dropped_total()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
