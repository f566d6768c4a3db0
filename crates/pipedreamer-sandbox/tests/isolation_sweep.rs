//! Cross-run isolation of everything node code can reach: a generic sweep of the objects shared
//! by the runs of one realm (`fixtures/isolation_sweep.js`), and targeted probes of the web
//! platform APIs and `node:` builtins for state one run could leave for the next.

mod common;
use common::*;
use serde_json::{Value, json};

const SWEEP: &str = include_str!("fixtures/isolation_sweep.js");

/// The `node:` builtins, as `(namespace name, specifier)`.
const BUILTINS: &[(&str, &str)] = &[
    ("buffer", "node:buffer"),
    ("string_decoder", "node:string_decoder"),
    ("events", "node:events"),
    ("util", "node:util"),
    ("util_types", "node:util/types"),
    ("url", "node:url"),
    ("path", "node:path"),
    ("path_posix", "node:path/posix"),
    ("crypto", "node:crypto"),
    ("assert", "node:assert"),
    ("assert_strict", "node:assert/strict"),
];

/// The sweep in a workflow whose graph imports every `node:` builtin (their namespaces are
/// roots too) or none (lockdown then reaches only what globals do: a `node:` module's export
/// must not be what freezes a global's object).
fn sweep(with_builtins: bool) -> std::sync::Arc<pipedreamer_sandbox::Workload> {
    let used = if with_builtins { BUILTINS } else { &[] };
    let imports: String = used
        .iter()
        .map(|(ns, spec)| format!("import * as {ns} from \"{spec}\";\n"))
        .collect();
    let roots: Vec<String> = used
        .iter()
        .map(|(ns, spec)| format!("[\"{spec}\", {ns}]"))
        .collect();
    let entry = format!(
        "import sweep from \"./sweep.js\";\n{imports}export default (ctx, input) => sweep(input, [{}]);\n",
        roots.join(", ")
    );
    workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[("a.js", &entry), ("sweep.js", SWEEP)],
        json!({}),
    )
}

