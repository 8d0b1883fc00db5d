//! The fuzz targets' bodies, one function per target, shared by the
//! libFuzzer binaries (`fuzz/fuzz_targets/*.rs`) and the stable replay test
//! (`tests/fuzz_replay.rs`), so the corpora CI replays exercise exactly the
//! code the fuzzers ran. Each function takes raw fuzz bytes, must never
//! panic, and asserts the invariants its code promises.

pub mod client;
pub mod command;
pub mod config;
pub mod steer;

/// Every target: (name, entry), as the folders under `fuzz/corpus/` and
/// `fuzz/regressions/` are named.
/// A target's body.
pub type Entry = fn(&[u8]);

pub const TARGETS: &[(&str, Entry)] = &[
    ("policy_scan", config::policy_scan),
    ("redactor", config::redactor),
    ("fbconf_reader", config::fbconf_reader),
    ("opamp_vars", config::opamp_vars),
    ("client_session", client::client_session),
    ("steer_candidate", steer::steer_candidate),
    ("steer_destinations", steer::steer_destinations),
    ("command_request", command::command_request),
];

/// Splits fuzz bytes into a few selector bytes and text, the way every
/// target reads its input.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Input { bytes }
    }

    /// The next byte, or 0 when none is left.
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    /// A length from the next two bytes, big-endian.
    pub fn len16(&mut self) -> usize {
        usize::from(u16::from_be_bytes([self.byte(), self.byte()]))
    }

    /// Up to `n` bytes.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// Bytes up to the next `sep` (consumed), or all that is left.
    pub fn field(&mut self, sep: u8) -> &'a [u8] {
        match self.bytes.iter().position(|&b| b == sep) {
            Some(i) => {
                let head = &self.bytes[..i];
                self.bytes = &self.bytes[i + 1..];
                head
            }
            None => self.take(self.bytes.len()),
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        self.take(self.bytes.len())
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// libFuzzer's panic hook aborts on every panic. The config reader catches
/// the YAML parser's own panics on purpose (`fbconf::yaml::parse` turns
/// them into parse errors), so those unwind to it; any other panic still
/// aborts and counts as a crash.
pub fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_yaml = info
                .location()
                .is_some_and(|l| l.file().contains("libyaml-safer"));
            if !in_yaml {
                abort(info);
            }
        }));
    });
}
