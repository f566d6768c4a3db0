//! Server-side apply of a workflow's objects (field manager `pipedreamer`, so re-running a deploy
//! is idempotent and hand edits to fields we own are taken back), then pruning: CronJobs whose
//! triggers left the workflow, and route objects (Ingress, HTTPRoute) the deploy no longer has.

use crate::route::{Route, http_route_resource};
use crate::{Cluster, Error, Manifests, is_not_found, labels};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;

/// The field manager for every write.
pub const FIELD_MANAGER: &str = "pipedreamer";

/// What an apply did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// `Kind/name` of every object applied, in order.
    pub applied: Vec<String>,
    /// CronJobs deleted because their trigger is gone, routes because their host is.
    pub pruned: Vec<String>,
    /// Prunes that could not be checked (e.g. HTTPRoutes the user may not list), with what to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn apply_params() -> PatchParams {
    // Force: we own these objects; a conflicting manager (kubectl edit) must not block a deploy.
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Server-side applies one object and records it as `Kind/name`.
async fn apply_object<K>(
    cluster: &Cluster,
    object: &K,
    report: &mut ApplyReport,
) -> Result<(), Error>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let name = object.meta().name.clone().unwrap_or_default();
    cluster
        .api::<K>()
        .patch(&name, &apply_params(), &Patch::Apply(object))
        .await
        .map_err(|e| cluster.error(format!("apply {kind} {name:?}"), e))?;
    report.applied.push(format!("{kind}/{name}"));
    Ok(())
}

/// The namespaced dynamic API of HTTPRoutes.
pub(crate) fn http_routes(cluster: &Cluster) -> kube::Api<DynamicObject> {
    kube::Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &http_route_resource(),
    )
}

async fn apply_route(
    cluster: &Cluster,
    route: &Route,
    report: &mut ApplyReport,
) -> Result<(), Error> {
    match route {
        Route::Ingress(ingress) => apply_object(cluster, ingress.as_ref(), report).await,
        Route::HttpRoute(value) => {
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            match http_routes(cluster)
                .patch(&name, &apply_params(), &Patch::Apply(value))
                .await
            {
                Ok(_) => {
                    report.applied.push(format!("HTTPRoute/{name}"));
                    Ok(())
                }
                // No such resource: the Gateway API's CRDs are not installed.
                Err(e) if is_not_found(&e) => Err(Error::Other(format!(
                    "apply HTTPRoute {name:?}: the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoutes\nhint: install the Gateway API CRDs and a Gateway controller (`pipedreamer cluster check --route gateway --gateway NS/NAME` checks), or deploy with an Ingress (drop --route gateway)"
                ))),
                Err(e) => Err(cluster.error(format!("apply HTTPRoute {name:?}"), e)),
            }
        }
    }
}

/// Applies the manifests in order (Deployment, Service, route, CronJobs) and prunes stale
/// CronJobs and routes.
pub async fn apply(cluster: &Cluster, manifests: &Manifests) -> Result<ApplyReport, Error> {
    let mut report = ApplyReport::default();
    let name = manifests.name();
    apply_object(cluster, &manifests.deployment, &mut report).await?;
    apply_object(cluster, &manifests.service, &mut report).await?;
    if let Some(route) = &manifests.route {
        apply_route(cluster, route, &mut report).await?;
    }
    for cron in &manifests.cron_jobs {
        apply_object(cluster, cron, &mut report).await?;
    }
    let cron_api = cluster.api::<CronJob>();
    let keep = manifests.cron_job_names();
    let existing = cron_api
        .list_metadata(&ListParams::default().labels(&labels::cron_jobs_selector(&name)))
        .await
        .map_err(|e| cluster.error("list CronJobs", e))?;
    for stale in existing
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|n| !keep.contains(n))
    {
        match cron_api.delete(&stale, &DeleteParams::background()).await {
            Ok(_) => report.pruned.push(format!("CronJob/{stale}")),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(cluster.error(format!("delete stale CronJob {stale:?}"), e)),
        }
    }
    let kept = manifests.route.as_ref().map(Route::kind);
    prune_routes(cluster, &name, kept, &mut report).await?;
    Ok(report)
}

/// Deletes the workflow's route objects of every kind but `keep` (`None`: all of them), found by
/// label. A kind the cluster does not serve (no Gateway API CRDs: 404 on the list) has nothing
/// to prune; one the user may not list (403) is skipped with a warning in the report rather than
/// failing a deploy that does not use that kind.
pub(crate) async fn prune_routes(
    cluster: &Cluster,
    workflow: &str,
    keep: Option<&str>,
    report: &mut ApplyReport,
) -> Result<(), Error> {
    let selector = ListParams::default().labels(&labels::routes_selector(workflow));
    if keep != Some("Ingress") {
        let api = cluster.api::<Ingress>();
        match api.list_metadata(&selector).await {
            Ok(list) => {
                for stale in list.items.into_iter().filter_map(|i| i.metadata.name) {
                    match api.delete(&stale, &DeleteParams::background()).await {
                        Ok(_) => report.pruned.push(format!("Ingress/{stale}")),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            return Err(cluster.error(format!("delete stale Ingress {stale:?}"), e));
                        }
                    }
                }
            }
            Err(e) => skip_or_fail(cluster, "Ingress", "ingresses", e, report)?,
        }
    }
    if keep != Some("HTTPRoute") {
        let api = http_routes(cluster);
        match api.list_metadata(&selector).await {
            Ok(list) => {
                for stale in list.items.into_iter().filter_map(|i| i.metadata.name) {
                    match api.delete(&stale, &DeleteParams::background()).await {
                        Ok(_) => report.pruned.push(format!("HTTPRoute/{stale}")),
                        Err(e) if is_not_found(&e) => {}
                        Err(e) => {
                            return Err(
                                cluster.error(format!("delete stale HTTPRoute {stale:?}"), e)
                            );
                        }
                    }
                }
            }
            Err(e) => skip_or_fail(cluster, "HTTPRoute", "httproutes", e, report)?,
        }
    }
    Ok(())
}

fn skip_or_fail(
    cluster: &Cluster,
    kind: &str,
    resource: &str,
    e: kube::Error,
    report: &mut ApplyReport,
) -> Result<(), Error> {
    match e {
        // The kind is not served (its CRD is absent): nothing of it can exist.
        e if is_not_found(&e) => Ok(()),
        kube::Error::Api(s) if s.code == 403 => {
            report.warnings.push(format!(
                "cannot list {kind}s in {:?} (forbidden), so a stale one would stay; grant list and delete on {resource} (`pipedreamer cluster check --fix`)",
                cluster.namespace
            ));
            Ok(())
        }
        e => Err(cluster.error(format!("list {kind}s"), e)),
    }
}
