//! The control plane's own objects: what runs `pipedreamer server` inside a cluster.
//!
//! Two shapes, picked by the database:
//! - **SQLite** (the default): one replica, `strategy: Recreate` (two pods must never open the
//!   same database file) and a PersistentVolumeClaim for the data directory, which also keeps the
//!   generated JWT secret and the first admin token.
//! - **PostgreSQL**: N stateless replicas (default 2) rolled with `RollingUpdate`; the data
//!   directory is an `emptyDir` (build work and layer cache only). Every replica must verify the
//!   same tokens, so `auth.jwt_secret` is required (the server refuses PostgreSQL without it).
//!
//! The pods are hardened like the workflow Deployments ([`crate::manifests`]'s security
//! contexts); unlike them, they mount their ServiceAccount token, because the server talks to
//! the API. That ServiceAccount gets a Role and RoleBinding in the server's namespace and in
//! each workspace namespace with exactly [`SERVER_PERMISSIONS`], never a ClusterRole. The
//! configuration file (database URL with its password, JWT secret) lives only in the Secret
//! [`CONFIG_SECRET`], mounted as a file and passed with `--config`; nothing else carries it.
//!
//! Pure: the options in, typed objects out, so `-o yaml`, `-o json` and `--output-dir` print the
//! same thing. [`generate_jwt_secret`] is the one function that touches the system (its
//! random number generator).

use crate::labels;
use crate::manifests::{hardened_container, hardened_pod};
use crate::manifests::{probe, quantity, to_value};
use crate::route::CLUSTER_ISSUER_ANNOTATION;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, Namespace, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, Secret, SecretVolumeSource, Service, ServiceAccount, ServicePort,
    ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The namespace the control plane runs in unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "pipedreamer";
/// The name of the Deployment, Service, ServiceAccount and Ingress.
pub const NAME: &str = "pipedreamer";
/// The `app.kubernetes.io/component` of every control-plane object.
pub const COMPONENT: &str = "control-plane";
/// The Role and RoleBinding, in the server's namespace and in each workspace namespace.
pub const ROLE: &str = "pipedreamer-server";
/// The Secret holding the configuration file.
pub const CONFIG_SECRET: &str = "pipedreamer-config";
/// The key (and file name) of the configuration file in [`CONFIG_SECRET`].
pub const CONFIG_KEY: &str = "config.yaml";
/// Where the configuration file is mounted.
pub const CONFIG_DIR: &str = "/etc/pipedreamer";
/// The data directory in the pod.
pub const DATA_DIR: &str = "/var/lib/pipedreamer";
/// The PersistentVolumeClaim of the data directory (SQLite only).
pub const DATA_CLAIM: &str = "pipedreamer-data";
/// The port the server listens on (its own default).
pub const SERVER_PORT: i32 = 7070;
/// Replicas with PostgreSQL unless told otherwise.
pub const DEFAULT_POSTGRES_REPLICAS: u32 = 2;
/// The size of the SQLite data volume unless told otherwise.
pub const DEFAULT_STORAGE: &str = "1Gi";
/// The pod-template annotation whose change (a new configuration) rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "pipedreamer.dev/config-hash";

/// What the server does in a namespace it deploys to, as `(apiGroup, resource, verbs)`, and
/// nothing more. Each line names its callers, so a new API call shows up here in review:
/// - deployments: `get` (rollout wait), `patch` (server-side apply), `delete` (undeploy);
/// - services: `patch` (apply), `delete` (undeploy);
/// - secrets: `patch` (`deploy::apply_secret`), `delete` (undeploy) — no `get`/`list`, so the
///   server cannot read other Secrets of a workspace;
/// - cronjobs: `list` + `delete` (pruning stale triggers, undeploy), `patch` (apply);
/// - pods, events: `list` (why a rollout is stuck);
/// - ingresses, httproutes: `patch` (apply a route), `list` + `delete` (prune a removed host);
/// - networkpolicies, ciliumnetworkpolicies: `patch` (apply the workflow's policy), `list` +
///   `delete` (prune one the egress policy no longer renders, undeploy).
///
/// Server-side apply creates through `patch`, so there is no `create`; the rollout wait polls,
/// so there is no `watch`.
pub const SERVER_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    ("apps", "deployments", &["get", "patch", "delete"]),
    ("", "services", &["patch", "delete"]),
    ("", "secrets", &["patch", "delete"]),
    ("batch", "cronjobs", &["list", "patch", "delete"]),
    ("", "pods", &["list"]),
    ("", "events", &["list"]),
    (
        "networking.k8s.io",
        "ingresses",
        &["list", "patch", "delete"],
    ),
    (
        "gateway.networking.k8s.io",
        "httproutes",
        &["list", "patch", "delete"],
    ),
    (
        "networking.k8s.io",
        "networkpolicies",
        &["list", "patch", "delete"],
    ),
    (
        "cilium.io",
        "ciliumnetworkpolicies",
        &["list", "patch", "delete"],
    ),
];

