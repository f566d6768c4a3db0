//! Probes, metrics, the OpenAPI document and the JSON 404.

use super::AppState;
use crate::error::{ApiError, ErrorBody};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Liveness: the process answers.
#[utoipa::path(
    get, path = "/healthz", tag = "probes", security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object))
)]
pub(super) async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

/// Readiness: the database answers.
#[utoipa::path(
    get, path = "/readyz", tag = "probes", security(()),
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = Object),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    )
)]
pub(super) async fn readyz(State(state): State<AppState>) -> Response {
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store().ping()).await;
    match ping {
        Ok(Ok(())) => Json(json!({ "status": "ready" })).into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database ping failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database does not answer",
            )
            .hint("check that the database is running and reachable from the server")
            .into_response()
        }
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the database did not answer within 2 s",
        )
        .into_response(),
    }
}

/// Prometheus metrics (OpenMetrics text).
#[utoipa::path(
    get, path = "/metrics", tag = "probes", security(()),
    responses(
        (status = 200, description = "OpenMetrics text", content_type = "application/openmetrics-text", body = String),
        (status = 503, description = "The database does not answer", body = ErrorBody),
    )
)]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics().render(state.store()).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The OpenAPI document.
pub(super) async fn openapi_json(State(state): State<AppState>) -> Response {
    Json(state.0.openapi.clone()).into_response()
}

/// Unknown routes.
pub(crate) async fn not_found() -> Response {
    ApiError::not_found("no such route")
        .hint("`/api/openapi.json` lists the routes")
        .into_response()
}
