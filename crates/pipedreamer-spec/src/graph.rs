//! The import graph: every module a workflow's nodes reach, read and parsed once, each import
//! resolved to a file, a Node builtin the sandbox provides, or one it forbids.
//!
//! Relative imports and bare package imports (`zod`, `lodash/fp`) resolve with Node's algorithm
//! (`node_modules` lookup, `package.json` `exports`/`imports` with conditions, `main`) through
//! `oxc_resolver`, whose file system here is the workflow's [`SourceProvider`]: nothing outside
//! the workflow directory is ever looked at (the resolver sees it mounted at [`ROOT`], and
//! anything else does not exist), and a link out of it is refused like any other read.
//!
//! The walk is bounded ([`MAX_FILES`], [`MAX_BYTES`]) rather than timed, so a huge
//! `node_modules` gives a clear diagnostic instead of a slow `validate`.

use crate::diagnostic::{Diagnostic, Pos};
use crate::js_check::{self, ParseAs};
use crate::model::{NodeSpec, Workflow};
use crate::source::{EntryKind, SourceError, SourceProvider};
use oxc_resolver::{FileMetadata, FileSystem, ResolveError, ResolveOptions, ResolverGeneric};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;

/// At most this many files in one graph.
pub const MAX_FILES: usize = 5_000;
/// At most this many bytes of source in one graph.
pub const MAX_BYTES: usize = 64 << 20;

/// Where the resolver sees the workflow directory. Only paths beneath it exist for it.
const ROOT: &str = "/workflow";

/// Conditions for `import` and `import()`, most specific first, as edge runtimes use them: a
/// package's worker/browser build needs no Node APIs, its `import` build is an ES module.
const IMPORT_CONDITIONS: &[&str] = &[
    "workerd", "worker", "browser", "import", "module", "default",
];
/// Conditions for `require()`.
const REQUIRE_CONDITIONS: &[&str] = &[
    "workerd", "worker", "browser", "require", "module", "default",
];

/// Every module the workflow's nodes reach, by path relative to the workflow directory
/// (normalized, `/`-separated: `nodes/a.ts`, `node_modules/zod/index.js`).
#[derive(Debug, Clone, Default)]
pub struct ModuleGraph {
    /// The modules.
    pub files: BTreeMap<String, ModuleFile>,
    /// The `package.json` files resolution read (`exports`, `main`, `"type"`): they ship with
    /// the modules so the engine resolves the same graph from the image.
    pub manifests: BTreeSet<String>,
}

impl ModuleGraph {
    /// Total size of the sources, in bytes.
    pub fn total_bytes(&self) -> usize {
        self.files.values().map(|f| f.source.len()).sum()
    }

    /// Whether `path` is a module or a manifest of the graph: a file the workflow needs.
    pub fn needs(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.manifests.contains(path)
    }

    /// Whether the graph needs any file beneath the directory `dir`.
    pub fn needs_under(&self, dir: &str) -> bool {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let files = self.files.range(prefix.clone()..).next().map(|(k, _)| k);
        let manifests = self.manifests.range(prefix.clone()..).next();
        files
            .into_iter()
            .chain(manifests)
            .any(|k| k.starts_with(&prefix))
    }

    /// Every file the workflow needs: modules and manifests, sorted, each once.
    pub fn needed(&self) -> BTreeSet<&str> {
        self.files
            .keys()
            .chain(&self.manifests)
            .map(String::as_str)
            .collect()
    }
}

/// One module of the graph.
#[derive(Debug, Clone)]
pub struct ModuleFile {
    /// How it loads.
    pub kind: ModuleKind,
    /// Its text as read (TypeScript not yet stripped).
    pub source: String,
    /// Its imports, in source order, each resolved. Imports that only warn (a package missing
    /// for a `require` inside a function) are left out: the call fails at run time.
    pub imports: Vec<ResolvedImport>,
}

/// How a module loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// `.ts`, `.mts`, `.mjs`; `.js` in a `"type": "module"` package or with `import`/`export`.
    EsModule,
    /// `.cjs`; `.js` in a package that is not `"type": "module"` and has no ESM syntax.
    CommonJs,
    /// `.json`: its value is the default export (or `module.exports`).
    Json,
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImport {
    /// As written.
    pub specifier: String,
    /// What it resolves to.
    pub target: ImportTarget,
    /// How it is written.
    pub form: ImportForm,
    /// Where, in the importing module.
    pub pos: Pos,
}

/// What an import resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportTarget {
    /// A module of the graph (a key of [`ModuleGraph::files`]).
    File(String),
    /// A Node builtin the sandbox provides.
    Builtin(NodeBuiltin),
    /// A Node builtin the sandbox refuses, as `node:<name>` (e.g. `node:fs`). Only a `require`
    /// inside a function or an `import()` may have this target (validation refuses the
    /// others); the call throws `NotCapable` when it runs.
    Forbidden(String),
}

/// How an import is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportForm {
    /// `import … from`, `export … from`.
    Static,
    /// `import("…")`.
    Dynamic,
    /// `require("…")`; `top_level` when it runs as the module loads, not inside a function or
    /// a `try` block.
    Require {
        /// Not inside any function or `try` block: its failure fails the module's load.
        top_level: bool,
    },
}

impl ImportForm {
    /// Whether the import happens when the module loads (so a failure fails the load).
    pub fn on_load(self) -> bool {
        matches!(self, Self::Static | Self::Require { top_level: true })
    }
}

/// The Node builtins the sandbox provides (safe, pure subsets). `node:x` and bare `x` both
/// name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeBuiltin {
    /// `node:buffer`.
    Buffer,
    /// `node:events`.
    Events,
    /// `node:util`.
    Util,
    /// `node:util/types`.
    UtilTypes,
    /// `node:url`.
    Url,
    /// `node:path` (POSIX).
    Path,
    /// `node:path/posix`.
    PathPosix,
    /// `node:crypto` (hashes, HMAC, random bytes and UUIDs, `timingSafeEqual`).
    Crypto,
    /// `node:string_decoder`.
    StringDecoder,
    /// `node:assert`.
    Assert,
    /// `node:assert/strict`.
    AssertStrict,
}

