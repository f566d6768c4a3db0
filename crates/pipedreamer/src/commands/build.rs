//! `pipedreamer build`: image reference and digest on stdout, progress and notes on stderr.

use crate::cli::{BuildArgs, OutputFormat};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_image::content::Excluded;
use pipedreamer_image::publish::{archive, daemon, oci_layout, registry};
use pipedreamer_image::{BuildRequest, Image, Reference};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The engine binary: `--engine`/`PIPEDREAMER_ENGINE`, else next to this executable.
pub fn engine_path(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let exe = std::env::current_exe().context("cannot locate the pipedreamer binary")?;
    Ok(exe.with_file_name("pipedreamer-engine"))
}

/// The image reference for a workflow: `--tag` or `<name>:<version>`, prefixed with `--registry`.
pub fn image_reference(
    workflow: &pipedreamer_spec::Workflow,
    tag: Option<&str>,
    registry: Option<&str>,
) -> anyhow::Result<Reference> {
    let tag = tag.map_or_else(|| default_tag(workflow), str::to_owned);
    qualified_reference(&tag, registry)
}

/// `<name>:<version with dots as dashes>`.
pub fn default_tag(workflow: &pipedreamer_spec::Workflow) -> String {
    format!("{}:{}", workflow.name, workflow.image_tag())
}

/// `tag` prefixed with `registry` (if any), parsed.
pub fn qualified_reference(tag: &str, registry: Option<&str>) -> anyhow::Result<Reference> {
    let full = match registry {
        Some(r) => format!("{}/{tag}", r.trim_end_matches('/')),
        None => tag.to_owned(),
    };
    Ok(Reference::parse(&full)?)
}

fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("pipedreamer/layers"))
}

fn epoch() -> anyhow::Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH=`{v}` is not a number of seconds")),
        Err(_) => Ok(0),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// Runs the command.
pub async fn run(args: BuildArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Checked and resolved once: the tag comes from it, the image ships its import graph.
    let resolved = crate::commands::deploy::load_workflow(&args.dir)?;
    let reference = image_reference(
        &resolved.workflow,
        args.tag.as_deref(),
        args.registry.as_deref(),
    )?;
    let engine = engine_path(args.engine.clone())?;
    if args.push && reference.registry.is_none() {
        bail!(
            "`--push` needs a registry\nhint: pass `-r REGISTRY` (e.g. `-r ghcr.io/acme` or `-r 127.0.0.1:5000`) or a `--tag` that starts with one"
        );
    }
    if args.dockerfile {
        let tool = daemon::detect().context(
            "`--dockerfile` needs docker (with a daemon) or podman, and neither answered",
        )?;
        let (dir, engine, r) = (args.dir.clone(), engine.clone(), reference.to_string());
        tokio::task::spawn_blocking(move || {
            let modules = &resolved.modules;
            pipedreamer_image::dockerfile::build(tool.command(), &dir, modules, &engine, &r, &[])
        })
        .await??;
        print_result(&args, &reference, None, None)?;
        return Ok(());
    }
    let request = BuildRequest {
        workflow_dir: args.dir.clone(),
        resolved,
        engine,
        reference: reference.clone(),
        epoch: epoch()?,
        cache_dir: cache_dir(),
    };
    let image = tokio::task::spawn_blocking(move || pipedreamer_image::build(&request)).await??;
    report_excluded(&image.excluded, args.verbose);
    eprintln!(
        "built {reference} in {} ms: {} compressed, {} uncompressed",
        started.elapsed().as_millis(),
        mib(image.compressed_size()),
        mib(image.uncompressed_size())
    );

    let mut published = false;
    if let Some(dir) = &args.oci_layout {
        oci_layout::write(&image, dir, &reference.tag)?;
        eprintln!("wrote OCI layout {}:{}", dir.display(), reference.tag);
        published = true;
    }
    if let Some(path) = &args.archive {
        archive::write(&image, path)?;
        eprintln!(
            "wrote archive {} (load with `docker load -i` or `podman load -i`)",
            path.display()
        );
        published = true;
    }
    let mut push_report = None;
    if args.push {
        let verbose = output::color();
        let options = registry::PushOptions {
            insecure: args.insecure_registry,
            on_blob: Some(Box::new(move |e| match e {
                registry::BlobEvent::Skipped { digest } if verbose => {
                    eprintln!("  {} exists", short(digest))
                }
                registry::BlobEvent::Mounted { digest, from } if verbose => {
                    eprintln!("  {} mounted from {from}", short(digest))
                }
                registry::BlobEvent::Uploaded { digest, size } if verbose => {
                    eprintln!("  {} pushed ({})", short(digest), mib(*size))
                }
                _ => {}
            })),
            mount_from: pushed_repositories(&reference),
        };
        let report = registry::push(&image, &reference, &options).await?;
        remember_push(&reference);
        eprintln!(
            "pushed {reference}: {} blob(s) uploaded, {} already present or mounted",
            report.uploaded(),
            report.blobs.len() - report.uploaded()
        );
        push_report = Some(report);
        published = true;
    }
    if !published {
        publish_default(&args.dir, &image, &reference)?;
    }
    print_result(&args, &reference, Some(&image), push_report.as_ref())
}

