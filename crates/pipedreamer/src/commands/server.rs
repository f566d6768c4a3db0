//! `pipedreamer server` (serve, `--print-config`), `pipedreamer server token
//! create|list|revoke`, `server manifests` and `server image`: flags to `pipedreamer_server`,
//! `pipedreamer_kube::control_plane` and `pipedreamer_image::server_image` calls.

use crate::cli::{
    ManifestsOutput, OutputFormat, ServerArgs, ServerCommand, ServerImageArgs, ServerManifestsArgs,
    TokenCommand, TokenScope,
};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_image::Reference;
use pipedreamer_image::server_image::{self, ServerImageRequest};
use pipedreamer_kube::control_plane::{self, ApiRoute, ControlPlaneOptions, Database};
use pipedreamer_server::{Config, Overrides};
use pipedreamer_store::Scope;
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Runs the command.
pub async fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
    // These two describe a server elsewhere (a cluster, an image): the local configuration
    // does not apply, so it is neither loaded nor required to be valid.
    match args.command {
        Some(ServerCommand::Manifests(ref m)) => return manifests(&args, m),
        Some(ServerCommand::Image(ref i)) => return image(&args, i).await,
        _ => {}
    }
    let config = Config::load(&Overrides {
        config: args.config.clone(),
        data_dir: args.data_dir.clone(),
        host: args.host.clone(),
        port: args.port,
        database: args.database.clone(),
        public_url: args.public_url.clone(),
    })?;
    if args.print_config {
        print!("{}", config.print_config());
        return Ok(ExitCode::SUCCESS);
    }
    match args.command {
        None => {
            pipedreamer_engine::logging::init(args.log_format);
            let engine = pipedreamer_image::locate_engine(args.engine)?;
            pipedreamer_server::serve(config, engine).await?;
        }
        Some(ServerCommand::Token(command)) => token(&config, command).await?,
        Some(ServerCommand::Manifests(_) | ServerCommand::Image(_)) => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn token(config: &Config, command: TokenCommand) -> anyhow::Result<()> {
    let (store, tokens) = pipedreamer_server::open(config).await?;
    match command {
        TokenCommand::Create(args) => {
            let scope = match args.scope {
                TokenScope::Read => Scope::Read,
                TokenScope::Deploy => Scope::Deploy,
                TokenScope::Admin => Scope::Admin,
                TokenScope::Report => Scope::Report,
            };
            let minted = tokens.mint(scope, args.ttl, args.deployment).await?;
            println!("{}", minted.token);
            eprintln!(
                "token `{}` ({scope}) expires {}",
                minted.record.id,
                minted
                    .record
                    .expires_at
                    .map_or("never".into(), pipedreamer_server::api::views::rfc3339)
            );
        }
        TokenCommand::List(args) => {
            let records = tokens.list().await?;
            let rows: Vec<_> = records
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "scope": r.scope,
                        "deployment_id": r.deployment_id,
                        "created_at": pipedreamer_server::api::views::rfc3339(r.created_at),
                        "expires_at": r.expires_at.map(pipedreamer_server::api::views::rfc3339),
                        "revoked": r.revoked,
                    })
                })
                .collect();
            match args.output {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "tokens": rows }))?
                ),
                OutputFormat::Text => {
                    println!("{:<36}  {:<6}  {:<24}  REVOKED", "ID", "SCOPE", "EXPIRES");
                    for r in &records {
                        let expires = r
                            .expires_at
                            .map_or("never".into(), pipedreamer_server::api::views::rfc3339);
                        println!(
                            "{:<36}  {:<6}  {:<24}  {}",
                            r.id,
                            r.scope.as_str(),
                            expires,
                            if r.revoked { "yes" } else { "no" }
                        );
                    }
                }
            }
        }
        TokenCommand::Revoke(args) => {
            tokens.revoke(&args.id).await?;
            eprintln!("token `{}` revoked", args.id);
        }
    }
    store.close().await;
    Ok(())
}

/// The server's own flags that mean nothing for a server in a cluster (its port, data
/// directory and configuration file are fixed there) or in an image.
fn refuse_local_flags(args: &ServerArgs, command: &str) -> anyhow::Result<()> {
    let given = [
        ("--config", args.config.is_some()),
        ("--data-dir", args.data_dir.is_some()),
        ("--port", args.port.is_some()),
        ("--print-config", args.print_config),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
        bail!(
            "{flag} configures a server on this machine; `server {command}` does not use it\nhint: the manifests fix the port (7070), data directory and configuration file; edit the Secret `{}` for other settings",
            control_plane::CONFIG_SECRET
        );
    }
    Ok(())
}

