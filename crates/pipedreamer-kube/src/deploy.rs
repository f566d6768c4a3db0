//! Deploying a workflow in one or two calls, for the CLI's `deploy` and the server's pipeline
//! alike: [`connect`] to a cluster, [`render`] the manifests (the content digest of the workflow's
//! files goes into the pod template, so a changed workflow rolls the pods even under the same
//! tag), then [`apply`] them: optional preflight, server-side apply with pruning of stale
//! CronJobs, and an optional wait until the new pods are ready. Progress reaches the caller as
//! [`Step`]s; nothing here prints.
//!
//! ```no_run
//! use pipedreamer_kube::deploy::{self, ApplyOptions};
//! # async fn example(dir: &std::path::Path, resolved: &pipedreamer_spec::Resolved) -> Result<(), pipedreamer_kube::Error> {
//! let cluster = deploy::connect(None, Some("team-a")).await?;
//! let manifests = deploy::render(dir, resolved, "127.0.0.1:5000/hello:1-0", &cluster.namespace, None, None, None)?;
//! let options = ApplyOptions { preflight: false, wait: Some(std::time::Duration::from_secs(300)) };
//! let report = deploy::apply(&cluster, &manifests, &options, |step| eprintln!("{step}")).await?;
//! # Ok(()) }
//! ```

use crate::apply::ApplyReport;
use crate::manifests::EngineReport;
use crate::preflight::Report;
use crate::rollout::Progress;
use crate::route::RouteOptions;
use crate::{
    Cluster, ClusterOptions, DeployOptions, Error, Manifests, NetworkOptions, cluster, labels,
    manifests,
};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Patch;
use pipedreamer_spec::Resolved;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Connects to the cluster of `context` (default: the current one) in `namespace` (default: the
/// context's, else `default`), with the standard connect and request timeouts.
pub async fn connect(context: Option<&str>, namespace: Option<&str>) -> Result<Cluster, Error> {
    cluster::connect(&ClusterOptions {
        context: context.map(str::to_owned),
        namespace: namespace.map(str::to_owned),
        request_timeout: Some(cluster::REQUEST_TIMEOUT),
    })
    .await
}

/// The manifests of the workflow in `workflow_dir` (checked and resolved as `resolved`) running
/// `image` (what the cluster pulls, e.g. `registry/name:tag`, optionally `@sha256:…`) in
/// `namespace`. `cron_image` overrides the curl image of CronJob pods; `route` publishes the
/// Service on a host (Ingress or HTTPRoute); `report` makes the engine report its runs (its
/// token Secret is [`apply_report_secret`]'s).
/// The NetworkPolicy gets [`NetworkOptions::default`] (egress by ports); [`render_with`] takes
/// other network options.
pub fn render(
    workflow_dir: &Path,
    resolved: &Resolved,
    image: &str,
    namespace: &str,
    cron_image: Option<&str>,
    route: Option<&RouteOptions>,
    report: Option<&EngineReport>,
) -> Result<Manifests, Error> {
    render_with(
        workflow_dir,
        resolved,
        &Render {
            image,
            namespace,
            cron_image,
            route,
            report,
            network: &NetworkOptions::default(),
        },
    )
}

/// What [`render_with`] renders besides the workflow: [`render`]'s arguments plus the network
/// options.
#[derive(Debug, Clone, Copy)]
pub struct Render<'a> {
    /// What the cluster pulls.
    pub image: &'a str,
    /// The target namespace.
    pub namespace: &'a str,
    /// The curl image of CronJob pods.
    pub cron_image: Option<&'a str>,
    /// The public route.
    pub route: Option<&'a RouteOptions>,
    /// Run reporting.
    pub report: Option<&'a EngineReport>,
    /// The NetworkPolicy's openings and the egress policy.
    pub network: &'a NetworkOptions,
}

