//! Runs real workflows through the sandbox (QuickJS, worker threads) from in-memory files.

mod common;

use common::*;
use pipedreamer_sandbox::*;
use serde_json::json;
use std::sync::Arc;

const DIAMOND: &str = "name: d\nversion: \"1\"\nnodes:\n  - {id: a, file: a.ts}\n  - {id: b, file: b.js, depends_on: [a]}\n  - {id: c, file: c.js, depends_on: [a]}\n  - {id: d, file: d.js, depends_on: [b, c]}\n";

#[tokio::test]
async fn diamond_passes_outputs_along_the_dag() {
    let wl = workload(
        DIAMOND,
        &[
            (
                "a.ts",
                "import { inc } from './lib/inc.ts';\nexport default async function run(ctx: any, input: {n: number}): Promise<number> { return inc(input.n); }",
            ),
            (
                "lib/inc.ts",
                "export const inc = (n: number): number => n + 1;",
            ),
            ("b.js", "export default (ctx, x) => x * 10"),
            (
                "c.js",
                "export default async (ctx, x) => ({ run: ctx.run.id.length > 0, trigger: ctx.run.trigger, x })",
            ),
            ("d.js", "export default (ctx, input) => input"),
        ],
        json!({}),
    );
    let (out, json) = run(&sandbox(), &wl, json!({"n": 1})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(
        json["output"],
        json!({"b": 20, "c": {"run": true, "trigger": "http", "x": 2}})
    );
    assert_eq!(json["nodes"]["d"]["status"], "succeeded");
}

#[tokio::test]
async fn several_leaves_are_keyed_by_id() {
    let wl = workload(
        "name: l\nversion: \"1\"\nnodes:\n  - {id: x, file: x.js}\n  - {id: y, file: y.js}\n",
        &[
            ("x.js", "export default () => 1"),
            ("y.js", "export default (ctx, i) => i"),
        ],
        json!({}),
    );
    let (_, json) = run(&sandbox(), &wl, json!({"k": true})).await;
    assert_eq!(json["output"], json!({"x": 1, "y": {"k": true}}));
}

#[tokio::test]
async fn a_throwing_node_fails_the_run_and_skips_dependents() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n  - {id: b, file: b.js, depends_on: [a]}\n",
        &[
            ("a.js", "export default () => { throw new Error('boom') }"),
            ("b.js", "export default () => 1"),
        ],
        json!({}),
    );
    let (out, json) = run(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown));
    assert_eq!(json["error"]["node"], "a");
    assert!(
        json["error"]["message"].as_str().unwrap().contains("boom"),
        "{json}"
    );
    assert_eq!(json["nodes"]["b"]["status"], "skipped");
}

#[tokio::test]
async fn infinite_loops_time_out_and_the_sandbox_keeps_serving() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: spin, file: a.js, timeout: 200ms}\n",
        &[(
            "a.js",
            "export default (ctx, i) => { if (i.spin) { for (;;) {} } return 'ok' }",
        )],
        json!({}),
    );
    let sb = sandbox();
    let (out, json) = run(&sb, &wl, json!({"spin": true})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
    assert_eq!(json["nodes"]["spin"]["status"], "timed_out");
    let (out, _) = run(&sb, &wl, json!({})).await;
    assert!(out.succeeded());
}

#[tokio::test]
async fn awaits_that_never_resolve_time_out() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: wait, file: a.js, timeout: 100ms}\n",
        &[("a.js", "export default () => new Promise(() => {})")],
        json!({}),
    );
    let (out, _) = run(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout));
}

#[tokio::test]
async fn memory_bombs_hit_the_run_limit() {
    let wl = workload(
        "name: m\nversion: \"1\"\nconfig: {memory_limit: 16Mi}\nnodes:\n  - {id: bomb, file: a.js}\n",
        &[(
            "a.js",
            "export default (ctx, i) => { if (!i.bomb) return 'ok'; const a = []; for (;;) a.push('x'.repeat(1024) + a.length) }",
        )],
        json!({}),
    );
    let sb = sandbox();
    let (out, json) = run(&sb, &wl, json!({"bomb": true})).await;
    assert_eq!(out.failure(), Some(FailureKind::Memory), "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("16 MiB")
    );
    let (out, _) = run(&sb, &wl, json!({})).await;
    assert!(out.succeeded());
}

