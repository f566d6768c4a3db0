//! Run records: what deployed engines report (`POST /api/ingest/runs`, a `report` token bound
//! to the deployment), the lists and single runs the API and the dashboard read, and replay.
//!
//! Ingest is the hot path (target: thousands of records a second per server): the body is
//! parsed once straight into [`ReportBatch`], each record checked ([`RunRecord::check`]), the
//! deployment's secret values masked in every string (the engine redacts already; this keeps a
//! redaction it missed out of the database), and the batch stored in one transaction.

use super::AppState;
use super::views::{ReplayReply, RunList, RunSummary, RunView};
use crate::auth::{Authorized, NeedDeploy, NeedRead, NeedReport};
use crate::error::{ApiError, ApiResult, ErrorBody};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use pipedreamer_pipeline::secret_values;
use pipedreamer_runs::{IngestReply, ReportBatch, RunRecord, RunStatus};
use pipedreamer_store::{DeploymentStatus, RunFilter, Target};
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;
use utoipa::IntoParams;

/// The header that tells an engine which run a `POST /run` replays (the engine's
/// `record::REPLAY_HEADER`; the server does not link the engine).
pub(crate) const REPLAY_HEADER: &str = "x-pipedreamer-replay-of";

/// How long a replay may take, connection included: a run's node timeouts are its own, but the
/// API call must end.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(300);
/// How long reaching the engine may take.
const REPLAY_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Stores a batch of run records for the token's deployment; ids already stored are ignored
/// (counted in `duplicates`), so an engine may resend a batch whose answer it lost.
#[utoipa::path(
    post, path = "/api/ingest/runs", tag = "runs",
    request_body(content = ReportBatch, description = "At most 1 MiB of JSON: `{\"runs\": [RunRecord]}`, oldest first"),
    security(("bearer" = ["report"])),
    responses(
        (status = 202, description = "Stored (duplicates ignored)", body = IngestReply),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not a `report` token", body = ErrorBody),
        (status = 404, description = "The token's deployment no longer exists", body = ErrorBody),
        (status = 413, description = "The body is over 1 MiB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "A record is refused: the message names its index and field", body = ErrorBody),
    )
)]
pub(super) async fn ingest(
    auth: Authorized<NeedReport>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<IngestReply>)> {
    let Some(deployment_id) = auth.claims.deployment_id.clone() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this `report` token is bound to no deployment",
        )
        .hint("mint one with `pipedreamer server token create --scope report --deployment ID`"));
    };
    let body = body.map_err(|e| {
        ApiError::new(e.status(), "the body is too large or unreadable").hint(format!(
            "a batch is at most {} KiB: send fewer records per request",
            pipedreamer_runs::limits::MAX_BATCH_BYTES / 1024
        ))
    })?;
    let batch = parse_batch(&headers, &body)?;
    let mut runs = batch.runs;
    for (i, run) in runs.iter().enumerate() {
        run.check()
            .map_err(|e| ApiError::invalid(&format!("runs[{i}].{}", e.field), &e.why))?;
    }
    mask_secrets(&state, &deployment_id, &mut runs).await?;
    let reply = state
        .store()
        .insert_runs(Some(&deployment_id), &runs)
        .await?;
    state
        .metrics()
        .runs_ingested(reply.accepted, reply.duplicates);
    Ok((StatusCode::ACCEPTED, Json(reply)))
}

/// The body as a [`ReportBatch`]: JSON content type (415), valid JSON (400), an object of the
/// right shape (422). Parsed once, straight into the records (no intermediate value).
fn parse_batch(headers: &HeaderMap, body: &[u8]) -> ApiResult<ReportBatch> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim();
            mime.eq_ignore_ascii_case("application/json")
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !json {
        return Err(
            ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "the body must be JSON")
                .hint("send `Content-Type: application/json`"),
        );
    }
    // Derived structs also accept a JSON array; the body must be the object.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(
            ApiError::invalid("body", "must be a JSON object").hint("send `{\"runs\": [...]}`")
        );
    }
    serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
                .hint("the body is `{\"runs\": [RunRecord]}`; `GET /api/openapi.json` has the record's schema"),
            _ => ApiError::bad_request(format!("the body is not valid JSON: {e}")),
        }
    })
}

