//! The agent thread's main loop.

use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::Control;
use crate::config::properties::Settings;
use crate::ffi::sys;
use crate::state_dir::StateDir;
use crate::{debug, info, warn};

pub(super) fn run(settings: Settings, state: StateDir, generation: u64, rx: Receiver<Control>) {
    let tid = sys::thread_id();
    info!(
        "OpAMP client thread started (tid={tid}, generation={generation}, endpoint={})",
        settings.endpoint
    );
    let _ = &state;
    let mut attached = Some(generation);
    loop {
        let wait = Duration::from_secs(3600);
        match rx.recv_timeout(wait) {
            Ok(Control::Attach { generation, .. }) => {
                attached = Some(generation);
                info!("generation {generation} attached to OpAMP client thread (tid={tid})");
            }
            Ok(Control::Inert { generation }) => {
                attached = None;
                warn!("generation {generation} has invalid opamp settings; the client is idle until they are fixed");
            }
            Ok(Control::PreRun { generation, hot_reload }) => {
                debug!("generation {generation} running (hot_reload={hot_reload})");
            }
            Ok(Control::Detach { generation }) => {
                if attached == Some(generation) {
                    attached = None;
                }
                debug!("generation {generation} detached");
            }
            Ok(Control::HaltedReload) => info!("Fluent Bit refused a reload; the running pipeline is unchanged"),
            Ok(Control::Aborted { generation }) => warn!("reload into generation {generation} failed in init; Fluent Bit is exiting"),
            Ok(Control::Shutdown) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    let _ = Instant::now();
    info!("OpAMP client thread ending (tid={tid})");
}
