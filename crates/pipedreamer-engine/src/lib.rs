//! The Pipedreamer engine: loads a workflow, runs it in the sandbox, and serves its triggers
//! (HTTP, webhooks, local cron, NATS queues). The `pipedreamer-engine` binary is a thin wrapper; `pipedreamer
//! dev` embeds the same code in-process.

pub mod cron;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod nats;
pub mod secrets_source;
pub mod state;
pub mod webhook;

pub use nats::NatsOptions;
pub use secrets_source::SecretsSource;
pub use state::EngineState;

use pipedreamer_sandbox::{Program, Workload};
use pipedreamer_spec::Diagnostic;
use pipedreamer_spec::source::DirSource;
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

/// Loads, checks and compiles the workflow in `dir` and binds it to its secrets. Policy warnings
/// (e.g. an auth rule whose secret is missing) are logged.
pub fn load(dir: &Path, secrets: &SecretsSource) -> Result<Workload, LoadError> {
    let program = Program::load(&DirSource::new(dir)).map_err(LoadError::Invalid)?;
    let secrets = secrets.load()?;
    let (workload, warnings) = Workload::new(program, secrets);
    for w in warnings {
        tracing::warn!("{w}");
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
}

/// What shutdown left behind.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Whether everything finished within the grace period.
    pub clean: bool,
}

/// Serves until `stop` is cancelled, then drains: no new connections or messages, in-flight runs
/// get until the grace period ends.
pub async fn serve(
    state: Arc<EngineState>,
    listener: TcpListener,
    options: ServeOptions,
    stop: CancellationToken,
) -> std::io::Result<ShutdownReport> {
    if options.local_cron {
        tokio::spawn(cron::run_scheduler(state.clone(), stop.clone()));
    }
    // Tracked with the background runs, so shutdown waits for queue runs to reply or ack.
    state
        .background
        .spawn(nats::run(state.clone(), options.nats.clone(), stop.clone()));
    let app = http::router(state.clone());
    let server_stop = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { server_stop.cancelled().await })
            .await
    });
    stop.cancelled().await;
    state.start_draining();
    let deadline = tokio::time::Instant::now() + options.shutdown_grace;
    tracing::info!(
        grace_s = options.shutdown_grace.as_secs_f64(),
        "shutting down: draining in-flight runs"
    );
    let http_done = tokio::time::timeout_at(deadline, server).await.is_ok();
    state.background.close();
    let background_done = tokio::time::timeout_at(deadline, state.background.wait())
        .await
        .is_ok();
    let clean = http_done && background_done;
    if !clean {
        tracing::warn!(in_flight = ?state.in_flight_ids(), "grace period ended with runs still going");
    } else {
        tracing::info!("shutdown complete");
    }
    Ok(ShutdownReport { clean })
}

/// Sleeps for `d` unless `stop` fires first; `true` when it did (the caller should stop).
pub(crate) async fn sleep_or_stop(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}
