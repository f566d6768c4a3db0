//! Server-side apply of a workflow's objects (field manager `pipedreamer`, so re-running a deploy
//! is idempotent and hand edits to fields we own are taken back), then pruning of CronJobs whose
//! triggers left the workflow.

use crate::{Cluster, Error, Manifests, is_not_found, labels};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Service;
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

/// Applies the manifests in order (Deployment, Service, CronJobs) and prunes stale CronJobs.
pub async fn apply(cluster: &Cluster, manifests: &Manifests) -> Result<ApplyReport, Error> {
    let mut report = ApplyReport::default();
    let name = manifests
        .deployment
        .metadata
        .name
        .clone()
        .unwrap_or_default();
    cluster
        .api::<Deployment>()
        .patch(&name, &apply_params(), &Patch::Apply(&manifests.deployment))
        .await
        .map_err(|e| cluster.error(format!("apply Deployment {name:?}"), e))?;
    report.applied.push(format!("Deployment/{name}"));
    cluster
        .api::<Service>()
        .patch(&name, &apply_params(), &Patch::Apply(&manifests.service))
        .await
        .map_err(|e| cluster.error(format!("apply Service {name:?}"), e))?;
    report.applied.push(format!("Service/{name}"));
    let cron_api = cluster.api::<CronJob>();
    for cron in &manifests.cron_jobs {
        let cron_name = cron.metadata.name.clone().unwrap_or_default();
        cron_api
            .patch(&cron_name, &apply_params(), &Patch::Apply(cron))
            .await
            .map_err(|e| cluster.error(format!("apply CronJob {cron_name:?}"), e))?;
        report.applied.push(format!("CronJob/{cron_name}"));
    }
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