/// [`render`] with every option, the network ones included.
pub fn render_with(
    workflow_dir: &Path,
    resolved: &Resolved,
    options: &Render<'_>,
) -> Result<Manifests, Error> {
    let spec_hash = pipedreamer_image::content::content_digest(workflow_dir, &resolved.modules)
        .map_err(Error::WorkflowContent)?;
    Ok(manifests::render(
        &resolved.workflow,
        &DeployOptions {
            namespace: options.namespace.to_owned(),
            image: options.image.to_owned(),
            spec_hash,
            curl_image: options.cron_image.map(str::to_owned),
            route: options.route.cloned(),
            report: options.report.cloned(),
            network: options.network.clone(),
        },
    ))
}

/// How [`apply`] goes about it.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Run the preflight checks first and refuse to apply when they fail
    /// ([`Error::PreflightFailed`]).
    pub preflight: bool,
    /// Wait up to this long until the rollout is available (the new pods ready); `None` returns
    /// right after the apply.
    pub wait: Option<Duration>,
}

/// What [`apply`] reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    /// The preflight ran; when its report is not `ready`, [`apply`] stops with
    /// [`Error::PreflightFailed`] right after this step. Passing reports may carry warnings.
    Checked(&'a Report),
    /// Every object was applied (and stale CronJobs and routes pruned).
    Applied(&'a ApplyReport),
    /// The rollout moved (only with [`ApplyOptions::wait`]); called when the picture changes.
    Rollout(&'a Progress),
}

impl std::fmt::Display for Step<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Checked(report) if report.ready => {
                write!(f, "preflight passed in {:?}", report.namespace)
            }
            Step::Checked(report) => write!(f, "preflight failed in {:?}", report.namespace),
            Step::Applied(report) => write!(f, "applied {}", report.applied.join(", ")),
            Step::Rollout(progress) => write!(f, "rollout: {progress}"),
        }
    }
}

