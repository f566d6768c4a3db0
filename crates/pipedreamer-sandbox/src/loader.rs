//! What node code may import, and from where: the modules of the workflow's resolved import
//! graph (its files and the `node:` builtins it uses), nothing else.
//!
//! A realm serves several runs, and QuickJS keeps one instance per module name for the life of a
//! context, so each run gets its own names: `~<slot>/<path>`, the slot a fixed-width number (see
//! `bytecode`). What may load is decided by the runtime's [`LoaderScope`] (the running slot, and
//! the host and realm modules only during realm set-up), never by the importer's name, which code
//! run through `eval` or `Function` does not have: so no code in a run can reach another run's
//! module instances or the host modules.
//!
//! The loader never resolves a specifier itself: an import of `specifier` by one of the run's
//! modules is looked up among that module's imports in the graph the spec crate resolved (see
//! `Program::import`). A `node:` builtin resolves to the realm's instance, loaded and frozen
//! while the realm was set up (see `node`), so QuickJS reuses it without asking the loader.

use crate::program::Program;
use crate::slot::{REALM_SLOT, refuse, slot_tag, split_slot};
use crate::web::is_host_module;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Ctx, Error, Module, Result, module::Declared};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// What a pooled runtime may load right now; the realm sets it around each run and while it
/// installs the host API. Every import from any code (a node module, `eval`, `Function`, a
/// callback) is resolved against it, so what decides is the run in progress, never the name of
/// the importing module: that name is `<input>` for evaluated code and can be anything.
#[derive(Default)]
pub(crate) struct LoaderScope {
    /// The program whose modules may load.
    pub(crate) program: Option<Arc<Program>>,
    /// The slot of the run in progress: only its module instances (and the realm's shared
    /// ones) are reachable. `REALM_SLOT` while a realm is set up: the shared modules load then.
    pub(crate) slot: Option<usize>,
    /// Whether the host modules and realm modules (`node` builtins) may load: only while
    /// `realm::install_host` sets up a realm, before any node code runs in it.
    pub(crate) host: bool,
}

/// A runtime's [`LoaderScope`], shared by the runtime (which sets it) and its resolver and loader.
pub(crate) type SharedScope = Rc<RefCell<LoaderScope>>;

/// Resolves and loads the modules of the current program (rquickjs wants one of each).
#[derive(Clone)]
pub(crate) struct ProgramModules(pub(crate) SharedScope);

impl ProgramModules {
    /// The module name `name` (imported by `base`) stands for, if this runtime may load it now.
    fn resolve_name(&self, base: &str, name: &str) -> Result<String> {
        let scope = self.0.borrow();
        if scope.host && (is_host_module(name) || crate::node::is_realm_module(name)) {
            return Ok(name.to_owned());
        }
        let (Some(program), Some(slot)) = (scope.program.as_ref(), scope.slot) else {
            return Err(refuse(base, name));
        };
        program.imports().resolve(slot, base, name)
    }
}

impl Resolver for ProgramModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        self.resolve_name(base, name)
    }
}

impl Loader for ProgramModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        // Loading follows resolving, but check again: nothing outside the scope ever loads.
        let scope = self.0.borrow();
        if scope.host && is_host_module(name) {
            let bytecode = crate::web::bytecode(name).map_err(|_| Error::new_loading(name))?;
            return load_bytecode(ctx, bytecode);
        }
        if scope.host && crate::node::is_realm_module(name) {
            let bytecode =
                crate::node::bytecode(name).map_err(|m| Error::new_loading_message(name, m))?;
            return load_bytecode(ctx, bytecode);
        }
        let (Some(program), Some(current)) = (scope.program.as_ref(), scope.slot) else {
            return Err(Error::new_loading(name));
        };
        // The realm's shared modules load only while it is set up (their slot is then the
        // current one), and only those the program shares.
        let (slot, path) = split_slot(name)
            .filter(|(slot, _)| *slot == current)
            .filter(|(slot, path)| *slot != REALM_SLOT || program.imports().is_shared(path))
            .ok_or_else(|| Error::new_loading(name))?;
        let module = program
            .module(path)
            .ok_or_else(|| Error::new_loading(name))?;
        if let Some(bytecode) = module.template.for_slot(slot) {
            match load_bytecode(ctx, &bytecode) {
                Ok(m) => return Ok(m),
                Err(e) => {
                    // Compiling the source below still works; say why it was needed.
                    let why = crate::exception::describe_exception(ctx, e);
                    tracing::debug!(module = path, "renamed bytecode refused ({why})");
                }
            }
        }
        // Generated modules import slot 0's names, which the renamed bytecode would have
        // renamed; the source needs the same.
        let javascript = match module.text.generated {
            true => module
                .text
                .javascript
                .replace(&slot_tag(0), &slot_tag(slot)),
            false => module.text.javascript.clone(),
        };
        Module::declare(ctx.clone(), name, javascript)
    }
}

fn load_bytecode<'js>(ctx: &Ctx<'js>, bytecode: &[u8]) -> Result<Module<'js, Declared>> {
    // SAFETY: the bytes were produced by `Module::write` in this process, with the same QuickJS
    // build; they are never read from outside.
    #[allow(unsafe_code)]
    unsafe {
        Module::load(ctx.clone(), bytecode)
    }
}
