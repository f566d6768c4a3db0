//! `cluster check`: can this cluster run a workflow, and can this user deploy it? Every check says
//! what to do when it fails. `--fix` creates the namespace and a least-privilege Role when missing.
//! With routing ([`RouteChecks`]) it also looks for an IngressClass, the Gateway API and
//! cert-manager's ClusterIssuer, through API discovery, which every authenticated user may read.

use crate::route::{CERT_MANAGER_API_VERSION, GATEWAY_API_VERSION, RouteKind};
use crate::{Cluster, Error, is_not_found, labels};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::IngressClass;
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use kube::api::{ListParams, PatchParams, PostParams};
use serde::Serialize;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Worth knowing; does not block a deploy.
    Warn,
    /// Blocks a deploy.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Outcome.
    pub status: Status,
    /// What was checked, phrased as the outcome.
    pub title: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remediation: Vec<String>,
}

/// All checks.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Namespace checked.
    pub namespace: String,
    /// Whether a deploy can go ahead.
    pub ready: bool,
    /// In order.
    pub checks: Vec<Check>,
}

/// The documentation link for installing gVisor.
pub const GVISOR_DOCS: &str = "https://gvisor.dev/docs/user_guide/containerd/quick_start/";
/// Name of the Role, RoleBinding and ServiceAccount `--fix` creates.
pub const DEPLOYER: &str = "pipedreamer-deployer";

