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
