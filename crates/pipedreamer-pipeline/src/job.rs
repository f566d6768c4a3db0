//! One build, phase by phase: fetch, validate, build, publish, roll out. Each phase is logged,
//! bounded by its timeout and stopped by a cancel; the work directory is removed at the end.

use crate::error::PipelineError;
use crate::log::{BuildLog, secret_values};
use crate::workers::{Shared, Stop};
use crate::{Phase, kubernetes, local};
use pipedreamer_image::publish::{Published, Publisher};
use pipedreamer_image::{BuildRequest, Image, Reference};
use pipedreamer_spec::Resolved;
use pipedreamer_spec::diagnostic::Severity;
use pipedreamer_spec::source::{DirSource, SourceProvider};
use pipedreamer_store::{Build, Deployment, DeploymentStatus, Target};
use std::future::Future;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What a successful build left live.
pub(crate) struct Delivered {
    pub(crate) image: String,
    pub(crate) digest: String,
}

/// The fetched tree: the workflow's directory in it and the commit.
pub(crate) struct Source {
    dir: PathBuf,
    commit: String,
}

/// A checked-out, validated workflow, ready to build.
pub(crate) struct Checkout {
    /// The workflow's directory inside the checkout.
    pub(crate) dir: PathBuf,
    pub(crate) resolved: Resolved,
}

/// The context every phase of one build shares.
pub(crate) struct Job<'a> {
    pub(crate) shared: &'a Arc<Shared>,
    pub(crate) build: &'a Build,
    pub(crate) deployment: Deployment,
    pub(crate) log: BuildLog,
    pub(crate) secrets: Option<serde_json::Value>,
    pub(crate) work_dir: PathBuf,
    cancel: &'a CancellationToken,
    stop: &'a OnceLock<Stop>,
}

/// Runs the build; the caller records the outcome.
pub(crate) async fn run(
    shared: &Arc<Shared>,
    build: &Build,
    cancel: &CancellationToken,
    stop: &Arc<OnceLock<Stop>>,
) -> Result<Delivered, PipelineError> {
    let store = &shared.store;
    let deployment = store.deployment(&build.deployment_id).await?;
    let secrets = store.secrets(&deployment.id).await?;
    let mut masked = Vec::new();
    if let Some(doc) = &secrets {
        secret_values(doc, &mut masked);
    }
    masked.extend(shared.config.git_token.clone());
    let log = BuildLog::new(
        store.clone(),
        build.id.clone(),
        masked,
        shared.events.clone(),
    );
    let work_dir = shared.config.data_dir.join("work").join(&build.id);
    let job = Job {
        shared,
        build,
        deployment,
        log,
        secrets,
        work_dir,
        cancel,
        stop,
    };
    let result = job.deliver().await;
    if let Err(e) = &result {
        job.log
            .write(&format!("build {}: {e}", status_word(e)))
            .await;
        // The previous version keeps serving: the deployment stays `RUNNING` when it has one.
        crate::workers::settle_deployment(&shared.store, &job.deployment.id).await;
    }
    // The checkout and the image archive are only needed while building.
    let _ = tokio::fs::remove_dir_all(&job.work_dir).await;
    result
}

fn status_word(e: &PipelineError) -> &'static str {
    match e {
        PipelineError::Cancelled => "cancelled",
        _ => "failed",
    }
}