/// Where the control plane keeps its state.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// SQLite in the data directory, on a PersistentVolumeClaim.
    Sqlite {
        /// The claim's size, e.g. `1Gi`.
        storage: String,
        /// The claim's StorageClass (`None`: the cluster's default).
        storage_class: Option<String>,
    },
    /// A PostgreSQL server; several replicas share it.
    Postgres {
        /// `postgres://user:password@host:5432/db` (it holds a password: it goes only into the
        /// Secret).
        url: String,
        /// `auth.jwt_secret`, at least 32 characters (see [`generate_jwt_secret`]).
        jwt_secret: String,
    },
}

// By hand: the URL's password and the JWT secret never reach a log line through `{:?}`.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite {
                storage,
                storage_class,
            } => f
                .debug_struct("Sqlite")
                .field("storage", storage)
                .field("storage_class", storage_class)
                .finish(),
            Database::Postgres { .. } => f.write_str("Postgres { url: ***, jwt_secret: *** }"),
        }
    }
}

impl Default for Database {
    fn default() -> Self {
        Database::Sqlite {
            storage: DEFAULT_STORAGE.to_owned(),
            storage_class: None,
        }
    }
}

/// The public address of the API, its webhooks and the dashboard: an Ingress for `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRoute {
    /// A DNS name, e.g. `pipedreamer.example.com`.
    pub host: String,
    /// `ingressClassName` (`None`: the cluster's default IngressClass).
    pub ingress_class: Option<String>,
    /// A cert-manager ClusterIssuer: TLS with secret `pipedreamer-tls` and the annotation
    /// [`CLUSTER_ISSUER_ANNOTATION`].
    pub tls_issuer: Option<String>,
}

impl ApiRoute {
    /// `https://host` with TLS, else `http://host`: the server's `public_url`.
    pub fn url(&self) -> String {
        let scheme = if self.tls_issuer.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.host)
    }
}

/// What `pipedreamer server manifests` renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneOptions {
    /// The namespace the server runs in (default [`DEFAULT_NAMESPACE`]).
    pub namespace: String,
    /// The server image (`pipedreamer server image` builds it).
    pub image: String,
    /// SQLite or PostgreSQL.
    pub database: Database,
    /// Pods; `None`: 1 with SQLite, [`DEFAULT_POSTGRES_REPLICAS`] with PostgreSQL.
    pub replicas: Option<u32>,
    /// Namespaces besides its own the server deploys workflows to.
    pub workspace_namespaces: Vec<String>,
    /// The public address of the API, its webhooks and the dashboard.
    pub route: Option<ApiRoute>,
    /// `public_url` when it is not the route's URL (e.g. another load balancer in front).
    pub public_url: Option<String>,
}

impl ControlPlaneOptions {
    /// Options with the defaults: namespace [`DEFAULT_NAMESPACE`], SQLite, no workspaces, no
    /// route.
    pub fn new(image: impl Into<String>) -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            image: image.into(),
            database: Database::default(),
            replicas: None,
            workspace_namespaces: Vec::new(),
            route: None,
            public_url: None,
        }
    }
}

