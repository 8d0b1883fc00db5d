//! Bounded reading and gzip for HTTP bodies.
//!
//! The limit applies to the bytes we would hold in memory, i.e. after
//! decompression: a few kilobytes of gzip can inflate to gigabytes, and the
//! spec requires clients to guard against that. These functions are pure
//! (no sockets), so the fuzz targets exercise exactly what the transport
//! runs.

use std::fmt;
use std::io::{self, Read, Write};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyError {
    /// More than `limit` bytes; reading stopped at `limit + 1`.
    TooLarge { limit: usize },
    /// The data is not valid gzip.
    Corrupt(String),
    /// The stream broke before the end of the body.
    Io(String),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "body exceeds the {limit}-byte limit"),
            Self::Corrupt(msg) => write!(f, "body is not valid gzip: {msg}"),
            Self::Io(msg) => write!(f, "cannot read body: {msg}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// Read everything from `reader`, failing as soon as it yields more than
/// `limit` bytes. Memory use is bounded by `limit + 1` whatever the source
/// claims or contains.
pub fn read_limited(reader: impl Read, limit: usize) -> Result<Vec<u8>, BodyError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                BodyError::Corrupt(e.to_string())
            }
            _ => BodyError::Io(e.to_string()),
        })?;
    if out.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(out)
}

/// Decompress a gzip body (possibly several concatenated members, as
/// RFC 1952 allows and as the HTTP stack decodes them) within `limit`.
pub fn gunzip_limited(compressed: &[u8], limit: usize) -> Result<Vec<u8>, BodyError> {
    read_limited(MultiGzDecoder::new(compressed), limit)
}

/// Compress a request body. Level 6 is zlib's default balance; OpAMP
/// bodies are small and mostly text, so higher levels buy little.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 2 + 32), Compression::new(6));
    // Writing into a Vec cannot fail.
    encoder.write_all(data).expect("in-memory gzip write");
    encoder.finish().expect("in-memory gzip finish")
}

/// `io::Error` kinds that mean "no data yet", not "broken".
/// A read that found nothing yet: timed out, would block, or was
/// interrupted by a signal (EINTR must be retried, not taken for a broken
/// connection).
pub(crate) fn is_would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_limited_accepts_exactly_the_limit() {
        assert_eq!(read_limited(&b"abcd"[..], 4).unwrap(), b"abcd");
        assert_eq!(read_limited(&b""[..], 0).unwrap(), b"");
    }

    #[test]
    fn read_limited_rejects_one_byte_over() {
        assert_eq!(
            read_limited(&b"abcde"[..], 4),
            Err(BodyError::TooLarge { limit: 4 })
        );
        assert_eq!(
            read_limited(&b"a"[..], 0),
            Err(BodyError::TooLarge { limit: 0 })
        );
    }

    #[test]
    fn read_limited_stops_reading_an_endless_source() {
        let endless = io::repeat(0x41);
        assert_eq!(
            read_limited(endless, 1024),
            Err(BodyError::TooLarge { limit: 1024 })
        );
    }

    #[test]
    fn gzip_round_trip() {
        let data = b"status report ".repeat(100);
        let packed = gzip(&data);
        assert!(packed.len() < data.len());
        assert_eq!(&packed[..2], &[0x1f, 0x8b], "gzip magic");
        assert_eq!(gunzip_limited(&packed, data.len()).unwrap(), data);
        assert_eq!(gunzip_limited(&gzip(b""), 0).unwrap(), b"");
    }

    #[test]
    fn gzip_bomb_is_stopped_at_the_limit() {
        // 10 MiB of zeros compresses to about 10 KiB.
        let bomb = gzip(&vec![0u8; 10 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            gunzip_limited(&bomb, 1024 * 1024),
            Err(BodyError::TooLarge { limit: 1024 * 1024 })
        );
    }

    #[test]
    fn concatenated_members_are_one_body() {
        let mut two = gzip(b"hello ");
        two.extend(gzip(b"world"));
        assert_eq!(gunzip_limited(&two, 100).unwrap(), b"hello world");
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        // A valid gzip header, then a deflate block of the reserved type 3.
        let bad_block = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff";
        assert!(matches!(
            gunzip_limited(bad_block, 100),
            Err(BodyError::Corrupt(_))
        ));
        assert!(gunzip_limited(b"\x1f\x8b\x08\x00garbage", 100).is_err());
        assert!(matches!(
            gunzip_limited(b"plain text, not gzip", 100),
            Err(BodyError::Corrupt(_))
        ));
        let mut truncated = gzip(b"some text that is long enough");
        truncated.truncate(truncated.len() - 6);
        assert!(gunzip_limited(&truncated, 100).is_err());
    }

    #[test]
    fn broken_streams_are_io_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "reset"))
            }
        }
        assert!(matches!(read_limited(Broken, 10), Err(BodyError::Io(_))));
    }
}
