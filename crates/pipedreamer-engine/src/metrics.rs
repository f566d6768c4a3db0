//! Prometheus metrics: runs by status and trigger, run and node duration histograms, NATS
//! connection state and queue messages by outcome, sandbox workers lost to the watchdog.
//!
//! Label values that come from a fixed vocabulary are enums (so a typo cannot start a new
//! series); only names from the workflow (node ids, subjects) are strings.

use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_sandbox::{FailureKind, PoolHealth, RunOutcome};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt::Write;

/// Label values written in snake_case, as every existing dashboard expects.
macro_rules! label_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// The label value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }
        }

        impl EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
                encoder.write_str(self.as_str())
            }
        }
    };
}

label_enum! {
    /// How a run ended (`pipedreamer_runs_total{status}`).
    RunResult {
        /// Every node succeeded.
        Succeeded => "succeeded",
        /// A node failed, or the sandbox did.
        Failed => "failed",
        /// A node exceeded its timeout (or the watchdog replaced its worker).
        TimedOut => "timed_out",
    }
}

label_enum! {
    /// What started a run, without its name (`pipedreamer_runs_total{trigger}`).
    TriggerKind {
        /// `POST /run`.
        Http => "http",
        /// `POST /hooks/<name>`.
        Webhook => "webhook",
        /// Local cron.
        Cron => "cron",
        /// A queue message.
        Queue => "queue",
    }
}

impl From<&Trigger> for TriggerKind {
    fn from(t: &Trigger) -> Self {
        match t {
            Trigger::Http => TriggerKind::Http,
            Trigger::Webhook(_) => TriggerKind::Webhook,
            Trigger::Cron(_) => TriggerKind::Cron,
            Trigger::Queue(_) => TriggerKind::Queue,
        }
    }
}

label_enum! {
    /// Where a refused request or message came from (`pipedreamer_rejected_requests_total{source}`).
    Source {
        /// `POST /run`.
        Http => "http",
        /// `POST /hooks/<name>`.
        Webhook => "webhook",
        /// A queue message.
        Nats => "nats",
    }
}

label_enum! {
    /// Why a request or message was refused before a run.
    Rejection {
        /// The body is larger than `max_body`.
        TooLarge => "too_large",
        /// The body is not JSON (or nests too deeply).
        BadJson => "bad_json",
        /// The body did not arrive within `--body-timeout`.
        BodyTimeout => "body_timeout",
        /// The connection failed while the body was read.
        Unreadable => "unreadable",
        /// The webhook's secret is missing or empty.
        NoSecret => "no_secret",
        /// The webhook request is not signed.
        MissingSignature => "missing_signature",
        /// The webhook signature does not match.
        BadSignature => "bad_signature",
    }
}

label_enum! {
    /// What became of a queue message (`pipedreamer_nats_messages_total{outcome}`).
    MessageOutcome {
        /// Its run succeeded (and it was acked).
        Succeeded => "succeeded",
        /// Its run failed (core NATS: the reply says so).
        Failed => "failed",
        /// The payload was not usable JSON.
        BadPayload => "bad_payload",
        /// Its run failed; JetStream will redeliver it.
        Retried => "retried",
        /// Its runs failed `max_deliver` times; terminated.
        Dead => "dead",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    status: RunResult,
    trigger: TriggerKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    source: Source,
    reason: Rejection,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    subject: String,
    outcome: MessageOutcome,
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
    rejected: Family<RejectLabels, Counter>,
    nats_connected: Gauge,
    nats_messages: Family<MessageLabels, Counter>,
    workers_lost: Counter,
    workers_stuck: Gauge,
    reports: ReportMetrics,
}

/// The run reporter's counters (`--report-to`), shared with its background task.
#[derive(Clone, Debug, Default)]
pub struct ReportMetrics {
    /// Records the control plane accepted (202), duplicates included.
    pub sent: Counter,
    /// Records dropped: the oldest when the buffer was full, or ones the control plane refused.
    pub dropped: Counter,
    /// Report requests that failed (unreachable, timed out, or answered with an error).
    pub failed: Counter,
    /// Records waiting to be sent.
    pub buffered: Gauge,
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
        let rejected = Family::<RejectLabels, Counter>::default();
        let nats_connected = Gauge::default();
        let nats_messages = Family::<MessageLabels, Counter>::default();
        let workers_lost = Counter::default();
        let workers_stuck = Gauge::default();
        let reports = ReportMetrics::default();
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
        registry.register(
            "workers_lost",
            "Sandbox workers the watchdog replaced because a run kept them busy past its deadline",
            workers_lost.clone(),
        );
        registry.register(
            "workers_stuck",
            "Replaced sandbox workers still busy (capacity lost until they return)",
            workers_stuck.clone(),
        );
        registry.register(
            "run_reports_sent",
            "Run records the control plane accepted (--report-to)",
            reports.sent.clone(),
        );
        registry.register(
            "run_reports_dropped",
            "Run records dropped: the oldest when the report buffer was full, or refused by the control plane",
            reports.dropped.clone(),
        );
        registry.register(
            "run_reports_failed",
            "Run report requests that failed (control plane unreachable, timed out or erring)",
            reports.failed.clone(),
        );
        registry.register(
            "run_reports_buffered",
            "Run records waiting to be reported",
            reports.buffered.clone(),
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
            workers_lost,
            workers_stuck,
            reports,
        }
    }
}

impl Metrics {
    /// Records a finished run.
    pub fn record(&self, trigger: &Trigger, outcome: &RunOutcome) {
        let status = match (outcome.succeeded(), outcome.failure()) {
            (true, _) => RunResult::Succeeded,
            (_, Some(FailureKind::Timeout)) => RunResult::TimedOut,
            _ => RunResult::Failed,
        };
        let labels = RunLabels {
            status,
            trigger: trigger.into(),
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
    pub fn reject(&self, source: Source, reason: Rejection) {
        self.rejected
            .get_or_create(&RejectLabels { source, reason })
            .inc();
    }

    /// Records whether the NATS connection is up.
    pub fn set_nats_connected(&self, connected: bool) {
        self.nats_connected.set(i64::from(connected));
    }

    /// Counts a queue message by its trigger subject and what became of it.
    pub fn nats_message(&self, subject: &str, outcome: MessageOutcome) {
        self.nats_messages
            .get_or_create(&MessageLabels {
                subject: subject.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Mirrors the sandbox's worker state: the lost counter catches up with the pool's total
    /// (the pool counts; the metric only reports), the stuck gauge is set.
    pub fn set_workers(&self, health: &PoolHealth) {
        let seen = self.workers_lost.get();
        if health.lost_total > seen {
            self.workers_lost.inc_by(health.lost_total - seen);
        }
        self.workers_stuck
            .set(i64::try_from(health.stuck).unwrap_or(i64::MAX));
    }

    /// The run reporter's counters (clones share the registered series).
    pub fn reports(&self) -> ReportMetrics {
        self.reports.clone()
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
