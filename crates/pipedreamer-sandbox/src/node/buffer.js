// node:buffer: `Buffer`, a subclass of Uint8Array with Node's encodings (utf8, hex, base64,
// base64url, latin1/binary, ascii, utf16le/ucs2) and its read/write/compare methods. Pure
// JavaScript over the bytes; realm-wide and frozen (see `node/mod.rs`), so `Buffer.poolSize` is
// fixed and there is no shared pool: every Buffer owns its memory (`allocUnsafe` is `alloc`).
// Absent: `transcode` (needs ICU converters), `SlowBuffer` (removed in Node 25).

const ENCODINGS = {
  utf8: "utf8", "utf-8": "utf8",
  hex: "hex",
  base64: "base64", base64url: "base64url",
  latin1: "latin1", binary: "latin1",
  ascii: "ascii",
  utf16le: "utf16le", "utf-16le": "utf16le", ucs2: "utf16le", "ucs-2": "utf16le",
};

function encodingOf(encoding) {
  if (encoding === undefined || encoding === null || encoding === "") return "utf8";
  const found = typeof encoding === "string" ? ENCODINGS[encoding.toLowerCase()] : undefined;
  if (found === undefined) {
    const e = new TypeError(`Unknown encoding: ${String(encoding)}`);
    e.code = "ERR_UNKNOWN_ENCODING";
    throw e;
  }
  return found;
}

function utf8Encode(s) {
  const out = new Uint8Array(utf8Length(s));
  let j = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) { out[j++] = c; continue; }
    if (c < 0x800) { out[j++] = 0xc0 | (c >> 6); out[j++] = 0x80 | (c & 63); continue; }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[j++] = 0xf0 | (c >> 18); out[j++] = 0x80 | ((c >> 12) & 63);
        out[j++] = 0x80 | ((c >> 6) & 63); out[j++] = 0x80 | (c & 63);
        continue;
      }
      c = 0xfffd; // a lone surrogate
    }
    out[j++] = 0xe0 | (c >> 12); out[j++] = 0x80 | ((c >> 6) & 63); out[j++] = 0x80 | (c & 63);
  }
  return out;
}

function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

// WHATWG UTF-8 decoding (what Node does): each maximal invalid subpart becomes U+FFFD.
function utf8Decode(bytes, start, end) {
  let out = "", chunk = [];
  let i = start;
  while (i < end) {
    const b = bytes[i];
    let cp = 0xfffd, need = 0, lower = 0x80, upper = 0xbf;
    if (b < 0x80) { cp = b; i++; }
    else {
      if (b >= 0xc2 && b <= 0xdf) { need = 1; cp = b & 0x1f; }
      else if (b >= 0xe0 && b <= 0xef) { need = 2; cp = b & 0xf; if (b === 0xe0) lower = 0xa0; if (b === 0xed) upper = 0x9f; }
      else if (b >= 0xf0 && b <= 0xf4) { need = 3; cp = b & 7; if (b === 0xf0) lower = 0x90; if (b === 0xf4) upper = 0x8f; }
      else { need = -1; }
      i++;
      if (need < 0) cp = 0xfffd;
      else {
        let k = 0;
        for (; k < need; k++) {
          const c = i < end ? bytes[i] : -1;
          if (c < lower || c > upper) break;
          lower = 0x80; upper = 0xbf;
          cp = (cp << 6) | (c & 0x3f);
          i++;
        }
        if (k < need) cp = 0xfffd;
      }
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      chunk.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else chunk.push(cp);
    if (chunk.length >= 4096) { out += String.fromCharCode.apply(null, chunk); chunk = []; }
  }
  return out + String.fromCharCode.apply(null, chunk);
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64_VALUES = (() => {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) { t[B64.charCodeAt(i)] = i; t[B64URL.charCodeAt(i)] = i; }
  return t;
})();

function base64Encode(bytes, start, end, url) {
  const alphabet = url ? B64URL : B64;
  let out = "";
  let i = start;
  for (; i + 2 < end; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + alphabet[n & 63];
  }
  if (end - i === 1) {
    const n = bytes[i] << 16;
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + (url ? "" : "==");
  } else if (end - i === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += alphabet[n >> 18] + alphabet[(n >> 12) & 63] + alphabet[(n >> 6) & 63] + (url ? "" : "=");
  }
  return out;
}

// Node's lenient decoding: either alphabet, characters outside it skipped, stops at "=".
function base64Decode(s) {
  const out = new Uint8Array(Math.ceil(s.length * 3 / 4));
  let bits = 0, acc = 0, j = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61) break;
    const v = c < 128 ? B64_VALUES[c] : -1;
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) { bits -= 8; out[j++] = (acc >> bits) & 0xff; }
  }
  return out.subarray(0, j);
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