fn lines(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|l| format!("  {}\n", l.as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_else(|| format!("  {v}\n"))
}

// Every object reachable from globalThis and the `node:` builtins (through properties,
// prototypes and getters called on the objects that inherit them) is shared by the runs of a
// realm: each must be frozen, and none may be a container (Map, Set, buffer, Date, a class
// instance with private state, …) that freezing does not stop a run from changing.
#[tokio::test]
async fn no_shared_object_is_changeable() {
    for with_builtins in [true, false] {
        let wl = sweep(with_builtins);
        let sb = single_worker();
        let (out, json) = run_bounded(&sb, &wl, json!({"phase": "list"})).await;
        assert!(out.succeeded(), "{json:#}");
        let o = &json["output"];
        assert!(
            o["reached"].as_u64().unwrap() > 1000,
            "the walk reached too little: {o}"
        );
        let problems = &o["problems"];
        assert!(
            problems.as_array().is_some_and(|a| a.is_empty()),
            "shared objects a run could change ({} reached, node: builtins imported: {with_builtins}):\n{}",
            o["reached"],
            lines(problems)
        );
    }
}

// Whatever a run manages to write on every object it can reach (a property, a Map/Set/WeakMap
// entry, buffer bytes, a Date's time, a RegExp's lastIndex, an event listener), the next run of
// the same realm sees none of it.
#[tokio::test]
async fn what_a_run_writes_on_shared_objects_never_reaches_the_next_run() {
    for with_builtins in [true, false] {
        let wl = sweep(with_builtins);
        let sb = single_worker();
        let (out, json) = run_bounded(&sb, &wl, json!({"phase": "write"})).await;
        assert!(out.succeeded(), "{json:#}");
        let (out, json) = run_bounded(&sb, &wl, json!({"phase": "read"})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            wl.realms_created(),
            1,
            "the runs must have shared one realm"
        );
        let found = &json["output"]["found"];
        assert!(
            found.as_array().is_some_and(|a| a.is_empty()),
            "the second run saw what the first wrote (node: builtins imported: {with_builtins}):\n{}",
            lines(found)
        );
    }
}

/// Runs `js` (a module whose default export takes `input.step`) with step 1, then step 2 in the
/// same realm; returns both outputs (both runs must succeed).
async fn two_runs(js: &str) -> (Value, Value) {
    let wl = workload(
        "name: p\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 2s}\n",
        &[("a.js", js)],
        json!({}),
    );
    let sb = single_worker();
    let (out, first) = run_bounded(&sb, &wl, json!({"step": 1})).await;
    assert!(out.succeeded(), "step 1: {first:#}");
    let (out, json) = run_bounded(&sb, &wl, json!({"step": 2})).await;
    assert!(out.succeeded(), "step 2 got something of step 1: {json:#}");
    assert_eq!(
        wl.realms_created(),
        1,
        "the runs must have shared one realm"
    );
    (first["output"].clone(), json["output"].clone())
}

// Timers, intervals and AbortSignal.timeout belong to their run: none set by a run that ended
// fires in the next one (a callback that fired would fail it).
#[tokio::test]
async fn a_runs_timers_never_fire_in_a_later_run() {
    let (first, out) = two_runs(
        r#"export default async (ctx, input) => {
          const leak = () => { throw new Error("step 1's callback ran in step 2") };
          if (input.step === 1) {
            setTimeout(leak, 30);
            setInterval(leak, 10);
            AbortSignal.timeout(30).addEventListener("abort", leak);
            AbortSignal.any([AbortSignal.timeout(40)]).onabort = leak;
            return "armed";
          }
          const ids = [setTimeout(() => {}, 1), setTimeout(() => {}, 1)];
          await new Promise((r) => setTimeout(r, 200));
          return { ids };
        }"#,
    )
    .await;
    // Ids start over each run: step 1's ids (1-4) are not skipped.
    assert_eq!(first, "armed");
    assert_eq!(out, json!({"ids": [1, 2]}));
}

// Neither a run's Buffers nor its hash objects share memory with the next run's:
// `Buffer.allocUnsafe` is not a slice of a realm-wide pool a run could have written.
#[tokio::test]
async fn buffers_and_hashes_share_nothing_across_runs() {
    let (first, out) = two_runs(
        r#"import { Buffer } from "node:buffer";
        import { createHash, createHmac } from "node:crypto";
        export default async (ctx, input) => {
          if (input.step === 1) {
            for (let i = 0; i < 64; i++) Buffer.allocUnsafe(128).fill(0x41);
            Buffer.from("AAAA").buffer;
            createHash("sha256").update("step 1");
            createHmac("sha256", "k").update("step 1");
            return "written";
          }
          const fresh = [Buffer.allocUnsafe(128), Buffer.allocUnsafeSlow(128), Buffer.from("x")];
          return {
            poolSlice: fresh.some((b) => b.buffer.byteLength !== b.length),
            sawStep1: fresh.some((b) => b.includes(0x41)),
            hash: createHash("sha256").update("").digest("hex"),
          };
        }"#,
    )
    .await;
    assert_eq!(first, "written");
    assert_eq!(
        out,
        json!({"poolSlice": false, "sawStep1": false,
               "hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"})
    );
}

