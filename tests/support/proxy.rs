//! A tiny loopback HTTP proxy: `CONNECT` tunnels and absolute-form
//! forwarding, optionally demanding `Proxy-Authorization`. Only targets on
//! 127.0.0.1 are reached.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::server_stream::would_block;
use super::{MAX_CONNECTION_LIFE, POLL};

/// One request the proxy received.
#[derive(Clone, Debug)]
pub struct ProxyRequest {
    /// e.g. `CONNECT 127.0.0.1:4320 HTTP/1.1`
    pub request_line: String,
    pub proxy_authorization: Option<String>,
}

struct Shared {
    stop: AtomicBool,
    requests: Mutex<Vec<ProxyRequest>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    /// Expected `Proxy-Authorization` value, if any is required.
    require_auth: Option<String>,
}

pub struct TestProxy {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl TestProxy {
    pub fn start(require_auth: Option<&str>) -> Self {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
            workers: Mutex::new(Vec::new()),
            require_auth: require_auth.map(str::to_string),
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let accept_shared = shared.clone();
        let acceptor = thread::spawn(move || {
            while !accept_shared.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let conn_shared = accept_shared.clone();
                        let handle = thread::spawn(move || serve(&conn_shared, stream));
                        accept_shared.workers.lock().unwrap().push(handle);
                    }
                    Err(_) => thread::sleep(POLL),
                }
            }
        });
        Self {
            shared,
            addr,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<ProxyRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let workers: Vec<_> = self.shared.workers.lock().unwrap().drain(..).collect();
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn serve(shared: &Arc<Shared>, mut client: TcpStream) {
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || !matches!(client.read(&mut byte), Ok(1)) {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let request_line = text.lines().next().unwrap_or_default().to_string();
    let proxy_authorization = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("proxy-authorization"))
        .map(|(_, v)| v.trim().to_string());
    shared.requests.lock().unwrap().push(ProxyRequest {
        request_line: request_line.clone(),
        proxy_authorization: proxy_authorization.clone(),
    });
    if shared.require_auth.is_some() && shared.require_auth != proxy_authorization {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
        );
        return;
    }
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap_or_default();
    let target = parts.next().unwrap_or_default();
    let (authority, forward_head) = if method == "CONNECT" {
        (target.to_string(), None)
    } else {
        let Some(rest) = target.strip_prefix("http://") else {
            let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            return;
        };
        let authority = rest.split('/').next().unwrap_or_default().to_string();
        (authority, Some(head.clone()))
    };
    let Ok(target_addr) = authority.parse::<SocketAddr>() else {
        let _ = client.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    assert!(
        target_addr.ip().is_loopback(),
        "test proxy reaches loopback only"
    );
    let Ok(mut upstream) = TcpStream::connect_timeout(&target_addr, Duration::from_secs(5)) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    match forward_head {
        None => {
            if client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .is_err()
            {
                return;
            }
        }
        Some(head) => {
            if upstream.write_all(&head).is_err() {
                return;
            }
        }
    }
    pipe(shared, client, upstream);
}

/// Copy both ways until either side closes, the proxy stops or the
/// connection has lived too long.
fn pipe(shared: &Arc<Shared>, client: TcpStream, upstream: TcpStream) {
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back_shared = shared.clone();
    let back = thread::spawn(move || copy(&back_shared, upstream2, client2));
    copy(shared, client, upstream);
    let _ = back.join();
}

fn copy(shared: &Shared, mut from: TcpStream, mut to: TcpStream) {
    let _ = from.set_read_timeout(Some(POLL));
    let deadline = Instant::now() + MAX_CONNECTION_LIFE;
    let mut buf = [0u8; 16 * 1024];
    while !shared.stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if would_block(&e) => {}
            Err(_) => break,
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}
