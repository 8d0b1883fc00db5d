//! A tiny download server for package files, over HTTP or HTTPS, that
//! misbehaves by path prefix:
//!
//! - `/f/NAME`      the file (Content-Length)
//! - `/404/NAME`    404
//! - `/trunc/NAME`  announces the whole length, sends half, closes
//! - `/loop/NAME`   302 to itself, forever
//! - `/big/NAME`    announces and sends the file 4 times over
//! - `/gone/NAME`   sends a quarter, waits `GONE_AFTER`, closes
//! - `/hdr/NAME`    the file only with the registered header, else 403
//!
//! Every request's path and headers are recorded.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::server_stream::ServerStream;

pub const GONE_AFTER: Duration = Duration::from_millis(1500);

#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
}

#[derive(Default)]
struct Inner {
    files: HashMap<String, Vec<u8>>,
    requests: Vec<Request>,
    /// (name, value) `/hdr/` files need.
    required: Option<(String, String)>,
}

pub struct FileServer {
    addr: SocketAddr,
    tls: bool,
    inner: Arc<Mutex<Inner>>,
    stop: Arc<AtomicBool>,
}

impl FileServer {
    pub fn start(tls: Option<Arc<rustls::ServerConfig>>) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (i, s, t) = (inner.clone(), stop.clone(), tls.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((tcp, _)) => {
                        let (i, t) = (i.clone(), t.clone());
                        std::thread::spawn(move || serve(tcp, t, i));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        FileServer {
            addr,
            tls: tls.is_some(),
            inner,
            stop,
        }
    }

    pub fn put(&self, name: &str, body: &[u8]) {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(name.into(), body.to_vec());
    }

    pub fn require_header(&self, name: &str, value: &str) {
        self.inner.lock().unwrap().required = Some((name.into(), value.into()));
    }

    /// `mode` is one of the path prefixes above, without slashes.
    pub fn url(&self, mode: &str, name: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}/{mode}/{name}", self.addr.port())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(tcp: TcpStream, tls: Option<Arc<rustls::ServerConfig>>, inner: Arc<Mutex<Inner>>) {
    let _ = tcp.set_nonblocking(false);
    let Ok(mut s) = ServerStream::accept(tcp, tls.as_ref()) else {
        return;
    };
    s.set_read_timeout(Duration::from_secs(5));
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 16384 {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head).to_string();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let (mode, name) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or(("", ""));
    let (file, required) = {
        let mut i = inner.lock().unwrap();
        i.requests.push(Request {
            path: path.clone(),
            headers: headers.clone(),
        });
        (i.files.get(name).cloned(), i.required.clone())
    };
    let Some(body) = file else {
        return reply(&mut s, "404 Not Found", &[], b"");
    };
    match mode {
        "f" => reply(&mut s, "200 OK", &[], &body),
        "hdr" => {
            let ok = required.is_some_and(|(k, v)| {
                headers
                    .iter()
                    .any(|(hk, hv)| hk.eq_ignore_ascii_case(&k) && *hv == v)
            });
            if ok {
                reply(&mut s, "200 OK", &[], &body)
            } else {
                reply(&mut s, "403 Forbidden", &[], b"")
            }
        }
        "loop" => reply(&mut s, "302 Found", &[("Location", &path)], b""),
        "trunc" => partial(&mut s, &body, body.len() / 2, Duration::ZERO),
        "gone" => partial(&mut s, &body, body.len() / 4, GONE_AFTER),
        "big" => reply(&mut s, "200 OK", &[], &body.repeat(4)),
        _ => reply(&mut s, "404 Not Found", &[], b""),
    }
}

fn reply(s: &mut ServerStream, status: &str, extra: &[(&str, &str)], body: &[u8]) {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head += &format!("{k}: {v}\r\n");
    }
    head += "\r\n";
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
    let _ = s.flush();
}

fn partial(s: &mut ServerStream, body: &[u8], upto: usize, wait: Duration) {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(&body[..upto]);
    let _ = s.flush();
    std::thread::sleep(wait);
    s.shutdown();
}
