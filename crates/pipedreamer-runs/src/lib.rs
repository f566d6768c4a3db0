//! Run records: what one run of a workflow leaves behind, in the one shape every part uses.
//!
//! - The sandbox fills a [`Journal`] while a run executes (`ctx.log`, `ctx.progress`,
//!   `ctx.output`) and reports each node's [`NodeStatus`], attempts and timing.
//! - The engine turns a finished run into a [`RunRecord`] and hands it to a sink: `pipedreamer
//!   dev` keeps it in `.pipedreamer/runs.db`, a deployed engine started with `--report-to` posts
//!   batches of them (a [`ReportBatch`]) to the control plane.
//! - The control plane stores them and serves them unchanged as `GET /api/runs/:id`; `pipedreamer
//!   runs show -o json` prints the same shape.
//!
//! Every list here is capped ([`limits`]), so a chatty node cannot make a record (or a report
//! batch) unbounded: past a cap, entries are counted in [`Dropped`] instead of kept.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The caps on what a run keeps.
pub mod limits {
    /// `ctx.output` calls kept per run; one more throws a `RangeError` in the node.
    pub const MAX_OUTPUTS: usize = 32;
    /// Bytes of one `ctx.output` value as JSON; a larger one throws a `RangeError`.
    pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
    /// Log lines kept per run; later ones are counted in [`super::Dropped::logs`].
    pub const MAX_LOG_LINES: usize = 1_000;
    /// Bytes of one log message kept; the rest is cut (at a character boundary) and marked.
    pub const MAX_LOG_MESSAGE_BYTES: usize = 8 * 1024;
    /// Progress updates kept per run; later ones are counted in [`super::Dropped::progress`].
    pub const MAX_PROGRESS: usize = 1_000;
    /// Bytes of a progress message kept.
    pub const MAX_PROGRESS_MESSAGE_BYTES: usize = 1024;
    /// Bytes of the run's input or final output kept when `config.record_io` is on; a larger
    /// one is left out of the record (and such a run cannot be replayed).
    pub const MAX_IO_BYTES: usize = 256 * 1024;
    /// Bytes of one `POST /api/ingest/runs` body.
    pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
    /// Characters of a run id (a UUID is 36).
    pub const MAX_ID_CHARS: usize = 64;
}

/// How a run ended.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every node succeeded.
    Succeeded,
    /// A node failed, timed out or ran out of memory.
    Failed,
}

impl RunStatus {
    /// The word the record and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "succeeded" => Ok(RunStatus::Succeeded),
            "failed" => Ok(RunStatus::Failed),
            other => Err(format!(
                "unknown run status `{other}`; expected `succeeded` or `failed`"
            )),
        }
    }
}

/// A node's state after a run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Returned a value.
    Succeeded,
    /// Threw (on its last attempt) or exceeded the memory limit.
    Failed,
    /// Exceeded its timeout (on its last attempt).
    TimedOut,
    /// Was running when another node failed.
    Cancelled,
    /// Never started because the run failed first.
    Skipped,
}

/// The kinds of failure.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The node threw or returned a rejected promise or a non-JSON value.
    Thrown,
    /// The node exceeded its timeout.
    Timeout,
    /// The run exceeded its memory limit (never retried).
    Memory,
    /// The sandbox failed (a bug or resource exhaustion outside node code).
    Internal,
}

impl FailureKind {
    /// Whether a node's `retries` apply: a throw or a timeout, never the memory limit (the next
    /// attempt would hit it again, and a realm at its limit is not trusted).
    pub fn retryable(self) -> bool {
        matches!(self, FailureKind::Thrown | FailureKind::Timeout)
    }
}

/// The level of a `ctx.log` (or `console`) line.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// `ctx.log.debug`, `console.debug`.
    Debug,
    /// `ctx.log.info`, `console.log`, `console.info`.
    Info,
    /// `ctx.log.warn`, `console.warn`.
    Warn,
    /// `ctx.log.error`, `console.error`.
    Error,
}

impl LogLevel {
    /// From the word the host API passes (`debug`, `info`, `warn`, `error`); anything else is
    /// `info`.
    pub fn from_word(word: &str) -> Self {
        match word {
            "debug" => LogLevel::Debug,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => LogLevel::Info,
        }
    }
}

/// One log line of a run.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Milliseconds since the run started.
    pub at_ms: f64,
    /// The node that logged it (`console` for code outside a node's `ctx`).
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub node: String,
    /// Its level.
    pub level: LogLevel,
    /// The text, secrets redacted.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub message: String,
}

