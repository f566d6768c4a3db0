//! The `local` target: the image is loaded into podman or docker (no registry) and runs as a
//! hardened container on the deployment's own port (`pipedreamer-host`), replaced only once the
//! new version answers.
//!
//! With routing configured ([`crate::LocalRouting`]), a deployment with a subdomain also gets a
//! Caddy route `https://<subdomain>.<base_domain>` → its port: added once a rollout is live and
//! when a restarted server brings its container back, removed before its container when it
//! stops, and [`reconcile_routes`] makes Caddy's routes match the deployments every 10 s (a
//! restarted Caddy has lost them; a subdomain may have changed).

use crate::error::{PipelineError, TargetError};
use crate::job::{Checkout, Delivered, Job};
use crate::workers::Shared;
use crate::{LocalRouting, Phase, ROLLOUT_GRACE, RunReporting};
use pipedreamer_host::{ContainerSpec, Host, REPORT_TOKEN_FILE, ReportSpec};
use pipedreamer_image::publish::DaemonPublisher;
use pipedreamer_proxy::{Exposure, ProxyError, ProxyRoute, ReconcileReport, public_url, route_id};
use pipedreamer_store::{Deployment, DeploymentStatus, StoreError, Target};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The user the engine runs as in every image: it must be able to read the mounted secrets.
const ENGINE_UID: u32 = 65532;
/// Two builds of different deployments may pick the same free port at once; the store's unique
/// index refuses the second, which then picks again.
const PORT_ATTEMPTS: usize = 5;
/// A whole route change (several admin calls, each with its own timeout) or reconcile pass.
const ROUTING_TIMEOUT: Duration = Duration::from_secs(30);

fn host(shared: &Shared) -> Result<&Host, PipelineError> {
    shared
        .host
        .as_ref()
        .map_err(|e| PipelineError::Target(e.clone()))
}

/// Build, load, roll out.
pub(crate) async fn deliver(
    job: &Job<'_>,
    checkout: &Checkout,
) -> Result<Delivered, PipelineError> {
    let host = host(job.shared)?;
    let d = &job.deployment;
    // Never pushed anywhere: `localhost/` keeps it from looking like a Docker Hub name.
    let reference = job.image_reference("localhost/pipedreamer")?;
    let image = job.build_image(checkout, &reference).await?;
    let publisher = DaemonPublisher::new(host.engine())
        .timeout(job.shared.config.timeouts.publish)
        .scratch_dir(job.work_dir.clone());
    let published = job.publish(&publisher, &image, &reference).await?;

    let port = port_for(job.shared, d).await?;
    let secrets_dir = write_secrets(job.shared, d, job.secrets.as_ref()).await?;
    let report = match &job.shared.config.reporting {
        Some(reporting) => {
            let token = reporting.token(d).await?;
            Some(write_report_token(job.shared, d, reporting, token).await?)
        }
        None => {
            // A token left from when reporting was on must not outlive it.
            let _ = tokio::fs::remove_dir_all(report_dir(job.shared, d)).await;
            None
        }
    };
    let spec = ContainerSpec {
        deployment: d.id.clone(),
        build_id: job.build.id.clone(),
        image: reference.to_string(),
        bind: job.shared.config.local.bind,
        port,
        secrets_dir,
        memory_bytes: job.shared.config.local.memory_bytes,
        report,
    };
    job.log
        .write(&format!(
            "starting the new version on {}:{port}{} and waiting for it to answer /readyz",
            spec.bind,
            if host.uses_gvisor() {
                " under gVisor"
            } else {
                ""
            }
        ))
        .await;
    let limit = job.shared.config.timeouts.rollout;
    job.phase(Phase::Rollout, limit + ROLLOUT_GRACE, async {
        host.replace(&spec, limit)
            .await
            .map_err(|e| PipelineError::Rollout(job.log.masked(&e.to_string())))
    })
    .await?;
    // The route after the rollout: the new version answers on the same port, so an existing
    // route keeps working through the swap, and a first one appears once the container is live.
    // A routing failure does not fail the build: the new version is live on its port and the old
    // container is gone, so FAILED would misstate the deployment; the build log says why the
    // public URL is not there yet, and the reconcile loop adds the route within 10 s of Caddy
    // answering again.
    if let Some((routing, route)) = route_of(job.shared, d, port) {
        let url = public_url(&route.host, routing.caddy.https_port().unwrap_or(443));
        match upsert(routing, &route).await {
            Ok(()) => {
                job.log
                    .write(&format!("routed {url} to {}", route.upstream))
                    .await;
            }
            Err(e) => {
                job.log
                    .write(&format!(
                        "warning: {url} is not routed yet ({e}); the server retries every {} s",
                        routing.reconcile_every.as_secs()
                    ))
                    .await;
            }
        }
    }
    Ok(Delivered {
        image: reference.to_string(),
        digest: published.digest,
    })
}

