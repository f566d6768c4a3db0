//! Running cases: each case is one run through [`EngineState::run`] (what `dev`'s `/run`,
//! `/hooks`, cron and queues call), on the workflow's compiled program bound to the case's own
//! secrets and fetch stubs; all cases at once, the sandbox's workers taking them as they free
//! up. Then every expectation is checked and each miss named with its position.

use crate::model::{Case, CaseTrigger, Expect};
use crate::stub::{Call, Stubs};
use pipedreamer_engine::EngineState;
use pipedreamer_sandbox::{Program, RunOutcome, Secrets, Trigger, Workload};
use pipedreamer_spec::Pos;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A case to run and the file it comes from.
#[derive(Debug, Clone)]
pub struct Selected {
    /// The test file, relative to the workflow directory.
    pub file: String,
    /// The case.
    pub case: Case,
}

/// One expectation a run missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Where the expectation is written.
    pub pos: Pos,
    /// What was expected and what happened, in one line.
    pub message: String,
    /// A unified diff, expected (`-`) against actual (`+`), for outputs.
    pub diff: Option<String>,
}

/// A case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The test file, relative to the workflow directory.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// Where the case starts.
    pub pos: Pos,
    /// The run's id (logged by the engine like any run's).
    pub run_id: String,
    /// Wall time of the run (in the sandbox, from its start).
    pub duration: Duration,
    /// The expectations it missed; none when it passed.
    pub failures: Vec<Failure>,
}

impl CaseResult {
    /// Whether every expectation held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Every case's result, in the order they were given.
#[derive(Debug, Clone)]
pub struct Report {
    /// The workflow's name.
    pub workflow: String,
    /// The results.
    pub cases: Vec<CaseResult>,
    /// Wall time of the whole run.
    pub duration: Duration,
}

impl Report {
    /// Cases that passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.passed()).count()
    }

    /// Cases that failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// Runs `cases` against `program` on `state`'s sandbox, all in parallel.
pub async fn run(state: &Arc<EngineState>, program: &Arc<Program>, cases: Vec<Selected>) -> Report {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let count = cases.len();
    for (i, selected) in cases.into_iter().enumerate() {
        let (state, program) = (state.clone(), program.clone());
        tasks.spawn(async move { (i, run_case(&state, program, selected).await) });
    }
    let mut results: Vec<Option<CaseResult>> = vec![None; count];
    while let Some(joined) = tasks.join_next().await {
        // A case's task only panics on a bug; the case is then missing and reported below.
        if let Ok((i, result)) = joined {
            results[i] = Some(result);
        }
    }
    Report {
        workflow: program.workflow.name.clone(),
        cases: results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| CaseResult {
                    file: String::new(),
                    name: "(internal error)".into(),
                    pos: Pos::default(),
                    run_id: String::new(),
                    duration: Duration::ZERO,
                    failures: vec![Failure {
                        pos: Pos::default(),
                        message: "the case's task panicked (a bug in pipedreamer test)".into(),
                        diff: None,
                    }],
                })
            })
            .collect(),
        duration: started.elapsed(),
    }
}

async fn run_case(
    state: &Arc<EngineState>,
    program: Arc<Program>,
    selected: Selected,
) -> CaseResult {
    let Selected { file, case } = selected;
    let stubs = Arc::new(Stubs::new(case.fetch.clone()));
    if let Some(reason) = ignored_delivery(&case.trigger.value, &program) {
        // The engine answers such a delivery `202 {"status": "ignored"}` and runs nothing, so
        // the case's expectations could only be met by a run that would never happen.
        return CaseResult {
            file,
            name: case.name,
            pos: case.pos,
            run_id: String::new(),
            duration: Default::default(),
            failures: vec![Failure {
                pos: case.trigger.pos,
                message: format!(
                    "the engine would ignore this delivery ({reason}) and run nothing; change the case's `event`/`branch` or the trigger's `events`/`branches`"
                ),
                diff: None,
            }],
        };
    }
    let (input, trigger) = run_input(&case.trigger.value, &program);
    // Policy warnings (say an auth rule whose secret this case does not give) are the
    // workflow's business; a fetch that needs the secret fails the case on its own.
    let (workload, _warnings) =
        Workload::stubbed(program, Secrets::new(case.secrets.clone()), stubs.clone());
    // The case's `logs` checks read the journal, whatever the log filter says.
    let options = pipedreamer_engine::RunOptions {
        keep_logs: true,
        ..Default::default()
    };
    let outcome = state
        .run_with(Arc::new(workload), input, trigger, options)
        .await;
    let failures = check(&case, &outcome, &stubs.calls());
    CaseResult {
        file,
        name: case.name,
        pos: case.pos,
        run_id: outcome.run_id,
        // The run's own time, not the wait for a worker behind the other cases.
        duration: outcome.duration,
        failures,
    }
}

