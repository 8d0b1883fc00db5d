//! The few OS calls the plugin needs that std does not wrap. With `ffi/`
//! this is the only room allowed `unsafe`; it sits at the bottom of the
//! house and imports nothing of the crate.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

/// Ask our own process to hot-reload, exactly as an operator's `kill -HUP`
/// would: Fluent Bit's handler then reloads from the bootstrap config.
pub fn signal_reload() -> io::Result<()> {
    // SAFETY: kill(2) with our own pid and a constant signal has no memory
    // safety preconditions.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `sig` to our own process: the crash tests' SIGKILL and SIGTERM
/// at an apply checkpoint (debug builds only call it).
pub fn signal_self(sig: i32) -> io::Result<()> {
    // SAFETY: kill(2) with our own pid has no memory safety preconditions;
    // an invalid signal number is reported as EINVAL.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub const SIGKILL: i32 = libc::SIGKILL;
pub const SIGTERM: i32 = libc::SIGTERM;

/// The kernel thread id, which tests compare with /proc and across reloads.
pub fn thread_id() -> u64 {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    (unsafe { libc::gettid() }) as u64
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which
/// are readable. An interrupted wait reports nothing ready.
pub fn poll_readable(fds: &[RawFd], timeout: Duration) -> Vec<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a live, correctly sized array of pollfd for the
    // duration of the call, and its length is passed with it.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if rc <= 0 {
        return vec![false; fds.len()];
    }
    pfds.iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0)
        .collect()
}

/// Random bytes from the kernel's CSPRNG (getrandom(2)). An error is
/// returned, never a predictable fill: identities and jitter built from
/// zeros would collide across a fleet.
pub fn random_bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        let rest = &mut out[filled..];
        // SAFETY: `rest` is a live, writable buffer of exactly `rest.len()`
        // bytes for the duration of the call.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_are_filled_and_differ() {
        let a: [u8; 32] = random_bytes().unwrap();
        let b: [u8; 32] = random_bytes().unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0; 32]);
    }

    #[test]
    fn poll_reports_the_readable_descriptor() {
        use std::io::Write;
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::os::fd::AsRawFd;
        let fds = [a.as_raw_fd(), c.as_raw_fd()];
        assert_eq!(poll_readable(&fds, Duration::ZERO), vec![false, false]);
        b.write_all(b"x").unwrap();
        assert_eq!(
            poll_readable(&fds, Duration::from_secs(1)),
            vec![true, false]
        );
    }
}
