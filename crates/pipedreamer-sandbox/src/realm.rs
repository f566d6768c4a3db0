//! Where runs execute: pooled QuickJS runtimes, and in each a realm (one context) that serves up
//! to [`RUNS_PER_REALM`] successive runs of one workload.
//!
//! Creating a context with its builtins and the host API costs several times more than a small
//! run, so a realm pays it once. Isolation between the runs of a realm rests on three rules:
//! `host.js` locks the realm down (every builtin frozen) before any node code runs; each run
//! instantiates its modules under its own slot names (see `loader`), so module state is per
//! run; and a realm is dropped after any run that fails, adds a global, leaves JavaScript work or
//! host calls pending, or leaves the heap grown, so the next run starts from a fresh one.
//!
//! The memory limit is per run: each run may allocate `memory_limit` bytes on top of what its
//! realm holds when it starts (module instances of earlier runs stay until the realm goes); the
//! allocator (`heap`) enforces it.

use crate::Workload;
use crate::fetch::{self, FetchRequest};
use crate::heap::{CountingMalloc, HeapSize};
use crate::loader::{LoaderScope, ProgramModules, SharedScope};
use crate::secrets::Redactor;
use crate::slot::unslot;
use crate::web::runtime::RunState;
use pipedreamer_runs::{Journal, LogLevel};
use rquickjs::context::intrinsic;
use rquickjs::function::{Async, Opt};
use rquickjs::{AsyncContext, AsyncRuntime, Ctx, Function, Module, Object, Persistent};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// Runs one realm serves at most before it is replaced (with per-run modules, its heap limit
/// usually comes first). A workflow whose modules are all shared keeps nothing per run, so its
/// realms live this long: a new realm costs ~3 ms on its worker thread, which the runs queued
/// there wait out, so rarer replacements keep them out of the tail latency.
pub(crate) const RUNS_PER_REALM: usize = 16_384;
// Slot numbers are eight digits wide (see `loader::slot_tag`).
const _: () = assert!(RUNS_PER_REALM < 100_000_000);

/// Heap growth a realm may keep from earlier runs (module instances) before it is replaced;
/// a quarter of the run memory limit when that is smaller. Bounds a pooled realm's memory.
/// A run of a small workflow keeps ~7 KiB, so a realm serves ~290 such runs: with the web
/// platform a realm costs ~2.5 ms to set up (1 MiB, half as many runs, cost ~5 % of the runs/s
/// of `examples/hello` at 16 connections), and a worker pools a realm per run in flight.
const MAX_RETAINED_HEAP: usize = 2 << 20;

/// Room for QuickJS's own recursion below the worker thread's stack.
const MAX_JS_STACK: usize = 1024 * 1024;

/// Runtimes kept per worker thread: one per run in flight on the thread, reused by later runs.
const POOLED_RUNTIMES: usize = 32;

/// What node code gets: the language, JSON, RegExp, Date, Map/Set, typed arrays, promises,
/// Proxy, WeakRef and FinalizationRegistry (a runtime whose run used either of those two is not
/// reused: see `web::runtime`), and QuickJS's native `DOMException` (WebIDL names and codes,
/// a real `Error` subclass with a stack; its accessors keep no realm state, so lockdown freezes
/// it like any builtin). Left out: QuickJS's `performance`, whose clock starts with the realm
/// (a run could tell how old its realm is); `web/runtime.js` installs a per-run one.
type NodeIntrinsics = (
    intrinsic::Date,
    intrinsic::Eval,
    intrinsic::RegExpCompiler,
    intrinsic::RegExp,
    intrinsic::Json,
    intrinsic::MapSet,
    intrinsic::TypedArrays,
    intrinsic::Promise,
    intrinsic::Proxy,
    intrinsic::WeakRef,
    intrinsic::DOMException,
);

/// Fetches one run may have in flight; more wait for a free slot (each buffers up to
/// `fetch::MAX_RESPONSE_BYTES`, all of it counted toward the run's memory limit).
const FETCHES_PER_RUN: usize = 8;

/// Response bytes a worker thread may fetch before it hands freed memory back to the system
/// after a run (glibc keeps freed heap memory in its arenas otherwise).
const TRIM_AFTER_FETCHED: usize = 8 << 20;

thread_local! {
    /// Response bytes fetched on this thread since memory was last handed back.
    static FETCHED_SINCE_TRIM: Cell<usize> = const { Cell::new(0) };
}