/// Applies `manifests`: preflight when asked (with the route's checks when it has one, and
/// whether Cilium is installed when it has a CiliumNetworkPolicy),
/// server-side apply (field manager `pipedreamer`), pruning of CronJobs whose triggers are gone
/// and of a route whose host is, then, with [`ApplyOptions::wait`], waiting until
/// the Deployment is available; a rollout that is not yields [`Error::RolloutStuck`] with the
/// reasons read from pods and events.
pub async fn apply(
    cluster: &Cluster,
    manifests: &Manifests,
    options: &ApplyOptions,
    mut on_step: impl FnMut(Step<'_>) + Send,
) -> Result<ApplyReport, Error> {
    let name = manifests.name();
    if options.preflight {
        let checks = crate::preflight::Options {
            workflow: Some(&name),
            fix: false,
            route: manifests
                .routing
                .as_ref()
                .map(|r| crate::preflight::RouteChecks {
                    kind: Some(r.kind.clone()),
                    tls_issuer: r.tls_issuer.clone(),
                }),
        };
        let mut report =
            crate::preflight::run_with(cluster, &checks, cluster::CONNECT_TIMEOUT).await;
        // Only a reachable cluster is asked about Cilium.
        let reachable = report
            .checks
            .first()
            .is_some_and(|c| c.status != crate::preflight::Status::Fail);
        if manifests.cilium_policy.is_some() && reachable {
            report.push(crate::preflight::cilium_check(cluster).await);
        }
        on_step(Step::Checked(&report));
        if !report.ready {
            return Err(Error::PreflightFailed(Box::new(report)));
        }
    }
    let report = crate::apply::apply(cluster, manifests).await?;
    on_step(Step::Applied(&report));
    if let Some(timeout) = options.wait {
        crate::rollout::wait(cluster, &name, timeout, |progress| {
            on_step(Step::Rollout(progress))
        })
        .await?;
    }
    Ok(report)
}

/// Server-side applies the workflow's Secret (`<workflow>-secrets`, what its pods mount at
/// `/app/secrets`) with one file per entry of `files` (e.g. `github` → the JSON of that key).
/// Needs `patch` on secrets, which the least-privilege Role of `cluster check --fix` does not
/// grant (the CLI leaves secrets to `kubectl create secret`).
pub async fn apply_secret(
    cluster: &Cluster,
    workflow: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), Error> {
    apply_secret_named(
        cluster,
        workflow,
        &labels::secret_name(workflow),
        "secrets",
        files,
    )
    .await
}

/// Server-side applies `<workflow>-report`, the Secret holding the engine's run-report token
/// (mounted at [`manifests::REPORT_MOUNT`] when the manifests were rendered with a report).
pub async fn apply_report_secret(
    cluster: &Cluster,
    workflow: &str,
    token: &str,
) -> Result<(), Error> {
    let files = BTreeMap::from([(
        manifests::REPORT_TOKEN_KEY.to_owned(),
        token.as_bytes().to_vec(),
    )]);
    apply_secret_named(
        cluster,
        workflow,
        &labels::report_secret_name(workflow),
        "report",
        &files,
    )
    .await
}

async fn apply_secret_named(
    cluster: &Cluster,
    workflow: &str,
    name: &str,
    component: &str,
    files: &BTreeMap<String, Vec<u8>>,
) -> Result<(), Error> {
    let name = name.to_owned();
    let secret = Secret {
        metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(cluster.namespace.clone()),
            labels: Some(BTreeMap::from([
                (labels::MANAGED_BY.to_owned(), labels::MANAGER.to_owned()),
                (labels::COMPONENT.to_owned(), component.to_owned()),
                (labels::WORKFLOW.to_owned(), workflow.to_owned()),
            ])),
            ..Default::default()
        },
        data: Some(
            files
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                .collect(),
        ),
        ..Default::default()
    };
    cluster
        .api::<Secret>()
        .patch(
            &name,
            &kube::api::PatchParams::apply(crate::apply::FIELD_MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        // The error names the Secret, never its data.
        .map_err(|e| cluster.error(format!("apply Secret {name:?}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipedreamer_spec::source::DirSource;

    fn spec_hash(manifests: &Manifests) -> String {
        let template = &manifests.deployment.spec.as_ref().unwrap().template;
        template
            .metadata
            .as_ref()
            .unwrap()
            .annotations
            .as_ref()
            .unwrap()[manifests::SPEC_HASH_ANNOTATION]
            .clone()
    }

    #[test]
    fn render_pins_the_image_namespace_and_the_content_digest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("nodes")).unwrap();
        std::fs::write(
            dir.path().join("workflow.yaml"),
            "name: hello\nversion: \"1\"\nnodes:\n  - {id: a, file: nodes/a.js}\n",
        )
        .unwrap();
        let node = dir.path().join("nodes/a.js");
        std::fs::write(&node, "export default async () => 1").unwrap();
        let render_now = || {
            let resolved = pipedreamer_spec::resolve(&DirSource::new(dir.path())).unwrap();
            render(
                dir.path(),
                &resolved,
                "r:5000/hello:1",
                "team",
                None,
                None,
                None,
            )
            .unwrap()
        };
        let first = render_now();
        assert_eq!(first.image(), Some("r:5000/hello:1"));
        assert_eq!(first.deployment.metadata.namespace.as_deref(), Some("team"));
        assert_eq!(spec_hash(&first), spec_hash(&render_now()), "stable");
        // Same tag, new code: the pod template changes, so the pods roll.
        std::fs::write(&node, "export default async () => 2").unwrap();
        assert_ne!(spec_hash(&first), spec_hash(&render_now()));
    }

    #[test]
    fn an_unreadable_workflow_directory_is_a_content_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("workflow.yaml"),
            "name: hello\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("a.js"), "export default async () => 1").unwrap();
        let resolved = pipedreamer_spec::resolve(&DirSource::new(dir.path())).unwrap();
        let gone = dir.path().join("missing");
        let err = render(&gone, &resolved, "hello:1", "default", None, None, None).unwrap_err();
        assert!(matches!(err, Error::WorkflowContent(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot hash the workflow's files: ")
        );
    }
}
