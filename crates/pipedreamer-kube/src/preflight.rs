//! `cluster check`: can this cluster run a workflow, and can this user deploy it? Every check says
//! what to do when it fails. `--fix` creates the namespace and a least-privilege Role when missing.

use crate::{Cluster, Error, is_not_found, labels};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{PatchParams, PostParams};
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
];

fn check(status: Status, title: impl Into<String>, remediation: Vec<String>) -> Check {
    Check {
        status,
        title: title.into(),
        remediation,
    }
}

/// Runs the checks; `workflow` adds the Secret check, `fix` repairs what it can.
pub async fn run(cluster: &Cluster, workflow: Option<&str>, fix: bool, limit: Duration) -> Report {
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
    if let Some(name) = workflow {
        checks.push(secret_check(cluster, name).await);
    }
    checks.push(rbac_check(cluster, fix).await);
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

async fn rbac_check(cluster: &Cluster, fix: bool) -> Check {
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
    let mut remediation: Vec<String> = denied
        .iter()
        .map(|d| format!("Missing permission: {d} in {ns:?}"))
        .collect();
    remediation.push(format!(
        "Ask a cluster admin to run `pipedreamer cluster check -n {ns} --fix`, which creates a least-privilege Role {DEPLOYER:?}"
    ));
    check(
        Status::Fail,
        format!(
            "RBAC denies {} of {total} actions pipedreamer uses",
            denied.len()
        ),
        remediation,
    )
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
        rules: Some(
            PERMISSIONS
                .iter()
                .map(|(group, resource, verbs)| PolicyRule {
                    api_groups: Some(vec![(*group).to_owned()]),
                    resources: Some(vec![(*resource).to_owned()]),
                    verbs: verbs.iter().map(|v| (*v).to_owned()).collect(),
                    ..PolicyRule::default()
                })
                .collect(),
        ),
    }
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
