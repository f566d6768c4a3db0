// The runtime core of the web platform: `console` (every method), `structuredClone`,
// `performance`, and the `WeakRef`/`FinalizationRegistry` constructors that mark their run (see
// `runtime.rs`: a runtime whose run used them is not reused).
//
// Per-run state (console counters, timer labels, group indentation) lives in this module's
// closure and is reset by `beginRun`; everything put on globalThis is frozen by lockdown after
// install. `natives.format` (Node-style formatting of log arguments) is also what `ctx.log` uses.
export default function install(g, natives) {
  "use strict";
  const { log: nativeLog, logs: wantsLogs, now: nativeNow, timeOrigin: nativeTimeOrigin, markWeakRefsUsed } = natives;
  const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf, keys: objectKeys } = Object;
  const { apply, ownKeys } = Reflect;
  const call = (fn, self, ...args) => apply(fn, self, args);
  const getter = (proto, key) => getOwnPropertyDescriptor(proto, key).get;
  const TypedArray = getPrototypeOf(Uint8Array);
  const typedArrayTag = getter(TypedArray.prototype, Symbol.toStringTag);
  const bufferByteLength = getter(ArrayBuffer.prototype, "byteLength");
  const bufferResizable = getOwnPropertyDescriptor(ArrayBuffer.prototype, "resizable")?.get;
  const bufferMaxByteLength = getOwnPropertyDescriptor(ArrayBuffer.prototype, "maxByteLength")?.get;
  const bufferSlice = ArrayBuffer.prototype.slice;
  const bufferTransfer = ArrayBuffer.prototype.transfer;
  const viewBuffer = getter(DataView.prototype, "buffer");
  const mapSize = getter(Map.prototype, "size");
  const setSize = getter(Set.prototype, "size");
  const mapEntries = Map.prototype.entries;
  const setValues = Set.prototype.values;
  const dateGetTime = Date.prototype.getTime;
  const regexpSource = getter(RegExp.prototype, "source");
  const regexpFlags = getter(RegExp.prototype, "flags");
  const domExceptionCode = getter(DOMException.prototype, "code");
  const errorIsError = Error.isError;
  const functionToString = Function.prototype.toString;
  const objectToString = Object.prototype.toString;
  const typedArrays = { Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array };
  if (typeof Float16Array === "function") typedArrays.Float16Array = Float16Array;
  const errorTypes = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  // Brand checks: true only for objects with the builtin's internal slots (not look-alikes).
  const branded = (fn, v) => { try { call(fn, v); return true; } catch { return false; } };
  const isDate = (v) => branded(dateGetTime, v);
  const isRegExp = (v) => { try { call(regexpSource, v); return v !== RegExp.prototype; } catch { return false; } };
  const isMap = (v) => branded(mapSize, v);
  const isSet = (v) => branded(setSize, v);
  const isArrayBuffer = (v) => branded(bufferByteLength, v);
  const isDOMException = (v) => branded(domExceptionCode, v);
  const isError = (v) => (errorIsError ? errorIsError(v) : objectToString.call(v) === "[object Error]");
  const boxed = [
    [Boolean, Boolean.prototype.valueOf], [Number, Number.prototype.valueOf],
    [String, String.prototype.valueOf], [BigInt, BigInt.prototype.valueOf],
    [Symbol, Symbol.prototype.valueOf],
  ];
  const unbox = (v) => {
    for (const [type, valueOf] of boxed) {
      try { return [type, call(valueOf, v)]; } catch { /* not this type */ }
    }
    return null;
  };

  // ---- inspect / format (a basic util.inspect) ------------------------------------------------
  const IDENT = /^[A-Za-z_$][\w$]*$/;
  // A string's text is printed either raw or exactly as JSON escapes it, never otherwise: the
  // log redactor (`secrets.rs`) matches secrets in those two forms, so a secret printed with
  // another escaping (Node's `\'`, or `\\` next to a raw `"`) would leak.
  const quote = (s) => {
    if (!/[\\\u0000-\u001f]/.test(s)) {
      if (!s.includes("'")) return `'${s}'`;
      if (!s.includes('"')) return `"${s}"`;
      if (!s.includes("`")) return `\`${s}\``;
    }
    const q = s.includes("'") ? '"' : "'";
    return q + JSON.stringify(s).slice(1, -1) + q;
  };
  const keyText = (k) => (typeof k === "symbol" ? `[${String(k)}]` : IDENT.test(k) ? k : quote(k));
  const constructorName = (o) => {
    for (let p = o; p !== null; p = getPrototypeOf(p)) {
      const d = getOwnPropertyDescriptor(p, "constructor");
      // Lockdown turns builtin prototypes' `constructor` into an accessor (see host.js).
      let c;
      try { c = d === undefined ? undefined : "value" in d ? d.value : d.get ? call(d.get, p) : undefined; } catch { c = undefined; }
      if (typeof c === "function" && typeof c.name === "string" && c.name !== "") return c.name;
    }
    return null;
  };
  const functionText = (f) => {
    let isClass = false;
    try { isClass = call(functionToString, f).startsWith("class"); } catch { /* native */ }
    const name = typeof f.name === "string" && f.name !== "" ? f.name : null;
    if (isClass) return `[class ${name ?? "(anonymous)"}]`;
    return name === null ? "[Function (anonymous)]" : `[Function: ${name}]`;
  };
  // Nested in another value, an error is one line (`[Name: message]`, the message escaped like
  // a string when it has line breaks), since the lines of nested values get indented.
  const errorText = (e, nested) => {
    let name, message, stack;
    try { name = String(e.name); message = String(e.message); stack = e.stack; } catch { return "[Error]"; }
    if (nested) {
      const text = /[\\\u0000-\u001f]/.test(message) ? JSON.stringify(message).slice(1, -1) : message;
      return `[${name}${text === "" ? "" : `: ${text}`}]`;
    }
    const head = message === "" ? name : `${name}: ${message}`;
    if (typeof stack !== "string" || stack === "") return `[${head}]`;
    return stack.startsWith(head) ? stack.trimEnd() : `${head}\n${stack.trimEnd()}`;
  };

  function inspect(value, options) {
    const depthLimit = options && typeof options.depth === "number" ? options.depth : options && options.depth === null ? Infinity : 2;
    const refs = new Map(); // object -> ref number, for cycles
    const stack = [];
    const fmt = (v, depth, nested) => {
      switch (typeof v) {
        case "string": return nested ? quote(v) : v;
        case "number": return Object.is(v, -0) ? "-0" : String(v);
        case "bigint": return `${v}n`;
        case "symbol": return String(v);
        case "undefined": return "undefined";
        case "boolean": return String(v);
        case "function": {
          const own = objectKeys(v);
          if (own.length === 0 || depth > depthLimit) return functionText(v);
          return body(v, depth, functionText(v) + " ", own.map((k) => entry(v, k, depth)), "{", "}");
        }
      }
      if (v === null) return "null";
      if (stack.includes(v)) {
        if (!refs.has(v)) refs.set(v, refs.size + 1);
        return `[Circular *${refs.get(v)}]`;
      }
      stack.push(v);
      try {
        const text = objectText(v, depth, nested);
        return refs.has(v) ? `<ref *${refs.get(v)}> ${text}` : text;
      } finally {
        stack.pop();
      }
    };
    const entry = (o, k, depth) => {
      const d = getOwnPropertyDescriptor(o, k);
      const value = d === undefined ? undefined : "value" in d ? fmt(d.value, depth + 1, true)
        : d.get && d.set ? "[Getter/Setter]" : d.get ? "[Getter]" : "[Setter]";
      return `${keyText(k)}: ${value}`;
    };
    const ownEnumerable = (o, skipIndices) => ownKeys(o).filter((k) => {
      if (skipIndices && typeof k === "string" && String(k >>> 0) === k && (k >>> 0) !== 4294967295) return false;
      const d = getOwnPropertyDescriptor(o, k);
      return d !== undefined && d.enumerable;
    });
    const body = (o, depth, prefix, items, open, close) => {
      if (items.length === 0) return `${prefix}${open}${close}`;
      const single = `${prefix}${open} ${items.join(", ")} ${close}`;
      if (single.length <= 72 && !single.includes("\n")) return single;
      const pad = "  ".repeat(depth + 1);
      return `${prefix}${open}\n${items.map((i) => pad + i.replaceAll("\n", "\n  ")).join(",\n")}\n${"  ".repeat(depth)}${close}`;
    };
    const objectText = (o, depth, nested) => {
      const name = constructorName(o);
      const tooDeep = depth > depthLimit;
      if (Array.isArray(o)) {
        if (tooDeep) return "[Array]";
        const items = [];
        let holes = 0;
        const shown = Math.min(o.length, 100);
        for (let i = 0; i < shown; i++) {
          if (!(i in o)) { holes++; continue; }
          if (holes) { items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`); holes = 0; }
          items.push(fmt(o[i], depth + 1, true));
        }
        if (holes) items.push(`<${holes} empty item${holes > 1 ? "s" : ""}>`);
        if (o.length > shown) items.push(`... ${o.length - shown} more item${o.length - shown > 1 ? "s" : ""}`);
        for (const k of ownEnumerable(o, true)) if (k !== "length") items.push(entry(o, k, depth));
        return body(o, depth, name === "Array" ? "" : `${name ?? "[Array: null prototype]"}(${o.length}) `, items, "[", "]");
      }
      if (isError(o) || isDOMException(o)) return errorText(o, nested);
      if (isDate(o)) {
        const t = call(dateGetTime, o);
        return Number.isNaN(t) ? "Invalid Date" : new Date(t).toISOString();
      }
      if (isRegExp(o)) return `/${call(regexpSource, o)}/${call(regexpFlags, o)}`;
      if (isMap(o)) {
        if (tooDeep) return `[${name ?? "Map"}]`;
        const items = [];
        for (const [k, v] of call(mapEntries, o)) items.push(`${fmt(k, depth + 1, true)} => ${fmt(v, depth + 1, true)}`);
        return body(o, depth, `${name ?? "Map"}(${call(mapSize, o)}) `, items, "{", "}");
      }
      if (isSet(o)) {
        if (tooDeep) return `[${name ?? "Set"}]`;
        const items = [];
        for (const v of call(setValues, o)) items.push(fmt(v, depth + 1, true));
        return body(o, depth, `${name ?? "Set"}(${call(setSize, o)}) `, items, "{", "}");
      }
      if (ArrayBuffer.isView(o)) {
        const tag = call(typedArrayTag, o);
        if (tag === undefined) return `DataView { byteLength: ${o.byteLength}, byteOffset: ${o.byteOffset} }`;
        if (tooDeep) return `[${tag}]`;
        const shown = Math.min(o.length, 100);
        const items = [];
        for (let i = 0; i < shown; i++) items.push(fmt(o[i], depth + 1, true));
        if (o.length > shown) items.push(`... ${o.length - shown} more items`);
        return body(o, depth, `${tag}(${o.length}) `, items, "[", "]");
      }
      if (isArrayBuffer(o)) {
        const bytes = new Uint8Array(o, 0, Math.min(call(bufferByteLength, o), 50));
        const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ");
        return `ArrayBuffer { [Uint8Contents]: <${hex}${call(bufferByteLength, o) > 50 ? " ..." : ""}>, byteLength: ${call(bufferByteLength, o)} }`;
      }
      const box = unbox(o);
      if (box) return `[${box[0].name}: ${fmt(box[1], depth + 1, true)}]`;
      if (o instanceof Promise) return "Promise { <unknown> }";
      if (o instanceof WeakMap || o instanceof WeakSet) return `${name} { <items unknown> }`;
      if (tooDeep) return `[${name ?? "Object"}]`;
      const items = ownEnumerable(o, false).map((k) => entry(o, k, depth));
      const tag = o[Symbol.toStringTag];
      let prefix = name === null ? "[Object: null prototype] " : name === "Object" ? "" : `${name} `;
      if (typeof tag === "string" && tag !== "" && tag !== name) prefix = `${prefix || "Object "}[${tag}] `;
      return body(o, depth, prefix, items, "{", "}");
    };
    try {
      return fmt(value, 0, false);
    } catch (e) {
      return `[uninspectable: ${e && e.message}]`;
    }
  }

  // Node's util.format: printf-style substitutions in a leading string, the rest inspected.
  function format(args) {
    let first = 0;
    let out = "";
    if (typeof args[0] === "string" && args.length > 1) {
      first = 1;
      out = args[0].replace(/%([sdifjoOc%])/g, (m, c) => {
        if (c === "%") return "%";
        if (first >= args.length) return m;
        const a = args[first++];
        switch (c) {
          case "s": return typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : typeof a === "object" && a !== null ? inspect(a, { depth: 0 }) : String(a);
          case "d": case "i": {
            if (typeof a === "bigint") return `${a}n`;
            if (typeof a === "symbol") return "NaN";
            const n = Number(a);
            return String(c === "i" ? Math.trunc(n) : n);
          }
          case "f": return typeof a === "symbol" ? "NaN" : String(parseFloat(a));
          case "j": try { return JSON.stringify(a); } catch { return "[Circular]"; }
          case "o": case "O": return inspect(a, { depth: c === "o" ? 4 : 2 });
          case "c": return "";
        }
        return m;
      });
    }
    const rest = [];
    for (let i = first; i < args.length; i++) rest.push(typeof args[i] === "string" ? args[i] : inspect(args[i]));
    return first === 0 ? rest.join(" ") : [out, ...rest].join(" ");
  }
  natives.format = format;

  // ---- console ----------------------------------------------------------------------------------
  let counts = new Map();
  let timers = new Map();
  let indent = "";
  // Only the first line is indented in a group: indenting the others could split a secret that
  // spans lines, which the redactor would then no longer find.
  const emit = (level, text) => nativeLog("", level, indent + text);
  // Between runs. The maps never leave this closure, so an empty one can stay (most runs count
  // and time nothing, and a new map per run is measurable at thousands of runs per second).
  const resetConsole = () => {
    if (counts.size !== 0) counts = new Map();
    if (timers.size !== 0) timers = new Map();
    indent = "";
  };
  const label = (l) => (l === undefined ? "default" : String(l));
  const elapsed = (start) => {
    const ms = nativeNow() - start;
    return ms >= 1000 ? `${(ms / 1000).toFixed(3)}s` : `${ms.toFixed(3)}ms`;
  };
  const table = (data, columns) => {
    if (data === null || typeof data !== "object") return format([data]);
    const rows = data instanceof Map ? [...data.entries()].map(([k, v]) => [k, v]) : objectKeys(data).map((k) => [k, data[k]]);
    const cols = [];
    let hasValues = false;
    for (const [, row] of rows) {
      if (row !== null && typeof row === "object") {
        for (const k of objectKeys(row)) if (!cols.includes(k)) cols.push(k);
      } else hasValues = true;
    }
    const shownCols = Array.isArray(columns) ? columns.map(String) : cols;
    const header = ["(index)", ...shownCols, ...(hasValues ? ["Values"] : [])];
    const cell = (v) => (v === undefined ? "" : typeof v === "string" ? quote(v) : inspect(v, { depth: 0 }));
    const body = rows.map(([k, row]) => [
      String(k),
      ...shownCols.map((c) => (row !== null && typeof row === "object" && c in row ? cell(row[c]) : "")),
      ...(hasValues ? [row !== null && typeof row === "object" ? "" : cell(row)] : []),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)) + 2);
    const line = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
    const row = (cells) => "│" + cells.map((c, i) => ` ${c}${" ".repeat(widths[i] - c.length - 1)}`).join("│") + "│";
    return [line("┌", "┬", "┐"), row(header), line("├", "┼", "┤"), ...body.map(row), line("└", "┴", "┘")].join("\n");
  };
  // A line nothing keeps (no run record, and below the log filter) is not formatted.
  const say = (level, a) => { if (wantsLogs(level)) emit(level, format(a)); };
  const console = {
    log: (...a) => say("info", a),
    info: (...a) => say("info", a),
    debug: (...a) => say("debug", a),
    warn: (...a) => say("warn", a),
    error: (...a) => say("error", a),
    trace: (...a) => {
      if (!wantsLogs("error")) return;
      const frames = String(new Error().stack ?? "").split("\n").slice(1).join("\n");
      emit("error", `Trace${a.length ? ": " + format(a) : ""}${frames ? "\n" + frames.trimEnd() : ""}`);
    },
    assert: (condition, ...a) => {
      if (!condition && wantsLogs("error")) emit("error", `Assertion failed${a.length ? ": " + format(a) : ""}`);
    },
    dir: (v, options) => { if (wantsLogs("info")) emit("info", inspect(v, options)); },
    dirxml: (...a) => say("info", a),
    table: (data, columns) => { if (wantsLogs("info")) emit("info", table(data, columns)); },
    count: (l) => {
      const key = label(l);
      const n = (counts.get(key) ?? 0) + 1;
      counts.set(key, n);
      emit("info", `${key}: ${n}`);
    },
    countReset: (l) => {
      const key = label(l);
      if (counts.has(key)) counts.set(key, 0);
      else emit("warn", `Count for '${key}' does not exist`);
    },
    group: (...a) => {
      if (a.length && wantsLogs("info")) emit("info", format(a));
      indent += "  ";
    },
    groupCollapsed: (...a) => console.group(...a),
    groupEnd: () => { indent = indent.slice(2); },
    time: (l) => {
      const key = label(l);
      if (timers.has(key)) emit("warn", `Label '${key}' already exists for console.time()`);
      else timers.set(key, nativeNow());
    },
    timeLog: (l, ...a) => {
      const key = label(l);
      if (!timers.has(key)) return emit("warn", `No such label '${key}' for console.timeLog()`);
      if (wantsLogs("info")) emit("info", `${key}: ${elapsed(timers.get(key))}${a.length ? " " + format(a) : ""}`);
    },
    timeEnd: (l) => {
      const key = label(l);
      if (!timers.has(key)) return emit("warn", `No such label '${key}' for console.timeEnd()`);
      emit("info", `${key}: ${elapsed(timers.get(key))}`);
      timers.delete(key);
    },
  };
  // Named like Node's (console.log.name === "log").
  for (const [k, f] of Object.entries(console)) defineProperty(f, "name", { value: k });
  defineProperty(console, Symbol.toStringTag, { value: "console", configurable: true });
  g.console = console;

  // ---- structuredClone ----------------------------------------------------------------------------
  // The web platform's own classes (every global constructor the areas add: Response, Headers,
  // URL, EventTarget, …) are not cloned as plain objects, which would silently drop their
  // internal state: they throw DataCloneError, as browsers do for non-serializable platform
  // objects. The set is taken at the first run, once every area has installed its globals.
  const languageGlobals = new Set(ownKeys(g));
  let platformProtos = null;
  const collectPlatformProtos = () => {
    platformProtos = new Set();
    for (const k of ownKeys(g)) {
      if (languageGlobals.has(k)) continue;
      const d = getOwnPropertyDescriptor(g, k);
      const proto = d && typeof d.value === "function" ? d.value.prototype : undefined;
      if (proto !== null && typeof proto === "object") platformProtos.add(proto);
    }
  };
  const isPlatformObject = (v) => {
    for (let p = getPrototypeOf(v); p !== null; p = getPrototypeOf(p)) if (platformProtos?.has(p)) return true;
    return false;
  };
  const cloneError = (what) => new DOMException(`${what} could not be cloned.`, "DataCloneError");
  const describe = (v) => (typeof v === "function" ? functionText(v) : typeof v === "symbol" ? String(v) : constructorName(v) ?? "Object");
  function clone(v, memory) {
    if (typeof v === "symbol") throw cloneError(describe(v));
    if (typeof v === "function") throw cloneError(describe(v));
    if (typeof v !== "object" || v === null) return v;
    if (memory.has(v)) return memory.get(v);
    const proto = getPrototypeOf(v);
    const plain = !Array.isArray(v) && (proto === Object.prototype || proto === null) && objectToString.call(v) === "[object Object]";
    let out;
    if (plain) {
      // The common case: no brand checks (an exotic object with Object.prototype as its prototype
      // is still checked below, because its toString tag is its class).
      out = {};
      memory.set(v, out);
      for (const k of objectKeys(v)) defineProperty(out, k, { value: clone(v[k], memory), writable: true, enumerable: true, configurable: true });
      return out;
    }
    if (Array.isArray(v)) {
      out = new Array(v.length);
      memory.set(v, out);
      for (const k of objectKeys(v)) defineProperty(out, k, { value: clone(v[k], memory), writable: true, enumerable: true, configurable: true });
      return out;
    }
    const box = unbox(v);
    if (box) {
      if (box[0] === Symbol) throw cloneError("Symbol object");
      out = Object(box[1]);
    } else if (isDate(v)) {
      out = new Date(call(dateGetTime, v));
    } else if (isRegExp(v)) {
      out = new RegExp(call(regexpSource, v), call(regexpFlags, v));
    } else if (isArrayBuffer(v)) {
      const length = call(bufferByteLength, v);
      if (bufferResizable && call(bufferResizable, v)) {
        out = new ArrayBuffer(length, { maxByteLength: call(bufferMaxByteLength, v) });
        new Uint8Array(out).set(new Uint8Array(v));
      } else {
        out = call(bufferSlice, v, 0, length);
      }
    } else if (ArrayBuffer.isView(v)) {
      const tag = call(typedArrayTag, v);
      const buffer = clone(tag === undefined ? call(viewBuffer, v) : v.buffer, memory);
      out = tag === undefined ? new DataView(buffer, v.byteOffset, v.byteLength)
        : new typedArrays[tag](buffer, v.byteOffset, v.length);
    } else if (isMap(v)) {
      out = new Map();
      memory.set(v, out);
      const entries = [...call(mapEntries, v)];
      for (const [key, value] of entries) out.set(clone(key, memory), clone(value, memory));
      return out;
    } else if (isSet(v)) {
      out = new Set();
      memory.set(v, out);
      const values = [...call(setValues, v)];
      for (const value of values) out.add(clone(value, memory));
      return out;
    } else if (isDOMException(v)) {
      out = new DOMException(v.message, v.name);
    } else if (isError(v)) {
      let name = v.name;
      if (!Object.hasOwn(errorTypes, name)) name = "Error";
      const messageDesc = getOwnPropertyDescriptor(v, "message");
      out = messageDesc && "value" in messageDesc ? new errorTypes[name](String(messageDesc.value)) : new errorTypes[name]();
      memory.set(v, out);
      const stackDesc = getOwnPropertyDescriptor(v, "stack");
      if (stackDesc && typeof stackDesc.value === "string") {
        defineProperty(out, "stack", { value: stackDesc.value, writable: true, configurable: true });
      }
      const causeDesc = getOwnPropertyDescriptor(v, "cause");
      if (causeDesc && "value" in causeDesc) {
        defineProperty(out, "cause", { value: clone(causeDesc.value, memory), writable: true, configurable: true });
      }
      return out;
    } else if (v instanceof Promise || branded(WeakMap.prototype.has, v) || branded(WeakSet.prototype.has, v)
      || objectToString.call(v) !== "[object Object]" && ["[object WeakRef]", "[object FinalizationRegistry]", "[object Generator]", "[object AsyncGenerator]", "[object Arguments]"].includes(objectToString.call(v))) {
      if (objectToString.call(v) !== "[object Arguments]") throw cloneError(describe(v));
    }
    if (out !== undefined) {
      memory.set(v, out);
      return out;
    }
    if (isPlatformObject(v)) throw cloneError(describe(v));
    // Any other object (class instances, arguments): its own enumerable properties, as a plain
    // object (the prototype is not cloned, as in browsers).
    out = {};
    memory.set(v, out);
    for (const k of objectKeys(v)) defineProperty(out, k, { value: clone(v[k], memory), writable: true, enumerable: true, configurable: true });
    return out;
  }
  function structuredClone(value, options) {
    if (arguments.length === 0) throw new TypeError("structuredClone: 1 argument required, but only 0 present");
    if (options !== undefined && options !== null && typeof options !== "object") {
      throw new TypeError("structuredClone: the options argument must be an object");
    }
    const memory = new Map();
    const transfer = options == null ? undefined : options.transfer;
    if (transfer === undefined) return clone(value, memory);
    if (transfer === null || typeof transfer !== "object" || typeof transfer[Symbol.iterator] !== "function") {
      throw new TypeError("structuredClone: options.transfer must be an iterable of transferable objects");
    }
    const list = [...transfer];
    for (const t of list) {
      if (!isArrayBuffer(t)) throw new DOMException("only ArrayBuffers can be transferred", "DataCloneError");
      if (memory.has(t)) throw new DOMException("an ArrayBuffer appears twice in the transfer list", "DataCloneError");
      if (t.detached === true) throw new DOMException("a detached ArrayBuffer cannot be transferred", "DataCloneError");
      memory.set(t, call(bufferSlice, t, 0));
    }
    // The clone owns copies of the transferred buffers; the originals are detached only once
    // the whole value was cloned, so a DataCloneError leaves them usable (as in browsers).
    const result = clone(value, memory);
    for (const t of list) call(bufferTransfer, t);
    return result;
  }
  g.structuredClone = structuredClone;

  // ---- performance ------------------------------------------------------------------------------
  // Per run: `now()` counts from the run's start, `timeOrigin` is that start.
  const constructing = Symbol("performance");
  class Performance {
    constructor(key) {
      if (key !== constructing) throw new TypeError("Illegal constructor");
    }
    now() { return nativeNow(); }
    get timeOrigin() { return nativeTimeOrigin(); }
    toJSON() { return { timeOrigin: nativeTimeOrigin() }; }
  }
  defineProperty(Performance.prototype, Symbol.toStringTag, { value: "Performance", configurable: true });
  g.Performance = Performance;
  g.performance = new Performance(constructing);

  // ---- WeakRef / FinalizationRegistry: constructing one marks the run ----------------------------
  const marking = (Original, Wrapper) => {
    defineProperty(Wrapper, "prototype", { value: Original.prototype, writable: false });
    defineProperty(Original.prototype, "constructor", { value: Wrapper, writable: true, enumerable: false, configurable: true });
    return Wrapper;
  };
  const OriginalWeakRef = g.WeakRef;
  const OriginalRegistry = g.FinalizationRegistry;
  if (typeof OriginalWeakRef === "function") {
    g.WeakRef = marking(OriginalWeakRef, function WeakRef(target) {
      if (new.target === undefined) throw new TypeError("Constructor WeakRef requires 'new'");
      markWeakRefsUsed();
      return Reflect.construct(OriginalWeakRef, [target], new.target);
    });
  }
  if (typeof OriginalRegistry === "function") {
    g.FinalizationRegistry = marking(OriginalRegistry, function FinalizationRegistry(cleanup) {
      if (new.target === undefined) throw new TypeError("Constructor FinalizationRegistry requires 'new'");
      markWeakRefsUsed();
      return Reflect.construct(OriginalRegistry, [cleanup], new.target);
    });
  }

  return {
    beginRun() {
      if (platformProtos === null) collectPlatformProtos();
      resetConsole();
    },
    endRun: resetConsole,
  };
}