/// `d`'s route to `port`, when routing is on and `d` has a subdomain.
fn route_of<'a>(
    shared: &'a Shared,
    d: &Deployment,
    port: u16,
) -> Option<(&'a LocalRouting, ProxyRoute)> {
    let routing = shared.config.local.routing.as_ref()?;
    let subdomain = d.subdomain.as_deref()?;
    let route = ProxyRoute {
        id: route_id(&d.id),
        host: routing.host(subdomain),
        upstream: SocketAddr::new(shared.config.local.bind, port),
        exposure: Exposure::Workflow,
    };
    Some((routing, route))
}

async fn upsert(routing: &LocalRouting, route: &ProxyRoute) -> Result<(), String> {
    match tokio::time::timeout(ROUTING_TIMEOUT, routing.caddy.upsert(route)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "Caddy at `{}` did not finish within {} s",
            routing.caddy.admin(),
            ROUTING_TIMEOUT.as_secs()
        )),
    }
}

/// The routes Caddy should have: those of live (`RUNNING`) local deployments with a subdomain
/// and a port; and the `@id`s of those rolling out (`DEPLOYING`), whose route is kept when Caddy
/// has it but not added: a rollout adds its route once the new version answers (a route to
/// nothing would answer 502), and a pass that read the deployment a moment before must not
/// remove the route that rollout has just added.
async fn desired_routes(
    shared: &Shared,
) -> Result<(Vec<ProxyRoute>, BTreeSet<String>), StoreError> {
    let deployments = shared.store.all_deployments().await?;
    let mut desired = Vec::new();
    let mut keep = BTreeSet::new();
    for d in deployments.iter().filter(|d| d.target == Target::Local) {
        let Some((_, route)) = d.local_port.and_then(|port| route_of(shared, d, port)) else {
            continue;
        };
        match d.status {
            DeploymentStatus::Running => desired.push(route),
            DeploymentStatus::Deploying => {
                keep.insert(route.id);
            }
            _ => {}
        }
    }
    if let Some(server) = shared
        .config
        .local
        .routing
        .as_ref()
        .and_then(|r| r.server_route.clone())
    {
        desired.push(server);
    }
    Ok((desired, keep))
}

