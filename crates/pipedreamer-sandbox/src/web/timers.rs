//! The run's timers (`setTimeout`, `setInterval`, `AbortSignal.timeout`, …) and its uncaught
//! errors (a timer callback or `queueMicrotask` callback that threw, `reportError`): the native
//! half of `timers.js`.
//!
//! Design: a per-runtime timer queue that the executor drives, not a tokio task per timer.
//! `timers.js` keeps each timer's callback in its own per-run table and hands only
//! `(id, delay)` to [`TimerQueue::arm`]; the executor's DAG loop waits on
//! [`TimerQueue::next_event`] next to its node futures and, when a timer is due, calls
//! `timers.js`'s `fire(id)` in the run's context, one timer per poll so the microtasks a
//! callback queues run before the next timer (as HTML's event loop does). Why this way:
//! - timers cannot outlive their run: the queue is emptied when the run ends
//!   ([`TimerQueue::reset`], and `timers.js`'s `endRun` drops the callbacks), and only the
//!   executor of the run that armed them ever fires them, so nothing fires after the outcome is
//!   sent or in a later run of the realm;
//! - they never keep a runtime alive: no host call is left in flight (a pending tokio sleep
//!   would be one, and `PooledRuntime::finish` drops a runtime with host calls in flight), so
//!   a library's forgotten `setTimeout(f, 60000)` costs nothing;
//! - their waits count toward the node timeout for free: a node awaiting a timer is still a
//!   running node future under its `tokio::time::timeout`;
//! - no JavaScript value is held on the Rust side (only ids), so nothing here must be dropped
//!   before the QuickJS runtime.
//!
//! The queue is bounded ([`MAX_LIVE_TIMERS`]); `timers.js` turns a refusal into a RangeError.

use rquickjs::{Ctx, Function, Object, Result};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::task::{Poll, Waker};
use std::time::Duration;
use tokio::time::Instant;

/// Live timers (timeouts not yet fired, intervals not cleared) one run may have at once.
pub(crate) const MAX_LIVE_TIMERS: usize = 4096;

/// What the executor must do next for the run's timers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TimerEvent {
    /// The timer with this id is due: call `fire(id)`.
    Due(u32),
    /// A callback threw and nothing caught it (the run fails with this description).
    Uncaught(String),
}

/// The current run's armed timers, by due time, and its first uncaught error.
#[derive(Default)]
pub(crate) struct TimerQueue {
    inner: RefCell<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (due, arming order) → id: equal due times fire in the order they were armed.
    due: BTreeMap<(Instant, u64), u32>,
    by_id: HashMap<u32, (Instant, u64)>,
    armed: u64,
    uncaught: Option<String>,
    /// The executor's wait, woken when an earlier timer or an uncaught error arrives.
    waker: Option<Waker>,
}

impl TimerQueue {
    /// Forgets every timer and error (a run begins or ends).
    pub(crate) fn reset(&self) {
        *self.inner.borrow_mut() = Inner::default();
    }

    /// Arms (or re-arms) timer `id` to be due `delay` from now. Refused (false) when the run
    /// already has [`MAX_LIVE_TIMERS`] live timers.
    pub(crate) fn arm(&self, id: u32, delay: Duration) -> bool {
        let mut inner = self.inner.borrow_mut();
        if let Some(key) = inner.by_id.remove(&id) {
            inner.due.remove(&key);
        } else if inner.by_id.len() >= MAX_LIVE_TIMERS {
            return false;
        }
        let now = Instant::now();
        let key = (now.checked_add(delay).unwrap_or(now), inner.armed);
        inner.armed += 1;
        inner.due.insert(key, id);
        inner.by_id.insert(id, key);
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
        true
    }

    /// Disarms timer `id` (unknown ids are ignored, like `clearTimeout`'s).
    pub(crate) fn clear(&self, id: u32) {
        let mut inner = self.inner.borrow_mut();
        if let Some(key) = inner.by_id.remove(&id) {
            inner.due.remove(&key);
        }
    }

    /// Records an uncaught error (the first one counts) and wakes the executor.
    pub(crate) fn report(&self, message: String) {
        let mut inner = self.inner.borrow_mut();
        if inner.uncaught.is_none() {
            inner.uncaught = Some(message);
        }
        if let Some(w) = inner.waker.take() {
            w.wake();
        }
    }