/// Why the engine's `/hooks/<name>` would ignore a webhook case's delivery, if it would.
fn ignored_delivery(trigger: &CaseTrigger, program: &Program) -> Option<String> {
    let CaseTrigger::Webhook {
        name, event, body, ..
    } = trigger
    else {
        return None;
    };
    program.workflow.triggers.iter().find_map(|t| match t {
        pipedreamer_spec::Trigger::Webhook(w) if &w.name == name => {
            pipedreamer_engine::webhook::filtered_out(w, event.as_deref(), body)
        }
        _ => None,
    })
}

/// The run's input (JSON text) and trigger, as the engine builds them for that trigger.
fn run_input(trigger: &CaseTrigger, program: &Program) -> (String, Trigger) {
    match trigger {
        CaseTrigger::Http { body } => (body.to_string(), Trigger::Http),
        CaseTrigger::Webhook {
            name,
            event,
            delivery,
            body,
        } => {
            // The shape `/hooks/<name>` hands a verified delivery to the run.
            let input = json!({ "event": event, "delivery": delivery, "payload": body });
            (input.to_string(), Trigger::Webhook(name.clone()))
        }
        CaseTrigger::Cron { name } => {
            let cron = program.workflow.triggers.iter().find_map(|t| match t {
                pipedreamer_spec::Trigger::Cron(c) if crate::model::cron_label(c) == name => {
                    Some(c)
                }
                _ => None,
            });
            let payload = cron.map_or_else(|| json!({}), |c| c.payload());
            (payload.to_string(), Trigger::Cron(name.clone()))
        }
        CaseTrigger::Queue { subject, body } => (body.to_string(), Trigger::Queue(subject.clone())),
    }
}

/// Every expectation of `case` the run missed, in the order they are written.
pub fn check(case: &Case, outcome: &RunOutcome, calls: &[Call]) -> Vec<Failure> {
    let expect = &case.expect;
    let mut failures = Vec::new();
    let fail = |pos: Pos, message: String| Failure {
        pos,
        message,
        diff: None,
    };
    // A fetch without a stub fails the case even when node code caught its error.
    for call in calls.iter().filter(|c| c.stub.is_none()) {
        failures.push(Failure {
            pos: case.pos,
            message: format!(
                "fetch {} {} matched no stub; add one under `fetch` (`match: {{method: {}, url: \"...\"}}`)",
                call.method, call.url, call.method
            ),
            diff: None,
        });
    }
    let status = expect.status();
    if outcome.status != status.value {
        let why = match &outcome.error {
            Some(e) => match &e.node {
                Some(node) => format!(": node `{node}`: {}", e.message),
                None => format!(": {}", e.message),
            },
            None => String::new(),
        };
        failures.push(fail(
            status.pos,
            format!(
                "expected the run to have {}, it {}{why}",
                status.value.as_str(),
                outcome.status.as_str()
            ),
        ));
    }
    if let Some(want) = &expect.error {
        match &outcome.error {
            Some(e) if e.message.contains(&want.value) => {}
            Some(e) => failures.push(fail(
                want.pos,
                format!(
                    "expected the run's error to contain {:?}, it is {:?}",
                    want.value, e.message
                ),
            )),
            None => failures.push(fail(
                want.pos,
                format!(
                    "expected the run to fail with an error containing {:?}, it succeeded",
                    want.value
                ),
            )),
        }
    }
    let output: Option<Value> = outcome
        .output
        .as_ref()
        .and_then(|raw| serde_json::from_str(raw.get()).ok());
    if let Some(want) = &expect.output {
        match &output {
            Some(got) if got == &want.value => {}
            Some(got) => failures.push(Failure {
                pos: want.pos,
                message: "the output differs from `output`".into(),
                diff: Some(diff(&want.value, got)),
            }),
            None => failures.push(fail(want.pos, no_output(outcome))),
        }
    }
    if let Some(want) = &expect.output_contains {
        match &output {
            Some(got) => {
                if let Some(miss) = missing_part(&want.value, got, "") {
                    failures.push(Failure {
                        pos: want.pos,
                        message: format!("the output does not contain `output_contains`: {miss}"),
                        diff: Some(diff(&want.value, got)),
                    });
                }
            }
            None => failures.push(fail(want.pos, no_output(outcome))),
        }
    }
    for (id, want) in &expect.nodes {
        let got = outcome.nodes.get(&id.value).map(|r| r.status);
        if got != Some(want.value) {
            let got = got.map_or("did not run".to_owned(), |s| {
                format!("ended {}", status_word(&s))
            });
            failures.push(fail(
                want.pos,
                format!(
                    "expected node `{}` to end {}, it {got}",
                    id.value,
                    status_word(&want.value)
                ),
            ));
        }
    }
    check_logs(expect, outcome, &mut failures);
    failures
}

