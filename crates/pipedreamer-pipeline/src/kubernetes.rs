//! The `kubernetes` target: push to the target's registry, server-side apply (the Secret
//! `<name>-secrets` from the deployment's secrets first), and wait until the new pods are ready:
//! the build is `SUCCESS` only then.

use crate::error::{PipelineError, TargetError};
use crate::job::{Checkout, Delivered, Job};
use crate::{Phase, ROLLOUT_GRACE};
use pipedreamer_image::publish::RegistryPublisher;
use pipedreamer_kube::Cluster;
use pipedreamer_kube::deploy::ApplyOptions;
use pipedreamer_kube::manifests::EngineReport;
use pipedreamer_store::{Deployment, Target};

/// The target's cluster and registries.
struct KubeTarget<'a> {
    context: Option<&'a str>,
    namespace: Option<&'a str>,
    registry: Option<&'a str>,
    cluster_registry: Option<&'a str>,
}

fn target<'a>(d: &'a Deployment, default_registry: Option<&'a str>) -> KubeTarget<'a> {
    match &d.target {
        Target::Kubernetes {
            namespace,
            context,
            registry,
            cluster_registry,
        } => KubeTarget {
            context: context.as_deref(),
            namespace: namespace.as_deref(),
            registry: registry.as_deref().or(default_registry),
            cluster_registry: cluster_registry.as_deref(),
        },
        Target::Local => KubeTarget {
            context: None,
            namespace: None,
            registry: default_registry,
            cluster_registry: None,
        },
    }
}

async fn connect(t: &KubeTarget<'_>) -> Result<Cluster, PipelineError> {
    pipedreamer_kube::deploy::connect(t.context, t.namespace)
        .await
        .map_err(|e| TargetError::Kubernetes(e.to_string()).into())
}

