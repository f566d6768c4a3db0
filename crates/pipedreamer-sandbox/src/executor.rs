//! One run: a pooled runtime and its realm (see `realm`), and the DAG scheduled as futures
//! inside the realm's context.
//!
//! A node starts when all its dependencies are done; independent nodes interleave on their awaits.
//! Synchronous infinite loops are stopped by the runtime's interrupt handler, awaits by tokio
//! timeouts. The first failure ends the run: running nodes are cancelled, the rest skipped.
//!
//! Retries: a node with `retries: N` is attempted up to N+1 times when it throws or times out
//! (never after the run hit its memory limit: the next attempt would too, and the realm is not
//! trusted). Each attempt has the node's whole timeout, the node's frozen `ctx` and the input
//! parsed anew; the wait before attempt k+1 is `retry_delay · 2^(k−1)`, ±20 %, at most a minute,
//! and the node's deadline is off while it waits. A timeout the interrupt handler enforced (a
//! synchronous loop, also one after an `await`) is retried too: the stop is accounted to the
//! attempt, not the run. Not retried, because no attempt owns the stopped code: a timer callback
//! stopped at a node's deadline, and code of one node stopped because *another* node's deadline
//! passed (the interrupt handler stops whatever JavaScript runs); both fail the run with that
//! node's timeout, as before retries. A run in which any attempt failed does not keep its realm.
//!
//! The run's timers (`web::timers`) are driven here too, next to the node futures: a due
//! timer's callback runs in the run's context, one per poll; an uncaught error in a callback
//! fails the run. When the DAG is done (or fails), the timers still pending are cancelled.

use crate::Workload;
use crate::exception::describe_exception;
use crate::outcome::*;
use crate::realm::{CurrentRun, Deadlines, PooledRuntime, Realm, RunEnd};
use crate::slot::unslot;
use crate::web::timers::{TimerEvent, yield_to_jobs};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use pipedreamer_spec::MAX_RETRY_DELAY;
use rquickjs::{Ctx, Function, Module, Object, Value};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one attempt of a node failed, as seen from its own call.
enum NodeFailure {
    Js(String),
    Timeout,
}

/// A node's failure, attributed: the node at fault (another one when that node's deadline
/// stopped this node's code), the kind and the message.
struct Failure {
    culprit: usize,
    kind: FailureKind,
    message: String,
}

/// When a node first started and how many attempts it has begun; shared by its future and the
/// run loop, which reports a node cancelled mid-retry with the attempts it made.
#[derive(Clone, Copy, Default)]
struct NodeClock {
    first_start: Option<Instant>,
    attempts: u32,
}

type Clocks = Rc<[Cell<NodeClock>]>;

/// Runs the workflow once and sends the outcome to `reply`, then tidies up its runtime.
pub(crate) async fn execute(
    wl: &Arc<Workload>,
    req: RunRequest,
    run_id: String,
    client: &reqwest::Client,
    reply: tokio::sync::oneshot::Sender<RunOutcome>,
) {
    let started = Instant::now();
    let program = &wl.program;
    let n = program.workflow.nodes.len();
    let started_at = std::time::SystemTime::now();
    let mut reports: Vec<NodeReport> = vec![NodeReport::SKIPPED; n];
    let (result, release, journal) =
        run_dag(wl, &req, &run_id, started, client, &mut reports).await;
    let redact = |s: &str| wl.secrets.redactor().redact(s);
    let (output, error) = match result {
        Ok(output) => (Some(output), None),
        Err(mut e) => {
            e.message = crate::realm::without_nul(redact(&e.message));
            (None, Some(e))
        }
    };
    let nodes = NodeReports(
        program
            .workflow
            .nodes
            .iter()
            .zip(reports)
            .map(|(spec, r)| (spec.id.clone(), r))
            .collect(),
    );
    let _ = reply.send(RunOutcome {
        run_id,
        status: if error.is_none() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        },
        output,
        error,
        nodes,
        duration: started.elapsed(),
        started_at,
        journal,
    });
    if let Some(Release { runtime, realm }) = release {
        runtime.finish(realm, wl, client).await;
    }
    crate::realm::trim_after_large_fetches();
}

/// A runtime to give back after a run, with its realm when the run succeeded.
struct Release {
    runtime: PooledRuntime,
    realm: Option<(Realm, RunEnd)>,
}

