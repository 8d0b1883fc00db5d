//! Our own `${opamp.…}` variables in remote configs: a set of named values,
//! some secret, expanded into the config map before the policy and the dry
//! run see it.
//!
//! Pure: no IO, no clock. Any feature that hands remote configs a value
//! (other connections today, packages later) adds names under its own
//! prefix and merges its set into the one the apply pipeline uses.
//!
//! Why a config is refused rather than passed through: Fluent Bit's own
//! `${NAME}` expansion (`flb_env_var_translate`) turns an unknown name into
//! nothing, with at most a warning. A `${opamp.…}` left in a file Fluent Bit
//! reads would silently become an empty host or header, so every name under
//! the `opamp.` prefix (any case) must be known here, or the config FAILS
//! naming it. Other `${…}` references are Fluent Bit's and stay as written.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::proto::AgentConfigMap;

/// Every name of ours starts with this (compared without case).
pub const PREFIX: &str = "opamp.";

#[derive(Clone, PartialEq, Eq, Hash)]
struct Value {
    text: String,
    secret: bool,
}

/// Named values; `Debug` never shows a value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Vars {
    map: BTreeMap<String, Value>,
    /// Name prefixes that exist but cannot be used now, with why (a
    /// package that failed to install): a reference fails naming it.
    unavailable: BTreeMap<String, String>,
}

impl fmt::Debug for Vars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.map.keys()).finish()
    }
}

/// Why a text could not be expanded. Never carries a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarError {
    /// `${opamp.…}` with a name that is not defined.
    Unknown(String),
    /// `${opamp.` without its closing `}`.
    Unclosed(String),
    /// A name under a prefix that cannot be used now: (name, why).
    Unavailable(String, String),
}

impl fmt::Display for VarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VarError::Unknown(n) => write!(
                f,
                "the config references the variable ${{{n}}}, which this agent does not have \
                 (no such destination, package or setting was offered)"
            ),
            VarError::Unavailable(n, why) => {
                write!(
                    f,
                    "the config references ${{{n}}}, which cannot be used: {why}"
                )
            }
            VarError::Unclosed(n) => {
                write!(f, "the config has '${{{n}' without its closing '}}'")
            }
        }
    }
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// `name` without `${}`, e.g. `opamp.other.logs.host`.
    pub fn insert(&mut self, name: &str, value: &str, secret: bool) {
        let v = Value {
            text: value.to_string(),
            secret,
        };
        self.map.insert(name.to_string(), v);
    }

    /// Marks every name starting with `prefix` as unusable for `why`
    /// (unless a value of that name is defined).
    pub fn insert_unavailable(&mut self, prefix: &str, why: &str) {
        self.unavailable.insert(prefix.to_string(), why.to_string());
    }

    /// Adds every value of `other` (its names win).
    pub fn merge(&mut self, other: &Vars) {
        for (k, v) in &other.map {
            self.map.insert(k.clone(), v.clone());
        }
        for (k, v) in &other.unavailable {
            self.unavailable.insert(k.clone(), v.clone());
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|v| v.text.as_str())
    }

    /// (name, value, secret), by name.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.map
            .iter()
            .map(|(k, v)| (k.as_str(), v.text.as_str(), v.secret))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The secret values, longest first (so a value that contains another
    /// is masked whole).
    pub fn secret_values(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .map
            .values()
            .filter(|v| v.secret && !v.text.is_empty())
            .map(|v| v.text.clone())
            .collect();
        v.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        v.dedup();
        v
    }

    /// `text` with every `${opamp.…}` replaced by its value.
    pub fn expand(&self, text: &str) -> Result<String, VarError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            if !is_ours(after) {
                // Fluent Bit's own variable, or plain text: as written.
                out.push_str("${");
                rest = after;
                continue;
            }
            // A name ends at '}'; a line break first means it never closes.
            let end = after
                .find(['}', '\n'])
                .filter(|&e| after[e..].starts_with('}'));
            let Some(end) = end else {
                let name: String = after.chars().take_while(|c| !c.is_whitespace()).collect();
                return Err(VarError::Unclosed(clip(&name)));
            };
            let name = &after[..end];
            match self.map.get(name) {
                Some(v) => out.push_str(&v.text),
                None => return Err(self.missing(name)),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn missing(&self, name: &str) -> VarError {
        let why = self
            .unavailable
            .iter()
            .find(|(p, _)| name.starts_with(p.as_str()))
            .map(|(_, why)| why.clone());
        match why {
            Some(why) => VarError::Unavailable(clip(name), why),
            None => VarError::Unknown(clip(name)),
        }
    }

    /// Expands every file of a config map; the error names the file.
    pub fn expand_map(&self, map: AgentConfigMap) -> Result<AgentConfigMap, String> {
        let mut out = AgentConfigMap::default();
        for (key, mut file) in map.config_map {
            let Ok(text) = std::str::from_utf8(&file.body) else {
                // The policy refuses text it cannot read; leave it to say so.
                out.config_map.insert(key, file);
                continue;
            };
            if references(text) {
                let shown = if key.is_empty() {
                    "the main file"
                } else {
                    &key
                };
                let expanded = self
                    .expand(text)
                    .map_err(|e| format!("{}: {e}", shown.escape_default()))?;
                file.body = expanded.into_bytes();
            }
            out.config_map.insert(key, file);
        }
        Ok(out)
    }

    /// What expanding `map` gives, as a number: equal numbers mean a new
    /// set of values would render the same files, so nothing needs to run.
    pub fn render_key(&self, map: &AgentConfigMap) -> u64 {
        let mut h = DefaultHasher::new();
        for (k, f) in &map.config_map {
            k.hash(&mut h);
            match std::str::from_utf8(&f.body).map(|t| self.expand(t)) {
                Ok(Ok(t)) => t.hash(&mut h),
                Ok(Err(e)) => e.to_string().hash(&mut h),
                Err(_) => f.body.hash(&mut h),
            }
        }
        h.finish()
    }

    /// `text` with every secret value replaced by `marker`: for anything
    /// that may quote a rendered config (dry-run errors, reports).
    pub fn redact(&self, text: &str, marker: &str) -> String {
        crate::fbconf::text::mask_values(text, &self.secret_values(), marker)
    }
}

/// Whether `text` (just after `${`) names one of ours.
fn is_ours(after: &str) -> bool {
    after
        .get(..PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
}

/// Whether a config text uses any of our variables.
pub fn references(text: &str) -> bool {
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        if is_ours(&rest[i + 2..]) {
            return true;
        }
        rest = &rest[i + 2..];
    }
    false
}

/// Whether any file of a map uses our variables.
pub fn map_references(map: &AgentConfigMap) -> bool {
    map.config_map
        .values()
        .any(|f| std::str::from_utf8(&f.body).is_ok_and(references))
}

/// Names come from config text the server wrote: bounded and escaped in
/// messages.
fn clip(name: &str) -> String {
    let short: String = name.chars().take(120).collect();
    short.escape_default().to_string()
}

#[cfg(test)]
#[path = "vars_tests.rs"]
mod tests;