/// After a run: hands memory freed by large fetches back to the system (glibc otherwise keeps
/// it in the thread's arena, and a few parallel 15 MiB bodies would stay resident for good).
pub(crate) fn trim_after_large_fetches() {
    if FETCHED_SINCE_TRIM.with(|f| f.replace(0)) > TRIM_AFTER_FETCHED {
        // SAFETY: malloc_trim only releases free memory; it has no preconditions.
        #[allow(unsafe_code)]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// The run a runtime is executing, for host functions shared by the realm's runs.
pub(crate) struct CurrentRun {
    pub(crate) id: String,
    pub(crate) slot: usize,
    /// This run's fetch slots: a fresh set per run, so no run waits on another's fetches.
    fetch_slots: Rc<tokio::sync::Semaphore>,
    /// When the run started (the executor's clock), the origin of the journal's `at_ms`.
    started: Instant,
    /// What the run's node code logged, reported and named (`ctx.log`, `console`,
    /// `ctx.progress`, `ctx.output`), already redacted; the executor moves it into the outcome.
    journal: Journal,
    /// Whether the journal keeps log lines ([`RunRequest::keep_logs`](crate::RunRequest)).
    keep_logs: bool,
}

impl Default for CurrentRun {
    fn default() -> Self {
        Self {
            id: String::new(),
            slot: 0,
            fetch_slots: Rc::new(tokio::sync::Semaphore::new(FETCHES_PER_RUN)),
            started: Instant::now(),
            journal: Journal::default(),
            keep_logs: true,
        }
    }
}

impl CurrentRun {
    /// Milliseconds since the run started, to the microsecond.
    fn at_ms(&self) -> f64 {
        (self.started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
    }

    /// Text from node code as the journal and the logs keep it: secrets redacted, module names
    /// without the run's slot.
    pub(crate) fn clean(&self, redactor: &Redactor, text: &str) -> String {
        without_nul(unslot(self.slot, &redactor.redact(text)))
    }

    /// Whether a line from node code at `level` goes anywhere: into the journal, or through
    /// the log filter. When not, `ctx.log` and `console` skip formatting it.
    pub(crate) fn wants_logs(&self, level: LogLevel) -> bool {
        self.keep_logs
            || match level {
                LogLevel::Error => tracing::enabled!(target: "node", tracing::Level::ERROR),
                LogLevel::Warn => tracing::enabled!(target: "node", tracing::Level::WARN),
                LogLevel::Info => tracing::enabled!(target: "node", tracing::Level::INFO),
                LogLevel::Debug => tracing::enabled!(target: "node", tracing::Level::DEBUG),
            }
    }

    /// Logs a line from node code (or the executor, about node code) to tracing and the
    /// journal; `node` empty means `console` outside a node's `ctx`.
    pub(crate) fn log(&mut self, node: &str, level: LogLevel, message: &str) {
        let node = if node.is_empty() { "console" } else { node };
        // The macros check the log filter themselves, and the journal is `keep_logs`'s: no
        // `wants_logs` here (`ctx.log` and `console` asked it before formatting the line).
        let run_id = self.id.as_str();
        match level {
            LogLevel::Error => tracing::error!(target: "node", run_id, node, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "node", run_id, node, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "node", run_id, node, "{message}"),
            LogLevel::Info => tracing::info!(target: "node", run_id, node, "{message}"),
        }
        if self.keep_logs {
            self.journal(node, level, message);
        }
    }

    /// Keeps a line in the run's journal only (the caller has logged it its own way).
    pub(crate) fn journal(&mut self, node: &str, level: LogLevel, message: &str) {
        let at = self.at_ms();
        self.journal.log(at, node, level, message);
    }

    /// `ctx.output(name, value)` with the value as JSON text: redacted as text, then parsed
    /// back (a redaction that broke the JSON, say a secret inside a number, keeps the redacted
    /// text as a string). The error is the `RangeError`'s message.
    fn output(&mut self, redactor: &Redactor, name: &str, json: &str) -> Result<(), String> {
        let name = self.clean(redactor, name);
        if json.len() > pipedreamer_runs::limits::MAX_OUTPUT_BYTES {
            // Refused by its size before redacting or parsing what may be megabytes
            // (`Journal::output` checks the size first and keeps nothing then).
            return self
                .journal
                .output(&name, json.len(), serde_json::Value::Null);
        }
        let redacted = self.clean(redactor, json);
        // JSON.stringify writes a NUL as `\u0000`; only then is the walk needed.
        let has_nul = redacted.contains("\\u0000");
        let mut value =
            serde_json::from_str(&redacted).unwrap_or_else(|_| serde_json::Value::String(redacted));
        if has_nul {
            value = value_without_nul(value);
        }
        self.journal.output(&name, json.len(), value)
    }
}

/// `text` with its NUL characters replaced by U+FFFD. Run records keep what node code says, and
/// they go through PostgreSQL text (which refuses NUL) and `RunRecord::check` (which refuses a
/// record with one): one binary log line must not cost the whole record.
pub(crate) fn without_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    }
}

/// [`without_nul`] for every string of a JSON value, keys included.
fn value_without_nul(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(without_nul(s)),
        Value::Array(items) => Value::Array(items.into_iter().map(value_without_nul).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (without_nul(k), value_without_nul(v)))
                .collect(),
        ),
        other => other,
    }
}

