//! Integration tests that spawn the real `pipedreamer-engine` binary and speak HTTP to it.

use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

mod common;

use common::{Engine, write_files};

const ONE_NODE: &str = "name: t\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js, timeout: 300ms}\nconfig: {memory_limit: 16Mi, max_body: 2Ki}\n";

const BEHAVIOURS: &str = r#"
export default async function run(ctx, input) {
  switch (input.do) {
    case "throw": throw new Error("node exploded");
    case "spin": for (;;) {}
    case "bomb": { const a = []; for (;;) a.push("x".repeat(4096) + a.length); }
    case "log-secret": ctx.log.info("the key is " + ctx.secrets.api.key); return "logged";
    case "leak": globalThis.leaked = (globalThis.leaked || 0) + 1; return globalThis.leaked;
    default: return { echo: input };
  }
}
"#;

fn behaviours(extra: &[&str]) -> Engine {
    Engine::start(
        &[
            ("workflow.yaml", ONE_NODE),
            ("main.js", BEHAVIOURS),
            (".secrets.yaml", "api:\n  key: sk-live-0123456789\n"),
        ],
        extra,
    )
}

#[tokio::test]
async fn success_and_every_failure_path_over_http() {
    let e = behaviours(&[]);
    let (s, body) = e.post("/run", r#"{"hello": 1}"#).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "succeeded");
    assert_eq!(body["output"], json!({"echo": {"hello": 1}}));
    assert_eq!(body["nodes"]["main"]["status"], "succeeded");
    assert!(body["run_id"].as_str().unwrap().len() >= 32);

    let (s, body) = e.post("/run", "").await;
    assert_eq!(
        (s, &body["output"]),
        (200, &json!({"echo": {}})),
        "empty body is {{}}"
    );

    let (s, body) = e.post("/run", r#"{"do": "throw"}"#).await;
    assert_eq!(s, 500);
    assert_eq!(body["status"], "failed");
    assert_eq!(body["error"]["node"], "main");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("node exploded")
    );

    let (s, body) = e.post("/run", r#"{"do": "spin"}"#).await;
    assert_eq!(s, 504, "{body}");
    assert_eq!(body["error"]["node"], "main");
    assert_eq!(body["nodes"]["main"]["status"], "timed_out");

    let (s, body) = e.post("/run", r#"{"do": "bomb"}"#).await;
    assert_eq!(s, 500, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory limit"),
        "{body}"
    );

    let (s, body) = e.post("/run", "{not json").await;
    assert_eq!(s, 400);
    assert!(body["error"].as_str().unwrap().contains("not valid JSON"));

    let (s, body) = e
        .post("/run", format!(r#"{{"pad": "{}"}}"#, "x".repeat(4096)))
        .await;
    assert_eq!(s, 413);
    assert!(body["error"].as_str().unwrap().contains("2048 bytes"));

    // After all of that the engine still serves.
    let (s, _) = e.post("/run", "{}").await;
    assert_eq!(s, 200);
    let metrics = ::reqwest::get(format!("{}/metrics", e.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"pipedreamer_runs_total{status="timed_out",trigger="http"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains("pipedreamer_node_duration_seconds_bucket"));
}

#[tokio::test]
async fn runs_are_isolated() {
    let e = behaviours(&[]);
    for _ in 0..5 {
        let (_, body) = e.post("/run", r#"{"do": "leak"}"#).await;
        assert_eq!(body["output"], 1);
    }
}

#[tokio::test]
async fn secrets_are_redacted_in_logs_and_logs_carry_run_and_node() {
    let e = behaviours(&["--log-format", "json"]);
    let (_, body) = e.post("/run", r#"{"do": "log-secret"}"#).await;
    let run_id = body["run_id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(200));
    let logs = e.logs();
    assert!(
        !logs.contains("sk-live-0123456789"),
        "secret leaked:\n{logs}"
    );
    let line: Value = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.contains("the key is"))
        })
        .unwrap_or_else(|| panic!("no node log line:\n{logs}"));
    assert_eq!(line["message"], "the key is [REDACTED]");
    assert_eq!(line["run_id"], run_id);
    assert_eq!(line["node"], "main");
}

#[tokio::test]
async fn invalid_workflows_fail_fast_with_the_location() {
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        &[(
            "workflow.yaml",
            "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: nope.js}\n",
        )],
    );
    let out = Command::new(env!("CARGO_BIN_EXE_pipedreamer-engine"))
        .args(["--workflow", dir.path().to_str().unwrap(), "--port", "0"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("workflow.yaml:4:") && stderr.contains("nope.js"),
        "{stderr}"
    );
}

/// A local HTTP server that echoes the request headers it received.
async fn echo_server() -> u16 {
    use axum::{Json, Router, http::HeaderMap, routing::any};
    let app = Router::new().route(
        "/{*path}",
        any(|headers: HeaderMap| async move {
            let h: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
                .collect();
            Json(json!({ "headers": h }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    port
}

#[tokio::test]
async fn fetch_injects_credentials_only_for_the_matching_host() {
    let port = echo_server().await;
    // Credentials are bound to scheme, host and port: this one to plain HTTP on the echo port.
    let workflow = format!(
        "name: f\nversion: \"1\"\nnodes:\n  - {{id: main, file: main.js}}\nfetch:\n  allow: [127.0.0.1, localhost]\n  auth:\n    - {{host: \"127.0.0.1:{port}\", secret: api.token, scheme: bearer, allow_http: true}}\n"
    );
    let node = r#"export default async (ctx, input) => {
        const res = await ctx.fetch(input.url, { headers: { "x-from-node": "yes" } });
        return { status: res.status, seen: (await res.json()).headers };
    }"#;
    let e = Engine::start(
        &[
            ("workflow.yaml", &workflow),
            ("main.js", node),
            (".secrets.yaml", "api: {token: tok-abcdef-123}\n"),
        ],
        &[],
    );
    let (s, body) = e
        .post(
            "/run",
            json!({"url": format!("http://127.0.0.1:{port}/x")}).to_string(),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["output"]["seen"]["authorization"],
        "Bearer tok-abcdef-123"
    );
    assert_eq!(body["output"]["seen"]["x-from-node"], "yes");
    let (s, body) = e
        .post(
            "/run",
            json!({"url": format!("http://localhost:{port}/x")}).to_string(),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["output"]["seen"].get("authorization").is_none(),
        "token sent to another host: {body}"
    );
    let (s, body) = e
        .post(
            "/run",
            json!({"url": "http://example.invalid/"}).to_string(),
        )
        .await;
    assert_eq!(s, 500);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("add it to `fetch.allow`"),
        "{body}"
    );
}

#[tokio::test]
async fn webhooks_verify_signatures_and_filter() {
    let workflow = "name: w\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\ntriggers:\n  - {type: webhook, name: github, secret: github.webhook_secret, events: [push], branches: [main]}\n";
    let node = "export default async (ctx, input) => { ctx.log.info('webhook ' + input.event + ' ' + input.payload.ref); return input.event }";
    let e = Engine::start(
        &[
            ("workflow.yaml", workflow),
            ("main.js", node),
            (".secrets.yaml", "github: {webhook_secret: whsec-987654}\n"),
        ],
        &[],
    );
    let send = |body: &'static str, sig: Option<String>, event: &'static str| {
        let base = e.base.clone();
        async move {
            let mut r = ::reqwest::Client::new()
                .post(format!("{base}/hooks/github"))
                .header("x-github-event", event)
                .body(body);
            if let Some(s) = sig {
                r = r.header("x-hub-signature-256", s);
            }
            let r = r.send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let push = r#"{"ref": "refs/heads/main"}"#;
    let sign = |b: &str| pipedreamer_engine::webhook::sign(b"whsec-987654", b.as_bytes());
    assert_eq!(send(push, None, "push").await.0, 401);
    assert_eq!(send(push, Some(sign("tampered")), "push").await.0, 401);
    let (s, body) = send(push, Some(sign(push)), "push").await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["status"], "accepted");
    let (s, body) = send(push, Some(sign(push)), "issues").await;
    assert_eq!((s, body["status"].as_str()), (202, Some("ignored")));
    let other = r#"{"ref": "refs/heads/dev"}"#;
    let (s, body) = send(other, Some(sign(other)), "push").await;
    assert_eq!((s, body["status"].as_str()), (202, Some("ignored")));
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        e.logs().contains("webhook push refs/heads/main"),
        "{}",
        e.logs()
    );
    assert_eq!(e.logs().matches("run succeeded").count(), 1);
}

/// Issue 10, item 8: HMAC under the empty key is a signature anybody can make, so a webhook
/// whose secret is empty (or missing) refuses every delivery, says how to fix it, and is
/// logged once at load rather than per request. Everything else keeps serving.
#[tokio::test]
async fn webhooks_without_a_secret_refuse_every_delivery() {
    let workflow = "name: w\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\ntriggers:\n  - {type: webhook, name: empty, secret: hooks.empty}\n  - {type: webhook, name: missing, secret: hooks.missing}\n";
    let e = Engine::start(
        &[
            ("workflow.yaml", workflow),
            ("main.js", "export default () => 'ran'"),
            (".secrets.yaml", "hooks: {empty: \"\"}\n"),
        ],
        &[],
    );
    let body = r#"{"ref": "refs/heads/main"}"#;
    let signed_with_nothing = pipedreamer_engine::webhook::sign(b"", body.as_bytes());
    for hook in ["empty", "missing", "empty"] {
        let r = ::reqwest::Client::new()
            .post(format!("{}/hooks/{hook}", e.base))
            .header("x-hub-signature-256", &signed_with_nothing)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let answer: Value = r.json().await.unwrap();
        assert_eq!(status, 503, "/hooks/{hook}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains("has no secret"),
            "{answer}"
        );
        assert!(
            answer["hint"].as_str().unwrap().contains(".secrets.yaml")
                && answer["hint"].as_str().unwrap().contains("Secret"),
            "{answer}"
        );
    }
    assert_eq!(e.post("/run", "{}").await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = e.logs();
    // Only `/run` ran.
    assert_eq!(e.count("run succeeded"), 1, "{logs}");
    assert_eq!(e.count("webhook `empty` has no secret"), 1, "{logs}");
    assert_eq!(e.count("webhook `missing` has no secret"), 1, "{logs}");
    let (_, metrics) = e.get("/metrics").await;
    assert!(
        metrics.contains(
            r#"pipedreamer_rejected_requests_total{source="webhook",reason="no_secret"} 3"#
        ),
        "{metrics}"
    );
}

/// Issue 10, item 11: a node's log text cannot forge log lines in the text format.
#[tokio::test]
async fn node_log_text_is_one_line() {
    let node = r#"export default (ctx) => { ctx.log.info("a\n2026-01-01T00:00:00Z  INFO fake\r\u001b[2Kb"); return 1 }"#;
    let e = Engine::start(
        &[
            (
                "workflow.yaml",
                "name: l\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\n",
            ),
            ("main.js", node),
        ],
        &["--log-format", "text"],
    );
    assert_eq!(e.post("/run", "{}").await.0, 200);
    e.wait_for_log("run succeeded", 1, Duration::from_secs(5))
        .await;
    let logs = e.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("fake")).collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(
        lines[0].contains(r"a\n2026-01-01T00:00:00Z  INFO fake\r\u{1b}[2Kb"),
        "{logs}"
    );
    assert!(!logs.lines().any(|l| l.starts_with("2026-01-01")), "{logs}");
}

/// Issue 10, item 12: a document nested 100k deep is the client's mistake (400), on `/run` and
/// on webhooks alike; it passed the syntax check and overflowed the sandbox's parser (500).
#[tokio::test]
async fn deeply_nested_json_is_a_client_error() {
    let workflow = "name: d\nversion: \"1\"\nnodes:\n  - {id: main, file: main.js}\nconfig: {max_body: 1Mi}\ntriggers:\n  - {type: webhook, name: hook, secret: hook.key}\n";
    let e = Engine::start(
        &[
            ("workflow.yaml", workflow),
            ("main.js", "export default (ctx, input) => input"),
            (".secrets.yaml", "hook: {key: k-123456}\n"),
        ],
        &[],
    );
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let (s, body) = e.post("/run", deep(100_000)).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("deeper than 127 levels"),
        "{body}"
    );
    assert!(body["hint"].is_string(), "{body}");
    // The deepest accepted document runs.
    let (s, body) = e.post("/run", deep(127)).await;
    assert_eq!(s, 200, "{body}");
    let deep_hook = deep(100_000);
    let r = ::reqwest::Client::new()
        .post(format!("{}/hooks/hook", e.base))
        .header(
            "x-hub-signature-256",
            pipedreamer_engine::webhook::sign(b"k-123456", deep_hook.as_bytes()),
        )
        .body(deep_hook)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let (_, metrics) = e.get("/metrics").await;
    for source in ["http", "webhook"] {
        let line = format!(
            r#"pipedreamer_rejected_requests_total{{source="{source}",reason="bad_json"}} 1"#
        );
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
}
