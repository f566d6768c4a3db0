//! CommonJS files as ES modules, generated once at load.
//!
//! A CommonJS file `p` becomes two modules of a run's slot:
//!
//! - its *record*, `p?commonjs`: the file's text inside a
//!   `function (exports, require, module, __filename, __dirname)`, handed to `define` of the
//!   realm's CommonJS runtime (`commonjs.js`). Evaluating the record runs nothing; the body runs
//!   on the first `require` (or import), once, as in Node, and a `require` that comes back
//!   around a cycle gets the partly filled `module.exports`. The record statically imports what
//!   each `require` in the file resolved to (the graph knows them all), so `require` is
//!   synchronous: a CommonJS target's record, an ES module's namespace, a JSON file's or Node
//!   builtin's default export.
//! - its *facade*, `p`: what `import` gets: `module.exports` as the default export, plus the
//!   named exports found statically in the text ([`exports`], like Node's `cjs-module-lexer`:
//!   `exports.x =`, `module.exports = { x }`, `Object.defineProperty(exports, "x", …)`, and the
//!   names of CommonJS files it re-exports with `module.exports = require("x")` or
//!   `__exportStar(require("x"), exports)`), read once the body has run.
//!
//! Limits: the body runs in strict mode (it sits inside an ES module), so sloppy-only code
//! (assigning undeclared variables, `with`, `arguments.callee`) fails; modules a file `require`s
//! are evaluated when the file's record is, so an ES module required only inside a function is
//! evaluated even if the function never runs (a CommonJS one runs only when required).

use oxc_allocator::Allocator;
use oxc_ast::ast::{Argument, Expression, ObjectPropertyKind, Program, Statement};
use oxc_parser::Parser;
use oxc_span::SourceType;
use pipedreamer_spec::{ImportForm, ImportTarget, ModuleKind, ResolvedImport};
use std::collections::{BTreeMap, BTreeSet};

/// The suffix of a CommonJS file's record module (its path plus this is its module id).
pub(crate) const RECORD_SUFFIX: &str = "?commonjs";

/// The suffix of the module that stands for a forbidden module (`node:fs?forbidden`).
pub(crate) const FORBIDDEN_SUFFIX: &str = "?forbidden";

/// The export of a record module that holds the record.
const RECORD_EXPORT: &str = "__pipedreamer_record";

/// How `require` turns an imported namespace into its value (the codes `commonjs.js` reads).
#[derive(Clone, Copy)]
enum Take {
    /// A CommonJS record: run it (once) and take its `module.exports`.
    Record = 0,
    /// An ES module: its namespace, as Node's `require(esm)`.
    Namespace = 1,
    /// A JSON file or a Node builtin: its default export.
    Default = 2,
}

/// The source of the record module of CommonJS file `path` (`source` as read). `module_name`
/// gives the module name (in slot 0) of a graph file, `kind_of` its kind.
pub(crate) fn record_source(
    path: &str,
    source: &str,
    imports: &[ResolvedImport],
    module_name: impl Fn(&str) -> String,
    kind_of: impl Fn(&str) -> Option<ModuleKind>,
) -> String {
    let mut out = format!(
        "import {{ define as __pipedreamer_define }} from {}; ",
        js_string(super::COMMONJS)
    );
    let mut table = String::new();
    let mut forbidden = String::new();
    // One import per distinct module, whatever the number of `require`s naming it.
    let mut bindings: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for import in imports {
        if !matches!(import.form, ImportForm::Require { .. }) || !seen.insert(&import.specifier) {
            continue;
        }
        let (name, take) = match &import.target {
            ImportTarget::File(target) => match kind_of(target) {
                Some(ModuleKind::CommonJs) => (
                    format!("{}{RECORD_SUFFIX}", module_name(target)),
                    Take::Record,
                ),
                Some(ModuleKind::EsModule) => (module_name(target), Take::Namespace),
                Some(ModuleKind::Json) => (module_name(target), Take::Default),
                None => continue,
            },
            ImportTarget::Builtin(builtin) => {
                (super::module_name(*builtin).to_owned(), Take::Default)
            }
            ImportTarget::Forbidden(module) => {
                forbidden.push_str(&format!(
                    "[{}, {}],",
                    js_string(&import.specifier),
                    js_string(module)
                ));
                continue;
            }
        };
        let next = bindings.len();
        let index = *bindings.entry(name.clone()).or_insert_with(|| {
            out.push_str(&format!(
                "import * as __pipedreamer_{next} from {}; ",
                js_string(&name)
            ));
            next
        });
        table.push_str(&format!(
            "[{}, {}, () => __pipedreamer_{index}],",
            js_string(&import.specifier),
            take as u8
        ));
    }
    // A `#!` line is valid only at the very start of a file.
    let body = match source.strip_prefix("#!") {
        Some(rest) => format!("//{rest}"),
        None => source.to_owned(),
    };
    // Everything generated sits on the body's first line, so the file's line numbers (in stack
    // traces and QuickJS's syntax errors) are the module's.
    out.push_str(&format!(
        "export const {RECORD_EXPORT} = __pipedreamer_define({}, [{table}], [{forbidden}], function (exports, require, module, __filename, __dirname) {{{body}\n}});\n",
        js_string(path)
    ));
    out
}

