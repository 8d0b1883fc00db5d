//! The plain-HTTP half of the test server: a deliberately small HTTP/1.1
//! server (Content-Length bodies, keep-alive, gzip both ways), enough to
//! play an OpAMP server and to misbehave on demand.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use super::server_stream::{would_block, ServerStream};
use super::{HttpRequest, Shared, MAX_CONNECTION_LIFE, POLL};

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 64 * 1024 * 1024;
/// An idle keep-alive connection is closed after this long.
const IDLE: Duration = Duration::from_secs(10);

/// The server's answer to one request.
#[derive(Clone, Debug)]
pub enum HttpReply {
    /// 200 with this ServerToAgent; gzip-compressed when `gzip` is set and
    /// the request accepted gzip.
    Ok { body: Vec<u8>, gzip: bool },
    /// Any status, with extra headers and a body.
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Close the connection without answering.
    Drop,
    /// Announce `body.len()` bytes, send half of them, close.
    DropMidBody { body: Vec<u8> },
    /// A 200 whose gzip body inflates to `inflated` zero bytes.
    GzipBomb { inflated: usize },
    /// Write these bytes verbatim (a broken response), then close.
    Raw(Vec<u8>),
}

impl HttpReply {
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn status_with(status: u16, name: &str, value: &str) -> Self {
        Self::Status {
            status,
            headers: vec![(name.to_string(), value.to_string())],
            body: Vec::new(),
        }
    }
}

struct Conn {
    stream: ServerStream,
    buf: Vec<u8>,
}

pub(crate) fn handle(shared: Arc<Shared>, tcp: TcpStream) {
    let connection = {
        let mut state = shared.state();
        state.rec.http_connections += 1;
        state.rec.http_connections - 1
    };
    let Ok(stream) = ServerStream::accept(tcp, shared.tls.as_ref()) else {
        return;
    };
    stream.set_read_timeout(POLL);
    let client_cert = stream.client_cert();
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
    };
    let deadline = Instant::now() + MAX_CONNECTION_LIFE;
    while Instant::now() < deadline && !shared.stopped() {
        let Some(mut request) = read_request(&shared, &mut conn) else {
            break;
        };
        request.connection = connection;
        request.client_cert = client_cert;
        let accepts_gzip = request
            .header("accept-encoding")
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        let close_after = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let admitted = shared.state().admits(&request.headers);
        let scripted = if admitted {
            shared.state().http_script.pop_front()
        } else {
            Some(HttpReply::status(401))
        };
        let reply = scripted.unwrap_or_else(|| HttpReply::Ok {
            body: shared.auto_reply(&request.body).unwrap_or_default(),
            gzip: false,
        });
        shared.state().rec.http.push(request);
        if !respond(&mut conn.stream, reply, accepts_gzip) || close_after {
            break;
        }
    }
    conn.stream.shutdown();
}

/// Read one request; None when the client went away, idled out, or sent
/// something this server does not speak.
fn read_request(shared: &Shared, conn: &mut Conn) -> Option<HttpRequest> {
    let head_end = loop {
        if let Some(pos) = find(&conn.buf, b"\r\n\r\n") {
            break pos;
        }
        if conn.buf.len() > MAX_HEAD {
            return None;
        }
        fill(shared, conn)?;
    };
    let head = String::from_utf8_lossy(&conn.buf[..head_end]).into_owned();
    conn.buf.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_string();
    let target = request_line.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = super::find_header(&headers, "content-length")
        .map(|v| v.parse().ok())
        .unwrap_or(Some(0))?;
    if length > MAX_BODY || super::find_header(&headers, "transfer-encoding").is_some() {
        return None;
    }
    while conn.buf.len() < length {
        fill(shared, conn)?;
    }
    let raw_body: Vec<u8> = conn.buf.drain(..length).collect();
    let gzipped = super::find_header(&headers, "content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzipped {
        let mut out = Vec::new();
        MultiGzDecoder::new(raw_body.as_slice())
            .take(MAX_BODY as u64)
            .read_to_end(&mut out)
            .ok()?;
        out
    } else {
        raw_body.clone()
    };
    Some(HttpRequest {
        method,
        target,
        headers,
        raw_body,
        body,
        ..HttpRequest::default()
    })
}

/// Read more bytes into the buffer; None on EOF, error, idle or stop.
fn fill(shared: &Shared, conn: &mut Conn) -> Option<()> {
    let idle_until = Instant::now() + IDLE;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match conn.stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => {
                conn.buf.extend_from_slice(&chunk[..n]);
                return Some(());
            }
            Err(e) if would_block(&e) => {
                if shared.stopped() || Instant::now() > idle_until {
                    return None;
                }
            }
            Err(_) => return None,
        }
    }
}

/// Returns false when the connection must close.
fn respond(stream: &mut ServerStream, reply: HttpReply, accepts_gzip: bool) -> bool {
    let _ = stream
        .tcp()
        .set_write_timeout(Some(Duration::from_secs(10)));
    match reply {
        HttpReply::Ok { body, gzip } => {
            let (body, encoding) = if gzip && accepts_gzip {
                (gzip_bytes(&body), Some("gzip"))
            } else {
                (body, None)
            };
            write_response(stream, 200, &[], encoding, &body, None)
        }
        HttpReply::Status {
            status,
            headers,
            body,
        } => write_response(stream, status, &headers, None, &body, None),
        HttpReply::Drop => false,
        HttpReply::DropMidBody { body } => {
            let half = body.len() / 2;
            write_response(stream, 200, &[], None, &body[..half], Some(body.len()));
            false
        }
        HttpReply::GzipBomb { inflated } => {
            let bomb = gzip_bytes(&vec![0u8; inflated]);
            write_response(stream, 200, &[], Some("gzip"), &bomb, None)
        }
        HttpReply::Raw(bytes) => {
            let _ = stream.write_all(&bytes);
            let _ = stream.flush();
            false
        }
    }
}

fn write_response(
    stream: &mut ServerStream,
    status: u16,
    headers: &[(String, String)],
    encoding: Option<&str>,
    body: &[u8],
    declared_length: Option<usize>,
) -> bool {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n",
        reason(status),
        declared_length.unwrap_or(body.len())
    );
    if let Some(encoding) = encoding {
        head.push_str(&format!("Content-Encoding: {encoding}\r\n"));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).is_ok()
        && stream.write_all(body).is_ok()
        && stream.flush().is_ok()
}

fn gzip_bytes(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
