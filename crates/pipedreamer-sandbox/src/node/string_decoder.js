// node:string_decoder: decodes a stream of byte chunks without splitting a character across
// chunks (UTF-8, UTF-16LE, base64 keep the incomplete tail for the next `write`). The state
// lives in each decoder, which belongs to the run that made it.
import { Buffer } from "node:buffer";

const normalize = (encoding) => {
  const e = String(encoding === undefined || encoding === null ? "utf8" : encoding).toLowerCase();
  switch (e) {
    case "utf8": case "utf-8": return "utf8";
    case "ucs2": case "ucs-2": case "utf16le": case "utf-16le": return "utf16le";
    case "latin1": case "binary": return "latin1";
    case "base64": case "base64url": case "ascii": case "hex": return e;
    default: {
      const error = new TypeError(`Unknown encoding: ${encoding}`);
      error.code = "ERR_UNKNOWN_ENCODING";
      throw error;
    }
  }
};

const asBuffer = (chunk) => {
  if (typeof chunk === "string") return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('The "buf" argument must be an instance of Buffer, TypedArray, or DataView.');
};

// How many bytes at the end of `bytes` start a UTF-8 character that is not complete yet.
function incompleteUtf8(bytes) {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

export class StringDecoder {
  #pending = Buffer.alloc(0);

  constructor(encoding) {
    this.encoding = normalize(encoding);
  }

  write(chunk) {
    const bytes = this.#pending.length ? Buffer.concat([this.#pending, asBuffer(chunk)]) : asBuffer(chunk);
    let keep = 0;
    switch (this.encoding) {
      case "utf8": keep = incompleteUtf8(bytes); break;
      case "utf16le": {
        keep = bytes.length % 2;
        // A high surrogate waits for its pair.
        const end = bytes.length - keep;
        if (end >= 2 && (bytes[end - 1] & 0xfc) === 0xd8) keep += 2;
        break;
      }
      case "base64": case "base64url": keep = bytes.length % 3; break;
    }
    this.#pending = Buffer.from(bytes.subarray(bytes.length - keep));
    return bytes.toString(this.encoding, 0, bytes.length - keep);
  }

  end(chunk) {
    const text = chunk === undefined ? "" : this.write(chunk);
    const rest = this.#pending;
    this.#pending = Buffer.alloc(0);
    return text + (rest.length ? rest.toString(this.encoding) : "");
  }

  text(chunk, offset) {
    return this.write(asBuffer(chunk).subarray(offset));
  }

  get lastNeed() {
    return this.#pending.length;
  }
}

export default { StringDecoder };