function hexDecode(s) {
  const out = new Uint8Array(s.length >>> 1);
  let j = 0;
  for (; j < out.length; j++) {
    const hi = parseInt(s[2 * j], 16), lo = parseInt(s[2 * j + 1], 16);
    if (Number.isNaN(hi) || Number.isNaN(lo)) break; // Node stops at the first bad pair
    out[j] = (hi << 4) | lo;
  }
  return out.subarray(0, j);
}

function encode(string, encoding) {
  switch (encodingOf(encoding)) {
    case "utf8": return utf8Encode(string);
    case "hex": return hexDecode(string);
    case "base64": case "base64url": return base64Decode(string);
    case "latin1": case "ascii": {
      const out = new Uint8Array(string.length);
      for (let i = 0; i < string.length; i++) out[i] = string.charCodeAt(i) & 0xff;
      return out;
    }
    case "utf16le": {
      const out = new Uint8Array(string.length * 2);
      for (let i = 0; i < string.length; i++) {
        const c = string.charCodeAt(i);
        out[2 * i] = c & 0xff;
        out[2 * i + 1] = c >> 8;
      }
      return out;
    }
  }
}

function decode(bytes, encoding, start, end) {
  switch (encodingOf(encoding)) {
    case "utf8": return utf8Decode(bytes, start, end);
    case "hex": {
      let out = "";
      for (let i = start; i < end; i++) out += HEX[bytes[i]];
      return out;
    }
    case "base64": return base64Encode(bytes, start, end, false);
    case "base64url": return base64Encode(bytes, start, end, true);
    case "latin1": case "ascii": {
      const mask = encodingOf(encoding) === "ascii" ? 0x7f : 0xff;
      let out = "";
      for (let i = start; i < end; i += 4096) {
        const part = [];
        for (let k = i; k < Math.min(end, i + 4096); k++) part.push(bytes[k] & mask);
        out += String.fromCharCode.apply(null, part);
      }
      return out;
    }
    case "utf16le": {
      let out = "";
      for (let i = start; i + 1 < end; i += 2) out += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
      return out;
    }
  }
}

const rangeError = (message, code) => {
  const e = new RangeError(message);
  e.code = code;
  return e;
};

function checkOffset(buf, offset, size) {
  if (offset === undefined) offset = 0;
  if (typeof offset !== "number" || !Number.isInteger(offset)) {
    throw rangeError(`The value of "offset" is out of range. It must be an integer. Received ${String(offset)}`, "ERR_OUT_OF_RANGE");
  }
  if (offset < 0 || offset + size > buf.length) {
    throw rangeError(`The value of "offset" is out of range. It must be >= 0 and <= ${buf.length - size}. Received ${offset}`, "ERR_OUT_OF_RANGE");
  }
  return offset;
}

const view = (buf) => new DataView(buf.buffer, buf.byteOffset, buf.byteLength);

const toIndex = (v, fallback, length) => {
  if (v === undefined) return fallback;
  v = Math.trunc(Number(v)) || 0;
  if (v < 0) v = 0;
  return v > length ? length : v;
};

export const kMaxLength = 2 ** 32 - 1;
export const kStringMaxLength = 2 ** 30 - 25;
export const constants = Object.freeze({ MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: kStringMaxLength });
export const INSPECT_MAX_BYTES = 50;

