//! Rust state owned by a JavaScript object: a `TextDecoder`'s streaming decoder, a fetch's
//! abort switch. The object has no prototype and no properties, and the host modules keep it in
//! private fields, so node code can neither see nor change it; it goes with its owner (and so
//! with the run that made it).

use rquickjs::class::{JsClass, Readable, Trace, Tracer};
use rquickjs::{Class, Constructor, Ctx, JsLifetime, Object, Result};

/// A Rust value behind a JavaScript object (see the module docs).
pub(crate) struct Handle<T: 'static>(pub(crate) T);

impl<T: 'static> Handle<T> {
    /// A new handle object holding `value`.
    pub(crate) fn new<'js>(ctx: &Ctx<'js>, value: T) -> Result<Class<'js, Self>> {
        Class::instance(ctx.clone(), Self(value))
    }
}

// SAFETY: `Handle<T>` holds no JavaScript values (`T: 'static`), so it is the same type for
// every `'js`.
#[allow(unsafe_code)]
unsafe impl<'js, T: 'static> JsLifetime<'js> for Handle<T> {
    type Changed<'to> = Handle<T>;
}

impl<'js, T: 'static> Trace<'js> for Handle<T> {
    /// Nothing to trace: no JavaScript values inside.
    fn trace<'a>(&self, _tracer: Tracer<'a, 'js>) {}
}

impl<'js, T: 'static> JsClass<'js> for Handle<T> {
    const NAME: &'static str = "NativeHandle";
    // Interior mutability is the value's own business (`RefCell`, `Cell`).
    type Mutable = Readable;

    /// No prototype: a shared, unfrozen prototype object would be state every run could reach.
    fn prototype(_ctx: &Ctx<'js>) -> Result<Option<Object<'js>>> {
        Ok(None)
    }

    fn constructor(_ctx: &Ctx<'js>) -> Result<Option<Constructor<'js>>> {
        Ok(None)
    }
}
