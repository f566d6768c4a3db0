//! The API's JSON shapes (snake_case, like the engine): request bodies, validated field by
//! field, and the views of stored records. They carry the OpenAPI schemas; the status enums'
//! schemas list the store's own words, so the document cannot drift from the database.

use crate::error::ApiError;
use pipedreamer_store::{
    Build, BuildStatus, Deployment, DeploymentStatus, Target, Trigger, Workspace,
};
use serde::{Deserialize, Deserializer, Serialize};
use std::time::{Duration, UNIX_EPOCH};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

fn words_schema(words: impl IntoIterator<Item = &'static str>) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(words))
            .build(),
    )
}

fn build_status_schema() -> Schema {
    words_schema(BuildStatus::ALL.iter().map(|s| s.as_str()))
}

fn deployment_status_schema() -> Schema {
    words_schema(DeploymentStatus::ALL.iter().map(|s| s.as_str()))
}

fn trigger_schema() -> Schema {
    words_schema(Trigger::ALL.iter().map(|s| s.as_str()))
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

// The schemas' `pattern`s are never looser than the checks at the end of this file, so a
// request the schema accepts is never refused for the format of a field.

/// `POST /api/workspaces`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspaceBody {
    /// DNS-1123 label, unique, not shaped like a UUID (`{ws}` paths take an id or a name).
    #[schema(example = "team-a", pattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub name: String,
}

/// A workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// UUIDv7.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// RFC 3339.
    pub created_at: String,
}

impl From<Workspace> for WorkspaceView {
    fn from(w: Workspace) -> Self {
        WorkspaceView {
            id: w.id,
            name: w.name,
            created_at: rfc3339(w.created_at),
        }
    }
}

/// Where a deployment runs: the store's [`Target`] (its serde shape is the API's), with the
/// OpenAPI schema written here so the store needs no OpenAPI dependency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TargetSpec(pub Target);

impl<'de> Deserialize<'de> for TargetSpec {
    /// [`Target`]'s own, plus what serde cannot say for an internally tagged unit variant:
    /// `{"type": "local"}` takes no other field (`deny_unknown_fields` does not reach it, and
    /// the document declares `additionalProperties: false`).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let value = serde_json::Value::deserialize(d)?;
        if value.get("type").and_then(|t| t.as_str()) == Some("local")
            && let Some(extra) = value
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "type"))
        {
            return Err(D::Error::custom(format!(
                "unknown field `{extra}` of a `local` target, expected only `type`"
            )));
        }
        serde_json::from_value(value)
            .map(TargetSpec)
            .map_err(D::Error::custom)
    }
}

/// An optional string of 1-253 visible characters.
fn word_schema(description: &str) -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .min_length(Some(1))
            .max_length(Some(253))
            .pattern(Some("^[^\\s\\x00-\\x1f\\x7f-\\x9f]+$"))
            .description(Some(description))
            .build(),
    )
}

impl utoipa::PartialSchema for TargetSpec {
    fn schema() -> utoipa::openapi::RefOr<Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, OneOfBuilder};
        let kind = |word: &str| {
            Schema::Object(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some([word.to_owned()]))
                    .build(),
            )
        };
        let closed = || Some(AdditionalProperties::FreeForm(false));
        let local = ObjectBuilder::new()
            .property("type", kind("local"))
            .required("type")
            .additional_properties(closed())
            .description(Some(
                "A hardened container on the server's host (podman or docker)",
            ))
            .build();
        let namespace = ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .min_length(Some(1))
            .max_length(Some(63))
            .pattern(Some("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"))
            .description(Some("Namespace (the kubeconfig's default when absent)"))
            .build();
        let kubernetes = ObjectBuilder::new()
            .property("type", kind("kubernetes"))
            .required("type")
            .property("namespace", namespace)
            .property(
                "context",
                word_schema("kubeconfig context (the current one when absent)"),
            )
            .property(
                "registry",
                word_schema("Registry to push to (the server's `registry` when absent)"),
            )
            .property(
                "cluster_registry",
                word_schema("The registry as the cluster's nodes reach it, when that differs"),
            )
            .additional_properties(closed())
            .description(Some("A Kubernetes cluster"))
            .build();
        Schema::OneOf(OneOfBuilder::new().item(local).item(kubernetes).build()).into()
    }
}

