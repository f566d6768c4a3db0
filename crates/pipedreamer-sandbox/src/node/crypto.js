// `node:crypto`: the synchronous subset pure-JS packages use (`createHash`, `createHmac`,
// `hash`, `randomBytes`, `randomInt`, `randomUUID`, `getRandomValues`, `timingSafeEqual`,
// `getHashes`) and Web Crypto as `webcrypto`/`subtle`. Hashing and randomness are the natives
// of the Web Crypto area (`pipedreamer:web/crypto`: ring and md-5); a Hash or Hmac keeps its
// input in the object the run created, so nothing is shared between runs.
//
// Everything else (ciphers, KeyObject, createSign/Verify, key generation, pbkdf2, scrypt, hkdf,
// Diffie-Hellman) throws NotCapable naming the function: `crypto.subtle` covers what the
// sandbox offers (AES-GCM, HMAC, RSA/ECDSA/Ed25519 signatures).
import { NotCapable } from "pipedreamer:node/errors";
import { Buffer } from "node:buffer";
import { nodeNatives } from "pipedreamer:web/crypto";

const N = nodeNatives();
if (N === undefined) throw new Error("node:crypto loaded before the Web Crypto area was installed");

// Node's names (case-insensitive, with OpenSSL's aliases) to the natives' names.
const HASHES = {
  md5: "MD5", sha1: "SHA-1", sha256: "SHA-256", sha384: "SHA-384", sha512: "SHA-512",
  "sha-1": "SHA-1", "sha-256": "SHA-256", "sha-384": "SHA-384", "sha-512": "SHA-512",
  "rsa-md5": "MD5", "rsa-sha1": "SHA-1", "rsa-sha256": "SHA-256", "rsa-sha384": "SHA-384", "rsa-sha512": "SHA-512",
};
const hashName = (algorithm) => {
  const name = HASHES[String(algorithm).toLowerCase()];
  if (name === undefined) {
    throw new Error(`Digest method not supported: "${algorithm}" (the sandbox has md5, sha1, sha256, sha384, sha512)`);
  }
  return name;
};

// The bytes of `data` as a fresh Uint8Array (strings in `encoding`, utf8 by default).
const bytesOf = (data, encoding, what) => {
  if (typeof data === "string") return new Uint8Array(Buffer.from(data, encoding));
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
  if (data instanceof ArrayBuffer) return new Uint8Array(data).slice();
  throw new TypeError(`The "${what}" argument must be of type string or an instance of Buffer, TypedArray, DataView or ArrayBuffer`);
};
const output = (buffer, encoding) => {
  const b = Buffer.from(buffer);
  return encoding === undefined || encoding === "buffer" ? b : b.toString(encoding);
};
const concat = (chunks) => {
  let length = 0;
  for (const c of chunks) length += c.length;
  const all = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return all;
};