/// One `ctx.progress(percent, message?)` call.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Milliseconds since the run started.
    pub at_ms: f64,
    /// The node that reported it.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub node: String,
    /// 0 to 100.
    pub percent: f64,
    /// What the node is doing, secrets redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub message: Option<String>,
}

/// Entries a run produced past the caps, counted instead of kept.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// Log lines past [`limits::MAX_LOG_LINES`].
    #[serde(default)]
    pub logs: u32,
    /// Progress updates past [`limits::MAX_PROGRESS`].
    #[serde(default)]
    pub progress: u32,
}

impl Dropped {
    /// Nothing was dropped.
    pub fn is_empty(&self) -> bool {
        self.logs == 0 && self.progress == 0
    }
}

/// What a run's node code said while it ran: filled by the sandbox, capped as it grows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    /// Log lines, in order.
    pub logs: Vec<LogLine>,
    /// Progress updates, in order.
    pub progress: Vec<Progress>,
    /// `ctx.output(name, value)`: by name, in first-set order (a second call replaces).
    pub outputs: serde_json::Map<String, Value>,
    /// Entries past the caps.
    pub dropped: Dropped,
}

impl Journal {
    /// Keeps a log line (its message cut to [`limits::MAX_LOG_MESSAGE_BYTES`]) unless the run
    /// already has [`limits::MAX_LOG_LINES`].
    pub fn log(&mut self, at_ms: f64, node: &str, level: LogLevel, message: &str) {
        if self.logs.len() >= limits::MAX_LOG_LINES {
            self.dropped.logs = self.dropped.logs.saturating_add(1);
            return;
        }
        self.logs.push(LogLine {
            at_ms,
            node: node.to_owned(),
            level,
            message: cut(message, limits::MAX_LOG_MESSAGE_BYTES),
        });
    }

    /// Keeps a progress update (percent clamped to 0–100) unless the run already has
    /// [`limits::MAX_PROGRESS`].
    pub fn progress(&mut self, at_ms: f64, node: &str, percent: f64, message: Option<&str>) {
        if self.progress.len() >= limits::MAX_PROGRESS {
            self.dropped.progress = self.dropped.progress.saturating_add(1);
            return;
        }
        let percent = if percent.is_finite() {
            percent.clamp(0.0, 100.0)
        } else {
            0.0
        };
        self.progress.push(Progress {
            at_ms,
            node: node.to_owned(),
            percent,
            message: message.map(|m| cut(m, limits::MAX_PROGRESS_MESSAGE_BYTES)),
        });
    }

    /// Keeps a named output. Errors (for the node to throw as a `RangeError`) when the value's
    /// JSON is over [`limits::MAX_OUTPUT_BYTES`] or the run already has [`limits::MAX_OUTPUTS`]
    /// other names.
    pub fn output(&mut self, name: &str, json_len: usize, value: Value) -> Result<(), String> {
        if json_len > limits::MAX_OUTPUT_BYTES {
            return Err(format!(
                "ctx.output(\"{name}\"): the value is {json_len} bytes as JSON; at most {} are kept",
                limits::MAX_OUTPUT_BYTES
            ));
        }
        if !self.outputs.contains_key(name) && self.outputs.len() >= limits::MAX_OUTPUTS {
            return Err(format!(
                "ctx.output(\"{name}\"): a run keeps at most {} named outputs",
                limits::MAX_OUTPUTS
            ));
        }
        self.outputs.insert(name.to_owned(), value);
        Ok(())
    }
}

/// `text` cut to at most `max` bytes at a character boundary, with `…[cut]` when cut.
pub fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut]", &text[..end])
}

/// One node in a run record.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Final state.
    pub status: NodeStatus,
    /// Attempts made (0 when skipped; more than 1 only with `retries`).
    pub attempts: u32,
    /// Milliseconds from the run's start to the node's first attempt (0 when skipped).
    #[serde(default)]
    pub started_ms: f64,
    /// Milliseconds from the first attempt's start to the last one's end, retry delays
    /// included (0 when skipped).
    pub duration_ms: f64,
}

/// Node records keyed by node id, kept in workflow order (a JSON object on the wire).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Nodes(pub Vec<(String, NodeRecord)>);

impl Nodes {
    /// The record of a node.
    pub fn get(&self, id: &str) -> Option<&NodeRecord> {
        self.0.iter().find(|(k, _)| k == id).map(|(_, r)| r)
    }
}

