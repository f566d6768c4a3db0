//! Builds: manual deploys, history, one build, cancel.

use super::AppState;
use super::logs::{StreamFormat, log_stream, wants_event_stream};
use super::views::{BuildList, BuildView, Queued};
use crate::auth::{Authorized, NeedDeploy, NeedRead};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pipedreamer_store::{Build, Enqueued, NewBuild, Trigger};
use serde::Deserialize;
use utoipa::IntoParams;

/// Queues a build of the deployment's branch head (a still-pending one is superseded). With
/// `Accept: text/event-stream` the answer streams that build's log until it ends.
#[utoipa::path(
    post, path = "/api/deployments/{id}/deploy", tag = "builds",
    params(("id" = String, Path, description = "Deployment id")),
    security(("bearer" = ["deploy"])),
    responses(
        (status = 202, description = "Queued", body = Queued),
        (status = 200, description = "Queued; the build's log as server-sent events (`Accept: text/event-stream`)", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub(super) async fn deploy(
    auth: Authorized<NeedDeploy>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let build = queue_manual_build(&state, &id).await?;
    tracing::info!(deployment = %id, build = %build.id, token_id = %auth.claims.jti, "manual build queued");
    let location = format!("/api/builds/{}", build.id);
    if wants_event_stream(&headers) {
        let stream = log_stream(state.clone(), build.id, 0, StreamFormat::API);
        return Ok(([(header::LOCATION, location)], stream).into_response());
    }
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(Queued { build_id: build.id }),
    )
        .into_response())
}

/// Queues a build of the deployment's branch head and wakes the workers (the API's deploy and
/// the dashboard's Deploy).
pub(crate) async fn queue_manual_build(state: &AppState, id: &str) -> ApiResult<Build> {
    let d = state.store().deployment(id).await?;
    let new = NewBuild {
        commit_hash: None,
        commit_message: None,
        branch: d.branch.clone(),
        triggered_by: Trigger::Manual,
        delivery_id: None,
    };
    let build = match state.store().enqueue_build(&d.id, new).await? {
        Enqueued::Created(b) => b,
        // Without a delivery id there is nothing to deduplicate against.
        Enqueued::Duplicate(build_id) => state.store().build(&build_id).await?,
    };
    state.workers().wake();
    Ok(build)
}

/// Paging of the build history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct BuildsQuery {
    /// At most this many builds (1-100, default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// Only builds older than this build id (the last id of the previous page). Like every
    /// query, it may not contain NUL (the router refuses it with 400), and the document says so.
    #[param(pattern = "^[^\\x00]*$")]
    before: Option<String>,
}

/// The deployment's builds, newest first.
#[utoipa::path(
    get, path = "/api/deployments/{id}/builds", tag = "builds",
    params(("id" = String, Path, description = "Deployment id"), BuildsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Newest first", body = BuildList),
        (status = 400, description = "Bad paging parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub(super) async fn list_builds(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<BuildsQuery>, QueryRejection>,
) -> ApiResult<Json<BuildList>> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("bad query: {}", e.body_text()))
            .hint("`?limit=1..100&before=<build id>`")
    })?;
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: `{limit}` is not from 1 to 100"
        )));
    }
    state.store().deployment(&id).await?;
    let builds = state
        .store()
        .builds(&id, limit, query.before.as_deref())
        .await?;
    Ok(Json(BuildList {
        builds: builds.into_iter().map(Into::into).collect(),
    }))
}

/// One build.
#[utoipa::path(
    get, path = "/api/builds/{id}", tag = "builds",
    params(("id" = String, Path, description = "Build id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The build", body = BuildView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such build", body = ErrorBody),
    )
)]
pub(super) async fn get_build(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<BuildView>> {
    Ok(Json(state.store().build(&id).await?.into()))
}

/// Cancels a build: a pending one ends now, a running one stops its current phase.
#[utoipa::path(
    post, path = "/api/builds/{id}/cancel", tag = "builds",
    params(("id" = String, Path, description = "Build id")),
    security(("bearer" = ["deploy"])),
    responses(
        (status = 200, description = "Cancelled, or cancel requested (`cancel_requested`)", body = BuildView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such build", body = ErrorBody),
        (status = 409, description = "The build has already ended", body = ErrorBody),
    )
)]
pub(super) async fn cancel(
    _auth: Authorized<NeedDeploy>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<BuildView>> {
    Ok(Json(cancel_build(&state, &id).await?.into()))
}

/// Records the cancel and signals the worker (the API's cancel and the dashboard's Cancel).
pub(crate) async fn cancel_build(state: &AppState, id: &str) -> ApiResult<Build> {
    let build = state.store().request_cancel(id).await?;
    // A build this server runs stops its phase now, not at its next lease renewal.
    state.workers().stop_running(id);
    tracing::info!(build = %id, status = %build.status, "cancel requested");
    Ok(build)
}