// Hash and Hmac: `update` collects chunks (the natives are one-shot), `digest` hashes them once.
let chunksOf;
class Digester {
  #chunks = [];
  #finished = false;
  #compute;
  constructor(compute) { this.#compute = compute; }
  update(data, inputEncoding) {
    if (this.#finished) throw new Error("Digest already called");
    this.#chunks.push(bytesOf(data, inputEncoding, "data"));
    return this;
  }
  digest(outputEncoding) {
    if (this.#finished) throw new Error("Digest already called");
    this.#finished = true;
    const result = this.#compute(concat(this.#chunks));
    this.#chunks = [];
    return output(result, outputEncoding);
  }
  static { chunksOf = (d) => d.#chunks.slice(); }
}

export class Hash extends Digester {
  #name;
  constructor(algorithm) {
    const name = hashName(algorithm);
    super((bytes) => N.digest(name, bytes));
    this.#name = name;
  }
  copy() {
    const copy = new Hash(Object.keys(HASHES).find((k) => HASHES[k] === this.#name));
    for (const c of chunksOf(this)) copy.update(c);
    return copy;
  }
}

export class Hmac extends Digester {
  constructor(algorithm, key) {
    const name = hashName(algorithm);
    if (name === "MD5") throw new Error("HMAC-MD5 is not supported in the sandbox (use sha256)");
    if (key !== null && typeof key === "object" && !ArrayBuffer.isView(key) && !(key instanceof ArrayBuffer)) {
      throw new NotCapable("node:crypto: createHmac takes the key as a string or bytes here (KeyObject is not available in the sandbox)");
    }
    const keyBytes = bytesOf(key, "utf8", "key");
    super((bytes) => N.hmac(name, keyBytes, bytes));
  }
}

export function createHash(algorithm, options) { return new Hash(algorithm, options); }
export function createHmac(algorithm, key, options) { return new Hmac(algorithm, key, options); }
// Node 21.7's one-shot `crypto.hash(algorithm, data, outputEncoding = "hex")`.
export function hash(algorithm, data, outputEncoding = "hex") {
  return output(N.digest(hashName(algorithm), bytesOf(data, "utf8", "data")), outputEncoding);
}
export function getHashes() { return ["md5", "sha1", "sha256", "sha384", "sha512"]; }

const MAX_RANDOM_BYTES = 2 ** 31 - 1;
const randomInto = (target) => {
  for (let at = 0; at < target.length; at += N.QUOTA) {
    const n = Math.min(N.QUOTA, target.length - at);
    target.set(new Uint8Array(N.random(n)), at);
  }
  return target;
};
// Node calls callbacks asynchronously; a microtask keeps them inside the run.
const later = (callback, ...args) => { Promise.resolve().then(() => callback(...args)); };

export function randomBytes(size, callback) {
  if (typeof size !== "number" || !Number.isInteger(size) || size < 0 || size > MAX_RANDOM_BYTES) {
    throw new RangeError(`The "size" argument must be an integer from 0 to ${MAX_RANDOM_BYTES}, not ${size}`);
  }
  const buffer = randomInto(Buffer.alloc(size));
  if (typeof callback === "function") { later(callback, null, buffer); return undefined; }
  return buffer;
}
export { randomBytes as pseudoRandomBytes };

export function randomFillSync(target, offset = 0, size) {
  const bytes = bytesView(target);
  const end = size === undefined ? bytes.length : offset + size;
  if (!(offset >= 0 && end <= bytes.length && offset <= end)) throw new RangeError("randomFillSync: offset and size must lie within the buffer");
  randomInto(bytes.subarray(offset, end));
  return target;
}
export function randomFill(target, offset, size, callback) {
  if (typeof offset === "function") [offset, callback] = [0, offset];
  else if (typeof size === "function") [size, callback] = [undefined, size];
  randomFillSync(target, offset, size);
  later(callback, null, target);
}
const bytesView = (target) => {
  if (ArrayBuffer.isView(target)) return new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  if (target instanceof ArrayBuffer) return new Uint8Array(target);
  throw new TypeError("The \"buf\" argument must be an ArrayBuffer or an ArrayBufferView");
};

// An unbiased integer in [min, max): rejection sampling over 48 random bits, as Node does.
export function randomInt(min, max, callback) {
  if (max === undefined || typeof max === "function") [min, max, callback] = [0, min, max];
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min || max - min > 2 ** 48) {
    throw new RangeError(`randomInt: min (${min}) and max (${max}) must be safe integers with 0 < max - min <= 2^48`);
  }
  const range = max - min;
  const limit = 2 ** 48 - (2 ** 48 % range);
  let value;
  do {
    const b = new Uint8Array(N.random(6));
    value = b[0] * 2 ** 40 + b[1] * 2 ** 32 + b[2] * 2 ** 24 + b[3] * 2 ** 16 + b[4] * 2 ** 8 + b[5];
  } while (value >= limit);
  const result = min + (value % range);
  if (typeof callback === "function") { later(callback, null, result); return undefined; }
  return result;
}

export function randomUUID() { return N.randomUUID(); }
export function getRandomValues(array) { return globalThis.crypto.getRandomValues(array); }

export function timingSafeEqual(a, b) {
  if (typeof a === "string" || typeof b === "string") throw new TypeError("timingSafeEqual takes buffers, not strings");
  const x = bytesOf(a, undefined, "buf1");
  const y = bytesOf(b, undefined, "buf2");
  if (x.length !== y.length) throw new RangeError("Input buffers must have the same byte length");
  return N.equal(x, y);
}

export const webcrypto = globalThis.crypto;
export const subtle = globalThis.crypto.subtle;
export const constants = Object.freeze({});
export function getCiphers() { return []; }
export function getCurves() { return []; }

// What Node has and the sandbox does not: each throws NotCapable when called.
const absent = (name) => function () {
  throw new NotCapable(`node:crypto.${name} is not available in the sandbox; use crypto.subtle (Web Crypto: AES-GCM, HMAC, RSA/ECDSA/Ed25519 signatures) instead`);
};
export const createCipheriv = absent("createCipheriv");
export const createDecipheriv = absent("createDecipheriv");
export const createSign = absent("createSign");
export const createVerify = absent("createVerify");
export const sign = absent("sign");
export const verify = absent("verify");
export const createPrivateKey = absent("createPrivateKey");
export const createPublicKey = absent("createPublicKey");
export const createSecretKey = absent("createSecretKey");
export const generateKeyPair = absent("generateKeyPair");
export const generateKeyPairSync = absent("generateKeyPairSync");
export const generateKey = absent("generateKey");
export const generateKeySync = absent("generateKeySync");
export const pbkdf2 = absent("pbkdf2");
export const pbkdf2Sync = absent("pbkdf2Sync");
export const scrypt = absent("scrypt");
export const scryptSync = absent("scryptSync");
export const hkdf = absent("hkdf");
export const hkdfSync = absent("hkdfSync");
export const createDiffieHellman = absent("createDiffieHellman");
export const createECDH = absent("createECDH");
export const publicEncrypt = absent("publicEncrypt");
export const privateDecrypt = absent("privateDecrypt");
export const privateEncrypt = absent("privateEncrypt");
export const publicDecrypt = absent("publicDecrypt");
export const KeyObject = absent("KeyObject");

export default {
  Hash, Hmac, createHash, createHmac, hash, getHashes, randomBytes, pseudoRandomBytes: randomBytes,
  randomFillSync, randomFill, randomInt, randomUUID, getRandomValues, timingSafeEqual, webcrypto,
  subtle, constants, getCiphers, getCurves, createCipheriv, createDecipheriv, createSign,
  createVerify, sign, verify, createPrivateKey, createPublicKey, createSecretKey, generateKeyPair,
  generateKeyPairSync, generateKey, generateKeySync, pbkdf2, pbkdf2Sync, scrypt, scryptSync, hkdf,
  hkdfSync, createDiffieHellman, createECDH, publicEncrypt, privateDecrypt, privateEncrypt,
  publicDecrypt, KeyObject,
};
