//! One run: a pooled runtime and its realm (see `realm`), and the DAG scheduled as futures
//! inside the realm's context.
//!
//! A node starts when all its dependencies are done; independent nodes interleave on their awaits.
//! Synchronous infinite loops are stopped by the runtime's interrupt handler, awaits by tokio
//! timeouts. The first failure ends the run: running nodes are cancelled, the rest skipped.
//!
//! The run's timers (`web::timers`) are driven here too, next to the node futures: a due
//! timer's callback runs in the run's context, one per poll; an uncaught error in a callback
//! fails the run. When the DAG is done (or fails), the timers still pending are cancelled.

use crate::Workload;
use crate::exception::describe_exception;
use crate::outcome::*;
use crate::realm::{Deadlines, PooledRuntime, Realm, RunEnd};
use crate::slot::{slot_name, unslot};
use crate::web::timers::{TimerEvent, yield_to_jobs};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rquickjs::{Ctx, Function, Module, Object, Value};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

enum NodeFailure {
    Js(String),
    Timeout,
}

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
    let (result, release) = run_dag(wl, &req, &run_id, client, &mut reports).await;
    let redact = |s: &str| wl.secrets.redactor().redact(s);
    let (output, error) = match result {
        Ok(output) => (Some(output), None),
        Err(mut e) => {
            e.message = redact(&e.message);
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
        journal: Default::default(),
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

type NodeFuture<'js> =
    Pin<Box<dyn Future<Output = (usize, Result<String, NodeFailure>, Duration)> + 'js>>;

async fn run_dag(
    wl: &Arc<Workload>,
    req: &RunRequest,
    run_id: &str,
    client: &reqwest::Client,
    reports: &mut [NodeReport],
) -> (
    Result<Box<serde_json::value::RawValue>, RunError>,
    Option<Release>,
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
        Err(message) => return (Err(internal(message)), None),
    };
    let realm = match pooled.begin(wl, run_id, client).await {
        Ok(realm) => realm,
        Err(message) => {
            let release = Release {
                runtime: pooled,
                realm: None,
            };
            return (Err(internal(message)), Some(release));
        }
    };
    let slot = realm.runs;
    let deadlines = pooled.deadlines.clone();
    let heap = pooled.heap.clone();
    let run_state = pooled.run_state.clone();
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
                    program: &program,
                    deadlines: &deadlines,
                    modules: (0..n)
                        .map(|i| slot_name(slot, program.node_module(i)))
                        .collect(),
                };
                let mut outputs: Vec<Option<String>> = vec![None; n];
                let mut waiting: Vec<usize> = program.dag.deps.iter().map(Vec::len).collect();
                let mut running: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
                let mut started_at: Vec<Option<Instant>> = vec![None; n];
                let root_input = ctx
                    .json_parse(req.input.clone())
                    .map_err(|e| internal(describe_exception(&ctx, e)))?;
                for (i, _) in waiting.iter().enumerate().filter(|(_, w)| **w == 0) {
                    {
                        running.push(start_node(&scope, i, root_input.clone(), &mut started_at));
                    }
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
                                &started_at,
                                reports,
                            ));
                        }
                    };
                    let (i, result, elapsed) = step;
                    let ms = elapsed.as_secs_f64() * 1000.0;
                    match result {
                        Ok(json) => {
                            reports[i].status = NodeStatus::Succeeded;
                            reports[i].duration_ms = round_ms(ms);
                            outputs[i] = Some(json);
                            for &d in &program.dag.dependents[i] {
                                waiting[d] -= 1;
                                if waiting[d] == 0 {
                                    let input = node_input(
                                        &program.dag.deps[d],
                                        &outputs,
                                        &program.workflow.nodes,
                                    );
                                    let value = ctx
                                        .json_parse(input)
                                        .map_err(|e| internal(describe_exception(&ctx, e)))?;
                                    running.push(start_node(&scope, d, value, &mut started_at));
                                }
                            }
                        }
                        Err(failure) => {
                            let now = Instant::now();
                            let expired = deadlines.expired_node(now);
                            let (culprit, kind, message) = match failure {
                                NodeFailure::Timeout => (
                                    i,
                                    FailureKind::Timeout,
                                    timeout_message(&program.workflow.nodes[i]),
                                ),
                                NodeFailure::Js(_) if expired.is_some() => {
                                    let j = expired.unwrap_or(i);
                                    (
                                        j,
                                        FailureKind::Timeout,
                                        timeout_message(&program.workflow.nodes[j]),
                                    )
                                }
                                NodeFailure::Js(_) if heap.limit_hit() => (
                                    i,
                                    FailureKind::Memory,
                                    format!(
                                        "node `{}` exceeded the run memory limit of {} MiB",
                                        program.workflow.nodes[i].id,
                                        wl.memory_limit >> 20
                                    ),
                                ),
                                NodeFailure::Js(m) => (i, FailureKind::Thrown, m),
                            };
                            cancel_running(&started_at, reports);
                            reports[culprit].status = if kind == FailureKind::Timeout {
                                NodeStatus::TimedOut
                            } else {
                                NodeStatus::Failed
                            };
                            reports[culprit].duration_ms = round_ms(if culprit == i {
                                ms
                            } else {
                                started_at[culprit]
                                    .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0)
                            });
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
                        &started_at,
                        reports,
                    ));
                }
                let output = leaf_output(&program.dag.leaves, &outputs, &program.workflow.nodes);
                let globals_added = realm.globals_added(&ctx).map_err(setup)?;
                Ok((output, RunEnd { globals_added }))
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
    // A runtime that hit its memory limit or was interrupted may be in a poor state; start fresh.
    // A realm is kept only after a run that succeeded.
    match result {
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
    }
}

