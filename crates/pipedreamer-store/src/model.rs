//! The records the store keeps and the words their enums are stored as.
//!
//! Times are unix milliseconds (`i64`), ids are UUIDv7 text (time-ordered), enums are stored
//! as the same words serde uses, so a row read with `psql` or `sqlite3` reads like the API.

use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Declares a text-stored enum: serde words, `as_str`, `FromStr` (an error naming the column)
/// and `Display`, from one list of `Variant => "word"` pairs.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $column:literal, $case:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $word:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = $case)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the database and used in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = StoreError;

            fn from_str(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt {
                        column: $column,
                        value: other.to_owned(),
                        reason: format!(
                            "expected one of {}",
                            [$($word),+].map(|w| format!("`{w}`")).join(", ")
                        ),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Where a build is in its life. Only `Pending` and `Building` are open; the database keeps
    /// at most one of each per deployment.
    BuildStatus, "builds.status", "SCREAMING_SNAKE_CASE" {
        /// Queued, waiting for a worker.
        Pending => "PENDING",
        /// A worker holds its lease and runs it.
        Building => "BUILDING",
        /// Built and deployed.
        Success => "SUCCESS",
        /// Ended with an error (`error_message` says which).
        Failed => "FAILED",
        /// Cancelled by a user or superseded by a newer request.
        Cancelled => "CANCELLED",
    }
}

impl BuildStatus {
    /// True for `Success`, `Failed` and `Cancelled`: the build will not change again.
    pub fn is_finished(self) -> bool {
        !matches!(self, BuildStatus::Pending | BuildStatus::Building)
    }
}

stored_enum! {
    /// What a deployment is doing.
    DeploymentStatus, "deployments.status", "SCREAMING_SNAKE_CASE" {
        /// Nothing deployed (new, or stopped).
        Stopped => "STOPPED",
        /// A build is being rolled out.
        Deploying => "DEPLOYING",
        /// The current build serves.
        Running => "RUNNING",
        /// The last rollout failed.
        Failed => "FAILED",
    }
}

stored_enum! {
    /// Who asked for a build.
    Trigger, "builds.triggered_by", "lowercase" {
        /// A user through the API.
        Manual => "manual",
        /// A GitHub push webhook.
        Webhook => "webhook",
        /// The server itself (e.g. a rebuild after a change).
        Auto => "auto",
    }
}

stored_enum! {
    /// What an API token may do.
    Scope, "api_tokens.scope", "lowercase" {
        /// Read everything except secrets.
        Read => "read",
        /// Read, plus start, stop and cancel builds.
        Deploy => "deploy",
        /// Everything, including webhook secrets and tokens.
        Admin => "admin",
        /// Report runs of one deployment (bound through `deployment_id`).
        Report => "report",
    }
}

/// Where a deployment runs. JSON: `{"type": "local"}` or `{"type": "kubernetes", "namespace":
/// …, "context": …, "registry": …, "cluster_registry": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    /// A hardened container on the server's host (podman or docker).
    Local,
    /// A Kubernetes cluster through the kube crate's server-side apply.
    Kubernetes {
        /// Namespace to apply into (the kubeconfig's default when absent).
        #[serde(default)]
        namespace: Option<String>,
        /// kubeconfig context (the current one when absent).
        #[serde(default)]
        context: Option<String>,
        /// Registry to push the image to (the server's `registry` when absent).
        #[serde(default)]
        registry: Option<String>,
        /// The registry as the cluster's nodes reach it, when that differs.
        #[serde(default)]
        cluster_registry: Option<String>,
    },
}

impl Target {
    /// `local` or `kubernetes`: the part of a target that never changes after creation.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Kubernetes { .. } => "kubernetes",
        }
    }
}

/// A team's space: deployment names are unique inside one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    /// UUIDv7.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A workflow in a git repository that the server builds and runs.
///
/// `webhook_secret` is skipped when serialized: only an admin may see it, so an API response
/// adds it explicitly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// UUIDv7.
    pub id: String,
    /// The workspace it belongs to.
    pub workspace_id: String,
    /// DNS label, unique in the workspace, immutable.
    pub name: String,
    /// Free text (empty when none).
    pub description: String,
    /// Git repository URL.
    pub repo: String,
    /// Branch that is built.
    pub branch: String,
    /// Directory of the workflow inside the repository.
    pub path: String,
    /// Where it runs; its type is immutable.
    pub target: Target,
    /// Whether webhook pushes build it.
    pub auto_rebuild: bool,
    /// Subdomain for routing; unique across all deployments.
    pub subdomain: Option<String>,
    /// HMAC key of its GitHub webhook (admins only).
    #[serde(skip_serializing, default)]
    pub webhook_secret: String,
    /// What it is doing.
    pub status: DeploymentStatus,
    /// The build that is deployed (or being deployed).
    pub current_build_id: Option<String>,
    /// Host port of a `local` target, kept across redeploys; unique across deployments.
    pub local_port: Option<u16>,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds.
    pub updated_at: i64,
}

/// What `create_deployment` needs. Status starts `STOPPED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    /// An existing workspace's id.
    pub workspace_id: String,
    /// DNS label (validated by the API).
    pub name: String,
    /// Free text (may be empty).
    pub description: String,
    /// Git repository URL.
    pub repo: String,
    /// Branch to build.
    pub branch: String,
    /// Directory of the workflow in the repository.
    pub path: String,
    /// Where it runs.
    pub target: Target,
    /// Whether webhook pushes build it.
    pub auto_rebuild: bool,
    /// Optional subdomain.
    pub subdomain: Option<String>,
    /// HMAC key for its webhook (generated by the server).
    pub webhook_secret: String,
}

