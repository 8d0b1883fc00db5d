//! Any HTTP response body claiming to be gzip: decompression must not panic
//! and must never return (or buffer past) more than the limit.
#![no_main]

use fluent_bit_opamp::transport::body::{self, BodyError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose a limit up to 64 KiB, so both sides of it
    // are reached with small inputs.
    let (limit, compressed) = match data {
        [hi, lo, rest @ ..] => (usize::from(u16::from_be_bytes([*hi, *lo])), rest),
        _ => return,
    };
    match body::gunzip_limited(compressed, limit) {
        Ok(plain) => {
            assert!(plain.len() <= limit);
            assert_eq!(body::gunzip_limited(&body::gzip(&plain), limit), Ok(plain));
        }
        Err(BodyError::TooLarge { limit: reported }) => assert_eq!(reported, limit),
        Err(_) => {}
    }
});
