//! What a run returns: the JSON shape of `POST /run` responses and queue replies.

use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

pub use pipedreamer_runs::{FailureKind, Journal, NodeStatus, RunStatus};

/// A fresh, time-ordered run id.
pub fn new_run_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// What started a run. `Display` gives the text runs are logged with and `ctx.trigger` sees:
/// `http`, `webhook:<name>`, `cron:<name>`, `queue:<subject>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// `POST /run`.
    Http,
    /// `POST /hooks/<name>`.
    Webhook(String),
    /// A cron trigger scheduled in-process, by name.
    Cron(String),
    /// A queue trigger, by subject.
    Queue(String),
}

impl Trigger {
    /// The kind alone (`http`, `webhook`, `cron`, `queue`): a bounded set, fit for metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Webhook(_) => "webhook",
            Trigger::Cron(_) => "cron",
            Trigger::Queue(_) => "queue",
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::Http => f.write_str("http"),
            Trigger::Webhook(name) | Trigger::Cron(name) | Trigger::Queue(name) => {
                write!(f, "{}:{name}", self.kind())
            }
        }
    }
}

/// A request to run the workflow once.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The run id; generated when `None`.
    pub run_id: Option<String>,
    /// The root nodes' input, as JSON text (already validated).
    pub input: String,
    /// What started the run; node code sees its text as `ctx.run.trigger`.
    pub trigger: Trigger,
    /// Whether the outcome's journal keeps what node code logs (`ctx.log`, `console`). The
    /// engine turns it off when no run record is kept; a line that the log filter drops too
    /// is then not even formatted (its arguments' `toString`, `valueOf` and getters are not
    /// called; `console.count`/`time` labels still are, as they key the counters).
    pub keep_logs: bool,
}

impl RunRequest {
    /// A request with a fresh run id.
    pub fn new(input: impl Into<String>, trigger: Trigger) -> Self {
        Self {
            run_id: None,
            input: input.into(),
            trigger,
            keep_logs: true,
        }
    }
}

/// The run's result.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    /// Unique id, also in every log line of the run.
    pub run_id: String,
    /// `succeeded` or `failed`.
    pub status: RunStatus,
    /// The leaf output (or leaves keyed by id) when the run succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<RawValue>>,
    /// Why the run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
    /// Per-node status and duration, in workflow order.
    pub nodes: NodeReports,
    /// Wall time of the whole run.
    #[serde(skip)]
    pub duration: std::time::Duration,
    /// When the run started (wall clock), for its record.
    #[serde(skip)]
    pub started_at: std::time::SystemTime,
    /// What node code logged, reported as progress and named as outputs (`ctx.log`,
    /// `ctx.progress`, `ctx.output`), secrets redacted; for the run record.
    #[serde(skip)]
    pub journal: Journal,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn succeeded(&self) -> bool {
        self.status == RunStatus::Succeeded
    }

    /// The failure kind, when failed.
    pub fn failure(&self) -> Option<FailureKind> {
        self.error.as_ref().map(|e| e.kind)
    }

    /// A failed outcome that no node caused (the sandbox itself failed).
    pub fn internal(run_id: String, message: String) -> Self {
        Self {
            run_id,
            status: RunStatus::Failed,
            output: None,
            error: Some(RunError {
                node: None,
                message,
                kind: FailureKind::Internal,
            }),
            nodes: NodeReports::default(),
            duration: Default::default(),
            started_at: std::time::SystemTime::now(),
            journal: Journal::default(),
        }
    }
}

/// Why a run failed.
#[derive(Debug, Clone, Serialize)]
pub struct RunError {
    /// The node that failed (absent for sandbox failures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// What happened, secrets redacted.
    pub message: String,
    /// The kind, which decides the HTTP status.
    #[serde(skip)]
    pub kind: FailureKind,
}

/// Status, attempts and timing of one node.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    /// Final state.
    pub status: NodeStatus,
    /// Attempts made (0 when skipped; more than 1 only with the node's `retries`).
    pub attempts: u32,
    /// Milliseconds from the run's start to the node's first attempt (0 when skipped); kept for
    /// the run record's timeline, not in `POST /run` answers.
    #[serde(skip)]
    pub started_ms: f64,
    /// Milliseconds from the first attempt's start to the last one's end (0 when skipped).
    pub duration_ms: f64,
}

impl NodeReport {
    /// A node that never started.
    pub const SKIPPED: NodeReport = NodeReport {
        status: NodeStatus::Skipped,
        attempts: 0,
        started_ms: 0.0,
        duration_ms: 0.0,
    };
}

/// Reports keyed by node id, serialized as a JSON object in workflow order.
#[derive(Debug, Clone, Default)]
pub struct NodeReports(pub Vec<(String, NodeReport)>);

impl NodeReports {
    /// The report of a node.
    pub fn get(&self, id: &str) -> Option<&NodeReport> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, r)| r)
    }
}

impl Serialize for NodeReports {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}