/// Options that cannot make a working control plane; each names the flag and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlPlaneError {
    /// A namespace Kubernetes would refuse.
    #[error(
        "{flag} {value:?} is not a valid namespace name\nhint: use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
    )]
    Namespace {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// A workspace namespace given twice, or the server's own (which it always gets).
    #[error(
        "--workspace-namespace {0:?} is given twice or is the server's own namespace\nhint: the server may always deploy to its own namespace; name each other namespace once"
    )]
    DuplicateNamespace(String),
    /// `--database` is neither empty nor a PostgreSQL URL.
    #[error(
        "--database must be a `postgres://` URL (without it the server uses SQLite on a volume)\nhint: e.g. `--database postgres://pipedreamer:PASSWORD@postgres.db.svc:5432/pipedreamer`"
    )]
    DatabaseUrl,
    /// A PostgreSQL URL without a host.
    #[error(
        "--database has no host after `postgres://`\nhint: name the PostgreSQL server as the pods reach it, e.g. `postgres://user:password@postgres.db.svc:5432/pipedreamer`"
    )]
    DatabaseHost,
    /// More than one replica on SQLite.
    #[error(
        "--replicas {0} needs PostgreSQL: SQLite is one file on one volume, served by exactly one pod\nhint: drop --replicas, or pass --database postgres://… for several replicas"
    )]
    SqliteReplicas(u32),
    /// Zero replicas.
    #[error("--replicas must be at least 1\nhint: scale to zero with `kubectl scale` instead")]
    ZeroReplicas,
    /// A JWT secret too short to be safe.
    #[error(
        "auth.jwt_secret must be at least 32 characters (it has {0})\nhint: e.g. the output of `openssl rand -hex 32`, or leave it unset to generate one"
    )]
    JwtSecret(usize),
    /// An image reference with spaces or nothing in it.
    #[error("--image {0:?} is not an image reference\nhint: e.g. `ghcr.io/acme/pipedreamer:0.1.0`")]
    Image(String),
    /// A host or IngressClass/ClusterIssuer name the Ingress cannot carry (the same rules as a
    /// workflow's route).
    #[error(transparent)]
    Route(#[from] crate::route::RouteError),
    /// A StorageClass name Kubernetes would refuse.
    #[error(
        "{flag} {value:?} is not a valid Kubernetes name\nhint: use lowercase letters, digits, '-' and '.', e.g. `nginx` or `letsencrypt-prod`"
    )]
    Name {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// `--ingress-class` or `--tls-issuer` without `--host`.
    #[error(
        "{0} needs --host: it configures the Ingress, which only exists for a host\nhint: add `--host pipedreamer.example.com`"
    )]
    RouteWithoutHost(&'static str),
    /// A public URL that is not http(s).
    #[error(
        "--public-url {0:?} is not an http(s) URL\nhint: the address GitHub reaches the server at, e.g. `https://pipedreamer.example.com`"
    )]
    PublicUrl(String),
    /// The operating system's random number generator failed.
    #[error("cannot generate auth.jwt_secret: {0}")]
    Random(String),
}

/// A DNS-1123 label: namespaces.
fn valid_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: StorageClass names.
fn valid_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(valid_label)
}

/// Checks the options; [`render`] calls it first.
pub fn validate(options: &ControlPlaneOptions) -> Result<(), ControlPlaneError> {
    if !valid_label(&options.namespace) {
        return Err(ControlPlaneError::Namespace {
            flag: "--namespace",
            value: options.namespace.clone(),
        });
    }
    let mut seen = vec![options.namespace.as_str()];
    for ns in &options.workspace_namespaces {
        if !valid_label(ns) {
            return Err(ControlPlaneError::Namespace {
                flag: "--workspace-namespace",
                value: ns.clone(),
            });
        }
        if seen.contains(&ns.as_str()) {
            return Err(ControlPlaneError::DuplicateNamespace(ns.clone()));
        }
        seen.push(ns);
    }
    if options.image.trim().is_empty() || options.image.contains(char::is_whitespace) {
        return Err(ControlPlaneError::Image(options.image.clone()));
    }
    if options.replicas == Some(0) {
        return Err(ControlPlaneError::ZeroReplicas);
    }
    match &options.database {
        Database::Sqlite { storage_class, .. } => {
            if let Some(n) = options.replicas.filter(|n| *n > 1) {
                return Err(ControlPlaneError::SqliteReplicas(n));
            }
            if let Some(class) = storage_class.as_ref().filter(|c| !valid_subdomain(c)) {
                return Err(ControlPlaneError::Name {
                    flag: "--storage-class",
                    value: class.clone(),
                });
            }
        }
        Database::Postgres { url, jwt_secret } => {
            let Some(rest) = url
                .strip_prefix("postgres://")
                .or_else(|| url.strip_prefix("postgresql://"))
            else {
                return Err(ControlPlaneError::DatabaseUrl);
            };
            let authority = rest.split(['/', '?']).next().unwrap_or_default();
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if host.is_empty() || host.starts_with(':') {
                return Err(ControlPlaneError::DatabaseHost);
            }
            if jwt_secret.len() < 32 {
                return Err(ControlPlaneError::JwtSecret(jwt_secret.len()));
            }
        }
    }
    if let Some(route) = &options.route {
        crate::route::validate_host("--host", &route.host)?;
        if let Some(class) = &route.ingress_class {
            crate::route::validate_name("--ingress-class", class)?;
        }
        if let Some(issuer) = &route.tls_issuer {
            crate::route::validate_name("--tls-issuer", issuer)?;
        }
    }
    if let Some(url) = &options.public_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(ControlPlaneError::PublicUrl(url.clone()));
    }
    Ok(())
}

