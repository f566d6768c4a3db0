//! The runtime core of the web platform in nodes: timers, events and AbortSignal,
//! structuredClone, DOMException, performance, console, and the language intrinsics (Proxy,
//! WeakRef, FinalizationRegistry). A compatibility suite with cases from the web-platform-tests
//! (`web_runtime_compat.js`), the run-belonging rules of timers, and isolation/escape tests on a single
//! worker (so successive runs share a realm).

mod common;

use common::*;
use pipedreamer_sandbox::*;
use serde_json::json;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

const COMPAT: &str = include_str!("web_runtime_compat.js");

#[tokio::test]
async fn web_platform_compatibility_per_area() {
    let wl = workload(
        "name: c\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 20s}\n",
        &[
            ("compat.js", COMPAT),
            (
                "a.js",
                "import { runAll } from './compat.js';\nexport default () => runAll();",
            ),
        ],
        json!({}),
    );
    let output = output_of(&wl, json!({})).await;
    let mut low = Vec::new();
    for (area, r) in output.as_object().unwrap() {
        let (passed, total) = (r["passed"].as_u64().unwrap(), r["total"].as_u64().unwrap());
        let rate = passed as f64 * 100.0 / total as f64;
        println!(
            "compat {area}: {passed}/{total} ({rate:.1} %) failed: {}",
            r["failed"]
        );
        assert!(total >= 30, "{area} has only {total} cases");
        if rate < 95.0 {
            low.push(format!("{area} {rate:.1} %: {}", r["failed"]));
        }
    }
    assert!(low.is_empty(), "below 95 %: {low:?}");
}

#[tokio::test]
async fn a_timer_wait_counts_toward_the_node_timeout() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 1s}\n",
        &[(
            "a.js",
            "export default async () => { await new Promise((r) => setTimeout(r, 10000)); return 'late' }",
        )],
        json!({}),
    );
    let started = Instant::now();
    let (out, json) = run_bounded(&sandbox(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
    assert_eq!(json["nodes"]["a"]["status"], "timed_out");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn pending_timers_are_cancelled_and_cost_no_runtime() {
    // Run 1 leaves a long timeout, a zero-delay timeout, an interval and a timeout signal; if any
    // fired later, it would throw and fail a later run. The realm (and runtime) is kept.
    let wl = one_node(
        r#"export default (ctx, input) => {
          if (input.leave) {
            setTimeout(() => { throw new Error('leaked timeout') }, 60000);
            setTimeout(() => { throw new Error('leaked zero timeout') }, 0);
            setInterval(() => { throw new Error('leaked interval') }, 1);
            AbortSignal.timeout(1).onabort = () => { throw new Error('leaked signal') };
          }
          return setTimeout(() => {}, 0);
        }"#,
    );
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({"leave": true})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], 5, "timer ids are per run: {json}");
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        assert_eq!(json["output"], 1, "ids start again in every run: {json}");
    }
    assert_eq!(
        wl.realms_created(),
        1,
        "pending timers must not cost the realm"
    );
}

#[tokio::test]
async fn timer_callbacks_run_inside_their_run_and_errors_fail_it() {
    let wl = one_node(
        r#"export default async (ctx, input) => {
          if (input.throwIn === 'timer') setTimeout(() => { throw new TypeError('from a timer') }, 0);
          if (input.throwIn === 'microtask') queueMicrotask(() => { throw new RangeError('from a microtask') });
          if (input.throwIn === 'report') reportError(new Error('reported'));
          if (input.throwIn === 'listener') {
            // The dispatch goes on; the exception is reported (and fails the run).
            const t = new EventTarget();
            let after = false;
            t.addEventListener('x', () => { throw new SyntaxError('from a listener') });
            t.addEventListener('x', () => { after = true });
            t.dispatchEvent(new Event('x'));
            if (!after) return 'the dispatch stopped';
          }
          if (input.throwIn === 'lastMicrotask') { queueMicrotask(() => { throw new RangeError('as the node returned') }); await null; return 'returned'; }
          const order = [];
          await new Promise((r) => {
            setTimeout(() => order.push('t10'), 10);
            setTimeout(() => { order.push('t0'); Promise.resolve().then(() => order.push('micro')); }, 0);
            setTimeout(() => { order.push('t0b'); }, 0);
            setTimeout(r, 30);
          });
          return order;
        }"#,
    );
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(json["output"], json!(["t0", "micro", "t0b", "t10"]));
    for (place, text) in [
        ("timer", "TypeError: from a timer"),
        ("microtask", "RangeError: from a microtask"),
        ("report", "Error: reported"),
        ("listener", "SyntaxError: from a listener"),
        ("lastMicrotask", "RangeError: as the node returned"),
    ] {
        let (out, json) = run_bounded(&sb, &wl, json!({"throwIn": place})).await;
        assert_eq!(out.failure(), Some(FailureKind::Thrown), "{place}: {json}");
        let message = json["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("uncaught exception in a timer or microtask callback")
                && message.contains(text),
            "{place}: {message}"
        );
    }
    let (out, json) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "the sandbox keeps serving: {json}");
}

