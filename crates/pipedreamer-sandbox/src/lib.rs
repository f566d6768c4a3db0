//! The node sandbox: workflow modules compiled once, each run in a fresh QuickJS context with a
//! capability-checked `ctx` (`fetch`, `secrets`, `log`, `run`) and nothing else.
//!
//! Layers, outside in: [`Sandbox`] (worker threads) → `executor` (one run, the DAG) → `host.js`
//! (the node-visible API) → [`capabilities`] (what a fetch may do) → [`fetch`] (the HTTP client).

pub mod capabilities;
mod executor;
pub mod fetch;
mod loader;
pub mod outcome;
mod pool;
pub mod program;
pub mod secrets;
pub mod transpile;

pub use capabilities::FetchCapability;
pub use outcome::{FailureKind, NodeStatus, RunOutcome, RunRequest, RunStatus};
pub use pool::{PoolError, PoolOptions, Sandbox};
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
}

impl Workload {
    /// Binds a program to its secrets. Returns warnings about the policy (e.g. missing secrets).
    pub fn new(program: Program, secrets: Secrets) -> (Self, Vec<String>) {
        let (fetch, warnings) = FetchCapability::resolve(&program.workflow.fetch, &secrets);
        let memory_limit = program.workflow.config.memory_limit_bytes() as usize;
        let secrets_json = serde_json::to_string(secrets.tree()).unwrap_or_else(|_| "{}".into());
        (
            Self {
                program: Arc::new(program),
                secrets,
                secrets_json,
                fetch,
                memory_limit,
            },
            warnings,
        )
    }
}
