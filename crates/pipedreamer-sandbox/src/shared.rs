//! Which workflow modules a realm may instantiate once and share among its runs.
//!
//! A run normally gets fresh instances of its modules (see `loader`): module state is per run.
//! Instantiating them is most of what a small run costs, and most modules have no state: only
//! functions, classes and primitive constants. Such a module behaves the same whether each run
//! gets its own instance or all share one, provided nothing a run does can change what the next
//! one sees. This module decides that statically, from the module's JavaScript (oxc), and a
//! realm instantiates the modules it admits while it is set up, then freezes everything they
//! hold (see `realm`), before any node code runs.
//!
//! A module is shared only when all of this holds (anything else keeps per-run instances):
//! - its top level only imports, declares functions, classes and `const`s, and exports them;
//! - each `const` is a primitive literal (`-1` included), a function, or a name (never an object
//!   or array literal, a call, `new`, or an operator on a name, which could call its `valueOf`:
//!   evaluating the module runs none of its code);
//! - classes have no static fields, static blocks or private methods (a static `#count`, or a
//!   `#method` function object the class keeps in a hidden scope, stays writable on a frozen
//!   class), no computed keys other than the global `Symbol.x`, and extend nothing or a name;
//! - no top-level binding is ever assigned (`f = …` reassigns a function declaration), and no
//!   top-level binding is the base of a property write, `delete`, `Object.assign`/
//!   `defineProperty`/… (those would throw on the frozen object, where they used to work);
//! - no `this` property write in a static method, no direct `eval`, no `import.meta`, no
//!   dynamic `import()`;
//! - everything it imports is shared too, or a `node:` builtin (see `Program`).
//!
//! What the analysis cannot see (a top-level function reached through an alias and written)
//! meets a frozen object: the write throws a `TypeError` in that run, and nothing carries over.

use oxc_allocator::Allocator;
use oxc_ast::ast::*;
use oxc_ast_visit::Visit;
use oxc_parser::Parser;
use oxc_semantic::{Scoping, SemanticBuilder};
use oxc_span::SourceType;

/// The export a shared module gets appended, naming every top-level function, class and
/// `const` it has, so the realm's lockdown reaches (and freezes) the ones it does not export.
pub(crate) const ROOTS_EXPORT: &str = "__pipedreamer_shared_roots__";

/// Why a module keeps per-run instances (for the debug log and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotShared(pub(crate) String);

/// Whether `javascript` (a module's JavaScript) may be shared by a realm's runs, judging the
/// module alone; on success, the names of its top-level bindings (imports left out).
pub(crate) fn local_bindings(javascript: &str) -> Result<Vec<String>, NotShared> {
    let no = |why: &str| Err(NotShared(why.to_owned()));
    // Whoever names the realm's reserved export (declaring it, or importing another module's
    // to reach what that module keeps to itself) keeps per-run instances.
    if javascript.contains(ROOTS_EXPORT) {
        return no("it names the export the realm reserves");
    }
    let allocator = Allocator::default();
    let parsed = Parser::new(&allocator, javascript, SourceType::mjs()).parse();
    if !parsed.diagnostics.is_empty() {
        return no("it does not parse");
    }
    let program = parsed.program;
    for statement in &program.body {
        if let Err(why) = top_level_statement(statement) {
            return no(why);
        }
    }
    let semantic = SemanticBuilder::new().build(&program).semantic;
    let scoping = semantic.scoping();
    let root = scoping.root_scope_id();
    let mut names = Vec::new();
    for symbol in scoping.iter_bindings_in(root) {
        let name = scoping.symbol_name(symbol);
        if name == "Symbol" {
            // `[Symbol.iterator]` keys are admitted as the global's well-known symbols only.
            return no("it declares its own `Symbol`");
        }
        if scoping.symbol_is_mutated(symbol) {
            return Err(NotShared(format!("its top-level `{name}` is assigned")));
        }
        if !scoping.symbol_flags(symbol).is_import() {
            names.push(name.to_owned());
        }
    }
    let mut walk = Walk {
        scoping,
        in_static: 0,
        why: None,
    };
    walk.visit_program(&program);
    if let Some(why) = walk.why {
        return Err(NotShared(why));
    }
    names.sort();
    Ok(names)
}

