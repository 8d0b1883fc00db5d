//! The OpAMP connection's own settings: verify, then commit.
//!
//! An offer becomes a candidate (checked, policy applied), is written to
//! `state_dir/connection.pending/`, and must complete one real exchange on
//! a second connection while the running one carries on. Only then is it
//! committed (persisted, 0600) and the running connection replaced. A
//! failure, a timeout or a newer offer leaves the running connection as it
//! was. Committed settings that stop working for `connection_fallback`
//! give way to the opamp section's, with an error in the log.

use std::time::Instant;

use super::candidate::{self, Context};
use super::csr;
use super::store::{self, Persisted};
use super::verify::{self, Poll, Verifying};
use super::{fingerprint, OfferToken, Part};
use crate::agent::connection::{build_dialer, heartbeat_for, unix_now, Dialer};
use crate::agent::runtime::Runtime;
use crate::core::Client;
use crate::proto::{ConnectionSettingsStatus, ConnectionSettingsStatuses, OpAmpConnectionSettings};
use crate::{error, info, warn};

impl Runtime {
    /// After the client exists: the committed offer is reported APPLIED
    /// again (so the server does not offer it anew) with its heartbeat.
    pub(in crate::agent) fn steer_startup(&mut self) {
        if let Some(p) = &self.steer.committed {
            self.client.set_server_heartbeat(p.heartbeat);
            self.client
                .set_connection_settings_status(ConnectionSettingsStatus {
                    last_connection_settings_hash: p.hash.clone(),
                    status: ConnectionSettingsStatuses::Applied as i32,
                    error_message: String::new(),
                });
        }
        self.csr_check();
    }

    pub(super) fn opamp_offer(
        &mut self,
        token: OfferToken,
        hash: &[u8],
        offer: OpAmpConnectionSettings,
    ) {
        if let Some(old) = self.steer.verifying.take() {
            info!(
                "connection settings {} superseded by a newer offer",
                store::hex(&old.hash)
            );
            store::discard_pending(self.state.path());
        }
        let cx = Context {
            policy: &self.settings.steering,
            current: self.steer.profile(),
            base_endpoint: fingerprint(&self.settings),
            csr_key: self.steer.csr.key.as_deref(),
            now_unix: unix_now(),
        };
        let used_csr_key = offer
            .certificate
            .as_ref()
            .is_some_and(|c| c.private_key.is_empty());
        let checked = candidate::build(hash, &offer, &cx)
            .map(|c| (candidate::changes_connection(&c, cx.current), c));
        let (changes, cand) = match checked {
            Ok(x) => x,
            Err(e) => return self.opamp_failed(token, hash, e),
        };
        let staged = match store::stage(self.state.path(), &cand) {
            Ok(p) => p,
            Err(e) => {
                let e = format!("cannot store the settings in state_dir: {e}");
                return self.opamp_failed(token, hash, e);
            }
        };
        if !changes {
            // Only the heartbeat changed; it is already in effect.
            return self.opamp_commit(token, hash, used_csr_key);
        }
        if let Err(e) = self.start_probe(token, hash, &staged, used_csr_key) {
            self.opamp_failed(token, hash, e);
        }
    }

    fn start_probe(
        &mut self,
        token: OfferToken,
        hash: &[u8],
        staged: &Persisted,
        used_csr_key: bool,
    ) -> Result<(), String> {
        let dialer = Dialer::new(&staged.profile, &self.settings).map_err(|e| e.to_string())?;
        let transport = dialer.transport;
        let msg = self.client.probe();
        let bytes = Client::encode_for(transport, &msg);
        let endpoint = staged.profile.endpoint.url();
        let probe = verify::start(
            dialer,
            self.uid_text.clone(),
            bytes,
            self.steer.waker.clone(),
        )?;
        info!(
            "verifying connection settings {} on a second connection to {endpoint}",
            store::hex(hash)
        );
        self.steer.verifying = Some(Verifying {
            token,
            hash: hash.to_vec(),
            probe,
            transport,
            endpoint,
            used_csr_key,
        });
        Ok(())
    }

