//! The worker pool: claims builds (the database is the queue), holds and renews each one's lease,
//! runs its phases, ends it, and reaps builds whose worker died.

use crate::error::{PipelineError, TargetError};
use crate::{Event, PipelineConfig, job, kubernetes, local};
use pipedreamer_host::Host;
use pipedreamer_store::{
    Backend, Build, BuildOutcome, BuildStatus, Deployment, DeploymentStatus, LeaseState, Store,
    Target,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the server's live readers can lag behind before they miss events (they then re-read the
/// store, which is the truth).
const EVENT_BUFFER: usize = 1024;
/// A store that fails (database restarting) is retried after this pause, not in a hot loop.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// Why a running build was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// `POST /api/builds/:id/cancel` (seen through the lease renewal).
    Cancelled,
    /// The lease expired or another worker ended the build.
    LeaseLost,
    /// This server is shutting down.
    Shutdown,
}

/// How to stop a build this process runs.
struct Running {
    cancel: CancellationToken,
    stop: Arc<OnceLock<Stop>>,
}

/// How long `stop_deployment` waits for the deployment's running build to end before it
/// undeploys anyway: a build in another replica sees the cancel at its next lease renewal.
const STOP_WAIT_BEYOND_LEASE: Duration = Duration::from_secs(5);

/// What every worker shares.
pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: PipelineConfig,
    pub(crate) host: Result<Host, TargetError>,
    pub(crate) events: broadcast::Sender<Event>,
    wake: Notify,
    /// Raised once the start-up reaping is done: a worker must not claim a build the reaper is
    /// about to end as interrupted.
    reaped: tokio::sync::watch::Sender<bool>,
    /// The builds this process is running: a cancel or a stop reaches them at once, not at the
    /// next lease renewal.
    running: std::sync::Mutex<HashMap<String, Running>>,
    pub(crate) worker_id: String,
    pub(crate) shutdown: CancellationToken,
}

/// The running workers. Dropping it does not stop them; call [`Workers::shutdown`].
pub struct Workers {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Starts `config.concurrency` workers, the lease reaper and the reconciliation of local
    /// deployments (their containers come back after a server restart; with routing, their
    /// Caddy routes are reconciled every 10 s).
    ///
    /// On SQLite every `BUILDING` build is ended at once: SQLite means one server, so a build
    /// left `BUILDING` belonged to a server that is gone. On PostgreSQL other replicas may be
    /// working, so only expired leases are reaped.
    pub fn start(store: Store, config: PipelineConfig) -> Workers {
        let host = Host::detect().map_err(|e| TargetError::NoContainerEngine {
            hint: e.hint().unwrap_or("install podman or docker").to_owned(),
        });
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let shared = Arc::new(Shared {
            store,
            host,
            events,
            wake: Notify::new(),
            reaped: tokio::sync::watch::channel(false).0,
            running: std::sync::Mutex::new(HashMap::new()),
            worker_id: format!("worker-{}", uuid::Uuid::now_v7()),
            shutdown: CancellationToken::new(),
            config,
        });
        let mut tasks = vec![
            tokio::spawn(reap(shared.clone())),
            tokio::spawn(local::reconcile(shared.clone())),
            // Caddy's routes of local deployments (a no-op without routing).
            tokio::spawn(local::reconcile_routes(shared.clone())),
        ];
        for _ in 0..shared.config.concurrency.max(1) {
            tasks.push(tokio::spawn(work(shared.clone())));
        }
        Workers { shared, tasks }
    }

    /// Wakes idle workers: call after enqueueing a build so it starts now, not at the next poll.
    pub fn wake(&self) {
        self.shared.wake.notify_waiters();
    }

    /// Build progress, for live logs and metrics.
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Whether this server can deploy to `target` (`local` needs podman or docker here).
    pub fn check_target(&self, target: &Target) -> Result<(), TargetError> {
        match target {
            Target::Local => self.shared.host.as_ref().map(|_| ()).map_err(Clone::clone),
            Target::Kubernetes { registry, .. } => {
                if registry.is_none() && self.shared.config.registry.is_none() {
                    return Err(TargetError::NoRegistry);
                }
                Ok(())
            }
        }
    }