/// `javascript` with the [`ROOTS_EXPORT`] of `names` appended.
pub(crate) fn with_roots_export(javascript: &str, names: &[String]) -> String {
    format!(
        "{javascript}\nexport const {ROOTS_EXPORT} = [{}];\n",
        names.join(", ")
    )
}

fn top_level_statement(statement: &Statement<'_>) -> Result<(), &'static str> {
    match statement {
        Statement::ImportDeclaration(_)
        | Statement::ExportAllDeclaration(_)
        | Statement::ExportNamedDeclaration(_)
        | Statement::ExportFromDeclaration(_)
        | Statement::EmptyStatement(_) => Ok(()),
        Statement::ExportDeclaration(export) => declaration(&export.declaration),
        Statement::ExportDefaultDeclaration(export) => match &export.declaration {
            ExportDefaultDeclarationKind::FunctionDeclaration(_) => Ok(()),
            ExportDefaultDeclarationKind::ClassDeclaration(class) => plain_class(class),
            ExportDefaultDeclarationKind::TSInterfaceDeclaration(_) => Ok(()),
            other => match other.as_expression() {
                Some(e) if constant(e) => Ok(()),
                _ => Err("its default export is computed"),
            },
        },
        Statement::VariableDeclaration(_)
        | Statement::FunctionDeclaration(_)
        | Statement::ClassDeclaration(_) => match statement.as_declaration() {
            Some(d) => declaration(d),
            None => Err("its top level runs code"),
        },
        _ => Err("its top level runs code"),
    }
}

fn declaration(declaration: &Declaration<'_>) -> Result<(), &'static str> {
    match declaration {
        Declaration::FunctionDeclaration(_) => Ok(()),
        Declaration::ClassDeclaration(class) => plain_class(class),
        Declaration::VariableDeclaration(v) => {
            if v.kind != VariableDeclarationKind::Const {
                return Err("it has a top-level `let` or `var`");
            }
            let all_constant = v.declarations.iter().all(|d| {
                matches!(d.id, BindingPattern::BindingIdentifier(_))
                    && d.init.as_ref().is_some_and(constant)
            });
            if all_constant {
                Ok(())
            } else {
                Err("a top-level `const` holds an object, or is computed")
            }
        }
        _ => Ok(()),
    }
}

/// A value no run can change: a primitive literal, a function (frozen by the realm), or a name.
fn constant(e: &Expression<'_>) -> bool {
    match e {
        _ if literal(e) => true,
        Expression::Identifier(_)
        | Expression::ArrowFunctionExpression(_)
        | Expression::FunctionExpression(_) => true,
        Expression::TemplateLiteral(t) => t.expressions.is_empty(),
        // On a literal only: `+K` on a name would call its `valueOf` while the realm is set up.
        Expression::UnaryExpression(u) => {
            !matches!(u.operator, UnaryOperator::Delete) && literal(&u.argument)
        }
        Expression::ParenthesizedExpression(p) => constant(&p.expression),
        _ => false,
    }
}

/// A primitive literal (evaluating it runs no code).
fn literal(e: &Expression<'_>) -> bool {
    match e {
        Expression::StringLiteral(_)
        | Expression::NumericLiteral(_)
        | Expression::BooleanLiteral(_)
        | Expression::NullLiteral(_)
        | Expression::BigIntLiteral(_) => true,
        Expression::ParenthesizedExpression(p) => literal(&p.expression),
        _ => false,
    }
}

/// A class whose evaluation runs no code of its own and which holds no state a freeze misses.
fn plain_class(class: &Class<'_>) -> Result<(), &'static str> {
    if !class.decorators.is_empty() {
        return Err("a class has decorators");
    }
    if let Some(heritage) = &class.heritage
        && !matches!(heritage.expression, Expression::Identifier(_))
    {
        return Err("a class extends a computed value");
    }
    for element in &class.body.body {
        let (computed, key) = match element {
            // A private method is one function object the class keeps in a hidden scope, not
            // on any object: the realm's freezing walk cannot reach it.
            ClassElement::MethodDefinition(m) if m.key.is_private_identifier() => {
                return Err("a class has a private method");
            }
            ClassElement::MethodDefinition(m) => (m.computed, &m.key),
            ClassElement::PropertyDefinition(p) if !p.r#static => (p.computed, &p.key),
            ClassElement::TSIndexSignature(_) => continue,
            _ => return Err("a class has static fields, a static block or accessors"),
        };
        if computed && !well_known_symbol(key) {
            return Err("a class has a computed member name");
        }
    }
    Ok(())
}

/// `Symbol.iterator` and the like: a computed key that runs no user code.
fn well_known_symbol(key: &PropertyKey<'_>) -> bool {
    match key.as_expression() {
        Some(Expression::StaticMemberExpression(m)) => {
            matches!(&m.object, Expression::Identifier(id) if id.name == "Symbol")
        }
        _ => false,
    }
}

/// The whole-module checks: writes through top-level bindings, `eval`, `import.meta`, `import()`.
struct Walk<'s> {
    scoping: &'s Scoping,
    /// Depth of static methods being walked (`this` is the class there).
    in_static: usize,
    why: Option<String>,
}

impl Walk<'_> {
    fn refuse(&mut self, why: String) {
        self.why.get_or_insert(why);
    }

    /// Whether `e`, followed through member accesses to its base, is a top-level binding (or
    /// `this` inside a static method); its name if so.
    fn shared_base(&self, mut e: &Expression<'_>) -> Option<String> {
        loop {
            match e {
                Expression::StaticMemberExpression(m) => e = &m.object,
                Expression::ComputedMemberExpression(m) => e = &m.object,
                Expression::PrivateFieldExpression(m) => e = &m.object,
                Expression::ParenthesizedExpression(p) => e = &p.expression,
                Expression::ThisExpression(_) if self.in_static > 0 => {
                    return Some("this".to_owned());
                }
                Expression::Identifier(id) => {
                    let symbol = id
                        .reference_id
                        .get()
                        .and_then(|r| self.scoping.get_reference(r).symbol_id())?;
                    let root = self.scoping.root_scope_id();
                    return (self.scoping.symbol_scope_id(symbol) == root)
                        .then(|| id.name.to_string());
                }
                _ => return None,
            }
        }
    }

    fn member_base(&self, target: &SimpleAssignmentTarget<'_>) -> Option<String> {
        let member = target.as_member_expression()?;
        self.shared_base(member.object())
    }
}

/// `Object`/`Reflect` functions that write to their first argument.
const WRITERS: [(&str, &str); 8] = [
    ("Object", "assign"),
    ("Object", "defineProperty"),
    ("Object", "defineProperties"),
    ("Object", "setPrototypeOf"),
    ("Reflect", "set"),
    ("Reflect", "defineProperty"),
    ("Reflect", "deleteProperty"),
    ("Reflect", "setPrototypeOf"),
];

impl<'a> Visit<'a> for Walk<'_> {
    fn visit_simple_assignment_target(&mut self, it: &SimpleAssignmentTarget<'a>) {
        if let Some(name) = self.member_base(it) {
            self.refuse(format!("a property of its top-level `{name}` is written"));
        }
        oxc_ast_visit::walk::walk_simple_assignment_target(self, it);
    }

    fn visit_unary_expression(&mut self, it: &UnaryExpression<'a>) {
        if it.operator == UnaryOperator::Delete
            && let Some(member) = it.argument.as_member_expression()
            && let Some(name) = self.shared_base(member.object())
        {
            self.refuse(format!("a property of its top-level `{name}` is deleted"));
        }
        oxc_ast_visit::walk::walk_unary_expression(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::StaticMemberExpression(callee) = &it.callee
            && let Expression::Identifier(object) = &callee.object
            && WRITERS.contains(&(object.name.as_str(), callee.property.name.as_str()))
            && let Some(first) = it.arguments.first().and_then(|a| a.as_expression())
            && let Some(name) = self.shared_base(first)
        {
            self.refuse(format!(
                "its top-level `{name}` is changed with `{}.{}`",
                object.name, callee.property.name
            ));
        }
        oxc_ast_visit::walk::walk_call_expression(self, it);
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        let unresolved = it
            .reference_id
            .get()
            .is_none_or(|r| self.scoping.get_reference(r).symbol_id().is_none());
        if it.name == "eval" && unresolved {
            self.refuse("it calls `eval`".to_owned());
        }
    }

    fn visit_import_meta(&mut self, _it: &ImportMeta) {
        self.refuse("it uses `import.meta`".to_owned());
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.refuse("it imports dynamically".to_owned());
        oxc_ast_visit::walk::walk_import_expression(self, it);
    }

    fn visit_method_definition(&mut self, it: &MethodDefinition<'a>) {
        let is_static = it.r#static;
        self.in_static += usize::from(is_static);
        oxc_ast_visit::walk::walk_method_definition(self, it);
        self.in_static -= usize::from(is_static);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(js: &str) -> bool {
        local_bindings(js).is_ok()
    }

    #[test]
    fn functions_classes_and_constants_are_shared() {
        let js = r#"
            import { x } from "./x.ts";
            const GREETING = "hi", N = -1, T = `t`, F = (a) => a + 1;
            function helper(s) { const local = []; local.push(s); return s.replace(/\b\w/g, (c) => c.toUpperCase()); }
            class Box { #v; constructor(v) { this.#v = v; this.w = 1; } get v() { return this.#v; } static of(v) { return new Box(v); } [Symbol.iterator]() {} }
            export { helper as h };
            export default async function run(ctx, input) { let n = 0; n++; return { g: GREETING + helper(input.name) + x, n }; }
        "#;
        assert_eq!(
            local_bindings(js).unwrap(),
            ["Box", "F", "GREETING", "N", "T", "helper", "run"]
        );
    }

    #[test]
    fn state_or_code_at_the_top_level_is_not_shared() {
        for js in [
            "let n = 0; export default async function run() { return ++n; }",
            "var n = 0; export default async function run() { return ++n; }",
            "const cache = []; export default async function run(c, i) { cache.push(i); return cache.length; }",
            "const cache = new Map(); export default async function run() {}",
            "const o = { n: 0 }; export default async function run() {}",
            "console.log('loaded'); export default async function run() {}",
            "export default (() => { let n = 0; return async () => ++n; })();",
            "class C { static count = 0; } export default async function run() {}",
            "class C { static { globalThis.x = 1; } } export default async function run() {}",
            "class C { static #n = 0; static next() { return ++C.#n; } } export default async function run() {}",
            "class C extends (class {}) {} export default async function run() {}",
            "class C { [`k${1}`]() {} } export default async function run() {}",
        ] {
            assert!(!shared(js), "{js}");
        }
    }

    #[test]
    fn modules_that_look_pure_but_write_their_top_level_are_not_shared() {
        for js in [
            // A function declaration's binding is assignable.
            "function f() { return 1; } export default async function run() { const r = f(); f = () => r + 1; return r; }",
            "class C {} export default async function run() { C = null; }",
            // State kept on a function object or a class.
            "function counter() { counter.n = (counter.n ?? 0) + 1; return counter.n; } export default async function run() { return counter(); }",
            "function f() {} export default async function run() { f.seen ??= []; }",
            "function f() {} export default async function run() { delete f.x; }",
            "function f() {} export default async function run() { Object.assign(f, { n: 1 }); }",
            "class C {} export default async function run() { Object.defineProperty(C.prototype, 'x', { value: 1 }); }",
            "class C { static bump() { this.n = (this.n ?? 0) + 1; } } export default async function run() { C.bump(); }",
            "export default async function run() { run.calls = (run.calls ?? 0) + 1; }",
            // Ways around the analysis.
            "function f() {} export default async function run() { eval('f = 1'); }",
            "export default async function run() { return import.meta.url; }",
            "export default async function run() { return import('./x.ts'); }",
            "const __pipedreamer_shared_roots__ = 1; export default async function run() {}",
            "import { __pipedreamer_shared_roots__ as r } from './x.js'; export default async () => r;",
            // A private method is one function object outside every object: never frozen.
            "class H { #slot() {} slot() { return this.#slot; } } export default async function run(c, i) { const b = new H().slot(); const p = b.last; b.last = i; return p; }",
            "class H { static #slot() {} } export default async function run() {}",
            // Code that would run while the realm is set up.
            "class K { static valueOf() { return 1; } } const X = +K; export default async () => X;",
            "class Symbol { static get iterator() { return 'k'; } } class C { [Symbol.iterator]() {} } export default async () => 1;",
            "import { Symbol } from './s.js'; class C { [Symbol.iterator]() {} } export default async () => 1;",
        ] {
            assert!(!shared(js), "{js}");
        }
    }

    #[test]
    fn roots_export_names_every_binding() {
        let js = with_roots_export("function a() {}", &["a".to_owned()]);
        assert!(js.ends_with(&format!("export const {ROOTS_EXPORT} = [a];\n")));
        // The appended export is the realm's: a module declaring that name itself is refused.
        assert!(!shared(&js));
    }
}
