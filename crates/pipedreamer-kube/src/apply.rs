//! Server-side apply of a workflow's objects (field manager `pipedreamer`, so re-running a deploy
//! is idempotent and hand edits to fields we own are taken back), then pruning of CronJobs whose
//! triggers left the workflow.

use crate::{Cluster, Error, Manifests, is_not_found, labels};
use k8s_openapi::api::batch::v1::CronJob;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde::Serialize;

/// The field manager for every write.
pub const FIELD_MANAGER: &str = "pipedreamer";

/// What an apply did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ApplyReport {
    /// `Kind/name` of every object applied, in order.
    pub applied: Vec<String>,
    /// CronJobs deleted because their trigger is gone.
    pub pruned: Vec<String>,
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

/// Applies the manifests in order (Deployment, Service, CronJobs) and prunes stale CronJobs.
pub async fn apply(cluster: &Cluster, manifests: &Manifests) -> Result<ApplyReport, Error> {
    let mut report = ApplyReport::default();
    let name = manifests.name();
    apply_object(cluster, &manifests.deployment, &mut report).await?;
    apply_object(cluster, &manifests.service, &mut report).await?;
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
    Ok(report)
}