/// The run's journal, taken at its end (the runtime keeps an empty one).
pub(crate) fn take_journal(run: &RefCell<CurrentRun>) -> Journal {
    std::mem::take(&mut run.borrow_mut().journal)
}

/// A QuickJS runtime with its per-run hooks: the interrupt handler's deadlines, the loader's
/// program slot, the current run, a count of host calls still in flight (a runtime with work
/// left from an earlier run is dropped, never reused), and its realm when it has one.
pub(crate) struct PooledRuntime {
    // Fields drop in order: the realm's JS handles must go before the runtime.
    realm: Option<Realm>,
    pub(crate) rt: AsyncRuntime,
    pub(crate) deadlines: Rc<Deadlines>,
    scope: SharedScope,
    /// The run in progress: its id, slot and journal (the natives write to it).
    pub(crate) run: Rc<RefCell<CurrentRun>>,
    pub(crate) host_calls: Rc<Cell<usize>>,
    pub(crate) heap: HeapSize,
    /// The web areas' per-run state (timers, clock, weak-ref use), shared with the natives.
    pub(crate) run_state: Rc<RunState>,
}

thread_local! {
    static POOL: RefCell<Vec<PooledRuntime>> = const { RefCell::new(Vec::new()) };
}

impl PooledRuntime {
    pub(crate) async fn take() -> Result<Self, String> {
        if let Some(p) = POOL.with(|p| p.borrow_mut().pop()) {
            return Ok(p);
        }
        let heap = HeapSize::default();
        let rt = AsyncRuntime::new_with_alloc(CountingMalloc(heap.clone()))
            .map_err(|e| format!("cannot start the JS runtime: {e}"))?;
        rt.set_max_stack_size(MAX_JS_STACK).await;
        let deadlines = Rc::new(Deadlines::default());
        let handler_deadlines = deadlines.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            handler_deadlines.interrupt(Instant::now())
        })))
        .await;
        let scope: SharedScope = Default::default();
        let modules = ProgramModules(scope.clone());
        rt.set_loader(modules.clone(), modules).await;
        Ok(Self {
            rt,
            deadlines,
            scope,
            run: Default::default(),
            host_calls: Default::default(),
            heap,
            run_state: Default::default(),
            realm: None,
        })
    }

    /// Prepares this runtime for a run of `wl`: its realm (reused when it serves `wl`, else new),
    /// the run's slot, deadlines and memory limit.
    pub(crate) async fn begin(
        &mut self,
        wl: &Arc<Workload>,
        run_id: &str,
        started: Instant,
        keep_logs: bool,
        client: &reqwest::Client,
    ) -> Result<Realm, String> {
        self.heap.allow_growth(wl.memory_limit);
        self.deadlines.reset(wl.program.workflow.nodes.len());
        let realm = match self.realm.take() {
            Some(realm) if realm.workload.ptr_eq(&Arc::downgrade(wl)) => realm,
            stale => {
                drop(stale);
                let realm = self.new_realm(wl, client).await?;
                self.heap.allow_growth(wl.memory_limit);
                realm
            }
        };
        // After the realm is ready, so the run's clock starts with the run.
        self.run_state.begin_run();
        *self.run.borrow_mut() = CurrentRun {
            id: run_id.to_owned(),
            slot: realm.runs,
            started,
            keep_logs,
            ..Default::default()
        };
        *self.scope.borrow_mut() = LoaderScope {
            program: Some(wl.program.clone()),
            slot: Some(realm.runs),
            host: false,
        };
        Ok(realm)
    }

    async fn new_realm(
        &self,
        wl: &Arc<Workload>,
        client: &reqwest::Client,
    ) -> Result<Realm, String> {
        let started = Instant::now();
        // Only the host and realm modules, and the program's shared modules, may load while
        // the realm is set up.
        *self.scope.borrow_mut() = LoaderScope {
            program: Some(wl.program.clone()),
            slot: Some(crate::slot::REALM_SLOT),
            host: true,
        };
        let _closed = CloseScope(&self.scope);
        let context = AsyncContext::custom::<NodeIntrinsics>(&self.rt)
            .await
            .map_err(|e| format!("cannot create a JS context: {e}"))?;
        let (make_run, end_run, fire_timer, globals, entries) = context
            .async_with(async |ctx| {
                crate::web::runtime::attach(&ctx, &self.run_state)
                    .map_err(|e| format!("cannot set up the node API: {e}"))?;
                let hooks = install_host(
                    &ctx,
                    wl,
                    client,
                    &self.run,
                    &self.host_calls,
                    self.heap.clone(),
                )
                .await
                .map_err(|e| {
                    format!(
                        "cannot set up the node API: {}",
                        crate::exception::describe_exception(&ctx, e)
                    )
                })?;
                let globals = crate::lockdown::GlobalShape::of(&ctx).map_err(|e| {
                    format!(
                        "cannot read the realm's globals: {}",
                        crate::exception::describe_exception(&ctx, e)
                    )
                })?;
                let entries = hooks
                    .entries
                    .into_iter()
                    .map(|run| run.map(|f| Persistent::save(&ctx, f)))
                    .collect();
                Ok::<_, String>((
                    Persistent::save(&ctx, hooks.make_run),
                    Persistent::save(&ctx, hooks.end_run),
                    Persistent::save(&ctx, hooks.fire_timer),
                    globals,
                    entries,
                ))
            })
            .await?;
        let setup_modules = context.with(|ctx| modules::loaded(&ctx)).await;
        let baseline_memory = self.heap.get();
        tracing::debug!(
            setup_us = started.elapsed().as_micros() as u64,
            heap_bytes = baseline_memory,
            "new JS realm"
        );
        wl.realms_created
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Realm {
            context,
            workload: Arc::downgrade(wl),
            make_run,
            end_run,
            fire_timer,
            entries,
            globals,
            runs: 0,
            baseline_memory,
            memory_limit: wl.memory_limit,
            setup_modules,
        })
    }

    /// Returns this runtime to the thread's pool after a run (called once the run's outcome is
    /// on its way, so none of this delays it). `realm` comes back only when the run succeeded;
    /// it is kept when it can serve another run without anything carrying over. Otherwise its
    /// memory is collected and a fresh realm is set up now, so the next run does not wait.
    pub(crate) async fn finish(
        mut self,
        realm: Option<(Realm, RunEnd)>,
        wl: &Arc<Workload>,
        client: &reqwest::Client,
    ) {
        *self.scope.borrow_mut() = LoaderScope::default();
        // Host calls in flight and queued JavaScript jobs belong to the run that just ended; no
        // later run may execute them, so this runtime goes.
        if self.host_calls.get() > 0 || self.rt.is_job_pending().await {
            return;
        }
        // A finalization callback may be queued on the runtime whenever the collector runs, long
        // after the run that registered it; only a new runtime is sure never to run it.
        if self.run_state.weak_refs_used() {
            return;
        }
        if POOL.with(|p| p.borrow().len()) >= POOLED_RUNTIMES {
            return;
        }
        self.realm = match realm {
            Some((realm, end)) => self.keep(realm, end).await,
            None => None,
        };
        if self.realm.is_none() {
            // A dropped context's objects form cycles only the collector frees.
            self.rt.run_gc().await;
            self.heap.allow_growth(wl.memory_limit);
            match self.new_realm(wl, client).await {
                Ok(realm) => self.realm = Some(realm),
                Err(e) => tracing::debug!("cannot prepare a JS realm ahead of time: {e}"),
            }
        }
        POOL.with(|p| p.borrow_mut().push(self));
    }

    /// The realm back, if it may serve another run.
    async fn keep(&self, mut realm: Realm, end: RunEnd) -> Option<Realm> {
        realm.runs += 1;
        if end.globals_added || end.retried || realm.runs >= RUNS_PER_REALM {
            return None;
        }
        // Earlier runs' module instances stay until the realm goes; garbage may only be waiting
        // for the collector, so collect before giving the realm up.
        let cap = (realm.memory_limit / 4).min(MAX_RETAINED_HEAP);
        let grown = |heap: &HeapSize| heap.get().saturating_sub(realm.baseline_memory);
        if grown(&self.heap) > cap {
            self.rt.run_gc().await;
        }
        if grown(&self.heap) > cap {
            return None;
        }
        let setup_modules = realm.setup_modules;
        realm
            .context
            .with(|ctx| modules::retire(&ctx, setup_modules))
            .await;
        Some(realm)
    }
}

