// node:events: EventEmitter, `once`, `on`. Realm-wide and frozen (see `node/mod.rs`): every
// emitter keeps its listeners on itself (`_events`, as in Node, so old-style subclasses that
// call `EventEmitter.call(this)` work), never on the shared prototype, and
// `EventEmitter.defaultMaxListeners` is fixed at 10 (per emitter: `setMaxListeners`).
// Absent: `captureRejections` (accepted, ignored) and the async-resource hooks.

const kMaxListenersWarned = Symbol("maxListenersWarned");
export const errorMonitor = Symbol("events.errorMonitor");
export const captureRejectionSymbol = Symbol.for("nodejs.rejection");

const checkListener = (listener) => {
  if (typeof listener !== "function") {
    const e = new TypeError(`The "listener" argument must be of type function. Received ${listener === null ? "null" : typeof listener}`);
    e.code = "ERR_INVALID_ARG_TYPE";
    throw e;
  }
};

// The listener table of `emitter`, created on first use (an object made with
// `Object.create(EventEmitter.prototype)` never ran the constructor).
const events = (emitter) => {
  if (emitter._events === undefined || emitter._events === Object.getPrototypeOf(emitter)._events) {
    emitter._events = Object.create(null);
    emitter._eventsCount = 0;
  }
  return emitter._events;
};

export function EventEmitter(options) {
  EventEmitter.init.call(this, options);
}

EventEmitter.init = function init() {
  if (this._events === undefined || this._events === Object.getPrototypeOf(this)._events) {
    this._events = Object.create(null);
    this._eventsCount = 0;
  }
  this._maxListeners = this._maxListeners || undefined;
};

Object.defineProperty(EventEmitter, "defaultMaxListeners", { value: 10, enumerable: true });
EventEmitter.errorMonitor = errorMonitor;
EventEmitter.captureRejectionSymbol = captureRejectionSymbol;
Object.defineProperty(EventEmitter, "captureRejections", { value: false, enumerable: true });

function addListener(emitter, type, listener, prepend) {
  checkListener(listener);
  const table = events(emitter);
  if (table.newListener !== undefined) {
    emitter.emit("newListener", type, listener.listener ? listener.listener : listener);
  }
  const existing = table[type];
  if (existing === undefined) {
    table[type] = listener;
    emitter._eventsCount++;
  } else if (typeof existing === "function") {
    table[type] = prepend ? [listener, existing] : [existing, listener];
  } else if (prepend) existing.unshift(listener);
  else existing.push(listener);
  const max = emitter.getMaxListeners();
  const count = typeof table[type] === "function" ? 1 : table[type].length;
  if (max > 0 && count > max && !emitter[kMaxListenersWarned]) {
    emitter[kMaxListenersWarned] = true;
    if (typeof console === "object" && console && typeof console.warn === "function") {
      console.warn(`MaxListenersExceededWarning: Possible EventEmitter memory leak detected. ${count} ${String(type)} listeners added. Use emitter.setMaxListeners() to increase limit`);
    }
  }
  return emitter;
}

function onceWrapper(emitter, type, listener) {
  const state = { fired: false };
  function wrapped(...args) {
    if (state.fired) return undefined;
    state.fired = true;
    emitter.removeListener(type, wrapped);
    return listener.apply(emitter, args);
  }
  wrapped.listener = listener;
  return wrapped;
}

const proto = EventEmitter.prototype;

proto.setMaxListeners = function setMaxListeners(n) {
  if (typeof n !== "number" || n < 0 || Number.isNaN(n)) {
    throw new RangeError(`The value of "n" is out of range. It must be a non-negative number. Received ${String(n)}`);
  }
  this._maxListeners = n;
  return this;
};

proto.getMaxListeners = function getMaxListeners() {
  return this._maxListeners === undefined ? EventEmitter.defaultMaxListeners : this._maxListeners;
};

proto.emit = function emit(type, ...args) {
  const table = events(this);
  if (type === "error" && table[errorMonitor] !== undefined) this.emit(errorMonitor, ...args);
  const handler = table[type];
  if (handler === undefined) {
    if (type === "error") {
      const err = args[0];
      if (err instanceof Error) throw err;
      const e = new Error(`Unhandled error.${err === undefined ? "" : ` (${String(err)})`}`);
      e.code = "ERR_UNHANDLED_ERROR";
      e.context = err;
      throw e;
    }
    return false;
  }
  if (typeof handler === "function") handler.apply(this, args);
  else for (const listener of handler.slice()) listener.apply(this, args);
  return true;
};

proto.addListener = function addListener_(type, listener) {
  return addListener(this, type, listener, false);
};
proto.on = proto.addListener;

proto.prependListener = function prependListener(type, listener) {
  return addListener(this, type, listener, true);
};

proto.once = function once(type, listener) {
  checkListener(listener);
  return this.on(type, onceWrapper(this, type, listener));
};

