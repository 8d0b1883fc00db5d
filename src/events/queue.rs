//! The bounded queue of encoded records between the agent and Fluent
//! Bit's collector.

use std::collections::VecDeque;

/// Records that may wait. The collector takes them every second, so only
/// a burst (a flapping connection, a storm of commands) while Fluent Bit is
/// paused or reloading reaches this; each record is a few hundred bytes.
pub const CAPACITY: usize = 128;

/// Encoded records, oldest first. When full, the oldest goes: the newest
/// events say what the agent is doing now.
#[derive(Debug, Default)]
pub struct Queue {
    records: VecDeque<Vec<u8>>,
    bytes: usize,
    /// Lost since the last drain, and since the start.
    dropped: u64,
    dropped_total: u64,
}

impl Queue {
    pub const fn new() -> Queue {
        Queue {
            records: VecDeque::new(),
            bytes: 0,
            dropped: 0,
            dropped_total: 0,
        }
    }

    pub fn push(&mut self, record: Vec<u8>) {
        if self.records.len() >= CAPACITY {
            if let Some(old) = self.records.pop_front() {
                self.bytes -= old.len();
                self.dropped += 1;
                self.dropped_total += 1;
            }
        }
        self.bytes += record.len();
        self.records.push_back(record);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Bytes of the records waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Appends every record, oldest first, and empties the queue. The
    /// storage goes too: an idle agent holds no buffer.
    pub fn drain_into(&mut self, out: &mut Vec<u8>) {
        for r in self.records.drain(..) {
            out.extend_from_slice(&r);
        }
        self.records = VecDeque::new();
        self.bytes = 0;
    }

    pub fn clear(&mut self) {
        self.records = VecDeque::new();
        self.bytes = 0;
    }

    /// Lost since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped_total
    }
}
