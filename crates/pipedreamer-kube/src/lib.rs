//! Kubernetes for Pipedreamer. Layers, bottom up: [`labels`], [`manifests`] and [`route`] are
//! pure (what goes to the cluster); [`cluster`] connects with timeouts and turns API failures
//! into [`Error`]s a user can act on; [`preflight`], [`apply`], [`rollout`] and [`ops`] are the
//! verbs the CLI commands call, and [`deploy`] puts render, preflight, apply and rollout wait
//! behind two calls for the CLI's `deploy` and the server's pipeline. Nothing here prints:
//! callers get data and progress callbacks.
//!
//! The engine never links this crate; only the CLI (and the server through it) does.

pub mod apply;
pub mod cluster;
pub mod control_plane;
pub mod deploy;
pub mod labels;
pub mod manifests;
pub mod network;
pub mod ops;
pub mod preflight;
pub mod rollout;
pub mod route;
pub mod yaml;

pub use cluster::{Cluster, ClusterOptions};
pub use manifests::{DeployOptions, Manifests};
pub use network::{EgressPolicy, NetworkOptions};
pub use route::{RouteKind, RouteOptions};

use std::time::Duration;

/// What went wrong talking to the cluster, phrased for the person at the terminal. Messages may
/// carry `\nhint: ` lines, which the CLI prints as hints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable kubeconfig or in-cluster configuration.
    #[error(
        "no Kubernetes configuration: {0}\nhint: set KUBECONFIG, create ~/.kube/config (e.g. `kind create cluster`), or pass --context"
    )]
    Config(String),
    /// The API server did not answer.
    #[error(
        "cannot reach the Kubernetes API at {server}: {reason}\nhint: check that the cluster is running and `--context` / KUBECONFIG point at it"
    )]
    Unreachable {
        /// The server URL.
        server: String,
        /// Why, as the transport said it.
        reason: String,
    },
    /// The API answered with an error status.
    #[error("{action}: {message} (HTTP {code})")]
    Api {
        /// What we were doing, e.g. `apply Deployment "hello"`.
        action: String,
        /// The API server's message.
        message: String,
        /// The HTTP status.
        code: u16,
    },
    /// Something did not finish in time.
    #[error("timed out after {}s {what}", .after.as_secs())]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The limit.
        after: Duration,
    },
    /// The rollout did not become available in time.
    #[error("rollout of {name} did not become available within {}s:\n{}", .after.as_secs(), .reasons.iter().map(|r| format!("  - {r}")).collect::<Vec<_>>().join("\n"))]
    RolloutStuck {
        /// The Deployment.
        name: String,
        /// The limit.
        after: Duration,
        /// Why, from pod statuses and events.
        reasons: Vec<String>,
    },
    /// The workflow is not deployed in the namespace.
    #[error(
        "workflow {name:?} is not deployed in namespace {namespace:?}\nhint: `pipedreamer list -n {namespace}` shows what is"
    )]
    NotDeployed {
        /// The workflow.
        name: String,
        /// The namespace.
        namespace: String,
    },
    /// The workflow's files could not be read to compute its content digest.
    #[error("cannot hash the workflow's files: {0}")]
    WorkflowContent(pipedreamer_image::Error),
    /// The preflight found something that blocks a deploy; the report says what and how to fix it.
    #[error(
        "not deploying: the preflight failed\nhint: fix the items marked ✗ (see `pipedreamer cluster check --fix`), or pass --skip-checks"
    )]
    PreflightFailed(Box<preflight::Report>),
    /// Anything else, already phrased.
    #[error("{0}")]
    Other(String),
}

/// Whether a kube error is an API 404.
pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Turns a kube error into an [`Error`] that says what we were doing.
pub(crate) fn api_error(server: &str, action: impl Into<String>, e: kube::Error) -> Error {
    match e {
        kube::Error::Api(status) => Error::Api {
            action: action.into(),
            message: if status.message.is_empty() {
                status.reason.clone()
            } else {
                status.message.clone()
            },
            code: status.code,
        },
        other => Error::Unreachable {
            server: server.to_owned(),
            reason: cluster::transport_reason(&other),
        },
    }
}
