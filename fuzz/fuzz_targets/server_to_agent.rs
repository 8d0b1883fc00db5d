//! What the WebSocket receive path does with untrusted bytes: unframe, then
//! decode a ServerToAgent. Neither step may panic, and a decoded message
//! must survive a re-encode unchanged.
#![no_main]

use fluent_bit_opamp::proto::ServerToAgent;
use fluent_bit_opamp::core::framing;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|payload: &[u8]| {
    let Ok(protobuf) = framing::decode(payload) else {
        return;
    };
    if let Ok(message) = ServerToAgent::decode(protobuf) {
        let again = ServerToAgent::decode(message.encode_to_vec().as_slice())
            .expect("re-encoded message decodes");
        assert_eq!(again, message);
    }
});
