//! Day-2 operations without kubectl: `list`, `status` (with the public URL read back from the
//! workflow's Ingress or HTTPRoute), `run` (through a short-lived curl pod), `logs` and
//! `undeploy`. Each returns data; the CLI decides how to print it.

use crate::{Cluster, Error, apply, is_not_found, labels, manifests, rollout, route};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, LogParams, PostParams};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// One deployed workflow, as `list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowSummary {
    /// Workflow (Deployment) name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// `app.kubernetes.io/version`.
    pub version: String,
    /// Ready replicas.
    pub ready: i32,
    /// Desired replicas.
    pub desired: i32,
    /// `Available`, `Progressing`, `Degraded` or `Scaled down`.
    pub status: String,
    /// Seconds since the Deployment was created.
    pub age_seconds: i64,
    /// The public URL, read from the workflow's Ingress or HTTPRoute; `None` without one.
    pub url: Option<String>,
}

fn summarize(deployment: &Deployment) -> WorkflowSummary {
    let (done, progress) = rollout::assess(deployment);
    let available = deployment
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Available" && c.status == "True");
    let status = if progress.desired == 0 {
        "Scaled down"
    } else if done {
        "Available"
    } else if !available
        && progress.ready == 0
        && deployment
            .status
            .as_ref()
            .is_some_and(|s| s.observed_generation.is_some())
    {
        "Degraded"
    } else {
        "Progressing"
    };
    let created = deployment.metadata.creation_timestamp.as_ref().map(|t| t.0);
    WorkflowSummary {
        name: deployment.metadata.name.clone().unwrap_or_default(),
        namespace: deployment.metadata.namespace.clone().unwrap_or_default(),
        version: deployment
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(labels::VERSION).cloned())
            .unwrap_or_default(),
        ready: progress.ready,
        desired: progress.desired,
        status: status.to_owned(),
        age_seconds: created
            .map(|c| (k8s_openapi::jiff::Timestamp::now().as_second() - c.as_second()).max(0))
            .unwrap_or(0),
        url: None,
    }
}

/// Workflow name → public URL, from the route objects `selector` matches. A kind the cluster
/// does not serve (no Gateway API) or the user may not list is left out: the URL is extra
/// information, not a reason for `list` to fail.
async fn route_urls(cluster: &Cluster, selector: &str) -> Result<BTreeMap<String, String>, Error> {
    let params = ListParams::default().labels(selector);
    let mut urls = BTreeMap::new();
    let skippable =
        |e: &kube::Error| matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 403);
    match cluster.api::<Ingress>().list(&params).await {
        Ok(list) => {
            for ingress in &list.items {
                if let (Some(name), Some(url)) =
                    (ingress.metadata.name.clone(), route::ingress_url(ingress))
                {
                    urls.insert(name, url);
                }
            }
        }
        Err(e) if skippable(&e) => {}
        Err(e) => return Err(cluster.error("list Ingresses", e)),
    }
    match apply::http_routes(cluster).list(&params).await {
        Ok(list) => {
            for object in list.items {
                let value = serde_json::to_value(&object).unwrap_or_default();
                if let (Some(name), Some(url)) =
                    (object.metadata.name.clone(), route::http_route_url(&value))
                {
                    urls.entry(name).or_insert(url);
                }
            }
        }
        Err(e) if skippable(&e) => {}
        Err(e) => return Err(cluster.error("list HTTPRoutes", e)),
    }
    Ok(urls)
}