#[tokio::test]
async fn runs_do_not_share_state() {
    let wl = one_node(
        "let calls = 0;\nexport default () => { globalThis.seen = (globalThis.seen || 0) + 1; calls++; return [calls, globalThis.seen] }",
    );
    assert_every_run_returns(&wl, 3, json!([1, 1])).await;
}

#[tokio::test]
async fn module_state_is_per_run_while_realms_are_reused() {
    let wl = workload(
        "name: m\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n  - {id: b, file: b.js, depends_on: [a]}\n",
        &[
            (
                "a.js",
                "import { bump } from './counter.js';\nlet own = 0;\nexport default () => [++own, bump()]",
            ),
            (
                "b.js",
                "import { bump } from './counter.js';\nexport default (ctx, prev) => [...prev, bump()]",
            ),
            ("counter.js", "let n = 0;\nexport const bump = () => ++n;"),
        ],
        json!({}),
    );
    // Both nodes of a run share one instance of counter.js; no run sees another's.
    assert_every_run_returns(&wl, 150, json!([1, 1, 2])).await;
    let realms = wl.realms_created();
    assert!(
        (2..=12).contains(&realms),
        "150 runs should share a few realms (64 runs each, per worker), got {realms}"
    );
}

#[tokio::test]
async fn builtins_are_frozen_so_runs_cannot_change_them_for_later_runs() {
    let wl = one_node(
        r#"export default () => {
          const attempts = {
            arrayProto: () => { Array.prototype.evil = 1 },
            objectToString: () => { Object.prototype.toString = () => 'x' },
            json: () => { JSON.parse = () => 1 },
            console: () => { globalThis.console = null },
            random: () => { Math.random = () => 4 },
            errorLimit: () => { Error.stackTraceLimit = 0 },
          };
          const results = {};
          for (const [k, f] of Object.entries(attempts)) {
            try { f(); results[k] = 'mutated' } catch (e) { results[k] = e instanceof TypeError ? 'refused' : String(e) }
          }
          const setters = [];
          const seen = new Set();
          const todo = [[globalThis, 'globalThis']];
          while (todo.length) {
            const [o, path] = todo.pop();
            if (o === null || (typeof o !== 'object' && typeof o !== 'function') || seen.has(o)) continue;
            seen.add(o);
            todo.push([Object.getPrototypeOf(o), path + '.__proto__']);
            for (const k of Reflect.ownKeys(o)) {
              const d = Object.getOwnPropertyDescriptor(o, k);
              if (d.set && d.set.name !== 'set') setters.push(String(k));
              if ('value' in d) todo.push([d.value, path + '.' + String(k)]);
            }
          }
          results.setters = setters.sort();
          const hooked = { prepare: typeof Error.prepareStackTrace, limit: Error.stackTraceLimit };
          try { Error.prepareStackTrace = () => 'hooked' } catch {}
          results.clean = String(new Error('x').stack).includes('hooked') === false && hooked.prepare === 'undefined' && hooked.limit === 10;
          results.clean = results.clean && [].evil === undefined && JSON.parse('1') === 1 && Math.random() < 1
            && typeof console.log === 'function' && ({}).toString() === '[object Object]';
          return results;
        }"#,
    );
    assert_every_run_returns(&wl, 3, json!({"arrayProto": "refused", "objectToString": "refused", "json": "refused", "console": "refused", "random": "refused", "errorLimit": "refused", "clean": true,
                // Setters left on builtins; each only acts on its receiver or throws (a new one
                // in a QuickJS upgrade must be reviewed: it may store realm state).
                // `cancelBubble`, `returnValue` (Event) and `onabort` (AbortSignal) store into
                // the event or signal they are called on (`web/events.js`); URL's setters
                // (`hash` … `username`) store into the URL's private fields (`web/url.js`).
                "setters": ["Symbol(Symbol.toStringTag)", "__proto__", "arguments", "caller", "cancelBubble", "constructor", "hash", "host", "hostname", "href", "onabort", "password", "pathname", "port", "protocol", "returnValue", "search", "stack", "username"]})).await;
    let uncaught = one_node("export default () => { Array.prototype.evil = 1 }");
    let (_, json) = run(&sandbox(), &uncaught, json!({})).await;
    let message = json["error"]["message"].as_str().unwrap();
    assert!(message.contains("TypeError"), "{message}");
    assert!(
        message.contains("frozen so that runs cannot affect each other"),
        "{message}"
    );
    assert!(!message.contains("~"), "slot prefix leaked into: {message}");
}

