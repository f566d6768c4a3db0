//! The per-run state behind the runtime core of the web platform (`timers.js`, `runtime.js`):
//! the run's timers ([`super::timers`]), its clock (`performance.now()`, `timeOrigin`), and
//! whether it used `WeakRef` or `FinalizationRegistry`.
//!
//! One [`RunState`] per QuickJS runtime, shared by the executor (`PooledRuntime::run_state`) and
//! stored as the runtime's userdata so the natives can reach the run they are called from
//! without capturing it. `PooledRuntime::begin` resets it for each run.
//!
//! Why a run that used `WeakRef`/`FinalizationRegistry` costs its runtime: QuickJS queues a
//! finalization callback as a job on the *runtime* when the collector frees a target, which
//! may be long after the run (or its realm) is gone. Dropping the runtime is the only way to be
//! sure no such callback runs during a later run. `runtime.js` wraps both constructors so that
//! constructing one (or a subclass) marks the run.

use super::timers::TimerQueue;
use rquickjs::{Ctx, Function, JsLifetime, Object, Result};
use std::cell::Cell;
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// What the web areas keep per run on the Rust side.
pub(crate) struct RunState {
    pub(crate) timers: TimerQueue,
    started: Cell<Instant>,
    /// `performance.timeOrigin`: the run's start, in milliseconds since the Unix epoch.
    time_origin_ms: Cell<f64>,
    weak_refs_used: Cell<bool>,
}

impl Default for RunState {
    fn default() -> Self {
        Self {
            timers: TimerQueue::default(),
            started: Cell::new(Instant::now()),
            time_origin_ms: Cell::new(epoch_ms()),
            weak_refs_used: Cell::new(false),
        }
    }
}

impl RunState {
    /// A run begins: no timers, a new clock origin. (The weak-ref mark stays: it belongs to the
    /// runtime, which goes once marked.)
    pub(crate) fn begin_run(&self) {
        self.timers.reset();
        self.started.set(Instant::now());
        self.time_origin_ms.set(epoch_ms());
    }

    /// A run ended: its timers are cancelled and its errors forgotten.
    pub(crate) fn end_run(&self) {
        self.timers.reset();
    }

    /// Whether a run on this runtime created a `WeakRef` or `FinalizationRegistry` (then the
    /// runtime must not serve another run).
    pub(crate) fn weak_refs_used(&self) -> bool {
        self.weak_refs_used.get()
    }
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The runtime's [`RunState`], as QuickJS userdata.
#[derive(Clone)]
pub(crate) struct RunStateHandle(pub(crate) Rc<RunState>);

// SAFETY: the handle holds no JavaScript values, so it has no lifetime to change.
#[allow(unsafe_code)]
unsafe impl<'js> JsLifetime<'js> for RunStateHandle {
    type Changed<'to> = RunStateHandle;
}

/// Makes `state` the one the natives of `ctx`'s runtime act on.
pub(crate) fn attach(ctx: &Ctx<'_>, state: &Rc<RunState>) -> Result<()> {
    ctx.store_userdata(RunStateHandle(state.clone()))
        .map(drop)
        .map_err(|_| rquickjs::Error::new_from_js("userdata", "RunState (busy)"))
}

/// The run state of `ctx`'s runtime (none outside the sandbox's own runtimes, e.g. in tests).
pub(crate) fn run_state(ctx: &Ctx<'_>) -> Option<Rc<RunState>> {
    ctx.userdata::<RunStateHandle>().map(|h| h.0.clone())
}

/// Adds `now()` (ms since the run began, sub-millisecond), `timeOrigin()` and
/// `markWeakRefsUsed()` to `natives`.
pub(crate) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "now",
        Function::new(ctx.clone(), |ctx: Ctx<'_>| {
            run_state(&ctx).map_or(0.0, |s| s.started.get().elapsed().as_secs_f64() * 1000.0)
        })?,
    )?;
    natives.set(
        "timeOrigin",
        Function::new(ctx.clone(), |ctx: Ctx<'_>| {
            run_state(&ctx).map_or_else(epoch_ms, |s| s.time_origin_ms.get())
        })?,
    )?;
    natives.set(
        "markWeakRefsUsed",
        Function::new(ctx.clone(), |ctx: Ctx<'_>| {
            if let Some(s) = run_state(&ctx) {
                s.weak_refs_used.set(true);
            }
        })?,
    )?;
    Ok(())
}
