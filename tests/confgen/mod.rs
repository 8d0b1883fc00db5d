//! A seeded grammar of Fluent Bit configs, classic and YAML, for the
//! differential test in tests/fbconf_fuzz.rs. The same seed always gives
//! the same files (own PRNG, no hash maps), so a seed number is enough to
//! replay a case.
//!
//! It aims at the places where a reader could see something other than
//! Fluent Bit does: comments, quotes, escapes, line breaks (LF, CRLF, CR,
//! LS), tabs, a BOM, includes and globs, `@SET` and environment
//! variables, YAML flow style, anchors and aliases, tags, block scalars,
//! several documents, processors and the spellings of plugin names.

mod classic;
mod yaml;

/// Environment variables every case may use; the runner sets them for
/// Fluent Bit and for the reader alike.
pub const ENV: &[(&str, &str)] = &[
    ("FZ_IN", "dummy"),
    ("FZ_OUT", "null"),
    ("FZ_FILTER", "grep"),
    ("FZ_EXEC", "exec"),
];

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// splitmix64.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True once in `n` times.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Input,
    Filter,
    Output,
}

/// Plugin names of each kind, as the test binaries have them, plus names
/// no build has (Fluent Bit must refuse those).
pub fn base_name(rng: &mut Rng, kind: Kind) -> &'static str {
    match kind {
        _ if rng.one_in(20) => "nosuch",
        Kind::Input => rng.pick(&["dummy", "dummy", "exec", "fluentbit_metrics"]),
        Kind::Filter => rng.pick(&["grep", "grep", "modify", "record_modifier"]),
        Kind::Output => rng.pick(&["null", "null", "stdout"]),
    }
}

/// One way to write a plugin name: case, `://` suffixes, white space.
pub fn spelling(rng: &mut Rng, name: &str) -> String {
    match rng.below(10) {
        0 => name.to_ascii_uppercase(),
        1 => name
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect(),
        2 => format!("{name}://127.0.0.1"),
        3 => format!("{name}://"),
        _ => name.to_string(),
    }
}

/// The plugins the test builds have, by kind (`Kind` order).
pub const KNOWN: [&[&str]; 3] = [
    &[
        "dummy",
        "exec",
        "fluentbit_metrics",
        "tail",
        "http",
        "tcp",
        "forward",
    ],
    &["grep", "modify", "record_modifier", "parser"],
    &[
        "null",
        "stdout",
        "file",
        "forward",
        "http",
        "tcp",
        "opentelemetry",
    ],
];

/// The environment variable that holds a plugin of this kind, if any.
pub fn env_var_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Input => "FZ_IN",
        Kind::Filter => "FZ_FILTER",
        Kind::Output => "FZ_OUT",
    }
}

/// A generated config: files (the first is the main file) by relative
/// path, and whether it has processors (which `--dry-run` cannot list).
pub struct Case {
    pub yaml: bool,
    pub files: Vec<(String, Vec<u8>)>,
    pub processors: bool,
}

/// Seeds below 2^32 are classic, the rest YAML; see [`seed_of`].
pub fn generate(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    if seed >> 32 == 0 {
        classic::case(&mut rng)
    } else {
        yaml::case(&mut rng)
    }
}

/// The seed of the `i`th case of a format.
pub fn seed_of(yaml: bool, i: u64) -> u64 {
    if yaml {
        (1 << 32) | i
    } else {
        i
    }
}

/// Joins lines with a break style chosen for the file.
pub fn join(rng: &mut Rng, lines: &[String]) -> Vec<u8> {
    let br = match rng.below(12) {
        0 => "\r\n",
        1 => "\r",
        2 => "\u{2028}",
        _ => "\n",
    };
    let mut text = String::new();
    if rng.one_in(10) {
        text.push('\u{feff}');
    }
    for l in lines {
        text.push_str(l);
        text.push_str(br);
    }
    if rng.one_in(8) {
        text.pop();
    }
    text.into_bytes()
}
