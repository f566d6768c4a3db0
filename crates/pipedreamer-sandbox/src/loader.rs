//! Module resolution for node code: relative imports inside the workflow directory, served from
//! the program's bytecode. Nothing else can be imported.

use crate::program::{HOST_MODULE, Program};
use pipedreamer_spec::js_check::resolve_import;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Ctx, Error, Module, Result, module::Declared};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// Relative imports between known modules; bare names only for the host module and for
/// top-level imports made by the executor (whose base is not a workflow module).
fn resolve_among(known: impl Fn(&str) -> bool, base: &str, name: &str) -> Result<String> {
    let resolved = if known(name) && !name.starts_with('.') && (name == HOST_MODULE || !known(base))
    {
        Some(name.to_owned())
    } else {
        resolve_import(base, name).filter(|p| known(p))
    };
    resolved.ok_or_else(|| {
        Error::new_resolving_message(
            base,
            name,
            "only relative imports of modules inside the workflow directory are allowed",
        )
    })
}

/// The program a pooled runtime is currently running; swapped at the start of each run.
pub(crate) type CurrentProgram = Rc<RefCell<Option<Arc<Program>>>>;

/// Runs `f` with the current program, or fails like a missing module when none is set.
fn with_program<T>(
    current: &CurrentProgram,
    missing: impl FnOnce() -> Error,
    f: impl FnOnce(&Program) -> Result<T>,
) -> Result<T> {
    match current.borrow().as_ref() {
        Some(program) => f(program),
        None => Err(missing()),
    }
}

pub(crate) struct ProgramResolver(pub(crate) CurrentProgram);

impl Resolver for ProgramResolver {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        with_program(
            &self.0,
            || Error::new_resolving(base, name),
            |program| resolve_among(|m| program.module(m).is_some(), base, name),
        )
    }
}

/// Serves JavaScript sources while a program is being compiled.
pub(crate) struct SourceModules(pub(crate) Arc<BTreeMap<String, String>>);

impl Resolver for SourceModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        resolve_among(|m| self.0.contains_key(m), base, name)
    }
}

impl Loader for SourceModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        let source = self.0.get(name).ok_or_else(|| Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source.as_str())
    }
}

pub(crate) struct ProgramLoader(pub(crate) CurrentProgram);

impl Loader for ProgramLoader {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        with_program(
            &self.0,
            || Error::new_loading(name),
            |program| {
                let bytes = program
                    .module(name)
                    .ok_or_else(|| Error::new_loading(name))?;
                // SAFETY: the bytes were produced by `Module::write` in `Program::load`, in this
                // process, with the same QuickJS build; they are never read from outside.
                #[allow(unsafe_code)]
                unsafe {
                    Module::load(ctx.clone(), bytes)
                }
            },
        )
    }
}
