//! A loaded workflow: the spec crate's [`Resolved`] workflow (checked once, its import graph
//! resolved once), with every module of the graph transpiled and compiled to QuickJS bytecode
//! once, at load (under realm slot 0's names; see `bytecode` for the other slots), so a run only
//! instantiates bytecode.
//!
//! Each graph file becomes one module, named by its path: TypeScript is stripped, a JSON file
//! becomes a module whose default export is its value, and a CommonJS file becomes two (its
//! record and its facade; see `node::commonjs`). The graph stays the only truth about imports:
//! the loader looks a run's imports up in it (see `loader`) and never resolves a specifier
//! itself.

use crate::bytecode::Template;
use crate::node::{self, commonjs};
use crate::slot::{REALM_SLOT, refuse, slot_name, split_slot, unslot};
use crate::transpile;
use pipedreamer_spec::diagnostic::Diagnostic;
use pipedreamer_spec::source::SourceProvider;
use pipedreamer_spec::{
    Dag, ImportForm, ImportTarget, ModuleKind, Pos, Resolved, ResolvedImport, Workflow,
};
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::{Declared, WriteOptions};
use rquickjs::{Context, Ctx, Module, Runtime};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A workflow ready to run.
#[derive(Debug)]
pub struct Program {
    /// The validated spec.
    pub workflow: Workflow,
    /// Its graph.
    pub dag: Dag,
    /// The cron triggers' schedules, parsed once by the spec (the engine's local scheduler
    /// uses them).
    pub schedules: Vec<pipedreamer_spec::Schedule>,
    /// Every module by id: a graph file's path relative to the workflow directory, or that
    /// path plus `node::commonjs::RECORD_SUFFIX` for a CommonJS file's record.
    modules: BTreeMap<String, CompiledModule>,
    /// What each module may import.
    imports: Arc<Imports>,
}

/// What the modules of a program may import: the graph's resolved imports, and the realm
/// modules the graph uses. The one place imports are decided, at compile time and per run.
#[derive(Debug)]
pub(crate) struct Imports {
    /// Each graph file's resolved imports, by path.
    by_file: BTreeMap<String, Vec<ResolvedImport>>,
    /// Every module id, with whether its generated code imports realm modules by name (a
    /// CommonJS record, a forbidden module's stand-in).
    ids: BTreeMap<String, bool>,
    /// The realm modules (node builtins, the CommonJS runtime) the program's runs may import,
    /// dependencies first; a realm instantiates them while it is set up.
    realm_modules: Vec<&'static str>,
    /// The workflow modules a realm instantiates once and shares among its runs (see
    /// `shared`), by path.
    shared: Vec<String>,
}

/// One module: its JavaScript, and its bytecode under slot 0's name.
#[derive(Debug)]
pub(crate) struct CompiledModule {
    pub(crate) text: ModuleText,
    pub(crate) template: Template,
}

/// A module's JavaScript and where it came from.
#[derive(Debug)]
pub(crate) struct ModuleText {
    pub(crate) javascript: String,
    /// Whether the text was generated here (a CommonJS record or facade, a JSON module): its
    /// imports name slot 0's modules, which a run in another slot renames.
    pub(crate) generated: bool,
    /// Whether its generated code imports realm modules by name (a CommonJS record, a
    /// forbidden module's stand-in).
    pub(crate) record: bool,
}

impl Program {
    /// Checks the workflow under `source`, resolves its modules and compiles them. All problems
    /// come back as diagnostics, like `pipedreamer validate` prints them.
    pub fn load(source: &dyn SourceProvider) -> Result<Self, Vec<Diagnostic>> {
        Self::from_resolved(pipedreamer_spec::resolve(source)?)
    }