/// What a successful run left behind in its realm.
pub(crate) struct RunEnd {
    pub(crate) globals_added: bool,
    /// A node failed an attempt before it succeeded: the attempt was stopped part-way (by a
    /// throw, or by the interrupt handler anywhere in host code), so the realm is not trusted.
    pub(crate) retried: bool,
}

/// A context set up for one workload, with the host API's per-run hooks.
pub(crate) struct Realm {
    // Fields drop in order: the JS handles must go before their context (and its runtime).
    make_run: Persistent<Function<'static>>,
    end_run: Persistent<Function<'static>>,
    fire_timer: Persistent<Function<'static>>,
    /// Each node's `run` when its module is shared (imported once, while the realm was set up).
    entries: Vec<Option<Persistent<Function<'static>>>>,
    /// `globalThis` as lockdown left it, to tell whether a run added globals.
    globals: crate::lockdown::GlobalShape,
    pub(crate) context: AsyncContext,
    workload: Weak<Workload>,
    /// Runs served so far; the current run's slot.
    pub(crate) runs: usize,
    baseline_memory: usize,
    memory_limit: usize,
    /// Modules loaded while the realm was set up (host modules, `node:` builtins): the ones
    /// later runs still import by name.
    setup_modules: usize,
}

/// The context's list of modules that imports search by name (QuickJS scans it linearly). Our
/// QuickJS patch (vendor/rquickjs-sys/pipedreamer.patch) lets a realm move an ended run's
/// modules out of it: no later run can import them (the loader refuses other runs' names), and
/// without this every import of a run scanned every module of the hundreds of runs before it.
mod modules {
    use rquickjs::Ctx;

