// node:url: the WHATWG `URL` and `URLSearchParams` (the realm's globals), the legacy `parse`,
// `format` and `resolve` (basics, on top of `URL`), `domainToASCII`/`domainToUnicode`. There
// are no files: `fileURLToPath` and `pathToFileURL` throw `NotCapable`.
import { NotCapable } from "pipedreamer:node/errors";

export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;

export function fileURLToPath(url) {
  throw new NotCapable(`url.fileURLToPath(${JSON.stringify(String(url))}): the sandbox has no file system`);
}

export function pathToFileURL(path) {
  throw new NotCapable(`url.pathToFileURL(${JSON.stringify(String(path))}): the sandbox has no file system`);
}

export function domainToASCII(domain) {
  try {
    return new URL(`http://${domain}`).hostname;
  } catch {
    return "";
  }
}

export function domainToUnicode(domain) {
  // Without an IDNA decoder here, ASCII labels come back as given (punycode stays encoded).
  return domainToASCII(domain) === "" ? "" : String(domain).toLowerCase();
}

// The legacy URL object (`url.parse`): fields as Node fills them for common URLs.
function Url() {
  this.protocol = null; this.slashes = null; this.auth = null; this.host = null; this.port = null;
  this.hostname = null; this.hash = null; this.search = null; this.query = null; this.pathname = null;
  this.path = null; this.href = null;
}

const SCHEME = /^([a-z][a-z0-9.+-]*:)/i;

export function parse(input, parseQueryString = false, slashesDenoteHost = false) {
  if (typeof input !== "string") throw new TypeError('The "url" argument must be of type string.');
  const out = new Url();
  let rest = input.trim();
  const hashAt = rest.indexOf("#");
  if (hashAt !== -1) { out.hash = rest.slice(hashAt); rest = rest.slice(0, hashAt); }
  const queryAt = rest.indexOf("?");
  if (queryAt !== -1) { out.search = rest.slice(queryAt); out.query = rest.slice(queryAt + 1); rest = rest.slice(0, queryAt); }
  else if (parseQueryString) { out.search = ""; out.query = ""; }
  const scheme = SCHEME.exec(rest);
  if (scheme) { out.protocol = scheme[1].toLowerCase(); rest = rest.slice(scheme[1].length); }
  if (rest.startsWith("//") && (scheme || slashesDenoteHost)) {
    out.slashes = true;
    rest = rest.slice(2);
    const end = rest.search(/[/\\]/);
    let authority = end === -1 ? rest : rest.slice(0, end);
    rest = end === -1 ? "" : rest.slice(end);
    const at = authority.lastIndexOf("@");
    if (at !== -1) { out.auth = decodeURIComponent(authority.slice(0, at)); authority = authority.slice(at + 1); }
    const port = /:(\d*)$/.exec(authority);
    if (port) { if (port[1]) out.port = port[1]; authority = authority.slice(0, port.index); }
    out.hostname = authority.toLowerCase();
    out.host = out.hostname + (out.port ? `:${out.port}` : "");
    if (!rest && out.protocol && /^(https?|ftp|wss?|file):$/.test(out.protocol)) rest = "/";
  }
  out.pathname = rest || (out.slashes ? "/" : null);
  if (out.pathname === null && out.search === null) out.pathname = null;
  if (parseQueryString) out.query = Object.fromEntries(new URLSearchParams(out.query || ""));
  out.path = (out.pathname || "") + (out.search || "") || null;
  out.href = format(out);
  return out;
}

export function format(url, options) {
  if (typeof url === "string") url = parse(url);
  if (URL !== undefined && url instanceof URL) {
    const o = { auth: true, fragment: true, search: true, unicode: false, ...options };
    const copy = new URL(url.href);
    if (!o.auth) { copy.username = ""; copy.password = ""; }
    if (!o.fragment) copy.hash = "";
    if (!o.search) copy.search = "";
    return copy.href;
  }
  if (url === null || typeof url !== "object") throw new TypeError('The "urlObject" argument must be one of type object or string.');
  let protocol = url.protocol || "";
  if (protocol && !protocol.endsWith(":")) protocol += ":";
  let host = "";
  if (url.host) host = url.host;
  else if (url.hostname) host = (url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname) + (url.port ? `:${url.port}` : "");
  const auth = url.auth ? encodeURIComponent(url.auth).replace(/%3A/i, ":") + "@" : "";
  let pathname = url.pathname || "";
  let search = url.search || "";
  if (!search && url.query && typeof url.query === "object") {
    // querystring's encoding (%20 for a space), repeated keys for arrays.
    const q = Object.entries(url.query)
      .flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((item) => `${encodeURIComponent(k)}=${encodeURIComponent(item ?? "")}`))
      .join("&");
    if (q) search = `?${q}`;
  } else if (!search && typeof url.query === "string" && url.query) search = `?${url.query}`;
  if (search && !search.startsWith("?")) search = `?${search}`;
  let hash = url.hash || "";
  if (hash && !hash.startsWith("#")) hash = `#${hash}`;
  const slashes = url.slashes || /^(https?|ftp|wss?|file|gopher):$/.test(protocol);
  if (slashes || host) {
    host = `//${auth}${host}`;
    if (pathname && !pathname.startsWith("/")) pathname = `/${pathname}`;
  }
  return `${protocol}${host}${pathname.replace(/[?#]/g, encodeURIComponent)}${search.replace(/#/g, "%23")}${hash}`;
}

export function resolve(from, to) {
  const base = new URL(from, "resolve://");
  const resolved = new URL(to, base);
  if (resolved.protocol === "resolve:") {
    const { pathname, search, hash } = resolved;
    return pathname + search + hash;
  }
  return resolved.toString();
}

export function urlToHttpOptions(url) {
  return {
    protocol: url.protocol, hostname: url.hostname.replace(/^\[|\]$/g, ""), hash: url.hash, search: url.search,
    pathname: url.pathname, path: `${url.pathname}${url.search}`, href: url.href,
    ...(url.port !== "" ? { port: Number(url.port) } : {}),
    ...(url.username || url.password ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
  };
}

export default {
  URL, URLSearchParams, fileURLToPath, pathToFileURL, domainToASCII, domainToUnicode, parse, format,
  resolve, urlToHttpOptions, Url,
};
