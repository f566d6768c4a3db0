// node:path, POSIX only and pure: no process, so `resolve` takes "/" as the working directory.
// `posix` and `default` are this module; `win32` is absent (nodes run on Linux).

const CHAR_DOT = 46, CHAR_SLASH = 47;

const check = (value, name) => {
  if (typeof value !== "string") {
    throw new TypeError(`The "${name}" argument must be of type string. Received ${value === null ? "null" : typeof value}`);
  }
};

// Resolves "." and ".." in `path` (no leading or trailing slash handling).
function normalizeString(path, allowAboveRoot) {
  let res = "", lastSegmentLength = 0, lastSlash = -1, dots = 0, code = 0;
  for (let i = 0; i <= path.length; ++i) {
    if (i < path.length) code = path.charCodeAt(i);
    else if (code === CHAR_SLASH) break;
    else code = CHAR_SLASH;
    if (code === CHAR_SLASH) {
      if (lastSlash === i - 1 || dots === 1) {
        // empty segment or "."
      } else if (dots === 2) {
        if (res.length < 2 || lastSegmentLength !== 2 || res.charCodeAt(res.length - 1) !== CHAR_DOT || res.charCodeAt(res.length - 2) !== CHAR_DOT) {
          if (res.length > 2) {
            const lastSlashIndex = res.lastIndexOf("/");
            if (lastSlashIndex === -1) { res = ""; lastSegmentLength = 0; }
            else { res = res.slice(0, lastSlashIndex); lastSegmentLength = res.length - 1 - res.lastIndexOf("/"); }
            lastSlash = i; dots = 0; continue;
          } else if (res.length !== 0) {
            res = ""; lastSegmentLength = 0; lastSlash = i; dots = 0; continue;
          }
        }
        if (allowAboveRoot) { res += res.length > 0 ? "/.." : ".."; lastSegmentLength = 2; }
      } else {
        if (res.length > 0) res += "/" + path.slice(lastSlash + 1, i);
        else res = path.slice(lastSlash + 1, i);
        lastSegmentLength = i - lastSlash - 1;
      }
      lastSlash = i; dots = 0;
    } else if (code === CHAR_DOT && dots !== -1) {
      ++dots;
    } else {
      dots = -1;
    }
  }
  return res;
}

export const sep = "/";
export const delimiter = ":";

export function resolve(...args) {
  let resolved = "", absolute = false;
  for (let i = args.length - 1; i >= -1 && !absolute; i--) {
    const path = i >= 0 ? args[i] : "/";
    check(path, `paths[${i}]`);
    if (path.length === 0) continue;
    resolved = `${path}/${resolved}`;
    absolute = path.charCodeAt(0) === CHAR_SLASH;
  }
  resolved = normalizeString(resolved, !absolute);
  return absolute ? `/${resolved}` : resolved.length > 0 ? resolved : ".";
}

export function normalize(path) {
  check(path, "path");
  if (path.length === 0) return ".";
  const absolute = path.charCodeAt(0) === CHAR_SLASH;
  const trailing = path.charCodeAt(path.length - 1) === CHAR_SLASH;
  path = normalizeString(path, !absolute);
  if (path.length === 0) return absolute ? "/" : trailing ? "./" : ".";
  if (trailing) path += "/";
  return absolute ? `/${path}` : path;
}

export function isAbsolute(path) {
  check(path, "path");
  return path.length > 0 && path.charCodeAt(0) === CHAR_SLASH;
}

export function join(...args) {
  if (args.length === 0) return ".";
  let joined;
  for (let i = 0; i < args.length; ++i) {
    check(args[i], "path");
    if (args[i].length > 0) joined = joined === undefined ? args[i] : `${joined}/${args[i]}`;
  }
  return joined === undefined ? "." : normalize(joined);
}

export function relative(from, to) {
  check(from, "from");
  check(to, "to");
  if (from === to) return "";
  from = resolve(from);
  to = resolve(to);
  if (from === to) return "";
  const fromStart = 1, fromEnd = from.length, fromLen = fromEnd - fromStart;
  const toStart = 1, toLen = to.length - toStart;
  const length = fromLen < toLen ? fromLen : toLen;
  let lastCommonSep = -1, i = 0;
  for (; i < length; i++) {
    const fromCode = from.charCodeAt(fromStart + i);
    if (fromCode !== to.charCodeAt(toStart + i)) break;
    else if (fromCode === CHAR_SLASH) lastCommonSep = i;
  }
  if (i === length) {
    if (toLen > length) {
      if (to.charCodeAt(toStart + i) === CHAR_SLASH) return to.slice(toStart + i + 1);
      if (i === 0) return to.slice(toStart + i);
    } else if (fromLen > length) {
      if (from.charCodeAt(fromStart + i) === CHAR_SLASH) lastCommonSep = i;
      else if (i === 0) lastCommonSep = 0;
    }
  }
  let out = "";
  for (i = fromStart + lastCommonSep + 1; i <= fromEnd; ++i) {
    if (i === fromEnd || from.charCodeAt(i) === CHAR_SLASH) out += out.length === 0 ? ".." : "/..";
  }
  return `${out}${to.slice(toStart + lastCommonSep)}`;
}

