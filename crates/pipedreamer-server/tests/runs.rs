//! Run records through the API, on SQLite and PostgreSQL: ingest with a `report` token bound to
//! its deployment, lists with filters and paging, one run in the record's shape, refusals
//! (scope, size, bad records), secrets masked, retention, report tokens, and replay against a
//! real `pipedreamer-engine` process that reports to this server over a real socket.

mod common;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use common::{Ctx, Db, ctx};
use pipedreamer_runs::{
    FailureKind, LogLevel, LogLine, NodeRecord, NodeStatus, Nodes, Progress, RunFailure, RunRecord,
    RunStatus,
};
use pipedreamer_store::{DeploymentStatus, Scope};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A realistic record: three nodes, a log line each, a progress update and an output.
fn record(id: &str, started_at: i64, trigger: &str, status: RunStatus) -> RunRecord {
    let node = |status| NodeRecord {
        status,
        attempts: 1,
        started_ms: 0.5,
        duration_ms: 3.25,
    };
    let failed = status == RunStatus::Failed;
    RunRecord {
        id: id.to_owned(),
        workflow: "orders".into(),
        version: "1.0.0".into(),
        trigger: trigger.to_owned(),
        status,
        started_at,
        ended_at: started_at + 15,
        nodes: Nodes(vec![
            ("parse".into(), node(NodeStatus::Succeeded)),
            ("price".into(), node(NodeStatus::Succeeded)),
            (
                "charge".into(),
                node(if failed {
                    NodeStatus::Failed
                } else {
                    NodeStatus::Succeeded
                }),
            ),
        ]),
        logs: ["parse", "price", "charge"]
            .iter()
            .map(|n| LogLine {
                at_ms: 1.0,
                node: (*n).to_owned(),
                level: LogLevel::Info,
                message: format!("{n} done"),
            })
            .collect(),
        progress: vec![Progress {
            at_ms: 2.0,
            node: "charge".into(),
            percent: 50.0,
            message: Some("half way".into()),
        }],
        outputs: json!({"total": 42}).as_object().cloned().unwrap(),
        error: failed.then(|| RunFailure {
            node: Some("charge".into()),
            message: "card declined".into(),
            kind: FailureKind::Thrown,
        }),
        replay_of: None,
        input: None,
        output: None,
        dropped: Default::default(),
    }
}

/// A deployment in a new workspace and a `report` token bound to it.
async fn reporter(c: &Ctx, ws_name: &str) -> (String, String) {
    let ws = c.workspace(ws_name).await;
    let d = c.deployment(&ws, "orders", json!({})).await;
    let id = d["id"].as_str().unwrap().to_owned();
    let token = c
        .tokens
        .mint(Scope::Report, None, Some(id.clone()))
        .await
        .unwrap()
        .token;
    (id, token)
}

async fn ingest(c: &Ctx, token: &str, runs: &[RunRecord]) -> common::Reply {
    c.post("/api/ingest/runs", token, json!({ "runs": runs }))
        .await
}

