//! The node sandbox: workflow modules compiled once; each run in a frozen QuickJS realm, with its
//! own module instances and a capability-checked `ctx` (`fetch`, `secrets`, `log`, `progress`,
//! `output`, `run`) and nothing else. What node code logs, reports and outputs is journaled
//! (redacted) into the run's [`RunOutcome::journal`], for its run record.
//!
//! Layers, outside in: [`Sandbox`] (worker threads) → `executor` (one run, the DAG) → `realm`
//! (pooled runtimes, realms reused across runs) → `host.js` (the node-visible API, lockdown) →
//! [`capabilities`] (what a fetch may do) → [`fetch`] (the HTTP client).

mod bytecode;
pub mod capabilities;
mod exception;
mod executor;
pub mod fetch;
mod heap;
mod loader;
mod lockdown;
mod node;
pub mod outcome;
mod pool;
pub mod program;
mod realm;
pub mod secrets;
mod shared;
mod slot;
pub mod transpile;
mod web;

pub use capabilities::FetchCapability;
pub use outcome::{FailureKind, NodeStatus, RunOutcome, RunRequest, RunStatus, Trigger};
pub use pool::{PoolError, PoolHealth, PoolOptions, STUCK_GRACE, Sandbox};
pub use program::Program;
pub use secrets::{Redactor, Secrets};

use std::sync::Arc;

/// A program with the secrets and policy it runs under: everything a run needs.
#[derive(Debug)]
pub struct Workload {
    /// The compiled workflow.
    pub program: Arc<Program>,
    /// Secrets as nodes see them.
    pub secrets: Secrets,
    /// `secrets` as JSON text, parsed into each run's context.
    secrets_json: String,
    /// The resolved fetch policy.
    pub fetch: FetchCapability,
    /// Per-run memory limit in bytes.
    pub memory_limit: usize,
    /// Answers fetches instead of the network (workflow tests); `None` in production. The
    /// policy in `fetch` still decides first.
    pub fetch_responder: Option<Arc<dyn fetch::FetchResponder>>,
    /// Realms set up for this workload so far.
    realms_created: std::sync::atomic::AtomicU64,
}

impl Workload {
    /// Binds a program to its secrets. Returns warnings about the policy (e.g. missing secrets).
    pub fn new(program: Program, secrets: Secrets) -> (Self, Vec<String>) {
        Self::bind(Arc::new(program), secrets, None)
    }

    /// A compiled program (shared, not compiled again) under `secrets`, every fetch answered by
    /// `responder` once the policy allows it: what `pipedreamer test` runs each case with.
    pub fn stubbed(
        program: Arc<Program>,
        secrets: Secrets,
        responder: Arc<dyn fetch::FetchResponder>,
    ) -> (Self, Vec<String>) {
        Self::bind(program, secrets, Some(responder))
    }

    fn bind(
        program: Arc<Program>,
        secrets: Secrets,
        fetch_responder: Option<Arc<dyn fetch::FetchResponder>>,
    ) -> (Self, Vec<String>) {
        let (fetch, warnings) = FetchCapability::resolve(&program.workflow.fetch, &secrets);
        let memory_limit = program.workflow.config.memory_limit_bytes() as usize;
        let secrets_json = serde_json::to_string(secrets.tree()).unwrap_or_else(|_| "{}".into());
        (
            Self {
                program,
                secrets,
                secrets_json,
                fetch,
                memory_limit,
                fetch_responder,
                realms_created: Default::default(),
            },
            warnings,
        )
    }

    /// How many realms (JS contexts with the host API) runs of this workload have set up; with
    /// realm reuse this stays far below the number of runs.
    pub fn realms_created(&self) -> u64 {
        self.realms_created
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}
