//! Run records: a finished run as a [`RunRecord`], and the [`RunSink`] the engine hands each one
//! to (`pipedreamer dev`'s SQLite recorder, the `--report-to` reporter).
//!
//! An engine without a sink builds no record at all: recording costs nothing unless asked for.
//! The record takes the run's journal (logs, progress, outputs: redacted by the sandbox as they
//! were written) and, only with `config.record_io: true`, the input and the final output,
//! redacted here and left out when larger than [`limits::MAX_IO_BYTES`].

use pipedreamer_runs::{NodeRecord, Nodes, RunFailure, RunRecord, limits};
use pipedreamer_sandbox::outcome::Trigger;
use pipedreamer_sandbox::{Redactor, RunOutcome, Workload};
use serde_json::Value;
use std::time::UNIX_EPOCH;

/// Where finished runs' records go. `record` must not block: it is called on the run's task,
/// right after the run, and a slow sink must never slow runs (queue, then work elsewhere).
pub trait RunSink: Send + Sync {
    /// Takes one finished run's record.
    fn record(&self, record: RunRecord);
}

/// The request header that marks a run as a replay of an earlier one (`POST /run`): its value,
/// a run id, becomes the record's `replay_of`.
pub const REPLAY_HEADER: &str = "x-pipedreamer-replay-of";

/// What a record is built from besides the outcome.
#[derive(Debug, Clone, Copy)]
pub struct RecordContext<'a> {
    /// The workload the run ran on (name, version, `record_io`, the redactor).
    pub workload: &'a Workload,
    /// What started the run.
    pub trigger: &'a Trigger,
    /// The root input as JSON text; kept only with `config.record_io`.
    pub input: Option<&'a str>,
    /// The run this one replays.
    pub replay_of: Option<&'a str>,
}

/// Whether the workflow keeps its runs' input and final output (`config.record_io`).
pub fn records_io(workload: &Workload) -> bool {
    workload.program.workflow.config.record_io
}

/// The record of a finished run. Takes the outcome's journal (the HTTP answer does not carry
/// it), so call it after anything else that reads the journal.
pub fn build(outcome: &mut RunOutcome, cx: RecordContext<'_>) -> RunRecord {
    let started_at = outcome
        .started_at
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let ended_at =
        started_at.saturating_add(i64::try_from(outcome.duration.as_millis()).unwrap_or(0));
    let workflow = &cx.workload.program.workflow;
    let journal = std::mem::take(&mut outcome.journal);
    let io = records_io(cx.workload);
    let redactor = cx.workload.secrets.redactor();
    let input = cx
        .input
        .filter(|_| io)
        .and_then(|text| kept_io(text, redactor));
    let output = outcome
        .output
        .as_ref()
        .filter(|_| io)
        .and_then(|raw| kept_io(raw.get(), redactor));
    RunRecord {
        id: outcome.run_id.clone(),
        workflow: workflow.name.clone(),
        version: workflow.version.clone(),
        trigger: cx.trigger.to_string(),
        status: outcome.status,
        started_at,
        ended_at,
        nodes: Nodes(
            outcome
                .nodes
                .0
                .iter()
                .map(|(id, n)| {
                    (
                        id.clone(),
                        NodeRecord {
                            status: n.status,
                            attempts: n.attempts,
                            started_ms: n.started_ms,
                            duration_ms: n.duration_ms,
                        },
                    )
                })
                .collect(),
        ),
        logs: journal.logs,
        progress: journal.progress,
        outputs: journal.outputs,
        // Run errors are redacted by the sandbox already.
        error: outcome.error.as_ref().map(|e| RunFailure {
            node: e.node.clone(),
            message: e.message.clone(),
            kind: e.kind,
        }),
        replay_of: cx.replay_of.map(str::to_owned),
        input,
        output,
        dropped: journal.dropped,
    }
}

/// `text` (JSON) as a value with its secrets redacted, or `None` when it is larger than
/// [`limits::MAX_IO_BYTES`] (such a run is kept without it, and cannot be replayed) or not JSON.
fn kept_io(text: &str, redactor: &Redactor) -> Option<Value> {
    if text.len() > limits::MAX_IO_BYTES {
        return None;
    }
    let mut value: Value = serde_json::from_str(text).ok()?;
    redact_value(&mut value, redactor);
    Some(value)
}

/// Redacts every string (keys included) and every number whose digits are a secret, in place.
/// Walking the value rather than redacting the JSON text keeps it JSON whatever the secret
/// looks like (a secret that is a number, or that spans a quote, would break the text). NUL
/// characters become U+FFFD, as in the sandbox's journal: PostgreSQL's text refuses them, and
/// the control plane refuses a record holding one ([`RunRecord::check`]).
pub fn redact_value(value: &mut Value, redactor: &Redactor) {
    match value {
        Value::String(s) => {
            let redacted = clean(redactor.redact(s));
            if redacted != *s {
                *s = redacted;
            }
        }
        Value::Number(n) => {
            let text = n.to_string();
            if redactor.redact(&text) != text {
                *value = Value::String("[REDACTED]".into());
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_value(v, redactor)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                redact_value(&mut v, redactor);
                map.insert(clean(redactor.redact(&k)), v);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// `text` with NUL characters replaced by U+FFFD.
fn clean(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_redacted_without_breaking_json() {
        let redactor = Redactor::new(["hunter2-secret".to_owned(), "123456789".to_owned()]);
        let mut v = json!({
            "password": "my hunter2-secret here",
            "hunter2-secret": [123456789, 5, {"x": "hunter2-secret"}],
            "n": 42,
        });
        redact_value(&mut v, &redactor);
        let text = v.to_string();
        assert!(!text.contains("hunter2-secret"), "{text}");
        assert!(!text.contains("123456789"), "{text}");
        assert_eq!(v["password"], "my [REDACTED] here");
        assert_eq!(v["[REDACTED]"][0], "[REDACTED]");
        assert_eq!(v["n"], 42);
        // NUL characters, which the control plane refuses, are replaced (keys too).
        let mut v = json!({"a\0b": "c\0d"});
        redact_value(&mut v, &redactor);
        assert_eq!(v, json!({"a\u{FFFD}b": "c\u{FFFD}d"}));
    }

    #[test]
    fn oversized_io_is_left_out() {
        let redactor = Redactor::new([]);
        let big = format!("\"{}\"", "x".repeat(limits::MAX_IO_BYTES));
        assert_eq!(kept_io(&big, &redactor), None);
        assert_eq!(kept_io("{\"a\":1}", &redactor), Some(json!({"a": 1})));
    }
}
