//! The control plane's build worker: it claims builds from the store (the database is the queue)
//! and delivers each one's commit to its deployment's target.
//!
//! A build goes through five phases, each with its own timeout, each logged into the build's
//! append-only log (secrets masked):
//!
//! 1. **fetch** the repository at the commit, in-process (`pipedreamer-git`, no `git` binary);
//! 2. **validate** the workflow at the deployment's `path` (diagnostics go into the log);
//! 3. **build** the image with the daemonless builder (`pipedreamer-image`);
//! 4. **publish** it: into podman/docker for a `local` target, to a registry for `kubernetes`;
//! 5. **roll out**: replace the local container once the new one is ready (`pipedreamer-host`),
//!    or server-side apply and wait for the new pods (`pipedreamer-kube`).
//!
//! Workers hold a lease on their build and renew it; a build whose lease expires (the server was
//! killed) is ended `FAILED` by the next reaper pass, so nothing is ever left `BUILDING`. Cancel
//! reaches a running build through the lease renewal and stops the phase it is in.
//!
//! ```text
//! server ──enqueue──▶ store (PENDING) ──claim──▶ Workers ──phases──▶ target
//!                       ▲  lease renew / finish      │ Event::Log / Event::Finished
//!                       └────────────────────────────┘──────────▶ server (SSE, metrics)
//! ```

mod error;
mod job;
mod kubernetes;
mod local;
mod log;
mod workers;

pub use error::{PipelineError, TargetError};
pub use log::{mask, secret_values};
pub use workers::Workers;

/// Whether this machine can run `local` deployments (podman or docker answers). Blocks up to
/// 5 s per engine asked.
pub fn container_engine_available() -> bool {
    pipedreamer_host::Host::detect().is_ok()
}

use pipedreamer_store::{BuildStatus, Deployment};
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

/// How the workers run.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Builds running at once across deployments (one at a time per deployment, always).
    pub concurrency: usize,
    /// How long a worker's claim on a build lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Limits for each phase.
    pub timeouts: PhaseTimeouts,
    /// Work directories (`work/<build>`), local secrets (`secrets/<deployment>`).
    pub data_dir: PathBuf,
    /// The static engine binary that goes into images.
    pub engine: PathBuf,
    /// Where `local` deployments listen.
    pub local: LocalConfig,
    /// Registry for `kubernetes` targets that name none.
    pub registry: Option<String>,
    /// Token for `https://` repositories (sent as `x-access-token`), masked in logs.
    pub git_token: Option<String>,
    /// Push to plain-HTTP registries (loopback registries in tests and single hosts).
    pub insecure_registry: bool,
    /// How often an idle worker looks for work another server replica queued (a local enqueue
    /// wakes it at once).
    pub poll_interval: Duration,
    /// Public URLs of `kubernetes` deployments with a subdomain; `None`: no route objects.
    pub kube_routing: Option<KubeRouting>,
    /// Deployments report their runs to the control plane; `None`: engines record nothing.
    pub reporting: Option<RunReporting>,
}

/// Public URLs of `kubernetes` deployments: an Ingress for `<subdomain>.<base_domain>` in front
/// of the workflow's Service (only `/run` and `/hooks/`), with a cert-manager certificate when a
/// ClusterIssuer is named. A deployment without a subdomain gets no route, and loses the one it
/// had at its next rollout (pruned like a stale CronJob).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeRouting {
    /// Deployments answer on `<subdomain>.<base_domain>`.
    pub base_domain: String,
    /// The Ingress's `ingressClassName` (`None`: the cluster's default class).
    pub ingress_class: Option<String>,
    /// cert-manager's ClusterIssuer for the `<name>-tls` certificate (`None`: plain HTTP).
    pub tls_issuer: Option<String>,
}

impl KubeRouting {
    /// The route of a deployment with `subdomain`; an error names `routing.base_domain` when
    /// the two do not make a host name (e.g. longer than 253 characters).
    pub fn route(
        &self,
        subdomain: &str,
    ) -> Result<pipedreamer_kube::RouteOptions, pipedreamer_kube::route::RouteError> {
        pipedreamer_kube::RouteOptions::named(
            "routing.base_domain",
            &format!("{subdomain}.{}", self.base_domain),
            pipedreamer_kube::RouteKind::Ingress {
                class: self.ingress_class.clone(),
            },
            self.tls_issuer.clone(),
        )
    }
}

/// What the rollout phase allows beyond `builds.timeouts.rollout`: the target's own wait (a
/// container's `/readyz`, a Deployment's availability) gets the whole limit and ends with the
/// reasons; the phase's timeout is only a backstop for the calls around it (connecting, applying,
/// stopping the old container). Were both the same, the phase would always fire first and the
/// reasons would be lost.
pub const ROLLOUT_GRACE: Duration = Duration::from_secs(30);

/// Limits per phase: a stuck network or a huge repository ends the build `FAILED`, never hangs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseTimeouts {
    /// Fetching the repository.
    pub fetch: Duration,
    /// Checking the workflow.
    pub validate: Duration,
    /// Building the image.
    pub build: Duration,
    /// Loading or pushing the image.
    pub publish: Duration,
    /// Until the new version answers (local) or its pods are ready (kubernetes).
    pub rollout: Duration,
}

impl Default for PhaseTimeouts {
    fn default() -> Self {
        Self {
            fetch: Duration::from_secs(120),
            validate: Duration::from_secs(30),
            build: Duration::from_secs(300),
            publish: Duration::from_secs(300),
            rollout: Duration::from_secs(300),
        }
    }
}