// What a run may try on the realm's error machinery, `util.inspect`'s defaults and the
// EventEmitter defaults is refused, and the next run sees the usual behaviour.
#[tokio::test]
async fn error_inspect_and_emitter_defaults_stay_put() {
    let (first, out) = two_runs(
        r#"import util from "node:util";
        import { EventEmitter } from "node:events";
        export default async (ctx, input) => {
          if (input.step === 1) {
            const tries = [
              () => { Error.prepareStackTrace = () => "hooked" },
              () => { Error.stackTraceLimit = 0 },
              () => { Error.captureStackTrace = () => {} },
              () => { util.inspect.defaultOptions = { depth: 0 } },
              () => { util.inspect.defaultOptions.depth = 0 },
              () => { EventEmitter.defaultMaxListeners = 1 },
              () => { EventEmitter.prototype._maxListeners = 1 },
              // Builtins behind lockdown's overridable accessors were left unfrozen: hooking
              // `hasOwnProperty.call` showed a run every later run's calls.
              () => { Object.defineProperty(Object.prototype.hasOwnProperty, "call", { value: () => true }) },
            ];
            return tries.map((t) => { try { t(); return "changed" } catch { return "refused" } });
          }
          const e = new EventEmitter();
          return {
            stack: typeof new Error("x").stack === "string" && new Error("x").stack.includes("a.js"),
            inspect: util.inspect({ a: { b: { c: { d: 1 } } } }),
            max: e.getMaxListeners(),
            own: Object.prototype.hasOwnProperty.call({}, "x"),
          };
        }"#,
    )
    .await;
    assert_eq!(
        first,
        json!(vec!["refused"; 8]),
        "a run changed realm-wide defaults"
    );
    assert_eq!(
        out,
        json!({"stack": true, "inspect": "{ a: { b: { c: [Object] } } }", "max": 10, "own": false})
    );
}

// Host code never hands node code a way up its own call stack: a sloppy-mode callback called by
// the platform (timers, events, promises, streams, getters read by structuredClone) finds no
// `caller`, and the platform's functions show no host source.
#[tokio::test]
async fn callbacks_cannot_climb_into_host_code() {
    let (first, out) = two_runs(
        r#"export default async (ctx, input) => {
          const seen = [];
          const spy = new Function("seen", `return function spy() {
            let c; try { c = spy.caller; } catch { c = "throws"; }
            let d; try { d = arguments.callee.caller; } catch { d = "throws"; }
            seen.push(typeof c === "function" || typeof d === "function" ? "reached " + String(c || d).slice(0, 60) : "none");
          }`)(seen);
          await new Promise((r) => setTimeout(() => { spy(); r(); }, 0));
          setTimeout(spy, 0); await new Promise((r) => setTimeout(r, 5));
          const t = new EventTarget(); t.addEventListener("x", spy); t.dispatchEvent(new Event("x"));
          await Promise.resolve().then(spy);
          queueMicrotask(spy); await null;
          structuredClone({ get a() { spy(); return 1 } });
          new ReadableStream({ start: spy });
          new AbortController().signal.onabort = spy;
          const host = [setTimeout, structuredClone, fetch, EventTarget.prototype.addEventListener, crypto.subtle.digest]
            .map((f) => Function.prototype.toString.call(f))
            .filter((s) => /natives|nativeLog|freeze/.test(s));
          return { seen: [...new Set(seen)], host };
        }"#,
    )
    .await;
    assert_eq!(first, out);
    assert_eq!(out, json!({"seen": ["none"], "host": []}));
}