export class Buffer extends Uint8Array {
  // `new Buffer(…)` is deprecated in Node but still works; the typed array methods that make
  // new arrays (`subarray`, `map`, `filter`) call it with Uint8Array's arguments.
  constructor(value, encodingOrOffset, length) {
    if (typeof value === "string") super(encode(value, encodingOrOffset));
    else if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)) {
      super(value, encodingOrOffset === undefined ? 0 : encodingOrOffset, length);
    } else super(value === undefined ? 0 : value);
  }

  static from(value, encodingOrOffset, length) {
    if (typeof value === "string") {
      const bytes = encode(value, encodingOrOffset);
      return new Buffer(bytes.buffer, bytes.byteOffset, bytes.length);
    }
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer === "function" && value instanceof SharedArrayBuffer)) {
      const offset = encodingOrOffset === undefined ? 0 : Number(encodingOrOffset);
      const len = length === undefined ? value.byteLength - offset : Number(length);
      if (offset > value.byteLength) throw rangeError('"offset" is outside of buffer bounds', "ERR_BUFFER_OUT_OF_BOUNDS");
      if (offset + len > value.byteLength) throw rangeError('"length" is outside of buffer bounds', "ERR_BUFFER_OUT_OF_BOUNDS");
      return new Buffer(value, offset, len);
    }
    if (value === null || value === undefined || typeof value !== "object") {
      throw new TypeError(`The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object. Received ${value === null ? "null" : typeof value}`);
    }
    if (ArrayBuffer.isView(value) || Array.isArray(value)) return new Buffer(value);
    if (typeof value[Symbol.toPrimitive] === "function" || (typeof value.valueOf === "function" && value.valueOf() !== value)) {
      const primitive = typeof value[Symbol.toPrimitive] === "function" ? value[Symbol.toPrimitive]("string") : value.valueOf();
      if (primitive !== value) return Buffer.from(primitive, encodingOrOffset, length);
    }
    if (value.type === "Buffer" && Array.isArray(value.data)) return new Buffer(value.data);
    if (typeof value.length === "number") return new Buffer(value);
    throw new TypeError("The first argument must be of type string or an instance of Buffer, ArrayBuffer, or Array or an Array-like Object.");
  }

  static alloc(size, fill, encoding) {
    checkSize(size);
    const buf = new Buffer(size);
    if (fill !== undefined && fill !== 0 && size > 0) buf.fill(fill, 0, size, encoding);
    return buf;
  }

  static allocUnsafe(size) {
    checkSize(size);
    return new Buffer(size);
  }

  static allocUnsafeSlow(size) {
    return Buffer.allocUnsafe(size);
  }

  static isBuffer(value) {
    return value instanceof Buffer;
  }

  static isEncoding(encoding) {
    return typeof encoding === "string" && encoding.length > 0 && ENCODINGS[encoding.toLowerCase()] !== undefined;
  }

  static byteLength(value, encoding) {
    if (typeof value !== "string") {
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
      throw new TypeError('The "string" argument must be of type string or an instance of Buffer or ArrayBuffer.');
    }
    // Node's sizes (what `from` would allocate, not what it would keep of malformed input).
    switch (encodingOf(encoding)) {
      case "utf8": return utf8Length(value);
      case "hex": return value.length >>> 1;
      case "base64": case "base64url": {
        let n = value.length;
        if (n > 0 && value.charCodeAt(n - 1) === 0x3d) n--;
        if (n > 1 && value.charCodeAt(n - 1) === 0x3d) n--;
        return (n * 3) >>> 2;
      }
      case "utf16le": return value.length * 2;
      default: return value.length;
    }
  }

  static concat(list, totalLength) {
    if (!Array.isArray(list)) throw new TypeError('The "list" argument must be an instance of Array.');
    if (totalLength === undefined) totalLength = list.reduce((n, b) => n + b.length, 0);
    const out = Buffer.alloc(totalLength);
    let at = 0;
    for (const item of list) {
      if (!(item instanceof Uint8Array)) throw new TypeError('The "list" argument must contain only Buffer or Uint8Array instances.');
      if (at >= totalLength) break;
      const part = item.length > totalLength - at ? item.subarray(0, totalLength - at) : item;
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  static compare(a, b) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array)) {
      throw new TypeError('The "buf1" and "buf2" arguments must be instances of Buffer or Uint8Array.');
    }
    return compareBytes(a, 0, a.length, b, 0, b.length);
  }

  static get poolSize() {
    return 8192;
  }

  get parent() {
    return this.buffer;
  }

  get offset() {
    return this.byteOffset;
  }

  toString(encoding, start, end) {
    if (arguments.length === 0) return utf8Decode(this, 0, this.length);
    start = toIndex(start, 0, this.length);
    end = toIndex(end, this.length, this.length);
    if (end <= start) return "";
    return decode(this, encoding, start, end);
  }

  toLocaleString(encoding, start, end) {
    return this.toString(encoding, start, end);
  }

  toJSON() {
    return { type: "Buffer", data: Array.from(this) };
  }

  // write(string[, offset[, length]][, encoding])
  write(string, offset, length, encoding) {
    if (typeof string !== "string") throw new TypeError('The "string" argument must be of type string.');
    if (typeof offset === "string") { encoding = offset; offset = 0; length = this.length; }
    else if (typeof length === "string") { encoding = length; length = undefined; }
    offset = offset === undefined ? 0 : offset >>> 0;
    if (offset > this.length) throw rangeError('The value of "offset" is out of range.', "ERR_OUT_OF_RANGE");
    const room = this.length - offset;
    length = length === undefined ? room : Math.min(room, length >>> 0);
    let bytes = encode(string, encoding);
    if (bytes.length > length) {
      // Never write part of a UTF-8 character.
      let n = length;
      if (encodingOf(encoding) === "utf8") while (n > 0 && (bytes[n] & 0xc0) === 0x80) n--;
      bytes = bytes.subarray(0, n);
    }
    this.set(bytes, offset);
    return bytes.length;
  }

  equals(other) {
    if (!(other instanceof Uint8Array)) throw new TypeError('The "otherBuffer" argument must be an instance of Buffer or Uint8Array.');
    return compareBytes(this, 0, this.length, other, 0, other.length) === 0;
  }

  compare(target, targetStart, targetEnd, sourceStart, sourceEnd) {
    if (!(target instanceof Uint8Array)) throw new TypeError('The "target" argument must be an instance of Buffer or Uint8Array.');
    targetStart = toIndex(targetStart, 0, target.length);
    targetEnd = toIndex(targetEnd, target.length, target.length);
    sourceStart = toIndex(sourceStart, 0, this.length);
    sourceEnd = toIndex(sourceEnd, this.length, this.length);
    return compareBytes(this, sourceStart, sourceEnd, target, targetStart, targetEnd);
  }

  indexOf(value, byteOffset, encoding) {
    return search(this, value, byteOffset, encoding, true);
  }

  lastIndexOf(value, byteOffset, encoding) {
    return search(this, value, byteOffset, encoding, false);
  }

  includes(value, byteOffset, encoding) {
    return this.indexOf(value, byteOffset, encoding) !== -1;
  }

  // Node's `slice` is a view, like `subarray`, not a copy as on Uint8Array.
  slice(start, end) {
    return this.subarray(start, end);
  }

  fill(value, offset, end, encoding) {
    if (typeof offset === "string") { encoding = offset; offset = 0; end = this.length; }
    else if (typeof end === "string") { encoding = end; end = this.length; }
    offset = offset === undefined ? 0 : offset;
    end = end === undefined ? this.length : end;
    if (offset < 0 || end > this.length) throw rangeError("Index out of range", "ERR_OUT_OF_RANGE");
    if (end <= offset) return this;
    if (typeof value === "number" || typeof value === "boolean") return super.fill(Number(value) & 255, offset, end);
    const bytes = typeof value === "string" ? encode(value, encoding) : value instanceof Uint8Array ? value : encode(String(value));
    if (bytes.length === 0) {
      if (typeof value === "string" && value.length > 0) throw new TypeError(`The argument 'value' is invalid. Received '${value}'`);
      return super.fill(0, offset, end);
    }
    for (let i = offset; i < end; i++) this[i] = bytes[(i - offset) % bytes.length];
    return this;
  }

  copy(target, targetStart, sourceStart, sourceEnd) {
    targetStart = toIndex(targetStart, 0, target.length);
    sourceStart = toIndex(sourceStart, 0, this.length);
    sourceEnd = toIndex(sourceEnd, this.length, this.length);
    const n = Math.min(sourceEnd - sourceStart, target.length - targetStart);
    if (n <= 0) return 0;
    target.set(this.subarray(sourceStart, sourceStart + n), targetStart);
    return n;
  }

  swap16() { return swap(this, 2); }
  swap32() { return swap(this, 4); }
  swap64() { return swap(this, 8); }

  readUInt8(offset) { return this[checkOffset(this, offset, 1)]; }
  readInt8(offset) { return view(this).getInt8(checkOffset(this, offset, 1)); }
  readUInt16LE(offset) { return view(this).getUint16(checkOffset(this, offset, 2), true); }
  readUInt16BE(offset) { return view(this).getUint16(checkOffset(this, offset, 2), false); }
  readInt16LE(offset) { return view(this).getInt16(checkOffset(this, offset, 2), true); }
  readInt16BE(offset) { return view(this).getInt16(checkOffset(this, offset, 2), false); }
  readUInt32LE(offset) { return view(this).getUint32(checkOffset(this, offset, 4), true); }
  readUInt32BE(offset) { return view(this).getUint32(checkOffset(this, offset, 4), false); }
  readInt32LE(offset) { return view(this).getInt32(checkOffset(this, offset, 4), true); }
  readInt32BE(offset) { return view(this).getInt32(checkOffset(this, offset, 4), false); }
  readFloatLE(offset) { return view(this).getFloat32(checkOffset(this, offset, 4), true); }
  readFloatBE(offset) { return view(this).getFloat32(checkOffset(this, offset, 4), false); }
  readDoubleLE(offset) { return view(this).getFloat64(checkOffset(this, offset, 8), true); }
  readDoubleBE(offset) { return view(this).getFloat64(checkOffset(this, offset, 8), false); }
  readBigUInt64LE(offset) { return view(this).getBigUint64(checkOffset(this, offset, 8), true); }
  readBigUInt64BE(offset) { return view(this).getBigUint64(checkOffset(this, offset, 8), false); }
  readBigInt64LE(offset) { return view(this).getBigInt64(checkOffset(this, offset, 8), true); }
  readBigInt64BE(offset) { return view(this).getBigInt64(checkOffset(this, offset, 8), false); }
  readUIntLE(offset, byteLength) { return readVariable(this, offset, byteLength, true, false); }
  readUIntBE(offset, byteLength) { return readVariable(this, offset, byteLength, false, false); }
  readIntLE(offset, byteLength) { return readVariable(this, offset, byteLength, true, true); }
  readIntBE(offset, byteLength) { return readVariable(this, offset, byteLength, false, true); }

  writeUInt8(value, offset) { return writeInt(this, value, offset, 1, 0, 0xff, (v, o) => { this[o] = v; }); }
  writeInt8(value, offset) { return writeInt(this, value, offset, 1, -0x80, 0x7f, (v, o) => view(this).setInt8(o, v)); }
  writeUInt16LE(value, offset) { return writeInt(this, value, offset, 2, 0, 0xffff, (v, o) => view(this).setUint16(o, v, true)); }
  writeUInt16BE(value, offset) { return writeInt(this, value, offset, 2, 0, 0xffff, (v, o) => view(this).setUint16(o, v, false)); }
  writeInt16LE(value, offset) { return writeInt(this, value, offset, 2, -0x8000, 0x7fff, (v, o) => view(this).setInt16(o, v, true)); }
  writeInt16BE(value, offset) { return writeInt(this, value, offset, 2, -0x8000, 0x7fff, (v, o) => view(this).setInt16(o, v, false)); }
  writeUInt32LE(value, offset) { return writeInt(this, value, offset, 4, 0, 0xffffffff, (v, o) => view(this).setUint32(o, v, true)); }
  writeUInt32BE(value, offset) { return writeInt(this, value, offset, 4, 0, 0xffffffff, (v, o) => view(this).setUint32(o, v, false)); }
  writeInt32LE(value, offset) { return writeInt(this, value, offset, 4, -0x80000000, 0x7fffffff, (v, o) => view(this).setInt32(o, v, true)); }
  writeInt32BE(value, offset) { return writeInt(this, value, offset, 4, -0x80000000, 0x7fffffff, (v, o) => view(this).setInt32(o, v, false)); }
  writeFloatLE(value, offset) { view(this).setFloat32(checkOffset(this, offset, 4), +value, true); return (offset || 0) + 4; }
  writeFloatBE(value, offset) { view(this).setFloat32(checkOffset(this, offset, 4), +value, false); return (offset || 0) + 4; }
  writeDoubleLE(value, offset) { view(this).setFloat64(checkOffset(this, offset, 8), +value, true); return (offset || 0) + 8; }
  writeDoubleBE(value, offset) { view(this).setFloat64(checkOffset(this, offset, 8), +value, false); return (offset || 0) + 8; }
  writeBigUInt64LE(value, offset) { return writeBig(this, value, offset, false, true); }
  writeBigUInt64BE(value, offset) { return writeBig(this, value, offset, false, false); }
  writeBigInt64LE(value, offset) { return writeBig(this, value, offset, true, true); }
  writeBigInt64BE(value, offset) { return writeBig(this, value, offset, true, false); }
  writeUIntLE(value, offset, byteLength) { return writeVariable(this, value, offset, byteLength, true, false); }
  writeUIntBE(value, offset, byteLength) { return writeVariable(this, value, offset, byteLength, false, false); }
  writeIntLE(value, offset, byteLength) { return writeVariable(this, value, offset, byteLength, true, true); }
  writeIntBE(value, offset, byteLength) { return writeVariable(this, value, offset, byteLength, false, true); }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    const shown = Array.from(this.subarray(0, INSPECT_MAX_BYTES), (b) => HEX[b]).join(" ");
    const more = this.length > INSPECT_MAX_BYTES ? ` ... ${this.length - INSPECT_MAX_BYTES} more bytes` : "";
    return `<Buffer${shown ? " " + shown : ""}${more}>`;
  }
}

