// node:util: `format`, `inspect` (the common options: depth, compact, breakLength, sorted,
// showHidden; no colors), `promisify`/`callbackify`, `inherits`, `deprecate`,
// `isDeepStrictEqual`, `types`, `TextEncoder`/`TextDecoder` (the globals). Realm-wide and frozen,
// so `inspect.defaultOptions` cannot be changed (pass options per call). Absent:
// `getSystemErrorName`/`getSystemErrorMap` (no OS), `debuglog` prints nothing (no environment
// to enable it), `parseArgs` (no process arguments), `MIMEType`.
import types from "node:util/types";

export { types };

const custom = Symbol.for("nodejs.util.inspect.custom");
const defaults = Object.freeze({
  depth: 2, compact: 3, breakLength: 80, sorted: false, showHidden: false, maxArrayLength: 100,
  maxStringLength: 10000, customInspect: true, getters: false, colors: false,
});

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function quote(s) {
  const q = !s.includes("'") ? "'" : !s.includes('"') ? '"' : !s.includes("`") ? "`" : "'";
  const escaped = s.replace(/[\\\n\r\t\b\f\v\0]|[\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case "\\": return "\\\\";
      case "\n": return "\\n";
      case "\r": return "\\r";
      case "\t": return "\\t";
      case "\b": return "\\b";
      case "\f": return "\\f";
      case "\v": return "\\v";
      default: return "\\x" + c.charCodeAt(0).toString(16).padStart(2, "0");
    }
  });
  return q + (q === "'" && s.includes("'") ? escaped.replace(/'/g, "\\'") : escaped) + q;
}

const keyText = (key) =>
  typeof key === "symbol" ? `[${key.toString()}]` : IDENTIFIER.test(key) ? key : quote(key);

function constructorName(value) {
  let proto = Object.getPrototypeOf(value);
  while (proto !== null) {
    const desc = Object.getOwnPropertyDescriptor(proto, "constructor");
    // Lockdown turns the builtin prototypes' `constructor` into a getter (see host.js).
    let ctor = desc && desc.value;
    if (desc && desc.get) {
      try { ctor = Reflect.apply(desc.get, proto, []); } catch { ctor = undefined; }
    }
    if (typeof ctor === "function" && ctor.name !== "") return ctor.name;
    proto = Object.getPrototypeOf(proto);
  }
  return null;
}

function functionText(fn) {
  const source = Function.prototype.toString.call(fn);
  if (source.startsWith("class")) return `[class ${fn.name || "(anonymous)"}]`;
  const kind = types.isAsyncFunction(fn) ? "AsyncFunction" : types.isGeneratorFunction(fn) ? "GeneratorFunction" : "Function";
  return fn.name ? `[${kind}: ${fn.name}]` : `[${kind} (anonymous)]`;
}

function primitive(value, nested) {
  switch (typeof value) {
    case "string": return nested ? quote(value) : value;
    case "number": return Object.is(value, -0) ? "-0" : String(value);
    case "bigint": return `${value}n`;
    case "symbol": return value.toString();
    case "undefined": return "undefined";
    case "boolean": return String(value);
    default: return null;
  }
}

function inspectValue(value, opts, depth, seen) {
  if (value === null) return "null";
  if (typeof value !== "object" && typeof value !== "function") {
    const text = primitive(value, true);
    return typeof value === "string" && value.length > opts.maxStringLength
      ? `${quote(value.slice(0, opts.maxStringLength))}... ${value.length - opts.maxStringLength} more characters`
      : text;
  }
  if (opts.customInspect && typeof value[custom] === "function" && value[custom] !== inspect) {
    const out = value[custom](opts.depth === null ? Infinity : opts.depth - depth, opts, inspect);
    return typeof out === "string" ? out : inspectValue(out, opts, depth, seen);
  }
  if (seen.includes(value)) return "[Circular *1]";
  if (typeof value === "function") {
    const base = functionText(value);
    const keys = Object.keys(value);
    if (keys.length === 0) return base;
    return braces(base + " {", entries(value, keys, opts, depth, seen), "}", opts, depth);
  }
  if (value instanceof Error) {
    const stack = typeof value.stack === "string" && value.stack ? value.stack : "";
    const head = `${value.name || "Error"}: ${value.message}`;
    return stack.includes(head) ? stack.trimEnd() : stack ? `${head}\n${stack.trimEnd()}` : `[${head}]`;
  }
  if (types.isDate(value)) return Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString();
  if (types.isRegExp(value)) return RegExp.prototype.toString.call(value);
  if (types.isBoxedPrimitive(value)) {
    const inner = value.valueOf();
    return `[${typeof inner === "bigint" ? "BigInt" : typeof inner === "symbol" ? "Symbol" : constructorName(value)}: ${primitive(inner, true)}]`;
  }
  if (types.isPromise(value)) return "Promise { <unknown> }";
  if (types.isWeakMap(value)) return "WeakMap { <items unknown> }";
  if (types.isWeakSet(value)) return "WeakSet { <items unknown> }";
  const maxDepth = opts.depth === null ? Infinity : opts.depth;
  const name = constructorName(value);
  const prefixOf = (fallback, size) => {
    const shown = name === null ? `[${fallback}: null prototype]` : name;
    return size === undefined ? shown : `${shown}(${size})`;
  };
  if (depth > maxDepth) {
    return Array.isArray(value) ? "[Array]" : `[${name === null ? "Object: null prototype" : name || "Object"}]`;
  }
  seen = [...seen, value];
  if (Array.isArray(value)) {
    const items = [];
    const n = Math.min(value.length, opts.maxArrayLength);
    let holes = 0;
    for (let i = 0; i < n; i++) {
      if (!Object.hasOwn(value, i)) { holes++; continue; }
      if (holes) { items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
      items.push(inspectValue(value[i], opts, depth + 1, seen));
    }
    if (holes) items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
    if (value.length > n) items.push(`... ${value.length - n} more item${value.length - n > 1 ? "s" : ""}`);
    const extra = Object.keys(value).filter((k) => !/^\d+$/.test(k));
    items.push(...entries(value, extra, opts, depth, seen));
    if (opts.showHidden) items.push(`[length]: ${value.length}`);
    const prefix = name === "Array" ? "" : `${prefixOf("Array", value.length)} `;
    return braces(prefix + "[", items, "]", opts, depth);
  }
  if (types.isTypedArray(value)) {
    const n = Math.min(value.length, opts.maxArrayLength);
    const items = Array.from(value.subarray(0, n), (v) => primitive(v, true));
    if (value.length > n) items.push(`... ${value.length - n} more items`);
    return braces(`${prefixOf("TypedArray", value.length)} [`, items, "]", opts, depth);
  }
  if (types.isArrayBuffer(value)) {
    const bytes = Array.from(new Uint8Array(value, 0, Math.min(value.byteLength, 50)), (b) => b.toString(16).padStart(2, "0"));
    return `ArrayBuffer { [Uint8Contents]: <${bytes.join(" ")}${value.byteLength > 50 ? ` ... ${value.byteLength - 50} more bytes` : ""}>, byteLength: ${value.byteLength} }`;
  }
  if (types.isMap(value)) {
    const items = [];
    for (const [k, v] of value) items.push(`${inspectValue(k, opts, depth + 1, seen)} => ${inspectValue(v, opts, depth + 1, seen)}`);
    return braces(`${prefixOf("Map", value.size)} {`, items, "}", opts, depth);
  }
  if (types.isSet(value)) {
    const items = [];
    for (const v of value) items.push(inspectValue(v, opts, depth + 1, seen));
    return braces(`${prefixOf("Set", value.size)} {`, items, "}", opts, depth);
  }
  const keys = opts.showHidden ? Reflect.ownKeys(value) : [...Object.keys(value), ...Object.getOwnPropertySymbols(value).filter((s) => Object.prototype.propertyIsEnumerable.call(value, s))];
  if (opts.sorted) keys.sort();
  const items = entries(value, keys, opts, depth, seen);
  const tag = value[Symbol.toStringTag];
  const prefix = name === "Object" ? (typeof tag === "string" && tag ? `Object [${tag}] ` : "") : `${prefixOf("Object")}${typeof tag === "string" && tag && tag !== name ? ` [${tag}]` : ""} `;
  if (items.length === 0) return `${prefix}{}`;
  return braces(prefix + "{", items, "}", opts, depth);
}

function entries(value, keys, opts, depth, seen) {
  return keys.map((key) => {
    const desc = Object.getOwnPropertyDescriptor(value, key);
    let text;
    if (desc === undefined) text = "undefined";
    else if ("value" in desc) text = inspectValue(desc.value, opts, depth + 1, seen);
    else text = desc.get ? (desc.set ? "[Getter/Setter]" : "[Getter]") : "[Setter]";
    return `${keyText(key)}: ${text}`;
  });
}

// One line when it fits (and nothing inside spans lines), else one entry per line.
function braces(open, items, close, opts, depth) {
  if (items.length === 0) return open.endsWith("[") ? `${open}]` : `${open}}`;
  const line = `${open} ${items.join(", ")} ${close}`;
  const fits = opts.compact !== false && line.length + depth * 2 <= opts.breakLength && !items.some((i) => i.includes("\n"));
  if (fits) return line;
  // Nested values are laid out relative to their own start; each level indents its entries.
  return `${open}\n${items.map((i) => "  " + i.replace(/\n/g, "\n  ")).join(",\n")}\n${close}`;
}

export function inspect(value, options, ...legacy) {
  let opts = { ...defaults };
  if (typeof options === "boolean") {
    opts.showHidden = options;
    if (legacy.length > 0 && legacy[0] !== undefined) opts.depth = legacy[0];
  } else if (options && typeof options === "object") {
    opts = { ...opts, ...options };
  }
  if (opts.depth === Infinity) opts.depth = null;
  return inspectValue(value, opts, 0, []);
}
inspect.custom = custom;
Object.defineProperty(inspect, "defaultOptions", { value: defaults, enumerable: true });

export function format(first, ...args) {
  return formatWithOptions({}, first, ...args);
}

export function formatWithOptions(options, first, ...args) {
  const show = (v) => (typeof v === "string" ? v : inspect(v, options));
  if (typeof first !== "string") return [first, ...args].map(show).join(" ");
  let i = 0;
  let out = first.replace(/%([sdifjoOc%])/g, (match, c) => {
    if (c === "%") return "%";
    if (i >= args.length) return match;
    const a = args[i++];
    switch (c) {
      case "s":
        if (typeof a === "bigint") return `${a}n`;
        if (typeof a === "symbol") return a.toString();
        if (typeof a === "object" && a !== null) return inspect(a, { ...options, depth: 0 });
        return primitive(a, false) ?? String(a);
      case "d":
        if (typeof a === "bigint") return `${a}n`;
        if (typeof a === "symbol") return "NaN";
        return primitive(Number(a), false);
      case "i":
        if (typeof a === "bigint") return `${a}n`;
        if (typeof a === "symbol") return "NaN";
        return primitive(parseInt(a), false);
      case "f": return typeof a === "symbol" ? "NaN" : primitive(parseFloat(a), false);
      case "j":
        try { return JSON.stringify(a); } catch { return "[Circular]"; }
      case "o": return inspect(a, { ...options, showHidden: true, depth: 4 });
      case "O": return inspect(a, options);
      case "c": return "";
    }
    return match;
  });
  while (i < args.length) out += " " + show(args[i++]);
  return out;
}

const promisifyCustom = Symbol.for("nodejs.util.promisify.custom");

export function promisify(original) {
  if (typeof original !== "function") throw new TypeError('The "original" argument must be of type function.');
  if (typeof original[promisifyCustom] === "function") return original[promisifyCustom];
  function promisified(...args) {
    return new Promise((resolve, reject) => {
      original.call(this, ...args, (err, ...values) => {
        if (err) reject(err);
        else resolve(values.length > 1 ? values : values[0]);
      });
    });
  }
  Object.setPrototypeOf(promisified, Object.getPrototypeOf(original));
  return Object.defineProperties(promisified, Object.getOwnPropertyDescriptors(original));
}
promisify.custom = promisifyCustom;

export function callbackify(original) {
  if (typeof original !== "function") throw new TypeError('The "original" argument must be of type function.');
  return function callbackified(...args) {
    const callback = args.pop();
    if (typeof callback !== "function") throw new TypeError("The last argument must be of type function.");
    original.apply(this, args).then(
      (value) => queueMicrotask(() => callback(null, value)),
      (reason) => {
        let err = reason;
        if (!err) {
          err = new Error("Promise was rejected with a falsy value");
          err.reason = reason;
        }
        queueMicrotask(() => callback(err));
      },
    );
  };
}

export function inherits(ctor, superCtor) {
  if (typeof ctor !== "function" || typeof superCtor !== "function" || superCtor.prototype === undefined) {
    throw new TypeError('The "ctor" and "superCtor" arguments must be functions with a prototype.');
  }
  Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

// Warns (through console.warn) the first time the returned function is called; the flag lives
// in the returned function's closure, so it belongs to whoever called `deprecate`.
export function deprecate(fn, message, code) {
  let warned = false;
  return function deprecated(...args) {
    if (!warned) {
      warned = true;
      console.warn(`DeprecationWarning${code ? ` [${code}]` : ""}: ${message}`);
    }
    return new.target ? Reflect.construct(fn, args, new.target) : fn.apply(this, args);
  };
}

export function debuglog() {
  const log = () => {};
  log.enabled = false;
  return log;
}
export const debug = debuglog;

export function isDeepStrictEqual(a, b) {
  return deepEqual(a, b, true, []);
}

// Node's deep equality (used by `assert` too): strict compares prototypes and uses Object.is.
export function deepEqual(a, b, strict, memo) {
  if (strict ? Object.is(a, b) : a == b || (a !== a && b !== b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return false;
  }
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const tag = Object.prototype.toString.call(a);
  if (tag !== Object.prototype.toString.call(b)) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  for (const [x, y] of memo) if (x === a && y === b) return true;
  memo = [...memo, [a, b]];
  if (types.isDate(a)) { if (a.getTime() !== b.getTime()) return false; }
  else if (types.isRegExp(a)) { if (String(a) !== String(b) || a.lastIndex !== b.lastIndex) return false; }
  else if (a instanceof Error) { if (a.message !== b.message || a.name !== b.name) return false; }
  else if (types.isBoxedPrimitive(a)) { if (!Object.is(a.valueOf(), b.valueOf())) return false; }
  if (ArrayBuffer.isView(a)) {
    if (a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  if (types.isMap(a)) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) {
      if (b.has(k)) { if (!deepEqual(v, b.get(k), strict, memo)) return false; }
      else if (![...b].some(([k2, v2]) => deepEqual(k, k2, strict, memo) && deepEqual(v, v2, strict, memo))) return false;
    }
  } else if (types.isSet(a)) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v) && ![...b].some((w) => deepEqual(v, w, strict, memo))) return false;
  }
  const own = (o) => Object.keys(o).filter((k) => !(ArrayBuffer.isView(o) && /^\d+$/.test(k)));
  const ka = own(a), kb = own(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k], strict, memo)) return false;
  }
  if (strict) {
    const enumerable = (o) => Object.getOwnPropertySymbols(o).filter((s) => Object.prototype.propertyIsEnumerable.call(o, s));
    const sa = enumerable(a), sb = enumerable(b);
    if (sa.length !== sb.length) return false;
    for (const s of sa) if (!deepEqual(a[s], b[s], strict, memo)) return false;
  }
  return true;
}