/// 32 random bytes as 64 hex characters, for `auth.jwt_secret`, from the kernel's CSPRNG.
pub fn generate_jwt_secret() -> Result<String, ControlPlaneError> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| ControlPlaneError::Random(e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// The control plane's objects, in apply order.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// The server's namespace.
    pub namespace: Namespace,
    /// The identity the pods run as.
    pub service_account: ServiceAccount,
    /// The configuration file (database URL, JWT secret): the only object holding secrets.
    pub config: Secret,
    /// One per namespace: the server's own, then each workspace namespace.
    pub roles: Vec<Role>,
    /// One per Role, binding it to [`ControlPlane::service_account`].
    pub role_bindings: Vec<RoleBinding>,
    /// The data directory's volume (SQLite only).
    pub data: Option<PersistentVolumeClaim>,
    /// The server.
    pub deployment: Deployment,
    /// The ClusterIP Service in front of it.
    pub service: Service,
    /// The public route of the API, webhooks and dashboard (with a host).
    pub ingress: Option<Ingress>,
}

impl ControlPlane {
    /// Every object as JSON, in apply order.
    pub fn objects(&self) -> Vec<serde_json::Value> {
        let mut all = vec![
            to_value(&self.namespace),
            to_value(&self.service_account),
            to_value(&self.config),
        ];
        all.extend(self.roles.iter().map(to_value));
        all.extend(self.role_bindings.iter().map(to_value));
        all.extend(self.data.iter().map(to_value));
        all.push(to_value(&self.deployment));
        all.push(to_value(&self.service));
        all.extend(self.ingress.iter().map(to_value));
        all
    }

    /// The objects as a multi-document YAML stream.
    pub fn to_yaml(&self) -> String {
        crate::yaml::stream(&self.objects())
    }

    /// The objects as a `v1/List`, the JSON form `kubectl apply -f` accepts.
    pub fn to_json(&self) -> String {
        crate::yaml::json_list(self.objects())
    }

    /// The files of a kustomize base (`kubectl apply -k DIR`): `kustomization.yaml` plus one
    /// file per object, named `<namespace>-<kind>-<name>.yaml` (Roles of several namespaces
    /// share a name). The kustomization sets no `namespace:`, which would move the workspace
    /// namespaces' Roles into the server's.
    pub fn files(&self) -> Vec<OutputFile> {
        let mut files: Vec<OutputFile> = self
            .objects()
            .iter()
            .map(|object| {
                let kind = object["kind"].as_str().unwrap_or("object").to_lowercase();
                let name = object["metadata"]["name"].as_str().unwrap_or("unnamed");
                let file = match object["metadata"]["namespace"].as_str() {
                    Some(ns) => format!("{ns}-{kind}-{name}.yaml"),
                    None => format!("{kind}-{name}.yaml"),
                };
                OutputFile {
                    secret: kind == "secret",
                    name: file,
                    text: crate::yaml::to_string(object),
                }
            })
            .collect();
        let kustomization = json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": files.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        });
        files.insert(
            0,
            OutputFile {
                name: "kustomization.yaml".to_owned(),
                text: crate::yaml::to_string(&kustomization),
                secret: false,
            },
        );
        files
    }
}

/// One file of [`ControlPlane::files`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// The file name.
    pub name: String,
    /// YAML.
    pub text: String,
    /// Holds secrets: write it readable by the owner only.
    pub secret: bool,
}

/// Labels on every control-plane object (and its pods).
pub fn object_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), NAME.to_owned()),
        (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
        (labels::COMPONENT.to_owned(), COMPONENT.to_owned()),
        (
            labels::VERSION.to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
    ])
}

/// The Deployment's and Service's selector. `component` keeps it apart from a workflow that
/// happens to be named `pipedreamer` in the same namespace (its selector is only the name).
fn selector() -> BTreeMap<String, String> {
    BTreeMap::from([
        (labels::NAME.to_owned(), NAME.to_owned()),
        (labels::COMPONENT.to_owned(), COMPONENT.to_owned()),
    ])
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(object_labels()),
        ..ObjectMeta::default()
    }
}

