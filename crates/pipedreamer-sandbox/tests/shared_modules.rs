//! Modules without state are instantiated once per realm and shared by its runs (see the
//! sandbox's `shared` module); every other module keeps fresh instances per run. These tests
//! hold both halves: what is shared, and that nothing a run does reaches the next run, also
//! through modules that look pure but are not.

mod common;

use common::*;
use serde_json::json;
use std::sync::Arc;

fn program(files: &[(&str, &str)]) -> pipedreamer_sandbox::Program {
    let mut all = vec![(
        "workflow.yaml",
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
    )];
    all.extend_from_slice(files);
    pipedreamer_sandbox::Program::load(&pipedreamer_spec::source::MemorySource::from_pairs(all))
        .unwrap_or_else(|d| panic!("{d:#?}"))
}

fn shared(files: &[(&str, &str)]) -> Vec<String> {
    program(files).shared_modules().to_vec()
}

#[test]
fn the_hello_example_is_shared_entirely() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let source = pipedreamer_spec::source::DirSource::new(&root);
    let program = pipedreamer_sandbox::Program::load(&source).unwrap_or_else(|d| panic!("{d:#?}"));
    assert_eq!(
        program.shared_modules(),
        [
            "nodes/format.ts",
            "nodes/greet.ts",
            "nodes/parse.ts",
            "nodes/text.ts"
        ]
    );
}

#[test]
fn a_module_is_shared_only_with_its_imports_and_its_importers() {
    // `lib.js` is pure, but `state.js` (which has state) imports it: it could write to what
    // it imports, so `lib.js` stays per run too; `a.js` imports `state.js`.
    let files = [
        (
            "a.js",
            "import { f } from './lib.js'; import { n } from './state.js'; export default () => f() + n();",
        ),
        ("lib.js", "export function f() { return 1; }"),
        (
            "state.js",
            "import { f } from './lib.js'; let k = 0; f.prototype.k = 1; export const n = () => ++k;",
        ),
    ];
    assert!(shared(&files).is_empty(), "{:?}", shared(&files));
    // Without the stateful importer, both are shared.
    let files = [
        (
            "a.js",
            "import { f } from './lib.js'; export default () => f();",
        ),
        ("lib.js", "export function f() { return 1; }"),
    ];
    assert_eq!(shared(&files), ["a.js", "lib.js"]);
}

/// Runs `wl` `runs` times on one worker thread (so the runs share realms) and returns the
/// outputs, or the error messages of runs that failed.
async fn outputs(wl: &Arc<pipedreamer_sandbox::Workload>, runs: usize) -> Vec<serde_json::Value> {
    let sb = single_worker();
    let mut all = Vec::new();
    for _ in 0..runs {
        let (out, json) = run_bounded(&sb, wl, json!({ "name": "ada" })).await;
        all.push(if out.succeeded() {
            json["output"].clone()
        } else {
            json["error"]["message"].clone()
        });
    }
    all
}

#[tokio::test]
async fn shared_modules_serve_many_runs_in_a_few_realms() {
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n  - {id: b, file: b.js, depends_on: [a]}\n",
        &[
            (
                "a.js",
                "import { title, Greeter } from './lib.js';\nexport default async function run(ctx, input) { return { name: title(input.name), n: new Greeter('hi').greet(input.name) }; }",
            ),
            (
                "b.js",
                "export default async (ctx, input) => ({ ...input, run: typeof ctx.run.id });",
            ),
            (
                "lib.js",
                "const SEP = ', ';\nexport const title = (s) => s.replace(/\\b\\w/g, (c) => c.toUpperCase());\nexport class Greeter { constructor(g) { this.g = g; this.greet = this.greet.bind(this); } greet(n) { return this.g + SEP + n; } }",
            ),
        ],
        json!({}),
    );
    assert_eq!(wl.program.shared_modules(), ["a.js", "b.js", "lib.js"]);
    let all = outputs(&wl, 300).await;
    let expected = json!({ "name": "Ada", "n": "hi, ada", "run": "string" });
    assert!(all.iter().all(|o| *o == expected), "{:?}", &all[..3]);
    // Nothing is instantiated per run, so a realm is not outgrown: one realm serves them all
    // (two when the worker prepares one ahead).
    assert!(wl.realms_created() <= 2, "{} realms", wl.realms_created());
}