    /// Compiles every module of a resolved workflow. Fails (with diagnostics) only when QuickJS
    /// refuses what the spec crate accepted, or when the graph needs a `node:` module the
    /// sandbox does not provide.
    pub fn from_resolved(resolved: Resolved) -> Result<Self, Vec<Diagnostic>> {
        let Resolved {
            workflow,
            dag,
            modules: graph,
            schedules,
            ..
        } = resolved;
        let kind_of = |p: &str| graph.files.get(p).map(|f| f.kind);
        let mut cjs_exports = CjsExports::new(&graph);
        let mut sources: BTreeMap<String, ModuleText> = BTreeMap::new();
        let mut errors = Vec::new();
        let mut roots = Vec::new();
        for (path, file) in &graph.files {
            for import in &file.imports {
                match &import.target {
                    ImportTarget::Builtin(b) => roots.push(node::module_name(*b)),
                    // `import("node:fs")` in a function: validation warned; the import fails
                    // when it runs, with the realm's NotCapable (a module that throws it).
                    ImportTarget::Forbidden(module) if import.form == ImportForm::Dynamic => {
                        roots.push(node::ERRORS);
                        sources.insert(
                            forbidden_id(module),
                            ModuleText::generated(commonjs::forbidden_source(module), true),
                        );
                    }
                    _ => {}
                }
            }
            match file.kind {
                ModuleKind::EsModule => match transpile::to_javascript(path, &file.source) {
                    Ok(js) => {
                        sources.insert(path.clone(), ModuleText::written(js));
                    }
                    Err(m) => errors.push(Diagnostic::error("js-syntax", path, Pos::new(1, 1), m)),
                },
                ModuleKind::Json => {
                    sources.insert(
                        path.clone(),
                        ModuleText::generated(commonjs::json_source(&file.source), false),
                    );
                }
                ModuleKind::CommonJs => {
                    roots.push(node::COMMONJS);
                    let record_id = format!("{path}{}", commonjs::RECORD_SUFFIX);
                    let record = commonjs::record_source(
                        path,
                        &file.source,
                        &file.imports,
                        |p| slot_name(0, p),
                        kind_of,
                    );
                    let names = cjs_exports.names_of(path);
                    let facade = commonjs::facade_source(&slot_name(0, &record_id), &names);
                    sources.insert(record_id, ModuleText::generated(record, true));
                    sources.insert(path.clone(), ModuleText::generated(facade, false));
                }
            }
        }
        let realm_modules = node::with_imports(roots);
        for name in &realm_modules {
            if let Err(m) = node::bytecode(name) {
                let (importer, pos) = first_import_of(&graph.files, name);
                errors.push(
                    Diagnostic::error("unsupported-builtin", &importer, pos, m)
                        .with_hint("use a package that does not need this module"),
                );
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let shared = shared_modules(&graph, &mut sources);
        let imports = Arc::new(Imports {
            by_file: graph
                .files
                .into_iter()
                .map(|(path, file)| (path, file.imports))
                .collect(),
            ids: sources
                .iter()
                .map(|(id, t)| (id.clone(), t.record))
                .collect(),
            realm_modules,
            shared,
        });
        let mut compiled = compile(&sources, &imports)?;
        let modules = sources
            .into_iter()
            .filter_map(|(id, text)| {
                let template = Template::new(compiled.remove(&id)?);
                Some((id, CompiledModule { text, template }))
            })
            .collect();
        Ok(Self {
            workflow,
            dag,
            schedules,
            modules,
            imports,
        })
    }

    /// A module by id (see [`Program::modules`]).
    pub(crate) fn module(&self, id: &str) -> Option<&CompiledModule> {
        self.modules.get(id)
    }

    /// What the program's modules may import.
    pub(crate) fn imports(&self) -> &Imports {
        &self.imports
    }

    /// The realm modules runs of this program may import, dependencies first.
    pub(crate) fn realm_modules(&self) -> &[&'static str] {
        &self.imports.realm_modules
    }

    /// The modules (by path) a realm instantiates once and shares among its runs: those with no
    /// state a run could change (see the `shared` module's rules). The others get fresh
    /// instances per run.
    pub fn shared_modules(&self) -> &[String] {
        &self.imports.shared
    }

    /// The module path of a node (normalized).
    pub fn node_module(&self, index: usize) -> &str {
        self.workflow.nodes[index].file.trim_start_matches("./")
    }
}

impl Imports {
    /// The module name `name`, imported by module `base`, stands for in realm slot `slot`:
    /// a module of the slot by its name (how the executor imports a node, and how a CommonJS
    /// record imports what it requires), what the graph resolved `name` to among `base`'s own
    /// imports (`import`, `export … from`, `import()`; a forbidden module is its stand-in, which
    /// throws `NotCapable`), or a realm module a CommonJS record requires. Anything else is refused, and so is every import by a `base` outside the slot
    /// (code run through `eval` or `Function`).
    pub(crate) fn resolve(&self, slot: usize, base: &str, name: &str) -> rquickjs::Result<String> {
        if split_slot(name).is_some_and(|(s, id)| {
            (s == slot && self.ids.contains_key(id)) || (s == REALM_SLOT && self.is_shared(id))
        }) {
            return Ok(name.to_owned());
        }
        // A shared module's imports are shared modules (see `shared_modules`): they resolve to
        // the realm's instances from any slot.
        let Some((_, base_id)) = split_slot(base)
            .filter(|(s, id)| *s == slot || (*s == REALM_SLOT && self.is_shared(id)))
        else {
            return Err(refuse(base, name));
        };
        if self.ids.get(base_id) == Some(&true) && self.realm_modules.contains(&name) {
            return Ok(name.to_owned());
        }
        let file = base_id
            .strip_suffix(commonjs::RECORD_SUFFIX)
            .unwrap_or(base_id);
        let import = self.by_file.get(file).and_then(|imports| {
            imports
                .iter()
                .find(|i| i.specifier == name && !matches!(i.form, ImportForm::Require { .. }))
        });
        match import.map(|i| &i.target) {
            Some(ImportTarget::File(path)) => Ok(self.module_name(slot, path)),
            Some(ImportTarget::Builtin(b)) => Ok(node::module_name(*b).to_owned()),
            Some(ImportTarget::Forbidden(module)) => Ok(slot_name(slot, &forbidden_id(module))),
            None => Err(refuse(base, name)),
        }
    }
}

impl Imports {
    /// Whether module `id` is one a realm shares among its runs.
    pub(crate) fn is_shared(&self, id: &str) -> bool {
        self.shared.iter().any(|s| s == id)
    }

    /// The name of module `id` for a run in slot `slot`: the realm's instance when it is
    /// shared, else the slot's own.
    pub(crate) fn module_name(&self, slot: usize, id: &str) -> String {
        if self.is_shared(id) {
            slot_name(REALM_SLOT, id)
        } else {
            slot_name(slot, id)
        }
    }
}

/// The ES modules a realm may share among its runs (see `shared`): each alone passes the
/// analysis, everything it imports is shared too (or a `node:` builtin), and everything that
/// imports it is shared too. The last rule is what keeps the frozen objects out of code the
/// analysis did not vet: a module with state may write to what it imports (lodash's
/// `lodash.prototype = baseLodash.prototype; lodash.prototype.constructor = lodash`), and
/// shared modules never write through their imports. Their text gets the export that lets the
/// realm freeze what they hold.
fn shared_modules(
    graph: &pipedreamer_spec::ModuleGraph,
    sources: &mut BTreeMap<String, ModuleText>,
) -> Vec<String> {
    let mut roots: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (path, file) in &graph.files {
        let Some(text) = sources.get(path) else {
            continue;
        };
        if file.kind != ModuleKind::EsModule || text.generated {
            continue;
        }
        match crate::shared::local_bindings(&text.javascript) {
            Ok(names) => {
                roots.insert(path, names);
            }
            Err(why) => tracing::debug!(module = path, "fresh instances per run: {}", why.0),
        }
    }
    loop {
        let mut out: BTreeSet<&str> = BTreeSet::new();
        for (path, file) in &graph.files {
            let importer_shared = roots.contains_key(path.as_str());
            for import in &file.imports {
                match &import.target {
                    ImportTarget::File(target) if !importer_shared => {
                        out.insert(target.as_str());
                    }
                    ImportTarget::File(target) if !roots.contains_key(target.as_str()) => {
                        out.insert(path.as_str());
                    }
                    ImportTarget::Forbidden(_) => {
                        out.insert(path.as_str());
                    }
                    _ => {}
                }
            }
        }
        let before = roots.len();
        roots.retain(|path, _| !out.contains(path));
        if roots.len() == before {
            break;
        }
    }
    let mut shared = Vec::new();
    for (path, names) in roots {
        if let Some(text) = sources.get_mut(path) {
            text.javascript = crate::shared::with_roots_export(&text.javascript, &names);
        }
        shared.push(path.to_owned());
    }
    shared
}

/// The id of the module that stands for forbidden module `module` (`node:fs`): it throws
/// `NotCapable` when evaluated, once per run.
fn forbidden_id(module: &str) -> String {
    format!("{module}{}", commonjs::FORBIDDEN_SUFFIX)
}

/// Where the graph first imports realm module `name` (for a diagnostic).
fn first_import_of(
    files: &BTreeMap<String, pipedreamer_spec::ModuleFile>,
    name: &str,
) -> (String, Pos) {
    files
        .iter()
        .flat_map(|(path, f)| f.imports.iter().map(move |i| (path, i)))
        .find(|(_, i)| matches!(i.target, ImportTarget::Builtin(b) if node::module_name(b) == name))
        .map_or_else(
            || ("workflow.yaml".to_owned(), Pos::new(1, 1)),
            |(p, i)| (p.clone(), i.pos),
        )
}

/// The named exports of the graph's CommonJS files, re-exports followed (memoized).
struct CjsExports<'g> {
    graph: &'g pipedreamer_spec::ModuleGraph,
    found: BTreeMap<String, commonjs::Exports>,
}

impl<'g> CjsExports<'g> {
    fn new(graph: &'g pipedreamer_spec::ModuleGraph) -> Self {
        Self {
            graph,
            found: BTreeMap::new(),
        }
    }

