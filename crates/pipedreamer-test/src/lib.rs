//! Workflow test cases: `tests/*.yaml` next to `workflow.yaml` (never shipped in an image), run
//! by `pipedreamer test`.
//!
//! Layers: [`model`] (test files → cases with positions, checked against the workflow) →
//! [`stub`] (a case's fetch stubs as the sandbox's `FetchResponder`) → [`runner`] (each case is
//! one run through `EngineState::run`, the engine's own path, under the case's secrets; all in
//! parallel; misses named with their position) → [`report`] (text, JSON, JUnit XML).
//!
//! The workflow is checked, resolved and compiled once ([`prepare`]); every case shares that
//! program, bound to its own secrets and stubs, so a case costs one run.

pub mod model;
pub mod report;
pub mod runner;
pub mod stub;

pub use model::{Case, CaseTrigger, Expect, Suite};
pub use runner::{CaseResult, Failure, Report, Selected};

use pipedreamer_engine::{LoadError, SecretsSource};
use pipedreamer_sandbox::Program;
use pipedreamer_spec::Diagnostic;
use pipedreamer_spec::source::DirSource;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A workflow compiled once and its test files, checked against it.
#[derive(Debug)]
pub struct Prepared {
    /// The compiled workflow every case runs.
    pub program: Arc<Program>,
    /// The test files, sorted by name.
    pub suites: Vec<Suite>,
}

/// Why the cases cannot run.
#[derive(Debug)]
pub enum PrepareError {
    /// The workflow or a test file has errors (positions in the diagnostics).
    Invalid(Vec<Diagnostic>),
    /// There are no test files.
    NoTests(PathBuf),
    /// The tests directory cannot be listed.
    Io(PathBuf, std::io::Error),
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(d) => write!(
                f,
                "found {} error(s)",
                d.iter().filter(|d| d.is_error()).count()
            ),
            Self::NoTests(dir) => {
                write!(f, "no test cases: `{}` has no *.yaml files", dir.display())
            }
            Self::Io(dir, e) => write!(f, "cannot list `{}`: {e}", dir.display()),
        }
    }
}

impl std::error::Error for PrepareError {}

/// Checks and compiles the workflow in `dir` (as the engine loads it, without secrets: each
/// case brings its own), then reads its test files and checks them against it.
pub fn prepare(dir: &Path) -> Result<Prepared, PrepareError> {
    let workload = pipedreamer_engine::load(dir, &SecretsSource::None).map_err(|e| match e {
        LoadError::Invalid(d) => PrepareError::Invalid(d),
        // `SecretsSource::None` reads nothing, so this cannot happen; say what it was anyway.
        LoadError::Secrets(e) => PrepareError::Invalid(vec![Diagnostic::error(
            "test-secrets",
            pipedreamer_spec::WORKFLOW_FILE,
            Default::default(),
            e.to_string(),
        )]),
    })?;
    let program = workload.program.clone();
    let tests = dir.join(model::TESTS_DIR);
    let names = model::list(dir).map_err(|e| PrepareError::Io(tests.clone(), e))?;
    if names.is_empty() {
        return Err(PrepareError::NoTests(tests));
    }
    let suites = model::load(&DirSource::new(dir), &names).map_err(PrepareError::Invalid)?;
    let problems = model::check_against(&suites, &program.workflow);
    if problems.iter().any(Diagnostic::is_error) {
        return Err(PrepareError::Invalid(problems));
    }
    Ok(Prepared { program, suites })
}

/// The cases to run: all, or those whose name contains `filter` (ignoring case).
pub fn select(suites: &[Suite], filter: Option<&str>) -> Vec<Selected> {
    let filter = filter.map(str::to_lowercase);
    suites
        .iter()
        .flat_map(|s| {
            s.cases.iter().map(|c| Selected {
                file: s.file.clone(),
                case: c.clone(),
            })
        })
        .filter(|s| {
            filter
                .as_deref()
                .is_none_or(|f| s.case.name.to_lowercase().contains(f))
        })
        .collect()
}
