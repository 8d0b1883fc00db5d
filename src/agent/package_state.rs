//! What the agent thread keeps for packages, apart from its glue
//! (`packages.rs`) so the runtime can hold it without importing the glue.

use std::sync::Arc;

use crate::packages::Packages;
use crate::proto::AgentRemoteConfig;

/// The manager, and a config waiting for its packages.
#[derive(Default)]
pub(super) struct PackageState {
    pub(super) mgr: Option<Packages>,
    pub(super) held: Option<AgentRemoteConfig>,
    /// How a download wakes the agent thread.
    pub(super) wake: Option<Arc<dyn Fn() + Send + Sync>>,
}