/// Makes Caddy's routes match the deployments now and every `reconcile_every` until the
/// workers shut down. Touches only routes whose `@id` starts with `pipedreamer-`.
pub(crate) async fn reconcile_routes(shared: Arc<Shared>) {
    let Some(routing) = shared.config.local.routing.clone() else {
        return;
    };
    // Logged when it starts failing or fails differently, not every 10 s while Caddy is down.
    let mut last_error: Option<String> = None;
    loop {
        let outcome = match desired_routes(&shared).await {
            Ok((desired, keep)) => {
                let pass = routing.caddy.reconcile_keeping(&desired, &keep);
                match tokio::time::timeout(ROUTING_TIMEOUT, pass).await {
                    Ok(result) => result.map_err(|e: ProxyError| e.to_string()),
                    Err(_) => Err(format!(
                        "Caddy at `{}` did not finish reconciling within {} s",
                        routing.caddy.admin(),
                        ROUTING_TIMEOUT.as_secs()
                    )),
                }
            }
            Err(e) => Err(format!("cannot list the deployments: {e}")),
        };
        match outcome {
            Ok(report) => {
                log_report(&report);
                if last_error.take().is_some() {
                    tracing::info!(admin = %routing.caddy.admin(), "Caddy's routes are reconciled again");
                }
            }
            Err(e) => {
                if last_error.as_deref() != Some(&e) {
                    tracing::warn!(error = %e, "cannot reconcile the deployments' Caddy routes; retrying every {} s", routing.reconcile_every.as_secs());
                }
                last_error = Some(e);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(routing.reconcile_every) => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

fn log_report(report: &ReconcileReport) {
    if report.changed() {
        tracing::info!(
            added = ?report.added,
            updated = ?report.updated,
            removed = ?report.removed,
            unchanged = report.unchanged,
            "reconciled the deployments' Caddy routes"
        );
    }
}

/// The deployment's port: the stored one, else a free one from the range, stored for good.
async fn port_for(shared: &Shared, d: &Deployment) -> Result<u16, PipelineError> {
    if let Some(port) = d.local_port {
        return Ok(port);
    }
    let local = &shared.config.local;
    for _ in 0..PORT_ATTEMPTS {
        let taken = shared.store.taken_ports().await?;
        let port = pipedreamer_host::pick_port(local.port_range.clone(), &taken, local.bind)
            .ok_or_else(|| {
                TargetError::Host(format!(
                    "no free port left in local.port_range {}-{}; widen it in the server's config",
                    local.port_range.start(),
                    local.port_range.end()
                ))
            })?;
        match shared.store.set_local_port(&d.id, port).await {
            Ok(()) => return Ok(port),
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(
        TargetError::Host("cannot reserve a port: other deployments keep taking them".into())
            .into(),
    )
}

/// Where a deployment's report token file lives (`<data>/report/<deployment>/token`).
fn report_dir(shared: &Shared, d: &Deployment) -> PathBuf {
    shared.config.data_dir.join("report").join(&d.id)
}

/// Writes the deployment's report token as the only file of its directory (mode 0400, the
/// engine's user), mounted read-only into the container: the token never goes into the
/// container's environment or command line.
async fn write_report_token(
    shared: &Shared,
    d: &Deployment,
    reporting: &RunReporting,
    token: String,
) -> Result<ReportSpec, PipelineError> {
    let dir = report_dir(shared, d);
    let target = dir.clone();
    let files = vec![(REPORT_TOKEN_FILE.to_owned(), token)];
    tokio::task::spawn_blocking(move || write_secret_files(&target, &files))
        .await
        .map_err(|_| PipelineError::Internal(Phase::Rollout))?
        .map_err(|source| PipelineError::Io {
            what: format!(
                "cannot write the deployment's report token under `{}`",
                dir.display()
            ),
            source,
        })?;
    Ok(ReportSpec {
        url: reporting.url.clone(),
        token_dir: dir,
    })
}

/// Writes the deployment's secrets as the engine reads a mounted Secret: one file per top-level
/// key (JSON). Readable only by the engine's user; the parent directories stay root-only.
async fn write_secrets(
    shared: &Shared,
    d: &Deployment,
    secrets: Option<&serde_json::Value>,
) -> Result<Option<PathBuf>, PipelineError> {
    let Some(serde_json::Value::Object(map)) = secrets else {
        return Ok(None);
    };
    let dir = shared.config.data_dir.join("secrets").join(&d.id);
    let files: Vec<(String, String)> = map
        .iter()
        .map(|(k, v)| (k.clone(), v.to_string()))
        .collect();
    let target = dir.clone();
    tokio::task::spawn_blocking(move || write_secret_files(&target, &files))
        .await
        .map_err(|_| PipelineError::Internal(Phase::Rollout))?
        .map_err(|source| PipelineError::Io {
            what: format!(
                "cannot write the deployment's secrets under `{}`",
                dir.display()
            ),
            source,
        })?;
    Ok(Some(dir))
}

fn write_secret_files(dir: &std::path::Path, files: &[(String, String)]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
        std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o700))?;
    }
    // Rewritten whole: a key removed from the secrets must not linger.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    for (key, value) in files {
        // Keys are YAML keys: refuse anything that is not a plain file name.
        if key.is_empty() || key.contains('/') || key.starts_with('.') {
            continue;
        }
        let path = dir.join(key);
        std::fs::write(&path, value)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400))?;
        chown_to_engine(&path);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500))?;
    chown_to_engine(dir);
    Ok(())
}

/// The container runs as 65532; a server not running as root cannot chown, and then a rootless
/// engine maps its own uid, which already owns the files.
fn chown_to_engine(path: &std::path::Path) {
    if let Err(e) = std::os::unix::fs::chown(path, Some(ENGINE_UID), Some(ENGINE_UID)) {
        tracing::debug!(path = %path.display(), error = %e, "cannot chown a secrets file to the engine user");
    }
}

