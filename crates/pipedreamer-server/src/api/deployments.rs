//! Workspaces, deployments and their secrets.

use super::views::{
    DeploymentList, DeploymentView, NewDeploymentBody, NewWorkspaceBody, PatchDeploymentBody,
    SecretNames, SecretsBody, WorkspaceView, dns_label,
};
use super::{AppState, JsonBody};
use crate::auth::{Authorized, NeedAdmin, NeedDeploy, NeedRead};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use pipedreamer_store::{DeploymentPatch, DeploymentStatus, NewDeployment, Target};
use serde::Deserialize;
use utoipa::IntoParams;

/// Creates a workspace.
#[utoipa::path(
    post, path = "/api/workspaces", tag = "workspaces",
    request_body = NewWorkspaceBody,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = WorkspaceView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 409, description = "The name exists", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
pub(super) async fn create_workspace(
    _auth: Authorized<NeedAdmin>,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NewWorkspaceBody>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let ws = new_workspace(&state, &body.name).await?;
    Ok((StatusCode::CREATED, Json(ws.into())))
}

/// Validates and creates a workspace (the API's handler and the dashboard's form).
pub(crate) async fn new_workspace(
    state: &AppState,
    name: &str,
) -> ApiResult<pipedreamer_store::Workspace> {
    dns_label("name", name)?;
    // `{ws}` paths take an id or a name and the id wins: a name shaped like an id could be
    // shadowed by another workspace's id and never be reached by name.
    if uuid::Uuid::parse_str(name).is_ok() {
        return Err(ApiError::invalid("name", "must not be a UUID")
            .hint("workspaces are addressed by id or name; pick a name that is not shaped like an id, e.g. `team-a`"));
    }
    Ok(state.store().create_workspace(name).await?)
}

/// Creates a deployment in a workspace (by id or name). `local` targets need podman or docker
/// on the server (400 with what to install otherwise).
#[utoipa::path(
    post, path = "/api/workspaces/{ws}/deployments", tag = "deployments",
    params(("ws" = String, Path, description = "Workspace id or name")),
    request_body = NewDeploymentBody,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created (with its webhook secret)", body = DeploymentView),
        (status = 400, description = "Malformed JSON, or the target is unusable on this server", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
        (status = 409, description = "Name or subdomain taken", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
pub(super) async fn create_deployment(
    auth: Authorized<NeedAdmin>,
    State(state): State<AppState>,
    Path(ws): Path<String>,
    JsonBody(body): JsonBody<NewDeploymentBody>,
) -> ApiResult<(StatusCode, Json<DeploymentView>)> {
    let created = new_deployment(&state, &ws, body).await?;
    Ok((
        StatusCode::CREATED,
        Json(state.deployment_view(created, auth.is_admin())),
    ))
}

/// Validates and creates a deployment in workspace `ws` (the API's handler and the
/// dashboard's form).
pub(crate) async fn new_deployment(
    state: &AppState,
    ws: &str,
    body: NewDeploymentBody,
) -> ApiResult<pipedreamer_store::Deployment> {
    body.validate()?;
    let workspace = state.store().workspace(ws).await?;
    let target: Target = body.target.map_or(Target::Local, |t| t.0);
    if let Err(e) = state.workers().check_target(&target) {
        return Err(ApiError::from_message(
            StatusCode::BAD_REQUEST,
            &e.to_string(),
        ));
    }
    let secret = crate::random_bytes::<32>()
        .map_err(|e| ApiError::internal("generating the webhook secret", &e))?;
    let created = state
        .store()
        .create_deployment(NewDeployment {
            workspace_id: workspace.id,
            name: body.name,
            description: body.description,
            repo: body.repo,
            branch: body.branch,
            path: body.path,
            target,
            auto_rebuild: body.auto_rebuild,
            subdomain: body.subdomain,
            webhook_secret: hex::encode(secret),
        })
        .await?;
    tracing::info!(deployment = %created.id, name = %created.name, "deployment created");
    Ok(created)
}

/// Lists a workspace's deployments.
#[utoipa::path(
    get, path = "/api/workspaces/{ws}/deployments", tag = "deployments",
    params(("ws" = String, Path, description = "Workspace id or name")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The deployments (webhook secrets for admin tokens only)", body = DeploymentList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
    )
)]
pub(super) async fn list_deployments(
    auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(ws): Path<String>,
) -> ApiResult<Json<DeploymentList>> {
    let workspace = state.store().workspace(&ws).await?;
    let deployments = state.store().deployments(&workspace.id).await?;
    Ok(Json(DeploymentList {
        deployments: deployments
            .into_iter()
            .map(|d| state.deployment_view(d, auth.is_admin()))
            .collect(),
    }))
}

