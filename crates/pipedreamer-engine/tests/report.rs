//! Run reporting (`--report-to`, `--report-token-file`) against a real local control plane
//! stand-in (an axum server answering `POST /api/ingest/runs` like the real one: 202 with the
//! counts, duplicates by id): batching, the replay header, a control plane that is down (the
//! engine keeps serving; records arrive once it is back), the bounded buffer and its counter,
//! secrets kept out of records and logs.

mod common;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use common::{Engine, free_port};
use pipedreamer_runs::{IngestReply, ReportBatch, RunRecord, RunStatus};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "report-token-0123456789abcdef";
const SECRET: &str = "sk-live-abcdef0123456789";

/// What the stand-in received.
#[derive(Default)]
struct Received {
    /// Each request's `Authorization` and records.
    batches: Vec<(String, Vec<RunRecord>)>,
    ids: BTreeSet<String>,
}

type Shared = Arc<Mutex<Received>>;

async fn ingest(
    State(got): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(body.len() <= pipedreamer_runs::limits::MAX_BATCH_BYTES);
    let batch: ReportBatch = serde_json::from_str(&body).expect("a ReportBatch body");
    let mut got = got.lock().unwrap();
    let mut reply = IngestReply::default();
    for r in &batch.runs {
        if got.ids.insert(r.id.clone()) {
            reply.accepted += 1;
        } else {
            reply.duplicates += 1;
        }
    }
    got.batches.push((auth, batch.runs));
    (StatusCode::ACCEPTED, serde_json::to_string(&reply).unwrap())
}