#[tokio::test]
async fn a_spinning_timer_callback_times_out() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 300ms}\n",
        &[(
            "a.js",
            "export default () => new Promise(() => setTimeout(() => { for (;;) {} }, 0))",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&single_worker(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
}

#[tokio::test]
async fn timers_are_bounded_per_run() {
    let wl = one_node(
        r#"export default () => {
          const out = {};
          try { setTimeout('globalThis.x = 1', 0); } catch (e) { out.string = `${e.name}: ${e.message}`; }
          let made = 0;
          try { for (;;) { setTimeout(() => {}, 1000); made++; } } catch (e) { out.cap = e.name; out.made = made; }
          try { setInterval(() => {}, 1000); } catch (e) { out.intervalCap = e.name; }
          return out;
        }"#,
    );
    let sb = single_worker();
    for _ in 0..2 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        let o = &json["output"];
        assert_eq!(o["cap"], "RangeError", "{json}");
        assert_eq!(o["intervalCap"], "RangeError", "{json}");
        assert_eq!(o["made"], 4096, "the cap is per run: {json}");
        assert!(
            o["string"]
                .as_str()
                .unwrap()
                .contains("TypeError: setTimeout with a string"),
            "{json}"
        );
    }
}

#[tokio::test]
async fn a_self_rescheduling_timer_is_clamped_and_stopped_by_the_timeout() {
    let wl = workload(
        "name: t\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js, timeout: 300ms}\n",
        &[(
            "a.js",
            "let n = 0;\nexport default () => new Promise(() => { const f = () => { n++; setTimeout(f, 0); }; f(); })",
        )],
        json!({}),
    );
    let (out, json) = run_bounded(&single_worker(), &wl, json!({})).await;
    assert_eq!(out.failure(), Some(FailureKind::Timeout), "{json}");
}

// ---- intrinsics -------------------------------------------------------------------------------

#[tokio::test]
async fn proxy_reflect_weakref_and_finalization_registry_exist() {
    let wl = one_node(
        r#"export default () => {
          const p = new Proxy({}, { get: (t, k) => `got ${String(k)}` });
          const target = {};
          const w = new WeakRef(target);
          const r = new FinalizationRegistry(() => {});
          r.register({}, 'held');
          class Sub extends WeakRef {}
          return [p.x, Reflect.ownKeys({ a: 1 }), typeof w.deref(), w instanceof WeakRef,
            Object.getPrototypeOf(w).constructor === WeakRef, new Sub({}) instanceof WeakRef,
            typeof r.unregister, String(w), typeof DOMException, typeof performance.now()];
        }"#,
    );
    assert_eq!(
        output_of(&wl, json!({})).await,
        json!([
            "got x",
            ["a"],
            "object",
            true,
            true,
            true,
            "function",
            "[object WeakRef]",
            "function",
            "number"
        ])
    );
}

