//! Any WebSocket payload: decoding must not panic, must only ever accept a
//! zero header, and must hand back exactly the bytes after the header.
#![no_main]

use fluent_bit_opamp::core::framing;
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
            let mut framed = Vec::new();
            framing::write_header(&mut framed);
            framed.extend_from_slice(protobuf);
            assert_eq!(framing::decode(&framed), Ok(protobuf));
        }
        Err(_) => assert!(
            payload.first() != Some(&0),
            "a 0x00 first byte always decodes"
        ),
    }
});
