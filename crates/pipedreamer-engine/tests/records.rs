//! Run records in-process: every trigger's runs reach the engine's sink (HTTP with the replay
//! header, local cron on an accelerated clock), with the journal, and with the input and final
//! output only under `config.record_io`, secrets redacted.

mod common;

use axum::body::Body;
use axum::http::Request;
use common::write_files;
use pipedreamer_engine::cron::{SchedulerClock, run_scheduler_with};
use pipedreamer_engine::{EngineState, RunSink, SecretsSource};
use pipedreamer_runs::{NodeStatus, RunRecord, RunStatus};
use pipedreamer_sandbox::{PoolOptions, Sandbox};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const SECRET: &str = "tok-0123456789-abcdef";

#[derive(Default)]
struct Capture(Mutex<Vec<RunRecord>>);

impl RunSink for Capture {
    fn record(&self, record: RunRecord) {
        self.0.lock().unwrap().push(record);
    }
}

impl Capture {
    fn all(&self) -> Vec<RunRecord> {
        self.0.lock().unwrap().clone()
    }
}

/// An engine state over the workflow `files` (secrets from its `.secrets.yaml`), recording.
fn recording(files: &[(&str, &str)]) -> (Arc<EngineState>, Arc<Capture>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), files);
    let secrets = SecretsSource::File(dir.path().join(".secrets.yaml"));
    let workload = pipedreamer_engine::load(dir.path(), &secrets).unwrap();
    let state = EngineState::new(
        Sandbox::start(PoolOptions { workers: 1 }).unwrap(),
        Some(workload),
        None,
    );
    let capture = Arc::new(Capture::default());
    assert!(state.set_sink(capture.clone()));
    assert!(
        !state.set_sink(Arc::new(Capture::default())),
        "a sink is set once"
    );
    (state, capture, dir)
}

fn workflow(record_io: bool) -> String {
    format!(
        "name: rec\nversion: \"0.3\"\nconfig:\n  record_io: {record_io}\nnodes:\n  - {{id: a, file: a.js}}\n  - {{id: b, file: b.js, depends_on: [a]}}\ntriggers:\n  - {{type: cron, name: every-minute, schedule: \"* * * * *\"}}\n"
    )
}

const A: &str = "export default (ctx, input) => { ctx.log.info('a saw', JSON.stringify(input)); ctx.progress(40, 'a'); return { ...input, key: ctx.secrets.key }; }";
const B: &str = "export default (ctx, input) => { ctx.output('echo', input); return input; }";

async fn post_run(state: Arc<EngineState>, body: &str, replay_of: Option<&str>) -> u16 {
    let mut req = Request::builder().method("POST").uri("/run");
    if let Some(id) = replay_of {
        req = req.header("x-pipedreamer-replay-of", id);
    }
    let res = pipedreamer_engine::http::router(state)
        .oneshot(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    res.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_cron_runs_reach_the_sink_with_io_redacted() {
    let secrets = format!("key: {SECRET}\n");
    let wf = workflow(true);
    let (state, capture, _dir) = recording(&[
        ("workflow.yaml", &wf),
        ("a.js", A),
        ("b.js", B),
        (".secrets.yaml", &secrets),
    ]);
    let input = format!(r#"{{"name": "ada", "pasted": "{SECRET}"}}"#);
    assert_eq!(
        post_run(state.clone(), &input, Some("earlier-run-1")).await,
        200
    );
    let stop = CancellationToken::new();
    tokio::spawn(run_scheduler_with(
        state.clone(),
        stop.clone(),
        SchedulerClock::accelerated(120),
    ));
    let deadline = Instant::now() + Duration::from_secs(15);
    while !capture.all().iter().any(|r| r.trigger.starts_with("cron:")) {
        assert!(Instant::now() < deadline, "no cron record");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    let records = capture.all();
    let http = &records[0];
    assert_eq!(http.trigger, "http");
    assert_eq!(http.replay_of.as_deref(), Some("earlier-run-1"));
    assert_eq!(http.status, RunStatus::Succeeded);
    assert_eq!(
        (http.workflow.as_str(), http.version.as_str()),
        ("rec", "0.3")
    );
    let ids: Vec<&str> = http.nodes.0.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let b = http.nodes.get("b").unwrap();
    assert_eq!((b.status, b.attempts), (NodeStatus::Succeeded, 1));
    assert!(b.started_ms >= http.nodes.get("a").unwrap().started_ms);
    assert_eq!(
        http.input,
        Some(json!({"name": "ada", "pasted": "[REDACTED]"}))
    );
    assert_eq!(
        http.output,
        Some(json!({"name": "ada", "pasted": "[REDACTED]", "key": "[REDACTED]"}))
    );
    assert_eq!(http.outputs["echo"]["key"], "[REDACTED]");
    assert_eq!(http.progress[0].percent, 40.0);
    assert!(http.logs.iter().any(|l| l.node == "a"));
    assert!(!serde_json::to_string(&records).unwrap().contains(SECRET));
    let cron = records
        .iter()
        .find(|r| r.trigger == "cron:every-minute")
        .unwrap();
    // The trigger's payload is the run's input.
    assert!(
        cron.input.as_ref().is_some_and(|i| i.is_object()),
        "{:?}",
        cron.input
    );
    assert_eq!(cron.replay_of, None);
    assert!(cron.check().is_ok() && http.check().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_record_io_payloads_stay_out_and_failures_keep_their_error() {
    let wf = workflow(false);
    let (state, capture, _dir) = recording(&[
        ("workflow.yaml", &wf),
        ("a.js", A),
        (
            "b.js",
            "export default () => { throw new Error('b broke'); }",
        ),
        (".secrets.yaml", "key: not-used-here-1234\n"),
    ]);
    assert_eq!(post_run(state.clone(), r#"{"x": 1}"#, None).await, 500);
    let records = capture.all();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.status, RunStatus::Failed);
    assert!(r.input.is_none() && r.output.is_none());
    let error = r.error.as_ref().unwrap();
    assert_eq!(error.node.as_deref(), Some("b"));
    assert!(error.message.contains("b broke"), "{}", error.message);
    assert_eq!(r.nodes.get("b").unwrap().status, NodeStatus::Failed);
    // A replay header that is no run id is refused before any run.
    assert_eq!(post_run(state, "{}", Some("no/such id")).await, 400);
    assert_eq!(capture.all().len(), 1);
}
