// Web Crypto: `crypto` (`getRandomValues`, `randomUUID`, `subtle`), `Crypto`, `SubtleCrypto` and
// `CryptoKey`. This module is the WebIDL surface (algorithm normalization, usages, JWK members,
// DOMException names); the primitives are natives (`crypto/mod.rs`: ring, RustCrypto's DER
// crates) that keep nothing: a key's material lives in a private field of the run's own
// CryptoKey and is passed in with every call, so no key outlives or leaves its run.
//
// Supported: digest SHA-1/256/384/512; HMAC; AES-GCM (128/256-bit keys, 96-bit iv, tags of 32 to
// 128 bits); RSASSA-PKCS1-v1_5 (import, sign, verify; 2048 to 8192 bits); ECDSA P-256/SHA-256
// and P-384/SHA-384; Ed25519. Everything else rejects with NotSupportedError, naming it.
//
// `node:crypto` (`node/crypto.js`) takes its synchronous hashing natives from `nodeNatives()`:
// set once while the realm is set up (the areas install before the node builtins load), never
// changed after, and only the stateless functions Node's API needs.
let forNode;
export function nodeNatives() {
  return forNode;
}

export default function install(g, natives) {
  "use strict";
  const N = natives;
  const { defineProperty, freeze, getOwnPropertyDescriptor, getPrototypeOf } = Object;
  const apply = Reflect.apply;
  const typedArrayTag = getOwnPropertyDescriptor(getPrototypeOf(Uint8Array).prototype, Symbol.toStringTag).get;
  const bufferByteLength = getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength").get;
  const isView = ArrayBuffer.isView;

  // DOMException is a global of its own area; a look-alike only if it is missing.
  const DOMExceptionClass = typeof g.DOMException === "function" ? g.DOMException
    : class DOMException extends Error { constructor(message = "", name = "Error") { super(message); this.name = name; } };
  const domError = (name, message) => new DOMExceptionClass(message, name);
  const DOM_NAMES = ["NotSupportedError", "DataError", "OperationError", "InvalidAccessError", "QuotaExceededError"];
  // Natives throw errors named after a DOMException; they become real DOMExceptions here.
  const call = (fn, ...args) => {
    try { return fn(...args); } catch (e) {
      if (e instanceof Error && DOM_NAMES.includes(e.name)) throw domError(e.name, e.message);
      throw e;
    }
  };

  // A copy of a BufferSource's bytes (the spec copies at the call; later changes do not count).
  const copyBytes = (data, what) => {
    if (isView(data)) {
      if (data.byteLength === 0) return new Uint8Array(0);
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    }
    try { apply(bufferByteLength, data, []); } catch {
      throw new TypeError(`${what} must be an ArrayBuffer, a typed array or a DataView`);
    }
    return new Uint8Array(data).slice();
  };
  const toBuffer = (u8) => u8.buffer.byteLength === u8.byteLength ? u8.buffer : u8.slice().buffer;

  const HASHES = ["SHA-1", "SHA-256", "SHA-384", "SHA-512"];
  const SIGNATURES = ["HMAC", "RSASSA-PKCS1-v1_5", "ECDSA", "Ed25519"];
  const KEYS = ["HMAC", "AES-GCM", "RSASSA-PKCS1-v1_5", "ECDSA", "Ed25519"];
  const SUPPORTED = {
    digest: HASHES, sign: SIGNATURES, verify: SIGNATURES,
    encrypt: ["AES-GCM"], decrypt: ["AES-GCM"],
    importKey: KEYS, exportKey: KEYS, generateKey: KEYS,
    deriveBits: [], deriveKey: [], wrapKey: [], unwrapKey: [],
  };
  // Web Crypto's "normalize an algorithm": a name, or an object with one (read once, since a
  // getter may have effects), matched case-insensitively among what `op` supports here.
  const normalize = (algorithm, op) => {
    const params = typeof algorithm === "string" ? { name: algorithm } : algorithm;
    if (params === null || (typeof params !== "object" && typeof params !== "function")) {
      throw new TypeError(`${op}: the algorithm must be a name or an object with a name`);
    }
    const given = params.name;
    if (given === undefined) throw new TypeError(`${op}: the algorithm has no name`);
    const upper = String(given).toUpperCase();
    const name = SUPPORTED[op].find((n) => n.toUpperCase() === upper);
    if (name === undefined) {
      const offered = SUPPORTED[op].length ? `supported: ${SUPPORTED[op].join(", ")}` : "not available in the sandbox";
      throw domError("NotSupportedError", `${op}: the algorithm "${String(given)}" is not supported (${offered})`);
    }
    return { name, params };
  };
  const hashOf = (params, op) => {
    if (params.hash === undefined) throw new TypeError(`${op}: the algorithm needs a hash (e.g. "SHA-256")`);
    return normalize(params.hash, "digest").name;
  };

  const USAGES = ["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"];
  const ALLOWED = {
    HMAC: { secret: ["sign", "verify"] },
    "AES-GCM": { secret: ["encrypt", "decrypt", "wrapKey", "unwrapKey"] },
    "RSASSA-PKCS1-v1_5": { private: ["sign"], public: ["verify"] },
    ECDSA: { private: ["sign"], public: ["verify"] },
    Ed25519: { private: ["sign"], public: ["verify"] },
  };
  const readUsages = (usages, op) => {
    if (usages === null || typeof usages !== "object" || typeof usages[Symbol.iterator] !== "function") {
      throw new TypeError(`${op}: keyUsages must be an array of usages`);
    }
    const list = [];
    for (const u of usages) {
      const s = String(u);
      if (!USAGES.includes(s)) throw new TypeError(`${op}: "${s}" is not a key usage (${USAGES.join(", ")})`);
      if (!list.includes(s)) list.push(s);
    }
    return list;
  };
  const checkUsages = (name, type, usages) => {
    const allowed = ALLOWED[name][type] ?? [];
    for (const u of usages) {
      if (!allowed.includes(u)) throw domError("SyntaxError", `a ${type} ${name} key cannot be used to ${u} (allowed: ${allowed.join(", ") || "nothing"})`);
    }
    if (usages.length === 0 && type !== "public") throw domError("SyntaxError", `a ${type} ${name} key needs at least one usage`);
  };

  // CryptoKey: read-only attributes; material and internals in private fields only this module
  // reads. `new CryptoKey()` from node code is refused (keys come from importKey/generateKey).
  const TOKEN = Symbol("CryptoKey");
  let materialOf, internalOf;
  class CryptoKey {
    #type; #extractable; #algorithm; #usages; #material; #internal;
    constructor(token, type, extractable, algorithm, usages, material, internal) {
      if (token !== TOKEN) throw new TypeError("Illegal constructor: CryptoKeys come from crypto.subtle.importKey or generateKey");
      this.#type = type;
      this.#extractable = extractable;
      this.#algorithm = algorithm;
      this.#usages = freeze(usages);
      this.#material = material;
      // What operations check: kept apart from the attributes, which an own property on the
      // key object could shadow (`Object.defineProperty(key, "usages", …)` must not widen them).
      this.#internal = freeze({ ...internal, type, extractable, usages: this.#usages });
    }
    get type() { return this.#type; }
    get extractable() { return this.#extractable; }
    get algorithm() { return this.#algorithm; }
    get usages() { return this.#usages; }
    static {
      materialOf = (key) => key.#material;
      internalOf = (key, op) => {
        if (key === null || typeof key !== "object" || !(#internal in key)) throw new TypeError(`${op}: the key is not a CryptoKey`);
        return key.#internal;
      };
    }
  }
  defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: "CryptoKey", configurable: true });

  // A key for `op` under `algorithm`: same algorithm name and the usage allowed.
  const keyFor = (key, name, usage, op) => {
    const internal = internalOf(key, op);
    if (internal.name !== name) throw domError("InvalidAccessError", `${op}: the key is a ${internal.name} key, not ${name}`);
    if (!internal.usages.includes(usage)) throw domError("InvalidAccessError", `${op}: the key's usages (${internal.usages.join(", ")}) do not include "${usage}"`);
    return internal;
  };

  // The key's algorithm as node code sees it (frozen: the internals are kept apart anyway).
  const publicAlgorithm = (internal) => {
    const a = { name: internal.name };
    if (internal.hash) a.hash = freeze({ name: internal.hash });
    if (internal.length !== undefined) a.length = internal.length;
    if (internal.namedCurve) a.namedCurve = internal.namedCurve;
    if (internal.modulusLength !== undefined) {
      a.modulusLength = internal.modulusLength;
      a.publicExponent = internal.publicExponent.slice();
    }
    return freeze(a);
  };
  const makeKey = (type, extractable, usages, material, internal) =>
    new CryptoKey(TOKEN, type, Boolean(extractable), publicAlgorithm(internal), usages, material, internal);

  // JWK members every key type checks (RFC 7517, Web Crypto's "import a JWK").
  const JWK_ALG = {
    HMAC: { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" },
    "RSASSA-PKCS1-v1_5": { "SHA-1": "RS1", "SHA-256": "RS256", "SHA-384": "RS384", "SHA-512": "RS512" },
    "AES-GCM": { 128: "A128GCM", 192: "A192GCM", 256: "A256GCM" },
    ECDSA: { "P-256": "ES256", "P-384": "ES384" },
  };
  const checkJwk = (jwk, kty, use, extractable, usages) => {
    if (jwk === null || typeof jwk !== "object") throw new TypeError("importKey: a jwk key must be an object");
    if (jwk.kty !== kty) throw domError("DataError", `importKey: the JWK's kty is ${JSON.stringify(jwk.kty)}, not "${kty}"`);
    if (usages.length > 0 && jwk.use !== undefined && jwk.use !== use) throw domError("DataError", `importKey: the JWK's use is ${JSON.stringify(jwk.use)}, not "${use}"`);
    if (jwk.key_ops !== undefined) {
      if (!Array.isArray(jwk.key_ops) || jwk.key_ops.some((op) => typeof op !== "string") || new Set(jwk.key_ops).size !== jwk.key_ops.length) {
        throw domError("DataError", "importKey: the JWK's key_ops is not a list of distinct strings");
      }
      const missing = usages.filter((u) => !jwk.key_ops.includes(u));
      if (missing.length) throw domError("DataError", `importKey: the JWK's key_ops do not allow ${missing.join(", ")}`);
    }
    if (jwk.ext === false && extractable) throw domError("DataError", "importKey: the JWK is not extractable (ext: false) but extractable was requested");
  };
  const checkJwkAlg = (jwk, expected) => {
    if (jwk.alg !== undefined && jwk.alg !== expected) throw domError("DataError", `importKey: the JWK's alg is ${JSON.stringify(jwk.alg)}, not "${expected}"`);
  };
  const ASYMMETRIC_MEMBERS = ["kty", "crv", "x", "y", "d", "n", "e", "p", "q", "dp", "dq", "qi", "oth"];

  // Secret keys (HMAC, AES-GCM): the bytes themselves.
  const importSecret = (name, format, keyData, params, extractable, usages) => {
    let bytes, jwk;
    if (format === "raw") bytes = copyBytes(keyData, "importKey: keyData");
    else if (format === "jwk") {
      jwk = keyData;
      checkJwk(jwk, "oct", name === "HMAC" ? "sig" : "enc", extractable, usages);
      if (typeof jwk.k !== "string") throw domError("DataError", "importKey: the JWK has no k member");
      bytes = new Uint8Array(call(N.cryptoFromBase64url, jwk.k));
    } else throw domError("NotSupportedError", `importKey: a ${name} key cannot be imported as ${format} (use raw or jwk)`);
    checkUsages(name, "secret", usages);
    const bits = bytes.length * 8;
    let internal;
    if (name === "HMAC") {
      const hash = hashOf(params, "importKey");
      if (jwk) checkJwkAlg(jwk, JWK_ALG.HMAC[hash]);
      let length = bits;
      if (params.length !== undefined) {
        length = Number(params.length);
        if (!(length <= bits && length > bits - 8)) throw domError("DataError", `importKey: length ${length} does not fit a ${bytes.length}-byte HMAC key`);
      }
      if (length === 0) throw domError("DataError", "importKey: an HMAC key cannot be empty");
      internal = { name, hash, length };
    } else {
      if (bits !== 128 && bits !== 192 && bits !== 256) throw domError("DataError", `importKey: an AES key has 128, 192 or 256 bits, not ${bits}`);
      if (jwk) checkJwkAlg(jwk, JWK_ALG["AES-GCM"][bits]);
      internal = { name, length: bits };
    }
    return makeKey("secret", extractable, usages, bytes, internal);
  };

  // The native family name of an asymmetric algorithm: "RSA", the curve, or "Ed25519".
  const familyOf = (name, params, op) => {
    if (name === "RSASSA-PKCS1-v1_5") return "RSA";
    if (name === "Ed25519") return "Ed25519";
    const curve = params.namedCurve;
    if (curve === undefined) throw new TypeError(`${op}: ECDSA needs a namedCurve ("P-256" or "P-384")`);
    if (curve !== "P-256" && curve !== "P-384") throw domError("NotSupportedError", `${op}: the curve ${JSON.stringify(String(curve))} is not supported (P-256 or P-384)`);
    return curve;
  };

  const importAsymmetric = (name, format, keyData, params, extractable, usages) => {
    const family = familyOf(name, params, "importKey");
    const hash = name === "RSASSA-PKCS1-v1_5" ? hashOf(params, "importKey") : undefined;
    let data;
    if (format === "jwk") {
      const jwk = keyData;
      checkJwk(jwk, { RSA: "RSA", Ed25519: "OKP" }[family] ?? "EC", "sig", extractable, usages);
      if (name === "RSASSA-PKCS1-v1_5") checkJwkAlg(jwk, JWK_ALG[name][hash]);
      else if (name === "ECDSA") checkJwkAlg(jwk, JWK_ALG.ECDSA[family]);
      else if (jwk.alg !== undefined && jwk.alg !== "Ed25519" && jwk.alg !== "EdDSA") checkJwkAlg(jwk, "Ed25519");
      const members = {};
      for (const m of ASYMMETRIC_MEMBERS) if (jwk[m] !== undefined) members[m] = jwk[m];
      data = JSON.stringify(members);
    } else if (format === "raw" || format === "spki" || format === "pkcs8") {
      data = copyBytes(keyData, "importKey: keyData");
    } else {
      throw new TypeError(`importKey: "${format}" is not a key format (raw, pkcs8, spki, jwk)`);
    }
    const [isPrivate, der, modulusLength, publicExponent] = call(N.cryptoImportKey, family, format, data);
    const type = isPrivate ? "private" : "public";
    checkUsages(name, type, usages);
    const internal = { name, family };
    if (hash) Object.assign(internal, { hash, modulusLength, publicExponent });
    if (name === "ECDSA") internal.namedCurve = family;
    return makeKey(type, extractable, usages, new Uint8Array(der), internal);
  };

  const FORMATS = ["raw", "pkcs8", "spki", "jwk"];
  const checkFormat = (format, keyData, op) => {
    if (!FORMATS.includes(format)) throw new TypeError(`${op}: "${format}" is not a key format (raw, pkcs8, spki, jwk)`);
    if (format === "jwk" && (keyData === null || typeof keyData !== "object" || isView(keyData))) {
      throw new TypeError(`${op}: a jwk key must be a JSON Web Key object`);
    }
  };

  const generateSecret = (name, params, extractable, usages) => {
    checkUsages(name, "secret", usages);
    let internal;
    if (name === "HMAC") {
      const hash = hashOf(params, "generateKey");
      const length = params.length === undefined ? (hash === "SHA-384" || hash === "SHA-512" ? 1024 : 512) : Number(params.length);
      if (!(length > 0) || !Number.isInteger(length)) throw domError("OperationError", `generateKey: an HMAC key length must be a positive number of bits, not ${params.length}`);
      internal = { name, hash, length };
    } else {
      const length = Number(params.length);
      if (length !== 128 && length !== 192 && length !== 256) throw domError("OperationError", `generateKey: an AES key has 128, 192 or 256 bits, not ${params.length}`);
      internal = { name, length };
    }
    const bytes = new Uint8Array(call(N.cryptoRandom, Math.ceil(internal.length / 8)));
    // A length that is not a whole number of bytes keeps only its leading bits.
    if (internal.length % 8) bytes[bytes.length - 1] &= 0xff << (8 - (internal.length % 8));
    return makeKey("secret", extractable, usages, bytes, internal);
  };

  const generatePair = (name, params, extractable, usages) => {
    const family = familyOf(name, params, "generateKey");
    const hash = name === "RSASSA-PKCS1-v1_5" ? hashOf(params, "generateKey") : undefined;
    const [privateUsages, publicUsages] = [usages.filter((u) => u === "sign"), usages.filter((u) => u === "verify")];
    for (const u of usages) if (u !== "sign" && u !== "verify") checkUsages(name, "private", [u]);
    checkUsages(name, "private", privateUsages);
    const [pkcs8, spki] = call(N.cryptoGenerateKeyPair, family);
    const internal = { name, family, hash };
    if (name === "ECDSA") internal.namedCurve = family;
    return {
      publicKey: makeKey("public", true, publicUsages, new Uint8Array(spki), internal),
      privateKey: makeKey("private", extractable, privateUsages, new Uint8Array(pkcs8), internal),
    };
  };

  const notAvailable = (op) => async () => {
    throw domError("NotSupportedError", `crypto.subtle.${op} is not available in the sandbox (supported: digest, sign, verify, encrypt, decrypt with AES-GCM, importKey, exportKey, generateKey)`);
  };

  class SubtleCrypto {
    constructor(token) {
      if (token !== TOKEN) throw new TypeError("Illegal constructor: use crypto.subtle");
    }
    async digest(algorithm, data) {
      const { name } = normalize(algorithm, "digest");
      return call(N.cryptoDigest, name, copyBytes(data, "digest: data"));
    }
    async sign(algorithm, key, data) {
      const { name, params } = normalize(algorithm, "sign");
      const bytes = copyBytes(data, "sign: data");
      const k = keyFor(key, name, "sign", "sign");
      if (name === "HMAC") return call(N.cryptoHmacSign, k.hash, materialOf(key), bytes);
      const hash = name === "ECDSA" ? hashOf(params, "sign") : (k.hash ?? "");
      return call(N.cryptoSign, k.family, hash, materialOf(key), bytes);
    }
    async verify(algorithm, key, signature, data) {
      const { name, params } = normalize(algorithm, "verify");
      const sig = copyBytes(signature, "verify: signature");
      const bytes = copyBytes(data, "verify: data");
      const k = keyFor(key, name, "verify", "verify");
      if (name === "HMAC") return call(N.cryptoHmacVerify, k.hash, materialOf(key), bytes, sig);
      const hash = name === "ECDSA" ? hashOf(params, "verify") : (k.hash ?? "");
      return call(N.cryptoVerify, k.family, hash, materialOf(key), bytes, sig);
    }
    async encrypt(algorithm, key, data) { return aesGcm(true, algorithm, key, data); }
    async decrypt(algorithm, key, data) { return aesGcm(false, algorithm, key, data); }
    async importKey(format, keyData, algorithm, extractable, keyUsages) {
      format = String(format);
      checkFormat(format, keyData, "importKey");
      const { name, params } = normalize(algorithm, "importKey");
      const usages = readUsages(keyUsages, "importKey");
      return name === "HMAC" || name === "AES-GCM"
        ? importSecret(name, format, keyData, params, Boolean(extractable), usages)
        : importAsymmetric(name, format, keyData, params, Boolean(extractable), usages);
    }
    async exportKey(format, key) {
      format = String(format);
      if (!FORMATS.includes(format)) throw new TypeError(`exportKey: "${format}" is not a key format (raw, pkcs8, spki, jwk)`);
      const internal = internalOf(key, "exportKey");
      if (!internal.extractable) throw domError("InvalidAccessError", "exportKey: the key is not extractable");
      const material = materialOf(key);
      let jwk;
      if (internal.type === "secret") {
        if (format === "raw") return toBuffer(material.slice());
        if (format !== "jwk") throw domError("NotSupportedError", `exportKey: a ${internal.name} key exports as raw or jwk, not ${format}`);
        jwk = { kty: "oct", k: call(N.cryptoBase64url, material) };
        jwk.alg = internal.name === "HMAC" ? JWK_ALG.HMAC[internal.hash] : JWK_ALG["AES-GCM"][internal.length];
      } else {
        const out = call(N.cryptoExportKey, internal.family, internal.type === "private", format, material);
        if (format !== "jwk") return out;
        jwk = JSON.parse(out);
        if (internal.name === "RSASSA-PKCS1-v1_5") jwk.alg = JWK_ALG[internal.name][internal.hash];
        else if (internal.name === "ECDSA") jwk.alg = JWK_ALG.ECDSA[internal.family];
        else jwk.alg = "Ed25519";
      }
      jwk.key_ops = [...internal.usages];
      jwk.ext = true;
      return jwk;
    }
    async generateKey(algorithm, extractable, keyUsages) {
      const { name, params } = normalize(algorithm, "generateKey");
      const usages = readUsages(keyUsages, "generateKey");
      return name === "HMAC" || name === "AES-GCM"
        ? generateSecret(name, params, Boolean(extractable), usages)
        : generatePair(name, params, Boolean(extractable), usages);
    }
  }
  for (const op of ["deriveBits", "deriveKey", "wrapKey", "unwrapKey"]) {
    defineProperty(SubtleCrypto.prototype, op, { value: notAvailable(op), writable: true, configurable: true });
  }
  defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: "SubtleCrypto", configurable: true });

  const TAG_LENGTHS = [32, 64, 96, 104, 112, 120, 128];
  function aesGcm(encrypt, algorithm, key, data) {
    const op = encrypt ? "encrypt" : "decrypt";
    const { name, params } = normalize(algorithm, op);
    if (params.iv === undefined) throw new TypeError(`${op}: AES-GCM needs an iv (12 random bytes)`);
    const iv = copyBytes(params.iv, `${op}: iv`);
    const aad = params.additionalData === undefined ? new Uint8Array(0) : copyBytes(params.additionalData, `${op}: additionalData`);
    const tagLength = params.tagLength === undefined ? 128 : Number(params.tagLength);
    const bytes = copyBytes(data, `${op}: data`);
    keyFor(key, name, op, op);
    if (!TAG_LENGTHS.includes(tagLength)) throw domError("OperationError", `${op}: tagLength ${params.tagLength} is not one of ${TAG_LENGTHS.join(", ")}`);
    return call(N.cryptoAesGcm, encrypt, materialOf(key), iv, aad, tagLength, bytes);
  }

  const INTEGER_ARRAYS = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array", "BigUint64Array"];
  const QUOTA = 65536;
  // Frozen here: lockdown freezes what globals reach through values and accessor functions,
  // not what a getter returns, and `crypto.subtle` is one realm-wide object.
  const subtle = freeze(new SubtleCrypto(TOKEN));
  class Crypto {
    constructor(token) {
      if (token !== TOKEN) throw new TypeError("Illegal constructor: use the global crypto");
    }
    get subtle() { return subtle; }
    getRandomValues(array) {
      const tag = isView(array) ? apply(typedArrayTag, array, []) : undefined;
      if (!isView(array)) throw new TypeError("getRandomValues: the argument must be an integer typed array");
      if (!INTEGER_ARRAYS.includes(tag)) throw domError("TypeMismatchError", `getRandomValues: ${tag ?? "a DataView"} is not an integer typed array`);
      const length = array.byteLength;
      if (length > QUOTA) throw domError("QuotaExceededError", `getRandomValues: ${length} bytes asked for, at most ${QUOTA} per call`);
      new Uint8Array(array.buffer, array.byteOffset, length).set(new Uint8Array(call(N.cryptoRandom, length)));
      return array;
    }
    randomUUID() {
      // RFC 9562 version 4: 122 random bits, the version and variant bits set.
      const b = new Uint8Array(call(N.cryptoRandom, 16));
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      let hex = "";
      for (let i = 0; i < 16; i++) hex += (b[i] < 16 ? "0" : "") + b[i].toString(16);
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    }
  }
  defineProperty(Crypto.prototype, Symbol.toStringTag, { value: "Crypto", configurable: true });

  const cryptoObject = new Crypto(TOKEN);
  forNode = freeze({
    digest: (name, bytes) => call(N.cryptoDigest, name, bytes),
    hmac: (hash, key, bytes) => call(N.cryptoHmacSign, hash, key, bytes),
    random: (length) => call(N.cryptoRandom, length),
    equal: (a, b) => call(N.cryptoEqual, a, b),
    randomUUID: () => cryptoObject.randomUUID(),
    QUOTA,
  });

  const hidden = { writable: true, enumerable: false, configurable: true };
  defineProperty(g, "crypto", { ...hidden, enumerable: true, value: cryptoObject });
  for (const [k, v] of [["Crypto", Crypto], ["SubtleCrypto", SubtleCrypto], ["CryptoKey", CryptoKey]]) defineProperty(g, k, { ...hidden, value: v });
}