fn ids(list: &Value) -> Vec<String> {
    list["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("no runs in {list}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn ingest_list_and_get(db: Db) {
    let c = ctx(db).await;
    let (a, token_a) = reporter(&c, "team-a").await;
    let (b, token_b) = reporter(&c, "team-b").await;
    let runs: Vec<RunRecord> = (0..6)
        .map(|i| {
            let trigger = if i % 2 == 0 { "http" } else { "cron:nightly" };
            let status = if i == 3 {
                RunStatus::Failed
            } else {
                RunStatus::Succeeded
            };
            record(&format!("run-{i}"), 1_000_000 + i * 1_000, trigger, status)
        })
        .collect();
    let r = ingest(&c, &token_a, &runs[..4])
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r.json, json!({"accepted": 4, "duplicates": 0}));
    // A resend (its answer was lost) with two new ones: only the new ones count.
    let r = ingest(&c, &token_a, &runs[2..])
        .await
        .expect(StatusCode::ACCEPTED);
    assert_eq!(r.json, json!({"accepted": 2, "duplicates": 2}));
    // B's engine reports its own run; it lands in B whatever it says.
    ingest(
        &c,
        &token_b,
        &[record("b-1", 5_000_000, "http", RunStatus::Succeeded)],
    )
    .await
    .expect(StatusCode::ACCEPTED);

    // One run: exactly the record, plus its deployment.
    let r = c
        .get("/api/runs/run-3", &c.read)
        .await
        .expect(StatusCode::OK);
    let mut served = r.json.clone();
    assert_eq!(served["deployment_id"], a.as_str());
    served.as_object_mut().unwrap().remove("deployment_id");
    assert_eq!(served, serde_json::to_value(&runs[3]).unwrap());
    assert_eq!(served["nodes"]["charge"]["status"], "failed");
    let keys: Vec<&String> = served["nodes"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["parse", "price", "charge"], "workflow order");
    let r = c
        .get("/api/runs/nope", &c.read)
        .await
        .expect(StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "run `nope` not found");

    // Lists: newest first, filters, summaries without the logs.
    let list = format!("/api/deployments/{a}/runs");
    let r = c.get(&list, &c.read).await.expect(StatusCode::OK);
    assert_eq!(
        ids(&r.json),
        ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]
    );
    assert_eq!(r.json["next"], Value::Null);
    let first = &r.json["runs"][2];
    assert_eq!(first["duration_ms"], 15);
    assert_eq!(first["error"]["message"], "card declined");
    assert_eq!(first["replayable"], false);
    assert!(first.get("logs").is_none(), "{first}");
    let r = c.get(&format!("{list}?status=failed"), &c.read).await;
    assert_eq!(ids(&r.expect(StatusCode::OK).json), ["run-3"]);
    let r = c.get(&format!("{list}?trigger=cron"), &c.read).await;
    assert_eq!(ids(&r.json), ["run-5", "run-3", "run-1"]);
    let r = c.get(&format!("{list}?trigger=cron:other"), &c.read).await;
    assert!(ids(&r.json).is_empty());
    let r = c.get(&format!("{list}?since=1004000"), &c.read).await;
    assert_eq!(ids(&r.json), ["run-5", "run-4"]);
    // Paging: `next` until null, every run once.
    let mut seen = Vec::new();
    let mut url = format!("{list}?limit=4");
    loop {
        let r = c.get(&url, &c.read).await.expect(StatusCode::OK);
        seen.extend(ids(&r.json));
        match r.json["next"].as_str() {
            Some(next) => url = format!("{list}?limit=4&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ["run-5", "run-4", "run-3", "run-2", "run-1", "run-0"]);
    // B sees only its own run; a cursor of B's is not one of A's.
    let r = c.get(&format!("/api/deployments/{b}/runs"), &c.read).await;
    assert_eq!(ids(&r.json), ["b-1"]);
    let r = c.get(&format!("{list}?before=b-1"), &c.read).await;
    r.expect(StatusCode::NOT_FOUND);

    let long = format!("trigger={}", "x".repeat(513));
    for query in [
        "limit=0",
        "limit=501",
        "status=running",
        "since=yesterday",
        "since=-1",
        long.as_str(),
    ] {
        let r = c.get(&format!("{list}?{query}"), &c.read).await;
        let r = r.expect_for(StatusCode::BAD_REQUEST, query);
        let field = query.split('=').next().unwrap();
        assert!(r.error().contains(field), "{query}: {}", r.text);
    }
    c.get("/api/deployments/nope/runs", &c.read)
        .await
        .expect(StatusCode::NOT_FOUND);

    let metrics = c.get_public("/metrics").await.text;
    assert!(
        metrics.contains("pipedreamer_server_runs_ingested_total{outcome=\"accepted\"} 7"),
        "{metrics}"
    );
    assert!(metrics.contains("pipedreamer_server_runs_ingested_total{outcome=\"duplicate\"} 2"));
}
both!(ingest_list_and_get);

async fn ingest_refusals(db: Db) {
    let c = ctx(db).await;
    let (a, token) = reporter(&c, "team-a").await;
    let good = record("good-1", 1_000, "http", RunStatus::Succeeded);

    // Only a report token ingests; a report token reads nothing.
    for other in [&c.read, &c.deploy, &c.admin] {
        let r = ingest(&c, other, std::slice::from_ref(&good)).await;
        r.expect(StatusCode::FORBIDDEN);
    }
    c.get(&format!("/api/deployments/{a}/runs"), &token)
        .await
        .expect(StatusCode::FORBIDDEN);

    // One bad record refuses the batch, naming its index and field; nothing is stored.
    let mut bad = record("../etc/passwd", 1_000, "http", RunStatus::Succeeded);
    let r = ingest(&c, &token, &[good.clone(), bad.clone()])
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().starts_with("runs[1].id: must be"), "{}", r.text);
    bad.id = "bad-2".into();
    bad.ended_at = 0;
    let r = ingest(&c, &token, &[bad])
        .await
        .expect(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.error().starts_with("runs[0].ended_at"), "{}", r.text);
    c.get("/api/runs/good-1", &c.read)
        .await
        .expect(StatusCode::NOT_FOUND);

    // Shapes: an unknown field, an array, a record missing fields, not JSON, not JSON typed.
    let raw = |body: Vec<u8>, content_type: &'static str| {
        c.authorized(Method::POST, "/api/ingest/runs", &token)
            .header("content-type", content_type)
            .body(Body::from(body))
            .unwrap()
    };
    for (body, want) in [
        (
            json!({"runs": [], "extra": 1}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!([{"runs": []}]).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"runs": [{"id": "x"}]}).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("{\"runs\": [".to_owned(), StatusCode::BAD_REQUEST),
    ] {
        let r = c
            .send(raw(body.clone().into_bytes(), "application/json"))
            .await;
        r.expect_for(want, &body);
    }
    let r = c.send(raw(b"{\"runs\": []}".to_vec(), "text/plain")).await;
    r.expect(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An empty batch is fine.
    let r = ingest(&c, &token, &[]).await.expect(StatusCode::ACCEPTED);
    assert_eq!(r.json["accepted"], 0);

    // Over 1 MiB: 413, however valid.
    let mut big = record("big-1", 1_000, "http", RunStatus::Succeeded);
    big.logs = (0..200)
        .map(|i| LogLine {
            at_ms: i as f64,
            node: "parse".into(),
            level: LogLevel::Info,
            message: "x".repeat(6_000),
        })
        .collect();
    let r = ingest(&c, &token, &[big]).await;
    r.expect(StatusCode::PAYLOAD_TOO_LARGE);

    // A deleted deployment takes its report tokens with it.
    c.delete(&format!("/api/deployments/{a}"), &c.admin)
        .await
        .expect(StatusCode::NO_CONTENT);
    ingest(&c, &token, std::slice::from_ref(&good))
        .await
        .expect(StatusCode::UNAUTHORIZED);
}
both!(ingest_refusals);

async fn secrets_never_served(db: Db) {
    let c = ctx(db).await;
    let (a, token) = reporter(&c, "team-a").await;
    let secret = "sk_live_4f9a-VERY-SECRET";
    c.put(
        &format!("/api/deployments/{a}/secrets"),
        &c.admin,
        json!({"stripe": {"key": secret}}),
    )
    .await
    .expect(StatusCode::OK);
    // An engine whose redaction missed the value everywhere it can hide.
    let mut leaky = record("leaky-1", 1_000, "http", RunStatus::Failed);
    leaky.logs[0].message = format!("charging with {secret}");
    leaky
        .outputs
        .insert(secret.to_owned(), json!({"key": secret}));
    leaky.error.as_mut().unwrap().message = format!("declined: key={secret}");
    leaky.input = Some(json!({"card": "4242", "note": format!("\"{secret}\"")}));
    ingest(&c, &token, &[leaky])
        .await
        .expect(StatusCode::ACCEPTED);
    let r = c
        .get("/api/runs/leaky-1", &c.read)
        .await
        .expect(StatusCode::OK);
    assert!(!r.text.contains(secret), "{}", r.text);
    assert_eq!(r.json["logs"][0]["message"], "charging with ***");
    assert_eq!(r.json["outputs"]["***"]["key"], "***");
    assert_eq!(r.json["error"]["message"], "declined: key=***");
    let list = c.get(&format!("/api/deployments/{a}/runs"), &c.read).await;
    assert!(!list.text.contains(secret));
    // A record without the secret is stored as sent.
    let clean = record("clean-1", 2_000, "http", RunStatus::Succeeded);
    ingest(&c, &token, std::slice::from_ref(&clean))
        .await
        .expect(StatusCode::ACCEPTED);
    let r = c.get("/api/runs/clean-1", &c.read).await;
    assert_eq!(r.json["logs"], serde_json::to_value(&clean.logs).unwrap());
}
both!(secrets_never_served);

async fn retention_deletes_old_runs_and_nothing_else(db: Db) {
    let c = ctx(db).await;
    let (a, token_a) = reporter(&c, "team-a").await;
    let (b, token_b) = reporter(&c, "team-b").await;
    let build = c
        .deploy_now(&a)
        .await
        .expect(StatusCode::ACCEPTED)
        .field("build_id");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 24 * 3600 * 1000;
    ingest(
        &c,
        &token_a,
        &[
            record("a-old", now - 20 * day, "http", RunStatus::Failed),
            record("a-new", now - day, "http", RunStatus::Succeeded),
        ],
    )
    .await
    .expect(StatusCode::ACCEPTED);
    ingest(
        &c,
        &token_b,
        &[
            record("b-old", now - 15 * day, "cron:x", RunStatus::Succeeded),
            record("b-new", now - 60_000, "cron:x", RunStatus::Succeeded),
        ],
    )
    .await
    .expect(StatusCode::ACCEPTED);
    let tokens_before = c.store.tokens().await.unwrap().len();

    let deleted = pipedreamer_server::runs::enforce_retention(
        &c.store,
        pipedreamer_server::config::DEFAULT_RUN_RETENTION,
    )
    .await
    .unwrap();
    assert_eq!(deleted, 2);
    for gone in ["a-old", "b-old"] {
        c.get(&format!("/api/runs/{gone}"), &c.read)
            .await
            .expect(StatusCode::NOT_FOUND);
    }
    for kept in ["a-new", "b-new"] {
        c.get(&format!("/api/runs/{kept}"), &c.read)
            .await
            .expect(StatusCode::OK);
    }
    // Builds, deployments and tokens are untouched; the tokens still report.
    c.get(&format!("/api/builds/{build}"), &c.read)
        .await
        .expect(StatusCode::OK);
    c.get(&format!("/api/deployments/{b}"), &c.read)
        .await
        .expect(StatusCode::OK);
    assert_eq!(c.store.tokens().await.unwrap().len(), tokens_before);
    ingest(
        &c,
        &token_a,
        &[record("a-later", now, "http", RunStatus::Succeeded)],
    )
    .await
    .expect(StatusCode::ACCEPTED);
    // A second pass finds nothing more.
    let again = pipedreamer_server::runs::enforce_retention(
        &c.store,
        pipedreamer_server::config::DEFAULT_RUN_RETENTION,
    )
    .await
    .unwrap();
    assert_eq!(again, 0);
}
both!(retention_deletes_old_runs_and_nothing_else);

async fn report_tokens_per_rollout(db: Db) {
    let c = ctx(db).await;
    let ws = c.workspace("team-a").await;
    let d = c.deployment(&ws, "orders", json!({})).await;
    let id = d["id"].as_str().unwrap();
    let deployment = c.store.deployment(id).await.unwrap();
    let tokens = pipedreamer_server::runs::ServerReportTokens::new(c.tokens.clone());
    use pipedreamer_pipeline::ReportTokens;
    let first = tokens.token_for(&deployment).await.unwrap();
    let second = tokens.token_for(&deployment).await.unwrap();
    let third = tokens.token_for(&deployment).await.unwrap();
    // The newest two report; the oldest was revoked when the third was minted.
    for (token, want) in [
        (&first, StatusCode::UNAUTHORIZED),
        (&second, StatusCode::ACCEPTED),
        (&third, StatusCode::ACCEPTED),
    ] {
        let run = record(
            &format!("r-{}", &token[token.len() - 8..].replace(['-', '_'], "x")),
            1_000,
            "http",
            RunStatus::Succeeded,
        );
        ingest(&c, token, &[run]).await.expect(want);
    }
    let claims = c.tokens.verify(&third).await.unwrap();
    assert_eq!(claims.scope, Scope::Report);
    assert_eq!(claims.deployment_id.as_deref(), Some(id));
    // Runs land in that deployment.
    let r = c.get(&format!("/api/deployments/{id}/runs"), &c.read).await;
    assert_eq!(ids(&r.json).len(), 2);
    // Only the token's hash is recorded.
    for t in c.store.tokens().await.unwrap() {
        assert_ne!(t.token_hash, third);
    }
}
both!(report_tokens_per_rollout);

/// The `pipedreamer-engine` binary next to this test's (`cargo build -p pipedreamer-engine`).
fn engine_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("pipedreamer-engine");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p pipedreamer-engine` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A real engine on `port` reporting to `control` with `token`; killed on drop.
struct Engine {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A workflow that records its input and fails on `{"fail": true}` with the secret in its
/// error; `node` says whether it was a replay.
fn start_engine(port: u16, control: &str, token: &str, secret: &str) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "workflow.yaml",
            "name: orders\nversion: \"2.0.0\"\nconfig:\n  record_io: true\nnodes:\n  - {id: check, file: check.js}\n  - {id: reply, file: reply.js, depends_on: [check]}\n".to_owned(),
        ),
        (
            "check.js",
            "export default (ctx, input) => { ctx.log.info(`using ${ctx.secrets.key}`); if (input.fail) throw new Error(`rejected with ${ctx.secrets.key}`); return input; }".to_owned(),
        ),
        ("reply.js", "export default (ctx, input) => ({ ok: input.name })".to_owned()),
        (".secrets.yaml", format!("key: {secret}\n")),
        ("token", format!("{token}\n")),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let child = std::process::Command::new(engine_binary())
        .arg("--workflow")
        .arg(dir.path())
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--report-to", control])
        .arg("--report-token-file")
        .arg(dir.path().join("token"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start pipedreamer-engine");
    Engine { child, _dir: dir }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `GET /api/runs/{id}` until the engine's report has arrived.
async fn wait_run(c: &Ctx, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.get(&format!("/api/runs/{id}"), &c.read).await;
        if r.status == StatusCode::OK {
            return r.json;
        }
        assert!(
            Instant::now() < deadline,
            "run {id} was never reported: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn replay_on_a_real_engine(db: Db) {
    let c = ctx(db).await;
    // The control plane on a real socket, for the engine's reports.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = format!("http://{}", listener.local_addr().unwrap());
    let app = c.app.clone();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let ws = c.workspace("team-a").await;
    let d = c
        .create_deployment(
            &ws,
            json!({"name": "orders", "repo": "https://github.com/acme/orders.git", "target": {"type": "local"}}),
        )
        .await
        .expect(StatusCode::CREATED)
        .field("id");
    let secret = "s3cr3t-value-0xC0FFEE";
    c.put(
        &format!("/api/deployments/{d}/secrets"),
        &c.admin,
        json!({"key": secret}),
    )
    .await
    .expect(StatusCode::OK);
    let token = pipedreamer_server::runs::ServerReportTokens::new(c.tokens.clone())
        .mint(&d)
        .await
        .unwrap();

    // A record without input cannot be replayed (409 naming the setting), nor a stopped
    // deployment's.
    let mut no_input = record("no-input", 1_000, "http", RunStatus::Failed);
    ingest(&c, &token, std::slice::from_ref(&no_input))
        .await
        .expect(StatusCode::ACCEPTED);
    let r = c
        .post_empty("/api/runs/no-input/replay", &c.deploy)
        .await
        .expect(StatusCode::CONFLICT);
    assert!(r.error().contains("no recorded input"), "{}", r.text);
    assert!(
        r.json["hint"]
            .as_str()
            .unwrap()
            .contains("config.record_io: true")
    );
    no_input.id = "with-input".into();
    no_input.input = Some(json!({"name": "ada"}));
    ingest(&c, &token, &[no_input])
        .await
        .expect(StatusCode::ACCEPTED);
    let r = c
        .post_empty("/api/runs/with-input/replay", &c.deploy)
        .await
        .expect(StatusCode::CONFLICT);
    assert!(r.error().contains("is stopped"), "{}", r.text);
    c.post_empty("/api/runs/with-input/replay", &c.read)
        .await
        .expect(StatusCode::FORBIDDEN);
    c.post_empty("/api/runs/nope/replay", &c.deploy)
        .await
        .expect(StatusCode::NOT_FOUND);

    // Running on a port nothing listens on: 502 saying where it tried.
    let port = free_port();
    c.store.set_local_port(&d, port).await.unwrap();
    c.store
        .set_deployment_state(&d, DeploymentStatus::Running, None)
        .await
        .unwrap();
    let r = c
        .post_empty("/api/runs/with-input/replay", &c.deploy)
        .await
        .expect(StatusCode::BAD_GATEWAY);
    assert!(
        r.error().contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.text
    );

    // The real engine: a failed run is reported with its input (secrets redacted).
    let _engine = start_engine(port, &control, &token, secret);
    let client = reqwest::Client::new();
    let engine = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !client
        .get(format!("{engine}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "the engine did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer: Value = client
        .post(format!("{engine}/run"))
        .json(&json!({"name": "ada", "fail": true}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let failed = answer["run_id"].as_str().unwrap().to_owned();
    let original = wait_run(&c, &failed).await;
    assert_eq!(original["status"], "failed");
    assert_eq!(original["deployment_id"], d.as_str());
    assert_eq!(original["input"], json!({"name": "ada", "fail": true}));
    assert!(!original.to_string().contains(secret), "{original}");

    // Replay runs the recorded input again: same failure, and the new record says what it
    // replayed.
    let r = c
        .post_empty(&format!("/api/runs/{failed}/replay"), &c.deploy)
        .await
        .expect(StatusCode::OK);
    assert_eq!(r.json["replay_of"], failed.as_str());
    assert_eq!(r.json["status"], "failed");
    assert!(!r.text.contains(secret), "{}", r.text);
    let replayed = r.field("id");
    assert_ne!(replayed, failed);
    let new = wait_run(&c, &replayed).await;
    assert_eq!(new["replay_of"], failed.as_str());
    assert_eq!(new["input"], original["input"]);
    let list = c
        .get(&format!("/api/deployments/{d}/runs?status=failed"), &c.read)
        .await;
    assert!(ids(&list.json).contains(&replayed));
    assert!(!list.text.contains(secret));
    server.abort();
}
both!(replay_on_a_real_engine);