/// One deployment.
#[utoipa::path(
    get, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The deployment (webhook secret for admin tokens only)", body = DeploymentView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub(super) async fn get_deployment(
    auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeploymentView>> {
    let d = state.store().deployment(&id).await?;
    Ok(Json(state.deployment_view(d, auth.is_admin())))
}

/// Changes a deployment; `name` and `target.type` are immutable (409 when they would change).
#[utoipa::path(
    patch, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    request_body = PatchDeploymentBody,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The changed deployment", body = DeploymentView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 409, description = "Subdomain taken, or `name` or `target.type` would change (immutable)", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field is invalid", body = ErrorBody),
    )
)]
pub(super) async fn patch_deployment(
    auth: Authorized<NeedAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchDeploymentBody>,
) -> ApiResult<Json<DeploymentView>> {
    let updated = change_deployment(&state, &id, body).await?;
    Ok(Json(state.deployment_view(updated, auth.is_admin())))
}

/// Validates and applies a change (the API's handler and the dashboard's edit form).
pub(crate) async fn change_deployment(
    state: &AppState,
    id: &str,
    body: PatchDeploymentBody,
) -> ApiResult<pipedreamer_store::Deployment> {
    let current = state.store().deployment(id).await?;
    body.validate(&current)?;
    let patch = DeploymentPatch {
        description: body.description,
        repo: body.repo,
        branch: body.branch,
        path: body.path,
        target: body.target.map(|t| t.0),
        auto_rebuild: body.auto_rebuild,
        subdomain: body.subdomain,
    };
    Ok(state.store().update_deployment(id, patch).await?)
}

/// `DELETE /api/deployments/{id}` options.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteQuery {
    /// Delete the records even when undeploying fails (an unreachable cluster, a kube context
    /// that is gone): what still runs there is left as it is, and the answer's log line says so.
    #[serde(default)]
    force: bool,
}

