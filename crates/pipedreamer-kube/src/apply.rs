//! Server-side apply of a workflow's objects (field manager `pipedreamer`, so re-running a deploy
//! is idempotent and hand edits to fields we own are taken back), then pruning: CronJobs whose
//! triggers left the workflow, route objects (Ingress, HTTPRoute) the deploy no longer has, and
//! a CiliumNetworkPolicy the egress policy no longer asks for.

use crate::network::cilium_resource;
use crate::route::{Route, http_route_resource};
use crate::{Cluster, Error, Manifests, is_not_found, labels};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde::Serialize;

/// The field manager for every write.
pub const FIELD_MANAGER: &str = "pipedreamer";

/// What an apply did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// `Kind/name` of every object applied, in order.
    pub applied: Vec<String>,
    /// CronJobs deleted because their trigger is gone, routes because their host is, policies
    /// because the egress policy changed.
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
            apply_custom(
                cluster,
                &http_routes(cluster),
                "HTTPRoute",
                value,
                // No such resource: the Gateway API's CRDs are not installed.
                "the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoutes\nhint: install the Gateway API CRDs and a Gateway controller (`pipedreamer cluster check --route gateway --gateway NS/NAME` checks), or deploy with an Ingress (drop --route gateway)",
                report,
            )
            .await
        }
    }
}

/// Server-side applies a custom resource through its dynamic `api`; a 404 means its CRD is not
/// installed, which `not_served` explains.
async fn apply_custom(
    cluster: &Cluster,
    api: &kube::Api<DynamicObject>,
    kind: &str,
    object: &serde_json::Value,
    not_served: &str,
    report: &mut ApplyReport,
) -> Result<(), Error> {
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    match api
        .patch(name, &apply_params(), &Patch::Apply(object))
        .await
    {
        Ok(_) => {
            report.applied.push(format!("{kind}/{name}"));
            Ok(())
        }
        Err(e) if is_not_found(&e) => {
            Err(Error::Other(format!("apply {kind} {name:?}: {not_served}")))
        }
        Err(e) => Err(cluster.error(format!("apply {kind} {name:?}"), e)),
    }
}

/// The namespaced dynamic API of CiliumNetworkPolicies.
pub(crate) fn cilium_policies(cluster: &Cluster) -> kube::Api<DynamicObject> {
    kube::Api::namespaced_with(
        cluster.client.clone(),
        &cluster.namespace,
        &cilium_resource(),
    )
}

/// Switching a live Deployment to `Recreate` with server-side apply alone fails: the
/// `rollingUpdate` block the API server defaulted belongs to no field manager, so it stays, and
/// "may not be specified when strategy type is 'Recreate'" (kubernetes/kubernetes#24198). A merge
/// patch clears it together with the type change first; a Deployment that does not exist yet
/// needs nothing.
async fn prepare_recreate(cluster: &Cluster, deployment: &Deployment) -> Result<(), Error> {
    let recreate = deployment
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        == Some("Recreate");
    if !recreate {
        return Ok(());
    }
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let patch =
        serde_json::json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}});
    match cluster
        .api::<Deployment>()
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(cluster.error(format!("switch Deployment {name:?} to Recreate"), e)),
    }
}

/// Applies the manifests in order (NetworkPolicy, CiliumNetworkPolicy, Deployment, Service,
/// route, CronJobs) and prunes stale CronJobs, routes and policies.
pub async fn apply(cluster: &Cluster, manifests: &Manifests) -> Result<ApplyReport, Error> {
    let mut report = ApplyReport::default();
    let name = manifests.name();
    // Policies before the pods they confine.
    apply_object(cluster, &manifests.network_policy, &mut report).await?;
    if let Some(policy) = &manifests.cilium_policy {
        apply_custom(
            cluster,
            &cilium_policies(cluster),
            "CiliumNetworkPolicy",
            policy,
            // No such resource: Cilium (its CRDs) is not installed.
            "the cluster does not serve cilium.io/v2 CiliumNetworkPolicies\nhint: --egress-policy cilium needs Cilium as the cluster's network plugin; use --egress-policy ports (any plugin that enforces NetworkPolicies) instead",
            &mut report,
        )
        .await?;
    }
    prepare_recreate(cluster, &manifests.deployment).await?;
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
    prune_policies(cluster, &name, Some(manifests), &mut report).await?;
    Ok(report)
}

/// Deletes the workflow's policies that `manifests` does not carry (`None`: all of them, for
/// undeploy): a CiliumNetworkPolicy after a switch away from `--egress-policy cilium`, a
/// NetworkPolicy of another name. Found by label; a cluster without Cilium has none to prune.
pub(crate) async fn prune_policies(
    cluster: &Cluster,
    workflow: &str,
    manifests: Option<&Manifests>,
    report: &mut ApplyReport,
) -> Result<(), Error> {
    let selector = ListParams::default().labels(&labels::network_policies_selector(workflow));
    let keep_np: Vec<String> = manifests
        .and_then(|m| m.network_policy.metadata.name.clone())
        .into_iter()
        .collect();
    let keep_cnp: Vec<String> = manifests
        .and_then(|m| m.cilium_policy.as_ref())
        .and_then(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .into_iter()
        .collect();
    let np = cluster.api::<NetworkPolicy>();
    prune_stale(
        cluster,
        &np,
        "NetworkPolicy",
        "networkpolicies",
        &selector,
        &keep_np,
        report,
    )
    .await?;
    let cnp = cilium_policies(cluster);
    prune_stale(
        cluster,
        &cnp,
        "CiliumNetworkPolicy",
        "ciliumnetworkpolicies",
        &selector,
        &keep_cnp,
        report,
    )
    .await
}

/// Deletes the objects `api` lists under `selector` whose names are not in `keep`, recording
/// them as `kind/name`. A kind the cluster does not serve or the user may not list is handled
/// as [`skip_or_fail`] says.
async fn prune_stale<K>(
    cluster: &Cluster,
    api: &kube::Api<K>,
    kind: &str,
    resource: &str,
    selector: &ListParams,
    keep: &[String],
    report: &mut ApplyReport,
) -> Result<(), Error>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let list = match api.list_metadata(selector).await {
        Ok(list) => list,
        Err(e) => return skip_or_fail(cluster, kind, resource, e, report),
    };
    for stale in list
        .items
        .into_iter()
        .filter_map(|o| o.metadata.name)
        .filter(|n| !keep.contains(n))
    {
        match api.delete(&stale, &DeleteParams::background()).await {
            Ok(_) => report.pruned.push(format!("{kind}/{stale}")),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(cluster.error(format!("delete stale {kind} {stale:?}"), e)),
        }
    }
    Ok(())
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
        prune_stale(
            cluster,
            &api,
            "Ingress",
            "ingresses",
            &selector,
            &[],
            report,
        )
        .await?;
    }
    if keep != Some("HTTPRoute") {
        let api = http_routes(cluster);
        prune_stale(
            cluster,
            &api,
            "HTTPRoute",
            "httproutes",
            &selector,
            &[],
            report,
        )
        .await?;
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
