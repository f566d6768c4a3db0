//! `pipedreamer validate`: every problem at once, as text with source excerpts or as JSON.

use crate::cli::{OutputFormat, ValidateArgs};
use crate::output;
use pipedreamer_spec::source::DirSource;
use pipedreamer_spec::{Diagnostic, Workflow};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Checks the workflow in `dir` the way the engine will load it (spec, imports, QuickJS compile).
pub fn check_dir(dir: &Path) -> (Option<Workflow>, Vec<Diagnostic>) {
    let source = DirSource::new(dir);
    let checked = pipedreamer_spec::check(&source);
    if !checked.is_valid() {
        return (checked.workflow, checked.diagnostics);
    }
    match pipedreamer_sandbox::Program::load(&source) {
        Ok(_) => (checked.workflow, checked.diagnostics),
        Err(mut more) => {
            more.extend(checked.diagnostics);
            pipedreamer_spec::diagnostic::sort(&mut more);
            (checked.workflow, more)
        }
    }
}

/// Runs the command.
pub fn run(args: ValidateArgs) -> ExitCode {
    let (workflow, diagnostics) = check_dir(&args.dir);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let valid = workflow.is_some() && errors == 0;
    match args.output {
        OutputFormat::Json => {
            let summary = workflow.as_ref().map(|w| {
                json!({ "name": w.name, "version": w.version, "nodes": w.nodes.len(), "triggers": w.triggers.len() })
            });
            let doc = json!({ "valid": valid, "errors": errors, "warnings": warnings, "workflow": summary, "diagnostics": diagnostics });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        OutputFormat::Text => {
            eprint!("{}", output::render_diagnostics(&args.dir, &diagnostics));
            match (&workflow, valid) {
                (Some(w), true) => {
                    let warn = if warnings > 0 {
                        format!(" ({warnings} warning(s))")
                    } else {
                        String::new()
                    };
                    output::success(&format!(
                        "workflow `{}` {} is valid: {} node(s), {} trigger(s){warn}",
                        w.name,
                        w.version,
                        w.nodes.len(),
                        w.triggers.len()
                    ));
                }
                _ => eprintln!(
                    "error: found {errors} error(s) and {warnings} warning(s) in `{}`",
                    args.dir.display()
                ),
            }
        }
    }
    if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
