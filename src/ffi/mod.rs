//! The proxy-ABI boundary: every symbol Fluent Bit looks up, and the only
//! module with `unsafe`.
//!
//! Rules, after rustls-ffi: every export catches panics and turns them into a
//! safe return value; pointers from the host are read once, checked for
//! null, and copied; nothing here blocks except the bounded goodbye on final
//! shutdown. Register and PreRegister only register: dry runs and reloads
//! call them too.

// The exports are entry points for C, never called from Rust: their pointer
// contracts are the host's, checked for null and documented at each use, so
// marking them `unsafe fn` would tell no Rust caller anything.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    clippy::all
)]
pub mod bindings;
pub mod host;
mod trace;

use std::ffi::{c_char, c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

use bindings::{flb_input_plugin_head, flb_proxy_def};

use crate::plugin;

/// Our registration strings. The host keeps `description` without copying
/// it, so both live in static storage for the life of the process.
static NAME: &[u8] = b"opamp\0";
static DESCRIPTION: &[u8] = b"OpAMP client: reports status and applies remote config\0";

/// Runs `f`, turning a panic into `fallback`: unwinding into C is undefined.
fn guard<T>(what: &str, fallback: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(_) => {
            crate::error!("internal error: panic in {what}; the plugin stays inert");
            fallback
        }
    }
}

/// # Safety
/// Called by Fluent Bit with its reload flag; reads nothing else.
#[no_mangle]
pub extern "C" fn FLBPluginPreRegister(hot_reloading: c_int) -> c_int {
    // Registration must have no side effects: `--dry-run` and every reload
    // call this too.
    guard("FLBPluginPreRegister", 0, || {
        trace::call("PreRegister", Some(hot_reloading as i64));
        0
    })
}

/// Fills in the registration definition.
#[no_mangle]
pub extern "C" fn FLBPluginRegister(def: *mut flb_proxy_def) -> c_int {
    trace::call("Register", None);
    guard("FLBPluginRegister", -1, || {
        if def.is_null() {
            return -1;
        }
        // SAFETY: the host passes a live, writable definition of at least the
        // five leading fields (32 bytes on LP64) in every release from 2.2 on.
        // We write only those fields: 3.2.x allocates nothing beyond them and
        // does not zero `flags`.
        unsafe {
            (*def).type_ = bindings::FLB_OPAMP_PROXY_INPUT_PLUGIN as c_int;
            (*def).proxy = bindings::FLB_OPAMP_PROXY_GOLANG as c_int;
            (*def).flags = 0;
            (*def).name = NAME.as_ptr() as *mut c_char;
            (*def).description = DESCRIPTION.as_ptr() as *mut c_char;
        }
        plugin::on_register(def as usize);
        0
    })
}

/// Attaches a new pipeline instance. Never fails: a failed Init kills
/// Fluent Bit 5.x and corrupts 3.2.x, so bad settings leave us inert instead.
#[no_mangle]
pub extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
    trace::call("Init", None);
    guard("FLBPluginInit", 1, || {
        // SAFETY: `plugin` is the Init argument the host passes: null or a
        // live head struct for the duration of this call.
        let host = unsafe { host::Host::from_init_arg(plugin as *const flb_input_plugin_head) };
        if let Some(h) = host {
            plugin::on_init(&h);
        }
        // Go's FLB_OK: the host treats <= 0 as failure.
        1
    })
}

#[no_mangle]
pub extern "C" fn FLBPluginInputPreRun(enable_hot_reload: c_int) -> c_int {
    trace::call("PreRun", Some(enable_hot_reload as i64));
    guard("FLBPluginInputPreRun", 0, || {
        plugin::on_pre_run(enable_hot_reload != 0);
        0
    })
}