impl ToSchema for TargetSpec {}

impl TargetSpec {
    fn validate(&self) -> Result<(), ApiError> {
        if let Target::Kubernetes {
            namespace,
            context,
            registry,
            cluster_registry,
        } = &self.0
        {
            if let Some(ns) = namespace {
                dns_label("target.namespace", ns)?;
            }
            for (field, value) in [
                ("target.context", context),
                ("target.registry", registry),
                ("target.cluster_registry", cluster_registry),
            ] {
                if let Some(v) = value {
                    plain_text(field, v, 253)?;
                }
            }
        }
        Ok(())
    }
}

fn default_branch() -> String {
    "main".into()
}
fn default_path() -> String {
    ".".into()
}
fn default_true() -> bool {
    true
}

/// `POST /api/workspaces/{ws}/deployments`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeploymentBody {
    /// DNS-1123 label, unique in the workspace; immutable.
    #[schema(example = "orders", pattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub name: String,
    /// Free text (at most 4096 characters, no NUL).
    #[serde(default)]
    #[schema(max_length = 4096, pattern = "^[^\\x00]*$")]
    pub description: String,
    /// Git repository: `https://…`, `http://…`, `file://…` or an absolute path. No credentials:
    /// a git token belongs in the deployment's secrets.
    #[schema(
        example = "https://github.com/acme/orders.git",
        max_length = 2048,
        pattern = "^(https://[^/?#@:\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]+(:[^/?#@\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]*)?([/?#][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?|http://([Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|\\[::1\\])(:[^/?#@\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]*)?([/?#][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?|file://(localhost)?/[^\\s\\x00-\\x1f\\x7f-\\x9f]*|/[^\\s\\x00-\\x1f\\x7f-\\x9f]*)$"
    )]
    pub repo: String,
    /// Branch to build.
    #[serde(default = "default_branch")]
    #[schema(
        default = "main",
        max_length = 255,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*)*$"
    )]
    pub branch: String,
    /// Directory of the workflow inside the repository.
    #[serde(default = "default_path")]
    #[schema(
        default = ".",
        max_length = 1024,
        pattern = "^(\\.|[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.\\.[^/\\s\\x00-\\x1f\\x7f-\\x9f]+)(/+(\\.|[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.\\.[^/\\s\\x00-\\x1f\\x7f-\\x9f]+))*/*$"
    )]
    pub path: String,
    /// Where it runs (`{"type": "local"}` when absent); the type is immutable.
    #[serde(default)]
    pub target: Option<TargetSpec>,
    /// Whether webhook pushes build it.
    #[serde(default = "default_true")]
    #[schema(default = true)]
    pub auto_rebuild: bool,
    /// DNS-1123 label for routing, unique.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub subdomain: Option<String>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// `PATCH /api/deployments/{id}`: absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchDeploymentBody {
    /// Immutable: accepted only when equal to the current name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description (at most 4096 characters, no NUL).
    #[serde(default)]
    #[schema(max_length = 4096, pattern = "^[^\\x00]*$")]
    pub description: Option<String>,
    /// New repository.
    #[serde(default)]
    #[schema(
        max_length = 2048,
        pattern = "^(https://[^/?#@:\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]+(:[^/?#@\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]*)?([/?#][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?|http://([Ll][Oo][Cc][Aa][Ll][Hh][Oo][Ss][Tt]|127\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])|\\[::1\\])(:[^/?#@\\[\\]\\s\\x00-\\x1f\\x7f-\\x9f]*)?([/?#][^\\s\\x00-\\x1f\\x7f-\\x9f]*)?|file://(localhost)?/[^\\s\\x00-\\x1f\\x7f-\\x9f]*|/[^\\s\\x00-\\x1f\\x7f-\\x9f]*)$"
    )]
    pub repo: Option<String>,
    /// New branch.
    #[serde(default)]
    #[schema(
        max_length = 255,
        pattern = "^[A-Za-z0-9_][A-Za-z0-9_-]*(\\.[A-Za-z0-9_-]+)*(/[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*)*$"
    )]
    pub branch: Option<String>,
    /// New workflow path.
    #[serde(default)]
    #[schema(
        max_length = 1024,
        pattern = "^(\\.|[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.\\.[^/\\s\\x00-\\x1f\\x7f-\\x9f]+)(/+(\\.|[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.[^/.\\s\\x00-\\x1f\\x7f-\\x9f][^/\\s\\x00-\\x1f\\x7f-\\x9f]*|\\.\\.[^/\\s\\x00-\\x1f\\x7f-\\x9f]+))*/*$"
    )]
    pub path: Option<String>,
    /// New target settings; `type` must stay the same.
    #[serde(default)]
    pub target: Option<TargetSpec>,
    /// New auto-rebuild flag.
    #[serde(default)]
    pub auto_rebuild: Option<bool>,
    /// New subdomain; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    pub subdomain: Option<Option<String>>,
}