/// Every (API group, resource, verbs) the CLI uses in a namespace; the Role `--fix` creates
/// grants exactly these.
pub const PERMISSIONS: &[(&str, &str, &[&str])] = &[
    ("apps", "deployments", &["get", "list", "patch", "delete"]),
    ("", "services", &["get", "patch", "delete"]),
    ("", "secrets", &["get", "delete"]),
    ("batch", "cronjobs", &["list", "patch", "delete"]),
    ("batch", "jobs", &["list"]),
    ("", "pods", &["get", "list", "create", "delete"]),
    ("", "pods/log", &["get"]),
    ("", "events", &["list"]),
    (
        "networking.k8s.io",
        "ingresses",
        &["get", "list", "patch", "delete"],
    ),
    (
        "gateway.networking.k8s.io",
        "httproutes",
        &["get", "list", "patch", "delete"],
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

/// Resources only `--egress-policy cilium` writes: denied, they never block a deploy (one with
/// that policy fails at apply with the API's 403, naming the object); they only keep pruning
/// from seeing a stale CiliumNetworkPolicy.
const CILIUM_RESOURCES: &[&str] = &["ciliumnetworkpolicies"];

/// The route resources of [`PERMISSIONS`]: denied, they block only a deploy that uses that kind.
const ROUTE_RESOURCES: &[(&str, RouteResource)] = &[
    ("ingresses", RouteResource::Ingress),
    ("httproutes", RouteResource::HttpRoute),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RouteResource {
    Ingress,
    HttpRoute,
}

/// The routing a deploy will use, for the route checks.
#[derive(Debug, Clone, Default)]
pub struct RouteChecks {
    /// The planned kind; `None`: no route planned yet, so only report whether an IngressClass
    /// exists (what `cluster check` without routing flags does).
    pub kind: Option<RouteKind>,
    /// The cert-manager ClusterIssuer to look for.
    pub tls_issuer: Option<String>,
}

/// What [`run_with`] checks.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// Adds the workflow's Secret check.
    pub workflow: Option<&'a str>,
    /// Repairs what it can (namespace, Role).
    pub fix: bool,
    /// Adds the route checks; `None`: no route checks (a deploy without a host).
    pub route: Option<RouteChecks>,
}

impl Options<'_> {
    fn planned(&self) -> Option<RouteResource> {
        match self.route.as_ref()?.kind.as_ref()? {
            RouteKind::Ingress { .. } => Some(RouteResource::Ingress),
            RouteKind::Gateway { .. } => Some(RouteResource::HttpRoute),
        }
    }
}

fn check(status: Status, title: impl Into<String>, remediation: Vec<String>) -> Check {
    Check {
        status,
        title: title.into(),
        remediation,
    }
}

/// Runs the checks; `workflow` adds the Secret check, `fix` repairs what it can.
pub async fn run(cluster: &Cluster, workflow: Option<&str>, fix: bool, limit: Duration) -> Report {
    let options = Options {
        workflow,
        fix,
        route: None,
    };
    run_with(cluster, &options, limit).await
}

/// Runs the checks `options` asks for.
pub async fn run_with(cluster: &Cluster, options: &Options<'_>, limit: Duration) -> Report {
    let fix = options.fix;
    let ns = cluster.namespace.clone();
    let mut checks = Vec::new();
    match cluster.version(limit).await {
        Ok(version) => checks.push(check(
            Status::Ok,
            format!("Kubernetes API reachable ({version} at {})", cluster.server),
            vec![],
        )),
        Err(e) => {
            checks.push(check(
                Status::Fail,
                "Kubernetes API not reachable",
                vec![
                    first_line(&e.to_string()),
                    "Check that the cluster is running and that --context / KUBECONFIG point at it"
                        .to_owned(),
                ],
            ));
            return finish(ns, checks);
        }
    }
    checks.push(namespace_check(cluster, fix).await);
    checks.push(runtime_class_check(cluster).await);
    if let Some(name) = options.workflow {
        checks.push(secret_check(cluster, name).await);
    }
    if let Some(route) = &options.route {
        match &route.kind {
            None => checks.push(ingress_class_check(cluster, None).await),
            Some(RouteKind::Ingress { class }) => {
                checks.push(ingress_class_check(cluster, class.as_deref()).await)
            }
            Some(RouteKind::Gateway { namespace, name }) => {
                checks.extend(gateway_checks(cluster, namespace, name).await)
            }
        }
        if let Some(issuer) = &route.tls_issuer {
            checks.extend(cert_manager_checks(cluster, issuer).await);
        }
    }
    checks.push(rbac_check(cluster, fix, options.planned()).await);
    finish(ns, checks)
}

fn finish(namespace: String, checks: Vec<Check>) -> Report {
    Report {
        namespace,
        ready: checks.iter().all(|c| c.status != Status::Fail),
        checks,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_owned()
}

async fn namespace_check(cluster: &Cluster, fix: bool) -> Check {
    let ns = &cluster.namespace;
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    match api.get(ns).await {
        Ok(_) => check(Status::Ok, format!("Namespace {ns:?} exists"), vec![]),
        Err(e) if is_not_found(&e) && fix => {
            let namespace = Namespace {
                metadata: ObjectMeta {
                    name: Some(ns.clone()),
                    ..ObjectMeta::default()
                },
                ..Namespace::default()
            };
            match api.create(&PostParams::default(), &namespace).await {
                Ok(_) => check(Status::Ok, format!("Namespace {ns:?} created"), vec![]),
                Err(e) => check(
                    Status::Fail,
                    format!("Namespace {ns:?} could not be created"),
                    vec![first_line(
                        &cluster.error("create namespace", e).to_string(),
                    )],
                ),
            }
        }
        Err(e) if is_not_found(&e) => check(
            Status::Fail,
            format!("Namespace {ns:?} not found"),
            vec![format!(
                "Create it: `pipedreamer cluster check -n {ns} --fix` (or `kubectl create namespace {ns}`)"
            )],
        ),
        Err(kube::Error::Api(s)) if s.code == 403 => check(
            Status::Warn,
            format!("Namespace {ns:?} cannot be read (forbidden); assuming it exists"),
            vec![],
        ),
        Err(e) => check(
            Status::Fail,
            format!("Namespace {ns:?} could not be checked"),
            vec![first_line(&cluster.error("get namespace", e).to_string())],
        ),
    }
}

async fn runtime_class_check(cluster: &Cluster) -> Check {
    let api: Api<RuntimeClass> = Api::all(cluster.client.clone());
    let name = crate::manifests::RUNTIME_CLASS;
    match api.get(name).await {
        Ok(rc) => check(
            Status::Ok,
            format!(
                "gVisor RuntimeClass {name:?} found (handler {:?})",
                rc.handler
            ),
            vec![],
        ),
        Err(e) if is_not_found(&e) => check(
            Status::Fail,
            "gVisor RuntimeClass not found",
            vec![format!(
                "Install gVisor and create the RuntimeClass: {GVISOR_DOCS}"
            )],
        ),
        Err(kube::Error::Api(s)) if s.code == 403 => check(
            Status::Warn,
            "gVisor RuntimeClass cannot be read (forbidden); pods will fail to start if it is missing",
            vec![],
        ),
        Err(e) => check(
            Status::Fail,
            "gVisor RuntimeClass could not be checked",
            vec![first_line(
                &cluster.error("get runtimeclass", e).to_string(),
            )],
        ),
    }
}

async fn secret_check(cluster: &Cluster, workflow: &str) -> Check {
    let name = labels::secret_name(workflow);
    let ns = &cluster.namespace;
    match cluster.api::<Secret>().get_metadata(&name).await {
        Ok(_) => check(Status::Ok, format!("Secret {name:?} exists"), vec![]),
        Err(e) if is_not_found(&e) => check(
            Status::Warn,
            format!("Secret {name:?} not found (optional: nodes will see no secrets)"),
            vec![format!(
                "Create it with one file per top-level key: `kubectl create secret generic {name} -n {ns} --from-file=github=./github.json`"
            )],
        ),
        Err(e) => check(
            Status::Warn,
            format!("Secret {name:?} could not be checked"),
            vec![first_line(&cluster.error("get secret", e).to_string())],
        ),
    }
}

/// The annotation that marks the cluster's default IngressClass.
pub const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";
/// Where the Gateway API's CRDs come from (pinned release of the standard channel).
pub const GATEWAY_API_INSTALL: &str =
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.3.0/standard-install.yaml";
/// cert-manager's installation guide.
pub const CERT_MANAGER_DOCS: &str = "https://cert-manager.io/docs/installation/";

fn forbidden(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 403)
}

async fn ingress_class_check(cluster: &Cluster, class: Option<&str>) -> Check {
    let install = "Install an ingress controller (e.g. ingress-nginx or Traefik); it creates its IngressClass".to_owned();
    let api: Api<IngressClass> = Api::all(cluster.client.clone());
    let classes = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) if forbidden(&e) => {
            return check(
                Status::Warn,
                "IngressClasses cannot be read (forbidden); an Ingress needs a controller to serve it",
                vec![],
            );
        }
        Err(e) => {
            return check(
                Status::Warn,
                "IngressClasses could not be checked",
                vec![first_line(
                    &cluster.error("list ingressclasses", e).to_string(),
                )],
            );
        }
    };
    let names: Vec<String> = classes
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect();
    let available = || format!("Available IngressClasses: {}", names.join(", "));
    match class {
        Some(wanted) if names.iter().any(|n| n == wanted) => check(
            Status::Ok,
            format!("IngressClass {wanted:?} exists"),
            vec![],
        ),
        Some(wanted) => check(
            Status::Warn,
            format!("IngressClass {wanted:?} not found: no controller will serve the Ingress"),
            if names.is_empty() {
                vec![install]
            } else {
                vec![
                    available(),
                    format!("Pass one of them with --ingress-class, or {install}"),
                ]
            },
        ),
        None => {
            let default = classes.iter().find(|c| {
                c.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                    .is_some_and(|v| v == "true")
            });
            match default {
                Some(c) => check(
                    Status::Ok,
                    format!(
                        "IngressClass {:?} is the cluster default",
                        c.metadata.name.clone().unwrap_or_default()
                    ),
                    vec![],
                ),
                None if names.is_empty() => check(
                    Status::Warn,
                    "No IngressClass: nothing serves Ingresses (needed for deploy --host)",
                    vec![install],
                ),
                None => check(
                    Status::Warn,
                    "No default IngressClass: an Ingress without --ingress-class is served by no controller",
                    vec![
                        available(),
                        format!(
                            "Pass --ingress-class, or make one the default: `kubectl annotate ingressclass {} {DEFAULT_CLASS_ANNOTATION}=true`",
                            names[0]
                        ),
                    ],
                ),
            }
        }
    }
}

