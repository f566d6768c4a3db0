//! The workflow spec: `workflow.yaml` parsed with positions, validated, turned into a DAG, and
//! its modules' import graph resolved (`node_modules` included).
//!
//! [`check`] does all of it once and [`resolve`] hands the result, a [`Resolved`], to whatever
//! runs, ships or watches the workflow, so nothing reads or walks it again.
//!
//! This crate has no engine, JS runtime, network or Kubernetes code; every other crate depends on
//! it. The only file access goes through [`source::SourceProvider`].
//!
//! ```
//! use pipedreamer_spec::{check, source::MemorySource};
//! let files = MemorySource::from_pairs([
//!     ("workflow.yaml", "name: hi\nversion: \"1.0\"\nnodes:\n  - id: a\n    file: a.js\n"),
//!     ("a.js", "export default async function run(ctx, input) { return input; }"),
//! ]);
//! let checked = check(&files);
//! assert!(checked.is_valid(), "{:?}", checked.diagnostics);
//! ```

pub mod dag;
pub mod diagnostic;
pub mod graph;
pub mod js_check;
pub mod model;
pub mod parse;
pub mod source;
#[cfg(feature = "test-support")]
pub mod test_support;
pub mod validate;
pub mod yaml;

pub use dag::Dag;
pub use diagnostic::{Diagnostic, Pos, Severity};
pub use graph::{
    ImportForm, ImportTarget, ModuleFile, ModuleGraph, ModuleKind, NodeBuiltin, ResolvedImport,
};
pub use model::*;
pub use validate::Schedule;

/// A valid workflow with everything resolved once: what the sandbox compiles, the image ships
/// and `dev` watches.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The workflow.
    pub workflow: Workflow,
    /// Its DAG.
    pub dag: Dag,
    /// Every module the nodes reach, with its imports resolved.
    pub modules: ModuleGraph,
    /// The cron triggers' parsed schedules.
    pub schedules: Vec<Schedule>,
    /// Warnings (a valid workflow has no errors), sorted like [`Checked::diagnostics`].
    pub warnings: Vec<Diagnostic>,
}

/// A workflow directory read and checked: the model (when parsable) and every diagnostic.
#[derive(Debug)]
pub struct Checked {
    /// The workflow, when the YAML was a mapping; it may still have errors.
    pub workflow: Option<Workflow>,
    /// All problems, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Everything resolved, when there is no error.
    pub resolved: Option<Resolved>,
}

impl Checked {
    /// No errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.workflow.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The workflow and its DAG, when valid.
    pub fn into_valid(self) -> Result<(Workflow, Dag), Vec<Diagnostic>> {
        self.into_resolved().map(|r| (r.workflow, r.dag))
    }

    /// Everything resolved, when valid; else every problem.
    pub fn into_resolved(self) -> Result<Resolved, Vec<Diagnostic>> {
        match self.resolved {
            Some(resolved) if self.is_valid() => Ok(resolved),
            _ => Err(self.diagnostics),
        }
    }
}

/// Checks the workflow under `source` and resolves its modules, once: the entry point for
/// everything that runs, ships or watches a workflow. Errors come back with the warnings.
pub fn resolve(source: &dyn source::SourceProvider) -> Result<Resolved, Vec<Diagnostic>> {
    check(source).into_resolved()
}

/// Reads `workflow.yaml` from `source`, parses and validates it, and returns every problem.
pub fn check(source: &dyn source::SourceProvider) -> Checked {
    let text = match source.read(WORKFLOW_FILE) {
        Ok(t) => t,
        Err(e) => {
            let hint = match e {
                source::SourceError::OutsideDirectory => {
                    "`workflow.yaml` must be a file inside the workflow directory, not a link out of it; copy the file in"
                }
                _ => "run `pipedreamer init` to create a workflow, or pass the workflow directory",
            };
            return Checked {
                workflow: None,
                resolved: None,
                diagnostics: vec![
                    Diagnostic::error(
                        "missing-workflow",
                        WORKFLOW_FILE,
                        Pos::new(1, 1),
                        format!("cannot read `{WORKFLOW_FILE}`: {e}"),
                    )
                    .with_hint(hint),
                ],
            };
        }
    };
    check_text(&text, source)
}

/// Parses and validates workflow text whose node files come from `source`, and walks their
/// import graph.
pub fn check_text(text: &str, source: &dyn source::SourceProvider) -> Checked {
    let parsed = parse::parse_workflow(text, WORKFLOW_FILE);
    let mut diagnostics = parsed.diagnostics;
    let Some(workflow) = parsed.workflow else {
        diagnostic::sort(&mut diagnostics);
        return Checked {
            workflow: None,
            diagnostics,
            resolved: None,
        };
    };
    let validation = validate::validate(&workflow, WORKFLOW_FILE);
    diagnostics.extend(validation.diagnostics);
    let (modules, found) = graph::walk(&workflow, WORKFLOW_FILE, source);
    diagnostics.extend(found);
    diagnostic::sort(&mut diagnostics);
    let resolved = match diagnostics.iter().any(Diagnostic::is_error) {
        true => None,
        // Validation rejects unknown dependencies and cycles, so the DAG builds.
        false => Dag::build(&workflow.nodes).ok().map(|dag| Resolved {
            workflow: workflow.clone(),
            dag,
            modules,
            schedules: validation.schedules,
            warnings: diagnostics.clone(),
        }),
    };
    Checked {
        workflow: Some(workflow),
        diagnostics,
        resolved,
    }
}