/// A deployment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentView {
    /// UUIDv7.
    pub id: String,
    /// The workspace's id.
    pub workspace_id: String,
    /// DNS label.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Git repository.
    pub repo: String,
    /// Branch built.
    pub branch: String,
    /// Workflow directory in the repository.
    pub path: String,
    /// Where it runs.
    pub target: TargetSpec,
    /// Whether webhook pushes build it.
    pub auto_rebuild: bool,
    /// Subdomain for routing.
    pub subdomain: Option<String>,
    /// What it is doing.
    #[schema(schema_with = deployment_status_schema)]
    pub status: DeploymentStatus,
    /// Where it answers. With a subdomain and the server's `routing.base_domain`:
    /// `https://<subdomain>.<base_domain>` (`:<https_port>` when not 443) for `local` (Caddy),
    /// `https://…` (`http://…` without `routing.tls_issuer`) for `kubernetes` (its Ingress or
    /// HTTPRoute). Otherwise `http://<bind>:<port>` for `local` once it has a port, `null` for
    /// `kubernetes`.
    pub url: Option<String>,
    /// The URL to give GitHub (content type `application/json`).
    pub webhook_url: String,
    /// The webhook's HMAC secret: only in answers to admin tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    /// The build deployed (or being deployed).
    pub current_build_id: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl DeploymentView {
    /// The view of `d`; `admin` decides whether the webhook secret is included.
    pub fn new(
        d: Deployment,
        public_url: &str,
        local_bind: std::net::IpAddr,
        routing: &crate::config::RoutingConfig,
        admin: bool,
    ) -> Self {
        let url = deployment_url(&d, local_bind, routing);
        DeploymentView {
            webhook_url: format!("{public_url}/api/deployments/{}/webhook", d.id),
            webhook_secret: admin.then_some(d.webhook_secret),
            id: d.id,
            workspace_id: d.workspace_id,
            name: d.name,
            description: d.description,
            repo: d.repo,
            branch: d.branch,
            path: d.path,
            target: TargetSpec(d.target),
            auto_rebuild: d.auto_rebuild,
            subdomain: d.subdomain,
            status: d.status,
            url,
            current_build_id: d.current_build_id,
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

/// Where `d` answers (see [`DeploymentView::url`]).
fn deployment_url(
    d: &Deployment,
    local_bind: std::net::IpAddr,
    routing: &crate::config::RoutingConfig,
) -> Option<String> {
    let routed = d.subdomain.as_deref().and_then(|s| routing.host(s));
    match (&d.target, routed, d.local_port) {
        (Target::Local, Some(host), _) => {
            Some(pipedreamer_proxy::public_url(&host, routing.https_port))
        }
        (Target::Local, None, Some(port)) => Some(format!(
            "http://{}",
            std::net::SocketAddr::new(local_bind, port)
        )),
        (Target::Kubernetes { .. }, Some(host), _) => {
            let scheme = if routing.tls_issuer.is_some() {
                "https"
            } else {
                "http"
            };
            Some(format!("{scheme}://{host}"))
        }
        _ => None,
    }
}

/// `GET /api/workspaces/{ws}/deployments`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeploymentList {
    /// The workspace's deployments.
    pub deployments: Vec<DeploymentView>,
}

/// A build as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildView {
    /// UUIDv7.
    pub id: String,
    /// The deployment it builds.
    pub deployment_id: String,
    /// Where it is in its life.
    #[schema(schema_with = build_status_schema)]
    pub status: BuildStatus,
    /// The commit requested or fetched.
    pub commit_hash: Option<String>,
    /// The commit's full message.
    pub commit_message: Option<String>,
    /// The branch.
    pub branch: String,
    /// Who asked for it.
    #[schema(schema_with = trigger_schema)]
    pub triggered_by: Trigger,
    /// GitHub's delivery id.
    pub delivery_id: Option<String>,
    /// The image it produced.
    pub image: Option<String>,
    /// The image's digest.
    pub image_digest: Option<String>,
    /// Why it failed or was cancelled.
    pub error_message: Option<String>,
    /// A cancel was requested while it was building.
    pub cancel_requested: bool,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub started_at: Option<String>,
    /// RFC 3339.
    pub completed_at: Option<String>,
}

impl From<Build> for BuildView {
    fn from(b: Build) -> Self {
        BuildView {
            id: b.id,
            deployment_id: b.deployment_id,
            status: b.status,
            commit_hash: b.commit_hash,
            commit_message: b.commit_message,
            branch: b.branch,
            triggered_by: b.triggered_by,
            delivery_id: b.delivery_id,
            image: b.image,
            image_digest: b.image_digest,
            error_message: b.error_message,
            cancel_requested: b.cancel_requested,
            created_at: rfc3339(b.created_at),
            started_at: b.started_at.map(rfc3339),
            completed_at: b.completed_at.map(rfc3339),
        }
    }
}

/// `GET /api/deployments/{id}/builds`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BuildList {
    /// Newest first.
    pub builds: Vec<BuildView>,
}

