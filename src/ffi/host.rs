//! Safe access to what the host hands FLBPluginInit.
//!
//! The API table and the instance pointer are freed after that instance's
//! Unregister, so they are used only during Init. The `log_print` function
//! itself lives in the Fluent Bit binary and stays valid, so the log sink
//! keeps just that function pointer.

use std::ffi::{c_char, c_int, CStr, CString};
use std::marker::PhantomData;

use super::bindings::{flb_api, flb_input_instance, flb_input_plugin_head};
use crate::logging::{Level, SinkFn};
use crate::plugin::HostApi;

type GetProperty = unsafe extern "C" fn(*const c_char, *mut flb_input_instance) -> *const c_char;
type LogCheck = unsafe extern "C" fn(*mut flb_input_instance, c_int) -> c_int;
type LogPrint = unsafe extern "C" fn(c_int, *const c_char, c_int, *const c_char, ...);

/// The host's callbacks for one instance. The lifetime is that of the Init
/// argument: the instance pointer is freed after Unregister, so a `Host`
/// cannot be kept past the Init call that made it.
pub struct Host<'a> {
    i_ins: *mut flb_input_instance,
    get_property: Option<GetProperty>,
    log_check: Option<LogCheck>,
    log_print: Option<LogPrint>,
    _init: PhantomData<&'a flb_input_plugin_head>,
}

impl<'a> Host<'a> {
    /// Reads the leading, stable fields of the Init argument.
    ///
    /// # Safety
    /// `head` is null or points at the host's Init argument, alive for the
    /// duration of the Init call.
    pub unsafe fn from_init_arg(head: *const flb_input_plugin_head) -> Option<Host<'a>> {
        if head.is_null() {
            return None;
        }
        // SAFETY: the host passes a live struct whose first three pointers
        // (name, api, i_ins) have had this layout since 2.2; we read nothing
        // past them.
        let (api, i_ins) = unsafe { ((*head).api, (*head).i_ins) };
        if api.is_null() {
            return None;
        }
        // SAFETY: `api` points at the host's function table, whose first
        // seven entries are the same in every supported release. Copying the
        // entries out makes later use independent of the table's lifetime.
        let table: &flb_api = unsafe { &*api };
        Some(Host {
            i_ins,
            get_property: table.input_get_property,
            log_check: table.input_log_check,
            log_print: table.log_print,
            _init: PhantomData,
        })
    }
}

impl HostApi for Host<'_> {
    /// The first value of `key`, copied at once: the host owns the string.
    fn property(&self, key: &str) -> Option<String> {
        let f = self.get_property?;
        let key = CString::new(key).ok()?;
        // SAFETY: `f` is the host's input_get_property, called during Init
        // with the live instance it gave us and a NUL-terminated key.
        let v = unsafe { f(key.as_ptr(), self.i_ins) };
        if v.is_null() {
            return None;
        }
        // SAFETY: a non-null result is a NUL-terminated string owned by the
        // instance, alive for this call; we copy it before returning.
        Some(unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned())
    }

    /// The most verbose level this instance logs at (`log_level`).
    fn max_level(&self) -> Level {
        let Some(check) = self.log_check else {
            return Level::Info;
        };
        for level in [
            Level::Trace,
            Level::Debug,
            Level::Info,
            Level::Warn,
            Level::Error,
        ] {
            // SAFETY: input_log_check only reads the live instance's level.
            if unsafe { check(self.i_ins, level as c_int) } != 0 {
                return level;
            }
        }
        Level::Error
    }

    /// A sink that writes through the host's `log_print`, usable from any
    /// thread for the rest of the process lifetime.
    fn log_sink(&self) -> Option<Box<SinkFn>> {
        let print = self.log_print?;
        Some(Box::new(move |level: Level, msg: &str| {
            let text = CString::new(msg.replace('\0', " ")).unwrap_or_default();
            // SAFETY: `print` is Fluent Bit's flb_log_print, which lives in
            // the binary for the whole process. The format is a literal
            // "%s" taking exactly one NUL-terminated string argument.
            unsafe {
                print(
                    level as c_int,
                    c"opamp".as_ptr(),
                    0,
                    c"[input:opamp] %s".as_ptr(),
                    text.as_ptr(),
                )
            };
        }))
    }
}