/// The stand-in control plane on `port`, until the returned handle is aborted.
async fn control_plane(port: u16, got: Shared) -> tokio::task::JoinHandle<()> {
    let app = Router::new()
        .route("/api/ingest/runs", post(ingest))
        .with_state(got);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

async fn wait_for_records(got: &Shared, n: usize, within: Duration) -> Vec<RunRecord> {
    let deadline = Instant::now() + within;
    loop {
        let records: Vec<RunRecord> = got
            .lock()
            .unwrap()
            .batches
            .iter()
            .flat_map(|(_, b)| b.clone())
            .collect();
        if records.len() >= n {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} records arrived within {within:?}",
            records.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A workflow whose node logs, and throws (with a secret in the message) when asked to.
fn files() -> Vec<(&'static str, String)> {
    vec![
        (
            "workflow.yaml",
            "name: reported\nversion: \"1.2.0\"\nnodes:\n  - {id: parse, file: parse.js}\n  - {id: greet, file: greet.js, depends_on: [parse]}\n"
                .to_owned(),
        ),
        (
            "parse.js",
            "export default (ctx, input) => { ctx.log.info(`key ${ctx.secrets.api_key}`); if (input.fail) throw new Error(`bad key ${ctx.secrets.api_key}`); return input; }"
                .to_owned(),
        ),
        ("greet.js", "export default (ctx, input) => ({ hi: input.name ?? 'you' })".to_owned()),
        (".secrets.yaml", format!("api_key: {SECRET}\n")),
    ]
}

fn start_engine(control_port: u16, extra: &[&str]) -> Engine {
    start_engine_with_env(control_port, extra, &[])
}

fn start_engine_with_env(control_port: u16, extra: &[&str], env: &[(&str, &str)]) -> Engine {
    let files = files();
    let pairs: Vec<(&str, &str)> = files.iter().map(|(p, t)| (*p, t.as_str())).collect();
    let url = format!("http://127.0.0.1:{control_port}");
    let mut args = vec!["--report-to", url.as_str()];
    args.extend_from_slice(extra);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    args.extend(["--report-token-file", token.to_str().unwrap()]);
    // Ready means started: the token file has been read, so its directory may go.
    Engine::start_with_env(&pairs, &args, env)
}

/// Polls `/metrics` until `name` reads `want` (a gauge can dip while a batch is out).
async fn wait_metric(engine: &Engine, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = metric(engine, name).await;
        if value == want {
            return;
        }
        assert!(Instant::now() < deadline, "`{name}` is {value}, not {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn metric(engine: &Engine, name: &str) -> f64 {
    let (_, text) = engine.get("/metrics").await;
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no `{name}` in /metrics:\n{text}"))
}

/// With a record to keep them, log lines are kept even when the log filter drops their level
/// (the engine only skips lines that nothing keeps).
#[tokio::test]
async fn records_keep_log_lines_the_log_filter_drops() {
    let port = free_port();
    let got = Shared::default();
    let server = control_plane(port, got.clone()).await;
    // The "engine ready" line (where the harness learns the port) stays at info.
    let filter = ("RUST_LOG", "warn,pipedreamer_engine=info");
    let engine = start_engine_with_env(port, &[], &[filter]);
    let (status, answer) = engine.post("/run", r#"{"name": "n"}"#).await;
    assert_eq!(status, 200, "{answer}");
    let records = wait_for_records(&got, 1, Duration::from_secs(20)).await;
    let logs: Vec<&str> = records[0].logs.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(logs, ["key [REDACTED]"]);
    assert!(!engine.logs().contains("key ["), "{}", engine.logs());
    server.abort();
}

#[tokio::test]
async fn runs_are_reported_in_batches_with_the_token_and_no_secret() {
    let port = free_port();
    let got = Shared::default();
    let server = control_plane(port, got.clone()).await;
    let engine = start_engine(port, &[]);
    let mut ids = Vec::new();
    for i in 0..40 {
        let (status, answer) = engine.post("/run", format!(r#"{{"name": "n{i}"}}"#)).await;
        assert_eq!(status, 200, "{answer}");
        ids.push(answer["run_id"].as_str().unwrap().to_owned());
    }
    let (status, answer) = engine.post("/run", r#"{"fail": true}"#).await;
    assert_eq!(status, 500);
    let failed_id = answer["run_id"].as_str().unwrap().to_owned();
    // A replay names the run it replays; a header that is no run id is refused.
    let replay = ::reqwest::Client::new()
        .post(format!("{}/run", engine.base))
        .header("x-pipedreamer-replay-of", &failed_id)
        .body(r#"{"name": "again"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let replay_id = replay.json::<serde_json::Value>().await.unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let bad = ::reqwest::Client::new()
        .post(format!("{}/run", engine.base))
        .header("x-pipedreamer-replay-of", "../../etc")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(
        bad.text()
            .await
            .unwrap()
            .contains("x-pipedreamer-replay-of")
    );

    let records = wait_for_records(&got, 42, Duration::from_secs(20)).await;
    assert_eq!(records.len(), 42, "each run exactly once");
    let batches: Vec<String> = got
        .lock()
        .unwrap()
        .batches
        .iter()
        .map(|(a, _)| a.clone())
        .collect();
    // Batched (every second or every 500 records), not one request per run.
    assert!(batches.len() < 42, "{} requests for 42 runs", batches.len());
    for auth in &batches {
        assert_eq!(auth, &format!("Bearer {TOKEN}"));
    }
    let by_id = |id: &str| records.iter().find(|r| r.id == id).unwrap().clone();
    for id in &ids {
        let r = by_id(id);
        assert_eq!(r.status, RunStatus::Succeeded);
        assert_eq!(
            (r.workflow.as_str(), r.version.as_str(), r.trigger.as_str()),
            ("reported", "1.2.0", "http")
        );
        let names: Vec<&str> = r.nodes.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["parse", "greet"]);
        assert!(r.ended_at >= r.started_at && r.started_at > 1_700_000_000_000);
        // `config.record_io` is off: no payloads.
        assert!(r.input.is_none() && r.output.is_none());
    }
    let failed = by_id(&failed_id);
    assert_eq!(failed.status, RunStatus::Failed);
    let error = failed.error.as_ref().unwrap();
    assert_eq!(error.node.as_deref(), Some("parse"));
    assert!(error.message.contains("[REDACTED]"), "{}", error.message);
    assert_eq!(
        by_id(&replay_id).replay_of.as_deref(),
        Some(failed_id.as_str())
    );
    assert_eq!(by_id(&ids[0]).replay_of, None);
    // Secrets and the token appear nowhere: not in any record, not in the engine's logs.
    let all = serde_json::to_string(&records).unwrap();
    assert!(!all.contains(SECRET));
    assert!(!engine.logs().contains(TOKEN));
    assert!(!engine.logs().contains(SECRET));
    assert_eq!(
        metric(&engine, "pipedreamer_run_reports_sent_total").await,
        42.0
    );
    assert_eq!(
        metric(&engine, "pipedreamer_run_reports_dropped_total").await,
        0.0
    );
    server.abort();
}

#[tokio::test]
async fn a_down_control_plane_leaves_runs_alone_and_gets_them_when_back() {
    // Nothing listens on the port yet: connections are refused.
    let port = free_port();
    let engine = start_engine(port, &[]);
    let mut ids = Vec::new();
    for i in 0..30 {
        let (status, answer) = engine.post("/run", format!(r#"{{"name": "n{i}"}}"#)).await;
        assert_eq!(status, 200, "{answer}");
        ids.push(answer["run_id"].as_str().unwrap().to_owned());
    }
    engine
        .wait_for_log(
            "cannot report runs to the control plane",
            1,
            Duration::from_secs(10),
        )
        .await;
    // Still serving while the reporter retries (and says so once, not per retry).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, _) = engine.post("/run", r#"{"name": "late"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        engine.count("cannot report runs to the control plane"),
        1,
        "{}",
        engine.logs()
    );
    assert!(metric(&engine, "pipedreamer_run_reports_failed_total").await >= 1.0);
    wait_metric(&engine, "pipedreamer_run_reports_buffered", 31.0).await;

    let got = Shared::default();
    let server = control_plane(port, got.clone()).await;
    // Backoff is at most 30 s; the first retries come much sooner.
    let records = wait_for_records(&got, 31, Duration::from_secs(40)).await;
    let received: BTreeSet<String> = records.iter().map(|r| r.id.clone()).collect();
    for id in &ids {
        assert!(received.contains(id), "run {id} was not reported");
    }
    engine
        .wait_for_log(
            "reporting runs to the control plane again",
            1,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(
        metric(&engine, "pipedreamer_run_reports_dropped_total").await,
        0.0
    );
    wait_metric(&engine, "pipedreamer_run_reports_buffered", 0.0).await;
    server.abort();
}

#[tokio::test]
async fn the_buffer_is_bounded_and_drops_the_oldest() {
    let port = free_port();
    let engine = start_engine(port, &["--report-buffer", "10"]);
    let mut ids = Vec::new();
    for i in 0..25 {
        let (status, answer) = engine.post("/run", format!(r#"{{"name": "n{i}"}}"#)).await;
        assert_eq!(status, 200);
        ids.push(answer["run_id"].as_str().unwrap().to_owned());
    }
    wait_metric(&engine, "pipedreamer_run_reports_buffered", 10.0).await;
    assert_eq!(
        metric(&engine, "pipedreamer_run_reports_dropped_total").await,
        15.0
    );
    let got = Shared::default();
    let server = control_plane(port, got.clone()).await;
    let records = wait_for_records(&got, 10, Duration::from_secs(40)).await;
    // Give a late duplicate or extra a moment to show up, then compare exactly.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received: Vec<String> = got
        .lock()
        .unwrap()
        .batches
        .iter()
        .flat_map(|(_, b)| b.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(records.len(), 10);
    assert_eq!(received, ids[15..].to_vec(), "the 10 newest, in order");
    server.abort();
}

#[tokio::test]
async fn a_missing_or_empty_token_file_stops_the_engine_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    common::write_files(
        dir.path(),
        &[
            (
                "workflow.yaml",
                "name: r\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
            ),
            ("a.js", "export default (ctx, input) => input"),
            ("empty", "\n"),
        ],
    );
    for (file, expect) in [
        ("nope", "cannot read the report token file"),
        ("empty", "is empty"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipedreamer-engine"))
            .args(["--workflow", dir.path().to_str().unwrap(), "--port", "0"])
            .args(["--report-to", "http://127.0.0.1:9"])
            .arg("--report-token-file")
            .arg(dir.path().join(file))
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expect) && stderr.contains(file), "{stderr}");
    }
    // The two flags go together.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_pipedreamer-engine"))
        .args(["--workflow", dir.path().to_str().unwrap()])
        .args(["--report-to", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--report-token-file"));
}

#[tokio::test]
async fn shutdown_reports_the_last_runs_before_exiting() {
    let port = free_port();
    let got = Shared::default();
    let server = control_plane(port, got.clone()).await;
    // A flush interval far beyond the test: only the shutdown flush can deliver these.
    let mut engine = start_engine(port, &["--report-flush", "3600s"]);
    let mut ids = BTreeSet::new();
    for i in 0..5 {
        let (status, answer) = engine.post("/run", format!(r#"{{"name": "n{i}"}}"#)).await;
        assert_eq!(status, 200);
        ids.insert(answer["run_id"].as_str().unwrap().to_owned());
    }
    assert!(
        got.lock().unwrap().batches.is_empty(),
        "sent before the flush"
    );
    engine.signal("TERM");
    let status = engine.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "{}", engine.logs());
    let received: BTreeSet<String> = got
        .lock()
        .unwrap()
        .batches
        .iter()
        .flat_map(|(_, b)| b.iter().map(|r| r.id.clone()))
        .collect();
    assert_eq!(received, ids);
    server.abort();
}

#[tokio::test]
async fn batches_the_control_plane_refuses_are_dropped_counted_and_logged_once() {
    let port = free_port();
    let app = Router::new().route(
        "/api/ingest/runs",
        post(|| async {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                r#"{"error": "run record 0: `trigger` must be 1 to 512 bytes"}"#,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    let engine = start_engine(port, &["--report-flush", "100ms"]);
    for i in 0..3 {
        let (status, _) = engine.post("/run", format!(r#"{{"name": "n{i}"}}"#)).await;
        assert_eq!(status, 200, "a refused report never fails a run");
        // Each run in a batch of its own.
        wait_metric(
            &engine,
            "pipedreamer_run_reports_dropped_total",
            f64::from(i + 1),
        )
        .await;
    }
    let refused = "the control plane refused a batch of run records";
    assert_eq!(engine.count(refused), 1, "{}", engine.logs());
    assert!(engine.logs().contains("must be 1 to 512 bytes"));
    // Refusals are final: nothing is retried or kept.
    assert_eq!(
        metric(&engine, "pipedreamer_run_reports_failed_total").await,
        3.0
    );
    wait_metric(&engine, "pipedreamer_run_reports_buffered", 0.0).await;
    server.abort();
}