/// Replaces the deployment's secret values in every string of `runs` (keys included) by `***`.
async fn mask_secrets(
    state: &AppState,
    deployment_id: &str,
    runs: &mut [RunRecord],
) -> ApiResult<()> {
    let Some(doc) = state.store().secrets(deployment_id).await? else {
        return Ok(());
    };
    let mut secrets = Vec::new();
    secret_values(&doc, &mut secrets);
    if secrets.is_empty() {
        return Ok(());
    }
    // How each value appears in a record's JSON text (raw, and escaped inside a string), for
    // a cheap test first: most records contain no secret at all.
    let mut needles: Vec<String> = secrets
        .iter()
        .flat_map(|s| [s.clone(), json_escaped(s)])
        .collect();
    needles.sort();
    needles.dedup();
    for run in runs.iter_mut() {
        let text = serde_json::to_string(&*run)
            .map_err(|e| ApiError::internal("writing a run record", &e))?;
        if !needles.iter().any(|n| text.contains(n.as_str())) {
            continue;
        }
        let mut value: Value = serde_json::from_str(&text)
            .map_err(|e| ApiError::internal("reading a run record", &e))?;
        mask_value(&mut value, &secrets);
        *run = serde_json::from_value(value)
            .map_err(|e| ApiError::internal("reading a masked run record", &e))?;
    }
    Ok(())
}

/// `s` as it appears inside a JSON string literal.
fn json_escaped(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// Every string (and object key) in `value` with the secrets masked.
fn mask_value(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) => *s = pipedreamer_pipeline::mask(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| mask_value(v, secrets)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (k, mut v) in entries {
                mask_value(&mut v, secrets);
                map.insert(pipedreamer_pipeline::mask(&k, secrets), v);
            }
        }
        _ => {}
    }
}

/// The longest `trigger` filter (a record's trigger is at most 512 bytes).
const MAX_TRIGGER_CHARS: usize = 512;

/// Filters and paging of a deployment's runs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct RunsQuery {
    /// Only runs that ended this way.
    status: Option<RunStatus>,
    /// `http`, `webhook`, `cron` or `queue` match every trigger of that kind; anything else
    /// (e.g. `cron:nightly`) matches exactly.
    #[param(max_length = 512, pattern = "^[^\\x00]*$")]
    trigger: Option<String>,
    /// Only runs started at or after this time (unix milliseconds).
    #[param(minimum = 0)]
    since: Option<i64>,
    /// Only runs older than this run id (the `next` of the previous page).
    #[param(pattern = "^[^\\x00]*$")]
    before: Option<String>,
    /// At most this many runs (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The deployment's runs, newest first, paged (`next`).
#[utoipa::path(
    get, path = "/api/deployments/{id}/runs", tag = "runs",
    params(("id" = String, Path, description = "Deployment id"), RunsQuery),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "Newest first", body = RunList),
        (status = 400, description = "Bad filter or paging parameters", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such deployment, or `before` names no run of it", body = ErrorBody),
    )
)]
pub(super) async fn list_runs(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<RunsQuery>, QueryRejection>,
) -> ApiResult<Json<RunList>> {
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("bad query: {}", e.body_text())).hint(
            "`?status=succeeded|failed&trigger=cron&since=<unix ms>&before=<run id>&limit=1..500`",
        )
    })?;
    // What the document declares, checked here (a record's trigger is at most 512 bytes).
    if let Some(t) = &query.trigger
        && t.chars().count() > MAX_TRIGGER_CHARS
    {
        return Err(ApiError::bad_request(format!(
            "trigger: at most {MAX_TRIGGER_CHARS} characters"
        ))
        .hint(
            "a kind (`http`, `webhook`, `cron`, `queue`) or a whole trigger like `cron:nightly`",
        ));
    }
    if let Some(since) = query.since
        && since < 0
    {
        return Err(ApiError::bad_request(format!(
            "since: `{since}` is before 1970; it is a time in unix milliseconds"
        )));
    }
    let limit = query.limit.unwrap_or(50);
    if !(1..=pipedreamer_store::MAX_RUNS_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: `{limit}` is not from 1 to {}",
            pipedreamer_store::MAX_RUNS_LIMIT
        )));
    }
    let filter = RunFilter {
        deployment_id: Some(id),
        status: query.status,
        trigger: query.trigger,
        since: query.since,
        before: query.before,
        limit,
    };
    Ok(Json(list(&state, &filter).await?))
}

