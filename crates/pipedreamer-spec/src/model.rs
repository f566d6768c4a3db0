//! The typed workflow: what `workflow.yaml` means once parsed.
//!
//! Positions are kept next to the values that later checks (files, dependencies, cycles, cron)
//! need to point at.

use crate::diagnostic::Pos;
use serde::Serialize;
use std::time::Duration;

/// The file name of a workflow definition inside its directory.
pub const WORKFLOW_FILE: &str = "workflow.yaml";
/// The default per-node timeout.
pub const DEFAULT_NODE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most `retries` a node may have (at most this many attempts after the first).
pub const MAX_RETRIES: u32 = 10;
/// The default wait before a node's second attempt (it doubles for each later one).
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between two attempts of a node, `retry_delay` included.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// The local secrets file `pipedreamer dev` and `validate` read (never shipped in an image).
pub const SECRETS_FILE: &str = ".secrets.yaml";
/// The default per-run memory limit of the JS sandbox.
pub const DEFAULT_MEMORY_LIMIT: u64 = 64 * 1024 * 1024;
/// The smallest `config.memory_limit`. A new realm (QuickJS context, frozen builtins, the host
/// API) is set up under the same limit as the run it serves, so below this every run fails with
/// "cannot create a JS context" (measured with `examples/hello` under `pipedreamer dev`).
pub const MIN_MEMORY_LIMIT: u64 = 4 * 1024 * 1024;
/// The largest `config.memory_limit`: more than any engine container is given, so a bigger
/// value is a typo, and it would let one run take the node's memory.
pub const MAX_MEMORY_LIMIT: u64 = 4 * 1024 * 1024 * 1024;
/// The default limit on request bodies.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// A parsed workflow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workflow {
    /// DNS-1123 label; used for Kubernetes object names.
    pub name: String,
    /// Free-form version string; the image tag replaces dots with dashes.
    pub version: String,
    /// Optional human description.
    pub description: Option<String>,
    /// The DAG's nodes, in file order.
    pub nodes: Vec<NodeSpec>,
    /// Triggers beyond the always-on HTTP one.
    pub triggers: Vec<Trigger>,
    /// Engine and deployment settings.
    pub config: Config,
    /// The `ctx.fetch` policy.
    pub fetch: FetchPolicy,
    /// Where top-level values were written.
    #[serde(skip)]
    pub positions: WorkflowPositions,
}

/// Source positions of top-level values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkflowPositions {
    /// The `name` value.
    pub name: Pos,
    /// The `version` value.
    pub version: Pos,
}

impl Workflow {
    /// The image tag for this version: dots become dashes (`1.0` → `1-0`).
    pub fn image_tag(&self) -> String {
        self.version.replace(['.', '+'], "-")
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The cron triggers, in file order.
    pub fn cron_triggers(&self) -> impl Iterator<Item = &CronTrigger> {
        self.triggers.iter().filter_map(|t| match t {
            Trigger::Cron(c) => Some(c),
            _ => None,
        })
    }
}

/// One node of the DAG: a JS/TS module whose default export is called per run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeSpec {
    /// Unique id, `[a-z0-9_-]`.
    pub id: String,
    /// Module path relative to the workflow directory.
    pub file: String,
    /// Ids of the nodes whose output this node consumes.
    pub depends_on: Vec<String>,
    /// How long one call (one attempt) may take.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Attempts after the first when the node throws or times out (never after it exceeds the
    /// memory limit); 0 to [`MAX_RETRIES`].
    pub retries: u32,
    /// The wait before the second attempt; it doubles for each later one (±20 % jitter, at most
    /// [`MAX_RETRY_DELAY`]).
    #[serde(with = "humantime_serde_compat")]
    pub retry_delay: Duration,
    /// Where the parts of this node were written.
    #[serde(skip)]
    pub pos: NodePositions,
}

/// Source positions of a node's parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodePositions {
    /// The node's `id` value (or the item start when missing).
    pub id: Pos,
    /// The `file` value.
    pub file: Pos,
    /// Each `depends_on` entry.
    pub depends_on: Vec<Pos>,
}

/// A trigger that starts runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Trigger {
    /// A schedule.
    Cron(CronTrigger),
    /// A NATS subject (optionally a JetStream stream).
    Queue(QueueTrigger),
    /// A signed HTTP webhook at `/hooks/<name>`.
    Webhook(WebhookTrigger),
}

/// `type: cron`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CronTrigger {
    /// Optional name; a named trigger's runs receive `{"trigger": "<name>"}`.
    pub name: Option<String>,
    /// Five-field cron expression.
    pub schedule: String,
    /// IANA time zone; UTC when absent.
    pub timezone: Option<String>,
    /// Where the trigger starts.
    #[serde(skip)]
    pub pos: Pos,
}

impl CronTrigger {
    /// The JSON payload a run of this trigger receives.
    pub fn payload(&self) -> serde_json::Value {
        match &self.name {
            Some(name) => serde_json::json!({ "trigger": name }),
            None => serde_json::json!({}),
        }
    }
}

/// `type: queue`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueTrigger {
    /// NATS subject, wildcards allowed.
    pub subject: String,
    /// JetStream stream for at-least-once delivery.
    pub stream: Option<String>,
    /// Durable consumer name (default: the workflow name).
    pub durable: Option<String>,
    /// Where the trigger starts.
    #[serde(skip)]
    pub pos: Pos,
}

/// `type: webhook`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookTrigger {
    /// Path segment: `/hooks/<name>`.
    pub name: String,
    /// Dotted path into the secrets of the HMAC key.
    pub secret: String,
    /// Where `secret` was written (the trigger's start when missing).
    #[serde(skip)]
    pub secret_pos: Pos,
    /// Accepted `X-GitHub-Event` values; empty accepts all.
    pub events: Vec<String>,
    /// Accepted branches (payload `ref`); empty accepts all.
    pub branches: Vec<String>,
    /// Where the trigger starts.
    #[serde(skip)]
    pub pos: Pos,
}