impl NodeBuiltin {
    /// All of them.
    pub const ALL: [Self; 11] = [
        Self::Buffer,
        Self::Events,
        Self::Util,
        Self::UtilTypes,
        Self::Url,
        Self::Path,
        Self::PathPosix,
        Self::Crypto,
        Self::StringDecoder,
        Self::Assert,
        Self::AssertStrict,
    ];

    /// The name without `node:` (`buffer`, `path/posix`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Buffer => "buffer",
            Self::Events => "events",
            Self::Util => "util",
            Self::UtilTypes => "util/types",
            Self::Url => "url",
            Self::Path => "path",
            Self::PathPosix => "path/posix",
            Self::Crypto => "crypto",
            Self::StringDecoder => "string_decoder",
            Self::Assert => "assert",
            Self::AssertStrict => "assert/strict",
        }
    }

    /// The builtin `name` names (`node:` prefix optional).
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.strip_prefix("node:").unwrap_or(name);
        Self::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// Why the sandbox refuses a Node builtin, for the diagnostic.
fn why_forbidden(name: &str) -> &'static str {
    match name.strip_prefix("node:").unwrap_or(name) {
        "fs" | "fs/promises" | "module" | "sqlite" => "the sandbox has no file system",
        "child_process" | "cluster" | "worker_threads" | "process" | "os" | "v8" | "vm"
        | "inspector" | "trace_events" | "perf_hooks" | "repl" | "tty" | "wasi" => {
            "the sandbox has no process, thread or host access"
        }
        "net" | "tls" | "dgram" | "dns" | "dns/promises" | "http" | "https" | "http2" => {
            "the sandbox has no sockets; HTTP goes through `ctx.fetch` (or the global `fetch`), which the workflow's `fetch.allow` governs"
        }
        _ => "the sandbox does not provide it",
    }
}

/// Walks the import graph from every node file. Problems come back as diagnostics; the graph
/// holds every file that could be read and parsed.
pub(crate) fn walk(
    wf: &Workflow,
    file: &str,
    source: &dyn SourceProvider,
) -> (ModuleGraph, Vec<Diagnostic>) {
    let mut walker = Walker::new(source);
    for node in &wf.nodes {
        if !node.file.is_empty() {
            walker.entry(node, file);
        }
    }
    walker.run();
    let mut graph = walker.graph;
    graph.manifests.append(&mut walker.manifests);
    if let Ok(read) = walker.resolver_manifests.lock() {
        graph.manifests.extend(read.iter().cloned());
    }
    (graph, walker.out)
}

/// Where a file was first reached from, for the import chain in diagnostics.
#[derive(Debug, Clone)]
enum Origin {
    /// A node's file.
    Node(String),
    /// Imported by a module as `specifier`.
    Import { importer: String, specifier: String },
}

struct Walker<'s> {
    source: &'s dyn SourceProvider,
    /// Resolvers for `import` and `require`, sharing one cache; built on the first import.
    resolvers: Option<(ResolverGeneric<SourceFs>, ResolverGeneric<SourceFs>)>,
    graph: ModuleGraph,
    /// Files to read, with how they parse.
    queue: VecDeque<(String, ParseAs)>,
    origin: HashMap<String, Origin>,
    /// `"type": "module"` of the nearest `package.json`, by directory.
    package_type: HashMap<String, bool>,
    /// The `package.json` files read to tell CommonJS from ESM.
    manifests: BTreeSet<String>,
    /// The `package.json` files the resolvers read.
    resolver_manifests: Arc<Mutex<BTreeSet<String>>>,
    bytes: usize,
    too_large: bool,
    out: Vec<Diagnostic>,
}

impl<'s> Walker<'s> {
    fn new(source: &'s dyn SourceProvider) -> Self {
        Self {
            source,
            resolvers: None,
            graph: ModuleGraph::default(),
            queue: VecDeque::new(),
            origin: HashMap::new(),
            package_type: HashMap::new(),
            manifests: BTreeSet::new(),
            resolver_manifests: Arc::default(),
            bytes: 0,
            too_large: false,
            out: Vec::new(),
        }
    }

    /// A node's file: checked as written in `workflow.yaml`, an ES module with a default export.
    fn entry(&mut self, node: &NodeSpec, workflow_file: &str) {
        let path = node.file.trim_start_matches("./");
        if !js_check::is_module_path(path) {
            self.out.push(
                Diagnostic::error(
                    "bad-node-file",
                    workflow_file,
                    node.pos.file,
                    format!("node file `{}` is not a .ts or .js module", node.file),
                )
                .with_hint("node files end in .ts, .mts, .js or .mjs"),
            );
            return;
        }
        if let Err(e) = self.source.kind(path).and_then(|k| match k {
            EntryKind::File => Ok(()),
            EntryKind::Dir => Err(SourceError::Unreadable("it is a directory".into())),
        }) {
            let hint = match e {
                SourceError::NotFound => format!(
                    "create `{path}` with `export default async function run(ctx, input) {{ ... }}`"
                ),
                SourceError::OutsideDirectory => {
                    "node files must live inside the workflow directory".into()
                }
                SourceError::Unreadable(_) => {
                    "check the file's permissions and that it is UTF-8".into()
                }
            };
            self.out.push(
                Diagnostic::error(
                    "missing-node-file",
                    workflow_file,
                    node.pos.file,
                    format!("node `{}`: cannot read `{}`: {e}", node.id, node.file),
                )
                .with_hint(hint),
            );
            return;
        }
        if self.origin.contains_key(path) {
            return;
        }
        self.origin
            .insert(path.to_owned(), Origin::Node(node.id.clone()));
        // Node files are ES modules whatever the package says: they `export default`.
        let parse = match path.ends_with(".ts") || path.ends_with(".mts") {
            true => ParseAs::TypeScript,
            false => ParseAs::Module,
        };
        self.queue.push_back((path.to_owned(), parse));
    }

