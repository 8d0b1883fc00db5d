//! The few libc calls the plugin needs that std does not wrap.

/// Ask our own process to hot-reload, exactly as an operator's `kill -HUP`
/// would: Fluent Bit's handler then reloads from the bootstrap config.
pub fn signal_reload() -> std::io::Result<()> {
    // SAFETY: kill(2) with our own pid and a constant signal has no memory
    // safety preconditions.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The kernel thread id, which tests compare with /proc and across reloads.
pub fn thread_id() -> u64 {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    (unsafe { libc::gettid() }) as u64
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which
/// are readable. An interrupted wait reports nothing ready.
pub fn poll_readable(fds: &[std::os::fd::RawFd], timeout: std::time::Duration) -> Vec<bool> {
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