type NodeFuture<'js> = Pin<Box<dyn Future<Output = (usize, Result<String, Failure>)> + 'js>>;

/// Runs the DAG; returns its result, the runtime to give back, and the run's journal.
async fn run_dag(
    wl: &Arc<Workload>,
    req: &RunRequest,
    run_id: &str,
    run_start: Instant,
    client: &reqwest::Client,
    reports: &mut [NodeReport],
) -> (
    Result<Box<serde_json::value::RawValue>, RunError>,
    Option<Release>,
    Journal,
) {
    let internal = |m: String| RunError {
        node: None,
        message: m,
        kind: FailureKind::Internal,
    };
    let program = wl.program.clone();
    let n = program.workflow.nodes.len();
    let mut pooled = match PooledRuntime::take().await {
        Ok(pooled) => pooled,
        Err(message) => return (Err(internal(message)), None, Journal::default()),
    };
    let realm = match pooled
        .begin(wl, run_id, run_start, req.keep_logs, client)
        .await
    {
        Ok(realm) => realm,
        Err(message) => {
            let release = Release {
                runtime: pooled,
                realm: None,
            };
            return (Err(internal(message)), Some(release), Journal::default());
        }
    };
    let slot = realm.runs;
    let deadlines = pooled.deadlines.clone();
    let heap = pooled.heap.clone();
    let run_state = pooled.run_state.clone();
    let current = pooled.run.clone();
    let clocks: Clocks = (0..n).map(|_| Cell::new(NodeClock::default())).collect();
    let result = realm
        .context
        .async_with(async |ctx| -> Result<(String, RunEnd), RunError> {
            crate::realm::reseed_random(&ctx);
            let dag = async {
                let setup = |e| {
                    internal(format!(
                        "cannot start the run: {}",
                        describe_exception(&ctx, e)
                    ))
                };
                let make_ctx: Function = realm
                    .make_run(&ctx)
                    .and_then(|make_run| make_run.call((run_id, req.trigger.to_string())))
                    .map_err(setup)?;
                let scope = RunScope {
                    ctx: &ctx,
                    make_ctx,
                    wl,
                    deadlines: &deadlines,
                    heap: &heap,
                    run: &current,
                    clocks: &clocks,
                    entries: (0..n)
                        .map(|i| match realm.entry(&ctx, i) {
                            Some(run) => NodeEntry::Shared(run),
                            None => NodeEntry::Module(
                                program.imports().module_name(slot, program.node_module(i)),
                            ),
                        })
                        .collect(),
                };
                let mut outputs: Vec<Option<String>> = vec![None; n];
                let mut waiting: Vec<usize> = program.dag.deps.iter().map(Vec::len).collect();
                let mut running: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
                for (i, _) in waiting.iter().enumerate().filter(|(_, w)| **w == 0) {
                    running.push(start_node(&scope, i, req.input.clone()));
                }
                loop {
                    let step = tokio::select! {
                        biased;
                        done = running.next() => match done {
                            Some(done) => done,
                            None => break,
                        },
                        event = run_state.timers.next_event() => {
                            let thrown = match event {
                                TimerEvent::Due(id) => match realm.fire_timer(&ctx, id) {
                                    Ok(()) => {
                                        // Let the callback's microtasks run before the next timer.
                                        yield_to_jobs().await;
                                        continue;
                                    }
                                    Err(e) => describe_exception(&ctx, e),
                                },
                                TimerEvent::Uncaught(message) => message,
                            };
                            return Err(callback_failure(
                                thrown,
                                &deadlines,
                                &heap,
                                wl,
                                (&clocks, run_start),
                                reports,
                            ));
                        }
                    };
                    let (i, result) = step;
                    match result {
                        Ok(json) => {
                            end_node(reports, i, NodeStatus::Succeeded, (&clocks, run_start));
                            outputs[i] = Some(json);
                            for &d in &program.dag.dependents[i] {
                                waiting[d] -= 1;
                                if waiting[d] == 0 {
                                    let input = node_input(
                                        &program.dag.deps[d],
                                        &outputs,
                                        &program.workflow.nodes,
                                    );
                                    running.push(start_node(&scope, d, input));
                                }
                            }
                        }
                        Err(Failure {
                            culprit,
                            kind,
                            message,
                        }) => {
                            cancel_running((&clocks, run_start), reports);
                            let status = if kind == FailureKind::Timeout {
                                NodeStatus::TimedOut
                            } else {
                                NodeStatus::Failed
                            };
                            end_node(reports, culprit, status, (&clocks, run_start));
                            return Err(RunError {
                                node: Some(program.workflow.nodes[culprit].id.clone()),
                                message,
                                kind,
                            });
                        }
                    }
                }
                // Reported by a job that ran as the last node finished.
                if let Some(thrown) = run_state.timers.take_uncaught() {
                    return Err(callback_failure(
                        thrown,
                        &deadlines,
                        &heap,
                        wl,
                        (&clocks, run_start),
                        reports,
                    ));
                }
                let output = leaf_output(&program.dag.leaves, &outputs, &program.workflow.nodes);
                let globals_added = realm.globals_added(&ctx).map_err(setup)?;
                let retried = clocks.iter().any(|c| c.get().attempts > 1);
                Ok((
                    output,
                    RunEnd {
                        globals_added,
                        retried,
                    },
                ))
            }
            .await;
            // Whatever the run left pending belongs to it and ends here, so it can never reach
            // another run: an exception thrown by a job the run queued (QuickJS leaves it on the
            // runtime), a stop by the interrupt handler that no node reported, and its timers
            // (cancelled here, their callbacks dropped by the areas' `endRun`).
            let leftover = ctx
                .has_exception()
                .then(|| describe_exception(&ctx, rquickjs::Error::Exception));
            run_state.end_run();
            let ended = realm.end_run(&ctx);
            if ended.is_err() {
                // Only after a failed run (a node stopped at its deadline interrupts it too),
                // whose realm is dropped anyway; clear the exception it left.
                let _ = ctx.catch();
            }
            let dag = match (dag, ended) {
                (Ok(_), Err(e)) => Err(internal(format!(
                    "cannot end the run: {}",
                    describe_exception(&ctx, e)
                ))),
                (dag, _) => dag,
            };
            let dag = dag?;
            if let Some(j) = deadlines.interrupted() {
                return Err(timed_out(j, &program.workflow.nodes, reports));
            }
            if let Some(message) = leftover {
                return Err(unowned_failure(
                    format!(
                        "a promise job or microtask the run queued failed after its node returned: {message}"
                    ),
                    &heap,
                ));
            }
            Ok(dag)
        })
        .await;
    let journal = crate::realm::take_journal(&pooled.run);
    // A runtime that hit its memory limit or was interrupted may be in a poor state; start fresh.
    // A realm is kept only after a run that succeeded.
    let (result, release) = match result {
        Ok((json, end)) => {
            let output = serde_json::value::RawValue::from_string(json)
                .map_err(|e| internal(format!("node output is not JSON: {e}")));
            let release = Release {
                runtime: pooled,
                realm: Some((realm, end)),
            };
            (output, Some(release))
        }
        Err(mut e) => {
            e.message = unslot(slot, &e.message);
            let release = (e.kind == FailureKind::Thrown).then_some(Release {
                runtime: pooled,
                realm: None,
            });
            (Err(e), release)
        }
    };
    (result, release, journal)
}

