//! The walk at the heart of a realm's lockdown (see `host.js`): freezes every object reachable
//! from the given roots through own properties (values, getters, setters) and prototypes, and
//! makes `globalThis`'s existing properties read-only without freezing it (new globals stay
//! possible; the executor then drops the realm).
//!
//! Native because the same walk in JavaScript allocates a descriptor object per property and
//! cost ~4 ms per realm, more than sixty small runs.

use rquickjs::{Array, Ctx, Error, Result, Value, qjs};
use std::collections::HashSet;
use std::mem::MaybeUninit;

/// Freezes everything reachable from `roots`; `roots[0]` must be `globalThis`, which only gets
/// its existing properties locked.
#[allow(unsafe_code)]
pub(crate) fn freeze_reachable<'js>(ctx: Ctx<'js>, roots: Array<'js>) -> Result<()> {
    let raw = ctx.as_raw().as_ptr();
    let mut todo: Vec<Value<'js>> = roots.iter::<Value<'js>>().collect::<Result<_>>()?;
    todo.reverse();
    let Some(global) = todo.last().filter(|v| v.is_object()).map(object_address) else {
        return Err(Error::new_from_js("value", "globalThis"));
    };
    let mut seen: HashSet<usize> = HashSet::with_capacity(1024);
    while let Some(value) = todo.pop() {
        if !value.is_object() {
            continue;
        }
        let address = object_address(&value);
        if !seen.insert(address) {
            continue;
        }
        let obj = value.as_raw();
        // SAFETY: `raw` is the live context of `ctx`; `obj` is an object kept alive by `value`;
        // every JSValue the C API hands out is wrapped in `Value::from_raw`, which frees it, and
        // the property table is freed with `JS_FreePropertyEnum`.
        unsafe {
            if address != global && qjs::JS_FreezeObject(raw, obj) < 0 {
                return Err(Error::Exception);
            }
            todo.push(Value::from_raw(ctx.clone(), qjs::JS_GetPrototype(raw, obj)));
            let mut table: *mut qjs::JSPropertyEnum = std::ptr::null_mut();
            let mut len: u32 = 0;
            let mask = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_SYMBOL_MASK) as i32;
            if qjs::JS_GetOwnPropertyNames(raw, &mut table, &mut len, obj, mask) < 0 {
                return Err(Error::Exception);
            }
            let mut failed = false;
            for i in 0..len as usize {
                let atom = (*table.add(i)).atom;
                let mut desc = MaybeUninit::<qjs::JSPropertyDescriptor>::uninit();
                match qjs::JS_GetOwnProperty(raw, desc.as_mut_ptr(), obj, atom) {
                    r if r < 0 => {
                        failed = true;
                        break;
                    }
                    0 => continue,
                    _ => {}
                }
                let desc = desc.assume_init();
                let is_accessor = desc.flags & qjs::JS_PROP_GETSET as i32 != 0;
                todo.push(Value::from_raw(ctx.clone(), desc.value));
                todo.push(Value::from_raw(ctx.clone(), desc.getter));
                todo.push(Value::from_raw(ctx.clone(), desc.setter));
                if address == global {
                    let mut flags = (qjs::JS_PROP_HAS_CONFIGURABLE | qjs::JS_PROP_THROW) as i32;
                    if !is_accessor {
                        flags |= qjs::JS_PROP_HAS_WRITABLE as i32;
                    }
                    let undefined = qjs::JS_UNDEFINED;
                    if qjs::JS_DefineProperty(
                        raw, obj, atom, undefined, undefined, undefined, flags,
                    ) < 0
                    {
                        failed = true;
                        break;
                    }
                }
            }
            qjs::JS_FreePropertyEnum(raw, table, len);
            if failed {
                return Err(Error::Exception);
            }
        }
    }
    Ok(())
}

/// The address of an object value, its identity for the walk.
#[allow(unsafe_code)]
fn object_address(value: &Value<'_>) -> usize {
    // SAFETY: only called on object values, whose payload is the object pointer.
    unsafe { qjs::JS_VALUE_GET_PTR(value.as_raw()) as usize }
}

/// What a run could change about `globalThis` after lockdown (its existing properties are
/// read-only and non-configurable): how many own properties it has (strings and symbols, as
/// `Reflect.ownKeys` counts them, and private names, which a class's return-override trick can
/// stamp on it), its prototype, and whether it is extensible. Read natively after every run:
/// building the `Reflect.ownKeys` array in JavaScript cost ~5 % of a small run, and building
/// the native name table ~3 %, so the count comes from the object's shape (QuickJS patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GlobalShape {
    keys: i64,
    prototype: usize,
    extensible: bool,
}

#[allow(unsafe_code)]
unsafe extern "C" {
    /// Added by our QuickJS patch (vendor/rquickjs-sys/pipedreamer.patch): the number of own
    /// properties of an ordinary object, private names included, read from its shape in O(1);
    /// -1 for anything else.
    fn JS_OwnPropertyCount(obj: qjs::JSValue) -> i64;
}

impl GlobalShape {
    #[allow(unsafe_code)]
    pub(crate) fn of(ctx: &Ctx<'_>) -> Result<Self> {
        let raw = ctx.as_raw().as_ptr();
        let global: Value<'_> = ctx.globals().into_value();
        let obj = global.as_raw();
        // SAFETY: `raw` is the live context of `ctx`; `obj` is kept alive by `global`; the
        // count only reads the object's shape; the property table (the fallback for an exotic
        // global, which ours is not) is freed with `JS_FreePropertyEnum` and the prototype (a
        // new reference) by `Value::from_raw`.
        unsafe {
            let mut keys = JS_OwnPropertyCount(obj);
            if keys < 0 {
                let mut table: *mut qjs::JSPropertyEnum = std::ptr::null_mut();
                let mut len: u32 = 0;
                let mask = (qjs::JS_GPN_STRING_MASK
                    | qjs::JS_GPN_SYMBOL_MASK
                    | qjs::JS_GPN_PRIVATE_MASK) as i32;
                if qjs::JS_GetOwnPropertyNames(raw, &mut table, &mut len, obj, mask) < 0 {
                    return Err(Error::Exception);
                }
                qjs::JS_FreePropertyEnum(raw, table, len);
                keys = i64::from(len);
            }
            let prototype = Value::from_raw(ctx.clone(), qjs::JS_GetPrototype(raw, obj));
            let extensible = qjs::JS_IsExtensible(raw, obj);
            if extensible < 0 {
                return Err(Error::Exception);
            }
            Ok(Self {
                keys,
                prototype: if prototype.is_object() {
                    object_address(&prototype)
                } else {
                    0
                },
                extensible: extensible > 0,
            })
        }
    }
}