    fn run(&mut self) {
        while let Some((path, parse)) = self.queue.pop_front() {
            if self.too_large {
                return;
            }
            self.module(path, parse);
        }
    }

    fn module(&mut self, path: String, parse: ParseAs) {
        let text = match self.source.read(&path) {
            Ok(t) => t,
            Err(e) => {
                // It exists (resolution or the node check saw it), so it is unreadable (not
                // UTF-8, no permission) or it changed meanwhile.
                let (importer, pos) = self.reached_at(&path);
                self.out.push(
                    Diagnostic::error(
                        "unreadable-module",
                        &importer,
                        pos,
                        format!("cannot read `{path}`: {e}"),
                    )
                    .with_hint("check the file's permissions and that it is UTF-8 text"),
                );
                return;
            }
        };
        self.bytes += text.len();
        if self.graph.files.len() >= MAX_FILES || self.bytes > MAX_BYTES {
            self.too_large = true;
            let (importer, pos) = self.reached_at(&path);
            self.out.push(
                Diagnostic::error(
                    "graph-too-large",
                    &importer,
                    pos,
                    format!(
                        "the modules the nodes import exceed {} files or {} MiB (at `{path}`)",
                        MAX_FILES,
                        MAX_BYTES >> 20
                    ),
                )
                .with_hint(format!(
                    "import less: a package's deep entry point (e.g. `lodash-es/get.js`, not `lodash`) pulls in fewer files; chain: {}",
                    self.chain(&path)
                )),
            );
            return;
        }
        let entry = matches!(self.origin.get(&path), Some(Origin::Node(_)));
        if path.ends_with(".json") {
            if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
                self.out.push(
                    Diagnostic::error(
                        "bad-json",
                        &path,
                        Pos::new(e.line().max(1), e.column().max(1)),
                        format!("`{path}` is not valid JSON: {e}"),
                    )
                    .with_hint(format!("imported through {}", self.chain(&path))),
                );
            }
            self.graph.files.insert(
                path,
                ModuleFile {
                    kind: ModuleKind::Json,
                    source: text,
                    imports: Vec::new(),
                },
            );
            return;
        }
        let facts = js_check::inspect_as(&text, parse);
        let kind = match parse {
            ParseAs::TypeScript | ParseAs::Module => ModuleKind::EsModule,
            ParseAs::CommonJs => ModuleKind::CommonJs,
            ParseAs::Ambiguous if facts.has_module_syntax => ModuleKind::EsModule,
            ParseAs::Ambiguous => ModuleKind::CommonJs,
        };
        for (pos, msg) in &facts.syntax_errors {
            let hint = match path.starts_with("node_modules/") || path.contains("/node_modules/") {
                true => format!(
                    "the package's file does not parse (imported through {}); try another version of the package",
                    self.chain(&path)
                ),
                false => "fix the syntax error; `pipedreamer dev` reloads on save".into(),
            };
            self.out
                .push(Diagnostic::error("js-syntax", &path, *pos, msg.clone()).with_hint(hint));
        }
        if entry && facts.syntax_errors.is_empty() && !facts.has_default_export {
            self.out.push(
                Diagnostic::error(
                    "no-default-export",
                    &path,
                    Pos::new(1, 1),
                    "node module has no default export",
                )
                .with_hint("add `export default async function run(ctx, input) { ... }`"),
            );
        }
        let requests = facts
            .imports
            .iter()
            .map(|(s, p)| (s, *p, ImportForm::Static))
            .chain(
                facts
                    .dynamic_imports
                    .iter()
                    .map(|(s, p)| (s, *p, ImportForm::Dynamic)),
            )
            .chain(
                facts
                    .requires
                    .iter()
                    .map(|(s, p, top)| (s, *p, ImportForm::Require { top_level: *top })),
            );
        let mut imports = Vec::new();
        for (specifier, pos, form) in requests {
            if let Some(target) = self.import(&path, specifier, pos, form) {
                imports.push(ResolvedImport {
                    specifier: specifier.clone(),
                    target,
                    form,
                    pos,
                });
            }
        }
        imports.sort_by_key(|i| i.pos);
        self.graph.files.insert(
            path,
            ModuleFile {
                kind,
                source: text,
                imports,
            },
        );
    }

    /// Resolves one import, queues a newly reached file, and reports what is wrong. `None` when
    /// it resolves to nothing (reported).
    fn import(
        &mut self,
        importer: &str,
        specifier: &str,
        pos: Pos,
        form: ImportForm,
    ) -> Option<ImportTarget> {
        let (source, read) = (self.source, &self.resolver_manifests);
        let (esm, cjs) = self
            .resolvers
            .get_or_insert_with(|| resolvers(source, read.clone()));
        let resolver = match form {
            ImportForm::Require { .. } => &*cjs,
            ImportForm::Static | ImportForm::Dynamic => &*esm,
        };
        let dir = Path::new(ROOT).join(importer);
        let resolved = resolver.resolve(dir.parent().unwrap_or(Path::new(ROOT)), specifier);
        match resolved {
            Ok(resolution) => {
                let Some(target) = relative(resolution.path()) else {
                    self.unresolved(importer, specifier, pos, form, None);
                    return None;
                };
                if !self.origin.contains_key(&target) {
                    self.origin.insert(
                        target.clone(),
                        Origin::Import {
                            importer: importer.to_owned(),
                            specifier: specifier.to_owned(),
                        },
                    );
                    let parse = self.parse_as(&target);
                    match parse {
                        Some(parse) => self.queue.push_back((target.clone(), parse)),
                        None if target.ends_with(".json") => {
                            self.queue.push_back((target.clone(), ParseAs::Module))
                        }
                        None => {
                            self.out.push(
                                Diagnostic::error(
                                    "bad-import",
                                    importer,
                                    pos,
                                    format!("cannot import `{specifier}` (`{target}`): only JavaScript, TypeScript and JSON modules can be imported"),
                                )
                                .with_hint(format!(
                                    "native addons and other files cannot run in the sandbox; chain: {}",
                                    self.chain(importer)
                                )),
                            );
                            return None;
                        }
                    }
                }
                Some(ImportTarget::File(target))
            }
            Err(ResolveError::Builtin { resolved, .. }) => {
                if let Some(builtin) = NodeBuiltin::from_name(&resolved) {
                    return Some(ImportTarget::Builtin(builtin));
                }
                self.forbidden(importer, specifier, &resolved, pos, form);
                Some(ImportTarget::Forbidden(resolved))
            }
            Err(e) => {
                self.unresolved(importer, specifier, pos, form, Some(e));
                None
            }
        }
    }

    /// How `path` parses, from its extension and (for `.js`) the nearest `package.json`.
    /// `None` for files that are not modules (`.json` is handled apart).
    fn parse_as(&mut self, path: &str) -> Option<ParseAs> {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        Some(match ext {
            "ts" | "mts" => ParseAs::TypeScript,
            "mjs" => ParseAs::Module,
            "cjs" => ParseAs::CommonJs,
            "js" if self.in_module_package(path) => ParseAs::Module,
            "js" => ParseAs::Ambiguous,
            _ => return None,
        })
    }

    /// Whether the `package.json` nearest to `path` says `"type": "module"`.
    fn in_module_package(&mut self, path: &str) -> bool {
        let mut dirs = Vec::new();
        let mut dir = path.rsplit_once('/').map_or("", |(d, _)| d);
        let found = loop {
            if let Some(&known) = self.package_type.get(dir) {
                break known;
            }
            dirs.push(dir.to_owned());
            let manifest = match dir {
                "" => "package.json".to_owned(),
                d => format!("{d}/package.json"),
            };
            if let Ok(text) = self.source.read(&manifest) {
                self.manifests.insert(manifest);
                // An unparsable manifest is the resolver's to report; here it is not a module.
                break serde_json::from_str::<serde_json::Value>(&text)
                    .is_ok_and(|v| v["type"] == "module");
            }
            match dir {
                "" => break false,
                d => dir = d.rsplit_once('/').map_or("", |(p, _)| p),
            }
        };
        for d in dirs {
            self.package_type.insert(d, found);
        }
        found
    }

    fn forbidden(
        &mut self,
        importer: &str,
        specifier: &str,
        resolved: &str,
        pos: Pos,
        form: ImportForm,
    ) {
        let why = why_forbidden(resolved);
        let chain = format!("{} → `{specifier}`", self.chain(importer));
        let d = if form.on_load() {
            Diagnostic::error(
                "forbidden-import",
                importer,
                pos,
                format!("cannot import `{specifier}`: {why}"),
            )
            .with_hint(format!(
                "imported through {chain}; use `ctx.fetch` for HTTP and `ctx.secrets` for configuration, or a package that does not need `{resolved}`"
            ))
        } else {
            let how = match form {
                ImportForm::Dynamic => "`import()`ed",
                _ => "`require`d inside a function or a `try` block",
            };
            Diagnostic::warning(
                "forbidden-import-at-run-time",
                importer,
                pos,
                format!("`{specifier}` is {how}: the call throws `NotCapable` if it runs ({why})"),
            )
            .with_hint(format!(
                "reached through {chain}; fine when that code path is Node-only"
            ))
        };
        self.out.push(d);
    }

    /// An import that resolves to nothing: a missing package (with the command to install it),
    /// a missing file, or a package that does not export the path.
    fn unresolved(
        &mut self,
        importer: &str,
        specifier: &str,
        pos: Pos,
        form: ImportForm,
        error: Option<ResolveError>,
    ) {
        let chain = self.chain(importer);
        let relative_spec = specifier.starts_with("./") || specifier.starts_with("../");
        let (code, message, hint) = if relative_spec || specifier.starts_with('/') {
            match js_check::resolve_import(importer, specifier) {
                Some(target) => {
                    // The resolver sees a link out as nothing; say what it is.
                    let why = match self.source.kind(&target) {
                        Err(e @ SourceError::OutsideDirectory) => e.to_string(),
                        _ => SourceError::NotFound.to_string(),
                    };
                    (
                        "bad-import",
                        format!("cannot import `{specifier}` (`{target}`): {why}"),
                        "imports need the full file name, including the extension".to_owned(),
                    )
                }
                None => (
                    "bad-import",
                    format!("cannot import `{specifier}`: the path leaves the workflow directory"),
                    "modules must live inside the workflow directory (or its `node_modules`)"
                        .to_owned(),
                ),
            }
        } else {
            let package = package_name(specifier);
            match self.package_dir(importer, package) {
                Ok(dir) => {
                    let detail = error.map_or_else(|| "not found".to_owned(), |e| describe(&e));
                    (
                        "bad-import",
                        format!("cannot import `{specifier}` from package `{package}` (`{dir}`): {detail}"),
                        format!(
                            "check the package's documentation for its entry points (its `package.json` `exports`); imported through {chain}"
                        ),
                    )
                }
                Err(SourceError::OutsideDirectory) => (
                    "missing-package",
                    format!("cannot import `{specifier}`: `node_modules/{package}` leads outside the workflow directory"),
                    "nothing outside the workflow directory is read; install the package as a real directory (`npm ci`, not `npm link`)".to_owned(),
                ),
                Err(_) => (
                    "missing-package",
                    format!("cannot import `{specifier}`: package `{package}` is not installed"),
                    format!("{}; imported through {chain}", self.install_hint(package)),
                ),
            }
        };
        let d = match form.on_load() {
            true => Diagnostic::error(code, importer, pos, message),
            false => Diagnostic::warning(
                code,
                importer,
                pos,
                format!("{message}; the call fails if it runs"),
            ),
        };
        self.out.push(d.with_hint(hint));
    }

    /// The directory of `package` as Node would find it from `importer`.
    fn package_dir(&self, importer: &str, package: &str) -> Result<String, SourceError> {
        let mut dir = importer.rsplit_once('/').map_or("", |(d, _)| d);
        let mut last = Err(SourceError::NotFound);
        loop {
            let candidate = match dir {
                "" => format!("node_modules/{package}"),
                d if d.ends_with("/node_modules") || d == "node_modules" => {
                    format!("{d}/{package}")
                }
                d => format!("{d}/node_modules/{package}"),
            };
            match self.source.kind(&candidate) {
                Ok(EntryKind::Dir) => return Ok(candidate),
                Err(SourceError::OutsideDirectory) => last = Err(SourceError::OutsideDirectory),
                _ => {}
            }
            if dir.is_empty() {
                return last;
            }
            dir = dir.rsplit_once('/').map_or("", |(p, _)| p);
        }
    }

    /// The command that installs `package`: `npm ci` when a lockfile is there but
    /// `node_modules` is not, else `npm install <package>`.
    fn install_hint(&self, package: &str) -> String {
        let exists = |p: &str| self.source.kind(p).is_ok();
        if !exists("node_modules") && exists("package.json") {
            if exists("package-lock.json") {
                return "`node_modules` is missing: run `npm ci` in the workflow directory".into();
            }
            return "`node_modules` is missing: run `npm install` in the workflow directory".into();
        }
        format!("run `npm install {package}` in the workflow directory")
    }

    /// The file and position from which `path` was first reached.
    fn reached_at(&self, path: &str) -> (String, Pos) {
        match self.origin.get(path) {
            Some(Origin::Import {
                importer,
                specifier,
            }) => {
                let pos = self
                    .graph
                    .files
                    .get(importer)
                    .and_then(|f| f.imports.iter().find(|i| &i.specifier == specifier))
                    .map_or(Pos::new(1, 1), |i| i.pos);
                (importer.clone(), pos)
            }
            _ => (path.to_owned(), Pos::new(1, 1)),
        }
    }

    /// How `path` was reached from a node: ``node `a` (nodes/a.ts) → `zod` (node_modules/zod/index.js)``.
    fn chain(&self, path: &str) -> String {
        let mut steps = Vec::new();
        let mut at = path.to_owned();
        // The origin map is a tree (first discovery wins), so this ends; the bound is a guard.
        for _ in 0..=MAX_FILES {
            match self.origin.get(&at) {
                Some(Origin::Import {
                    importer,
                    specifier,
                }) => {
                    steps.push(format!("`{specifier}` ({at})"));
                    at = importer.clone();
                }
                Some(Origin::Node(id)) => {
                    steps.push(format!("node `{id}` ({at})"));
                    break;
                }
                None => {
                    steps.push(at.clone());
                    break;
                }
            }
        }
        steps.reverse();
        steps.join(" → ")
    }
}