    /// Reads a finished verification; called on every loop step.
    pub(in crate::agent) fn steer_step(&mut self) {
        let now = Instant::now();
        if let Some(v) = &self.steer.verifying {
            let outcome = match v.probe.poll(now) {
                Poll::Pending => None,
                Poll::Reply(bytes) => Some(
                    self.client
                        .check_probe_reply(v.transport, &bytes)
                        .map_err(|e| e.to_string()),
                ),
                Poll::Failed(e) => Some(Err(e)),
            };
            if let Some(outcome) = outcome {
                let v = self.steer.verifying.take().expect("checked above");
                match outcome {
                    Ok(()) => self.opamp_commit(v.token, &v.hash, v.used_csr_key),
                    Err(e) => {
                        let e = format!("{} did not verify: {e}", v.endpoint);
                        self.opamp_failed(v.token, &v.hash, e);
                    }
                }
            }
        }
        if self.steer.csr.renew_at.is_some_and(|t| now >= t) {
            self.steer.csr.renew_at = None;
            self.csr_check();
        }
    }

    fn opamp_failed(&mut self, token: OfferToken, hash: &[u8], reason: String) {
        store::discard_pending(self.state.path());
        warn!(
            "connection settings {} FAILED: {reason}; the current connection is kept",
            store::hex(hash)
        );
        self.offer_part_done(token, Part::OpAmp, Err(reason));
    }

    fn opamp_commit(&mut self, token: OfferToken, hash: &[u8], used_csr_key: bool) {
        let p = match store::commit(self.state.path()) {
            Ok(p) => p,
            Err(e) => {
                let e = format!("cannot commit the settings in state_dir: {e}");
                return self.opamp_failed(token, hash, e);
            }
        };
        info!(
            "connection settings {} verified and committed; the OpAMP connection now uses {}",
            store::hex(hash),
            p.profile.endpoint.url()
        );
        if used_csr_key {
            csr::forget_key(self.state.path());
            self.steer.csr.key = None;
            self.client.set_connection_settings_request(None);
        }
        let reconnect = p.profile != *self.steer.profile();
        self.steer.committed = Some(p);
        self.steer.failing_since = None;
        if reconnect {
            self.use_profile();
        }
        self.offer_part_done(token, Part::OpAmp, Ok(()));
        self.csr_check();
    }

    /// Drops the running connection and dials with the profile now in
    /// effect; a local close costs no backoff.
    pub(in crate::agent) fn use_profile(&mut self) {
        let p = self.steer.profile().clone();
        self.close_locally();
        let t = p.transport();
        self.client
            .set_transport(t, heartbeat_for(t, &self.settings));
        self.dialer = build_dialer(&p, &self.settings);
    }

    /// A connection attempt or a connection failed. Committed settings
    /// that have not worked for `connection_fallback` give way.
    pub(in crate::agent) fn steer_link_failed(&mut self, now: Instant) {
        let Some(p) = &self.steer.committed else {
            return;
        };
        let since = *self.steer.failing_since.get_or_insert(now);
        let limit = self.settings.steering.fallback_after;
        if now.duration_since(since) < limit {
            return;
        }
        let dir = self.state.path();
        error!(
            "the committed OpAMP connection settings ({}) have not worked for {}s; falling back to the opamp section's settings (the old ones are in {})",
            p.profile.endpoint.url(),
            limit.as_secs(),
            store::abandoned_file(dir).display()
        );
        if let Err(e) = store::abandon(dir) {
            error!("cannot set the committed connection settings aside: {e}");
        }
        let why = format!(
            "did not connect for {}s; back to the opamp section's settings",
            limit.as_secs()
        );
        self.event_connection_fallback(&p.hash.clone(), why);
        self.steer.committed = None;
        self.steer.failing_since = None;
        self.client.set_server_heartbeat(None);
        self.use_profile();
    }

    pub(in crate::agent) fn steer_link_ok(&mut self) {
        self.steer.failing_since = None;
    }

    /// With `tls.csr on`: asks for a certificate when there is none or the
    /// current one is due for renewal, else schedules the renewal.
    pub(in crate::agent) fn csr_check(&mut self) {
        if !self.settings.steering.csr || self.steer.csr.key.is_some() {
            return;
        }
        let now = unix_now();
        let crt = self.steer.profile().tls.crt_file.clone();
        if let Some(v) = csr::current_validity(crt.as_deref()) {
            let at = csr::renewal_time(&v);
            if now < at {
                info!(
                    "client certificate expires {}; renewing it by CSR from {}",
                    crate::transport::tls_material::utc(v.not_after),
                    crate::transport::tls_material::utc(at)
                );
                self.steer.csr.renew_at = Some(csr::instant_at(at, now));
                return;
            }
        }
        match csr::request(self.state.path(), &self.uid_text) {
            Ok((key, req)) => {
                info!("requesting a client certificate from the server by CSR");
                self.steer.csr.key = Some(key);
                self.client.set_connection_settings_request(Some(req));
            }
            Err(e) => error!("cannot request a client certificate: {e}"),
        }
    }
}