/// Every pipedreamer-managed workflow in the namespace, by name.
pub async fn list(cluster: &Cluster) -> Result<Vec<WorkflowSummary>, Error> {
    let deployments = cluster
        .api::<Deployment>()
        .list(&ListParams::default().labels(&labels::managed_selector()))
        .await
        .map_err(|e| cluster.error("list Deployments", e))?;
    let mut urls = route_urls(cluster, &labels::managed_routes_selector()).await?;
    let mut all: Vec<_> = deployments
        .items
        .iter()
        .map(|d| {
            let mut summary = summarize(d);
            summary.url = urls.remove(&summary.name);
            summary
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(all)
}

/// `status --detail`.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    /// Container image.
    pub image: String,
    /// Pod RuntimeClass.
    pub runtime_class: Option<String>,
    /// Resource requests.
    pub requests: BTreeMap<String, String>,
    /// Resource limits.
    pub limits: BTreeMap<String, String>,
    /// In-cluster URL of the Service, when it exists.
    pub service: Option<String>,
    /// Cron triggers.
    pub cron_jobs: Vec<CronSummary>,
    /// Engine pods.
    pub pods: Vec<PodSummary>,
    /// Newest Warning events.
    pub events: Vec<String>,
}

/// One CronJob.
#[derive(Debug, Clone, Serialize)]
pub struct CronSummary {
    /// Name.
    pub name: String,
    /// Schedule.
    pub schedule: String,
    /// Time zone, when set.
    pub time_zone: Option<String>,
    /// Last time it fired (RFC 3339).
    pub last_schedule: Option<String>,
}

/// One pod.
#[derive(Debug, Clone, Serialize)]
pub struct PodSummary {
    /// Name.
    pub name: String,
    /// Phase.
    pub phase: String,
    /// Whether every container is ready.
    pub ready: bool,
    /// Restarts of the engine container.
    pub restarts: i32,
    /// Why it is not fine, if it is not.
    pub reason: Option<String>,
}

/// `status`.
#[derive(Debug, Clone, Serialize)]
pub struct WorkflowStatus {
    /// The summary line.
    #[serde(flatten)]
    pub summary: WorkflowSummary,
    /// With `--detail`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
}

fn quantities(
    map: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> BTreeMap<String, String> {
    map.map(|m| m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

fn pod_summary(pod: &Pod) -> PodSummary {
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.clone().unwrap_or_default();
    let waiting_reason = containers
        .iter()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    PodSummary {
        name: pod.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.clone().unwrap_or_else(|| "Unknown".to_owned()),
        ready: !containers.is_empty() && containers.iter().all(|c| c.ready),
        restarts: containers.iter().map(|c| c.restart_count).sum(),
        reason: rollout::pod_problems(pod)
            .into_iter()
            .next()
            .or(waiting_reason),
    }
}

/// Readiness of workflow `name`; with `detail`, its pods, cron triggers and recent events too.
pub async fn status(cluster: &Cluster, name: &str, detail: bool) -> Result<WorkflowStatus, Error> {
    let deployment = get_deployment(cluster, name).await?;
    let mut summary = summarize(&deployment);
    summary.url = route_urls(cluster, &labels::routes_selector(name))
        .await?
        .remove(name);
    if !detail {
        return Ok(WorkflowStatus {
            summary,
            detail: None,
        });
    }
    let pod_spec = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.clone())
        .unwrap_or_default();
    let container = pod_spec.containers.first().cloned().unwrap_or_default();
    let resources = container.resources.clone().unwrap_or_default();
    let service = match cluster.api::<Service>().get_metadata(name).await {
        Ok(_) => Some(
            manifests::run_url(name, &cluster.namespace)
                .trim_end_matches("/run")
                .to_owned(),
        ),
        Err(e) if is_not_found(&e) => None,
        Err(e) => return Err(cluster.error(format!("get Service {name:?}"), e)),
    };
    let cron_jobs = cluster
        .api::<CronJob>()
        .list(&ListParams::default().labels(&labels::cron_jobs_selector(name)))
        .await
        .map_err(|e| cluster.error("list CronJobs", e))?
        .items
        .iter()
        .map(|c| CronSummary {
            name: c.metadata.name.clone().unwrap_or_default(),
            schedule: c
                .spec
                .as_ref()
                .map(|s| s.schedule.clone())
                .unwrap_or_default(),
            time_zone: c.spec.as_ref().and_then(|s| s.time_zone.clone()),
            last_schedule: c
                .status
                .as_ref()
                .and_then(|s| s.last_schedule_time.as_ref())
                .map(|t| t.0.to_string()),
        })
        .collect();
    let pods = engine_pods(cluster, name).await?;
    Ok(WorkflowStatus {
        summary,
        detail: Some(Detail {
            image: container.image.unwrap_or_default(),
            runtime_class: pod_spec.runtime_class_name,
            requests: quantities(resources.requests.as_ref()),
            limits: quantities(resources.limits.as_ref()),
            service,
            cron_jobs,
            pods: pods.iter().map(pod_summary).collect(),
            events: rollout::warning_events(cluster, name, 5).await,
        }),
    })
}

async fn get_deployment(cluster: &Cluster, name: &str) -> Result<Deployment, Error> {
    match cluster.api::<Deployment>().get(name).await {
        Ok(d) => Ok(d),
        Err(e) if is_not_found(&e) => Err(Error::NotDeployed {
            name: name.to_owned(),
            namespace: cluster.namespace.clone(),
        }),
        Err(e) => Err(cluster.error(format!("get Deployment {name:?}"), e)),
    }
}

async fn engine_pods(cluster: &Cluster, name: &str) -> Result<Vec<Pod>, Error> {
    let mut pods = cluster
        .api::<Pod>()
        .list(&ListParams::default().labels(&labels::engine_pods_selector(name)))
        .await
        .map_err(|e| cluster.error("list Pods", e))?
        .items;
    pods.sort_by_key(|p| {
        (
            p.metadata.creation_timestamp.as_ref().map(|t| t.0),
            p.metadata.name.clone(),
        )
    });
    Ok(pods)
}

/// `run`: what to send and how long to wait.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// Workflow name.
    pub name: String,
    /// JSON body.
    pub payload: String,
    /// Limit for the whole invocation, pod start included.
    pub timeout: Duration,
    /// The curl image.
    pub curl_image: String,
}

/// The workflow's answer.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The JSON the engine returned.
    pub body: serde_json::Value,
    /// Whether `status` is `succeeded`.
    pub succeeded: bool,
    /// The temporary pod.
    pub pod: String,
}

/// Arguments beyond this size do not fit in a pod spec's command line.
pub const MAX_RUN_PAYLOAD: usize = 100 * 1024;

/// Invokes `POST /run` from inside the cluster through a temporary curl pod, which is deleted
/// afterwards whatever happens: success, failure, timeout or `cancelled` (Ctrl-C) resolving.
pub async fn run(
    cluster: &Cluster,
    request: &RunRequest,
    cancelled: impl Future<Output = ()>,
    mut on_status: impl FnMut(&str),
) -> Result<RunResult, Error> {
    if request.payload.len() > MAX_RUN_PAYLOAD {
        return Err(Error::Other(format!(
            "the payload is {} KiB; `run` passes it on the curl command line, which takes at most {} KiB\nhint: for larger inputs, port-forward the Service and POST to /run directly",
            request.payload.len() / 1024,
            MAX_RUN_PAYLOAD / 1024
        )));
    }
    match cluster.api::<Service>().get_metadata(&request.name).await {
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {
            return Err(Error::NotDeployed {
                name: request.name.clone(),
                namespace: cluster.namespace.clone(),
            });
        }
        Err(e) => return Err(cluster.error(format!("get Service {:?}", request.name), e)),
    }
    let pods = cluster.api::<Pod>();
    let url = manifests::run_url(&request.name, &cluster.namespace);
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-run-", request.name)),
            namespace: Some(cluster.namespace.clone()),
            labels: Some(labels::helper_pod_labels(&request.name, "run")),
            ..ObjectMeta::default()
        },
        spec: Some(manifests::curl_pod_spec(
            &request.curl_image,
            &url,
            &request.payload,
            request.timeout.as_secs().max(1),
        )),
        ..Pod::default()
    };
    let created = pods
        .create(&PostParams::default(), &pod)
        .await
        .map_err(|e| cluster.error("create run pod", e))?;
    let pod_name = created.metadata.name.clone().unwrap_or_default();
    on_status(&format!("started pod {pod_name}"));
    let outcome = tokio::select! {
        r = await_run_pod(cluster, &pod_name, &mut on_status) => r,
        () = tokio::time::sleep(request.timeout) => Err(Error::Timeout {
            what: format!("waiting for run pod {pod_name}"),
            after: request.timeout,
        }),
        () = cancelled => Err(Error::Other("interrupted".to_owned())),
    };
    // Deleting is best effort but bounded: a dead API must not turn Ctrl-C into a hang.
    let now = DeleteParams::default().grace_period(0);
    match tokio::time::timeout(Duration::from_secs(10), pods.delete(&pod_name, &now)).await {
        Ok(Ok(_)) => on_status(&format!("deleted pod {pod_name}")),
        Ok(Err(e)) if is_not_found(&e) => {}
        _ => on_status(&format!(
            "could not delete pod {pod_name}; remove it with `kubectl delete pod -n {} {pod_name}`",
            cluster.namespace
        )),
    }
    let body = outcome?;
    let parsed: serde_json::Value = serde_json::from_str(body.trim()).map_err(|_| {
        Error::Other(format!(
            "the run pod could not get an answer from the workflow: {}",
            body.trim().lines().last().unwrap_or("no output")
        ))
    })?;
    Ok(RunResult {
        succeeded: parsed["status"] == "succeeded",
        body: parsed,
        pod: pod_name,
    })
}