/// The source of the facade module of a CommonJS file whose record is `record_name`.
pub(crate) fn facade_source(record_name: &str, names: &[String]) -> String {
    let mut out = format!(
        "import {{ {RECORD_EXPORT} }} from {};\nconst __pipedreamer_exports = {RECORD_EXPORT}.load();\nexport default __pipedreamer_exports;\n",
        js_string(record_name)
    );
    for (i, name) in names.iter().enumerate() {
        out.push_str(&format!(
            "const __pipedreamer_{i} = __pipedreamer_exports?.[{}];\nexport {{ __pipedreamer_{i} as {name} }};\n",
            js_string(name)
        ));
    }
    out
}

/// The source of a JSON file's module: its value as the default export, parsed like
/// `JSON.parse` (an object literal would treat a `"__proto__"` key differently).
pub(crate) fn json_source(text: &str) -> String {
    format!("export default JSON.parse({});\n", js_string(text))
}

/// The source of the stand-in for forbidden module `module`: evaluating it (an `import()` of
/// the module, which validation warned about) throws the realm's `NotCapable`.
pub(crate) fn forbidden_source(module: &str) -> String {
    let message = format!(
        "`{module}` is not available in the sandbox (no file system, processes, environment or sockets; HTTP goes through fetch)"
    );
    format!(
        "import {{ NotCapable }} from {};\nthrow new NotCapable({});\n",
        js_string(super::ERRORS),
        js_string(&message)
    )
}

/// A JavaScript string literal (JSON's escaping is valid JavaScript).
pub(crate) fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

/// What a CommonJS file exports, as far as can be seen without running it (top-level
/// statements only, like Node's `cjs-module-lexer`).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Exports {
    /// Names assigned or defined on `exports` (`default` and `__esModule` left out).
    pub(crate) names: BTreeSet<String>,
    /// Specifiers of modules whose exports this one re-exports (`module.exports =
    /// require("x")`, TypeScript's `__exportStar(require("x"), exports)`).
    pub(crate) reexports: Vec<String>,
}

/// The exports of CommonJS `source`.
pub(crate) fn exports(source: &str) -> Exports {
    let allocator = Allocator::default();
    let ret = Parser::new(&allocator, source, SourceType::cjs()).parse();
    let mut found = Exports::default();
    collect_program(&ret.program, &mut found);
    found
        .names
        .retain(|n| n != "default" && n != "__esModule" && is_identifier_name(n));
    found
}

fn collect_program(program: &Program<'_>, found: &mut Exports) {
    for statement in &program.body {
        if let Statement::ExpressionStatement(s) = statement {
            collect_expression(&s.expression, found);
        }
    }
}

/// The specifier of `require("literal")`.
fn required<'a>(e: &'a Expression<'_>) -> Option<&'a str> {
    let Expression::CallExpression(call) = e.without_parentheses() else {
        return None;
    };
    match (
        call.callee.is_specific_id("require"),
        call.arguments.as_slice(),
    ) {
        (true, [Argument::StringLiteral(s)]) => Some(s.value.as_str()),
        _ => None,
    }
}

fn is_module_exports(e: &Expression<'_>) -> bool {
    e.as_member_expression()
        .is_some_and(|m| m.is_specific_member_access("module", "exports"))
}

