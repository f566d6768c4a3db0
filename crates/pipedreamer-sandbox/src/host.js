// The node-visible API, installed once per realm (a QuickJS context that serves several runs of
// one workload). Native functions come in as arguments and are never put on globalThis, so node
// code reaches the host only through the frozen `ctx` objects built here. After installing it,
// the realm is locked down: every builtin frozen, so a run cannot leave state for the next one.
// `natives` holds the host functions (`fetch`, `log`, `freeze`, and the web areas' own, see
// `web/mod.rs`); `runHooks` are the web areas' per-run hooks, called as each run begins.
// `nodeErrors`: the error classes of `node/errors.js` (shared with the node: modules);
// `nodeExports`: what the realm's node: modules export (see `node/mod.rs`), frozen with the rest.
// Returns the per-run hooks and `freezeShared`, which the realm calls once it has loaded the
// workflow's shared modules (`shared.rs`), after lockdown.
export default function setupRealm(natives, secrets, runHooks, nodeErrors, nodeExports) {
  "use strict";
  // `format` (util.inspect-style, as console prints) comes from `web/runtime.js`.
  const { log: nativeLog, logs: wantsLogs, progress: nativeProgress, output: nativeOutput, freeze: nativeFreeze, format } = natives;
  // Captured before node code runs (builtins are frozen anyway; this keeps the lookups cheap).
  const { stringify } = JSON;
  const { isFinite } = Number;
  const deepFreeze = (o) => {
    if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const k of Object.keys(o)) deepFreeze(o[k]);
    }
    return o;
  };
  deepFreeze(secrets);

  // Typed fetch failures, so node code can tell a refusal from a timeout (like Deno's
  // `Deno.errors.NotCapable`); also on `ctx.errors` for `instanceof` checks.
  // The classes live in `pipedreamer:node/errors`, so the node: modules throw the same ones.
  const { NotCapable, TimeoutError } = nodeErrors;
  const errors = Object.freeze({ NotCapable, TimeoutError });
  // `fetch` is the fetch area's (`web/fetch.js`): `ctx.fetch` is the global `fetch`, under the
  // same capability, throwing these same classes.
  const { fetch } = natives.webFetch;

  // A line nothing keeps (no run record, and below the log filter) is not formatted.
  const makeLog = (nodeId) => Object.freeze({
    debug: (...a) => { if (wantsLogs("debug")) nativeLog(nodeId, "debug", format(a)); },
    info: (...a) => { if (wantsLogs("info")) nativeLog(nodeId, "info", format(a)); },
    warn: (...a) => { if (wantsLogs("warn")) nativeLog(nodeId, "warn", format(a)); },
    error: (...a) => { if (wantsLogs("error")) nativeLog(nodeId, "error", format(a)); },
  });
  // `ctx.progress(percent, message?)`: a number from 0 to 100 (clamped), recorded with the run.
  const makeProgress = (nodeId) => function progress(percent, message) {
    if (typeof percent !== "number" || !isFinite(percent)) {
      throw new TypeError(`ctx.progress(percent, message?): percent must be a finite number from 0 to 100, got ${typeof percent === "number" ? percent : typeof percent}`);
    }
    nativeProgress(nodeId, percent, message === undefined || message === null ? undefined : String(message));
  };
  // `ctx.output(name, value)`: a named JSON value recorded with the run (a later call with the
  // same name replaces it). The host refuses a value over 64 KiB or a 33rd name (RangeError).
  const output = function output(name, value) {
    if (typeof name !== "string" || name.length === 0 || name.length > 128) {
      throw new TypeError("ctx.output(name, value): name must be a string of 1 to 128 characters");
    }
    let json;
    try {
      json = stringify(value);
    } catch (e) {
      throw new TypeError(`ctx.output("${name}"): the value is not JSON-serializable: ${e && e.message}`);
    }
    if (json === undefined) {
      throw new TypeError(`ctx.output("${name}"): the value is not JSON-serializable (${typeof value})`);
    }
    const refused = nativeOutput(name, json);
    if (refused !== undefined && refused !== null) throw new RangeError(refused);
  };
  lockdown(nativeFreeze, [fetch, errors, runHooks, nodeExports, output]);

  // The workflow's shared modules load after lockdown (so nothing they do at load could touch a
  // builtin before it is frozen); this freezes everything they hold: `values` are their exports
  // and their top-level bindings (the roots export). The prototypes of their functions and
  // classes become overridable like the builtins', so an object inheriting from one may still
  // assign `constructor` or a method name (`this.greet = this.greet.bind(this)`) on itself.
  const freezeShared = (values) => {
    const captured = [];
    for (const value of values) {
      if (typeof value !== "function") continue;
      const desc = Object.getOwnPropertyDescriptor(value, "prototype");
      if (desc && "value" in desc && desc.value !== null && typeof desc.value === "object") {
        overridable(desc.value, "*", captured, "a shared module's prototype (modules without state are frozen and shared by runs)");
      }
    }
    nativeFreeze([globalThis, ...captured, values]);
  };

  // The run in progress (a realm serves one run at a time), as `ctx.run` reads it.
  let currentRun = null;
  // An arrow function: no `prototype` object that would be shared, unfrozen, by every run.
  const runGetter = Object.freeze(() => currentRun);

  // Per node id, for the realm's life: its `ctx`, whose `run` reads the run in progress. It
  // holds nothing of a run (the natives write to the run in progress, `run` is read through
  // the frozen getter) and is frozen through, functions included, so no run can leave anything
  // on it; made once, it costs a run nothing (freezing a fresh `ctx` per node was measurable).
  const ctxs = new Map();
  const ctxOf = (nodeId) => {
    let ctx = ctxs.get(nodeId);
    if (ctx === undefined) {
      const log = makeLog(nodeId);
      for (const f of Object.values(log)) Object.freeze(f);
      const progress = Object.freeze(makeProgress(nodeId));
      Object.freeze(progress.prototype);
      const node = Object.freeze({ id: nodeId });
      ctx = { secrets, fetch, errors, log, progress, output, run: undefined, node };
      Object.defineProperty(ctx, "run", { get: runGetter, enumerable: true });
      ctxs.set(nodeId, Object.freeze(ctx));
    }
    return ctx;
  };

  // Per run: the `ctx` of each of its nodes.
  function makeRun(runId, trigger) {
    currentRun = Object.freeze({ id: runId, trigger });
    for (const hooks of runHooks) if (typeof hooks.beginRun === "function") hooks.beginRun(currentRun);
    return ctxOf;
  }
  // After a run, whatever its outcome: the web areas drop its per-run state.
  const endRun = () => {
    currentRun = null;
    for (const hooks of runHooks) if (typeof hooks.endRun === "function") hooks.endRun();
  };
  // Whether a run added globals is checked natively (`lockdown.rs`, `GlobalShape`).
  return [makeRun, endRun, freezeShared];
}