#[tokio::test]
async fn modules_that_look_pure_but_are_not_keep_fresh_instances_per_run() {
    // Each returns 1 on every run with per-run instances; a shared instance would count up.
    for js in [
        // State on a function object, in the module itself.
        "function counter() { counter.n = (counter.n ?? 0) + 1; return counter.n; }\nexport default async () => counter();",
        // A function declaration's binding reassigned.
        "let unused;\nfunction next() { next = () => 2; return 1; }\nexport default async () => next();",
        "function next() { next = () => 2; return 1; }\nexport default async () => next();",
        // State on a class, through `this` in a static method.
        "class C { static bump() { this.n = (this.n ?? 0) + 1; return this.n; } }\nexport default async () => C.bump();",
        // A cache in a `const` array or map.
        "const seen = [];\nexport default async (ctx, input) => { seen.push(input); return seen.length; };",
        "const seen = new Map();\nexport default async (ctx, input) => { seen.set(seen.size, input); return seen.size; };",
        // `eval` can reach the module's bindings.
        "function f() { return 1; }\nexport default async () => { const r = f(); eval('f = () => r + 1'); return r; };",
        // A default export that is computed.
        "export default (() => { let n = 0; return async () => ++n; })();",
        // A private method: one function object the class keeps outside every object.
        "class Holder { #slot() {} slot() { return this.#slot; } }\nexport default async () => { const box = new Holder().slot(); box.n = (box.n ?? 0) + 1; return box.n; };",
        // `+K` would call `K.valueOf` while a realm is set up.
        "function put(o, k, v) { o[k] = v; return 0; }\nclass K { static valueOf() { return put(K, 'box', new Map()); } }\nconst X = +K;\nexport default async () => { const box = K.box; const n = box.size; box.set(n, X); return n + 1; };",
    ] {
        let wl = one_node(js);
        assert!(wl.program.shared_modules().is_empty(), "{js}");
        assert_eq!(
            outputs(&wl, 3).await,
            [json!(1), json!(1), json!(1)],
            "{js}"
        );
    }
}

/// A class's private field can be stamped on any object its base constructor returns. Every
/// object runs share is frozen, and QuickJS adds no private field to a non-extensible object;
/// `globalThis` stays extensible, and a run that stamps it leaves a realm no run may reuse.
#[tokio::test]
async fn private_fields_stamped_on_shared_objects_carry_nothing_over() {
    let stamp = |target: &str| {
        format!(
            "class Base {{ constructor(o) {{ return o; }} }}\nclass Stamp extends Base {{ #n; constructor(o, n) {{ super(o); this.#n = n; }} static read(o) {{ try {{ return o.#n; }} catch {{ return 0; }} }} }}\nexport default async () => {{ const seen = Stamp.read({target}); if (seen === 0) new Stamp({target}, 1); return seen + 1; }};"
        )
    };
    let wl = one_node(&stamp("globalThis"));
    assert_eq!(wl.program.shared_modules(), ["a.js"]);
    assert_eq!(outputs(&wl, 3).await, [json!(1), json!(1), json!(1)]);
    assert_eq!(wl.realms_created(), 3, "a stamped realm is not reused");
    let wl = one_node(&stamp("Object.prototype"));
    for message in outputs(&wl, 2).await {
        let message = message.as_str().unwrap_or_default();
        assert!(message.contains("not extensible"), "{message}");
    }
}

#[tokio::test]
async fn a_stateful_importer_that_writes_to_a_pure_module_keeps_both_per_run() {
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[
            (
                "a.js",
                "import { Base } from './base.js';\nimport './patch.js';\nexport default async () => new Base().count();",
            ),
            (
                "base.js",
                "export function Base() {}\nBase.prototype.count = function () { return 0; };",
            ),
            (
                "patch.js",
                "import { Base } from './base.js';\nlet n = 0;\nBase.prototype.count = function () { return ++n; };",
            ),
        ],
        json!({}),
    );
    assert!(wl.program.shared_modules().is_empty());
    assert_eq!(outputs(&wl, 3).await, [json!(1), json!(1), json!(1)]);
}