fn collect_expression(e: &Expression<'_>, found: &mut Exports) {
    match e.without_parentheses() {
        Expression::SequenceExpression(seq) => {
            for e in &seq.expressions {
                collect_expression(e, found);
            }
        }
        // esbuild's annotation for Node: `0 && (module.exports = { a, b })`.
        Expression::LogicalExpression(l) => collect_expression(&l.right, found),
        Expression::AssignmentExpression(a) => {
            if let Some(member) = a.left.as_member_expression() {
                let object = member.object().without_parentheses();
                let exports_object = object.is_specific_id("exports") || is_module_exports(object);
                if exports_object && let Some(name) = member.static_property_name() {
                    found.names.insert(name.to_owned());
                } else if member.is_specific_member_access("module", "exports") {
                    match a.right.without_parentheses() {
                        Expression::ObjectExpression(object) => {
                            for property in &object.properties {
                                if let ObjectPropertyKind::ObjectProperty(p) = property
                                    && let Some(name) = p.key.static_name()
                                {
                                    found.names.insert(name.into_owned());
                                }
                            }
                        }
                        right => found.reexports.extend(required(right).map(str::to_owned)),
                    }
                }
            }
            // `exports.a = exports.b = void 0`
            collect_expression(&a.right, found);
        }
        Expression::CallExpression(call) => {
            let callee = call.callee.without_parentheses();
            // Object.defineProperty(exports, "x", { … })
            let define = callee
                .as_member_expression()
                .is_some_and(|m| m.is_specific_member_access("Object", "defineProperty"));
            if define
                && let [
                    Argument::Identifier(target),
                    Argument::StringLiteral(name),
                    ..,
                ] = call.arguments.as_slice()
                && target.name == "exports"
            {
                found.names.insert(name.value.to_string());
            }
            // __exportStar(require("x"), exports), tslib.__exportStar(…), __export(require("x"))
            let helper = match callee {
                Expression::Identifier(id) => Some(id.name.as_str()),
                other => other
                    .as_member_expression()
                    .and_then(|m| m.static_property_name()),
            };
            if matches!(helper, Some("__exportStar" | "__export"))
                && let Some(first) = call.arguments.first().and_then(Argument::as_expression)
            {
                found.reexports.extend(required(first).map(str::to_owned));
            }
        }
        _ => {}
    }
}

/// Whether `s` can follow `as` in an `export { … as s }` clause.
fn is_identifier_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_exports_node_would() {
        let found = exports(
            r#"
            "use strict";
            Object.defineProperty(exports, "__esModule", { value: true });
            exports.b = exports.a = void 0;
            exports.a = 1;
            module.exports.c = function () {};
            Object.defineProperty(exports, "d", { enumerable: true, get: function () { return 1; } });
            exports["e"] = 2;
            exports.default = 3;
            function inner() { exports.hidden = 1; }
            __exportStar(require("./more"), exports);
            tslib_1.__exportStar(require("./other"), exports);
            0 && (module.exports = { f, g });
            "#,
        );
        let names: Vec<&str> = found.names.iter().map(String::as_str).collect();
        assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(found.reexports, ["./more", "./other"]);
        let found = exports("module.exports = { x, y: 1, 'z': 2, [k]: 3, 'not ok': 4 };");
        let names: Vec<&str> = found.names.iter().map(String::as_str).collect();
        assert_eq!(names, ["x", "y", "z"]);
        assert_eq!(
            exports("module.exports = require('./impl');").reexports,
            ["./impl"]
        );
    }

    #[test]
    fn the_body_keeps_its_line_numbers() {
        let js = record_source(
            "a.cjs",
            "const b = require('./b.cjs');\nthrow new Error('line 2');\n",
            &[ResolvedImport {
                specifier: "./b.cjs".into(),
                target: ImportTarget::File("b.cjs".into()),
                form: ImportForm::Require { top_level: true },
                pos: pipedreamer_spec::Pos::new(1, 11),
            }],
            |p| format!("~00000000/{p}"),
            |_| Some(ModuleKind::CommonJs),
        );
        let line = js.lines().position(|l| l.contains("line 2")).unwrap();
        assert_eq!(line + 1, 2, "{js}");
    }

    #[test]
    fn facade_reads_named_exports_after_the_body_ran() {
        let js = facade_source("~00000000/a.js?commonjs", &["x".to_owned()]);
        assert!(js.contains(".load()"), "{js}");
        assert!(js.contains("as x }"), "{js}");
    }
}