/// The server's configuration file: the keys `pipedreamer-server`'s config reads. The data
/// directory is the mounted volume; the server listens on every address of the pod.
pub fn config_file(options: &ControlPlaneOptions) -> String {
    let mut config = serde_json::Map::new();
    config.insert("data_dir".into(), json!(DATA_DIR));
    config.insert("host".into(), json!("0.0.0.0"));
    config.insert("port".into(), json!(SERVER_PORT));
    let public_url = options
        .public_url
        .clone()
        .or_else(|| options.route.as_ref().map(ApiRoute::url));
    if let Some(url) = public_url {
        config.insert("public_url".into(), json!(url));
    }
    if let Database::Postgres { url, jwt_secret } = &options.database {
        config.insert("database".into(), json!(url));
        config.insert("auth".into(), json!({ "jwt_secret": jwt_secret }));
    }
    crate::yaml::to_string(&serde_json::Value::Object(config))
}

/// Renders the control plane, after [`validate`].
pub fn render(options: &ControlPlaneOptions) -> Result<ControlPlane, ControlPlaneError> {
    validate(options)?;
    let ns = options.namespace.as_str();
    let config = config_file(options);
    let namespaces: Vec<&str> = std::iter::once(ns)
        .chain(options.workspace_namespaces.iter().map(String::as_str))
        .collect();
    Ok(ControlPlane {
        namespace: Namespace {
            metadata: ObjectMeta {
                name: Some(ns.to_owned()),
                labels: Some(object_labels()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        },
        service_account: ServiceAccount {
            metadata: meta(NAME, ns),
            ..ServiceAccount::default()
        },
        config: Secret {
            metadata: meta(CONFIG_SECRET, ns),
            type_: Some("Opaque".to_owned()),
            string_data: Some(BTreeMap::from([(CONFIG_KEY.to_owned(), config.clone())])),
            ..Secret::default()
        },
        roles: namespaces.iter().map(|n| server_role(n)).collect(),
        role_bindings: namespaces.iter().map(|n| role_binding(n, ns)).collect(),
        data: match &options.database {
            Database::Sqlite {
                storage,
                storage_class,
            } => Some(data_claim(ns, storage, storage_class.as_deref())),
            Database::Postgres { .. } => None,
        },
        deployment: deployment(options, &config),
        service: service(ns),
        ingress: options.route.as_ref().map(|r| ingress(ns, r)),
    })
}

/// The Role in `namespace`: exactly [`SERVER_PERMISSIONS`].
pub fn server_role(namespace: &str) -> Role {
    Role {
        metadata: meta(ROLE, namespace),
        rules: Some(crate::preflight::policy_rules(SERVER_PERMISSIONS)),
    }
}

fn role_binding(namespace: &str, server_namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(ROLE, namespace),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: ROLE.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: NAME.to_owned(),
            namespace: Some(server_namespace.to_owned()),
            ..Subject::default()
        }]),
    }
}

