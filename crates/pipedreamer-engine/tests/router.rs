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