/// `zod` of `zod/v4`, `@scope/pkg` of `@scope/pkg/sub`.
fn package_name(specifier: &str) -> &str {
    let mut slashes = specifier.match_indices('/').map(|(i, _)| i);
    let end = match specifier.starts_with('@') {
        true => slashes.nth(1),
        false => slashes.next(),
    };
    end.map_or(specifier, |e| &specifier[..e])
}

/// A resolver error in workflow terms (paths relative to the workflow directory).
fn describe(e: &ResolveError) -> String {
    e.to_string().replace(&format!("{ROOT}/"), "")
}

/// A path the resolver produced, relative to the workflow directory; `None` outside it.
fn relative(path: &Path) -> Option<String> {
    let rest = path.strip_prefix(ROOT).ok()?;
    let mut parts = Vec::new();
    for c in rest.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// The resolvers for `import` and `require`; `manifests` collects the `package.json` files
/// they read.
fn resolvers(
    source: &dyn SourceProvider,
    manifests: Arc<Mutex<BTreeSet<String>>>,
) -> (ResolverGeneric<SourceFs>, ResolverGeneric<SourceFs>) {
    let strings = |c: &[&str]| c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let import = ResolveOptions {
        condition_names: strings(IMPORT_CONDITIONS),
        // `module` is the ES build of packages written for bundlers, as edge runtimes use it.
        main_fields: strings(&["module", "main"]),
        extensions: strings(&[".js", ".json", ".mjs", ".cjs"]),
        // Node builtins come back as `ResolveError::Builtin`, bare (`fs`) or not (`node:fs`),
        // before any `node_modules` lookup, as in Node.
        builtin_modules: true,
        // `NODE_PATH` names directories outside the workflow.
        node_path: false,
        cwd: Some(PathBuf::from(ROOT)),
        ..ResolveOptions::default()
    };
    let require = ResolveOptions {
        condition_names: strings(REQUIRE_CONDITIONS),
        main_fields: strings(&["main"]),
        ..import.clone()
    };
    let fs = SourceFs {
        source: source.shared(),
        manifests,
    };
    let esm = ResolverGeneric::new_with_file_system(fs, import);
    let cjs = esm.clone_with_options(require);
    (esm, cjs)
}

/// The workflow directory as `oxc_resolver` sees it: mounted at [`ROOT`], read through the
/// [`SourceProvider`], and nothing else.
struct SourceFs {
    source: Arc<dyn SourceProvider + Send + Sync>,
    /// The `package.json` files read (the resolver reads nothing else).
    manifests: Arc<Mutex<BTreeSet<String>>>,
}

impl SourceFs {
    fn rel(path: &Path) -> io::Result<String> {
        relative(path).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "outside the workflow directory")
        })
    }
}

