//! A small msgpack reader for tests, written from the spec independently of
//! the plugin's encoder, so a test that decodes the plugin's records checks
//! the encoding rather than repeating it. Shared by the unit tests of
//! `src/events` (through `#[path]`) and the C host test.

#![allow(dead_code)]

#[derive(Debug, Clone, PartialEq)]
pub enum Mp {
    Nil,
    Bool(bool),
    Uint(u64),
    Int(i64),
    Float(f64),
    Str(String),
    Bin(Vec<u8>),
    Array(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
    Ext(i8, Vec<u8>),
}

impl Mp {
    /// The value under string key `k` of a map.
    pub fn get(&self, k: &str) -> Option<&Mp> {
        match self {
            Mp::Map(m) => m
                .iter()
                .find(|(key, _)| matches!(key, Mp::Str(s) if s == k))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        match self.get(k)? {
            Mp::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn uint(&self, k: &str) -> Option<u64> {
        match self.get(k)? {
            Mp::Uint(n) => Some(*n),
            _ => None,
        }
    }
}

/// Every value in `buf`, one after another; an error names the offset of
/// the first byte that does not decode.
pub fn decode_all(buf: &[u8]) -> Result<Vec<Mp>, String> {
    let mut r = Reader { buf, at: 0 };
    let mut out = Vec::new();
    while r.at < buf.len() {
        out.push(r.value()?);
    }
    Ok(out)
}

/// A Fluent Bit record `[EventTime, {map}]`: the time as (seconds,
/// nanoseconds) and the map.
pub fn as_record(v: &Mp) -> Result<((u32, u32), &Mp), String> {
    let Mp::Array(a) = v else {
        return Err(format!("record is not an array: {v:?}"));
    };
    let [Mp::Ext(0, t), body @ Mp::Map(_)] = a.as_slice() else {
        return Err(format!("record is not [EventTime, map]: {v:?}"));
    };
    if t.len() != 8 {
        return Err(format!("EventTime of {} bytes", t.len()));
    }
    let sec = u32::from_be_bytes(t[..4].try_into().unwrap());
    let nsec = u32::from_be_bytes(t[4..].try_into().unwrap());
    Ok(((sec, nsec), body))
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.buf.len());
        let end = end.ok_or_else(|| format!("truncated at {}", self.at))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn be(&mut self, n: usize) -> Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |a, b| a << 8 | *b as u64))
    }

    fn str(&mut self, n: usize) -> Result<Mp, String> {
        let at = self.at;
        let b = self.take(n)?.to_vec();
        String::from_utf8(b)
            .map(Mp::Str)
            .map_err(|_| format!("str at {at} is not UTF-8"))
    }

    fn array(&mut self, n: usize) -> Result<Mp, String> {
        (0..n)
            .map(|_| self.value())
            .collect::<Result<_, _>>()
            .map(Mp::Array)
    }

    fn map(&mut self, n: usize) -> Result<Mp, String> {
        let mut m = Vec::with_capacity(n);
        for _ in 0..n {
            m.push((self.value()?, self.value()?));
        }
        Ok(Mp::Map(m))
    }

    fn ext(&mut self, n: usize) -> Result<Mp, String> {
        let t = self.take(1)?[0] as i8;
        Ok(Mp::Ext(t, self.take(n)?.to_vec()))
    }

    fn value(&mut self) -> Result<Mp, String> {
        let at = self.at;
        let b = self.take(1)?[0];
        match b {
            0x00..=0x7f => Ok(Mp::Uint(b as u64)),
            0x80..=0x8f => self.map((b & 0x0f) as usize),
            0x90..=0x9f => self.array((b & 0x0f) as usize),
            0xa0..=0xbf => self.str((b & 0x1f) as usize),
            0xc0 => Ok(Mp::Nil),
            0xc2 => Ok(Mp::Bool(false)),
            0xc3 => Ok(Mp::Bool(true)),
            0xc4..=0xc6 => {
                let n = self.be(1 << (b - 0xc4))? as usize;
                Ok(Mp::Bin(self.take(n)?.to_vec()))
            }
            0xc7..=0xc9 => {
                let n = self.be(1 << (b - 0xc7))? as usize;
                self.ext(n)
            }
            0xca => Ok(Mp::Float(f32::from_bits(self.be(4)? as u32) as f64)),
            0xcb => Ok(Mp::Float(f64::from_bits(self.be(8)?))),
            0xcc..=0xcf => Ok(Mp::Uint(self.be(1 << (b - 0xcc))?)),
            0xd0..=0xd3 => {
                let bytes = 1usize << (b - 0xd0);
                let raw = self.be(bytes)?;
                let shift = 64 - 8 * bytes as u32;
                Ok(Mp::Int(((raw << shift) as i64) >> shift))
            }
            0xd4..=0xd8 => self.ext(1 << (b - 0xd4)),
            0xd9..=0xdb => {
                let n = self.be(1 << (b - 0xd9))? as usize;
                self.str(n)
            }
            0xdc | 0xdd => {
                let n = self.be(if b == 0xdc { 2 } else { 4 })? as usize;
                self.array(n)
            }
            0xde | 0xdf => {
                let n = self.be(if b == 0xde { 2 } else { 4 })? as usize;
                self.map(n)
            }
            0xe0..=0xff => Ok(Mp::Int(b as i8 as i64)),
            0xc1 => Err(format!("reserved byte 0xc1 at {at}")),
        }
    }
}