    /// Every name CommonJS file `path` exports, its re-exports' included (a cycle ends where it
    /// comes back around; ES module and JSON targets contribute nothing: Node does the same).
    fn names_of(&mut self, path: &str) -> Vec<String> {
        let mut names = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = vec![path.to_owned()];
        while let Some(path) = todo.pop() {
            let Some(file) = self.graph.files.get(&path) else {
                continue;
            };
            if file.kind != ModuleKind::CommonJs || !seen.insert(path.clone()) {
                continue;
            }
            let exports = self
                .found
                .entry(path.clone())
                .or_insert_with(|| commonjs::exports(&file.source));
            names.extend(exports.names.iter().cloned());
            for specifier in &exports.reexports {
                let target = file
                    .imports
                    .iter()
                    .find_map(|i| match (&i.form, &i.target) {
                        (ImportForm::Require { .. }, ImportTarget::File(t))
                            if &i.specifier == specifier =>
                        {
                            Some(t.clone())
                        }
                        _ => None,
                    });
                todo.extend(target);
            }
        }
        names.into_iter().collect()
    }
}

impl ModuleText {
    fn written(javascript: String) -> Self {
        Self {
            javascript,
            generated: false,
            record: false,
        }
    }

    fn generated(javascript: String, record: bool) -> Self {
        Self {
            javascript,
            generated: true,
            record,
        }
    }
}

fn compile(
    sources: &BTreeMap<String, ModuleText>,
    imports: &Arc<Imports>,
) -> Result<BTreeMap<String, Vec<u8>>, Vec<Diagnostic>> {
    let internal = |m: String| {
        vec![Diagnostic::error(
            "internal",
            "workflow.yaml",
            Pos::new(1, 1),
            m,
        )]
    };
    let rt = Runtime::new().map_err(|e| internal(format!("cannot start QuickJS: {e}")))?;
    let ctx = Context::full(&rt).map_err(|e| internal(format!("cannot start QuickJS: {e}")))?;
    // QuickJS resolves (and so loads) a module's imports when it compiles it; the loader wants
    // owned data.
    let owned = CompileModules {
        sources: Arc::new(
            sources
                .iter()
                .map(|(id, t)| (id.clone(), t.javascript.clone()))
                .collect(),
        ),
        imports: imports.clone(),
    };
    rt.set_loader(owned.clone(), owned);
    ctx.with(|ctx| {
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for (id, text) in sources {
            let compiled = Module::declare(ctx.clone(), slot_name(0, id), text.javascript.as_str())
                .and_then(|m| m.write(WriteOptions::default()));
            match compiled {
                Ok(bytes) => {
                    out.insert(id.clone(), bytes);
                }
                Err(e) => {
                    let msg = unslot(0, &crate::exception::describe_exception(&ctx, e));
                    let file = id.strip_suffix(commonjs::RECORD_SUFFIX).unwrap_or(id);
                    errors.push(Diagnostic::error("js-syntax", file, Pos::new(1, 1), msg));
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    })
}

/// Resolves and loads a program's modules while it is compiled (in slot 0), and the realm
/// modules they import (from source: only their bytecode is kept, elsewhere).
#[derive(Clone)]
struct CompileModules {
    sources: Arc<BTreeMap<String, String>>,
    imports: Arc<Imports>,
}

impl Resolver for CompileModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        // A realm module's own imports (other realm modules, a web area).
        if node::source(base).is_some() && node::source(name).is_some() {
            return Ok(name.to_owned());
        }
        self.imports.resolve(0, base, name)
    }
}

impl Loader for CompileModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let source = match split_slot(name) {
            Some((_, id)) => self.sources.get(id).map(String::as_str),
            None => node::source(name),
        };
        let source = source.ok_or_else(|| rquickjs::Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source)
    }
}