/// One page of runs for `filter` (its deployment must exist; a `before` cursor must name a run
/// of that deployment, else 404 like the build history's): the API's list and the dashboard's
/// Runs tab.
pub(crate) async fn list(state: &AppState, filter: &RunFilter) -> ApiResult<RunList> {
    if let Some(deployment_id) = &filter.deployment_id {
        state.store().deployment(deployment_id).await?;
        if let Some(before) = &filter.before {
            let cursor = state.store().run(before).await?;
            if cursor.deployment_id.as_deref() != Some(deployment_id) {
                return Err(ApiError::not_found(format!(
                    "run `{before}` (the `before` cursor) is not a run of deployment `{deployment_id}`"
                )));
            }
        }
    }
    let runs = state.store().runs(filter).await?;
    let next = (runs.len() == filter.limit as usize)
        .then(|| runs.last().map(|r| r.id.clone()))
        .flatten();
    Ok(RunList {
        runs: runs.into_iter().map(RunSummary::from).collect(),
        next,
    })
}

/// One run: the record as its engine reported it, and its deployment.
#[utoipa::path(
    get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = ["read"])),
    responses(
        (status = 200, description = "The run", body = RunView),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such run", body = ErrorBody),
    )
)]
pub(super) async fn get_run(
    _auth: Authorized<NeedRead>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<RunView>> {
    let stored = state.store().run(&id).await?;
    Ok(Json(RunView {
        record: stored.record,
        deployment_id: stored.deployment_id,
    }))
}

/// Runs the recorded input again on the deployment's current version; the new run's record
/// carries `replay_of` and arrives with the engine's next report.
#[utoipa::path(
    post, path = "/api/runs/{id}/replay", tag = "runs",
    params(("id" = String, Path, description = "Run id")),
    security(("bearer" = ["deploy"])),
    responses(
        (status = 200, description = "The new run, as the engine answered (it may have failed)", body = ReplayReply),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Scope too small", body = ErrorBody),
        (status = 404, description = "No such run, or its deployment is gone", body = ErrorBody),
        (status = 409, description = "The run has no recorded input, or the deployment is not running", body = ErrorBody),
        (status = 502, description = "The deployment's engine did not run it", body = ErrorBody),
        (status = 504, description = "The engine did not answer in time", body = ErrorBody),
    )
)]
pub(super) async fn replay(
    auth: Authorized<NeedDeploy>,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ReplayReply>> {
    let reply = replay_run(&state, &id).await?;
    tracing::info!(run = %id, new_run = %reply.id, status = %reply.status.as_str(), token_id = %auth.claims.jti, "run replayed");
    Ok(Json(reply))
}

/// The engine's answer to `POST /run`: the sandbox's `RunOutcome` (for failed runs too).
#[derive(Deserialize)]
struct EngineRun {
    run_id: String,
    status: RunStatus,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Replays run `id` on its deployment's engine (the API's replay and the dashboard's Replay
/// button): 409 when the run has no recorded input or the deployment is stopped.
pub(crate) async fn replay_run(state: &AppState, id: &str) -> ApiResult<ReplayReply> {
    let stored = state.store().run(id).await?;
    let Some(deployment_id) = stored.deployment_id else {
        return Err(ApiError::conflict(format!(
            "run `{id}` belongs to no deployment, so there is no engine to replay it on"
        )));
    };
    let Some(input) = stored.record.input else {
        return Err(ApiError::conflict(format!(
            "run `{id}` has no recorded input, so it cannot be replayed"
        ))
        .hint("set `config.record_io: true` in the workflow's workflow.yaml and deploy it: runs record their input from then on"));
    };
    let d = state.store().deployment(&deployment_id).await?;
    if d.status == DeploymentStatus::Stopped {
        return Err(ApiError::conflict(format!(
            "deployment `{}` is stopped, so nothing can run the replay",
            d.name
        ))
        .hint(format!(
            "deploy it (`POST /api/deployments/{}/deploy`), then replay",
            d.id
        )));
    }
    let url = match &d.target {
        Target::Local => {
            let Some(port) = d.local_port else {
                return Err(ApiError::conflict(format!(
                    "deployment `{}` has never been rolled out locally, so nothing can run the replay",
                    d.name
                ))
                .hint(format!("deploy it (`POST /api/deployments/{}/deploy`), then replay", d.id)));
            };
            let host = match state.local_bind() {
                ip if ip.is_unspecified() && ip.is_ipv6() => {
                    std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                }
                ip if ip.is_unspecified() => std::net::IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
                ip => ip,
            };
            format!("http://{}/run", std::net::SocketAddr::new(host, port))
        }
        Target::Kubernetes { namespace, .. } => {
            pipedreamer_kube::manifests::run_url(&d.name, namespace.as_deref().unwrap_or("default"))
        }
    };
    let body =
        serde_json::to_vec(&input).map_err(|e| ApiError::internal("writing the input", &e))?;
    let client = reqwest::Client::builder()
        .connect_timeout(REPLAY_CONNECT_TIMEOUT)
        .timeout(REPLAY_TIMEOUT)
        .build()
        .map_err(|e| ApiError::internal("making an HTTP client", &e))?;
    let answer = client
        .post(&url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(REPLAY_HEADER, id)
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(a) => a,
        Err(e) if e.is_timeout() => {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "deployment `{}`'s engine at {url} did not answer the replay within {} s",
                    d.name,
                    REPLAY_TIMEOUT.as_secs()
                ),
            ));
        }
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("cannot reach deployment `{}`'s engine at {url}: {}", d.name, error_chain(&e)),
            )
            .hint("check that the deployment is running (`GET /api/deployments/{id}`) and its latest build succeeded"));
        }
    };
    let status = answer.status();
    let text = answer.bytes().await.unwrap_or_default();
    match serde_json::from_slice::<EngineRun>(&text) {
        Ok(run) => {
            let mut reply = ReplayReply {
                id: run.run_id,
                replay_of: id.to_owned(),
                status: run.status,
                output: run.output,
                error: run.error,
            };
            mask_reply(state, &d.id, &mut reply).await?;
            Ok(reply)
        }
        Err(_) => {
            // An answer that is no run: the engine's own `{"error", "hint"}` (no workflow
            // loaded, a bad input, draining), or something that is not the engine at all.
            let said = serde_json::from_slice::<Value>(&text)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| format!("an answer that is not a run ({} bytes)", text.len()));
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "deployment `{}`'s engine at {url} did not run the replay (HTTP {}): {said}",
                    d.name,
                    status.as_u16()
                ),
            ))
        }
    }
}

/// The reply's output and error with the deployment's secret values masked, like records.
async fn mask_reply(
    state: &AppState,
    deployment_id: &str,
    reply: &mut ReplayReply,
) -> ApiResult<()> {
    let Some(doc) = state.store().secrets(deployment_id).await? else {
        return Ok(());
    };
    let mut secrets = Vec::new();
    secret_values(&doc, &mut secrets);
    for v in [&mut reply.output, &mut reply.error].into_iter().flatten() {
        mask_value(v, &secrets);
    }
    Ok(())
}

/// An error and its sources on one line (reqwest's own message is only the outermost).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