// The native Intl caches (per worker thread, keyed by locale and options) cannot be poisoned: a
// run that builds formatters from options whose getters answer differently on every read, from
// locale objects that stringify differently each time, and from odd options, leaves the next
// run's formatting exactly as on a thread that never saw it.
#[tokio::test]
async fn a_run_cannot_poison_the_intl_caches() {
    let check = r#"
      const d = new Date(Date.UTC(2024, 10, 5, 13, 7, 9));
      return [
        new Intl.NumberFormat("en", { style: "percent" }).format(0.5),
        new Intl.NumberFormat("de", { style: "currency", currency: "EUR" }).format(1234.5),
        new Intl.NumberFormat("en").format(1234567.891),
        new Intl.NumberFormat("fr", { notation: "compact" }).format(1234567),
        new Intl.DateTimeFormat("en", { timeZone: "Europe/Berlin", dateStyle: "full", timeStyle: "long" }).format(d),
        new Intl.DateTimeFormat("de", { timeZone: "UTC", hour: "numeric", minute: "2-digit" }).format(d),
        d.toLocaleString("en-GB", { timeZone: "Asia/Tokyo" }),
        ["b", "a", "B", "ä", "10", "9"].sort(new Intl.Collator("de", { numeric: true }).compare).join(),
        new Intl.PluralRules("en", { type: "ordinal" }).select(2),
        new Intl.RelativeTimeFormat("es", { numeric: "auto" }).format(-1, "day"),
      ];"#;
    let js = format!(
        r#"export default async (ctx, input) => {{
          if (input.step === 1) {{
            let n = 0;
            const flip = (a, b) => () => (n++ % 2 ? a : b);
            const opts = (pairs) => Object.defineProperties({{}}, Object.fromEntries(
              Object.entries(pairs).map(([k, [a, b]]) => [k, {{ get: flip(a, b), enumerable: true }}])));
            const locale = {{ toString: flip("de", "en") }};
            const attempts = [
              () => new Intl.NumberFormat("en", opts({{ style: ["percent", "decimal"] }})).format(0.5),
              () => new Intl.NumberFormat("de", opts({{ style: ["currency", "decimal"], currency: ["EUR", "USD"] }})).format(1234.5),
              () => new Intl.NumberFormat(locale, opts({{ useGrouping: [false, true], maximumFractionDigits: [0, 3] }})).format(1234567.891),
              () => new Intl.NumberFormat("fr", opts({{ notation: ["compact", "standard"], compactDisplay: ["long", "short"] }})).format(1234567),
              () => new Intl.DateTimeFormat(locale, opts({{ timeZone: ["Europe/Berlin", "UTC"], dateStyle: ["full", "short"], timeStyle: ["long", "short"] }})).format(0),
              () => new Intl.DateTimeFormat("de", opts({{ timeZone: ["UTC", "Asia/Tokyo"], hour: ["numeric", "2-digit"], minute: ["2-digit", "numeric"], hour12: [true, false] }})).format(0),
              () => (0).toLocaleString([locale, "en-GB"], opts({{ timeZone: ["Asia/Tokyo", "UTC"] }})),
              () => new Intl.Collator(locale, opts({{ numeric: [true, false], sensitivity: ["base", "variant"], caseFirst: ["upper", "lower"] }})).compare("a", "B"),
              () => new Intl.PluralRules(locale, opts({{ type: ["ordinal", "cardinal"] }})).select(2),
              () => new Intl.RelativeTimeFormat(locale, opts({{ numeric: ["auto", "always"], style: ["narrow", "long"] }})).format(-1, "day"),
            ];
            for (let round = 0; round < 40; round++) for (const a of attempts) try {{ a(); }} catch {{}}
            return "poisoned?";
          }}
          {check}
        }}"#
    );
    let wl = workload(
        "name: i\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[("a.js", &js)],
        json!({}),
    );
    // The reference: a sandbox (fresh worker threads, empty caches) that only ever checks.
    let (out, fresh) = run_bounded(&single_worker(), &wl, json!({"step": 2})).await;
    assert!(out.succeeded(), "{fresh:#}");
    assert_eq!(fresh["output"][0], "50%", "{fresh:#}");
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({"step": 1})).await;
    assert!(out.succeeded(), "{json:#}");
    let (out, after) = run_bounded(&sb, &wl, json!({"step": 2})).await;
    assert!(out.succeeded(), "{after:#}");
    assert_eq!(
        after["output"], fresh["output"],
        "the first run changed the second's Intl"
    );
}

