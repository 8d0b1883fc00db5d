//! Handing a request to an HTTP proxy to forward, over ureq.
//!
//! ureq writes origin-form request lines only (it reaches every proxy
//! with `CONNECT`), so the head is rewritten on its way to the socket.

use std::borrow::Cow;

use crate::transport::endpoint::Endpoint;
use crate::transport::proxy::Proxy;

/// Turns an origin-form request head into one a proxy forwards.
pub(super) struct Forward {
    /// `http://host:port`, put in front of the path.
    origin: String,
    /// The `Proxy-Authorization` value: a password, never shown.
    authorization: Option<String>,
}

impl Forward {
    pub(super) fn new(proxy: &Proxy, endpoint: &Endpoint) -> Self {
        Self {
            origin: format!("http://{}", endpoint.authority()),
            authorization: proxy.authorization(),
        }
    }

    /// `POST /p HTTP/1.1` becomes `POST http://host:port/p HTTP/1.1`,
    /// followed by `Proxy-Authorization` when the proxy URL had
    /// credentials. Anything that does not start with an origin-form
    /// request line is passed on untouched.
    pub(super) fn rewrite<'a>(&self, head: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(line_end) = head.windows(2).position(|w| w == b"\r\n") else {
            return Cow::Borrowed(head);
        };
        let line = &head[..line_end];
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            return Cow::Borrowed(head);
        };
        if line.get(space + 1) != Some(&b'/') {
            return Cow::Borrowed(head);
        }
        let mut out = Vec::with_capacity(head.len() + self.origin.len() + 64);
        out.extend_from_slice(&line[..=space]);
        out.extend_from_slice(self.origin.as_bytes());
        out.extend_from_slice(&line[space + 1..]);
        out.extend_from_slice(b"\r\n");
        if let Some(value) = &self.authorization {
            out.extend_from_slice(b"Proxy-Authorization: ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&head[line_end + 2..]);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forward(proxy: &str) -> Forward {
        let endpoint = Endpoint::parse("http://opamp.example:4320/v1/opamp").unwrap();
        Forward::new(&Proxy::parse(proxy).unwrap(), &endpoint)
    }

    #[test]
    fn forwarded_heads_are_absolute_and_carry_proxy_credentials() {
        let head = b"POST /v1/opamp?x=1 HTTP/1.1\r\nhost: opamp.example:4320\r\n\r\nbody";
        let out = forward("http://al%40ice:s3cret@proxy:3128").rewrite(head);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "POST http://opamp.example:4320/v1/opamp?x=1 HTTP/1.1\r\n\
             Proxy-Authorization: Basic YWxAaWNlOnMzY3JldA==\r\n\
             host: opamp.example:4320\r\n\r\nbody"
        );
        let out = forward("proxy:3128").rewrite(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(&out[..], b"GET http://opamp.example:4320/ HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn anything_else_passes_untouched() {
        let f = forward("proxy:3128");
        for bytes in [
            &b"body bytes without a line end"[..],
            b"GET http://already/absolute HTTP/1.1\r\n\r\n",
            b"nospace\r\n",
        ] {
            assert!(matches!(f.rewrite(bytes), Cow::Borrowed(b) if b == bytes));
        }
    }
}