/// Marks every node that started and has not finished as cancelled (the run is failing).
fn cancel_running(started_at: &[Option<Instant>], reports: &mut [NodeReport]) {
    for (k, start) in started_at.iter().enumerate() {
        if let Some(start) = start
            && reports[k].status == NodeStatus::Skipped
        {
            reports[k].status = NodeStatus::Cancelled;
            reports[k].duration_ms = round_ms(start.elapsed().as_secs_f64() * 1000.0);
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
    started_at: &[Option<Instant>],
    reports: &mut [NodeReport],
) -> RunError {
    cancel_running(started_at, reports);
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
    /// `host.js`'s `ctx` factory for this run.
    make_ctx: Function<'js>,
    program: &'a crate::Program,
    deadlines: &'a Rc<Deadlines>,
    /// Module name of each node in this run's slot.
    modules: Vec<String>,
}

fn start_node<'js>(
    scope: &RunScope<'_, 'js>,
    i: usize,
    input: Value<'js>,
    started_at: &mut [Option<Instant>],
) -> NodeFuture<'js> {
    let spec = &scope.program.workflow.nodes[i];
    let start = Instant::now();
    started_at[i] = Some(start);
    scope.deadlines.set(i, Some(start + spec.timeout));
    let call = call_node(
        scope.ctx.clone(),
        scope.make_ctx.clone(),
        scope.modules[i].clone(),
        spec.id.clone(),
        input,
    );
    let timeout = spec.timeout;
    let deadlines = scope.deadlines.clone();
    Box::pin(async move {
        let result = match tokio::time::timeout(timeout, call).await {
            // The interrupt handler stopped this node's synchronous code at its deadline.
            Ok(Err(NodeFailure::Js(_))) if start.elapsed() >= timeout => Err(NodeFailure::Timeout),
            Ok(r) => r,
            Err(_) => Err(NodeFailure::Timeout),
        };
        deadlines.set(i, None);
        (i, result, start.elapsed())
    })
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
    module: String,
    id: String,
    input: Value<'js>,
) -> Result<String, NodeFailure> {
    let fail = |ctx: &Ctx<'js>, e: rquickjs::Error| NodeFailure::Js(describe_exception(ctx, e));
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
