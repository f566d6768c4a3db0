//! `pipedreamer validate`: every problem at once, as text with source excerpts or as JSON.

use crate::cli::{OutputFormat, ValidateArgs};
use crate::output;
use pipedreamer_engine::SecretsSource;
use pipedreamer_engine::secrets_source::SecretsError;
use pipedreamer_spec::source::DirSource;
use pipedreamer_spec::{Diagnostic, Pos, SECRETS_FILE, WORKFLOW_FILE, Workflow};
use serde_json::json;
use std::path::Path;
use std::process::ExitCode;

/// Checks the workflow in `dir` the way the engine will load it (spec, import graph with
/// `node_modules`, QuickJS compile), and against `.secrets.yaml` when there is one.
pub fn check_dir(dir: &Path) -> (Option<Workflow>, Vec<Diagnostic>) {
    let mut checked = pipedreamer_spec::check(&DirSource::new(dir));
    // The engine's own load compiles what the check resolved: nothing is read or walked again.
    let compiled = checked
        .resolved
        .take()
        .and_then(|resolved| pipedreamer_sandbox::Program::from_resolved(resolved).err());
    let mut diagnostics = checked.diagnostics;
    diagnostics.extend(compiled.unwrap_or_default());
    if let Some(wf) = &checked.workflow {
        diagnostics.extend(check_secrets(dir, wf));
    }
    pipedreamer_spec::diagnostic::sort(&mut diagnostics);
    // A failed compile may repeat the warnings it was given.
    diagnostics.dedup();
    (checked.workflow, diagnostics)
}

/// What needs secret values, checked against `.secrets.yaml` as `dev` loads it. Without the file
/// the secrets live elsewhere (a Kubernetes Secret) and there is nothing to check against.
fn check_secrets(dir: &Path, wf: &Workflow) -> Vec<Diagnostic> {
    let file = dir.join(SECRETS_FILE);
    if !file.exists() {
        return Vec::new();
    }
    match SecretsSource::File(file).load() {
        Ok(secrets) => pipedreamer_spec::validate::secrets(wf, WORKFLOW_FILE, &|path: &str| {
            secrets.lookup(path)
        }),
        // The message names the place, never a value; the renderer shows no excerpt of it.
        Err(e) => {
            let pos = match &e {
                SecretsError::Yaml { line, col, .. } => Pos::new(*line, *col),
                SecretsError::Io { .. } => Pos::new(1, 1),
            };
            vec![
                Diagnostic::error("bad-secrets", SECRETS_FILE, pos, e.to_string())
                    .with_hint("fix the file; `pipedreamer dev` reads the same one"),
            ]
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