export function stripVTControlCharacters(s) {
  // eslint-disable-next-line no-control-regex
  return String(s).replace(/[\u001B\u009B][[\]()#;?]*(?:(?:(?:[a-zA-Z\d]*(?:;[-a-zA-Z\d/#&.:=?%@~_]*)*)?\u0007)|(?:(?:\d{1,4}(?:;\d{0,4})*)?[\dA-PR-TZcf-ntqry=><~]))/g, "");
}

export function toUSVString(s) {
  return String(s).toWellFormed();
}

export function styleText(_format, text) {
  return String(text);
}

export function aborted(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

// The old `util.is*` helpers some CommonJS packages still call.
export const isArray = Array.isArray;
export const isBoolean = (v) => typeof v === "boolean";
export const isNull = (v) => v === null;
export const isNullOrUndefined = (v) => v === null || v === undefined;
export const isNumber = (v) => typeof v === "number";
export const isString = (v) => typeof v === "string";
export const isSymbol = (v) => typeof v === "symbol";
export const isUndefined = (v) => v === undefined;
export const isRegExp = types.isRegExp;
export const isObject = (v) => v !== null && typeof v === "object";
export const isDate = types.isDate;
export const isError = (v) => v instanceof Error;
export const isFunction = (v) => typeof v === "function";
export const isPrimitive = (v) => v === null || (typeof v !== "object" && typeof v !== "function");

export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;

export default {
  format, formatWithOptions, inspect, promisify, callbackify, inherits, deprecate, debuglog, debug,
  isDeepStrictEqual, types, stripVTControlCharacters, toUSVString, styleText, aborted,
  isArray, isBoolean, isNull, isNullOrUndefined, isNumber, isString, isSymbol, isUndefined, isRegExp,
  isObject, isDate, isError, isFunction, isPrimitive, TextEncoder, TextDecoder,
};