/// Stops a deployment, then deletes it with its builds, logs and secrets.
#[utoipa::path(
    delete, path = "/api/deployments/{id}", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id"), DeleteQuery),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad query", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 502, description = "Undeploying failed; the records stay (`?force=true` deletes them anyway)", body = ErrorBody),
    )
)]
pub(super) async fn delete_deployment(
    _auth: Authorized<NeedAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<DeleteQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("bad query: {}", e.body_text()))
            .hint("`?force=true` or nothing")
    })?;
    remove_deployment(&state, &id, query.force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Undeploys and deletes a deployment's records; `force` deletes them even when undeploying
/// answered 502 (the API's handler and the dashboard's Delete).
pub(crate) async fn remove_deployment(state: &AppState, id: &str, force: bool) -> ApiResult<()> {
    let d = state.store().deployment(id).await?;
    match undeploy(state, &d).await {
        Ok(()) => {}
        Err(e) if force && e.status == StatusCode::BAD_GATEWAY => {
            tracing::warn!(deployment = %id, "deleting the records although undeploying failed (force); what runs on the target stays");
        }
        Err(mut e) => {
            if e.status == StatusCode::BAD_GATEWAY {
                let force = "`DELETE /api/deployments/{id}?force=true` deletes the records anyway and leaves what runs on the target";
                let hint = match e.body.hint.take() {
                    Some(fix) => format!("{fix}; or {force}"),
                    None => force.to_owned(),
                };
                e = e.hint(hint);
            }
            return Err(e);
        }
    }
    state.store().delete_deployment(id).await?;
    tracing::info!(deployment = %id, "deployment deleted");
    Ok(())
}

/// Stops what serves the deployment; the workers cancel its builds in flight first. A
/// deployment that never ran has nothing to undeploy (and a cluster that was never used
/// need not answer): only its builds in flight are cancelled, as the workers would.
async fn undeploy(state: &AppState, d: &pipedreamer_store::Deployment) -> ApiResult<()> {
    // Builds in flight first, cancelled and waited for: one in its rollout could otherwise start
    // a container after the stop (or after the records are gone). Only then is the deployment's
    // state read again: such a build may have gone live while it was being cancelled.
    state
        .workers()
        .cancel_builds(state.store(), &d.id)
        .await
        .map_err(|e| match e {
            pipedreamer_pipeline::PipelineError::Store(e) => ApiError::from(e),
            other => ApiError::from_message(StatusCode::INTERNAL_SERVER_ERROR, &other.to_string()),
        })?;
    let d = state.store().deployment(&d.id).await?;
    // A cluster that was never used need not answer; on this host, the containers themselves
    // are asked (cheap, and a cancelled rollout's container is not in the records).
    if d.status == DeploymentStatus::Stopped
        && d.current_build_id.is_none()
        && d.target != pipedreamer_store::Target::Local
    {
        return Ok(());
    }
    state.workers().stop_deployment(&d).await.map_err(|e| {
        tracing::warn!(deployment = %d.id, error = %e, "undeploy failed");
        ApiError::from_message(
            StatusCode::BAD_GATEWAY,
            &format!("cannot stop the deployment: {e}"),
        )
    })
}

/// Undeploys (stops what serves it); the records stay.
#[utoipa::path(
    post, path = "/api/deployments/{id}/stop", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    security(("bearer" = ["deploy"])),
    responses(
        (status = 200, description = "The stopped deployment", body = DeploymentView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 502, description = "Undeploying failed", body = ErrorBody),
    )
)]
pub(super) async fn stop(
    auth: Authorized<NeedDeploy>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeploymentView>> {
    let d = stop_deployment(&state, &id).await?;
    Ok(Json(state.deployment_view(d, auth.is_admin())))
}

/// Undeploys; the records stay (the API's handler and the dashboard's Stop).
pub(crate) async fn stop_deployment(
    state: &AppState,
    id: &str,
) -> ApiResult<pipedreamer_store::Deployment> {
    let d = state.store().deployment(id).await?;
    undeploy(state, &d).await?;
    Ok(state.store().deployment(id).await?)
}

/// Replaces the deployment's secrets with a `.secrets.yaml` document given as a JSON object.
/// The values are never returned.
#[utoipa::path(
    put, path = "/api/deployments/{id}/secrets", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    request_body(content = SecretsBody, description = "The `.secrets.yaml` content as a JSON object"),
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "The stored key names", body = SecretNames),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Not an object, or a secret name that is not a plain file name / Secret key", body = ErrorBody),
    )
)]
pub(super) async fn put_secrets(
    _auth: Authorized<NeedAdmin>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(secrets): JsonBody<SecretsBody>,
) -> ApiResult<Json<SecretNames>> {
    secrets.validate()?;
    let SecretsBody(map) = secrets;
    let count = map.len();
    let body = serde_json::Value::Object(map);
    state.store().deployment(&id).await?;
    state.store().put_secrets(&id, &body).await?;
    tracing::info!(deployment = %id, count, "secrets replaced");
    let names = state.store().secret_names(&id).await?;
    Ok(Json(SecretNames { names }))
}

/// The names of the deployment's secrets (never the values).
#[utoipa::path(
    get, path = "/api/deployments/{id}/secrets", tag = "deployments",
    params(("id" = String, Path, description = "Deployment id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The stored key names", body = SecretNames),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment", body = ErrorBody),
    )
)]
pub(super) async fn get_secrets(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<SecretNames>> {
    state.store().deployment(&id).await?;
    let names = state.store().secret_names(&id).await?;
    Ok(Json(SecretNames { names }))
}
