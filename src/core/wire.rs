//! Byte-level framing of OpAMP messages for both transports, with the
//! receive-side size limit the spec makes mandatory ("WebSocket Message
//! Size Limits", "Plain HTTP Message Size Limits").

use std::fmt;

use prost::Message;

use super::framing::{self, FramingError};
use crate::proto::{AgentToServer, ServerToAgent};

/// The spec's recommended default for every size limit: 64 MiB.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// Why received bytes could not be turned into a [`ServerToAgent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// Larger than the configured limit; not decoded at all.
    TooLarge { len: usize, max: usize },
    /// WebSocket message whose varint header is missing or truncated.
    MissingHeader,
    /// WebSocket header other than 0: reserved for future versions, so the
    /// spec says to treat the message as malformed.
    UnknownHeader(u64),
    /// The protobuf body did not decode.
    Malformed(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(
                f,
                "ServerToAgent of {len} bytes exceeds the {max}-byte limit; discarded"
            ),
            Self::MissingHeader => f.write_str("WebSocket message has no OpAMP header"),
            Self::UnknownHeader(h) => write!(f, "WebSocket OpAMP header {h} is not 0"),
            Self::Malformed(e) => write!(f, "ServerToAgent does not decode: {e}"),
        }
    }
}

impl std::error::Error for WireError {}

/// HTTP request body: the bare protobuf.
pub fn encode_http_body(msg: &AgentToServer) -> Vec<u8> {
    msg.encode_to_vec()
}

/// WebSocket binary message: varint header (0) followed by the protobuf.
pub fn encode_ws_message(msg: &AgentToServer) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + msg.encoded_len());
    framing::write_header(&mut out);
    msg.encode_raw(&mut out);
    out
}

/// Decodes an HTTP response body (after any Content-Encoding is undone),
/// refusing bodies over `max` bytes before parsing.
pub fn decode_http_body(body: &[u8], max: usize) -> Result<ServerToAgent, WireError> {
    check_len(body.len(), max)?;
    ServerToAgent::decode(body).map_err(|e| WireError::Malformed(e.to_string()))
}

/// Decodes a WebSocket binary message; the limit covers header and body.
pub fn decode_ws_message(data: &[u8], max: usize) -> Result<ServerToAgent, WireError> {
    check_len(data.len(), max)?;
    // The one reading of the header in the crate.
    let body = framing::decode(data).map_err(|e| match e {
        FramingError::UnknownHeader(h) => WireError::UnknownHeader(h),
        FramingError::Empty | FramingError::BadVarint => WireError::MissingHeader,
    })?;
    ServerToAgent::decode(body).map_err(|e| WireError::Malformed(e.to_string()))
}

fn check_len(len: usize, max: usize) -> Result<(), WireError> {
    if len > max {
        Err(WireError::TooLarge { len, max })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> ServerToAgent {
        ServerToAgent {
            instance_uid: vec![7; 16],
            flags: 1,
            ..Default::default()
        }
    }

    /// "WebSocket Message Format": header 0 as a one-byte varint, then data.
    #[test]
    fn ws_message_starts_with_zero_header() {
        let m = AgentToServer {
            sequence_num: 1,
            ..Default::default()
        };
        assert_eq!(encode_ws_message(&m), [0x00, 0x10, 0x01]);
        assert_eq!(encode_http_body(&m), [0x10, 0x01]);
        assert_eq!(encode_ws_message(&AgentToServer::default()), [0x00]);
    }

    #[test]
    fn ws_round_trip() {
        let mut bytes = vec![0u8];
        bytes.extend(small().encode_to_vec());
        assert_eq!(decode_ws_message(&bytes, 1024), Ok(small()));
        assert_eq!(
            decode_ws_message(&[0x00], 1024),
            Ok(ServerToAgent::default()),
            "empty data is a valid (all fields unset) message"
        );
    }

    /// "WebSocket Message Format": a non-zero header means malformed.
    #[test]
    fn ws_rejects_unknown_or_missing_header() {
        assert_eq!(
            decode_ws_message(&[0x01, 0x0a, 0x00], 1024),
            Err(WireError::UnknownHeader(1))
        );
        assert_eq!(decode_ws_message(&[], 1024), Err(WireError::MissingHeader));
        assert_eq!(
            decode_ws_message(&[0x80], 1024),
            Err(WireError::MissingHeader)
        );
    }

    /// "WebSocket Message Size Limits": the client MUST enforce a receive
    /// limit, counted over header and data.
    #[test]
    fn ws_limit_counts_the_header() {
        let mut bytes = vec![0u8];
        bytes.extend(small().encode_to_vec());
        let n = bytes.len();
        assert!(decode_ws_message(&bytes, n).is_ok());
        assert_eq!(
            decode_ws_message(&bytes, n - 1),
            Err(WireError::TooLarge { len: n, max: n - 1 })
        );
    }

    /// "Plain HTTP Message Size Limits": an oversized response is failed and
    /// its body is not processed.
    #[test]
    fn http_limit_and_malformed_body() {
        let body = small().encode_to_vec();
        assert_eq!(decode_http_body(&body, body.len()), Ok(small()));
        assert!(matches!(
            decode_http_body(&body, body.len() - 1),
            Err(WireError::TooLarge { .. })
        ));
        // Field 1 (bytes) claiming 5 bytes but carrying 1.
        let err = decode_http_body(&[0x0a, 0x05, 0x00], 100).unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)));
        assert!(err.to_string().contains("does not decode"), "{err}");
    }
}
