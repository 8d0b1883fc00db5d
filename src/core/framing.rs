//! OpAMP-over-WebSocket message framing.
//!
//! Each binary WebSocket message is a Base 128 varint `header` followed by
//! the protobuf `data`. This version of the spec fixes the header at 0 and
//! says decoders SHOULD treat any other value as malformed, so we do: a
//! future header value would change what `data` means, and guessing would
//! be worse than refusing.

use std::fmt;

/// The only header value this spec version defines.
pub const HEADER: u64 = 0;

/// A varint for a u64 never needs more than 10 bytes.
const MAX_VARINT_LEN: usize = 10;

/// Why a WebSocket payload is not an OpAMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramingError {
    /// A zero-byte payload lacks even the header.
    Empty,
    /// The header's varint never terminates within the payload (or within
    /// the 10 bytes any u64 needs).
    BadVarint,
    /// The header decoded to a value this spec version does not define.
    UnknownHeader(u64),
}

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty WebSocket message (no OpAMP header)"),
            Self::BadVarint => write!(f, "OpAMP header is not a valid varint"),
            Self::UnknownHeader(value) => write!(
                f,
                "OpAMP header is {value}, expected 0 (newer protocol version or not an OpAMP server?)"
            ),
        }
    }
}

impl std::error::Error for FramingError {}

/// Starts a payload for sending: the header as a varint (the single byte
/// 0x00); the protobuf follows it in the same buffer, so a message is
/// encoded once with no copy.
pub fn write_header(out: &mut Vec<u8>) {
    prost::encoding::encode_varint(HEADER, out);
}

#[cfg(test)]
fn encode(protobuf: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(protobuf.len() + 1);
    write_header(&mut payload);
    payload.extend_from_slice(protobuf);
    payload
}

/// Strip the header from a received payload and return the protobuf bytes,
/// which may be empty (an all-defaults message encodes to nothing).
pub fn decode(payload: &[u8]) -> Result<&[u8], FramingError> {
    if payload.is_empty() {
        return Err(FramingError::Empty);
    }
    let (value, header_len) = read_varint(payload)?;
    if value != HEADER {
        return Err(FramingError::UnknownHeader(value));
    }
    Ok(&payload[header_len..])
}

/// Returns the value and how many bytes it took. Non-minimal encodings of 0
/// (0x80 0x00) are accepted: the spec speaks of the header's value, and Go's
/// reference decoder accepts them too.
fn read_varint(bytes: &[u8]) -> Result<(u64, usize), FramingError> {
    let mut value: u64 = 0;
    for (i, &byte) in bytes.iter().take(MAX_VARINT_LEN).enumerate() {
        let bits = u64::from(byte & 0x7f);
        // The tenth byte may only contribute the single remaining bit.
        if i == MAX_VARINT_LEN - 1 && byte > 1 {
            return Err(FramingError::BadVarint);
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(FramingError::BadVarint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_prefixes_a_single_zero_byte() {
        assert_eq!(encode(&[]), vec![0x00]);
        assert_eq!(
            encode(&[0x0a, 0x02, 0xab, 0xcd]),
            vec![0x00, 0x0a, 0x02, 0xab, 0xcd]
        );
    }

    #[test]
    fn decode_strips_the_header() {
        assert_eq!(decode(&[0x00]).unwrap(), &[] as &[u8]);
        assert_eq!(
            decode(&[0x00, 0x0a, 0x02, 0xab, 0xcd]).unwrap(),
            &[0x0a, 0x02, 0xab, 0xcd]
        );
        // The data may itself start with 0x00 bytes; only the header goes.
        assert_eq!(decode(&[0x00, 0x00, 0x01]).unwrap(), &[0x00, 0x01]);
    }

    #[test]
    fn decode_accepts_a_non_minimal_zero_header() {
        assert_eq!(decode(&[0x80, 0x00, 0x08, 0x01]).unwrap(), &[0x08, 0x01]);
        let ten_byte_zero = [
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x2a,
        ];
        assert_eq!(decode(&ten_byte_zero).unwrap(), &[0x2a]);
    }

    #[test]
    fn decode_rejects_empty_payloads() {
        assert_eq!(decode(&[]), Err(FramingError::Empty));
    }

    #[test]
    fn decode_rejects_non_zero_headers() {
        assert_eq!(decode(&[0x01, 0x0a]), Err(FramingError::UnknownHeader(1)));
        // 0x96 0x01 is the varint for 150.
        assert_eq!(
            decode(&[0x96, 0x01, 0x0a]),
            Err(FramingError::UnknownHeader(150))
        );
        // A raw protobuf without any header starts with a field tag such as 0x0a.
        assert_eq!(
            decode(&[0x0a, 0x10, 0x01]),
            Err(FramingError::UnknownHeader(10))
        );
        let max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(decode(&max), Err(FramingError::UnknownHeader(u64::MAX)));
    }

    #[test]
    fn decode_rejects_broken_varints() {
        assert_eq!(decode(&[0x80]), Err(FramingError::BadVarint));
        assert_eq!(decode(&[0xff, 0xff]), Err(FramingError::BadVarint));
        let eleven = [0x80; 11];
        assert_eq!(decode(&eleven), Err(FramingError::BadVarint));
        // Ten bytes whose last one overflows 64 bits.
        let overflow = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
        assert_eq!(decode(&overflow), Err(FramingError::BadVarint));
    }

    #[test]
    fn round_trip() {
        for data in [&b""[..], b"\x00", b"hello", &[0xff; 300]] {
            assert_eq!(decode(&encode(data)).unwrap(), data);
        }
    }

    #[test]
    fn errors_read_well() {
        assert_eq!(
            FramingError::UnknownHeader(3).to_string(),
            "OpAMP header is 3, expected 0 (newer protocol version or not an OpAMP server?)"
        );
    }
}