#[tokio::test]
async fn assigning_inherited_builtin_properties_on_own_objects_still_works() {
    let wl = one_node(
        r#"class AppError extends Error { constructor(m) { super(m); this.name = 'AppError'; } }
        function Legacy() {}
        Legacy.prototype = {};
        Legacy.prototype.constructor = Legacy;
        Legacy.prototype.toString = function () { return 'legacy'; };
        export default () => {
          const o = {};
          o.toString = () => 'custom';
          o.valueOf = () => 42;
          const e = new TypeError('t');
          e.name = 'Renamed';
          e.message = 'changed';
          const arr = [];
          arr.push(1, 2);
          return { appError: String(new AppError('boom')), legacy: String(new Legacy()),
            ctor: new Legacy().constructor === Legacy, custom: `${o}`, sum: o + 0,
            renamed: String(e), arr, keys: Object.keys(o) };
        }"#,
    );
    let (_, json) = run(&sandbox(), &wl, json!({})).await;
    assert_eq!(
        json["output"],
        json!({"appError": "AppError: boom", "legacy": "legacy", "ctor": true, "custom": "custom", "sum": 42, "renamed": "Renamed: changed", "arr": [1, 2], "keys": ["toString", "valueOf"]})
    );
}

#[tokio::test]
async fn a_run_cannot_import_other_runs_modules_or_the_host() {
    let wl = one_node(
        r#"export default async () => {
          const results = [];
          for (const s of ['../~0/a.js', '~0/a.js', '~1/a.js', './a.js?x', 'pipedreamer:host', './a.js']) {
            try { await import(s); results.push('imported ' + s) } catch { results.push('refused') }
          }
          // What the graph resolved `./a.js` to (from this literal import), whoever asks.
          results.push(await import('./a.js').then(() => 'imported ./a.js literally'));
          return results;
        }"#,
    );
    assert_every_run_returns(
        &wl,
        3,
        json!([
            "refused",
            "refused",
            "refused",
            "refused",
            "refused",
            "imported ./a.js",
            "imported ./a.js literally"
        ]),
    )
    .await;
}

#[tokio::test]
async fn module_state_kept_by_earlier_runs_does_not_starve_later_ones() {
    // Each run's module instance keeps ~6 MiB alive until its realm goes; without dropping
    // grown realms, the 16 MiB per-run limit would be hit within a few runs.
    let wl = one_node_with(
        "config: {memory_limit: 16Mi}\n",
        "const table = Array.from({ length: 100000 }, (_, i) => 'row-' + i);\nexport default () => table.length",
    );
    let sb = sandbox();
    for _ in 0..40 {
        let (_, json) = run(&sb, &wl, json!({})).await;
        assert_eq!(json["output"], 100000, "{json}");
    }
    assert!(wl.realms_created() > 2, "grown realms must be replaced");
}

#[tokio::test]
async fn work_left_queued_by_a_run_never_runs_in_a_later_one() {
    let wl = one_node(
        r#"export default (ctx, input) => {
          if (input.leave) (async () => { for (;;) { await null; ctx.log.info('still here') } })();
          return 'done';
        }"#,
    );
    let sb = sandbox();
    for leave in [true, false, false] {
        let (_, json) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            run(&sb, &wl, json!({"leave": leave})),
        )
        .await
        .expect("a run hung");
        assert_eq!(json["output"], "done", "{json}");
    }
}