/// Run reporting: deployments made by the control plane send their run records to it.
///
/// With this set, each rollout gets a `report`-scope token bound to its deployment (from
/// [`ReportTokens`]) as a file the engine reads (`--report-token-file`: a read-only mount for
/// `local`, a Secret `<name>-report` mounted as a volume for `kubernetes`; never an environment
/// variable), and `--report-to <url>`.
#[derive(Clone)]
pub struct RunReporting {
    /// The control plane's URL as the engines reach it (`http://127.0.0.1:<port>` for local
    /// targets; for kubernetes an in-cluster or public URL): the engine posts to
    /// `<url>/api/ingest/runs`.
    pub url: String,
    /// Mints (or hands out an unexpired) report token per deployment.
    pub tokens: std::sync::Arc<dyn ReportTokens>,
}

impl std::fmt::Debug for RunReporting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token source is opaque (and what it returns is a secret).
        f.debug_struct("RunReporting")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What [`ReportTokens::token_for`] returns: the token, or why none could be had (it fails the
/// rollout phase with that message).
pub type TokenFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>;

/// Where report tokens come from (the server implements it over its token service). A boxed
/// future rather than `async fn` so that it can be a trait object.
pub trait ReportTokens: Send + Sync {
    /// A `report`-scope token bound to `deployment`, valid long enough for the engine to use
    /// it until its next rollout.
    fn token_for<'a>(&'a self, deployment: &'a Deployment) -> TokenFuture<'a>;
}

/// How long minting a report token may take before the rollout fails.
const REPORT_TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl RunReporting {
    /// The deployment's report token, with a timeout; the error fails the rollout and never
    /// holds the token.
    pub(crate) async fn token(&self, d: &Deployment) -> Result<String, PipelineError> {
        match tokio::time::timeout(REPORT_TOKEN_TIMEOUT, self.tokens.token_for(d)).await {
            Ok(Ok(token)) if !token.trim().is_empty() => Ok(token),
            Ok(Ok(_)) => Err(PipelineError::Rollout(
                "the run-report token for the deployment is empty".into(),
            )),
            Ok(Err(e)) => Err(PipelineError::Rollout(format!(
                "cannot get a run-report token for the deployment: {e}"
            ))),
            Err(_) => Err(PipelineError::Rollout(format!(
                "getting a run-report token for the deployment took longer than {} s",
                REPORT_TOKEN_TIMEOUT.as_secs()
            ))),
        }
    }
}

/// Where `local` deployments listen.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// Ports handed to deployments, one each, kept across redeploys and restarts.
    pub port_range: RangeInclusive<u16>,
    /// The address containers listen on.
    pub bind: IpAddr,
    /// Memory limit per container.
    pub memory_bytes: u64,
    /// Public URLs through Caddy for deployments with a subdomain; `None`: only the port.
    pub routing: Option<LocalRouting>,
}

impl Default for LocalConfig {
    fn default() -> Self {
        Self {
            port_range: 20000..=20999,
            bind: IpAddr::from([127, 0, 0, 1]),
            memory_bytes: 256 * 1024 * 1024,
            routing: None,
        }
    }
}

/// Public URLs of `local` deployments: Caddy routes `https://<subdomain>.<base_domain>` to the
/// deployment's port. A route is added once a rollout is live (and when a restarted server
/// brings a container back), removed when the deployment stops, and every route is reconciled
/// every [`LocalRouting::reconcile_every`], so a restarted Caddy gets its routes back.
#[derive(Debug, Clone)]
pub struct LocalRouting {
    /// Deployments answer on `<subdomain>.<base_domain>`.
    pub base_domain: String,
    /// Caddy's admin API, its server already set up (`Caddy::ensure_server`).
    pub caddy: pipedreamer_proxy::Caddy,
    /// How often the routes are made to match the running deployments.
    pub reconcile_every: Duration,
    /// The control plane's own route (its `public_url` through the same Caddy), reconciled
    /// with the deployments' routes.
    pub server_route: Option<pipedreamer_proxy::ProxyRoute>,
}

impl LocalRouting {
    /// Routing through `caddy` for subdomains of `base_domain`, reconciled every 10 s.
    pub fn new(base_domain: impl Into<String>, caddy: pipedreamer_proxy::Caddy) -> LocalRouting {
        LocalRouting {
            base_domain: base_domain.into(),
            caddy,
            reconcile_every: Duration::from_secs(10),
            server_route: None,
        }
    }

    /// `<subdomain>.<base_domain>`.
    pub fn host(&self, subdomain: &str) -> String {
        format!("{subdomain}.{}", self.base_domain)
    }
}

/// What the workers tell the server as builds progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A log chunk was appended (SSE readers fetch from the store).
    Log {
        /// The build.
        build_id: String,
        /// The chunk's sequence number.
        seq: i64,
    },
    /// A build ended.
    Finished {
        /// The build.
        build_id: String,
        /// Its deployment.
        deployment_id: String,
        /// How it ended.
        status: BuildStatus,
        /// From claim to end.
        duration: Duration,
    },
}

/// The phases of a build, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Fetch the repository at the commit.
    Fetch,
    /// Check the workflow.
    Validate,
    /// Build the image.
    Build,
    /// Load or push the image.
    Publish,
    /// Make the new version the live one.
    Rollout,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Fetch => "fetch",
            Phase::Validate => "validate",
            Phase::Build => "build",
            Phase::Publish => "publish",
            Phase::Rollout => "rollout",
        })
    }
}
