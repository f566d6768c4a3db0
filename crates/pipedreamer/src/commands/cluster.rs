//! `pipedreamer cluster check`: the preflight as a command, with the route checks (IngressClass,
//! Gateway API, cert-manager) its routing flags ask for. Exit 1 when a required check fails.

use crate::cli::{ClusterCheckArgs, OutputFormat};
use crate::commands::kube::{connect, render_report, route_checks};
use std::process::ExitCode;

/// Runs the command.
pub async fn check(args: ClusterCheckArgs) -> anyhow::Result<ExitCode> {
    let route = route_checks(&args.route)?;
    let workflow = crate::commands::deploy::workflow_name_in(args.dir.as_deref())?;
    let cluster = connect(&args.kube).await?;
    let options = pipedreamer_kube::preflight::Options {
        workflow: workflow.as_deref(),
        fix: args.fix,
        route: Some(route),
    };
    let report = pipedreamer_kube::preflight::run_with(
        &cluster,
        &options,
        pipedreamer_kube::cluster::CONNECT_TIMEOUT,
    )
    .await;
    match args.output {
        OutputFormat::Text => print!("{}", render_report(&report)),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
