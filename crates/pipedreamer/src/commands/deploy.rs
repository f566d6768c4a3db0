//! `pipedreamer deploy`: manifests for a built workflow, printed (`-o yaml|json`), written as a
//! kustomize base (`--output-dir`), or preflighted, server-side applied and optionally awaited.

use crate::cli::{DeployArgs, DeployOutput};
use crate::commands::build::{default_tag, qualified_reference};
use crate::commands::kube::{connect, options, render_report};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_kube::preflight::Status;
use pipedreamer_kube::{DeployOptions, Manifests, cluster, manifests};
use pipedreamer_spec::Resolved;
use pipedreamer_spec::source::DirSource;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// The valid workflow in `dir`, checked and resolved once; else its diagnostics are printed and
/// the error points at `validate`.
pub fn load_workflow(dir: &Path) -> anyhow::Result<Resolved> {
    if !dir.join(pipedreamer_spec::WORKFLOW_FILE).exists() {
        bail!(
            "no workflow.yaml in `{}`\nhint: pass the workflow directory, or create one with `pipedreamer init`",
            dir.display()
        );
    }
    match pipedreamer_spec::resolve(&DirSource::new(dir)) {
        Ok(resolved) => Ok(resolved),
        Err(diagnostics) => {
            eprint!("{}", output::render_diagnostics(dir, &diagnostics));
            bail!(
                "the workflow in `{}` is invalid\nhint: fix the errors above (`pipedreamer validate {}`)",
                dir.display(),
                dir.display()
            )
        }
    }
}

/// The workflow name for the Secret check: from `--dir`, else from `.` when it holds a workflow.
pub fn workflow_name_in(dir: Option<&Path>) -> anyhow::Result<Option<String>> {
    match dir {
        Some(d) => Ok(Some(load_workflow(d)?.workflow.name)),
        None if Path::new(pipedreamer_spec::WORKFLOW_FILE).exists() => {
            Ok(load_workflow(Path::new(".")).ok().map(|r| r.workflow.name))
        }
        None => Ok(None),
    }
}

fn render(args: &DeployArgs, resolved: &Resolved, namespace: String) -> anyhow::Result<Manifests> {
    let workflow = &resolved.workflow;
    // The workflow is already checked; the default tag comes from it, not from a second check.
    let tag = args.tag.clone().unwrap_or_else(|| default_tag(workflow));
    let mut image = qualified_reference(&tag, args.registry.as_deref())?;
    if let Some(r) = &args.cluster_registry {
        image = image.with_registry(r);
    }
    let spec_hash = pipedreamer_image::content::content_digest(&args.dir, &resolved.modules)
        .context("cannot hash the workflow's files")?;
    Ok(manifests::render(
        workflow,
        &DeployOptions {
            namespace,
            image: image.to_string(),
            spec_hash,
            curl_image: args.cron_image.clone(),
        },
    ))
}

fn write_kustomize_base(dir: &Path, manifests: &Manifests) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for (file, text) in manifests.kustomize_base() {
        let path = dir.join(&file);
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "wrote a kustomize base to {} (render it with `kubectl kustomize {}`)",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// Runs the command.
pub async fn run(args: DeployArgs) -> anyhow::Result<ExitCode> {
    let resolved = load_workflow(&args.dir)?;
    let workflow = &resolved.workflow;
    let offline = args.output != DeployOutput::Text || args.output_dir.is_some();
    if offline {
        let namespace = cluster::offline_namespace(&options(&args.kube, None));
        let manifests = render(&args, &resolved, namespace)?;
        if let Some(dir) = &args.output_dir {
            write_kustomize_base(dir, &manifests)?;
        } else if args.output == DeployOutput::Yaml {
            print!("{}", manifests.to_yaml());
        } else {
            println!("{}", manifests.to_json());
        }
        return Ok(ExitCode::SUCCESS);
    }

    let cluster = connect(&args.kube).await?;
    let manifests = render(&args, &resolved, cluster.namespace.clone())?;
    let image = manifests
        .deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default();
    if args.registry.is_none() && args.cluster_registry.is_none() && !image.contains('/') {
        output::hint(&format!(
            "the image `{image}` has no registry, so the cluster must already have it (e.g. `kind load`); pass `-r REGISTRY` to pull from one"
        ));
    }
    if !args.skip_checks {
        let report = pipedreamer_kube::preflight::run(
            &cluster,
            Some(&workflow.name),
            false,
            cluster::CONNECT_TIMEOUT,
        )
        .await;
        for warning in report.checks.iter().filter(|c| c.status == Status::Warn) {
            eprintln!("warning: {}", warning.title);
            for line in &warning.remediation {
                output::hint(line);
            }
        }
        if !report.ready {
            eprint!("{}", render_report(&report));
            eprintln!("error: not deploying: the preflight failed");
            output::hint(
                "fix the items marked ✗ (see `pipedreamer cluster check --fix`), or pass --skip-checks",
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    let report = pipedreamer_kube::apply::apply(&cluster, &manifests).await?;
    for object in &report.applied {
        println!("{object} applied");
    }
    for object in &report.pruned {
        println!("{object} deleted (its trigger is gone)");
    }
    eprintln!(
        "deployed {} {} to namespace {:?} ({image})",
        workflow.name, workflow.version, cluster.namespace
    );
    if args.wait {
        wait(&cluster, &workflow.name, args.timeout).await?;
    } else {
        output::hint(&format!(
            "follow the rollout with `pipedreamer status {} -n {} --detail`, or deploy with --wait",
            workflow.name, cluster.namespace
        ));
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait(
    cluster: &pipedreamer_kube::Cluster,
    name: &str,
    timeout: std::time::Duration,
) -> anyhow::Result<()> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let result = pipedreamer_kube::rollout::wait(cluster, name, timeout, |progress| match &bar {
        Some(bar) => bar.set_message(format!("rollout: {progress}")),
        None => eprintln!("rollout: {progress}"),
    })
    .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result?;
    output::success(&format!("{name} is available"));
    Ok(())
}