// The realm's internal modules (the host API, the web areas, whose `install` and `fire` would
// let a run rewire every later run's timers or natives, and the CommonJS runtime and errors)
// cannot be imported by node code, whoever asks: a module, `eval`'d code, `Function`, a callback.
#[tokio::test]
async fn node_code_cannot_import_the_realms_internal_modules() {
    let wl = workload(
        "name: m\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[
            (
                "a.js",
                r#"import { Buffer } from "node:buffer";
                import { createHash } from "node:crypto";
                import lib from "./lib.cjs";
                const names = ["pipedreamer:host", "pipedreamer:web/runtime", "pipedreamer:web/timers",
                  "pipedreamer:web/events", "pipedreamer:web/url", "pipedreamer:web/encoding",
                  "pipedreamer:web/fetch", "pipedreamer:web/crypto", "pipedreamer:web/intl",
                  "pipedreamer:node/errors", "pipedreamer:node/commonjs", "node:fs", "node:process"];
                export default async () => {
                  const reached = [];
                  for (const name of names) {
                    const ways = {
                      module: () => import(name),
                      eval: () => (0, eval)(`import(${JSON.stringify(name)})`),
                      Function: () => new Function(`return import(${JSON.stringify(name)})`)(),
                      callback: () => new Promise((r, j) => setTimeout(() => import(name).then(r, j), 0)),
                      require: () => lib.load(name),
                    };
                    for (const [way, load] of Object.entries(ways)) {
                      try { await load(); reached.push(`${way}: ${name}`); } catch {}
                    }
                  }
                  // The control: the same ways do load what the graph has.
                  const control = (await import("node:buffer")).Buffer === Buffer;
                  return { reached, control };
                }"#,
            ),
            (
                "lib.cjs",
                "module.exports = { load: (name) => { const r = require; return r(name); } };\n",
            ),
        ],
        json!({}),
    );
    let sb = single_worker();
    for _ in 0..2 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            json["output"],
            json!({"reached": [], "control": true}),
            "{json:#}"
        );
    }
}

// Two runs in flight at once on one worker thread: one cannot clear the other's timers by
// guessing their ids (ids are per run), and `performance.now()` counts from each run's start.
#[tokio::test]
async fn concurrent_runs_cannot_touch_each_others_timers() {
    let wl = one_node(
        r#"export default async (ctx, input) => {
          if (input.role === "sleeper") {
            const fired = await new Promise((r) => { setTimeout(() => r("fired"), 200); setInterval(() => {}, 50); });
            return { fired, clock: performance.now() >= 200 };
          }
          await new Promise((r) => setTimeout(r, 50));
          for (let id = 0; id < 1000; id++) { clearTimeout(id); clearInterval(id); }
          return { fired: "none", clock: performance.now() < 200 };
        }"#,
    );
    let sb = single_worker();
    let (sleeper, clearer) = tokio::join!(
        run_bounded(&sb, &wl, json!({"role": "sleeper"})),
        run_bounded(&sb, &wl, json!({"role": "clearer"}))
    );
    assert!(sleeper.0.succeeded(), "{:#}", sleeper.1);
    assert!(clearer.0.succeeded(), "{:#}", clearer.1);
    assert_eq!(
        sleeper.1["output"],
        json!({"fired": "fired", "clock": true})
    );
    assert_eq!(clearer.1["output"], json!({"fired": "none", "clock": true}));
}

// A JSON module's object and a CommonJS module's `module`/`exports` (and its `require`) belong to
// the run: what one run changes on them, the next never sees.
#[tokio::test]
async fn json_and_commonjs_module_objects_are_per_run() {
    let wl = workload(
        "name: j\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[
            (
                "a.js",
                r#"import data from "./data.json";
                import lib from "./lib.cjs";
                export default async (ctx, input) => {
                  const seen = { json: data.x, cjs: lib.x, module: lib.module.x, require: lib.require.x ?? null };
                  if (input.step === 1) { data.x = "run 1"; lib.x = "run 1"; lib.module.x = "run 1"; lib.require.x = "run 1"; }
                  return seen;
                }"#,
            ),
            ("data.json", r#"{"x": "pristine"}"#),
            (
                "lib.cjs",
                "module.exports = { x: 'pristine', module, require };\nmodule.x = 'pristine';\n",
            ),
        ],
        json!({}),
    );
    let sb = single_worker();
    for step in [1, 2, 2] {
        let (out, json) = run_bounded(&sb, &wl, json!({"step": step})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            json["output"],
            json!({"json": "pristine", "cjs": "pristine", "module": "pristine", "require": null}),
            "step {step}"
        );
    }
    assert_eq!(
        wl.realms_created(),
        1,
        "the runs must have shared one realm"
    );
}

