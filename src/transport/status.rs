//! One place that turns a refused HTTP status into a [`TransportError`], so
//! a WebSocket upgrade and a plain-HTTP POST that get the same answer are
//! handled the same way.

use super::TransportError;

/// Map a non-2xx status to the error the driver acts on.
pub(crate) fn classify(status: u16, retry_after: Option<String>) -> TransportError {
    match status {
        401 | 403 | 407 => TransportError::Auth { status },
        // 408 says the server gave up waiting for us: the same request can
        // succeed on a fresh connection.
        408 | 429 | 500..=599 => TransportError::Http {
            status,
            retry_after,
        },
        _ => TransportError::Rejected { status },
    }
}

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
    fn statuses_are_classified_as_the_spec_and_http_intend() {
        assert_eq!(classify(401, None), TransportError::Auth { status: 401 });
        assert_eq!(classify(403, None), TransportError::Auth { status: 403 });
        assert_eq!(
            classify(429, Some("3".into())),
            TransportError::Http {
                status: 429,
                retry_after: Some("3".into())
            }
        );
        assert!(classify(503, None).is_throttled());
        assert!(classify(500, None).is_retryable());
        assert!(classify(408, None).is_retryable());
        assert_eq!(
            classify(413, None),
            TransportError::Rejected { status: 413 }
        );
        assert!(!classify(404, None).is_retryable());
        assert!(!classify(301, None).is_retryable());
    }
}