fn data_claim(namespace: &str, storage: &str, class: Option<&str>) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: meta(DATA_CLAIM, namespace),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
            storage_class_name: class.map(str::to_owned),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), quantity(storage))])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn deployment(options: &ControlPlaneOptions, config: &str) -> Deployment {
    let ns = options.namespace.as_str();
    let (replicas, strategy, data) = match &options.database {
        // Recreate: the old pod lets go of the volume and the database before the new one starts.
        Database::Sqlite { .. } => (
            1,
            DeploymentStrategy {
                type_: Some("Recreate".to_owned()),
                ..DeploymentStrategy::default()
            },
            Volume {
                name: "data".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: DATA_CLAIM.to_owned(),
                    ..PersistentVolumeClaimVolumeSource::default()
                }),
                ..Volume::default()
            },
        ),
        // Replicas share the database (the lease-based queue makes that safe); the data
        // directory is only build work and layer cache, so each pod has its own.
        Database::Postgres { .. } => (
            options.replicas.unwrap_or(DEFAULT_POSTGRES_REPLICAS),
            DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_unavailable: Some(IntOrString::Int(0)),
                    max_surge: Some(IntOrString::Int(1)),
                }),
            },
            Volume {
                name: "data".to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            },
        ),
    };
    let server = Container {
        name: "server".to_owned(),
        image: Some(options.image.clone()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        // The image's entrypoint is `pipedreamer server`; in a cluster logs go to a collector.
        args: Some(vec![
            "--config".to_owned(),
            format!("{CONFIG_DIR}/{CONFIG_KEY}"),
            "--log-format".to_owned(),
            "json".to_owned(),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("http".to_owned()),
            container_port: SERVER_PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("100m")),
                ("memory".to_owned(), quantity("128Mi")),
            ])),
            // Builds compress images of tens of MiB, `builds.concurrency` (2) at a time.
            limits: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("2")),
                ("memory".to_owned(), quantity("1Gi")),
            ])),
            ..ResourceRequirements::default()
        }),
        readiness_probe: Some(probe("/readyz", 5)),
        liveness_probe: Some(probe("/healthz", 10)),
        security_context: Some(hardened_container()),
        volume_mounts: Some(vec![
            mount("config", CONFIG_DIR, true),
            mount("data", DATA_DIR, false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    };
    let mut template_labels = object_labels();
    template_labels.extend(selector());
    // A changed configuration (new database, new secret) rolls the pods: the Secret's file
    // alone would change under running servers that read it only at start.
    let config_hash = hex::encode(Sha256::digest(config.as_bytes()));
    Deployment {
        metadata: meta(NAME, ns),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas as i32),
            strategy: Some(strategy),
            selector: LabelSelector {
                match_labels: Some(selector()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(template_labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash,
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.to_owned()),
                    // The one pod of ours that talks to the API: it needs its token.
                    automount_service_account_token: Some(true),
                    enable_service_links: Some(false),
                    // The server drains builds on SIGTERM before it exits.
                    termination_grace_period_seconds: Some(60),
                    security_context: Some(hardened_pod()),
                    containers: vec![server],
                    volumes: Some(vec![
                        Volume {
                            name: "config".to_owned(),
                            secret: Some(SecretVolumeSource {
                                secret_name: Some(CONFIG_SECRET.to_owned()),
                                // Owner and group (fsGroup) read, nobody else.
                                default_mode: Some(0o440),
                                ..SecretVolumeSource::default()
                            }),
                            ..Volume::default()
                        },
                        data,
                        Volume {
                            name: "tmp".to_owned(),
                            empty_dir: Some(EmptyDirVolumeSource::default()),
                            ..Volume::default()
                        },
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn service(namespace: &str) -> Service {
    Service {
        metadata: meta(NAME, namespace),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(selector()),
            ports: Some(vec![ServicePort {
                name: Some("http".to_owned()),
                port: SERVER_PORT,
                target_port: Some(IntOrString::String("http".to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// What the Ingress routes, as `(path, pathType)`: the API and its webhooks (`/api`) and the
/// dashboard's pages and assets. `/metrics`, `/healthz` and `/readyz` are left out, so they stay
/// inside the cluster (Prefix matches whole path segments: `/builds` is not `/buildsx`).
pub const ROUTED_PATHS: &[(&str, &str)] = &[
    ("/api", "Prefix"),
    ("/", "Exact"),
    ("/signin", "Exact"),
    ("/signout", "Exact"),
    ("/workspaces", "Prefix"),
    ("/deployments", "Prefix"),
    ("/builds", "Prefix"),
    ("/assets", "Prefix"),
];

fn ingress(namespace: &str, route: &ApiRoute) -> Ingress {
    let mut metadata = meta(NAME, namespace);
    if let Some(issuer) = &route.tls_issuer {
        metadata.annotations = Some(BTreeMap::from([(
            CLUSTER_ISSUER_ANNOTATION.to_owned(),
            issuer.clone(),
        )]));
    }
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: NAME.to_owned(),
            port: Some(ServiceBackendPort {
                name: Some("http".to_owned()),
                ..ServiceBackendPort::default()
            }),
        }),
        ..IngressBackend::default()
    };
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: route.ingress_class.clone(),
            tls: route.tls_issuer.as_ref().map(|_| {
                vec![IngressTLS {
                    hosts: Some(vec![route.host.clone()]),
                    secret_name: Some(format!("{NAME}-tls")),
                }]
            }),
            rules: Some(vec![IngressRule {
                host: Some(route.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: ROUTED_PATHS
                        .iter()
                        .map(|(path, path_type)| HTTPIngressPath {
                            path: Some((*path).to_owned()),
                            path_type: (*path_type).to_owned(),
                            backend: backend.clone(),
                        })
                        .collect(),
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}