/// Whether the API server serves `api_version` (e.g. `cert-manager.io/v1`) with `resource`, by
/// discovery; `Ok(false)` when the group is not installed.
async fn serves(cluster: &Cluster, api_version: &str, resource: &str) -> Result<bool, Error> {
    match cluster.client.list_api_group_resources(api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource)),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(cluster.error(format!("discover {api_version}"), e)),
    }
}

/// Whether the cluster serves CiliumNetworkPolicies, for a deploy with `--egress-policy cilium`.
pub async fn cilium_check(cluster: &Cluster) -> Check {
    match serves(cluster, crate::network::CILIUM_API_VERSION, "ciliumnetworkpolicies").await {
        Ok(true) => check(
            Status::Ok,
            "Cilium installed (cilium.io/v2 CiliumNetworkPolicy)",
            vec![],
        ),
        Ok(false) => check(
            Status::Fail,
            "Cilium not installed: the cluster serves no cilium.io/v2 CiliumNetworkPolicies (--egress-policy cilium)",
            vec![
                "Use --egress-policy ports, which any network plugin that enforces NetworkPolicies honours".to_owned(),
                "Or install Cilium as the cluster's network plugin: https://docs.cilium.io/en/stable/gettingstarted/".to_owned(),
            ],
        ),
        Err(e) => check(
            Status::Warn,
            "Cilium could not be checked",
            vec![first_line(&e.to_string())],
        ),
    }
}

