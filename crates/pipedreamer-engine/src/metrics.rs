//! Prometheus metrics: runs by status and trigger, run and node duration histograms, NATS
//! connection state and queue messages by outcome.

use pipedreamer_sandbox::RunOutcome;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    status: String,
    trigger: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
    status: String,
}

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The engine's metrics.
pub struct Metrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    run_duration: Family<RunLabels, Histogram>,
    node_duration: Family<NodeLabels, Histogram>,
    in_flight: Gauge,
    /// Incremented for every message or request refused before a run (bad JSON, bad signature).
    pub rejected: Family<Vec<(String, String)>, Counter>,
    nats_connected: Gauge,
    nats_messages: Family<Vec<(String, String)>, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("pipedreamer");
        let runs = Family::<RunLabels, Counter>::default();
        let run_duration =
            Family::<RunLabels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let node_duration =
            Family::<NodeLabels, Histogram>::new_with_constructor(histogram as fn() -> Histogram);
        let in_flight = Gauge::default();
        let rejected = Family::<Vec<(String, String)>, Counter>::default();
        let nats_connected = Gauge::default();
        let nats_messages = Family::<Vec<(String, String)>, Counter>::default();
        registry.register(
            "runs",
            "Workflow runs by final status and trigger",
            runs.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Wall time of workflow runs",
            run_duration.clone(),
        );
        registry.register(
            "node_duration_seconds",
            "Wall time of node calls",
            node_duration.clone(),
        );
        registry.register(
            "runs_in_flight",
            "Runs currently executing",
            in_flight.clone(),
        );
        registry.register(
            "rejected_requests",
            "Requests and messages refused before a run",
            rejected.clone(),
        );
        registry.register(
            "nats_connected",
            "1 while the engine is connected to its NATS server",
            nats_connected.clone(),
        );
        registry.register(
            "nats_messages",
            "Queue trigger messages by subject and outcome",
            nats_messages.clone(),
        );
        Self {
            registry,
            runs,
            run_duration,
            node_duration,
            in_flight,
            rejected,
            nats_connected,
            nats_messages,
        }
    }
}

impl Metrics {
    /// Records a finished run.
    pub fn record(&self, trigger: &str, outcome: &RunOutcome) {
        let status = match (outcome.succeeded(), outcome.failure()) {
            (true, _) => "succeeded",
            (_, Some(pipedreamer_sandbox::FailureKind::Timeout)) => "timed_out",
            _ => "failed",
        };
        let kind = trigger.split(':').next().unwrap_or(trigger).to_owned();
        let labels = RunLabels {
            status: status.into(),
            trigger: kind,
        };
        self.runs.get_or_create(&labels).inc();
        self.run_duration
            .get_or_create(&labels)
            .observe(outcome.duration.as_secs_f64());
        for (node, report) in &outcome.nodes.0 {
            if report.status == pipedreamer_sandbox::NodeStatus::Skipped {
                continue;
            }
            let status = serde_json::to_value(report.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            self.node_duration
                .get_or_create(&NodeLabels {
                    node: node.clone(),
                    status,
                })
                .observe(report.duration_ms / 1000.0);
        }
    }

    /// Counts a run in flight until the guard drops.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.inc();
        InFlight(&self.in_flight)
    }

    /// Counts a refused request or message.
    pub fn reject(&self, source: &str, reason: &str) {
        self.rejected
            .get_or_create(&vec![
                ("source".into(), source.into()),
                ("reason".into(), reason.into()),
            ])
            .inc();
    }

    /// Records whether the NATS connection is up.
    pub fn set_nats_connected(&self, connected: bool) {
        self.nats_connected.set(i64::from(connected));
    }

    /// Counts a queue message by its trigger subject and what became of it (`succeeded`,
    /// `failed`, `bad_payload`, `retried`, `dead`).
    pub fn nats_message(&self, subject: &str, outcome: &str) {
        self.nats_messages
            .get_or_create(&vec![
                ("subject".into(), subject.into()),
                ("outcome".into(), outcome.into()),
            ])
            .inc();
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Decrements the in-flight gauge on drop.
pub struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}