#[tokio::test]
async fn what_the_analysis_cannot_see_meets_a_frozen_object_and_carries_nothing_over() {
    // The write goes through an alias, which the analysis does not follow: the module is shared,
    // its function frozen, and every run fails the same way with a hint, instead of counting up.
    let wl = one_node(
        "function f() { return 1; }\nexport default async () => { const g = f; g.n = (g.n ?? 0) + 1; return g.n; };",
    );
    assert_eq!(wl.program.shared_modules(), ["a.js"]);
    let all = outputs(&wl, 3).await;
    for message in &all {
        let message = message.as_str().unwrap_or_default();
        assert!(message.starts_with("TypeError"), "{message}");
        assert!(message.contains("modules without state"), "{message}");
        assert!(
            message.contains("(a.js:"),
            "the path, not the realm's name: {message}"
        );
    }
    // Objects that inherit from a shared prototype still take their own properties: assigning
    // `constructor` or a method name defines it on the object, as it does without freezing.
    let wl = one_node(
        "function Base() {}\nBase.prototype.hello = function () { return 'base'; };\nexport default async () => { const o = Object.create(Base.prototype); o.hello = () => 'own'; o.constructor = 1; return [o.hello(), o.constructor, new Base().hello()]; };",
    );
    // A top-level prototype assignment is code at the top level: not shared, and it works.
    assert!(wl.program.shared_modules().is_empty());
    let wl = one_node(
        "class Base { hello() { return 'base'; } }\nexport default async () => { const o = Object.create(Base.prototype); o.hello = () => 'own'; o.constructor = 1; return [o.hello(), o.constructor, new Base().hello()]; };",
    );
    assert_eq!(wl.program.shared_modules(), ["a.js"]);
    assert_eq!(
        outputs(&wl, 2).await,
        [json!(["own", 1, "base"]), json!(["own", 1, "base"])]
    );
    // The same for an anonymous default export, which has no top-level name.
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[
            (
                "a.js",
                "import Base from './base.js';\nexport default async () => { const o = new Base(); o.hello = () => 'own'; return [o.hello(), new Base().hello()]; };",
            ),
            (
                "base.js",
                "export default class { hello() { return 'base'; } }",
            ),
        ],
        json!({}),
    );
    assert_eq!(wl.program.shared_modules(), ["a.js", "base.js"]);
    assert_eq!(
        outputs(&wl, 2).await,
        [json!(["own", "base"]), json!(["own", "base"])]
    );
    // Writing to the shared prototype itself is refused, with the reason.
    let wl = one_node(
        "class Base { hello() { return 'base'; } }\nexport default async () => { const p = Base.prototype; p.hello = () => 'changed'; return new Base().hello(); };",
    );
    let all = outputs(&wl, 2).await;
    for message in &all {
        let message = message.as_str().unwrap_or_default();
        assert!(message.contains("a shared module's prototype"), "{message}");
    }
}

#[tokio::test]
async fn a_nodes_ctx_made_once_per_realm_carries_nothing_over() {
    // A node's `ctx` is made once per realm: frozen through, functions included (the `run`
    // getter too), so nothing a run puts on it reaches the next run, and `ctx.run` is always the
    // run in progress.
    let wl = one_node(
        "export default async (ctx) => {\n  const seen = [];\n  const getter = Object.getOwnPropertyDescriptor(ctx, 'run').get;\n  for (const target of [ctx, ctx.run, getter, ctx.log, ctx.log.info, ctx.progress, ctx.progress.prototype, ctx.node]) {\n    try { target.mark = 1; } catch {}\n    seen.push(target.mark ?? 0);\n  }\n  try { Object.defineProperty(ctx, 'run', { value: 'kept' }); } catch {}\n  try { ctx.run = 'kept'; } catch {}\n  return { seen, run: ctx.run.id, frozen: Object.isFrozen(ctx) && Object.isFrozen(getter) };\n};",
    );
    let all = outputs(&wl, 3).await;
    assert_eq!(wl.realms_created(), 1, "the three runs shared one realm");
    let ids: std::collections::HashSet<_> = all.iter().map(|o| o["run"].clone()).collect();
    assert_eq!(ids.len(), 3, "every run sees its own ctx.run: {all:?}");
    for output in &all {
        assert_eq!(output["seen"], json!([0, 0, 0, 0, 0, 0, 0, 0]), "{all:?}");
        assert_eq!(output["frozen"], true, "{all:?}");
        assert!(
            output["run"].as_str().is_some_and(|id| id.len() == 36),
            "{all:?}"
        );
    }
}