/// The nodes' clocks and the run's start: what a node's report is timed from.
type Timing<'a> = (&'a [Cell<NodeClock>], Instant);

/// Fills node `k`'s report as it ends now with `status`: its attempts, when its first attempt
/// started (from the run's start) and how long it took since (retry waits included).
fn end_node(reports: &mut [NodeReport], k: usize, status: NodeStatus, (clocks, run_start): Timing) {
    let clock = clocks[k].get();
    let now = Instant::now();
    let ms = |from: Instant, to: Instant| {
        round_ms(to.saturating_duration_since(from).as_secs_f64() * 1000.0)
    };
    reports[k] = NodeReport {
        status,
        attempts: clock.attempts,
        started_ms: clock.first_start.map_or(0.0, |s| ms(run_start, s)),
        duration_ms: clock.first_start.map_or(0.0, |s| ms(s, now)),
    };
}

/// Marks every node that started and has not finished as cancelled (the run is failing).
fn cancel_running(timing: Timing, reports: &mut [NodeReport]) {
    for k in 0..reports.len() {
        if timing.0[k].get().first_start.is_some() && reports[k].status == NodeStatus::Skipped {
            end_node(reports, k, NodeStatus::Cancelled, timing);
        }
    }
}

/// The run's failure when a timer or microtask callback threw (`thrown` describes it): a timeout
/// when a node's deadline stopped it, the memory limit when that was hit, else the exception.
fn callback_failure(
    thrown: String,
    deadlines: &Deadlines,
    heap: &crate::heap::HeapSize,
    wl: &Workload,
    timing: Timing,
    reports: &mut [NodeReport],
) -> RunError {
    cancel_running(timing, reports);
    if let Some(j) = deadlines.expired_node(Instant::now()) {
        return timed_out(j, &wl.program.workflow.nodes, reports);
    }
    unowned_failure(
        format!("uncaught exception in a timer or microtask callback: {thrown}"),
        heap,
    )
}