/// Removes the deployment's route, containers and secrets.
pub(crate) async fn remove(shared: &Shared, d: &Deployment) -> Result<(), PipelineError> {
    // The route first, so Caddy stops sending requests before the container goes. A failure
    // does not keep the deployment running: the reconcile loop removes the route of a deployment
    // that is not live within 10 s of Caddy answering.
    if let Some(routing) = &shared.config.local.routing {
        let id = route_id(&d.id);
        match tokio::time::timeout(ROUTING_TIMEOUT, routing.caddy.remove(&id)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(deployment = %d.name, error = %e, "cannot remove the deployment's Caddy route now; the next reconcile does")
            }
            Err(_) => {
                tracing::warn!(deployment = %d.name, "Caddy did not answer removing the deployment's route; the next reconcile removes it")
            }
        }
    }
    // Without podman or docker no container of it can be running here.
    let Ok(host) = &shared.host else {
        return Ok(());
    };
    host.remove(&d.id)
        .await
        .map_err(|e| TargetError::Host(e.to_string()))?;
    let _ = tokio::fs::remove_dir_all(shared.config.data_dir.join("secrets").join(&d.id)).await;
    let _ = tokio::fs::remove_dir_all(report_dir(shared, d)).await;
    Ok(())
}

/// Reporting for a container brought back after a restart: a fresh token (the one on disk may
/// have expired while the server was down), else the one on disk; `None` when reporting is off
/// or no token can be had: the container then runs without reporting (only its run records
/// are missing) until the next rollout.
async fn restored_report(shared: &Shared, d: &Deployment) -> Option<ReportSpec> {
    let reporting = shared.config.reporting.as_ref()?;
    match reporting.token(d).await {
        Ok(token) => match write_report_token(shared, d, reporting, token).await {
            Ok(spec) => return Some(spec),
            Err(e) => {
                tracing::warn!(deployment = %d.name, error = %e, "cannot renew the report token")
            }
        },
        Err(e) => tracing::warn!(deployment = %d.name, error = %e, "cannot renew the report token"),
    }
    let dir = report_dir(shared, d);
    dir.join(REPORT_TOKEN_FILE).is_file().then(|| ReportSpec {
        url: reporting.url.clone(),
        token_dir: dir,
    })
}

/// After a server restart: every `RUNNING` local deployment gets its container back.
pub(crate) async fn reconcile(shared: Arc<Shared>) {
    let Ok(host) = &shared.host else { return };
    let deployments = match shared.store.all_deployments().await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cannot list deployments to restore their containers");
            return;
        }
    };
    for d in deployments {
        if d.target != Target::Local || d.status != DeploymentStatus::Running {
            continue;
        }
        let (Some(build_id), Some(port)) = (d.current_build_id.clone(), d.local_port) else {
            continue;
        };
        let image = match shared.store.build(&build_id).await {
            Ok(b) => b.image,
            Err(e) => {
                tracing::warn!(deployment = %d.name, error = %e, "cannot read the deployed build");
                continue;
            }
        };
        let Some(image) = image else { continue };
        let secrets_dir = shared.config.data_dir.join("secrets").join(&d.id);
        let report = restored_report(&shared, &d).await;
        let spec = ContainerSpec {
            deployment: d.id.clone(),
            build_id,
            image,
            bind: shared.config.local.bind,
            port,
            secrets_dir: secrets_dir.is_dir().then_some(secrets_dir),
            memory_bytes: shared.config.local.memory_bytes,
            report,
        };
        let restored = host
            .ensure_running(&spec, shared.config.timeouts.rollout)
            .await;
        if restored.is_ok()
            && let Some((routing, route)) = route_of(&shared, &d, port)
            && let Err(e) = upsert(routing, &route).await
        {
            tracing::warn!(deployment = %d.name, error = %e, "cannot route the restored deployment yet; the reconcile loop retries");
        }
        if let Err(e) = restored {
            tracing::error!(deployment = %d.name, error = %e, "cannot restore the deployment's container");
            let _ = shared
                .store
                .set_deployment_state(
                    &d.id,
                    DeploymentStatus::Failed,
                    d.current_build_id.as_deref(),
                )
                .await;
        }
    }
}
