//! The host modules: `host.js` (the node-visible `ctx`, lockdown) and the web platform areas
//! that put the WinterTC Minimum Common API on `globalThis` (timers, URL, encoding, crypto, …).
//!
//! Each area is a JavaScript module `pipedreamer:web/<area>` (a file in this directory) whose
//! default export `install(g, natives)` adds its globals to `g` (the realm's `globalThis`),
//! taking the native functions it needs from `natives`, an object built by [`install_natives`]
//! that node code never sees. `install` may return per-run hooks (`{ beginRun(run), endRun() }`),
//! which `host.js` calls around every run. Areas are installed in [`AREAS`] order, before
//! `host.js` locks the realm down, so every global they add is frozen like the builtins: no
//! area may keep state that one run can change and the next one read (per-run state lives in
//! the objects a run creates, or is reset by the area's `beginRun`).
//!
//! The host modules do not depend on the workflow, so they are compiled to bytecode once per
//! process and only instantiated per realm.

pub(crate) mod runtime;
pub(crate) mod timers;

mod bytes;
mod crypto;
mod encoding;
mod fetch;
mod handle;
mod intl;
mod url;

pub(crate) use bytes::{copy_from as bytes_from_js, to_js as bytes_to_js};
pub(crate) use fetch::{AbortSwitch, abort_signal};

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Context, Ctx, Error, Module, Object, Result, Runtime};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The module name of the host API (`host.js`).
pub(crate) const HOST_MODULE: &str = "pipedreamer:host";

/// The timers area, whose `fire(id)` the executor calls (see `timers.rs`).
pub(crate) const TIMERS_MODULE: &str = "pipedreamer:web/timers";
/// Web Crypto, whose `nodeNatives` export `node:crypto` imports while a realm is set up.
pub(crate) const CRYPTO_MODULE: &str = "pipedreamer:web/crypto";

/// The web platform areas, in install order (later areas may use the globals of earlier ones).
pub(crate) const AREAS: &[(&str, &str)] = &[
    ("pipedreamer:web/runtime", include_str!("runtime.js")),
    (TIMERS_MODULE, include_str!("timers.js")),
    ("pipedreamer:web/events", include_str!("events.js")),
    ("pipedreamer:web/url", include_str!("url.js")),
    ("pipedreamer:web/encoding", include_str!("encoding.js")),
    ("pipedreamer:web/fetch", include_str!("fetch.js")),
    (CRYPTO_MODULE, include_str!("crypto.js")),
    ("pipedreamer:web/intl", include_str!("intl.js")),
];

/// Adds each area's native functions to `natives` (the object passed to every `install`).
pub(crate) fn install_natives<'js>(ctx: &Ctx<'js>, natives: &Object<'js>) -> Result<()> {
    runtime::install_natives(ctx, natives)?;
    timers::install_natives(ctx, natives)?;
    url::install(ctx, natives)?;
    encoding::install(ctx, natives)?;
    fetch::install(ctx, natives)?;
    crypto::install_natives(ctx, natives)?;
    intl::install(ctx, natives)?;
    Ok(())
}

/// Whether `name` is a host module (loadable only while a realm is set up).
pub(crate) fn is_host_module(name: &str) -> bool {
    name == HOST_MODULE || AREAS.iter().any(|(area, _)| *area == name)
}

/// Bytecode of a host module, compiled on first use (see [`warm_up`]).
pub(crate) fn bytecode(name: &str) -> std::result::Result<&'static [u8], String> {
    static COMPILED: OnceLock<std::result::Result<BTreeMap<&'static str, Vec<u8>>, String>> =
        OnceLock::new();
    let compiled = COMPILED
        .get_or_init(|| compile_host_modules(host_modules(), host_source))
        .as_ref()?;
    compiled
        .get(name)
        .map(Vec::as_slice)
        .ok_or_else(|| format!("`{name}` is not a host module"))
}

/// Compiles the host modules on a background thread, so the first run does not wait for it and
/// neither does the engine's readiness (compiling them all takes ~15 ms; a realm only loads
/// the bytecode).
pub(crate) fn warm_up() {
    let _ = std::thread::Builder::new()
        .name("pd-compile".into())
        .spawn(|| {
            if let Err(e) = bytecode(HOST_MODULE) {
                tracing::error!("{e}");
            }
        });
}

fn host_modules() -> impl Iterator<Item = (&'static str, &'static str)> {
    std::iter::once((HOST_MODULE, include_str!("../host.js"))).chain(AREAS.iter().copied())
}

fn host_source(name: &str) -> Option<&'static str> {
    host_modules().find(|(n, _)| *n == name).map(|(_, s)| s)
}

/// Compiles built-in modules (the host modules here, the `node:` builtins in `node`) to
/// bytecode, resolving their imports of each other through `source_of`.
pub(crate) fn compile_host_modules(
    modules: impl Iterator<Item = (&'static str, &'static str)>,
    source_of: fn(&str) -> Option<&'static str>,
) -> std::result::Result<BTreeMap<&'static str, Vec<u8>>, String> {
    let rt = Runtime::new().map_err(|e| format!("cannot start QuickJS: {e}"))?;
    // QuickJS resolves a module's imports when it compiles it.
    rt.set_loader(BuiltinSources(source_of), BuiltinSources(source_of));
    let ctx = Context::full(&rt).map_err(|e| format!("cannot start QuickJS: {e}"))?;
    ctx.with(|ctx| {
        modules
            .map(|(name, source)| {
                Module::declare(ctx.clone(), name, source)
                    // Without their source text the modules load in about half the time (every
                    // realm loads them), and node code calling `toString()` on one of their
                    // functions sees `[native code]`, as for any builtin.
                    .and_then(|m| {
                        m.write(WriteOptions {
                            strip_source: true,
                            ..WriteOptions::default()
                        })
                    })
                    .map(|bytes| (name, bytes))
                    .map_err(|e| {
                        format!(
                            "the built-in module `{name}` does not compile: {}",
                            crate::exception::describe_exception(&ctx, e)
                        )
                    })
            })
            .collect()
    })
}

/// Serves built-in modules' sources while they are compiled.
struct BuiltinSources(fn(&str) -> Option<&'static str>);

impl Resolver for BuiltinSources {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        match (self.0)(name).is_some() {
            true => Ok(name.to_owned()),
            false => Err(Error::new_resolving(base, name)),
        }
    }
}

impl Loader for BuiltinSources {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        let source = (self.0)(name).ok_or_else(|| Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_host_module_compiles() {
        for name in std::iter::once(super::HOST_MODULE).chain(super::AREAS.iter().map(|a| a.0)) {
            assert!(super::bytecode(name).is_ok_and(|b| !b.is_empty()), "{name}");
        }
    }
}
