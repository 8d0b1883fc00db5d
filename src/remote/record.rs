//! The remote-config outcome kept in `state_dir`, so the server learns after
//! a restart what happened to its last config, and so a config that killed
//! Fluent Bit is never applied again.
//!
//! Plain `key=value` lines: an operator can read it, and a torn write is
//! impossible because it is replaced atomically.

use std::io;
use std::path::Path;

use crate::proto::{RemoteConfigStatus, RemoteConfigStatuses};
use crate::state_dir::write_atomic;

pub const FILE: &str = "remote_config.status";
/// Enough to stop any realistic back-and-forth of bad configs; bounded so
/// the file cannot grow without end.
pub const MAX_BLOCKED: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    pub hash: Vec<u8>,
    pub applied: bool,
    pub error: String,
    /// Hashes of configs that aborted Fluent Bit, newest last.
    pub blocked: Vec<Vec<u8>>,
}

impl Record {
    pub fn status(&self) -> RemoteConfigStatus {
        RemoteConfigStatus {
            last_remote_config_hash: self.hash.clone(),
            status: if self.applied {
                RemoteConfigStatuses::Applied
            } else {
                RemoteConfigStatuses::Failed
            } as i32,
            error_message: if self.applied {
                String::new()
            } else {
                self.error.clone()
            },
        }
    }

    pub fn block(&mut self, hash: &[u8]) {
        if !self.blocked.iter().any(|h| h == hash) {
            self.blocked.push(hash.to_vec());
        }
        let excess = self.blocked.len().saturating_sub(MAX_BLOCKED);
        self.blocked.drain(..excess);
    }

    pub fn encode(&self) -> String {
        let mut s = format!(
            "hash={}\nstatus={}\nerror={}\n",
            hex(&self.hash),
            if self.applied { "applied" } else { "failed" },
            escape(&self.error)
        );
        for b in &self.blocked {
            s.push_str(&format!("blocked={}\n", hex(b)));
        }
        s
    }

    pub fn decode(text: &str) -> Option<Record> {
        let mut r = Record::default();
        let mut seen_status = false;
        for line in text.lines() {
            let (k, v) = line.split_once('=')?;
            match k {
                "hash" => r.hash = unhex(v)?,
                "status" => {
                    r.applied = v == "applied";
                    seen_status = true;
                }
                "error" => r.error = unescape(v),
                "blocked" => r.blocked.push(unhex(v)?),
                _ => {}
            }
        }
        seen_status.then_some(r)
    }
}

pub fn load(state_dir: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(state_dir.join(FILE)).ok()?;
    Record::decode(&text)
}

pub fn store(state_dir: &Path, r: &Record) -> io::Result<()> {
    write_atomic(&state_dir.join(FILE), r.encode().as_bytes())
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => u8::from_str_radix(std::str::from_utf8(&[*hi, *lo]).ok()?, 16).ok(),
            _ => None,
        })
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_multi_line_errors_and_blocks() {
        let mut r = Record {
            hash: vec![0xab, 0x01],
            applied: false,
            error: "line 1\nC:\\x = y".into(),
            blocked: vec![],
        };
        r.block(&[1]);
        r.block(&[2]);
        r.block(&[1]);
        let back = Record::decode(&r.encode()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.blocked, vec![vec![1], vec![2]]);
        assert_eq!(r.status().status, RemoteConfigStatuses::Failed as i32);
        assert_eq!(r.status().error_message, "line 1\nC:\\x = y");
    }

    #[test]
    fn blocked_list_is_bounded_keeping_the_newest() {
        let mut r = Record::default();
        for i in 0..40u8 {
            r.block(&[i]);
        }
        assert_eq!(r.blocked.len(), MAX_BLOCKED);
        assert_eq!(r.blocked.last().unwrap(), &vec![39]);
        assert_eq!(r.blocked[0], vec![8]);
    }

    #[test]
    fn garbage_is_no_record() {
        assert_eq!(Record::decode("nonsense"), None);
        assert_eq!(Record::decode("hash=zz\nstatus=applied\n"), None);
    }
}
