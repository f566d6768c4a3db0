//! `pipedreamer build`: image reference and digest on stdout, progress and notes on stderr. The
//! image carries an SPDX SBOM unless `--no-sbom`: in the image, in `.pipedreamer/` next to the
//! default output, and attached to the image in the registry on `--push`.

use crate::cli::{BuildArgs, OutputFormat, PublishArgs};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_image::content::Excluded;
use pipedreamer_image::publish::{
    ArchivePublisher, BlobEvent, DefaultPublisher, Destination, MultiPublisher, OciLayoutPublisher,
    PushReport, ReferrersListing, RegistryPublisher, daemon,
};
use pipedreamer_image::{BuildOptions, BuildRequest, Image, Published, Reference};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where the SBOM is written next to the build output, relative to the workflow directory.
const SBOM_FILE: &str = ".pipedreamer/sbom.spdx.json";

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1048576.0)
}

/// Runs the command.
pub async fn run(args: BuildArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Checked and resolved once: the tag comes from it, the image ships its import graph.
    let resolved = crate::commands::deploy::load_workflow(&args.dir)?;
    let reference = Reference::for_workflow(
        &resolved.workflow,
        args.tag.as_deref(),
        args.publish.registry.as_deref(),
    )?;
    let engine = pipedreamer_image::locate_engine(args.engine.clone())?;
    require_registry(&args.publish, &reference)?;
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
        if !args.no_sbom {
            eprintln!("note: `--dockerfile` builds carry no SBOM; the native build writes one");
        }
        print_result(&args, &reference, None, None, None)?;
        return Ok(());
    }
    let request = BuildRequest::new(&args.dir, resolved, engine, reference.clone())?;
    let options = BuildOptions {
        sbom: !args.no_sbom,
    };
    let image = pipedreamer_image::build_async_with(request, options).await?;
    report_excluded(&image.excluded, args.verbose);
    let sbom_path = match &image.sbom {
        Some(sbom) => Some(write_sbom(&args.dir, &sbom.data)?),
        None => None,
    };
    eprintln!(
        "built {reference} in {} ms: {} compressed, {} uncompressed",
        started.elapsed().as_millis(),
        mib(image.compressed_size()),
        mib(image.uncompressed_size())
    );

    let mut publishers = publishers(&args.publish);
    if publishers.is_empty() {
        // No target given: load into a local engine if one answers, else keep an OCI layout.
        publishers.push(DefaultPublisher::new(args.dir.join(".pipedreamer/oci")));
    }
    let published = publishers
        .publish_each(&image, &reference, announce)
        .await?;
    let push_report = published.iter().find_map(Published::push_report);
    print_result(
        &args,
        &reference,
        Some(&image),
        push_report,
        sbom_path.as_deref(),
    )
}

/// Writes the SBOM to [`SBOM_FILE`] in the workflow directory (where the default OCI layout
/// goes, and never shipped: `content` leaves `.pipedreamer/` out).
fn write_sbom(dir: &Path, sbom: &[u8]) -> anyhow::Result<PathBuf> {
    let path = dir.join(SBOM_FILE);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, sbom).with_context(|| {
        format!(
            "cannot write the SBOM to {}\nhint: pass `--no-sbom` to build without one",
            path.display()
        )
    })?;
    eprintln!("wrote SBOM {} (SPDX 2.3)", path.display());
    Ok(path)
}

/// `--push` needs a registry: from `-r` or the tag.
pub(crate) fn require_registry(publish: &PublishArgs, reference: &Reference) -> anyhow::Result<()> {
    if publish.push && reference.registry.is_none() {
        bail!(
            "`--push` needs a registry\nhint: pass `-r REGISTRY` (e.g. `-r ghcr.io/acme` or `-r 127.0.0.1:5000`) or a `--tag` that starts with one"
        );
    }
    Ok(())
}

/// The publishers the flags ask for, in the order they run: `--oci-layout`, `--archive`,
/// `--push` (its blobs listed on stderr on a terminal). Empty when none was given.
pub(crate) fn publishers(publish: &PublishArgs) -> MultiPublisher {
    let mut publishers = MultiPublisher::new();
    if let Some(dir) = &publish.oci_layout {
        publishers.push(OciLayoutPublisher::new(dir));
    }
    if let Some(path) = &publish.archive {
        publishers.push(ArchivePublisher::new(path));
    }
    if publish.push {
        let verbose = output::color();
        publishers.push(
            RegistryPublisher::new()
                .insecure(publish.insecure_registry)
                .on_blob(move |e| match e {
                    BlobEvent::Skipped { digest } if verbose => {
                        eprintln!("  {} exists", short(digest))
                    }
                    BlobEvent::Mounted { digest, from } if verbose => {
                        eprintln!("  {} mounted from {from}", short(digest))
                    }
                    BlobEvent::Uploaded { digest, size } if verbose => {
                        eprintln!("  {} pushed ({})", short(digest), mib(*size))
                    }
                    _ => {}
                }),
        );
    }
    publishers
}

/// One stderr line per place the image went, as soon as it is there.
pub(crate) fn announce(published: &Published) {
    let reference = &published.reference;
    match &published.destination {
        Destination::OciLayout { dir, tag } => {
            eprintln!("wrote OCI layout {}:{tag}", dir.display())
        }
        Destination::Archive { path } => eprintln!(
            "wrote archive {} (load with `docker load -i` or `podman load -i`)",
            path.display()
        ),
        Destination::Registry(report) => {
            eprintln!(
                "pushed {reference}: {} blob(s) uploaded, {} already present or mounted",
                report.uploaded(),
                report.blobs.len() - report.uploaded()
            );
            if let Some(sbom) = &report.sbom {
                let how = match &sbom.listed_by {
                    ReferrersListing::Api => "listed by the registry's referrers API".to_owned(),
                    ReferrersListing::TagSchema { tag } => {
                        format!("listed in the referrers tag `{tag}` (no referrers API)")
                    }
                };
                eprintln!("attached the SBOM to it as {}, {how}", short(&sbom.digest));
            }
        }
        Destination::Daemon { engine } => {
            eprintln!("loaded {reference} into {}", engine.command())
        }
        Destination::LayoutFallback { dir, tag } => {
            eprintln!(
                "no docker daemon or podman answered; wrote an OCI layout to {}:{tag}",
                dir.display()
            );
            output::hint(
                "push it with `pipedreamer build --push -r REGISTRY`, or export it with `--archive image.tar` / `--oci-layout DIR`",
            );
        }
    }
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

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

fn print_result(
    args: &BuildArgs,
    reference: &Reference,
    image: Option<&Image>,
    push: Option<&PushReport>,
    sbom_path: Option<&Path>,
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
                        "mounted": p.blobs.iter().filter(|b| matches!(b, BlobEvent::Mounted { .. })).count(),
                        "skipped": p.blobs.iter().filter(|b| matches!(b, BlobEvent::Skipped { .. })).count(),
                    })),
                    "sbom": i.sbom.as_ref().map(|s| json!({
                        "digest": s.digest,
                        "path": sbom_path.map(|p| p.display().to_string()),
                        "referrer": push.and_then(|p| p.sbom.as_ref()).map(|r| json!({
                            "digest": r.digest,
                            "listed_by": match &r.listed_by {
                                ReferrersListing::Api => json!({ "kind": "referrers-api" }),
                                ReferrersListing::TagSchema { tag } => json!({ "kind": "tag-schema", "tag": tag }),
                            },
                        })),
                    })),
                }),
                None => json!({ "image": reference.to_string() }),
            };
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    Ok(())
}