/// The run's failure when node `j`'s deadline stopped code no node awaited (a callback, a job).
fn timed_out(
    j: usize,
    nodes: &[pipedreamer_spec::NodeSpec],
    reports: &mut [NodeReport],
) -> RunError {
    reports[j].status = NodeStatus::TimedOut;
    RunError {
        node: Some(nodes[j].id.clone()),
        message: timeout_message(&nodes[j]),
        kind: FailureKind::Timeout,
    }
}

/// The run's failure when code no node owns threw (a callback, a job left queued): the memory
/// limit when the run hit it (the throw is then QuickJS's out-of-memory), else the exception.
fn unowned_failure(message: String, heap: &crate::heap::HeapSize) -> RunError {
    let kind = if heap.limit_hit() {
        FailureKind::Memory
    } else {
        FailureKind::Thrown
    };
    RunError {
        node: None,
        message,
        kind,
    }
}

/// What starting a node needs from its run.
struct RunScope<'a, 'js> {
    ctx: &'a Ctx<'js>,
    /// `host.js`'s lookup of each node's `ctx` (made once per realm; `ctx.run` is this run).
    make_ctx: Function<'js>,
    wl: &'a Arc<Workload>,
    deadlines: &'a Rc<Deadlines>,
    heap: &'a crate::heap::HeapSize,
    /// The run's journal (a retried attempt leaves a line in it).
    run: &'a Rc<RefCell<CurrentRun>>,
    clocks: &'a Clocks,
    /// Where each node's `run` comes from.
    entries: Vec<NodeEntry<'js>>,
}

/// A node's `run` function: the realm's, when its module is shared, else its module's in the
/// run's slot (imported when the node starts).
#[derive(Clone)]
enum NodeEntry<'js> {
    Shared(Function<'js>),
    Module(String),
}

/// Starts node `i` on `input` (JSON text): its first attempt now, then up to its `retries` more
/// after a throw or a timeout.
fn start_node<'js>(scope: &RunScope<'_, 'js>, i: usize, input: String) -> NodeFuture<'js> {
    scope.clocks[i].set(NodeClock {
        first_start: Some(Instant::now()),
        attempts: 1,
    });
    let node = NodeRun {
        i,
        ctx: scope.ctx.clone(),
        make_ctx: scope.make_ctx.clone(),
        entry: scope.entries[i].clone(),
        wl: scope.wl.clone(),
        deadlines: scope.deadlines.clone(),
        heap: scope.heap.clone(),
        run: scope.run.clone(),
        clocks: scope.clocks.clone(),
    };
    Box::pin(node.attempts(input))
}

/// One node of a run, from its first attempt to its last.
struct NodeRun<'js> {
    i: usize,
    ctx: Ctx<'js>,
    make_ctx: Function<'js>,
    entry: NodeEntry<'js>,
    wl: Arc<Workload>,
    deadlines: Rc<Deadlines>,
    heap: crate::heap::HeapSize,
    run: Rc<RefCell<CurrentRun>>,
    clocks: Clocks,
}

impl<'js> NodeRun<'js> {
    /// Attempts the node until it returns, fails in a way retries do not cover (the memory
    /// limit, another node's deadline), or has made `retries + 1` attempts. Each attempt gets
    /// the node's frozen `ctx`, the same input (parsed again: the last attempt may have changed
    /// it) and its own timeout; module state is the run's, so it carries over.
    async fn attempts(self, mut input: String) -> (usize, Result<String, Failure>) {
        let i = self.i;
        let spec = &self.wl.program.workflow.nodes[i];
        let total = spec.retries.saturating_add(1);
        let mut attempt = 1;
        loop {
            // The last possible attempt takes the input; earlier ones keep it for the next.
            let text = if attempt >= total {
                std::mem::take(&mut input)
            } else {
                input.clone()
            };
            let failure = match self.attempt(spec, text).await {
                Ok(json) => return (i, Ok(json)),
                Err(failure) => self.classify(failure),
            };
            if failure.culprit != i || !failure.kind.retryable() || attempt >= total {
                return (i, Err(failure));
            }
            // The interrupt handler's stop of this attempt ends with it.
            self.deadlines.forget_interrupt(i);
            attempt += 1;
            let wait = retry_wait(spec.retry_delay, attempt);
            self.note_retry(spec, attempt, total, &failure.message, wait);
            tokio::time::sleep(wait).await;
            let mut clock = self.clocks[i].get();
            clock.attempts = attempt;
            self.clocks[i].set(clock);
        }
    }