#[tokio::test]
async fn a_run_that_used_weak_refs_does_not_pass_its_runtime_on() {
    let wl = one_node(
        r#"export default (ctx, input) => {
          if (input.weak === 'ref') new WeakRef({});
          if (input.weak === 'registry') new FinalizationRegistry(() => { throw new Error('finalizer of an earlier run') }).register({}, 1);
          if (input.weak === 'subclass') { class R extends FinalizationRegistry {} new R(() => {}); }
          if (input.weak === 'original') {
            // The unwrapped constructors are not reachable.
            const seen = [Object.getPrototypeOf(WeakRef), WeakRef.prototype.constructor, Object.getPrototypeOf(FinalizationRegistry)];
            return seen.every((f) => f === Function.prototype || f === WeakRef);
          }
          return 'ok';
        }"#,
    );
    let sb = single_worker();
    let (_, json) = run_bounded(&sb, &wl, json!({"weak": "original"})).await;
    assert_eq!(json["output"], true, "{json}");
    let (_, json) = run_bounded(&sb, &wl, json!({})).await;
    assert_eq!(json["output"], "ok", "{json}");
    assert_eq!(wl.realms_created(), 1);
    let mut expected = 1;
    for weak in ["ref", "registry", "subclass"] {
        let (out, json) = run_bounded(&sb, &wl, json!({"weak": weak})).await;
        assert!(out.succeeded(), "{json}");
        // Garbage for the collector, so a finalizer would be due now if it could still run.
        for _ in 0..3 {
            let (out, json) = run_bounded(&sb, &wl, json!({})).await;
            assert!(out.succeeded(), "{weak}: {json}");
        }
        expected += 1;
        assert_eq!(
            wl.realms_created(),
            expected,
            "a run using {weak} costs its realm, the plain runs after it do not"
        );
    }
}

#[tokio::test]
async fn proxies_open_no_hole_in_lockdown() {
    let wl = one_node(
        r#"export default (ctx, input) => {
          const r = {};
          const attempt = (k, f) => { try { f(); r[k] = 'mutated'; } catch (e) { r[k] = e instanceof TypeError ? 'refused' : String(e); } };
          attempt('throughProxy', () => { new Proxy(Array.prototype, {}).evil = 1; });
          attempt('definePropertyThroughProxy', () => { Object.defineProperty(new Proxy(Object.prototype, {}), 'evil', { value: 1 }); });
          attempt('proxyAsBuiltinProto', () => { Object.setPrototypeOf(Array.prototype, new Proxy({}, {})); });
          attempt('proxyAsObjectProto', () => { Object.setPrototypeOf(Object.prototype, new Proxy({}, {})); });
          attempt('signalProto', () => { Object.setPrototypeOf(AbortSignal.prototype, new Proxy({}, { get: () => 'hooked' })); });
          attempt('consoleThroughProxy', () => { new Proxy(console, {}).log = () => {}; });
          if (input.hookGlobal) {
            // A proxy as globalThis's prototype would answer every unknown global of later runs.
            Object.setPrototypeOf(globalThis, new Proxy(Object.prototype, { get: (t, k) => k === 'planted' ? 'from an earlier run' : Reflect.get(t, k) }));
          }
          // A proxy passed to the host APIs runs its traps in this run only.
          let traps = 0;
          const spy = new Proxy({ a: 1 }, { get(t, k, rcv) { traps++; return Reflect.get(t, k, rcv); }, ownKeys(t) { traps++; return Reflect.ownKeys(t); } });
          console.log(spy); structuredClone(spy); ctx.log.info(spy);
          new EventTarget().addEventListener('x', () => {}, spy);
          r.traps = traps > 0;
          r.planted = typeof planted;
          return r;
        }"#,
    );
    let sb = single_worker();
    let (out, json) = run_bounded(&sb, &wl, json!({"hookGlobal": true})).await;
    assert!(out.succeeded(), "{json}");
    let expected = json!({"throughProxy": "refused", "definePropertyThroughProxy": "refused", "proxyAsBuiltinProto": "refused",
        "proxyAsObjectProto": "refused", "signalProto": "refused", "consoleThroughProxy": "refused", "traps": true});
    for (k, v) in expected.as_object().unwrap() {
        assert_eq!(&json["output"][k], v, "{k}: {json}");
    }
    assert_eq!(
        json["output"]["planted"], "string",
        "the hook works within its own run"
    );
    let (out, json) = run_bounded(&sb, &wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    assert_eq!(
        json["output"]["planted"], "undefined",
        "the next run must not see it: {json}"
    );
    assert_eq!(
        wl.realms_created(),
        2,
        "a realm whose globalThis got a new prototype is dropped"
    );
}

