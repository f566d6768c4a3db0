//! One run: a fresh QuickJS runtime and context (so no state leaks between runs, and the memory
//! limit is per run), the host API, and the DAG scheduled as futures inside the context.
//!
//! A node starts when all its dependencies are done; independent nodes interleave on their awaits.
//! Synchronous infinite loops are stopped by the runtime's interrupt handler, awaits by tokio
//! timeouts. The first failure ends the run: running nodes are cancelled, the rest skipped.

use crate::Workload;
use crate::fetch::{self, FetchRequest};
use crate::loader::{ProgramLoader, ProgramResolver};
use crate::outcome::*;
use crate::program::HOST_MODULE;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rquickjs::context::intrinsic;
use rquickjs::function::{Async, Opt};
use rquickjs::{AsyncContext, AsyncRuntime, CaughtError, Ctx, Function, Module, Object, Value};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Room for QuickJS's own recursion below the worker thread's stack.
const MAX_JS_STACK: usize = 1024 * 1024;

/// Runtimes kept per worker thread. Runs never share a context (globals and module instances
/// live in the context), so reuse keeps isolation while saving runtime setup per run.
const POOLED_RUNTIMES: usize = 32;

/// What node code gets: the language, JSON, RegExp, Date, Map/Set, typed arrays and promises.
/// Left out (cheaper contexts, smaller surface): Proxy, WeakRef, FinalizationRegistry,
/// `performance` and DOMException.
type NodeIntrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
);

/// A QuickJS runtime with its per-run hooks: the interrupt handler's deadlines, the loader's
/// program slot, and a count of host calls still in flight (a runtime with work left from an
/// earlier run is dropped, never reused).
struct PooledRuntime {
    rt: AsyncRuntime,
    deadlines: Rc<Deadlines>,
    program: crate::loader::CurrentProgram,
    host_calls: Rc<std::cell::Cell<usize>>,
}

thread_local! {
    static POOL: RefCell<Vec<PooledRuntime>> = const { RefCell::new(Vec::new()) };
}

impl PooledRuntime {
    async fn take() -> Result<Self, String> {
        if let Some(p) = POOL.with(|p| p.borrow_mut().pop()) {
            return Ok(p);
        }
        let rt = AsyncRuntime::new().map_err(|e| format!("cannot start the JS runtime: {e}"))?;
        rt.set_max_stack_size(MAX_JS_STACK).await;
        let deadlines = Rc::new(Deadlines::default());
        let handler_deadlines = deadlines.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            handler_deadlines.expired_node(Instant::now()).is_some()
        })))
        .await;
        let program: crate::loader::CurrentProgram = Default::default();
        rt.set_loader(
            ProgramResolver(program.clone()),
            ProgramLoader(program.clone()),
        )
        .await;
        Ok(Self {
            rt,
            deadlines,
            program,
            host_calls: Default::default(),
        })
    }

    fn give_back(self) {
        *self.program.borrow_mut() = None;
        if self.host_calls.get() > 0 {
            return;
        }
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.len() < POOLED_RUNTIMES {
                p.push(self);
            }
        });
    }
}

/// Counts a host call in flight until dropped.
struct HostCall(Rc<std::cell::Cell<usize>>);