/// `server manifests`.
fn manifests(args: &ServerArgs, m: &ServerManifestsArgs) -> anyhow::Result<ExitCode> {
    refuse_local_flags(args, "manifests")?;
    if m.host.is_none() {
        for (flag, set) in [
            ("--ingress-class", m.ingress_class.is_some()),
            ("--tls-issuer", m.tls_issuer.is_some()),
        ] {
            if set {
                return Err(control_plane::ControlPlaneError::RouteWithoutHost(flag).into());
            }
        }
    }
    let image = m.image.clone().unwrap_or_else(server_image::default_tag);
    let database = match &m.database {
        Some(url) => {
            // The variable the server reads keeps one secret across runs; else a new one.
            let jwt_secret = match std::env::var("PIPEDREAMER_SERVER_AUTH__JWT_SECRET") {
                Ok(secret) if !secret.trim().is_empty() => secret.trim().to_owned(),
                _ => {
                    eprintln!(
                        "generated a new auth.jwt_secret into the Secret `{}` (running this again makes another, which ends every token minted before)",
                        control_plane::CONFIG_SECRET
                    );
                    output::hint(
                        "set PIPEDREAMER_SERVER_AUTH__JWT_SECRET to keep one secret across runs",
                    );
                    control_plane::generate_jwt_secret()?
                }
            };
            Database::Postgres {
                url: url.clone(),
                jwt_secret,
            }
        }
        None => Database::Sqlite {
            storage: m.storage.clone(),
            storage_class: m.storage_class.clone(),
        },
    };
    let options = ControlPlaneOptions {
        namespace: m.namespace.clone(),
        image: image.clone(),
        database,
        replicas: m.replicas,
        workspace_namespaces: m.workspace_namespaces.clone(),
        route: m.host.as_ref().map(|host| ApiRoute {
            host: host.clone(),
            ingress_class: m.ingress_class.clone(),
            tls_issuer: m.tls_issuer.clone(),
        }),
        public_url: args.public_url.clone(),
    };
    let plane = control_plane::render(&options)?;
    if m.image.is_none() {
        output::hint(&format!(
            "the image `{image}` has no registry: push it with `pipedreamer server image --push -r REGISTRY` and pass `--image REGISTRY/{image}`, or load it into the cluster (e.g. `kind load image-archive`)"
        ));
    }
    match &m.output_dir {
        Some(dir) => write_files(dir, &plane.files())?,
        None if m.output == ManifestsOutput::Json => println!("{}", plane.to_json()),
        None => print!("{}", plane.to_yaml()),
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the kustomize base; the Secret's file is readable by its owner only.
fn write_files(dir: &Path, files: &[control_plane::OutputFile]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    for file in files {
        let path = dir.join(&file.name);
        let mode = if file.secret { 0o600 } else { 0o644 };
        // A Secret written earlier with wider permissions keeps them through `mode`; remove it.
        if file.secret {
            let _ = std::fs::remove_file(&path);
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut f| f.write_all(file.text.as_bytes()))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
        println!("{}", path.display());
    }
    eprintln!(
        "wrote a kustomize base to {0} (apply it with `kubectl apply -k {0}`)",
        dir.display()
    );
    Ok(())
}

/// `server image`.
async fn image(args: &ServerArgs, i: &ServerImageArgs) -> anyhow::Result<ExitCode> {
    refuse_local_flags(args, "image")?;
    let tag = i.tag.clone().unwrap_or_else(server_image::default_tag);
    let reference = Reference::qualified(&tag, i.publish.registry.as_deref())?;
    crate::commands::build::require_registry(&i.publish, &reference)?;
    let cli = server_image::locate_cli(None)?;
    let engine = pipedreamer_image::locate_engine(args.engine.clone())?;
    let request = ServerImageRequest::new(cli, engine, reference.clone())?;
    let image = server_image::build_server_image_async(request).await?;
    eprintln!(
        "built {reference}: {:.1} MiB compressed",
        image.compressed_size() as f64 / 1048576.0
    );
    crate::commands::build::publishers(&i.publish)
        .publish_each(&image, &reference, crate::commands::build::announce)
        .await?;
    match i.output {
        OutputFormat::Text => println!("{reference}@{}", image.digest()),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "image": reference.to_string(),
                "digest": image.digest(),
                "size_bytes": image.compressed_size(),
            }))?
        ),
    }
    Ok(ExitCode::SUCCESS)
}