/// The fields a PATCH may change; `None` leaves a field as it is. `subdomain: Some(None)`
/// removes the subdomain. `target` must keep its type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentPatch {
    /// New description.
    pub description: Option<String>,
    /// New repository URL.
    pub repo: Option<String>,
    /// New branch.
    pub branch: Option<String>,
    /// New workflow path.
    pub path: Option<String>,
    /// New target settings (same type only).
    pub target: Option<Target>,
    /// New auto-rebuild flag.
    pub auto_rebuild: Option<bool>,
    /// New subdomain (`Some(None)` clears it).
    pub subdomain: Option<Option<String>>,
}

/// One build of a deployment: a row of the queue and of the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// UUIDv7.
    pub id: String,
    /// The deployment it builds.
    pub deployment_id: String,
    /// Where it is in its life.
    pub status: BuildStatus,
    /// The commit requested (a webhook's `after`) or fetched.
    pub commit_hash: Option<String>,
    /// The commit's full message.
    pub commit_message: Option<String>,
    /// The branch built.
    pub branch: String,
    /// Who asked for it.
    pub triggered_by: Trigger,
    /// GitHub's `X-GitHub-Delivery`, unique across builds.
    pub delivery_id: Option<String>,
    /// The image reference it produced.
    pub image: Option<String>,
    /// The image's manifest digest.
    pub image_digest: Option<String>,
    /// Why it failed or was cancelled.
    pub error_message: Option<String>,
    /// A user asked to cancel it while it was building.
    pub cancel_requested: bool,
    /// Unix milliseconds.
    pub created_at: i64,
    /// When a worker claimed it.
    pub started_at: Option<i64>,
    /// When it finished.
    pub completed_at: Option<i64>,
}

/// What `enqueue_build` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBuild {
    /// The commit to build (`None`: the branch head at fetch time).
    pub commit_hash: Option<String>,
    /// Its message, when known (webhooks carry it).
    pub commit_message: Option<String>,
    /// The branch.
    pub branch: String,
    /// Who asks.
    pub triggered_by: Trigger,
    /// GitHub's delivery id, for deduplication.
    pub delivery_id: Option<String>,
}

/// What `enqueue_build` did.
// Returned once per request and matched at once: boxing the build buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// A new `PENDING` build (a still-pending older one was cancelled).
    Created(Build),
    /// The delivery id was seen before: the id of the build it made.
    Duplicate(String),
}

/// How a worker ends its build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    /// `Success`, `Failed` or `Cancelled`.
    pub status: BuildStatus,
    /// The image reference, when one was built.
    pub image: Option<String>,
    /// The image's digest.
    pub image_digest: Option<String>,
    /// Why it failed or was cancelled.
    pub error_message: Option<String>,
}

/// What a lease renewal found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseState {
    /// Still ours; renewed.
    Held,
    /// Still ours and renewed, but a user asked to cancel: stop the running phase.
    Cancelled,
    /// Not ours anymore (expired and failed by a reaper, or not `BUILDING`): stop, write nothing.
    Lost,
}

/// One appended piece of a build's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogChunk {
    /// 1, 2, 3… per build.
    pub seq: i64,
    /// The text (one or more lines).
    pub text: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// An API token as the store keeps it: never the token, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// The JWT's id (`jti`).
    pub id: String,
    /// What it may do.
    pub scope: Scope,
    /// The deployment a `report` token is bound to.
    pub deployment_id: Option<String>,
    /// Lower-case hex SHA-256 of the token text (see [`crate::token_hash`]).
    pub token_hash: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Revoked tokens are refused.
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_and_write_the_api_shape() {
        assert_eq!(
            serde_json::to_string(&Target::Local).unwrap(),
            r#"{"type":"local"}"#
        );
        let kube: Target =
            serde_json::from_str(r#"{"type": "kubernetes", "namespace": "apps"}"#).unwrap();
        assert_eq!(
            kube,
            Target::Kubernetes {
                namespace: Some("apps".into()),
                context: None,
                registry: None,
                cluster_registry: None
            }
        );
        let err = serde_json::from_str::<Target>(r#"{"type": "kubernetes", "namspace": "x"}"#)
            .unwrap_err();
        assert!(err.to_string().contains("namspace"), "{err}");
        assert!(serde_json::from_str::<Target>(r#"{"type": "lambda"}"#).is_err());
    }

    #[test]
    fn enums_use_their_stored_words() {
        assert_eq!(
            serde_json::to_string(&BuildStatus::Pending).unwrap(),
            r#""PENDING""#
        );
        assert_eq!(
            serde_json::to_string(&Trigger::Webhook).unwrap(),
            r#""webhook""#
        );
        assert_eq!(
            serde_json::to_string(&Scope::Report).unwrap(),
            r#""report""#
        );
        assert_eq!(
            serde_json::to_string(&DeploymentStatus::Running).unwrap(),
            r#""RUNNING""#
        );
        for s in BuildStatus::ALL {
            assert_eq!(s.as_str().parse::<BuildStatus>().unwrap(), *s);
        }
        let err = "DONE".parse::<BuildStatus>().unwrap_err().to_string();
        assert!(err.contains("builds.status `DONE`"), "{err}");
        assert!(err.contains("`PENDING`"), "{err}");
    }
}