// Node's lowercase aliases (`readUint8`, `writeBigUint64LE`, …).
for (const name of Object.getOwnPropertyNames(Buffer.prototype)) {
  const alias = name.replace("UInt", "Uint");
  if (alias !== name) Object.defineProperty(Buffer.prototype, alias, Object.getOwnPropertyDescriptor(Buffer.prototype, name));
}

function checkSize(size) {
  if (typeof size !== "number" || !(size >= 0 && size <= kMaxLength)) {
    throw rangeError(`The argument 'size' is invalid. Received ${String(size)}`, "ERR_OUT_OF_RANGE");
  }
}

function compareBytes(a, aStart, aEnd, b, bStart, bEnd) {
  const n = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i], y = b[bStart + i];
    if (x !== y) return x < y ? -1 : 1;
  }
  const la = aEnd - aStart, lb = bEnd - bStart;
  return la < lb ? -1 : la > lb ? 1 : 0;
}

function search(buf, value, byteOffset, encoding, forward) {
  if (typeof byteOffset === "string") { encoding = byteOffset; byteOffset = undefined; }
  let needle;
  if (typeof value === "number") needle = Uint8Array.of(value & 255);
  else if (typeof value === "string") needle = encode(value, encoding);
  else if (value instanceof Uint8Array) needle = value;
  else throw new TypeError('The "value" argument must be one of type number or string or an instance of Buffer or Uint8Array.');
  let from = byteOffset === undefined ? (forward ? 0 : buf.length) : Math.trunc(Number(byteOffset)) || 0;
  if (from < 0) from += buf.length;
  if (needle.length === 0) return Math.min(Math.max(from, 0), buf.length);
  const last = buf.length - needle.length;
  const match = (i) => {
    for (let k = 0; k < needle.length; k++) if (buf[i + k] !== needle[k]) return false;
    return true;
  };
  if (forward) {
    for (let i = Math.max(from, 0); i <= last; i++) if (match(i)) return i;
  } else {
    for (let i = Math.min(from, last); i >= 0; i--) if (match(i)) return i;
  }
  return -1;
}