#[tokio::test]
async fn new_globals_cannot_carry_state_to_the_next_run() {
    let wl = one_node(
        r#"export default (ctx, input) => {
          const r = {};
          const attempt = (k, f) => { try { f(); r[k] = 'mutated'; } catch (e) { r[k] = e instanceof TypeError ? 'refused' : String(e); } };
          attempt('signalProto', () => { AbortSignal.prototype.throwIfAborted = () => 'hooked'; });
          attempt('signalAny', () => { AbortSignal.any = () => 'hooked'; });
          attempt('eventTarget', () => { EventTarget.prototype.dispatchEvent = () => 'hooked'; });
          attempt('eventProto', () => { Event.prototype.extra = 1; });
          attempt('console', () => { console.log = () => 'hooked'; });
          attempt('consoleNew', () => { console.extra = 1; });
          attempt('timers', () => { globalThis.setTimeout = () => 'hooked'; });
          attempt('clone', () => { structuredClone.extra = 1; });
          attempt('performance', () => { performance.now = () => 0; });
          attempt('domException', () => { DOMException.prototype.extra = 1; });
          attempt('weakRef', () => { WeakRef.prototype.deref = () => 'hooked'; });
          attempt('controller', () => { AbortController.prototype.abort = () => 'hooked'; });
          attempt('customEvent', () => { Object.defineProperty(CustomEvent.prototype, 'detail', { get: () => 'hooked' }); });
          attempt('microtask', () => { globalThis.queueMicrotask = () => 'hooked'; });
          attempt('reportError', () => { globalThis.reportError = () => {}; });
          attempt('performanceClass', () => { Performance.prototype.now = () => 0; });
          attempt('timeOrigin', () => { Object.defineProperty(performance, 'timeOrigin', { value: 0 }); });
          // A handler on a per-run signal is the run's own.
          const c = new AbortController();
          if (input.first) c.signal.onabort = () => { throw new Error('handler of an earlier run') };
          r.handler = c.signal.onabort === null ? 'none' : 'own';
          console.count('runs'); console.time('t'); console.group('g');
          r.clean = AbortSignal.prototype.extra === undefined && Event.prototype.extra === undefined;
          return r;
        }"#,
    );
    let sb = single_worker();
    for first in [true, false, false] {
        let (out, json) = run_bounded(&sb, &wl, json!({"first": first})).await;
        assert!(out.succeeded(), "{json}");
        let o = &json["output"];
        for k in [
            "signalProto",
            "signalAny",
            "eventTarget",
            "eventProto",
            "console",
            "consoleNew",
            "timers",
            "clone",
            "performance",
            "domException",
            "weakRef",
            "controller",
            "customEvent",
            "microtask",
            "reportError",
            "performanceClass",
            "timeOrigin",
        ] {
            assert_eq!(o[k], "refused", "{k}: {json}");
        }
        assert_eq!(o["handler"], if first { "own" } else { "none" });
        assert_eq!(o["clean"], true);
    }
    assert_eq!(wl.realms_created(), 1);
}

// ---- console, performance ------------------------------------------------------------------------

/// Log lines from node code (target "node"), captured for every test in this binary.
fn logs() -> &'static Mutex<Vec<(String, String, String)>> {
    static LOGS: OnceLock<Mutex<Vec<(String, String, String)>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(Capture);
        Mutex::new(Vec::new())
    })
}

/// `setup_us` of every "new JS realm" event.
fn realm_setups() -> &'static Mutex<Vec<u64>> {
    static SETUPS: Mutex<Vec<u64>> = Mutex::new(Vec::new());
    &SETUPS
}

/// A minimal subscriber that keeps (run_id, level, message) of node log events.
struct Capture;

