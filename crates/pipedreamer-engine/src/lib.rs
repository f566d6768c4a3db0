//! The Pipedreamer engine: loads a workflow, runs it in the sandbox, and serves its triggers
//! (HTTP, webhooks, local cron, NATS queues). The `pipedreamer-engine` binary is a thin wrapper; `pipedreamer
//! dev` embeds the same code in-process.

pub mod cron;
pub mod http;
pub mod input;
pub mod logging;
pub mod metrics;
pub mod nats;
pub mod record;
pub mod report;
pub mod secrets_source;
pub mod server;
pub mod state;
pub mod webhook;

/// The engine's version: what `pipedreamer --version` says its images run, and what the engine
/// binary's own `--version` prints.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub use nats::NatsOptions;
pub use record::RunSink;
pub use report::{Reporter, ReporterOptions};
pub use secrets_source::SecretsSource;
pub use server::HttpLimits;
pub use state::{EngineState, RunOptions};

use pipedreamer_sandbox::{PoolHealth, Program, Workload};
use pipedreamer_spec::source::DirSource;
use pipedreamer_spec::{Diagnostic, Resolved};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why a workflow could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The workflow has errors.
    #[error("the workflow has {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// The secrets could not be read.
    #[error(transparent)]
    Secrets(#[from] secrets_source::SecretsError),
}

/// Checks and resolves the workflow in `dir` (once), compiles it and binds it to its secrets
/// (see [`load_resolved`]).
pub fn load(dir: &Path, secrets: &SecretsSource) -> Result<Workload, LoadError> {
    let resolved = pipedreamer_spec::resolve(&DirSource::new(dir)).map_err(LoadError::Invalid)?;
    load_resolved(resolved, secrets)
}

/// Compiles a checked, resolved workflow and binds it to its secrets. Its warnings (e.g. a
/// forbidden module `require`d inside a function), policy warnings (e.g. an auth rule whose
/// secret is missing) and webhook triggers that will refuse every delivery (no secret) are
/// logged, once per load.
pub fn load_resolved(resolved: Resolved, secrets: &SecretsSource) -> Result<Workload, LoadError> {
    for w in &resolved.warnings {
        tracing::warn!("{w}");
    }
    let program = Program::from_resolved(resolved).map_err(LoadError::Invalid)?;
    let secrets = secrets.load()?;
    let (workload, warnings) = Workload::new(program, secrets);
    for w in warnings {
        tracing::warn!("{w}");
    }
    for missing in webhook::unverifiable(&workload) {
        tracing::error!(webhook = %missing.name, "{missing}; {}", missing.hint());
    }
    Ok(workload)
}

/// Resolves `--workflow`: a directory or its `workflow.yaml`.
pub fn workflow_dir(path: &Path) -> std::path::PathBuf {
    if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    }
}

/// How the engine runs its triggers.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Schedule cron triggers in-process.
    pub local_cron: bool,
    /// How long in-flight runs may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Queue trigger tunables (used when the workflow has queue triggers and `config.nats_url`).
    pub nats: NatsOptions,
    /// Client connection limits and timeouts.
    pub http: HttpLimits,
}

/// Why serving ended badly. The binary exits 1 on any of these, so an orchestrator restarts it
/// or at least sees that something was lost.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The HTTP server task failed (it panicked or was aborted).
    #[error("the HTTP server failed: {0}")]
    Server(String),
    /// The grace period ended before every run had finished.
    #[error("the grace period ended with {} run(s) still going: {}", .in_flight.len(), .in_flight.join(", "))]
    Unclean {
        /// Ids of the runs cut off.
        in_flight: Vec<String>,
    },
    /// Half the sandbox workers or more are stuck in runs that ignore their timeout.
    #[error(
        "{stuck} of {workers} sandbox workers are stuck in runs that ignore their timeout; exiting so that the engine is restarted"
    )]
    WorkersLost {
        /// Workers the watchdog replaced that are still busy.
        stuck: usize,
        /// Workers the pool keeps.
        workers: usize,
    },
}

/// How often `serve` asks the sandbox about its workers.
const HEALTH_POLL: Duration = Duration::from_secs(1);

/// Serves until `stop` is cancelled, then drains: no new connections or messages, in-flight runs
/// get until the grace period ends. Also stops (and fails) when half the sandbox workers are
/// stuck.
pub async fn serve(
    state: Arc<EngineState>,
    listener: TcpListener,
    options: ServeOptions,
    stop: CancellationToken,
) -> Result<(), ServeError> {
    if options.local_cron {
        tokio::spawn(cron::run_scheduler(state.clone(), stop.clone()));
    }
    // Tracked with the background runs, so shutdown waits for queue runs to reply or ack.
    state
        .background
        .spawn(nats::run(state.clone(), options.nats.clone(), stop.clone()));
    let workers_lost = tokio::spawn(watch_workers(state.clone(), stop.clone()));
    let app = http::router(state.clone());
    let server = tokio::spawn(server::run(listener, app, options.http, stop.clone()));
    stop.cancelled().await;
    state.start_draining();
    let deadline = tokio::time::Instant::now() + options.shutdown_grace;
    tracing::info!(
        grace_s = options.shutdown_grace.as_secs_f64(),
        "shutting down: draining in-flight runs"
    );
    let http_done = tokio::time::timeout_at(deadline, server).await;
    state.background.close();
    let background_done = tokio::time::timeout_at(deadline, state.background.wait())
        .await
        .is_ok();
    // The watcher returns at the stop; `Some` when it was the one that stopped the engine.
    let lost = workers_lost.await.ok().flatten();
    let result = match (http_done, background_done, lost) {
        (_, _, Some(h)) => Err(ServeError::WorkersLost {
            stuck: h.stuck,
            workers: h.workers,
        }),
        (Ok(Err(e)), _, _) => Err(ServeError::Server(e.to_string())),
        (Err(_), _, _) | (_, false, _) => Err(ServeError::Unclean {
            in_flight: state.in_flight_ids(),
        }),
        (Ok(Ok(())), true, None) => Ok(()),
    };
    match &result {
        Ok(()) => tracing::info!("shutdown complete"),
        Err(e) => tracing::error!("{e}"),
    }
    result
}

/// Polls the sandbox's worker health into readiness and metrics until `stop`; cancels `stop`
/// and returns the health that made it do so when half the workers or more are stuck (a
/// restart is the only way to get their cores back).
async fn watch_workers(state: Arc<EngineState>, stop: CancellationToken) -> Option<PoolHealth> {
    loop {
        let health = state.poll_health();
        state.observe_health(health);
        if health.stuck > 0 && health.stuck * 2 >= health.workers {
            stop.cancel();
            return Some(health);
        }
        if sleep_or_stop(&stop, HEALTH_POLL).await {
            return None;
        }
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C), then cancels `stop`: the binary and `pipedreamer dev`
/// shut down the same way, draining in-flight runs.
pub async fn cancel_on_signal(stop: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot listen for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("received SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT"),
        // Stopped for another reason (e.g. lost workers): nothing to wait for.
        _ = stop.cancelled() => return,
    }
    stop.cancel();
}

/// Sleeps for `d` unless `stop` fires first; `true` when it did (the caller should stop).
pub(crate) async fn sleep_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