function swap(buf, size) {
  if (buf.length % size !== 0) throw rangeError(`Buffer size must be a multiple of ${size * 8}-bits`, "ERR_INVALID_BUFFER_SIZE");
  for (let i = 0; i < buf.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = buf[a];
      buf[a] = buf[b];
      buf[b] = t;
    }
  }
  return buf;
}

function writeInt(buf, value, offset, size, min, max, set) {
  offset = checkOffset(buf, offset, size);
  value = +value;
  if (!(value >= min && value <= max)) {
    throw rangeError(`The value of "value" is out of range. It must be >= ${min} and <= ${max}. Received ${value}`, "ERR_OUT_OF_RANGE");
  }
  set(Math.trunc(value), offset);
  return offset + size;
}

function writeBig(buf, value, offset, signed, little) {
  offset = checkOffset(buf, offset, 8);
  if (typeof value !== "bigint") throw new TypeError('The "value" argument must be of type bigint.');
  const v = view(buf);
  if (signed) v.setBigInt64(offset, value, little);
  else v.setBigUint64(offset, value, little);
  return offset + 8;
}

function checkByteLength(byteLength) {
  if (!Number.isInteger(byteLength) || byteLength < 1 || byteLength > 6) {
    throw rangeError(`The value of "byteLength" is out of range. It must be >= 1 and <= 6. Received ${String(byteLength)}`, "ERR_OUT_OF_RANGE");
  }
}