    #[allow(unsafe_code)]
    unsafe extern "C" {
        /// Added by our QuickJS patch: how many modules imports search.
        fn JS_LoadedModuleCount(ctx: *mut rquickjs::qjs::JSContext) -> usize;
        /// Added by our QuickJS patch: moves every module after the first `keep` out of the
        /// searched list (the context still owns, marks and frees them).
        fn JS_RetireModules(ctx: *mut rquickjs::qjs::JSContext, keep: usize);
    }

    pub(super) fn loaded(ctx: &Ctx<'_>) -> usize {
        // SAFETY: the context pointer is live for the duration of `ctx`; the function only walks
        // the context's module list.
        #[allow(unsafe_code)]
        unsafe {
            JS_LoadedModuleCount(ctx.as_raw().as_ptr())
        }
    }

    /// Called only between runs, with no job pending: every module after the first `keep`
    /// belongs to runs that have ended.
    pub(super) fn retire(ctx: &Ctx<'_>, keep: usize) {
        // SAFETY: as above; the function only moves list nodes between two lists of the context.
        #[allow(unsafe_code)]
        unsafe {
            JS_RetireModules(ctx.as_raw().as_ptr(), keep)
        }
    }
}

impl Realm {
    /// The `ctx` factory for a new run.
    pub(crate) fn make_run<'js>(&self, ctx: &Ctx<'js>) -> rquickjs::Result<Function<'js>> {
        self.make_run.clone().restore(ctx)
    }

    /// Whether the run added globals, or gave `globalThis` another prototype or made it
    /// non-extensible (then the realm must not serve another run: later runs would see the
    /// globals, or could no longer add their own).
    pub(crate) fn globals_added(&self, ctx: &Ctx<'_>) -> rquickjs::Result<bool> {
        Ok(crate::lockdown::GlobalShape::of(ctx)? != self.globals)
    }

    /// Node `i`'s `run` function when its module is shared by the realm's runs.
    pub(crate) fn entry<'js>(&self, ctx: &Ctx<'js>, i: usize) -> Option<Function<'js>> {
        let entry = self.entries.get(i)?.as_ref()?;
        entry.clone().restore(ctx).ok()
    }

    /// Ends the run in JavaScript: the web areas drop its per-run state (timer callbacks, …).
    pub(crate) fn end_run(&self, ctx: &Ctx<'_>) -> rquickjs::Result<()> {
        self.end_run.clone().restore(ctx)?.call(())
    }

    /// Runs the callback of the run's timer `id` (see `web::timers`).
    pub(crate) fn fire_timer(&self, ctx: &Ctx<'_>, id: u32) -> rquickjs::Result<()> {
        self.fire_timer.clone().restore(ctx)?.call((id,))
    }
}

/// Closes a runtime's loader scope when dropped, however the realm setup ends.
struct CloseScope<'a>(&'a RefCell<LoaderScope>);

impl Drop for CloseScope<'_> {
    fn drop(&mut self) {
        *self.0.borrow_mut() = LoaderScope::default();
    }
}

