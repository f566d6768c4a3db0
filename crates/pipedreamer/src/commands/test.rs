//! `pipedreamer test`: runs the workflow's test cases (`tests/*.yaml`) in process, through the
//! engine's run path as `dev` does, all in parallel; prints a report (text, JSON or JUnit XML)
//! on stdout. Exit 0 when every case passed, 1 when one failed or a file is invalid, 2 when
//! there is nothing to run.

use crate::cli::{TestArgs, TestOutput};
use crate::output;
use anyhow::{Context, bail};
use pipedreamer_engine::EngineState;
use pipedreamer_sandbox::{PoolOptions, Sandbox};
use pipedreamer_test::{PrepareError, report};
use std::io::IsTerminal;
use std::process::ExitCode;

/// Runs the command.
pub async fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let dir = args.dir.clone();
    if !dir.join(pipedreamer_spec::WORKFLOW_FILE).exists() {
        bail!(
            "no workflow.yaml in `{}`\nhint: pass the workflow directory: `pipedreamer test path/to/workflow`",
            dir.display()
        );
    }
    let prepare_dir = dir.clone();
    let prepared = tokio::task::spawn_blocking(move || pipedreamer_test::prepare(&prepare_dir))
        .await
        .context("loading the workflow stopped")?;
    let prepared = match prepared {
        Ok(p) => p,
        Err(PrepareError::Invalid(diagnostics)) => {
            eprint!("{}", output::render_diagnostics(&dir, &diagnostics));
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            eprintln!(
                "error: found {errors} error(s); no case ran\nhint: `pipedreamer validate {}` checks the workflow alone",
                dir.display()
            );
            return Ok(ExitCode::from(1));
        }
        Err(e @ PrepareError::NoTests(_)) => bail!(
            "{e}\nhint: add one, e.g. `tests/greet.yaml` with `cases: [{{name: greets, trigger: {{http: {{name: ada}}}}, expect: {{status: succeeded}}}}]` (`pipedreamer init` writes an example)"
        ),
        Err(e) => bail!("{e}"),
    };
    let selected = pipedreamer_test::select(&prepared.suites, args.filter.as_deref());
    if selected.is_empty() {
        let names: Vec<&str> = prepared
            .suites
            .iter()
            .flat_map(|s| s.cases.iter().map(|c| c.name.as_str()))
            .collect();
        bail!(
            "no case name contains `{}`\nhint: the cases are: {}",
            args.filter.as_deref().unwrap_or_default(),
            names.join(", ")
        );
    }
    let sandbox = Sandbox::start(PoolOptions::default())?;
    let state = EngineState::new(sandbox, None, None);
    let report = pipedreamer_test::runner::run(&state, &prepared.program, selected).await;
    match args.output {
        TestOutput::Text => {
            let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
            print!("{}", report::text(&report, color));
        }
        TestOutput::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&report)).unwrap_or_default()
        ),
        TestOutput::Junit => print!("{}", report::junit(&report)),
    }
    Ok(if report.failed() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
