//! `pipedreamer`: the command line. Errors become one `error:` line (plus hints) and an exit code:
//! 0 success, 1 the command's check or run failed, 2 usage or environment errors.
// A binary has no public API; `pub` marks what command files share.
#![allow(unreachable_pub)]

mod cli;
mod commands;
mod output;

use clap::FromArgMatches;
use cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::from_arg_matches(&cli::command().get_matches()).unwrap_or_else(|e| e.exit());
    let result = match cli.command {
        Command::Init(args) => commands::init::run(args).map(|()| ExitCode::SUCCESS),
        Command::Validate(args) => Ok(commands::validate::run(args)),
        Command::Build(args) => {
            with_runtime(
                || async move { commands::build::run(args).await.map(|()| ExitCode::SUCCESS) },
            )
        }
        Command::Dev(args) => {
            with_runtime(
                || async move { commands::dev::run(args).await.map(|()| ExitCode::SUCCESS) },
            )
        }
        Command::Test(args) => with_runtime(|| commands::test::run(args)),
        Command::Deploy(args) => with_runtime(|| commands::deploy::run(args)),
        Command::Cluster(cli::ClusterCommand::Check(args)) => {
            with_runtime(|| commands::cluster::check(args))
        }
        Command::List(args) => with_runtime(|| commands::ops::list(args)),
        Command::Status(args) => with_runtime(|| commands::ops::status(args)),
        Command::Run(args) => with_runtime(|| commands::ops::run(args)),
        Command::Logs(args) => with_runtime(|| commands::ops::logs(args)),
        Command::Undeploy(args) => with_runtime(|| commands::ops::undeploy(args)),
        Command::Server(args) => with_runtime(|| commands::server::run(args)),
        Command::Runs(cli::RunsCommand::List(args)) => with_runtime(|| commands::runs::list(args)),
        Command::Runs(cli::RunsCommand::Show(args)) => with_runtime(|| commands::runs::show(args)),
        Command::Runs(cli::RunsCommand::Replay(args)) => {
            with_runtime(|| commands::runs::replay(args))
        }
        Command::Ci(args) => commands::ci::run(args).map(|()| ExitCode::SUCCESS),
        Command::Completions(args) => commands::completions::run(args).map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|e| {
        let mut text = format!("{e:#}");
        // Hints travel inside error messages as `\nhint: ...` lines; print them as hints.
        if let Some((main, hint)) = text.split_once("\nhint: ") {
            let (main, hint) = (main.to_owned(), hint.to_owned());
            text = main;
            eprintln!("error: {text}");
            output::hint(&hint);
        } else {
            eprintln!("error: {text}");
        }
        ExitCode::from(2)
    })
}

fn with_runtime<F, Fut>(f: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<ExitCode>>,
{
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f())
}
