//! Node compatibility: the `node:` builtin modules packages commonly touch, and CommonJS.
//!
//! **Realm-wide, frozen builtins.** The builtins (`node:buffer`, `node:events`, `node:util`,
//! `node:url`, `node:path`, `node:string_decoder`, `node:assert`, `node:crypto`, and their
//! `/types`, `/posix`, `/strict` entry points) are JavaScript modules in this directory, compiled
//! to bytecode once per process. A realm instantiates those its program's graph uses (and what
//! they import) while it is set up, before `host.js` locks it down, and lockdown freezes everything
//! they export, like the builtins on `globalThis`. A run's `import "node:buffer"` (or `require`)
//! resolves to that instance, so a builtin costs nothing per run. The price is that a builtin
//! may hold no state a run could change: every export is frozen (classes, prototypes and static
//! fields: `EventEmitter.defaultMaxListeners` is fixed at 10, `Buffer.poolSize` at 8192),
//! module-level variables never change after setup, and whatever state there is lives in the
//! objects a run creates (an emitter's listeners, a decoder's partial character). Per run
//! instances would make mutable builtins possible but cost a module instantiation per builtin
//! per run, and packages only read these modules.
//!
//! **What is absent.** Nothing here reaches files, processes, the environment or sockets; the
//! modules that would need them (`node:fs`, `node:child_process`, `node:net`, `node:http`,
//! `node:os`, `node:process`, …) are refused by `validate` when imported on load, and a
//! `require` of one inside a function throws `NotCapable` when it runs. Within the provided
//! modules, APIs that would need such access are absent or throw `NotCapable`:
//! `url.fileURLToPath`/`pathToFileURL` (no files), `util.inspect`'s `showProxy`/`getters`
//! options and `util.getSystemErrorName` (no OS), Buffer's `transcode` and `File`/`Blob` (see
//! the web globals), `EventEmitter`'s `captureRejections` and async-resource hooks.
//!
//! **Internal realm modules.** `pipedreamer:node/errors` holds `NotCapable` (the class on
//! `ctx.errors`, shared with `host.js`); `pipedreamer:node/commonjs` is the CommonJS runtime
//! ([`commonjs`] generates the modules that use it).

pub(crate) mod commonjs;

use pipedreamer_spec::NodeBuiltin;
use rquickjs::{Array, Ctx, Module, Object, Result, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// The error classes node code and `host.js` share (`NotCapable`, `TimeoutError`).
pub(crate) const ERRORS: &str = "pipedreamer:node/errors";
/// The CommonJS runtime (`define`, the per-module `require`).
pub(crate) const COMMONJS: &str = "pipedreamer:node/commonjs";

/// A realm module: name, source, and the realm modules it imports (checked by a test).
struct RealmModule {
    name: &'static str,
    source: &'static str,
    imports: &'static [&'static str],
}

/// Every realm module.
const MODULES: &[RealmModule] = &[
    RealmModule {
        name: ERRORS,
        source: include_str!("errors.js"),
        imports: &[],
    },
    RealmModule {
        name: COMMONJS,
        source: include_str!("commonjs.js"),
        imports: &[ERRORS],
    },
    RealmModule {
        name: "node:buffer",
        source: include_str!("buffer.js"),
        imports: &[],
    },
    RealmModule {
        name: "node:string_decoder",
        source: include_str!("string_decoder.js"),
        imports: &["node:buffer"],
    },
    RealmModule {
        name: "node:events",
        source: include_str!("events.js"),
        imports: &[],
    },
    RealmModule {
        name: "node:util",
        source: include_str!("util.js"),
        imports: &["node:util/types"],
    },
    RealmModule {
        name: "node:util/types",
        source: include_str!("util_types.js"),
        imports: &[],
    },
    RealmModule {
        name: "node:url",
        source: include_str!("url.js"),
        imports: &[ERRORS],
    },
    RealmModule {
        name: "node:path",
        source: include_str!("path.js"),
        imports: &[],
    },
    RealmModule {
        name: "node:path/posix",
        source: "export * from \"node:path\";\nexport { default } from \"node:path\";\n",
        imports: &["node:path"],
    },
    RealmModule {
        name: "node:crypto",
        source: include_str!("crypto.js"),
        imports: &[ERRORS, "node:buffer", crate::web::CRYPTO_MODULE],
    },
    RealmModule {
        name: "node:assert",
        source: include_str!("assert.js"),
        imports: &["node:util"],
    },
    RealmModule {
        name: "node:assert/strict",
        source: include_str!("assert_strict.js"),
        imports: &["node:assert"],
    },
];

/// The module name of a builtin (`node:buffer`).
pub(crate) fn module_name(builtin: NodeBuiltin) -> &'static str {
    match builtin {
        NodeBuiltin::Buffer => "node:buffer",
        NodeBuiltin::Events => "node:events",
        NodeBuiltin::Util => "node:util",
        NodeBuiltin::UtilTypes => "node:util/types",
        NodeBuiltin::Url => "node:url",
        NodeBuiltin::Path => "node:path",
        NodeBuiltin::PathPosix => "node:path/posix",
        NodeBuiltin::Crypto => "node:crypto",
        NodeBuiltin::StringDecoder => "node:string_decoder",
        NodeBuiltin::Assert => "node:assert",
        NodeBuiltin::AssertStrict => "node:assert/strict",
    }
}