    /// Cancels a build: a `PENDING` one ends now; a `BUILDING` one stops its phase at once when
    /// this process runs it (else at its worker's next lease renewal). `Conflict` when it has
    /// already finished.
    pub async fn cancel_build(&self, build_id: &str) -> Result<Build, PipelineError> {
        let build = self.shared.store.request_cancel(build_id).await?;
        self.stop_running(build_id);
        Ok(build)
    }

    /// Tells a build this server runs to stop its phase now, once the store has recorded the
    /// cancel (`Store::request_cancel`); `false` when it runs elsewhere or not at all (its
    /// worker then sees the cancel at its next lease renewal).
    pub fn stop_running(&self, build_id: &str) -> bool {
        let running = self
            .shared
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(running) = running.get(build_id) else {
            return false;
        };
        let _ = running.stop.set(Stop::Cancelled);
        running.cancel.cancel();
        true
    }

    /// Undeploys `deployment` and marks it `STOPPED`; its records stay. Its builds in flight are
    /// cancelled and waited for first: a build in its rollout would otherwise start a container
    /// after the stop removed the old one.
    pub async fn stop_deployment(&self, deployment: &Deployment) -> Result<(), PipelineError> {
        self.cancel_builds(&self.shared.store, &deployment.id)
            .await?;
        match &deployment.target {
            Target::Local => local::remove(&self.shared, deployment).await?,
            Target::Kubernetes { .. } => kubernetes::undeploy(deployment).await?,
        }
        self.shared
            .store
            .set_deployment_state(&deployment.id, DeploymentStatus::Stopped, None)
            .await?;
        Ok(())
    }