impl HostCall {
    fn start(counter: &Rc<std::cell::Cell<usize>>) -> Self {
        counter.set(counter.get() + 1);
        Self(counter.clone())
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Per-node deadlines, read by the interrupt handler.
#[derive(Default)]
struct Deadlines(RefCell<Vec<Option<Instant>>>);

impl Deadlines {
    fn set(&self, node: usize, deadline: Option<Instant>) {
        self.0.borrow_mut()[node] = deadline;
    }

    fn expired_node(&self, now: Instant) -> Option<usize> {
        self.0
            .borrow()
            .iter()
            .position(|d| d.is_some_and(|d| now >= d))
    }
}

enum NodeFailure {
    Js(String),
    Timeout,
}

/// Runs the workflow once.
pub(crate) async fn execute(
    wl: &Workload,
    req: RunRequest,
    client: &reqwest::Client,
) -> RunOutcome {
    let run_id = req
        .run_id
        .clone()
        .unwrap_or_else(crate::outcome::new_run_id);
    let started = Instant::now();
    let program = &wl.program;
    let n = program.workflow.nodes.len();
    let mut reports: Vec<NodeReport> = vec![
        NodeReport {
            status: NodeStatus::Skipped,
            duration_ms: 0.0
        };
        n
    ];
    let result = run_dag(wl, &req, &run_id, client, &mut reports).await;
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
    RunOutcome {
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
    }
}

type NodeFuture<'js> =
    Pin<Box<dyn Future<Output = (usize, Result<String, NodeFailure>, Duration)> + 'js>>;

async fn run_dag(
    wl: &Workload,
    req: &RunRequest,
    run_id: &str,
    client: &reqwest::Client,
    reports: &mut [NodeReport],
) -> Result<Box<serde_json::value::RawValue>, RunError> {
    let internal = |m: String| RunError {
        node: None,
        message: m,
        kind: FailureKind::Internal,
    };
    let program = wl.program.clone();
    let n = program.workflow.nodes.len();
    let pooled = PooledRuntime::take().await.map_err(internal)?;
    pooled.rt.set_memory_limit(wl.memory_limit).await;
    *pooled.deadlines.0.borrow_mut() = vec![None; n];
    *pooled.program.borrow_mut() = Some(program.clone());
    let deadlines = pooled.deadlines.clone();
    let host_calls = pooled.host_calls.clone();
    let context = AsyncContext::custom::<NodeIntrinsics>(&pooled.rt)
        .await
        .map_err(|e| internal(format!("cannot create a JS context: {e}")))?;

    let result = context
        .async_with(async |ctx| -> Result<String, RunError> {
            let make_ctx = install_host(&ctx, wl, req, run_id, client, &host_calls)
                .await
                .map_err(|e| {
                    internal(format!(
                        "cannot set up the node API: {}",
                        describe_exception(&ctx, e)
                    ))
                })?;
            let mut outputs: Vec<Option<String>> = vec![None; n];
            let mut waiting: Vec<usize> = program.dag.deps.iter().map(Vec::len).collect();
            let mut running: FuturesUnordered<NodeFuture<'_>> = FuturesUnordered::new();
            let mut started_at: Vec<Option<Instant>> = vec![None; n];
            let root_input = ctx
                .json_parse(req.input.clone())
                .map_err(|e| internal(describe_exception(&ctx, e)))?;
            for (i, _) in waiting.iter().enumerate().filter(|(_, w)| **w == 0) {
                {
                    running.push(start_node(
                        &ctx,
                        &make_ctx,
                        &program,
                        &deadlines,
                        i,
                        root_input.clone(),
                        &mut started_at,
                    ));
                }
            }
            while let Some((i, result, elapsed)) = running.next().await {
                let ms = elapsed.as_secs_f64() * 1000.0;
                match result {
                    Ok(json) => {
                        reports[i] = NodeReport {
                            status: NodeStatus::Succeeded,
                            duration_ms: round_ms(ms),
                        };
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
                                running.push(start_node(
                                    &ctx,
                                    &make_ctx,
                                    &program,
                                    &deadlines,
                                    d,
                                    value,
                                    &mut started_at,
                                ));
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
                            NodeFailure::Js(m) if is_out_of_memory(&m) => (
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
                        for (k, start) in started_at.iter().enumerate() {
                            if let Some(start) = start
                                && reports[k].status == NodeStatus::Skipped
                            {
                                reports[k] = NodeReport {
                                    status: NodeStatus::Cancelled,
                                    duration_ms: round_ms(start.elapsed().as_secs_f64() * 1000.0),
                                };
                            }
                        }
                        reports[culprit] = NodeReport {
                            status: if kind == FailureKind::Timeout {
                                NodeStatus::TimedOut
                            } else {
                                NodeStatus::Failed
                            },
                            duration_ms: round_ms(if culprit == i {
                                ms
                            } else {
                                started_at[culprit]
                                    .map_or(0.0, |s| s.elapsed().as_secs_f64() * 1000.0)
                            }),
                        };
                        return Err(RunError {
                            node: Some(program.workflow.nodes[culprit].id.clone()),
                            message,
                            kind,
                        });
                    }
                }
            }
            Ok(leaf_output(
                &program.dag.leaves,
                &outputs,
                &program.workflow.nodes,
            ))
        })
        .await;
    drop(context);
    // A runtime that hit its memory limit or was interrupted may be in a poor state; start fresh.
    let reusable = match &result {
        Ok(_) => true,
        Err(e) => e.kind == FailureKind::Thrown,
    };
    if reusable {
        pooled.give_back();
    }
    let json = result?;
    serde_json::value::RawValue::from_string(json)
        .map_err(|e| internal(format!("node output is not JSON: {e}")))
}

fn start_node<'js>(
    ctx: &Ctx<'js>,
    make_ctx: &Function<'js>,
    program: &crate::Program,
    deadlines: &Rc<Deadlines>,
    i: usize,
    input: Value<'js>,
    started_at: &mut [Option<Instant>],
) -> NodeFuture<'js> {
    let spec = &program.workflow.nodes[i];
    let start = Instant::now();
    started_at[i] = Some(start);
    deadlines.set(i, Some(start + spec.timeout));
    let call = call_node(
        ctx.clone(),
        make_ctx.clone(),
        program.node_module(i).to_owned(),
        spec.id.clone(),
        input,
    );
    let timeout = spec.timeout;
    let deadlines = deadlines.clone();
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

fn is_out_of_memory(message: &str) -> bool {
    message.contains("out of memory")
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

/// A readable message for a QuickJS error, taking the pending exception when there is one.
pub(crate) fn describe_exception(ctx: &Ctx<'_>, e: rquickjs::Error) -> String {
    if !e.is_exception() {
        return e.to_string();
    }
    match CaughtError::from_error(ctx, e) {
        CaughtError::Exception(ex) => {
            let message = ex.message().unwrap_or_default();
            let name: String = ex.get("name").unwrap_or_else(|_| "Error".into());
            let frame = ex.stack().and_then(|s| {
                s.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("at "))
                    .map(str::to_owned)
            });
            match frame {
                Some(f) => format!("{name}: {message} ({f})"),
                None => format!("{name}: {message}"),
            }
        }
        CaughtError::Value(v) => {
            let shown = ctx
                .json_stringify(v.clone())
                .ok()
                .flatten()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{v:?}"));
            format!("uncaught {shown}")
        }
        CaughtError::Error(e) => e.to_string(),
    }
}

async fn install_host<'js>(
    ctx: &Ctx<'js>,
    wl: &Workload,
    req: &RunRequest,
    run_id: &str,
    client: &reqwest::Client,
    host_calls: &Rc<std::cell::Cell<usize>>,
) -> rquickjs::Result<Function<'js>> {
    let calls = host_calls.clone();
    let cap = wl.fetch.clone();
    let redactor = wl.secrets.redactor().clone();
    let client = client.clone();
    let native_fetch = Function::new(
        ctx.clone(),
        Async(
            move |url: String, method: String, headers: String, body: Opt<Option<String>>| {
                let cap = cap.clone();
                let client = client.clone();
                let redactor = redactor.clone();
                let in_flight = HostCall::start(&calls);
                async move {
                    let _in_flight = in_flight;
                    let headers: Vec<(String, String)> =
                        serde_json::from_str(&headers).unwrap_or_default();
                    let req = FetchRequest {
                        url,
                        method,
                        headers,
                        body: body.0.flatten(),
                    };
                    let reply = match fetch::perform(&client, &cap, req).await {
                        Ok((meta, body)) => vec![
                            "ok".to_owned(),
                            serde_json::to_string(&meta).unwrap_or_default(),
                            body,
                        ],
                        Err(message) => vec!["err".to_owned(), redactor.redact(&message)],
                    };
                    Ok::<_, rquickjs::Error>(reply)
                }
            },
        ),
    )?;
    let redactor = wl.secrets.redactor().clone();
    let log_run_id = run_id.to_owned();
    let native_log = Function::new(
        ctx.clone(),
        move |node: String, level: String, message: String| {
            let message = redactor.redact(&message);
            let run_id = log_run_id.as_str();
            let node = if node.is_empty() {
                "console"
            } else {
                node.as_str()
            };
            match level.as_str() {
                "error" => tracing::error!(target: "node", run_id, node, "{message}"),
                "warn" => tracing::warn!(target: "node", run_id, node, "{message}"),
                "debug" => tracing::debug!(target: "node", run_id, node, "{message}"),
                _ => tracing::info!(target: "node", run_id, node, "{message}"),
            }
        },
    )?;
    let secrets = ctx.json_parse(wl.secrets_json.as_str())?;
    let namespace: Object<'js> = Module::import(ctx, HOST_MODULE)?
        .into_future::<Object<'js>>()
        .await?;
    let make_host: Function<'js> = namespace.get("default")?;
    make_host.call((
        native_fetch,
        native_log,
        secrets,
        run_id,
        req.trigger.as_str(),
    ))
}