/// Whether `name` is a realm module (loadable only while a realm is set up).
pub(crate) fn is_realm_module(name: &str) -> bool {
    MODULES.iter().any(|m| m.name == name)
}

/// `roots` and every realm module they import, directly or not, dependencies first. Host
/// modules they import (a web area) are left out: the realm has them already, and a run must
/// never be able to import one.
pub(crate) fn with_imports(roots: impl IntoIterator<Item = &'static str>) -> Vec<&'static str> {
    fn visit(name: &'static str, seen: &mut BTreeSet<&'static str>, out: &mut Vec<&'static str>) {
        if !seen.insert(name) {
            return;
        }
        let Some(m) = MODULES.iter().find(|m| m.name == name) else {
            return;
        };
        for dep in m.imports {
            visit(dep, seen, out);
        }
        out.push(name);
    }
    let (mut seen, mut out) = (BTreeSet::new(), Vec::new());
    for root in roots {
        visit(root, &mut seen, &mut out);
    }
    out
}

/// The source of a realm module, or of a web area one imports (`node:crypto` takes natives from
/// Web Crypto's), for compiling them.
pub(crate) fn source(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .map(|m| (m.name, m.source))
        .chain(crate::web::AREAS.iter().copied())
        .find(|(n, _)| *n == name)
        .map(|(_, source)| source)
}

/// Bytecode of a realm module, compiled on first use; an error names a builtin not provided.
pub(crate) fn bytecode(name: &str) -> std::result::Result<&'static [u8], String> {
    static COMPILED: OnceLock<std::result::Result<BTreeMap<&'static str, Vec<u8>>, String>> =
        OnceLock::new();
    let compiled = COMPILED
        .get_or_init(|| {
            crate::web::compile_host_modules(MODULES.iter().map(|m| (m.name, m.source)), source)
        })
        .as_ref()?;
    compiled.get(name).map(Vec::as_slice).ok_or_else(|| {
        format!("`{name}` is not provided by the sandbox (see the README's table of node: modules)")
    })
}

/// What a realm's node modules give `host.js`.
pub(crate) struct Instantiated<'js> {
    /// The namespace of [`ERRORS`] (`NotCapable`, `TimeoutError`).
    pub(crate) errors: Object<'js>,
    /// Every value the realm modules export, for lockdown to freeze.
    pub(crate) exported: Array<'js>,
}

/// Instantiates [`ERRORS`] and realm modules `names` in a realm being set up (the loader scope
/// must allow them).
pub(crate) async fn instantiate<'js>(
    ctx: &Ctx<'js>,
    names: &[&'static str],
) -> Result<Instantiated<'js>> {
    let exported = Array::new(ctx.clone())?;
    let import = async |name: &str| -> Result<Object<'js>> {
        let namespace: Object<'js> = Module::import(ctx, name)?.into_future().await?;
        for value in namespace.values::<Value<'js>>() {
            exported.set(exported.len(), value?)?;
        }
        Ok(namespace)
    };
    let errors = import(ERRORS).await?;
    for name in names.iter().filter(|n| **n != ERRORS) {
        import(name).await?;
    }
    Ok(Instantiated { errors, exported })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_realm_module_compiles() {
        for m in MODULES {
            let compiled = bytecode(m.name);
            assert!(
                compiled.as_ref().is_ok_and(|b| !b.is_empty()),
                "{}: {compiled:?}",
                m.name
            );
        }
    }

    #[test]
    fn declared_imports_match_the_sources() {
        for m in MODULES {
            let facts = pipedreamer_spec::js_check::inspect("m.js", m.source);
            assert!(
                facts.syntax_errors.is_empty(),
                "{}: {:?}",
                m.name,
                facts.syntax_errors
            );
            let found: BTreeSet<&str> = facts.imports.iter().map(|(s, _)| s.as_str()).collect();
            let declared: BTreeSet<&str> = m.imports.iter().copied().collect();
            assert_eq!(found, declared, "{}", m.name);
        }
    }

    #[test]
    fn every_builtin_has_a_module() {
        for b in NodeBuiltin::ALL {
            let name = module_name(b);
            assert_eq!(name, format!("node:{}", b.name()));
            assert!(is_realm_module(name), "{name}");
        }
    }

    #[test]
    fn imports_come_first() {
        let order = with_imports(["node:assert/strict"]);
        let at = |n: &str| order.iter().position(|m| *m == n).unwrap();
        assert!(at("node:util") < at("node:assert"));
        assert!(at("node:assert") < at("node:assert/strict"));
        assert!(at("node:util/types") < at("node:util"));
        let order = with_imports(["node:crypto"]);
        assert!(!order.contains(&crate::web::CRYPTO_MODULE), "{order:?}");
    }
}