/// Per-node deadlines, read by the interrupt handler, and the node whose deadline made it stop
/// JavaScript during this run (kept so that a run whose queued jobs were stopped after its
/// nodes returned still fails with a timeout rather than reporting success).
#[derive(Default)]
pub(crate) struct Deadlines {
    nodes: RefCell<Vec<Option<Instant>>>,
    interrupted: Cell<Option<usize>>,
}

impl Deadlines {
    /// Clears everything for a run of a workflow with `nodes` nodes.
    fn reset(&self, nodes: usize) {
        *self.nodes.borrow_mut() = vec![None; nodes];
        self.interrupted.set(None);
    }

    pub(crate) fn set(&self, node: usize, deadline: Option<Instant>) {
        self.nodes.borrow_mut()[node] = deadline;
    }

    pub(crate) fn expired_node(&self, now: Instant) -> Option<usize> {
        self.nodes
            .borrow()
            .iter()
            .position(|d| d.is_some_and(|d| now >= d))
    }

    /// The interrupt handler: whether to stop the JavaScript running now.
    fn interrupt(&self, now: Instant) -> bool {
        let expired = self.expired_node(now);
        if expired.is_some() && self.interrupted.get().is_none() {
            self.interrupted.set(expired);
        }
        expired.is_some()
    }

    /// An attempt of `node` that its deadline stopped is being retried: the stop is accounted
    /// for, so it must not fail the run at its end.
    pub(crate) fn forget_interrupt(&self, node: usize) {
        if self.interrupted.get() == Some(node) {
            self.interrupted.set(None);
        }
    }

    /// The node whose deadline stopped JavaScript during this run, if any.
    pub(crate) fn interrupted(&self) -> Option<usize> {
        self.interrupted.get()
    }
}

/// Gives Math.random a fresh, unpredictable state for a run. QuickJS keeps it per context, and a
/// realm's context serves many runs: without this, one run could predict another's numbers.
pub(crate) fn reseed_random(ctx: &Ctx<'_>) {
    use std::hash::{BuildHasher, Hasher};
    // Each `RandomState` gets new SipHash keys (seeded from the OS once per thread, then
    // stepped), so the seed never repeats and JavaScript cannot derive it.
    let seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    #[allow(unsafe_code)]
    unsafe extern "C" {
        /// Added by our QuickJS patch (vendor/rquickjs-sys/pipedreamer.patch).
        fn JS_SetRandomSeed(ctx: *mut rquickjs::qjs::JSContext, seed: u64);
    }
    // SAFETY: the context pointer is live for the duration of `ctx`; the function only stores
    // the seed in the context.
    #[allow(unsafe_code)]
    unsafe {
        JS_SetRandomSeed(ctx.as_raw().as_ptr(), seed)
    };
}

/// Counts a host call in flight until dropped.
struct HostCall(Rc<Cell<usize>>);

impl HostCall {
    fn start(counter: &Rc<Cell<usize>>) -> Self {
        counter.set(counter.get() + 1);
        Self(counter.clone())
    }
}

