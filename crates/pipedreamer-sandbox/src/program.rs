//! A loaded workflow: validated spec, DAG, and every module transpiled and compiled to QuickJS
//! bytecode once, at load (under realm slot 0's names; see `bytecode` for the other slots), so a
//! run only instantiates bytecode.

use crate::slot::{refuse, resolve_in_slot, slot_name, split_slot, unslot};
use crate::transpile;
use pipedreamer_spec::diagnostic::Diagnostic;
use pipedreamer_spec::js_check;
use pipedreamer_spec::source::SourceProvider;
use pipedreamer_spec::{Dag, Pos, Workflow};
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::module::WriteOptions;
use rquickjs::{Context, Ctx, Error, Module, Runtime};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A workflow ready to run.
#[derive(Debug)]
pub struct Program {
    /// The validated spec.
    pub workflow: Workflow,
    /// Its graph.
    pub dag: Dag,
    /// Workflow modules by path relative to the workflow directory.
    modules: BTreeMap<String, WorkflowModule>,
}

/// One workflow module: its JavaScript, and its bytecode under slot 0's name.
#[derive(Debug)]
pub(crate) struct WorkflowModule {
    pub(crate) javascript: String,
    pub(crate) template: Arc<[u8]>,
}

impl Program {
    /// Checks the workflow under `source` and compiles its modules. All problems come back as
    /// diagnostics, like `pipedreamer validate` prints them.
    pub fn load(source: &dyn SourceProvider) -> Result<Self, Vec<Diagnostic>> {
        let (workflow, dag) = pipedreamer_spec::check(source).into_valid()?;
        let mut sources = BTreeMap::new();
        let mut queue: VecDeque<String> = workflow
            .nodes
            .iter()
            .map(|n| n.file.trim_start_matches("./").to_owned())
            .collect();
        while let Some(path) = queue.pop_front() {
            if sources.contains_key(&path) {
                continue;
            }
            let text = source.read(&path).map_err(|e| {
                vec![Diagnostic::error(
                    "missing-node-file",
                    &path,
                    Pos::new(1, 1),
                    format!("cannot read `{path}`: {e}"),
                )]
            })?;
            for (spec, _) in js_check::inspect(&path, &text).imports {
                if let Some(target) = js_check::resolve_import(&path, &spec) {
                    queue.push_back(target);
                }
            }
            let js = transpile::to_javascript(&path, &text)
                .map_err(|m| vec![Diagnostic::error("js-syntax", &path, Pos::new(1, 1), m)])?;
            sources.insert(path, js);
        }
        // The host modules are compiled once per process; a failure there is ours, not the
        // workflow's, but it must still surface here rather than at the first run.
        crate::web::bytecode(crate::web::HOST_MODULE).map_err(|m| {
            vec![Diagnostic::error(
                "internal",
                "workflow.yaml",
                Pos::new(1, 1),
                m,
            )]
        })?;
        let mut compiled = compile(&sources)?;
        let modules = sources
            .into_iter()
            .filter_map(|(path, javascript)| {
                let template = compiled.remove(&path)?;
                Some((
                    path,
                    WorkflowModule {
                        javascript,
                        template,
                    },
                ))
            })
            .collect();
        Ok(Self {
            workflow,
            dag,
            modules,
        })
    }

    /// A workflow module by path.
    pub(crate) fn module(&self, path: &str) -> Option<&WorkflowModule> {
        self.modules.get(path)
    }

    /// The module path of a node (normalized).
    pub fn node_module(&self, index: usize) -> &str {
        self.workflow.nodes[index].file.trim_start_matches("./")
    }
}

fn compile(
    sources: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Arc<[u8]>>, Vec<Diagnostic>> {
    let internal = |m: String| {
        vec![Diagnostic::error(
            "internal",
            "workflow.yaml",
            Pos::new(1, 1),
            m,
        )]
    };
    let rt = Runtime::new().map_err(|e| internal(format!("cannot start QuickJS: {e}")))?;
    let shared = Arc::new(sources.clone());
    rt.set_loader(SourceModules(shared.clone()), SourceModules(shared));
    let ctx = Context::full(&rt).map_err(|e| internal(format!("cannot start QuickJS: {e}")))?;
    ctx.with(|ctx| {
        let mut out = BTreeMap::new();
        let mut errors = Vec::new();
        for (name, js) in sources {
            let compiled = Module::declare(ctx.clone(), slot_name(0, name), js.as_str())
                .and_then(|m| m.write(WriteOptions::default()));
            match compiled {
                Ok(bytes) => {
                    out.insert(name.clone(), Arc::from(bytes));
                }
                Err(e) => {
                    let msg = unslot(0, &crate::exception::describe_exception(&ctx, e));
                    errors.push(Diagnostic::error("js-syntax", name, Pos::new(1, 1), msg));
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

/// Serves JavaScript sources (by workflow path) while a program is compiled at load, under
/// slot 0's names.
struct SourceModules(Arc<BTreeMap<String, String>>);

impl Resolver for SourceModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attrs: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
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
    ) -> rquickjs::Result<Module<'js, Declared>> {
        let (_, path) = split_slot(name).ok_or_else(|| Error::new_loading(name))?;
        let source = self.0.get(path).ok_or_else(|| Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source.as_str())
    }
}