    /// Cancels the deployment's pending and running builds in `store` (the workers' own; the
    /// server passes the one it reads, which is the same one outside its router tests) and waits
    /// until none is running, so no build can start a container after the caller undeploys or
    /// deletes. A build queued meanwhile (a push during the stop) is cancelled too; each once.
    pub async fn cancel_builds(
        &self,
        store: &Store,
        deployment_id: &str,
    ) -> Result<(), PipelineError> {
        let deadline = Instant::now() + self.shared.config.lease + STOP_WAIT_BEYOND_LEASE;
        let mut cancelled = HashSet::new();
        loop {
            let in_flight: Vec<Build> = store
                .builds(deployment_id, 10, None)
                .await?
                .into_iter()
                .filter(|b| !b.status.is_finished())
                .collect();
            if in_flight.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                tracing::warn!(deployment = %deployment_id, "a build of the deployment is still running; undeploying anyway");
                return Ok(());
            }
            for build in in_flight {
                // Ended in between: nothing to cancel.
                if cancelled.insert(build.id.clone())
                    && store.request_cancel(&build.id).await.is_ok()
                {
                    self.stop_running(&build.id);
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops taking builds; running ones end `FAILED` (interrupted) so none is left `BUILDING`.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

/// One worker: claim, run, repeat; sleep until woken or the poll interval passes.
async fn work(shared: Arc<Shared>) {
    let lease = shared.config.lease;
    let mut reaped = shared.reaped.subscribe();
    tokio::select! {
        _ = reaped.wait_for(|done| *done) => {}
        () = shared.shutdown.cancelled() => return,
    }
    loop {
        // Registered before the claim so a wake between the claim and the wait is not lost.
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if shared.shutdown.is_cancelled() {
            return;
        }
        match shared.store.claim_build(&shared.worker_id, lease).await {
            Ok(Some(build)) => {
                run_claimed(&shared, build).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim a build; retrying");
                tokio::time::sleep(STORE_RETRY).await;
                continue;
            }
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(shared.config.poll_interval) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// Runs one claimed build under its lease and ends it.
async fn run_claimed(shared: &Arc<Shared>, build: Build) {
    let started = Instant::now();
    let cancel = shared.shutdown.child_token();
    let stop = Arc::new(OnceLock::new());
    let renewer = tokio::spawn(renew(
        shared.clone(),
        build.id.clone(),
        cancel.clone(),
        stop.clone(),
    ));
    shared
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(
            build.id.clone(),
            Running {
                cancel: cancel.clone(),
                stop: stop.clone(),
            },
        );
    let result = job::run(shared, &build, &cancel, &stop).await;
    renewer.abort();
    let outcome = match &result {
        Ok(delivered) => BuildOutcome {
            status: BuildStatus::Success,
            image: Some(delivered.image.clone()),
            image_digest: Some(delivered.digest.clone()),
            error_message: None,
        },
        Err(e) => BuildOutcome {
            status: e.status(),
            image: None,
            image_digest: None,
            error_message: Some(e.to_string()),
        },
    };
    let status = outcome.status;
    match shared
        .store
        .finish_build(&build.id, &shared.worker_id, outcome)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(build = %build.id, "the build was ended by someone else (lease lost)")
        }
        Err(e) => {
            tracing::error!(build = %build.id, error = %e, "cannot record the end of a build; the reaper will end it")
        }
    }
    shared
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&build.id);
    let _ = shared.events.send(Event::Finished {
        build_id: build.id.clone(),
        deployment_id: build.deployment_id.clone(),
        status,
        duration: started.elapsed(),
    });
}

/// Renews the lease every third of its length; a cancel request or a lost lease stops the job.
async fn renew(
    shared: Arc<Shared>,
    build_id: String,
    cancel: CancellationToken,
    stop: Arc<OnceLock<Stop>>,
) {
    let lease = shared.config.lease;
    loop {
        tokio::select! {
            () = tokio::time::sleep(lease / 3) => {}
            () = cancel.cancelled() => {
                // A cancel through `Workers::cancel_build` said why already; otherwise the
                // server is shutting down.
                let _ = stop.set(Stop::Shutdown);
                return;
            }
        }
        match shared
            .store
            .renew_lease(&build_id, &shared.worker_id, lease)
            .await
        {
            Ok(LeaseState::Held) => {}
            Ok(LeaseState::Cancelled) => {
                let _ = stop.set(Stop::Cancelled);
                cancel.cancel();
                return;
            }
            Ok(LeaseState::Lost) => {
                let _ = stop.set(Stop::LeaseLost);
                cancel.cancel();
                return;
            }
            // A blip: try again next time; a lease that really expires is reported as Lost.
            Err(e) => tracing::warn!(build = %build_id, error = %e, "cannot renew a build's lease"),
        }
    }
}

/// Ends builds whose worker is gone.
async fn reap(shared: Arc<Shared>) {
    if shared.store.backend() == Backend::Sqlite {
        match shared.store.fail_all_building().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(builds = ?ids, "ended builds interrupted by the previous server stop");
                settle(&shared, &ids).await;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot end interrupted builds"),
        }
    }
    let mut first = true;
    loop {
        match shared.store.fail_expired_leases().await {
            Ok(ids) if !ids.is_empty() => {
                tracing::warn!(builds = ?ids, "ended builds whose worker stopped renewing its lease");
                settle(&shared, &ids).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot reap expired leases"),
        }
        if std::mem::take(&mut first) {
            shared.reaped.send_replace(true);
        }
        tokio::select! {
            () = tokio::time::sleep(shared.config.lease / 2) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// The deployments of reaped builds leave `DEPLOYING` (their worker died before it could).
async fn settle(shared: &Shared, reaped: &[String]) {
    for id in reaped {
        if let Ok(build) = shared.store.build(id).await {
            settle_deployment(&shared.store, &build.deployment_id).await;
        }
    }
}

/// A deployment whose build ended without going live leaves `DEPLOYING`: back to `RUNNING` when
/// an earlier version still serves, else `FAILED`.
pub(crate) async fn settle_deployment(store: &Store, deployment_id: &str) {
    let Ok(d) = store.deployment(deployment_id).await else {
        return;
    };
    if d.status != DeploymentStatus::Deploying {
        return;
    }
    let status = if d.current_build_id.is_some() {
        DeploymentStatus::Running
    } else {
        DeploymentStatus::Failed
    };
    if let Err(e) = store
        .set_deployment_state(&d.id, status, d.current_build_id.as_deref())
        .await
    {
        tracing::warn!(deployment = %d.name, error = %e, "cannot settle a deployment after a failed build");
    }
}