async fn await_run_pod(
    cluster: &Cluster,
    pod_name: &str,
    on_status: &mut impl FnMut(&str),
) -> Result<String, Error> {
    let pods = cluster.api::<Pod>();
    let mut last_phase = String::new();
    loop {
        let pod = pods
            .get(pod_name)
            .await
            .map_err(|e| cluster.error(format!("get pod {pod_name:?}"), e))?;
        let phase = pod
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase != last_phase {
            on_status(&format!("pod {pod_name}: {phase}"));
            last_phase = phase.clone();
        }
        if phase == "Succeeded" || phase == "Failed" {
            return pods
                .logs(pod_name, &LogParams::default())
                .await
                .map_err(|e| cluster.error(format!("read logs of {pod_name:?}"), e));
        }
        if let Some(problem) = rollout::pod_problems(&pod).into_iter().next() {
            return Err(Error::Other(problem));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The first Running engine pod of `name`, or an error that lists what the pods are doing.
pub async fn running_pod(cluster: &Cluster, name: &str) -> Result<String, Error> {
    let pods = engine_pods(cluster, name).await?;
    if let Some(pod) = pods
        .iter()
        .find(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
    {
        return Ok(pod.metadata.name.clone().unwrap_or_default());
    }
    if pods.is_empty() {
        get_deployment(cluster, name).await?;
        return Err(Error::Other(format!("workflow {name:?} has no pods yet")));
    }
    let states: Vec<String> = pods
        .iter()
        .map(|p| {
            let s = pod_summary(p);
            format!(
                "{}: {}{}",
                s.name,
                s.phase,
                s.reason.map(|r| format!(" ({r})")).unwrap_or_default()
            )
        })
        .collect();
    Err(Error::Other(format!(
        "workflow {name:?} has no Running pod: {}",
        states.join("; ")
    )))
}

fn log_params(tail: i64, follow: bool) -> LogParams {
    LogParams {
        container: Some("engine".to_owned()),
        tail_lines: Some(tail),
        follow,
        ..LogParams::default()
    }
}

/// The last `tail` lines of the engine container in `pod`.
pub async fn logs(cluster: &Cluster, pod: &str, tail: i64) -> Result<String, Error> {
    cluster
        .api::<Pod>()
        .logs(pod, &log_params(tail, false))
        .await
        .map_err(|e| cluster.error(format!("read logs of pod {pod:?}"), e))
}

/// The last `tail` lines of the engine container in `pod`, then new lines as they come.
pub async fn follow_logs(
    cluster: &Cluster,
    pod: &str,
    tail: i64,
) -> Result<impl futures_util::Stream<Item = std::io::Result<String>> + use<>, Error> {
    use futures_util::AsyncBufReadExt;
    let stream = cluster
        .api::<Pod>()
        .log_stream(pod, &log_params(tail, true))
        .await
        .map_err(|e| cluster.error(format!("stream logs of pod {pod:?}"), e))?;
    Ok(stream.lines())
}

/// What `undeploy` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndeployReport {
    /// `Kind/name` of each deleted object.
    pub deleted: Vec<String>,
    /// What could not be checked (a route kind the user may not list).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// Deletes the workflow's route (Ingress, HTTPRoute), Service, Deployment, Secrets (its own and
/// the report token's) and CronJobs;
/// missing ones, and route kinds the cluster does not serve, are skipped.
pub async fn undeploy(cluster: &Cluster, name: &str) -> Result<UndeployReport, Error> {
    let mut report = UndeployReport::default();
    // The route first: the public entry point goes before what it points at.
    let mut routes = apply::ApplyReport::default();
    apply::prune_routes(cluster, name, None, &mut routes).await?;
    report.deleted.extend(routes.pruned);
    report.warnings.extend(routes.warnings);
    let params = DeleteParams::background();
    macro_rules! delete {
        ($kind:ty, $label:literal, $object:expr) => {{
            let object: String = $object;
            match cluster.api::<$kind>().delete(&object, &params).await {
                Ok(_) => report.deleted.push(format!("{}/{object}", $label)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(cluster.error(format!("delete {} {object:?}", $label), e)),
            }
        }};
    }
    delete!(Service, "Service", name.to_owned());
    delete!(Deployment, "Deployment", name.to_owned());
    delete!(Secret, "Secret", labels::secret_name(name));
    delete!(Secret, "Secret", labels::report_secret_name(name));
    let cron_jobs = cluster
        .api::<CronJob>()
        .list_metadata(&ListParams::default().labels(&labels::cron_jobs_selector(name)))
        .await
        .map_err(|e| cluster.error("list CronJobs", e))?;
    for cron in cron_jobs.items.into_iter().filter_map(|c| c.metadata.name) {
        delete!(CronJob, "CronJob", cron);
    }
    // The policies last: what they confined is gone.
    let mut policies = apply::ApplyReport::default();
    apply::prune_policies(cluster, name, None, &mut policies).await?;
    report.deleted.extend(policies.pruned);
    report.warnings.extend(policies.warnings);
    Ok(report)
}
