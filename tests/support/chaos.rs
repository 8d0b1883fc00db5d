//! A TCP proxy that misbehaves on purpose, from a fixed seed: it sits
//! between the agent and the test server and drops, delays, truncates,
//! duplicates and corrupts what passes, and resets connections at random
//! points. Faults that change bytes (duplicate, corrupt) only touch what
//! the server sends, so what reaches the server is always a prefix of what
//! the agent wrote: the test can then check the agent's sequence numbers
//! exactly, while the agent still has to survive garbage, cut frames and
//! resets in both directions. `calm()` turns it into a plain pipe.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// What the proxy did, for the summary line.
#[derive(Default, Debug)]
pub struct Counts {
    pub connections: AtomicU64,
    pub refused: AtomicU64,
    pub resets: AtomicU64,
    pub delays: AtomicU64,
    pub truncations: AtomicU64,
    pub duplicates: AtomicU64,
    pub corruptions: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counts {
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "{} connections ({} refused), {} resets, {} delays, {} truncations, {} duplicates, {} corruptions, {} bytes",
            g(&self.connections),
            g(&self.refused),
            g(&self.resets),
            g(&self.delays),
            g(&self.truncations),
            g(&self.duplicates),
            g(&self.corruptions),
            g(&self.bytes)
        )
    }
}

pub struct ChaosProxy {
    addr: SocketAddr,
    chaos: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    pub counts: Arc<Counts>,
    acceptor: Option<JoinHandle<()>>,
}

/// xorshift64*: small, seedable, good enough to pick faults.
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `per_mille`/1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

impl ChaosProxy {
    pub fn start(upstream: SocketAddr, seed: u64) -> ChaosProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let chaos = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let (c, s, n) = (chaos.clone(), stop.clone(), counts.clone());
        let acceptor = thread::spawn(move || {
            let mut rng = Rng::new(seed);
            let mut index = 0u64;
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        index += 1;
                        n.connections.fetch_add(1, Ordering::Relaxed);
                        if c.load(Ordering::SeqCst) && rng.chance(80) {
                            n.refused.fetch_add(1, Ordering::Relaxed);
                            continue; // dropped on the floor: a refused connect
                        }
                        let seed = rng.next() ^ index;
                        let (c, s, n) = (c.clone(), s.clone(), n.clone());
                        thread::spawn(move || pipe(client, upstream, seed, c, s, n));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => break,
                }
            }
        });
        ChaosProxy {
            addr,
            chaos,
            stop,
            counts,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on, a plain pipe (connections already open stay as they
    /// are until they end).
    pub fn calm(&self) {
        self.chaos.store(false, Ordering::SeqCst);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn pipe(
    client: TcpStream,
    upstream: SocketAddr,
    seed: u64,
    chaos: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    client.set_nonblocking(false).unwrap();
    let ends = [client.try_clone().unwrap(), server.try_clone().unwrap()];
    let done = Arc::new(AtomicBool::new(false));
    let up = {
        let (from, to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let flags = (chaos.clone(), stop.clone(), done.clone(), counts.clone());
        thread::spawn(move || pump(from, to, Rng::new(seed), false, flags))
    };
    let flags = (chaos, stop, done.clone(), counts);
    pump(server, client, Rng::new(seed ^ 0xABCD), true, flags);
    let _ = up.join();
    for e in ends {
        let _ = e.shutdown(Shutdown::Both);
    }
}

type Flags = (
    Arc<AtomicBool>,
    Arc<AtomicBool>,
    Arc<AtomicBool>,
    Arc<Counts>,
);

/// Copies `from` to `to` chunk by chunk, with faults while chaos is on.
/// `to_agent`: this direction may also have bytes changed.
fn pump(mut from: TcpStream, mut to: TcpStream, mut rng: Rng, to_agent: bool, flags: Flags) {
    let (chaos, stop, done, counts) = flags;
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let bump = |a: &AtomicU64| a.fetch_add(1, Ordering::Relaxed);
    while !stop.load(Ordering::SeqCst) && !done.load(Ordering::SeqCst) {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        counts.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let mut chunk = buf[..n].to_vec();
        if chaos.load(Ordering::SeqCst) {
            if rng.chance(25) {
                bump(&counts.resets);
                break;
            }
            if rng.chance(50) {
                bump(&counts.delays);
                thread::sleep(Duration::from_millis(rng.below(400)));
            }
            if rng.chance(15) {
                bump(&counts.truncations);
                chunk.truncate(rng.below(n as u64) as usize);
                let _ = to.write_all(&chunk);
                break;
            }
            if to_agent && rng.chance(25) {
                bump(&counts.corruptions);
                let i = rng.below(n as u64) as usize;
                chunk[i] ^= 1 << rng.below(8);
            }
            if to_agent && rng.chance(15) {
                bump(&counts.duplicates);
                let again = chunk.clone();
                chunk.extend_from_slice(&again);
            }
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