#[tokio::test]
async fn sandbox_has_no_ambient_capabilities_and_frozen_secrets() {
    let wl = workload(
        "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            r#"export default (ctx) => {
            let mutated = true;
            try { ctx.secrets.api.key = 'x'; } catch { mutated = false; }
            return {
              process: typeof process, require: typeof require, deno: typeof Deno, std: typeof std, os: typeof os,
              fetchGlobal: typeof fetch, mutated, key: ctx.secrets.api.key.length,
            };
        }"#,
        )],
        json!({"api": {"key": "supersecret"}}),
    );
    let (_, json) = run(&sandbox(), &wl, json!({})).await;
    assert_eq!(
        json["output"],
        json!({"process": "undefined", "require": "undefined", "deno": "undefined", "std": "undefined", "os": "undefined", "fetchGlobal": "function", "mutated": false, "key": 11})
    );
}

#[tokio::test]
async fn disallowed_hosts_are_refused_with_a_fix() {
    let wl = workload(
        "name: f\nversion: \"1\"\nfetch: {allow: [api.example.com]}\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default async (ctx) => { try { await ctx.fetch('http://127.0.0.1:9/'); return 'reached' } catch (e) { return String(e) } }",
        )],
        json!({}),
    );
    let (_, json) = run(&sandbox(), &wl, json!({})).await;
    let msg = json["output"].as_str().unwrap();
    assert!(
        msg.contains("requires network access to `127.0.0.1`") && msg.contains("fetch.allow"),
        "{msg}"
    );
}

#[tokio::test]
async fn errors_never_show_secret_values() {
    let wl = workload(
        "name: r\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default (ctx) => { throw new Error('token is ' + ctx.secrets.t) }",
        )],
        json!({"t": "s3cr3t-value"}),
    );
    let (_, json) = run(&sandbox(), &wl, json!({})).await;
    let msg = json["error"]["message"].as_str().unwrap();
    assert!(
        !msg.contains("s3cr3t-value") && msg.contains("[REDACTED]"),
        "{msg}"
    );
}

#[tokio::test]
async fn non_json_return_values_fail_clearly() {
    let wl = workload(
        "name: r\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default () => { const o = {}; o.self = o; return o }",
        )],
        json!({}),
    );
    let (out, json) = run(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Thrown));
    assert!(
        json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not JSON-serializable"),
        "{json}"
    );
}

#[tokio::test]
async fn modules_whose_names_cannot_be_renamed_in_bytecode_are_compiled_per_run() {
    // A name outside Latin-1 is stored as UTF-16 in QuickJS bytecode, so the loader compiles the
    // source for each run instead of renaming the bytecode; state must still be per run.
    let wl = workload(
        "name: u\nversion: \"1\"\nnodes:\n  - {id: a, file: nodes/zähler€.js}\n",
        &[
            (
                "nodes/zähler€.js",
                "import { bump } from './hilfe€.js';\nexport default () => bump()",
            ),
            (
                "nodes/hilfe€.js",
                "let n = 0;\nexport const bump = () => ++n;",
            ),
        ],
        json!({}),
    );
    assert_every_run_returns(&wl, 5, json!(1)).await;
}

// ---------------------------------------------------------------------------------------------
// Regressions from the red-team review (issue 10). Each failed before its fix.

// A run's late failure reached the next caller: an error raised in a job the run queued (here
// the interrupt that stops a job still running at the node's deadline) stayed pending on the
// runtime, where the next run (another caller) could fail with it, while the run that caused it
// reported success.
#[tokio::test]
async fn a_late_failure_in_a_queued_job_never_reaches_the_next_run() {
    let wl = workload(
        "name: l\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 200ms}\n",
        &[(
            "a.js",
            r#"export default async (ctx, input) => {
              if (input.card) Promise.resolve().then(() => { for (;;) { input.card.length } });
              await null; // the queued job runs here, inside this run
              return "ok";
            }"#,
        )],
        json!({}),
    );
    let sb = single_worker();
    for i in 0..6 {
        let card = (i % 2 == 0).then_some("4111111111111111");
        let (out, json) = run_bounded(&sb, &wl, json!({ "card": card })).await;
        let text = json.to_string();
        if card.is_some() {
            assert_eq!(out.failure(), Some(FailureKind::Timeout), "{text}");
        } else {
            assert!(out.succeeded(), "run {i} got another run's failure: {text}");
            assert!(!text.contains("interrupted"), "{text}");
        }
    }
}

