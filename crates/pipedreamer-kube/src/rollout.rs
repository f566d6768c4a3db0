//! `deploy --wait`: follow a Deployment until it is Available, and when it is not, say why in
//! words a user can act on (image pull errors, crash loops, unschedulable pods, failed creates),
//! from pod statuses and Warning events.

use crate::{Cluster, Error, labels};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::ListParams;
use std::time::{Duration, Instant};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Progress {
    /// Desired replicas.
    pub desired: i32,
    /// Replicas running the new template.
    pub updated: i32,
    /// Ready replicas.
    pub ready: i32,
    /// Available replicas.
    pub available: i32,
    /// Why it is not done yet, if something looks wrong.
    pub problems: Vec<String>,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} updated, {}/{} ready",
            self.updated, self.desired, self.ready, self.desired
        )?;
        if let Some(p) = self.problems.first() {
            write!(f, " — {p}")?;
        }
        Ok(())
    }
}

/// How often to look.
const POLL: Duration = Duration::from_millis(1000);

/// Waits until the Deployment `name` is fully rolled out, calling `on_progress` when the picture
/// changes.
pub async fn wait(
    cluster: &Cluster,
    name: &str,
    timeout: Duration,
    mut on_progress: impl FnMut(&Progress),
) -> Result<(), Error> {
    let started = Instant::now();
    let mut last = None;
    loop {
        let deployment = cluster
            .api::<Deployment>()
            .get(name)
            .await
            .map_err(|e| cluster.error(format!("get Deployment {name:?}"), e))?;
        let (done, mut progress) = assess(&deployment);
        if !done {
            progress.problems = diagnose(cluster, name, &deployment).await;
        }
        if last.as_ref() != Some(&progress) {
            on_progress(&progress);
            last = Some(progress.clone());
        }
        if done {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            let mut reasons = progress.problems.clone();
            if reasons.is_empty() {
                reasons.push(format!(
                    "{progress}; no errors reported yet (a slow image pull?)"
                ));
            }
            return Err(Error::RolloutStuck {
                name: name.to_owned(),
                after: timeout,
                reasons,
            });
        }
        tokio::time::sleep(POLL.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

/// Whether the rollout is complete, by the same rule as `kubectl rollout status`.
pub fn assess(deployment: &Deployment) -> (bool, Progress) {
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let status = deployment.status.clone().unwrap_or_default();
    let progress = Progress {
        desired,
        updated: status.updated_replicas.unwrap_or(0),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        problems: Vec::new(),
    };
    let observed =
        status.observed_generation.unwrap_or(0) >= deployment.metadata.generation.unwrap_or(0);
    let done = observed
        && progress.updated >= desired
        && status.replicas.unwrap_or(0) <= progress.updated
        && progress.available >= desired;
    (done, progress)
}

/// Container waiting reasons that mean "this will not fix itself".
const BAD_WAITING: &[&str] = &[
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

/// Reads pods and events for the reasons a rollout is stuck.
async fn diagnose(cluster: &Cluster, name: &str, deployment: &Deployment) -> Vec<String> {
    let mut problems = Vec::new();
    for condition in deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
    {
        let failing = (condition.type_ == "ReplicaFailure" && condition.status == "True")
            || (condition.type_ == "Progressing"
                && condition.reason.as_deref() == Some("ProgressDeadlineExceeded"));
        if failing {
            problems.push(format!(
                "{}: {}",
                condition
                    .reason
                    .clone()
                    .unwrap_or_else(|| condition.type_.clone()),
                condition.message.clone().unwrap_or_default()
            ));
        }
    }
    let pods = cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&labels::engine_pods_selector(name)))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    for pod in &pods {
        problems.extend(pod_problems(pod));
    }
    problems.extend(warning_events(cluster, name, 3).await);
    problems.dedup();
    problems
}

/// What is wrong with one pod, if anything: bad waiting states, restarts, unschedulable.
pub fn pod_problems(pod: &Pod) -> Vec<String> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let mut problems = Vec::new();
    let Some(status) = &pod.status else {
        return problems;
    };
    for condition in status.conditions.iter().flatten() {
        if condition.type_ == "PodScheduled" && condition.status == "False" {
            problems.push(format!(
                "pod {pod_name} is unschedulable: {}",
                condition.message.clone().unwrap_or_default()
            ));
        }
    }
    for container in status.container_statuses.iter().flatten() {
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.clone().unwrap_or_default();
            if BAD_WAITING.contains(&reason.as_str()) {
                let hint = match reason.as_str() {
                    "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => {
                        " (is the image pushed, and can the cluster reach the registry? see --cluster-registry)"
                    }
                    "CrashLoopBackOff" => " (see `pipedreamer logs`)",
                    _ => "",
                };
                problems.push(format!(
                    "pod {pod_name}: {reason}: {}{hint}",
                    waiting.message.clone().unwrap_or_default()
                ));
            }
        }
    }
    problems
}

/// The newest Warning events about the workflow's objects, as `Reason: message`.
pub async fn warning_events(cluster: &Cluster, name: &str, limit: usize) -> Vec<String> {
    let events = cluster
        .api::<Event>()
        .list(&ListParams::default().fields("type=Warning"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut relevant: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.involved_object
                .name
                .as_deref()
                .is_some_and(|n| n == name || n.starts_with(&format!("{name}-")))
        })
        .collect();
    relevant.sort_by_key(|e| e.last_timestamp.as_ref().map(|t| t.0));
    relevant
        .iter()
        .rev()
        .take(limit)
        .map(|e| {
            format!(
                "{} {}: {}: {}",
                e.involved_object.kind.clone().unwrap_or_default(),
                e.involved_object.name.clone().unwrap_or_default(),
                e.reason.clone().unwrap_or_default(),
                e.message.clone().unwrap_or_default().trim()
            )
        })
        .collect()
}