    /// One call of the node under its timeout.
    async fn attempt(
        &self,
        spec: &pipedreamer_spec::NodeSpec,
        input: String,
    ) -> Result<String, NodeFailure> {
        let start = Instant::now();
        let timeout = spec.timeout;
        self.deadlines.set(self.i, Some(start + timeout));
        let call = async {
            let input = self
                .ctx
                .json_parse(input)
                .map_err(|e| NodeFailure::Js(describe_exception(&self.ctx, e)))?;
            call_node(
                self.ctx.clone(),
                self.make_ctx.clone(),
                self.entry.clone(),
                spec.id.clone(),
                input,
            )
            .await
        };
        let result = match tokio::time::timeout(timeout, call).await {
            // The interrupt handler stopped this node's synchronous code at its deadline.
            Ok(Err(NodeFailure::Js(_))) if start.elapsed() >= timeout => Err(NodeFailure::Timeout),
            Ok(r) => r,
            Err(_) => Err(NodeFailure::Timeout),
        };
        self.deadlines.set(self.i, None);
        result
    }

    /// Whose failure it is and of what kind: a throw while another node's deadline has passed
    /// is that node's timeout (the interrupt handler stopped whatever JavaScript ran); a throw
    /// after the run hit its memory limit is the memory limit (QuickJS's out-of-memory).
    fn classify(&self, failure: NodeFailure) -> Failure {
        let nodes = &self.wl.program.workflow.nodes;
        let i = self.i;
        let expired = self.deadlines.expired_node(Instant::now());
        let (culprit, kind, message) = match failure {
            NodeFailure::Timeout => (i, FailureKind::Timeout, timeout_message(&nodes[i])),
            NodeFailure::Js(_) if expired.is_some() => {
                let j = expired.unwrap_or(i);
                (j, FailureKind::Timeout, timeout_message(&nodes[j]))
            }
            NodeFailure::Js(_) if self.heap.limit_hit() => (
                i,
                FailureKind::Memory,
                format!(
                    "node `{}` exceeded the run memory limit of {} MiB",
                    nodes[i].id,
                    self.wl.memory_limit >> 20
                ),
            ),
            NodeFailure::Js(m) => (i, FailureKind::Thrown, m),
        };
        Failure {
            culprit,
            kind,
            message,
        }
    }

    /// One log line and one journal line per retried attempt, the error redacted.
    fn note_retry(
        &self,
        spec: &pipedreamer_spec::NodeSpec,
        next: u32,
        total: u32,
        error: &str,
        wait: Duration,
    ) {
        let mut run = self.run.borrow_mut();
        let error = run.clean(self.wl.secrets.redactor(), error);
        tracing::warn!(
            target: "run",
            run_id = run.id.as_str(),
            node = spec.id.as_str(),
            attempt = next,
            attempts = total,
            wait_ms = wait.as_millis() as u64,
            "node `{}` failed; attempt {next} of {total} after: {error}",
            spec.id
        );
        run.journal(
            &spec.id,
            pipedreamer_runs::LogLevel::Warn,
            &format!("attempt {next} of {total} after: {error}"),
        );
    }
}

/// The wait before attempt `next` (2 or later): `retry_delay · 2^(next − 2)` with ±20 % jitter
/// (so nodes failing together do not retry in lockstep), at most [`MAX_RETRY_DELAY`].
fn retry_wait(retry_delay: Duration, next: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let doublings = next.saturating_sub(2).min(20);
    let nominal = retry_delay.as_secs_f64() * f64::from(1u32 << doublings);
    // A fresh SipHash key per call: random enough for jitter, no RNG crate needed.
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
    let jittered = nominal * (0.8 + 0.4 * unit);
    Duration::from_secs_f64(jittered.min(MAX_RETRY_DELAY.as_secs_f64()))
}

fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

fn timeout_message(spec: &pipedreamer_spec::NodeSpec) -> String {
    format!(
        "node `{}` timed out after {}; raise `timeout` on the node in workflow.yaml if it needs longer",
        spec.id,
        humantime_duration(spec.timeout)
    )
}

fn humantime_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// One dependency: its output. Several: an object keyed by dependency id.
fn node_input(
    deps: &[usize],
    outputs: &[Option<String>],
    nodes: &[pipedreamer_spec::NodeSpec],
) -> String {
    keyed_json(deps, outputs, nodes)
}

/// One leaf: its output. Several: an object keyed by leaf id.
fn leaf_output(
    leaves: &[usize],
    outputs: &[Option<String>],
    nodes: &[pipedreamer_spec::NodeSpec],
) -> String {
    keyed_json(leaves, outputs, nodes)
}

fn keyed_json(
    which: &[usize],
    outputs: &[Option<String>],
    nodes: &[pipedreamer_spec::NodeSpec],
) -> String {
    let get = |i: usize| outputs[i].as_deref().unwrap_or("null");
    if let [only] = which {
        return get(*only).to_owned();
    }
    let mut s = String::from("{");
    for (k, &i) in which.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::to_string(&nodes[i].id).unwrap_or_default());
        s.push(':');
        s.push_str(get(i));
    }
    s.push('}');
    s
}

async fn call_node<'js>(
    ctx: Ctx<'js>,
    make_ctx: Function<'js>,
    entry: NodeEntry<'js>,
    id: String,
    input: Value<'js>,
) -> Result<String, NodeFailure> {
    let fail = |ctx: &Ctx<'js>, e: rquickjs::Error| NodeFailure::Js(describe_exception(ctx, e));
    let run = match entry {
        NodeEntry::Shared(run) => run,
        NodeEntry::Module(module) => {
            let namespace: Object<'js> = Module::import(&ctx, module.as_str())
                .map_err(|e| fail(&ctx, e))?
                .into_future::<Object<'js>>()
                .await
                .map_err(|e| fail(&ctx, e))?;
            let run: Value<'js> = namespace.get("default").map_err(|e| fail(&ctx, e))?;
            let Some(run) = run.as_function().cloned() else {
                return Err(NodeFailure::Js(format!(
                    "the default export of `{module}` is not a function; export `async function run(ctx, input)`"
                )));
            };
            run
        }
    };
    let node_ctx: Value<'js> = make_ctx.call((id.as_str(),)).map_err(|e| fail(&ctx, e))?;
    let returned: Value<'js> = run.call((node_ctx, input)).map_err(|e| fail(&ctx, e))?;
    let value = match returned.as_promise() {
        Some(p) => p
            .clone()
            .into_future::<Value<'js>>()
            .await
            .map_err(|e| fail(&ctx, e))?,
        None => returned,
    };
    match ctx.json_stringify(value) {
        Ok(Some(s)) => s.to_string().map_err(|e| fail(&ctx, e)),
        Ok(None) => Ok("null".to_owned()),
        Err(e) => Err(NodeFailure::Js(format!(
            "node `{id}` returned a value that is not JSON-serializable: {}",
            describe_exception(&ctx, e)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_waits_double_with_jitter_up_to_a_minute() {
        let base = Duration::from_millis(1500);
        for next in 2..=12u32 {
            let nominal = 1.5 * f64::from(1u32 << (next - 2));
            let waits: Vec<f64> = (0..50)
                .map(|_| retry_wait(base, next).as_secs_f64())
                .collect();
            for w in &waits {
                assert!(*w <= 60.0, "attempt {next}: {w}s over the cap");
                assert!(
                    *w >= (0.8 * nominal).min(60.0) - 1e-9,
                    "attempt {next}: {w}s under {nominal}s − 20 %"
                );
                assert!(*w <= 1.2 * nominal + 1e-9, "attempt {next}: {w}s");
            }
            if 1.2 * nominal < 60.0 {
                // Jittered: fifty draws are not all the same.
                assert!(
                    waits.iter().any(|w| *w != waits[0]),
                    "attempt {next}: {waits:?}"
                );
            }
        }
        assert_eq!(
            retry_wait(MAX_RETRY_DELAY, 11),
            MAX_RETRY_DELAY,
            "the cap holds however many doublings"
        );
    }
}
