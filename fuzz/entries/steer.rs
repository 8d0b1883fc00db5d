//! The connection-settings decoders: an `OpAMPConnectionSettings` offer
//! and an offered other connection, decoded from protobuf bytes.

use fluent_bit_opamp::agent::steer_seam;
use fluent_bit_opamp::proto::{OpAmpConnectionSettings, OtherConnectionSettings};
use prost::Message as _;

use super::{text, Input};

/// Never panics; an accepted offer's host passes the allow list.
pub fn steer_candidate(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let allow: Vec<String> = text(input.field(b'\0'))
        .split(',')
        .filter(|h| !h.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let csr_key = (flags & 1 == 1).then_some(&b"not a key"[..]);
    let Ok(offer) = OpAmpConnectionSettings::decode(input.rest()) else {
        return;
    };
    if let Ok(host) = steer_seam::opamp_offer(&offer, &allow, csr_key, 1_800_000_000) {
        let host = host.trim_matches(['[', ']']).to_ascii_lowercase();
        let offered = !offer.destination_endpoint.trim().is_empty();
        assert!(
            !offered || steer_seam::host_allowed(&host, &allow),
            "{host} is not allowed by {allow:?}"
        );
    }
}

/// Never panics; every accepted value reads back the same from classic and
/// YAML text: no control character, no `${`, no edge white space.
pub fn steer_destinations(data: &[u8]) {
    let mut input = Input::new(data);
    let name = text(input.field(b'\0'));
    let Ok(offer) = OtherConnectionSettings::decode(input.rest()) else {
        return;
    };
    let Ok(values) = steer_seam::other_connection(&name, &offer, 1_800_000_000) else {
        return;
    };
    for (key, value) in values {
        assert!(!value.chars().any(char::is_control), "{key}");
        assert!(!value.contains("${"), "{key}");
        assert_eq!(value.trim(), value, "{key}");
    }
}
