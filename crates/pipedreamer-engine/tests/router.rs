//! The HTTP router driven in-process with `tower::ServiceExt::oneshot` (no socket).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use pipedreamer_engine::EngineState;
use pipedreamer_sandbox::{PoolOptions, Program, Sandbox, Secrets, Workload};
use pipedreamer_spec::source::MemorySource;
use serde_json::Value;
use tower::ServiceExt;

fn state(loaded: bool) -> std::sync::Arc<EngineState> {
    let files = MemorySource::from_pairs([
        (
            "workflow.yaml",
            "name: r\nversion: \"2.1\"\nnodes:\n  - {id: a, file: a.js}\nconfig: {max_body: 64}\n",
        ),
        ("a.js", "export default (ctx, input) => input"),
    ]);
    let workload =
        loaded.then(|| Workload::new(Program::load(&files).unwrap(), Secrets::default()).0);
    EngineState::new(
        Sandbox::start(PoolOptions { workers: 1 }).unwrap(),
        workload,
        None,
    )
}

async fn call(
    state: std::sync::Arc<EngineState>,
    method: &str,
    uri: &str,
    body: &str,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let res = pipedreamer_engine::http::router(state)
        .oneshot(req)
        .await
        .unwrap();
    let status = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn run_echoes_json() {
    let (s, v) = call(state(true), "POST", "/run", r#"{"x": [1, 2]}"#).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["output"]["x"][1], 2);
}

#[tokio::test]
async fn oversize_bodies_get_413_with_the_limit() {
    let (s, v) = call(state(true), "POST", "/run", &"1".repeat(100)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("64 bytes"));
    assert!(v["hint"].as_str().unwrap().contains("max_body"));
}

#[tokio::test]
async fn health_and_readiness() {
    assert_eq!(
        call(state(true), "GET", "/healthz", "").await.0,
        StatusCode::OK
    );
    let (s, v) = call(state(true), "GET", "/readyz", "").await;
    assert_eq!((s, v["version"].as_str()), (StatusCode::OK, Some("2.1")));
    let (s, _) = call(state(false), "GET", "/readyz", "").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    let (s, _) = call(state(false), "POST", "/run", "{}").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn draining_engines_are_not_ready() {
    let st = state(true);
    st.start_draining();
    assert_eq!(
        call(st, "GET", "/readyz", "").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn unknown_webhooks_are_404() {
    assert_eq!(
        call(state(true), "POST", "/hooks/nope", "{}").await.0,
        StatusCode::NOT_FOUND
    );
}

/// Issue 10, item 3 (engine side of the watchdog): while a worker is stuck the engine is not
/// ready, and the metrics show what the sandbox lost. The health is observed as `serve` does
/// every second; here it is made up, since a really stuck worker is the sandbox's test.
#[tokio::test]
async fn stuck_workers_make_the_engine_unready_and_are_counted() {
    use pipedreamer_sandbox::PoolHealth;
    let st = state(true);
    let health = |stuck, lost_total| PoolHealth {
        workers: 4,
        stuck,
        lost_total,
    };
    st.observe_health(health(1, 1));
    let (s, v) = call(st.clone(), "GET", "/readyz", "").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["status"], "workers lost");
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("1 of 4 sandbox workers are stuck"),
        "{v}"
    );
    // The counter follows the pool's total; the gauge is the current state.
    st.observe_health(health(0, 3));
    let (s, v) = call(st.clone(), "GET", "/readyz", "").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let res = pipedreamer_engine::http::router(st)
        .oneshot(
            Request::builder()
                .uri("/metrics")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.contains("pipedreamer_workers_lost_total 3"), "{text}");
    assert!(text.contains("pipedreamer_workers_stuck 0"), "{text}");
}