// An interrupted microtask flood left `InternalError: interrupted` for the next run, and the
// flooding run itself reported success.
#[tokio::test]
async fn a_microtask_flood_past_the_timeout_fails_its_run_only() {
    let wl = workload(
        "name: f\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 300ms}\n",
        &[(
            "a.js",
            r#"export default async (ctx, input) => {
              if (input.flood) { const f = () => { Promise.resolve().then(f); }; f(); }
              await null; // the flood runs from here on, past the node's timeout
              return "ok";
            }"#,
        )],
        json!({}),
    );
    let sb = single_worker();
    for flood in [true, false, true, false] {
        let (out, json) = run_bounded(&sb, &wl, json!({ "flood": flood })).await;
        if flood {
            assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
            assert_eq!(json["nodes"]["a"]["status"], "timed_out", "{json}");
        } else {
            assert!(out.succeeded(), "{json}");
        }
    }
}

// Code run through indirect eval or `Function` resolved imports with base `<input>`, so it could
// load another run's module instances (`~00000000/…`) and the host module.
#[tokio::test]
async fn evaluated_code_cannot_import_other_runs_modules_or_the_host() {
    let wl = workload(
        "name: e\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[
            (
                "a.js",
                r#"import { count } from "./lib.js";
                export default async () => {
                  const out = { own: count() };
                  for (const slot of [0, 1, 2, 3]) {
                    const name = `~0000000${slot}/lib.js`;
                    try { const m = await (0, eval)(`import(${JSON.stringify(name)})`); out[slot] = m.count(); }
                    catch { out[slot] = "refused"; }
                  }
                  for (const [key, code] of [["host", 'return import("pipedreamer:host")'], ["relative", 'return import("./lib.js")']]) {
                    try { await new Function(code)(); out[key] = "loaded"; } catch { out[key] = "refused"; }
                  }
                  return out;
                }"#,
            ),
            ("lib.js", "let n = 0; export const count = () => ++n;"),
        ],
        json!({}),
    );
    let sb = single_worker();
    for run_no in 0..4 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        let o = &json["output"];
        assert_eq!(o["own"], 1, "module state is per run: {json}");
        assert_eq!(o["host"], "refused", "{json}");
        assert_eq!(o["relative"], "refused", "{json}");
        // Other slots are refused; this run's own slot (if it is one of 0-3) is its own module.
        for slot in 0..4 {
            let got = &o[slot.to_string()];
            assert!(
                got == "refused" || got == 2,
                "run {run_no} reached slot {slot}: {json}"
            );
        }
        let reached = (0..4).filter(|s| o[s.to_string()] != "refused").count();
        assert!(reached <= 1, "{json}");
    }
}

// Array builtins looped over huge array-likes without checking the interrupt handler: two such
// requests stopped every run on the machine while /healthz still said 200.
#[tokio::test]
async fn builtins_on_huge_array_likes_honour_the_timeout() {
    let cases = [
        r#"Array.prototype.join.call({length: 2**53 - 1}, "")"#,
        r#"Array.prototype.reverse.call({length: 2**53 - 1})"#,
        r#"Array.prototype.copyWithin.call({length: 2**53 - 1}, 0, 1)"#,
        r#"Array.prototype.splice.call({length: 2**53 - 2}, 0, 0, 1)"#,
        r#"Array.prototype.shift.call({length: 2**53 - 1})"#,
        r#"Array.prototype.toLocaleString.call({length: 2**53 - 1})"#,
        r#"Array.prototype.concat.call([], {length: 2**53 - 2, [Symbol.isConcatSpreadable]: true})"#,
        r#"Array.prototype.flat.call({length: 2**53 - 1})"#,
        r#"new Array(2**32 - 1).sort()"#,
        r#"new Array(2**32 - 1).join()"#,
        // Bounded by memory, but 2^24 doubles took seconds in one C call.
        r#"const chunk = new Float64Array(1 << 16).map(() => Math.random());
           const a = new Float64Array(2 ** 24);
           for (let at = 0; at < a.length; at += chunk.length) a.set(chunk, at);
           a.sort()"#,
    ];
    let sb = single_worker();
    for case in cases {
        let wl = workload(
            "name: h\nversion: \"1\"\nconfig: {memory_limit: 512Mi}\nnodes:\n  - {id: a, file: a.js, timeout: 200ms}\n",
            &[(
                "a.js",
                &format!("export default () => {{ {case}; return 'finished' }}"),
            )],
            json!({}),
        );
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert_eq!(out.failure(), Some(FailureKind::Timeout), "{case}: {json}");
        assert_eq!(json["nodes"]["a"]["status"], "timed_out", "{case}: {json}");
    }
    assert_eq!(
        sb.health().lost_total,
        0,
        "the timeout, not the watchdog, stops them"
    );
}