impl Report {
    /// Adds a check made outside [`run_with`]; a failed one makes the report not ready.
    pub fn push(&mut self, check: Check) {
        self.ready &= check.status != Status::Fail;
        self.checks.push(check);
    }
}

async fn gateway_checks(cluster: &Cluster, namespace: &str, name: &str) -> Vec<Check> {
    match serves(cluster, GATEWAY_API_VERSION, "httproutes").await {
        Ok(true) => {}
        Ok(false) => {
            return vec![check(
                Status::Fail,
                "Gateway API not installed: the cluster serves no gateway.networking.k8s.io/v1 HTTPRoutes",
                vec![
                    format!(
                        "Install its CRDs: `kubectl apply -f {GATEWAY_API_INSTALL}`, and a Gateway controller (e.g. Envoy Gateway, Istio, Cilium or Traefik)"
                    ),
                    "Or route with an Ingress: drop --route gateway".to_owned(),
                ],
            )];
        }
        Err(e) => {
            return vec![check(
                Status::Warn,
                "Gateway API could not be checked",
                vec![first_line(&e.to_string())],
            )];
        }
    }
    let mut checks = vec![check(
        Status::Ok,
        "Gateway API installed (gateway.networking.k8s.io/v1 HTTPRoute)",
        vec![],
    )];
    let resource = ApiResource {
        group: crate::route::GATEWAY_GROUP.to_owned(),
        version: "v1".to_owned(),
        api_version: GATEWAY_API_VERSION.to_owned(),
        kind: "Gateway".to_owned(),
        plural: "gateways".to_owned(),
    };
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), namespace, &resource);
    checks.push(match api.get(name).await {
        Ok(gateway) => admits_routes_from(&gateway, &cluster.namespace),
        Err(e) if is_not_found(&e) => check(
            Status::Warn,
            format!("Gateway \"{namespace}/{name}\" not found: the HTTPRoute will not be attached"),
            vec![
                "List the Gateways with `kubectl get gateways -A` and pass one as --gateway NAMESPACE/NAME, or create it".to_owned(),
            ],
        ),
        Err(e) if forbidden(&e) => check(
            Status::Warn,
            format!("Gateway \"{namespace}/{name}\" cannot be read (forbidden); assuming it exists"),
            vec![],
        ),
        Err(e) => check(
            Status::Warn,
            format!("Gateway \"{namespace}/{name}\" could not be checked"),
            vec![first_line(&cluster.error("get gateway", e).to_string())],
        ),
    });
    checks
}

/// Whether the Gateway's listeners take HTTPRoutes from `route_namespace`: `allowedRoutes`
/// defaults to `Same`, so a Gateway in another namespace ignores the route unless a listener says
/// `All` (or a `Selector` does, which needs the namespace's labels: left to the Gateway's status).
fn admits_routes_from(gateway: &DynamicObject, route_namespace: &str) -> Check {
    let gateway_namespace = gateway.metadata.namespace.clone().unwrap_or_default();
    let name = gateway.metadata.name.clone().unwrap_or_default();
    let title = format!("Gateway \"{gateway_namespace}/{name}\" exists");
    if gateway_namespace == route_namespace {
        return check(Status::Ok, title, vec![]);
    }
    let froms: Vec<String> = gateway.data["spec"]["listeners"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            l["allowedRoutes"]["namespaces"]["from"]
                .as_str()
                .unwrap_or("Same")
                .to_owned()
        })
        .collect();
    if froms.iter().any(|f| f == "All" || f == "Selector") {
        check(Status::Ok, title, vec![])
    } else {
        check(
            Status::Warn,
            format!(
                "Gateway \"{gateway_namespace}/{name}\" takes routes only from namespace {gateway_namespace:?}, not {route_namespace:?}: the HTTPRoute will not be attached"
            ),
            vec![format!(
                "Set `allowedRoutes.namespaces.from: All` (or a Selector matching {route_namespace:?}) on a listener of the Gateway"
            )],
        )
    }
}