/// The host's collector, every second on the input's thread: hands over
/// the management event records waiting, or nothing. Idle, it is one atomic
/// load; it never waits on the agent (see `events::drain`).
///
/// Buffer ownership (fluent-bit-host.md, "Emitted records" and "Proxy input
/// buffers"; `flb_proxy_input_cb_collect` in src/flb_plugin_proxy.c of 2.2.3,
/// 3.2.10, 4.2.8 and 5.1.1): with `len == 0` the host returns before any
/// cleanup, so no buffer may go out then; with `ret == -1` it returns without
/// cleanup, so we never fail with a buffer. Otherwise it copies the records
/// (`flb_input_log_append`) and calls our `FLBPluginInputCleanupCallback`
/// (4.x/5.x would prefer a `...Ctx` variant, which we do not export), or
/// libc `free` if it found none: the buffer comes from `malloc`, so either
/// way it is freed by the allocator that made it.
#[no_mangle]
pub extern "C" fn FLBPluginInputCallback(data: *mut *mut c_void, len: *mut usize) -> c_int {
    guard("FLBPluginInputCallback", 0, || {
        if data.is_null() || len.is_null() {
            // Nowhere to put records: leave them queued.
            return 0;
        }
        let (buf, n) = plugin::on_collect().map_or((std::ptr::null_mut(), 0), |r| host_buffer(&r));
        // SAFETY: the host passes the addresses of a local `void *` and a
        // local `size_t`, both checked for null above.
        unsafe {
            *data = buf;
            *len = n;
        }
        0
    })
}

/// A `malloc` copy of `records`, and its length; null and 0 when it cannot
/// be had (the records are lost then, as under memory pressure anyway).
fn host_buffer(records: &[u8]) -> (*mut c_void, usize) {
    if records.is_empty() {
        return (std::ptr::null_mut(), 0);
    }
    // SAFETY: malloc with a non-zero size; the result is checked for null.
    let p = unsafe { libc::malloc(records.len()) };
    if p.is_null() {
        return (p, 0);
    }
    // SAFETY: `p` is a fresh allocation of `records.len()` bytes, which
    // cannot overlap `records`.
    unsafe { std::ptr::copy_nonoverlapping(records.as_ptr(), p.cast::<u8>(), records.len()) };
    (p, records.len())
}

/// Frees a buffer [`FLBPluginInputCallback`] handed out, after the host has
/// copied it. Exported so no host ever frees our memory by a rule of its
/// own.
#[no_mangle]
pub extern "C" fn FLBPluginInputCleanupCallback(data: *mut c_void) -> c_int {
    guard("FLBPluginInputCleanupCallback", 0, || {
        if !data.is_null() {
            // SAFETY: the host passes back the pointer our callback returned,
            // which `host_buffer` got from malloc, exactly once.
            unsafe { libc::free(data) };
        }
        0
    })
}

#[no_mangle]
pub extern "C" fn FLBPluginInputPause() {
    trace::call("Pause", None);
    guard("FLBPluginInputPause", (), plugin::on_pause)
}

#[no_mangle]
pub extern "C" fn FLBPluginInputResume() {
    trace::call("Resume", None);
    guard("FLBPluginInputResume", (), plugin::on_resume)
}

#[no_mangle]
pub extern "C" fn FLBPluginInputPreExit(shutdown_by_hot_reloading: c_int) {
    // The flag is deliberately not acted on: it stays 1 after a halted
    // reload, so it would misreport the final shutdown. Registrations tell
    // reload from shutdown instead.
    guard("FLBPluginInputPreExit", (), || {
        trace::call("PreExit", Some(shutdown_by_hot_reloading as i64))
    })
}

#[no_mangle]
pub extern "C" fn FLBPluginExit() -> c_int {
    trace::call("Exit", None);
    guard("FLBPluginExit", 0, || {
        plugin::on_exit();
        0
    })
}

#[no_mangle]
pub extern "C" fn FLBPluginUnregister(def: *mut flb_proxy_def) {
    trace::call("Unregister", None);
    guard("FLBPluginUnregister", (), || {
        plugin::on_unregister(def as usize)
    })
}
