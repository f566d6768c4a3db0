//! `pipedreamer deploy`: manifests for a built workflow, printed (`-o yaml|json`), written as a
//! kustomize base (`--output-dir`), or preflighted, server-side applied and optionally awaited.
//! `--host` adds an Ingress (or an HTTPRoute with `--route gateway`).

use crate::cli::{DeployArgs, DeployOutput};
use crate::commands::kube::{connect, network_options, options, render_report, route_options};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_image::Reference;
use pipedreamer_kube::deploy::{ApplyOptions, Step};
use pipedreamer_kube::preflight::Status;
use pipedreamer_kube::{Manifests, cluster};
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

fn render(args: &DeployArgs, resolved: &Resolved, namespace: &str) -> anyhow::Result<Manifests> {
    // The workflow is already checked; the default tag comes from it, not from a second check.
    let mut image = Reference::for_workflow(
        &resolved.workflow,
        args.tag.as_deref(),
        args.registry.as_deref(),
    )?;
    if let Some(r) = &args.cluster_registry {
        image = image.with_registry(r);
    }
    let image = image.to_string();
    let cron_image = args.cron_image.as_deref();
    let route = route_options(args.host.as_deref(), &args.route)?;
    let network = network_options(args.host.as_deref(), &args.network)?;
    Ok(pipedreamer_kube::deploy::render_with(
        &args.dir,
        resolved,
        &pipedreamer_kube::deploy::Render {
            image: &image,
            namespace,
            cron_image,
            route: route.as_ref(),
            // Run reporting is wired by `pipedreamer server` only (it mints the token).
            report: None,
            network: &network,
        },
    )?)
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
    // Bad routing and network flags fail before anything is read or contacted.
    route_options(args.host.as_deref(), &args.route)?;
    network_options(args.host.as_deref(), &args.network)?;
    let resolved = load_workflow(&args.dir)?;
    let workflow = &resolved.workflow;
    let offline = args.output != DeployOutput::Text || args.output_dir.is_some();
    if offline {
        let namespace = cluster::offline_namespace(&options(&args.kube, None));
        let manifests = render(&args, &resolved, &namespace)?;
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
    let manifests = render(&args, &resolved, &cluster.namespace)?;
    let image = manifests.image().unwrap_or_default().to_owned();
    if args.registry.is_none() && args.cluster_registry.is_none() && !image.contains('/') {
        output::hint(&format!(
            "the image `{image}` has no registry, so the cluster must already have it (e.g. `kind load`); pass `-r REGISTRY` to pull from one"
        ));
    }
    let options = ApplyOptions {
        preflight: !args.skip_checks,
        wait: args.wait.then_some(args.timeout),
    };
    // A spinner for the rollout on a terminal, started only when the rollout is (so preflight
    // warnings and the applied lines print undisturbed); plain lines otherwise.
    let spinner = args.wait && std::io::stderr().is_terminal();
    let mut bar: Option<indicatif::ProgressBar> = None;
    let result =
        pipedreamer_kube::deploy::apply(&cluster, &manifests, &options, |step| match step {
            Step::Checked(report) => {
                for warning in report.checks.iter().filter(|c| c.status == Status::Warn) {
                    eprintln!("warning: {}", warning.title);
                    for line in &warning.remediation {
                        output::hint(line);
                    }
                }
            }
            Step::Applied(report) => {
                for object in &report.applied {
                    println!("{object} applied");
                }
                for object in &report.pruned {
                    let why = if object.starts_with("CronJob/") {
                        "its trigger is gone"
                    } else if object.contains("NetworkPolicy/") {
                        "the egress policy changed"
                    } else {
                        "its host is gone"
                    };
                    println!("{object} deleted ({why})");
                }
                for warning in &report.warnings {
                    eprintln!("warning: {warning}");
                }
                eprintln!(
                    "deployed {} {} to namespace {:?} ({image})",
                    workflow.name, workflow.version, cluster.namespace
                );
            }
            Step::Rollout(progress) if spinner => bar
                .get_or_insert_with(|| {
                    let bar = indicatif::ProgressBar::new_spinner();
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bar
                })
                .set_message(format!("rollout: {progress}")),
            Step::Rollout(progress) => eprintln!("rollout: {progress}"),
        })
        .await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(_) => {}
        Err(pipedreamer_kube::Error::PreflightFailed(report)) => {
            eprint!("{}", render_report(&report));
            eprintln!("error: not deploying: the preflight failed");
            output::hint(
                "fix the items marked ✗ (see `pipedreamer cluster check --fix`), or pass --skip-checks",
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(route) = &manifests.routing {
        eprintln!(
            "public URL: {} (routes /run and /hooks/ once the {} is served)",
            route.url(),
            manifests.route.as_ref().map_or("route", |r| r.kind())
        );
    }
    if args.wait {
        output::success(&format!("{} is available", workflow.name));
    } else {
        output::hint(&format!(
            "follow the rollout with `pipedreamer status {} -n {} --detail`, or deploy with --wait",
            workflow.name, cluster.namespace
        ));
    }
    Ok(ExitCode::SUCCESS)
}
