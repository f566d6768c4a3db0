//! Labels and names that tie cluster objects to a workflow. Every lookup (`list`, prune, undeploy,
//! logs) goes through these, so a selector can never drift from the labels deploy writes.

use pipedreamer_spec::Workflow;
use std::collections::BTreeMap;

/// The workflow name (also the Service selector).
pub const NAME: &str = "app.kubernetes.io/name";
/// Always `pipedreamer`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// The workflow version.
pub const VERSION: &str = "app.kubernetes.io/version";
/// `engine`, `cron`, `route`, `network-policy` or `run`.
pub const COMPONENT: &str = "app.kubernetes.io/component";
/// The workflow name on helper pods, which must not carry [`NAME`]: the Service selects on it.
pub const WORKFLOW: &str = "pipedreamer.dev/workflow";
/// The value of [`MANAGED_BY`].
pub const MANAGER: &str = "pipedreamer";

/// Labels on the Deployment, Service, route, CronJobs and engine pods.
pub fn object_labels(workflow: &Workflow, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_owned(), workflow.name.clone()),
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (VERSION.to_owned(), version_label(&workflow.version)),
        (COMPONENT.to_owned(), component.to_owned()),
        (WORKFLOW.to_owned(), workflow.name.clone()),
    ])
}

/// Labels on pods that call the workflow (CronJob and `run` pods): no [`NAME`], so the Service
/// never routes requests to them.
pub fn helper_pod_labels(workflow: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (COMPONENT.to_owned(), component.to_owned()),
        (WORKFLOW.to_owned(), workflow.to_owned()),
    ])
}

/// The Deployment and Service selector.
pub fn selector(workflow: &Workflow) -> BTreeMap<String, String> {
    BTreeMap::from([(NAME.to_owned(), workflow.name.clone())])
}

/// Selects every object of the kind that pipedreamer manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGER}")
}

/// Selects one workflow's engine pods.
pub fn engine_pods_selector(workflow: &str) -> String {
    format!("{NAME}={workflow},{MANAGED_BY}={MANAGER}")
}

/// Selects one workflow's CronJobs.
pub fn cron_jobs_selector(workflow: &str) -> String {
    format!("{NAME}={workflow},{MANAGED_BY}={MANAGER},{COMPONENT}=cron")
}

/// Selects every pipedreamer-managed route object (Ingress, HTTPRoute).
pub fn managed_routes_selector() -> String {
    format!(
        "{MANAGED_BY}={MANAGER},{COMPONENT}={}",
        crate::route::COMPONENT
    )
}

/// Selects one workflow's route objects (Ingress, HTTPRoute).
pub fn routes_selector(workflow: &str) -> String {
    format!(
        "{NAME}={workflow},{MANAGED_BY}={MANAGER},{COMPONENT}={}",
        crate::route::COMPONENT
    )
}

/// Selects one workflow's NetworkPolicy and CiliumNetworkPolicy.
pub fn network_policies_selector(workflow: &str) -> String {
    format!(
        "{NAME}={workflow},{MANAGED_BY}={MANAGER},{COMPONENT}={}",
        crate::network::COMPONENT
    )
}

/// The optional Secret the engine reads its secrets from.
pub fn secret_name(workflow: &str) -> String {
    format!("{workflow}-secrets")
}

/// The Secret holding the engine's run-report token (deployments of the control plane that
/// report runs): mounted as a file, never an environment variable.
pub fn report_secret_name(workflow: &str) -> String {
    format!("{workflow}-report")
}

/// Label values allow `[A-Za-z0-9._-]`, at most 63, alphanumeric at both ends.
fn version_label(version: &str) -> String {
    let cleaned: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::version_label;

    #[test]
    fn versions_become_valid_label_values() {
        assert_eq!(version_label("1.0"), "1.0");
        assert_eq!(version_label("v2 beta+1"), "v2-beta-1");
        assert_eq!(version_label("-x-"), "x");
        assert_eq!(version_label(&"9".repeat(80)).len(), 63);
    }
}
