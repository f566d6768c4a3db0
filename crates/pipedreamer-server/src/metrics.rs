//! Prometheus metrics of the control plane:
//!
//! - `pipedreamer_server_builds{status}`: builds in the database by status (read at scrape time,
//!   so every replica reports the shared queue);
//! - `pipedreamer_server_build_queue_depth`: `PENDING` builds;
//! - `pipedreamer_server_build_duration_seconds{status}`: builds this replica ran, from claim
//!   to end;
//! - `pipedreamer_server_webhook_deliveries_total{outcome}`: webhook deliveries by outcome;
//! - `pipedreamer_server_runs_ingested_total{outcome}`: reported run records this replica
//!   stored (`accepted`) or already had (`duplicate`);
//! - `pipedreamer_server_runs_expired_total`: run records the retention task deleted.
//!
//! Every label value comes from an enum, so no request can create a series, and no label
//! carries an id, a name or a secret.

use pipedreamer_store::{BuildStatus, Store};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::fmt::Write;
use std::time::Duration;

/// What became of a webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WebhookOutcome {
    /// A build was queued (202).
    Queued,
    /// The delivery id was seen before (200).
    Duplicate,
    /// Valid, but nothing to build: another event or branch, a deleted branch, auto-rebuild off.
    Ignored,
    /// GitHub's `ping`.
    Ping,
    /// Missing or wrong `X-Hub-Signature-256` (401).
    BadSignature,
    /// Not JSON, or not a usable push payload (400/413/415).
    BadPayload,
    /// The deployment does not exist (404).
    UnknownDeployment,
    /// The server failed to record it (5xx).
    Error,
}

impl WebhookOutcome {
    fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Queued => "queued",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Ping => "ping",
            WebhookOutcome::BadSignature => "bad_signature",
            WebhookOutcome::BadPayload => "bad_payload",
            WebhookOutcome::UnknownDeployment => "unknown_deployment",
            WebhookOutcome::Error => "error",
        }
    }
}

impl EncodeLabelValue for WebhookOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(self.as_str())
    }
}

/// A build status as a label value (lower case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StatusValue(BuildStatus);

impl EncodeLabelValue for StatusValue {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(&self.0.as_str().to_ascii_lowercase())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: StatusValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: WebhookOutcome,
}

/// What became of an ingested run record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IngestOutcome {
    Accepted,
    Duplicate,
}

impl EncodeLabelValue for IngestOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            IngestOutcome::Accepted => "accepted",
            IngestOutcome::Duplicate => "duplicate",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct IngestLabels {
    outcome: IngestOutcome,
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    builds: Family<StatusLabels, Gauge>,
    queue_depth: Gauge,
    durations: Family<StatusLabels, Histogram>,
    webhooks: Family<OutcomeLabels, Counter>,
    runs_ingested: Family<IngestLabels, Counter>,
    runs_expired: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pipedreamer_server");
        let builds = Family::<StatusLabels, Gauge>::default();
        registry.register("builds", "Builds in the database by status", builds.clone());
        let queue_depth = Gauge::default();
        registry.register(
            "build_queue_depth",
            "Builds waiting for a worker (PENDING)",
            queue_depth.clone(),
        );
        // 1 s to ~17 min: a warm local build takes seconds, a cold one with a rollout minutes.
        let durations = Family::<StatusLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                1.0, 2.0, 11,
            ))
        });
        registry.register(
            "build_duration_seconds",
            "Duration of builds this server ran, from claim to end, by final status",
            durations.clone(),
        );
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by outcome",
            webhooks.clone(),
        );
        let runs_ingested = Family::<IngestLabels, Counter>::default();
        registry.register(
            "runs_ingested",
            "Reported run records stored (accepted) or already stored (duplicate)",
            runs_ingested.clone(),
        );
        let runs_expired = Counter::default();
        registry.register(
            "runs_expired",
            "Run records deleted by retention (runs.retention)",
            runs_expired.clone(),
        );
        for outcome in [IngestOutcome::Accepted, IngestOutcome::Duplicate] {
            let _ = runs_ingested.get_or_create(&IngestLabels { outcome });
        }
        // Every series exists from the start, so dashboards see zeros rather than gaps.
        for status in BuildStatus::ALL {
            let labels = StatusLabels {
                status: StatusValue(*status),
            };
            let _ = builds.get_or_create(&labels);
            if status.is_finished() {
                let _ = durations.get_or_create(&labels);
            }
        }
        for outcome in [
            WebhookOutcome::Queued,
            WebhookOutcome::Duplicate,
            WebhookOutcome::Ignored,
            WebhookOutcome::Ping,
            WebhookOutcome::BadSignature,
            WebhookOutcome::BadPayload,
            WebhookOutcome::UnknownDeployment,
            WebhookOutcome::Error,
        ] {
            let _ = webhooks.get_or_create(&OutcomeLabels { outcome });
        }
        Metrics {
            registry,
            builds,
            queue_depth,
            durations,
            webhooks,
            runs_ingested,
            runs_expired,
        }
    }

    /// Counts an ingested batch.
    pub fn runs_ingested(&self, accepted: u64, duplicates: u64) {
        for (outcome, n) in [
            (IngestOutcome::Accepted, accepted),
            (IngestOutcome::Duplicate, duplicates),
        ] {
            self.runs_ingested
                .get_or_create(&IngestLabels { outcome })
                .inc_by(n);
        }
    }

    /// Counts run records deleted by retention.
    pub fn runs_expired(&self, n: u64) {
        self.runs_expired.inc_by(n);
    }

    /// Counts a webhook delivery.
    pub fn webhook(&self, outcome: WebhookOutcome) {
        self.webhooks
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Observes a finished build's duration.
    pub fn build_finished(&self, status: BuildStatus, duration: Duration) {
        self.durations
            .get_or_create(&StatusLabels {
                status: StatusValue(status),
            })
            .observe(duration.as_secs_f64());
    }

    /// Reads the database's counts and renders the OpenMetrics text.
    pub async fn render(&self, store: &Store) -> Result<String, pipedreamer_store::StoreError> {
        let counts = store.build_counts().await?;
        for status in BuildStatus::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            self.builds
                .get_or_create(&StatusLabels {
                    status: StatusValue(*status),
                })
                .set(n);
        }
        self.queue_depth.set(store.queue_depth().await?);
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        Ok(out)
    }
}
