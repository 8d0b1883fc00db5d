//! libFuzzer target; the body is `entries::command::command_request`, which
//! tests/fuzz_replay.rs also runs on this target's saved corpus.
#![no_main]

#[allow(dead_code)]
#[path = "../entries/mod.rs"]
mod entries;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    entries::install_panic_hook();
    entries::command::command_request(data)
});
