//! The workflow spec: `workflow.yaml` parsed with positions, validated, and turned into a DAG.
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
pub mod js_check;
pub mod model;
pub mod parse;
pub mod source;
pub mod validate;
pub mod yaml;

pub use dag::Dag;
pub use diagnostic::{Diagnostic, Pos, Severity};
pub use model::*;

/// A workflow directory read and checked: the model (when parsable) and every diagnostic.
#[derive(Debug)]
pub struct Checked {
    /// The workflow, when the YAML was a mapping; it may still have errors.
    pub workflow: Option<Workflow>,
    /// All problems, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    /// No errors (warnings allowed).
    pub fn is_valid(&self) -> bool {
        self.workflow.is_some() && !self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The workflow and its DAG, when valid.
    pub fn into_valid(self) -> Result<(Workflow, Dag), Vec<Diagnostic>> {
        if !self.is_valid() {
            return Err(self.diagnostics);
        }
        let workflow = self.workflow.expect("valid implies parsed");
        let dag = Dag::build(&workflow.nodes).expect("validation rejects bad graphs");
        Ok((workflow, dag))
    }
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

/// Parses and validates workflow text whose node files come from `source`.
pub fn check_text(text: &str, source: &dyn source::SourceProvider) -> Checked {
    let parsed = parse::parse_workflow(text, WORKFLOW_FILE);
    let mut diagnostics = parsed.diagnostics;
    if let Some(wf) = &parsed.workflow {
        diagnostics.extend(validate::validate(wf, WORKFLOW_FILE, source));
    }
    diagnostic::sort(&mut diagnostics);
    Checked {
        workflow: parsed.workflow,
        diagnostics,
    }
}