impl Job<'_> {
    async fn deliver(&self) -> Result<Delivered, PipelineError> {
        let d = &self.deployment;
        self.log
            .write(&format!(
                "build {} of `{}` ({}, triggered by {})",
                self.build.id,
                d.name,
                target_word(&d.target),
                self.build.triggered_by
            ))
            .await;
        if d.status != DeploymentStatus::Running {
            self.shared
                .store
                .set_deployment_state(
                    &d.id,
                    DeploymentStatus::Deploying,
                    d.current_build_id.as_deref(),
                )
                .await?;
        }
        let timeouts = self.shared.config.timeouts;
        let source = self
            .phase(Phase::Fetch, timeouts.fetch, self.fetch())
            .await?;
        let checkout = self
            .phase(Phase::Validate, timeouts.validate, self.validate(source))
            .await?;
        let delivered = match &d.target {
            Target::Local => local::deliver(self, &checkout).await?,
            Target::Kubernetes { .. } => kubernetes::deliver(self, &checkout).await?,
        };
        if let Err(e) = self
            .shared
            .store
            .set_deployment_state(&d.id, DeploymentStatus::Running, Some(&self.build.id))
            .await
        {
            if e.is_not_found() {
                // Deleted while this build rolled out (a DELETE that found nothing in flight,
                // then a deploy): what it started must not outlive the records.
                self.undo_rollout().await;
            }
            return Err(e.into());
        }
        self.log
            .write(&format!(
                "build succeeded: {}@{} is live",
                delivered.image, delivered.digest
            ))
            .await;
        Ok(delivered)
    }

    /// Takes down what this build rolled out, for a deployment deleted meanwhile (best effort:
    /// logged when it fails).
    async fn undo_rollout(&self) {
        let d = &self.deployment;
        let undone = match &d.target {
            Target::Local => local::remove(self.shared, d).await,
            Target::Kubernetes { .. } => kubernetes::undeploy(d).await,
        };
        match undone {
            Ok(()) => {
                tracing::info!(deployment = %d.id, build = %self.build.id, "the deployment was deleted during its rollout; undeployed what the build started")
            }
            Err(e) => {
                tracing::warn!(deployment = %d.id, build = %self.build.id, error = %e, "the deployment was deleted during its rollout, and undeploying what the build started failed")
            }
        }
    }

    /// Runs one phase: logged, bounded by `limit`, stopped by a cancel.
    pub(crate) async fn phase<T>(
        &self,
        phase: Phase,
        limit: Duration,
        work: impl Future<Output = Result<T, PipelineError>>,
    ) -> Result<T, PipelineError> {
        self.log.write(&format!("==> {phase}")).await;
        let started = Instant::now();
        let result = tokio::select! {
            r = tokio::time::timeout(limit, work) => r.unwrap_or(Err(PipelineError::Timeout { phase, limit })),
            () = self.cancel.cancelled() => Err(self.stopped()),
        };
        if result.is_ok() {
            self.log
                .write(&format!(
                    "    {phase} done in {} ms",
                    started.elapsed().as_millis()
                ))
                .await;
        }
        result
    }

    /// The error for a job told to stop.
    fn stopped(&self) -> PipelineError {
        match self.stop.get() {
            Some(Stop::Cancelled) => PipelineError::Cancelled,
            Some(Stop::LeaseLost) => PipelineError::LeaseLost,
            Some(Stop::Shutdown) | None => PipelineError::Interrupted,
        }
    }

    /// Builds the image of the checked workflow as `reference` (the layer cache lives in the
    /// data dir, timestamps are the epoch: the same commit gives the same digest).
    pub(crate) async fn build_image(
        &self,
        checkout: &Checkout,
        reference: &Reference,
    ) -> Result<Image, PipelineError> {
        let request = BuildRequest {
            workflow_dir: checkout.dir.clone(),
            resolved: checkout.resolved.clone(),
            engine: self.shared.config.engine.clone(),
            reference: reference.clone(),
            epoch: 0,
            cache_dir: Some(self.shared.config.data_dir.join("cache/layers")),
        };
        let limit = self.shared.config.timeouts.build;
        let image = self
            .phase(Phase::Build, limit, async {
                pipedreamer_image::build_async(request)
                    .await
                    .map_err(|source| PipelineError::Image {
                        phase: Phase::Build,
                        source,
                    })
            })
            .await?;
        self.log
            .write(&format!(
                "image {reference}: {} layers, {} bytes compressed",
                image.layers.len(),
                image.compressed_size()
            ))
            .await;
        Ok(image)
    }

    /// Publishes `image` with `publisher` (a registry push or a local load).
    pub(crate) async fn publish(
        &self,
        publisher: &dyn Publisher,
        image: &Image,
        reference: &Reference,
    ) -> Result<Published, PipelineError> {
        let limit = self.shared.config.timeouts.publish;
        let published = self
            .phase(Phase::Publish, limit, async {
                publisher
                    .publish(image, reference)
                    .await
                    .map_err(|source| PipelineError::Image {
                        phase: Phase::Publish,
                        source,
                    })
            })
            .await?;
        self.log
            .write(&format!("published {}", published.pinned()))
            .await;
        Ok(published)
    }

    /// This build's image: `<prefix>/<deployment>:b-<build>`, a tag unique per build so a
    /// rollback can name an older one.
    pub(crate) fn image_reference(&self, prefix: &str) -> Result<Reference, PipelineError> {
        let id = self.build.id.replace('-', "");
        let tag = format!("b-{}", &id[id.len().saturating_sub(12)..]);
        Reference::parse(&format!("{prefix}/{}:{tag}", self.deployment.name)).map_err(|source| {
            PipelineError::Image {
                phase: Phase::Build,
                source,
            }
        })
    }

    /// A blocking task that stops when the phase is abandoned: `flag` is raised on drop.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        phase: Phase,
        work: impl FnOnce(&AtomicBool) -> T + Send + 'static,
    ) -> Result<T, PipelineError> {
        struct RaiseOnDrop(Arc<AtomicBool>);
        impl Drop for RaiseOnDrop {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let flag = Arc::new(AtomicBool::new(false));
        let _guard = RaiseOnDrop(flag.clone());
        tokio::task::spawn_blocking(move || work(&flag))
            .await
            .map_err(|_| PipelineError::Internal(phase))
    }

    async fn fetch(&self) -> Result<Source, PipelineError> {
        let d = &self.deployment;
        let dest = self.work_dir.join("src");
        let _ = tokio::fs::remove_dir_all(&self.work_dir).await;
        tokio::fs::create_dir_all(&dest)
            .await
            .map_err(|source| PipelineError::Io {
                what: format!("cannot create `{}`", dest.display()),
                source,
            })?;
        self.log
            .write(&format!(
                "fetching {} ({}{})",
                pipedreamer_git::redact_url(&d.repo),
                self.build.branch,
                self.build
                    .commit_hash
                    .as_deref()
                    .map(|c| format!(" at {c}"))
                    .unwrap_or_default()
            ))
            .await;
        let (url, branch, commit) = (
            d.repo.clone(),
            self.build.branch.clone(),
            self.build.commit_hash.clone(),
        );
        let token = self.shared.config.git_token.clone();
        let timeout = self.shared.config.timeouts.fetch;
        let target = dest.clone();
        let fetched = self
            .blocking(Phase::Fetch, move |cancel| {
                pipedreamer_git::fetch(
                    &pipedreamer_git::FetchRequest {
                        url: &url,
                        branch: &branch,
                        commit: commit.as_deref(),
                        token: token.as_deref(),
                        dest: &target,
                        timeout,
                    },
                    cancel,
                )
            })
            .await??;
        let first_line = fetched.commit_message.lines().next().unwrap_or_default();
        self.log
            .write(&format!(
                "commit {} on {}: {first_line}",
                fetched.commit_hash, fetched.branch
            ))
            .await;
        if self.build.commit_hash.is_none() {
            self.shared
                .store
                .set_build_commit(
                    &self.build.id,
                    &self.shared.worker_id,
                    &fetched.commit_hash,
                    &fetched.commit_message,
                )
                .await?;
        }
        let dir = workflow_dir(&dest, &d.path)?;
        Ok(Source {
            dir,
            commit: fetched.commit_hash,
        })
    }

    async fn validate(&self, checkout: Source) -> Result<Checkout, PipelineError> {
        if !checkout.dir.join(pipedreamer_spec::WORKFLOW_FILE).is_file() {
            return Err(PipelineError::NoWorkflow {
                path: self.deployment.path.clone(),
                commit: checkout.commit,
            });
        }
        let dir = checkout.dir.clone();
        let (result, rendered) = self
            .blocking(Phase::Validate, move |_| {
                let source = DirSource::new(&dir);
                let result = pipedreamer_spec::resolve(&source);
                let diagnostics = match &result {
                    Ok(r) => r.warnings.clone(),
                    Err(d) => d.clone(),
                };
                // The secrets file is never quoted into a log.
                let read = |file: &str| {
                    (file != pipedreamer_spec::SECRETS_FILE)
                        .then(|| source.read(file).ok())
                        .flatten()
                };
                let rendered = pipedreamer_spec::diagnostic::render(&diagnostics, &read, false);
                (result, rendered)
            })
            .await?;
        if !rendered.is_empty() {
            self.log.write(&rendered).await;
        }
        match result {
            Ok(resolved) => {
                self.log
                    .write(&format!(
                        "workflow `{}` {} is valid",
                        resolved.workflow.name, resolved.workflow.version
                    ))
                    .await;
                Ok(Checkout {
                    dir: checkout.dir,
                    resolved,
                })
            }
            Err(diagnostics) => Err(PipelineError::Invalid {
                errors: diagnostics
                    .iter()
                    .filter(|d| d.severity == Severity::Error)
                    .count(),
            }),
        }
    }
}

fn target_word(target: &Target) -> &'static str {
    match target {
        Target::Local => "local",
        Target::Kubernetes { .. } => "kubernetes",
    }
}

/// `checkout/path`, refusing paths that leave the checkout.
fn workflow_dir(checkout: &Path, path: &str) -> Result<PathBuf, PipelineError> {
    let relative = Path::new(path);
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(PipelineError::PathEscapes(path.to_owned()));
    }
    Ok(checkout.join(relative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_dir_stays_inside_the_checkout() {
        let root = Path::new("/w/src");
        assert_eq!(workflow_dir(root, ".").unwrap(), root.join("."));
        assert_eq!(workflow_dir(root, "flows/a").unwrap(), root.join("flows/a"));
        for bad in ["../x", "/etc", "a/../../b"] {
            assert!(matches!(
                workflow_dir(root, bad),
                Err(PipelineError::PathEscapes(_))
            ));
        }
    }
}
