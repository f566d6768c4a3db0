//! Static checks of modules with oxc: syntax, a default export, and what they import (`import`
//! declarations, literal `import()` calls and, in CommonJS, literal `require()` calls).
//!
//! Every module of the import graph is parsed here once (`graph.rs`); the sandbox strips types
//! and compiles separately.

use crate::diagnostic::Pos;
use oxc_allocator::Allocator;
use oxc_ast::ast::{ArrowFunctionExpression, CallExpression, Expression, Function, TryStatement};
use oxc_ast_visit::{Visit, walk};
use oxc_parser::Parser;
use oxc_span::{GetSpan, SourceType};
use oxc_syntax::scope::ScopeFlags;

/// What a module looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleFacts {
    /// Syntax errors with their positions.
    pub syntax_errors: Vec<(Pos, String)>,
    /// Whether the module has `export default`.
    pub has_default_export: bool,
    /// Whether it has `import`/`export` syntax (decides CommonJS or ESM for an ambiguous `.js`).
    pub has_module_syntax: bool,
    /// Static import and re-export specifiers with their positions.
    pub imports: Vec<(String, Pos)>,
    /// `import("literal")` specifiers with their positions.
    pub dynamic_imports: Vec<(String, Pos)>,
    /// `require("literal")` calls (CommonJS only): specifier, position, and whether the call is
    /// at the module's top level, unguarded (runs on load, and its failure fails the load),
    /// rather than inside a function or a `try` block (optional dependencies).
    pub requires: Vec<(String, Pos, bool)>,
}

/// How a file is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseAs {
    /// TypeScript, as an ES module (`.ts`, `.mts`).
    TypeScript,
    /// An ES module.
    Module,
    /// A CommonJS script (`.cjs`): `require` calls are collected.
    CommonJs,
    /// A `.js` file in a package without `"type": "module"`: a module when it has `import` or
    /// `export` syntax, else a CommonJS script.
    Ambiguous,
}

/// The source types node files may have.
pub const MODULE_EXTENSIONS: &[&str] = &["ts", "mts", "js", "mjs"];

/// Whether `path` has a node module extension.
pub fn is_module_path(path: &str) -> bool {
    path.rsplit_once('.')
        .is_some_and(|(_, ext)| MODULE_EXTENSIONS.contains(&ext))
}

/// Parses `source` (TypeScript when `path` ends in `.ts`/`.mts`) as an ES module.
pub fn inspect(path: &str, source: &str) -> ModuleFacts {
    let ts = path.ends_with(".ts") || path.ends_with(".mts");
    inspect_as(
        source,
        if ts {
            ParseAs::TypeScript
        } else {
            ParseAs::Module
        },
    )
}

/// Parses `source` as `kind` and collects its facts, in one parse.
pub fn inspect_as(source: &str, kind: ParseAs) -> ModuleFacts {
    let source_type = match kind {
        ParseAs::TypeScript => SourceType::ts(),
        ParseAs::Module => SourceType::mjs(),
        ParseAs::CommonJs => SourceType::cjs(),
        ParseAs::Ambiguous => SourceType::unambiguous(),
    };
    let allocator = Allocator::default();
    let ret = Parser::new(&allocator, source, source_type).parse();
    let mut facts = ModuleFacts::default();
    for d in ret.diagnostics.iter() {
        let offset = d.labels.first().map_or(0, |l| l.offset() as usize);
        facts
            .syntax_errors
            .push((Pos::from_offset(source, offset), d.message.to_string()));
    }
    if ret.panicked && facts.syntax_errors.is_empty() {
        facts
            .syntax_errors
            .push((Pos::new(1, 1), "the file could not be parsed".into()));
    }
    let record = &ret.module_record;
    facts.has_module_syntax = record.has_module_syntax;
    facts.has_default_export = record
        .local_export_entries
        .iter()
        .chain(record.indirect_export_entries.iter())
        .any(|e| e.export_name.is_default());
    for (specifier, requests) in record.requested_modules.iter() {
        // Type-only imports (`import type`) vanish when types are stripped.
        for r in requests.iter().filter(|r| !r.is_type) {
            facts.imports.push((
                specifier.to_string(),
                Pos::from_offset(source, r.span.start as usize),
            ));
        }
    }
    facts.imports.sort_by_key(|(_, p)| *p);
    // `require` means something only in CommonJS; an ES module that mentions it (a dual
    // package's `typeof require` probe) never calls Node's.
    let commonjs = match kind {
        ParseAs::CommonJs => true,
        ParseAs::Ambiguous => !facts.has_module_syntax,
        ParseAs::TypeScript | ParseAs::Module => false,
    };
    let mut calls = Calls {
        source,
        commonjs,
        depth: 0,
        facts: &mut facts,
    };
    calls.visit_program(&ret.program);
    facts
}