/// On the wire an object of [`NodeRecord`]s keyed by node id.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Nodes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
        ObjectBuilder::new()
            .additional_properties(Some(AdditionalProperties::RefOr(
                utoipa::openapi::Ref::from_schema_name("NodeRecord").into(),
            )))
            .description(Some("Node records keyed by node id, in workflow order"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Nodes {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "NodeRecord".into(),
            <NodeRecord as utoipa::PartialSchema>::schema(),
        ));
        <NodeRecord as utoipa::ToSchema>::schemas(schemas);
    }
}

impl Serialize for Nodes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NodesVisitor;
        impl<'de> Visitor<'de> for NodesVisitor {
            type Value = Nodes;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of node records keyed by node id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Nodes, A::Error> {
                let mut nodes = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, NodeRecord>()? {
                    nodes.push((k, v));
                }
                Ok(Nodes(nodes))
            }
        }
        d.deserialize_map(NodesVisitor)
    }
}

/// Why a run failed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunFailure {
    /// The node that failed (absent for sandbox failures).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub node: Option<String>,
    /// What happened, secrets redacted.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[^\\x00]*$"))]
    pub message: String,
    /// The kind.
    pub kind: FailureKind,
}

/// Everything kept of one run: `GET /api/runs/:id`, `pipedreamer runs show -o json`, and each
/// entry of a [`ReportBatch`].
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (UUIDv7, time-ordered), also in every log line of the run.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub id: String,
    /// The workflow's `name`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = "^[^\\x00]*$")
    )]
    pub workflow: String,
    /// The workflow's `version`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 128, pattern = "^[^\\x00]*$")
    )]
    pub version: String,
    /// What started it: `http`, `webhook:<name>`, `cron:<name>`, `queue:<subject>`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 512, pattern = "^[^\\x00]*$")
    )]
    pub trigger: String,
    /// How it ended.
    pub status: RunStatus,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds.
    pub ended_at: i64,
    /// Each node's status, attempts and timing, in workflow order.
    pub nodes: Nodes,
    /// Log lines, in order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub logs: Vec<LogLine>,
    /// Progress updates, in order.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 1000))]
    pub progress: Vec<Progress>,
    /// Named outputs (`ctx.output`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub outputs: serde_json::Map<String, Value>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<RunFailure>,
    /// The run this one replayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub replay_of: Option<String>,
    /// The root input, only with `config.record_io: true` (redacted, at most
    /// [`limits::MAX_IO_BYTES`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub input: Option<Value>,
    /// The final output, only with `config.record_io: true` (redacted, capped like `input`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<serde_json::Value>))]
    pub output: Option<Value>,
    /// Entries past the caps.
    #[serde(default, skip_serializing_if = "Dropped::is_empty")]
    pub dropped: Dropped,
}

impl RunRecord {
    /// Wall time in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.ended_at.saturating_sub(self.started_at)
    }

    /// Checks a record that came from outside (the ingest endpoint): ids and names of sane
    /// length and alphabet, no NUL characters anywhere (PostgreSQL's text refuses them), lists
    /// within their caps. The error names the field.
    pub fn check(&self) -> Result<(), RecordError> {
        let bad = |field: &'static str, why: String| Err(RecordError { field, why });
        if !is_run_id(&self.id) {
            return bad(
                "id",
                format!(
                    "must be 1 to {} characters of [A-Za-z0-9_-]",
                    limits::MAX_ID_CHARS
                ),
            );
        }
        if let Some(r) = &self.replay_of
            && !is_run_id(r)
        {
            return bad(
                "replay_of",
                format!(
                    "must be a run id: 1 to {} characters of [A-Za-z0-9_-]",
                    limits::MAX_ID_CHARS
                ),
            );
        }
        for (field, text, max) in [
            ("workflow", &self.workflow, 128),
            ("version", &self.version, 128),
            ("trigger", &self.trigger, 512),
        ] {
            // Characters, as the OpenAPI document's `maxLength` counts.
            if text.is_empty() || text.chars().count() > max {
                return bad(field, format!("must be 1 to {max} characters"));
            }
        }
        if self.ended_at < self.started_at {
            return bad("ended_at", "is before started_at".into());
        }
        if self.logs.len() > limits::MAX_LOG_LINES {
            return bad(
                "logs",
                format!("has more than {} lines", limits::MAX_LOG_LINES),
            );
        }
        if self.progress.len() > limits::MAX_PROGRESS {
            return bad(
                "progress",
                format!("has more than {} entries", limits::MAX_PROGRESS),
            );
        }
        if self.outputs.len() > limits::MAX_OUTPUTS {
            return bad(
                "outputs",
                format!("has more than {} names", limits::MAX_OUTPUTS),
            );
        }
        // One walk over the serialized record finds a NUL in any string, keys included.
        let text = serde_json::to_string(self).unwrap_or_default();
        if text.contains("\\u0000") {
            return bad("record", "contains a NUL character".into());
        }
        Ok(())
    }
}