#[derive(Default)]
struct Fields {
    run_id: String,
    message: String,
    setup_us: Option<u64>,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        if field.name() == "setup_us" {
            self.setup_us = Some(value);
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "run_id" => self.run_id = value.to_owned(),
            "message" => self.message = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "run_id" => self.run_id = format!("{value:?}").trim_matches('"').to_owned(),
            "message" => self.message = format!("{value:?}"),
            _ => {}
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "node" || metadata.target() == "pipedreamer_sandbox::realm"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Some(us) = fields.setup_us {
            realm_setups().lock().unwrap().push(us);
            return;
        }
        if event.metadata().target() != "node" {
            return;
        }
        logs().lock().unwrap().push((
            fields.run_id,
            event.metadata().level().to_string(),
            fields.message,
        ));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

async fn run_logged(sb: &Sandbox, wl: &Arc<Workload>) -> (RunOutcome, Vec<(String, String)>) {
    logs();
    let (out, json) = run_bounded(sb, wl, json!({})).await;
    assert!(out.succeeded(), "{json}");
    let lines = logs()
        .lock()
        .unwrap()
        .iter()
        .filter(|(run, _, _)| *run == out.run_id)
        .map(|(_, level, message)| (level.clone(), message.clone()))
        .collect();
    (out, lines)
}

#[tokio::test]
async fn console_formats_like_node_and_keeps_counters_per_run() {
    let wl = one_node(
        r#"export default (ctx) => {
          const o = { a: 1, s: 'x', nested: { deep: { deeper: { deepest: 1 } } }, list: [1, 2] };
          o.self = o;
          console.log('plain', 42, o);
          console.info('%s is %d years', 'Bob', 42.5, 'extra');
          console.log(new Map([['k', 1]]), new Set([1]), [1, , 3], new Uint8Array([1, 2]), Symbol('s'), 10n, null, undefined);
          console.warn(new TypeError('bad'));
          console.error(() => {}, class K {}, new Date(0), /re/g);
          console.debug({ 'needs-quotes': true, [Symbol('k')]: 1 });
          console.count(); console.count(); console.count('x'); console.countReset(); console.count(); console.countReset('nope');
          console.group('G'); console.log('inside'); console.groupEnd(); console.log('outside');
          console.time('t'); console.timeLog('t', 'mid'); console.timeEnd('t'); console.timeEnd('t');
          console.assert(true, 'hidden'); console.assert(false, 'shown %s', 'here');
          console.table([{ a: 1, b: 'y' }, { a: 2 }]);
          console.dir({ a: { b: { c: { d: 1 } } } }, { depth: 0 });
          console.trace('here');
          ctx.log.info('ctx', { k: [1] });
          return Object.keys(console).sort();
        }"#,
    );
    let sb = single_worker();
    let (out, lines) = run_logged(&sb, &wl).await;
    let methods: Vec<String> = serde_json::from_str(out.output.as_ref().unwrap().get()).unwrap();
    for m in [
        "log",
        "info",
        "debug",
        "warn",
        "error",
        "trace",
        "assert",
        "dir",
        "dirxml",
        "table",
        "count",
        "countReset",
        "group",
        "groupCollapsed",
        "groupEnd",
        "time",
        "timeLog",
        "timeEnd",
    ] {
        assert!(
            methods.iter().any(|x| x == m),
            "console.{m} is missing: {methods:?}"
        );
    }
    let text: Vec<String> = lines.iter().map(|(l, m)| format!("{l} {m}")).collect();
    let all = text.join("\n");
    for expected in [
        // Past 72 characters, one property a line (as Node's breakLength does).
        "INFO plain 42 <ref *1> {\n  a: 1,\n  s: 'x',\n  nested: { deep: { deeper: [Object] } },\n  list: [ 1, 2 ],\n  self: [Circular *1]\n}",
        "INFO Bob is 42.5 years extra",
        "INFO Map(1) { 'k' => 1 } Set(1) { 1 } [ 1, <1 empty item>, 3 ] Uint8Array(2) [ 1, 2 ] Symbol(s) 10n null undefined",
        "WARN TypeError: bad",
        "ERROR [Function (anonymous)] [class K] 1970-01-01T00:00:00.000Z /re/g",
        "DEBUG { 'needs-quotes': true, [Symbol(k)]: 1 }",
        "INFO default: 1\nINFO default: 2\nINFO x: 1\nINFO default: 1\nWARN Count for 'nope' does not exist",
        "INFO G\nINFO   inside\nINFO outside",
        "WARN No such label 't' for console.timeEnd()",
        "ERROR Assertion failed: shown here",
        "│ (index) │ a │ b   │\n├─────────┼───┼─────┤\n│ 0       │ 1 │ 'y' │",
        "INFO { a: [Object] }",
        "ERROR Trace: here",
        "INFO ctx { k: [ 1 ] }",
    ] {
        assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
    }
    assert!(!all.contains("hidden"), "{all}");
    assert!(
        text.iter()
            .any(|l| l.starts_with("INFO t: ") && l.ends_with("ms mid")),
        "{all}"
    );
    // Counters and groups are per run.
    let wl2 =
        one_node("export default () => { console.count(); console.log('top'); console.group(); }");
    for _ in 0..2 {
        let (_, lines) = run_logged(&sb, &wl2).await;
        assert_eq!(
            lines,
            vec![
                ("INFO".into(), "default: 1".into()),
                ("INFO".into(), "top".into())
            ]
        );
    }
}

#[tokio::test]
async fn performance_now_counts_from_the_run_start() {
    let wl = one_node(
        "export default async () => { const a = performance.now(); await new Promise((r) => setTimeout(r, 20)); return [a, performance.now() - a, performance.timeOrigin, Date.now(), performance.toJSON().timeOrigin === performance.timeOrigin] }",
    );
    let sb = single_worker();
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        let o = json["output"].as_array().unwrap();
        assert!(
            o[0].as_f64().unwrap() < 50.0,
            "now() counts from the run: {json}"
        );
        assert!(o[1].as_f64().unwrap() >= 19.0, "{json}");
        let (origin, now) = (o[2].as_f64().unwrap(), o[3].as_f64().unwrap());
        assert!(now - origin >= 0.0 && now - origin < 1000.0, "{json}");
        assert_eq!(o[4], true);
    }
}

