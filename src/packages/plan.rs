//! Deciding what an offered package needs ("Downloading Packages", steps
//! 2 and 3): nothing, a stored version made current again, or a download;
//! or a refusal, with the reason reported as the package's error.

use std::path::Path;

use super::fetch::Job;
use super::store::Version;
use super::verify::hex;
use super::{names, Packages, AGENT_NAME};
use crate::proto::{PackageAvailable, PackageType};
use crate::transport::download;
use crate::transport::Headers;

pub(super) enum Plan {
    Have,
    Promote(Version),
    Fetch(Box<Job>),
}

fn is_top_level(p: &PackageAvailable) -> bool {
    p.r#type == PackageType::TopLevel as i32
}

/// The folder name a package is kept under.
pub(super) fn stored_name(name: &str, p: &PackageAvailable) -> String {
    if name.is_empty() && is_top_level(p) {
        AGENT_NAME.to_string()
    } else {
        name.to_string()
    }
}

/// The status text of a staged top-level package.
pub(super) fn staged_note(to: Option<&Path>) -> String {
    match to {
        Some(to) => format!(
            "installed, active after restart: staged at {}; the running file is unchanged",
            to.display()
        ),
        None => String::new(),
    }
}

impl Packages {
    pub(super) fn plan(&self, name: &str, p: &PackageAvailable) -> Result<Plan, String> {
        names::check_part("package name", name, false)?;
        let top = is_top_level(p);
        if top && !self.limits.agent {
            return Err(
                "refused: this agent does not accept the top-level agent package \
                 (a new plugin build or Fluent Bit); the operator turns it on with \
                 'packages.agent on', and image-based deployments ship a new image instead"
                    .into(),
            );
        }
        let file = p
            .file
            .as_ref()
            .ok_or("the offer has no downloadable file")?;
        let version = if p.version.is_empty() {
            hex(&p.hash[..p.hash.len().min(8)])
        } else {
            p.version.clone()
        };
        names::check_part("version", &version, true)?;
        let file_name = names::file_name(&file.download_url)?;
        if !top {
            if let Some(plugin) = names::runs_with(&file_name)? {
                names::allowed(&self.limits.plugins, plugin)?;
            }
        }
        download::check_url(&file.download_url, self.limits.download.allow_http)
            .map_err(|e| e.to_string())?;
        if file.content_hash.len() != 32 {
            return Err(
                "the offer has no SHA-256 content_hash; nothing unverified is installed".into(),
            );
        }
        let v = Version {
            version,
            hash: p.hash.clone(),
            content_hash: file.content_hash.clone(),
            file: file_name,
            size: 0,
        };
        let stored = self.ix.packages.get(name);
        let same = |o: &Version| o.version == v.version && o.content_hash == v.content_hash;
        if stored.and_then(|s| s.current.as_ref()).is_some_and(same) {
            return Ok(Plan::Have);
        }
        if let Some(k) = stored.and_then(|s| s.kept.iter().find(|k| same(k))) {
            return Ok(Plan::Promote(k.clone()));
        }
        self.fetch_job(name, v, file, top)
            .map(|j| Plan::Fetch(Box::new(j)))
    }

    fn fetch_job(
        &self,
        name: &str,
        v: Version,
        file: &crate::proto::DownloadableFile,
        top: bool,
    ) -> Result<Job, String> {
        let stage_to = if top {
            Some(self.limits.stage_to.clone().ok_or(
                "refused: the running plugin file could not be found, so there is nowhere \
                 beside it to stage a new build",
            )?)
        } else {
            None
        };
        let mut headers = Headers::new();
        for h in file.headers.iter().flat_map(|h| h.headers.iter()) {
            // The value may be a token: the message names the header only.
            headers.push(&h.key, &h.value).map_err(|_| {
                format!(
                    "the download header '{}' cannot be sent",
                    names::clip(&h.key)
                )
            })?;
        }
        let config = self.limits.download.clone();
        Ok(Job {
            name: name.to_string(),
            url: file.download_url.clone(),
            headers,
            version: v,
            signature: file.signature.clone(),
            signatures: self.limits.signatures.clone(),
            config,
            stage_to,
        })
    }

    /// The room a download may fill: the size cap, or what the quota has
    /// left now (earlier downloads of the same offer count).
    pub(super) fn room(&self) -> Result<u64, String> {
        let used = self.ix.used();
        let room = self.limits.quota.saturating_sub(used);
        if room == 0 {
            return Err(format!(
                "packages.quota is full ({used} bytes stored); nothing more is downloaded"
            ));
        }
        Ok(self.limits.max_size.min(room))
    }

    /// A too-large download may have met the quota rather than the cap:
    /// say which.
    pub(super) fn explain(&self, why: String) -> String {
        if why.contains("larger than")
            && self.limits.quota.saturating_sub(self.ix.used()) < self.limits.max_size
        {
            format!(
                "{why}: packages.quota ({} bytes) would be exceeded ({} bytes already stored)",
                self.limits.quota,
                self.ix.used()
            )
        } else {
            why
        }
    }
}