/// `202` of deploy and webhook requests that queued a build.
#[derive(Debug, Serialize, ToSchema)]
pub struct Queued {
    /// The queued build.
    pub build_id: String,
}

/// `200` of a webhook delivery seen before.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateDelivery {
    /// The build the first delivery queued.
    pub build_id: String,
    /// Always `true`.
    pub duplicate: bool,
}

/// `202` of a webhook delivery that builds nothing, or `200` of a `ping`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ignored {
    /// `ignored` (or `pong` for a ping).
    pub status: String,
    /// Why nothing was built.
    pub reason: String,
}

/// Every answer of the webhook endpoint that is not an error.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WebhookAnswer {
    /// 202: a build was queued.
    Queued(Queued),
    /// 200: the delivery was seen before.
    Duplicate(DuplicateDelivery),
    /// 202 ignored, or 200 for a ping.
    Ignored(Ignored),
}

/// Longest top-level secret name (a Kubernetes Secret key's limit).
const MAX_SECRET_NAME: usize = 253;
/// Top-level secret names: Kubernetes Secret keys (`[-._a-zA-Z0-9]+`) that are also plain file
/// names in the local secrets directory (no `/`, not starting with `.`, which the pipeline
/// would skip when it writes the files).
const SECRET_NAME_PATTERN: &str = "^[A-Za-z0-9_-][-._A-Za-z0-9]*$";