proto.prependOnceListener = function prependOnceListener(type, listener) {
  checkListener(listener);
  return this.prependListener(type, onceWrapper(this, type, listener));
};

proto.removeListener = function removeListener(type, listener) {
  checkListener(listener);
  const table = events(this);
  const list = table[type];
  if (list === undefined) return this;
  if (list === listener || list.listener === listener) {
    if (--this._eventsCount === 0) this._events = Object.create(null);
    else delete table[type];
    if (table.removeListener !== undefined) this.emit("removeListener", type, list.listener || listener);
    return this;
  }
  if (typeof list !== "function") {
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i] === listener || list[i].listener === listener) {
        const [removed] = list.splice(i, 1);
        if (list.length === 1) table[type] = list[0];
        if (table.removeListener !== undefined) this.emit("removeListener", type, removed.listener || removed);
        break;
      }
    }
  }
  return this;
};
proto.off = proto.removeListener;

proto.removeAllListeners = function removeAllListeners(type) {
  const table = events(this);
  if (type === undefined) {
    if (table.removeListener !== undefined) {
      for (const key of Reflect.ownKeys(table)) if (key !== "removeListener") this.removeAllListeners(key);
      this.removeAllListeners("removeListener");
    }
    this._events = Object.create(null);
    this._eventsCount = 0;
    return this;
  }
  const list = table[type];
  if (typeof list === "function") this.removeListener(type, list);
  else if (list !== undefined) for (let i = list.length - 1; i >= 0; i--) this.removeListener(type, list[i]);
  return this;
};

proto.listeners = function listeners(type) {
  const list = events(this)[type];
  if (list === undefined) return [];
  return (typeof list === "function" ? [list] : list).map((l) => l.listener || l);
};

proto.rawListeners = function rawListeners(type) {
  const list = events(this)[type];
  if (list === undefined) return [];
  return typeof list === "function" ? [list] : list.slice();
};

proto.listenerCount = function listenerCount(type, listener) {
  const list = events(this)[type];
  if (list === undefined) return 0;
  const all = typeof list === "function" ? [list] : list;
  return listener === undefined ? all.length : all.filter((l) => l === listener || l.listener === listener).length;
};

proto.eventNames = function eventNames() {
  return Reflect.ownKeys(events(this));
};

EventEmitter.EventEmitter = EventEmitter;

EventEmitter.listenerCount = (emitter, type) => emitter.listenerCount(type);

EventEmitter.setMaxListeners = (n, ...targets) => {
  for (const t of targets) if (typeof t.setMaxListeners === "function") t.setMaxListeners(n);
};

EventEmitter.getEventListeners = (emitter, type) =>
  typeof emitter.listeners === "function" ? emitter.listeners(type) : [];

// Resolves with the arguments of the next `type` event; rejects on "error" (or the signal).
EventEmitter.once = function once(emitter, type, options = {}) {
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) {
      reject(signal.reason);
      return;
    }
    if (typeof emitter.addEventListener === "function" && typeof emitter.on !== "function") {
      emitter.addEventListener(type, (event) => resolve([event]), { once: true, signal });
      return;
    }
    const onError = (err) => {
      emitter.removeListener(type, onEvent);
      reject(err);
    };
    const onEvent = (...args) => {
      if (type !== "error") emitter.removeListener("error", onError);
      resolve(args);
    };
    emitter.once(type, onEvent);
    if (type !== "error") emitter.once("error", onError);
    if (signal) {
      signal.addEventListener("abort", () => {
        emitter.removeListener(type, onEvent);
        emitter.removeListener("error", onError);
        reject(signal.reason);
      }, { once: true });
    }
  });
};

// An async iterator over `type` events (each value the event's arguments).
EventEmitter.on = function on(emitter, type, options = {}) {
  const queue = [];
  const waiting = [];
  let error = null;
  let done = false;
  const push = (...args) => {
    const w = waiting.shift();
    if (w) w.resolve({ value: args, done: false });
    else queue.push(args);
  };
  const fail = (err) => {
    done = true;
    const w = waiting.shift();
    if (w) w.reject(err);
    else error = err;
  };
  const stop = () => {
    done = true;
    emitter.removeListener(type, push);
    emitter.removeListener("error", fail);
    for (const w of waiting.splice(0)) w.resolve({ value: undefined, done: true });
  };
  emitter.on(type, push);
  if (type !== "error") emitter.on("error", fail);
  if (options.signal) options.signal.addEventListener("abort", () => fail(options.signal.reason), { once: true });
  return {
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (error) {
        const e = error;
        error = null;
        stop();
        return Promise.reject(e);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err) {
      fail(err);
      stop();
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
};

export const once = EventEmitter.once;
export const on = EventEmitter.on;
export const listenerCount = EventEmitter.listenerCount;
export const setMaxListeners = EventEmitter.setMaxListeners;
export const getEventListeners = EventEmitter.getEventListeners;
export const defaultMaxListeners = 10;
export default EventEmitter;
