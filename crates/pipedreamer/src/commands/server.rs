//! `pipedreamer server` (serve, `--print-config`) and `pipedreamer server token
//! create|list|revoke`: flags to `pipedreamer_server` calls.

use crate::cli::{OutputFormat, ServerArgs, ServerCommand, TokenCommand, TokenScope};
use pipedreamer_server::{Config, Overrides};
use pipedreamer_store::Scope;
use serde_json::json;
use std::process::ExitCode;

/// Runs the command.
pub async fn run(args: ServerArgs) -> anyhow::Result<ExitCode> {
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