/// `PUT /api/deployments/{id}/secrets`: the `.secrets.yaml` content as a JSON object whose
/// top-level names match [`SECRET_NAME_PATTERN`] ([`SecretsBody::validate`]).
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct SecretsBody(pub serde_json::Map<String, serde_json::Value>);

impl utoipa::PartialSchema for SecretsBody {
    fn schema() -> utoipa::openapi::RefOr<Schema> {
        let names = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_SECRET_NAME))
            .pattern(Some(SECRET_NAME_PATTERN))
            .build();
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property_names(Some(names))
                .description(Some(
                    "Secret names to values (strings, numbers or nested objects), as in `.secrets.yaml`. Top-level names are file names in `/app/secrets` and Kubernetes Secret keys: 1-253 of `A-Z a-z 0-9 - _ .`, not starting with `.`",
                ))
                .build(),
        )
        .into()
    }
}

impl ToSchema for SecretsBody {}

impl SecretsBody {
    /// Checks the top-level names; an error names the key, never its value.
    pub fn validate(&self) -> Result<(), ApiError> {
        for name in self.0.keys() {
            secret_name(name)?;
        }
        Ok(())
    }
}

fn secret_name(name: &str) -> Result<(), ApiError> {
    let mut bytes = name.bytes();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let ok = name.len() <= MAX_SECRET_NAME
        && bytes.next().is_some_and(|b| allowed(b) && b != b'.')
        && bytes.all(allowed);
    if ok {
        return Ok(());
    }
    // The name is the client's own key, not a secret; shown in backticks, escaped.
    let shown: String = name
        .chars()
        .take(64)
        .flat_map(char::escape_default)
        .collect();
    Err(ApiError::invalid(
        "body",
        format!("secret name `{shown}` must be 1-{MAX_SECRET_NAME} of `A-Z a-z 0-9 - _ .` and not start with `.`"),
    )
    .hint("secret names become file names in `/app/secrets` and Kubernetes Secret keys, e.g. `DATABASE_URL` or `api-key.json`"))
}

/// `GET`/`PUT /api/deployments/{id}/secrets`: the key names, never the values.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretNames {
    /// Top-level keys of the stored secrets document.
    pub names: Vec<String>,
}

/// Checks a DNS-1123 label: 1-63 lower-case letters, digits and `-`, starting and ending with
/// a letter or digit.
pub(crate) fn dns_label(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(field, "must be a DNS-1123 label")
            .hint("1-63 characters of a-z, 0-9 and `-`, starting and ending with a letter or digit, e.g. `orders-api`"))
    }
}

fn plain_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    // Characters, as the schemas' `maxLength` counts them.
    if value.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(
            field,
            "must not contain whitespace or control characters",
        ));
    }
    Ok(())
}

fn repo_url(value: &str) -> Result<(), ApiError> {
    plain_text("repo", value, 2048)?;
    let hint =
        "e.g. `https://github.com/acme/orders.git`, `file:///srv/git/orders` or `/srv/git/orders`";
    let rest = if let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    {
        rest
    } else if value.starts_with("file://") || value.starts_with('/') {
        return git_url(value);
    } else {
        return Err(ApiError::invalid(
            "repo",
            "must be an http(s) or file URL, or an absolute path",
        )
        .hint(hint));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(ApiError::invalid("repo", "must not contain credentials")
            .hint("store a git token in the deployment's secrets (`PUT /api/deployments/{id}/secrets`) instead"));
    }
    if authority.is_empty() {
        return Err(ApiError::invalid("repo", "has no host").hint(hint));
    }
    git_url(value)
}

/// The git crate's own rules (plain `http://` only to loopback hosts, `file://` only with an
/// absolute local path), so a URL the build's fetch would refuse is refused here, not later
/// in a failed build.
fn git_url(value: &str) -> Result<(), ApiError> {
    match pipedreamer_git::check_url(value) {
        Ok(()) => Ok(()),
        Err(pipedreamer_git::GitError::UnsupportedUrl { reason, hint, .. }) => {
            Err(ApiError::invalid("repo", reason).hint(hint))
        }
        Err(other) => Err(ApiError::invalid("repo", other)),
    }
}

