// The run's timers: setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, and
// reportError. Callbacks live in this module's per-run table; the Rust queue (`timers.rs`) holds
// only ids and due times, and the executor calls `fire(id)` when one is due. `beginRun`/`endRun`
// empty the table, so no callback of one run can be called in another.
//
// Behaviour follows HTML's timer initialization steps: ids are positive integers (per run);
// delays are clamped (negative or NaN → 0, above 2^31 − 1 → 1); from the sixth nested level on
// (a timer set from a timer callback, or an interval's sixth repeat) a delay below 4 ms becomes
// 4 ms, so a self-rescheduling timer cannot spin. Strings of code are refused (no eval), and a
// run may have at most `MAX_LIVE` timers at once (a RangeError beyond).
const MAX_LIVE = 4096; // timers.rs's MAX_LIVE_TIMERS
const MAX_DELAY = 2 ** 31 - 1;

let natives = null;
let table = new Map(); // id -> { callback, args, delay, repeat, nesting }
let nextId = 1;
let nesting = 0; // the nesting level of the timer callback running now (0 outside one)

function clampDelay(delay) {
  let ms = delay === undefined ? 0 : Number(delay);
  if (!(ms >= 0)) ms = 0;
  if (ms > MAX_DELAY) ms = 1;
  return Math.trunc(ms);
}

function schedule(name, callback, delay, args, repeat) {
  if (typeof callback !== "function") {
    throw new TypeError(typeof callback === "string"
      ? `${name} with a string of code is not supported (timers do not evaluate code); pass a function`
      : `${name}: the callback must be a function`);
  }
  if (table.size >= MAX_LIVE) {
    throw new RangeError(`${name}: a run may have at most ${MAX_LIVE} timers pending at once; clear the timers it no longer needs`);
  }
  const level = nesting + 1;
  let ms = clampDelay(delay);
  if (level > 5 && ms < 4) ms = 4;
  const id = nextId++;
  if (!natives.timerArm(id, ms)) {
    throw new RangeError(`${name}: a run may have at most ${MAX_LIVE} timers pending at once`);
  }
  table.set(id, { callback, args, delay: ms, repeat, nesting: level });
  return id;
}

function clear(id) {
  const key = typeof id === "number" ? id : Number(id);
  if (table.delete(key)) natives.timerClear(key);
}

// Called by the executor when timer `id` is due. An exception propagates to the executor, which
// fails the run (as an uncaught exception in a timer ends a Node or Deno process).
export function fire(id) {
  const timer = table.get(id);
  if (timer === undefined) return;
  if (!timer.repeat) table.delete(id);
  const outer = nesting;
  nesting = timer.nesting;
  try {
    Reflect.apply(timer.callback, globalThis, timer.args);
  } finally {
    nesting = outer;
  }
  // An interval is re-armed after its callback, unless the callback cleared it.
  if (timer.repeat && table.get(id) === timer) {
    timer.nesting++;
    const ms = timer.nesting > 5 && timer.delay < 4 ? 4 : timer.delay;
    natives.timerArm(id, ms);
  }
}

export default function install(g, n) {
  natives = n;
  const report = (e) => natives.reportError(natives.format([e]));
  const resolved = Promise.resolve();
  const then = Promise.prototype.then;
  function setTimeout(callback, delay = 0, ...args) {
    return schedule("setTimeout", callback, delay, args, false);
  }
  function setInterval(callback, delay = 0, ...args) {
    return schedule("setInterval", callback, delay, args, true);
  }
  function clearTimeout(id) { clear(id); }
  function clearInterval(id) { clear(id); }
  function queueMicrotask(callback) {
    if (typeof callback !== "function") throw new TypeError("queueMicrotask: the callback must be a function");
    Reflect.apply(then, resolved, [() => {
      try { callback(); } catch (e) { report(e); }
    }]);
  }
  // Like an uncaught exception: the run fails with it (after the current callback returns).
  function reportError(e) {
    if (arguments.length === 0) throw new TypeError("reportError: 1 argument required, but only 0 present");
    report(e);
  }
  Object.assign(g, { setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, reportError });
  // The table never leaves this module, so an empty one can serve the next run.
  const reset = () => {
    if (table.size !== 0) table = new Map();
    nextId = 1;
    nesting = 0;
  };
  return { beginRun: reset, endRun: reset };
}