fn io_error(e: SourceError) -> io::Error {
    let kind = match e {
        SourceError::NotFound | SourceError::OutsideDirectory => io::ErrorKind::NotFound,
        SourceError::Unreadable(_) => io::ErrorKind::InvalidData,
    };
    io::Error::new(kind, e.to_string())
}

impl FileSystem for SourceFs {
    /// An empty file system (the trait wants one; we always pass ours).
    fn new() -> Self {
        Self {
            source: Arc::new(crate::source::MemorySource::default()),
            manifests: Arc::default(),
        }
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.read_to_string(path).map(String::into_bytes)
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        let rel = Self::rel(path)?;
        let text = self.source.read(&rel).map_err(io_error)?;
        if rel == "package.json" || rel.ends_with("/package.json") {
            // A poisoned lock only loses the list; the read itself is fine.
            if let Ok(mut read) = self.manifests.lock() {
                read.insert(rel);
            }
        }
        Ok(text)
    }

    fn metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        let kind = self.source.kind(&Self::rel(path)?).map_err(io_error)?;
        Ok(FileMetadata::new(
            kind == EntryKind::File,
            kind == EntryKind::Dir,
            false,
        ))
    }

    /// The resolver canonicalizes a path's parents first, so a path whose canonical name
    /// differs from itself is a link; [`Self::read_link`] then names the canonical path.
    fn symlink_metadata(&self, path: &Path) -> io::Result<FileMetadata> {
        let rel = Self::rel(path)?;
        let meta = self.metadata(path)?;
        let link = self.source.canonical(&rel).map_err(io_error)? != rel;
        Ok(FileMetadata::new(meta.is_file(), meta.is_dir(), link))
    }

    fn read_link(&self, path: &Path) -> Result<PathBuf, ResolveError> {
        let rel = Self::rel(path)?;
        let canonical = self.source.canonical(&rel).map_err(io_error)?;
        Ok(Path::new(ROOT).join(canonical))
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let rel = Self::rel(path)?;
        let canonical = self.source.canonical(&rel).map_err(io_error)?;
        Ok(Path::new(ROOT).join(canonical))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::MemorySource;
    use crate::{Checked, Severity};

    const WORKFLOW: &str = "name: w\nversion: \"1\"\nnodes:\n  - {id: a, file: nodes/a.ts}\n";

    fn check(files: &[(&str, &str)]) -> Checked {
        let mut all = vec![("workflow.yaml", WORKFLOW)];
        all.extend_from_slice(files);
        crate::check(&MemorySource::from_pairs(all))
    }

    fn node(body: &str) -> String {
        format!(
            "{body}\nexport default async function run(ctx: any, input: any) {{ return input; }}\n"
        )
    }

    fn codes(c: &Checked) -> Vec<(Severity, &'static str, String, usize)> {
        c.diagnostics
            .iter()
            .map(|d| (d.severity, d.code, d.file.clone(), d.pos.line))
            .collect()
    }

    fn imports_of<'g>(g: &'g ModuleGraph, path: &str) -> Vec<(&'g str, &'g ImportTarget)> {
        g.files[path]
            .imports
            .iter()
            .map(|i| (i.specifier.as_str(), &i.target))
            .collect()
    }

    /// `exports` conditions in our order: `browser` beats `import` and `node`; `require()` takes
    /// the `require` entry; subpaths too.
    #[test]
    fn exports_conditions_pick_the_worker_build() {
        let pkg = r#"{"name":"pkg","exports":{".":{"node":"./node.js","browser":"./browser.mjs","import":"./esm.mjs","require":"./cjs.cjs"},"./sub":{"import":"./sub.mjs","require":"./sub.cjs"}}}"#;
        let a = node("import p from 'pkg';\nimport s from 'pkg/sub';\nimport c from './c.cjs';");
        let c = check(&[
            ("nodes/a.ts", &a),
            (
                "nodes/c.cjs",
                "const s = require('pkg/sub');\nmodule.exports = s;\n",
            ),
            ("node_modules/pkg/package.json", pkg),
            ("node_modules/pkg/browser.mjs", "export default 1;"),
            ("node_modules/pkg/sub.mjs", "export default 2;"),
            ("node_modules/pkg/sub.cjs", "module.exports = 3;"),
        ]);
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        let file = |p: &str| ImportTarget::File(p.to_owned());
        assert_eq!(
            imports_of(&r.modules, "nodes/a.ts"),
            [
                ("pkg", &file("node_modules/pkg/browser.mjs")),
                ("pkg/sub", &file("node_modules/pkg/sub.mjs")),
                ("./c.cjs", &file("nodes/c.cjs")),
            ]
        );
        assert_eq!(
            imports_of(&r.modules, "nodes/c.cjs"),
            [("pkg/sub", &file("node_modules/pkg/sub.cjs"))]
        );
        assert_eq!(
            r.modules.files["nodes/c.cjs"].imports[0].form,
            ImportForm::Require { top_level: true }
        );
        assert_eq!(r.modules.files.len(), 5, "{:?}", r.modules.files.keys());
        // The manifest that decided it ships with the modules.
        assert!(
            r.modules.needs("node_modules/pkg/package.json"),
            "{:?}",
            r.modules.manifests
        );
        assert!(r.modules.needs_under("node_modules/pkg"));
        assert!(!r.modules.needs_under("node_modules/pk"));
    }

    /// `.js` is CommonJS unless its package says `"type": "module"` or it has ESM syntax; JSON
    /// imports are modules of their own.
    #[test]
    fn module_kinds_follow_extension_package_type_and_syntax() {
        let a = node(
            "import cjs from 'old';\nimport esm from 'new';\nimport mixed from 'mixed';\nimport data from './data.json';",
        );
        let c = check(&[
            ("nodes/a.ts", &a),
            ("nodes/data.json", r#"{"x": 1}"#),
            (
                "node_modules/old/package.json",
                r#"{"main":"lib/index.js"}"#,
            ),
            (
                "node_modules/old/lib/index.js",
                "var dep = require('./dep');\nmodule.exports = function () { return require('./lazy.json'); };\n",
            ),
            ("node_modules/old/lib/dep.js", "module.exports = 1;"),
            ("node_modules/old/lib/lazy.json", "[1]"),
            (
                "node_modules/new/package.json",
                r#"{"type":"module","main":"index.js"}"#,
            ),
            ("node_modules/new/index.js", "export default 1;"),
            ("node_modules/mixed/package.json", r#"{"main":"index.js"}"#),
            (
                "node_modules/mixed/index.js",
                "export const y = 2; export default y;",
            ),
        ]);
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        let kind = |p: &str| r.modules.files[p].kind;
        assert_eq!(kind("nodes/a.ts"), ModuleKind::EsModule);
        assert_eq!(kind("nodes/data.json"), ModuleKind::Json);
        assert_eq!(kind("node_modules/old/lib/index.js"), ModuleKind::CommonJs);
        assert_eq!(kind("node_modules/old/lib/dep.js"), ModuleKind::CommonJs);
        assert_eq!(kind("node_modules/old/lib/lazy.json"), ModuleKind::Json);
        assert_eq!(kind("node_modules/new/index.js"), ModuleKind::EsModule);
        assert_eq!(kind("node_modules/mixed/index.js"), ModuleKind::EsModule);
        let forms: Vec<ImportForm> = r.modules.files["node_modules/old/lib/index.js"]
            .imports
            .iter()
            .map(|i| i.form)
            .collect();
        assert_eq!(
            forms,
            [
                ImportForm::Require { top_level: true },
                ImportForm::Require { top_level: false }
            ]
        );
        assert!(c.diagnostics.is_empty(), "{:#?}", c.diagnostics);
    }

    #[test]
    fn supported_builtins_resolve_bare_or_prefixed() {
        let a = node(
            "import { Buffer } from 'node:buffer';\nimport path from 'path';\nimport { posix } from 'node:path/posix';\nimport legacy from 'legacy';",
        );
        let c = check(&[
            ("nodes/a.ts", &a),
            (
                "node_modules/legacy/index.js",
                "const { EventEmitter } = require('events');\nmodule.exports = EventEmitter;",
            ),
        ]);
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        let b = |x| ImportTarget::Builtin(x);
        let targets: Vec<_> = imports_of(&r.modules, "nodes/a.ts")
            .into_iter()
            .map(|(_, t)| t.clone())
            .take(3)
            .collect();
        assert_eq!(
            targets,
            [
                b(NodeBuiltin::Buffer),
                b(NodeBuiltin::Path),
                b(NodeBuiltin::PathPosix)
            ]
        );
        assert_eq!(
            imports_of(&r.modules, "node_modules/legacy/index.js"),
            [("events", &b(NodeBuiltin::Events))]
        );
    }

    /// A missing package names itself and the command that installs it; with a lockfile but
    /// no `node_modules` the command is `npm ci`.
    #[test]
    fn missing_packages_say_how_to_install_them() {
        let a = node("import { z } from 'zod';\nimport x from '@scope/pkg/sub';");
        let c = check(&[("nodes/a.ts", &a), ("node_modules/other/index.js", "")]);
        let d = &c.diagnostics;
        assert_eq!(
            codes(&c),
            [
                (Severity::Error, "missing-package", "nodes/a.ts".into(), 1),
                (Severity::Error, "missing-package", "nodes/a.ts".into(), 2),
            ]
        );
        assert_eq!(
            d[0].message,
            "cannot import `zod`: package `zod` is not installed"
        );
        assert!(
            d[0].hint
                .as_deref()
                .unwrap()
                .starts_with("run `npm install zod` in the workflow directory"),
            "{:?}",
            d[0].hint
        );
        assert!(
            d[1].hint
                .as_deref()
                .unwrap()
                .starts_with("run `npm install @scope/pkg`"),
            "{:?}",
            d[1].hint
        );
        assert!(c.resolved.is_none());

        let c = check(&[
            ("nodes/a.ts", &a),
            ("package.json", "{}"),
            ("package-lock.json", "{}"),
        ]);
        assert!(
            c.diagnostics[0]
                .hint
                .as_deref()
                .unwrap()
                .starts_with("`node_modules` is missing: run `npm ci`"),
            "{:?}",
            c.diagnostics[0].hint
        );
    }

    /// A top-level import of a forbidden builtin deep inside a package is an error at that file,
    /// with the chain from the node; the same `require` inside a function only warns.
    #[test]
    fn forbidden_builtins_show_the_chain_or_warn_when_lazy() {
        let a = node("import lib from 'lib';");
        let c = check(&[
            ("nodes/a.ts", &a),
            ("node_modules/lib/package.json", r#"{"main":"index.js"}"#),
            (
                "node_modules/lib/index.js",
                "module.exports = require('./io');",
            ),
            (
                "node_modules/lib/io.js",
                "const fs = require('fs');\nfunction later() { return require('child_process'); }\nlet net; try { net = require('net'); } catch {}\nmodule.exports = { fs, later, net };",
            ),
        ]);
        assert_eq!(
            codes(&c),
            [
                (
                    Severity::Error,
                    "forbidden-import",
                    "node_modules/lib/io.js".into(),
                    1
                ),
                (
                    Severity::Warning,
                    "forbidden-import-at-run-time",
                    "node_modules/lib/io.js".into(),
                    2
                ),
                (
                    Severity::Warning,
                    "forbidden-import-at-run-time",
                    "node_modules/lib/io.js".into(),
                    3
                ),
            ]
        );
        let err = &c.diagnostics[0];
        assert_eq!(
            err.message,
            "cannot import `fs`: the sandbox has no file system"
        );
        let hint = err.hint.as_deref().unwrap();
        assert!(
            hint.starts_with("imported through node `a` (nodes/a.ts) → `lib` (node_modules/lib/index.js) → `./io` (node_modules/lib/io.js) → `fs`;"),
            "{hint}"
        );
        assert!(
            c.diagnostics[1].message.contains("throws `NotCapable`"),
            "{}",
            c.diagnostics[1].message
        );

        // Without the top-level one the workflow is valid, and the lazy import is in the graph.
        let c = check(&[
            ("nodes/a.ts", &a),
            (
                "node_modules/lib/index.js",
                "exports.later = () => require('node:net');",
            ),
        ]);
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        assert_eq!(r.warnings.len(), 1);
        assert_eq!(
            imports_of(&r.modules, "node_modules/lib/index.js"),
            [("node:net", &ImportTarget::Forbidden("node:net".into()))]
        );
    }

    /// An optional dependency (`try { require(…) } catch {}`, or a `require` in a function)
    /// that is not installed only warns: the package handles its absence.
    #[test]
    fn optional_dependencies_may_be_missing() {
        let a = node("import f from 'fetchy';");
        let c = check(&[
            ("nodes/a.ts", &a),
            (
                "node_modules/fetchy/index.js",
                "let enc; try { enc = require('encoding'); } catch {}\nmodule.exports = () => require('iconv');",
            ),
        ]);
        assert_eq!(
            codes(&c),
            [
                (
                    Severity::Warning,
                    "missing-package",
                    "node_modules/fetchy/index.js".into(),
                    1
                ),
                (
                    Severity::Warning,
                    "missing-package",
                    "node_modules/fetchy/index.js".into(),
                    2
                ),
            ]
        );
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        assert!(
            r.modules.files["node_modules/fetchy/index.js"]
                .imports
                .is_empty()
        );
    }

    #[test]
    fn relative_imports_keep_their_diagnostics() {
        let a = node("import x from './missing.ts';\nimport y from '../../etc/passwd';");
        let c = check(&[("nodes/a.ts", &a)]);
        let messages: Vec<&str> = c.diagnostics.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "cannot import `./missing.ts` (`nodes/missing.ts`): file not found",
                "cannot import `../../etc/passwd`: the path leaves the workflow directory",
            ]
        );
    }

    #[test]
    fn packages_that_do_not_export_a_path_say_so() {
        let a = node("import x from 'pkg/internal.js';");
        let c = check(&[
            ("nodes/a.ts", &a),
            (
                "node_modules/pkg/package.json",
                r#"{"exports":{".":"./index.js"}}"#,
            ),
            ("node_modules/pkg/index.js", "export default 1"),
            ("node_modules/pkg/internal.js", "export default 2"),
        ]);
        assert_eq!(c.diagnostics.len(), 1, "{:#?}", c.diagnostics);
        assert!(
            c.diagnostics[0].message.contains("is not exported"),
            "{}",
            c.diagnostics[0].message
        );
    }

    #[test]
    fn the_graph_is_bounded() {
        let mut files: Vec<(String, String)> = (0..MAX_FILES + 5)
            .map(|i| (format!("lib/{i}.js"), format!("import './{}.js';", i + 1)))
            .collect();
        files.push(("nodes/a.ts".into(), node("import '../lib/0.js';")));
        let all = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .chain([("workflow.yaml", WORKFLOW)]);
        let c = crate::check(&MemorySource::from_pairs(all));
        let too_large: Vec<_> = c
            .diagnostics
            .iter()
            .filter(|d| d.code == "graph-too-large")
            .collect();
        assert_eq!(
            too_large.len(),
            1,
            "{:#?}",
            &c.diagnostics[..3.min(c.diagnostics.len())]
        );
        assert!(c.resolved.is_none());
    }

    /// A package linked out of the workflow directory is never read; links inside are followed
    /// and known by their real path (pnpm's layout).
    #[test]
    fn links_out_are_refused_links_inside_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(
            outside.path().join("index.js"),
            "module.exports = 'secret';",
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let write = |p: &str, t: &str| {
            let path = d.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, t).unwrap();
        };
        write("workflow.yaml", WORKFLOW);
        write(
            "nodes/a.ts",
            &node("import evil from 'evil';\nimport good from 'good';"),
        );
        write(
            "node_modules/.pnpm/good@1/node_modules/good/index.js",
            "module.exports = require('dep');",
        );
        write(
            "node_modules/.pnpm/good@1/node_modules/dep/index.js",
            "module.exports = 1;",
        );
        std::os::unix::fs::symlink(outside.path(), d.path().join("node_modules/evil")).unwrap();
        std::os::unix::fs::symlink(
            ".pnpm/good@1/node_modules/good",
            d.path().join("node_modules/good"),
        )
        .unwrap();
        let c = crate::check(&crate::source::DirSource::new(d.path()));
        assert_eq!(
            codes(&c),
            [(Severity::Error, "missing-package", "nodes/a.ts".into(), 1)]
        );
        assert_eq!(
            c.diagnostics[0].message,
            "cannot import `evil`: `node_modules/evil` leads outside the workflow directory"
        );
        std::fs::remove_file(d.path().join("node_modules/evil")).unwrap();
        write("nodes/a.ts", &node("import good from 'good';"));
        let c = crate::check(&crate::source::DirSource::new(d.path()));
        let r = c
            .resolved
            .as_ref()
            .unwrap_or_else(|| panic!("{:#?}", c.diagnostics));
        let files: Vec<&str> = r.modules.files.keys().map(String::as_str).collect();
        assert_eq!(
            files,
            [
                "node_modules/.pnpm/good@1/node_modules/dep/index.js",
                "node_modules/.pnpm/good@1/node_modules/good/index.js",
                "nodes/a.ts",
            ]
        );
    }

    #[test]
    fn schedules_are_parsed_once() {
        let text = format!(
            "{WORKFLOW}triggers:\n  - {{type: cron, schedule: \"0 9 * * 1-5\", timezone: Europe/Berlin, name: daily}}\n  - {{type: cron, schedule: \"*/5 * * * *\"}}\n"
        );
        let files =
            MemorySource::from_pairs([("workflow.yaml", text.as_str()), ("nodes/a.ts", &node(""))]);
        let r = crate::resolve(&files).unwrap();
        let got: Vec<(usize, &str, chrono_tz::Tz)> = r
            .schedules
            .iter()
            .map(|s| (s.trigger, s.name.as_str(), s.timezone))
            .collect();
        assert_eq!(
            got,
            [
                (0, "daily", chrono_tz::Europe::Berlin),
                (1, "*/5 * * * *", chrono_tz::UTC)
            ]
        );
    }
}