/// What stayed out of the image: all of it with `-v`, else a count of what protects secrets (so
/// a user who meant to ship such a file learns why it is missing).
fn report_excluded(excluded: &[Excluded], verbose: bool) {
    if verbose {
        for e in excluded {
            eprintln!("left out: {e}");
        }
        return;
    }
    let secret = excluded.iter().filter(|e| e.reason.is_secret()).count();
    if secret > 0 {
        eprintln!(
            "left out {secret} secret file(s) or link(s) to secrets; `pipedreamer build -v` lists them"
        );
    }
}

/// Where this machine pushed before, per registry, so shared layers can be mounted, not re-sent.
fn pushed_file() -> Option<PathBuf> {
    cache_dir().map(|d| d.with_file_name("pushed-repositories.json"))
}

fn pushed_repositories(reference: &Reference) -> Vec<String> {
    let registry = reference.registry.clone().unwrap_or_default();
    pushed_file()
        .and_then(|f| std::fs::read(f).ok())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v[&registry].as_array().cloned())
        .map(|a| {
            a.iter()
                .filter_map(|r| r.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn remember_push(reference: &Reference) {
    let Some(file) = pushed_file() else { return };
    let registry = reference.registry.clone().unwrap_or_default();
    let mut all: serde_json::Value = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| json!({}));
    let mut repos = pushed_repositories(reference);
    repos.retain(|r| r != &reference.repository);
    repos.insert(0, reference.repository.clone());
    repos.truncate(10);
    all[&registry] = json!(repos);
    // Only an optimization: a failed write just means the next push uploads shared layers again.
    let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")))
        .and_then(|()| std::fs::write(&file, all.to_string()));
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

/// No target given: load into a local engine if one answers, else keep an OCI layout and say so.
fn publish_default(dir: &Path, image: &Image, reference: &Reference) -> anyhow::Result<()> {
    if let Some(engine) = daemon::detect() {
        let tmp = std::env::temp_dir().join(format!("pipedreamer-{}.tar", std::process::id()));
        archive::write(image, &tmp)?;
        let result = daemon::load(engine, &tmp);
        let _ = std::fs::remove_file(&tmp);
        result?;
        eprintln!("loaded {reference} into {}", engine.command());
        return Ok(());
    }
    let layout = dir.join(".pipedreamer/oci");
    oci_layout::write(image, &layout, &reference.tag)?;
    eprintln!(
        "no docker daemon or podman answered; wrote an OCI layout to {}:{}",
        layout.display(),
        reference.tag
    );
    output::hint(
        "push it with `pipedreamer build --push -r REGISTRY`, or export it with `--archive image.tar` / `--oci-layout DIR`",
    );
    Ok(())
}

fn print_result(
    args: &BuildArgs,
    reference: &Reference,
    image: Option<&Image>,
    push: Option<&registry::PushReport>,
) -> anyhow::Result<()> {
    match args.output {
        OutputFormat::Text => match image {
            Some(i) => println!("{reference}@{}", i.digest()),
            None => println!("{reference}"),
        },
        OutputFormat::Json => {
            let doc = match image {
                Some(i) => json!({
                    "image": reference.to_string(),
                    "digest": i.digest(),
                    "size_bytes": i.compressed_size(),
                    "uncompressed_bytes": i.uncompressed_size(),
                    "layers": i.layers.iter().map(|l| json!({ "digest": l.blob.digest, "size": l.blob.size(), "diff_id": l.diff_id })).collect::<Vec<_>>(),
                    "excluded": i.excluded.iter().map(|e| json!({ "path": e.path, "reason": e.reason.to_string(), "secret": e.reason.is_secret() })).collect::<Vec<_>>(),
                    "pushed": push.map(|p| json!({
                        "uploaded": p.uploaded(),
                        "mounted": p.blobs.iter().filter(|b| matches!(b, registry::BlobEvent::Mounted { .. })).count(),
                        "skipped": p.blobs.iter().filter(|b| matches!(b, registry::BlobEvent::Skipped { .. })).count(),
                    })),
                }),
                None => json!({ "image": reference.to_string() }),
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}
