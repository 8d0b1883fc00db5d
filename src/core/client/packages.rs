//! "Packages": offers reach the driver as
//! [`Action::Packages`](crate::core::Action::Packages), once per
//! `all_packages_hash`; the driver's PackageStatuses travel as a status
//! part, compressed like the others. Downloads, hashes of content and
//! storage are the driver's: the core only carries the bytes.

use super::Client;
use crate::core::action::{Action, LogLevel};
use crate::proto::{PackageStatuses, PackagesAvailable};

impl Client {
    /// The statuses of every package the agent has or is processing
    /// ("The Client MUST always include all packages"). Sent only with
    /// `reports_package_statuses`.
    pub fn set_package_statuses(&mut self, s: PackageStatuses) {
        self.status.current.package_statuses = Some(s);
    }

    pub(super) fn on_packages_available(&mut self, pa: PackagesAvailable) {
        if !self.caps.accepts_packages {
            self.log(
                LogLevel::Debug,
                "ignoring packages_available: AcceptsPackages is not claimed".into(),
            );
            return;
        }
        // "Step 1": the same aggregate hash means nothing to do, whether
        // we handed it out already or report having it.
        let hash = &pa.all_packages_hash;
        let reported = self
            .status
            .current
            .package_statuses
            .as_ref()
            .map(|s| &s.server_provided_all_packages_hash);
        if !hash.is_empty()
            && (self.last_packages_hash.as_ref() == Some(hash) || reported == Some(hash))
        {
            return;
        }
        self.last_packages_hash = (!hash.is_empty()).then(|| hash.clone());
        self.actions.push_back(Action::Packages(Box::new(pa)));
    }
}
