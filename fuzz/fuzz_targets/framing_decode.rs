//! Any WebSocket payload: decoding must not panic, must only ever accept a
//! zero header, and must hand back exactly the bytes after the header.
#![no_main]

use fluent_bit_opamp::transport::framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    match framing::decode(payload) {
        Ok(protobuf) => {
            assert!(payload.ends_with(protobuf));
            let header = &payload[..payload.len() - protobuf.len()];
            assert!(!header.is_empty() && header.len() <= 10);
            assert_eq!(header.last().map(|b| b & 0x80), Some(0));
            assert!(
                header.iter().all(|b| b & 0x7f == 0),
                "only a zero header is accepted"
            );
            assert_eq!(framing::decode(&framing::encode(protobuf)), Ok(protobuf));
        }
        Err(_) => assert!(
            payload.first() != Some(&0),
            "a 0x00 first byte always decodes"
        ),
    }
});
