// `URL` and `URLSearchParams` (WHATWG URL standard). Parsing, the setters and the
// x-www-form-urlencoded format are native (the `url` crate, see `url.rs`); this module holds
// the WebIDL surface: argument conversion, the live link between a URL and its searchParams,
// iteration. Every object it makes belongs to the run that made it; the classes are frozen
// with the other globals.
export default function install(g, natives) {
  "use strict";
  const { urlParse, urlSet, urlParamsParse, urlParamsSerialize } = natives;
  // WebIDL USVString: lone surrogates become U+FFFD (the natives take well-formed UTF-8).
  const usv = (v) => String(v).toWellFormed();
  const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5, HOSTNAME = 6,
    PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;

  // Lets URLSearchParams reach its URL's components without a public hook.
  let urlSetQuery;
  let paramsReplace;
  let paramsAttach;

  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = "") {
      if (init !== null && (typeof init === "object" || typeof init === "function")) {
        if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            if (pair === null || (typeof pair !== "object" && typeof pair !== "function") || typeof pair[Symbol.iterator] !== "function") {
              throw new TypeError("URLSearchParams: each pair must be an iterable of [name, value]");
            }
            const items = [...pair];
            if (items.length !== 2) throw new TypeError("URLSearchParams: each pair must have exactly two items");
            this.#list.push([usv(items[0]), usv(items[1])]);
          }
        } else {
          // A WebIDL record: keys that become equal as USVStrings keep the first one's place
          // and the last one's value.
          const record = new Map();
          for (const key of Reflect.ownKeys(init)) {
            const desc = Reflect.getOwnPropertyDescriptor(init, key);
            if (desc === undefined || !desc.enumerable) continue;
            if (typeof key === "symbol") throw new TypeError("URLSearchParams: record keys must be strings");
            record.set(usv(key), usv(init[key]));
          }
          this.#list = [...record];
        }
      } else {
        let s = usv(init);
        if (s.startsWith("?")) s = s.slice(1);
        this.#parse(s);
      }
    }
    #parse(s) {
      const flat = urlParamsParse(s);
      const list = [];
      for (let i = 0; i < flat.length; i += 2) list.push([flat[i], flat[i + 1]]);
      this.#list = list;
    }
    #update() {
      if (this.#url === null) return;
      const s = this.toString();
      urlSetQuery(this.#url, s === "" ? null : s);
    }
    static {
      paramsReplace = (p, query) => p.#parse(query);
      paramsAttach = (p, url) => { p.#url = url; };
    }
    get size() { return this.#list.length; }
    append(name, value) {
      if (arguments.length < 2) throw new TypeError("URLSearchParams.append needs a name and a value");
      this.#list.push([usv(name), usv(value)]);
      this.#update();
    }
    delete(name, value) {
      if (arguments.length < 1) throw new TypeError("URLSearchParams.delete needs a name");
      name = usv(name);
      if (value === undefined) this.#list = this.#list.filter((p) => p[0] !== name);
      else { value = usv(value); this.#list = this.#list.filter((p) => p[0] !== name || p[1] !== value); }
      this.#update();
    }
    get(name) {
      if (arguments.length < 1) throw new TypeError("URLSearchParams.get needs a name");
      name = usv(name);
      const p = this.#list.find((p) => p[0] === name);
      return p === undefined ? null : p[1];
    }
    getAll(name) {
      if (arguments.length < 1) throw new TypeError("URLSearchParams.getAll needs a name");
      name = usv(name);
      return this.#list.filter((p) => p[0] === name).map((p) => p[1]);
    }
    has(name, value) {
      if (arguments.length < 1) throw new TypeError("URLSearchParams.has needs a name");
      name = usv(name);
      if (value === undefined) return this.#list.some((p) => p[0] === name);
      value = usv(value);
      return this.#list.some((p) => p[0] === name && p[1] === value);
    }
    set(name, value) {
      if (arguments.length < 2) throw new TypeError("URLSearchParams.set needs a name and a value");
      name = usv(name); value = usv(value);
      const i = this.#list.findIndex((p) => p[0] === name);
      if (i < 0) this.#list.push([name, value]);
      else {
        this.#list[i][1] = value;
        this.#list = this.#list.filter((p, j) => j <= i || p[0] !== name);
      }
      this.#update();
    }
    sort() {
      // Stable, by UTF-16 code units (the default string order); the index breaks ties.
      this.#list = this.#list.map((p, i) => [p, i])
        .sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]))
        .map((e) => e[0]);
      this.#update();
    }
    forEach(callback, thisArg) {
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach needs a function");
      for (let i = 0; i < this.#list.length; i++) {
        const [k, v] = this.#list[i];
        callback.call(thisArg, v, k, this);
      }
    }
    // Live, like the standard's iterators: they see changes made while iterating.
    *entries() { for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]]; }
    *keys() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0]; }
    *values() { for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1]; }
    [Symbol.iterator]() { return this.entries(); }
    toString() {
      const flat = [];
      for (const [k, v] of this.#list) flat.push(k, v);
      return urlParamsSerialize(flat);
    }
    get [Symbol.toStringTag]() { return "URLSearchParams"; }
  }

  class URL {
    #c;
    #params = null;
    constructor(url, base) {
      if (arguments.length < 1) throw new TypeError("URL: a URL is required");
      const c = urlParse(usv(url), base === undefined ? null : usv(base));
      if (c == null) {
        throw new TypeError(`Invalid URL: ${JSON.stringify(String(url))}${base === undefined ? "" : ` (base ${JSON.stringify(String(base))})`}`);
      }
      this.#c = c;
    }
    static canParse(url, base) {
      if (arguments.length < 1) throw new TypeError("URL.canParse: a URL is required");
      return urlParse(usv(url), base === undefined ? null : usv(base)) != null;
    }
    static parse(url, base) {
      if (arguments.length < 1) throw new TypeError("URL.parse: a URL is required");
      try { return new URL(url, base); } catch { return null; }
    }
    #set(part, value) {
      this.#c = urlSet(this.#c[HREF], part, value);
      if (part !== "query" && this.#params !== null) paramsReplace(this.#params, this.#c[SEARCH].slice(1));
    }
    static {
      urlSetQuery = (u, query) => { u.#c = urlSet(u.#c[HREF], "query", query); };
    }
    get href() { return this.#c[HREF]; }
    set href(v) { this.#set("href", usv(v)); }
    get origin() { return this.#c[ORIGIN]; }
    get protocol() { return this.#c[PROTOCOL]; }
    set protocol(v) { this.#set("protocol", usv(v)); }
    get username() { return this.#c[USERNAME]; }
    set username(v) { this.#set("username", usv(v)); }
    get password() { return this.#c[PASSWORD]; }
    set password(v) { this.#set("password", usv(v)); }
    get host() { return this.#c[HOST]; }
    set host(v) { this.#set("host", usv(v)); }
    get hostname() { return this.#c[HOSTNAME]; }
    set hostname(v) { this.#set("hostname", usv(v)); }
    get port() { return this.#c[PORT]; }
    set port(v) { this.#set("port", usv(v)); }
    get pathname() { return this.#c[PATHNAME]; }
    set pathname(v) { this.#set("pathname", usv(v)); }
    get search() { return this.#c[SEARCH]; }
    set search(v) { this.#set("search", usv(v)); }
    get searchParams() {
      if (this.#params === null) {
        this.#params = new URLSearchParams(this.#c[SEARCH]);
        paramsAttach(this.#params, this);
      }
      return this.#params;
    }
    get hash() { return this.#c[HASH]; }
    set hash(v) { this.#set("hash", usv(v)); }
    toString() { return this.#c[HREF]; }
    toJSON() { return this.#c[HREF]; }
    get [Symbol.toStringTag]() { return "URL"; }
  }

  g.URL = URL;
  g.URLSearchParams = URLSearchParams;
}