/// Realm setup cost (`setup_us` of "new JS realm"): a run that adds a global costs its realm, so
/// each run here sets one up. Prints the median (for the README); run with `--nocapture`.
#[tokio::test]
async fn realm_setup_cost() {
    logs();
    let wl = one_node("export default () => { globalThis.leak = 1; return 1 }");
    let sb = single_worker();
    for _ in 0..40 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
    }
    let mut setups = realm_setups().lock().unwrap().clone();
    assert!(setups.len() >= 20, "{setups:?}");
    setups.sort_unstable();
    println!(
        "realm setup: median {} us, p90 {} us over {} realms",
        setups[setups.len() / 2],
        setups[setups.len() * 9 / 10],
        setups.len()
    );
}

// The console prints strings raw or JSON-escaped only, and never splits one across indented
// lines: other forms (Node's `\'`, a `\\` next to a raw `"`, a group's indentation inside a
// PEM key) would slip past the redactor, which knows the raw and JSON-escaped forms.
#[tokio::test]
async fn console_output_of_secrets_is_redacted() {
    let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
    let wl = workload(
        "name: s\nversion: \"1\"\nnodes:\n  - {id: a, file: a.js}\n",
        &[(
            "a.js",
            r#"export default (ctx) => {
              const s = ctx.secrets;
              console.log(s);
              console.log({ nested: s }, [s.pw, s.both, s.key]);
              console.group('g'); console.log(s.key); console.log(s); console.groupEnd();
              console.log([new Error(s.key)], { e: new Error(s.pw) });
              console.error(new Error(s.key));
              console.table([s]);
              ctx.log.info(s, s.key);
              console.log('%s %o %O %j', s.pw, s, s.both, s);
              console.log(new Map([[s.pw, s.both]]), new Set([s.key]));
              return 1;
            }"#,
        )],
        json!({"key": pem, "pw": "quote\"and\\backslash", "both": "it's \"quoted\" `x`"}),
    );
    let (_, lines) = run_logged(&single_worker(), &wl).await;
    let all: String = lines.iter().map(|(_, m)| format!("{m}\n")).collect();
    assert!(all.contains("[REDACTED]"), "{all}");
    for part in ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "backslash", "quoted"] {
        assert!(!all.contains(part), "{part} leaked in:\n{all}");
    }
}

// A finalization callback is queued on the runtime whenever the collector frees its target,
// which may be during a later run; the runtime of a run that registered one is not reused, so
// the callback of run 1 never runs in runs 2-6 (which make garbage to wake the collector).
#[tokio::test]
async fn finalizers_never_run_in_a_later_run() {
    let wl = one_node(
        r#"let registry;
        export default async (ctx, input) => {
          if (input.register) {
            registry = new FinalizationRegistry((held) => console.log('FINALIZER', held));
            // Cycles: only the collector frees them (QuickJS frees the rest at once).
            for (let i = 0; i < 1000; i++) { const o = { i }; o.self = o; registry.register(o, i); }
          }
          for (let i = 0; i < 20000; i++) { const o = [i]; o.push(o); }
          await new Promise((r) => setTimeout(r, 5));
          return 1;
        }"#,
    );
    let sb = single_worker();
    logs();
    let (first, json) = run_bounded(&sb, &wl, json!({"register": true})).await;
    assert!(first.succeeded(), "{json}");
    let mut later = Vec::new();
    for _ in 0..5 {
        let (out, json) = run_bounded(&sb, &wl, json!({})).await;
        assert!(out.succeeded(), "{json}");
        later.push(out.run_id);
    }
    let leaked: Vec<_> = logs()
        .lock()
        .unwrap()
        .iter()
        .filter(|(run, _, m)| later.contains(run) && m.contains("FINALIZER"))
        .cloned()
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}
