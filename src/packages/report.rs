//! `PackageStatuses`: every package the agent has or is processing, with
//! state, reason and download progress, and the offer's aggregate hash.
//! Never carries a URL or a header.

use std::sync::atomic::Ordering;

use super::{Packages, State};
use crate::proto::{PackageDownloadDetails, PackageStatus, PackageStatusEnum, PackageStatuses};

impl Packages {
    pub fn statuses(&self) -> PackageStatuses {
        let mut out = PackageStatuses {
            server_provided_all_packages_hash: self.offer_hash.clone(),
            ..Default::default()
        };
        for (name, e) in &self.entries {
            let stored = self.ix.packages.get(name);
            let has = stored.and_then(|p| p.current.as_ref());
            let removed = stored.is_some_and(|p| p.removed);
            let (status, error) = match &e.state {
                State::Pending => (PackageStatusEnum::InstallPending, String::new()),
                State::Downloading => (PackageStatusEnum::Downloading, String::new()),
                State::Installed => (PackageStatusEnum::Installed, e.note.clone()),
                State::Failed(why) => (PackageStatusEnum::InstallFailed, why.clone()),
            };
            let mut s = PackageStatus {
                name: name.clone(),
                agent_has_version: has.map(|v| v.version.clone()).unwrap_or_default(),
                agent_has_hash: has.map(|v| v.hash.clone()).unwrap_or_default(),
                status: status as i32,
                error_message: error,
                ..Default::default()
            };
            if !removed {
                s.server_offered_version = e.offered_version.clone();
                s.server_offered_hash = e.offered_hash.clone();
            }
            if e.state == State::Downloading {
                s.download_details = self.progress(name);
            }
            out.packages.insert(name.clone(), s);
        }
        out
    }

    fn progress(&self, name: &str) -> Option<PackageDownloadDetails> {
        let r = self.running.as_ref().filter(|r| r.name == name)?;
        let got = r.got.load(Ordering::Relaxed) as f64;
        let total = r.total.load(Ordering::Relaxed) as f64;
        let secs = r.started.elapsed().as_secs_f64().max(0.001);
        Some(PackageDownloadDetails {
            // Whole percents and bytes per second: finer values would
            // make every poll a new status.
            download_percent: if total > 0.0 {
                (got * 100.0 / total).floor()
            } else {
                0.0
            },
            download_bytes_per_second: (got / secs).round(),
        })
    }
}