/// The branch names the API takes: a subset of git's (`git check-ref-format --branch`) in
/// ASCII, slash-separated components of letters, digits, `_`, `-` and single inner dots, the
/// first not starting with `-`. This is exactly the schemas' `pattern` for `branch` (plus git's
/// `.lock` rule), so a name the schema refuses is refused here too; a test holds them together.
fn branch_name(value: &str) -> Result<(), ApiError> {
    plain_text("branch", value, 255)?;
    let component_ok = |c: &str| {
        !c.is_empty()
            && !c.starts_with('.')
            && !c.ends_with('.')
            && !c.contains("..")
            && c.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    let bad =
        value.starts_with('-') || value.ends_with(".lock") || !value.split('/').all(component_ok);
    if bad {
        return Err(
            ApiError::invalid("branch", "is not a valid git branch name")
                .hint("e.g. `main` or `release/2026-11`"),
        );
    }
    Ok(())
}

fn workflow_path(value: &str) -> Result<(), ApiError> {
    plain_text("path", value, 1024)?;
    if value.starts_with('/') || value.split('/').any(|c| c == "..") {
        return Err(ApiError::invalid(
            "path",
            "must be a relative path inside the repository without `..`",
        )
        .hint("e.g. `.` or `workflows/orders`"));
    }
    Ok(())
}

/// Longest description, in characters (the schema's `maxLength` counts characters too).
const MAX_DESCRIPTION: usize = 4096;

fn description(value: &str) -> Result<(), ApiError> {
    // PostgreSQL's TEXT cannot hold NUL; the schema's pattern says so too.
    if value.contains('\0') {
        return Err(ApiError::invalid(
            "description",
            "must not contain NUL characters",
        ));
    }
    if value.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(())
}

impl NewDeploymentBody {
    /// Checks every field; the first problem is the error.
    pub fn validate(&self) -> Result<(), ApiError> {
        dns_label("name", &self.name)?;
        description(&self.description)?;
        repo_url(&self.repo)?;
        branch_name(&self.branch)?;
        workflow_path(&self.path)?;
        if let Some(t) = &self.target {
            t.validate()?;
        }
        if let Some(s) = &self.subdomain {
            dns_label("subdomain", s)?;
        }
        Ok(())
    }
}

impl PatchDeploymentBody {
    /// Checks the fields present (422), and that `name` and `target.type` do not change: 409,
    /// since such a body is valid and only conflicts with the deployment as it is.
    pub fn validate(&self, current: &Deployment) -> Result<(), ApiError> {
        if let Some(name) = &self.name
            && name != &current.name
        {
            return Err(ApiError::conflict("name: is immutable")
                .hint("create a new deployment with the new name and delete this one"));
        }
        if let Some(t) = &self.target {
            if t.0.kind() != current.target.kind() {
                return Err(ApiError::conflict(format!(
                    "target.type: is immutable (`{}`)",
                    current.target.kind()
                ))
                .hint("create a new deployment for the other target type"));
            }
            t.validate()?;
        }
        if let Some(d) = &self.description {
            description(d)?;
        }
        if let Some(r) = &self.repo {
            repo_url(r)?;
        }
        if let Some(b) = &self.branch {
            branch_name(b)?;
        }
        if let Some(p) = &self.path {
            workflow_path(p)?;
        }
        if let Some(Some(s)) = &self.subdomain {
            dns_label("subdomain", s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_public_with_a_subdomain_and_a_base_domain_else_local() {
        let mut d = Deployment {
            id: "d1".into(),
            workspace_id: "w".into(),
            name: "hello".into(),
            description: String::new(),
            repo: "file:///r".into(),
            branch: "main".into(),
            path: String::new(),
            target: Target::Local,
            auto_rebuild: true,
            subdomain: Some("hello".into()),
            webhook_secret: String::new(),
            status: DeploymentStatus::Running,
            current_build_id: None,
            local_port: Some(20001),
            created_at: 0,
            updated_at: 0,
        };
        let bind = std::net::IpAddr::from([127, 0, 0, 1]);
        let off = crate::config::RoutingConfig::default();
        let mut on = crate::config::RoutingConfig {
            base_domain: Some("apps.example.com".into()),
            ..off.clone()
        };
        let url = |d: &Deployment, r: &crate::config::RoutingConfig| deployment_url(d, bind, r);
        assert_eq!(url(&d, &off).as_deref(), Some("http://127.0.0.1:20001"));
        assert_eq!(
            url(&d, &on).as_deref(),
            Some("https://hello.apps.example.com")
        );
        on.https_port = 8443;
        assert_eq!(
            url(&d, &on).as_deref(),
            Some("https://hello.apps.example.com:8443")
        );
        d.subdomain = None;
        assert_eq!(url(&d, &on).as_deref(), Some("http://127.0.0.1:20001"));
        d.subdomain = Some("hello".into());
        d.target = Target::Kubernetes {
            namespace: None,
            context: None,
            registry: None,
            cluster_registry: None,
        };
        assert_eq!(url(&d, &off), None);
        assert_eq!(
            url(&d, &on).as_deref(),
            Some("http://hello.apps.example.com")
        );
        on.tls_issuer = Some("letsencrypt".into());
        assert_eq!(
            url(&d, &on).as_deref(),
            Some("https://hello.apps.example.com")
        );
    }

    #[test]
    fn dns_labels() {
        for ok in ["a", "orders", "a-1", "0a"] {
            assert!(dns_label("name", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            let e = dns_label("name", bad).unwrap_err();
            assert_eq!(e.body.error, "name: must be a DNS-1123 label");
        }
    }

    #[test]
    fn repo_urls_refuse_credentials() {
        assert!(repo_url("https://github.com/a/b.git").is_ok());
        assert!(repo_url("file:///srv/x").is_ok());
        assert!(repo_url("/srv/x").is_ok());
        let e = repo_url("https://user:ghp_secret@github.com/a/b").unwrap_err();
        assert!(!e.body.error.contains("ghp_secret"));
        assert!(repo_url("git@github.com:a/b").is_err());
        assert!(repo_url("https:///x").is_err());
        assert!(repo_url("https://:443/x").is_err());
        // A body that echoes one of these breaks URL parsers (Python: "Invalid IPv6 URL").
        assert!(repo_url("https://[/x").is_err());
        assert!(repo_url("http://[::1/x").is_err());
        assert!(repo_url("http://[localhost]/x").is_err());
        assert!(repo_url("http://[::1]:9/x").is_ok());
    }

    /// Every string of up to 5 characters over an alphabet of the interesting ones: the server
    /// accepts a `branch` or a `path` exactly when the schemas' pattern does (schemathesis found
    /// a Thai branch name the pattern refused and the server took), `.lock` aside.
    #[test]
    fn checks_match_their_schema_patterns() {
        let doc = super::super::openapi();
        let pattern_of = |field: &str| {
            let of = |body: &str| {
                doc.pointer(&format!(
                    "/components/schemas/{body}/properties/{field}/pattern"
                ))
                .and_then(|p| p.as_str())
                .unwrap_or_else(|| panic!("{body}.{field} has no pattern"))
                .to_owned()
            };
            let source = of("NewDeploymentBody");
            assert_eq!(source, of("PatchDeploymentBody"), "{field}");
            regex::Regex::new(&source).unwrap()
        };
        type Check = fn(&str) -> Result<(), ApiError>;
        let fields: [(&str, Check, &[char]); 2] = [
            (
                "branch",
                branch_name,
                &['a', 'Z', '0', '_', '-', '.', '/', '\u{e01}', '~', ' '],
            ),
            (
                "path",
                workflow_path,
                &['a', '-', '.', '/', ' ', '\u{a0}', '\u{e01}', '\u{85}'],
            ),
        ];
        for (field, check, alphabet) in fields {
            let pattern = pattern_of(field);
            let mut names = vec![String::new()];
            for _ in 0..5 {
                let longer: Vec<String> = names
                    .iter()
                    .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                    .collect();
                for name in &longer {
                    let server = check(name).is_ok();
                    let schema = pattern.is_match(name) && !name.ends_with(".lock");
                    assert_eq!(
                        server, schema,
                        "{field} {name:?}: server {server}, schema {schema}"
                    );
                }
                names = longer;
            }
        }
    }

    #[test]
    fn branches_and_paths() {
        assert!(branch_name("release/1.2").is_ok());
        for bad in [
            "a..b",
            "-x",
            "x.lock",
            "a b",
            "a:b",
            "a//b",
            "a/",
            ".a",
            "a/.b",
            "\u{e01}\u{e32}",
        ] {
            assert!(branch_name(bad).is_err(), "{bad}");
        }
        assert!(workflow_path("workflows/x").is_ok());
        assert!(workflow_path("../x").is_err());
        assert!(workflow_path("/x").is_err());
    }
}

/// One run in `GET /api/deployments/{id}/runs`: the record without its logs, progress, outputs,
/// input and output (`GET /api/runs/{id}` has them).
#[derive(Debug, Serialize, ToSchema)]
pub struct RunSummary {
    /// The run id.
    pub id: String,
    /// The workflow's `name`.
    pub workflow: String,
    /// The workflow's `version`.
    pub version: String,
    /// `http`, `webhook:<name>`, `cron:<name>` or `queue:<subject>`.
    pub trigger: String,
    /// How it ended.
    pub status: pipedreamer_runs::RunStatus,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds.
    pub ended_at: i64,
    /// `ended_at - started_at`.
    pub duration_ms: i64,
    /// Each node's status, attempts and timing, in workflow order.
    pub nodes: pipedreamer_runs::Nodes,
    /// Why it failed.
    pub error: Option<pipedreamer_runs::RunFailure>,
    /// The run this one replayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay_of: Option<String>,
    /// Whether its input was recorded (`config.record_io: true`), so it can be replayed.
    pub replayable: bool,
}

impl From<pipedreamer_runs::RunRecord> for RunSummary {
    fn from(r: pipedreamer_runs::RunRecord) -> Self {
        RunSummary {
            duration_ms: r.duration_ms(),
            replayable: r.input.is_some(),
            id: r.id,
            workflow: r.workflow,
            version: r.version,
            trigger: r.trigger,
            status: r.status,
            started_at: r.started_at,
            ended_at: r.ended_at,
            nodes: r.nodes,
            error: r.error,
            replay_of: r.replay_of,
        }
    }
}

/// `GET /api/deployments/{id}/runs`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<RunSummary>,
    /// The `before` of the next page; `null` on the last one.
    pub next: Option<String>,
}

/// `GET /api/runs/{id}`: the record exactly as reported, plus the deployment it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// The record.
    #[serde(flatten)]
    pub record: pipedreamer_runs::RunRecord,
    /// The deployment whose engine reported it.
    pub deployment_id: Option<String>,
}

/// `200` of `POST /api/runs/{id}/replay`: the new run, as its engine answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayReply {
    /// The new run's id (its record arrives with the engine's next report).
    pub id: String,
    /// The run replayed.
    pub replay_of: String,
    /// How the new run ended.
    pub status: pipedreamer_runs::RunStatus,
    /// Its output, when it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub output: Option<serde_json::Value>,
    /// Why it failed (`{"node", "message", "kind"}`), when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub error: Option<serde_json::Value>,
}
