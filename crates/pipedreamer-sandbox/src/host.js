// The node-visible API. Native functions come in as arguments and are never put on globalThis,
// so node code can reach the host only through the frozen `ctx` objects built here.
export default function makeHost(nativeFetch, nativeLog, secrets, runId, trigger) {
  "use strict";
  const deepFreeze = (o) => {
    if (o !== null && typeof o === "object" && !Object.isFrozen(o)) {
      Object.freeze(o);
      for (const k of Object.keys(o)) deepFreeze(o[k]);
    }
    return o;
  };
  deepFreeze(secrets);

  class Headers {
    #map = new Map();
    constructor(init) {
      if (init === undefined || init === null) return;
      const entries = init instanceof Headers ? [...init.entries()]
        : Array.isArray(init) ? init : Object.entries(init);
      for (const [k, v] of entries) this.append(k, v);
    }
    append(k, v) {
      k = String(k).toLowerCase();
      const prev = this.#map.get(k);
      this.#map.set(k, prev === undefined ? String(v) : `${prev}, ${v}`);
    }
    set(k, v) { this.#map.set(String(k).toLowerCase(), String(v)); }
    get(k) { const v = this.#map.get(String(k).toLowerCase()); return v === undefined ? null : v; }
    has(k) { return this.#map.has(String(k).toLowerCase()); }
    delete(k) { this.#map.delete(String(k).toLowerCase()); }
    entries() { return this.#map.entries(); }
    keys() { return this.#map.keys(); }
    values() { return this.#map.values(); }
    forEach(cb, thisArg) { for (const [k, v] of this.#map) cb.call(thisArg, v, k, this); }
    [Symbol.iterator]() { return this.#map.entries(); }
  }

  class Response {
    #body; #used = false;
    constructor(meta, body) {
      this.status = meta.status;
      this.statusText = meta.statusText;
      this.ok = meta.status >= 200 && meta.status < 300;
      this.url = meta.url;
      this.redirected = meta.redirected;
      this.headers = new Headers(meta.headers);
      this.#body = body;
    }
    get bodyUsed() { return this.#used; }
    #take() {
      if (this.#used) throw new TypeError("Response body is already used");
      this.#used = true;
      return this.#body;
    }
    async text() { return this.#take(); }
    async json() { return JSON.parse(this.#take()); }
  }

  async function fetch(input, init) {
    init = init || {};
    const url = typeof input === "string" ? input : String(input && input.url !== undefined ? input.url : input);
    const method = String(init.method || "GET").toUpperCase();
    const headers = [...new Headers(init.headers).entries()];
    let body = init.body;
    if (body !== undefined && body !== null && typeof body !== "string") {
      body = JSON.stringify(body);
      if (!headers.some(([k]) => k === "content-type")) headers.push(["content-type", "application/json"]);
    }
    const r = await nativeFetch(url, method, JSON.stringify(headers), body === undefined ? null : body);
    if (r[0] !== "ok") throw new TypeError(r[1]);
    return new Response(JSON.parse(r[1]), r[2]);
  }

  const format = (args) => args.map((a) => {
    if (typeof a === "string") return a;
    if (a instanceof Error) return `${a.name}: ${a.message}`;
    try { return JSON.stringify(a) ?? String(a); } catch { return String(a); }
  }).join(" ");

  const run = Object.freeze({ id: runId, trigger });
  const makeLog = (nodeId) => Object.freeze({
    debug: (...a) => nativeLog(nodeId, "debug", format(a)),
    info: (...a) => nativeLog(nodeId, "info", format(a)),
    warn: (...a) => nativeLog(nodeId, "warn", format(a)),
    error: (...a) => nativeLog(nodeId, "error", format(a)),
  });
  const consoleLog = makeLog("");
  globalThis.console = Object.freeze({
    log: consoleLog.info, info: consoleLog.info, debug: consoleLog.debug,
    warn: consoleLog.warn, error: consoleLog.error,
  });
  globalThis.Headers = Headers;
  globalThis.Response = Response;

  return function makeCtx(nodeId) {
    return Object.freeze({ secrets, fetch, log: makeLog(nodeId), run, node: Object.freeze({ id: nodeId }) });
  };
}