// globalThis stays extensible (a run may add globals; the executor then drops the realm), so
// what else a run can do to it must be refused or must drop the realm too: a new prototype
// (whose getters every later run's global lookups would reach), or making it non-extensible
// (every later run's new globals, a polyfill's or sloppy code's, would throw).
#[tokio::test]
async fn a_run_cannot_leave_anything_on_globalthis() {
    let wl = one_node(
        r#"export default async (ctx, input) => {
          const tries = {
            setPrototypeOf: () => Object.setPrototypeOf(globalThis, Object.create(Object.prototype, { leaked: { get: () => "run 1" } })),
            protoSetter: () => { globalThis.__proto__ = Object.create(Object.prototype, { leaked: { value: "run 1" } }) },
            preventExtensions: () => Object.preventExtensions(globalThis),
            seal: () => Object.seal(globalThis),
            freeze: () => Object.freeze(globalThis),
          };
          if (input.try) { try { tries[input.try](); } catch {} return "tried"; }
          return { leaked: typeof leaked === "undefined" ? null : leaked, extensible: Object.isExtensible(globalThis),
                   proto: Object.getPrototypeOf(globalThis) === Object.prototype };
        }"#,
    );
    let sb = single_worker();
    for attempt in [
        "setPrototypeOf",
        "protoSetter",
        "preventExtensions",
        "seal",
        "freeze",
    ] {
        let (out, json) = run_bounded(&sb, &wl, json!({"try": attempt})).await;
        assert!(out.succeeded(), "{json:#}");
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json:#}");
        assert_eq!(
            json["output"],
            json!({"leaked": null, "extensible": true, "proto": true}),
            "the run after one that tried {attempt}"
        );
    }
}

// structuredClone of exotic objects (proxies, revoked or with throwing traps, getters that
// throw, platform objects) throws an ordinary error in the run; nothing is half-cloned into the
// realm, and the next run clones as usual.
#[tokio::test]
async fn structured_clone_of_exotic_objects_fails_cleanly() {
    let wl = one_node(
        r#"export default async (ctx, input) => {
          const { proxy, revoke } = Proxy.revocable({}, {}); revoke();
          const cases = {
            proxy: () => structuredClone(new Proxy({ a: 1 }, {})),
            revoked: () => structuredClone(proxy),
            trapThrows: () => structuredClone(new Proxy({}, { ownKeys() { throw new Error("trap") } })),
            getterThrows: () => structuredClone({ get a() { throw new Error("getter") } }),
            proxyOfMap: () => structuredClone(new Proxy(new Map([[1, 2]]), {})),
            deep: () => { let o = {}; for (let i = 0; i < 1e5; i++) o = { o }; return structuredClone(o) },
            platform: () => structuredClone(new Headers()),
            signal: () => structuredClone(AbortSignal.abort()),
          };
          const out = {};
          for (const [k, f] of Object.entries(cases)) {
            try { f(); out[k] = "cloned"; } catch (e) { out[k] = e?.name ?? typeof e; }
          }
          out.after = structuredClone({ m: new Map([[1, { d: new Date(0) }]]) }).m.get(1).d.getTime();
          return out;
        }"#,
    );
    let sb = single_worker();
    let (out, first) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "{first:#}");
    let (out, second) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "{second:#}");
    assert_eq!(first["output"], second["output"]);
    let o = &first["output"];
    assert_eq!(o["after"], 0, "{o}");
    assert_eq!(o["revoked"], "TypeError", "{o}");
    assert_eq!(o["getterThrows"], "Error", "{o}");
    assert_eq!(o["platform"], "DataCloneError", "{o}");
    eprintln!("{o}");
}