// Freezes everything reachable from globalThis, the intrinsics only syntax reaches, and `extra`
// (the walk is native: `lockdown.rs`), and turns builtin setters that store realm state into
// read-only values.
// Existing globals become read-only; new ones can still be added (the executor then drops the
// realm). Like SES's lockdown, properties people commonly assign on their own objects (`name` on
// an Error subclass, `constructor` or `toString` on a prototype object) become accessors first,
// so assigning them on an object that inherits them defines an own property instead of throwing.
function lockdown(freezeReachable, extra) {
  // The values the accessors below return: only their closures reach them, so the walk must be
  // given them (else `Object.prototype.hasOwnProperty` itself stayed unfrozen, and a run could
  // define `call` on it to see later runs' calls).
  const captured = [];
  overridable(Object.prototype, "*", captured);
  overridable(Function.prototype, ["constructor", "bind", "toString"], captured);
  overridable(Array.prototype, ["toString", "push"], captured);
  overridable(Promise.prototype, ["constructor"], captured);
  const errors = [Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError];
  if (typeof AggregateError === "function") errors.push(AggregateError);
  if (typeof InternalError === "function") errors.push(InternalError);
  for (const E of errors) overridable(E.prototype, ["constructor", "message", "name", "toString"], captured);
  // QuickJS keeps these in the context, behind setters: a run could hook later runs' errors.
  for (const key of ["prepareStackTrace", "stackTraceLimit"]) {
    const desc = Object.getOwnPropertyDescriptor(Error, key);
    if (desc && desc.set && desc.configurable) {
      Object.defineProperty(Error, key, { value: Error[key], writable: false, configurable: false });
    }
  }

  const protoOf = Object.getPrototypeOf;
  const hidden = [
    protoOf(function* () {}), protoOf(async function () {}), protoOf(async function* () {}),
    protoOf([][Symbol.iterator]()), protoOf(new Map()[Symbol.iterator]()),
    protoOf(new Set()[Symbol.iterator]()), protoOf(""[Symbol.iterator]()),
    protoOf(/a/[Symbol.matchAll]("")),
  ];
  if (typeof Iterator === "function" && typeof Iterator.prototype.map === "function") {
    hidden.push(protoOf([].values().map((x) => x)));
  }
  if (typeof Iterator === "function" && typeof Iterator.from === "function") {
    hidden.push(protoOf(Iterator.from({ next() { return { done: true }; } })));
  }
  freezeReachable([globalThis, ...hidden, ...captured, ...extra]);
}

// Turns `proto`'s writable data properties `keys` ("*": all) into accessors: reading gives the
// value; assigning on `proto` itself throws (`what` says whose it is), assigning on an object
// that inherits it defines an own property there, as it would if `proto` were not frozen. The
// values go to `captured`: only the accessors' closures reach them, so the freezing walk must be
// given them.
function overridable(proto, keys, captured, what = "a builtin (builtins are frozen so runs stay isolated)") {
  for (const key of keys === "*" ? Reflect.ownKeys(proto) : keys) {
    const desc = Object.getOwnPropertyDescriptor(proto, key);
    if (!desc || !("value" in desc) || !desc.writable || !desc.configurable) continue;
    const value = desc.value;
    captured.push(value);
    Object.defineProperty(proto, key, {
      get() { return value; },
      set(v) {
        if (this === proto) {
          throw new TypeError(`Cannot assign to read only property '${String(key)}' of ${what}`);
        }
        Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true });
      },
      enumerable: desc.enumerable,
      configurable: false,
    });
  }
}
