//! Instance identifiers: the spec wants 16 bytes, preferably a UUIDv7
//! ("AgentToServer.instance_uid").

/// Builds a UUIDv7 (RFC 9562 §5.7) from a Unix timestamp in milliseconds and
/// 10 random bytes. Time and randomness are inputs so the result is pure;
/// only the low 48 bits of `unix_ms` and 74 of the 80 random bits are used.
pub fn uuid_v7(unix_ms: u64, rand: [u8; 10]) -> [u8; 16] {
    let mut u = [0u8; 16];
    u[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    u[6] = 0x70 | (rand[0] & 0x0f); // version 7 + rand_a high nibble
    u[7] = rand[1];
    u[8] = 0x80 | (rand[2] & 0x3f); // RFC 4122 variant (0b10) + rand_b
    u[9..].copy_from_slice(&rand[3..]);
    u
}

/// Canonical lowercase 8-4-4-4-12 text, as the HTTP transport's
/// `OpAMP-Instance-UID` header wants it.
pub fn format_uuid(uid: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, b) in uid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "AgentToServer.instance_uid": 16 bytes, UUID v7 layout.
    #[test]
    fn uuid_v7_places_time_version_and_variant() {
        let u = uuid_v7(0x0123_4567_89ab, [0xff; 10]);
        assert_eq!(&u[..6], &[0x01, 0x23, 0x45, 0x67, 0x89, 0xab]);
        assert_eq!(u[6], 0x7f, "version nibble 7, random low nibble");
        assert_eq!(u[7], 0xff);
        assert_eq!(u[8], 0xbf, "variant bits 10, then random");
        assert_eq!(&u[9..], &[0xff; 7]);

        let z = uuid_v7(0, [0; 10]);
        assert_eq!(z[6] >> 4, 7);
        assert_eq!(z[8] >> 6, 0b10);
    }

    /// Only 48 bits of time fit; higher bits must not leak into other fields.
    #[test]
    fn uuid_v7_truncates_time_to_48_bits() {
        let u = uuid_v7(u64::MAX, [0; 10]);
        assert_eq!(&u[..6], &[0xff; 6]);
        assert_eq!(u[6], 0x70);
    }

    /// Different random input must give different ids for the same instant.
    #[test]
    fn uuid_v7_uses_the_random_bytes() {
        let a = uuid_v7(1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        let b = uuid_v7(1, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11]);
        assert_ne!(a, b);
        assert_eq!(&a[9..], &[4, 5, 6, 7, 8, 9, 10]);
    }

    /// "Plain HTTP Transport": OpAMP-Instance-UID uses the canonical form.
    #[test]
    fn format_uuid_is_canonical() {
        let u = [
            0xf8, 0x1d, 0x4f, 0xae, 0x7d, 0xec, 0x11, 0xd0, 0xa7, 0x65, 0x00, 0xa0, 0xc9, 0x1e,
            0x6b, 0xf6,
        ];
        assert_eq!(format_uuid(&u), "f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
    }
}
