// DOM events without a tree: Event, CustomEvent, EventTarget, AbortController, AbortSignal
// (`abort`, `timeout` on the run's timers, `any`), after the DOM Standard. `DOMException` is
// QuickJS's native one (see `realm.rs`).
//
// All state lives in the objects a run creates (private fields), so nothing here carries over
// between runs. A listener that throws does not stop the dispatch; its exception is reported
// with `reportError` (the run fails with it, as an uncaught exception would).
export default function install(g, natives) {
  "use strict";
  const { now } = natives;
  const { setTimeout, reportError } = g;
  const { defineProperty } = Object;

  // ---- Event --------------------------------------------------------------------------------------
  const NONE = 0, CAPTURING_PHASE = 1, AT_TARGET = 2, BUBBLING_PHASE = 3;
  let stateOf; // event -> its internal state (throws TypeError for anything else)
  const isTrustedGetter = { get isTrusted() { return stateOf(this).trusted; } };
  const trustedDesc = { get: Object.getOwnPropertyDescriptor(isTrustedGetter, "isTrusted").get, enumerable: true, configurable: false };
  const dictionary = (init, what) => {
    if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function") {
      throw new TypeError(`${what}: the options argument must be an object`);
    }
    return init ?? {};
  };
  class Event {
    #s;
    constructor(type, eventInitDict = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'Event': 1 argument required, but only 0 present.");
      const init = dictionary(eventInitDict, "Event");
      this.#s = {
        type: String(type), bubbles: !!init.bubbles, cancelable: !!init.cancelable, composed: !!init.composed,
        target: null, currentTarget: null, phase: NONE, stop: false, stopImmediate: false, canceled: false,
        inPassive: false, dispatching: false, initialized: true, trusted: false, timeStamp: now(),
      };
      defineProperty(this, "isTrusted", trustedDesc);
    }
    static { stateOf = (e) => e.#s; }
    get type() { return this.#s.type; }
    get target() { return this.#s.target; }
    get srcElement() { return this.#s.target; }
    get currentTarget() { return this.#s.currentTarget; }
    composedPath() { return this.#s.dispatching && this.#s.currentTarget ? [this.#s.currentTarget] : []; }
    get eventPhase() { return this.#s.phase; }
    stopPropagation() { this.#s.stop = true; }
    get cancelBubble() { return this.#s.stop; }
    set cancelBubble(v) { if (v) this.#s.stop = true; }
    stopImmediatePropagation() { this.#s.stop = true; this.#s.stopImmediate = true; }
    get bubbles() { return this.#s.bubbles; }
    get cancelable() { return this.#s.cancelable; }
    get returnValue() { return !this.#s.canceled; }
    set returnValue(v) { if (!v && this.#s.cancelable && !this.#s.inPassive) this.#s.canceled = true; }
    preventDefault() { if (this.#s.cancelable && !this.#s.inPassive) this.#s.canceled = true; }
    get defaultPrevented() { return this.#s.canceled; }
    get composed() { return this.#s.composed; }
    get timeStamp() { return this.#s.timeStamp; }
    initEvent(type, bubbles = false, cancelable = false) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'initEvent' on 'Event': 1 argument required, but only 0 present.");
      const s = this.#s;
      if (s.dispatching) return;
      Object.assign(s, { initialized: true, stop: false, stopImmediate: false, canceled: false, trusted: false, target: null, type: String(type), bubbles: !!bubbles, cancelable: !!cancelable });
    }
  }
  for (const [k, v] of Object.entries({ NONE, CAPTURING_PHASE, AT_TARGET, BUBBLING_PHASE })) {
    defineProperty(Event, k, { value: v, enumerable: true });
    defineProperty(Event.prototype, k, { value: v, enumerable: true });
  }
  defineProperty(Event.prototype, Symbol.toStringTag, { value: "Event", configurable: true });

  class CustomEvent extends Event {
    #detail;
    constructor(type, eventInitDict = undefined) {
      if (arguments.length === 0) throw new TypeError("Failed to construct 'CustomEvent': 1 argument required, but only 0 present.");
      super(type, eventInitDict);
      const init = dictionary(eventInitDict, "CustomEvent");
      this.#detail = init.detail === undefined ? null : init.detail;
    }
    get detail() { return this.#detail; }
    initCustomEvent(type, bubbles = false, cancelable = false, detail = null) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'initCustomEvent' on 'CustomEvent': 1 argument required, but only 0 present.");
      if (stateOf(this).dispatching) return;
      this.initEvent(type, bubbles, cancelable);
      this.#detail = detail;
    }
  }
  defineProperty(CustomEvent.prototype, Symbol.toStringTag, { value: "CustomEvent", configurable: true });

  // ---- EventTarget ----------------------------------------------------------------------------
  const flatten = (options) => (typeof options === "boolean" ? { capture: options }
    : options !== null && typeof options === "object" ? options : { capture: !!options });
  let listenersOf;
  class EventTarget {
    #listeners = new Map(); // type -> [{ callback, capture, once, passive, removed }]
    constructor() {}
    static { listenersOf = (t) => t.#listeners; }
    addEventListener(type, callback, options = undefined) {
      if (arguments.length < 2) throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': 2 arguments required.");
      const target = this;
      const all = listenersOf(target);
      const o = flatten(options);
      const capture = !!o.capture, once = !!o.once, passive = !!o.passive;
      const signal = o.signal;
      if (signal !== undefined && !(signal instanceof AbortSignal)) {
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': member signal is not of type AbortSignal.");
      }
      if (callback === null || callback === undefined) return;
      if (typeof callback !== "function" && typeof callback !== "object") {
        throw new TypeError("Failed to execute 'addEventListener' on 'EventTarget': The callback provided as parameter 2 is not an object.");
      }
      if (signal !== undefined && signal.aborted) return;
      type = String(type);
      let list = all.get(type);
      if (list === undefined) all.set(type, (list = []));
      if (list.some((l) => l.callback === callback && l.capture === capture)) return;
      const listener = { callback, capture, once, passive, removed: false };
      list.push(listener);
      if (signal !== undefined) addAbortAlgorithm(signal, () => removeListener(target, type, listener));
    }
    removeEventListener(type, callback, options = undefined) {
      if (arguments.length < 2) throw new TypeError("Failed to execute 'removeEventListener' on 'EventTarget': 2 arguments required.");
      const target = this;
      const capture = !!flatten(options).capture;
      const list = listenersOf(target).get(String(type));
      const listener = list?.find((l) => l.callback === callback && l.capture === capture);
      if (listener) removeListener(target, String(type), listener);
    }
    dispatchEvent(event) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': 1 argument required, but only 0 present.");
      const target = this;
      listenersOf(target);
      let s;
      try { s = stateOf(event); } catch {
        throw new TypeError("Failed to execute 'dispatchEvent' on 'EventTarget': parameter 1 is not of type 'Event'.");
      }
      if (s.dispatching || !s.initialized) throw new DOMException("The event is already being dispatched.", "InvalidStateError");
      s.trusted = false;
      return dispatch(target, event, s);
    }
  }
  defineProperty(EventTarget.prototype, Symbol.toStringTag, { value: "EventTarget", configurable: true });

  const removeListener = (target, type, listener) => {
    listener.removed = true;
    const list = listenersOf(target).get(type);
    const at = list ? list.indexOf(listener) : -1;
    if (at >= 0) list.splice(at, 1);
  };
  // A tree of one: the capture listeners, then the others, all at the target.
  function dispatch(target, event, s) {
    s.dispatching = true;
    s.target = target;
    s.currentTarget = target;
    s.phase = AT_TARGET;
    try {
      const list = listenersOf(target).get(s.type);
      if (list !== undefined) {
        const snapshot = list.slice();
        for (const capture of [true, false]) {
          if (s.stop) break;
          invoke(target, event, s, snapshot, capture);
        }
      }
    } finally {
      s.dispatching = false;
      s.phase = NONE;
      s.currentTarget = null;
      s.stop = false;
      s.stopImmediate = false;
    }
    return !s.canceled;
  }
  function invoke(target, event, s, listeners, capture) {
    for (const l of listeners) {
      if (l.removed || l.capture !== capture) continue;
      if (l.once) removeListener(target, s.type, l);
      s.inPassive = l.passive;
      try {
        if (typeof l.callback === "function") {
          Reflect.apply(l.callback, target, [event]);
        } else {
          const handleEvent = l.callback.handleEvent;
          if (typeof handleEvent !== "function") throw new TypeError("the event listener has no handleEvent method");
          Reflect.apply(handleEvent, l.callback, [event]);
        }
      } catch (e) {
        reportError(e);
      } finally {
        s.inPassive = false;
      }
      if (s.stopImmediate) break;
    }
  }
  // An event handler attribute (`onabort`): one listener, added when first set, that calls
  // whatever handler is current; a handler returning false cancels the event.
  const handlerAttribute = (proto, type) => {
    const handlers = new WeakMap();
    const accessors = {
      get() { listenersOf(this); return handlers.get(this)?.handler ?? null; },
      set(value) {
        listenersOf(this);
        const handler = typeof value === "function" || (typeof value === "object" && value !== null) ? value : null;
        let entry = handlers.get(this);
        if (handler === null) {
          if (entry) {
            this.removeEventListener(type, entry.listener);
            handlers.delete(this);
          }
          return;
        }
        if (entry) {
          entry.handler = handler;
          return;
        }
        entry = { handler, listener: null };
        entry.listener = function (event) {
          const h = entry.handler;
          if (typeof h !== "function") return;
          if (Reflect.apply(h, this, [event]) === false) event.preventDefault();
        };
        handlers.set(this, entry);
        this.addEventListener(type, entry.listener);
      },
    };
    // Named as accessors are (`get onabort`), so lockdown reviews see them for what they are.
    defineProperty(accessors.get, "name", { value: `get on${type}` });
    defineProperty(accessors.set, "name", { value: `set on${type}` });
    defineProperty(proto, `on${type}`, { get: accessors.get, set: accessors.set, enumerable: true, configurable: true });
  };

  // ---- AbortSignal / AbortController --------------------------------------------------------------
  const constructing = Symbol("AbortSignal");
  let signalState;
  class AbortSignal extends EventTarget {
    #s = { aborted: false, reason: undefined, algorithms: [], dependent: false, sources: [], dependents: [] };
    constructor(key) {
      if (key !== constructing) throw new TypeError("Illegal constructor");
      super();
    }
    static { signalState = (x) => x.#s; }
    static abort(reason = undefined) {
      const signal = new AbortSignal(constructing);
      const s = signalState(signal);
      s.aborted = true;
      s.reason = reason === undefined ? abortError() : reason;
      return signal;
    }
    static timeout(milliseconds) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'timeout' on 'AbortSignal': 1 argument required, but only 0 present.");
      const ms = Number(milliseconds);
      if (!Number.isFinite(ms) || ms < 0 || ms > Number.MAX_SAFE_INTEGER) {
        throw new TypeError(`Failed to execute 'timeout' on 'AbortSignal': Value ${String(milliseconds)} is outside the 'unsigned long long' value range.`);
      }
      const signal = new AbortSignal(constructing);
      setTimeout(() => signalAbort(signal, new DOMException("The operation timed out.", "TimeoutError")), Math.min(Math.trunc(ms), 2 ** 31 - 1));
      return signal;
    }
    static any(signals) {
      if (arguments.length === 0) throw new TypeError("Failed to execute 'any' on 'AbortSignal': 1 argument required, but only 0 present.");
      const list = [...signals];
      for (const x of list) {
        if (!(x instanceof AbortSignal)) throw new TypeError("Failed to execute 'any' on 'AbortSignal': Failed to convert value to 'AbortSignal'.");
        signalState(x);
      }
      const result = new AbortSignal(constructing);
      const r = signalState(result);
      for (const x of list) {
        const xs = signalState(x);
        if (xs.aborted) {
          r.aborted = true;
          r.reason = xs.reason;
          return result;
        }
      }
      r.dependent = true;
      for (const x of list) {
        const xs = signalState(x);
        const sources = xs.dependent ? xs.sources : [x];
        for (const source of sources) {
          if (r.sources.includes(source)) continue;
          r.sources.push(source);
          signalState(source).dependents.push(result);
        }
      }
      return result;
    }
    get aborted() { return this.#s.aborted; }
    get reason() { return this.#s.reason; }
    throwIfAborted() { if (this.#s.aborted) throw this.#s.reason; }
  }
  handlerAttribute(AbortSignal.prototype, "abort");
  defineProperty(AbortSignal.prototype, Symbol.toStringTag, { value: "AbortSignal", configurable: true });

  const abortError = () => new DOMException("This operation was aborted", "AbortError");
  const addAbortAlgorithm = (signal, algorithm) => {
    const s = signalState(signal);
    if (!s.aborted) s.algorithms.push(algorithm);
  };
  function signalAbort(signal, reason) {
    const s = signalState(signal);
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? abortError() : reason;
    const dependents = [];
    for (const d of s.dependents) {
      const ds = signalState(d);
      if (ds.aborted) continue;
      ds.aborted = true;
      ds.reason = s.reason;
      dependents.push(d);
    }
    runAbortSteps(signal);
    for (const d of dependents) runAbortSteps(d);
  }
  function runAbortSteps(signal) {
    const s = signalState(signal);
    const algorithms = s.algorithms;
    s.algorithms = [];
    for (const algorithm of algorithms) algorithm();
    const event = new Event("abort");
    stateOf(event).trusted = true;
    dispatch(signal, event, stateOf(event));
  }

  class AbortController {
    #signal = new AbortSignal(constructing);
    get signal() { return this.#signal; }
    abort(reason = undefined) { signalAbort(this.#signal, reason); }
  }
  defineProperty(AbortController.prototype, Symbol.toStringTag, { value: "AbortController", configurable: true });

  Object.assign(g, { Event, CustomEvent, EventTarget, AbortSignal, AbortController });
}
