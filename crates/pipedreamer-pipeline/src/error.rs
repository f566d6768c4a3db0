//! Why a build failed (its `error_message`) and why a target cannot be used.

use crate::Phase;
use std::time::Duration;

/// Why a build did not deliver. The message is what users read as the build's `error_message`,
/// so it never contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The repository could not be fetched.
    #[error("fetch: {0}")]
    Fetch(#[from] pipedreamer_git::GitError),
    /// The deployment's `path` leaves the repository.
    #[error(
        "path `{0}` is outside the repository; use a relative path such as `.` or `flows/hello`"
    )]
    PathEscapes(String),
    /// No `workflow.yaml` at the deployment's path.
    #[error(
        "no workflow.yaml at `{path}` in commit {commit}; set the deployment's `path` to the workflow's directory"
    )]
    NoWorkflow {
        /// The deployment's path.
        path: String,
        /// The commit.
        commit: String,
    },
    /// The workflow has errors (they are in the build log).
    #[error("the workflow is invalid: {errors} error(s), see the build log")]
    Invalid {
        /// How many errors.
        errors: usize,
    },
    /// The image could not be built or published.
    #[error("{phase}: {source}")]
    Image {
        /// Build or publish.
        phase: Phase,
        /// The builder's or publisher's error.
        source: pipedreamer_image::Error,
    },
    /// The new version did not go live (the previous one keeps serving).
    #[error("rollout: {0}")]
    Rollout(String),
    /// The target is unusable.
    #[error("{0}")]
    Target(#[from] TargetError),
    /// A phase ran out of time.
    #[error("{phase} took longer than {}s (builds.timeouts.{phase})", limit.as_secs())]
    Timeout {
        /// The phase.
        phase: Phase,
        /// Its limit.
        limit: Duration,
    },
    /// Someone cancelled the build.
    #[error("cancelled")]
    Cancelled,
    /// The server stopped while the build ran.
    #[error("interrupted: the server stopped during the build")]
    Interrupted,
    /// Another worker or the reaper ended the build (its lease expired).
    #[error("the build's lease was lost")]
    LeaseLost,
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] pipedreamer_store::StoreError),
    /// Local file work failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The failure.
        source: std::io::Error,
    },
    /// A blocking task panicked or was aborted.
    #[error("internal error in {0}")]
    Internal(Phase),
}

impl PipelineError {
    /// The build status this failure ends in.
    pub fn status(&self) -> pipedreamer_store::BuildStatus {
        match self {
            PipelineError::Cancelled => pipedreamer_store::BuildStatus::Cancelled,
            _ => pipedreamer_store::BuildStatus::Failed,
        }
    }
}

/// A deployment target this server cannot serve.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// `local` needs podman or docker.
    #[error(
        "the `local` target needs podman or docker on the server's host, and neither answered\nhint: {hint}"
    )]
    NoContainerEngine {
        /// What to install.
        hint: String,
    },
    /// `kubernetes` needs a registry to push to.
    #[error(
        "the `kubernetes` target needs a registry to push images to\nhint: set `target.registry` on the deployment or `registry` in the server's config"
    )]
    NoRegistry,
    /// The cluster could not be reached or refused the change.
    #[error("kubernetes: {0}")]
    Kubernetes(String),
    /// The local container engine failed.
    #[error("local: {0}")]
    Host(String),
}
