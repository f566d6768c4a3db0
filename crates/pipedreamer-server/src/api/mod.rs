//! The REST API as one `axum::Router` ([`router`]), testable with `tower::ServiceExt::oneshot`.
//!
//! Handlers are annotated with `#[utoipa::path]` and collected with `utoipa-axum`, so the
//! OpenAPI document at `/api/openapi.json` is generated from the routes that exist; each
//! operation's scope is in its `security` (`bearer: [<scope>]`) and in `x-required-scope`.
//! The [`crate::auth::Authorized`] extractor is every protected handler's first argument, so
//! 401/403 come before any lookup (no 404 leaks to an unauthenticated caller).
//!
//! Bodies: 1 MiB everywhere, 5 MiB for webhooks (GitHub's push payloads grow with the commits
//! they list). JSON bodies must say `Content-Type: application/json` (415 otherwise).

pub(crate) mod builds;
pub(crate) mod deployments;
pub(crate) mod logs;
pub(crate) mod ops;
pub(crate) mod runs;
pub mod views;
mod webhook;

pub use webhook::verify_signature;

use crate::auth::Tokens;
use crate::error::ApiError;
use crate::metrics::Metrics;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use pipedreamer_pipeline::Workers;
use pipedreamer_store::Store;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

/// Largest JSON body the API reads.
pub const MAX_BODY: usize = 1024 * 1024;
/// Largest webhook payload.
pub const MAX_WEBHOOK_BODY: usize = 5 * 1024 * 1024;

/// What every handler shares. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

struct Shared {
    store: Store,
    tokens: Tokens,
    workers: Arc<Workers>,
    metrics: Arc<Metrics>,
    public_url: String,
    local_bind: IpAddr,
    /// Deployments' public URLs (`routing.*`).
    routing: crate::config::RoutingConfig,
    openapi: serde_json::Value,
    /// Set when the server stops: live log streams end so graceful shutdown is not held
    /// open by them (clients resume elsewhere with `Last-Event-ID`).
    closing: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// The state of a router over `store`, authenticating with `tokens`, queueing for
    /// `workers`. `public_url` (no trailing slash) builds webhook URLs; `local_bind` builds the
    /// URLs of local deployments.
    pub fn new(
        store: Store,
        tokens: Tokens,
        workers: Arc<Workers>,
        metrics: Arc<Metrics>,
        public_url: &str,
        local_bind: IpAddr,
    ) -> AppState {
        Self::with_routing(
            store,
            tokens,
            workers,
            metrics,
            public_url,
            local_bind,
            crate::config::RoutingConfig::default(),
        )
    }

    /// [`AppState::new`] whose deployment views show public URLs under `routing.base_domain`.
    pub fn with_routing(
        store: Store,
        tokens: Tokens,
        workers: Arc<Workers>,
        metrics: Arc<Metrics>,
        public_url: &str,
        local_bind: IpAddr,
        routing: crate::config::RoutingConfig,
    ) -> AppState {
        AppState(Arc::new(Shared {
            store,
            tokens,
            workers,
            metrics,
            public_url: public_url.trim_end_matches('/').to_owned(),
            local_bind,
            routing,
            openapi: openapi(),
            closing: tokio::sync::watch::Sender::new(false),
        }))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Token verification.
    pub fn tokens(&self) -> &Tokens {
        &self.0.tokens
    }

    /// The build workers.
    pub fn workers(&self) -> &Workers {
        &self.0.workers
    }

    /// Ends every live log stream (the server is stopping).
    pub fn close_streams(&self) {
        self.0.closing.send_replace(true);
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The address local deployments listen on.
    pub(crate) fn local_bind(&self) -> IpAddr {
        self.0.local_bind
    }

    /// The URL the server is reached at (no trailing slash): the dashboard's `Secure` cookie
    /// and same-origin checks.
    pub(crate) fn public_url(&self) -> &str {
        &self.0.public_url
    }

    pub(crate) fn deployment_view(
        &self,
        d: pipedreamer_store::Deployment,
        admin: bool,
    ) -> views::DeploymentView {
        views::DeploymentView::new(
            d,
            &self.0.public_url,
            self.0.local_bind,
            &self.0.routing,
            admin,
        )
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pipedreamer control plane",
        description = "Deployments of workflows from git, their build queue, history and live logs, GitHub webhooks, and the run records their engines report. Every `/api` call but the webhook needs `Authorization: Bearer <token>`; the scope each operation needs is in its `security` and in `x-required-scope` (read < deploy < admin; `report`, bound to one deployment, only reports runs)."
    ),
    modifiers(&BearerScheme),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".into());
        http.description =
            Some("A token from `pipedreamer server token create --scope read|deploy|admin` (`--scope report --deployment ID` for an engine's run reports)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

fn routes() -> OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    let webhooks = OpenApiRouter::new()
        .routes(routes!(webhook::receive))
        .layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(deployments::create_workspace))
        .routes(routes!(
            deployments::create_deployment,
            deployments::list_deployments
        ))
        .routes(routes!(
            deployments::get_deployment,
            deployments::patch_deployment,
            deployments::delete_deployment
        ))
        .routes(routes!(builds::deploy))
        .routes(routes!(deployments::stop))
        .routes(routes!(deployments::put_secrets, deployments::get_secrets))
        .routes(routes!(builds::list_builds))
        .routes(routes!(builds::get_build))
        .routes(routes!(logs::build_logs))
        .routes(routes!(builds::cancel))
        .routes(routes!(runs::ingest))
        .routes(routes!(runs::list_runs))
        .routes(routes!(runs::get_run))
        .routes(routes!(runs::replay))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .merge(webhooks)
}

/// The OpenAPI document as JSON, each operation's scope copied into `x-required-scope`.
fn openapi() -> serde_json::Value {
    let (_, doc) = routes().split_for_parts();
    let mut value = serde_json::to_value(&doc).unwrap_or_default();
    if let Some(paths) = value.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for op in item.values_mut() {
                let scope = op
                    .pointer("/security/0/bearer/0")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned);
                if let (Some(scope), Some(op)) = (scope, op.as_object_mut()) {
                    op.insert("x-required-scope".into(), serde_json::Value::String(scope));
                }
            }
        }
    }
    value
}