function readVariable(buf, offset, byteLength, little, signed) {
  checkByteLength(byteLength);
  offset = checkOffset(buf, offset, byteLength);
  let value = 0;
  for (let i = 0; i < byteLength; i++) {
    const b = buf[offset + (little ? byteLength - 1 - i : i)];
    value = value * 256 + b;
  }
  if (signed && value >= 2 ** (8 * byteLength - 1)) value -= 2 ** (8 * byteLength);
  return value;
}

function writeVariable(buf, value, offset, byteLength, little, signed) {
  checkByteLength(byteLength);
  offset = checkOffset(buf, offset, byteLength);
  const bits = 8 * byteLength;
  const min = signed ? -(2 ** (bits - 1)) : 0, max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  value = +value;
  if (!(value >= min && value <= max)) {
    throw rangeError(`The value of "value" is out of range. It must be >= ${min} and <= ${max}. Received ${value}`, "ERR_OUT_OF_RANGE");
  }
  let v = value < 0 ? value + 2 ** bits : Math.trunc(value);
  for (let i = 0; i < byteLength; i++) {
    buf[offset + (little ? i : byteLength - 1 - i)] = v % 256;
    v = Math.floor(v / 256);
  }
  return offset + byteLength;
}

export function isUtf8(input) {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  return utf8Decode(bytes, 0, bytes.length).indexOf("\ufffd") === -1 || encodeSameAs(bytes);
}

// Whether `bytes` is valid UTF-8 that itself contains U+FFFD (round-trips unchanged).
function encodeSameAs(bytes) {
  const again = utf8Encode(utf8Decode(bytes, 0, bytes.length));
  return compareBytes(again, 0, again.length, bytes, 0, bytes.length) === 0;
}

export function isAscii(input) {
  const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : input;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return false;
  return true;
}

export const atob = globalThis.atob;
export const btoa = globalThis.btoa;
export const Blob = globalThis.Blob;
export const File = globalThis.File;

export default {
  Buffer, constants, kMaxLength, kStringMaxLength, INSPECT_MAX_BYTES, isUtf8, isAscii, atob, btoa, Blob, File,
};
