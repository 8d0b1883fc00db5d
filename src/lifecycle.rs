//! What Fluent Bit's proxy callbacks mean, as a pure state machine.
//!
//! The host never says "this is a reload" or "this is shutdown". We infer it
//! from the order of callbacks measured on real Fluent Bit 3.2, 4.2 and 5.1
//! (tests/call_order.rs compares the C test host with them):
//!
//! * startup: Register(A), Init, PreRun
//! * reload: Register(B), [old] Pause, Pause, PreExit, Exit, Unregister(A), [new] Init, PreRun
//! * halted reload: Register(B), Unregister(B), no Init
//! * aborted reload: Register(B), old Exit, Unregister(A), maybe Init(B), Unregister(B), exit(255)
//! * dry run: Register(A), Unregister(A), no Init
//! * shutdown: Pause, Pause, PreExit, Exit, Unregister(A)
//!
//! Registrations are keyed by the definition pointer the host passes, which
//! differs per registration. An instance belongs to the newest registration
//! at its Init. The PreExit flag is deliberately ignored: it stays 1 after a
//! halted reload, so it would call the final shutdown a reload.

/// Identity of one registration: the address of the host's definition struct.
pub type RegId = usize;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Registration {
    id: RegId,
    /// Instances initialised for this registration and not yet exited.
    live: u32,
    /// Whether any instance of it was ever initialised.
    initialised: bool,
}

/// What an Init should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// First instance in this process: start the client.
    Start { generation: u64 },
    /// A new pipeline generation after a reload: re-attach to the running client.
    Reattach { generation: u64 },
    /// Another opamp instance is already live in this generation.
    Duplicate,
    /// Init without a prior Register: the host broke the contract; stay inert.
    Unregistered,
}

/// What an Exit means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitOutcome {
    /// A newer registration exists: this is a reload; only detach.
    Reload { generation: u64 },
    /// No newer registration: the process is shutting down; say goodbye.
    Shutdown { generation: u64 },
    /// One of several instances (a refused duplicate) exited; nothing to do.
    Other,
}

/// What an Unregister means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnregisterOutcome {
    /// The old registration went away after its successor registered.
    Superseded,
    /// A new registration was dropped without Init while the old pipeline
    /// still runs: Fluent Bit refused the new config.
    HaltedReload,
    /// The last registration went away while it never reached a running
    /// instance, or while its instance was still live: the process is
    /// exiting after a reload failed in init.
    Aborted { generation: u64 },
    /// The last registration went away after its instance exited normally.
    Shutdown,
    /// No instance ever ran (dry run, or the plugin is loaded but unused).
    Idle,
    /// A pointer we never saw registered.
    Unknown,
}

#[derive(Debug, Default)]
pub struct Lifecycle {
    registrations: Vec<Registration>,
    generation: u64,
    /// Generation of the instance the client is attached to, if any.
    attached: Option<u64>,
    /// Set once any instance ever started a client in this process.
    started: bool,
    /// Set once shutdown was decided; later Inits stay inert.
    finished: bool,
}

impl Lifecycle {
    pub const fn new() -> Self {
        Lifecycle {
            registrations: Vec::new(),
            generation: 0,
            attached: None,
            started: false,
            finished: false,
        }
    }

    pub fn on_register(&mut self, id: RegId) {
        // The host may reuse a freed definition's address; a fresh Register
        // is a fresh registration either way.
        self.registrations.retain(|r| r.id != id);
        self.registrations.push(Registration {
            id,
            live: 0,
            initialised: false,
        });
    }

    pub fn on_init(&mut self) -> InitOutcome {
        if self.finished {
            return InitOutcome::Unregistered;
        }
        let Some(reg) = self.registrations.last_mut() else {
            return InitOutcome::Unregistered;
        };
        if reg.live > 0 {
            // A second `[INPUT] opamp` in the same pipeline: both share the
            // host's API pointers and cannot be told apart later.
            reg.live += 1;
            return InitOutcome::Duplicate;
        }
        reg.live = 1;
        reg.initialised = true;
        self.generation += 1;
        self.attached = Some(self.generation);
        if self.started {
            InitOutcome::Reattach {
                generation: self.generation,
            }
        } else {
            self.started = true;
            InitOutcome::Start {
                generation: self.generation,
            }
        }
    }

    /// The generation whose PreRun just ran (PreRun carries no instance).
    pub fn on_pre_run(&self) -> Option<u64> {
        self.attached
    }

    pub fn on_exit(&mut self) -> ExitOutcome {
        // Exit carries no instance either; it belongs to the oldest
        // registration that still has a live instance.
        let Some(pos) = self.registrations.iter().position(|r| r.live > 0) else {
            return ExitOutcome::Other;
        };
        let reg = &mut self.registrations[pos];
        reg.live -= 1;
        if reg.live > 0 {
            return ExitOutcome::Other;
        }
        let Some(generation) = self.attached.take() else {
            return ExitOutcome::Other;
        };
        if pos + 1 < self.registrations.len() {
            ExitOutcome::Reload { generation }
        } else {
            self.finished = true;
            ExitOutcome::Shutdown { generation }
        }
    }

