//! Natives behind `fetch.js` besides the fetch itself (which `realm::install_host` builds, as it
//! holds the run's capability): the abort switch a `signal` flips to drop a request in flight.

use super::handle::Handle;
use rquickjs::{Class, Ctx, Function, Object, Result};
use std::future::Future;
use std::rc::Rc;
use tokio::sync::Notify;

/// Adds the fetch helper natives to `natives`.
pub(crate) fn install<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    natives.set(
        "fetchAbortSwitch",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| {
            Handle::new(&ctx, AbortState(Rc::new(Notify::new())))
        })?,
    )?;
    natives.set(
        "fetchAbort",
        Function::new(ctx.clone(), |switch: AbortSwitch<'js>| {
            // Stored when nobody waits yet: a fetch that starts listening later still stops.
            switch.borrow().0.0.notify_one();
        })?,
    )?;
    Ok(())
}

/// The switch one fetch listens to.
pub(crate) struct AbortState(Rc<Notify>);

/// The JavaScript handle of an [`AbortState`].
pub(crate) type AbortSwitch<'js> = Class<'js, Handle<AbortState>>;

/// Completes when `switch` is flipped (also when it was flipped before this was called).
pub(crate) fn abort_signal(switch: &AbortSwitch<'_>) -> impl Future<Output = ()> + use<> {
    let notify = switch.borrow().0.0.clone();
    async move { notify.notified().await }
}