export function toNamespacedPath(path) {
  return path;
}

export function dirname(path) {
  check(path, "path");
  if (path.length === 0) return ".";
  const hasRoot = path.charCodeAt(0) === CHAR_SLASH;
  let end = -1, matchedSlash = true;
  for (let i = path.length - 1; i >= 1; --i) {
    if (path.charCodeAt(i) === CHAR_SLASH) {
      if (!matchedSlash) { end = i; break; }
    } else {
      matchedSlash = false;
    }
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return path.slice(0, end);
}

export function basename(path, suffix) {
  if (suffix !== undefined) check(suffix, "suffix");
  check(path, "path");
  let start = 0, end = -1, matchedSlash = true;
  if (suffix !== undefined && suffix.length > 0 && suffix.length <= path.length) {
    if (suffix === path) return "";
    let extIdx = suffix.length - 1, firstNonSlashEnd = -1;
    for (let i = path.length - 1; i >= 0; --i) {
      const code = path.charCodeAt(i);
      if (code === CHAR_SLASH) {
        if (!matchedSlash) { start = i + 1; break; }
      } else {
        if (firstNonSlashEnd === -1) { matchedSlash = false; firstNonSlashEnd = i + 1; }
        if (extIdx >= 0) {
          if (code === suffix.charCodeAt(extIdx)) {
            if (--extIdx === -1) end = i;
          } else {
            extIdx = -1;
            end = firstNonSlashEnd;
          }
        }
      }
    }
    if (start === end) end = firstNonSlashEnd;
    else if (end === -1) end = path.length;
    return path.slice(start, end);
  }
  for (let i = path.length - 1; i >= 0; --i) {
    if (path.charCodeAt(i) === CHAR_SLASH) {
      if (!matchedSlash) { start = i + 1; break; }
    } else if (end === -1) {
      matchedSlash = false;
      end = i + 1;
    }
  }
  return end === -1 ? "" : path.slice(start, end);
}

export function extname(path) {
  check(path, "path");
  return parse(path).ext;
}

export function format(pathObject) {
  if (pathObject === null || typeof pathObject !== "object") {
    throw new TypeError(`The "pathObject" argument must be of type object. Received ${pathObject === null ? "null" : typeof pathObject}`);
  }
  const dir = pathObject.dir || pathObject.root;
  const base = pathObject.base || `${pathObject.name || ""}${pathObject.ext ? (pathObject.ext[0] === "." ? "" : ".") + pathObject.ext : ""}`;
  if (!dir) return base;
  return dir === pathObject.root ? `${dir}${base}` : `${dir}/${base}`;
}

export function parse(path) {
  check(path, "path");
  const ret = { root: "", dir: "", base: "", ext: "", name: "" };
  if (path.length === 0) return ret;
  const absolute = path.charCodeAt(0) === CHAR_SLASH;
  let start;
  if (absolute) { ret.root = "/"; start = 1; } else { start = 0; }
  let startDot = -1, startPart = 0, end = -1, matchedSlash = true, i = path.length - 1, preDotState = 0;
  for (; i >= start; --i) {
    const code = path.charCodeAt(i);
    if (code === CHAR_SLASH) {
      if (!matchedSlash) { startPart = i + 1; break; }
      continue;
    }
    if (end === -1) { matchedSlash = false; end = i + 1; }
    if (code === CHAR_DOT) {
      if (startDot === -1) startDot = i;
      else if (preDotState !== 1) preDotState = 1;
    } else if (startDot !== -1) {
      preDotState = -1;
    }
  }
  if (end !== -1) {
    const start2 = startPart === 0 && absolute ? 1 : startPart;
    if (startDot === -1 || preDotState === 0 || (preDotState === 1 && startDot === end - 1 && startDot === startPart + 1)) {
      ret.base = ret.name = path.slice(start2, end);
    } else {
      ret.name = path.slice(start2, startDot);
      ret.base = path.slice(start2, end);
      ret.ext = path.slice(startDot, end);
    }
  }
  if (startPart > 0) ret.dir = path.slice(0, startPart - 1);
  else if (absolute) ret.dir = "/";
  return ret;
}

export function matchesGlob() {
  throw new TypeError("path.matchesGlob is not provided by the sandbox");
}

const path = {
  sep, delimiter, resolve, normalize, isAbsolute, join, relative, toNamespacedPath,
  dirname, basename, extname, format, parse, matchesGlob,
};
path.posix = path;
export const posix = path;
export default path;