async fn cert_manager_checks(cluster: &Cluster, issuer: &str) -> Vec<Check> {
    match serves(cluster, CERT_MANAGER_API_VERSION, "clusterissuers").await {
        Ok(true) => {}
        Ok(false) => {
            return vec![check(
                Status::Warn,
                "cert-manager not installed (no ClusterIssuer CRD): the TLS certificate will never be issued",
                vec![format!(
                    "Install cert-manager ({CERT_MANAGER_DOCS}), then create ClusterIssuer {issuer:?} (e.g. Let's Encrypt: https://cert-manager.io/docs/configuration/acme/)"
                )],
            )];
        }
        Err(e) => {
            return vec![check(
                Status::Warn,
                "cert-manager could not be checked",
                vec![first_line(&e.to_string())],
            )];
        }
    }
    let mut checks = vec![check(
        Status::Ok,
        "cert-manager installed (ClusterIssuer CRD)",
        vec![],
    )];
    let resource = ApiResource {
        group: "cert-manager.io".to_owned(),
        version: "v1".to_owned(),
        api_version: CERT_MANAGER_API_VERSION.to_owned(),
        kind: "ClusterIssuer".to_owned(),
        plural: "clusterissuers".to_owned(),
    };
    let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &resource);
    checks.push(match api.get(issuer).await {
        Ok(found) => {
            let ready = found.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["type"] == "Ready");
            match ready {
                Some(c) if c["status"] != "True" => check(
                    Status::Warn,
                    format!("ClusterIssuer {issuer:?} is not Ready: {}", c["message"].as_str().unwrap_or("no message")),
                    vec![format!("See `kubectl describe clusterissuer {issuer}`")],
                ),
                _ => check(Status::Ok, format!("ClusterIssuer {issuer:?} exists"), vec![]),
            }
        }
        Err(e) if is_not_found(&e) => check(
            Status::Warn,
            format!("ClusterIssuer {issuer:?} not found: the TLS certificate will never be issued"),
            vec![
                format!("Create it (e.g. Let's Encrypt: https://cert-manager.io/docs/configuration/acme/), or pass an existing one with --tls-issuer (`kubectl get clusterissuers`)"),
            ],
        ),
        Err(e) if forbidden(&e) => check(
            Status::Warn,
            format!("ClusterIssuer {issuer:?} cannot be read (forbidden); assuming it exists"),
            vec![],
        ),
        Err(e) => check(
            Status::Warn,
            format!("ClusterIssuer {issuer:?} could not be checked"),
            vec![first_line(&cluster.error("get clusterissuer", e).to_string())],
        ),
    });
    checks
}

/// Asks the API server whether the current user may do each thing in [`PERMISSIONS`].
pub async fn denied_permissions(cluster: &Cluster) -> Result<Vec<String>, Error> {
    let api: Api<SelfSubjectAccessReview> = Api::all(cluster.client.clone());
    let mut denied = Vec::new();
    for (group, resource, verbs) in PERMISSIONS {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, Some(s.to_owned())),
            None => (*resource, None),
        };
        for verb in *verbs {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        namespace: Some(cluster.namespace.clone()),
                        group: Some((*group).to_owned()),
                        resource: Some(resource.to_owned()),
                        subresource: subresource.clone(),
                        verb: Some((*verb).to_owned()),
                        ..ResourceAttributes::default()
                    }),
                    ..SelfSubjectAccessReviewSpec::default()
                },
                ..SelfSubjectAccessReview::default()
            };
            let answer = api
                .create(&PostParams::default(), &review)
                .await
                .map_err(|e| cluster.error("create selfsubjectaccessreview", e))?;
            if !answer.status.is_some_and(|s| s.allowed) {
                let what = match &subresource {
                    Some(s) => format!("{resource}/{s}"),
                    None => resource.to_owned(),
                };
                denied.push(format!("{verb} {what}"));
            }
        }
    }
    Ok(denied)
}

/// The route kind a denied `verb resource` is about, if it is one.
fn route_resource(denied: &str) -> Option<RouteResource> {
    let resource = denied.rsplit(' ').next()?;
    ROUTE_RESOURCES
        .iter()
        .find(|(r, _)| *r == resource)
        .map(|(_, kind)| *kind)
}