/// xorshift64*'s step, QuickJS's Math.random generator.
fn xorshift64star(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545F4914F6CDD1D)
}

/// The generator states that produce `first` and then `second` from Math.random.
fn states_behind(first: f64, second: f64) -> Vec<u64> {
    const MUL: u64 = 0x2545F4914F6CDD1D;
    // The inverse of MUL modulo 2^64 (Newton's iteration; MUL is odd).
    let mut inv: u64 = MUL;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(MUL.wrapping_mul(inv)));
    }
    let top = |d: f64| (d + 1.0).to_bits() & ((1 << 52) - 1);
    (0..4096u64)
        .map(|low| ((top(first) << 12) | low).wrapping_mul(inv))
        .filter(|&state| {
            let mut s = state;
            xorshift64star(&mut s) >> 12 == top(second)
        })
        .collect()
}

// Math.random's state belonged to the realm, so a run could predict the next run's numbers.
#[tokio::test]
async fn math_random_cannot_be_predicted_across_runs() {
    let wl = one_node("export default () => [Math.random(), Math.random()]");
    let sb = single_worker();
    let (first, _) = run_bounded(&sb, &wl, json!({})).await;
    let (second, _) = run_bounded(&sb, &wl, json!({})).await;
    // Parsed by Rust's correctly rounded float parser (serde_json's default may be 1 ULP off).
    let f = |o: &RunOutcome, i: usize| -> f64 {
        let text = o.output.as_ref().unwrap().get();
        text.trim_matches(['[', ']'])
            .split(',')
            .nth(i)
            .unwrap()
            .parse()
            .unwrap()
    };
    let states = states_behind(f(&first, 0), f(&first, 1));
    assert!(
        !states.is_empty(),
        "the generator model is wrong: {first:?}"
    );
    let next_run = f(&second, 0);
    for state in states {
        let mut s = state;
        xorshift64star(&mut s);
        let predicted = f64::from_bits((xorshift64star(&mut s) >> 12) | (0x3ff << 52)) - 1.0;
        assert_ne!(predicted, next_run, "run 1 predicted run 2's Math.random()");
    }
}

// Secrets that JSON escapes (a PEM key's newlines, quotes, backslashes) were logged and returned
// in clear by `ctx.log.info(ctx.secrets)` and `throw new Error(JSON.stringify(ctx.secrets))`.
#[tokio::test]
async fn json_escaped_secrets_are_redacted_in_errors() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            "export default (ctx) => { throw new Error(JSON.stringify(ctx.secrets)) }",
        )],
        json!({"key": pem, "pw": "quote\"and\\backslash"}),
    );
    let (_, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    let msg = json["error"]["message"].as_str().unwrap();
    assert!(!msg.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "{msg}");
    assert!(!msg.contains("backslash"), "{msg}");
    assert!(msg.contains("[REDACTED]"), "{msg}");
}