fn check_logs(expect: &Expect, outcome: &RunOutcome, failures: &mut Vec<Failure>) {
    let logs = &outcome.journal.logs;
    for want in &expect.logs_contains {
        if !logs.iter().any(|l| l.message.contains(&want.value)) {
            let seen = match logs.len() {
                0 => "the run logged nothing".to_owned(),
                n => format!(
                    "the run logged {n} line(s):\n{}",
                    logs.iter()
                        .map(|l| format!("[{}] {}", l.node, l.message))
                        .collect::<Vec<_>>()
                        .join("\n")
                ),
            };
            failures.push(Failure {
                pos: want.pos,
                message: format!("no log line contains {:?}; {seen}", want.value),
                diff: None,
            });
        }
    }
    for unwanted in &expect.logs_excludes {
        if let Some(line) = logs.iter().find(|l| l.message.contains(&unwanted.value)) {
            failures.push(Failure {
                pos: unwanted.pos,
                message: format!(
                    "a log line of node `{}` contains {:?}: {:?}",
                    line.node, unwanted.value, line.message
                ),
                diff: None,
            });
        }
    }
}

fn status_word(status: &pipedreamer_runs::NodeStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn no_output(outcome: &RunOutcome) -> String {
    match &outcome.error {
        Some(e) => format!("the run has no output: it failed: {}", e.message),
        None => "the run has no output".into(),
    }
}

/// Expected against actual as pretty JSON, line by line.
fn diff(expected: &Value, actual: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default() + "\n";
    let (e, a) = (pretty(expected), pretty(actual));
    similar::TextDiff::from_lines(&e, &a)
        .unified_diff()
        .context_radius(3)
        .header("expected", "actual")
        .to_string()
}

/// Where `got` does not contain `want`: objects need each of `want`'s keys (recursively),
/// arrays the same length with each item contained, anything else equality. `None` when it
/// does.
fn missing_part(want: &Value, got: &Value, path: &str) -> Option<String> {
    let at = |p: &str| {
        if p.is_empty() {
            "the top".to_owned()
        } else {
            format!("`{p}`")
        }
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().find_map(|(k, wv)| {
            let sub = format!("{path}.{k}");
            match g.get(k) {
                Some(gv) => missing_part(wv, gv, &sub),
                None => Some(format!("{} is missing", at(&sub))),
            }
        }),
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (wv, gv))| missing_part(wv, gv, &format!("{path}[{i}]"))),
        _ if want == got => None,
        _ => Some(format!("at {}: expected {want}, found {got}", at(path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contained_parts_are_found_and_misses_named_by_path() {
        let got = json!({"a": 1, "b": {"c": [1, {"d": 2, "e": 3}]}, "f": "x"});
        assert_eq!(missing_part(&json!({}), &got, ""), None);
        assert_eq!(
            missing_part(&json!({"b": {"c": [1, {"e": 3}]}}), &got, ""),
            None
        );
        assert_eq!(
            missing_part(&json!({"b": {"c": [1, {"e": 4}]}}), &got, ""),
            Some("at `.b.c[1].e`: expected 4, found 3".into())
        );
        assert_eq!(
            missing_part(&json!({"g": 1}), &got, ""),
            Some("`.g` is missing".into())
        );
        assert_eq!(
            missing_part(&json!({"b": {"c": [1]}}), &got, ""),
            Some("at `.b.c`: expected [1], found [1,{\"d\":2,\"e\":3}]".into())
        );
        assert_eq!(
            missing_part(&json!(2), &json!(1), ""),
            Some("at the top: expected 2, found 1".into())
        );
    }

    #[test]
    fn diffs_show_expected_minus_and_actual_plus() {
        let d = diff(&json!({"m": "Hello, Ada!"}), &json!({"m": "Hello, Bob!"}));
        assert!(d.contains("-  \"m\": \"Hello, Ada!\""), "{d}");
        assert!(d.contains("+  \"m\": \"Hello, Bob!\""), "{d}");
    }
}
