//! The HTTP API: `POST /run`, health, readiness and metrics, as a router that tests drive with
//! `tower::ServiceExt::oneshot` without a socket.

use crate::state::EngineState;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pipedreamer_sandbox::FailureKind;
use serde_json::json;
use std::sync::Arc;

/// The engine's routes.
pub fn router(state: Arc<EngineState>) -> Router {
    Router::new()
        .route("/run", post(run))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::webhook::routes())
        // The limit is enforced per request in `read_body`, where it follows reloads.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// A JSON error response.
pub(crate) fn error(
    status: StatusCode,
    message: impl Into<String>,
    hint: Option<&str>,
) -> Response {
    let mut body = json!({ "error": message.into() });
    if let Some(h) = hint {
        body["hint"] = json!(h);
    }
    (status, axum::Json(body)).into_response()
}

/// Reads a body under the engine's limit; `413` when larger.
pub(crate) async fn read_body(state: &EngineState, body: Body) -> Result<Bytes, Response> {
    let limit = state.max_body();
    axum::body::to_bytes(body, limit as usize)
        .await
        .map_err(|_| {
            state.metrics.reject("http", "too_large");
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body is larger than the limit of {limit} bytes"),
                Some("raise `config.max_body` in workflow.yaml or `--max-body` on the engine"),
            )
        })
}

/// Checks that `what` (e.g. "request body") is JSON; an empty one is `{}`.
pub(crate) fn json_text(bytes: &[u8], what: &str) -> Result<String, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok("{}".to_owned());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| format!("{what} is not UTF-8"))?;
    serde_json::from_str::<&serde_json::value::RawValue>(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{what} is not valid JSON: {e}"))
}

fn not_loaded() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no valid workflow is loaded",
        Some("fix the errors `pipedreamer validate` reports; the engine reloads on save in `dev`"),
    )
}

async fn run(State(state): State<Arc<EngineState>>, body: Body) -> Response {
    let Some(workload) = state.workload() else {
        return not_loaded();
    };
    let bytes = match read_body(&state, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let input = match json_text(&bytes, "request body") {
        Ok(t) => t,
        Err(m) => {
            state.metrics.reject("http", "bad_json");
            return error(
                StatusCode::BAD_REQUEST,
                m,
                Some("send a JSON document, e.g. `{}`, with content-type application/json"),
            );
        }
    };
    let outcome = state.run(workload, input, "http").await;
    let status = match outcome.failure() {
        None => StatusCode::OK,
        Some(FailureKind::Timeout) => StatusCode::GATEWAY_TIMEOUT,
        Some(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, axum::Json(outcome)).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<Arc<EngineState>>) -> Response {
    let mut detail = state
        .readiness
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default();
    let (status, word) = match (state.workload(), state.is_draining()) {
        (_, true) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        (None, _) => (StatusCode::SERVICE_UNAVAILABLE, "no valid workflow loaded"),
        (Some(w), false) => {
            detail.insert("workflow".into(), json!(w.program.workflow.name));
            detail.insert("version".into(), json!(w.program.workflow.version));
            (StatusCode::OK, "ready")
        }
    };
    detail.insert("status".into(), json!(word));
    (status, axum::Json(detail)).into_response()
}

async fn metrics(State(state): State<Arc<EngineState>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
        .into_response()
}