/// A local HTTP server answering every request with `body_len` bytes after `delay`; counts the
/// requests in flight at once (the most seen) and the body bytes the client took, and records
/// each request's head.
struct TestServer {
    addr: std::net::SocketAddr,
    max_in_flight: Arc<std::sync::atomic::AtomicUsize>,
    bytes_sent: Arc<std::sync::atomic::AtomicUsize>,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

async fn test_server(body_len: usize, delay: std::time::Duration) -> TestServer {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let bytes_sent = Arc::new(AtomicUsize::new(0));
    let (max, seen, sent) = (max_in_flight.clone(), heads.clone(), bytes_sent.clone());
    tokio::spawn(async move {
        let body = Arc::new(vec![b'x'; body_len]);
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (in_flight, max, seen, sent, body) = (
                in_flight.clone(),
                max.clone(),
                seen.clone(),
                sent.clone(),
                body.clone(),
            );
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                let n = sock.read(&mut buf).await.unwrap_or(0);
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                max.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                for chunk in body.chunks(64 << 10) {
                    if sock.write_all(chunk).await.is_err() {
                        break;
                    }
                    sent.fetch_add(chunk.len(), Ordering::SeqCst);
                }
                in_flight.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    TestServer {
        addr,
        max_in_flight,
        bytes_sent,
        heads,
    }
}

/// A node that fetches `url` `count` times in parallel and returns how many bodies it read.
fn parallel_fetches(count: usize, url: &str) -> String {
    format!(
        "export default async (ctx) => {{
           const all = await Promise.all(Array.from({{length: {count}}}, () => ctx.fetch('{url}').then(r => r.text())));
           return all.length;
         }}"
    )
}

// 24 parallel 15 MiB fetches in one run took the process to 385 MB: response bodies were
// buffered outside the run's memory limit, with no bound on fetches in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_bodies_count_toward_the_memory_limit() {
    let server = test_server(15 << 20, std::time::Duration::ZERO).await;
    let wl = one_node_with(
        "config: {memory_limit: 64Mi}\n",
        &parallel_fetches(24, &format!("http://{}/big", server.addr)),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Memory), "{json}");
    // Reading stops at the limit: far less than the 360 MiB the 24 bodies add up to (the rest
    // is what the kernel's socket buffers took before the client stopped reading).
    let sent = server.bytes_sent.load(std::sync::atomic::Ordering::SeqCst);
    assert!(sent < 200 << 20, "{} MiB were read", sent >> 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_eight_fetches_per_run_are_in_flight() {
    let server = test_server(16, std::time::Duration::from_millis(100)).await;
    let wl = one_node(&parallel_fetches(
        24,
        &format!("http://{}/small", server.addr),
    ));
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], 24);
    let max = server
        .max_in_flight
        .load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        (2..=8).contains(&max),
        "{max} fetches were in flight at once"
    );
}

// A node could set `Host` to another name and have it travel with the credential; and a denial
// was a plain TypeError that node code could not tell from a network error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_errors_are_typed_and_node_set_host_headers_are_ignored() {
    let server = test_server(2, std::time::Duration::ZERO).await;
    let port = server.addr.port();
    let wl = workload(
        &format!(
            "name: t\nversion: \"1\"\nnodes:\n  - {{id: a, file: a.js}}\nfetch:\n  allow: [127.0.0.1]\n  auth:\n    - {{host: \"127.0.0.1:{port}\", secret: t, allow_http: true}}\n"
        ),
        &[(
            "a.js",
            &format!(
                "export default async (ctx) => {{
                   await ctx.fetch('http://127.0.0.1:{port}/x', {{ headers: {{ host: 'evil.example' }} }});
                   try {{ await ctx.fetch('https://elsewhere.example/'); return 'reached'; }}
                   catch (e) {{ return {{ name: e.name, isNotCapable: e instanceof ctx.errors.NotCapable, message: e.message }}; }}
                 }}"
            ),
        )],
        json!({"t": "tok-123456"}),
    );
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"]["name"], "NotCapable", "{json}");
    assert_eq!(json["output"]["isNotCapable"], true, "{json}");
    let heads = server.heads.lock().unwrap().join("\n").to_ascii_lowercase();
    assert!(
        heads.contains(&format!("host: 127.0.0.1:{port}")),
        "{heads}"
    );
    assert!(!heads.contains("evil.example"), "{heads}");
    assert!(
        heads.contains("authorization: bearer tok-123456"),
        "{heads}"
    );
}