/// Collects literal `import()` and `require()` calls, and whether each sits inside a function.
struct Calls<'s, 'f> {
    source: &'s str,
    commonjs: bool,
    /// How many function bodies and `try` blocks enclose the current node.
    depth: usize,
    facts: &'f mut ModuleFacts,
}

/// The text of a string literal or a template literal without substitutions.
fn literal<'e>(e: &'e Expression<'_>) -> Option<&'e str> {
    match e {
        Expression::StringLiteral(s) => Some(s.value.as_str()),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => t
            .quasis
            .first()
            .and_then(|q| q.value.cooked.as_ref())
            .map(|c| c.as_str()),
        _ => None,
    }
}

impl<'a> Visit<'a> for Calls<'_, '_> {
    fn visit_function(&mut self, it: &Function<'a>, flags: ScopeFlags) {
        self.depth += 1;
        walk::walk_function(self, it, flags);
        self.depth -= 1;
    }

    fn visit_arrow_function_expression(&mut self, it: &ArrowFunctionExpression<'a>) {
        self.depth += 1;
        walk::walk_arrow_function_expression(self, it);
        self.depth -= 1;
    }

    /// `try { require("optional") } catch {}`: a failure there is the module's to handle.
    fn visit_try_statement(&mut self, it: &TryStatement<'a>) {
        self.depth += 1;
        self.visit_block_statement(&it.block);
        self.depth -= 1;
        if let Some(handler) = &it.handler {
            self.visit_catch_clause(handler);
        }
        if let Some(finalizer) = &it.finalizer {
            self.visit_block_statement(finalizer);
        }
    }

    fn visit_import_expression(&mut self, it: &oxc_ast::ast::ImportExpression<'a>) {
        if let Some(spec) = literal(&it.source) {
            let pos = Pos::from_offset(self.source, it.source.span().start as usize);
            self.facts.dynamic_imports.push((spec.to_owned(), pos));
        }
        walk::walk_import_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if self.commonjs
            && let Expression::Identifier(callee) = &it.callee
            && callee.name == "require"
            && let [arg] = it.arguments.as_slice()
            && let Some(spec) = arg.as_expression().and_then(literal)
        {
            let pos = Pos::from_offset(self.source, arg.span().start as usize);
            self.facts
                .requires
                .push((spec.to_owned(), pos, self.depth == 0));
        }
        walk::walk_call_expression(self, it);
    }
}

/// Resolves a relative import against the importing module's path (both relative to the
/// workflow directory). `None` for bare specifiers or paths that leave the directory.
pub fn resolve_import(importer: &str, specifier: &str) -> Option<String> {
    if !(specifier.starts_with("./") || specifier.starts_with("../")) {
        return None;
    }
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop();
    for segment in specifier.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_default_export_and_imports() {
        let f = inspect(
            "nodes/a.ts",
            "import { x } from './lib/x.ts';\nexport default async function run(ctx: any, input: number) { return x + input; }\n",
        );
        assert!(f.syntax_errors.is_empty(), "{:?}", f.syntax_errors);
        assert!(f.has_default_export);
        assert_eq!(f.imports, vec![("./lib/x.ts".to_owned(), Pos::new(1, 19))]);
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let f = inspect(
            "nodes/a.js",
            "export default function (ctx) {\n  return (;\n}\n",
        );
        assert_eq!(f.syntax_errors.len(), 1);
        assert_eq!(f.syntax_errors[0].0.line, 2);
    }

    #[test]
    fn type_only_imports_are_not_runtime_imports() {
        let f = inspect(
            "nodes/a.ts",
            "import type { Ctx } from '../pipedreamer';\nexport default (ctx: Ctx) => 1;",
        );
        assert!(f.imports.is_empty(), "{:?}", f.imports);
    }

    #[test]
    fn missing_default_export() {
        assert!(!inspect("a.js", "export function run() {}").has_default_export);
    }

    #[test]
    fn imports_resolve_inside_the_directory_only() {
        assert_eq!(
            resolve_import("nodes/a.ts", "./b.ts").as_deref(),
            Some("nodes/b.ts")
        );
        assert_eq!(
            resolve_import("nodes/a.ts", "../lib/c.js").as_deref(),
            Some("lib/c.js")
        );
        assert_eq!(resolve_import("nodes/a.ts", "../../etc/passwd"), None);
        assert_eq!(resolve_import("nodes/a.ts", "node:fs"), None);
    }
}