async fn rbac_check(cluster: &Cluster, fix: bool, planned: Option<RouteResource>) -> Check {
    let ns = &cluster.namespace;
    let total: usize = PERMISSIONS.iter().map(|(_, _, v)| v.len()).sum();
    let denied = match denied_permissions(cluster).await {
        Ok(d) => d,
        Err(e) => {
            return check(
                Status::Fail,
                "Permissions could not be checked",
                vec![first_line(&e.to_string())],
            );
        }
    };
    if denied.is_empty() {
        return check(
            Status::Ok,
            format!("RBAC allows all {total} actions pipedreamer uses in {ns:?}"),
            vec![],
        );
    }
    if fix {
        return match create_deployer_role(cluster).await {
            Ok(()) => check(
                Status::Warn,
                format!(
                    "RBAC denies you {} of {total} actions; created Role, ServiceAccount and RoleBinding {DEPLOYER:?} in {ns:?}",
                    denied.len()
                ),
                vec![format!(
                    "Deploy as that ServiceAccount (e.g. from CI: `kubectl create token {DEPLOYER} -n {ns}`), or bind the Role to your user"
                )],
            ),
            Err(e) => check(
                Status::Fail,
                format!(
                    "RBAC denies {} of {total} actions and --fix could not create a Role",
                    denied.len()
                ),
                vec![first_line(&e.to_string())],
            ),
        };
    }
    // Route permissions block only a deploy that uses that kind of route; for the other kind
    // they only keep pruning from seeing a stale route.
    let blocking = denied.iter().any(|d| {
        route_resource(d).is_none_or(|kind| Some(kind) == planned)
            && !CILIUM_RESOURCES
                .iter()
                .any(|r| d.ends_with(&format!(" {r}")))
    });
    let mut remediation: Vec<String> = denied
        .iter()
        .map(|d| format!("Missing permission: {d} in {ns:?}"))
        .collect();
    remediation.push(format!(
        "Ask a cluster admin to run `pipedreamer cluster check -n {ns} --fix`, which creates a least-privilege Role {DEPLOYER:?}"
    ));
    if blocking {
        check(
            Status::Fail,
            format!(
                "RBAC denies {} of {total} actions pipedreamer uses",
                denied.len()
            ),
            remediation,
        )
    } else {
        check(
            Status::Warn,
            format!(
                "RBAC denies {} of {total} actions, all on routes or Cilium policies this deploy does not use (a stale one would not be pruned)",
                denied.len()
            ),
            remediation,
        )
    }
}

/// The Role `--fix` creates: exactly [`PERMISSIONS`].
pub fn deployer_role(namespace: &str) -> Role {
    Role {
        metadata: ObjectMeta {
            name: Some(DEPLOYER.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some([(labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned())].into()),
            ..ObjectMeta::default()
        },
        rules: Some(policy_rules(PERMISSIONS)),
    }
}

/// A Role's rules from a `(API group, resource, verbs)` table: one rule per row.
pub(crate) fn policy_rules(table: &[(&str, &str, &[&str])]) -> Vec<PolicyRule> {
    table
        .iter()
        .map(|(group, resource, verbs)| PolicyRule {
            api_groups: Some(vec![(*group).to_owned()]),
            resources: Some(vec![(*resource).to_owned()]),
            verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
            ..PolicyRule::default()
        })
        .collect()
}

async fn create_deployer_role(cluster: &Cluster) -> Result<(), Error> {
    let ns = &cluster.namespace;
    let params = PatchParams::apply(crate::apply::FIELD_MANAGER).force();
    let meta = ObjectMeta {
        name: Some(DEPLOYER.to_owned()),
        namespace: Some(ns.clone()),
        labels: Some([(labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned())].into()),
        ..ObjectMeta::default()
    };
    let account = ServiceAccount {
        metadata: meta.clone(),
        ..ServiceAccount::default()
    };
    let binding = RoleBinding {
        metadata: meta,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: DEPLOYER.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: DEPLOYER.to_owned(),
            namespace: Some(ns.clone()),
            ..Subject::default()
        }]),
    };
    cluster
        .api::<Role>()
        .patch(
            DEPLOYER,
            &params,
            &kube::api::Patch::Apply(deployer_role(ns)),
        )
        .await
        .map_err(|e| cluster.error("apply Role", e))?;
    cluster
        .api::<ServiceAccount>()
        .patch(DEPLOYER, &params, &kube::api::Patch::Apply(account))
        .await
        .map_err(|e| cluster.error("apply ServiceAccount", e))?;
    cluster
        .api::<RoleBinding>()
        .patch(DEPLOYER, &params, &kube::api::Patch::Apply(binding))
        .await
        .map_err(|e| cluster.error("apply RoleBinding", e))?;
    Ok(())
}
