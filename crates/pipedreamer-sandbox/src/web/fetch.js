// The fetch standard's classes and `fetch` itself: `ReadableStream` (default streams, no byte
// streams), `Blob`, `File`, `FormData`, `Headers`, `Request`, `Response`, and `fetch`, which is
// also every run's `ctx.fetch` (host.js takes it from here). The network is reached only
// through `natives.fetch` (realm.rs): the run's capability checks every hop and injects its
// credentials, whatever a node passes in. Bodies are bytes (`Uint8Array`) both ways.
//
// Every object here belongs to the run that made it; the classes are frozen with the other
// globals, and no state lives outside the objects (module-level bindings below are constants
// and accessors to private fields).
export default function install(g, natives) {
  "use strict";
  const { fetch: nativeFetch, fetchAbortSwitch, fetchAbort, bufferSourceBytes } = natives;
  const { TextEncoder, TextDecoder, URL, URLSearchParams } = g;
  // The typed fetch failures (`NotCapable`, like Deno's; `TimeoutError`): the classes of
  // `pipedreamer:node/errors`, shared with `ctx.errors` and the node: modules.
  const { NotCapable, TimeoutError } = natives.errors;
  const encoder = new TextEncoder();
  const utf8 = (s) => encoder.encode(s);
  const decodeUtf8 = (bytes) => new TextDecoder().decode(bytes);
  const EMPTY = new Uint8Array(0);
  const concat = (chunks) => {
    let size = 0;
    for (const c of chunks) size += c.length;
    const out = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) { out.set(c, at); at += c.length; }
    return out;
  };
  const isObject = (v) => v !== null && (typeof v === "object" || typeof v === "function");
  const tag = (C, name) => Object.defineProperty(C.prototype, Symbol.toStringTag, { value: name, configurable: true });

  const fetchError = (name, message) => {
    switch (name) {
      case "NotCapable": return new NotCapable(message);
      case "TimeoutError": return new TimeoutError(message);
      case "RangeError": return new RangeError(message);
      default: return new TypeError(message);
    }
  };

  // ---------------------------------------------------------------------------------------
  // ReadableStream: a default controller with a queue of chunks, a count strategy, and one
  // default reader at a time.

  let streamFromBytes;
  let streamDisturbed;
  let streamReadAll;

  class ReadableStreamDefaultController {
    #stream;
    constructor(key, stream) {
      if (key !== CONTROLLER_KEY) throw new TypeError("Illegal constructor");
      this.#stream = stream;
    }
    get desiredSize() { return controllerOps.desiredSize(this.#stream); }
    enqueue(chunk) { controllerOps.enqueue(this.#stream, chunk); }
    close() { controllerOps.close(this.#stream); }
    error(e) { controllerOps.error(this.#stream, e); }
  }
  tag(ReadableStreamDefaultController, "ReadableStreamDefaultController");
  const CONTROLLER_KEY = Object.freeze({});
  const READER_KEY = Object.freeze({});
  let controllerOps;
  let readerOps;

  class ReadableStream {
    #state = "readable";
    #queue = [];
    #storedError;
    #reader = null;
    #disturbed = false;
    #closeRequested = false;
    #started = false;
    #pulling = false;
    #pullAgain = false;
    #hwm = 1;
    #size = () => 1;
    #source = null;
    #controller;

    constructor(source, strategy = {}) {
      if (source === undefined || source === null) source = {};
      if (!isObject(source)) throw new TypeError("ReadableStream: the underlying source must be an object");
      if (source.type !== undefined) throw new RangeError("ReadableStream: byte streams are not supported");
      strategy = strategy ?? {};
      if (strategy.highWaterMark !== undefined) {
        const hwm = Number(strategy.highWaterMark);
        if (Number.isNaN(hwm) || hwm < 0) throw new RangeError("ReadableStream: highWaterMark must be a non-negative number");
        this.#hwm = hwm;
      }
      if (strategy.size !== undefined) {
        if (typeof strategy.size !== "function") throw new TypeError("ReadableStream: size must be a function");
        const size = strategy.size;
        this.#size = (chunk) => size(chunk);
      }
      for (const k of ["start", "pull", "cancel"]) {
        if (source[k] !== undefined && typeof source[k] !== "function") throw new TypeError(`ReadableStream: ${k} must be a function`);
      }
      this.#source = source;
      this.#controller = new ReadableStreamDefaultController(CONTROLLER_KEY, this);
      const started = source.start === undefined ? undefined : source.start.call(source, this.#controller);
      Promise.resolve(started).then(() => {
        this.#started = true;
        this.#pullIfNeeded();
      }, (e) => this.#error(e));
    }

    static {
      controllerOps = {
        desiredSize: (s) => (s.#state === "errored" ? null : s.#state === "closed" ? 0 : s.#hwm - s.#queueSize()),
        enqueue: (s, chunk) => {
          if (s.#closeRequested || s.#state !== "readable") throw new TypeError("ReadableStream: cannot enqueue into a closed or errored stream");
          const reader = s.#reader;
          if (reader !== null && readerOps.hasRequests(reader)) {
            readerOps.fulfil(reader, { value: chunk, done: false });
          } else {
            let size;
            try { size = Number(s.#size(chunk)); } catch (e) { s.#error(e); throw e; }
            if (Number.isNaN(size) || size < 0 || size === Infinity) {
              const e = new RangeError("ReadableStream: a chunk's size must be a finite, non-negative number");
              s.#error(e);
              throw e;
            }
            s.#queue.push([chunk, size]);
          }
          s.#pullIfNeeded();
        },
        close: (s) => {
          if (s.#closeRequested || s.#state !== "readable") throw new TypeError("ReadableStream: the stream is already closed or errored");
          s.#closeRequested = true;
          if (s.#queue.length === 0) s.#close();
        },
        error: (s, e) => { if (s.#state === "readable") s.#error(e); },
      };
      streamFromBytes = (bytes) => new ReadableStream({
        start(c) { if (bytes.length > 0) c.enqueue(bytes); c.close(); },
      });
      streamDisturbed = (s) => s.#disturbed;
      streamReadAll = async (s) => {
        const reader = s.getReader();
        const chunks = [];
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!(value instanceof Uint8Array)) throw new TypeError("a body stream must carry Uint8Array chunks");
          chunks.push(value);
        }
        return concat(chunks);
      };
    }

    #queueSize() { let n = 0; for (const [, size] of this.#queue) n += size; return n; }

    #pullIfNeeded() {
      if (!this.#started || this.#state !== "readable" || this.#closeRequested) return;
      const wanted = (this.#reader !== null && readerOps.hasRequests(this.#reader)) || this.#hwm - this.#queueSize() > 0;
      if (!wanted) return;
      if (this.#pulling) { this.#pullAgain = true; return; }
      if (this.#source.pull === undefined) return;
      this.#pulling = true;
      let pulled;
      try { pulled = this.#source.pull.call(this.#source, this.#controller); } catch (e) { this.#error(e); return; }
      Promise.resolve(pulled).then(() => {
        this.#pulling = false;
        if (this.#pullAgain) { this.#pullAgain = false; this.#pullIfNeeded(); }
      }, (e) => this.#error(e));
    }

    #close() {
      this.#state = "closed";
      this.#source = {};
      if (this.#reader !== null) readerOps.closed(this.#reader);
    }

    #error(e) {
      if (this.#state !== "readable") return;
      this.#state = "errored";
      this.#storedError = e;
      this.#queue = [];
      this.#source = {};
      if (this.#reader !== null) readerOps.errored(this.#reader, e);
    }

    // For the reader: the next chunk, or undefined when the reader must wait.
    static {
      readerOps = {
        ...readerOps,
        read: (s) => {
          s.#disturbed = true;
          if (s.#state === "closed") return { value: undefined, done: true };
          if (s.#state === "errored") throw s.#storedError;
          if (s.#queue.length > 0) {
            const [chunk] = s.#queue.shift();
            if (s.#closeRequested && s.#queue.length === 0) s.#close();
            else s.#pullIfNeeded();
            return { value: chunk, done: false };
          }
          return undefined;
        },
        pull: (s) => s.#pullIfNeeded(),
        cancel: (s, reason) => s.#cancel(reason),
        state: (s) => [s.#state, s.#storedError],
        release: (s) => { s.#reader = null; },
        attach: (s, reader) => { s.#reader = reader; },
      };
    }

    async #cancel(reason) {
      this.#disturbed = true;
      if (this.#state === "closed") return;
      if (this.#state === "errored") throw this.#storedError;
      const source = this.#source;
      this.#queue = [];
      this.#close();
      if (typeof source.cancel === "function") await source.cancel.call(source, reason);
    }

    // A stream over an (async) iterable, pulled one value at a time.
    static from(iterable) {
      if (!isObject(iterable) && typeof iterable !== "string") throw new TypeError("ReadableStream.from: an iterable is required");
      const asyncIterator = iterable[Symbol.asyncIterator];
      const iterator = typeof asyncIterator === "function" ? asyncIterator.call(iterable)
        : typeof iterable[Symbol.iterator] === "function" ? iterable[Symbol.iterator]() : null;
      if (!isObject(iterator)) throw new TypeError("ReadableStream.from: the argument is not iterable");
      return new ReadableStream({
        async pull(c) {
          const r = await iterator.next();
          if (r.done) c.close(); else c.enqueue(await r.value);
        },
        async cancel(reason) { if (typeof iterator.return === "function") await iterator.return(reason); },
      }, { highWaterMark: 0 });
    }

    get locked() { return this.#reader !== null; }
    cancel(reason) {
      if (this.#reader !== null) return Promise.reject(new TypeError("ReadableStream.cancel: the stream is locked to a reader"));
      return this.#cancel(reason);
    }
    getReader(options = {}) {
      if (options && options.mode !== undefined) throw new RangeError("ReadableStream.getReader: only default readers are supported (no byte streams)");
      return new ReadableStreamDefaultReader(this);
    }
    tee() {
      const reader = this.getReader();
      let controllers = [];
      let reading = false;
      const pull = async () => {
        if (reading) return;
        reading = true;
        try {
          const { value, done } = await reader.read();
          for (const c of controllers) {
            if (c === null) continue;
            if (done) c.close(); else c.enqueue(value);
          }
        } catch (e) {
          for (const c of controllers) if (c !== null) c.error(e);
        } finally { reading = false; }
      };
      let cancelled = 0;
      const branch = (i) => new ReadableStream({
        start(c) { controllers[i] = c; },
        pull,
        cancel(reason) { controllers[i] = null; if (++cancelled === 2) return reader.cancel(reason); },
      });
      return [branch(0), branch(1)];
    }
    values({ preventCancel = false } = {}) {
      const reader = this.getReader();
      let finished = false;
      return Object.setPrototypeOf({
        async next() {
          if (finished) return { value: undefined, done: true };
          const r = await reader.read();
          if (r.done) { finished = true; reader.releaseLock(); }
          return r;
        },
        async return(value) {
          if (!finished) {
            finished = true;
            if (!preventCancel) await reader.cancel(value);
            reader.releaseLock();
          }
          return { value, done: true };
        },
      }, ASYNC_ITERATOR_PROTO);
    }
    [Symbol.asyncIterator](options) { return this.values(options); }
  }
  tag(ReadableStream, "ReadableStream");
  // %AsyncIteratorPrototype%, so `values()` iterators are async iterable themselves.
  const ASYNC_ITERATOR_PROTO = Object.getPrototypeOf(Object.getPrototypeOf(async function* () {}).prototype);

  class ReadableStreamDefaultReader {
    #stream;
    #requests = [];
    #closed;
    #resolveClosed;
    #rejectClosed;
    constructor(stream) {
      if (!(stream instanceof ReadableStream)) throw new TypeError("ReadableStreamDefaultReader: a ReadableStream is required");
      if (stream.locked) throw new TypeError("ReadableStreamDefaultReader: the stream is already locked to a reader");
      this.#stream = stream;
      this.#closed = new Promise((resolve, reject) => { this.#resolveClosed = resolve; this.#rejectClosed = reject; });
      this.#closed.catch(() => {});
      readerOps.attach(stream, this);
      const [state, error] = readerOps.state(stream);
      if (state === "closed") this.#resolveClosed();
      if (state === "errored") this.#rejectClosed(error);
    }
    static {
      readerOps = {
        ...readerOps,
        hasRequests: (r) => r.#requests.length > 0,
        fulfil: (r, result) => r.#requests.shift().resolve(result),
        closed: (r) => {
          for (const req of r.#requests.splice(0)) req.resolve({ value: undefined, done: true });
          r.#resolveClosed();
        },
        errored: (r, e) => {
          for (const req of r.#requests.splice(0)) req.reject(e);
          r.#rejectClosed(e);
        },
      };
    }
    get closed() { return this.#closed; }
    read() {
      if (this.#stream === null) return Promise.reject(new TypeError("ReadableStreamDefaultReader.read: the reader was released"));
      try {
        const result = readerOps.read(this.#stream);
        if (result !== undefined) return Promise.resolve(result);
      } catch (e) { return Promise.reject(e); }
      return new Promise((resolve, reject) => {
        this.#requests.push({ resolve, reject });
        readerOps.pull(this.#stream);
      });
    }
    cancel(reason) {
      if (this.#stream === null) return Promise.reject(new TypeError("ReadableStreamDefaultReader.cancel: the reader was released"));
      return readerOps.cancel(this.#stream, reason);
    }
    releaseLock() {
      if (this.#stream === null) return;
      const e = new TypeError("the reader was released");
      for (const req of this.#requests.splice(0)) req.reject(e);
      const [state] = readerOps.state(this.#stream);
      if (state === "readable") this.#rejectClosed(e);
      else { this.#closed = Promise.reject(e); this.#closed.catch(() => {}); }
      readerOps.release(this.#stream);
      this.#stream = null;
    }
  }
  tag(ReadableStreamDefaultReader, "ReadableStreamDefaultReader");

  // ---------------------------------------------------------------------------------------
  // Blob and File

  let blobBytes;
  // Gives a new, empty Blob (or File) `bytes` without copying them (blobs are immutable).
  let blobAdopt;
  const normalizeType = (t) => {
    t = String(t);
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) return "";
    }
    return t.toLowerCase();
  };

  class Blob {
    #bytes;
    #type;
    constructor(parts = [], options = {}) {
      if (!isObject(parts) || typeof parts[Symbol.iterator] !== "function") {
        if (parts !== undefined) throw new TypeError("Blob: the parts must be a sequence");
      }
      options = options ?? {};
      const native = options.endings === "native";
      if (options.endings !== undefined && options.endings !== "native" && options.endings !== "transparent") {
        throw new TypeError("Blob: endings must be \"transparent\" or \"native\"");
      }
      const chunks = [];
      for (const part of parts ?? []) {
        if (part instanceof Blob) chunks.push(part.#bytes);
        else if (part instanceof ArrayBuffer || ArrayBuffer.isView(part)) chunks.push(bufferSourceBytes(part, "Blob").slice());
        else {
          let s = String(part);
          if (native) s = s.replace(/\r\n|\r/g, "\n");
          chunks.push(utf8(s));
        }
      }
      this.#bytes = concat(chunks);
      this.#type = options.type === undefined ? "" : normalizeType(options.type);
    }
    static {
      blobBytes = (b) => b.#bytes;
      blobAdopt = (b, bytes) => { b.#bytes = bytes; return b; };
    }
    get size() { return this.#bytes.length; }
    get type() { return this.#type; }
    slice(start = 0, end = this.#bytes.length, contentType = "") {
      const size = this.#bytes.length;
      const clamp = (n) => { n = Math.trunc(Number(n)) || 0; return n < 0 ? Math.max(size + n, 0) : Math.min(n, size); };
      const from = clamp(start), to = clamp(end);
      const b = new Blob([], { type: contentType === undefined ? "" : contentType });
      b.#bytes = this.#bytes.slice(from, Math.max(from, to));
      return b;
    }
    async text() { return decodeUtf8(this.#bytes); }
    async arrayBuffer() { return this.#bytes.slice().buffer; }
    async bytes() { return this.#bytes.slice(); }
    stream() { return streamFromBytes(this.#bytes.slice()); }
  }
  tag(Blob, "Blob");

  class File extends Blob {
    #name;
    #lastModified;
    constructor(bits, name, options = {}) {
      if (arguments.length < 2) throw new TypeError("File: bits and a name are required");
      super(bits, options);
      this.#name = String(name).toWellFormed();
      options = options ?? {};
      this.#lastModified = options.lastModified === undefined ? Date.now() : Math.trunc(Number(options.lastModified)) || 0;
    }
    get name() { return this.#name; }
    get lastModified() { return this.#lastModified; }
    get webkitRelativePath() { return ""; }
  }
  tag(File, "File");

  // ---------------------------------------------------------------------------------------
  // FormData

  let formDataList;
  const toEntryValue = (value, filename) => {
    if (value instanceof Blob) {
      if (value instanceof File && filename === undefined) return value;
      const name = filename !== undefined ? String(filename) : value instanceof File ? value.name : "blob";
      const f = new File([], name, { type: value.type, lastModified: value instanceof File ? value.lastModified : undefined });
      return blobAdopt(f, blobBytes(value));
    }
    return String(value).toWellFormed();
  };

  class FormData {
    #list = [];
    constructor(form) {
      if (form !== undefined) throw new TypeError("FormData: there are no HTML forms here; build it with append()");
    }
    static {
      formDataList = (f) => f.#list;
    }
    append(name, value, filename) {
      if (arguments.length < 2) throw new TypeError("FormData.append needs a name and a value");
      if (filename !== undefined && !(value instanceof Blob)) throw new TypeError("FormData.append: a filename needs a Blob value");
      this.#list.push([String(name).toWellFormed(), toEntryValue(value, filename)]);
    }
    delete(name) { name = String(name).toWellFormed(); this.#list = this.#list.filter((e) => e[0] !== name); }
    get(name) { name = String(name).toWellFormed(); const e = this.#list.find((e) => e[0] === name); return e === undefined ? null : e[1]; }
    getAll(name) { name = String(name).toWellFormed(); return this.#list.filter((e) => e[0] === name).map((e) => e[1]); }
    has(name) { name = String(name).toWellFormed(); return this.#list.some((e) => e[0] === name); }
    set(name, value, filename) {
      if (arguments.length < 2) throw new TypeError("FormData.set needs a name and a value");
      if (filename !== undefined && !(value instanceof Blob)) throw new TypeError("FormData.set: a filename needs a Blob value");
      name = String(name).toWellFormed();
      const entry = [name, toEntryValue(value, filename)];
      const i = this.#list.findIndex((e) => e[0] === name);
      if (i < 0) this.#list.push(entry);
      else this.#list = [...this.#list.slice(0, i), entry, ...this.#list.slice(i + 1).filter((e) => e[0] !== name)];
    }
    forEach(callback, thisArg) {
      if (typeof callback !== "function") throw new TypeError("FormData.forEach needs a function");
      for (let i = 0; i < this.#list.length; i++) callback.call(thisArg, this.#list[i][1], this.#list[i][0], this);
    }
    *entries() { for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]]; }
    *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
    *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
    [Symbol.iterator]() { return this.entries(); }
  }
  tag(FormData, "FormData");

  // multipart/form-data as the HTML standard writes it (names and filenames escaped).
  const escapeName = (s, isFilename) => s.replace(/\r\n|\r|\n/g, isFilename ? "\r\n" : "\r\n")
    .replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  const randomBoundary = () => {
    let b = "----pipedreamer";
    for (let i = 0; i < 24; i++) b += "0123456789abcdef"[Math.floor(Math.random() * 16)];
    return b;
  };
  const encodeMultipart = (form) => {
    const boundary = randomBoundary();
    const chunks = [];
    for (const [name, value] of formDataList(form)) {
      let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escapeName(name, false)}"`;
      if (typeof value === "string") {
        chunks.push(utf8(`${head}\r\n\r\n`), utf8(value.replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n")), utf8("\r\n"));
      } else {
        head += `; filename="${escapeName(value.name, true)}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
        chunks.push(utf8(head), blobBytes(value), utf8("\r\n"));
      }
    }
    chunks.push(utf8(`--${boundary}--\r\n`));
    return [concat(chunks), `multipart/form-data; boundary=${boundary}`];
  };

  // ---------------------------------------------------------------------------------------
  // Headers

  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const checkName = (name) => {
    name = String(name);
    if (!TOKEN.test(name)) throw new TypeError(`Headers: ${JSON.stringify(name)} is not a valid header name`);
    return name.toLowerCase();
  };
  const normalizeValue = (value) => {
    value = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
    if (/[\0\r\n]/.test(value) || /[^\x00-\xff]/.test(value)) throw new TypeError(`Headers: ${JSON.stringify(value)} is not a valid header value`);
    return value;
  };
  let headersGuard;
  let headersGuardOf;

  class Headers {
    #list = [];
    #guard = "none";
    constructor(init) {
      if (init === undefined || init === null) {
        if (init === null) throw new TypeError("Headers: init must be an object");
        return;
      }
      this.#fill(init);
    }
    #fill(init) {
      if (!isObject(init)) throw new TypeError("Headers: init must be a sequence of pairs or a record");
      if (init instanceof Headers) { for (const [k, v] of init.#list) this.append(k, v); return; }
      if (typeof init[Symbol.iterator] === "function") {
        for (const pair of init) {
          if (!isObject(pair) || typeof pair[Symbol.iterator] !== "function") throw new TypeError("Headers: each header must be a [name, value] pair");
          const items = [...pair];
          if (items.length !== 2) throw new TypeError("Headers: each header must be a [name, value] pair");
          this.append(items[0], items[1]);
        }
        return;
      }
      for (const key of Reflect.ownKeys(init)) {
        const desc = Reflect.getOwnPropertyDescriptor(init, key);
        if (desc === undefined || !desc.enumerable) continue;
        if (typeof key === "symbol") throw new TypeError("Headers: record keys must be strings");
        this.append(key, init[key]);
      }
    }
    static {
      headersGuard = (h, guard) => { h.#guard = guard; return h; };
      headersGuardOf = (h) => h.#guard;
    }
    #mutable() { if (this.#guard === "immutable") throw new TypeError("Headers: these headers are immutable"); }
    append(name, value) {
      if (arguments.length < 2) throw new TypeError("Headers.append needs a name and a value");
      const k = checkName(name), v = normalizeValue(value);
      this.#mutable();
      this.#list.push([k, v]);
    }
    delete(name) {
      const k = checkName(name);
      this.#mutable();
      this.#list = this.#list.filter((e) => e[0] !== k);
    }
    get(name) {
      const k = checkName(name);
      const values = this.#list.filter((e) => e[0] === k).map((e) => e[1]);
      return values.length === 0 ? null : values.join(", ");
    }
    getSetCookie() { return this.#list.filter((e) => e[0] === "set-cookie").map((e) => e[1]); }
    has(name) { const k = checkName(name); return this.#list.some((e) => e[0] === k); }
    set(name, value) {
      if (arguments.length < 2) throw new TypeError("Headers.set needs a name and a value");
      const k = checkName(name), v = normalizeValue(value);
      this.#mutable();
      const i = this.#list.findIndex((e) => e[0] === k);
      if (i < 0) this.#list.push([k, v]);
      else this.#list = [...this.#list.slice(0, i), [k, v], ...this.#list.slice(i + 1).filter((e) => e[0] !== k)];
    }
    // The standard's "sort and combine": names in order, values joined, set-cookie apart.
    #sorted() {
      const names = [...new Set(this.#list.map((e) => e[0]))].sort();
      const out = [];
      for (const name of names) {
        if (name === "set-cookie") for (const v of this.getSetCookie()) out.push([name, v]);
        else out.push([name, this.get(name)]);
      }
      return out;
    }
    forEach(callback, thisArg) {
      if (typeof callback !== "function") throw new TypeError("Headers.forEach needs a function");
      for (let i = 0; ; i++) {
        const pairs = this.#sorted();
        if (i >= pairs.length) break;
        callback.call(thisArg, pairs[i][1], pairs[i][0], this);
      }
    }
    *entries() { for (let i = 0; ; i++) { const p = this.#sorted(); if (i >= p.length) return; yield p[i]; } }
    *keys() { for (const [k] of this.entries()) yield k; }
    *values() { for (const [, v] of this.entries()) yield v; }
    [Symbol.iterator]() { return this.entries(); }
  }
  tag(Headers, "Headers");

  // ---------------------------------------------------------------------------------------
  // Bodies (shared by Request and Response)

  // A body: bytes, or a stream (a ReadableStream given by node code, or made from the bytes
  // when `body` is read).
  const extractBody = (init) => {
    if (init instanceof ReadableStream) return { bytes: null, stream: init, type: null };
    if (typeof init === "string") return { bytes: utf8(init.toWellFormed()), stream: null, type: "text/plain;charset=UTF-8" };
    if (init instanceof URLSearchParams) return { bytes: utf8(init.toString()), stream: null, type: "application/x-www-form-urlencoded;charset=UTF-8" };
    if (init instanceof Blob) return { bytes: blobBytes(init), stream: null, type: init.type === "" ? null : init.type };
    if (init instanceof FormData) { const [bytes, type] = encodeMultipart(init); return { bytes, stream: null, type }; }
    if (init instanceof ArrayBuffer || ArrayBuffer.isView(init)) return { bytes: bufferSourceBytes(init, "body").slice(), stream: null, type: null };
    // Not in the standard (which would send "[object Object]"): plain objects and arrays go as
    // JSON, as `ctx.fetch` always did.
    if (isObject(init) && (Array.isArray(init) || Object.getPrototypeOf(init) === Object.prototype || Object.getPrototypeOf(init) === null)) {
      return { bytes: utf8(JSON.stringify(init)), stream: null, type: "application/json" };
    }
    return { bytes: utf8(String(init).toWellFormed()), stream: null, type: "text/plain;charset=UTF-8" };
  };

  class Body {
    bytes; stream; used = false;
    constructor(bytes, stream) { this.bytes = bytes; this.stream = stream; }
    getStream() {
      if (this.stream === null) this.stream = streamFromBytes(this.used ? EMPTY : this.bytes);
      return this.stream;
    }
    get disturbed() { return this.used || (this.stream !== null && streamDisturbed(this.stream)); }
    get locked() { return this.stream !== null && this.stream.locked; }
    async consume() {
      if (this.disturbed || this.locked) throw new TypeError("Body is unusable: it was already read (bodyUsed) or is locked to a reader");
      this.used = true;
      if (this.stream !== null) return streamReadAll(this.stream);
      // Handed over once: the body's memory goes with whatever the caller makes of it.
      const bytes = this.bytes;
      this.bytes = EMPTY;
      return bytes;
    }
    clone() {
      if (this.disturbed || this.locked) throw new TypeError("clone: the body was already read");
      if (this.stream === null) return new Body(this.bytes, null);
      const [a, b] = this.stream.tee();
      this.stream = a;
      return new Body(null, b);
    }
  }
  Object.freeze(Body.prototype);

  const mimeEssence = (type) => (type === null ? "" : type.split(";")[0].trim().toLowerCase());
  const boundaryOf = (type) => {
    const m = /;\s*boundary=(?:"([^"]*)"|([^;\s]*))/i.exec(type ?? "");
    return m === null ? null : (m[1] ?? m[2]);
  };
  const indexOf = (bytes, pattern, from) => {
    outer: for (let i = from; i <= bytes.length - pattern.length; i++) {
      for (let j = 0; j < pattern.length; j++) if (bytes[i + j] !== pattern[j]) continue outer;
      return i;
    }
    return -1;
  };
  const parseMultipart = (bytes, boundary) => {
    const form = new FormData();
    const delimiter = utf8(`--${boundary}`);
    let at = indexOf(bytes, delimiter, 0);
    if (at < 0) throw new TypeError("formData: the multipart body has no boundary line");
    for (;;) {
      at += delimiter.length;
      if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) return form;
      if (bytes[at] === 0x0d && bytes[at + 1] === 0x0a) at += 2;
      const headEnd = indexOf(bytes, utf8("\r\n\r\n"), at);
      if (headEnd < 0) throw new TypeError("formData: a multipart part has no header end");
      const head = decodeUtf8(bytes.subarray(at, headEnd));
      const next = indexOf(bytes, utf8(`\r\n--${boundary}`), headEnd + 4);
      if (next < 0) throw new TypeError("formData: the multipart body is not terminated");
      const content = bytes.slice(headEnd + 4, next);
      let name = null, filename = null, type = "text/plain";
      for (const line of head.split("\r\n")) {
        const colon = line.indexOf(":");
        if (colon < 0) continue;
        const key = line.slice(0, colon).trim().toLowerCase(), value = line.slice(colon + 1).trim();
        if (key === "content-disposition") {
          const n = /;\s*name="([^"]*)"/i.exec(value), f = /;\s*filename="([^"]*)"/i.exec(value);
          if (n !== null) name = n[1];
          if (f !== null) filename = f[1];
        } else if (key === "content-type") type = value;
      }
      if (name === null) throw new TypeError("formData: a multipart part has no name");
      const unescape = (s) => s.replace(/%0A/g, "\n").replace(/%0D/g, "\r").replace(/%22/g, "\"");
      if (filename === null) form.append(unescape(name), decodeUtf8(content));
      else form.append(unescape(name), new File([content], unescape(filename), { type }));
      at = next + 2;
    }
  };

  // The body methods, the same for Request and Response.
  const bodyMethods = (C, bodyOf, headersOf) => {
    const methods = {
      get body() { const b = bodyOf(this); return b === null ? null : b.getStream(); },
      get bodyUsed() { const b = bodyOf(this); return b !== null && b.disturbed; },
      async arrayBuffer() { return (await consume(this)).slice().buffer; },
      async bytes() { return (await consume(this)).slice(); },
      async text() { return decodeUtf8(await consume(this)); },
      async json() { return JSON.parse(decodeUtf8(await consume(this))); },
      async blob() { return new Blob([await consume(this)], { type: mimeEssence(headersOf(this).get("content-type")) === "" ? "" : headersOf(this).get("content-type") }); },
      async formData() {
        const type = headersOf(this).get("content-type");
        const bytes = await consume(this);
        switch (mimeEssence(type)) {
          case "multipart/form-data": {
            const boundary = boundaryOf(type);
            if (!boundary) throw new TypeError("formData: the multipart content type has no boundary");
            return parseMultipart(bytes, boundary);
          }
          case "application/x-www-form-urlencoded": {
            const form = new FormData();
            // The urlencoded parser reads the bytes as they are: a BOM is part of the first name.
            for (const [k, v] of new URLSearchParams(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes))) form.append(k, v);
            return form;
          }
          default: throw new TypeError(`formData: cannot parse a body of type ${JSON.stringify(type)}`);
        }
      },
    };
    const consume = async (self) => { const b = bodyOf(self); return b === null ? EMPTY : b.consume(); };
    for (const key of Reflect.ownKeys(methods)) {
      const desc = Reflect.getOwnPropertyDescriptor(methods, key);
      desc.enumerable = false;
      Object.defineProperty(C.prototype, key, desc);
    }
  };

  // ---------------------------------------------------------------------------------------
  // Request

  const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
  const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);
  const normalizeMethod = (m) => {
    m = String(m);
    if (!TOKEN.test(m)) throw new TypeError(`Request: ${JSON.stringify(m)} is not a valid method`);
    const upper = m.toUpperCase();
    if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`Request: the method ${upper} is forbidden`);
    // PATCH is not normalized by the standard, but every server means it: like Deno, keep what
    // was given only when it is not a case variant of a known method.
    return NORMALIZED_METHODS.has(upper) && upper !== "PATCH" ? upper : m;
  };
  let requestParts;

  class Request {
    #url; #method; #headers; #body; #redirect; #signal;
    constructor(input, init = {}) {
      if (arguments.length < 1) throw new TypeError("Request: a URL or Request is required");
      init = init ?? {};
      let base = null;
      if (input instanceof Request) base = input;
      else {
        let url;
        try { url = new URL(String(input)); } catch { throw new TypeError(`Request: ${JSON.stringify(String(input))} is not an absolute URL`); }
        if (url.username !== "" || url.password !== "") throw new TypeError("Request: URLs with credentials are not allowed (use headers or fetch.auth)");
        this.#url = url.href;
      }
      if (base !== null) this.#url = base.#url;
      this.#method = init.method !== undefined ? normalizeMethod(init.method) : base !== null ? base.#method : "GET";
      const redirect = init.redirect !== undefined ? String(init.redirect) : base !== null ? base.#redirect : "follow";
      if (!["follow", "error", "manual"].includes(redirect)) throw new TypeError(`Request: redirect must be "follow", "error" or "manual", not ${JSON.stringify(redirect)}`);
      this.#redirect = redirect;
      this.#signal = init.signal !== undefined ? init.signal : base !== null ? base.#signal : null;
      if (this.#signal !== null && this.#signal !== undefined && (typeof g.AbortSignal !== "function" || !(this.#signal instanceof g.AbortSignal))) {
        throw new TypeError("Request: signal must be an AbortSignal");
      }
      this.#headers = new Headers(init.headers !== undefined ? init.headers : base !== null ? base.#headers : undefined);
      let body = null;
      if (init.body !== undefined && init.body !== null) {
        if (this.#method === "GET" || this.#method === "HEAD") throw new TypeError(`Request: a ${this.#method} request cannot have a body`);
        const extracted = extractBody(init.body);
        body = new Body(extracted.bytes, extracted.stream);
        if (extracted.type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", extracted.type);
      } else if (base !== null && base.#body !== null) {
        if (base.#body.disturbed || base.#body.locked) throw new TypeError("Request: the body of the given Request was already used");
        body = base.#body;
        // The new request takes the body over: the old one reads as used.
        base.#body = new Body(EMPTY, null);
        base.#body.used = true;
      }
      this.#body = body;
    }
    static {
      bodyMethods(Request, (r) => r.#body, (r) => r.#headers);
      requestParts = (r) => ({ url: r.#url, method: r.#method, headers: r.#headers, body: r.#body, redirect: r.#redirect, signal: r.#signal });
    }
    get url() { return this.#url; }
    get method() { return this.#method; }
    get headers() { return this.#headers; }
    get redirect() { return this.#redirect; }
    get signal() {
      // A request nobody gave a signal gets one that never aborts, as the standard has it.
      if (this.#signal === null && typeof g.AbortController === "function") this.#signal = new g.AbortController().signal;
      return this.#signal;
    }
    get cache() { return "default"; }
    get credentials() { return "same-origin"; }
    get destination() { return ""; }
    get integrity() { return ""; }
    get keepalive() { return false; }
    get mode() { return "cors"; }
    get referrer() { return "about:client"; }
    get referrerPolicy() { return ""; }
    get duplex() { return "half"; }
    clone() {
      const r = new Request(this.#url, { method: this.#method, headers: this.#headers, redirect: this.#redirect, signal: this.#signal });
      r.#body = this.#body === null ? null : this.#body.clone();
      return r;
    }
  }
  tag(Request, "Request");

  // ---------------------------------------------------------------------------------------
  // Response

  const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
  const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);
  let responseInit;

  class Response {
    #status = 200; #statusText = ""; #headers; #body = null; #type = "default"; #url = ""; #redirected = false;
    constructor(body = null, init = {}) {
      init = init ?? {};
      const status = init.status === undefined ? 200 : Number(init.status);
      if (!Number.isInteger(status) || status < 200 || status > 599) throw new RangeError(`Response: status must be an integer from 200 to 599, not ${init.status}`);
      const statusText = init.statusText === undefined ? "" : String(init.statusText);
      if (!/^[\t\x20-\x7e\x80-\xff]*$/.test(statusText)) throw new TypeError("Response: statusText is not a valid reason phrase");
      this.#status = status;
      this.#statusText = statusText;
      this.#headers = new Headers(init.headers);
      if (body !== null && body !== undefined) {
        if (NULL_BODY_STATUS.has(status)) throw new TypeError(`Response: a ${status} response cannot have a body`);
        const extracted = extractBody(body);
        this.#body = new Body(extracted.bytes, extracted.stream);
        if (extracted.type !== null && !this.#headers.has("content-type")) this.#headers.append("content-type", extracted.type);
      }
    }
    static {
      bodyMethods(Response, (r) => r.#body, (r) => r.#headers);
      responseInit = (r, fields) => {
        if ("status" in fields) r.#status = fields.status;
        if ("statusText" in fields) r.#statusText = fields.statusText;
        if ("type" in fields) r.#type = fields.type;
        if ("url" in fields) r.#url = fields.url;
        if ("redirected" in fields) r.#redirected = fields.redirected;
        if ("body" in fields) r.#body = fields.body;
        if ("headers" in fields) r.#headers = fields.headers;
        return r;
      };
    }
    static error() {
      return responseInit(new Response(), { status: 0, type: "error", headers: headersGuard(new Headers(), "immutable") });
    }
    static redirect(url, status = 302) {
      const href = new URL(String(url)).href;
      status = Number(status);
      if (!REDIRECT_STATUS.has(status)) throw new RangeError(`Response.redirect: ${status} is not a redirect status`);
      const r = responseInit(new Response(), { status, headers: headersGuard(new Headers([["location", href]]), "immutable") });
      return r;
    }
    static json(data, init = {}) {
      const text = JSON.stringify(data);
      if (text === undefined) throw new TypeError("Response.json: the data is not JSON-serializable");
      const r = new Response(utf8(text), init);
      if (!r.#headers.has("content-type")) r.#headers.set("content-type", "application/json");
      return r;
    }
    get type() { return this.#type; }
    get url() { return this.#url; }
    get redirected() { return this.#redirected; }
    get status() { return this.#status; }
    get ok() { return this.#status >= 200 && this.#status <= 299; }
    get statusText() { return this.#statusText; }
    get headers() { return this.#headers; }
    clone() {
      const copy = headersGuard(new Headers(this.#headers), headersGuardOf(this.#headers));
      const r = responseInit(new Response(), {
        status: this.#status, statusText: this.#statusText, type: this.#type, url: this.#url,
        redirected: this.#redirected, headers: copy, body: this.#body === null ? null : this.#body.clone(),
      });
      return r;
    }
  }
  tag(Response, "Response");

  // ---------------------------------------------------------------------------------------
  // fetch

  async function fetch(input, init = undefined) {
    const request = new Request(input, init);
    const { url, method, headers, body, redirect, signal } = requestParts(request);
    const abortable = signal !== null && signal !== undefined;
    if (abortable && signal.aborted) throw signal.reason;
    const bytes = body === null ? null : await body.consume();
    const pairs = [...headers];
    const call = () => nativeFetch(url, method, JSON.stringify(pairs), bytes, redirect, switchHandle);
    let switchHandle = null;
    let reply;
    if (!abortable) reply = await call();
    else {
      switchHandle = fetchAbortSwitch();
      let onAbort;
      const aborted = new Promise((_, reject) => {
        onAbort = () => { fetchAbort(switchHandle); reject(signal.reason); };
        signal.addEventListener("abort", onAbort, { once: true });
      });
      try { reply = await Promise.race([call(), aborted]); } finally { signal.removeEventListener("abort", onAbort); }
    }
    if (reply[0] !== "ok") throw fetchError(reply[1], reply[2]);
    const meta = JSON.parse(reply[1]);
    return responseInit(new Response(), {
      status: meta.status, statusText: meta.statusText, type: "basic", url: meta.url, redirected: meta.redirected,
      headers: headersGuard(new Headers(meta.headers), "immutable"),
      body: NULL_BODY_STATUS.has(meta.status) || method === "HEAD" ? null : new Body(reply[2], null),
    });
  }

  g.ReadableStream = ReadableStream;
  g.ReadableStreamDefaultReader = ReadableStreamDefaultReader;
  g.ReadableStreamDefaultController = ReadableStreamDefaultController;
  g.Blob = Blob;
  g.File = File;
  g.FormData = FormData;
  g.Headers = Headers;
  g.Request = Request;
  g.Response = Response;
  g.fetch = fetch;
  // For host.js: `ctx.fetch` is this same function.
  natives.webFetch = Object.freeze({ fetch });
}