/// `config:`: engine and deployment settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Config {
    /// NATS server for queue triggers (`host:port` or `tls://host:port`).
    pub nats_url: Option<String>,
    /// Per-run memory limit of the sandbox, in bytes.
    pub memory_limit: Option<u64>,
    /// Largest accepted request body, in bytes.
    pub max_body: Option<u64>,
    /// Kubernetes resources for the engine container.
    pub resources: Option<Resources>,
    /// Image the cron jobs use to call the engine.
    pub cron_image: Option<String>,
    /// Whether run records keep the run's input and final output (redacted, size-capped), which
    /// replay needs. Off by default: payloads may hold personal data.
    pub record_io: bool,
    /// Engine pods on Kubernetes (`config.replicas`; `None`: [`DEFAULT_REPLICAS`]).
    pub replicas: Option<u32>,
    /// How Kubernetes replaces the pods on a new version (`config.strategy`).
    pub strategy: Strategy,
}

/// Engine replicas when `config.replicas` is not set.
pub const DEFAULT_REPLICAS: u32 = 1;
/// The most `config.replicas` accepts (a typo guard, not a scaling limit of the engine).
pub const MAX_REPLICAS: u32 = 100;

/// `config.strategy`: how a new version replaces the running pods (the Deployment's
/// `spec.strategy.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Strategy {
    /// New pods start before old ones stop, so two versions briefly run side by side (the
    /// Kubernetes default).
    #[default]
    RollingUpdate,
    /// Every old pod stops before a new one starts: a single writer never runs twice, at the cost
    /// of a short gap. Requires `config.replicas: 1`.
    Recreate,
}

impl Strategy {
    /// The value as written in workflow.yaml and in the Deployment.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RollingUpdate => "RollingUpdate",
            Strategy::Recreate => "Recreate",
        }
    }
}

impl Config {
    /// The effective per-run memory limit.
    pub fn memory_limit_bytes(&self) -> u64 {
        self.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT)
    }

    /// The effective request body limit.
    pub fn max_body_bytes(&self) -> u64 {
        self.max_body.unwrap_or(DEFAULT_MAX_BODY)
    }

    /// The effective number of engine replicas.
    pub fn replica_count(&self) -> u32 {
        self.replicas.unwrap_or(DEFAULT_REPLICAS)
    }
}

/// Kubernetes resource requests and limits (quantities kept as written).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Resources {
    /// `requests:`.
    pub requests: ResourceAmounts,
    /// `limits:`.
    pub limits: ResourceAmounts,
}

/// Memory and CPU quantities.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ResourceAmounts {
    /// e.g. `64Mi`.
    pub memory: Option<String>,
    /// e.g. `100m`.
    pub cpu: Option<String>,
}

/// `fetch:`: what `ctx.fetch` may reach and which credentials it adds.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FetchPolicy {
    /// Allowed host patterns (`example.com`, `*.example.com`); `None` allows every host.
    pub allow: Option<Vec<String>>,
    /// Credentials injected for matching hosts.
    pub auth: Vec<FetchAuth>,
}

/// One credential rule. A credential is bound to an origin: scheme, host and port. It is sent
/// over HTTPS to the rule's port (443 unless `host` says `host:port`), and over plain HTTP only
/// when `allow_http` is set (then to port 80 unless given).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FetchAuth {
    /// Host pattern the credential is sent to (`api.github.com`, `*.example.com`), without port.
    pub host: String,
    /// The port, when `host` named one (`127.0.0.1:18091`); else the scheme's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Dotted path into the secrets.
    pub secret: String,
    /// How the credential is sent.
    pub scheme: AuthScheme,
    /// Whether the credential may travel over plain `http://` (local mocks, in-cluster services).
    pub allow_http: bool,
}

impl FetchAuth {
    /// Whether this rule's credential may be sent to `scheme://host:port`.
    pub fn applies_to(&self, scheme: &str, host: &str, port: u16) -> bool {
        let default_port = match scheme {
            "https" => 443,
            "http" if self.allow_http => 80,
            _ => return false,
        };
        host_matches(&self.host, host) && port == self.port.unwrap_or(default_port)
    }

    /// Whether this rule names `host` at all (any scheme or port): a request there that the
    /// rule does not apply to is a mistake worth a clear error, not a silent 401.
    pub fn names_host(&self, host: &str) -> bool {
        host_matches(&self.host, host)
    }

    /// `host` or `host:port`, as written in workflow.yaml.
    pub fn origin_text(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// How a credential is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthScheme {
    /// `Authorization: Bearer <secret>`.
    Bearer,
    /// `Authorization: Basic base64(<secret>)`, the secret being `user:password`.
    Basic,
    /// `<Name>: <secret>`.
    Header(String),
}

/// Whether `host` matches a policy pattern (`example.com` or `*.example.com`).
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let pattern = pattern.to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.len() > suffix.len() && host.ends_with(&format!(".{suffix}")),
        None => host == pattern,
    }
}

mod humantime_serde_compat {
    use serde::Serializer;
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_hosts_match_subdomains_only() {
        assert!(host_matches("*.slack.com", "hooks.slack.com"));
        assert!(!host_matches("*.slack.com", "slack.com"));
        assert!(!host_matches("*.slack.com", "evilslack.com"));
        assert!(host_matches("api.github.com", "API.github.com."));
        assert!(!host_matches("api.github.com", "api.github.com.evil.io"));
    }
}