/// Whether `id` is a run id: 1 to [`limits::MAX_ID_CHARS`] characters of `[A-Za-z0-9_-]` (the
/// engine's UUIDs, and what its `x-pipedreamer-replay-of` header accepts).
pub fn is_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= limits::MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A record refused by [`RunRecord::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run record: `{field}` {why}")]
pub struct RecordError {
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// The body of `POST /api/ingest/runs`: at most [`limits::MAX_BATCH_BYTES`] of JSON.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBatch {
    /// The runs, oldest first.
    pub runs: Vec<RunRecord>,
}

/// The answer to `POST /api/ingest/runs` (202 Accepted).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    /// Records stored now.
    pub accepted: u64,
    /// Records whose id was already stored (a resend after a lost reply), ignored.
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            id: "0190b3c2-7d1e-7c3a-9f00-000000000001".into(),
            workflow: "hello".into(),
            version: "1.0.0".into(),
            trigger: "http".into(),
            status: RunStatus::Succeeded,
            started_at: 1_700_000_000_000,
            ended_at: 1_700_000_000_012,
            nodes: Nodes(vec![
                (
                    "parse".into(),
                    NodeRecord {
                        status: NodeStatus::Succeeded,
                        attempts: 1,
                        started_ms: 0.1,
                        duration_ms: 1.5,
                    },
                ),
                (
                    "greet".into(),
                    NodeRecord {
                        status: NodeStatus::Succeeded,
                        attempts: 3,
                        started_ms: 1.7,
                        duration_ms: 9.0,
                    },
                ),
            ]),
            logs: vec![],
            progress: vec![],
            outputs: Default::default(),
            error: None,
            replay_of: None,
            input: None,
            output: None,
            dropped: Dropped::default(),
        }
    }

    #[test]
    fn round_trips_in_workflow_order() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.find("\"parse\"").unwrap() < json.find("\"greet\"").unwrap());
        assert!(!json.contains("replay_of") && !json.contains("dropped"));
        let back: RunRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.nodes.get("greet").unwrap().attempts, 3);
    }

    #[test]
    fn check_names_the_field() {
        let mut r = record();
        assert!(r.check().is_ok());
        r.id = "../etc".into();
        assert_eq!(r.check().unwrap_err().field, "id");
        let mut r = record();
        r.logs.push(LogLine {
            at_ms: 0.0,
            node: "a\0b".into(),
            level: LogLevel::Info,
            message: "x".into(),
        });
        assert_eq!(r.check().unwrap_err().field, "record");
        let mut r = record();
        r.ended_at = 0;
        assert_eq!(r.check().unwrap_err().field, "ended_at");
    }

    #[test]
    fn journal_caps_and_counts() {
        let mut j = Journal::default();
        for i in 0..limits::MAX_LOG_LINES + 5 {
            j.log(i as f64, "n", LogLevel::Info, "x");
        }
        assert_eq!(j.logs.len(), limits::MAX_LOG_LINES);
        assert_eq!(j.dropped.logs, 5);
        let long = "é".repeat(limits::MAX_LOG_MESSAGE_BYTES);
        let mut j = Journal::default();
        j.log(0.0, "n", LogLevel::Warn, &long);
        assert!(j.logs[0].message.ends_with("…[cut]"));
        assert!(j.logs[0].message.len() <= limits::MAX_LOG_MESSAGE_BYTES + "…[cut]".len());
        j.progress(0.0, "n", 250.0, None);
        assert_eq!(j.progress[0].percent, 100.0);
        for i in 0..limits::MAX_OUTPUTS {
            j.output(&format!("o{i}"), 2, Value::from(1)).unwrap();
        }
        // Replacing a name is fine at the cap; a new one is not.
        j.output("o0", 2, Value::from(2)).unwrap();
        assert!(j.output("one-more", 2, Value::Null).is_err());
        assert!(
            Journal::default()
                .output("big", limits::MAX_OUTPUT_BYTES + 1, Value::Null)
                .unwrap_err()
                .contains("bytes")
        );
    }
}
