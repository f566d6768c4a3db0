//! Module resolution for node code: relative imports inside the workflow directory, nothing else.
//!
//! A realm serves several runs, and QuickJS keeps one instance per module name for the life of a
//! context, so each run gets its own names: `~<slot>/<path>`, the slot a fixed-width number (see
//! `bytecode`). A module can only import modules of its own slot, so a run can never reach the
//! module state of an earlier run.

use crate::program::{HOST_MODULE, Program};
use pipedreamer_spec::js_check::resolve_import;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Ctx, Error, Module, Result, module::Declared};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

/// The prefix of slot `slot`'s module names.
pub(crate) fn slot_tag(slot: usize) -> String {
    format!("~{slot:08}/")
}

/// The module name of workflow module `path` in realm slot `slot`.
pub(crate) fn slot_name(slot: usize, path: &str) -> String {
    format!("{}{path}", slot_tag(slot))
}

/// Splits a slot module name into its slot and workflow path.
fn split_slot(name: &str) -> Option<(usize, &str)> {
    let (slot, path) = name.strip_prefix('~')?.split_once('/')?;
    (slot.len() == 8).then_some(())?;
    Some((slot.parse().ok()?, path))
}

/// Removes slot `slot`'s prefix from a message (stack traces name modules), so users see paths.
pub(crate) fn unslot(slot: usize, message: &str) -> String {
    if message.contains('~') {
        message.replace(&slot_tag(slot), "")
    } else {
        message.to_owned()
    }
}

/// Resolves `name` imported by `base`: relative, among `known` workflow paths, and in `base`'s
/// slot. `None` when `base` is not a slot module name.
fn resolve_in_slot(known: impl Fn(&str) -> bool, base: &str, name: &str) -> Option<Result<String>> {
    let (slot, base_path) = split_slot(base).filter(|(_, p)| known(p))?;
    Some(
        resolve_import(base_path, name)
            .filter(|p| known(p))
            .map(|p| slot_name(slot, &p))
            .ok_or_else(|| refuse(base, name)),
    )
}

fn refuse(base: &str, name: &str) -> Error {
    Error::new_resolving_message(
        base,
        name,
        "only relative imports of modules inside the workflow directory are allowed",
    )
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

/// Resolves and loads the modules of the current program (rquickjs wants one of each).
#[derive(Clone)]
pub(crate) struct ProgramModules(pub(crate) CurrentProgram);

impl Resolver for ProgramModules {
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
            |program| {
                let known = |path: &str| program.module(path).is_some();
                // From node code: a relative import, in the importer's slot.
                if let Some(resolved) = resolve_in_slot(known, base, name) {
                    return resolved;
                }
                // From the executor: the host API or a node module by its slot name.
                if name == HOST_MODULE || split_slot(name).is_some_and(|(_, p)| known(p)) {
                    Ok(name.to_owned())
                } else {
                    Err(refuse(base, name))
                }
            },
        )
    }
}

impl Loader for ProgramModules {
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
                if name == HOST_MODULE {
                    return load_bytecode(ctx, program.host_bytecode());
                }
                let (slot, path) = split_slot(name).ok_or_else(|| Error::new_loading(name))?;
                let module = program
                    .module(path)
                    .ok_or_else(|| Error::new_loading(name))?;
                if let Some(bytecode) = crate::bytecode::for_slot(&module.template, slot) {
                    match load_bytecode(ctx, &bytecode) {
                        Ok(m) => return Ok(m),
                        Err(e) => {
                            // Compiling the source below still works; say why it was needed.
                            let why = crate::executor::describe_exception(ctx, e);
                            tracing::debug!(module = path, "renamed bytecode refused ({why})");
                        }
                    }
                }
                Module::declare(ctx.clone(), name, module.javascript.as_str())
            },
        )
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

/// Serves JavaScript sources (by workflow path) while a program is compiled at load, under
/// slot 0's names.
pub(crate) struct SourceModules(pub(crate) Arc<BTreeMap<String, String>>);

impl Resolver for SourceModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<String> {
        resolve_in_slot(|p| self.0.contains_key(p), base, name)
            .unwrap_or_else(|| Err(refuse(base, name)))
    }
}

impl Loader for SourceModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> Result<Module<'js, Declared>> {
        let (_, path) = split_slot(name).ok_or_else(|| Error::new_loading(name))?;
        let source = self.0.get(path).ok_or_else(|| Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source.as_str())
    }
}
