//! Reason phrases for the HTTP statuses an OpAMP client plausibly meets,
//! for log messages only. What a status *means* to the protocol (retry,
//! back off, refuse) is the core's business, not the transport's.

/// The reason phrase for the statuses an OpAMP client plausibly meets,
/// with a leading space, so messages read "HTTP 503 Service Unavailable".
/// The server's own phrase is not used: it is server-controlled text.
pub(crate) fn describe(status: u16) -> &'static str {
    match status {
        300 => " Multiple Choices",
        301 => " Moved Permanently (point the endpoint at the new location)",
        302 => " Found (point the endpoint at the new location)",
        303 => " See Other (point the endpoint at the new location)",
        307 => " Temporary Redirect (point the endpoint at the new location)",
        308 => " Permanent Redirect (point the endpoint at the new location)",
        400 => " Bad Request",
        401 => " Unauthorized",
        403 => " Forbidden",
        404 => " Not Found (check the endpoint path)",
        405 => " Method Not Allowed (check the endpoint path and scheme)",
        407 => " Proxy Authentication Required",
        408 => " Request Timeout",
        413 => " Content Too Large",
        415 => " Unsupported Media Type",
        426 => " Upgrade Required",
        429 => " Too Many Requests",
        500 => " Internal Server Error",
        501 => " Not Implemented",
        502 => " Bad Gateway",
        503 => " Service Unavailable",
        504 => " Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_hint_at_the_fix() {
        assert_eq!(describe(503), " Service Unavailable");
        assert!(describe(404).contains("endpoint path"));
        assert_eq!(describe(299), "");
    }
}
