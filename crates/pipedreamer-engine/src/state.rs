//! The engine's shared state: the current workload (swappable, for `dev` reloads), the sandbox,
//! metrics. Every trigger starts runs through [`EngineState::run`], so logging and metrics are
//! the same whichever way a run arrives.

use crate::metrics::Metrics;
use crate::record::{self, RecordContext, RunSink};
use arc_swap::ArcSwapOption;
use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_sandbox::{PoolHealth, RunOutcome, RunRequest, Sandbox, Workload};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Shared by the HTTP server and all triggers.
pub struct EngineState {
    workload: ArcSwapOption<Workload>,
    sandbox: Sandbox,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Request body limit override from the command line.
    pub max_body_override: Option<u64>,
    draining: AtomicBool,
    /// Runs started in the background (webhooks, cron, queues), awaited on shutdown.
    pub background: tokio_util::task::TaskTracker,
    in_flight: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Extra readiness facts reported by triggers (e.g. NATS connection state).
    pub readiness: std::sync::Mutex<serde_json::Map<String, serde_json::Value>>,
    /// The sandbox workers' state as last polled (see [`EngineState::observe_health`]).
    health: std::sync::Mutex<PoolHealth>,
    /// Where run records go; without one, none are built.
    sink: std::sync::OnceLock<Arc<dyn RunSink>>,
}

/// How [`EngineState::run_with`] runs: all optional.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The run id, chosen by the caller (answered before the run ends); fresh when `None`.
    pub run_id: Option<String>,
    /// The run this one replays (`x-pipedreamer-replay-of`), for its record.
    pub replay_of: Option<String>,
    /// Keep the run's log lines in its outcome's journal even without a run sink (the
    /// `pipedreamer test` runner checks them); with a sink they are always kept.
    pub keep_logs: bool,
}

impl EngineState {
    /// State around a sandbox, with an optional first workload.
    pub fn new(
        sandbox: Sandbox,
        workload: Option<Workload>,
        max_body_override: Option<u64>,
    ) -> Arc<Self> {
        Arc::new(Self {
            workload: ArcSwapOption::new(workload.map(Arc::new)),
            sandbox,
            metrics: Metrics::default(),
            max_body_override,
            draining: AtomicBool::new(false),
            background: tokio_util::task::TaskTracker::new(),
            readiness: Default::default(),
            in_flight: Default::default(),
            health: Default::default(),
            sink: Default::default(),
        })
    }

    /// Sends every finished run's record to `sink` from now on. Set once (at start); `false`
    /// when a sink was already set (the new one is ignored).
    pub fn set_sink(&self, sink: Arc<dyn RunSink>) -> bool {
        self.sink.set(sink).is_ok()
    }

    /// Asks the sandbox how its workers are (cheap; polled every second by `serve`).
    pub fn poll_health(&self) -> PoolHealth {
        self.sandbox.health()
    }

    /// Records the workers' state for `/readyz` and `/metrics`. Public so that tests can show
    /// the engine lost workers without wedging a real one.
    pub fn observe_health(&self, health: PoolHealth) {
        self.metrics.set_workers(&health);
        if let Ok(mut h) = self.health.lock() {
            *h = health;
        }
    }

    /// The workers' state as last observed.
    pub fn health(&self) -> PoolHealth {
        self.health.lock().map(|h| *h).unwrap_or_default()
    }

    /// The workload in service, if one is loaded.
    pub fn workload(&self) -> Option<Arc<Workload>> {
        self.workload.load_full()
    }

    /// Replaces the workload; runs in progress finish on the old one.
    pub fn replace(&self, workload: Workload) {
        self.workload.store(Some(Arc::new(workload)));
    }

    /// The request body limit in force.
    pub fn max_body(&self) -> u64 {
        self.max_body_override
            .or_else(|| {
                self.workload()
                    .map(|w| w.program.workflow.config.max_body_bytes())
            })
            .unwrap_or(pipedreamer_spec::DEFAULT_MAX_BODY)
    }

    fn track(&self, run_id: &str, running: bool) {
        if let Ok(mut set) = self.in_flight.lock() {
            if running {
                set.insert(run_id.to_owned());
            } else {
                set.remove(run_id);
            }
        }
    }

    /// Ids of runs in progress.
    pub fn in_flight_ids(&self) -> Vec<String> {
        self.in_flight
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Marks the engine as shutting down: readiness fails so load balancers stop sending.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Runs the workflow once with `input` (JSON text). Logs one line and records metrics.
    pub async fn run(
        &self,
        workload: Arc<Workload>,
        input: String,
        trigger: Trigger,
    ) -> RunOutcome {
        self.run_with_id(workload, input, trigger, None).await
    }

    /// [`EngineState::run`] with a run id chosen by the caller (answered before the run ends).
    pub async fn run_with_id(
        &self,
        workload: Arc<Workload>,
        input: String,
        trigger: Trigger,
        run_id: Option<String>,
    ) -> RunOutcome {
        let options = RunOptions {
            run_id,
            ..RunOptions::default()
        };
        self.run_with(workload, input, trigger, options).await
    }

    /// Runs the workflow once (see [`EngineState::run`]) and, when a sink is set, hands it the
    /// run's record.
    pub async fn run_with(
        &self,
        workload: Arc<Workload>,
        input: String,
        trigger: Trigger,
        options: RunOptions,
    ) -> RunOutcome {
        let _guard = self.metrics.in_flight();
        let run_id = options
            .run_id
            .unwrap_or_else(pipedreamer_sandbox::outcome::new_run_id);
        self.track(&run_id, true);
        // Logged as text, exactly as node code sees it in `ctx.trigger`.
        let trigger_text = trigger.to_string();
        let sink = self.sink.get();
        // The input is copied only when it will be kept.
        let kept_input = (sink.is_some() && record::records_io(&workload)).then(|| input.clone());
        let request = RunRequest {
            run_id: Some(run_id.clone()),
            // Log lines go into the run's record (or to a caller that asked for them) only;
            // without either, a line the log filter drops is not even formatted.
            keep_logs: options.keep_logs || sink.is_some(),
            ..RunRequest::new(input, trigger.clone())
        };
        let mut outcome = self.sandbox.run(workload.clone(), request).await;
        self.track(&run_id, false);
        self.metrics.record(&trigger, &outcome);
        let duration_ms = (outcome.duration.as_secs_f64() * 1e6).round() / 1e3;
        match &outcome.error {
            None => {
                tracing::info!(target: "run", run_id = %outcome.run_id, trigger = trigger_text, duration_ms, "run succeeded")
            }
            Some(e) => tracing::warn!(
                target: "run",
                run_id = %outcome.run_id,
                trigger = trigger_text,
                duration_ms,
                node = e.node.as_deref().unwrap_or("-"),
                error = %e.message,
                "run failed"
            ),
        }
        if let Some(sink) = sink {
            let cx = RecordContext {
                workload: &workload,
                trigger: &trigger,
                input: kept_input.as_deref(),
                replay_of: options.replay_of.as_deref(),
            };
            sink.record(record::build(&mut outcome, cx));
        }
        outcome
    }
}