/// Build, push, apply, wait.
pub(crate) async fn deliver(
    job: &Job<'_>,
    checkout: &Checkout,
) -> Result<Delivered, PipelineError> {
    let d = &job.deployment;
    let t = target(d, job.shared.config.registry.as_deref());
    let registry = t.registry.ok_or(TargetError::NoRegistry)?;
    let reference = job.image_reference(registry.trim_end_matches('/'))?;
    let image = job.build_image(checkout, &reference).await?;
    let publisher = RegistryPublisher::new().insecure(job.shared.config.insecure_registry);
    let published = job.publish(&publisher, &image, &reference).await?;

    // The cluster pulls by digest: the tag could be moved, the digest is what was built.
    let pulled = match t.cluster_registry {
        Some(r) => reference.with_registry(r),
        None => reference.clone(),
    };
    let pinned = format!("{pulled}@{}", published.digest);
    let limit = job.shared.config.timeouts.rollout;
    // The rollout wait gets the whole limit and, when the pods are not ready by then, ends
    // with the reasons (image pull errors, crash loops) read from pods and events. The phase's
    // own timeout is only a backstop above it, for the API calls before and after the wait
    // (each bounded by the client's request timeout): were it the same limit, it would always
    // fire first, since the wait starts after the applies, and the reasons would be lost.
    job.phase(Phase::Rollout, limit + ROLLOUT_GRACE, async {
        let cluster = connect(&t).await?;
        job.log
            .write(&format!(
                "applying to namespace `{}` at {}",
                cluster.namespace, cluster.server
            ))
            .await;
        // Objects are named after the deployment (unique in its workspace, hence namespace).
        let mut resolved = checkout.resolved.clone();
        resolved.workflow.name = d.name.clone();
        if let Some(serde_json::Value::Object(values)) = &job.secrets {
            let files = values
                .iter()
                .map(|(k, v)| (k.clone(), v.to_string().into_bytes()))
                .collect();
            pipedreamer_kube::deploy::apply_secret(&cluster, &d.name, &files)
                .await
                .map_err(|e| TargetError::Kubernetes(job.log.masked(&e.to_string())))?;
            job.log
                .write(&format!("Secret {}-secrets applied", d.name))
                .await;
        }
        let route = job
            .shared
            .config
            .kube_routing
            .as_ref()
            .zip(d.subdomain.as_deref())
            .map(|(routing, subdomain)| routing.route(subdomain))
            .transpose()
            .map_err(|e| TargetError::Kubernetes(e.to_string()))?;
        if let Some(route) = &route {
            job.log
                .write(&format!("public URL: {} (Ingress)", route.url()))
                .await;
        }
        // The token Secret before the Deployment that mounts it, so new pods find it.
        let report = match &job.shared.config.reporting {
            // Pods cannot reach the server's loopback address: reporting there would only
            // fill each engine's buffer. Say so in the build log instead.
            Some(reporting) if loopback(&reporting.url) => {
                job.log
                    .write(&format!(
                        "warning: runs are not reported: {} is a loopback URL, which pods cannot reach; set runs.report_url to the server's URL as the cluster sees it",
                        reporting.url
                    ))
                    .await;
                None
            }
            Some(reporting) => {
                let token = reporting.token(d).await?;
                pipedreamer_kube::deploy::apply_report_secret(&cluster, &d.name, &token)
                    .await
                    .map_err(|e| TargetError::Kubernetes(job.log.masked(&e.to_string())))?;
                job.log
                    .write(&format!(
                        "Secret {} applied: runs are reported to {}",
                        pipedreamer_kube::labels::report_secret_name(&d.name),
                        reporting.url
                    ))
                    .await;
                Some(EngineReport {
                    url: reporting.url.clone(),
                })
            }
            None => None,
        };
        let manifests = pipedreamer_kube::deploy::render(
            &checkout.dir,
            &resolved,
            &pinned,
            &cluster.namespace,
            None,
            route.as_ref(),
            report.as_ref(),
        )
        .map_err(|e| TargetError::Kubernetes(e.to_string()))?;
        // Steps arrive inside the apply's future; they reach the log as it is awaited.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let options = ApplyOptions {
            preflight: false,
            wait: Some(limit),
        };
        let apply = pipedreamer_kube::deploy::apply(&cluster, &manifests, &options, move |step| {
            let _ = tx.send(step.to_string());
        });
        tokio::pin!(apply);
        let result = loop {
            tokio::select! {
                r = &mut apply => break r,
                Some(line) = rx.recv() => job.log.write(&line).await,
            }
        };
        while let Ok(line) = rx.try_recv() {
            job.log.write(&line).await;
        }
        let report = result.map_err(|e| PipelineError::Rollout(job.log.masked(&e.to_string())))?;
        for pruned in &report.pruned {
            job.log.write(&format!("pruned {pruned}")).await;
        }
        // E.g. a route left from an earlier rollout that this account may not list.
        for warning in &report.warnings {
            job.log.write(&format!("warning: {warning}")).await;
        }
        Ok(())
    })
    .await?;
    Ok(Delivered {
        image: reference.to_string(),
        digest: published.digest,
    })
}

/// Whether `url`'s host is a loopback name or address (`localhost`, `127.x.x.x`, `[::1]`).
fn loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Deletes the deployment's objects (its records stay).
pub(crate) async fn undeploy(d: &Deployment) -> Result<(), PipelineError> {
    let t = target(d, None);
    let cluster = connect(&t).await?;
    pipedreamer_kube::ops::undeploy(&cluster, &d.name)
        .await
        .map_err(|e| TargetError::Kubernetes(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loopback;

    #[test]
    fn loopback_urls_are_recognised() {
        for url in [
            "http://127.0.0.1:7070",
            "http://localhost:7070/",
            "https://LOCALHOST",
            "http://[::1]:7070",
            "http://127.1.2.3",
        ] {
            assert!(loopback(url), "{url}");
        }
        for url in [
            "http://pipedreamer.pipedreamer.svc:7070",
            "https://deploy.example.com",
            "http://10.0.0.5:7070",
            "http://[fd00::1]:80",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }
}