// Timer ids start over each run, so a due time left in the native queue by an ended run would
// fire the next run's timer of the same id early: the queue forgets an ended run's timers.
#[tokio::test]
async fn an_ended_runs_due_times_never_fire_the_next_runs_timers() {
    let (_, out) = two_runs(
        r#"export default async (ctx, input) => {
          if (input.step === 1) {
            for (let i = 0; i < 8; i++) setTimeout(() => {}, 20 + i);
            for (let i = 0; i < 8; i++) setInterval(() => {}, 5);
            return "armed";
          }
          const t0 = performance.now();
          const early = [];
          await Promise.all(Array.from({ length: 16 }, (_, i) => new Promise((r) =>
            setTimeout(() => { if (performance.now() - t0 < 300) early.push(i + 1); r(); }, 300))));
          return early;
        }"#,
    )
    .await;
    assert_eq!(out, json!([]), "timers of step 2 fired early (their ids)");
}

// What the platform's functions return for ordinary arguments (lists of zones and locales,
// resolved options, parsed URLs and paths, …) is either a fresh object each call or frozen: a
// cached array a run could push to would reach every later run.
#[tokio::test]
async fn call_results_are_fresh_or_frozen() {
    let wl = workload(
        "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            r#"import path from "node:path";
            import url from "node:url";
            import util from "node:util";
            import { Buffer } from "node:buffer";
            import { EventEmitter, getEventListeners } from "node:events";
            import nodeCrypto from "node:crypto";
            export default async () => {
              const dtf = new Intl.DateTimeFormat("en", { timeZone: "UTC" });
              const e = new EventEmitter();
              const calls = {
                ...Object.fromEntries(["calendar", "collation", "currency", "numberingSystem", "timeZone", "unit"]
                  .map((k) => [`supportedValuesOf(${k})`, () => Intl.supportedValuesOf(k)])),
                getCanonicalLocales: () => Intl.getCanonicalLocales("en"),
                supportedLocalesOf: () => Intl.DateTimeFormat.supportedLocalesOf(["en", "de"]),
                dtfResolved: () => dtf.resolvedOptions(),
                dtfParts: () => dtf.formatToParts(0),
                nfResolved: () => new Intl.NumberFormat("de").resolvedOptions(),
                pluralCategories: () => new Intl.PluralRules("en").resolvedOptions().pluralCategories,
                collatorResolved: () => new Intl.Collator("en").resolvedOptions(),
                rtfParts: () => new Intl.RelativeTimeFormat("en").formatToParts(1, "day"),
                searchParams: () => new URL("http://a/?x=1").searchParams,
                setCookie: () => new Headers([["set-cookie", "a=1"]]).getSetCookie(),
                pathParse: () => path.parse("/a/b.c"),
                urlParse: () => url.parse("http://a/b?c=d", true),
                urlQuery: () => url.parse("http://a/b?c=d", true).query,
                inspectColors: () => util.inspect.colors,
                getHashes: () => nodeCrypto.getHashes?.(),
                bufferToJSON: () => Buffer.from("ab").toJSON(),
                listeners: () => getEventListeners(e, "x"),
                rawListeners: () => e.rawListeners("x"),
                eventNames: () => e.eventNames(),
                composedPath: () => new Event("x").composedPath(),
                encodeInto: () => new TextEncoder().encodeInto("a", new Uint8Array(4)),
              };
              const shared = [];
              for (const [k, f] of Object.entries(calls)) {
                let a, b;
                try { a = f(); b = f(); } catch { continue; } // unsupported here: nothing shared
                if (a !== null && typeof a === "object" && a === b && !Object.isFrozen(a)) shared.push(k);
              }
              return shared;
            }"#,
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&single_worker(), &wl, json!({})).await;
    assert!(out.succeeded(), "{json:#}");
    assert_eq!(json["output"], json!([]), "{json:#}");
}
