//! Static checks of node modules with oxc: syntax, a default export, and what they import.
//!
//! Parsing here is a check only; the sandbox strips types and compiles separately.

use crate::diagnostic::Pos;
use oxc_allocator::Allocator;
use oxc_parser::Parser;
use oxc_span::SourceType;

/// What a module looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleFacts {
    /// Syntax errors with their positions.
    pub syntax_errors: Vec<(Pos, String)>,
    /// Whether the module has `export default`.
    pub has_default_export: bool,
    /// Static and literal dynamic import specifiers with their positions.
    pub imports: Vec<(String, Pos)>,
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
    let source_type = if ts {
        SourceType::ts()
    } else {
        SourceType::mjs()
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
    facts
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