    /// The uncaught error reported so far, if any (taken).
    pub(crate) fn take_uncaught(&self) -> Option<String> {
        self.inner.borrow_mut().uncaught.take()
    }

    /// Live timers.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.inner.borrow().by_id.len()
    }

    /// The next thing to do: an uncaught error, else the earliest timer once it is due (it is
    /// disarmed; `fire` re-arms intervals). Pending while nothing is due; arming an earlier timer
    /// or reporting an error wakes it.
    pub(crate) fn next_event(&self) -> impl Future<Output = TimerEvent> + '_ {
        let mut sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
        std::future::poll_fn(move |cx| {
            let mut inner = self.inner.borrow_mut();
            if let Some(message) = inner.uncaught.take() {
                return Poll::Ready(TimerEvent::Uncaught(message));
            }
            let Some((&(due, seq), &id)) = inner.due.first_key_value() else {
                inner.waker = Some(cx.waker().clone());
                return Poll::Pending;
            };
            if due <= Instant::now() {
                inner.due.remove(&(due, seq));
                inner.by_id.remove(&id);
                return Poll::Ready(TimerEvent::Due(id));
            }
            inner.waker = Some(cx.waker().clone());
            drop(inner);
            let deadline = due;
            let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            match timer.as_mut().poll(cx) {
                // Due now: come back at once to take it.
                Poll::Ready(()) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                Poll::Pending => Poll::Pending,
            }
        })
    }
}

/// Returns `Pending` once (after asking to be polled again), so that the executor's caller
/// (rquickjs's `async_with`) runs the jobs a timer callback queued before the next timer fires.
pub(crate) async fn yield_to_jobs() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

/// Adds the timer natives to `natives`: `timerArm(id, delayMs) -> bool`, `timerClear(id)` and
/// `reportError(message)`, acting on the runtime's current run (see `web::RunState`).
pub(crate) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "timerArm",
        Function::new(ctx.clone(), |ctx: Ctx<'_>, id: u32, delay_ms: f64| {
            // `timers.js` clamps; this guards the conversion.
            let delay = Duration::from_secs_f64((delay_ms.max(0.0) / 1000.0).min(3e6));
            super::runtime::run_state(&ctx).is_some_and(|s| s.timers.arm(id, delay))
        })?,
    )?;
    natives.set(
        "timerClear",
        Function::new(ctx.clone(), |ctx: Ctx<'_>, id: u32| {
            if let Some(s) = super::runtime::run_state(&ctx) {
                s.timers.clear(id);
            }
        })?,
    )?;
    natives.set(
        "reportError",
        Function::new(ctx.clone(), |ctx: Ctx<'_>, message: String| {
            if let Some(s) = super::runtime::run_state(&ctx) {
                s.timers.report(message);
            }
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timers_fire_in_due_then_arming_order_and_clear_and_cap() {
        let q = TimerQueue::default();
        assert!(q.arm(1, Duration::from_millis(20)));
        assert!(q.arm(2, Duration::from_millis(10)));
        assert!(q.arm(3, Duration::from_millis(10)));
        assert!(q.arm(4, Duration::from_millis(5)));
        q.clear(4);
        assert_eq!(q.next_event().await, TimerEvent::Due(2));
        assert_eq!(q.next_event().await, TimerEvent::Due(3));
        q.report("boom".into());
        q.report("second".into());
        assert_eq!(q.next_event().await, TimerEvent::Uncaught("boom".into()));
        assert_eq!(q.next_event().await, TimerEvent::Due(1));
        assert_eq!(q.live(), 0);
        for id in 0..MAX_LIVE_TIMERS as u32 {
            assert!(q.arm(id, Duration::from_secs(1)));
        }
        assert!(!q.arm(u32::MAX, Duration::ZERO), "over the cap");
        assert!(
            q.arm(0, Duration::ZERO),
            "re-arming a live timer is not a new one"
        );
        q.reset();
        assert_eq!(q.live(), 0);
        let pending = tokio::time::timeout(Duration::from_secs(3600), q.next_event()).await;
        assert!(pending.is_err(), "an empty queue never yields an event");
    }
}