    pub fn on_unregister(&mut self, id: RegId) -> UnregisterOutcome {
        let Some(pos) = self.registrations.iter().position(|r| r.id == id) else {
            return UnregisterOutcome::Unknown;
        };
        let reg = self.registrations.remove(pos);
        if !self.registrations.is_empty() {
            return if reg.initialised {
                UnregisterOutcome::Superseded
            } else {
                UnregisterOutcome::HaltedReload
            };
        }
        if !self.started {
            return UnregisterOutcome::Idle;
        }
        let aborted = reg.live > 0 || !reg.initialised;
        self.finished = true;
        if aborted {
            let generation = self.attached.take().unwrap_or(self.generation);
            UnregisterOutcome::Aborted { generation }
        } else {
            UnregisterOutcome::Shutdown
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: RegId = 0x1000;
    const B: RegId = 0x2000;
    const C: RegId = 0x3000;

    fn started() -> Lifecycle {
        let mut l = Lifecycle::new();
        l.on_register(A);
        assert_eq!(l.on_init(), InitOutcome::Start { generation: 1 });
        assert_eq!(l.on_pre_run(), Some(1));
        l
    }

    #[test]
    fn startup_starts_the_client_once() {
        let l = started();
        assert_eq!(l.generation(), 1);
        assert!(!l.is_finished());
    }

    #[test]
    fn successful_reload_reattaches_without_shutdown() {
        let mut l = started();
        l.on_register(B);
        assert_eq!(l.on_exit(), ExitOutcome::Reload { generation: 1 });
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Superseded);
        assert_eq!(l.on_init(), InitOutcome::Reattach { generation: 2 });
        assert_eq!(l.on_pre_run(), Some(2));
        assert!(!l.is_finished());
    }

    #[test]
    fn twenty_reloads_then_shutdown() {
        let mut l = started();
        let mut old = A;
        for i in 0..20u64 {
            let new = 0x10_000 + i as usize;
            l.on_register(new);
            assert_eq!(l.on_exit(), ExitOutcome::Reload { generation: i + 1 });
            assert_eq!(l.on_unregister(old), UnregisterOutcome::Superseded);
            assert_eq!(l.on_init(), InitOutcome::Reattach { generation: i + 2 });
            old = new;
        }
        assert_eq!(l.on_exit(), ExitOutcome::Shutdown { generation: 21 });
        assert_eq!(l.on_unregister(old), UnregisterOutcome::Shutdown);
        assert!(l.is_finished());
    }

    #[test]
    fn halted_reload_keeps_old_instance_and_final_sigterm_is_shutdown() {
        let mut l = started();
        l.on_register(B);
        assert_eq!(l.on_unregister(B), UnregisterOutcome::HaltedReload);
        // The host's PreExit flag would say "reload" here; we do not care.
        assert_eq!(l.on_exit(), ExitOutcome::Shutdown { generation: 1 });
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Shutdown);
    }

    #[test]
    fn aborted_reload_after_new_init() {
        let mut l = started();
        l.on_register(B);
        assert_eq!(l.on_exit(), ExitOutcome::Reload { generation: 1 });
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Superseded);
        assert_eq!(l.on_init(), InitOutcome::Reattach { generation: 2 });
        // A later input failed to init: no Exit for ours, straight to Unregister.
        assert_eq!(
            l.on_unregister(B),
            UnregisterOutcome::Aborted { generation: 2 }
        );
        assert!(l.is_finished());
    }

    #[test]
    fn aborted_reload_before_new_init() {
        let mut l = started();
        l.on_register(B);
        assert_eq!(l.on_exit(), ExitOutcome::Reload { generation: 1 });
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Superseded);
        assert_eq!(
            l.on_unregister(B),
            UnregisterOutcome::Aborted { generation: 1 }
        );
    }

    #[test]
    fn dry_run_is_idle() {
        let mut l = Lifecycle::new();
        l.on_register(A);
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Idle);
        assert!(!l.is_finished());
    }

    #[test]
    fn second_instance_in_one_generation_is_refused() {
        let mut l = started();
        assert_eq!(l.on_init(), InitOutcome::Duplicate);
        // Two Exits come at shutdown; only the last one is the shutdown.
        assert_eq!(l.on_exit(), ExitOutcome::Other);
        assert_eq!(l.on_exit(), ExitOutcome::Shutdown { generation: 1 });
    }

    #[test]
    fn init_without_register_stays_inert() {
        let mut l = Lifecycle::new();
        assert_eq!(l.on_init(), InitOutcome::Unregistered);
    }

    #[test]
    fn unknown_unregister_is_ignored() {
        let mut l = started();
        assert_eq!(l.on_unregister(C), UnregisterOutcome::Unknown);
        assert_eq!(l.on_pre_run(), Some(1));
    }

    #[test]
    fn halted_then_successful_reload() {
        let mut l = started();
        l.on_register(B);
        assert_eq!(l.on_unregister(B), UnregisterOutcome::HaltedReload);
        l.on_register(C);
        assert_eq!(l.on_exit(), ExitOutcome::Reload { generation: 1 });
        assert_eq!(l.on_unregister(A), UnregisterOutcome::Superseded);
        assert_eq!(l.on_init(), InitOutcome::Reattach { generation: 2 });
    }
}
