//! The HTTP API: `POST /run`, health, readiness and metrics, as a router that tests drive with
//! `tower::ServiceExt::oneshot` without a socket.

use crate::input::{json_input, read_body};
use crate::metrics::Source;
use crate::record::REPLAY_HEADER;
use crate::state::{EngineState, RunOptions};
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pipedreamer_sandbox::FailureKind;
use pipedreamer_sandbox::outcome::Trigger;
use serde_json::json;
use std::sync::{Arc, OnceLock};

/// The environment variable naming this engine instance (`pipedreamer server` sets the build
/// id). `/readyz` reports it, so whoever starts a new version next to an old one on the same
/// port (`--reuse-port`) can tell which of the two answered.
pub const INSTANCE_ENV: &str = "PIPEDREAMER_INSTANCE";

/// The response header `/readyz` reports the instance in (also the JSON field `instance`).
pub const INSTANCE_HEADER: &str = "x-pipedreamer-instance";

/// This engine's instance name, read once from [`INSTANCE_ENV`].
fn instance() -> Option<&'static str> {
    static INSTANCE: OnceLock<Option<String>> = OnceLock::new();
    INSTANCE
        .get_or_init(|| std::env::var(INSTANCE_ENV).ok().filter(|s| !s.is_empty()))
        .as_deref()
}

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

fn not_loaded() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "no valid workflow is loaded",
        Some("fix the errors `pipedreamer validate` reports; the engine reloads on save in `dev`"),
    )
}

/// The run id in [`REPLAY_HEADER`], if any; `Err` when the header is there but no run id.
fn replay_of(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let Some(value) = headers.get(REPLAY_HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(id) if pipedreamer_runs::is_run_id(id) => Ok(Some(id.to_owned())),
        _ => Err(()),
    }
}

async fn run(State(state): State<Arc<EngineState>>, headers: HeaderMap, body: Body) -> Response {
    let Some(workload) = state.workload() else {
        return not_loaded();
    };
    let Ok(replay_of) = replay_of(&headers) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("header `{REPLAY_HEADER}` must be a run id"),
            Some(
                "a run id is 1 to 64 characters of [A-Za-z0-9_-], e.g. the `run_id` of an earlier answer",
            ),
        );
    };
    let input = match read_body(&state, Source::Http, body).await {
        Ok(bytes) => json_input(&state, Source::Http, &bytes),
        Err(r) => Err(r),
    };
    let input = match input {
        Ok(t) => t,
        Err(r) => return r.into_response(),
    };
    let options = RunOptions {
        replay_of,
        ..RunOptions::default()
    };
    let outcome = state
        .run_with(workload, input, Trigger::Http, options)
        .await;
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
    let health = state.health();
    if let Some(instance) = instance() {
        detail.insert("instance".into(), json!(instance));
    }
    let (status, word) = match (state.workload(), state.is_draining()) {
        (_, true) => (StatusCode::SERVICE_UNAVAILABLE, "draining"),
        (None, _) => (StatusCode::SERVICE_UNAVAILABLE, "no valid workflow loaded"),
        // A stuck worker still burns a core and its replacement shares the machine: send
        // traffic elsewhere until it returns (or the engine exits at half its workers).
        (Some(_), false) if health.stuck > 0 => {
            detail.insert(
                "reason".into(),
                json!(format!(
                    "{} of {} sandbox workers are stuck in runs that ignore their timeout",
                    health.stuck, health.workers
                )),
            );
            (StatusCode::SERVICE_UNAVAILABLE, "workers lost")
        }
        (Some(w), false) => {
            detail.insert("workflow".into(), json!(w.program.workflow.name));
            detail.insert("version".into(), json!(w.program.workflow.version));
            (StatusCode::OK, "ready")
        }
    };
    detail.insert("status".into(), json!(word));
    let mut response = (status, axum::Json(detail)).into_response();
    // A name that is no valid header value is still in the JSON body.
    if let Some(value) = instance().and_then(|v| header::HeaderValue::from_str(v).ok()) {
        response.headers_mut().insert(INSTANCE_HEADER, value);
    }
    response
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