impl Drop for HostCall {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A fetch's reply for `web/fetch.js` (`["ok", meta, body]`, the body a `Uint8Array`, or
/// `["err", class, message]`), holding the body's share of the run's memory budget until it
/// is a JavaScript value (allocated by QuickJS, so counted there from then on).
struct FetchReply {
    result: Result<(String, Vec<u8>), (&'static str, String)>,
    _budget: crate::heap::Reservation,
}

impl<'js> rquickjs::IntoJs<'js> for FetchReply {
    fn into_js(self, ctx: &Ctx<'js>) -> rquickjs::Result<rquickjs::Value<'js>> {
        let parts = rquickjs::Array::new(ctx.clone())?;
        match self.result {
            Ok((meta, body)) => {
                parts.set(0, "ok")?;
                parts.set(1, meta)?;
                parts.set(2, crate::web::bytes_to_js(ctx, &body)?)?;
            }
            Err((class, message)) => {
                parts.set(0, "err")?;
                parts.set(1, class)?;
                parts.set(2, message)?;
            }
        }
        Ok(parts.into_value())
    }
}

/// What the executor calls in a realm: `host.js`'s per-run hooks, `timers.js`'s `fire`, and
/// each node's `run` function when its module is shared (`None` for per-run modules, and for a
/// default export that is not a function: the run then reports that as it always does).
struct HostHooks<'js> {
    make_run: Function<'js>,
    end_run: Function<'js>,
    fire_timer: Function<'js>,
    entries: Vec<Option<Function<'js>>>,
}

/// Installs the host API into a new realm and locks it down; returns its hooks.
async fn install_host<'js>(
    ctx: &Ctx<'js>,
    wl: &Workload,
    client: &reqwest::Client,
    run: &Rc<RefCell<CurrentRun>>,
    host_calls: &Rc<Cell<usize>>,
    heap: HeapSize,
) -> rquickjs::Result<HostHooks<'js>> {
    let calls = host_calls.clone();
    let cap = wl.fetch.clone();
    let responder = wl.fetch_responder.clone();
    let redactor = wl.secrets.redactor().clone();
    let client = client.clone();
    let fetch_run = run.clone();
    // `fetch(url, method, headersJson, body, redirect, abortSwitch)`: the one way out to the
    // network (see `web/fetch.js`, which gives it to node code as `fetch` and `ctx.fetch`).
    let native_fetch = Function::new(
        ctx.clone(),
        Async(
            move |url: String,
                  method: String,
                  headers: String,
                  body: Opt<Option<rquickjs::TypedArray<'js, u8>>>,
                  redirect: Opt<Option<String>>,
                  abort: Opt<Option<crate::web::AbortSwitch<'js>>>| {
                let cap = cap.clone();
                let responder = responder.clone();
                let client = client.clone();
                let redactor = redactor.clone();
                let in_flight = HostCall::start(&calls);
                let slots = fetch_run.borrow().fetch_slots.clone();
                let mut budget = heap.reservation();
                // Copied now: the array is the caller's to change once this returns.
                let body = body.0.flatten().as_ref().map(crate::web::bytes_from_js);
                let redirect = redirect.0.flatten();
                let aborted = abort
                    .0
                    .flatten()
                    .map(|switch| crate::web::abort_signal(&switch));
                async move {
                    let _in_flight = in_flight;
                    let redirect = match redirect.as_deref().map(fetch::RedirectMode::parse) {
                        None => Some(fetch::RedirectMode::Follow),
                        Some(mode) => mode,
                    };
                    let work = async {
                        // Closed never: the semaphore lives as long as the run.
                        let _slot = slots.acquire().await;
                        let headers: Vec<(String, String)> =
                            serde_json::from_str(&headers).unwrap_or_default();
                        let Some(redirect) = redirect else {
                            return Err(fetch::FetchError::Invalid(
                                "`redirect` must be \"follow\", \"error\" or \"manual\"".into(),
                            ));
                        };
                        let req = FetchRequest {
                            url,
                            method,
                            headers,
                            body,
                            redirect,
                        };
                        fetch::perform(&client, &cap, responder.as_deref(), req, &mut budget).await
                    };
                    // An abort drops the request in flight (`fetch.js` has already rejected).
                    let result = match aborted {
                        Some(aborted) => {
                            match futures_util::future::select(Box::pin(work), Box::pin(aborted))
                                .await
                            {
                                futures_util::future::Either::Left((result, _)) => result,
                                futures_util::future::Either::Right(_) => {
                                    Err(fetch::FetchError::Network("the fetch was aborted".into()))
                                }
                            }
                        }
                        None => work.await,
                    };
                    FETCHED_SINCE_TRIM.with(|f| f.set(f.get() + budget.bytes()));
                    let result = match result {
                        Ok((meta, body)) => {
                            Ok((serde_json::to_string(&meta).unwrap_or_default(), body))
                        }
                        Err(e) => Err((e.js_name(), redactor.redact(&e.to_string()))),
                    };
                    Ok::<_, rquickjs::Error>(FetchReply {
                        result,
                        _budget: budget,
                    })
                }
            },
        ),
    )?;
    // `log(node, level, message)`: `ctx.log` and `console`.
    let redactor = wl.secrets.redactor().clone();
    let log_run = run.clone();
    let native_log = Function::new(
        ctx.clone(),
        move |node: String, level: String, message: String| {
            let mut run = log_run.borrow_mut();
            let message = run.clean(&redactor, &message);
            run.log(&node, LogLevel::from_word(&level), &message);
        },
    )?;
    // `logs(level)`: whether a line at `level` goes anywhere (else it is not even formatted).
    let logs_run = run.clone();
    let native_logs = Function::new(ctx.clone(), move |level: String| {
        logs_run.borrow().wants_logs(LogLevel::from_word(&level))
    })?;
    // `progress(node, percent, message)`: `ctx.progress` (`host.js` checks the arguments).
    let redactor = wl.secrets.redactor().clone();
    let progress_run = run.clone();
    let native_progress = Function::new(
        ctx.clone(),
        move |node: String, percent: f64, message: Opt<Option<String>>| {
            let mut run = progress_run.borrow_mut();
            let message = message.0.flatten().map(|m| run.clean(&redactor, &m));
            let at = run.at_ms();
            run.journal.progress(at, &node, percent, message.as_deref());
        },
    )?;
    // `output(name, json)`: `ctx.output`; answers the `RangeError`'s message when refused.
    let redactor = wl.secrets.redactor().clone();
    let output_run = run.clone();
    let native_output = Function::new(ctx.clone(), move |name: String, json: String| {
        output_run
            .borrow_mut()
            .output(&redactor, &name, &json)
            .err()
    })?;
    let secrets = ctx.json_parse(wl.secrets_json.as_str())?;
    // The natives object goes to the host modules only; node code never sees it.
    let natives = Object::new(ctx.clone())?;
    natives.set("fetch", native_fetch)?;
    natives.set("log", native_log)?;
    natives.set("logs", native_logs)?;
    natives.set("progress", native_progress)?;
    natives.set("output", native_output)?;
    natives.set(
        "freeze",
        Function::new(ctx.clone(), crate::lockdown::freeze_reachable)?,
    )?;
    crate::web::install_natives(ctx, &natives)?;
    // The classes fetch throws (`NotCapable`, `TimeoutError`) are the node: modules' own, so
    // `instanceof` holds across them (the module has no imports; the same instance is used
    // when the node: modules load below).
    natives.set("errors", host_module(ctx, crate::node::ERRORS).await?)?;
    let run_hooks = rquickjs::Array::new(ctx.clone())?;
    for (area, _) in crate::web::AREAS {
        let install: Function<'js> = host_module(ctx, area).await?.get("default")?;
        let hooks: rquickjs::Value<'js> = install.call((ctx.globals(), natives.clone()))?;
        if hooks.is_object() {
            run_hooks.set(run_hooks.len(), hooks)?;
        }
    }
    let setup_realm: Function<'js> = host_module(ctx, crate::web::HOST_MODULE)
        .await?
        .get("default")?;
    // The node: builtins the program uses, instantiated once per realm (after the web areas,
    // whose globals they use) and frozen by lockdown with everything else.
    let node = crate::node::instantiate(ctx, wl.program.realm_modules()).await?;
    let hooks: rquickjs::Array<'js> =
        setup_realm.call((natives, secrets, run_hooks, node.errors, node.exported))?;
    // The workflow's shared modules, instantiated once per realm after lockdown (their top
    // level only declares; were it to run anything, the builtins are frozen already), then
    // frozen with everything they hold: their exports, and the functions, classes and
    // constants they keep to themselves (the roots export).
    let shared = rquickjs::Array::new(ctx.clone())?;
    let mut namespaces = std::collections::BTreeMap::new();
    for path in wl.program.shared_modules() {
        let name = crate::slot::slot_name(crate::slot::REALM_SLOT, path);
        let namespace = host_module(ctx, &name).await?;
        for value in namespace.values::<rquickjs::Value<'js>>() {
            shared.set(shared.len(), value?)?;
        }
        let roots: rquickjs::Array<'js> = namespace.get(crate::shared::ROOTS_EXPORT)?;
        for root in roots.iter::<rquickjs::Value<'js>>() {
            shared.set(shared.len(), root?)?;
        }
        namespaces.insert(path.as_str(), namespace);
    }
    if !wl.program.shared_modules().is_empty() {
        let freeze_shared: Function<'js> = hooks.get(2)?;
        freeze_shared.call::<_, ()>((shared,))?;
    }
    let fire_timer = host_module(ctx, crate::web::TIMERS_MODULE)
        .await?
        .get("fire")?;
    // A shared node's `run`, looked up once here, so a run calls it without a module lookup.
    let program = &wl.program;
    let mut entries = Vec::with_capacity(program.workflow.nodes.len());
    for i in 0..program.workflow.nodes.len() {
        let run = match namespaces.get(program.node_module(i)) {
            Some(namespace) => namespace
                .get::<_, rquickjs::Value<'js>>("default")?
                .into_function(),
            None => None,
        };
        entries.push(run);
    }
    Ok(HostHooks {
        make_run: hooks.get(0)?,
        end_run: hooks.get(1)?,
        fire_timer,
        entries,
    })
}

/// A host module's or shared module's namespace (loadable only while a realm is set up).
async fn host_module<'js>(ctx: &Ctx<'js>, name: &str) -> rquickjs::Result<Object<'js>> {
    Module::import(ctx, name)?
        .into_future::<Object<'js>>()
        .await
}