/// Every route of the server: the API, the webhook, probes, metrics and `/api/openapi.json`.
pub fn router(state: AppState) -> axum::Router {
    let (router, _) = routes().split_for_parts();
    router
        .route("/api/openapi.json", axum::routing::get(ops::openapi_json))
        .merge(crate::ui::routes())
        .fallback(crate::ui::not_found)
        .layer(axum::middleware::from_fn(refuse_unstorable_uri))
        .with_state(state)
}

/// Answers requests whose path or query decodes to a NUL character or to bytes that are not
/// UTF-8. Nothing stored can be named that way, and PostgreSQL refuses NUL in `TEXT`: such an
/// id would reach the database and come back as a 500 (and a path that is not UTF-8 as axum's
/// plain-text rejection).
async fn refuse_unstorable_uri(
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let hint = "percent-encoded NUL (`%00`) and bytes that are not UTF-8 name nothing here";
    if !decodes_to_text(req.uri().path()) {
        return ApiError::not_found("no such resource: the path is not text")
            .hint(hint)
            .into_response();
    }
    if req.uri().query().is_some_and(|q| !decodes_to_text(q)) {
        return ApiError::bad_request("bad query: it is not text")
            .hint(hint)
            .into_response();
    }
    next.run(req).await
}

/// Whether percent-decoding `s` gives UTF-8 without NUL.
fn decodes_to_text(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    !out.contains(&0) && std::str::from_utf8(&out).is_ok()
}

/// A JSON object body, with rejections answered as `{"error", "hint"}`: 415 without a JSON
/// content type, 413 above the size limit, 400 for malformed JSON, 422 for JSON that is not an
/// object (`body: must be a JSON object`) or an object of the wrong shape.
///
/// Every body of this API is an object, but serde's derived structs also accept a sequence
/// (`["x"]` would fill `name`): the body is parsed as a JSON value first and only an object
/// goes on to `T`.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => v,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        if !value.is_object() {
            return Err(
                ApiError::invalid("body", "must be a JSON object").hint(format!(
                    "send a JSON object (`{{…}}`), not {}",
                    json_kind(&value)
                )),
            );
        }
        serde_json::from_value(value)
            .map(JsonBody)
            .map_err(|e| ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
    }
}

/// What a JSON value is, for the error about a body that is not an object.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "`null`",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(status, "the body must be JSON")
            .hint("send `Content-Type: application/json`"),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            status,
            format!("the body is not valid JSON: {}", source_text(&e)),
        ),
        JsonRejection::JsonDataError(e) => ApiError::new(status, source_text(&e)),
        JsonRejection::BytesRejection(_) => {
            ApiError::new(status, "the body is too large or unreadable")
                .hint(format!("bodies are limited to {} KiB", MAX_BODY / 1024))
        }
        other => ApiError::new(status, other.body_text()),
    }
}

/// The innermost error's text: serde's "field: problem at line 1 column 5" without axum's
/// "Failed to deserialize the JSON body into the target type" prefix.
fn source_text(e: &dyn std::error::Error) -> String {
    let mut err: &dyn std::error::Error = e;
    while let Some(inner) = err.source() {
        err = inner;
    }
    err.to_string()
}
